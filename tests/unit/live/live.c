#define _DEFAULT_SOURCE
/*
 * live.c: live transcription (hark/live.h) with the deterministic test
 * engine: utterances found by the VAD, finals in order, partials while
 * speaking, the end marker, determinism whatever the feed sizes, skip_below,
 * and real speech from the shared corpus.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "asr/asr.h"
#include "hark/hark.h"
#include "hark/wer.h"
#include "util/util.h"

typedef struct got {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hark_buf finals;   /* "utt:text|" in delivery order */
    unsigned n_finals; /* including empty ones */
    unsigned partials;
    int last; /* the end marker came */
    int concurrent, in_cb;
    uint32_t last_utt;
} got;

static void on_partial(uint32_t utt, const char *text, void *payload)
{
    got *g = payload;
    (void)utt;
    (void)text;
    pthread_mutex_lock(&g->mu);
    g->partials++;
    pthread_mutex_unlock(&g->mu);
}

static void on_final(uint32_t utt, const hark_transcript *t, size_t first, size_t count,
                     const char *error, int last, void *payload)
{
    got *g = payload;
    size_t i;
    pthread_mutex_lock(&g->mu);
    if (g->in_cb)
        g->concurrent = 1;
    g->in_cb = 1;
    if (last) {
        g->last = 1;
        g->last_utt = utt;
    } else {
        hark_buf_printf(&g->finals, "%u:", utt);
        for (i = first; i < first + count; i++)
            hark_buf_printf(&g->finals, "%s%s", i > first ? " " : "",
                            hark_transcript_segment(t, i)->text);
        if (getenv("LIVE_DEBUG") && count)
            hark_buf_printf(&g->finals, " [%lld-%lld]",
                            (long long)hark_transcript_segment(t, first)->start / 16,
                            (long long)hark_transcript_segment(t, first + count - 1)->end / 16);
        if (error)
            hark_buf_printf(&g->finals, "error %s", error);
        hark_buf_puts(&g->finals, "|");
        g->n_finals++;
    }
    g->in_cb = 0;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void got_init(got *g)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void got_wait_last_s(got *g, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&g->mu);
    while (!g->last)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&g->mu);
    ASSERT_MSG(g->last, "the end marker never came");
}

static void got_wait_last(got *g)
{
    got_wait_last_s(g, 60);
}

/* Utterances of "speech": syllables of 150 ms of tone and 50 ms of silence, for on_s[i]
 * seconds at hz[i], separated by gap_s of silence (exact zeros). */
static float *bursts(size_t *n, const double *on_s, const int *hz, size_t k, double gap_s)
{
    size_t total = (size_t)(gap_s * 16000), i, j, pos;
    float *pcm;
    for (i = 0; i < k; i++)
        total += (size_t)((on_s[i] + gap_s) * 16000);
    pcm = calloc(total, sizeof(float));
    pos = (size_t)(gap_s * 16000);
    for (i = 0; i < k; i++) {
        size_t len = (size_t)(on_s[i] * 16000);
        for (j = 0; j < len; j++)
            if (j % 3200 < 2400)
                pcm[pos + j] = (float)(0.3 * sin(2 * M_PI * hz[i] * (double)j / 16000));
        pos += len + (size_t)(gap_s * 16000);
    }
    *n = total;
    return pcm;
}

/* The frequencies of the finals ("0:f300 a0.2|1:f500 ...") in order; returns how many. */
static int freqs(const char *f, int *out, int max)
{
    int k = 0;
    const char *p = f;
    while (k < max && (p = strstr(p, ":f")) != NULL) {
        out[k++] = atoi(p + 2);
        p += 2;
    }
    return k;
}

static int g_streaming = 1; /* hark_live_options.streaming for run() */

static hark_engine *test_engine(const char *model)
{
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    eo.model = model;
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    return e;
}

