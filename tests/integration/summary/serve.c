/*
 * serve.c: summaries and translations through a real `hark serve` (test
 * engine) and `hark summarize`, with the scripted chat-completions server
 * (chat.h) as the model: 501 when no endpoint is configured, a summary job
 * below transcription that waits for its transcript, the request it sent,
 * failures dead-lettered with the server's message while the server stays
 * up, Retry-After honoured, the summary surviving kill -9 and a restart,
 * the command line's config layers, and translation (422 on PocketSphinx).
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "chat.h"
#include "../server/client.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static json_t *body_json(const reply *r)
{
    json_t *o = json_loads(r->body ? r->body : "", 0, NULL);
    ASSERT_MSG(o != NULL, "not JSON (status %ld): %s", r->status, r->body ? r->body : "");
    return o;
}

static long long json_id(const reply *r, const char *key)
{
    json_t *o = body_json(r);
    long long v = (long long)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* Upload a tone and wait for its transcription; returns the recording id. */
static long long upload_done(const server *s, const char *name, int hz)
{
    reply r = http_form(s, "/v1/recordings", NULL, NULL, tone(name, 2, hz));
    long long rec, job;
    ASSERT_MSG(r.status == 202, "upload: %ld %s", r.status, r.body);
    rec = json_id(&r, "recording");
    job = json_id(&r, "job");
    reply_free(&r);
    ASSERT_STREQ(wait_job(s, NULL, job, 30000), "done");
    return rec;
}

/* The summary (or translation) text stored for rec, or NULL (caller frees). */
static char *stored(const server *s, long long rec, const char *what)
{
    char path[128];
    reply r;
    json_t *o, *v;
    char *out = NULL;
    snprintf(path, sizeof(path), "/v1/recordings/%lld/%s", rec, what);
    r = http(s, "GET", path, NULL, NULL, 0);
    if (r.status == 200) {
        o = body_json(&r);
        v = json_object_get(o, what);
        if (json_is_string(v))
            out = strdup(json_string_value(v));
        json_decref(o);
    }
    reply_free(&r);
    return out;
}

static char *transcript_text(const server *s, long long rec)
{
    reply r = httpf(s, "GET", "/v1/recordings/%lld/transcript?format=txt", rec);
    char *t;
    size_t n;
    ASSERT_EQ(r.status, 200);
    t = strdup(r.body);
    n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == ' '))
        t[--n] = '\0';
    reply_free(&r);
    return t;
}

TEST(without_an_endpoint_the_route_answers_501_and_the_cli_fails)
{
    server s;
    reply r;
    long long rec;
    char *out;
    int st;

    server_start(&s, "--engine test --vad off");
    rec = upload_done(&s, "a.wav", 440);
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec);
    ASSERT_EQ(r.status, 501);
    ASSERT_CONTAINS(r.body, "\"code\":\"not_configured\"");
    ASSERT_CONTAINS(r.body, "--summary-url");
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/recordings/%lld/summary", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"summary\":null");
    ASSERT_CONTAINS(r.body, "\"job\":null");
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/recordings/%lld/summary", rec + 100);
    ASSERT_EQ(r.status, 404);
    reply_free(&r);
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec + 100);
    ASSERT_EQ(r.status, 404);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);

    out = harness_sh_output(&st,
                            "env -u HARK_SUMMARY_URL XDG_CONFIG_HOME='%s' '%s' summarize %lld "
                            "--db '%s' 2>&1",
                            harness_tmpdir(), harness_hark_bin(), rec, s.db);
    ASSERT(st != 0);
    ASSERT_CONTAINS(out, "no summary server configured");
    ASSERT_CONTAINS(out, "--summary-url");
    free(out);
}

