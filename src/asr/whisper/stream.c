/*
 * stream.c: the "whisper" engine's stream operations (hark/sys/engine.h),
 * the LocalAgreement way (Machacek et al., "Turning Whisper into Real-Time
 * Transcription System", 2023): Whisper has no incremental decoder, so the
 * uncommitted tail of the utterance is re-transcribed as it grows, and only
 * what two consecutive transcriptions agree on is committed.
 *
 * DESIGN
 * The stream keeps the utterance's samples from `base` (the end of the last
 * committed word) on, the committed words, and the words of the last
 * transcription after them (tentative). Every STEP_SAMPLES of audio (at
 * fixed positions of the utterance: 1 s, 2 s, ...) the window [base, that
 * position) is transcribed with word times (the engine's transcribe, so the
 * same options and output); the longest common prefix, word by word, of the
 * new words and the tentative ones is committed, the rest becomes the new
 * tentative, and `base` moves to the end of the last committed word (the
 * audio before it is dropped). Cost bound: when the window would exceed
 * WINDOW_MAX_SAMPLES, every word but the last of the new transcription is
 * committed at once (and without words the oldest audio is dropped), so no
 * transcription covers more than WINDOW_MAX_SAMPLES + STEP_SAMPLES and a
 * partial costs at most one such transcription per STEP_SAMPLES of audio.
 * The partial is the committed words, then the tentative ones. At the end
 * the rest of the window is transcribed once more and all of it committed;
 * the final is one segment with the committed words (times relative to the
 * utterance, confidence = mean word probability).
 *
 * INVARIANTS
 * - Committed words are never taken back: the partials' committed prefix
 *   and the final only ever extend it.
 * - The decodes happen at fixed positions of the utterance, so the result
 *   depends on its samples only, never on how they were split into feeds.
 */
#include <string.h>

#include "whisper.h"

#define STEP_SAMPLES       (1 * HARK_SAMPLE_RATE)  /* audio between two transcriptions */
#define WINDOW_MAX_SAMPLES (10 * HARK_SAMPLE_RATE) /* longest uncommitted window kept */

typedef struct sword {
    char *text;         /* hark__strdup'ed */
    int64_t start, end; /* samples from the utterance start */
    float p;
} sword;

typedef struct wlist {
    sword *w;
    size_t n, cap;
} wlist;

struct hark_whisper_stream {
    int open;
    hark_decode_options opts; /* the utterance's, word times forced on */
    int n_threads;
    uint32_t utt;
    float *pcm; /* samples [base, base + n) of the utterance */
    size_t n, cap;
    int64_t base;
    int64_t total;       /* samples fed */
    int64_t next_decode; /* utterance position of the next transcription */
    wlist committed, tentative;
    hark__whisper_stream_stats stats;
    int no_agree; /* tests: nothing is ever agreed (only the window bound commits) */
};

static void wl_clear(wlist *l)
{
    size_t i;
    for (i = 0; i < l->n; i++)
        hark__free(l->w[i].text);
    l->n = 0;
}

static void wl_dispose(wlist *l)
{
    wl_clear(l);
    hark__free(l->w);
    memset(l, 0, sizeof(*l));
}

