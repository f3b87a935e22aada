/*
 * engine_remote.c: "remote", an engine that sends each chunk to an
 * OpenAI-compatible speech-to-text server (hark serve, speaches, whisper.cpp's
 * server, OpenAI itself) and reads the answer back as segments and words.
 *
 * DESIGN
 * - The "model" is the connection's configuration, immutable after load:
 *   the endpoint URL, the key, the remote model name, timeouts, the retry
 *   policy, plus counters (under a mutex) for benchmarks and tests. Loading
 *   it does no I/O.
 * - Each worker state owns one libcurl easy handle for its whole life, so
 *   libcurl keeps the connection open between chunks (keep-alive, and HTTP/2
 *   when the server offers it over TLS): one TCP (+TLS) handshake per worker,
 *   not per chunk. The fresh_connections option forbids reuse (a new
 *   connection per request), which is what the benchmark compares.
 * - A chunk is encoded as FLAC (lossless, about half the size of 16-bit PCM
 *   for speech; src/audio/flac.c) and posted as multipart/form-data: file,
 *   model, response_format=verbose_json, timestamp_granularities[] (segment,
 *   and word when word timestamps are wanted), language, prompt,
 *   temperature. The URL may be a base (".../v1", or a bare host: "/v1" is
 *   added), an OpenAI endpoint (".../audio/transcriptions|translations"),
 *   or whisper.cpp's ".../inference" (translate=true is then a form field).
 *   Translation uses /audio/translations.
 * - Retries: 429 and 5xx answers and transport failures (connection
 *   refused or reset, a timeout, an answer cut short) are retried up to
 *   `retries` times with exponential backoff (base 250 ms, doubling, capped
 *   at 8 s, with up to 25% jitter), waiting at least what Retry-After asks
 *   (seconds or an HTTP date, capped at 60 s). The wait polls the job's
 *   abort callback. Other 4xx answers are not retried: 401/403 -> HARK_EAUTH,
 *   404 -> HARK_EUNSUPPORTED (no such endpoint), 413 -> HARK_ETOOBIG, the
 *   rest HARK_EINVAL; an answer that cannot be read -> HARK_EENGINE. After
 *   the last attempt: HARK_ETIMEOUT or HARK_ENETWORK (transport), HARK_EBUSY
 *   (429), HARK_EENGINE (5xx), with the server's error message when it sent
 *   one. The pipeline's own per-chunk retries come on top of these.
 * - Answers: verbose_json's "segments" (start/end in seconds -> samples
 *   relative to the chunk, clamped to it), with each segment's words from
 *   its own "words" array (whisper.cpp) or from the top-level "words"
 *   (OpenAI), assigned by start time. Confidence: the segment's
 *   "confidence" (hark serve sends it), else the mean word probability, else
 *   exp(avg_logprob); 1 when the server gives none of these. An answer
 *   without segments but with "text" (plain json) is one segment over the
 *   chunk.
 *
 * INVARIANTS
 * - A state's handle is used by one thread at a time (the pipeline's
 *   contract for states), so its buffers need no lock.
 * - Request bodies and answers are bounded (MAX_ANSWER); the key never
 *   appears in identities, errors or logs.
 */
#define _DEFAULT_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "asr.h"
#include "hark/version.h"
#include "../audio/audio.h"
#include "../util/util.h"

#define DEFAULT_TIMEOUT_MS 300000u /* one request: upload, server time, answer */
#define CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_RETRIES    4
#define BACKOFF_BASE_MS    250u
#define BACKOFF_MAX_MS     8000u
#define RETRY_AFTER_MAX_MS 60000u
#define MAX_ANSWER         (32u << 20) /* bytes of an answer body */
#define MAX_SEGMENTS_WORDS 100000      /* words taken from one answer */
#define DEFAULT_MODEL      "whisper-1"

