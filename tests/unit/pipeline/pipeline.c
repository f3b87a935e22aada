/*
 * Pipeline tests with the deterministic "test" engine: ordered merge and
 * determinism across worker counts, retries with backoff, crash recovery,
 * cancellation, backpressure, lazy loading and idle unload, errors.
 *
 * Audio: N one-second tones of distinct frequencies; chunking is fixed at one
 * second (no_vad), so chunk k holds tone k and the engine's text names it.
 */
#include <math.h>
#include <stdatomic.h>

#include "harness.h"
#include "asr/asr.h"
#include "pipeline/pipeline_int.h"
#include "util/util.h"

#define SEC HARK_SAMPLE_RATE

static float *tones(int n_sec)
{
    float *pcm = malloc(sizeof(float) * (size_t)n_sec * SEC);
    int k, i;
    for (k = 0; k < n_sec; k++) {
        double f = 200 + 100 * k, a = 0.1 + 0.05 * (k % 5);
        for (i = 0; i < SEC; i++)
            pcm[(size_t)k * SEC + i] = (float)(a * sin(2 * M_PI * f * i / SEC));
    }
    return pcm;
}

static void opts_1s(hark_pipeline_options *o, unsigned workers)
{
    hark_pipeline_options_default(o);
    o->n_workers = workers;
    o->chunk.no_vad = 1;
    o->chunk.min = SEC;
    o->chunk.max = SEC;
    o->retry_base_ms = 5;
}

static hark_engine *open_test(const char *model)
{
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    eo.model = model;
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    return e;
}

static char *render(const hark_transcript *t, hark_format f)
{
    hark_buf b = HARK_BUF_INIT;
    ASSERT_OK(hark_transcript_write(t, f, &b));
    return hark_buf_detach(&b);
}

TEST(merge_is_ordered_and_identical_for_any_worker_count)
{
    /* later chunks are fast, early ones slow: workers finish out of order */
    const char *spec = "delay=0:120,delay=1:90,delay=2:60,delay=3:30";
    float *pcm = tones(12);
    char *ref = NULL, *ref_json = NULL;
    unsigned workers[] = { 1, 2, 3, 8 };
    size_t w;

    for (w = 0; w < HARK_ARRAY_SIZE(workers); w++) {
        hark_engine *e = open_test(spec);
        hark_pipeline_options o;
        hark_transcript *t = NULL;
        char *srt, *json;
        size_t i;
        opts_1s(&o, workers[w]);
        ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 12 * SEC, &o));
        ASSERT_EQ(hark_transcript_count(t), 12);
        for (i = 0; i < 12; i++) {
            const hark_segment *s = hark_transcript_segment(t, i);
            char want[16];
            snprintf(want, sizeof(want), "f%zu ", 200 + 100 * i);
            ASSERT_EQ(s->start, (int64_t)i * SEC);
            ASSERT_EQ(s->end, (int64_t)(i + 1) * SEC);
            ASSERT_EQ(s->chunk, i);
            ASSERT_CONTAINS(s->text, want);
            ASSERT_EQ(s->n_words, 1);
            ASSERT_EQ(s->words[0].start, (int64_t)i * SEC);
        }
        srt = render(t, HARK_FORMAT_SRT);
        /* JSON minus timings must match too */
        hark_transcript_timings(t)->decode_ms = hark_transcript_timings(t)->vad_ms = 0;
        hark_transcript_timings(t)->asr_ms = hark_transcript_timings(t)->total_ms = 0;
        json = render(t, HARK_FORMAT_JSON);
        if (!ref) {
            ref = srt;
            ref_json = json;
        } else {
            ASSERT_STREQ(srt, ref);
            ASSERT_STREQ(json, ref_json);
            hark__free(srt);
            hark__free(json);
        }
        hark_transcript_free(t);
        hark_engine_free(e);
    }
    ASSERT_CONTAINS(ref, "12\n00:00:11,000 --> 00:00:12,000\nf1300 a0.");
    ASSERT_CONTAINS(ref_json, "\"engine\": \"test\"");
    hark__free(ref);
    hark__free(ref_json);
    free(pcm);
}

TEST(transient_failures_are_retried_with_exponential_backoff)
{
    hark_engine *e = open_test("fail=3:3");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(6);
    double t0;
    opts_1s(&o, 2);
    o.retry_base_ms = 40;
    o.max_retries = 3;
    t0 = hark__now_ms();
    ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 6 * SEC, &o));
    /* three failures: backoff 40 + 80 + 160 ms before the fourth attempt */
    ASSERT_LE(280, hark__now_ms() - t0);
    ASSERT_EQ(hark_transcript_count(t), 6);
    ASSERT_CONTAINS(hark_transcript_segment(t, 3)->text, "f500");
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

