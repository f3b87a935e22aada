/*
 * live.c: live sessions (docs/live.md) against a real `hark serve`, driven by
 * live_client.py (Debian's python3-websockets): a stream matches the batch
 * transcript, a dropped connection and a server killed with -9 resume with
 * nothing lost or doubled, bad input gets its close code, the Vosk endpoint
 * answers every message, keys apply.
 */
#include <jansson.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "client.h"
#include "hark/hark.h"

#define PY "/usr/bin/python3"

static void need_client(void)
{
    int st;
    char *o = harness_sh_output(&st, PY " -c 'import websockets' 2>&1");
    free(o);
    if (st != 0)
        SKIP("python3-websockets is not installed");
}

/* Run live_client.py with `args`; returns the JSON of its last line (caller frees). */
static json_t *client(const char *args)
{
    int st;
    char *out = harness_sh_output(&st, PY " '%s/tests/integration/server/live_client.py' %s",
                                  HARK_SOURCE_DIR, args);
    char *last;
    json_t *o;
    size_t n = strlen(out);
    ASSERT_MSG(st == 0, "live_client.py %s failed (%d): %s", args, st, out);
    while (n && out[n - 1] == '\n')
        out[--n] = '\0';
    last = strrchr(out, '\n');
    o = json_loads(last ? last + 1 : out, 0, NULL);
    ASSERT_MSG(o != NULL, "not JSON: %s", out);
    free(out);
    return o;
}

static const char *speech(void)
{
    return harness_shared_file("corpus/en/1089-134686-0000.wav");
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    ASSERT_MSG(v != NULL, "no string '%s'", k);
    return v;
}

static char args_buf[2048];
static const char *argsf(const char *fmt, ...) HARK_PRINTF(1, 2);
static const char *argsf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args_buf, sizeof(args_buf), fmt, ap);
    va_end(ap);
    return args_buf;
}