typedef struct remote_model {
    char *url_transcribe; /* endpoint for transcription */
    char *url_translate;  /* endpoint for translation (== url_transcribe for /inference) */
    int inference;        /* whisper.cpp's /inference: translate is a form field */
    char *auth;           /* "Authorization: Bearer KEY", NULL = none */
    char *model;          /* the form's model field */
    long timeout_ms;
    int retries;
    int reuse; /* keep connections between requests (default 1) */

    pthread_mutex_t mu; /* guards stats: the one mutable part */
    hark__remote_stats stats;
} remote_model;

typedef struct remote_state {
    remote_model *m;
    CURL *curl;
    struct curl_slist *headers;
    hark_buf body;              /* the answer */
    hark_buf upload;            /* the FLAC of the chunk */
    long retry_after_ms;        /* from the last answer's Retry-After, -1 = none */
    uint64_t rng;               /* jitter */
    const hark_engine_job *job; /* for the progress callback's abort poll */
    char errbuf[CURL_ERROR_SIZE];
} remote_state;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- configuration ------------------------------------------------------------------------ */

/* The path part of an http(s) URL (after scheme://host[:port]), or NULL if it is not one. */
static const char *url_path(const char *url)
{
    const char *host;
    if (!url)
        return NULL;
    if (!strncasecmp(url, "http://", 7))
        host = url + 7;
    else if (!strncasecmp(url, "https://", 8))
        host = url + 8;
    else
        return NULL;
    if (!*host || *host == '/')
        return NULL;
    return host + strcspn(host, "/?#");
}

int hark__remote_check_url(const char *url)
{
    const char *path = url_path(url);
    if (!url || !*url)
        return hark_error_set(HARK_EINVAL, "the remote engine needs a server: give --url "
                                           "http(s)://HOST[:PORT][/v1]");
    if (!path)
        return hark_error_set(HARK_EINVAL, "remote: '%.200s' is not an http:// or https:// URL",
                              url);
    if (*path == '?' || *path == '#' || strpbrk(path, "?#"))
        return hark_error_set(HARK_EINVAL, "remote: '%.200s': a query or fragment is not allowed",
                              url);
    if (strpbrk(url, " \t\r\n"))
        return hark_error_set(HARK_EINVAL, "remote: the URL contains white space");
    return 0;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && !memcmp(s + len - n, suffix, n);
}

/* Work out the endpoints from the URL as given. */
static int endpoints(remote_model *m, const char *url)
{
    hark_buf base = HARK_BUF_INIT, a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    size_t len = strlen(url);
    int rc = 0;

    while (len && url[len - 1] == '/')
        len--;
    if (ends_with(url, len, "/inference")) {
        m->inference = 1;
        if ((rc = hark_buf_put(&a, url, len)) < 0 || (rc = hark_buf_put(&b, url, len)) < 0)
            goto out;
    } else {
        if (ends_with(url, len, "/audio/transcriptions"))
            len -= strlen("/audio/transcriptions");
        else if (ends_with(url, len, "/audio/translations"))
            len -= strlen("/audio/translations");
        if ((rc = hark_buf_put(&base, url, len)) < 0)
            goto out;
        if (*url_path(base.ptr) == '\0' && (rc = hark_buf_puts(&base, "/v1")) < 0)
            goto out; /* a bare host: OpenAI's layout */
        if ((rc = hark_buf_printf(&a, "%s/audio/transcriptions", base.ptr)) < 0 ||
            (rc = hark_buf_printf(&b, "%s/audio/translations", base.ptr)) < 0)
            goto out;
    }
    m->url_transcribe = hark_buf_detach(&a);
    m->url_translate = hark_buf_detach(&b);
out:
    if (rc < 0)
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
    hark_buf_dispose(&base);
    hark_buf_dispose(&a);
    hark_buf_dispose(&b);
    return rc;
}

static void model_free(void *model)
{
    remote_model *m = model;
    if (!m)
        return;
    hark__free(m->url_transcribe);
    hark__free(m->url_translate);
    if (m->auth)
        memset(m->auth, 0, strlen(m->auth));
    hark__free(m->auth);
    hark__free(m->model);
    pthread_mutex_destroy(&m->mu);
    hark__free(m);
}

