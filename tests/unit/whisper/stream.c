/*
 * stream.c: the whisper engine's stream operations (LocalAgreement, see
 * src/asr/whisper/stream.c) on a small random-weight model (tinymodel.h, the
 * shape of engine.c's: the golden folder's micro model decodes 30-s windows,
 * too slow for the sanitizer build) and the golden folder's jfk.wav (real
 * weights are not available, so the words are nonsense, but the mechanics
 * are exact): the final does not depend on how
 * the audio was split into feeds, committed text is never taken back, and
 * the window transcribed stays bounded however long the utterance.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "../whisper_model/tinymodel.h"
#include "asr/asr.h"
#include "asr/whisper/whisper.h"
#include "hark/hark.h"

#define STEP       16000  /* stream.c STEP_SAMPLES */
#define WINDOW_MAX 160000 /* stream.c WINDOW_MAX_SAMPLES */

typedef struct wfix {
    void *model, *state;
    hark_decode_options opts;
    float *pcm;
    size_t n;
} wfix;

static void wf_open(wfix *f)
{
    static char path[512];
    tiny_opts o;
    tiny_defaults(&o);
    o.n_vocab = 51864;
    o.ftype = 1;
    o.n_state = 16;
    o.n_audio_ctx = 64;
    o.n_text_ctx = 40;
    o.seed = 3;
    snprintf(path, sizeof(path), "%s", harness_path("ggml-tiny-stream.bin"));
    ASSERT_OK(tiny_write(&o, path));
    memset(f, 0, sizeof(*f));
    ASSERT_OK(hark__engine_whisper.model_load(&f->model, path));
    ASSERT_OK(hark__engine_whisper.state_new(&f->state, f->model));
    ASSERT_OK(hark_audio_load(&f->pcm, &f->n, harness_shared_file("whisper-golden/jfk.wav")));
    hark_decode_options_default(&f->opts);
    f->opts.beam_size = 1; /* greedy: the test is about the windows, not the search */
    f->opts.best_of = 1;
    f->opts.no_fallback = 1;
}

static void wf_close(wfix *f)
{
    hark__engine_whisper.state_free(f->state);
    hark__engine_whisper.model_free(f->model);
    hark_free(f->pcm);
}

/* Stream pcm[0, n) in pieces of `piece` samples (0: pseudo-random sizes); checks after every
 * feed that the committed text only grows and the partial starts with it. Returns the final's
 * text ("" for none; malloc'ed); *stats what the stream transcribed. */
static char *wf_stream(wfix *f, const float *pcm, size_t n, size_t piece,
                       hark__whisper_stream_stats *stats, unsigned *grew)
{
    const hark_engine_ops *ops = &hark__engine_whisper;
    hark_engine_job job;
    hark_transcript *t = NULL;
    hark_buf before = HARK_BUF_INIT, text = HARK_BUF_INIT;
    size_t off = 0, i;
    uint64_t seed = 11;
    char *out;
    memset(&job, 0, sizeof(job));
    job.opts = &f->opts;
    job.n_threads = 1;
    ASSERT_OK(ops->stream_begin(f->state, &job));
    if (grew)
        *grew = 0;
    while (off < n) {
        hark_buf now = HARK_BUF_INIT, partial = HARK_BUF_INIT;
        size_t k = piece ? piece : 1 + (size_t)(harness_rand(&seed) % 12000);
        k = HARK_MIN(k, n - off);
        ASSERT_OK(ops->stream_feed(f->state, pcm + off, k));
        off += k;
        ASSERT_OK(hark__whisper_stream_committed(f->state, &now));
        ASSERT_OK(ops->stream_partial(f->state, &partial));
        /* committed text is never taken back, and the partial begins with it */
        ASSERT_MSG(strncmp(now.ptr ? now.ptr : "", before.ptr ? before.ptr : "", before.len) == 0,
                   "committed text retracted: '%s' then '%s'", before.ptr, now.ptr);
        ASSERT(strncmp(partial.ptr ? partial.ptr : "", now.ptr ? now.ptr : "", now.len) == 0);
        if (grew && now.len > before.len)
            (*grew)++;
        hark_buf_dispose(&before);
        before = now;
        hark_buf_dispose(&partial);
    }
    hark__whisper_stream_stats_get(f->state, stats);
    ASSERT_OK(hark_transcript_new(&t));
    ASSERT_OK(ops->stream_end(f->state, t));
    /* the final extends what was committed; words in order, inside the utterance */
    ASSERT_OK(hark_transcript_text(t, &text));
    ASSERT(strncmp(text.ptr ? text.ptr : "", before.ptr ? before.ptr : "", before.len) == 0);
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *s = hark_transcript_segment(t, i);
        size_t j;
        ASSERT(s->start >= 0 && s->start <= s->end && s->end <= (int64_t)n);
        for (j = 0; j < s->n_words; j++) {
            ASSERT(s->words[j].start >= s->start && s->words[j].end <= s->end);
            ASSERT(j == 0 || s->words[j].start >= s->words[j - 1].end);
        }
    }
    out = strdup(text.ptr ? text.ptr : "");
    hark_buf_dispose(&before);
    hark_buf_dispose(&text);
    hark_transcript_free(t);
    return out;
}

