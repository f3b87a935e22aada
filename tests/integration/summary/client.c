/*
 * client.c: hark_summarize (hark/summary.h) against the scripted
 * chat-completions server (chat.h) over real HTTP on 127.0.0.1: the request
 * it sends, map-reduce of a long transcript, and each kind of failure
 * (500, 429 with Retry-After, malformed answers, a slow answer past the
 * timeout) giving a clear error and leaving the output untouched.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "chat.h"
#include "hark/hark.h"
#include "hark/summary.h"
#include "util/util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static hark_summary_options opts(const chat_server *cs)
{
    hark_summary_options o;
    hark_summary_options_default(&o);
    o.url = cs->url;
    o.model = "tiny-llm";
    o.timeout_ms = 10000;
    return o;
}

/* The user message of request i. */
static char *user_content(chat_server *cs, int i)
{
    char *body = chat_body(cs, i), *out = NULL;
    json_t *o = body ? json_loads(body, 0, NULL) : NULL, *msgs;
    ASSERT(o != NULL);
    msgs = json_object_get(o, "messages");
    ASSERT_EQ(json_array_size(msgs), 2);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(msgs, 1), "role")), "user");
    out = strdup(json_string_value(json_object_get(json_array_get(msgs, 1), "content")));
    json_decref(o);
    free(body);
    return out;
}

static const char transcript[] =
    "the budget for the next quarter was approved and the launch moves to friday "
    "anna will write the announcement";

TEST(summary_sends_the_model_and_the_transcript)
{
    chat_server cs;
    hark_summary_options o;
    hark_summary_stats st;
    hark_buf out = HARK_BUF_INIT;
    char *body, *path, *auth;
    json_t *req, *msgs;

    chat_start(&cs, NULL, 0);
    o = opts(&cs);
    o.api_key = "sk-test-123";
    ASSERT_OK(hark_summarize(&o, transcript, &out, &st));
    ASSERT_STREQ(out.ptr, "S1 words=19 first=the");
    ASSERT_EQ(st.requests, 1);
    ASSERT_EQ(st.pieces, 1);
    ASSERT_EQ(st.rounds, 1);
    ASSERT_EQ(chat_requests(&cs), 1);
    path = chat_path(&cs, 0);
    ASSERT_STREQ(path, "/v1/chat/completions");
    auth = chat_auth(&cs, 0);
    ASSERT_STREQ(auth, "Bearer sk-test-123");
    body = chat_body(&cs, 0);
    req = json_loads(body, 0, NULL);
    ASSERT(req != NULL);
    ASSERT_STREQ(json_string_value(json_object_get(req, "model")), "tiny-llm");
    msgs = json_object_get(req, "messages");
    ASSERT_EQ(json_array_size(msgs), 2);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    ASSERT(strstr(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                  "summar") != NULL);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                 transcript);
    json_decref(req);
    free(body);
    free(path);
    free(auth);
    /* a URL that already names the endpoint, or ends in /v1, is used as such */
    {
        char url[128];
        snprintf(url, sizeof(url), "%s/v1/", cs.url);
        o.url = url;
        o.api_key = NULL;
        hark_buf_clear(&out);
        ASSERT_OK(hark_summarize(&o, "short text", &out, NULL));
        path = chat_path(&cs, 1);
        ASSERT_STREQ(path, "/v1/chat/completions");
        free(path);
        ASSERT(chat_auth(&cs, 1) == NULL);
        snprintf(url, sizeof(url), "%s/v1/chat/completions", cs.url);
        ASSERT_OK(hark_summarize(&o, "short text", &out, NULL));
        path = chat_path(&cs, 2);
        ASSERT_STREQ(path, "/v1/chat/completions");
        free(path);
    }
    hark_buf_dispose(&out);
    chat_stop(&cs);
}

TEST(a_long_transcript_is_summarised_in_pieces_then_as_a_whole)
{
    chat_server cs;
    hark_summary_options o;
    hark_summary_stats st;
    hark_buf text = HARK_BUF_INIT, out = HARK_BUF_INIT, joined = HARK_BUF_INIT;
    int i, n;
    char *last;

    for (i = 0; i < 400; i++)
        hark_buf_printf(&text, "%sword%03d", i ? " " : "", i);
    /* 3199 characters in pieces of at most 500 */
    chat_start(&cs, NULL, 0);
    o = opts(&cs);
    o.context_chars = 500;
    ASSERT_OK(hark_summarize(&o, text.ptr, &out, &st));
    n = chat_requests(&cs);
    ASSERT_EQ(st.pieces, 7);
    ASSERT_EQ(st.rounds, 2);
    ASSERT_EQ(st.requests, 8);
    ASSERT_EQ(n, 8);
    /* the pieces cover the transcript exactly, in order, each within the budget */
    for (i = 0; i < 7; i++) {
        char *u = user_content(&cs, i);
        ASSERT(strlen(u) <= 500);
        ASSERT(u[0] == 'w'); /* cut at a space: every piece starts with a whole word */
        hark_buf_puts(&joined, u);
        free(u);
    }
    ASSERT_STREQ(joined.ptr, text.ptr);
    /* the last request holds the seven summaries; its answer is the result */
    last = user_content(&cs, 7);
    ASSERT(strncmp(last, "S1 words=", 9) == 0);
    ASSERT(strstr(last, "first=word000") != NULL);
    ASSERT(strstr(last, "S7 words=") != NULL);
    ASSERT_STREQ(out.ptr, "S8 words=21 first=S1");
    free(last);
    hark_buf_dispose(&text);
    hark_buf_dispose(&out);
    hark_buf_dispose(&joined);
    chat_stop(&cs);
}

