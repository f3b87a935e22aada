/*
 * Voice-activity detection on synthetic signals: frame decisions on speech-like
 * bursts and pauses, level and noise robustness, streaming properties.
 */
#include "harness.h"
#include "synth.h"
#include "util/util.h"
#include "vad/vad.h"

typedef struct frames {
    hark_vad_frame *f;
    size_t n, cap;
    int64_t pushed_frames; /* complete frames pushed when the callback ran */
    int64_t max_lag;       /* largest pushed_frames - index seen */
    int stop_after;        /* return HARK_ECANCELED at this many frames (0 = never) */
} frames;

/* The mode run_vad() uses; the tests that hold in both modes loop over them. */
static hark__vad_mode mode = HARK_VAD_LOOKAHEAD;
#define FOR_EACH_MODE for (mode = HARK_VAD_LOOKAHEAD; mode <= HARK_VAD_LOW_LATENCY; mode++)

static int collect(void *payload, const hark_vad_frame *fr)
{
    frames *c = payload;
    if (c->stop_after && (int)c->n == c->stop_after)
        return HARK_ECANCELED;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->f = realloc(c->f, c->cap * sizeof(*c->f));
        ASSERT(c->f != NULL);
    }
    ASSERT_EQ(fr->index, (int64_t)c->n); /* in order, exactly once */
    if (c->pushed_frames - fr->index > c->max_lag)
        c->max_lag = c->pushed_frames - fr->index;
    c->f[c->n++] = *fr;
    return 0;
}

/* Run the VAD over x[0, n); block = 0: one push; < 0: random sizes up to -block. */
static frames run_vad(const float *x, size_t n, float threshold, long block, uint64_t seed)
{
    frames c = { 0 };
    hark__vad *v = NULL;
    size_t pos = 0;
    ASSERT_OK(hark__vad_new(&v, threshold, mode));
    while (pos < n) {
        size_t take = n - pos;
        if (block > 0)
            take = (size_t)block;
        else if (block < 0)
            take = (size_t)(harness_rand(&seed) % (uint64_t)(-block + 1)); /* 0 included */
        if (take > n - pos)
            take = n - pos;
        c.pushed_frames = (int64_t)(pos + take) / HARK_VAD_FRAME;
        ASSERT_OK(hark__vad_push(v, x + pos, take, collect, &c));
        pos += take;
    }
    c.pushed_frames = (int64_t)(n + HARK_VAD_FRAME - 1) / HARK_VAD_FRAME;
    ASSERT_OK(hark__vad_finish(v, collect, &c));
    ASSERT_EQ(c.n, (n + HARK_VAD_FRAME - 1) / HARK_VAD_FRAME);
    if (n % HARK_VAD_FRAME)
        ASSERT_EQ(c.f[c.n - 1].n, n % HARK_VAD_FRAME);
    hark__vad_free(v);
    return c;
}

static size_t count_speech(const frames *c, int64_t from, int64_t to)
{
    size_t k = 0;
    int64_t i;
    for (i = from; i < to && i < (int64_t)c->n; i++)
        k += c->f[i].speech;
    return k;
}

/* Speech-like test material: sentences of 2-5 words, pauses of 0.6-2.5 s. */
static void make_speech(synth *s, int sentences, float amp)
{
    int k;
    syn_silence(s, 1.0);
    for (k = 0; k < sentences; k++) {
        syn_sentence(s, 2 + (int)(syn_uniform(s) * 4), amp);
        syn_silence(s, 0.6 + 1.9 * syn_uniform(s));
    }
}

/* Every sentence is speech (but for 60 ms at its edges) and the middle of every pause is not. */
static void check_against_sentences(const synth *s, const frames *c, const char *what)
{
    size_t k;
    for (k = 0; k < s->n_sent; k++) {
        int64_t a = s->sent[k].start / HARK_VAD_FRAME + 6, b = s->sent[k].end / HARK_VAD_FRAME - 6;
        ASSERT_MSG(count_speech(c, a, b) == (size_t)(b - a),
                   "%s: sentence %zu [%.2f, %.2f] s has %zu non-speech frames", what, k,
                   (double)s->sent[k].start / SYN_RATE, (double)s->sent[k].end / SYN_RATE,
                   (size_t)(b - a) - count_speech(c, a, b));
        if (k + 1 < s->n_sent) {
            /* the pause, but for 0.3 s next to the sentences (hangover) */
            int64_t p0 = s->sent[k].end / HARK_VAD_FRAME + 30;
            int64_t p1 = s->sent[k + 1].start / HARK_VAD_FRAME - 30;
            ASSERT_MSG(count_speech(c, p0, p1) == 0,
                       "%s: pause after sentence %zu [%.2f, %.2f] s has %zu speech frames", what, k,
                       (double)s->sent[k].end / SYN_RATE, (double)s->sent[k + 1].start / SYN_RATE,
                       count_speech(c, p0, p1));
        }
    }
}