int hark__remote_model_load(void **out, const hark__remote_params *p)
{
    remote_model *m = NULL;
    hark_buf auth = HARK_BUF_INIT;
    int rc;

    *out = NULL;
    if ((rc = hark__remote_check_url(p->url)) < 0)
        return rc;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return hark_error_set(HARK_ENETWORK, "remote: libcurl failed to initialise: %s",
                              curl_easy_strerror(curl_init_rc));
    m = hark__calloc(1, sizeof(*m));
    if (!m)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    m->timeout_ms = (long)(p->timeout_ms ? p->timeout_ms : DEFAULT_TIMEOUT_MS);
    m->retries = p->retries >= 0 ? p->retries : DEFAULT_RETRIES;
    m->reuse = !p->fresh_connections;
    if ((rc = endpoints(m, p->url)) < 0)
        goto out;
    m->model = hark__strdup(p->model && *p->model ? p->model : DEFAULT_MODEL);
    HARK_ALLOC_CHECK(m->model, rc, out);
    if (p->api_key && *p->api_key) {
        if (strpbrk(p->api_key, "\r\n")) {
            rc = hark_error_set(HARK_EINVAL, "remote: the API key contains a line break");
            goto out;
        }
        if (hark_buf_printf(&auth, "Authorization: Bearer %s", p->api_key) < 0) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            goto out;
        }
        m->auth = hark_buf_detach(&auth);
    }
out:
    if (auth.ptr)
        memset(auth.ptr, 0, auth.len);
    hark_buf_dispose(&auth);
    if (rc < 0)
        model_free(m);
    else
        *out = m;
    return rc;
}

int hark__remote_identity(const hark__remote_params *p, hark_buf *out)
{
    remote_model m;
    int rc;
    if ((rc = hark__remote_check_url(p->url)) < 0)
        return rc;
    memset(&m, 0, sizeof(m));
    if ((rc = endpoints(&m, p->url)) < 0)
        return rc;
    rc = hark_buf_printf(out, "%s model=%s", m.url_transcribe,
                         p->model && *p->model ? p->model : DEFAULT_MODEL);
    hark__free(m.url_transcribe);
    hark__free(m.url_translate);
    return rc;
}

void hark__remote_stats_get(hark_engine *e, hark__remote_stats *out)
{
    const void *model = NULL;
    memset(out, 0, sizeof(*out));
    if (strcmp(hark_engine_name(e), "remote") != 0 || !hark_engine_model_loaded(e))
        return;
    if (hark__engine_acquire(e, &model) < 0)
        return;
    {
        remote_model *m = (remote_model *)model;
        pthread_mutex_lock(&m->mu);
        *out = m->stats;
        pthread_mutex_unlock(&m->mu);
    }
    hark__engine_release(e);
}

/* The vtable's own entry points take the URL as the model (the registry uses the ones above). */
static int ops_model_load(void **out, const char *url)
{
    hark__remote_params p;
    memset(&p, 0, sizeof(p));
    p.url = url;
    p.retries = -1;
    return hark__remote_model_load(out, &p);
}

static int ops_model_identity(const char *url, hark_buf *out)
{
    hark__remote_params p;
    memset(&p, 0, sizeof(p));
    p.url = url;
    return hark__remote_identity(&p, out);
}

static int model_describe(const void *model, hark_buf *out)
{
    const remote_model *m = model;
    return hark_buf_printf(out, "%s at %s", m->model, m->url_transcribe);
}

static int options_key(const hark_decode_options *o, hark_buf *out)
{
    return hark_buf_printf(out,
                           "{\"language\":\"%s\",\"translate\":%d,\"prompt\":%zu,"
                           "\"temperature\":%.3f,\"words\":%d}",
                           o->language ? o->language : "", o->translate ? 1 : 0,
                           o->prompt ? strlen(o->prompt) : 0, (double)o->temperature,
                           o->word_timestamps ? 1 : 0);
}

