/*
 * The chunker on synthetic signals: every point of chunker.h's contract.
 */
#include <stdatomic.h>

#include "harness.h"
#include "../vad/synth.h"
#include "pipeline/chunker.h"
#include "util/util.h"
#include "vad/vad.h"

#define SEC(x) ((int64_t)((x)*SYN_RATE))

typedef struct got {
    hark_chunk *c; /* pcm kept (or NULL when keep == 0) */
    size_t n, cap;
    int keep;           /* keep the samples */
    const float *input; /* when set, each chunk is compared with input[start, start + n) */
    int fail_at;        /* return HARK_ECANCELED for this chunk index + 1 (0 = never) */
} got;

static int on_chunk(void *payload, hark_chunk *ch)
{
    got *g = payload;
    if (g->fail_at && (int)ch->index + 1 == g->fail_at)
        return HARK_ECANCELED;
    ASSERT_EQ(ch->index, g->n);
    ASSERT(ch->n > 0 && ch->pcm != NULL);
    if (g->input)
        ASSERT(memcmp(ch->pcm, g->input + ch->start, ch->n * sizeof(float)) == 0);
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->c = realloc(g->c, g->cap * sizeof(*g->c));
        ASSERT(g->c != NULL);
    }
    g->c[g->n] = *ch;
    if (!g->keep) {
        hark__free(ch->pcm);
        g->c[g->n].pcm = NULL;
    }
    g->n++;
    return 0;
}

static void got_free(got *g)
{
    size_t i;
    for (i = 0; i < g->n; i++)
        hark__free(g->c[i].pcm);
    free(g->c);
    memset(g, 0, sizeof(*g));
}

static hark_chunker_config config(double min_s, double max_s, double skip_s)
{
    hark_chunker_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.min = SEC(min_s);
    cfg.max = SEC(max_s);
    cfg.vad_threshold = 0.5f;
    cfg.skip_silence = skip_s < 0 ? -1 : SEC(skip_s);
    return cfg;
}

/* Chunk x[0, n) with blocks of `block` samples (0: one push; < 0: random sizes up to -block). */
static got run_chunker(const hark_chunker_config *cfg, const float *x, size_t n, long block,
                       uint64_t seed, hark_chunker_stats *stats)
{
    got g = { 0 };
    hark__chunker *c = NULL;
    size_t pos = 0;
    g.input = x;
    ASSERT_OK(hark__chunker_new(&c, cfg));
    while (pos < n) {
        size_t take = n - pos;
        if (block > 0)
            take = (size_t)block;
        else if (block < 0)
            take = (size_t)(harness_rand(&seed) % (uint64_t)(-block + 1));
        if (take > n - pos)
            take = n - pos;
        ASSERT_OK(hark__chunker_push(c, x + pos, take, on_chunk, &g));
        pos += take;
    }
    ASSERT_OK(hark__chunker_finish(c, on_chunk, &g));
    if (stats)
        hark__chunker_stats(c, stats);
    hark__chunker_free(c);
    return g;
}

/* Is the sample position p strictly inside a sentence? */
static int inside_sentence(const synth *s, int64_t p)
{
    size_t k;
    for (k = 0; k < s->n_sent; k++)
        if (p > s->sent[k].start && p < s->sent[k].end)
            return 1;
    return 0;
}

/* Is any sample of [a, b) inside a sentence? */
static int overlaps_sentence(const synth *s, int64_t a, int64_t b)
{
    size_t k;
    for (k = 0; k < s->n_sent; k++)
        if (a < s->sent[k].end && b > s->sent[k].start)
            return 1;
    return 0;
}

/*
 * The structural contract for an input of n samples: chunks in order, within
 * [min, max] (a shorter one only last or before a skipped span), contiguous
 * unless the span between them is skipped, every sample in a chunk or skipped.
 */