static char *run(const float *pcm, size_t n, size_t block, unsigned partial_ms, const char *model,
                 unsigned *partials, int64_t skip_below)
{
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_engine *e = test_engine(model);
    hark_live *L = NULL;
    hark_live_options lo;
    got g;
    size_t i;
    char *out;
    so.n_workers = 2;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.partial_ms = partial_ms;
    lo.partial = on_partial;
    lo.final = on_final;
    lo.payload = &g;
    lo.skip_below = skip_below;
    lo.streaming = g_streaming;
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    for (i = 0; i < n; i += block) {
        ASSERT_OK(hark_live_feed(L, pcm + i, HARK_MIN(block, n - i)));
        if (partial_ms)
            usleep(1000); /* give the workers time, as a real-time stream would */
    }
    ASSERT_OK(hark_live_end(L));
    ASSERT_ERR(hark_live_end(L), HARK_EINVAL);
    got_wait_last(&g);
    ASSERT_EQ(hark_live_backlog(L), 0u);
    hark_live_free(L);
    ASSERT(!g.concurrent);
    ASSERT_EQ(g.last_utt, g.n_finals + (uint32_t)skip_below);
    if (partials)
        *partials = g.partials;
    out = strdup(g.finals.ptr ? g.finals.ptr : "");
    hark_buf_dispose(&g.finals);
    hark_engine_free(e);
    hark_scheduler_free(s);
    return out;
}

TEST(each_utterance_is_one_final_in_order)
{
    const double on[] = { 1.0, 2.0, 1.5 };
    const int hz[] = { 300, 500, 700 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 3, 1.5);
    char *f = run(pcm, n, 1600, 0, NULL, NULL, 0);
    int fr[8];
    fprintf(stderr, "  finals: %s\n", f);
    ASSERT_EQ(freqs(f, fr, 8), 3);
    ASSERT_MSG(fr[0] < fr[1] && fr[1] < fr[2], "finals out of order: %s", f);
    ASSERT(strstr(f, "0:f") && strstr(f, "1:f") && strstr(f, "2:f"));
    free(f);
    free(pcm);
}

TEST(the_same_samples_give_the_same_finals_whatever_the_feed_sizes)
{
    const double on[] = { 1.0, 0.8, 2.5, 1.2 };
    const int hz[] = { 300, 400, 500, 600 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 4, 0.9);
    char *a = run(pcm, n, 160, 0, NULL, NULL, 0);
    char *b = run(pcm, n, 4801, 0, NULL, NULL, 0);
    char *c = run(pcm, n, n, 0, NULL, NULL, 0);
    ASSERT_STREQ(a, b);
    ASSERT_STREQ(a, c);
    free(a);
    free(b);
    free(c);
    free(pcm);
}

/* Real speech (the shared corpus), with a short maximum: no final spans more than it. */
TEST(a_long_utterance_is_cut_at_the_maximum)
{
    const char *wav = harness_shared_file("corpus/en/1089-134686-0000.wav");
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_engine *e = test_engine(NULL);
    hark_live *L = NULL;
    hark_live_options lo;
    float *pcm = NULL;
    size_t n, i;
    got g;
    const char *p;
    int spans = 0;
    ASSERT_OK(hark_audio_load(&pcm, &n, wav));
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.max_utterance_ms = 2000;
    lo.final = on_final;
    lo.payload = &g;
    ASSERT_OK(setenv("LIVE_DEBUG", "1", 1));
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    for (i = 0; i < n; i += 1000)
        ASSERT_OK(hark_live_feed(L, pcm + i, HARK_MIN(1000, n - i)));
    ASSERT_OK(hark_live_end(L));
    got_wait_last(&g);
    hark_live_free(L);
    fprintf(stderr, "  finals: %s\n", g.finals.ptr);
    for (p = g.finals.ptr; (p = strchr(p, '[')) != NULL; p++) {
        long a = atol(p + 1), b = atol(strchr(p, '-') + 1);
        ASSERT_MSG(b - a <= 2000, "a final spans %ld ms (max 2000): %s", b - a, g.finals.ptr);
        spans++;
    }
    ASSERT_MSG(spans >= 4, "%d finals for %zu ms of speech cut at 2 s", spans, n / 16);
    hark_buf_dispose(&g.finals);
    hark_free(pcm);
    hark_engine_free(e);
    hark_scheduler_free(s);
}