/* ---- states -------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
    remote_state *s = payload;
    if (hark_buf_put(&s->body, data, size * n) < 0)
        return 0; /* too big: libcurl fails the transfer with CURLE_WRITE_ERROR */
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *payload)
{
    remote_state *s = payload;
    hark__http_retry_after(data, size * n, (long)RETRY_AFTER_MAX_MS, &s->retry_after_ms);
    return size * n;
}

static int on_progress(void *payload, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    remote_state *s = payload;
    HARK_UNUSED(dltotal);
    HARK_UNUSED(dlnow);
    HARK_UNUSED(ultotal);
    HARK_UNUSED(ulnow);
    return s->job && s->job->abort && s->job->abort(s->job->payload) ? 1 : 0;
}

static void state_free(void *state)
{
    remote_state *s = state;
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->headers);
    hark_buf_dispose(&s->body);
    hark_buf_dispose(&s->upload);
    hark__free(s);
}

static int state_new(void **out, const void *model)
{
    remote_state *s = hark__calloc(1, sizeof(*s));
    remote_model *m = (remote_model *)model;
    struct curl_slist *h;
    int rc = 0;

    *out = NULL;
    HARK_ALLOC_CHECK(s, rc, out);
    s->m = m;
    s->rng = (uint64_t)(uintptr_t)s ^ hark__now_ns();
    hark_buf_init(&s->body, MAX_ANSWER);
    s->curl = curl_easy_init();
    HARK_ALLOC_CHECK(s->curl, rc, out);
    h = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    HARK_ALLOC_CHECK(h, rc, out);
    s->headers = h;
    if (!(h = curl_slist_append(s->headers, "Accept: application/json")))
        HARK_ALLOC_CHECK(h, rc, out);
    if (m->auth && !(h = curl_slist_append(s->headers, m->auth)))
        HARK_ALLOC_CHECK(h, rc, out);
    if (curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "hark/" HARK_VERSION_STRING) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
                         HARK_MIN(CONNECT_TIMEOUT_MS, m->timeout_ms)) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, m->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_FORBID_REUSE, m->reuse ? 0L : 1L) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_FRESH_CONNECT, m->reuse ? 0L : 1L) != CURLE_OK) {
        rc = hark_error_set(HARK_ENETWORK, "remote: cannot configure libcurl");
        goto out;
    }
out:
    if (rc < 0)
        state_free(s);
    else
        *out = s;
    return rc;
}

/* ---- answers ------------------------------------------------------------------------------ */

static int64_t to_samples(json_t *v, int64_t n)
{
    double sec = json_number_value(v);
    int64_t x;
    if (!isfinite(sec) || sec <= 0)
        return 0;
    x = (int64_t)llround(sec * HARK_SAMPLE_RATE);
    return x > n ? n : x;
}

static float clamp01(double x)
{
    if (!(x >= 0))
        return 0.0f;
    return x > 1 ? 1.0f : (float)x;
}

/* Words of one segment: `arr` entries whose start lies in [lo, hi) (all when hi < 0). */
static int collect_words(json_t *arr, int64_t n, int64_t lo, int64_t hi, hark_word **words,
                         uint32_t *n_words, double *p_sum, uint32_t *p_count)
{
    size_t i;
    json_t *w;
    json_array_foreach(arr, i, w)
    {
        const char *text = json_string_value(json_object_get(w, "word"));
        json_t *p = json_object_get(w, "probability");
        hark_word *x;
        int64_t ws = to_samples(json_object_get(w, "start"), n);
        int64_t we = to_samples(json_object_get(w, "end"), n);
        if (!text)
            continue;
        if (hi >= 0 && (ws < lo || ws >= hi))
            continue;
        if (*n_words >= MAX_SEGMENTS_WORDS)
            break;
        x = hark__reallocarray(*words, *n_words + 1, sizeof(**words));
        if (!x)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        *words = x;
        x = &(*words)[(*n_words)++];
        x->text = text; /* borrowed from the JSON until the segment is added */
        x->start = ws;
        x->end = we < ws ? ws : we;
        x->p = json_is_number(p) ? clamp01(json_number_value(p)) : -1.0f;
        if (json_is_number(p)) {
            *p_sum += x->p;
            (*p_count)++;
        }
    }
    return 0;
}

