/*
 * arena.h: a chunked bump allocator. Pointers stay valid until the arena is
 * disposed; everything is freed in one call. Used for per-transcript and
 * per-chunk data.
 */
#ifndef HARK_ARENA_H
#define HARK_ARENA_H

#include <stddef.h>

typedef struct hark_arena_block hark_arena_block;

typedef struct hark_arena {
    hark_arena_block *head; /* newest block first */
    size_t block_size;      /* default block payload, bytes */
    size_t used;            /* total bytes handed out (statistics) */
} hark_arena;

#define HARK_ARENA_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Allocate `size` bytes aligned to 16; NULL on OOM. */
void *hark_arena_alloc(hark_arena *a, size_t size);
/* Copy `len` bytes and add a NUL. */
char *hark_arena_strndup(hark_arena *a, const char *s, size_t len);
char *hark_arena_strdup(hark_arena *a, const char *s);
void *hark_arena_memdup(hark_arena *a, const void *p, size_t len);
void hark_arena_dispose(hark_arena *a);

#endif
