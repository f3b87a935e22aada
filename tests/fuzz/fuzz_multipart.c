/*
 * fuzz_multipart.c: the multipart/form-data parser reads request bodies from
 * the network in chunks that fall anywhere. Input layout:
 *
 *     line 1      a Content-Type value ("multipart/form-data; boundary=...")
 *                 or, if that does not parse, the boundary itself
 *     2 bytes     split controls
 *     the rest    the body
 *
 * The body is parsed whole, cut in three at positions taken from the control
 * bytes, and in pieces of 1..8 bytes; the three runs must report the same
 * parts, the same bytes (concatenated per part), the same result and the same
 * error message. A boundary that hark__multipart_boundary() accepts must be
 * one hark__multipart_new() accepts.
 *
 * src/server is not a library target yet, so the parser is compiled in here.
 */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#include "server/multipart.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one run saw: events in `ev` (each with the data length so far), bytes in `bytes`. */
typedef struct run {
    hark_buf ev;
    hark_buf bytes;
    int failed; /* a callback ran after the parser reported an error */
    int done;   /* the parser has returned an error */
} run;

static void put_len(hark_buf *b, size_t n)
{
    uint64_t v = n;
    if (hark_buf_put(b, &v, sizeof(v)) < 0)
        abort();
}

static void put_str(hark_buf *b, const char *s)
{
    if (!s) {
        if (hark_buf_putc(b, 'N') < 0)
            abort();
        return;
    }
    if (hark_buf_putc(b, 'S') < 0)
        abort();
    put_len(b, strlen(s));
    if (hark_buf_puts(b, s) < 0)
        abort();
}

static int on_begin(const char *name, const char *filename, const char *ctype, void *payload)
{
    run *r = payload;
    if (r->done || !name)
        abort();
    if (hark_buf_putc(&r->ev, 'B') < 0)
        abort();
    put_len(&r->ev, r->bytes.len);
    put_str(&r->ev, name);
    put_str(&r->ev, filename);
    put_str(&r->ev, ctype);
    return 0;
}

static int on_data(const void *data, size_t len, void *payload)
{
    run *r = payload;
    if (r->done || len == 0 || !data)
        abort();
    if (hark_buf_put(&r->bytes, data, len) < 0)
        abort();
    return 0;
}

static int on_end(void *payload)
{
    run *r = payload;
    if (r->done)
        abort();
    if (hark_buf_putc(&r->ev, 'E') < 0)
        abort();
    put_len(&r->ev, r->bytes.len);
    return 0;
}

static const hark_multipart_callbacks callbacks = { on_begin, on_data, on_end };

/* Feed body[0..len) cut at cuts[0..ncuts) (sorted), or in `step`-byte pieces when step > 0. */
static void parse(run *r, const char *boundary, const uint8_t *body, size_t len, const size_t *cuts,
                  size_t ncuts, size_t step)
{
    hark_multipart *mp = NULL;
    size_t pos = 0, k = 0;
    int rc;

    if (hark__multipart_new(&mp, boundary, &callbacks, r) < 0)
        abort(); /* the boundary was checked by the caller */
    for (;;) {
        size_t next = step ? HARK_MIN(pos + step, len) : (k < ncuts ? cuts[k++] : len);
        rc = hark__multipart_feed(mp, body + pos, next - pos);
        pos = next;
        if (rc < 0 || pos == len)
            break;
    }
    if (rc >= 0)
        rc = hark__multipart_finish(mp);
    if (rc < 0) {
        r->done = 1;
        if (rc != HARK_EINVAL && rc != HARK_ETOOBIG)
            abort();
        /* errors are sticky and call nothing */
        if (hark__multipart_feed(mp, "\r\n--", 4) != rc || hark__multipart_finish(mp) != rc)
            abort();
    }
    if (hark_buf_printf(&r->ev, "R%d:%s", rc, rc < 0 ? hark_error_last() : "") < 0)
        abort();
    hark__multipart_free(mp);
}

static void same(const run *a, const run *b)
{
    if (a->ev.len != b->ev.len || memcmp(a->ev.ptr, b->ev.ptr, a->ev.len) != 0)
        abort();
    if (a->bytes.len != b->bytes.len ||
        (a->bytes.len && memcmp(a->bytes.ptr, b->bytes.ptr, a->bytes.len) != 0))
        abort();
}

static void dispose(run *r)
{
    hark_buf_dispose(&r->ev);
    hark_buf_dispose(&r->bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[256], boundary[HARK_MULTIPART_BOUNDARY_MAX + 1];
    const uint8_t *nl = memchr(data, '\n', HARK_MIN(size, sizeof(line)));
    const uint8_t *body;
    size_t n, len, cuts[2];
    hark_multipart *probe = NULL;
    run whole = { HARK_BUF_INIT, HARK_BUF_INIT, 0, 0 };
    run three = { HARK_BUF_INIT, HARK_BUF_INIT, 0, 0 };
    run small = { HARK_BUF_INIT, HARK_BUF_INIT, 0, 0 };
    uint8_t c0, c1;

    if (!nl)
        return 0;
    n = (size_t)(nl - data);
    memcpy(line, data, n);
    line[n] = '\0'; /* an embedded NUL ends it early, as in a C string */
    if (hark__multipart_boundary(line, boundary, sizeof(boundary)) == 0) {
        if (hark__multipart_new(&probe, boundary, NULL, NULL) < 0)
            abort(); /* the two boundary checks disagree */
        hark__multipart_free(probe);
    } else if (strlen(line) <= HARK_MULTIPART_BOUNDARY_MAX &&
               hark__multipart_new(&probe, line, NULL, NULL) == 0) {
        hark__multipart_free(probe);
        memcpy(boundary, line, strlen(line) + 1);
    } else {
        return 0;
    }
    if (size - n - 1 < 2)
        return 0;
    c0 = nl[1];
    c1 = nl[2];
    body = nl + 3;
    len = size - n - 3;
    cuts[0] = (size_t)c0 * len / 255;
    cuts[1] = (size_t)c1 * len / 255;
    if (cuts[0] > cuts[1]) {
        size_t t = cuts[0];
        cuts[0] = cuts[1];
        cuts[1] = t;
    }

    parse(&whole, boundary, body, len, NULL, 0, 0);
    parse(&three, boundary, body, len, cuts, 2, 0);
    parse(&small, boundary, body, len, NULL, 0, (size_t)(c0 ^ c1) % 8 + 1);
    same(&whole, &three);
    same(&whole, &small);
    if (whole.bytes.len > len)
        abort();
    dispose(&whole);
    dispose(&three);
    dispose(&small);
    return 0;
}