TEST(server_errors_are_clear_and_leave_no_output)
{
    static const chat_act acts[] = { C_500, C_OK, C_500 };
    chat_server cs;
    hark_summary_options o;
    hark_summary_stats st;
    hark_buf out = HARK_BUF_INIT, text = HARK_BUF_INIT;
    int i;

    chat_start(&cs, acts, 3);
    o = opts(&cs);
    ASSERT_ERR(hark_summarize(&o, transcript, &out, &st), HARK_EENGINE);
    ASSERT(strstr(hark_error_last(), "HTTP 500") != NULL);
    ASSERT(strstr(hark_error_last(), "the model fell over") != NULL);
    ASSERT(strstr(hark_error_last(), cs.url) != NULL);
    ASSERT_EQ(out.len, 0);
    /* map-reduce failing on its second piece: nothing is returned */
    for (i = 0; i < 100; i++)
        hark_buf_printf(&text, "%sword%03d", i ? " " : "", i);
    o.context_chars = 300;
    ASSERT_ERR(hark_summarize(&o, text.ptr, &out, &st), HARK_EENGINE);
    ASSERT_EQ(st.requests, 1);
    ASSERT_EQ(out.len, 0);
    ASSERT_EQ(chat_requests(&cs), 3);
    hark_buf_dispose(&out);
    hark_buf_dispose(&text);
    chat_stop(&cs);
}

TEST(rate_limited_answers_report_retry_after)
{
    static const chat_act acts[] = { C_429 };
    chat_server cs;
    hark_summary_options o;
    hark_summary_stats st;
    hark_buf out = HARK_BUF_INIT;

    chat_start(&cs, acts, 1);
    o = opts(&cs);
    ASSERT_ERR(hark_summarize(&o, transcript, &out, &st), HARK_EBUSY);
    ASSERT(strstr(hark_error_last(), "HTTP 429") != NULL);
    ASSERT(strstr(hark_error_last(), "retry after 7 s") != NULL);
    ASSERT_EQ(st.retry_after_ms, 7000);
    ASSERT_EQ(out.len, 0);
    /* not retried here (the job runner does, waiting at least that long) */
    ASSERT_EQ(chat_requests(&cs), 1);
    ASSERT_OK(hark_summarize(&o, transcript, &out, &st));
    ASSERT_EQ(st.retry_after_ms, -1);
    hark_buf_dispose(&out);
    chat_stop(&cs);
}

TEST(malformed_answers_are_errors)
{
    static const chat_act acts[] = { C_BADJSON, C_NOCONTENT };
    chat_server cs;
    hark_summary_options o;
    hark_buf out = HARK_BUF_INIT;

    chat_start(&cs, acts, 2);
    o = opts(&cs);
    ASSERT_ERR(hark_summarize(&o, transcript, &out, NULL), HARK_EENGINE);
    ASSERT(strstr(hark_error_last(), "not JSON") != NULL);
    ASSERT_ERR(hark_summarize(&o, transcript, &out, NULL), HARK_EENGINE);
    ASSERT(strstr(hark_error_last(), "choices[0].message.content") != NULL);
    ASSERT_EQ(out.len, 0);
    hark_buf_dispose(&out);
    chat_stop(&cs);
}

TEST(a_slow_answer_hits_the_timeout)
{
    static const chat_act acts[] = { C_SLOW };
    chat_server cs;
    hark_summary_options o;
    hark_buf out = HARK_BUF_INIT;
    double t0;

    chat_start(&cs, acts, 1);
    cs.slow_ms = 8000;
    o = opts(&cs);
    o.timeout_ms = 400;
    t0 = now_ms();
    ASSERT_ERR(hark_summarize(&o, transcript, &out, NULL), HARK_ETIMEOUT);
    ASSERT(now_ms() - t0 < 4000);
    ASSERT(strstr(hark_error_last(), cs.url) != NULL);
    ASSERT_EQ(out.len, 0);
    hark_buf_dispose(&out);
    chat_stop(&cs);
}

TEST(bad_arguments)
{
    hark_summary_options o;
    hark_buf out = HARK_BUF_INIT;
    hark_summary_options_default(&o);
    ASSERT_ERR(hark_summarize(&o, transcript, &out, NULL), HARK_EINVAL);
    ASSERT(strstr(hark_error_last(), "--summary-url") != NULL);
    o.url = "ftp://example.org";
    ASSERT_ERR(hark_summarize(&o, transcript, &out, NULL), HARK_EINVAL);
    o.url = "http://127.0.0.1:1";
    ASSERT_ERR(hark_summarize(&o, "  \n ", &out, NULL), HARK_EEMPTY);
    /* nothing listens on port 1 */
    ASSERT_ERR(hark_summarize(&o, transcript, &out, NULL), HARK_ENETWORK);
    ASSERT_EQ(out.len, 0);
    hark_buf_dispose(&out);
}
