/*
 * rt.c: helpers of the job runner tests (see rt.h).
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "asr/asr.h"
#include "hark/sys/engine.h"

/* ---- the "counted" engine ------------------------------------------------------------------ */

static atomic_uint calls[RT_MAX_CHUNKS];
static hark_engine_ops counted_ops;

static int counted_transcribe(void *state, const hark_engine_job *job, hark_transcript *out)
{
    if (job->chunk < RT_MAX_CHUNKS)
        atomic_fetch_add(&calls[job->chunk], 1);
    return hark__engine_test.transcribe(state, job, out);
}

static void register_counted(void)
{
    static int done;
    if (done)
        return;
    counted_ops = hark__engine_test;
    counted_ops.name = "counted";
    counted_ops.transcribe = counted_transcribe;
    ASSERT_OK(hark_engine_register(&counted_ops));
    done = 1;
}

unsigned rt_calls(uint32_t index)
{
    ASSERT(index < RT_MAX_CHUNKS);
    return atomic_load(&calls[index]);
}

void rt_calls_reset(void)
{
    size_t i;
    for (i = 0; i < RT_MAX_CHUNKS; i++)
        atomic_store(&calls[i], 0);
}

/* ---- the world ------------------------------------------------------------------------------ */

void rt_open(rt *t, const char *model, unsigned workers)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;

    memset(t, 0, sizeof(*t));
    register_counted();
    ASSERT_OK(hark_store_open(&t->store, harness_path("hark.db")));
    eo.model = model;
    ASSERT_OK(hark_engine_open(&t->engine, "counted", &eo));
    so.n_workers = workers;
    ASSERT_OK(hark_scheduler_new(&t->sched, &so));
    hark_runner_options_default(&t->o);
    t->o.store = t->store;
    t->o.engine = t->engine;
    t->o.scheduler = t->sched;
    t->o.pipeline.chunk.no_vad = 1;
    t->o.pipeline.chunk.min = RT_SEC;
    t->o.pipeline.chunk.max = RT_SEC;
    t->o.pipeline.max_retries = 0;
    t->o.backoff_ms = 50;
    t->o.event = rt_on_event;
}

void rt_start(rt *t)
{
    ASSERT(t->runner == NULL);
    ASSERT_OK(hark_runner_start(&t->runner, &t->o));
}

void rt_close(rt *t)
{
    hark_runner_free(t->runner);
    hark_scheduler_free(t->sched);
    hark_engine_free(t->engine);
    hark_store_free(t->store);
    memset(t, 0, sizeof(*t));
}

const char *rt_wav(const char *name, int seconds)
{
    const char *path = harness_path(name);
    size_t n = (size_t)seconds * RT_SEC, i;
    float *pcm = malloc(n * sizeof(float));
    ASSERT(pcm);
    for (i = 0; i < n; i++) {
        double hz = 200.0 + 40.0 * (double)(i / RT_SEC);
        pcm[i] = (float)(0.2 * sin(2 * M_PI * hz * (double)i / RT_SEC));
    }
    ASSERT_OK(hark_wav_write(path, pcm, n));
    free(pcm);
    return path;
}

int64_t rt_submit(hark_store *s, const char *path, unsigned max_attempts, int64_t not_before_ms,
                  int64_t *recording)
{
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted sub;
    const char *slash = strrchr(path, '/');

    rec.title = slash ? slash + 1 : path;
    rec.source = path;
    rec.audio_path = path;
    job.max_attempts = max_attempts;
    job.not_before_ms = not_before_ms;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    ASSERT(sub.job > 0 && sub.recording > 0);
    ASSERT_EQ(sub.existed, 0);
    if (recording)
        *recording = sub.recording;
    return sub.job;
}

int64_t rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

hark_job *rt_job(hark_store *s, int64_t id)
{
    hark_job *j = NULL;
    ASSERT_OK(hark_store_job_get(s, id, &j));
    return j;
}

hark_job_state rt_state(hark_store *s, int64_t id)
{
    hark_job *j = rt_job(s, id);
    hark_job_state st = j->state;
    hark_job_free(j);
    return st;
}

