/*
 * summary.c: transcript summaries by a chat-completions model
 * (hark/summary.h).
 *
 * DESIGN
 * One libcurl easy handle per hark_summarize call, reused (keep-alive) for
 * all its requests. Each request is POST {url}/v1/chat/completions with
 * {"model", "temperature": 0, "messages": [system prompt, user text]}; the
 * answer's choices[0].message.content is the summary. Map-reduce: while the
 * text is longer than the budget it is cut at word boundaries (the last
 * space, else newline, before the limit; a single word longer than the
 * budget is cut inside it) and each piece is summarised with the "piece"
 * prompt; the joined summaries become the next round's text. A round whose
 * output is not shorter than its input fails (a model that expands would
 * loop forever). The last, fitting text gets the final prompt.
 * No retries here: the job runner retries whole jobs with backoff, waiting
 * at least the Retry-After we report.
 *
 * INVARIANTS
 * - `out` is appended to only on success.
 * - Answers larger than MAX_ANSWER are refused (HARK_ETOOBIG), not buffered.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hark/summary.h"
#include "hark/version.h"
#include "../asr/asr.h"
#include "../util/util.h"

#define DEFAULT_TIMEOUT_MS 120000u
#define DEFAULT_CONTEXT    12000u
#define MIN_CONTEXT        200u
#define MAX_ANSWER         (1u << 20)
#define MAX_ROUNDS         8

static const char final_prompt[] =
    "You summarise transcripts of recorded speech. Write a concise summary of the "
    "transcript the user sends: the main points, decisions and action items, in the "
    "language of the transcript. Answer with the summary only.";
static const char piece_prompt[] =
    "You summarise one part of a longer transcript of recorded speech. Write a concise "
    "summary of this part: its main points, decisions and action items. Answer with the "
    "summary only.";

typedef struct conn {
    CURL *curl;
    struct curl_slist *headers;
    hark_buf body;
    long retry_after_ms;
    const hark_summary_options *o;
    char errbuf[CURL_ERROR_SIZE];
} conn;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hark_summary_options_default(hark_summary_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_SUMMARY_OPTIONS_VERSION;
    o->model = "default";
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    o->context_chars = DEFAULT_CONTEXT;
}

/* {url}/v1/chat/completions, {url}/chat/completions when url ends in /v1, or url as is. */
static int endpoint(const char *url, hark_buf *out)
{
    size_t n = strlen(url);
    static const char tail[] = "/chat/completions";
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return hark_error_set(HARK_EINVAL, "summary: %s is not an http:// or https:// URL", url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= sizeof(tail) - 1 && !strncmp(url + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1))
        return hark_buf_printf(out, "%.*s", (int)n, url);
    if (n >= 3 && !strncmp(url + n - 3, "/v1", 3))
        return hark_buf_printf(out, "%.*s%s", (int)n, url, tail);
    return hark_buf_printf(out, "%.*s/v1%s", (int)n, url, tail);
}

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
    conn *c = payload;
    if (c->body.len + size * n > MAX_ANSWER || hark_buf_put(&c->body, data, size * n) < 0)
        return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *payload)
{
    conn *c = payload;
    hark__http_retry_after(data, size * n, 3600 * 1000L, &c->retry_after_ms);
    return size * n;
}

static int on_progress(void *payload, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    conn *c = payload;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return c->o->abort && c->o->abort(c->o->payload) ? 1 : 0;
}

static int conn_open(conn *c, const hark_summary_options *o, const char *url)
{
    hark_buf auth = HARK_BUF_INIT;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    c->o = o;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return hark_error_set(HARK_ENETWORK, "summary: libcurl: %s",
                              curl_easy_strerror(curl_init_rc));
    if (!(c->curl = curl_easy_init()))
        return hark_error_set(HARK_ENOMEM, "summary: cannot create a libcurl handle");
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (c->headers && o->api_key && *o->api_key) {
        struct curl_slist *h;
        if ((rc = hark_buf_printf(&auth, "Authorization: Bearer %s", o->api_key)) < 0)
            goto out;
        if (!(h = curl_slist_append(c->headers, auth.ptr)))
            curl_slist_free_all(c->headers);
        c->headers = h;
    }
    if (!c->headers) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "hark/" HARK_VERSION_STRING) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c) != CURLE_OK)
        rc = hark_error_set(HARK_ENETWORK, "summary: cannot configure libcurl");
