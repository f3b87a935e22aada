/*
 * render.c: the JSON renderings of hark/render.h. Every renderer's output is
 * parsed back with jansson (an independent parser) and checked field by
 * field: the shapes, null for absent values, escaping of control characters
 * and non-ASCII text, local paths only with HARK_RENDER_LOCAL, pretty vs
 * compact, byte-stable output, nothing appended on failure; plus the JSON
 * validator the store uses for audit details and job params.
 */
#include <jansson.h>

#include "harness.h"
#include "store/store.h"

/* Parse `text` (must be one valid JSON value); the caller json_decref()s. */
static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    ASSERT_MSG(v != NULL, "invalid JSON (%s at %d): %s", err.text, err.position, text);
    return v;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ASSERT_MSG(json_is_string(v), "\"%s\" is not a string", key);
    return json_string_value(v);
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ASSERT_MSG(json_is_integer(v), "\"%s\" is not an integer", key);
    return (long long)json_integer_value(v);
}

static int is_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ASSERT_MSG(v != NULL, "no \"%s\"", key);
    return json_is_null(v);
}

static int truth(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ASSERT_MSG(json_is_boolean(v), "\"%s\" is not a boolean", key);
    return json_is_true(v);
}

/* Exactly these keys, in this order. */
static void keys_are(json_t *o, const char *const *keys)
{
    void *it = json_object_iter(o);
    size_t i = 0;
    ASSERT(json_is_object(o));
    /* jansson keeps insertion order since 2.8 */
    for (; it; it = json_object_iter_next(o, it), i++) {
        ASSERT_MSG(keys[i] != NULL, "extra key \"%s\"", json_object_iter_key(it));
        ASSERT_STREQ(json_object_iter_key(it), keys[i]);
    }
    ASSERT_MSG(keys[i] == NULL, "missing key \"%s\"", keys[i] ? keys[i] : "");
}

static hark_recording sample_recording(void)
{
    hark_recording r = HARK_RECORDING_INIT;
    r.id = 42;
    r.title = "Board meeting";
    r.source = "meeting.m4a";
    r.content_hash = "ab12";
    r.duration_ms = 3600000;
    r.engine = "whisper";
    r.model = "base.en";
    r.options = "{\"beam\":5}";
    r.language = "en";
    r.status = HARK_STATUS_DONE;
    r.created_ms = 1700000000123;
    r.updated_ms = 1700000000456;
    r.audio_path = "/home/me/.local/share/hark/audio/42.flac";
    r.n_segments = 321;
    r.owner = 3;
    return r;
}

