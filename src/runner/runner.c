/*
 * runner.c: the job runner (hark/runner.h).
 *
 * DESIGN
 * `max_jobs` job threads each loop: claim a job from the store, run it,
 * end it. A thread that finds nothing claimable sleeps on the runner's
 * condition variable: without a timeout when no job waits at all, else
 * until the earliest moment one becomes claimable (the store's next_ms: a
 * backoff ending, a lease expiring). hark_runner_wake signals one sleeper;
 * a thread that claimed a job signals another, so a backlog is picked up by
 * every free thread in turn. A heartbeat thread renews the leases of the
 * running jobs every lease_ms / 3, only while some run; when the store
 * renews fewer leases than we hold, a job was canceled or taken elsewhere
 * and the thread that runs it is told to stop.
 *
 * Jobs submitted by other processes (other API nodes, `hark submit` on
 * another machine): when the store can notify (PostgreSQL LISTEN/NOTIFY,
 * hark_store_job_wait), a watch thread blocks in it and turns each
 * notification into a hark_runner_wake, so idle runners everywhere start at
 * once and no thread polls the store while nothing happens. The watch
 * thread is woken for stop through a pipe. Stores that cannot notify
 * (SQLite: one machine, submitters wake the runner themselves) have no
 * watch thread.
 *
 * A runner started with no_claims (an API-only server) has no threads at
 * all: it describes jobs for submitters, cancels in the store and puts back
 * the jobs of dead local runners once at start; claiming is left to other
 * processes on the same store.
 *
 * Running a job is hark_run_file on the recording's audio, into that
 * recording, with the job's chunk progress kept in the store (run.c's job
 * hooks): chunks finished by an earlier attempt are not transcribed again.
 * Its chunks go to the shared scheduler in the job's priority class with
 * keep_going, so one failing chunk does not waste the others. The result
 * decides the end: done; retry later (backoff_ms x 4^(attempt-1)) while
 * attempts remain and the error can be transient; dead otherwise; canceled;
 * or released back to the queue when the runner stops. An end the store
 * refuses because the job is no longer ours (canceled while it ran, even
 * after the run's last abort poll) becomes the acknowledgement of that
 * cancel, so events and counters always say what the store says.
 *
 * Jobs of kind "summarize" and "translate" (below transcription in the
 * queue: the server gives them the maintenance class) go through the same
 * claim, lease and end logic; only what runs differs (run_summary,
 * run_translation). A summary whose recording is still being transcribed
 * is handed back with a short delay, its attempt not counted; so is one
 * claimed by a runner with no summary endpoint (a `hark worker` sharing the
 * queue), for 30 s, so that a runner that has one takes it. A 429's
 * Retry-After lengthens the retry delay.
 *
 * INVARIANTS
 * - A job is run by at most one thread of this process (the store's claim is
 *   atomic); `slots[i].job` is the job thread i runs, 0 when idle.
 * - Events of one job come from its thread, or from the scheduler's worker
 *   that merges its chunks, never two at once (the pipeline merges serially).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hark/runner.h"
#include "hark/run.h"
#include "../util/util.h"

#define DEFAULT_LEASE_MS   30000
#define DEFAULT_BACKOFF_MS 1000
#define MAX_JOBS           256

typedef struct slot {
    hark_runner *r;
    unsigned index;
    pthread_t thread;
    int started;
    int64_t job;       /* job running here, 0 = idle */
    int cancel;        /* stop the job: canceled by a user */
    int lost;          /* stop the job: its lease is gone (canceled elsewhere, taken over) */
    int release;       /* stop the job: the runner stops, hand it back */
    hark_job *current; /* the claimed job (for events) */
    int64_t samples_total;
} slot;

struct hark_runner {
    hark_runner_options o;
    char name[160];
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* job threads: wake, stop, pause changes */
    pthread_cond_t hb_cv; /* heartbeat: jobs started or stop */
    pthread_t heartbeat;
    int hb_started;
    pthread_t watch;      /* turns the store's job notifications into wakes */
    int watch_started;    /* the store can notify: the watch thread runs */
    int watch_pipe[2];    /* written by stop: ends the watch thread's wait */
    pthread_cond_t wa_cv; /* the watch thread's pause after a store error */
    slot *slots;
    unsigned n_slots;
    unsigned running;
    int stopping; /* no more claims; job threads exit when idle */
    int paused, degraded;
    int wakeups; /* pending hark_runner_wake calls not yet seen by a claimer */
    hark_runner_stats stats;
};