TEST(a_chunk_that_keeps_failing_stops_the_run_and_keeps_earlier_chunks)
{
    hark_engine *e = open_test("fail=4:10");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(10);
    size_t i;
    opts_1s(&o, 2);
    o.max_retries = 2;
    ASSERT_ERR(hark_transcribe_pcm(&t, e, pcm, 10 * SEC, &o), HARK_EAGAIN);
    ASSERT_CONTAINS(hark_error_last(), "chunk 4 at 4.0 s");
    ASSERT_CONTAINS(hark_error_last(), "injected failure");
    ASSERT(t != NULL);
    ASSERT_EQ(hark_transcript_count(t), 4); /* chunks 0..3, in order, nothing after the gap */
    for (i = 0; i < 4; i++)
        ASSERT_EQ(hark_transcript_segment(t, i)->chunk, i);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

TEST(a_crashed_engine_state_is_replaced_before_the_retry)
{
    /* a crashed state fails forever; success proves the pipeline made a new one */
    hark_engine *e = open_test("crash=1:1,crash=5:2");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(8);
    opts_1s(&o, 1);
    o.max_retries = 2;
    ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 8 * SEC, &o));
    ASSERT_EQ(hark_transcript_count(t), 8);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

typedef struct cancel_ctx {
    double t0;
    double after_ms;
    _Atomic int polls;
} cancel_ctx;

static int cancel_after(void *payload)
{
    cancel_ctx *c = payload;
    atomic_fetch_add(&c->polls, 1);
    return hark__now_ms() - c->t0 > c->after_ms;
}

TEST(cancellation_stops_promptly_and_keeps_finished_chunks)
{
    hark_engine *e = open_test("delay=100");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(60);
    cancel_ctx c;
    double elapsed;
    size_t i, n;
    opts_1s(&o, 2);
    c.t0 = hark__now_ms();
    c.after_ms = 450;
    atomic_store(&c.polls, 0);
    o.abort = cancel_after;
    o.payload = &c;
    ASSERT_ERR(hark_transcribe_pcm(&t, e, pcm, 60 * SEC, &o), HARK_ECANCELED);
    elapsed = hark__now_ms() - c.t0;
    ASSERT_LT(elapsed, c.after_ms + 300); /* prompt: well under one more round of chunks */
    n = hark_transcript_count(t);
    ASSERT_LE(4, n); /* 2 workers x 100 ms per chunk for 450 ms */
    ASSERT_LT(n, 20);
    for (i = 0; i < n; i++)
        ASSERT_EQ(hark_transcript_segment(t, i)->chunk, i); /* a contiguous prefix */
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

typedef struct bp_ctx {
    int64_t decoded;
    int64_t merged_end;
    int64_t worst_lead;
} bp_ctx;

static int bp_audio(void *payload, const float *pcm, size_t n)
{
    bp_ctx *c = payload;
    (void)pcm;
    c->decoded += (int64_t)n;
    if (c->decoded - c->merged_end > c->worst_lead)
        c->worst_lead = c->decoded - c->merged_end;
    return 0;
}

static int bp_merged(void *payload, uint32_t index, const hark_transcript *out, size_t first,
                     size_t count)
{
    bp_ctx *c = payload;
    (void)out;
    (void)first;
    (void)count;
    c->merged_end = ((int64_t)index + 1) * SEC;
    return 0;
}

TEST(decoding_never_runs_ahead_of_the_workers_unboundedly)
{
    hark_engine *e = open_test("delay=20");
    hark_pipeline_options o;
    hark_pipeline_hooks h;
    hark_transcript *t = NULL;
    float *pcm = tones(40);
    bp_ctx c = { 0, 0, 0 };
    opts_1s(&o, 1);
    o.queue_depth = 2;
    memset(&h, 0, sizeof(h));
    h.audio = bp_audio;
    h.merged = bp_merged;
    h.payload = &c;
    ASSERT_OK(hark__pipeline_run(&t, e, NULL, pcm, 40 * SEC, &o, NULL, &h));
    ASSERT_EQ(hark_transcript_count(t), 40);
    /* queued (2) + in the worker (1) + in the chunker (1) + one decode block */
    ASSERT_LE(c.worst_lead, 4 * SEC + 16384);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

TEST(model_is_loaded_lazily_once_and_unloaded_when_idle)
{
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(4);
    double t0;
    eo.model = "load_ms=50";
    eo.idle_unload_ms = 150;
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    ASSERT_EQ(hark_engine_model_loaded(e), 0);
    opts_1s(&o, 4);
    ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 4 * SEC, &o));
    hark_transcript_free(t);
    ASSERT_EQ(hark__engine_load_count(e), 1); /* four workers, one load */
    ASSERT_EQ(hark_engine_model_loaded(e), 1);
    t0 = hark__now_ms();
    while (hark_engine_model_loaded(e) && hark__now_ms() - t0 < 3000)
        hark__sleep_ms(10, NULL, NULL);
    ASSERT_EQ(hark_engine_model_loaded(e), 0);
    ASSERT_LE(140, hark__now_ms() - t0);
    ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 4 * SEC, &o));
    ASSERT_EQ(hark__engine_load_count(e), 2);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

