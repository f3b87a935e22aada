/*
 * live.c: live sessions (docs/live.md) against a real `hark serve`, driven by
 * live_client.py (Debian's python3-websockets): a stream matches the batch
 * transcript, a dropped connection and a server killed with -9 resume with
 * nothing lost or doubled, bad input gets its close code, the Vosk endpoint
 * answers every message, keys apply.
 */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
    /* at real-time pace (as a microphone sends) and at 10x (a backlog) */
    for (int i = 0; i < 2; i++) {
        const double speed = i == 0 ? 1.0 : 10.0;
        o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --speed %g", s.port, wav, speed));
        ASSERT(json_is_true(json_object_get(o, "ended")));
        ASSERT(json_is_true(json_object_get(o, "order")));
        ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
        ASSERT_EQ(json_integer_value(json_object_get(o, "ack")),
                  json_integer_value(json_object_get(o, "frames")));
        ASSERT_OK(hark_wer_score(batch, jstr(o, "text"), &wc));
        fprintf(stderr, "  live at %gx vs batch: WER %.1f%% (%s)\n", speed,
                100 * hark_wer_rate(&wc), jstr(o, "text"));
        ASSERT_MSG(hark_wer_rate(&wc) <= 0.15, "live at %gx differs from batch by %.1f%%", speed,
                   100 * hark_wer_rate(&wc));
        json_decref(o);
    }
    /* the session is a stored, searchable recording */
    r = http(&s, "GET", "/v1/search?q=dinner", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"hits\":[{");
    reply_free(&r);
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

/* Finals made while no client is connected, and those sent on the connection that dropped,
 * come with the resume (the server keeps the last ones of a session). */
