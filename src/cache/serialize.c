/*
 * serialize.c: a compact, versioned binary encoding of a hark_transcript, the
 * value of a cache entry.
 *
 * FORMAT (version 1; all integers little-endian)
 *   "hkT" u8 version=1
 *   varint  flags = 0                       (reserved; anything else is rejected)
 *   varint  n_meta, then n_meta times: str key, str value
 *   zvarint duration                        samples
 *   varint  n_segments, then per segment:
 *     zvarint start - previous segment's start   samples (the first: - 0)
 *     varint  end - start                        samples
 *     str     text
 *     f32 confidence, no_speech_prob, avg_logprob, compression_ratio, temperature
 *     varint  chunk
 *     varint  n_words, then per word:
 *       zvarint start - segment start, zvarint end - start, f32 p, str text
 *     varint  n_tokens, then per token:
 *       zvarint id, f32 p, f32 plog,
 *       u8 known (bit 0: start >= 0, bit 1: end >= 0),
 *       [zvarint start - segment start], [zvarint end - segment start], str text
 *   u32 CRC-32 (IEEE) of every byte before it
 * varint: unsigned LEB128, minimal length (overlong forms are rejected, so an
 * encoding is canonical: decode(x) re-encodes to exactly x). zvarint: zigzag.
 * str: varint length + bytes, no NUL inside. f32: IEEE-754 bits.
 * Metadata kept: the keys "engine", "model", "language", "source", "options".
 *
 * The decoder treats its input as hostile: the checksum is verified first,
 * every count is bounded by the bytes left (each item needs a minimum number
 * of bytes) before anything is allocated, times are overflow-checked, and
 * strings are copied into one scratch block sized from the input.
 */
#include <string.h>

#include "../util/varint.h"
#include "cache.h"

static const char *const meta_keys[] = { "engine", "model", "language", "source", "options" };

#define MIN_SEGMENT_BYTES 26 /* 1+1+1 + 20 + 1+1+1 */
#define MIN_WORD_BYTES    7  /* 1+1+4+1 */
#define MIN_TOKEN_BYTES   11 /* 1+4+4+1+1 */
#define MIN_META_BYTES    2  /* 1+1 */