/* Parse an answer body into segments of `out` (times relative to the chunk of n samples). */
static int parse_answer(const char *body, size_t len, int64_t n, hark_transcript *out)
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr), *segs, *top_words, *g;
    hark_word *words = NULL;
    size_t i;
    int rc = 0;

    if (!json_is_object(o)) {
        rc = hark_error_set(HARK_EENGINE, "remote: the answer is not a JSON object (%.80s)",
                            jerr.text);
        goto out;
    }
    segs = json_object_get(o, "segments");
    top_words = json_object_get(o, "words");
    if (!json_is_array(segs)) {
        const char *text = json_string_value(json_object_get(o, "text"));
        size_t tl = text ? strlen(text) : 0;
        hark_segment seg;
        if (!text) {
            rc = hark_error_set(HARK_EENGINE, "remote: the answer has neither segments nor text");
            goto out;
        }
        if (!hark__trim(text, &tl) || tl == 0)
            goto out; /* silence */
        memset(&seg, 0, sizeof(seg));
        seg.end = n;
        seg.text = text;
        seg.confidence = 1.0f;
        rc = hark_transcript_add(out, &seg);
        goto out;
    }
    json_array_foreach(segs, i, g)
    {
        hark_segment seg;
        const char *text = json_string_value(json_object_get(g, "text"));
        json_t *conf = json_object_get(g, "confidence");
        json_t *alp = json_object_get(g, "avg_logprob");
        uint32_t n_words = 0, p_count = 0;
        double p_sum = 0;
        uint32_t k;

        if (!json_is_object(g) || !text) {
            rc = hark_error_set(HARK_EENGINE, "remote: segment %zu has no text", i);
            goto out;
        }
        memset(&seg, 0, sizeof(seg));
        seg.start = to_samples(json_object_get(g, "start"), n);
        seg.end = to_samples(json_object_get(g, "end"), n);
        if (seg.end < seg.start)
            seg.end = seg.start;
        seg.text = text;
        seg.avg_logprob = (float)json_number_value(alp);
        seg.no_speech_prob = clamp01(json_number_value(json_object_get(g, "no_speech_prob")));
        seg.compression_ratio = (float)json_number_value(json_object_get(g, "compression_ratio"));
        seg.temperature = (float)json_number_value(json_object_get(g, "temperature"));
        if (json_is_array(json_object_get(g, "words")))
            rc = collect_words(json_object_get(g, "words"), n, 0, -1, &words, &n_words, &p_sum,
                               &p_count);
        else if (json_is_array(top_words)) {
            /* OpenAI: one list for the whole answer; a word belongs to the segment it starts in
             * (the last segment takes the rest) */
            int64_t hi = i + 1 < json_array_size(segs)
                             ? to_samples(json_object_get(json_array_get(segs, i + 1), "start"), n)
                             : n + 1;
            rc = collect_words(top_words, n, i == 0 ? 0 : seg.start, hi, &words, &n_words, &p_sum,
                               &p_count);
        }
        if (rc < 0)
            goto out;
        if (json_is_number(conf))
            seg.confidence = clamp01(json_number_value(conf));
        else if (p_count)
            seg.confidence = (float)(p_sum / p_count);
        else if (json_is_number(alp))
            seg.confidence = clamp01(exp(json_number_value(alp)));
        else
            seg.confidence = 1.0f;
        for (k = 0; k < n_words; k++)
            if (words[k].p < 0)
                words[k].p = seg.confidence;
        seg.words = n_words ? words : NULL;
        seg.n_words = n_words;
        if ((rc = hark_transcript_add(out, &seg)) < 0)
            goto out;
        hark__free(words);
        words = NULL;
    }
out:
    hark__free(words);
    json_decref(o);
    return rc;
}

