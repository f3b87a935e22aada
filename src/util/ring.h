/*
 * ring.h: a lock-free single-producer/single-consumer byte ring (C11 atomics).
 *
 * One thread writes (hark__ring_write), one other thread reads
 * (hark__ring_read); neither ever waits for the other or allocates. A write
 * is all or nothing: a block that does not fit whole is dropped and counted
 * (hark__ring_overruns, hark__ring_dropped), never silently, and never
 * partly written, so a consumer reading whole elements (e.g. floats written
 * as whole blocks) always reads whole elements.
 */
#ifndef HARK_UTIL_RING_H
#define HARK_UTIL_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hark__ring {
    unsigned char *buf;        /* cap bytes */
    size_t cap;                /* capacity in bytes, a power of two */
    _Atomic size_t head;       /* bytes ever written (producer's; wraps modulo SIZE_MAX + 1) */
    _Atomic size_t tail;       /* bytes ever read (consumer's) */
    _Atomic uint64_t overruns; /* blocks dropped because the ring was full */
    _Atomic uint64_t dropped;  /* bytes in those blocks */
} hark__ring;

/* Allocate a ring of at least `min_bytes` (rounded up to a power of two, >= 16).
 * 0, HARK_EINVAL (zero, or too large), HARK_ENOMEM. */
int hark__ring_init(hark__ring *r, size_t min_bytes);
/* Free the buffer; r may be zeroed or disposed already. */
void hark__ring_dispose(hark__ring *r);

/* Producer: append n bytes, all of them (returns n) or, when they do not fit, none
 * (returns 0 and counts one overrun of n bytes; n == 0 returns 0 and counts nothing).
 * A block larger than the capacity never fits. */
size_t hark__ring_write(hark__ring *r, const void *src, size_t n);

/* Consumer: move up to `max` bytes out; returns how many. */
size_t hark__ring_read(hark__ring *r, void *dst, size_t max);

/* Bytes waiting to be read (exact for the consumer; a lower bound for anyone else). */
size_t hark__ring_used(hark__ring *r);
/* Room for the producer (exact for the producer; a lower bound for anyone else). */
size_t hark__ring_free_space(hark__ring *r);

/* Blocks and bytes dropped so far (any thread). */
uint64_t hark__ring_overruns(hark__ring *r);
uint64_t hark__ring_dropped(hark__ring *r);

#endif