/* ---- CRC-32 ---------------------------------------------------------------------------------- */

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes the same table */
    uint32_t c = 0xffffffffu;
    size_t i;

    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        uint32_t k, j;
        for (k = 0; k < 256; k++) {
            uint32_t v = k;
            for (j = 0; j < 8; j++)
                v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
            __atomic_store_n(&table[k], v, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    for (i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static int put_varint(hark_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    return hark_buf_put(b, tmp, (size_t)(hark__varint_put(tmp, v) - tmp));
}

static int put_u32(hark_buf *b, uint32_t u)
{
    uint8_t le[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
    return hark_buf_put(b, le, 4);
}

static int put_f32(hark_buf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return put_u32(b, u);
}

static int put_str(hark_buf *b, const char *s)
{
    size_t len;
    int rc;
    s = s ? s : "";
    len = strlen(s);
    if ((rc = put_varint(b, len)) < 0)
        return rc;
    return hark_buf_put(b, s, len);
}

static int put_segment(hark_buf *b, const hark_segment *seg, int64_t prev_start)
{
    uint32_t i;
    int rc;

    if ((rc = put_varint(b, hark__zigzag((int64_t)((uint64_t)seg->start - (uint64_t)prev_start)))) <
            0 ||
        (rc = put_varint(b, (uint64_t)seg->end - (uint64_t)seg->start)) < 0 ||
        (rc = put_str(b, seg->text)) < 0 || (rc = put_f32(b, seg->confidence)) < 0 ||
        (rc = put_f32(b, seg->no_speech_prob)) < 0 || (rc = put_f32(b, seg->avg_logprob)) < 0 ||
        (rc = put_f32(b, seg->compression_ratio)) < 0 || (rc = put_f32(b, seg->temperature)) < 0 ||
        (rc = put_varint(b, seg->chunk)) < 0 || (rc = put_varint(b, seg->n_words)) < 0)
        return rc;
    for (i = 0; i < seg->n_words; i++) {
        const hark_word *w = &seg->words[i];
        if ((rc = put_varint(
                 b, hark__zigzag((int64_t)((uint64_t)w->start - (uint64_t)seg->start)))) < 0 ||
            (rc = put_varint(b, hark__zigzag((int64_t)((uint64_t)w->end - (uint64_t)w->start)))) <
                0 ||
            (rc = put_f32(b, w->p)) < 0 || (rc = put_str(b, w->text)) < 0)
            return rc;
    }
    if ((rc = put_varint(b, seg->n_tokens)) < 0)
        return rc;
    for (i = 0; i < seg->n_tokens; i++) {
        const hark_token *k = &seg->tokens[i];
        uint8_t known = (uint8_t)((k->start >= 0 ? 1 : 0) | (k->end >= 0 ? 2 : 0));
        if ((rc = put_varint(b, hark__zigzag(k->id))) < 0 || (rc = put_f32(b, k->p)) < 0 ||
            (rc = put_f32(b, k->plog)) < 0 || (rc = hark_buf_put(b, &known, 1)) < 0)
            return rc;
        if ((known & 1) && (rc = put_varint(b, hark__zigzag((int64_t)((uint64_t)k->start -
                                                                      (uint64_t)seg->start)))) < 0)
            return rc;
        if ((known & 2) &&
            (rc = put_varint(b, hark__zigzag((int64_t)((uint64_t)k->end - (uint64_t)seg->start)))) <
                0)
            return rc;
        if ((rc = put_str(b, k->text)) < 0)
            return rc;
    }
    return 0;
}

int hark__transcript_encode(const hark_transcript *t, hark_buf *out)
{
    size_t base, i, n, n_meta = 0;
    int64_t prev = 0;
    uint8_t version = HARK_TRANSCRIPT_FORMAT;
    int rc;

    HARK_ASSERT_ARG(t && out);
    base = out->len;
    for (i = 0; i < HARK_ARRAY_SIZE(meta_keys); i++)
        n_meta += hark_transcript_meta(t, meta_keys[i]) != NULL;
    if ((rc = hark_buf_put(out, HARK_TRANSCRIPT_MAGIC, 3)) < 0 ||
        (rc = hark_buf_put(out, &version, 1)) < 0 || (rc = put_varint(out, 0)) < 0 ||
        (rc = put_varint(out, n_meta)) < 0)
        goto fail;
    for (i = 0; i < HARK_ARRAY_SIZE(meta_keys); i++) {
        const char *v = hark_transcript_meta(t, meta_keys[i]);
        if (v && ((rc = put_str(out, meta_keys[i])) < 0 || (rc = put_str(out, v)) < 0))
            goto fail;
    }
    n = hark_transcript_count(t);
    if ((rc = put_varint(out, hark__zigzag(hark_transcript_duration(t)))) < 0 ||
        (rc = put_varint(out, n)) < 0)
        goto fail;
    for (i = 0; i < n; i++) {
        const hark_segment *seg = hark_transcript_segment(t, i);
        if ((rc = put_segment(out, seg, prev)) < 0)
            goto fail;
        prev = seg->start;
    }
    if ((rc = put_u32(out, crc32_ieee((const uint8_t *)out->ptr + base, out->len - base))) < 0)
        goto fail;
    return 0;
fail:
    out->len = base;
    if (out->ptr)
        out->ptr[base] = '\0';
    return rc;
}

/* ---- decoding -------------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
    char *text;      /* scratch for NUL-terminated strings */
    size_t text_len; /* bytes of `text` used */
} reader;

static size_t left(const reader *r)
{
    return (size_t)(r->end - r->p);
}

static int get_varint(reader *r, uint64_t *out)
{
    return hark__varint_get(&r->p, r->end, out);
}

static int get_zvarint(reader *r, int64_t *out)
{
    uint64_t v;
    if (get_varint(r, &v) < 0)
        return -1;
    *out = hark__unzigzag(v);
    return 0;
}

static int get_f32(reader *r, float *out)
{
    return hark__f32le_get(&r->p, r->end, out);
}

/* A counted string copied NUL-terminated into the scratch block. */
static int get_str(reader *r, const char **out)
{
    uint64_t len;
    if (get_varint(r, &len) < 0 || len > left(r))
        return -1;
    if (len && memchr(r->p, '\0', (size_t)len))
        return -1;
    memcpy(r->text + r->text_len, r->p, (size_t)len);
    r->text[r->text_len + (size_t)len] = '\0';
    *out = r->text + r->text_len;
    r->text_len += (size_t)len + 1;
    r->p += len;
    return 0;
}

/* A count that at least `min_bytes` bytes per item must follow. */
static int get_count(reader *r, size_t min_bytes, uint64_t *out)
{
    if (get_varint(r, out) < 0 || *out > left(r) / min_bytes)
        return -1;
    return 0;
}

static int add64(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* One segment into *seg, words and tokens into the caller's arrays (sized from the input). */
static int get_segment(reader *r, hark_segment *seg, int64_t prev_start, hark_word *words,
                       hark_token *tokens)
{
    int64_t delta;
    uint64_t len, chunk, nw, nt, i;

    memset(seg, 0, sizeof(*seg));
    if (get_zvarint(r, &delta) < 0 || add64(prev_start, delta, &seg->start) < 0 ||
        get_varint(r, &len) < 0 || len > (uint64_t)INT64_MAX ||
        add64(seg->start, (int64_t)len, &seg->end) < 0 || get_str(r, &seg->text) < 0 ||
        get_f32(r, &seg->confidence) < 0 || get_f32(r, &seg->no_speech_prob) < 0 ||
        get_f32(r, &seg->avg_logprob) < 0 || get_f32(r, &seg->compression_ratio) < 0 ||
        get_f32(r, &seg->temperature) < 0 || get_varint(r, &chunk) < 0 || chunk > UINT32_MAX ||
        get_count(r, MIN_WORD_BYTES, &nw) < 0 || nw > UINT32_MAX)
        return -1;
    seg->chunk = (uint32_t)chunk;
    for (i = 0; i < nw; i++) {
        hark_word *w = &words[i];
        int64_t ds, dl;
        if (get_zvarint(r, &ds) < 0 || add64(seg->start, ds, &w->start) < 0 ||
            get_zvarint(r, &dl) < 0 || add64(w->start, dl, &w->end) < 0 || get_f32(r, &w->p) < 0 ||
            get_str(r, &w->text) < 0)
            return -1;
    }
    if (get_count(r, MIN_TOKEN_BYTES, &nt) < 0 || nt > UINT32_MAX)
        return -1;
    for (i = 0; i < nt; i++) {
        hark_token *k = &tokens[i];
        int64_t id, d;
        if (get_zvarint(r, &id) < 0 || id < INT32_MIN || id > INT32_MAX || get_f32(r, &k->p) < 0 ||
            get_f32(r, &k->plog) < 0 || left(r) < 1)
            return -1;
        k->id = (int32_t)id;
        {
            uint8_t known = *r->p++;
            if (known & ~3u)
                return -1;
            k->start = k->end = -1;
            if ((known & 1) &&
                (get_zvarint(r, &d) < 0 || add64(seg->start, d, &k->start) < 0 || k->start < 0))
                return -1;
            if ((known & 2) &&
                (get_zvarint(r, &d) < 0 || add64(seg->start, d, &k->end) < 0 || k->end < 0))
                return -1;
        }
        if (get_str(r, &k->text) < 0)
            return -1;
    }
    seg->n_words = (uint32_t)nw;
    seg->n_tokens = (uint32_t)nt;
    seg->words = nw ? words : NULL;
    seg->tokens = nt ? tokens : NULL;
    return 0;
}

static int corrupt(const char *why)
{
    return hark_error_set(HARK_ECORRUPT, "cached transcript: %s", why);
}

int hark__transcript_decode(const void *data, size_t len, hark_transcript **out)
{
    const uint8_t *bytes = data;
    hark_transcript *t = NULL;
    hark_word *words = NULL;
    hark_token *tokens = NULL;
    reader r = { NULL, NULL, NULL, 0 };
    uint64_t flags, n_meta, n_seg, i;
    int64_t duration, prev = 0;
    uint32_t crc;
    size_t max_items, next_key;
    int rc = 0;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    if (!data || len < 4 + 1 + 1 + 1 + 1 + 4 || memcmp(bytes, HARK_TRANSCRIPT_MAGIC, 3) != 0) {
        rc = corrupt("not a hark transcript encoding");
        goto out;
    }
    if (bytes[3] != HARK_TRANSCRIPT_FORMAT) {
        rc = hark_error_set(HARK_ECORRUPT, "cached transcript: unsupported format version %u",
                            (unsigned)bytes[3]);
        goto out;
    }
    crc = (uint32_t)bytes[len - 4] | (uint32_t)bytes[len - 3] << 8 |
          (uint32_t)bytes[len - 2] << 16 | (uint32_t)bytes[len - 1] << 24;
    if (crc32_ieee(bytes, len - 4) != crc) {
        rc = corrupt("checksum mismatch");
        goto out;
    }
    r.p = bytes + 4;
    r.end = bytes + len - 4;
    /* Every string fits in the input plus its NUL; each needs at least one byte. */
    r.text = hark__malloc(2 * len + 1);
    /* Words or tokens of one segment: at most one per MIN_WORD_BYTES of input. */
    max_items = len / MIN_WORD_BYTES + 1;
    words = hark__calloc(max_items, sizeof(*words));
    tokens = hark__calloc(max_items, sizeof(*tokens));
    if (!r.text || !words || !tokens) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = hark_transcript_new(&t)) < 0)
        goto out;
    if (get_varint(&r, &flags) < 0 || flags != 0) {
        rc = corrupt("unknown flags");
        goto out;
    }
    if (get_count(&r, MIN_META_BYTES, &n_meta) < 0) {
        rc = corrupt("bad metadata count");
        goto out;
    }
    for (i = 0, next_key = 0; i < n_meta; i++) {
        const char *k, *v;
        if (get_str(&r, &k) < 0 || get_str(&r, &v) < 0) {
            rc = corrupt("truncated metadata");
            goto out;
        }
        /* known keys only, each once, in the encoder's order: keeps the encoding canonical */
        while (next_key < HARK_ARRAY_SIZE(meta_keys) && strcmp(k, meta_keys[next_key]) != 0)
            next_key++;
        if (next_key == HARK_ARRAY_SIZE(meta_keys)) {
            rc = corrupt("unknown or repeated metadata key");
            goto out;
        }
        next_key++;
        if ((rc = hark_transcript_set_meta(t, k, v)) < 0)
            goto out;
    }
    if (get_zvarint(&r, &duration) < 0 || get_count(&r, MIN_SEGMENT_BYTES, &n_seg) < 0) {
        rc = corrupt("bad segment count");
        goto out;
    }
    hark_transcript_set_duration(t, duration);
    for (i = 0; i < n_seg; i++) {
        hark_segment seg;
        if (get_segment(&r, &seg, prev, words, tokens) < 0) {
            rc = hark_error_set(HARK_ECORRUPT, "cached transcript: segment %llu is malformed",
                                (unsigned long long)i);
            goto out;
        }
        if ((rc = hark_transcript_add(t, &seg)) < 0)
            goto out;
        prev = seg.start;
    }
    if (r.p != r.end) {
        rc = corrupt("trailing bytes");
        goto out;
    }
    *out = t;
    t = NULL;
out:
    hark_transcript_free(t);
    hark__free(r.text);
    hark__free(words);
    hark__free(tokens);
    return rc;
}