TEST(partials_come_while_speaking)
{
    const double on[] = { 4.0 };
    const int hz[] = { 440 };
    size_t n;
    unsigned partials = 0;
    float *pcm = bursts(&n, on, hz, 1, 1.0);
    char *f = run(pcm, n, 800, 200, NULL, &partials, 0);
    ASSERT_CONTAINS(f, "0:f");
    ASSERT_MSG(partials >= 3, "%u partials over 4 s of speech every 200 ms", partials);
    free(f);
    free(pcm);
}

TEST(utterances_below_skip_below_are_not_transcribed_again)
{
    const double on[] = { 1.0, 1.0, 1.0 };
    const int hz[] = { 300, 500, 700 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 3, 1.2);
    char *f = run(pcm, n, 1600, 0, NULL, NULL, 2);
    char *all = run(pcm, n, 1600, 0, NULL, NULL, 0);
    ASSERT(strstr(f, "0:") == NULL && strstr(f, "1:") == NULL);
    ASSERT_CONTAINS(f, "2:f");
    ASSERT_CONTAINS(all, f); /* the same final as without skipping */
    free(all);
    free(f);
    free(pcm);
}

TEST(engine_failures_become_finals_with_an_error)
{
    const double on[] = { 1.0, 1.0 };
    const int hz[] = { 300, 500 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 2, 1.2);
    char *f = run(pcm, n, 1600, 0, "crash=0:9", NULL, 0);
    ASSERT_CONTAINS(f, "0:error");
    ASSERT_CONTAINS(f, "injected crash");
    ASSERT_CONTAINS(f, "1:f");
    free(f);
    free(pcm);
}

TEST(free_without_end_stops_cleanly)
{
    const double on[] = { 3.0 };
    const int hz[] = { 440 };
    size_t n, i;
    float *pcm = bursts(&n, on, hz, 1, 0.6);
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_engine *e = test_engine("delay=300");
    hark_live *L = NULL;
    hark_live_options lo;
    got g;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.partial_ms = 100;
    lo.partial = on_partial;
    lo.final = on_final;
    lo.payload = &g;
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    for (i = 0; i < n; i += 1600)
        ASSERT_OK(hark_live_feed(L, pcm + i, HARK_MIN(1600, n - i)));
    hark_live_free(L); /* no end: partial tasks running or queued */
    hark_buf_dispose(&g.finals);
    hark_engine_free(e);
    hark_scheduler_free(s);
    free(pcm);
}

TEST(bad_options_are_refused)
{
    hark_live *L = NULL;
    hark_live_options lo;
    hark_engine *e = test_engine(NULL);
    hark_live_options_default(&lo);
    ASSERT_ERR(hark_live_begin(&L, e, &lo), HARK_EINVAL); /* no scheduler */
    lo.version = 99;
    ASSERT_ERR(hark_live_begin(&L, e, &lo), HARK_EVERSION);
    ASSERT(L == NULL);
    hark_engine_free(e);
}

/* The test engine streams (its final is its transcribe of the whole utterance), so both paths
 * must give exactly the same finals, whatever the feed sizes. */
TEST(streaming_and_redecode_give_the_same_finals)
{
    const double on[] = { 1.0, 0.8, 2.5, 1.2 };
    const int hz[] = { 300, 400, 500, 600 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 4, 0.9);
    char *a, *b, *c;
    g_streaming = 0;
    a = run(pcm, n, 1600, 0, NULL, NULL, 0);
    g_streaming = 1;
    b = run(pcm, n, 1600, 0, NULL, NULL, 0);
    c = run(pcm, n, 333, 100, NULL, NULL, 0);
    fprintf(stderr, "  finals: %s\n", a);
    ASSERT_STREQ(a, b);
    ASSERT_STREQ(a, c);
    free(a);
    free(b);
    free(c);
    free(pcm);
}

