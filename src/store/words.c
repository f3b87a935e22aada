/*
 * words.c: the compact encoding of a segment's per-word data, as every
 * backend stores it (an opaque blob: BLOB in SQLite, bytea in PostgreSQL).
 *
 * FORMAT (version 1)
 *   u8      version = 1
 *   varint  n                      number of words
 *   n times:
 *     zvarint start - segment start   ms (a word may begin before its segment)
 *     zvarint end - start             ms
 *     f32     confidence              IEEE-754 bits, little-endian
 *     varint  len, len bytes          UTF-8 text, no NUL
 * varint = unsigned LEB128 (at most 10 bytes, no overlong forms); zvarint =
 * zigzag-mapped signed value in a varint. About 7 bytes plus the text per word.
 *
 * The decoder reads data from disk, so it trusts nothing: every count is
 * checked against the bytes left before anything is allocated, arithmetic on
 * times is overflow-checked, and anything malformed is HARK_ECORRUPT.
 */
#include <string.h>

#include "../util/varint.h"
#include "store.h"

#define WORDS_VERSION  1
#define MIN_WORD_BYTES 7 /* two 1-byte zvarints, 4-byte float, 1-byte length */

int hark__words_encode(hark_buf *out, const hark_word *words, uint32_t n, int64_t seg_start_ms)
{
    uint8_t head[11], *p = head;
    uint32_t i;
    int rc;

    if (n == 0)
        return 0;
    *p++ = WORDS_VERSION;
    p = hark__varint_put(p, n);
    if ((rc = hark_buf_put(out, head, (size_t)(p - head))) < 0)
        return rc;
    for (i = 0; i < n; i++) {
        const char *text = words[i].text ? words[i].text : "";
        size_t len = strlen(text);
        int64_t s = hark__samples_to_ms(words[i].start);
        int64_t e = hark__samples_to_ms(words[i].end);
        uint8_t *q;
        uint32_t bits;
        /* room for three varints and a float; the text follows */
        if ((rc = hark_buf_grow(out, 34 + len)) < 0)
            return rc;
        q = (uint8_t *)out->ptr + out->len;
        q = hark__varint_put(q, hark__zigzag(s - seg_start_ms));
        q = hark__varint_put(q, hark__zigzag(e - s));
        memcpy(&bits, &words[i].p, 4);
        q[0] = (uint8_t)bits;
        q[1] = (uint8_t)(bits >> 8);
        q[2] = (uint8_t)(bits >> 16);
        q[3] = (uint8_t)(bits >> 24);
        q = hark__varint_put(q + 4, len);
        memcpy(q, text, len);
        out->len = (size_t)(q + len - (uint8_t *)out->ptr);
        out->ptr[out->len] = '\0';
    }
    return 0;
}

/* ---- decoding -------------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static int get_varint(reader *r, uint64_t *out)
{
    return hark__varint_get(&r->p, r->end, out);
}

static int get_f32(reader *r, float *out)
{
    return hark__f32le_get(&r->p, r->end, out);
}

/* ms -> samples with overflow checks. */
static int ms_to_samples(int64_t ms, int64_t *out)
{
    return __builtin_mul_overflow(ms, (int64_t)(HARK_SAMPLE_RATE / 1000), out) ? -1 : 0;
}

int hark__words_decode(hark_words_scratch *s, const void *data, size_t len, int64_t seg_start_ms)
{
    reader r = { data, (const uint8_t *)data + len };
    uint64_t n, i;
    size_t used = 0;

    s->n = 0;
    if (len == 0)
        return 0;
    if (*r.p++ != WORDS_VERSION)
        return hark_error_set(HARK_ECORRUPT, "word data: unknown version %u",
                              (unsigned)((const uint8_t *)data)[0]);
    if (get_varint(&r, &n) < 0 || n == 0 || n > (uint64_t)(r.end - r.p) / MIN_WORD_BYTES)
        return hark_error_set(HARK_ECORRUPT, "word data: bad word count");
    if (n > s->cap) {
        hark_word *w = hark__reallocarray(s->words, (size_t)n, sizeof(*w));
        if (!w)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        s->words = w;
        s->cap = (uint32_t)n;
    }
    /* Every text fits in the input, plus one NUL per word. */
    if (s->text_cap < len + (size_t)n) {
        char *t = hark__realloc(s->text, len + (size_t)n);
        if (!t)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        s->text = t;
        s->text_cap = len + (size_t)n;
    }
    for (i = 0; i < n; i++) {
        uint64_t zs, zd, tlen;
        int64_t start_ms, end_ms;
        hark_word *w = &s->words[i];
        if (get_varint(&r, &zs) < 0 || get_varint(&r, &zd) < 0 || get_f32(&r, &w->p) < 0 ||
            get_varint(&r, &tlen) < 0 || tlen > (uint64_t)(r.end - r.p))
            return hark_error_set(HARK_ECORRUPT, "word data: truncated at word %u", (unsigned)i);
        if (__builtin_add_overflow(seg_start_ms, hark__unzigzag(zs), &start_ms) ||
            __builtin_add_overflow(start_ms, hark__unzigzag(zd), &end_ms) ||
            ms_to_samples(start_ms, &w->start) < 0 || ms_to_samples(end_ms, &w->end) < 0)
            return hark_error_set(HARK_ECORRUPT, "word data: time out of range");
        if (tlen && memchr(r.p, '\0', (size_t)tlen))
            return hark_error_set(HARK_ECORRUPT, "word data: NUL in word text");
        memcpy(s->text + used, r.p, (size_t)tlen);
        s->text[used + (size_t)tlen] = '\0';
        w->text = s->text + used;
        used += (size_t)tlen + 1;
        r.p += tlen;
    }
    if (r.p != r.end)
        return hark_error_set(HARK_ECORRUPT, "word data: %zu trailing bytes",
                              (size_t)(r.end - r.p));
    s->n = (uint32_t)n;
    return 0;
}

void hark__words_scratch_dispose(hark_words_scratch *s)
{
    if (!s)
        return;
    hark__free(s->words);
    hark__free(s->text);
    memset(s, 0, sizeof(*s));
}