static void check_structure(const got *g, const hark_chunker_config *cfg, const synth *s, int64_t n,
                            const hark_chunker_stats *st)
{
    size_t i;
    int64_t emitted = 0;
    for (i = 0; i < g->n; i++) {
        const hark_chunk *ch = &g->c[i];
        int last = i + 1 == g->n;
        int64_t end = ch->start + (int64_t)ch->n;
        int gap_after = !last && g->c[i + 1].start > end;
        ASSERT_EQ(ch->index, i);
        ASSERT(ch->start >= 0 && end <= n);
        ASSERT_MSG((int64_t)ch->n <= cfg->max, "chunk %zu: %zu samples > max", i, ch->n);
        if (!last && !gap_after)
            ASSERT_MSG((int64_t)ch->n >= cfg->min, "chunk %zu: %zu samples < min", i, ch->n);
        if (!last)
            ASSERT(g->c[i + 1].start >= end);
        /* whatever is left out holds no sound */
        if (s && gap_after)
            ASSERT_MSG(!overlaps_sentence(s, end, g->c[i + 1].start),
                       "skipped [%.2f, %.2f] s overlaps a sentence", (double)end / SYN_RATE,
                       (double)g->c[i + 1].start / SYN_RATE);
        emitted += (int64_t)ch->n;
    }
    if (s && g->n) {
        ASSERT(!overlaps_sentence(s, 0, g->c[0].start));
        ASSERT(!overlaps_sentence(s, g->c[g->n - 1].start + (int64_t)g->c[g->n - 1].n, n));
    }
    if (st) {
        ASSERT_EQ(st->total, n);
        ASSERT_EQ(st->chunks, g->n);
        ASSERT_EQ(st->skipped + emitted, n);
        ASSERT(st->speech >= 0 && st->speech <= n);
    }
}

/* Speech-like material: sentences of 2-6 words with pauses drawn from [pmin, pmax] s. */
static void make_talk(synth *s, int sentences, double pmin, double pmax, float amp)
{
    int k;
    syn_silence(s, 0.5);
    for (k = 0; k < sentences; k++) {
        syn_sentence(s, 2 + (int)(syn_uniform(s) * 5), amp);
        syn_silence(s, pmin + (pmax - pmin) * syn_uniform(s));
    }
}

TEST(chunker_short_input_is_one_untouched_chunk)
{
    /* 25 s with pauses under 2 s, leading and trailing silence: [0, n) exactly */
    synth s;
    got g;
    hark_chunker_stats st;
    hark_chunker_config cfg = config(5, 30, 2);
    syn_init(&s, 1);
    syn_silence(&s, 1.5);
    while ((double)s.n < 23.0 * SYN_RATE) {
        syn_sentence(&s, 4, 0.3f);
        syn_silence(&s, 0.4 + 1.4 * syn_uniform(&s));
    }
    syn_add_white(&s, 0, 1e-3f);
    g = run_chunker(&cfg, s.x, s.n, 0, 0, &st);
    ASSERT_EQ(g.n, 1);
    ASSERT_EQ(g.c[0].start, 0);
    ASSERT_EQ(g.c[0].n, s.n);
    ASSERT_EQ(st.skipped, 0);
    ASSERT(st.speech > SEC(10) && st.speech < (int64_t)s.n);
    got_free(&g);

    /* exactly max samples is still one chunk */
    while ((int64_t)s.n < cfg.max)
        syn_sentence(&s, 4, 0.3f);
    s.n = (size_t)cfg.max;
    g = run_chunker(&cfg, s.x, s.n, 4000, 0, &st);
    ASSERT_EQ(g.n, 1);
    ASSERT_EQ(g.c[0].n, s.n);
    got_free(&g);
    syn_free(&s);
}

TEST(chunker_silence_gives_no_chunks)
{
    /* digital silence, very low noise, steady loud noise: nothing to transcribe */
    synth s;
    int kind;
    for (kind = 0; kind < 3; kind++) {
        got g;
        hark_chunker_stats st;
        hark_chunker_config cfg = config(5, 20, 2);
        syn_init(&s, 2);
        syn_silence(&s, 65.0);
        if (kind == 1)
            syn_add_white(&s, 0, 2e-4f);
        if (kind == 2) {
            syn_add_fan(&s, 0, 0.05f);
            syn_add_hum(&s, 0, 0.3f);
        }
        g = run_chunker(&cfg, s.x, s.n, -5000, 3, &st);
        ASSERT_EQ(g.n, 0);
        ASSERT_EQ(st.speech, 0);
        ASSERT_EQ(st.skipped, (int64_t)s.n);
        /* also when long silences are never skipped */
        cfg.skip_silence = -1;
        got_free(&g);
        g = run_chunker(&cfg, s.x, s.n, 0, 0, &st);
        ASSERT_EQ(g.n, 0);
        ASSERT_EQ(st.skipped, (int64_t)s.n);
        got_free(&g);
        syn_free(&s);
    }
}

TEST(chunker_empty_input_gives_no_chunks)
{
    hark_chunker_config cfg = config(5, 20, 2);
    got g = run_chunker(&cfg, NULL, 0, 0, 0, NULL);
    ASSERT_EQ(g.n, 0);
    cfg.no_vad = 1;
    g = run_chunker(&cfg, NULL, 0, 0, 0, NULL);
    ASSERT_EQ(g.n, 0);
}