/* Append a copy of `w` (text duplicated). */
static int wl_push(wlist *l, const sword *w)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        sword *nw = hark__reallocarray(l->w, cap, sizeof(*nw));
        if (!nw)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->w = nw;
        l->cap = cap;
    }
    l->w[l->n] = *w;
    if (!(l->w[l->n].text = hark__strdup(w->text)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    l->n++;
    return 0;
}

static void reset(hark_whisper_stream *s)
{
    s->open = 0;
    s->n = 0;
    s->base = s->total = 0;
    wl_clear(&s->committed);
    wl_clear(&s->tentative);
}

void hark__whisper_stream_free(hark_whisper_stream *s)
{
    if (!s)
        return;
    wl_dispose(&s->committed);
    wl_dispose(&s->tentative);
    hark__free(s->pcm);
    hark__free(s);
}

int hark__whisper_stream_begin(void *state, const hark_engine_job *job)
{
    hark_whisper_state *st = state;
    hark_whisper_stream *s = st->stream;
    HARK_ASSERT_ARG(st && job && job->opts);
    if (!s) {
        if (!(s = hark__calloc(1, sizeof(*s))))
            return hark_error_set(HARK_ENOMEM, "out of memory");
        st->stream = s;
    }
    reset(s);
    memset(&s->stats, 0, sizeof(s->stats));
    s->opts = *job->opts;
    s->opts.word_timestamps = 1; /* the window moves to the end of the last committed word */
    s->n_threads = job->n_threads > 0 ? job->n_threads : 1;
    s->utt = job->chunk;
    s->next_decode = STEP_SAMPLES;
    s->open = 1;
    return 0;
}

/* Transcribe the window [base, base + len) into `out` (utterance times). */
static int transcribe_window(hark_whisper_state *st, size_t len, wlist *out)
{
    hark_whisper_stream *s = st->stream;
    hark_engine_job job;
    hark_transcript *t = NULL;
    size_t i, j;
    int rc;

    wl_clear(out);
    memset(&job, 0, sizeof(job));
    job.pcm = s->pcm;
    job.n = len;
    job.offset = s->base;
    job.chunk = s->utt;
    job.n_threads = s->n_threads;
    job.opts = &s->opts;
    if ((rc = hark_transcript_new(&t)) < 0)
        return rc;
    s->stats.decodes++;
    s->stats.decoded_samples += (uint64_t)len;
    if (len > s->stats.max_window)
        s->stats.max_window = len;
    if ((rc = hark__whisper_engine_transcribe(st, &job, t)) < 0)
        goto out;
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *seg = hark_transcript_segment(t, i);
        for (j = 0; j < seg->n_words; j++) {
            sword w;
            w.text = (char *)seg->words[j].text;
            w.start = s->base + HARK_MAX(seg->words[j].start, 0);
            w.end = s->base + HARK_MAX(seg->words[j].end, seg->words[j].start);
            w.p = seg->words[j].p;
            if (!*w.text)
                continue;
            if ((rc = wl_push(out, &w)) < 0)
                goto out;
        }
    }
out:
    hark_transcript_free(t);
    return rc;
}

/* Commit hyp->w[0, k) and move the window past them. */
static int commit(hark_whisper_stream *s, const wlist *hyp, size_t k, int64_t window_end)
{
    int64_t to;
    size_t i;
    int rc;
    if (k == 0)
        return 0;
    for (i = 0; i < k; i++)
        if ((rc = wl_push(&s->committed, &hyp->w[i])) < 0)
            return rc;
    to = HARK_MIN(HARK_MAX(hyp->w[k - 1].end, s->base), window_end);
    memmove(s->pcm, s->pcm + (to - s->base), (s->n - (size_t)(to - s->base)) * sizeof(float));
    s->n -= (size_t)(to - s->base);
    s->base = to;
    return 0;
}

/* Drop the audio before `to` without committing anything. */
static void skip_to(hark_whisper_stream *s, int64_t to)
{
    size_t drop = (size_t)(to - s->base);
    memmove(s->pcm, s->pcm + drop, (s->n - drop) * sizeof(float));
    s->n -= drop;
    s->base = to;
}

/* One LocalAgreement step over the window ending at utterance position `end`. */
static int step(hark_whisper_state *st, int64_t end)
{
    hark_whisper_stream *s = st->stream;
    wlist hyp = { 0 };
    size_t k = 0, i;
    int rc;

    if ((rc = transcribe_window(st, (size_t)(end - s->base), &hyp)) < 0)
        goto out;
    while (!s->no_agree && k < hyp.n && k < s->tentative.n &&
           strcmp(hyp.w[k].text, s->tentative.w[k].text) == 0)
        k++;
    if ((rc = commit(s, &hyp, k, end)) < 0)
        goto out;
    if (end + STEP_SAMPLES - s->base > WINDOW_MAX_SAMPLES) { /* bound the next window */
        size_t more = hyp.n > k + 1 ? hyp.n - k - 1 : 0;
        wlist rest = { 0 };
        if (more) {
            rest.w = hyp.w + k;
            rest.n = more;
            if ((rc = commit(s, &rest, more, end)) < 0)
                goto out;
            k += more;
            s->stats.forced += (unsigned)more;
        }
        if (end + STEP_SAMPLES - s->base > WINDOW_MAX_SAMPLES) {
            s->stats.skipped += (uint64_t)(end + STEP_SAMPLES - WINDOW_MAX_SAMPLES - s->base);
            skip_to(s, end + STEP_SAMPLES - WINDOW_MAX_SAMPLES);
        }
    }
    wl_clear(&s->tentative);
    for (i = k; i < hyp.n; i++)
        if (hyp.w[i].end > s->base && (rc = wl_push(&s->tentative, &hyp.w[i])) < 0)
            goto out;
out:
    wl_dispose(&hyp);
    return rc;
}