/* The server's error message from an error answer ({"error":{"message":...}} or text). */
static void server_message(const remote_state *s, char *out, size_t size)
{
    json_t *o = s->body.len ? json_loadb(s->body.ptr, s->body.len, 0, NULL) : NULL;
    json_t *e = json_object_get(o, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!msg)
        msg = json_string_value(e);
    if (!msg)
        msg = json_string_value(json_object_get(o, "message"));
    if (msg)
        snprintf(out, size, ": %s", msg);
    else if (!o && s->body.len && s->body.len < 200 && !memchr(s->body.ptr, '\0', s->body.len))
        snprintf(out, size, ": %.*s", (int)s->body.len, s->body.ptr);
    else
        out[0] = '\0';
    json_decref(o);
}

/* ---- transcribe ----------------------------------------------------------------------------- */

static int add_field(curl_mime *mime, const char *name, const char *value)
{
    curl_mimepart *part = curl_mime_addpart(mime);
    if (!part || curl_mime_name(part, name) != CURLE_OK ||
        curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

static int build_form(remote_state *s, const hark_engine_job *job, curl_mime **out)
{
    const hark_decode_options *o = job->opts;
    curl_mime *mime = curl_mime_init(s->curl);
    curl_mimepart *part;
    char num[32];
    int rc = 0;

    *out = NULL;
    HARK_ALLOC_CHECK(mime, rc, out);
    part = curl_mime_addpart(mime);
    if (!part || curl_mime_name(part, "file") != CURLE_OK ||
        curl_mime_data(part, s->upload.ptr, s->upload.len) != CURLE_OK ||
        curl_mime_filename(part, "chunk.flac") != CURLE_OK ||
        curl_mime_type(part, "audio/flac") != CURLE_OK) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = add_field(mime, "model", s->m->model)) < 0 ||
        (rc = add_field(mime, "response_format", "verbose_json")) < 0 ||
        (rc = add_field(mime, "timestamp_granularities[]", "segment")) < 0)
        goto out;
    if (o->word_timestamps && (rc = add_field(mime, "timestamp_granularities[]", "word")) < 0)
        goto out;
    if (o->language && *o->language && strcmp(o->language, "auto") &&
        (rc = add_field(mime, "language", o->language)) < 0)
        goto out;
    if (o->prompt && *o->prompt && (rc = add_field(mime, "prompt", o->prompt)) < 0)
        goto out;
    if (o->temperature > 0 && o->temperature <= 1) {
        snprintf(num, sizeof(num), "%.3f", (double)o->temperature);
        if ((rc = add_field(mime, "temperature", num)) < 0)
            goto out;
    }
    if (s->m->inference && o->translate && (rc = add_field(mime, "translate", "true")) < 0)
        goto out;
out:
    if (rc < 0)
        curl_mime_free(mime);
    else
        *out = mime;
    return rc;
}

static int transport_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static unsigned backoff_ms(remote_state *s, unsigned attempt)
{
    unsigned d = BACKOFF_BASE_MS << HARK_MIN(attempt, 10u);
    uint64_t r;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    s->rng ^= s->rng << 13; /* xorshift: jitter only */
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    r = s->rng % (d / 4 + 1);
    return d + (unsigned)r;
}

