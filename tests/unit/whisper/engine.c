/*
 * engine.c: the "whisper" engine end to end on small random-weight models:
 * well-formed segments, words and tokens; bit-identical results for any
 * thread count; beam search, best-of sampling and fallback; language
 * detection and translation on a multilingual model; prompts; abort.
 */
#include <math.h>

#include "harness.h"
#include "../whisper_model/tinymodel.h"
#include "asr/asr.h"
#include "asr/whisper/whisper.h"

/* A model small enough for the scalar kernels: 64 audio positions, 40 text positions
 * (windows of at most 16 tokens), width 16 (32 for quantised types: whole blocks). */
static const char *tiny_path(int n_vocab, int ftype)
{
    static char path[512];
    tiny_opts o;
    tiny_defaults(&o);
    o.n_vocab = n_vocab;
    o.ftype = ftype;
    o.n_state = ftype >= 2000 ? 32 : 16;
    o.n_audio_ctx = 64;
    o.n_text_ctx = 40;
    o.seed = 3;
    snprintf(path, sizeof(path), "%s", harness_path("ggml-tiny-test.bin"));
    ASSERT_OK(tiny_write(&o, path));
    return path;
}

/* 8 s of a chirp with noise: something for the encoder to look at */
static float *signal(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof(float));
    size_t i;
    ASSERT(x != NULL);
    for (i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        x[i] =
            (float)(0.3 * sin(2 * 3.14159265 * (200 + 50 * t) * t) + 0.05 * harness_randn(&seed));
    }
    return x;
}

typedef struct fixture {
    void *model;
    void *state;
    float *pcm;
    size_t n;
    hark_decode_options opts;
    hark_engine_job job;
} fixture;

static void fx_open(fixture *f, const char *path, size_t seconds)
{
    const hark_engine_ops *ops = &hark__engine_whisper;
    memset(f, 0, sizeof(*f));
    ASSERT_OK(ops->model_load(&f->model, path));
    ASSERT_OK(ops->state_new(&f->state, f->model));
    f->n = seconds * 16000;
    f->pcm = signal(f->n, 7);
    hark_decode_options_default(&f->opts);
    f->job.pcm = f->pcm;
    f->job.n = f->n;
    f->job.n_threads = 1;
    f->job.opts = &f->opts;
}

static void fx_close(fixture *f)
{
    hark__engine_whisper.state_free(f->state);
    hark__engine_whisper.model_free(f->model);
    free(f->pcm);
}

static hark_transcript *fx_run(fixture *f)
{
    hark_transcript *t = NULL;
    ASSERT_OK(hark_transcript_new(&t));
    ASSERT_OK(hark__engine_whisper.transcribe(f->state, &f->job, t));
    return t;
}

/* every field in range */
static void check_wellformed(const hark_transcript *t, size_t n)
{
    size_t i, j;
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *s = hark_transcript_segment(t, i);
        ASSERT(s->start >= 0 && s->start <= s->end && s->end <= (int64_t)n);
        ASSERT(s->text != NULL);
        ASSERT(s->confidence >= 0.0f && s->confidence <= 1.0f);
        ASSERT(s->no_speech_prob >= 0.0f && s->no_speech_prob <= 1.0f);
        ASSERT(s->avg_logprob <= 0.0f);
        ASSERT(s->n_tokens > 0);
        for (j = 0; j < s->n_tokens; j++) {
            const hark_token *k = &s->tokens[j];
            ASSERT(k->id >= 0 && k->id < 51866);
            ASSERT(k->p >= 0.0f && k->p <= 1.0f);
            ASSERT(k->text != NULL);
            ASSERT(k->start == -1 || (k->start >= 0 && k->start <= k->end && k->end <= (int64_t)n));
        }
        for (j = 0; j < s->n_words; j++) {
            const hark_word *w = &s->words[j];
            ASSERT(w->text && *w->text && w->text[0] != ' ');
            ASSERT(w->start >= 0 && w->start <= w->end && w->end <= (int64_t)n);
            ASSERT(w->p >= 0.0f && w->p <= 1.0f);
        }
    }
}

/* the full content of a transcript, bit for bit */
static void dump(const hark_transcript *t, hark_buf *out)
{
    size_t i, j;
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *s = hark_transcript_segment(t, i);
        hark_buf_printf(out, "[%lld %lld %a %a %a %a %a] %s\n", (long long)s->start,
                        (long long)s->end, s->confidence, s->no_speech_prob, s->avg_logprob,
                        s->compression_ratio, s->temperature, s->text);
        for (j = 0; j < s->n_tokens; j++)
            hark_buf_printf(out, " %d:%a:%a:%lld:%lld", s->tokens[j].id, s->tokens[j].p,
                            s->tokens[j].plog, (long long)s->tokens[j].start,
                            (long long)s->tokens[j].end);
        for (j = 0; j < s->n_words; j++)
            hark_buf_printf(out, " <%s %lld %lld %a>", s->words[j].text,
                            (long long)s->words[j].start, (long long)s->words[j].end,
                            s->words[j].p);
        hark_buf_putc(out, '\n');
    }
}