TEST(recording_shape_and_local_paths)
{
    static const char *const keys[] = { "id",         "title",      "source",      "status",
                                        "created_ms", "updated_ms", "duration_ms", "engine",
                                        "model",      "language",   "segments",    "content_hash",
                                        "has_audio",  NULL };
    static const char *const local_keys[] = { "id",          "title",      "source",
                                              "status",      "created_ms", "updated_ms",
                                              "duration_ms", "engine",     "model",
                                              "language",    "segments",   "content_hash",
                                              "has_audio",   "audio_path", NULL };
    hark_recording r = sample_recording();
    hark_buf b = HARK_BUF_INIT;
    json_t *v;

    ASSERT_OK(hark_render_recording(&b, &r, 0));
    ASSERT(!strchr(b.ptr, '\n'));
    ASSERT(!strstr(b.ptr, "/home/me")); /* no local path over the network */
    v = parse(b.ptr);
    keys_are(v, keys);
    ASSERT_EQ(num(v, "id"), 42);
    ASSERT_STREQ(str(v, "title"), "Board meeting");
    ASSERT_STREQ(str(v, "source"), "meeting.m4a");
    ASSERT_STREQ(str(v, "status"), "done");
    ASSERT_EQ(num(v, "created_ms"), 1700000000123);
    ASSERT_EQ(num(v, "updated_ms"), 1700000000456);
    ASSERT_EQ(num(v, "duration_ms"), 3600000);
    ASSERT_STREQ(str(v, "engine"), "whisper");
    ASSERT_STREQ(str(v, "model"), "base.en");
    ASSERT_STREQ(str(v, "language"), "en");
    ASSERT_EQ(num(v, "segments"), 321);
    ASSERT_STREQ(str(v, "content_hash"), "ab12");
    ASSERT(truth(v, "has_audio"));
    json_decref(v);

    hark_buf_dispose(&b);
    ASSERT_OK(hark_render_recording(&b, &r, HARK_RENDER_LOCAL));
    v = parse(b.ptr);
    keys_are(v, local_keys);
    ASSERT_STREQ(str(v, "audio_path"), r.audio_path);
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(absent_strings_are_null)
{
    hark_recording r = HARK_RECORDING_INIT;
    hark_buf b = HARK_BUF_INIT;
    json_t *v;
    r.id = 1;
    ASSERT_OK(hark_render_recording(&b, &r, HARK_RENDER_LOCAL));
    v = parse(b.ptr);
    ASSERT(is_null(v, "title") && is_null(v, "source") && is_null(v, "engine"));
    ASSERT(is_null(v, "model") && is_null(v, "language") && is_null(v, "content_hash"));
    ASSERT(is_null(v, "audio_path"));
    ASSERT(!truth(v, "has_audio"));
    ASSERT_STREQ(str(v, "status"), "pending");
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(control_characters_and_non_ascii_are_escaped_and_round_trip)
{
    /* every control character, quotes, backslash, Latin, CJK, an emoji, and a stray byte */
    static const char tail[] = "\"\\/ caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \x7f";
    char title[128];
    hark_recording r = sample_recording();
    hark_buf b = HARK_BUF_INIT;
    json_t *v;
    size_t n = 0;

    for (int c = 1; c < 0x20; c++)
        title[n++] = (char)c;
    snprintf(title + n, sizeof(title) - n, "%s", tail);
    r.title = title;
    r.source = "bad \xff byte";
    ASSERT_OK(hark_render_recording(&b, &r, 0));
    for (size_t i = 0; i < b.len; i++)
        ASSERT_MSG((unsigned char)b.ptr[i] >= 0x20, "raw control byte %#x in output",
                   (unsigned char)b.ptr[i]);
    ASSERT_CONTAINS(b.ptr, "\\u0001");
    ASSERT_CONTAINS(b.ptr, "\\n");
    ASSERT_CONTAINS(b.ptr, "\\\"");
    ASSERT_CONTAINS(b.ptr, "\xe6\x97\xa5");              /* valid UTF-8 is kept as is */
    v = parse(b.ptr);                                    /* jansson rejects invalid UTF-8 */
    ASSERT_STREQ(str(v, "title"), title);                /* every byte came back */
    ASSERT_STREQ(str(v, "source"), "bad \xc3\xbf byte"); /* the stray byte as U+00FF */
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(pretty_output_is_indented_and_ends_with_a_newline)
{
    hark_recording r = sample_recording();
    hark_buf a = HARK_BUF_INIT, c = HARK_BUF_INIT;
    json_t *v1, *v2;
    ASSERT_OK(hark_render_recording(&a, &r, HARK_RENDER_PRETTY));
    ASSERT_OK(hark_render_recording(&c, &r, 0));
    ASSERT_EQ(a.ptr[a.len - 1], '\n');
    ASSERT_CONTAINS(a.ptr, "{\n  \"id\": 42,\n  \"title\"");
    ASSERT(c.ptr[c.len - 1] == '}');
    ASSERT_CONTAINS(c.ptr, "{\"id\":42,\"title\"");
    v1 = parse(a.ptr);
    v2 = parse(c.ptr);
    ASSERT(json_equal(v1, v2));
    json_decref(v1);
    json_decref(v2);
    hark_buf_dispose(&a);
    hark_buf_dispose(&c);
}

TEST(output_is_byte_stable_and_appended)
{
    hark_recording r = sample_recording();
    hark_buf a = HARK_BUF_INIT, c = HARK_BUF_INIT;
    ASSERT_OK(hark_buf_puts(&a, "prefix:"));
    ASSERT_OK(hark_render_recording(&a, &r, 0));
    ASSERT_OK(hark_render_recording(&c, &r, 0));
    ASSERT(strncmp(a.ptr, "prefix:", 7) == 0);
    ASSERT_STREQ(a.ptr + 7, c.ptr);
    hark_buf_dispose(&a);
    hark_buf_dispose(&c);
}

TEST(nothing_is_appended_on_failure)
{
    hark_recording items[3];
    hark_recording_list l;
    hark_buf b;
    for (int i = 0; i < 3; i++)
        items[i] = sample_recording();
    l.n = 3;
    l.items = items;
    l.more = 0;
    hark_buf_init(&b, 64); /* capped: the list does not fit */
    ASSERT_OK(hark_buf_puts(&b, "kept"));
    ASSERT_ERR(hark_render_recording_list(&b, &l, 0), HARK_ETOOBIG);
    ASSERT_EQ(b.len, 4);
    ASSERT_STREQ(b.ptr, "kept");
    hark_buf_dispose(&b);
}

TEST(recording_list_with_cursor)
{
    hark_recording items[2];
    hark_recording_list l;
    hark_buf b = HARK_BUF_INIT;
    json_t *v, *arr;
    static const char *const keys[] = { "recordings", "next_cursor", NULL };

    items[0] = sample_recording();
    items[1] = sample_recording();
    items[1].id = 17;
    l.n = 2;
    l.items = items;
    l.more = 1;
    ASSERT_OK(hark_render_recording_list(&b, &l, 0));
    v = parse(b.ptr);
    keys_are(v, keys);
    arr = json_object_get(v, "recordings");
    ASSERT_EQ(json_array_size(arr), 2);
    ASSERT_EQ(num(json_array_get(arr, 1), "id"), 17);
    ASSERT(json_object_get(json_array_get(arr, 0), "audio_path") == NULL);
    ASSERT_EQ(num(v, "next_cursor"), 17);
    json_decref(v);
    hark_buf_dispose(&b);

    l.more = 0;
    ASSERT_OK(hark_render_recording_list(&b, &l, HARK_RENDER_LOCAL));
    v = parse(b.ptr);
    ASSERT(is_null(v, "next_cursor"));
    ASSERT_STREQ(str(json_array_get(json_object_get(v, "recordings"), 0), "audio_path"),
                 items[0].audio_path);
    json_decref(v);
    hark_buf_dispose(&b);

    l.n = 0;
    l.more = 1; /* an empty page has no cursor */
    ASSERT_OK(hark_render_recording_list(&b, &l, 0));
    ASSERT_STREQ(b.ptr, "{\"recordings\":[],\"next_cursor\":null}");
    hark_buf_dispose(&b);
}

TEST(search_result_shape)
{
    static const char *const keys[] = { "hits", "more", "windowed", NULL };
    static const char *const hit_keys[] = { "recording", "title", "created_ms", "seq",   "start_ms",
                                            "end_ms",    "text",  "snippet",    "score", NULL };
    hark_search_hit h[2];
    hark_search_result r;
    hark_buf b = HARK_BUF_INIT;
    json_t *v, *hit;

    memset(h, 0, sizeof(h));
    h[0].recording = 5;
    h[0].title = "Talk";
    h[0].created_ms = 1700000000000;
    h[0].seq = 12;
    h[0].start_ms = 24000;
    h[0].end_ms = 25500;
    h[0].text = "my fellow americans";
    h[0].snippet = "my [fellow] [americans]";
    h[0].score = 1.234567;
    h[1] = h[0];
    h[1].score = 0.5;
    r.n = 2;
    r.hits = h;
    r.more = 1;
    r.windowed = 0;
    ASSERT_OK(hark_render_search(&b, &r, 0));
    ASSERT_CONTAINS(b.ptr, "\"score\":1.2346"); /* fixed 4 decimals */
    ASSERT_CONTAINS(b.ptr, "\"score\":0.5000");
    v = parse(b.ptr);
    keys_are(v, keys);
    ASSERT(truth(v, "more"));
    ASSERT(!truth(v, "windowed"));
    hit = json_array_get(json_object_get(v, "hits"), 0);
    keys_are(hit, hit_keys);
    ASSERT_EQ(num(hit, "recording"), 5);
    ASSERT_STREQ(str(hit, "title"), "Talk");
    ASSERT_EQ(num(hit, "created_ms"), 1700000000000);
    ASSERT_EQ(num(hit, "seq"), 12);
    ASSERT_EQ(num(hit, "start_ms"), 24000);
    ASSERT_EQ(num(hit, "end_ms"), 25500);
    ASSERT_STREQ(str(hit, "text"), "my fellow americans");
    ASSERT_STREQ(str(hit, "snippet"), "my [fellow] [americans]");
    ASSERT_NEAR(json_real_value(json_object_get(hit, "score")), 1.2346, 1e-9);
    json_decref(v);
    hark_buf_dispose(&b);
}

static hark_job sample_job(void)
{
    hark_job j = HARK_JOB_INIT;
    j.id = 9;
    j.recording = 42;
    j.owner = 3;
    j.priority = HARK_PRIORITY_INTERACTIVE;
    j.state = HARK_JOB_RUNNING;
    j.attempts = 2;
    j.max_attempts = 4;
    j.params = "{\"secret\":\"not shown\"}";
    j.error = "engine crashed\ttwice";
    j.lease_owner = "host:1:abc";
    j.lease_expires_ms = 1700000009000;
    j.created_ms = 1700000000000;
    j.updated_ms = 1700000005000;
    j.started_ms = 1700000001000;
    j.chunks_total = 10;
    j.chunks_done = 4;
    j.chunks_failed = 1;
    j.chunks_final = 1;
    return j;
}

TEST(job_shape_with_and_without_chunks)
{
    static const char *const keys[] = {
        "id",         "recording",    "kind",          "priority",   "state",
        "attempts",   "max_attempts", "error",         "created_ms", "updated_ms",
        "started_ms", "finished_ms",  "not_before_ms", "progress",   NULL
    };
    static const char *const chunk_keys[] = { "index",    "start_ms", "end_ms", "state",
                                              "attempts", "error",    NULL };
    hark_job j = sample_job();
    hark_job_chunk c[2];
    hark_job_chunk_list cl;
    hark_buf b = HARK_BUF_INIT;
    json_t *v, *p, *arr;

    ASSERT_OK(hark_render_job(&b, &j, NULL, 0));
    ASSERT(!strstr(b.ptr, "secret"));     /* params are for the runner */
    ASSERT(!strstr(b.ptr, "host:1:abc")); /* and the lease is internal */
    v = parse(b.ptr);
    keys_are(v, keys);
    ASSERT_EQ(num(v, "id"), 9);
    ASSERT_EQ(num(v, "recording"), 42);
    ASSERT_STREQ(str(v, "kind"), "transcribe");
    ASSERT_STREQ(str(v, "priority"), "interactive");
    ASSERT_STREQ(str(v, "state"), "running");
    ASSERT_EQ(num(v, "attempts"), 2);
    ASSERT_EQ(num(v, "max_attempts"), 4);
    ASSERT_STREQ(str(v, "error"), "engine crashed\ttwice");
    ASSERT_EQ(num(v, "created_ms"), 1700000000000);
    ASSERT_EQ(num(v, "updated_ms"), 1700000005000);
    ASSERT_EQ(num(v, "started_ms"), 1700000001000);
    ASSERT(is_null(v, "finished_ms"));
    ASSERT(is_null(v, "not_before_ms"));
    p = json_object_get(v, "progress");
    ASSERT_EQ(num(p, "chunks_total"), 10);
    ASSERT_EQ(num(p, "chunks_done"), 4);
    ASSERT_EQ(num(p, "chunks_failed"), 1);
    ASSERT(truth(p, "final"));
    json_decref(v);
    hark_buf_dispose(&b);

    memset(c, 0, sizeof(c));
    c[0].index = 0;
    c[0].start = 0;
    c[0].n = 480000; /* 30 s */
    c[0].state = HARK_CHUNK_DONE;
    c[0].attempts = 1;
    c[1].index = 1;
    c[1].start = 480000;
    c[1].n = 8008; /* 500.5 ms: rounded like the store's times */
    c[1].state = HARK_CHUNK_FAILED;
    c[1].attempts = 3;
    c[1].error = "timeout";
    cl.n = 2;
    cl.items = c;
    j.state = HARK_JOB_DONE;
    j.finished_ms = 1700000009999;
    j.not_before_ms = 1700000001111;
    j.error = NULL;
    ASSERT_OK(hark_render_job(&b, &j, &cl, HARK_RENDER_PRETTY));
    v = parse(b.ptr);
    ASSERT_EQ(num(v, "finished_ms"), 1700000009999);
    ASSERT_EQ(num(v, "not_before_ms"), 1700000001111);
    ASSERT(is_null(v, "error"));
    ASSERT_STREQ(str(v, "state"), "done");
    arr = json_object_get(v, "chunks");
    ASSERT_EQ(json_array_size(arr), 2);
    keys_are(json_array_get(arr, 0), chunk_keys);
    ASSERT_EQ(num(json_array_get(arr, 0), "start_ms"), 0);
    ASSERT_EQ(num(json_array_get(arr, 0), "end_ms"), 30000);
    ASSERT_STREQ(str(json_array_get(arr, 0), "state"), "done");
    ASSERT(is_null(json_array_get(arr, 0), "error"));
    ASSERT_EQ(num(json_array_get(arr, 1), "start_ms"), 30000);
    ASSERT_EQ(num(json_array_get(arr, 1), "end_ms"), 30501);
    ASSERT_STREQ(str(json_array_get(arr, 1), "state"), "failed");
    ASSERT_EQ(num(json_array_get(arr, 1), "attempts"), 3);
    ASSERT_STREQ(str(json_array_get(arr, 1), "error"), "timeout");
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(job_list_with_cursor)
{
    hark_job items[2];
    hark_job_list l;
    hark_buf b = HARK_BUF_INIT;
    json_t *v;
    items[0] = sample_job();
    items[1] = sample_job();
    items[1].id = 3;
    items[1].priority = HARK_PRIORITY_MAINTENANCE;
    items[1].state = HARK_JOB_DEAD;
    l.n = 2;
    l.items = items;
    l.more = 1;
    ASSERT_OK(hark_render_job_list(&b, &l, 0));
    v = parse(b.ptr);
    ASSERT_EQ(json_array_size(json_object_get(v, "jobs")), 2);
    ASSERT_STREQ(str(json_array_get(json_object_get(v, "jobs"), 1), "state"), "dead");
    ASSERT_STREQ(str(json_array_get(json_object_get(v, "jobs"), 1), "priority"), "maintenance");
    ASSERT(json_object_get(json_array_get(json_object_get(v, "jobs"), 1), "chunks") == NULL);
    ASSERT_EQ(num(v, "next_cursor"), 3);
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(keys_and_key_lists)
{
    static const char *const keys[] = { "id",    "user",       "user_name",  "name", "prefix",
                                        "admin", "created_ms", "revoked_ms", NULL };
    hark_api_key k[2];
    hark_api_key_list l;
    hark_buf b = HARK_BUF_INIT;
    json_t *v, *first;

    memset(k, 0, sizeof(k));
    k[0].version = HARK_API_KEY_VERSION;
    k[0].id = 1;
    k[0].user = 2;
    k[0].user_name = "\xc3\xa9milie";
    k[0].name = "laptop";
    k[0].prefix = "hark_0123456";
    k[0].admin = 1;
    k[0].created_ms = 1700000000000;
    k[1] = k[0];
    k[1].id = 2;
    k[1].name = NULL;
    k[1].admin = 0;
    k[1].revoked_ms = 1700000000500;
    ASSERT_OK(hark_render_key(&b, &k[0], 0));
    v = parse(b.ptr);
    keys_are(v, keys);
    ASSERT_STREQ(str(v, "user_name"), "\xc3\xa9milie");
    ASSERT(truth(v, "admin"));
    ASSERT(is_null(v, "revoked_ms"));
    ASSERT_STREQ(str(v, "prefix"), "hark_0123456");
    json_decref(v);
    hark_buf_dispose(&b);

    l.n = 2;
    l.items = k;
    ASSERT_OK(hark_render_key_list(&b, &l, 0));
    v = parse(b.ptr);
    first = json_array_get(json_object_get(v, "keys"), 1);
    ASSERT_EQ(num(first, "id"), 2);
    ASSERT(is_null(first, "name"));
    ASSERT(!truth(first, "admin"));
    ASSERT_EQ(num(first, "revoked_ms"), 1700000000500);
    ASSERT_EQ(json_object_size(v), 1);
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(audit_list_embeds_json_details)
{
    static const char *const keys[] = { "id", "ts_ms", "user", "key", "action", "detail", NULL };
    hark_audit_entry e[3];
    hark_audit_list l;
    hark_buf b = HARK_BUF_INIT;
    json_t *v, *arr, *d;

    memset(e, 0, sizeof(e));
    e[0].id = 30;
    e[0].ts_ms = 1700000000000;
    e[0].user = 2;
    e[0].key = 5;
    e[0].action = "mode";
    e[0].detail = "{\"mode\": \"maintenance\", \"reason\": \"disk \\u00e9 swap\"}";
    e[1].id = 29;
    e[1].ts_ms = 1699999999000;
    e[1].action = "key.create";
    e[1].detail = NULL;
    e[2].id = 28;
    e[2].ts_ms = 1699999998000;
    e[2].action = "odd";
    e[2].detail = "{not json"; /* not written by this store, but never breaks the output */
    l.n = 3;
    l.items = e;
    l.more = 1;
    ASSERT_OK(hark_render_audit_list(&b, &l, HARK_RENDER_PRETTY));
    v = parse(b.ptr);
    arr = json_object_get(v, "entries");
    ASSERT_EQ(json_array_size(arr), 3);
    keys_are(json_array_get(arr, 0), keys);
    d = json_object_get(json_array_get(arr, 0), "detail");
    ASSERT(json_is_object(d));
    ASSERT_STREQ(str(d, "mode"), "maintenance");
    ASSERT_STREQ(str(d, "reason"), "disk \xc3\xa9 swap");
    ASSERT_EQ(num(json_array_get(arr, 0), "user"), 2);
    ASSERT_EQ(num(json_array_get(arr, 0), "key"), 5);
    ASSERT(is_null(json_array_get(arr, 1), "detail"));
    ASSERT(is_null(json_array_get(arr, 1), "user"));
    ASSERT(is_null(json_array_get(arr, 1), "key"));
    ASSERT_STREQ(str(json_array_get(arr, 2), "detail"), "{not json");
    ASSERT_EQ(num(v, "next_cursor"), 28);
    json_decref(v);
    hark_buf_dispose(&b);
}

TEST(json_validator_accepts_json_and_nothing_else)
{
    static const char *const good[] = {
        "{}",
        " { \"a\" : [1, -2.5e+3, 0.0, true, false, null, \"x\\n\\u00e9\"] } ",
        "{\"nested\":{\"deeper\":[[],{}]}}",
        "{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"}",
        NULL,
    };
    static const char *const bad[] = {
        "",
        "{",
        "{\"a\":}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "[1,]",
        "{a:1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":tru}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{} {}",
        "{\"a\":1}x",
        NULL,
    };
    char deep[300];
    for (int i = 0; good[i]; i++)
        ASSERT_MSG(hark__json_valid(good[i], strlen(good[i]), 1), "rejected %s", good[i]);
    for (int i = 0; bad[i]; i++)
        ASSERT_MSG(!hark__json_valid(bad[i], strlen(bad[i]), 0), "accepted %s", bad[i]);
    ASSERT(hark__json_valid("[1]", 3, 0));
    ASSERT(!hark__json_valid("[1]", 3, 1)); /* not an object */
    ASSERT(hark__json_valid("\"s\"", 3, 0));
    ASSERT(!hark__json_valid("{}\0", 3, 1)); /* a NUL inside the length */
    /* nesting is bounded */
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    ASSERT(!hark__json_valid(deep, 200, 0));
    ASSERT(hark__json_valid(deep + 40, 120, 0));
}
