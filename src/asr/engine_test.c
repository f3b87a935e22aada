/*
 * engine_test.c: "test", a deterministic engine for pipeline, cache and
 * server tests. It needs no model files and recognises nothing: for every
 * chunk it describes the signal, so tests can check ordering, offsets and
 * caching exactly.
 *
 * Output for a chunk of n samples: one segment spanning the chunk with text
 * "f<hz> a<amp>" (dominant frequency from zero crossings, rounded to 10 Hz;
 * RMS amplitude, 2 decimals), and one word "w<i>" per whole second. A chunk
 * of all zeros gives no segment. With the translate task the text starts
 * with "en: " (so tests see which task ran). The output depends only on the
 * samples and the task.
 *
 * The "model" string injects faults, e.g. "fail=2:1,delay=20,crash=0:1":
 *   fail=K:M    chunk K fails its first M attempts with HARK_EAGAIN
 *   crash=K:M   chunk K fails its first M attempts with HARK_EENGINE; the
 *               state is then damaged and fails until it is recreated
 *   delay=MS    every chunk takes MS milliseconds (polls the abort callback)
 *   delay=K:MS  only chunk K
 *   load_ms=MS  loading the model takes MS milliseconds
 *   load_fail=1 loading the model fails with HARK_EMODEL
 *   log=PATH    append "<pid> <chunk> <samples> <f/a text>" to PATH for every chunk
 *               transcribed (O_APPEND: processes sharing a file count their calls)
 *   conf=X      every segment's (and word's) confidence is X instead of 1
 *               (confidence fallback tests)
 * Up to 16 fail/crash/delay rules may be given.
 *
 * Streaming (the stream_* operations): the samples of the utterance are
 * kept; the partial is the text of the segment for the samples so far, and
 * the final is exactly what transcribe gives for the whole utterance (the
 * same rules apply to it, with the utterance number as the chunk), so the
 * live re-decode and streaming paths can be compared exactly.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asr.h"
#include "../util/util.h"

#define MAX_RULES   16
#define MAX_TRACKED 4096 /* chunks whose attempts are counted */

typedef enum rule_kind { RULE_FAIL, RULE_CRASH, RULE_DELAY } rule_kind;

typedef struct rule {
    rule_kind kind;
    long chunk; /* -1 = every chunk */
    long value; /* attempts (fail/crash) or milliseconds (delay) */
} rule;

typedef struct test_model {
    rule rules[MAX_RULES];
    int n_rules;
    long load_ms;
    char log[256];      /* log=PATH: every transcribed chunk is appended here, "" = none */
    float conf;         /* segment confidence */
    pthread_mutex_t mu; /* guards attempts: fault injection is the one mutable part */
    unsigned attempts[MAX_TRACKED];
} test_model;

typedef struct test_state {
    test_model *model;
    int damaged;
    int open;      /* a stream utterance is open */
    uint32_t utt;  /* its number */
    float *buf;    /* its samples */
    size_t n, cap; /* samples in buf, allocated */
    hark_decode_options opts;
} test_state;

static int parse_model(test_model *m, const char *spec, int *load_fail)
{
    char buf[512];
    char *tok, *save = NULL;
    if (!spec || !*spec || strcmp(spec, "default") == 0)
        return 0;
    if (strlen(spec) >= sizeof(buf))
        return hark_error_set(HARK_EMODEL, "test engine: model spec too long");
    memcpy(buf, spec, strlen(spec) + 1);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        char *colon;
        rule r;
        if (!eq)
            return hark_error_set(HARK_EMODEL, "test engine: bad option '%s'", tok);
        *eq++ = '\0';
        if (strcmp(tok, "load_ms") == 0) {
            m->load_ms = strtol(eq, NULL, 10);
            continue;
        }
        if (strcmp(tok, "log") == 0) {
            snprintf(m->log, sizeof(m->log), "%s", eq);
            continue;
        }
        if (strcmp(tok, "conf") == 0) {
            char *end;
            double c = strtod(eq, &end);
            if (*end || !(c >= 0 && c <= 1))
                return hark_error_set(HARK_EMODEL, "test engine: conf must lie in [0, 1]");
            m->conf = (float)c;
            continue;
        }
        if (strcmp(tok, "load_fail") == 0) {
            *load_fail = (int)strtol(eq, NULL, 10);
            continue;
        }
        if (strcmp(tok, "fail") == 0)
            r.kind = RULE_FAIL;
        else if (strcmp(tok, "crash") == 0)
            r.kind = RULE_CRASH;
        else if (strcmp(tok, "delay") == 0)
            r.kind = RULE_DELAY;
        else
            return hark_error_set(HARK_EMODEL, "test engine: unknown option '%s'", tok);
        colon = strchr(eq, ':');
        if (colon) {
            r.chunk = strtol(eq, NULL, 10);
            r.value = strtol(colon + 1, NULL, 10);
        } else {
            r.chunk = -1;
            r.value = strtol(eq, NULL, 10);
        }
        if (m->n_rules == MAX_RULES)
            return hark_error_set(HARK_EMODEL, "test engine: too many rules");
        m->rules[m->n_rules++] = r;
    }
    return 0;
}

