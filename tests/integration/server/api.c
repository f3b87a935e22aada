/*
 * api.c: `hark serve`'s REST and OpenAI-compatible APIs against a real
 * server on 127.0.0.1 (the deterministic "test" engine: its text says what
 * it heard, "f440 a0.21").
 */
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "client.h"
#include "hark/hark.h"
#include "util/util.h"

static json_t *parse(const reply *r)
{
    json_error_t e;
    json_t *o = json_loads(r->body, 0, &e);
    ASSERT_MSG(o != NULL, "not JSON (%s): %.300s", e.text, r->body);
    return o;
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ASSERT_MSG(json_is_integer(v), "no integer '%s'", key);
    return (long long)json_integer_value(v);
}

static const char *err_code(json_t *o)
{
    json_t *e = json_object_get(json_object_get(o, "error"), "code");
    ASSERT_MSG(json_is_string(e), "no error.code");
    return json_string_value(e);
}

/* Upload `file` raw; returns the parsed answer (caller frees), status in *status. */
static json_t *upload(const server *s, const char *file, const char *query, long *status)
{
    size_t n;
    char *data = harness_read_file(file, &n), path[256];
    const char *h[] = { "Content-Type: audio/wav", NULL };
    reply r;
    json_t *o;
    ASSERT(data != NULL);
    snprintf(path, sizeof(path), "/v1/recordings%s", query ? query : "");
    r = http(s, "POST", path, h, data, n);
    *status = r.status;
    o = parse(&r);
    reply_free(&r);
    free(data);
    return o;
}

/* Upload `file`, wait for its job to be done; returns the recording's id. */
static long long upload_and_wait(const server *s, const char *file, const char *query, int *existed)
{
    long st;
    long long rec, job;
    json_t *o = upload(s, file, query, &st);
    ASSERT_EQ(st, 202);
    rec = jint(o, "recording");
    job = jint(o, "job");
    if (existed)
        *existed = json_is_true(json_object_get(o, "existed"));
    json_decref(o);
    ASSERT_STREQ(wait_job(s, NULL, job, 60000), "done");
    return rec;
}