TEST(a_live_stream_matches_the_batch_transcript)
{
    server s;
    json_t *o;
    reply r;
    hark_wer_counts wc;
    char *batch;
    const char *wav = speech();
    need_client();
    harness_timeout(300);
    server_start(&s, "--engine pocketsphinx");
    /* the batch transcript of the same file, on the same server */
    {
        const char *f[] = { "response_format", "text", NULL };
        r = http_form(&s, "/v1/audio/transcriptions", NULL, f, wav);
        ASSERT_EQ(r.status, 200);
        batch = strdup(r.body);
        reply_free(&r);
    }
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --speed 10", s.port, wav));
    ASSERT(json_is_true(json_object_get(o, "ended")));
    ASSERT(json_is_true(json_object_get(o, "order")));
    ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
    ASSERT_EQ(json_integer_value(json_object_get(o, "ack")),
              json_integer_value(json_object_get(o, "frames")));
    ASSERT_OK(hark_wer_score(batch, jstr(o, "text"), &wc));
    fprintf(stderr, "  live vs batch: WER %.1f%% (%s)\n", 100 * hark_wer_rate(&wc),
            jstr(o, "text"));
    ASSERT_MSG(hark_wer_rate(&wc) <= 0.15, "live differs from batch by %.1f%%",
               100 * hark_wer_rate(&wc));
    /* the session is a stored, searchable recording */
    r = http(&s, "GET", "/v1/search?q=dinner", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"hits\":[{");
    reply_free(&r);
    json_decref(o);
    free(batch);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(a_dropped_connection_resumes_with_nothing_lost_or_doubled)
{
    server s;
    json_t *ref, *o;
    const char *wav = speech();
    need_client();
    server_start(&s, "--engine test");
    ref = client(argsf("ws://127.0.0.1:%u/v1/live '%s'", s.port, wav));
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --drop-after 40", s.port, wav));
    ASSERT_STREQ(jstr(o, "text"), jstr(ref, "text"));
    ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
    ASSERT(json_is_true(json_object_get(o, "ended")));
    json_decref(o);
    json_decref(ref);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(kill_9_mid_session_then_resume_loses_nothing_acknowledged)
{
    server s;
    json_t *ref, *o;
    const char *wav = speech();
    const char *state = harness_path("state.json");
    need_client();
    harness_timeout(300);
    server_start_at(&s, "ref.db", "--engine test");
    ref = client(argsf("ws://127.0.0.1:%u/v1/live '%s'", s.port, wav));
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);

    server_start(&s, "--engine test --model delay=200");
    o = client(
        argsf("ws://127.0.0.1:%u/v1/live '%s' --stop-after 60 --state '%s'", s.port, wav, state));
    ASSERT(json_integer_value(json_object_get(o, "ack")) > 0);
    json_decref(o);
    ASSERT_EQ(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
    server_start(&s, "--engine test");
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --resume-state '%s'", s.port, wav, state));
    ASSERT_STREQ(jstr(o, "text"), jstr(ref, "text"));
    ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
    ASSERT(json_is_true(json_object_get(o, "ended")));
    json_decref(o);
    json_decref(ref);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

static void expect_bad(const server *s, const char *kind, int code, const char *err)
{
    json_t *o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --bad %s", s->port, speech(), kind));
    ASSERT_MSG(json_integer_value(json_object_get(o, "close")) == code,
               "%s: close code %lld, expected %d", kind,
               (long long)json_integer_value(json_object_get(o, "close")), code);
    if (err) {
        char *js = json_dumps(json_object_get(o, "errors"), 0);
        ASSERT_CONTAINS(js, err);
        free(js);
    }
    json_decref(o);
}

TEST(bad_live_input_gets_a_clear_close_and_the_server_stays_up)
{
    server s;
    reply r;
    json_t *o;
    need_client();
    server_start(&s, "--engine test");
    expect_bad(&s, "audio_first", 1003, "no_config");
    expect_bad(&s, "garbage", 1007, "invalid_json");
    expect_bad(&s, "bad_format", 1003, "bad_config");
    expect_bad(&s, "gap", 1007, "bad_sequence");
    { /* 1009, or 1006 when the close frame is lost to a reset (the frame was still arriving) */
        json_t *o2 =
            client(argsf("ws://127.0.0.1:%u/v1/live '%s' --bad oversized", s.port, speech()));
        json_int_t code = json_integer_value(json_object_get(o2, "close"));
        ASSERT_MSG(code == 1009 || code == 1006, "oversized frame: close code %lld",
                   (long long)code);
        json_decref(o2);
    }
    expect_bad(&s, "odd_bytes", 1007, "bad_frame");
    expect_bad(&s, "unknown_resume", 1008, "unknown_session");
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --bad duplicate", s.port, speech()));
    ASSERT_EQ(json_integer_value(json_object_get(o, "close")), 1000); /* resends are ignored */
    ASSERT_EQ(json_integer_value(json_object_get(o, "ack")), 3);
    json_decref(o);
    r = http(&s, "GET", "/v1/live", NULL, NULL, 0); /* not a WebSocket request */
    ASSERT_EQ(r.status, 426);
    reply_free(&r);
    r = http(&s, "GET", "/health", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(the_vosk_endpoint_answers_every_message)
{
    server s;
    json_t *o;
    need_client();
    server_start(&s, "--engine pocketsphinx");
    o = client(argsf("--vosk ws://127.0.0.1:%u/v1/live/vosk '%s'", s.port, speech()));
    ASSERT_EQ(json_integer_value(json_object_get(o, "replies")),
              json_integer_value(json_object_get(o, "frames")));
    ASSERT_CONTAINS(jstr(o, "text"), "dinner");
    json_decref(o);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(live_sessions_need_a_key_once_keys_exist)
{
    server s;
    json_t *o;
    char auth[160];
    need_client();
    server_start(&s, "--engine test");
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    server_make_key(s.db, "alice", 0, auth, NULL);
    server_start(&s, "--engine test");
    expect_bad(&s, "no_key", 1008, "unauthorized");
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --bad key_in_config --cfg-key '%s'", s.port,
                     speech(), auth + strlen("Authorization: Bearer ")));
    ASSERT_EQ(json_integer_value(json_object_get(o, "close")), 1000);
    json_decref(o);
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --key '%s'", s.port, speech(),
                     auth + strlen("Authorization: Bearer ")));
    ASSERT(json_is_true(json_object_get(o, "ended")));
    json_decref(o);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}