TEST(partials_come_while_speaking_on_the_redecode_path_too)
{
    const double on[] = { 4.0 };
    const int hz[] = { 440 };
    size_t n;
    unsigned partials = 0;
    float *pcm = bursts(&n, on, hz, 1, 1.0);
    char *f;
    g_streaming = 0;
    f = run(pcm, n, 800, 200, NULL, &partials, 0);
    ASSERT_CONTAINS(f, "0:f");
    ASSERT_MSG(partials >= 3, "%u partials over 4 s of speech every 200 ms", partials);
    free(f);
    free(pcm);
}

TEST(engine_failures_become_finals_with_an_error_when_streaming)
{
    const double on[] = { 1.0, 1.0 };
    const int hz[] = { 300, 500 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 2, 1.2);
    char *f = run(pcm, n, 1600, 100, "crash=0:9", NULL, 0);
    ASSERT_CONTAINS(f, "0:error");
    ASSERT_CONTAINS(f, "injected crash");
    ASSERT_CONTAINS(f, "1:f");
    free(f);
    free(pcm);
}

/* Wait up to 5 s for the engine's bound states to reach `want`. */
static unsigned wait_bound(hark_engine *e, unsigned want)
{
    int i;
    for (i = 0; i < 500 && hark__engine_bound(e) != want; i++)
        usleep(10000);
    return hark__engine_bound(e);
}

/* A state is bound while an utterance is open, and given back at its end: idle streams
 * hold none, and states are reused, not multiplied. */
TEST(an_engine_state_is_bound_only_while_an_utterance_is_open)
{
    const double on[] = { 4.0 };
    const int hz[] = { 300 };
    size_t n, i, half;
    float *pcm = bursts(&n, on, hz, 1, 1.0);
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_engine *e = test_engine(NULL);
    hark_live *L = NULL, *L2 = NULL;
    hark_live_options lo;
    got g;
    so.n_workers = 2;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.partial = on_partial;
    lo.final = on_final;
    lo.payload = &g;
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    ASSERT_OK(hark_live_begin(&L2, e, &lo)); /* idle all along */
    ASSERT_EQ(hark__engine_bound(e), 0u);
    half = 16000 + 24000; /* 1 s of silence, then 1.5 s into the tone (the VAD decides 80 ms
                             late; a steady tone is noise to it once it has lasted its floor's
                             2 s, like a fan) */
    for (i = 0; i < half; i += 1600)
        ASSERT_OK(hark_live_feed(L, pcm + i, 1600));
    ASSERT_EQ(wait_bound(e, 1), 1u); /* speaking: one state bound, to L */
    for (; i < n; i += 1600)
        ASSERT_OK(hark_live_feed(L, pcm + i, HARK_MIN(1600, n - i)));
    {
        float *quiet = calloc(40000, sizeof(float)); /* 2.5 s more: the VAD decides the end */
        ASSERT_OK(hark_live_feed(L, quiet, 40000));
        free(quiet);
    }
    ASSERT_EQ(wait_bound(e, 0), 0u); /* the utterance was cut: given back */
    pthread_mutex_lock(&g.mu);
    ASSERT_MSG(g.n_finals >= 1u, "no final: %s", g.finals.ptr); /* the VAD may split it */
    pthread_mutex_unlock(&g.mu);
    /* (no assertion on partials here: fed faster than real time, a loaded machine may skip
     * them all; partials_come_while_speaking* test them) */
    ASSERT_LE(hark__engine_states_made(e), 2u); /* reused, not one per utterance or feed */
    ASSERT_OK(hark_live_end(L));
    got_wait_last(&g);
    hark_live_free(L);
    hark_live_free(L2);
    ASSERT_EQ(hark__engine_bound(e), 0u);
    hark_buf_dispose(&g.finals);
    hark_engine_free(e);
    hark_scheduler_free(s);
    free(pcm);
}