int hark__whisper_stream_feed(void *state, const float *pcm, size_t n)
{
    hark_whisper_state *st = state;
    hark_whisper_stream *s = st ? st->stream : NULL;
    int rc;
    HARK_ASSERT_ARG(st && (pcm || n == 0));
    if (!s || !s->open)
        return hark_error_set(HARK_EINVAL, "whisper: no utterance is open");
    while (n > 0) {
        /* up to the next transcription position, so every one happens whatever the feeds */
        size_t take = (size_t)HARK_MIN((int64_t)n, s->next_decode - s->total);
        if (s->n + take > s->cap) {
            size_t cap = HARK_MAX(s->n + take, s->cap * 2 + STEP_SAMPLES);
            float *b = hark__reallocarray(s->pcm, cap, sizeof(float));
            if (!b)
                return hark_error_set(HARK_ENOMEM, "out of memory");
            s->pcm = b;
            s->cap = cap;
        }
        memcpy(s->pcm + s->n, pcm, take * sizeof(float));
        s->n += take;
        s->total += (int64_t)take;
        pcm += take;
        n -= take;
        if (s->total == s->next_decode) {
            if ((rc = step(st, s->total)) < 0)
                return rc;
            s->next_decode += STEP_SAMPLES;
        }
    }
    return 0;
}

static int join(const wlist *l, hark_buf *out, int *first)
{
    size_t i;
    int rc;
    for (i = 0; i < l->n; i++) {
        if ((rc = hark_buf_printf(out, "%s%s", *first ? "" : " ", l->w[i].text)) < 0)
            return rc;
        *first = 0;
    }
    return 0;
}

int hark__whisper_stream_partial(void *state, hark_buf *text)
{
    hark_whisper_state *st = state;
    hark_whisper_stream *s = st ? st->stream : NULL;
    int first = 1, rc;
    if (!s || !s->open)
        return 0;
    if ((rc = join(&s->committed, text, &first)) < 0)
        return rc;
    return join(&s->tentative, text, &first);
}

int hark__whisper_stream_committed(void *state, hark_buf *text)
{
    hark_whisper_state *st = state;
    int first = 1;
    return st && st->stream ? join(&st->stream->committed, text, &first) : 0;
}

int hark__whisper_stream_test_no_agree(void *state)
{
    hark_whisper_state *st = state;
    if (!st->stream && !(st->stream = hark__calloc(1, sizeof(*st->stream))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    st->stream->no_agree = 1;
    return 0;
}

void hark__whisper_stream_stats_get(void *state, hark__whisper_stream_stats *out)
{
    hark_whisper_state *st = state;
    memset(out, 0, sizeof(*out));
    if (st && st->stream)
        *out = st->stream->stats;
}

int hark__whisper_stream_end(void *state, hark_transcript *out)
{
    hark_whisper_state *st = state;
    hark_whisper_stream *s = st ? st->stream : NULL;
    hark_buf text = HARK_BUF_INIT;
    hark_word *words = NULL;
    hark_segment seg;
    wlist hyp = { 0 };
    double psum = 0;
    size_t i;
    int rc = 0, first = 1;

    if (!s || !s->open || !out) {
        if (s)
            reset(s);
        return out ? hark_error_set(HARK_EINVAL, "whisper: no utterance is open") : 0;
    }
    if (s->n > 0) { /* the rest: transcribed once more, all committed */
        if ((rc = transcribe_window(st, s->n, &hyp)) < 0 ||
            (rc = commit(s, &hyp, hyp.n, s->total)) < 0)
            goto out;
    }
    if (s->committed.n == 0)
        goto out;
    words = hark__calloc(s->committed.n, sizeof(*words));
    HARK_ALLOC_CHECK(words, rc, out);
    for (i = 0; i < s->committed.n; i++) {
        const sword *w = &s->committed.w[i];
        words[i].text = w->text;
        words[i].start = HARK_MIN(w->start, s->total);
        words[i].end = HARK_MIN(HARK_MAX(w->end, words[i].start), s->total);
        if (i > 0 && words[i].start < words[i - 1].end) { /* keep them in order */
            words[i].start = words[i - 1].end;
            words[i].end = HARK_MAX(words[i].end, words[i].start);
        }
        words[i].p = w->p;
        psum += w->p;
    }
    if ((rc = join(&s->committed, &text, &first)) < 0)
        goto out;
    memset(&seg, 0, sizeof(seg));
    seg.start = words[0].start;
    seg.end = words[s->committed.n - 1].end;
    seg.text = text.ptr;
    seg.confidence = (float)(psum / (double)s->committed.n);
    seg.n_words = (uint32_t)s->committed.n;
    seg.words = words;
    rc = hark_transcript_add(out, &seg);
out:
    hark__free(words);
    hark_buf_dispose(&text);
    wl_dispose(&hyp);
    reset(s);
    return rc;
}
