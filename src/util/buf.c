/*
 * buf.c: hark_buf, a growable byte buffer with an optional hard cap.
 *
 * Invariant: when ptr != NULL, ptr[len] == '\0' and len < cap. Growth doubles
 * the capacity; a cap (`max`) turns growth past it into HARK_ETOOBIG, which
 * bounds every buffer fed from files or the network.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"

void hark_buf_init(hark_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void hark_buf_dispose(hark_buf *b)
{
    if (!b)
        return;
    hark__free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

void hark_buf_clear(hark_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

int hark_buf_grow(hark_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > SIZE_MAX - b->len - 1)
        return hark_error_set(HARK_ETOOBIG, "buffer size overflow");
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    if (b->max && need - 1 > b->max)
        return hark_error_set(HARK_ETOOBIG, "data exceeds the limit of %zu bytes", b->max);
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max && cap > b->max + 1)
        cap = b->max + 1;
    p = hark__realloc(b->ptr, cap);
    if (!p)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if (!b->ptr)
        p[0] = '\0';
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int hark_buf_put(hark_buf *b, const void *data, size_t len)
{
    int rc = hark_buf_grow(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int hark_buf_puts(hark_buf *b, const char *s)
{
    return hark_buf_put(b, s, strlen(s));
}

int hark_buf_putc(hark_buf *b, char c)
{
    return hark_buf_put(b, &c, 1);
}

int hark_buf_vprintf(hark_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return hark_error_set(HARK_EINVAL, "bad format string");
    if ((rc = hark_buf_grow(b, (size_t)n)) < 0)
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int hark_buf_printf(hark_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = hark_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *hark_buf_detach(hark_buf *b)
{
    char *p = b->ptr;
    if (!p)
        p = hark__strdup("");
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