const char *hark_job_event_name(hark_job_event_kind k)
{
    static const char *const names[] = { "started", "progress", "segments", "done",
                                         "retry",   "dead",     "canceled", "released" };
    return (unsigned)k < HARK_ARRAY_SIZE(names) ? names[k] : "unknown";
}

void hark_runner_options_default(hark_runner_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_RUNNER_OPTIONS_VERSION;
    hark_pipeline_options_default(&o->pipeline);
}

static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on cv until `until_ms` (Unix ms; 0 = no limit). mu held. */
static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until_ms)
{
    struct timespec ts;
    if (until_ms <= 0) {
        pthread_cond_wait(cv, mu);
        return;
    }
    ts.tv_sec = (time_t)(until_ms / 1000);
    ts.tv_nsec = (long)(until_ms % 1000) * 1000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

static void emit(hark_runner *r, hark_job_event *ev)
{
    if (r->o.event)
        r->o.event(ev, r->o.payload);
}

void hark_job_event_init(hark_job_event *ev, hark_job_event_kind kind, const hark_job *job)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    ev->job = job->id;
    ev->recording = job->recording;
    ev->owner = job->owner;
    ev->priority = job->priority;
    ev->attempts = job->attempts;
}

/* ---- one job ------------------------------------------------------------------------------------
 */

static int slot_abort(void *payload)
{
    slot *s = payload;
    int stop;
    pthread_mutex_lock(&s->r->mu);
    stop = s->cancel || s->lost || s->release;
    pthread_mutex_unlock(&s->r->mu);
    return stop;
}

static void on_progress(const hark_progress *p, void *payload)
{
    slot *s = payload;
    hark_job_event ev;
    hark_job_event_init(&ev, HARK_JOB_EVENT_PROGRESS, s->current);
    ev.chunks_done = p->chunks_done;
    ev.chunks_total = p->chunks_total;
    ev.chunks_final = p->decoding_done;
    ev.samples_done = p->samples_done;
    ev.samples_total = p->samples_total;
    emit(s->r, &ev);
}

static int on_segments(const hark_transcript *t, size_t first, size_t count, void *payload)
{
    slot *s = payload;
    hark_job_event ev;
    hark_job_event_init(&ev, HARK_JOB_EVENT_SEGMENTS, s->current);
    ev.t = t;
    ev.first = first;
    ev.count = count;
    emit(s->r, &ev);
    return 0;
}

/* Errors that another attempt cannot cure. */
static int permanent(int rc)
{
    return rc == HARK_EDECODE || rc == HARK_ENOAUDIO || rc == HARK_EEMPTY || rc == HARK_EINVAL ||
           rc == HARK_EUNSUPPORTED || rc == HARK_ECORRUPT || rc == HARK_ENOTFOUND;
}

/*
 * The job's params (JSON object) over the runner's pipeline options. The
 * strings point into `root`, which must outlive the run.
 */
static int apply_params(hark_pipeline_options *po, const char *params, json_t **root)
{
    json_error_t err;
    json_t *v;
    *root = NULL;
    if (!params || !*params)
        return 0;
    if (!(*root = json_loads(params, 0, &err)) || !json_is_object(*root))
        return hark_error_set(HARK_EINVAL, "job params are not a JSON object: %s", err.text);
    if ((v = json_object_get(*root, "language")) && json_is_string(v))
        po->decode.language = json_string_value(v);
    if ((v = json_object_get(*root, "prompt")) && json_is_string(v))
        po->decode.prompt = json_string_value(v);
    if ((v = json_object_get(*root, "temperature")) && json_is_number(v))
        po->decode.temperature = (float)json_number_value(v);
    if ((v = json_object_get(*root, "translate")) && json_is_boolean(v))
        po->decode.translate = json_is_true(v);
    if ((v = json_object_get(*root, "beam_size")) && json_is_integer(v))
        po->decode.beam_size = (int)json_integer_value(v);
    if ((v = json_object_get(*root, "best_of")) && json_is_integer(v))
        po->decode.best_of = (int)json_integer_value(v);
    return 0;
}

int hark_runner_describe(hark_runner *r, const char *params, hark_buf *options, hark_buf *model)
{
    hark_pipeline_options po;
    json_t *root = NULL;
    int rc;

    HARK_ASSERT_ARG(r);
    po = r->o.pipeline;
    if ((rc = apply_params(&po, params, &root)) == 0)
        rc = hark_run_describe(r->o.engine, &po, options, model);
    if (root)
        json_decref(root);
    return rc;
}

/*
 * hark_store_job_end, tried again while the store cannot be reached (HARK_EIO: a database
 * server restarting) for up to half a lease, so a job that finished during an outage is
 * recorded when the server is back, not left running until its lease expires. An end that
 * was committed although the reply was lost shows as HARK_EBUSY on the next try (the job is
 * no longer running under our lease): the job's state then says whether it was ours.
 */