out:
    hark_buf_dispose(&auth);
    return rc;
}

static void conn_close(conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    hark_buf_dispose(&c->body);
}

/* The server's error message from a JSON error answer, as ": message", or "". */
static void server_message(const conn *c, char *out, size_t cap)
{
    json_error_t err;
    json_t *root, *e, *m;
    out[0] = '\0';
    if (!c->body.len || !(root = json_loadb(c->body.ptr, c->body.len, 0, &err)))
        return;
    e = json_object_get(root, "error");
    m = json_is_object(e) ? json_object_get(e, "message") : e;
    if (json_is_string(m))
        snprintf(out, cap, ": %s", json_string_value(m));
    json_decref(root);
}

/* One chat-completions request: system prompt + user text; the answer appended to `out`. */
static int chat(conn *c, const char *url, const char *system, const char *text, size_t len,
                hark_buf *out, hark_summary_stats *st)
{
    json_t *req = NULL, *answer = NULL, *content;
    json_error_t err;
    char *body = NULL, detail[300];
    long status = 0;
    CURLcode cc;
    int rc = 0;

    req = json_pack("{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s%}]}", "model", c->o->model, "temperature",
                    0, "messages", "role", "system", "content", system, "role", "user", "content",
                    text, len);
    if (!req || !(body = json_dumps(req, JSON_COMPACT))) {
        rc = hark_error_set(HARK_ENOMEM, "summary: cannot build the request (is the text UTF-8?)");
        goto out;
    }
    hark_buf_clear(&c->body);
    c->retry_after_ms = -1;
    c->errbuf[0] = '\0';
    if (curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK) {
        rc = hark_error_set(HARK_ENETWORK, "summary: cannot configure libcurl");
        goto out;
    }
    cc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    st->retry_after_ms = c->retry_after_ms;
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = hark_error_set(HARK_ECANCELED, "canceled");
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = hark_error_set(HARK_ETOOBIG, "summary: %s: the answer is over %u KiB", url,
                            MAX_ANSWER >> 10);
    } else if (cc != CURLE_OK) {
        rc = hark_error_set(cc == CURLE_OPERATION_TIMEDOUT ? HARK_ETIMEOUT : HARK_ENETWORK,
                            "summary: %s: %s", url,
                            c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    } else if (status < 200 || status >= 300) {
        server_message(c, detail, sizeof(detail));
        if (status == 429 && c->retry_after_ms >= 0)
            rc = hark_error_set(HARK_EBUSY, "summary: %s: HTTP 429 (retry after %ld s)%s", url,
                                c->retry_after_ms / 1000, detail);
        else
            rc = hark_error_set(status == 429                    ? HARK_EBUSY
                                : status >= 500                  ? HARK_EENGINE
                                : status == 401 || status == 403 ? HARK_EAUTH
                                : status == 404                  ? HARK_EUNSUPPORTED
                                                                 : HARK_EINVAL,
                                "summary: %s: HTTP %ld%s", url, status, detail);
    } else if (!(answer = json_loadb(c->body.ptr ? c->body.ptr : "", c->body.len, 0, &err))) {
        rc = hark_error_set(HARK_EENGINE, "summary: %s: the answer is not JSON: %s (line %d)", url,
                            err.text, err.line);
    } else if (!json_is_string(
                   content = json_object_get(
                       json_object_get(json_array_get(json_object_get(answer, "choices"), 0),
                                       "message"),
                       "content"))) {
        rc = hark_error_set(HARK_EENGINE,
                            "summary: %s: the answer has no choices[0].message.content", url);
    } else {
        const char *s = json_string_value(content);
        size_t n = json_string_length(content);
        s = hark__trim(s, &n);
        if (n == 0)
            rc = hark_error_set(HARK_EENGINE, "summary: %s: the model answered nothing", url);
        else if ((rc = hark_buf_put(out, s, n)) == 0)
            st->requests++;
    }
out:
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    if (req)
        json_decref(req);
    if (answer)
        json_decref(answer);
    free(body); /* libc: json_dumps allocates with malloc */
    return rc;
}

