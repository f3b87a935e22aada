/*
 * fallback.c: the confidence fallback (hark_engine_set_fallback, hark
 * transcribe --fallback): the test engine made unsure (conf=X) locally, the
 * remote engine against the scripted server or a real hark serve as the
 * fallback.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "../server/client.h"
#include "script.h"
#include "hark/hark.h"

#define SEC 16000

static float *tone10(size_t *n)
{
    size_t i;
    float *pcm;
    *n = 10 * SEC;
    pcm = malloc(*n * sizeof(float));
    ASSERT(pcm != NULL);
    for (i = 0; i < *n; i++)
        pcm[i] = (float)lrint(0.2 * sin(2 * M_PI * 440 * (double)i / SEC) * 32768) / 32768.0f;
    return pcm;
}

/* The test engine with `spec` and the remote engine at `url` as its fallback below `below`. */
static hark_engine *pair(const char *spec, const char *url, float below)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT, ro = HARK_ENGINE_OPTIONS_INIT;
    hark_engine *e = NULL, *fb = NULL;
    eo.model = spec;
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    ro.url = url;
    ro.timeout_ms = 10000;
    ro.retries = 0;
    ASSERT_OK(hark_engine_open(&fb, "remote", &ro));
    ASSERT_OK(hark_engine_set_fallback(e, fb, below));
    return e;
}

static int run(hark_engine *e, hark_transcript **t)
{
    hark_pipeline_options po;
    size_t n;
    float *pcm = tone10(&n);
    int rc;
    hark_pipeline_options_default(&po);
    po.n_workers = 1;
    po.max_retries = 0;
    po.chunk.no_vad = 1;
    rc = hark_transcribe_pcm(t, e, pcm, n, &po);
    free(pcm);
    return rc;
}

TEST(doubtful_segments_are_replaced_by_a_more_confident_fallback)
{
    script_server ss;
    hark_transcript *t = NULL;
    hark_engine *e;
    hark_buf js = HARK_BUF_INIT;
    json_t *o, *segs;

    script_start(&ss, NULL, 0); /* answers " hello" (0.90) and " world" (0.61) */
    e = pair("conf=0.5", ss.url, 0.8f);
    ASSERT_OK(run(e, &t));
    ASSERT_EQ(script_requests(&ss), 1);
    ASSERT_EQ(hark_transcript_count(t), 2);
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, " hello");
    ASSERT_STREQ(hark_transcript_segment(t, 1)->text, " world");
    ASSERT_EQ(hark_transcript_segment(t, 1)->start, 24000);
    ASSERT_STREQ(hark_transcript_segment_engine(t, 0), "remote");
    ASSERT_STREQ(hark_transcript_meta(t, "engine"), "test");
    ASSERT_STREQ(hark_transcript_meta(t, "fallback"), "remote");
    ASSERT_CONTAINS(hark_transcript_meta(t, "options"), "\"fallback\":{\"engine\":\"remote:");
    /* the JSON output says which engine made each segment */
    ASSERT_OK(hark_transcript_write(t, HARK_FORMAT_JSON, &js));
    o = json_loads(js.ptr, 0, NULL);
    ASSERT(o != NULL);
    segs = json_object_get(o, "segments");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(segs, 0), "engine")), "remote");
    ASSERT_STREQ(json_string_value(json_object_get(o, "fallback")), "remote");
    json_decref(o);
    hark_buf_dispose(&js);
    hark_transcript_free(t);
    hark_engine_free(e); /* frees the fallback too */
    script_stop(&ss);
}

TEST(a_less_confident_fallback_leaves_the_local_text)
{
    script_server ss;
    hark_transcript *t = NULL;
    hark_engine *e;

    script_start(&ss, NULL, 0);
    ss.ok_body = "{\"segments\":[{\"start\":0,\"end\":9,\"text\":\" noise\",\"avg_logprob\":-3}]}";
    e = pair("conf=0.5", ss.url, 0.8f);
    ASSERT_OK(run(e, &t));
    ASSERT_EQ(script_requests(&ss), 1); /* asked, but exp(-3) < 0.5 */
    ASSERT_EQ(hark_transcript_count(t), 1);
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, "f440 a0.14");
    ASSERT_STREQ(hark_transcript_segment_engine(t, 0), "test");
    hark_transcript_free(t);
    hark_engine_free(e);
    script_stop(&ss);
}