static int end_job(hark_runner *r, const hark_job *job, hark_job_state state, int not_counted,
                   int64_t not_before_ms, const char *error)
{
    int64_t until = now_unix_ms() + r->o.lease_ms / 2;
    long pause_ms = 100;
    int rc, tries = 0, stopping;
    for (;;) {
        rc = hark_store_job_end(r->o.store, job->id, r->name, state, not_counted, not_before_ms,
                                error);
        if (rc == HARK_EBUSY && tries > 0) {
            hark_job *now = NULL;
            if (hark_store_job_get(r->o.store, job->id, &now) == 0 && now->state == state)
                rc = 0; /* the earlier try was committed */
            hark_job_free(now);
        }
        if (rc != HARK_EIO || now_unix_ms() >= until)
            break;
        pthread_mutex_lock(&r->mu);
        stopping = r->stopping;
        pthread_mutex_unlock(&r->mu);
        if (stopping)
            break;
        if (tries++ == 0)
            hark_warn("job %lld: recording its end failed (%s): trying again", (long long)job->id,
                      hark_error_last());
        {
            struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
        pause_ms = HARK_MIN(pause_ms * 2, 2000L);
    }
    if (rc == 0 && tries > 0)
        hark_info("job %lld: its end is recorded (the store is reachable again)",
                  (long long)job->id);
    return rc;
}

static void degrade(hark_pipeline_options *po)
{
    po->decode.beam_size = 1;
    po->decode.best_of = 1;
    po->decode.no_fallback = 1;
}

int hark_runner_can_translate(const hark_engine *engine)
{
    const char *name = engine ? hark_engine_name(engine) : NULL;
    return name && (!strcmp(name, "whisper") || !strcmp(name, "remote") || !strcmp(name, "test"));
}

#define WAIT_TRANSCRIPT_MS 2000  /* a summary job waiting for its transcript looks again after */
#define WAIT_ENDPOINT_MS   30000 /* a runner without a summary endpoint hands such jobs back */

/*
 * A "summarize" job: the stored transcript through the chat-completions endpoint, the summary
 * stored with the recording. *wait_ms > 0: the transcript is not finished, look again then;
 * *retry_after_ms: the endpoint's Retry-After on failure (-1 = none).
 */
static int run_summary(slot *s, const hark_job *job, int64_t *wait_ms, long *retry_after_ms)
{
    hark_runner *r = s->r;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_summary_options so;
    hark_summary_stats st;
    hark_buf text = HARK_BUF_INIT, sum = HARK_BUF_INIT, meta = HARK_BUF_INIT;
    int rc;

    *wait_ms = 0;
    *retry_after_ms = -1;
    if (!r->o.summary || !r->o.summary->url || !*r->o.summary->url) {
        /* another runner sharing the queue (the server that accepted it) has an endpoint */
        *wait_ms = WAIT_ENDPOINT_MS;
        rc = hark_error_set(HARK_EUNSUPPORTED, "no summary endpoint configured here "
                                               "(--summary-url or HARK_SUMMARY_URL)");
        goto out;
    }
    if ((rc = hark_store_recording_get(r->o.store, job->recording, &rec)) < 0)
        goto out;
    if (rec->status == HARK_STATUS_PENDING || rec->status == HARK_STATUS_RUNNING) {
        *wait_ms = WAIT_TRANSCRIPT_MS;
        rc = hark_error_set(HARK_EAGAIN, "recording %lld is not transcribed yet",
                            (long long)rec->id);
        goto out;
    }
    if (rec->status != HARK_STATUS_DONE) {
        rc = hark_error_set(HARK_EINVAL, "recording %lld has no complete transcript (%s)",
                            (long long)rec->id, hark_recording_status_name(rec->status));
        goto out;
    }
    if ((rc = hark_store_transcript_get(r->o.store, job->recording, &t)) < 0 ||
        (rc = hark_transcript_text(t, &text)) < 0)
        goto out;
    so = *r->o.summary;
    so.abort = slot_abort;
    so.payload = s;
    rc = hark_summarize(&so, text.ptr ? text.ptr : "", &sum, &st);
    *retry_after_ms = st.retry_after_ms;
    if (rc < 0)
        goto out;
    {
        json_t *m =
            json_pack("{s:s, s:i, s:i, s:i, s:i}", "model", so.model ? so.model : "", "requests",
                      (json_int_t)st.requests, "pieces", (json_int_t)st.pieces, "rounds",
                      (json_int_t)st.rounds, "transcript_chars", (json_int_t)text.len);
        char *js = m ? json_dumps(m, JSON_COMPACT) : NULL;
        rc = js ? hark_buf_puts(&meta, js) : hark_error_set(HARK_ENOMEM, "out of memory");
        free(js); /* libc: json_dumps allocates with malloc */
        if (m)
            json_decref(m);
    }
    if (rc == 0)
        rc = hark_store_text_put(r->o.store, job->recording, "summary", sum.ptr, meta.ptr);
out:
    hark_buf_dispose(&text);
    hark_buf_dispose(&sum);
    hark_buf_dispose(&meta);
    hark_transcript_free(t);
    hark_recording_free(rec);
    return rc;
}

/*
 * A "translate" job: the recording's audio with the translate task, the text stored as the
 * recording's "translation" (its transcript and segments are not touched).
 */
static int run_translation(slot *s, const hark_job *job, const hark_pipeline_options *po)
{
    hark_runner *r = s->r;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_run_options ro;
    hark_run_result res;
    hark_buf text = HARK_BUF_INIT, meta = HARK_BUF_INIT, model = HARK_BUF_INIT;
    int rc;

    if (!hark_runner_can_translate(r->o.engine)) {
        rc = hark_error_set(HARK_EUNSUPPORTED, "the %s engine cannot translate",
                            hark_engine_name(r->o.engine));
        goto out;
    }
    if ((rc = hark_store_recording_get(r->o.store, job->recording, &rec)) < 0)
        goto out;
    if (!rec->audio_path || !*rec->audio_path) {
        rc = hark_error_set(HARK_ENOTFOUND, "recording %lld has no audio to translate",
                            (long long)rec->id);
        goto out;
    }
    hark_run_options_default(&ro);
    ro.pipeline = *po;
    ro.pipeline.decode.translate = 1;
    ro.pipeline.progress = NULL;
    ro.pipeline.segments = NULL;
    ro.cache = r->o.cache;
    ro.file_hash = rec->content_hash;
    if ((rc = hark_run_file(&t, &res, r->o.engine, rec->audio_path, &ro)) < 0 ||
        (rc = hark_transcript_text(t, &text)) < 0)
        goto out;
    if (hark_engine_identity(r->o.engine, &model) < 0)
        hark_buf_clear(&model);
    {
        json_t *m =
            json_pack("{s:s, s:s, s:i}", "engine", hark_engine_name(r->o.engine), "model",
                      model.ptr ? model.ptr : "", "segments", (json_int_t)hark_transcript_count(t));
        char *js = m ? json_dumps(m, JSON_COMPACT) : NULL;
        rc = js ? hark_buf_puts(&meta, js) : hark_error_set(HARK_ENOMEM, "out of memory");
        free(js); /* libc: json_dumps allocates with malloc */
        if (m)
            json_decref(m);
    }
    if (rc == 0) {
        /* the text without its leading and trailing space */
        const char *txt = text.ptr ? text.ptr : "";
        size_t n = strlen(txt);
        txt = hark__trim(txt, &n);
        if (text.ptr) {
            memmove(text.ptr, txt, n);
            text.ptr[n] = '\0';
            text.len = n;
            txt = text.ptr;
        }
        rc = hark_store_text_put(r->o.store, job->recording, "translation", txt, meta.ptr);
    }
out:
    hark_buf_dispose(&text);
    hark_buf_dispose(&meta);
    hark_buf_dispose(&model);
    hark_transcript_free(t);
    hark_recording_free(rec);
    return rc;
}

static void run_job(slot *s, hark_job *job)
{
    hark_runner *r = s->r;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_run_options ro;
    hark_run_result res;
    hark_job_event ev;
    json_t *params = NULL;
    hark_job_event_kind kind;
    char err[512] = "";
    int64_t retry_at_ms = 0, wait_ms = 0;
    long retry_after_ms = -1;
    int rc, cancel, lost, release, degraded, erc, canceled = 0;
    const char *kind_name = job->kind ? job->kind : HARK_JOB_KIND_TRANSCRIBE;
    int transcribe = !strcmp(kind_name, HARK_JOB_KIND_TRANSCRIBE);

    pthread_mutex_lock(&r->mu);
    degraded = r->degraded;
    pthread_mutex_unlock(&r->mu);
    hark_job_event_init(&ev, HARK_JOB_EVENT_STARTED, job);
    emit(r, &ev);

    hark_run_options_default(&ro);
    ro.pipeline = r->o.pipeline;
    rc = apply_params(&ro.pipeline, job->params, &params);
    if (degraded)
        degrade(&ro.pipeline);
    ro.pipeline.scheduler = r->o.scheduler;
    ro.pipeline.priority = job->priority;
    ro.pipeline.keep_going = 1;
    ro.pipeline.abort = slot_abort;
    ro.pipeline.progress = on_progress;
    ro.pipeline.segments = on_segments;
    ro.pipeline.payload = s;
    ro.store = r->o.store;
    ro.cache = r->o.cache;
    ro.recording = job->recording;
    ro.job = job->id;
    if (rc < 0) {
        /* bad params: fails below */
    } else if (!strcmp(kind_name, HARK_JOB_KIND_SUMMARIZE)) {
        rc = run_summary(s, job, &wait_ms, &retry_after_ms);
    } else if (!strcmp(kind_name, HARK_JOB_KIND_TRANSLATE)) {
        rc = run_translation(s, job, &ro.pipeline);
    } else if (strcmp(kind_name, HARK_JOB_KIND_TRANSCRIBE) != 0) {
        rc = hark_error_set(HARK_EUNSUPPORTED, "unknown job kind \"%s\"", kind_name);
    } else if ((rc = hark_store_recording_get(r->o.store, job->recording, &rec)) == 0) {
        if (!rec->audio_path || !*rec->audio_path)
            rc = hark_error_set(HARK_ENOTFOUND, "recording %lld has no audio to transcribe",
                                (long long)rec->id);
        else {
            ro.file_hash = rec->content_hash;
            rc = hark_run_file(&t, &res, r->o.engine, rec->audio_path, &ro);
        }
    }
    if (rc < 0)
        snprintf(err, sizeof(err), "%s", hark_error_last());

    pthread_mutex_lock(&r->mu);
    cancel = s->cancel;
    lost = s->lost;
    release = s->release;
    pthread_mutex_unlock(&r->mu);

    /* end the job in the store as the run ended */
    if (rc == 0) {
        kind = HARK_JOB_EVENT_DONE;
        erc = end_job(r, job, HARK_JOB_DONE, 0, 0, NULL);
    } else if (cancel || lost) {
        kind = HARK_JOB_EVENT_CANCELED;
        erc = HARK_EBUSY; /* not ours any more: see below */
    } else if (wait_ms > 0) {
        /* a summary waiting for its transcript: back to the queue, the attempt not counted */
        kind = HARK_JOB_EVENT_RETRY;
        retry_at_ms = now_unix_ms() + wait_ms;
        erc = end_job(r, job, HARK_JOB_QUEUED, 1, retry_at_ms, NULL);
    } else if (release) {
        kind = HARK_JOB_EVENT_RELEASED;
        erc = end_job(r, job, HARK_JOB_QUEUED, 1, 0, NULL);
        if (erc == 0 && transcribe)
            hark_store_recording_set_status(r->o.store, job->recording, HARK_STATUS_PENDING);
    } else if (!permanent(rc) && job->attempts < job->max_attempts) {
        int64_t delay = (int64_t)r->o.backoff_ms << (2 * HARK_MIN(job->attempts - 1, 10u));
        if (retry_after_ms > delay)
            delay = retry_after_ms;
        kind = HARK_JOB_EVENT_RETRY;
        retry_at_ms = now_unix_ms() + delay;
        erc = end_job(r, job, HARK_JOB_QUEUED, 0, retry_at_ms, err);
        if (erc == 0 && transcribe)
            hark_store_recording_set_status(r->o.store, job->recording, HARK_STATUS_PENDING);
    } else {
        kind = HARK_JOB_EVENT_DEAD;
        erc = end_job(r, job, HARK_JOB_DEAD, 0, 0, err);
    }
    if (erc == HARK_EBUSY) {
        /*
         * The job is no longer RUNNING under our lease: canceled (through hark_runner_cancel,
         * or in the store by someone else: the heartbeat saw the lease go, or the cancel came
         * after the last abort poll, so the run ended otherwise), or taken over by another
         * runner after our lease expired. Whatever the run did, the job did not end as it
         * says: acknowledge the cancel, which the store accepts only for a job canceled while
         * we held it, and report it as canceled. A job taken over is another runner's now:
         * nothing of ours to end (and the event says it stopped here).
         */
        kind = HARK_JOB_EVENT_CANCELED;
        erc = hark_store_job_end(r->o.store, job->id, r->name, HARK_JOB_CANCELED, 0, 0, NULL);
        canceled = erc == 0;
        if (erc == HARK_EBUSY && !cancel)
            erc = 0;
    }
    if (erc < 0)
        hark_warn("job %lld: %s", (long long)job->id, hark_error_last());

    hark_job_event_init(&ev, kind, job);
    pthread_mutex_lock(&r->mu);
    switch (kind) {
    case HARK_JOB_EVENT_DONE:
        ev.t = t;
        r->stats.done++;
        break;
    case HARK_JOB_EVENT_RETRY:
        ev.retry_at_ms = retry_at_ms;
        ev.error = err;
        r->stats.retried++;
        break;
    case HARK_JOB_EVENT_DEAD:
        ev.error = err;
        r->stats.dead++;
        break;
    case HARK_JOB_EVENT_RELEASED:
        r->stats.released++;
        break;
    default:
        if (canceled)
            r->stats.canceled++;
        break;
    }
    pthread_mutex_unlock(&r->mu);
    emit(r, &ev);
    if (params)
        json_decref(params);
    hark_recording_free(rec);
    hark_transcript_free(t);
}

/* ---- threads ----------------------------------------------------------------------------------
 */

static void *job_main(void *arg)
{
    slot *s = arg;
    hark_runner *r = s->r;

    pthread_mutex_lock(&r->mu);
    for (;;) {
        hark_job *job = NULL;
        int64_t next_ms = 0;
        int rc;
        while (!r->stopping && r->paused)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stopping)
            break;
        if (r->wakeups > 0)
            r->wakeups--;
        pthread_mutex_unlock(&r->mu);
        rc = hark_store_job_claim(r->o.store, r->name, r->o.lease_ms, HARK_PRIORITY_MAINTENANCE,
                                  &job, &next_ms);
        if (rc < 0 && rc != HARK_ENOTFOUND) {
            hark_warn("job queue: %s", hark_error_last());
            next_ms = now_unix_ms() + 1000; /* the store is unwell: try again in a second */
        }
        pthread_mutex_lock(&r->mu);
        if (rc == 0) {
            if (r->stopping || r->paused) {
                /* claimed while stopping, or while a pause was being set (the claim began
                 * before it): hand it straight back, the attempt not counted */
                int stopping = r->stopping;
                pthread_mutex_unlock(&r->mu);
                hark_store_job_end(r->o.store, job->id, r->name, HARK_JOB_QUEUED, 1, 0, NULL);
                hark_job_free(job);
                pthread_mutex_lock(&r->mu);
                if (stopping)
                    break;
                continue;
            }
            s->job = job->id;
            s->current = job;
            s->cancel = s->lost = s->release = 0;
            r->running++;
            r->stats.claimed++;
            pthread_cond_signal(&r->cv);       /* another free thread may claim the next one */
            pthread_cond_broadcast(&r->hb_cv); /* heartbeats while jobs run */
            pthread_mutex_unlock(&r->mu);
            run_job(s, job);
            pthread_mutex_lock(&r->mu);
            r->running--;
            s->job = 0;
            s->current = NULL;
            pthread_cond_broadcast(&r->cv); /* stop() waits for running == 0 */
            pthread_mutex_unlock(&r->mu);
            hark_job_free(job);
            pthread_mutex_lock(&r->mu);
            continue;
        }
        /* nothing claimable: sleep until woken or until something becomes claimable */
        if (!r->stopping && !r->paused && r->wakeups == 0)
            wait_until(&r->cv, &r->mu, next_ms);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void *watch_main(void *arg)
{
    hark_runner *r = arg;
    for (;;) {
        int rc = hark_store_job_wait(r->o.store, r->watch_pipe[0], -1);
        pthread_mutex_lock(&r->mu);
        if (r->stopping || rc == HARK_EUNSUPPORTED || rc == HARK_EBUSY) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        if (rc == 1) {
            r->wakeups++;
            pthread_cond_signal(&r->cv);
        } else if (rc < 0) {
            hark_warn("job queue notifications: %s", hark_error_last());
            wait_until(&r->wa_cv, &r->mu, now_unix_ms() + 1000); /* the store is unwell */
        }
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

static void *heartbeat_main(void *arg)
{
    hark_runner *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping || r->running) {
        unsigned held, renewed = 0, i;
        if (r->running == 0) {
            if (r->stopping)
                break;
            pthread_cond_wait(&r->hb_cv, &r->mu); /* no job, no timer */
            continue;
        }
        wait_until(&r->hb_cv, &r->mu, now_unix_ms() + r->o.lease_ms / 3);
        if (r->running == 0)
            continue;
        held = r->running;
        pthread_mutex_unlock(&r->mu);
        if (hark_store_job_heartbeat(r->o.store, r->name, r->o.lease_ms, &renewed) < 0)
            hark_warn("job queue heartbeat: %s", hark_error_last());
        pthread_mutex_lock(&r->mu);
        if (renewed >= held)
            continue;
        /* a lease we hold was not renewed: find which job is no longer ours */
        for (i = 0; i < r->n_slots; i++) {
            int64_t id = r->slots[i].job;
            hark_job *j = NULL;
            int ours;
            if (!id)
                continue;
            pthread_mutex_unlock(&r->mu);
            ours = hark_store_job_get(r->o.store, id, &j) == 0 && j->state == HARK_JOB_RUNNING &&
                   j->lease_owner && strcmp(j->lease_owner, r->name) == 0;
            hark_job_free(j);
            pthread_mutex_lock(&r->mu);
            if (!ours && r->slots[i].job == id) {
                r->slots[i].lost = 1;
                hark_info("job %lld: lease lost (canceled or taken over): stopping it",
                          (long long)id);
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- start-up: jobs of dead runners on this machine ------------------------------------------ */

static void host_name(char *out, size_t n)
{
    if (gethostname(out, n) != 0 || !*out)
        snprintf(out, n, "localhost");
    out[n - 1] = '\0';
}

/* "<host>:<pid>:<nonce>" of a runner on this host whose process no longer exists? */
static int owner_is_dead_local(const char *owner, const char *host)
{
    size_t hl = strlen(host);
    const char *p;
    char *end;
    long pid;
    if (!owner || strncmp(owner, host, hl) != 0 || owner[hl] != ':')
        return 0;
    p = owner + hl + 1;
    errno = 0;
    pid = strtol(p, &end, 10);
    if (errno || end == p || *end != ':' || pid <= 0)
        return 0;
    if (pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void requeue_dead_local(hark_runner *r)
{
    hark_job_list_options lo = HARK_JOB_LIST_OPTIONS_INIT;
    hark_job_list *list = NULL;
    char host[128];
    size_t i;
    host_name(host, sizeof(host));
    lo.state = HARK_JOB_RUNNING;
    lo.limit = 1000;
    do {
        if (hark_store_job_list(r->o.store, &lo, &list) < 0) {
            hark_warn("job queue: %s", hark_error_last());
            return;
        }
        for (i = 0; i < list->n; i++) {
            const hark_job *j = &list->items[i];
            if (owner_is_dead_local(j->lease_owner, host) &&
                hark_store_job_end(r->o.store, j->id, j->lease_owner, HARK_JOB_QUEUED, 0, 0,
                                   "its runner stopped (the process is gone)") == 0)
                hark_info("job %lld: runner %s is gone: queued again", (long long)j->id,
                          j->lease_owner);
        }
        lo.after = list->n ? list->items[list->n - 1].id : 0;
        i = (size_t)list->more;
        hark_job_list_free(list);
        list = NULL;
    } while (i);
}

/* ---- public -------------------------------------------------------------------------------- */

int hark_runner_start(hark_runner **out, const hark_runner_options *opts)
{
    hark_runner *r = NULL;
    unsigned i;
    int rc = 0;

    HARK_ASSERT_ARG(out && opts);
    *out = NULL;
    if (opts->version != HARK_RUNNER_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_runner_options version %u not supported",
                              opts->version);
    if (!opts->store || !opts->engine || (!opts->scheduler && !opts->no_claims))
        return hark_error_set(HARK_EINVAL, "job runner: a store, an engine and a scheduler are "
                                           "needed");
    if (!(r = hark__calloc(1, sizeof(*r))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    r->o = *opts;
    if (!r->o.lease_ms)
        r->o.lease_ms = DEFAULT_LEASE_MS;
    if (!r->o.backoff_ms)
        r->o.backoff_ms = DEFAULT_BACKOFF_MS;
    if (r->o.no_claims)
        r->n_slots = 0; /* no job threads, no heartbeat, no listener */
    else
        r->n_slots = r->o.max_jobs ? r->o.max_jobs
                                   : HARK_MAX(2u, 2 * hark_scheduler_workers(r->o.scheduler));
    r->n_slots = HARK_MIN(r->n_slots, (unsigned)MAX_JOBS);
    r->paused = opts->paused;
    r->degraded = opts->degraded;
    if (opts->name) {
        snprintf(r->name, sizeof(r->name), "%s", opts->name);
    } else {
        char host[128];
        uint8_t nonce[6];
        char hex[13];
        host_name(host, sizeof(host));
        {
            struct timespec ts;
            uint64_t mix;
            clock_gettime(CLOCK_REALTIME, &ts);
            mix = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)r;
            memcpy(nonce, &mix, sizeof(nonce));
        }
        hark_hex(hex, nonce, sizeof(nonce));
        snprintf(r->name, sizeof(r->name), "%s:%ld:%s", host, (long)getpid(), hex);
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->hb_cv, NULL);
    pthread_cond_init(&r->wa_cv, NULL);
    r->watch_pipe[0] = r->watch_pipe[1] = -1;
    r->stats.max_jobs = r->n_slots;
    if (!(r->slots = hark__calloc(r->n_slots ? r->n_slots : 1, sizeof(slot)))) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    requeue_dead_local(r);
    if (r->o.no_claims)
        goto out;
    if (pthread_create(&r->heartbeat, NULL, heartbeat_main, r) != 0) {
        rc = hark_error_set(HARK_ENOMEM, "cannot start the job heartbeat thread");
        goto out;
    }
    r->hb_started = 1;
    /* a store that notifies of new jobs (the first call opens its listener) */
    if (hark_store_job_wait(r->o.store, -1, 0) >= 0) {
        if (pipe(r->watch_pipe) != 0 || fcntl(r->watch_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(r->watch_pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(r->watch_pipe[1], F_SETFL, O_NONBLOCK) != 0 ||
            pthread_create(&r->watch, NULL, watch_main, r) != 0) {
            rc = hark_error_set(HARK_ENOMEM, "cannot start the job notification thread");
            goto out;
        }
        r->watch_started = 1;
    }
    hark_error_clear();
    for (i = 0; i < r->n_slots; i++) {
        r->slots[i].r = r;
        r->slots[i].index = i;
        if (pthread_create(&r->slots[i].thread, NULL, job_main, &r->slots[i]) != 0) {
            rc = hark_error_set(HARK_ENOMEM, "cannot start job thread %u", i + 1);
            goto out;
        }
        r->slots[i].started = 1;
    }
out:
    if (rc < 0) {
        hark_runner_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void hark_runner_wake(hark_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->wakeups++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void hark_runner_pause(hark_runner *r, int paused)
{
    pthread_mutex_lock(&r->mu);
    r->paused = paused != 0;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void hark_runner_set_degraded(hark_runner *r, int degraded)
{
    pthread_mutex_lock(&r->mu);
    r->degraded = degraded != 0;
    pthread_mutex_unlock(&r->mu);
}

int hark_runner_cancel(hark_runner *r, int64_t id)
{
    unsigned i;
    int rc = hark_store_job_cancel(r->o.store, id);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    for (i = 0; i < r->n_slots; i++)
        if (r->slots[i].job == id)
            r->slots[i].cancel = 1;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void hark_runner_stats_get(hark_runner *r, hark_runner_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    out->running = r->running;
    out->paused = r->paused;
    out->degraded = r->degraded;
    pthread_mutex_unlock(&r->mu);
}

const char *hark_runner_name(const hark_runner *r)
{
    return r->name;
}

unsigned hark_runner_stop(hark_runner *r, unsigned grace_ms)
{
    unsigned i, released;
    int64_t until = now_unix_ms() + grace_ms;
    pthread_mutex_lock(&r->mu);
    released = (unsigned)r->stats.released;
    r->stopping = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_cond_broadcast(&r->hb_cv);
    while (r->running && now_unix_ms() < until)
        wait_until(&r->cv, &r->mu, until);
    for (i = 0; i < r->n_slots; i++)
        if (r->slots[i].job)
            r->slots[i].release = 1;
    while (r->running)
        pthread_cond_wait(&r->cv, &r->mu);
    released = (unsigned)r->stats.released - released;
    pthread_mutex_unlock(&r->mu);
    for (i = 0; i < r->n_slots; i++)
        if (r->slots[i].started) {
            pthread_join(r->slots[i].thread, NULL);
            r->slots[i].started = 0;
        }
    if (r->hb_started) {
        pthread_mutex_lock(&r->mu);
        pthread_cond_broadcast(&r->hb_cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->heartbeat, NULL);
        r->hb_started = 0;
    }
    if (r->watch_started) {
        pthread_mutex_lock(&r->mu);
        pthread_cond_broadcast(&r->wa_cv);
        pthread_mutex_unlock(&r->mu);
        if (write(r->watch_pipe[1], "x", 1) < 0) {
            /* full or closed: the watch thread sees a byte already or `stopping` */
        }
        pthread_join(r->watch, NULL);
        r->watch_started = 0;
    }
    return released;
}

void hark_runner_free(hark_runner *r)
{
    if (!r)
        return;
    hark_runner_stop(r, 0);
    if (r->watch_pipe[0] >= 0)
        close(r->watch_pipe[0]);
    if (r->watch_pipe[1] >= 0)
        close(r->watch_pipe[1]);
    pthread_cond_destroy(&r->wa_cv);
    pthread_cond_destroy(&r->hb_cv);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    hark__free(r->slots);
    hark__free(r);
}