/* Length of the next piece of text[0, n) of at most `budget` bytes: cut after a space. */
static size_t piece_len(const char *text, size_t n, size_t budget)
{
    size_t i;
    if (n <= budget)
        return n;
    for (i = budget; i > budget / 2; i--)
        if (text[i] == ' ' || text[i] == '\n')
            return i + 1;
    /* no space in the second half: cut at the budget, backing off UTF-8 continuation bytes */
    for (i = budget; i > 1 && ((unsigned char)text[i] & 0xC0) == 0x80; i--)
        ;
    return i;
}

int hark_summarize(const hark_summary_options *o, const char *text, hark_buf *out,
                   hark_summary_stats *stats)
{
    hark_summary_stats st0;
    hark_summary_stats *st = stats ? stats : &st0;
    hark_buf url = HARK_BUF_INIT, cur = HARK_BUF_INIT, next = HARK_BUF_INIT;
    conn c;
    size_t budget, n;
    int rc, opened = 0;

    HARK_ASSERT_ARG(o && text && out);
    memset(st, 0, sizeof(*st));
    st->retry_after_ms = -1;
    if (o->version != HARK_SUMMARY_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_summary_options version %u not supported",
                              o->version);
    if (!o->url || !*o->url)
        return hark_error_set(HARK_EINVAL, "summary: no chat-completions URL configured "
                                           "(--summary-url or HARK_SUMMARY_URL)");
    budget = o->context_chars ? o->context_chars : DEFAULT_CONTEXT;
    if (budget < MIN_CONTEXT)
        budget = MIN_CONTEXT;
    n = strlen(text);
    {
        const char *t = hark__trim(text, &n);
        if (n == 0)
            return hark_error_set(HARK_EEMPTY, "summary: the transcript is empty");
        if ((rc = hark_buf_put(&cur, t, n)) < 0)
            goto out;
    }
    if ((rc = endpoint(o->url, &url)) < 0 || (rc = conn_open(&c, o, url.ptr)) < 0)
        goto out;
    opened = 1;
    /* map: while the text does not fit, summarise it piece by piece */
    while (cur.len > budget) {
        size_t off = 0;
        if (++st->rounds > MAX_ROUNDS) {
            rc = hark_error_set(HARK_EENGINE,
                                "summary: still over %zu characters after %d "
                                "rounds of summaries",
                                budget, MAX_ROUNDS);
            goto out;
        }
        hark_buf_clear(&next);
        while (off < cur.len) {
            size_t len = piece_len(cur.ptr + off, cur.len - off, budget);
            if (st->rounds == 1)
                st->pieces++;
            if (next.len && (rc = hark_buf_puts(&next, "\n\n")) < 0)
                goto out;
            if ((rc = chat(&c, url.ptr, o->prompt ? o->prompt : piece_prompt, cur.ptr + off, len,
                           &next, st)) < 0)
                goto out;
            off += len;
        }
        if (next.len >= cur.len) {
            rc = hark_error_set(HARK_EENGINE,
                                "summary: %s: the summaries (%zu characters) are "
                                "not shorter than the text (%zu)",
                                url.ptr, next.len, cur.len);
            goto out;
        }
        hark_buf_clear(&cur);
        if ((rc = hark_buf_put(&cur, next.ptr, next.len)) < 0)
            goto out;
    }
    if (st->pieces == 0)
        st->pieces = 1;
    st->rounds++;
    /* reduce: the whole (or the summaries) in one request */
    hark_buf_clear(&next);
    if ((rc = chat(&c, url.ptr, o->prompt ? o->prompt : final_prompt, cur.ptr, cur.len, &next,
                   st)) < 0)
        goto out;
    rc = hark_buf_put(out, next.ptr, next.len);
out:
    if (opened)
        conn_close(&c);
    hark_buf_dispose(&url);
    hark_buf_dispose(&cur);
    hark_buf_dispose(&next);
    return rc;
}
