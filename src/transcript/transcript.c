/*
 * transcript.c: the hark_transcript container.
 *
 * Segments live in a growable array; their text, words and tokens are copied
 * into an arena owned by the transcript, so a hark_segment's pointers stay
 * valid while segments are appended (only the array itself moves, which is
 * why hark_transcript_segment() pointers are valid until the next change).
 */
#include <string.h>

#include "hark/transcript.h"
#include "../util/arena.h"
#include "../util/util.h"

typedef struct meta_entry {
    char *key;
    char *value;
} meta_entry;

struct hark_transcript {
    hark_segment *segs; /* n segments, capacity cap */
    const char **src;   /* per segment: the engine that made it when not the transcript's
                           (a fallback; arena string), NULL = the transcript's; capacity cap */
    size_t n, cap;
    hark_arena arena; /* text, words, tokens */
    meta_entry *meta; /* n_meta entries, heap-allocated strings */
    size_t n_meta;
    int64_t duration; /* samples */
    hark_timings timings;
};

int hark_transcript_new(hark_transcript **out)
{
    hark_transcript *t = hark__calloc(1, sizeof(*t));
    *out = t;
    if (!t)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

void hark_transcript_free(hark_transcript *t)
{
    size_t i;
    if (!t)
        return;
    for (i = 0; i < t->n_meta; i++) {
        hark__free(t->meta[i].key);
        hark__free(t->meta[i].value);
    }
    hark__free(t->meta);
    hark__free(t->segs);
    hark__free(t->src);
    hark_arena_dispose(&t->arena);
    hark__free(t);
}

size_t hark_transcript_count(const hark_transcript *t)
{
    return t ? t->n : 0;
}

const hark_segment *hark_transcript_segment(const hark_transcript *t, size_t i)
{
    return t && i < t->n ? &t->segs[i] : NULL;
}

static int add_shifted(hark_transcript *t, const hark_segment *s, int64_t offset, uint32_t chunk,
                       const char *source)
{
    hark_segment d;
    uint32_t i;

    if (!s->text || s->end < s->start || (s->n_words && !s->words) || (s->n_tokens && !s->tokens))
        return hark_error_set(HARK_EINVAL, "invalid segment");
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        hark_segment *p = hark__reallocarray(t->segs, cap, sizeof(*p));
        const char **q;
        if (!p)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        t->segs = p;
        q = hark__reallocarray(t->src, cap, sizeof(*q));
        if (!q)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        t->src = q;
        t->cap = cap;
    }
    d = *s;
    d.start += offset;
    d.end += offset;
    if (chunk != UINT32_MAX)
        d.chunk = chunk;
    d.text = hark_arena_strdup(&t->arena, s->text);
    d.words = NULL;
    d.tokens = NULL;
    if (!d.text)
        goto oom;
    if (s->n_words) {
        hark_word *w = hark_arena_alloc(&t->arena, sizeof(*w) * s->n_words);
        if (!w)
            goto oom;
        for (i = 0; i < s->n_words; i++) {
            w[i] = s->words[i];
            w[i].start += offset;
            w[i].end += offset;
            w[i].text = hark_arena_strdup(&t->arena, s->words[i].text ? s->words[i].text : "");
            if (!w[i].text)
                goto oom;
        }
        d.words = w;
    }
    if (s->n_tokens) {
        hark_token *k = hark_arena_alloc(&t->arena, sizeof(*k) * s->n_tokens);
        if (!k)
            goto oom;
        for (i = 0; i < s->n_tokens; i++) {
            k[i] = s->tokens[i];
            if (k[i].start >= 0)
                k[i].start += offset;
            if (k[i].end >= 0)
                k[i].end += offset;
            k[i].text = hark_arena_strdup(&t->arena, s->tokens[i].text ? s->tokens[i].text : "");
            if (!k[i].text)
                goto oom;
        }
        d.tokens = k;
    }
    t->src[t->n] = NULL;
    if (source && !(t->src[t->n] = hark_arena_strdup(&t->arena, source)))
        goto oom;
    t->segs[t->n++] = d;
    return 0;
oom:
    return hark_error_set(HARK_ENOMEM, "out of memory");
}

int hark_transcript_add(hark_transcript *t, const hark_segment *seg)
{
    HARK_ASSERT_ARG(t && seg);
    return add_shifted(t, seg, 0, UINT32_MAX, NULL);
}

int hark_transcript_append(hark_transcript *dst, const hark_transcript *src, int64_t offset,
                           uint32_t chunk)
{
    size_t i;
    int rc;
    HARK_ASSERT_ARG(dst && src && dst != src);
    for (i = 0; i < src->n; i++)
        if ((rc = add_shifted(dst, &src->segs[i], offset, chunk, src->src[i])) < 0)
            return rc;
    return 0;
}

const char *hark_transcript_segment_engine(const hark_transcript *t, size_t i)
{
    if (!t || i >= t->n)
        return NULL;
    return t->src[i] ? t->src[i] : hark_transcript_meta(t, "engine");
}

int hark_transcript_set_segment_engine(hark_transcript *t, size_t i, const char *engine)
{
    HARK_ASSERT_ARG(t && i < t->n);
    t->src[i] = NULL;
    if (engine && !(t->src[i] = hark_arena_strdup(&t->arena, engine)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

int64_t hark_transcript_duration(const hark_transcript *t)
{
    return t ? t->duration : 0;
}

void hark_transcript_set_duration(hark_transcript *t, int64_t samples)
{
    if (t)
        t->duration = samples;
}

int hark_transcript_set_meta(hark_transcript *t, const char *key, const char *value)
{
    size_t i;
    char *v = NULL;
    HARK_ASSERT_ARG(t && key);

    if (value && !(v = hark__strdup(value)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    for (i = 0; i < t->n_meta; i++) {
        if (strcmp(t->meta[i].key, key) == 0) {
            hark__free(t->meta[i].value);
            if (v) {
                t->meta[i].value = v;
            } else {
                hark__free(t->meta[i].key);
                t->meta[i] = t->meta[--t->n_meta];
            }
            return 0;
        }
    }
    if (!v)
        return 0;
    {
        meta_entry *m = hark__reallocarray(t->meta, t->n_meta + 1, sizeof(*m));
        char *k = hark__strdup(key);
        if (!m || !k) {
            if (m)
                t->meta = m;
            hark__free(k);
            hark__free(v);
            return hark_error_set(HARK_ENOMEM, "out of memory");
        }
        t->meta = m;
        t->meta[t->n_meta].key = k;
        t->meta[t->n_meta].value = v;
        t->n_meta++;
    }
    return 0;
}

const char *hark_transcript_meta(const hark_transcript *t, const char *key)
{
    size_t i;
    if (!t || !key)
        return NULL;
    for (i = 0; i < t->n_meta; i++)
        if (strcmp(t->meta[i].key, key) == 0)
            return t->meta[i].value;
    return NULL;
}

hark_timings *hark_transcript_timings(hark_transcript *t)
{
    return &t->timings;
}

int hark_transcript_text(const hark_transcript *t, hark_buf *out)
{
    size_t i;
    int rc = 0, first = 1;
    HARK_ASSERT_ARG(t && out);
    for (i = 0; i < t->n && rc == 0; i++) {
        size_t len = strlen(t->segs[i].text);
        const char *s = hark__trim(t->segs[i].text, &len);
        if (!len)
            continue;
        if (!first)
            rc = hark_buf_putc(out, ' ');
        if (rc == 0)
            rc = hark_buf_put(out, s, len);
        first = 0;
    }
    if (rc == 0 && !out->ptr)
        rc = hark_buf_put(out, "", 0);
    return rc;
}
