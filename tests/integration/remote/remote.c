/*
 * remote.c: the "remote" engine against a real `hark serve` (the
 * deterministic test engine behind it) and against a scripted server that
 * answers 429 with Retry-After, 500, 401, hangs, or closes mid-answer.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "../server/client.h"
#include "script.h"
#include "hark/hark.h"
#include "asr/asr.h"
#include "util/util.h"

#define SEC 16000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* `sec` seconds: a different tone (and level) every 10 s, so chunks differ. */
static float *tones(double sec, size_t *n)
{
    static const int hz[] = { 440, 880, 220, 660, 330 };
    size_t i;
    float *pcm;
    *n = (size_t)(sec * SEC);
    pcm = malloc(*n * sizeof(float));
    ASSERT(pcm != NULL);
    for (i = 0; i < *n; i++) {
        size_t k = (i / (10 * SEC)) % 5;
        /* 16-bit values, as a WAV holds them: FLAC carries them exactly */
        float x = (0.2f + 0.05f * (float)k) * (float)sin(2 * M_PI * hz[k] * (double)i / SEC);
        pcm[i] = (float)lrintf(x * 32768.0f) / 32768.0f;
    }
    return pcm;
}

static hark_engine *open_remote(const char *url, unsigned timeout_ms, int retries, const char *key)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_engine *e = NULL;
    eo.url = url;
    eo.timeout_ms = timeout_ms;
    eo.retries = retries;
    eo.api_key = key;
    eo.remote_model = "tiny-test";
    ASSERT_OK(hark_engine_open(&e, "remote", &eo));
    return e;
}

/* Transcribe in 10 s chunks, one worker, no pipeline retries: the engine's own are tested. */
static int run_pcm(hark_engine *e, const float *pcm, size_t n, hark_transcript **t)
{
    hark_pipeline_options po;
    hark_pipeline_options_default(&po);
    po.n_workers = 1;
    po.max_retries = 0;
    po.chunk.no_vad = 1;
    po.chunk.min = 10 * SEC;
    po.chunk.max = 10 * SEC;
    return hark_transcribe_pcm(t, e, pcm, n, &po);
}

/* ---- against hark serve ------------------------------------------------------------------- */

TEST(cli_remote_equals_the_servers_own_transcript)
{
    server s;
    size_t n;
    float *pcm = tones(35, &n);
    const char *wav = harness_path("talk.wav");
    const char *fields[] = { "response_format", "srt", NULL };
    char *srt, *txt;
    int st;
    reply r;

    ASSERT_OK(hark_wav_write(wav, pcm, n));
    free(pcm);
    server_start(&s, "--vad off --engine test");
    r = http_form(&s, "/v1/audio/transcriptions", NULL, fields, wav);
    ASSERT_EQ(r.status, 200);
    srt = harness_sh_output(&st,
                            "'%s' transcribe -q --no-store --no-cache -e remote --url %s "
                            "--no-vad --chunk-max 10 -f srt '%s'",
                            harness_hark_bin(), s.url, wav);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(r.body, "f880 a0.18"); /* the test engine's text: the chunks differ */
    ASSERT_STREQ(srt, r.body);
    reply_free(&r);
    /* text, against the server's own text answer */
    fields[1] = "text";
    r = http_form(&s, "/v1/audio/transcriptions", NULL, fields, wav);
    ASSERT_EQ(r.status, 200);
    txt = harness_sh_output(&st,
                            "'%s' transcribe -q --no-store --no-cache -e remote --url %s/v1 "
                            "--no-vad --chunk-max 10 '%s' | tr '\\n' ' ' | sed 's/ *$//'",
                            harness_hark_bin(), s.url, wav);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(strlen(txt) + 1, r.len); /* the server ends its text with one newline */
    ASSERT(strncmp(txt, r.body, strlen(txt)) == 0);
    free(srt);
    free(txt);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 10000), 0);
}