static int test_model_load(void **out, const char *spec)
{
    test_model *m = hark__calloc(1, sizeof(*m));
    int load_fail = 0, rc;
    *out = NULL;
    if (!m)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    m->conf = 1.0f;
    if ((rc = parse_model(m, spec, &load_fail)) < 0) {
        hark__free(m);
        return rc;
    }
    if (m->load_ms > 0)
        hark__sleep_ms((unsigned)m->load_ms, NULL, NULL);
    if (load_fail) {
        hark__free(m);
        return hark_error_set(HARK_EMODEL, "test engine: model failed to load (load_fail)");
    }
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

static void test_model_free(void *model)
{
    test_model *m = model;
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    hark__free(m);
}

static int test_model_identity(const char *model, hark_buf *out)
{
    return hark_buf_printf(out, "test:%s", model ? model : "default");
}

static int test_options_key(const hark_decode_options *opts, hark_buf *out)
{
    /* the task changes the output (see describe) */
    return hark_buf_puts(out, opts->translate ? "{\"task\":\"translate\"}" : "{}");
}

static int test_state_new(void **out, const void *model)
{
    test_state *s = hark__calloc(1, sizeof(*s));
    *out = s;
    if (!s)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    s->model = (test_model *)model;
    return 0;
}

static void test_state_free(void *state)
{
    test_state *s = state;
    if (s)
        hark__free(s->buf);
    hark__free(s);
}

/* Count this attempt of `chunk`; returns the attempt number (1-based). */
static unsigned count_attempt(test_model *m, uint32_t chunk)
{
    unsigned n = 1;
    pthread_mutex_lock(&m->mu);
    if (chunk < MAX_TRACKED)
        n = ++m->attempts[chunk];
    pthread_mutex_unlock(&m->mu);
    return n;
}

static int describe(const float *pcm, size_t n, float conf, int translate, hark_transcript *out)
{
    double sum2 = 0;
    size_t i, crossings = 0;
    long hz, sec;
    char text[64];
    hark_word words[64];
    char names[64][24];
    hark_segment seg;
    int64_t seconds = (int64_t)n / HARK_SAMPLE_RATE;

    for (i = 0; i < n; i++) {
        sum2 += (double)pcm[i] * pcm[i];
        if (i && ((pcm[i - 1] < 0) != (pcm[i] < 0)))
            crossings++;
    }
    if (sum2 == 0)
        return 0;
    hz = lround((double)crossings * HARK_SAMPLE_RATE / 2.0 / (double)n / 10.0) * 10;
    snprintf(text, sizeof(text), "%sf%ld a%.2f", translate ? "en: " : "", hz,
             sqrt(sum2 / (double)n));
    memset(&seg, 0, sizeof(seg));
    seg.start = 0;
    seg.end = (int64_t)n;
    seg.text = text;
    seg.confidence = conf;
    if (seconds > 64)
        seconds = 64;
    for (sec = 0; sec < seconds; sec++) {
        snprintf(names[sec], sizeof(names[sec]), "w%ld", sec);
        words[sec].text = names[sec];
        words[sec].start = sec * HARK_SAMPLE_RATE;
        words[sec].end = (sec + 1) * HARK_SAMPLE_RATE;
        words[sec].p = conf;
    }
    seg.n_words = (uint32_t)seconds;
    seg.words = seconds ? words : NULL;
    return hark_transcript_add(out, &seg);
}

static int test_transcribe(void *state, const hark_engine_job *job, hark_transcript *out)
{
    test_state *s = state;
    test_model *m = s->model;
    unsigned attempt;
    int i;

    if (s->damaged)
        return hark_error_set(HARK_EENGINE, "test engine: state damaged by an earlier crash");
    attempt = count_attempt(m, job->chunk);
    for (i = 0; i < m->n_rules; i++) {
        const rule *r = &m->rules[i];
        if (r->chunk >= 0 && r->chunk != (long)job->chunk)
            continue;
        if (r->kind == RULE_DELAY && r->value > 0) {
            if (hark__sleep_ms((unsigned)r->value, job->abort, job->payload))
                return hark_error_set(HARK_ECANCELED, "canceled");
        } else if (r->kind == RULE_FAIL && attempt <= (unsigned)r->value) {
            return hark_error_set(HARK_EAGAIN,
                                  "test engine: injected failure (chunk %u, attempt %u)",
                                  job->chunk, attempt);
        } else if (r->kind == RULE_CRASH && attempt <= (unsigned)r->value) {
            s->damaged = 1;
            return hark_error_set(HARK_EENGINE,
                                  "test engine: injected crash (chunk %u, attempt %u)", job->chunk,
                                  attempt);
        }
    }
    if (job->abort && job->abort(job->payload))
        return hark_error_set(HARK_ECANCELED, "canceled");
    if ((i = describe(job->pcm, job->n, m->conf, job->opts && job->opts->translate, out)) < 0 ||
        !m->log[0])
        return i;
    {
        /* one write(2) per line with O_APPEND: lines of concurrent processes never mix */
        char line[160];
        size_t nseg = hark_transcript_count(out);
        const hark_segment *seg = nseg ? hark_transcript_segment(out, nseg - 1) : NULL;
        int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int len = snprintf(line, sizeof(line), "%ld %u %zu %s\n", (long)getpid(), job->chunk,
                           job->n, seg && seg->text ? seg->text : "-");
        if (fd >= 0) {
            if (write(fd, line, (size_t)len) < 0) {
                /* a test's counter: nothing to do about a failed write */
            }
            close(fd);
        }
    }
    return 0;
}

static int test_stream_begin(void *state, const hark_engine_job *job)
{
    test_state *s = state;
    s->open = 1;
    s->utt = job->chunk;
    s->opts = *job->opts;
    s->n = 0;
    return 0;
}

static int test_stream_feed(void *state, const float *pcm, size_t n)
{
    test_state *s = state;
    if (!s->open)
        return hark_error_set(HARK_EINVAL, "test engine: no utterance is open");
    if (s->n + n > s->cap) {
        size_t cap = HARK_MAX(s->n + n, s->cap * 2 + HARK_SAMPLE_RATE);
        float *b = hark__reallocarray(s->buf, cap, sizeof(float));
        if (!b)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, pcm, n * sizeof(float));
    s->n += n;
    return 0;
}

static int test_stream_partial(void *state, hark_buf *text)
{
    test_state *s = state;
    hark_transcript *t = NULL;
    int rc;
    if (!s->open || (rc = hark_transcript_new(&t)) < 0)
        return s->open ? rc : 0;
    if ((rc = describe(s->buf, s->n, s->model->conf, s->opts.translate, t)) == 0)
        rc = hark_transcript_text(t, text);
    hark_transcript_free(t);
    return rc;
}

static int test_stream_end(void *state, hark_transcript *out)
{
    test_state *s = state;
    hark_engine_job job;
    int rc = 0;
    if (out && !s->open)
        return hark_error_set(HARK_EINVAL, "test engine: no utterance is open");
    if (out) {
        memset(&job, 0, sizeof(job));
        job.pcm = s->buf;
        job.n = s->n;
        job.chunk = s->utt;
        job.n_threads = 1;
        job.opts = &s->opts;
        rc = test_transcribe(s, &job, out);
    }
    s->open = 0;
    s->n = s->cap = 0;
    hark__free(s->buf);
    s->buf = NULL;
    return rc;
}

const hark_engine_ops hark__engine_test = {
    .version = HARK_ENGINE_API_VERSION,
    .name = "test",
    .chunk_min = 2 * HARK_SAMPLE_RATE,
    .chunk_max = 10 * HARK_SAMPLE_RATE,
    .model_default = NULL,
    .model_identity = test_model_identity,
    .model_load = test_model_load,
    .model_free = test_model_free,
    .model_describe = NULL,
    .options_key = test_options_key,
    .state_new = test_state_new,
    .state_free = test_state_free,
    .transcribe = test_transcribe,
    .stream_begin = test_stream_begin,
    .stream_feed = test_stream_feed,
    .stream_partial = test_stream_partial,
    .stream_end = test_stream_end,
};