TEST(engine_open_describe_and_identity)
{
    const char *path = tiny_path(51864, 1);
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_buf b = HARK_BUF_INIT;
    eo.model = path;
    ASSERT_OK(hark_engine_open(&e, "whisper", &eo));
    ASSERT_OK(hark_engine_identity(e, &b));
    ASSERT_CONTAINS(b.ptr, "whisper:");
    ASSERT_CONTAINS(b.ptr, path);
    ASSERT_EQ(hark_engine_model_loaded(e), 0); /* identity does not load */
    hark_buf_clear(&b);
    ASSERT_OK(hark_engine_describe(e, &b));
    ASSERT_STREQ(b.ptr, "whisper-1x16.en (f16, 0.9M params, 80 mels, English)");
    ASSERT_EQ(hark_engine_model_loaded(e), 1);
    hark_buf_dispose(&b);
    hark_engine_free(e);
    ASSERT(hark__engine_whisper.chunk_min == 30 * 16000 &&
           hark__engine_whisper.chunk_max == 120 * 16000);
}

TEST(engine_rejects_a_missing_model)
{
    void *m = NULL;
    ASSERT_ERR(hark__engine_whisper.model_load(&m, harness_path("none.bin")), HARK_ENOTFOUND);
}

TEST(options_key_is_canonical)
{
    hark_decode_options a, b;
    hark_buf ka = HARK_BUF_INIT, kb = HARK_BUF_INIT;
    hark_decode_options_default(&a);
    hark_decode_options_default(&b);
    b.n_threads = 7; /* does not change the output */
    ASSERT_OK(hark__engine_whisper.options_key(&a, &ka));
    ASSERT_OK(hark__engine_whisper.options_key(&b, &kb));
    ASSERT_STREQ(ka.ptr, kb.ptr);
    b.beam_size = 1;
    hark_buf_clear(&kb);
    ASSERT_OK(hark__engine_whisper.options_key(&b, &kb));
    ASSERT(strcmp(ka.ptr, kb.ptr) != 0);
    ASSERT_CONTAINS(ka.ptr, "\"beam_size\":5");
    hark_buf_dispose(&ka);
    hark_buf_dispose(&kb);
}

TEST(greedy_transcript_is_wellformed_and_thread_count_independent)
{
    fixture f;
    hark_buf ref = HARK_BUF_INIT;
    int threads;
    harness_timeout(300);
    fx_open(&f, tiny_path(51864, 1), 8);
    f.opts.beam_size = 1;
    f.opts.best_of = 1;
    f.opts.no_fallback = 1;
    for (threads = 1; threads <= 3; threads++) {
        hark_buf b = HARK_BUF_INIT;
        hark_transcript *t;
        f.job.n_threads = threads;
        t = fx_run(&f);
        check_wellformed(t, f.n);
        ASSERT(hark_transcript_count(t) > 0);
        ASSERT_STREQ(hark_transcript_meta(t, "language"), "en");
        dump(t, &b);
        if (threads == 1)
            ref = b;
        else {
            ASSERT_STREQ(b.ptr, ref.ptr);
            hark_buf_dispose(&b);
        }
        hark_transcript_free(t);
    }
    hark_buf_dispose(&ref);
    fx_close(&f);
}

TEST(encoder_and_decoder_are_bit_identical_across_thread_counts)
{
    hark_whisper_model *m = NULL;
    hark_whisper_state *st = NULL;
    const int V = 51864, S = 16, A = 64;
    float *pcm = signal(5 * 16000, 3), *ref_enc = malloc(A * S * sizeof(float));
    float *ref_lg = malloc(4 * (size_t)V * sizeof(float)),
          *lg = malloc(4 * (size_t)V * sizeof(float));
    int32_t tok[4] = { 50257, 440, 1000, 50363 }, pos[4] = { 0, 1, 2, 3 }, seq[4] = { 0, 0, 0, 0 };
    uint8_t want[4] = { 1, 1, 1, 1 };
    hark_whisper_batch b = { 4, tok, pos, seq, want };
    int threads;
    ASSERT_OK(hark__whisper_model_load(&m, tiny_path(51864, 1)));
    ASSERT_OK(hark__whisper_state_new(&st, m));
    ASSERT_OK(hark__whisper_mel_compute(&st->mel, m->filters, 80, pcm, 5 * 16000, NULL));
    for (threads = 1; threads <= 3; threads++) {
        ASSERT_OK(hark__whisper_state_threads(st, threads));
        ASSERT_OK(hark__whisper_encode(st, &st->mel, 0));
        ASSERT_OK(hark__whisper_decode(st, &b, lg));
        if (threads == 1) {
            memcpy(ref_enc, hark__whisper_enc_out(st), A * S * sizeof(float));
            memcpy(ref_lg, lg, 4 * (size_t)V * sizeof(float));
        } else {
            ASSERT(memcmp(ref_enc, hark__whisper_enc_out(st), A * S * sizeof(float)) == 0);
            ASSERT(memcmp(ref_lg, lg, 4 * (size_t)V * sizeof(float)) == 0);
        }
    }
    free(pcm);
    free(ref_enc);
    free(ref_lg);
    free(lg);
    hark__whisper_state_free(st);
    hark__whisper_model_free(m);
}