TEST(vad_digital_silence_is_never_speech)
{
    float *x = calloc(SYN_RATE * 30, sizeof(float));
    FOR_EACH_MODE
    {
        frames c = run_vad(x, SYN_RATE * 30, 0.5f, 0, 0);
        size_t i;
        ASSERT_EQ(count_speech(&c, 0, (int64_t)c.n), 0);
        for (i = 0; i < c.n; i++) {
            ASSERT_EQ(c.f[i].active, 0);
            ASSERT(isfinite(c.f[i].level_db) && isfinite(c.f[i].snr_db));
        }
        free(c.f);
    }
    free(x);
}

TEST(vad_very_low_noise_is_never_speech)
{
    /* white noise at -80 and -70 dBFS, with a few louder wisps at -62 dBFS */
    static const float rms[2] = { 1e-4f, 3.2e-4f };
    int k;
    for (k = 0; k < 2; k++) {
        synth s;
        frames c;
        syn_init(&s, 11);
        syn_silence(&s, 20.0);
        syn_add_white(&s, 0, rms[k]);
        c = run_vad(s.x, s.n, 0.5f, 0, 0);
        ASSERT_MSG(count_speech(&c, 0, (int64_t)c.n) == 0, "rms %g: %zu speech frames",
                   (double)rms[k], count_speech(&c, 0, (int64_t)c.n));
        free(c.f);
        syn_free(&s);
    }
}

TEST(vad_steady_noise_at_any_level_is_not_speech)
{
    /* white noise, fan noise and a loud mains hum, each from -50 to -10 dBFS */
    int kind, lv;
    FOR_EACH_MODE for (kind = 0; kind < 3; kind++)
    {
        for (lv = -50; lv <= -10; lv += 20) {
            synth s;
            frames c;
            float a = powf(10.0f, (float)lv / 20.0f);
            syn_init(&s, 100 + (uint64_t)(kind * 10 + lv));
            syn_silence(&s, 20.0);
            if (kind == 0)
                syn_add_white(&s, 0, a);
            else if (kind == 1)
                syn_add_fan(&s, 0, a);
            else
                syn_add_hum(&s, 0, a * 4.0f); /* peak: up to 0.4 of full scale */
            c = run_vad(s.x, s.n, 0.5f, 0, 0);
            ASSERT_MSG(count_speech(&c, 0, (int64_t)c.n) == 0,
                       "mode %d, noise %d at %d dB: %zu speech frames", (int)mode, kind, lv,
                       count_speech(&c, 0, (int64_t)c.n));
            free(c.f);
            syn_free(&s);
        }
    }
}

TEST(vad_finds_sentences_and_pauses)
{
    synth s;
    frames c;
    syn_init(&s, 1);
    make_speech(&s, 12, 0.3f);
    c = run_vad(s.x, s.n, 0.5f, 0, 0);
    check_against_sentences(&s, &c, "clean");
    free(c.f);
    syn_free(&s);
}

TEST(vad_short_gaps_inside_sentences_are_speech)
{
    /* 30-180 ms gaps between syllables and words never break a sentence */
    synth s;
    frames c;
    size_t k;
    syn_init(&s, 2);
    make_speech(&s, 20, 0.2f);
    c = run_vad(s.x, s.n, 0.5f, 0, 0);
    for (k = 0; k < s.n_sent; k++) {
        int64_t a = s.sent[k].start / HARK_VAD_FRAME, b = s.sent[k].end / HARK_VAD_FRAME;
        ASSERT_EQ(count_speech(&c, a, b), b - a);
    }
    free(c.f);
    syn_free(&s);
}