TEST(health_and_unknown_routes)
{
    server s;
    reply r;
    json_t *o;
    server_start(&s, "--vad off --engine test");
    r = http(&s, "GET", "/health", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"status\":\"ok\"");
    reply_free(&r);
    r = http(&s, "GET", "/health/ready", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"model_loaded\":false"); /* nothing loaded before the first job */
    reply_free(&r);
    r = http(&s, "GET", "/v1/nothing", NULL, NULL, 0);
    ASSERT_EQ(r.status, 404);
    o = parse(&r);
    ASSERT_STREQ(err_code(o), "not_found");
    json_decref(o);
    reply_free(&r);
    r = http(&s, "PATCH", "/v1/recordings", NULL, NULL, 0);
    ASSERT_EQ(r.status, 405);
    ASSERT(reply_header(&r, "Allow") != NULL);
    ASSERT_STREQ(reply_header(&r, "Allow"), "POST, GET");
    reply_free(&r);
    r = http(&s, "GET", "/v1/recordings/0", NULL, NULL, 0); /* ids are positive */
    ASSERT_EQ(r.status, 404);
    reply_free(&r);
    r = http(&s, "GET", "/v1/recordings/12x", NULL, NULL, 0);
    ASSERT_EQ(r.status, 404);
    reply_free(&r);
    r = http(&s, "HEAD", "/health", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.len, 0u);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* A file the command line transcribed is in the result cache: its upload is answered from the
 * cache into the upload's own recording (the server crashed here: a NULL recording read). */
TEST(an_upload_the_cache_already_holds_is_answered_from_it)
{
    server s;
    const char *wav = tone("cached.wav", 3, 550);
    char opts[2048], cache[1024];
    long long rec;
    reply r;
    snprintf(cache, sizeof(cache), "%s", harness_path("cache.db"));
    ASSERT_EQ(harness_sh("'%s' transcribe -q --no-vad -e test --no-store --cache-db '%s' '%s' "
                         ">/dev/null",
                         harness_hark_bin(), cache, wav),
              0);
    snprintf(opts, sizeof(opts), "--vad off --engine test --cache-db '%s'", cache);
    server_start(&s, opts);
    rec = upload_and_wait(&s, wav, NULL, NULL);
    r = httpf(&s, "GET", "/v1/recordings/%lld/transcript?format=txt", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "f550");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(upload_transcribe_and_read_back_in_every_format)
{
    server s;
    const char *wav = tone("a.wav", 3, 440);
    json_t *o;
    int existed = -1;
    long long rec;
    reply r;
    char path[128], etag[128];
    server_start(&s, "--vad off --engine test");
    rec = upload_and_wait(&s, wav, "?title=first", &existed);
    ASSERT_EQ(existed, 0);

    r = httpf(&s, "GET", "/v1/recordings/%lld", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"title\":\"first\"");
    ASSERT_CONTAINS(r.body, "\"status\":\"done\"");
    ASSERT_CONTAINS(r.body, "\"has_audio\":true");
    ASSERT(strstr(r.body, "audio_path") == NULL); /* local paths never leave the server */
    reply_free(&r);

    snprintf(path, sizeof(path), "/v1/recordings/%lld/transcript?format=txt", rec);
    r = http(&s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "f440");
    ASSERT_CONTAINS(reply_header(&r, "Content-Type"), "text/plain");
    snprintf(etag, sizeof(etag), "If-None-Match: %s", reply_header(&r, "ETag"));
    reply_free(&r);
    {
        const char *h[] = { etag, NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 304);
        ASSERT_EQ(r.len, 0u);
        reply_free(&r);
    }
    r = httpf(&s, "GET", "/v1/recordings/%lld/transcript?format=srt", rec);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "00:00:00,000 --> ");
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/recordings/%lld/transcript?format=vtt", rec);
    ASSERT_CONTAINS(r.body, "WEBVTT");
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/recordings/%lld/transcript?format=tsv", rec);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/recordings/%lld/transcript", rec);
    o = parse(&r);
    ASSERT(json_is_array(json_object_get(o, "segments")));
    json_decref(o);
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/recordings/%lld/transcript?format=doc", rec);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(the_same_bytes_again_are_the_same_recording_and_job)
{
    server s;
    const char *wav = tone("a.wav", 2, 300);
    json_t *a, *b;
    long st;
    server_start(&s, "--vad off --engine test");
    a = upload(&s, wav, NULL, &st);
    ASSERT_EQ(st, 202);
    b = upload(&s, wav, NULL, &st);
    ASSERT_EQ(st, 200);
    ASSERT_EQ(jint(a, "recording"), jint(b, "recording"));
    ASSERT_EQ(jint(a, "job"), jint(b, "job"));
    ASSERT_EQ(json_is_true(json_object_get(b, "existed")), 1);
    json_decref(a);
    json_decref(b);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(audio_is_served_with_ranges)
{
    server s;
    const char *wav = tone("a.wav", 1, 500);
    size_t n;
    char *data = harness_read_file(wav, &n), path[128], range[64];
    json_t *o;
    long st;
    long long rec;
    reply r;
    server_start(&s, "--vad off --engine test");
    o = upload(&s, wav, NULL, &st);
    rec = jint(o, "recording");
    json_decref(o);
    snprintf(path, sizeof(path), "/v1/recordings/%lld/audio", rec);
    r = http(&s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.len, n);
    ASSERT(memcmp(r.body, data, n) == 0);
    ASSERT_STREQ(reply_header(&r, "Content-Type"), "audio/wav");
    reply_free(&r);
    {
        const char *h[] = { "Range: bytes=10-19", NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 206);
        ASSERT_EQ(r.len, 10u);
        ASSERT(memcmp(r.body, data + 10, 10) == 0);
        snprintf(range, sizeof(range), "bytes 10-19/%zu", n);
        ASSERT_STREQ(reply_header(&r, "Content-Range"), range);
        reply_free(&r);
    }
    {
        const char *h[] = { "Range: bytes=-4", NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 206);
        ASSERT_EQ(r.len, 4u);
        ASSERT(memcmp(r.body, data + n - 4, 4) == 0);
        reply_free(&r);
    }
    {
        const char *h[] = { "Range: bytes=999999999-", NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 416);
        reply_free(&r);
    }
    free(data);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(list_pages_search_and_delete)
{
    server s;
    json_t *o;
    long st;
    long long job = 0, first = 0;
    int i;
    reply r;
    char path[128], name[32];
    server_start(&s, "--vad off --engine test");
    for (i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "t%d.wav", i);
        o = upload(&s, tone(name, 1, 200 + 100 * i), NULL, &st);
        ASSERT_EQ(st, 202);
        job = jint(o, "job");
        if (i == 0)
            first = jint(o, "recording");
        json_decref(o);
    }
    ASSERT_STREQ(wait_job(&s, NULL, job, 60000), "done");
    r = http(&s, "GET", "/v1/recordings?limit=2", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    o = parse(&r);
    ASSERT_EQ(json_array_size(json_object_get(o, "recordings")), 2u);
    ASSERT(json_is_integer(json_object_get(o, "next_cursor")));
    snprintf(path, sizeof(path), "/v1/recordings?limit=10&cursor=%lld",
             (long long)json_integer_value(json_object_get(o, "next_cursor")));
    json_decref(o);
    reply_free(&r);
    r = http(&s, "GET", path, NULL, NULL, 0);
    o = parse(&r);
    ASSERT_EQ(json_array_size(json_object_get(o, "recordings")), 3u);
    ASSERT(json_is_null(json_object_get(o, "next_cursor")));
    json_decref(o);
    reply_free(&r);
    r = http(&s, "GET", "/v1/recordings?limit=0", NULL, NULL, 0);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);

    ASSERT_STREQ(wait_job(&s, NULL, 1, 60000), "done");
    r = http(&s, "GET", "/v1/search?q=f200", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    o = parse(&r);
    ASSERT_EQ(json_array_size(json_object_get(o, "hits")), 1u);
    json_decref(o);
    reply_free(&r);
    r = http(&s, "GET", "/v1/search?q=%22unterminated", NULL, NULL, 0);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);
    r = http(&s, "GET", "/v1/search", NULL, NULL, 0);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);

    snprintf(path, sizeof(path), "/v1/recordings/%lld", first);
    r = http(&s, "DELETE", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 204);
    reply_free(&r);
    r = http(&s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 404);
    reply_free(&r);
    r = http(&s, "GET", "/v1/search?q=f200", NULL, NULL, 0);
    o = parse(&r);
    ASSERT_EQ(json_array_size(json_object_get(o, "hits")), 0u);
    json_decref(o);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(bad_uploads_get_clear_errors_and_leave_nothing)
{
    server s;
    reply r;
    json_t *o;
    char tmpdir[600], *out;
    int st;
    const char *json_h[] = { "Content-Type: application/json", NULL };
    const char *bin_h[] = { "Content-Type: application/octet-stream", NULL };
    server_start(&s, "--vad off --engine test --max-upload 100K");
    r = http(&s, "POST", "/v1/recordings", bin_h, "this is not audio at all, just some text", 40);
    ASSERT_EQ(r.status, 415);
    o = parse(&r);
    ASSERT_STREQ(err_code(o), "unsupported_media");
    json_decref(o);
    reply_free(&r);
    r = http(&s, "POST", "/v1/recordings", json_h, "{}", 2);
    ASSERT_EQ(r.status, 415);
    reply_free(&r);
    r = http(&s, "POST", "/v1/recordings", bin_h, "", 0);
    ASSERT_EQ(r.status, 400);
    ASSERT_CONTAINS(r.body, "empty");
    reply_free(&r);
    { /* over the limit, told by Content-Length: the body is thrown away and the answer
       * reaches a client that is still sending (20 tries: a reset lost it 1 run in ~50) */
        size_t n = 200 * 1024;
        char *big = calloc(1, n);
        int i;
        for (i = 0; i < 20; i++) {
            r = http(&s, "POST", "/v1/recordings", bin_h, big, n);
            ASSERT_EQ(r.status, 413);
            reply_free(&r);
        }
        free(big);
    }
    { /* a client that waits for 100-continue is refused before it sends the body */
        size_t n = 2 * 1024 * 1024;
        char *big = calloc(1, n);
        const char *h[] = { "Content-Type: application/octet-stream", "Expect: 100-continue",
                            NULL };
        r = http(&s, "POST", "/v1/recordings", h, big, n);
        ASSERT_EQ(r.status, 413);
        ASSERT_CONTAINS(r.body, "over the limit");
        reply_free(&r);
        free(big);
    }
    { /* over the limit, chunked (no Content-Length): found while streaming */
        size_t n = 300 * 1024;
        char *big = calloc(1, n);
        const char *h[] = { "Content-Type: audio/wav", "Transfer-Encoding: chunked", NULL };
        r = http(&s, "POST", "/v1/recordings", h, big, n);
        ASSERT_EQ(r.status, 413);
        reply_free(&r);
        free(big);
    }
    { /* a multipart form without a file */
        const char *fields[] = { "title", "x", NULL };
        r = http_form(&s, "/v1/recordings", NULL, fields, NULL);
        ASSERT_EQ(r.status, 400);
        ASSERT_CONTAINS(r.body, "no 'file' part");
        reply_free(&r);
    }
    { /* a truncated multipart body */
        const char body[] = "--xyz\r\nContent-Disposition: form-data; name=\"file\"; "
                            "filename=\"a.wav\"\r\n\r\nRIFF....";
        const char *h[] = { "Content-Type: multipart/form-data; boundary=xyz", NULL };
        r = http(&s, "POST", "/v1/recordings", h, body, sizeof(body) - 1);
        ASSERT_EQ(r.status, 400);
        reply_free(&r);
    }
    { /* bad options */
        const char *fields[] = { "language", "english!", NULL };
        r = http_form(&s, "/v1/recordings", NULL, fields, tone("a.wav", 1, 300));
        ASSERT_EQ(r.status, 400);
        ASSERT_CONTAINS(r.body, "language");
        reply_free(&r);
    }
    r = http(&s, "GET", "/v1/recordings", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"recordings\":[]");
    reply_free(&r);
    /* no temporary file is left behind */
    snprintf(tmpdir, sizeof(tmpdir), "%s/audio/tmp", harness_tmpdir());
    out = harness_sh_output(&st, "ls -A '%s' | wc -l", tmpdir);
    ASSERT_EQ(atoi(out), 0);
    free(out);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(invalid_json_and_admin_mode)
{
    server s;
    reply r;
    const char *h[] = { "Content-Type: application/json", NULL };
    server_start(&s, "--vad off --engine test");
    r = http(&s, "PUT", "/v1/admin/mode", h, "{\"mode\":", 8);
    ASSERT_EQ(r.status, 400);
    ASSERT_CONTAINS(r.body, "invalid_json");
    reply_free(&r);
    r = http(&s, "PUT", "/v1/admin/mode", h, "[1]", 3);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);
    r = http(&s, "PUT", "/v1/admin/mode", h, "{\"mode\":\"fast\"}", 15);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);
    r = http(&s, "PUT", "/v1/admin/mode", h, "{\"mode\":\"maintenance\"}", 22);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    r = http(&s, "POST", "/v1/recordings", h, NULL, 0);
    ASSERT_EQ(r.status, 503);
    ASSERT_CONTAINS(r.body, "maintenance");
    reply_free(&r);
    r = http(&s, "GET", "/health/ready", NULL, NULL, 0);
    ASSERT_EQ(r.status, 503);
    reply_free(&r);
    r = http(&s, "GET", "/v1/admin/audit", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"action\":\"mode\"");
    reply_free(&r);
    /* the mode survives a restart */
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    server_start(&s, "--vad off --engine test");
    r = http(&s, "GET", "/v1/admin/mode", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "maintenance");
    reply_free(&r);
    r = http(&s, "PUT", "/v1/admin/mode", h, "{\"mode\":\"full\"}", 15);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(openai_transcriptions_in_every_response_format)
{
    server s;
    const char *wav = tone("a.wav", 2, 440);
    reply r;
    json_t *o;
    server_start(&s, "--vad off --engine test");
    {
        const char *f[] = { "model", "whisper-1", NULL };
        r = http_form(&s, "/v1/audio/transcriptions", NULL, f, wav);
        ASSERT_EQ(r.status, 200);
        o = parse(&r);
        ASSERT_CONTAINS(json_string_value(json_object_get(o, "text")), "f440");
        json_decref(o);
        reply_free(&r);
    }
    {
        const char *f[] = { "model", "whisper-1", "response_format", "text", NULL };
        r = http_form(&s, "/v1/audio/transcriptions", NULL, f, wav);
        ASSERT_EQ(r.status, 200);
        ASSERT_CONTAINS(reply_header(&r, "Content-Type"), "text/plain");
        ASSERT_CONTAINS(r.body, "f440");
        reply_free(&r);
    }
    {
        const char *f[] = { "model", "whisper-1", "response_format", "verbose_json", NULL };
        r = http_form(&s, "/v1/audio/transcriptions", NULL, f, wav);
        ASSERT_EQ(r.status, 200);
        o = parse(&r);
        ASSERT(json_is_array(json_object_get(o, "segments")));
        ASSERT(json_is_number(json_object_get(o, "duration")));
        ASSERT_STREQ(json_string_value(json_object_get(o, "task")), "transcribe");
        json_decref(o);
        reply_free(&r);
    }
    {
        const char *f[] = { "response_format", "srt", NULL };
        r = http_form(&s, "/inference", NULL, f, wav);
        ASSERT_EQ(r.status, 200);
        ASSERT_CONTAINS(r.body, " --> ");
        reply_free(&r);
    }
    {
        const char *f[] = { "response_format", "mp3", NULL };
        r = http_form(&s, "/v1/audio/transcriptions", NULL, f, wav);
        ASSERT_EQ(r.status, 400);
        ASSERT_CONTAINS(r.body, "response_format");
        reply_free(&r);
    }
    {
        const char *f[] = { "stream", "true", NULL };
        r = http_form(&s, "/v1/audio/transcriptions", NULL, f, tone("b.wav", 3, 660));
        ASSERT_EQ(r.status, 200);
        ASSERT_CONTAINS(reply_header(&r, "Content-Type"), "text/event-stream");
        ASSERT_CONTAINS(r.body, "\"type\":\"transcript.text.done\"");
        ASSERT_CONTAINS(r.body, "f660");
        reply_free(&r);
    }
    r = http(&s, "GET", "/v1/models", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"object\":\"list\"");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* A request shaped byte for byte like the official OpenAI Python SDK's (httpx multipart:
 * fields first, then the file; its headers). */
TEST(a_request_shaped_like_the_openai_sdk_works)
{
    server s;
    size_t n;
    const char *wav = tone("speech.wav", 2, 440);
    char *data = harness_read_file(wav, &n);
    hark_buf b = HARK_BUF_INIT;
    const char *h[] = {
        "Content-Type: multipart/form-data; boundary=6b9e3e4e1c2b4f0f8f9a0e2f0d3c1b5a",
        "User-Agent: OpenAI/Python 1.54.4",
        "X-Stainless-Lang: python",
        "Authorization: Bearer sk-not-needed-locally",
        "Accept: application/json",
        NULL
    };
    reply r;
    hark_buf_puts(&b, "--6b9e3e4e1c2b4f0f8f9a0e2f0d3c1b5a\r\n"
                      "Content-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
                      "--6b9e3e4e1c2b4f0f8f9a0e2f0d3c1b5a\r\n"
                      "Content-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n"
                      "--6b9e3e4e1c2b4f0f8f9a0e2f0d3c1b5a\r\n"
                      "Content-Disposition: form-data; name=\"file\"; filename=\"speech.wav\"\r\n"
                      "Content-Type: audio/x-wav\r\n\r\n");
    hark_buf_put(&b, data, n);
    hark_buf_puts(&b, "\r\n--6b9e3e4e1c2b4f0f8f9a0e2f0d3c1b5a--\r\n");
    server_start(&s, "--vad off --engine test");
    r = http(&s, "POST", "/v1/audio/transcriptions", h, b.ptr, b.len);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"text\":\"f440");
    reply_free(&r);
    r = http(&s, "GET", "/v1/recordings", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"title\":\"speech.wav\"");
    reply_free(&r);
    hark_buf_dispose(&b);
    free(data);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(job_events_stream_until_the_job_ends)
{
    server s;
    json_t *o;
    long st;
    long long job;
    reply r;
    char path[64];
    server_start(&s, "--vad off --engine test --model delay=100");
    o = upload(&s, tone("a.wav", 4, 440), NULL, &st);
    job = jint(o, "job");
    json_decref(o);
    snprintf(path, sizeof(path), "/v1/jobs/%lld/events", job);
    r = http(&s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "event: state\n");
    ASSERT_CONTAINS(r.body, "event: done\n");
    ASSERT_CONTAINS(reply_header(&r, "Content-Type"), "text/event-stream");
    reply_free(&r);
    /* a finished job's stream answers its state and ends */
    r = http(&s, "GET", path, NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"state\":\"done\"");
    reply_free(&r);
    r = httpf(&s, "GET", "/v1/jobs/%lld", job);
    o = parse(&r);
    ASSERT(json_is_array(json_object_get(o, "chunks")));
    json_decref(o);
    reply_free(&r);
    r = http(&s, "GET", "/v1/jobs?state=done", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"jobs\":[{");
    reply_free(&r);
    r = http(&s, "GET", "/v1/jobs?state=sleeping", NULL, NULL, 0);
    ASSERT_EQ(r.status, 400);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(metrics_are_prometheus_text)
{
    server s;
    reply r;
    server_start(&s, "--vad off --engine test");
    r = http(&s, "GET", "/health", NULL, NULL, 0);
    reply_free(&r);
    r = http(&s, "GET", "/metrics", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(reply_header(&r, "Content-Type"), "text/plain; version=0.0.4");
    ASSERT_CONTAINS(r.body,
                    "hark_http_requests_total{method=\"GET\",route=\"/health\",code=\"2xx\"} 1\n");
    ASSERT_CONTAINS(r.body, "hark_jobs{state=\"queued\",priority=\"interactive\"} 0\n");
    ASSERT_CONTAINS(r.body, "hark_model_loaded 0\n");
    ASSERT_CONTAINS(r.body, "process_resident_memory_bytes ");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* The README's settings table is the one the server prints: documentation cannot drift. */
TEST(the_readme_documents_every_setting)
{
    int st;
    char *table = harness_sh_output(&st, "'%s' serve --settings-table", harness_hark_bin());
    char *readme = harness_read_file(HARK_SOURCE_DIR "/README.md", NULL);
    ASSERT_EQ(st, 0);
    ASSERT(readme != NULL);
    ASSERT_MSG(strstr(readme, table) != NULL,
               "README.md's settings table differs from `hark serve --settings-table`:\n%s", table);
    free(table);
    free(readme);
}

/* Prometheus rejects two series with the same labels: every series is unique. */
TEST(metrics_series_are_unique)
{
    server s;
    reply r;
    char *line, *save = NULL, *seen[2000];
    size_t n = 0, i;
    server_start(&s, "--vad off --engine test");
    r = http(&s, "GET", "/v1/recordings", NULL, NULL, 0);
    reply_free(&r);
    r = http(&s, "POST", "/v1/recordings", NULL, "x", 1);
    reply_free(&r);
    r = http(&s, "GET", "/metrics", NULL, NULL, 0);
    for (line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strrchr(line, ' ');
        if (line[0] == '#' || !sp)
            continue;
        *sp = '\0';
        for (i = 0; i < n; i++)
            ASSERT_MSG(strcmp(seen[i], line) != 0, "duplicate series: %s", line);
        if (n < 2000)
            seen[n++] = line;
    }
    ASSERT(n > 20);
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* --workers 0 on SQLite: an API-only server transcribes nothing itself (no live sessions
 * either); a `hark worker` on the same database file runs its jobs. */
TEST(workers_0_serves_the_api_and_a_worker_on_the_same_file_runs_the_jobs)
{
    server s;
    reply r;
    json_t *o;
    long st;
    long long job;
    const char *wav = tone("a.wav", 12, 440);
    char cmd[2048], wlog[512];
    const char *state;
    int wst;
    pid_t w;

    server_start(&s, "--vad off --engine test --workers 0");
    r = http(&s, "GET", "/health/ready", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"workers\":0");
    reply_free(&r);
    r = http(&s, "GET", "/metrics", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "hark_workers 0\n");
    reply_free(&r);
    o = upload(&s, wav, NULL, &st);
    ASSERT_EQ(st, 202);
    job = jint(o, "job");
    json_decref(o);
    /* nothing runs it here */
    {
        struct timespec ts = { 0, 700 * 1000000L };
        nanosleep(&ts, NULL);
    }
    r = http(&s, "GET", "/v1/jobs/1", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"state\":\"queued\"");
    reply_free(&r);
    {
        const char *h[] = { "Upgrade: websocket", "Connection: Upgrade",
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                            "Sec-WebSocket-Version: 13", NULL };
        r = http(&s, "GET", "/v1/live", h, NULL, 0);
        ASSERT_EQ(r.status, 503);
        ASSERT_CONTAINS(r.body, "no_workers");
        reply_free(&r);
    }
    /* a worker on the same file does */
    snprintf(wlog, sizeof(wlog), "%s", harness_path("worker.log"));
    snprintf(
        cmd, sizeof(cmd),
        "exec '%s' worker --db '%s' -e test --model delay=700 --no-cache --no-vad --chunk-min 4 "
        "--chunk-max 4 >'%s' 2>&1",
        harness_hark_bin(), s.db, wlog);
    fflush(stdout);
    fflush(stderr);
    w = fork();
    ASSERT(w >= 0);
    if (w == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* its progress reaches an event stream here (3 chunks of 700 ms; the store is polled) */
    r = httpf(&s, "GET", "/v1/jobs/%lld/events", job);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "event: progress\n");
    ASSERT_CONTAINS(r.body, "\"chunks_done\":2");
    ASSERT_CONTAINS(r.body, "\"chunks_total\":3");
    ASSERT_CONTAINS(r.body, "event: done\n");
    reply_free(&r);
    state = wait_job(&s, NULL, job, 30000);
    ASSERT_MSG(state && !strcmp(state, "done"), "job: %s", state ? state : "timeout");
    r = http(&s, "GET", "/v1/recordings/1/transcript?format=txt", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "f440");
    reply_free(&r);
    kill(w, SIGTERM);
    ASSERT_EQ(waitpid(w, &wst, 0), w);
    ASSERT(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}