TEST(beam_search_and_sampling_are_deterministic)
{
    fixture f;
    hark_buf a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    hark_transcript *t;
    harness_timeout(300);
    fx_open(&f, tiny_path(51864, 1), 2);
    /* defaults: beam 5, best-of 5, fallback */
    t = fx_run(&f);
    check_wellformed(t, f.n);
    dump(t, &a);
    hark_transcript_free(t);
    f.job.n_threads = 2;
    t = fx_run(&f);
    dump(t, &b);
    hark_transcript_free(t);
    ASSERT_STREQ(a.ptr, b.ptr);
    /* sampling at a temperature, best of 3 */
    f.opts.beam_size = 1;
    f.opts.best_of = 3;
    f.opts.temperature = 0.7f;
    f.opts.no_fallback = 1;
    hark_buf_clear(&a);
    hark_buf_clear(&b);
    t = fx_run(&f);
    check_wellformed(t, f.n);
    ASSERT(hark_transcript_count(t) == 0 || hark_transcript_segment(t, 0)->temperature == 0.7f);
    dump(t, &a);
    hark_transcript_free(t);
    t = fx_run(&f);
    dump(t, &b);
    hark_transcript_free(t);
    ASSERT_STREQ(a.ptr, b.ptr);
    hark_buf_dispose(&a);
    hark_buf_dispose(&b);
    fx_close(&f);
}

TEST(beam_search_finds_sequences_at_least_as_likely_as_greedy)
{
    hark_whisper_model *m = NULL;
    hark_whisper_state *st = NULL;
    hark_whisper_params p;
    hark_whisper_result g, bm;
    float *pcm = signal(8 * 16000, 5);
    double sg = 0, sb = 0;
    int i, j, ng = 0, nb = 0;
    harness_timeout(300);
    ASSERT_OK(hark__whisper_model_load(&m, tiny_path(51864, 1)));
    ASSERT_OK(hark__whisper_state_new(&st, m));
    hark__whisper_params_default(&p);
    p.no_timestamps = 1; /* one window, every sampled token kept */
    p.temperature_inc = 0.0f;
    p.best_of = 1;
    ASSERT_OK(hark__whisper_full(st, &p, pcm, 8 * 16000, &g));
    p.beam_size = 4;
    ASSERT_OK(hark__whisper_full(st, &p, pcm, 8 * 16000, &bm));
    for (i = 0; i < g.n_seg; i++)
        for (j = 0; j < g.seg[i].n_tokens; j++, ng++)
            sg += g.seg[i].tokens[j].plog;
    for (i = 0; i < bm.n_seg; i++)
        for (j = 0; j < bm.seg[i].n_tokens; j++, nb++)
            sb += bm.seg[i].tokens[j].plog;
    printf("greedy: %d tokens, sum logprob %.4f; beam 4: %d tokens, sum logprob %.4f\n", ng, sg, nb,
           sb);
    ASSERT_EQ(ng, 16); /* both run to the token limit (n_text_ctx / 2 - 4) */
    ASSERT_EQ(nb, 16);
    ASSERT(sb >= sg - 1e-3);
    hark__whisper_result_dispose(&g);
    hark__whisper_result_dispose(&bm);
    hark__whisper_state_free(st);
    hark__whisper_model_free(m);
    free(pcm);
}