TEST(segments_words_and_confidence_come_back)
{
    server s;
    size_t n, i;
    float *pcm = tones(20, &n);
    hark_engine *e;
    hark_transcript *t = NULL;

    server_start(&s, "--vad off --engine test");
    e = open_remote(s.url, 30000, 0, NULL);
    ASSERT_OK(run_pcm(e, pcm, n, &t));
    ASSERT_EQ(hark_transcript_count(t), 2);
    for (i = 0; i < 2; i++) {
        const hark_segment *g = hark_transcript_segment(t, i);
        ASSERT_EQ(g->start, (int64_t)i * 10 * SEC);
        ASSERT_EQ(g->end, (int64_t)(i + 1) * 10 * SEC);
        ASSERT_NEAR(g->confidence, 1.0, 1e-6);
        ASSERT_EQ(g->n_words, 10); /* the test engine's one word per second */
        ASSERT_STREQ(g->words[3].text, "w3");
        ASSERT_EQ(g->words[3].start, (int64_t)i * 10 * SEC + 3 * SEC);
        ASSERT_EQ(g->words[3].end, (int64_t)i * 10 * SEC + 4 * SEC);
    }
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, "f440 a0.14");
    ASSERT_STREQ(hark_transcript_segment(t, 1)->text, "f880 a0.18");
    ASSERT_STREQ(hark_transcript_meta(t, "engine"), "remote");
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
    ASSERT_EQ(server_stop(&s, SIGTERM, 10000), 0);
}

TEST(one_connection_per_worker_is_reused_unless_forbidden)
{
    server s;
    size_t n;
    float *pcm = tones(40, &n);
    hark_engine *e;
    hark_transcript *t = NULL;
    hark__remote_stats st;

    server_start(&s, "--vad off --engine test");
    e = open_remote(s.url, 30000, 0, NULL);
    ASSERT_OK(run_pcm(e, pcm, n, &t));
    hark__remote_stats_get(e, &st);
    ASSERT_EQ(st.requests, 4);
    ASSERT_EQ(st.attempts, 4);
    ASSERT_EQ(st.connects, 1); /* keep-alive: one handshake for four chunks */
    ASSERT_EQ(st.audio_samples, n);
    /* FLAC: well under the 64,000 bytes a second of 16-bit PCM would take */
    ASSERT_LT(st.bytes_sent, 4 * 10 * 32000);
    ASSERT_LT(10000, st.bytes_sent);
    hark_transcript_free(t);
    hark_engine_free(e);

    {
        hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
        eo.url = s.url;
        eo.retries = 0;
        eo.fresh_connections = 1;
        ASSERT_OK(hark_engine_open(&e, "remote", &eo));
    }
    ASSERT_OK(run_pcm(e, pcm, n, &t));
    hark__remote_stats_get(e, &st);
    ASSERT_EQ(st.attempts, 4);
    ASSERT_EQ(st.connects, 4);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
    ASSERT_EQ(server_stop(&s, SIGTERM, 10000), 0);
}

TEST(server_keys_are_sent_as_bearer_tokens)
{
    server s;
    size_t n;
    float *pcm = tones(10, &n);
    hark_engine *e;
    hark_transcript *t = NULL;
    hark_store *st = NULL;
    int64_t uid = 0, kid = 0;
    char token[HARK_KEY_TOKEN_LEN + 1], prefix[HARK_KEY_PREFIX_LEN + 1];
    uint8_t digest[32];

    /* a first start creates the database; then a key, and keys are required */
    server_start(&s, "--vad off --engine test");
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    ASSERT_OK(hark_store_open(&st, s.db));
    ASSERT_OK(hark_store_user_create(st, "laptop", &uid));
    ASSERT_OK(hark_key_generate(token, digest));
    memcpy(prefix, token, HARK_KEY_PREFIX_LEN);
    prefix[HARK_KEY_PREFIX_LEN] = '\0';
    ASSERT_OK(hark_store_key_create(st, uid, "test", 0, digest, prefix, &kid));
    hark_store_free(st);
    server_start(&s, "--vad off --engine test");

    e = open_remote(s.url, 30000, 3, NULL);
    ASSERT_ERR(run_pcm(e, pcm, n, &t), HARK_EAUTH);
    ASSERT_CONTAINS(hark_error_last(), "HTTP 401");
    hark_transcript_free(t);
    hark_engine_free(e);
    e = open_remote(s.url, 30000, 3, token);
    ASSERT_OK(run_pcm(e, pcm, n, &t));
    ASSERT_EQ(hark_transcript_count(t), 1);
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, "f440 a0.14");
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
    ASSERT_EQ(server_stop(&s, SIGTERM, 10000), 0);
}

/* ---- against the scripted server ---------------------------------------------------------- */

/* Run 10 s of audio (one chunk) against `acts`; returns the run's code. */
static int scripted(script_server *ss, const script_act *acts, int n_acts, unsigned timeout_ms,
                    int retries, const char *key, hark_transcript **t)
{
    size_t n;
    float *pcm = tones(10, &n);
    hark_engine *e;
    int rc;
    script_start(ss, acts, n_acts);
    e = open_remote(ss->url, timeout_ms, retries, key);
    rc = run_pcm(e, pcm, n, t);
    hark_engine_free(e);
    free(pcm);
    return rc;
}