TEST(vad_is_level_independent)
{
    /* the same material from -30 dB (syllable peaks at -40 dBFS) to +10 dB */
    static const float gains[4] = { 0.03f, 0.1f, 1.0f, 3.0f };
    int k;
    for (k = 0; k < 4; k++) {
        synth s;
        frames c;
        char what[32];
        syn_init(&s, 3);
        make_speech(&s, 10, 0.3f);
        syn_add_white(&s, 0, 3e-4f); /* a recording's noise floor, scaled with the signal */
        syn_scale(&s, gains[k]);
        c = run_vad(s.x, s.n, 0.5f, 0, 0);
        snprintf(what, sizeof(what), "gain %g", (double)gains[k]);
        check_against_sentences(&s, &c, what);
        free(c.f);
        syn_free(&s);
    }
}

TEST(vad_speech_over_steady_noise)
{
    /* white and fan noise 15 dB below the speech (mean squares), a hum louder than the speech */
    int kind;
    for (kind = 0; kind < 3; kind++) {
        synth s;
        frames c;
        char what[32];
        syn_init(&s, 4);
        make_speech(&s, 10, 0.3f);
        if (kind == 0)
            syn_add_white(&s, 0, 0.019f);
        else if (kind == 1)
            syn_add_fan(&s, 0, 0.019f);
        else
            syn_add_hum(&s, 0, 0.6f); /* hum louder than the speech */
        c = run_vad(s.x, s.n, 0.5f, 0, 0);
        snprintf(what, sizeof(what), "noise %d", kind);
        check_against_sentences(&s, &c, what);
        free(c.f);
        syn_free(&s);
    }
}

TEST(vad_low_music_bed_under_speech_is_not_speech)
{
    synth s;
    frames c;
    syn_init(&s, 5);
    make_speech(&s, 10, 0.3f);
    syn_add_music(&s, 0, 0.3f * 0.03f); /* 30 dB under the speech */
    c = run_vad(s.x, s.n, 0.5f, 0, 0);
    check_against_sentences(&s, &c, "music bed");
    free(c.f);
    syn_free(&s);
}

TEST(vad_clicks_are_not_speech)
{
    synth s;
    frames c;
    int k;
    syn_init(&s, 6);
    syn_silence(&s, 20.0);
    syn_add_white(&s, 0, 1e-3f);
    for (k = 0; k < 30; k++) { /* 2 ms clicks, peak 0.5 */
        size_t at = (size_t)(SYN_RATE * (0.5 + 0.6 * k)), i;
        for (i = 0; i < 32; i++)
            s.x[at + i] += 0.5f * (i % 2 ? -1.0f : 1.0f);
    }
    FOR_EACH_MODE
    {
        c = run_vad(s.x, s.n, 0.5f, 0, 0);
        ASSERT_EQ(count_speech(&c, 0, (int64_t)c.n), 0);
        free(c.f);
    }
    syn_free(&s);
}

TEST(vad_speech_at_the_very_start_and_end)
{
    /* no leading or trailing silence: the look-ahead floor still finds the speech */
    synth s;
    frames c;
    int64_t a, b;
    syn_init(&s, 7);
    syn_sentence(&s, 6, 0.3f);
    syn_silence(&s, 0.8);
    syn_sentence(&s, 6, 0.3f);
    c = run_vad(s.x, s.n, 0.5f, 0, 0);
    a = s.sent[0].start / HARK_VAD_FRAME + 3;
    b = s.sent[0].end / HARK_VAD_FRAME - 3;
    ASSERT_EQ(count_speech(&c, a, b), b - a);
    a = s.sent[1].start / HARK_VAD_FRAME + 3;
    b = s.sent[1].end / HARK_VAD_FRAME - 3;
    ASSERT_EQ(count_speech(&c, a, b), b - a);
    free(c.f);
    syn_free(&s);
}

TEST(vad_threshold_orders_sensitivity)
{
    /* noisy material: a stricter threshold never finds more speech */
    synth s;
    size_t prev = (size_t)-1;
    int k;
    syn_init(&s, 8);
    make_speech(&s, 10, 0.05f);
    syn_add_fan(&s, 0, 0.01f);
    syn_add_music(&s, 0, 0.002f);
    for (k = 1; k <= 9; k += 2) {
        frames c = run_vad(s.x, s.n, (float)k / 10.0f, 0, 0);
        size_t sp = count_speech(&c, 0, (int64_t)c.n);
        ASSERT_LE(sp, prev);
        prev = sp;
        free(c.f);
    }
    syn_free(&s);
}

