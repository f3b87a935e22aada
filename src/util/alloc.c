/*
 * alloc.c: every allocation in the library goes through here.
 *
 * The functions can be swapped with hark_set_allocator(). For tests there is a
 * torture hook: hark__alloc_fail_at(N) makes the Nth allocation from now on
 * return NULL, which lets a test walk every allocation of an operation and
 * check that each failure is reported and leaks nothing.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void *(*malloc_fn)(size_t) = malloc;
static void *(*calloc_fn)(size_t, size_t) = calloc;
static void *(*realloc_fn)(void *, size_t) = realloc;
static void (*free_fn)(void *) = free;

static _Atomic uint64_t alloc_count; /* allocations since the last hark__alloc_fail_at */
static _Atomic uint64_t fail_at;     /* fail when alloc_count reaches this, 0 = never */

static int should_fail(void)
{
    uint64_t target = atomic_load_explicit(&fail_at, memory_order_relaxed);
    uint64_t n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
    return target != 0 && n == target;
}

uint64_t hark__alloc_fail_at(uint64_t n)
{
    uint64_t count = atomic_exchange(&alloc_count, 0);
    atomic_store(&fail_at, n);
    return count;
}

int hark_set_allocator(void *(*m)(size_t), void *(*c)(size_t, size_t), void *(*r)(void *, size_t),
                       void (*f)(void *))
{
    if (!m || !c || !r || !f)
        return HARK_EINVAL;
    malloc_fn = m;
    calloc_fn = c;
    realloc_fn = r;
    free_fn = f;
    return 0;
}

void *hark__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc_fn(size ? size : 1);
}

void *hark__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc_fn(n ? n : 1, size ? size : 1);
}

void *hark__realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc_fn(ptr, size ? size : 1);
}

void *hark__reallocarray(void *ptr, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return hark__realloc(ptr, n * size);
}

void hark__free(void *ptr)
{
    if (ptr)
        free_fn(ptr);
}

void hark_free(void *ptr)
{
    hark__free(ptr);
}

char *hark__strndup(const char *s, size_t n)
{
    char *p = hark__malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *hark__strdup(const char *s)
{
    return s ? hark__strndup(s, strlen(s)) : NULL;
}