TEST(chunker_no_vad_cuts_every_max_samples)
{
    synth s;
    got g;
    hark_chunker_stats st;
    hark_chunker_config cfg = config(5, 20, 2);
    size_t i;
    cfg.no_vad = 1;
    cfg.vad_threshold = 0.0f; /* ignored */
    syn_init(&s, 4);
    syn_silence(&s, 10.0); /* silence is kept too */
    make_talk(&s, 10, 0.5, 3.0, 0.3f);
    syn_silence(&s, 10.0);
    g = run_chunker(&cfg, s.x, s.n, -7777, 5, &st);
    ASSERT_EQ(g.n, (s.n + (size_t)cfg.max - 1) / (size_t)cfg.max);
    for (i = 0; i < g.n; i++) {
        ASSERT_EQ(g.c[i].start, (int64_t)i * cfg.max);
        ASSERT_EQ(g.c[i].n, i + 1 < g.n ? (size_t)cfg.max : s.n - i * (size_t)cfg.max);
    }
    ASSERT_EQ(st.skipped, 0);
    ASSERT_EQ(st.total, (int64_t)s.n);
    got_free(&g);
    syn_free(&s);
}

TEST(chunker_cuts_fall_in_pauses)
{
    /* 4 minutes of talk with 0.3-1.5 s pauses, engine ranges of PocketSphinx and Whisper */
    static const double ranges[3][2] = { { 5, 20 }, { 30, 120 }, { 3, 10 } };
    synth s;
    int r;
    syn_init(&s, 5);
    make_talk(&s, 60, 0.3, 1.5, 0.3f);
    syn_add_white(&s, 0, 2e-3f);
    for (r = 0; r < 3; r++) {
        hark_chunker_stats st;
        hark_chunker_config cfg = config(ranges[r][0], ranges[r][1], 2);
        got g = run_chunker(&cfg, s.x, s.n, -20000, 7, &st);
        size_t i;
        check_structure(&g, &cfg, &s, (int64_t)s.n, &st);
        ASSERT(g.n >= (size_t)((int64_t)s.n / cfg.max));
        for (i = 0; i + 1 < g.n; i++) {
            int64_t cut = g.c[i].start + (int64_t)g.c[i].n;
            ASSERT_MSG(!inside_sentence(&s, cut), "range %d: cut at %.3f s inside a sentence", r,
                       (double)cut / SYN_RATE);
            ASSERT_EQ(g.c[i + 1].start, cut); /* no pause here is long enough to skip */
        }
        ASSERT_EQ(st.skipped, 0);
        got_free(&g);
    }
    syn_free(&s);
}

TEST(chunker_cut_is_in_the_longest_pause)
{
    /* sentences of about 1.5 s; one 1.2 s pause among 0.3 s ones inside the window */
    synth s;
    got g;
    hark_chunker_config cfg = config(5, 20, 2);
    int64_t long_start = 0, long_end = 0, cut;
    int k;
    syn_init(&s, 6);
    syn_silence(&s, 0.3);
    for (k = 0; k < 20; k++) {
        syn_sentence(&s, 3, 0.3f);
        if (k == 7)
            long_start = syn_pos(&s);
        syn_silence(&s, k == 7 ? 1.2 : 0.3);
        if (k == 7)
            long_end = syn_pos(&s);
    }
    ASSERT(long_start > cfg.min && long_end < cfg.max);
    g = run_chunker(&cfg, s.x, s.n, 0, 0, NULL);
    ASSERT(g.n >= 2);
    cut = g.c[0].start + (int64_t)g.c[0].n;
    /* in the long pause, about its middle */
    ASSERT_MSG(cut > long_start && cut < long_end, "cut at %.3f s, long pause [%.3f, %.3f] s",
               (double)cut / SYN_RATE, (double)long_start / SYN_RATE, (double)long_end / SYN_RATE);
    ASSERT_NEAR((double)cut, (double)(long_start + long_end) / 2.0, 0.15 * SYN_RATE);
    got_free(&g);
    syn_free(&s);
}