static int transcribe(void *state, const hark_engine_job *job, hark_transcript *out)
{
    remote_state *s = state;
    remote_model *m = s->m;
    const char *url = job->opts->translate ? m->url_translate : m->url_transcribe;
    curl_mime *mime = NULL;
    unsigned attempt;
    int rc = 0;

    hark_buf_clear(&s->upload);
    if ((rc = hark__flac_encode(&s->upload, job->pcm, job->n)) < 0)
        return hark_error_prefix("remote: chunk %u", job->chunk);
    if ((rc = build_form(s, job, &mime)) < 0)
        return rc;
    if (curl_easy_setopt(s->curl, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(s->curl, CURLOPT_MIMEPOST, mime) != CURLE_OK) {
        rc = hark_error_set(HARK_ENETWORK, "remote: cannot configure libcurl");
        goto out;
    }
    s->job = job;
    for (attempt = 0;; attempt++) {
        CURLcode cc;
        long status = 0, connects = 0;
        curl_off_t up = 0, down = 0;
        long req = 0;
        unsigned wait;
        char detail[300];

        hark_buf_clear(&s->body);
        s->retry_after_ms = -1;
        s->errbuf[0] = '\0';
        cc = curl_easy_perform(s->curl);
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(s->curl, CURLINFO_SIZE_UPLOAD_T, &up);
        curl_easy_getinfo(s->curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
        curl_easy_getinfo(s->curl, CURLINFO_REQUEST_SIZE, &req);
        pthread_mutex_lock(&m->mu);
        m->stats.attempts++;
        m->stats.connects += (uint64_t)connects;
        m->stats.bytes_sent += (uint64_t)up + (uint64_t)req;
        m->stats.bytes_received += (uint64_t)down;
        pthread_mutex_unlock(&m->mu);

        if (cc == CURLE_ABORTED_BY_CALLBACK) {
            rc = hark_error_set(HARK_ECANCELED, "canceled");
            goto out;
        }
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            if ((rc = parse_answer(s->body.ptr ? s->body.ptr : "", s->body.len, (int64_t)job->n,
                                   out)) < 0) {
                hark_error_prefix("%s", url);
                goto out;
            }
            pthread_mutex_lock(&m->mu);
            m->stats.requests++;
            m->stats.audio_samples += job->n;
            pthread_mutex_unlock(&m->mu);
            goto out;
        }
        if (cc != CURLE_OK) {
            if (cc == CURLE_WRITE_ERROR && s->body.len + CURL_MAX_WRITE_SIZE > MAX_ANSWER) {
                rc = hark_error_set(HARK_ETOOBIG, "remote: %s: the answer is over %u MiB", url,
                                    MAX_ANSWER >> 20);
                goto out;
            }
            rc = hark_error_set(cc == CURLE_OPERATION_TIMEDOUT ? HARK_ETIMEOUT : HARK_ENETWORK,
                                "remote: %s: %s", url,
                                s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
            if (!transport_retryable(cc))
                goto out;
        } else {
            server_message(s, detail, sizeof(detail));
            if (status == 429 || status >= 500) {
                rc = hark_error_set(status == 429 ? HARK_EBUSY : HARK_EENGINE,
                                    "remote: %s: HTTP %ld%s", url, status, detail);
            } else {
                rc = hark_error_set(status == 401 || status == 403 ? HARK_EAUTH
                                    : status == 404                ? HARK_EUNSUPPORTED
                                    : status == 413                ? HARK_ETOOBIG
                                                                   : HARK_EINVAL,
                                    "remote: %s: HTTP %ld%s", url, status, detail);
                goto out;
            }
        }
        if (attempt >= (unsigned)m->retries)
            goto out;
        wait = backoff_ms(s, attempt);
        if (s->retry_after_ms >= 0 && (unsigned long)s->retry_after_ms > wait)
            wait = (unsigned)s->retry_after_ms;
        hark_debug("%s (attempt %u), retrying in %u ms", hark_error_last(), attempt + 1, wait);
        pthread_mutex_lock(&m->mu);
        m->stats.retries++;
        pthread_mutex_unlock(&m->mu);
        if (hark__sleep_ms(wait, job->abort, job->payload)) {
            rc = hark_error_set(HARK_ECANCELED, "canceled");
            goto out;
        }
    }
out:
    s->job = NULL;
    curl_easy_setopt(s->curl, CURLOPT_MIMEPOST, NULL);
    curl_mime_free(mime);
    return rc;
}

const hark_engine_ops hark__engine_remote = {
    .version = HARK_ENGINE_API_VERSION,
    .name = "remote",
    .chunk_min = 10 * HARK_SAMPLE_RATE,
    .chunk_max = 30 * HARK_SAMPLE_RATE,
    .model_default = NULL,
    .model_identity = ops_model_identity,
    .model_load = ops_model_load,
    .model_free = model_free,
    .model_describe = model_describe,
    .options_key = options_key,
    .state_new = state_new,
    .state_free = state_free,
    .transcribe = transcribe,
};