TEST(confident_segments_are_never_sent)
{
    script_server ss;
    hark_transcript *t = NULL;
    hark_engine *e;

    script_start(&ss, NULL, 0);
    e = pair("conf=0.85", ss.url, 0.8f);
    ASSERT_OK(run(e, &t));
    ASSERT_EQ(script_requests(&ss), 0);
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, "f440 a0.14");
    hark_transcript_free(t);
    hark_engine_free(e);
    script_stop(&ss);
}

TEST(a_chunk_the_local_engine_fails_is_done_by_the_fallback)
{
    script_server ss;
    hark_transcript *t = NULL;
    hark_engine *e;

    script_start(&ss, NULL, 0);
    e = pair("fail=0:99", ss.url, 0.5f);
    ASSERT_OK(run(e, &t));
    ASSERT_EQ(hark_transcript_count(t), 2);
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, " hello");
    ASSERT_STREQ(hark_transcript_segment_engine(t, 1), "remote");
    hark_transcript_free(t);
    hark_engine_free(e);
    script_stop(&ss);

    /* both fail: the local reason, and the fallback's */
    {
        static const script_act acts[] = { S_401 };
        script_start(&ss, acts, 1);
        e = pair("fail=0:99", ss.url, 0.5f);
        ASSERT_ERR(run(e, &t), HARK_EAGAIN);
        ASSERT_CONTAINS(hark_error_last(), "injected failure");
        ASSERT_CONTAINS(hark_error_last(), "the fallback failed too");
        ASSERT_CONTAINS(hark_error_last(), "HTTP 401");
        hark_transcript_free(t);
        hark_engine_free(e);
        script_stop(&ss);
    }
}

TEST(fallback_settings_are_checked)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_engine *a = NULL, *b = NULL, *c = NULL;
    ASSERT_OK(hark_engine_open(&a, "test", &eo));
    ASSERT_OK(hark_engine_open(&b, "test", &eo));
    ASSERT_OK(hark_engine_open(&c, "test", &eo));
    ASSERT_ERR(hark_engine_set_fallback(a, a, 0.5f), HARK_EINVAL);
    ASSERT_ERR(hark_engine_set_fallback(a, b, 1.5f), HARK_EINVAL);
    ASSERT_OK(hark_engine_set_fallback(b, c, 0.5f));               /* b owns c */
    ASSERT_ERR(hark_engine_set_fallback(a, b, 0.5f), HARK_EINVAL); /* no chains */
    hark_engine_free(a);
    hark_engine_free(b);
}

TEST(cli_fallback_to_a_real_hark_serve)
{
    server s;
    size_t n;
    float *pcm = tone10(&n);
    const char *wav = harness_path("a.wav");
    char *out;
    json_t *o, *g;
    int st;

    ASSERT_OK(hark_wav_write(wav, pcm, n));
    free(pcm);
    server_start(&s, "--vad off --engine test");
    out = harness_sh_output(&st,
                            "'%s' transcribe -q --no-store --no-cache -e test -m conf=0.3 "
                            "--fallback remote --url %s --fallback-below 0.6 --no-vad -f json '%s'",
                            harness_hark_bin(), s.url, wav);
    ASSERT_EQ(st, 0);
    o = json_loads(out, 0, NULL);
    ASSERT_MSG(o != NULL, "not JSON: %s", out);
    g = json_array_get(json_object_get(o, "segments"), 0);
    ASSERT_STREQ(json_string_value(json_object_get(g, "engine")), "remote");
    ASSERT_STREQ(json_string_value(json_object_get(g, "text")), "f440 a0.14");
    ASSERT_NEAR(json_number_value(json_object_get(g, "confidence")), 1.0, 1e-6);
    json_decref(o);
    free(out);
    /* above the threshold: local, and no per-segment engine without --fallback */
    out = harness_sh_output(&st,
                            "'%s' transcribe -q --no-store --no-cache -e test -m conf=0.3 "
                            "--no-vad -f json '%s'",
                            harness_hark_bin(), wav);
    ASSERT_EQ(st, 0);
    o = json_loads(out, 0, NULL);
    ASSERT(o != NULL);
    g = json_array_get(json_object_get(o, "segments"), 0);
    ASSERT(json_object_get(g, "engine") == NULL);
    ASSERT_NEAR(json_number_value(json_object_get(g, "confidence")), 0.3, 1e-6);
    json_decref(o);
    free(out);
    out = harness_sh_output(&st, "'%s' transcribe -q --fallback 'remote' '%s' 2>&1",
                            harness_hark_bin(), wav);
    ASSERT_EQ(st, 2); /* remote needs --url */
    ASSERT_CONTAINS(out, "--url");
    free(out);
    ASSERT_EQ(server_stop(&s, SIGTERM, 10000), 0);
}