TEST(model_load_failure_is_reported)
{
    hark_engine *e = open_test("load_fail=1");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(3);
    opts_1s(&o, 2);
    ASSERT_ERR(hark_transcribe_pcm(&t, e, pcm, 3 * SEC, &o), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "load_fail");
    ASSERT_EQ(hark_transcript_count(t), 0);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

TEST(empty_input_is_an_error_and_silence_gives_no_text)
{
    hark_engine *e = open_test(NULL);
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *zeros = calloc(5 * SEC, sizeof(float));
    opts_1s(&o, 2);
    ASSERT_ERR(hark_transcribe_pcm(&t, e, zeros, 0, &o), HARK_EEMPTY);
    hark_transcript_free(t);
    t = NULL;
    ASSERT_OK(hark_transcribe_pcm(&t, e, zeros, 5 * SEC, &o));
    ASSERT_EQ(hark_transcript_count(t), 0);
    ASSERT_EQ(hark_transcript_duration(t), 5 * SEC);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(zeros);
}

typedef struct prog_ctx {
    int calls;
    int64_t last_done;
    uint32_t last_chunks;
    int monotonic;
} prog_ctx;

static void on_progress(const hark_progress *p, void *payload)
{
    prog_ctx *c = payload;
    if (p->samples_done < c->last_done || p->chunks_done < c->last_chunks ||
        p->samples_done > p->samples_total)
        c->monotonic = 0;
    c->last_done = p->samples_done;
    c->last_chunks = p->chunks_done;
    c->calls++;
}

TEST(progress_is_monotonic_and_reaches_the_end)
{
    hark_engine *e = open_test("delay=5");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(9);
    prog_ctx c = { 0, 0, 0, 1 };
    opts_1s(&o, 3);
    o.progress = on_progress;
    o.payload = &c;
    ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 9 * SEC, &o));
    /* one report per chunk, and one more if the total became final while chunks ran */
    ASSERT(c.calls == 9 || c.calls == 10);
    ASSERT(c.monotonic);
    ASSERT_EQ(c.last_done, 9 * SEC);
    ASSERT_EQ(c.last_chunks, 9);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

TEST(unknown_engine_is_a_clear_error)
{
    hark_engine *e = NULL;
    ASSERT_ERR(hark_engine_open(&e, "nosuch", NULL), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "nosuch");
    ASSERT(e == NULL);
}

TEST(engine_options_of_every_version_are_read_and_others_refused)
{
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    unsigned v;
    eo.model = "delay=1";
    for (v = 1; v <= HARK_ENGINE_OPTIONS_VERSION; v++) {
        eo.version = v;
        ASSERT_OK(hark_engine_open(&e, "test", &eo));
        hark_engine_free(e);
        e = NULL;
    }
    eo.version = 0;
    ASSERT_ERR(hark_engine_open(&e, "test", &eo), HARK_EVERSION);
    eo.version = HARK_ENGINE_OPTIONS_VERSION + 1;
    ASSERT_ERR(hark_engine_open(&e, "test", &eo), HARK_EVERSION);
    ASSERT(e == NULL);
    /* a version 2 caller's remote options are read: a bad URL is refused */
    eo.version = 2;
    eo.url = "ftp://nowhere";
    ASSERT_ERR(hark_engine_open(&e, "remote", &eo), HARK_EINVAL);
}

TEST(every_allocation_failure_is_handled)
{
    /* one worker so the allocation sequence is deterministic enough; every
     * failure must give an error or a success, never a crash or a leak */
    float *pcm = tones(3);
    uint64_t n;
    int ok_seen = 0;
    for (n = 1; n < 400 && !ok_seen; n++) {
        hark_engine *e = NULL;
        hark_pipeline_options o;
        hark_transcript *t = NULL;
        int rc;
        opts_1s(&o, 1);
        o.max_retries = 0;
        hark__alloc_fail_at(n);
        rc = hark_engine_open(&e, "test", NULL);
        if (rc == 0)
            rc = hark_transcribe_pcm(&t, e, pcm, 3 * SEC, &o);
        hark__alloc_fail_at(0);
        if (rc == 0) {
            ASSERT_EQ(hark_transcript_count(t), 3);
            ok_seen = 1;
        }
        hark_transcript_free(t);
        hark_engine_free(e);
    }
    ASSERT(ok_seen);
    free(pcm);
}

TEST(worker_states_are_reused_across_runs_but_never_a_crashed_one)
{
    /* chunk 0 crashes on every attempt: the run fails, and the damaged state
     * must not be handed to the next run (which would then fail at once) */
    hark_engine *e = open_test("crash=0:3");
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    float *pcm = tones(3);
    int run;
    opts_1s(&o, 1);
    o.max_retries = 1;
    ASSERT_ERR(hark_transcribe_pcm(&t, e, pcm, 3 * SEC, &o), HARK_EENGINE);
    hark_transcript_free(t);
    t = NULL;
    /* third attempt of chunk 0 succeeds, on a fresh state */
    ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 3 * SEC, &o));
    ASSERT_EQ(hark_transcript_count(t), 3);
    hark_transcript_free(t);
    /* repeated runs reuse states and give the same result */
    for (run = 0; run < 5; run++) {
        t = NULL;
        ASSERT_OK(hark_transcribe_pcm(&t, e, pcm, 3 * SEC, &o));
        ASSERT_EQ(hark_transcript_count(t), 3);
        hark_transcript_free(t);
    }
    hark_engine_free(e);
    free(pcm);
}
