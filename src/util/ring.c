/*
 * ring.c: lock-free single-producer/single-consumer byte ring.
 *
 * Design: two monotonically growing counters, `head` (bytes written, stored
 * only by the producer) and `tail` (bytes read, stored only by the
 * consumer). The capacity is a power of two, so the position of counter c
 * is c & (cap - 1) even after the counters wrap around SIZE_MAX, and
 * head - tail (unsigned arithmetic) is always the number of bytes held.
 *
 * Ordering: the producer copies the bytes, then publishes them with a
 * release store of `head`; the consumer's acquire load of `head` makes them
 * visible before it copies them out, then it frees the space with a release
 * store of `tail`, which the producer loads with acquire before reusing
 * that space. Each side loads its own counter relaxed (only it stores it).
 *
 * Invariants: 0 <= head - tail <= cap. A write is all or nothing; a block
 * that does not fit is counted in `overruns`/`dropped`, so nothing is lost
 * silently. Neither side blocks or allocates.
 */
#include "ring.h"

#include <string.h>

#include "util.h"

int hark__ring_init(hark__ring *r, size_t min_bytes)
{
    size_t cap = 16;
    memset(r, 0, sizeof(*r));
    if (min_bytes == 0 || min_bytes > ((size_t)1 << 40))
        return hark_error_set(HARK_EINVAL, "ring: capacity %zu out of range", min_bytes);
    while (cap < min_bytes)
        cap <<= 1;
    r->buf = hark__malloc(cap);
    if (!r->buf)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->overruns, 0);
    atomic_init(&r->dropped, 0);
    return 0;
}

void hark__ring_dispose(hark__ring *r)
{
    if (!r)
        return;
    hark__free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

size_t hark__ring_write(hark__ring *r, const void *src, size_t n)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t pos, first;
    if (n == 0)
        return 0;
    if (n > r->cap - (head - tail)) {
        atomic_fetch_add_explicit(&r->overruns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->dropped, (uint64_t)n, memory_order_relaxed);
        return 0;
    }
    pos = head & (r->cap - 1);
    first = HARK_MIN(n, r->cap - pos);
    memcpy(r->buf + pos, src, first);
    if (first < n)
        memcpy(r->buf, (const unsigned char *)src + first, n - first);
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

size_t hark__ring_read(hark__ring *r, void *dst, size_t max)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t n = HARK_MIN(max, head - tail), pos, first;
    if (n == 0)
        return 0;
    pos = tail & (r->cap - 1);
    first = HARK_MIN(n, r->cap - pos);
    memcpy(dst, r->buf + pos, first);
    if (first < n)
        memcpy((unsigned char *)dst + first, r->buf, n - first);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

/* Tail first: a later load of head is never behind it. Clamped, for threads other than the
 * producer and consumer, whose two loads may straddle a write and a read. */
size_t hark__ring_used(hark__ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    return HARK_MIN(head - tail, r->cap);
}

size_t hark__ring_free_space(hark__ring *r)
{
    return r->cap - hark__ring_used(r);
}

uint64_t hark__ring_overruns(hark__ring *r)
{
    return atomic_load_explicit(&r->overruns, memory_order_relaxed);
}

uint64_t hark__ring_dropped(hark__ring *r)
{
    return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