TEST(the_request_is_a_flac_upload_asking_for_verbose_json)
{
    script_server ss;
    hark_transcript *t = NULL;
    const char *req, *flac;
    hark_decoder *dec = NULL;
    float *back, *pcm;
    size_t n, got = 0, i;

    ASSERT_OK(scripted(&ss, NULL, 0, 10000, 0, "sk-123", &t));
    pthread_mutex_lock(&ss.mu);
    req = ss.first_request;
    pthread_mutex_unlock(&ss.mu);
    ASSERT(req != NULL);
    ASSERT(strncmp(req, "POST /v1/audio/transcriptions HTTP/1.1\r\n", 40) == 0);
    ASSERT_CONTAINS(req, "\r\nAuthorization: Bearer sk-123\r\n");
    ASSERT_MSG(memmem(req, ss.first_len, "name=\"model\"\r\n\r\ntiny-test\r\n",
                      strlen("name=\"model\"\r\n\r\ntiny-test\r\n")),
               "no %s", "name=\"model\"\r\n\r\ntiny-test\r\n");
    ASSERT_MSG(memmem(req, ss.first_len, "name=\"response_format\"\r\n\r\nverbose_json\r\n",
                      strlen("name=\"response_format\"\r\n\r\nverbose_json\r\n")),
               "no %s", "name=\"response_format\"\r\n\r\nverbose_json\r\n");
    ASSERT_MSG(memmem(req, ss.first_len, "name=\"timestamp_granularities[]\"\r\n\r\nword\r\n",
                      strlen("name=\"timestamp_granularities[]\"\r\n\r\nword\r\n")),
               "no %s", "name=\"timestamp_granularities[]\"\r\n\r\nword\r\n");
    ASSERT_CONTAINS(req, "filename=\"chunk.flac\"\r\nContent-Type: audio/flac\r\n");
    /* the file part decodes to exactly the samples sent */
    flac = memmem(req, ss.first_len, "fLaC", 4);
    ASSERT(flac != NULL);
    {
        const char *end = memmem(flac, ss.first_len - (size_t)(flac - req), "\r\n--", 4);
        ASSERT(end != NULL);
        ASSERT_OK(harness_write_file(harness_path("up.flac"), flac, (size_t)(end - flac)));
        ASSERT_LT((double)(end - flac), 10 * SEC * 2 * 0.7); /* compressed */
    }
    ASSERT_OK(hark_decoder_open(&dec, harness_path("up.flac"), NULL));
    pcm = tones(10, &n);
    back = malloc((n + 100) * sizeof(float));
    ASSERT(back != NULL);
    for (;;) {
        size_t k = 0;
        ASSERT_OK(hark_decoder_read(dec, back + got, n + 100 - got, &k));
        if (k == 0)
            break;
        got += k;
    }
    ASSERT_EQ(got, n);
    for (i = 0; i < n; i++)
        ASSERT_MSG(back[i] == pcm[i], "sample %zu: %g != %g", i, (double)back[i], (double)pcm[i]);
    hark_decoder_free(dec);
    free(back);
    free(pcm);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(openai_answers_become_segments_with_their_words)
{
    script_server ss;
    hark_transcript *t = NULL;
    const hark_segment *g;

    ASSERT_OK(scripted(&ss, NULL, 0, 10000, 0, NULL, &t));
    script_stop(&ss);
    ASSERT_EQ(hark_transcript_count(t), 2);
    g = hark_transcript_segment(t, 0);
    ASSERT_STREQ(g->text, " hello");
    ASSERT_EQ(g->start, 0);
    ASSERT_EQ(g->end, 24000);
    ASSERT_NEAR(g->confidence, exp(-0.1), 1e-5); /* from avg_logprob */
    ASSERT_EQ(g->n_words, 1);
    ASSERT_STREQ(g->words[0].text, "hello");
    ASSERT_EQ(g->words[0].start, 1600);
    g = hark_transcript_segment(t, 1);
    ASSERT_STREQ(g->text, " world");
    ASSERT_NEAR(g->confidence, exp(-0.5), 1e-5);
    ASSERT_EQ(g->n_words, 1);
    ASSERT_STREQ(g->words[0].text, "world");
    ASSERT_EQ(g->words[0].end, 40000);
    hark_transcript_free(t);
}

TEST(plain_json_answers_are_one_segment)
{
    script_server ss;
    hark_transcript *t = NULL;
    size_t n;
    float *pcm = tones(10, &n);
    hark_engine *e;
    script_start(&ss, NULL, 0);
    ss.ok_body = "{\"text\":\" just text\"}";
    e = open_remote(ss.url, 10000, 0, NULL);
    ASSERT_OK(run_pcm(e, pcm, n, &t));
    ASSERT_EQ(hark_transcript_count(t), 1);
    ASSERT_STREQ(hark_transcript_segment(t, 0)->text, " just text");
    ASSERT_EQ(hark_transcript_segment(t, 0)->end, 10 * SEC);
    hark_transcript_free(t);
    /* garbage is an engine failure, not a crash */
    ss.ok_body = "<html>oops</html>";
    ASSERT_ERR(run_pcm(e, pcm, n, &t), HARK_EENGINE);
    ASSERT_CONTAINS(hark_error_last(), "not a JSON object");
    hark_transcript_free(t);
    hark_engine_free(e);
    script_stop(&ss);
    free(pcm);
}

TEST(a_429_waits_for_retry_after)
{
    static const script_act acts[] = { S_429, S_OK };
    script_server ss;
    hark_transcript *t = NULL;
    double gap;

    ASSERT_OK(scripted(&ss, acts, 2, 10000, 3, NULL, &t));
    gap = script_at(&ss, 1) - script_at(&ss, 0);
    ASSERT_EQ(script_requests(&ss), 2);
    ASSERT_LE(990, gap); /* Retry-After: 1, beyond the 250 ms the backoff alone would wait */
    ASSERT_LT(gap, 3000);
    ASSERT_EQ(hark_transcript_count(t), 2);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(5xx_answers_back_off_exponentially)
{
    static const script_act acts[] = { S_500, S_500, S_500, S_OK };
    script_server ss;
    hark_transcript *t = NULL;
    double g1, g2, g3;

    ASSERT_OK(scripted(&ss, acts, 4, 10000, 4, NULL, &t));
    ASSERT_EQ(script_requests(&ss), 4);
    g1 = script_at(&ss, 1) - script_at(&ss, 0);
    g2 = script_at(&ss, 2) - script_at(&ss, 1);
    g3 = script_at(&ss, 3) - script_at(&ss, 2);
    ASSERT_LE(245, g1);
    ASSERT_LE(495, g2);
    ASSERT_LE(995, g3);
    ASSERT_LT(g1, g3);
    ASSERT_EQ(script_connections(&ss), 1); /* error answers keep the connection */
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(retries_run_out_with_the_servers_message)
{
    static const script_act acts[] = { S_500, S_500, S_500, S_500 };
    script_server ss;
    hark_transcript *t = NULL;

    ASSERT_ERR(scripted(&ss, acts, 4, 10000, 2, NULL, &t), HARK_EENGINE);
    ASSERT_CONTAINS(hark_error_last(), "HTTP 500: the model fell over");
    ASSERT_CONTAINS(hark_error_last(), "chunk 0");
    ASSERT_EQ(script_requests(&ss), 3);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(client_errors_are_not_retried)
{
    static const script_act acts[] = { S_401 };
    script_server ss;
    hark_transcript *t = NULL;

    ASSERT_ERR(scripted(&ss, acts, 1, 10000, 4, "nope", &t), HARK_EAUTH);
    ASSERT_CONTAINS(hark_error_last(), "HTTP 401: bad key");
    usleep(300000);
    ASSERT_EQ(script_requests(&ss), 1);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(a_hanging_server_times_out_and_is_retried)
{
    static const script_act acts[] = { S_HANG, S_OK };
    script_server ss;
    hark_transcript *t = NULL;
    double t0 = now_ms(), took;

    ASSERT_OK(scripted(&ss, acts, 2, 700, 2, NULL, &t));
    took = now_ms() - t0;
    ASSERT_EQ(script_requests(&ss), 2);
    ASSERT_EQ(script_connections(&ss), 2); /* the timed-out connection is not reused */
    ASSERT_LE(700, script_at(&ss, 1) - script_at(&ss, 0));
    ASSERT_LT(took, 5000);
    ASSERT_EQ(hark_transcript_count(t), 2);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(a_server_that_always_hangs_fails_with_a_timeout)
{
    static const script_act acts[] = { S_HANG, S_HANG, S_HANG };
    script_server ss;
    hark_transcript *t = NULL;
    double t0 = now_ms();

    ASSERT_ERR(scripted(&ss, acts, 3, 400, 1, NULL, &t), HARK_ETIMEOUT);
    ASSERT_CONTAINS(hark_error_last(), "timed out");
    ASSERT_EQ(script_requests(&ss), 2);
    ASSERT_LT(now_ms() - t0, 5000);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(an_answer_cut_short_is_retried)
{
    static const script_act acts[] = { S_CUT, S_CUT, S_OK };
    script_server ss;
    hark_transcript *t = NULL;

    ASSERT_OK(scripted(&ss, acts, 3, 10000, 3, NULL, &t));
    ASSERT_EQ(script_requests(&ss), 3);
    ASSERT_EQ(script_connections(&ss), 3);
    ASSERT_EQ(hark_transcript_count(t), 2);
    script_stop(&ss);
    hark_transcript_free(t);
}

TEST(nobody_listening_is_a_network_error)
{
    script_server ss;
    unsigned port;
    char url[64];
    size_t n;
    float *pcm = tones(10, &n);
    hark_engine *e;
    hark_transcript *t = NULL;

    script_start(&ss, NULL, 0); /* a port that was free a moment ago */
    port = ss.http.port;
    script_stop(&ss);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
    e = open_remote(url, 2000, 1, NULL);
    ASSERT_ERR(run_pcm(e, pcm, n, &t), HARK_ENETWORK);
    ASSERT_CONTAINS(hark_error_last(), url);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}

/* ---- configuration ------------------------------------------------------------------------ */

TEST(bad_urls_are_refused_when_the_engine_opens)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_engine *e = NULL;
    hark_buf id = HARK_BUF_INIT;
    char *out;
    int st;

    ASSERT_ERR(hark_engine_open(&e, "remote", &eo), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "--url");
    eo.url = "ftp://example.org/v1";
    ASSERT_ERR(hark_engine_open(&e, "remote", &eo), HARK_EINVAL);
    eo.url = "http:///v1";
    ASSERT_ERR(hark_engine_open(&e, "remote", &eo), HARK_EINVAL);
    /* identities name the endpoint and model, never the key */
    eo.url = "https://api.example.org/";
    eo.api_key = "secret-key";
    eo.remote_model = "large";
    ASSERT_OK(hark_engine_open(&e, "remote", &eo));
    ASSERT_OK(hark_engine_identity(e, &id));
    ASSERT_STREQ(id.ptr, "remote:https://api.example.org/v1/audio/transcriptions model=large");
    hark_buf_dispose(&id);
    hark_engine_free(e);
    eo.url = "http://10.0.0.2:8080/inference";
    ASSERT_OK(hark_engine_open(&e, "remote", &eo));
    ASSERT_OK(hark_engine_identity(e, &id));
    ASSERT_STREQ(id.ptr, "remote:http://10.0.0.2:8080/inference model=large");
    hark_buf_dispose(&id);
    hark_engine_free(e);
    /* version 1 callers still work */
    {
        hark_engine_options v1 = HARK_ENGINE_OPTIONS_INIT;
        v1.version = 1;
        ASSERT_OK(hark_engine_open(&e, "test", &v1));
        hark_engine_free(e);
    }
    /* the CLI: usage errors */
    {
        size_t n;
        float *pcm = tones(1, &n);
        ASSERT_OK(hark_wav_write(harness_path("a.wav"), pcm, n));
        free(pcm);
    }
    ASSERT_EQ(chdir(harness_tmpdir()), 0);
    out = harness_sh_output(&st, "'%s' transcribe -e remote a.wav 2>&1", harness_hark_bin());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "--url");
    free(out);
    out = harness_sh_output(&st, "'%s' transcribe -e remote --url ftp://x a.wav 2>&1",
                            harness_hark_bin());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "not an http");
    free(out);
    out = harness_sh_output(&st, "'%s' transcribe --url http://x a.wav 2>&1", harness_hark_bin());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "add -e remote");
    free(out);
}

TEST(task_translate_uses_the_translations_endpoint)
{
    script_server ss;
    size_t n;
    float *pcm = tones(10, &n);
    const char *wav = harness_path("t.wav");
    char *out;
    int st;

    ASSERT_OK(hark_wav_write(wav, pcm, n));
    free(pcm);
    script_start(&ss, NULL, 0);
    out = harness_sh_output(&st,
                            "'%s' transcribe -q --no-store --no-cache -e remote --url %s "
                            "--task translate --no-vad '%s'",
                            harness_hark_bin(), ss.url, wav);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "hello");
    free(out);
    pthread_mutex_lock(&ss.mu);
    ASSERT(ss.first_request && !strncmp(ss.first_request, "POST /v1/audio/translations ", 28));
    pthread_mutex_unlock(&ss.mu);
    script_stop(&ss);
    out = harness_sh_output(&st, "'%s' transcribe -e test --task summarise '%s' 2>&1",
                            harness_hark_bin(), wav);
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "--task is transcribe or translate");
    free(out);
}