void rt_wait_state(hark_store *s, int64_t id, hark_job_state state, unsigned timeout_ms)
{
    int64_t end = rt_now_ms() + timeout_ms;
    for (;;) {
        hark_job *j = rt_job(s, id);
        hark_job_state st = j->state;
        char err[256];
        snprintf(err, sizeof(err), "%s", j->error ? j->error : "");
        hark_job_free(j);
        if (st == state)
            return;
        ASSERT_MSG(rt_now_ms() < end, "job %lld is %s after %u ms, expected %s (error: %s)",
                   (long long)id, hark_job_state_name(st), timeout_ms, hark_job_state_name(state),
                   err);
        usleep(10000);
    }
}

void rt_wait_chunks(hark_store *s, int64_t id, uint32_t n, unsigned timeout_ms)
{
    int64_t end = rt_now_ms() + timeout_ms;
    for (;;) {
        hark_job *j = rt_job(s, id);
        uint32_t done = j->chunks_done;
        hark_job_free(j);
        if (done >= n)
            return;
        ASSERT_MSG(rt_now_ms() < end, "job %lld has %u chunks done after %u ms, expected %u",
                   (long long)id, done, timeout_ms, n);
        usleep(10000);
    }
}

void rt_wait_for(int (*cond)(void *), void *arg, unsigned timeout_ms, const char *what)
{
    int64_t end = rt_now_ms() + timeout_ms;
    while (!cond(arg)) {
        ASSERT_MSG(rt_now_ms() < end, "timed out after %u ms waiting for %s", timeout_ms, what);
        usleep(10000);
    }
}

hark_transcript *rt_reference(const char *path)
{
    hark_engine *e = NULL;
    hark_transcript *t = NULL;
    hark_run_options ro;
    hark_run_result res;

    ASSERT_OK(hark_engine_open(&e, "test", NULL));
    hark_run_options_default(&ro);
    ro.pipeline.n_workers = 1;
    ro.pipeline.chunk.no_vad = 1;
    ro.pipeline.chunk.min = RT_SEC;
    ro.pipeline.chunk.max = RT_SEC;
    ASSERT_OK(hark_run_file(&t, &res, e, path, &ro));
    hark_engine_free(e);
    ASSERT(hark_transcript_count(t) > 0);
    return t;
}

void rt_assert_transcript(hark_store *s, int64_t recording, const hark_transcript *ref)
{
    hark_transcript *got = NULL;
    size_t i;
    ASSERT_OK(hark_store_transcript_get(s, recording, &got));
    ASSERT_EQ(hark_transcript_count(got), hark_transcript_count(ref));
    for (i = 0; i < hark_transcript_count(ref); i++) {
        const hark_segment *a = hark_transcript_segment(got, i);
        const hark_segment *b = hark_transcript_segment(ref, i);
        ASSERT_EQ(a->start, b->start);
        ASSERT_EQ(a->end, b->end);
        ASSERT_STREQ(a->text, b->text);
    }
    hark_transcript_free(got);
}

/* ---- the event log -------------------------------------------------------------------------- */

#define LOG_CAP  16384
#define MAX_JOBS 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rt_event ev[LOG_CAP];
    size_t n;
    unsigned dropped;
} LOG = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { { 0 } }, 0, 0 };

void (*rt_hook)(const hark_job_event *ev);
static atomic_int in_callback[MAX_JOBS];
static atomic_uint overlaps;