TEST(a_summary_job_waits_for_its_transcript_runs_and_survives_a_restart)
{
    chat_server cs;
    server s;
    reply r;
    long long rec, tjob, sjob;
    char extra[512], *sum, *text, *body;
    json_t *o, *msgs;

    harness_timeout(180);
    chat_start(&cs, NULL, 0);
    /* transcription takes a while (delay per chunk): the summary is asked for at once */
    snprintf(extra, sizeof(extra),
             "--engine test --model delay=400 --vad off --summary-url %s --summary-model m1",
             cs.url);
    server_start(&s, extra);
    r = http_form(&s, "/v1/recordings", NULL, NULL, tone("b.wav", 2, 440));
    ASSERT_EQ(r.status, 202);
    rec = json_id(&r, "recording");
    tjob = json_id(&r, "job");
    reply_free(&r);
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec);
    ASSERT_MSG(r.status == 202, "%ld %s", r.status, r.body);
    sjob = json_id(&r, "job");
    ASSERT(sjob != tjob);
    reply_free(&r);
    /* asked again while it is pending: the same job */
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(json_id(&r, "job"), sjob);
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/jobs/%lld", sjob);
    ASSERT_CONTAINS(r.body, "\"kind\":\"summarize\"");
    ASSERT_CONTAINS(r.body, "\"priority\":\"maintenance\"");
    reply_free(&r);
    ASSERT_STREQ(wait_job(&s, NULL, sjob, 60000), "done");
    ASSERT_STREQ(wait_job(&s, NULL, tjob, 1000), "done");
    /* the model got the whole transcript, once the transcription was done */
    text = transcript_text(&s, rec);
    ASSERT(strlen(text) > 0);
    ASSERT_EQ(chat_requests(&cs), 1);
    body = chat_body(&cs, 0);
    o = json_loads(body, 0, NULL);
    ASSERT(o != NULL);
    ASSERT_STREQ(json_string_value(json_object_get(o, "model")), "m1");
    msgs = json_object_get(o, "messages");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(msgs, 1), "content")), text);
    json_decref(o);
    free(body);
    sum = stored(&s, rec, "summary");
    ASSERT(sum != NULL);
    ASSERT(strncmp(sum, "S1 words=", 9) == 0);
    r = httpf(&s, "GET", "/v1/recordings/%lld/summary", rec);
    ASSERT_CONTAINS(r.body, "\"state\":\"done\"");
    ASSERT_CONTAINS(r.body, "\"model\":\"m1\"");
    reply_free(&r);
    /* and the recording itself shows it */
    r = httpf(&s, "GET", "/v1/recordings/%lld", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"summary\":{\"text\":\"S1 words=");
    ASSERT_CONTAINS(r.body, "\"translation\":null");
    reply_free(&r);
    /* kill -9 and a restart on the same database: the summary is still there */
    ASSERT_EQ(server_stop(&s, SIGKILL, 20000), 128 + SIGKILL);
    server_start_at(&s, "hark.db", "--engine test --vad off");
    {
        char *again = stored(&s, rec, "summary");
        ASSERT_STREQ(again, sum);
        free(again);
    }
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    ASSERT_EQ(chat_requests(&cs), 1);
    free(sum);
    free(text);
    chat_stop(&cs);
}

TEST(endpoint_failures_dead_letter_the_job_with_the_message_and_the_server_stays_up)
{
    static const chat_act acts[] = { C_500, C_BADJSON };
    chat_server cs;
    server s;
    reply r;
    long long rec, job;
    char extra[512];

    chat_start(&cs, acts, 2);
    snprintf(extra, sizeof(extra),
             "--engine test --vad off --summary-url %s --max-attempts 2 --backoff 100ms", cs.url);
    server_start(&s, extra);
    rec = upload_done(&s, "c.wav", 440);
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec);
    ASSERT_EQ(r.status, 202);
    job = json_id(&r, "job");
    reply_free(&r);
    ASSERT_STREQ(wait_job(&s, NULL, job, 30000), "dead");
    ASSERT_EQ(chat_requests(&cs), 2);
    r = httpf(&s, "GET", "/v1/recordings/%lld/summary", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"summary\":null");
    ASSERT_CONTAINS(r.body, "\"state\":\"dead\"");
    ASSERT_CONTAINS(r.body, "not JSON");
    reply_free(&r);
    r = http(&s, "GET", "/health", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    /* retried by hand, it works (the script has run out: OK answers) */
    r = httpf(&s, "POST", "/v1/jobs/%lld/retry", job);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    ASSERT_STREQ(wait_job(&s, NULL, job, 30000), "done");
    {
        char *sum = stored(&s, rec, "summary");
        ASSERT(sum != NULL && strncmp(sum, "S1 ", 3) == 0);
        free(sum);
    }
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    chat_stop(&cs);
}