TEST(chunker_skips_long_silences_with_padding)
{
    /* speech, 6 s silence, speech, 3 s silence, speech: two skipped spans */
    synth s;
    got g;
    hark_chunker_stats st;
    hark_chunker_config cfg = config(5, 20, 2);
    size_t i;
    syn_init(&s, 7);
    syn_silence(&s, 4.0);
    syn_sentence(&s, 5, 0.3f);
    syn_silence(&s, 6.0);
    syn_sentence(&s, 5, 0.3f);
    syn_silence(&s, 3.0);
    syn_sentence(&s, 5, 0.3f);
    syn_silence(&s, 5.0);
    syn_add_white(&s, 0, 1e-3f);
    g = run_chunker(&cfg, s.x, s.n, -3000, 9, &st);
    check_structure(&g, &cfg, &s, (int64_t)s.n, &st);
    ASSERT_EQ(g.n, 3);
    for (i = 0; i < 3; i++) {
        /* each chunk holds one sentence with 0.1-0.4 s of silence on each side */
        int64_t lead = s.sent[i].start - g.c[i].start;
        int64_t trail = g.c[i].start + (int64_t)g.c[i].n - s.sent[i].end;
        ASSERT_MSG(lead >= SEC(0.1) && lead <= SEC(0.4), "chunk %zu lead %.3f s", i,
                   (double)lead / SYN_RATE);
        ASSERT_MSG(trail >= SEC(0.1) && trail <= SEC(0.4), "chunk %zu trail %.3f s", i,
                   (double)trail / SYN_RATE);
        /* shorter than min is fine: each ends at a long silence or the stream's end */
        ASSERT((int64_t)g.c[i].n < cfg.min);
    }
    ASSERT(st.skipped > SEC(4 + 6 + 3 + 5 - 8 * 0.4));
    got_free(&g);

    /* skip_silence < 0: nothing is skipped, the 25 s go out in two chunks cut in the long pause */
    cfg.skip_silence = -1;
    g = run_chunker(&cfg, s.x, s.n, 0, 0, &st);
    check_structure(&g, &cfg, &s, (int64_t)s.n, &st);
    ASSERT_EQ(st.skipped, 0);
    ASSERT_EQ(g.n, 2);
    ASSERT(g.c[0].start + (int64_t)g.c[0].n > s.sent[0].end &&
           g.c[0].start + (int64_t)g.c[0].n < s.sent[1].start);
    got_free(&g);
    syn_free(&s);
}

TEST(chunker_without_silence_cuts_at_the_quietest_frame)
{
    /* 30 s of continuous babble (never silent) with one 40 ms dip of -40 dB at 12.5 s */
    synth s;
    got g;
    hark_chunker_config cfg = config(5, 20, 2);
    size_t i, dip = (size_t)SEC(12.5);
    syn_init(&s, 14);
    syn_babble(&s, 30.0, 0.3f);
    for (i = dip - (size_t)SEC(0.02); i < dip + (size_t)SEC(0.02); i++)
        s.x[i] *= 0.01f;
    g = run_chunker(&cfg, s.x, s.n, 0, 0, NULL);
    ASSERT_EQ(g.n, 2);
    ASSERT_NEAR((double)g.c[0].n, (double)dip, SEC(0.02));
    ASSERT_EQ(g.c[1].start, (int64_t)g.c[0].n);
    got_free(&g);
    syn_free(&s);
}

TEST(chunker_output_does_not_depend_on_block_sizes)
{
    static const long blocks[6] = { 1, 160, 161, 4095, 100000, -30000 };
    synth s;
    got whole;
    hark_chunker_stats st0;
    hark_chunker_config cfg = config(5, 20, 2);
    int k;
    syn_init(&s, 8);
    make_talk(&s, 40, 0.2, 3.5, 0.3f); /* some pauses long enough to skip */
    syn_add_fan(&s, 0, 3e-3f);
    s.n -= 123;
    whole = run_chunker(&cfg, s.x, s.n, 0, 0, &st0);
    check_structure(&whole, &cfg, &s, (int64_t)s.n, &st0);
    ASSERT(whole.n > 5 && st0.skipped > 0);
    for (k = 0; k < 6; k++) {
        hark_chunker_stats st;
        got g = run_chunker(&cfg, s.x, s.n, blocks[k], 10 + (uint64_t)k, &st);
        size_t i;
        ASSERT_EQ(g.n, whole.n);
        for (i = 0; i < g.n; i++) {
            ASSERT_EQ(g.c[i].start, whole.c[i].start);
            ASSERT_EQ(g.c[i].n, whole.c[i].n);
        }
        ASSERT(memcmp(&st, &st0, sizeof(st)) == 0);
        got_free(&g);
    }
    got_free(&whole);
    syn_free(&s);
}