TEST(whisper_stream_is_deterministic_whatever_the_feeds)
{
    wfix f;
    hark__whisper_stream_stats a_st, b_st, c_st;
    unsigned grew = 0;
    char *a, *b, *c;
    wf_open(&f);
    a = wf_stream(&f, f.pcm, f.n, 1600, &a_st, &grew);
    b = wf_stream(&f, f.pcm, f.n, 0, &b_st, NULL);
    c = wf_stream(&f, f.pcm, f.n, f.n, &c_st, NULL);
    printf("  final: %.200s\n  %u transcriptions of %.1f s in all, longest %.1f s; committed "
           "text grew at %u of %zu feeds, %u words forced\n",
           a, a_st.decodes, (double)a_st.decoded_samples / 16000, (double)a_st.max_window / 16000,
           grew, f.n / 1600, a_st.forced);
    ASSERT_STREQ(a, b);
    ASSERT_STREQ(a, c);
    ASSERT_EQ(a_st.decodes, b_st.decodes);
    ASSERT_EQ(a_st.decodes, c_st.decodes);
    ASSERT_EQ(a_st.decodes, (unsigned)(f.n / STEP)); /* one per second of audio */
    ASSERT(strlen(a) > 0);
    free(a);
    free(b);
    free(c);
    wf_close(&f);
}

/* 30 s of jfk.wav repeated, with agreement turned off (the random model agrees with itself
 * too readily to reach the bound): no transcription longer than the bound, the words before it
 * committed without agreement, and the committed text still never taken back. */
TEST(whisper_stream_window_stays_bounded)
{
    wfix f;
    hark__whisper_stream_stats st;
    float *pcm;
    size_t n = 30 * 16000, i;
    char *out;
    wf_open(&f);
    pcm = malloc(n * sizeof(float));
    ASSERT(pcm != NULL);
    for (i = 0; i < n; i++)
        pcm[i] = f.pcm[i % f.n];
    ASSERT_OK(hark__whisper_stream_test_no_agree(f.state));
    out = wf_stream(&f, pcm, n, 8000, &st, NULL);
    printf("  %u transcriptions of %.1f s in all (%.1f s of audio), longest %.1f s, %u words "
           "forced, %.1f s skipped\n",
           st.decodes, (double)st.decoded_samples / 16000, (double)n / 16000,
           (double)st.max_window / 16000, st.forced, (double)st.skipped / 16000);
    ASSERT_LE(st.max_window, (size_t)WINDOW_MAX);
    ASSERT_EQ(st.decodes, 30u);
    ASSERT_MSG(st.max_window > WINDOW_MAX / 2, "the window never grew (%zu)", st.max_window);
    ASSERT_MSG(st.forced > 0 || st.skipped > 0, "the bound never moved the window");
    /* re-decoding costs at most WINDOW_MAX per STEP, far less than the whole utterance each time */
    ASSERT_LE(st.decoded_samples, (uint64_t)st.decodes * WINDOW_MAX);
    free(out);
    free(pcm);
    wf_close(&f);
}

TEST(whisper_stream_misuse_and_abandon)
{
    wfix f;
    hark_transcript *t = NULL;
    hark_engine_job job;
    wf_open(&f);
    memset(&job, 0, sizeof(job));
    job.opts = &f.opts;
    job.n_threads = 1;
    ASSERT_OK(hark_transcript_new(&t));
    ASSERT_ERR(hark__engine_whisper.stream_feed(f.state, f.pcm, 100), HARK_EINVAL);
    ASSERT_OK(hark__engine_whisper.stream_begin(f.state, &job));
    ASSERT_OK(hark__engine_whisper.stream_feed(f.state, f.pcm, 20000));
    ASSERT_OK(hark__engine_whisper.stream_end(f.state, NULL)); /* abandoned */
    ASSERT_ERR(hark__engine_whisper.stream_end(f.state, t), HARK_EINVAL);
    /* the state still transcribes chunks; an open utterance is freed with the state */
    {
        hark_engine_job cj = job;
        cj.pcm = f.pcm;
        cj.n = 32000;
        ASSERT_OK(hark__engine_whisper.transcribe(f.state, &cj, t));
    }
    ASSERT_OK(hark__engine_whisper.stream_begin(f.state, &job));
    ASSERT_OK(hark__engine_whisper.stream_feed(f.state, f.pcm, 20000));
    hark_transcript_free(t);
    wf_close(&f);
}