TEST(multilingual_detects_language_and_translates)
{
    fixture f;
    hark_transcript *t;
    harness_timeout(300);
    fx_open(&f, tiny_path(51865, 1), 8);
    f.opts.beam_size = 1;
    f.opts.best_of = 1;
    f.opts.no_fallback = 1;
    t = fx_run(&f); /* language NULL: detect */
    check_wellformed(t, f.n);
    ASSERT(hark_transcript_meta(t, "language") != NULL);
    ASSERT(hark__whisper_lang_id(hark_transcript_meta(t, "language")) >= 0);
    hark_transcript_free(t);
    f.opts.language = "de";
    f.opts.translate = 1;
    t = fx_run(&f);
    check_wellformed(t, f.n);
    ASSERT_STREQ(hark_transcript_meta(t, "language"), "de");
    hark_transcript_free(t);
    f.opts.language = "klingon";
    {
        hark_transcript *t2 = NULL;
        ASSERT_OK(hark_transcript_new(&t2));
        ASSERT_ERR(hark__engine_whisper.transcribe(f.state, &f.job, t2), HARK_EINVAL);
        ASSERT_CONTAINS(hark_error_last(), "klingon");
        hark_transcript_free(t2);
    }
    fx_close(&f);
}

TEST(prompt_text_conditions_the_decoder)
{
    fixture f;
    hark_buf a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    hark_transcript *t;
    harness_timeout(300);
    fx_open(&f, tiny_path(51864, 1), 8);
    f.opts.beam_size = 1;
    f.opts.best_of = 1;
    f.opts.no_fallback = 1;
    t = fx_run(&f);
    dump(t, &a);
    hark_transcript_free(t);
    f.opts.prompt = " hello world, the end";
    t = fx_run(&f);
    dump(t, &b);
    hark_transcript_free(t);
    ASSERT(strcmp(a.ptr, b.ptr) != 0);
    hark_buf_dispose(&a);
    hark_buf_dispose(&b);
    fx_close(&f);
}

static int abort_now(void *payload)
{
    int *calls = payload;
    return ++*calls > 3;
}

TEST(abort_cancels_between_steps)
{
    fixture f;
    hark_transcript *t = NULL;
    int calls = 0;
    fx_open(&f, tiny_path(51864, 1), 8);
    f.job.abort = abort_now;
    f.job.payload = &calls;
    ASSERT_OK(hark_transcript_new(&t));
    ASSERT_ERR(hark__engine_whisper.transcribe(f.state, &f.job, t), HARK_ECANCELED);
    ASSERT_EQ(hark_transcript_count(t), 0);
    hark_transcript_free(t);
    fx_close(&f);
}

TEST(short_and_empty_audio_give_no_segments)
{
    fixture f;
    hark_transcript *t;
    fx_open(&f, tiny_path(51864, 1), 1);
    f.job.n = 1000; /* 62 ms: whisper.cpp skips inputs under 100 ms */
    t = fx_run(&f);
    ASSERT_EQ(hark_transcript_count(t), 0);
    hark_transcript_free(t);
    f.job.n = 0;
    t = fx_run(&f);
    ASSERT_EQ(hark_transcript_count(t), 0);
    hark_transcript_free(t);
    fx_close(&f);
}

TEST(quantised_models_transcribe)
{
    static const int ftypes[] = { 2002, 2003, 2007, 2008, 2009, 0 };
    size_t i;
    harness_timeout(300);
    for (i = 0; i < HARK_ARRAY_SIZE(ftypes); i++) {
        fixture f;
        hark_transcript *t;
        fx_open(&f, tiny_path(51864, ftypes[i]), 2);
        f.opts.beam_size = 1;
        f.opts.best_of = 1;
        f.opts.no_fallback = 1;
        t = fx_run(&f);
        check_wellformed(t, f.n);
        ASSERT(hark_transcript_count(t) > 0);
        hark_transcript_free(t);
        fx_close(&f);
    }
}

TEST(no_speech_windows_give_no_text)
{
    fixture f;
    hark_transcript *t;
    fx_open(&f, tiny_path(51864, 1), 8);
    f.opts.beam_size = 1;
    f.opts.best_of = 1;
    f.opts.no_fallback = 1;
    /* every window counts as silence: p(no speech) > 0 and avg logprob < +1000 */
    f.opts.no_speech_thold = 0.0f;
    f.opts.logprob_thold = 1000.0f;
    t = fx_run(&f);
    ASSERT_EQ(hark_transcript_count(t), 0);
    hark_transcript_free(t);
    fx_close(&f);
}

TEST(fallback_raises_the_temperature_of_failed_windows)
{
    fixture f;
    hark_transcript *t;
    size_t i;
    fx_open(&f, tiny_path(51864, 1), 2);
    f.opts.beam_size = 1;
    f.opts.best_of = 2;
    /* random weights never end a window: every temperature fails until the last (1.0) */
    t = fx_run(&f);
    ASSERT(hark_transcript_count(t) > 0);
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *s = hark_transcript_segment(t, i);
        ASSERT_NEAR(s->temperature, 1.0, 1e-6);
        ASSERT(s->compression_ratio > 0.0f);
    }
    hark_transcript_free(t);
    fx_close(&f);
}