/* At the cap, an utterance is numbered but not transcribed: its final has an error, the ones
 * around it are normal, and the numbering has no gap. */
TEST(the_waiting_cap_skips_utterances_with_an_error_final)
{
    const double on[] = { 0.6, 0.6, 0.6, 0.6, 0.6 };
    const int hz[] = { 300, 400, 500, 600, 700 };
    int streaming;
    for (streaming = 0; streaming <= 1; streaming++) {
        size_t n;
        float *pcm = bursts(&n, on, hz, 5, 0.8);
        hark_scheduler *s = NULL;
        hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
        hark_engine *e = test_engine("delay=600");
        hark_live *L = NULL;
        hark_live_options lo;
        got g;
        so.n_workers = 1;
        ASSERT_OK(hark_scheduler_new(&s, &so));
        got_init(&g);
        hark_live_options_default(&lo);
        lo.scheduler = s;
        lo.final = on_final;
        lo.payload = &g;
        lo.max_backlog = 2;
        lo.streaming = streaming;
        ASSERT_OK(hark_live_begin(&L, e, &lo));
        ASSERT_OK(hark_live_feed(L, pcm, n)); /* all at once: the engine cannot keep up */
        ASSERT_OK(hark_live_end(L));
        got_wait_last(&g);
        hark_live_free(L);
        fprintf(stderr, "  streaming=%d finals: %s\n", streaming, g.finals.ptr);
        ASSERT_EQ(g.n_finals, 5u);
        ASSERT_EQ(g.last_utt, 5u);
        ASSERT_CONTAINS(g.finals.ptr, "0:f");
        ASSERT_CONTAINS(g.finals.ptr, "1:f");
        ASSERT_CONTAINS(g.finals.ptr,
                        "2:error utterance 2: not transcribed: 2 utterances were waiting");
        ASSERT_CONTAINS(g.finals.ptr, "4:");
        hark_buf_dispose(&g.finals);
        hark_engine_free(e);
        hark_scheduler_free(s);
        free(pcm);
    }
}

TEST(version_1_options_are_accepted)
{
    const double on[] = { 1.0 };
    const int hz[] = { 300 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 1, 1.0);
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_engine *e = test_engine(NULL);
    hark_live *L = NULL;
    hark_live_options lo;
    got g;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.version = 1; /* as a caller built against version 1 fills it */
    lo.scheduler = s;
    lo.final = on_final;
    lo.payload = &g;
    lo.streaming = 12345; /* not read for version 1 */
    lo.max_backlog = 0;
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    ASSERT_OK(hark_live_feed(L, pcm, n));
    ASSERT_OK(hark_live_end(L));
    got_wait_last(&g);
    hark_live_free(L);
    ASSERT_CONTAINS(g.finals.ptr, "0:f");
    hark_buf_dispose(&g.finals);
    hark_engine_free(e);
    hark_scheduler_free(s);
    free(pcm);
}

/* Real speech through PocketSphinx: the streaming path's finals are the re-decode path's
 * within the engine's stream/chunk bound (tests/unit/pocketsphinx/stream.c), and the same
 * utterances are cut. */