TEST(finals_made_while_the_client_is_away_come_with_the_resume)
{
    server s;
    json_t *ref, *o;
    /* 22.8 s, four utterances: the first ones end before the drop, their finals are made
     * while the client is away (the engine takes 300 ms per utterance) */
    const char *wav = harness_shared_file("corpus/en/3080-5032-0009.wav");
    need_client();
    server_start(&s, "--engine test --model delay=300");
    ref = client(argsf("ws://127.0.0.1:%u/v1/live '%s'", s.port, wav));
    o = client(
        argsf("ws://127.0.0.1:%u/v1/live '%s' --drop-after 180 --away-ms 4000", s.port, wav));
    ASSERT(json_integer_value(json_object_get(ref, "utterances")) >= 3);
    ASSERT_STREQ(jstr(o, "text"), jstr(ref, "text"));
    ASSERT(json_is_true(json_object_get(o, "order")));
    ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
    ASSERT_EQ(json_array_size(json_object_get(o, "missed")), 0);
    ASSERT(json_is_true(json_object_get(o, "ended")));
    json_decref(o);
    json_decref(ref);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* Stream `wav` uninterrupted on a server started with `opts` (the reference), then on one
 * started with `crash_opts` until frame `stop_after`, kill -9 it, restart it with
 * `restart_opts` and resume: the same finals, cut at the same places, none twice. */
static void kill_9_and_resume(const char *wav, const char *opts, const char *crash_opts,
                              const char *restart_opts, int stop_after)
{
    server s;
    json_t *ref, *o;
    const char *state = harness_path("state.json");
    need_client();
    harness_timeout(300);
    server_start_at(&s, "ref.db", opts);
    ref = client(argsf("ws://127.0.0.1:%u/v1/live '%s'", s.port, wav));
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);

    server_start(&s, crash_opts);
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --stop-after %d --state '%s'", s.port, wav,
                     stop_after, state));
    ASSERT(json_integer_value(json_object_get(o, "ack")) > 0);
    json_decref(o);
    ASSERT_EQ(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
    server_start(&s, restart_opts);
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --resume-state '%s'", s.port, wav, state));
    ASSERT_STREQ(jstr(o, "text"), jstr(ref, "text"));
    ASSERT_STREQ(jstr(o, "spans"), jstr(ref, "spans")); /* where the VAD cut */
    ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
    ASSERT(json_is_true(json_object_get(o, "ended")));
    json_decref(o);
    json_decref(ref);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(kill_9_mid_session_then_resume_loses_nothing_acknowledged)
{
    kill_9_and_resume(speech(), "--engine test", "--engine test --model delay=200", "--engine test",
                      60);
}

/* A session keeps the VAD it was started with (--live-lookahead) across a crash and a
 * restart with another setting: its utterances come out numbered and cut as before, so the
 * resume neither repeats nor skips one (the spans differ between the two VADs). */
TEST(a_session_keeps_its_vad_across_a_restart_with_another_setting)
{
    kill_9_and_resume(harness_shared_file("corpus/en/3080-5032-0009.wav"), /* 4 utterances */
                      "--engine test --live-lookahead on", "--engine test --live-lookahead on",
                      "--engine test", 150);
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

/* ---- the session's audio, archived as FLAC ------------------------------------------------- */

static double ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Files in the server's live folder whose name ends with `suffix` (".pcm", ".flac") or, for
 * suffix ".tmp", the FLAC writer's hidden temporary files. */
static int live_files(const char *suffix)
{
    char *o;
    int st, n;
    if (!strcmp(suffix, ".tmp"))
        o = harness_sh_output(&st, "ls -A '%s' 2>/dev/null | grep -c '^\\..*\\.flac\\.' || true",
                              harness_path("audio/live"));
    else
        o = harness_sh_output(&st,
                              "ls -A '%s' 2>/dev/null | grep -c '^[0-9a-f]\\{32\\}%s$' || true",
                              harness_path("audio/live"), suffix);
    n = atoi(o);
    free(o);
    return n;
}

/* Wait (up to `ms`) until the server's log says `what`. */
static void wait_log(const server *s, const char *what, unsigned ms)
{
    double until = ms_now() + ms;
    for (;;) {
        char *log = server_log(s);
        int found = log && strstr(log, what);
        if (found) {
            free(log);
            return;
        }
        if (ms_now() > until)
            ASSERT_MSG(0, "the server's log never said \"%s\": %s", what, log ? log : "");
        free(log);
        usleep(20000);
    }
}

/* The recording's audio (GET /v1/recordings/{id}/audio) decodes to exactly the first
 * `frames` frames of 100 ms of `wav` (every frame when frames = 0), and Range requests work. */
static void check_audio(const server *s, long long rec, const char *wav, long long frames)
{
    char path[128], *file;
    float *want = NULL, *got = NULL;
    size_t nw = 0, ng = 0;
    reply r, p;
    const char *range[] = { "Range: bytes=100-1099", NULL }, *tail[] = { "Range: bytes=-7", NULL };
    snprintf(path, sizeof(path), "/v1/recordings/%lld/audio", rec);
    r = http(s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(reply_header(&r, "Content-Type"), "audio/flac");
    ASSERT(r.len > 1100);
    file = strdup(harness_path("archived.flac"));
    ASSERT_EQ(harness_write_file(file, r.body, r.len), 0);
    ASSERT_OK(hark_audio_load(&got, &ng, file));
    ASSERT_OK(hark_audio_load(&want, &nw, wav));
    if (frames && (size_t)frames * 1600 < nw)
        nw = (size_t)frames * 1600;
    ASSERT_EQ(ng, nw);
    ASSERT_MSG(memcmp(got, want, nw * sizeof(float)) == 0,
               "the archived audio differs from what was sent");
    p = http(s, "GET", path, range, NULL, 0);
    ASSERT_EQ(p.status, 206);
    ASSERT_EQ(p.len, 1000);
    ASSERT(memcmp(p.body, r.body + 100, 1000) == 0);
    reply_free(&p);
    p = http(s, "GET", path, tail, NULL, 0);
    ASSERT_EQ(p.status, 206);
    ASSERT_EQ(p.len, 7);
    ASSERT(memcmp(p.body, r.body + r.len - 7, 7) == 0);
    reply_free(&p);
    reply_free(&r);
    hark_free(got);
    hark_free(want);
    free(file);
}

static json_t *get_recording(const server *s, long long rec)
{
    char path[64];
    reply r;
    json_t *o;
    snprintf(path, sizeof(path), "/v1/recordings/%lld", rec);
    r = http(s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    o = json_loads(r.body, 0, NULL);
    ASSERT(o != NULL);
    reply_free(&r);
    return o;
}

TEST(an_ended_session_is_archived_as_flac_and_served_with_range)
{
    server s;
    json_t *o, *rec;
    long long id;
    const char *wav = speech();
    need_client();
    server_start(&s, "--engine test");
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s'", s.port, wav));
    ASSERT(json_is_true(json_object_get(o, "ended")));
    id = json_integer_value(json_object_get(o, "recording"));
    ASSERT(id > 0);
    /* `end` comes once the audio is archived: the records are gone, the FLAC is in place */
    ASSERT_EQ(live_files(".pcm"), 0);
    ASSERT_EQ(live_files(".flac"), 1);
    ASSERT_EQ(live_files(".tmp"), 0);
    check_audio(&s, id, wav, 0);
    rec = get_recording(&s, id);
    ASSERT_STREQ(jstr(rec, "status"), "done");
    {
        float *pcm = NULL;
        size_t n = 0;
        ASSERT_OK(hark_audio_load(&pcm, &n, wav));
        ASSERT_EQ(json_integer_value(json_object_get(rec, "duration_ms")), (long long)n / 16);
        hark_free(pcm);
    }
    json_decref(rec);
    json_decref(o);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(a_session_without_a_client_is_archived_after_the_idle_time)
{
    server s;
    json_t *o;
    long long id, ack;
    double until;
    const char *wav = speech();
    need_client();
    server_start(&s, "--engine test --live-idle 1s");
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --stop-after 30 --state '%s'", s.port, wav,
                     harness_path("state.json")));
    ack = json_integer_value(json_object_get(o, "stopped")); /* every frame sent got there */
    ASSERT_EQ(ack, 30);
    json_decref(o);
    wait_log(&s, "audio archived as FLAC", 30000);
    until = ms_now() + 10000;
    while (live_files(".pcm") && ms_now() < until)
        usleep(20000);
    ASSERT_EQ(live_files(".pcm"), 0);
    /* the recording: the one the session made (the only one) */
    o = get_recording(&s, 1);
    ASSERT_STREQ(jstr(o, "status"), "done");
    id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    check_audio(&s, id, wav, ack);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* A session the server's crash interrupted, which no client resumes: the next start rebuilds
 * it from disk after the idle time, finishes it and archives it. */
TEST(a_crashed_session_nobody_resumes_is_finished_and_archived_after_the_restart)
{
    server s;
    json_t *o;
    long long id;
    double until;
    const char *wav = speech();
    need_client();
    harness_timeout(300);
    server_start(&s, "--engine test");
    o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --stop-after 30 --state '%s'", s.port, wav,
                     harness_path("state.json")));
    ASSERT_EQ(json_integer_value(json_object_get(o, "stopped")), 30);
    json_decref(o);
    ASSERT_EQ(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
    ASSERT_EQ(live_files(".pcm"), 1);
    server_start(&s, "--engine test --live-idle 1s");
    wait_log(&s, "interrupted by a restart", 30000);
    wait_log(&s, "audio archived as FLAC", 30000);
    until = ms_now() + 10000;
    while (live_files(".pcm") && ms_now() < until)
        usleep(20000);
    ASSERT_EQ(live_files(".pcm"), 0);
    o = get_recording(&s, 1);
    ASSERT_STREQ(jstr(o, "status"), "done");
    ASSERT(json_integer_value(json_object_get(o, "segments")) > 0);
    id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    check_audio(&s, id, wav, 30);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* kill -9 at each step of the archive (HARK_TEST_LIVE_ARCHIVE_STALL holds it there): the
 * records or the complete FLAC are always there, and the next start finishes the job. */
TEST(kill_9_during_the_archive_then_the_restart_finishes_it)
{
    static const char *steps[] = { "encode", "renamed", "updated" };
    const char *wav = speech();
    size_t i;
    need_client();
    harness_timeout(300);
    for (i = 0; i < 3; i++) {
        server s;
        json_t *o;
        long long id;
        char db[32];
        double until;
        snprintf(db, sizeof(db), "kill%zu.db", i);
        harness_sh("rm -rf '%s' '%s'", harness_path("audio"), harness_path("server.log"));
        setenv("HARK_TEST_LIVE_ARCHIVE_STALL", steps[i], 1);
        server_start_at(&s, db, "--engine test");
        unsetenv("HARK_TEST_LIVE_ARCHIVE_STALL");
        o = client(argsf("ws://127.0.0.1:%u/v1/live '%s' --end-timeout 0.5", s.port, wav));
        id = json_integer_value(json_object_get(o, "recording"));
        ASSERT(id > 0);
        ASSERT(!json_is_true(json_object_get(o, "ended"))); /* held before `end` */
        json_decref(o);
        wait_log(&s, "archive stalled at", 30000);
        ASSERT_EQ(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
        /* what the crash left: always the records; the FLAC only complete, under its name */
        ASSERT_EQ(live_files(".pcm"), 1);
        ASSERT_EQ(live_files(".flac"), i == 0 ? 0 : 1);
        ASSERT_EQ(live_files(".tmp"), i == 0 ? 1 : 0);
        server_start_at(&s, db, "--engine test");
        wait_log(&s, "audio archived as FLAC", 30000);
        until = ms_now() + 10000;
        while (live_files(".pcm") && ms_now() < until)
            usleep(20000);
        ASSERT_EQ(live_files(".pcm"), 0);
        ASSERT_EQ(live_files(".tmp"), 0);
        ASSERT_EQ(live_files(".flac"), 1);
        o = get_recording(&s, id);
        ASSERT_STREQ(jstr(o, "status"), "done");
        json_decref(o);
        check_audio(&s, id, wav, 0);
        ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    }
}

/* A client that sends and never reads: what waits for it is bounded (WS_OUT_MAX in
 * src/server/live.c), then it is dropped; the server stays up. */
TEST(a_client_that_never_reads_is_dropped_at_the_send_queue_bound)
{
    server s;
    json_t *o;
    reply r;
    need_client();
    harness_timeout(300);
    server_start(&s, "--engine test");
    o = client(argsf("--never-read ws://127.0.0.1:%u/v1/live/vosk", s.port));
    ASSERT_MSG(json_is_true(json_object_get(o, "closed")),
               "the server never dropped a client that does not read (sent %lld frames)",
               (long long)json_integer_value(json_object_get(o, "sent")));
    fprintf(stderr, "  dropped after %lld frames, %.1f s\n",
            (long long)json_integer_value(json_object_get(o, "sent")),
            json_real_value(json_object_get(o, "seconds")));
    json_decref(o);
    wait_log(&s, "the client is not reading; dropping the connection", 10000);
    r = http(&s, "GET", "/health", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}