TEST(vad_decisions_do_not_depend_on_block_sizes)
{
    synth s;
    frames whole, c;
    long blocks[5] = { 1, 159, 161, 4096, -3000 };
    int k;
    syn_init(&s, 9);
    make_speech(&s, 8, 0.3f);
    syn_add_fan(&s, 0, 0.01f);
    s.n -= 77; /* a partial last frame */
    FOR_EACH_MODE
    {
        whole = run_vad(s.x, s.n, 0.5f, 0, 0);
        for (k = 0; k < 5; k++) {
            c = run_vad(s.x, s.n, 0.5f, blocks[k], 42 + (uint64_t)k);
            size_t i;
            ASSERT_EQ(c.n, whole.n);
            for (i = 0; i < c.n; i++) {
                ASSERT_EQ(c.f[i].n, whole.f[i].n);
                ASSERT_EQ(c.f[i].speech, whole.f[i].speech);
                ASSERT_EQ(c.f[i].active, whole.f[i].active);
                ASSERT(c.f[i].level_db == whole.f[i].level_db &&
                       c.f[i].snr_db == whole.f[i].snr_db);
            }
            free(c.f);
        }
        free(whole.f);
    }
    syn_free(&s);
}

TEST(vad_reports_each_frame_after_exactly_the_delay)
{
    synth s;
    frames c;
    hark__vad *v = NULL;
    int64_t delay;
    static const int64_t want[2] = { 153, 8 }; /* 1.53 s, 80 ms: see vad.c */
    syn_init(&s, 10);
    make_speech(&s, 3, 0.3f);
    FOR_EACH_MODE
    {
        c = run_vad(s.x, s.n, 0.5f, HARK_VAD_FRAME, 0);
        ASSERT_OK(hark__vad_new(&v, 0.5f, mode));
        delay = hark__vad_delay(v);
        hark__vad_free(v);
        /* pushing frame by frame, frame k arrives when k + delay frames are complete */
        ASSERT_EQ(c.max_lag, delay);
        ASSERT_EQ(delay, want[mode]);
        free(c.f);
    }
    syn_free(&s);
}

TEST(vad_survives_non_finite_and_huge_samples)
{
    synth s;
    frames c, clean;
    size_t i;
    syn_init(&s, 12);
    make_speech(&s, 4, 0.3f);
    clean = run_vad(s.x, s.n, 0.5f, 0, 0);
    for (i = 0; i < s.n; i += 997)
        s.x[i] = i % 3 ? NAN : INFINITY;
    c = run_vad(s.x, s.n, 0.5f, 0, 0);
    {
        /* a NaN or Inf counts as a 0: one sample in 997 changes almost no decision */
        size_t same = 0;
        ASSERT_EQ(c.n, clean.n);
        for (i = 0; i < c.n; i++) {
            ASSERT(isfinite(c.f[i].level_db) && isfinite(c.f[i].snr_db) && c.f[i].speech <= 1);
            same += c.f[i].speech == clean.f[i].speech;
        }
        ASSERT_LE((double)(c.n - same), 0.01 * (double)c.n);
    }
    free(c.f);
    for (i = 0; i < s.n; i++)
        s.x[i] = i % 2 ? 3e38f : -3e38f;
    c = run_vad(s.x, s.n, 0.5f, 0, 0);
    for (i = 0; i < c.n; i++)
        ASSERT(isfinite(c.f[i].level_db) && isfinite(c.f[i].snr_db));
    free(c.f);
    free(clean.f);
    syn_free(&s);
}

/* Low latency, what a live endpointer needs of it: each sentence's speech starts and ends
 * within 100 ms of the sentence (so an utterance ends endpoint + 80 ms after its speech),
 * no silence inside a sentence is as long as the default endpoint (500 ms would cut it),
 * and the pauses are silence from 100 ms after a sentence. Clean, over noise (white and fan
 * 15 dB under the speech, a hum louder than it) and at -30 to +10 dB. */
