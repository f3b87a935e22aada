/*
 * arena.c: see arena.h. Blocks grow geometrically from 4 KiB to 1 MiB; a
 * request larger than the block size gets a block of its own.
 */
#include <string.h>

#include "arena.h"
#include "util.h"

struct hark_arena_block {
    hark_arena_block *next;
    size_t size; /* payload bytes */
    size_t off;  /* bytes used */
    _Alignas(16) unsigned char data[];
};

void *hark_arena_alloc(hark_arena *a, size_t size)
{
    hark_arena_block *b = a->head;
    size = (size + 15) & ~(size_t)15;
    if (!b || b->size - b->off < size) {
        size_t bs = a->block_size ? a->block_size : 4096;
        if (bs < (1u << 20))
            a->block_size = bs * 2;
        if (bs < size)
            bs = size;
        b = hark__malloc(sizeof(*b) + bs);
        if (!b)
            return NULL;
        b->size = bs;
        b->off = 0;
        b->next = a->head;
        a->head = b;
    }
    a->used += size;
    b->off += size;
    return b->data + b->off - size;
}

void *hark_arena_memdup(hark_arena *a, const void *p, size_t len)
{
    void *d = hark_arena_alloc(a, len);
    if (d && len)
        memcpy(d, p, len);
    return d;
}

char *hark_arena_strndup(hark_arena *a, const char *s, size_t len)
{
    char *d = hark_arena_alloc(a, len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *hark_arena_strdup(hark_arena *a, const char *s)
{
    return hark_arena_strndup(a, s, strlen(s));
}

void hark_arena_dispose(hark_arena *a)
{
    hark_arena_block *b = a->head;
    while (b) {
        hark_arena_block *next = b->next;
        hark__free(b);
        b = next;
    }
    a->head = NULL;
    a->block_size = 0;
    a->used = 0;
}