static char *ps_live(const float *pcm, size_t n, int streaming, unsigned *partials)
{
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_engine *e = NULL;
    hark_live *L = NULL;
    hark_live_options lo;
    got g;
    size_t i;
    char *out;
    ASSERT_OK(hark_engine_open(&e, "pocketsphinx", NULL));
    so.n_workers = 2;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.partial = on_partial;
    lo.final = on_final;
    lo.payload = &g;
    lo.streaming = streaming;
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    for (i = 0; i < n; i += 1600) {
        ASSERT_OK(hark_live_feed(L, pcm + i, HARK_MIN(1600, n - i)));
        usleep(50000); /* 2x real time: time for partials */
    }
    ASSERT_OK(hark_live_end(L));
    got_wait_last_s(&g, 600); /* PocketSphinx under the sanitizers on a loaded machine */
    hark_live_free(L);
    *partials = g.partials;
    out = strdup(g.finals.ptr ? g.finals.ptr : "");
    hark_buf_dispose(&g.finals);
    hark_engine_free(e);
    hark_scheduler_free(s);
    return out;
}

TEST(pocketsphinx_streaming_finals_match_the_redecode_path)
{
    const char *wav = harness_shared_file("corpus/en/jfk.wav");
    float *pcm = NULL;
    size_t n;
    unsigned pa = 0, pb = 0;
    char *a, *b, *p;
    hark_wer_counts c;
    int utts_a = 0, utts_b = 0;
    harness_timeout(900); /* PocketSphinx twice, under the sanitizers on a loaded machine */
    ASSERT_OK(hark_audio_load(&pcm, &n, wav));
    a = ps_live(pcm, n, 0, &pa);
    b = ps_live(pcm, n, 1, &pb);
    fprintf(stderr, "  re-decode (%u partials): %s\n  streaming (%u partials): %s\n", pa, a, pb, b);
    for (p = a; (p = strchr(p, '|')) != NULL; p++)
        utts_a++;
    for (p = b; (p = strchr(p, '|')) != NULL; p++)
        utts_b++;
    ASSERT_EQ(utts_a, utts_b);
    ASSERT(utts_a >= 1);
    ASSERT_OK(hark_wer_score(a, b, &c));
    ASSERT_LE(hark_wer_rate(&c), 0.15);
    /* partials are not counted on: on a loaded machine the utterances may all be cut before a
     * worker gets to them (the engine's partials: tests/unit/pocketsphinx/stream.c) */
    free(a);
    free(b);
    hark_free(pcm);
}

static int never_called(void *state, const hark_engine_job *job)
{
    (void)state;
    (void)job;
    abort(); /* a version-1 table's stream operations are never read */
}

/* An engine table of API version 1 (no stream operations) registers and runs live through
 * the re-decode path; a version-2 table with only some stream operations is refused. */
TEST(version_1_engine_tables_run_live_by_redecoding)
{
    static hark_engine_ops v1, half;
    const double on[] = { 1.0, 1.0 };
    const int hz[] = { 300, 500 };
    size_t n;
    float *pcm = bursts(&n, on, hz, 2, 1.0);
    hark_engine *e = NULL;
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_live *L = NULL;
    hark_live_options lo;
    got g;
    char *want;
    v1 = hark__engine_test;
    v1.version = 1;
    v1.name = "test-v1";
    v1.stream_begin = never_called; /* past the end of a real version-1 table */
    ASSERT_OK(hark_engine_register(&v1));
    half = hark__engine_test;
    half.name = "test-half";
    half.stream_feed = NULL;
    ASSERT_ERR(hark_engine_register(&half), HARK_EINVAL);
    ASSERT_OK(hark_engine_open(&e, "test-v1", NULL));
    ASSERT_OK(hark_scheduler_new(&s, &so));
    got_init(&g);
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.final = on_final;
    lo.payload = &g;
    ASSERT_OK(hark_live_begin(&L, e, &lo));
    ASSERT_OK(hark_live_feed(L, pcm, n));
    ASSERT_OK(hark_live_end(L));
    got_wait_last(&g);
    hark_live_free(L);
    want = run(pcm, n, 1600, 0, NULL, NULL, 0); /* the streaming test engine */
    ASSERT_STREQ(g.finals.ptr, want);
    free(want);
    hark_buf_dispose(&g.finals);
    hark_engine_free(e);
    hark_scheduler_free(s);
    free(pcm);
}
