/*
 * jsonw.c: a small streaming JSON writer.
 *
 * The writer tracks, per nesting level, whether a comma is due, so callers
 * just emit keys and values in order. Strings are escaped per RFC 8259;
 * bytes that are not valid UTF-8 are written as \u00XX escapes of the byte
 * value (what whisper.cpp's JSON does), so any token text round-trips into
 * valid JSON. Numbers use fixed printf formats, so output is byte-stable.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void hark_jsonw_init(hark_jsonw *w, hark_buf *out, int pretty)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->pretty = pretty;
    w->first = 1;
}

static void put(hark_jsonw *w, const char *s, size_t n)
{
    if (!w->err)
        w->err = hark_buf_put(w->out, s, n);
}

static void newline(hark_jsonw *w)
{
    int i;
    if (!w->pretty)
        return;
    put(w, "\n", 1);
    for (i = 0; i < w->depth; i++)
        put(w, "  ", 2);
}

/* Called before every value or key. */
static void before(hark_jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        uint64_t bit = 1ull << (w->depth & 63);
        if (w->first & bit)
            w->first &= ~bit;
        else
            put(w, ",", 1);
        newline(w);
    }
}

static void open(hark_jsonw *w, const char *c)
{
    before(w);
    put(w, c, 1);
    if (w->depth >= 63) {
        if (!w->err)
            w->err = hark_error_set(HARK_ETOOBIG, "JSON nesting too deep");
        return;
    }
    w->depth++;
    w->first |= 1ull << w->depth;
    if (c[0] == '[')
        w->arrays |= 1ull << w->depth;
    else
        w->arrays &= ~(1ull << w->depth);
}

void hark_jsonw_object(hark_jsonw *w)
{
    open(w, "{");
}

void hark_jsonw_array(hark_jsonw *w)
{
    open(w, "[");
}

void hark_jsonw_close(hark_jsonw *w)
{
    int empty;
    char closer;

    if (w->depth <= 0) {
        if (!w->err)
            w->err = hark_error_set(HARK_EINVAL, "JSON close without open");
        return;
    }
    closer = (w->arrays >> w->depth) & 1 ? ']' : '}';
    empty = (w->first >> w->depth) & 1;
    w->depth--;
    if (!empty)
        newline(w);
    put(w, &closer, 1);
}

int hark_json_escape(hark_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    int rc = hark_buf_putc(out, '"');

    while (rc == 0 && i < len) {
        unsigned char c = p[i];
        size_t n = 0; /* length of a valid UTF-8 sequence starting here */
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        if (run)
            rc = hark_buf_put(out, s + i - run, run);
        run = 0;
        if (rc < 0)
            break;
        if (c >= 0x80) {
            if (c >= 0xc2 && c <= 0xdf)
                n = 2;
            else if (c >= 0xe0 && c <= 0xef)
                n = 3;
            else if (c >= 0xf0 && c <= 0xf4)
                n = 4;
            if (n && i + n <= len) {
                size_t k;
                for (k = 1; k < n; k++)
                    if ((p[i + k] & 0xc0) != 0x80)
                        break;
                /* reject overlongs and surrogates */
                if (k == n && n == 3 && c == 0xe0 && p[i + 1] < 0xa0)
                    k = 0;
                if (k == n && n == 3 && c == 0xed && p[i + 1] >= 0xa0)
                    k = 0;
                if (k == n && n == 4 && c == 0xf0 && p[i + 1] < 0x90)
                    k = 0;
                if (k == n && n == 4 && c == 0xf4 && p[i + 1] >= 0x90)
                    k = 0;
                if (k == n) {
                    rc = hark_buf_put(out, s + i, n);
                    i += n;
                    continue;
                }
            }
        }
        switch (c) {
        case '"':
            rc = hark_buf_puts(out, "\\\"");
            break;
        case '\\':
            rc = hark_buf_puts(out, "\\\\");
            break;
        case '\n':
            rc = hark_buf_puts(out, "\\n");
            break;
        case '\r':
            rc = hark_buf_puts(out, "\\r");
            break;
        case '\t':
            rc = hark_buf_puts(out, "\\t");
            break;
        default: {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            rc = hark_buf_put(out, e, 6);
        }
        }
        i++;
    }
    if (rc == 0 && run)
        rc = hark_buf_put(out, s + i - run, run);
    if (rc == 0)
        rc = hark_buf_putc(out, '"');
    return rc;
}

void hark_jsonw_key(hark_jsonw *w, const char *key)
{
    before(w);
    if (!w->err)
        w->err = hark_json_escape(w->out, key, strlen(key));
    put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
    w->after_key = 1;
}

void hark_jsonw_strn(hark_jsonw *w, const char *s, size_t len)
{
    before(w);
    if (!w->err)
        w->err = hark_json_escape(w->out, s ? s : "", s ? len : 0);
}

void hark_jsonw_str(hark_jsonw *w, const char *s)
{
    if (!s) {
        hark_jsonw_null(w);
        return;
    }
    hark_jsonw_strn(w, s, strlen(s));
}

void hark_jsonw_int(hark_jsonw *w, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    before(w);
    put(w, tmp, (size_t)n);
}

void hark_jsonw_fixed(hark_jsonw *w, double v, int decimals)
{
    char tmp[64];
    int n;
    if (!isfinite(v)) {
        hark_jsonw_null(w);
        return;
    }
    if (v == 0)
        v = 0; /* no "-0.000" */
    n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
    if (n > 1 && tmp[0] == '-') { /* "-0.000" after rounding */
        int allzero = 1, i;
        for (i = 1; i < n; i++)
            if (tmp[i] != '0' && tmp[i] != '.')
                allzero = 0;
        if (allzero) {
            memmove(tmp, tmp + 1, (size_t)n);
            n--;
        }
    }
    before(w);
    put(w, tmp, (size_t)n);
}

void hark_jsonw_num(hark_jsonw *w, double v)
{
    char tmp[64];
    int n;
    if (!isfinite(v)) {
        hark_jsonw_null(w);
        return;
    }
    n = snprintf(tmp, sizeof(tmp), "%.9g", v);
    before(w);
    put(w, tmp, (size_t)n);
}

void hark_jsonw_bool(hark_jsonw *w, int v)
{
    before(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void hark_jsonw_null(hark_jsonw *w)
{
    before(w);
    put(w, "null", 4);
}

void hark_jsonw_raw(hark_jsonw *w, const char *json)
{
    before(w);
    put(w, json, strlen(json));
}

int hark_jsonw_end(hark_jsonw *w)
{
    if (!w->err && w->depth != 0)
        w->err = hark_error_set(HARK_EINVAL, "JSON writer: %d unclosed levels", w->depth);
    return w->err;
}