TEST(vad_low_latency_ends_sentences_at_once_and_never_inside)
{
    static const float gains[2] = { 0.03f, 3.0f };
    int kind;
    mode = HARK_VAD_LOW_LATENCY;
    for (kind = 0; kind < 6; kind++) {
        synth s;
        frames c;
        size_t k;
        syn_init(&s, 20 + (uint64_t)kind);
        make_speech(&s, 10, 0.3f);
        if (kind == 1)
            syn_add_white(&s, 0, 0.019f);
        else if (kind == 2)
            syn_add_fan(&s, 0, 0.019f);
        else if (kind == 3)
            syn_add_hum(&s, 0, 0.6f);
        else if (kind > 3) {
            syn_add_white(&s, 0, 3e-4f);
            syn_scale(&s, gains[kind - 4]);
        }
        c = run_vad(s.x, s.n, 0.5f, 0, 0);
        for (k = 0; k < s.n_sent; k++) {
            int64_t a = s.sent[k].start / HARK_VAD_FRAME, b = s.sent[k].end / HARK_VAD_FRAME;
            int64_t first = -1, last = -1, run = 0, longest = 0, i;
            for (i = a - 10; i < b + 10; i++) {
                if (c.f[i].speech) {
                    if (first < 0)
                        first = i;
                    last = i;
                    run = 0;
                } else if (first >= 0 && ++run > longest) {
                    longest = run;
                }
            }
            longest = first < 0 ? b - a : HARK_MAX(0, longest - run); /* inside only */
            ASSERT_MSG(first >= 0 && first - a <= 10 && last >= b - 10,
                       "kind %d, sentence %zu [%.2f, %.2f] s: speech [%.2f, %.2f] s", kind, k,
                       (double)s.sent[k].start / SYN_RATE, (double)s.sent[k].end / SYN_RATE,
                       (double)first / 100.0, (double)(last + 1) / 100.0);
            ASSERT_MSG(longest < 50, "kind %d, sentence %zu: %lld ms of silence inside", kind, k,
                       (long long)longest * 10);
            if (k + 1 < s.n_sent) {
                int64_t p0 = b + 10, p1 = s.sent[k + 1].start / HARK_VAD_FRAME - 10;
                ASSERT_MSG(count_speech(&c, p0, p1) == 0,
                           "kind %d, pause after sentence %zu: %zu speech frames", kind, k,
                           count_speech(&c, p0, p1));
            }
        }
        free(c.f);
        syn_free(&s);
    }
    mode = HARK_VAD_LOOKAHEAD;
}

TEST(vad_rejects_bad_thresholds)
{
    hark__vad *v = (hark__vad *)1;
    ASSERT_ERR(hark__vad_new(&v, 0.0f, HARK_VAD_LOOKAHEAD), HARK_EINVAL);
    ASSERT(v == NULL);
    ASSERT_ERR(hark__vad_new(&v, 1.0f, HARK_VAD_LOOKAHEAD), HARK_EINVAL);
    ASSERT_ERR(hark__vad_new(&v, NAN, HARK_VAD_LOOKAHEAD), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "threshold");
    ASSERT_ERR(hark__vad_new(&v, 0.5f, (hark__vad_mode)7), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "mode");
    hark__vad_free(NULL);
}

TEST(vad_callback_error_stops_the_detector)
{
    synth s;
    frames c = { 0 };
    hark__vad *v = NULL;
    syn_init(&s, 13);
    make_speech(&s, 3, 0.3f);
    c.stop_after = 10;
    ASSERT_OK(hark__vad_new(&v, 0.5f, HARK_VAD_LOOKAHEAD));
    ASSERT_ERR(hark__vad_push(v, s.x, s.n, collect, &c), HARK_ECANCELED);
    ASSERT_EQ(c.n, 10);
    ASSERT_ERR(hark__vad_push(v, s.x, 100, collect, &c), HARK_ECANCELED);
    ASSERT_ERR(hark__vad_finish(v, collect, &c), HARK_ECANCELED);
    hark__vad_free(v);
    free(c.f);
    syn_free(&s);
}

TEST(vad_push_after_finish_is_an_error)
{
    frames c = { 0 };
    hark__vad *v = NULL;
    float x[400] = { 0 };
    ASSERT_OK(hark__vad_new(&v, 0.5f, HARK_VAD_LOOKAHEAD));
    ASSERT_OK(hark__vad_push(v, x, 400, collect, &c));
    ASSERT_OK(hark__vad_finish(v, collect, &c));
    ASSERT_EQ(c.n, 3);
    ASSERT_EQ(c.f[2].n, 80);
    ASSERT_OK(hark__vad_finish(v, collect, &c)); /* idempotent */
    ASSERT_EQ(c.n, 3);
    ASSERT_ERR(hark__vad_push(v, x, 1, collect, &c), HARK_EINVAL);
    hark__vad_free(v);
    free(c.f);
}

TEST(vad_allocation_failure_is_reported)
{
    hark__vad *v = NULL;
    hark__alloc_fail_at(1);
    ASSERT_ERR(hark__vad_new(&v, 0.5f, HARK_VAD_LOOKAHEAD), HARK_ENOMEM);
    hark__alloc_fail_at(0);
    ASSERT(v == NULL);
}