TEST(a_rate_limited_summary_is_retried_after_retry_after)
{
    static const chat_act acts[] = { C_429 };
    chat_server cs;
    server s;
    reply r;
    long long rec, job;
    char extra[512];
    double t0;

    harness_timeout(120);
    chat_start(&cs, acts, 1);
    cs.retry_after_s = 2;
    snprintf(extra, sizeof(extra),
             "--engine test --vad off --summary-url %s --backoff 100ms --summary-timeout 5s",
             cs.url);
    server_start(&s, extra);
    rec = upload_done(&s, "d.wav", 440);
    t0 = now_ms();
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec);
    job = json_id(&r, "job");
    reply_free(&r);
    ASSERT_STREQ(wait_job(&s, NULL, job, 30000), "done");
    ASSERT_EQ(chat_requests(&cs), 2);
    ASSERT(now_ms() - t0 >= 1900); /* the backoff is 100 ms; Retry-After asked for 2 s */
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    chat_stop(&cs);
}

TEST(a_slow_endpoint_times_out_and_the_job_records_it)
{
    static const chat_act acts[] = { C_SLOW, C_SLOW };
    chat_server cs;
    server s;
    reply r;
    long long rec, job;
    char extra[512];

    chat_start(&cs, acts, 2);
    cs.slow_ms = 10000;
    snprintf(extra, sizeof(extra),
             "--engine test --vad off --summary-url %s --summary-timeout 300ms "
             "--max-attempts 2 --backoff 100ms",
             cs.url);
    server_start(&s, extra);
    rec = upload_done(&s, "e.wav", 440);
    r = httpf(&s, "POST", "/v1/recordings/%lld/summary", rec);
    job = json_id(&r, "job");
    reply_free(&r);
    ASSERT_STREQ(wait_job(&s, NULL, job, 30000), "dead");
    r = httpf(&s, "GET", "/v1/jobs/%lld", job);
    ASSERT_CONTAINS(r.body, "timed out");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    chat_stop(&cs);
}