void rt_on_event(const hark_job_event *ev, void *payload)
{
    rt_event e;
    int busy = 0;
    (void)payload;
    if (ev->job > 0 && ev->job < MAX_JOBS)
        busy = atomic_exchange(&in_callback[ev->job], 1);
    if (busy)
        atomic_fetch_add(&overlaps, 1);
    if (rt_hook)
        rt_hook(ev);
    memset(&e, 0, sizeof(e));
    e.kind = ev->kind;
    e.job = ev->job;
    e.recording = ev->recording;
    e.chunks_done = ev->chunks_done;
    e.chunks_total = ev->chunks_total;
    e.chunks_final = ev->chunks_final;
    e.samples_done = ev->samples_done;
    e.samples_total = ev->samples_total;
    e.first = ev->first;
    e.count = ev->count;
    e.n_segments = ev->t ? hark_transcript_count(ev->t) : 0;
    e.attempts = ev->attempts;
    e.retry_at_ms = ev->retry_at_ms;
    e.at_ms = rt_now_ms();
    if (ev->error)
        snprintf(e.error, sizeof(e.error), "%s", ev->error);
    usleep(200); /* widen the window in which an overlapping callback would be seen */
    pthread_mutex_lock(&LOG.mu);
    if (LOG.n < LOG_CAP)
        LOG.ev[LOG.n++] = e;
    else
        LOG.dropped++;
    pthread_cond_broadcast(&LOG.cv);
    pthread_mutex_unlock(&LOG.mu);
    if (ev->job > 0 && ev->job < MAX_JOBS && !busy)
        atomic_store(&in_callback[ev->job], 0);
}

size_t rt_n_events(void)
{
    size_t n;
    pthread_mutex_lock(&LOG.mu);
    n = LOG.n;
    ASSERT_EQ(LOG.dropped, 0);
    pthread_mutex_unlock(&LOG.mu);
    return n;
}

rt_event rt_event_at(size_t i)
{
    rt_event e;
    pthread_mutex_lock(&LOG.mu);
    ASSERT(i < LOG.n);
    e = LOG.ev[i];
    pthread_mutex_unlock(&LOG.mu);
    return e;
}

/* mu held */
static size_t find_locked(int64_t job, hark_job_event_kind kind, size_t from)
{
    size_t i;
    for (i = from; i < LOG.n; i++)
        if ((job == 0 || LOG.ev[i].job == job) && LOG.ev[i].kind == kind)
            return i;
    return RT_NONE;
}

size_t rt_find(int64_t job, hark_job_event_kind kind, size_t from)
{
    size_t i;
    pthread_mutex_lock(&LOG.mu);
    i = find_locked(job, kind, from);
    pthread_mutex_unlock(&LOG.mu);
    return i;
}

size_t rt_count(int64_t job, hark_job_event_kind kind)
{
    size_t i, n = 0;
    pthread_mutex_lock(&LOG.mu);
    for (i = 0; i < LOG.n; i++)
        if ((job == 0 || LOG.ev[i].job == job) && LOG.ev[i].kind == kind)
            n++;
    pthread_mutex_unlock(&LOG.mu);
    return n;
}

size_t rt_wait_event(int64_t job, hark_job_event_kind kind, unsigned timeout_ms)
{
    int64_t end = rt_now_ms() + timeout_ms;
    size_t i;
    pthread_mutex_lock(&LOG.mu);
    while ((i = find_locked(job, kind, 0)) == RT_NONE) {
        struct timespec ts;
        int64_t until = rt_now_ms() + 100;
        if (until > end)
            until = end;
        if (rt_now_ms() >= end) {
            size_t k;
            for (k = 0; k < LOG.n; k++) /* what did happen, for the log */
                fprintf(stderr, "  event %zu: job %lld %s chunks %u/%u attempts %u %s\n", k,
                        (long long)LOG.ev[k].job, hark_job_event_name(LOG.ev[k].kind),
                        LOG.ev[k].chunks_done, LOG.ev[k].chunks_total, LOG.ev[k].attempts,
                        LOG.ev[k].error);
            pthread_mutex_unlock(&LOG.mu);
            harness_fail(__FILE__, __LINE__, "no %s event of job %lld after %u ms",
                         hark_job_event_name(kind), (long long)job, timeout_ms);
        }
        ts.tv_sec = (time_t)(until / 1000);
        ts.tv_nsec = (long)(until % 1000) * 1000000L;
        pthread_cond_timedwait(&LOG.cv, &LOG.mu, &ts);
    }
    pthread_mutex_unlock(&LOG.mu);
    return i;
}

unsigned rt_overlaps(void)
{
    return atomic_load(&overlaps);
}