/* ---- an hour, generated on the fly, with bounded memory -------------------------------------- */

static _Atomic int64_t live_bytes, peak_bytes;

static void *count_malloc(size_t n)
{
    int64_t *p = malloc(n + 16), now;
    if (!p)
        return NULL;
    p[0] = (int64_t)n;
    now = atomic_fetch_add(&live_bytes, (int64_t)n) + (int64_t)n;
    if (now > atomic_load(&peak_bytes))
        atomic_store(&peak_bytes, now);
    return p + 2;
}

static void count_free(void *q)
{
    int64_t *p = q;
    if (!p)
        return;
    atomic_fetch_sub(&live_bytes, p[-2]);
    free(p - 2);
}

static void *count_calloc(size_t n, size_t size)
{
    void *p = count_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *count_realloc(void *q, size_t n)
{
    void *p;
    if (!q)
        return count_malloc(n);
    p = count_malloc(n);
    if (p) {
        int64_t old = ((int64_t *)q)[-2];
        memcpy(p, q, (size_t)old < n ? (size_t)old : n);
        count_free(q);
    }
    return p;
}

typedef struct hour {
    const synth *s;
    const hark_chunker_config *cfg;
    int64_t next_start; /* where the next chunk may start (end of the previous one) */
    int64_t emitted;
    uint32_t chunks;
    int64_t max_gap;
} hour;

static int on_hour_chunk(void *payload, hark_chunk *ch)
{
    hour *h = payload;
    int64_t end = ch->start + (int64_t)ch->n;
    ASSERT_EQ(ch->index, h->chunks);
    ASSERT(ch->start >= h->next_start);
    ASSERT((int64_t)ch->n <= h->cfg->max);
    if (ch->start > h->next_start) {
        ASSERT(!overlaps_sentence(h->s, h->next_start, ch->start));
        if (ch->start - h->next_start > h->max_gap)
            h->max_gap = ch->start - h->next_start;
    }
    if (ch->start > 0)
        ASSERT(!inside_sentence(h->s, ch->start));
    ASSERT(!inside_sentence(h->s, end));
    h->next_start = end;
    h->emitted += (int64_t)ch->n;
    h->chunks++;
    hark__free(ch->pcm);
    return 0;
}

TEST(chunker_an_hour_in_bounded_memory)
{
    synth s;
    hour h = { 0 };
    hark__chunker *c = NULL;
    hark_chunker_stats st;
    hark_chunker_config cfg = config(30, 120, 2);
    uint64_t seed = 77;
    int minute;
    harness_timeout(600);
    ASSERT_OK(hark_set_allocator(count_malloc, count_calloc, count_realloc, count_free));
    syn_init(&s, 11);
    h.s = &s;
    h.cfg = &cfg;
    ASSERT_OK(hark__chunker_new(&c, &cfg));
    for (minute = 0; minute < 60; minute++) {
        size_t pos = 0;
        /* a minute of talk, with a long silence every 7 minutes */
        syn_drop(&s);
        while ((double)s.n < 60.0 * SYN_RATE) {
            syn_sentence(&s, 2 + (int)(syn_uniform(&s) * 5), 0.3f);
            syn_silence(&s, 0.25 + 1.2 * syn_uniform(&s));
        }
        if (minute % 7 == 6)
            syn_silence(&s, 20.0);
        syn_add_white(&s, 0, 1e-3f);
        while (pos < s.n) {
            size_t take = (size_t)(harness_rand(&seed) % 40000);
            take = take > s.n - pos ? s.n - pos : take;
            ASSERT_OK(hark__chunker_push(c, s.x + pos, take, on_hour_chunk, &h));
            pos += take;
        }
    }
    ASSERT_OK(hark__chunker_finish(c, on_hour_chunk, &h));
    hark__chunker_stats(c, &st);
    hark__chunker_free(c);
    printf("  an hour: %u chunks, peak %.1f MB allocated, longest skip %.1f s\n", h.chunks,
           (double)atomic_load(&peak_bytes) / 1e6, (double)h.max_gap / SYN_RATE);
    ASSERT(syn_pos(&s) > SEC(3600));
    ASSERT_EQ(st.total, syn_pos(&s));
    ASSERT_EQ(st.chunks, h.chunks);
    ASSERT_EQ(st.skipped + h.emitted, st.total);
    ASSERT(h.chunks >= 3600 / 120);
    ASSERT(h.max_gap > SEC(19)); /* the 20 s silences were skipped */
    /* the chunker's buffer (max + look-ahead) plus one chunk in flight, plus a little */
    ASSERT_LE(atomic_load(&peak_bytes), 2 * cfg.max * 4 + 1000000);
    ASSERT_EQ(atomic_load(&live_bytes), 0);
    syn_free(&s);
}

/* ---- errors ---------------------------------------------------------------------------------- */

TEST(chunker_emit_error_stops_it)
{
    synth s;
    got g = { 0 };
    hark__chunker *c = NULL;
    hark_chunker_config cfg = config(5, 20, 2);
    syn_init(&s, 12);
    make_talk(&s, 30, 0.3, 1.0, 0.3f);
    g.fail_at = 2; /* the second chunk is refused; the chunker frees its samples */
    ASSERT_OK(hark__chunker_new(&c, &cfg));
    ASSERT_ERR(hark__chunker_push(c, s.x, s.n, on_chunk, &g), HARK_ECANCELED);
    ASSERT_EQ(g.n, 1);
    ASSERT_ERR(hark__chunker_push(c, s.x, 100, on_chunk, &g), HARK_ECANCELED);
    ASSERT_ERR(hark__chunker_finish(c, on_chunk, &g), HARK_ECANCELED);
    hark__chunker_free(c);
    got_free(&g);

    /* refused at finish */
    g.fail_at = 1;
    ASSERT_OK(hark__chunker_new(&c, &cfg));
    ASSERT_OK(hark__chunker_push(c, s.x, (size_t)SEC(8), on_chunk, &g));
    ASSERT_ERR(hark__chunker_finish(c, on_chunk, &g), HARK_ECANCELED);
    hark__chunker_free(c);
    got_free(&g);
    syn_free(&s);
}

TEST(chunker_rejects_bad_configurations)
{
    hark__chunker *c = (hark__chunker *)1;
    hark_chunker_config cfg = config(5, 20, 2);
    cfg.min = 0;
    ASSERT_ERR(hark__chunker_new(&c, &cfg), HARK_EINVAL);
    ASSERT(c == NULL);
    cfg = config(5, 4, 2);
    ASSERT_ERR(hark__chunker_new(&c, &cfg), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "range");
    cfg = config(5, 20, 2);
    cfg.vad_threshold = 1.0f;
    ASSERT_ERR(hark__chunker_new(&c, &cfg), HARK_EINVAL);
    cfg.vad_threshold = 0.0f;
    ASSERT_ERR(hark__chunker_new(&c, &cfg), HARK_EINVAL);
    cfg.max = (int64_t)1 << 40;
    cfg.vad_threshold = 0.5f;
    ASSERT_ERR(hark__chunker_new(&c, &cfg), HARK_EINVAL);
    hark__chunker_free(NULL);
}

TEST(chunker_push_after_finish_is_an_error)
{
    got g = { 0 };
    hark__chunker *c = NULL;
    hark_chunker_config cfg = config(5, 20, 2);
    float x[1000] = { 0 };
    ASSERT_OK(hark__chunker_new(&c, &cfg));
    ASSERT_OK(hark__chunker_push(c, x, 1000, on_chunk, &g));
    ASSERT_OK(hark__chunker_finish(c, on_chunk, &g));
    ASSERT_OK(hark__chunker_finish(c, on_chunk, &g));
    ASSERT_ERR(hark__chunker_push(c, x, 1, on_chunk, &g), HARK_EINVAL);
    hark__chunker_free(c);
    got_free(&g);
}

TEST(chunker_survives_every_allocation_failure)
{
    synth s;
    hark_chunker_config cfg = config(2, 6, 1);
    uint64_t n;
    int no_vad;
    syn_init(&s, 13);
    make_talk(&s, 8, 0.3, 2.0, 0.3f);
    for (no_vad = 0; no_vad < 2; no_vad++) {
        cfg.no_vad = no_vad;
        for (n = 1;; n++) {
            got g = { 0 };
            hark__chunker *c = NULL;
            int rc;
            hark__alloc_fail_at(n);
            rc = hark__chunker_new(&c, &cfg);
            if (rc == 0)
                rc = hark__chunker_push(c, s.x, s.n, on_chunk, &g);
            if (rc == 0)
                rc = hark__chunker_finish(c, on_chunk, &g);
            hark__chunker_free(c);
            got_free(&g);
            if (rc == 0)
                break;
            ASSERT_ERR(rc, HARK_ENOMEM);
            ASSERT(n < 1000);
        }
        hark__alloc_fail_at(0);
        ASSERT(n > 3);
    }
    syn_free(&s);
}