TEST(hark_summarize_uses_flags_over_environment_over_the_config_file)
{
    chat_server cs;
    server s;
    long long rec;
    char *out, conf[600];
    int st;
    json_t *o;

    chat_start(&cs, NULL, 0);
    server_start(&s, "--engine test --vad off");
    rec = upload_done(&s, "f.wav", 440);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);

    /* the config file names the server and a model */
    snprintf(conf, sizeof(conf), "summary_url = %s\nsummary_model = from-file\n", cs.url);
    ASSERT_OK(harness_write_file(harness_path("summary.conf"), conf, strlen(conf)) < 0 ? -1 : 0);
    out = harness_sh_output(&st,
                            "env -u HARK_SUMMARY_URL -u HARK_SUMMARY_MODEL '%s' summarize "
                            "%lld --db '%s' --config '%s' --json",
                            harness_hark_bin(), rec, s.db, harness_path("summary.conf"));
    ASSERT_MSG(st == 0, "exit %d: %s", st, out);
    o = json_loads(out, 0, NULL);
    ASSERT(o != NULL);
    ASSERT(strncmp(json_string_value(json_object_get(o, "summary")), "S1 words=", 9) == 0);
    ASSERT_EQ(json_integer_value(json_object_get(o, "requests")), 1);
    json_decref(o);
    free(out);
    {
        char *b = chat_body(&cs, 0);
        ASSERT_CONTAINS(b, "\"model\":\"from-file\"");
        free(b);
    }
    /* the environment beats the file, a flag beats the environment */
    out = harness_sh_output(&st,
                            "HARK_SUMMARY_MODEL=from-env '%s' summarize %lld --db '%s' "
                            "--config '%s'",
                            harness_hark_bin(), rec, s.db, harness_path("summary.conf"));
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "S2 words=");
    free(out);
    {
        char *b = chat_body(&cs, 1);
        ASSERT_CONTAINS(b, "\"model\":\"from-env\"");
        free(b);
    }
    out = harness_sh_output(&st,
                            "HARK_SUMMARY_MODEL=from-env '%s' summarize %lld --db '%s' "
                            "--config '%s' --summary-model from-flag",
                            harness_hark_bin(), rec, s.db, harness_path("summary.conf"));
    ASSERT_EQ(st, 0);
    free(out);
    {
        char *b = chat_body(&cs, 2);
        ASSERT_CONTAINS(b, "\"model\":\"from-flag\"");
        free(b);
    }
    /* the CLI stored its summary where the server finds it */
    server_start_at(&s, "hark.db", "--engine test --vad off");
    {
        char *sum = stored(&s, rec, "summary");
        ASSERT(sum != NULL && strncmp(sum, "S3 words=", 9) == 0);
        free(sum);
    }
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    /* an unknown recording, and an endpoint that fails */
    out = harness_sh_output(&st, "'%s' summarize 999 --db '%s' --summary-url %s 2>&1",
                            harness_hark_bin(), s.db, cs.url);
    ASSERT_EQ(st, 3);
    free(out);
    out = harness_sh_output(&st,
                            "'%s' summarize %lld --db '%s' --summary-url http://127.0.0.1:1 "
                            "2>&1",
                            harness_hark_bin(), rec, s.db);
    ASSERT_EQ(st, 8);
    ASSERT_CONTAINS(out, "127.0.0.1:1");
    free(out);
    chat_stop(&cs);
}

TEST(translation_is_a_job_below_transcription_and_pocketsphinx_cannot)
{
    server s;
    reply r;
    long long rec, job;
    char *tr, *text;

    server_start(&s, "--engine test --vad off");
    rec = upload_done(&s, "g.wav", 440);
    r = httpf(&s, "POST", "/v1/recordings/%lld/translation", rec);
    ASSERT_MSG(r.status == 202, "%ld %s", r.status, r.body);
    job = json_id(&r, "job");
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/jobs/%lld", job);
    ASSERT_CONTAINS(r.body, "\"kind\":\"translate\"");
    ASSERT_CONTAINS(r.body, "\"priority\":\"maintenance\"");
    reply_free(&r);
    ASSERT_STREQ(wait_job(&s, NULL, job, 30000), "done");
    tr = stored(&s, rec, "translation");
    text = transcript_text(&s, rec);
    /* the test engine marks what it translated; the transcript is left alone */
    ASSERT(tr != NULL);
    ASSERT(strncmp(tr, "en: f440", 8) == 0);
    ASSERT(strstr(text, "en:") == NULL);
    ASSERT(strncmp(text, "f440", 4) == 0);
    free(tr);
    free(text);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);

    if (access("/usr/share/pocketsphinx/model/en-us", R_OK) != 0)
        return;
    server_start_at(&s, "hark.db", "--engine pocketsphinx --vad off");
    r = httpf(&s, "POST", "/v1/recordings/%lld/translation", rec);
    ASSERT_EQ(r.status, 422);
    ASSERT_CONTAINS(r.body, "cannot translate");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(print_config_never_shows_the_summary_api_key)
{
    int st;
    char *out =
        harness_sh_output(&st,
                          "HARK_SUMMARY_URL=http://llm:8081 XDG_CONFIG_HOME='%s' '%s' serve "
                          "--print-config --summary-api-key sk-secret-123",
                          harness_tmpdir(), harness_hark_bin());
    ASSERT_EQ(st, 0);
    ASSERT(strstr(out, "sk-secret-123") == NULL);
    ASSERT_CONTAINS(out, "(set, 13 characters)");
    ASSERT_CONTAINS(out, "http://llm:8081");
    ASSERT_CONTAINS(out, "environment");
    free(out);
}
