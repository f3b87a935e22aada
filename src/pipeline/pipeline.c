/*
 * pipeline.c: samples -> chunker -> the scheduler's workers -> ordered merge.
 *
 * DESIGN
 * A pipeline is one run. Its caller feeds samples (hark_pipeline_feed, or
 * hark__pipeline_run pulling blocks from a decoder); the chunker cuts them
 * into chunks on the caller's thread, and each chunk becomes a task in the
 * pipeline's queue on the scheduler (src/sched/), which runs tasks of every
 * pipeline of the process on its workers. At most `depth` chunks wait in
 * the queue: when it is full, feeding waits until a worker takes one
 * (backpressure), so decoding never runs more than `depth` chunks ahead.
 *
 * A worker transcribes its chunk with per-chunk retries and exponential
 * backoff, using the engine's model (acquired per chunk, so the engine can
 * unload it when idle) and a state from the engine's pool (given back after
 * the chunk; a state that may be damaged is freed instead), and posts the
 * result into a table indexed by chunk number. Merging is done by whichever
 * thread completes the in-order prefix: result k is appended to the output
 * once results 0..k-1 are in, by one merger at a time (`merging`), so the
 * output and every merge callback come in chunk order whatever the number
 * of workers or the order in which they finish.
 *
 * One mutex guards the queue counters, the result table and the run flags;
 * one condition variable wakes the feeder (space in the queue) and the
 * finisher (everything done). Lock order: p->mu, then the scheduler's lock
 * (hark__sched_drain); workers take p->mu only outside the scheduler's lock.
 *
 * Failure: a chunk that still fails after its retries, a model that cannot
 * load, a hook error or cancellation sets `stop` (with keep_going, a failed
 * chunk only records the first failure). A stopped pipeline drains its
 * queued tasks, running ones see `stop` through the engine's abort poll, and
 * the output keeps what was merged in order before the first missing chunk.
 * Worker error messages are copied (error text is thread-local), so the
 * caller sees the worker's one-line reason.
 *
 * Confidence fallback (hark_engine_set_fallback): after a chunk's result
 * (from the engine or the cache) or its final failure, the worker hands it
 * to hark__fallback_apply (src/asr/fallback.c), which re-transcribes the
 * doubtful segments with the fallback engine; a failed chunk the fallback
 * transcribes counts as done.
 *
 * Memory: at most depth queued + one running chunk per worker, plus the
 * chunker's buffer; results awaiting merge hold only text.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hark/pipeline.h"
#include "hark/scheduler.h"
#include "../asr/asr.h"
#include "../sched/sched.h"
#include "../util/util.h"
#include "chunker.h"
#include "pipeline_int.h"

#define BLOCK_SAMPLES 16384
#define ERRLEN        512

enum { SLOT_QUEUED = 0, SLOT_DONE, SLOT_FAILED };

typedef struct slot {
    hark_transcript *result; /* chunk transcript, times relative to the chunk */
    int64_t start;           /* chunk position in the recording, samples */
    int64_t n;               /* chunk length, samples */
    int state;               /* SLOT_* */
} slot;

typedef struct chunk_task {
    hark__task task; /* first: the scheduler's view */
    hark_pipeline *p;
    hark_chunk c;
} chunk_task;

struct hark_pipeline {
    hark_scheduler *sched; /* where chunks run */
    hark_scheduler *own;   /* a private scheduler to free, or NULL */
    hark__sched_queue q;   /* this run's tasks on the scheduler */
    hark_engine *engine;
    const hark_engine_ops *ops;
    hark_pipeline_options opts; /* copy */
    hark_pipeline_hooks hooks;  /* copy, zeroed when none */
    hark__config cfg;
    hark__chunker *chunker;
    unsigned cpus;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* feeder: queue space; finisher: all done; both: stop */
    unsigned depth;    /* most chunks queued and not yet taken */
    unsigned queued;   /* chunks queued on the scheduler, not yet taken */
    unsigned running;  /* chunks being transcribed */
    slot *slots;       /* indexed by chunk number */
    uint32_t n_slots, slots_cap;
    uint32_t merged; /* chunks 0..merged-1 are in the output */
    int merging;     /* a thread is merging (at most one) */
    int input_done;  /* finish was called: no more chunks */
    int report;      /* progress changed without a merge: the merger reports it */
    int finished;    /* finish returned */
    int stop;        /* cancel or fatal error: wind down */
    int stop_rc;     /* the first error (HARK_ECANCELED for a cancel) */
    char stop_msg[ERRLEN];
    int fail_rc; /* keep_going: the first chunk failure */
    char fail_msg[ERRLEN];
    double asr_ms; /* summed engine time */
    double decode_ms, vad_ms;
    int64_t decoded; /* samples fed */

    hark_transcript *out;
    hark_progress progress;
    double t0;
};

/* ---- helpers ------------------------------------------------------------------ */

static int user_aborted(hark_pipeline *p)
{
    return p->opts.abort && p->opts.abort(p->opts.payload);
}

/* The engine's abort poll: the run stopped, or the user cancels. */
static int abort_cb(void *payload)
{
    hark_pipeline *p = payload;
    int stop;
    pthread_mutex_lock(&p->mu);
    stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return stop || user_aborted(p);
}

/* Record the first fatal error; caller holds mu. */
static void set_stop_locked(hark_pipeline *p, int rc, const char *msg)
{
    if (!p->stop) {
        p->stop = 1;
        p->stop_rc = rc;
        snprintf(p->stop_msg, sizeof(p->stop_msg), "%s", msg && *msg ? msg : hark_strerror(rc));
    }
    pthread_cond_broadcast(&p->cv);
}

/* Failures that another attempt cannot fix (a remote engine's 4xx answers among them). */
static int retryable(int rc)
{
    return rc != HARK_ECANCELED && rc != HARK_EINVAL && rc != HARK_EUNSUPPORTED &&
           rc != HARK_EMODEL && rc != HARK_EVERSION && rc != HARK_EAUTH && rc != HARK_ETOOBIG;
}

/* A queued chunk dropped unrun (drain): its slot fails, its memory goes. Called without mu. */
static void drop_task(hark__task *t, void *payload)
{
    chunk_task *ct = (chunk_task *)t;
    hark_pipeline *p = payload;
    pthread_mutex_lock(&p->mu);
    p->slots[ct->c.index].state = SLOT_FAILED;
    p->queued--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    hark__free(ct->c.pcm);
    hark__free(ct);
}

/* Stop the run and drop its queued chunks. Called without mu. */
static void stop_run(hark_pipeline *p, int rc, const char *msg)
{
    pthread_mutex_lock(&p->mu);
    set_stop_locked(p, rc, msg);
    pthread_mutex_unlock(&p->mu);
    hark__sched_drain(p->sched, &p->q, drop_task, p);
}

/* ---- merge -------------------------------------------------------------------- */

/*
 * Append slot s, the next in order, to the transcript. Called with mu held by
 * the merging thread; drops it around the append and the callbacks.
 */
static int merge_one_locked(hark_pipeline *p, slot *s)
{
    hark_transcript *res = s->result;
    uint32_t idx = p->merged;
    size_t first = hark_transcript_count(p->out), count;
    int rc;
    s->result = NULL;
    pthread_mutex_unlock(&p->mu);
    rc = hark_transcript_append(p->out, res, s->start, idx);
    if (rc == 0) { /* the engine's own counters, summed over chunks */
        const hark_timings *ct = hark_transcript_timings(res);
        hark_timings *ot = hark_transcript_timings(p->out);
        ot->encoder_ms += ct->encoder_ms;
        ot->decoder_ms += ct->decoder_ms;
        ot->windows += ct->windows;
        ot->sampled += ct->sampled;
        ot->positions += ct->positions;
    }
    count = hark_transcript_count(p->out) - first;
    if (rc == 0 && p->hooks.merged)
        rc = p->hooks.merged(p->hooks.payload, idx, p->out, first, count);
    if (rc == 0 && p->opts.segments && count)
        rc = p->opts.segments(p->out, first, count, p->opts.payload);
    hark_transcript_free(res);
    pthread_mutex_lock(&p->mu);
    if (rc < 0) {
        char msg[ERRLEN];
        snprintf(msg, sizeof(msg), "%s", hark_error_last());
        s->state = SLOT_FAILED; /* its result is gone: never merge it */
        set_stop_locked(p, rc, msg);
        return rc;
    }
    p->merged++;
    p->progress.chunks_done = p->merged;
    p->progress.samples_done = s->start + s->n;
    return 0;
}

/*
 * Append every finished result that is next in order, and report progress
 * after each and whenever p->report asks for it (the total became final).
 * Called with mu held by at most one thread at a time (p->merging), so
 * reports never overtake each other. Returns a negative code if a callback
 * stopped the run.
 */
static int merge_ready_locked(hark_pipeline *p)
{
    int rc = 0;
    if (p->merging)
        return 0; /* the merging thread will see our result or report */
    p->merging = 1;
    for (;;) {
        if (p->merged < p->n_slots && p->slots[p->merged].state == SLOT_DONE) {
            if ((rc = merge_one_locked(p, &p->slots[p->merged])) < 0)
                break;
            p->report = 1;
        }
        if (!p->report)
            break;
        p->report = 0;
        if (p->opts.progress) {
            hark_progress prog = p->progress;
            prog.chunks_total = p->n_slots;
            prog.decoding_done = p->input_done;
            prog.elapsed_ms = hark__now_ms() - p->t0;
            pthread_mutex_unlock(&p->mu);
            p->opts.progress(&prog, p->opts.payload);
            pthread_mutex_lock(&p->mu);
        }
    }
    p->merging = 0;
    pthread_cond_broadcast(&p->cv);
    return rc;
}

/* ---- workers -------------------------------------------------------------------- */

static void make_job(hark_pipeline *p, const hark__worker_info *w, const hark_chunk *c,
                     hark_engine_job *job)
{
    const hark_pipeline_options *o = &p->opts;
    memset(job, 0, sizeof(*job));
    job->pcm = c->pcm;
    job->n = c->n;
    job->offset = c->start;
    job->chunk = c->index;
    /* Compute threads: as asked, else the cores shared by the workers busy now (a lone
     * chunk gets every core; results do not depend on the thread count). */
    job->n_threads = o->decode.n_threads > 0 ? o->decode.n_threads
                                             : (int)HARK_MAX(1u, p->cpus / HARK_MAX(1u, w->busy));
    job->opts = &o->decode;
    job->abort = abort_cb;
    job->payload = p;
}

/*
 * The engine's confidence fallback on a finished chunk (`rc` is the primary's
 * outcome, *t its result). A failed chunk the fallback transcribes succeeds.
 */
static int fallback_chunk(hark_pipeline *p, const hark__worker_info *w, const hark_chunk *c,
                          hark_transcript **t, int rc)
{
    hark_engine_job job;
    char primary[ERRLEN];
    unsigned resent = 0, replaced = 0;
    int frc;
    if (rc < 0)
        snprintf(primary, sizeof(primary), "%s", hark_error_last());
    make_job(p, w, c, &job);
    frc = hark__fallback_apply(p->engine, &job, t, &resent, &replaced);
    if (frc == 0 && resent)
        hark_debug("chunk %u: %u passages sent to the fallback, %u taken", c->index, resent,
                   replaced);
    if (frc == HARK_ECANCELED || abort_cb(p))
        return hark_error_set(HARK_ECANCELED, "canceled");
    if (rc < 0 && frc < 0) {
        char why[ERRLEN];
        snprintf(why, sizeof(why), "%s", hark_error_last()); /* error text is overwritten below */
        return hark_error_set(rc, "%s; the fallback failed too: %s", primary, why);
    }
    if (frc < 0) { /* the primary's result stands */
        hark_warn("chunk %u: fallback: %s", c->index, hark_error_last());
        return 0;
    }
    return 0;
}

/* Transcribe one chunk with retries. Returns 0 and sets *out, or an error. */
static int process_chunk(hark_pipeline *p, const hark__worker_info *w, const hark_chunk *c,
                         hark_transcript **out)
{
    const hark_pipeline_options *o = &p->opts;
    const void *model = NULL;
    void *state = NULL;
    hark_engine_job job;
    unsigned attempt;
    int rc = 0;

    *out = NULL;
    if (p->hooks.lookup) {
        rc = p->hooks.lookup(p->hooks.payload, c->index, c->start, c->pcm, c->n, out);
        if (rc == 0 && *out)
            return 0;
        if (rc < 0 && rc != HARK_ENOTFOUND)
            hark_warn("chunk %u: cache lookup failed: %s", c->index, hark_error_last());
        rc = 0;
    }
    make_job(p, w, c, &job);

    if ((rc = hark__engine_acquire(p->engine, &model)) < 0)
        return rc;
    for (attempt = 0;; attempt++) {
        hark_transcript *t = NULL;
        double t0 = hark__now_ms();
        if ((rc = hark_transcript_new(&t)) < 0)
            break;
        if (!state)
            rc = hark__engine_state_take(p->engine, model, &state);
        if (rc == 0)
            rc = p->ops->transcribe(state, &job, t);
        pthread_mutex_lock(&p->mu);
        p->asr_ms += hark__now_ms() - t0;
        pthread_mutex_unlock(&p->mu);
        if (rc == 0) {
            *out = t;
            break;
        }
        hark_transcript_free(t);
        if (rc == HARK_EENGINE && state) { /* the state may be damaged: never reuse it */
            p->ops->state_free(state);
            state = NULL;
        }
        if (abort_cb(p)) {
            rc = hark_error_set(HARK_ECANCELED, "canceled");
            break;
        }
        if (!retryable(rc) || attempt >= o->max_retries) {
            rc = hark_error_prefix("chunk %u at %.1f s", c->index,
                                   (double)c->start / HARK_SAMPLE_RATE);
            break;
        }
        hark_debug("chunk %u: attempt %u failed (%s), retrying", c->index, attempt + 1,
                   hark_error_last());
        if (hark__sleep_ms(o->retry_base_ms << HARK_MIN(attempt, 16u), abort_cb, p)) {
            rc = hark_error_set(HARK_ECANCELED, "canceled");
            break;
        }
    }
    hark__engine_state_give(p->engine, state); /* the next chunk reuses it */
    hark__engine_release(p->engine);
    if (rc == 0 && p->hooks.store) {
        int src = p->hooks.store(p->hooks.payload, c->index, c->start, c->pcm, c->n, *out);
        if (src < 0)
            hark_warn("chunk %u: cache store failed: %s", c->index, hark_error_last());
    }
    return rc;
}

static void run_chunk(hark__task *task, const hark__worker_info *w)
{
    chunk_task *ct = (chunk_task *)task;
    hark_pipeline *p = ct->p;
    hark_transcript *t = NULL;
    uint32_t idx = ct->c.index;
    int rc, stopped;

    pthread_mutex_lock(&p->mu);
    p->queued--;
    p->running++;
    stopped = p->stop;
    pthread_cond_broadcast(&p->cv); /* space in the queue */
    pthread_mutex_unlock(&p->mu);

    if (stopped)
        rc = HARK_ECANCELED;
    else
        rc = process_chunk(p, w, &ct->c, &t);
    if (!stopped && rc != HARK_ECANCELED && hark__engine_fallback(p->engine, NULL))
        rc = fallback_chunk(p, w, &ct->c, &t, rc);
    if (rc < 0 && !stopped && rc != HARK_ECANCELED && p->hooks.failed)
        p->hooks.failed(p->hooks.payload, idx, ct->c.start, ct->c.n, rc, hark_error_last());
    hark__free(ct->c.pcm);
    hark__free(ct);

    pthread_mutex_lock(&p->mu);
    if (rc < 0) {
        p->slots[idx].state = SLOT_FAILED;
        if (stopped) {
            /* the run had already stopped: nothing to report */
        } else if (p->opts.keep_going && rc != HARK_ECANCELED && rc != HARK_EMODEL) {
            if (!p->fail_rc) {
                p->fail_rc = rc;
                snprintf(p->fail_msg, sizeof(p->fail_msg), "%s", hark_error_last());
            }
        } else {
            char msg[ERRLEN];
            snprintf(msg, sizeof(msg), "%s", hark_error_last());
            set_stop_locked(p, rc, msg);
        }
    } else {
        p->slots[idx].result = t;
        p->slots[idx].state = SLOT_DONE;
    }
    if (!p->stop)
        merge_ready_locked(p);
    if (p->stop) { /* drop what is still queued (drain takes mu itself) */
        pthread_mutex_unlock(&p->mu);
        hark__sched_drain(p->sched, &p->q, drop_task, p);
        pthread_mutex_lock(&p->mu);
    }
    p->running--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu); /* the finisher may free p from here on */
}

/* ---- feeding: chunk emit -------------------------------------------------------------- */

static int enqueue(void *payload, hark_chunk *c)
{
    hark_pipeline *p = payload;
    chunk_task *ct = NULL;
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->queued >= p->depth)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->stop) {
        rc = p->stop_rc;
        goto out;
    }
    if (c->index != p->n_slots) { /* the chunker must number chunks 0, 1, 2... */
        rc = hark_error_set(HARK_EINVAL, "chunker emitted chunk %u, expected %u", c->index,
                            p->n_slots);
        set_stop_locked(p, rc, hark_error_last());
        goto out;
    }
    if (p->n_slots == p->slots_cap) {
        uint32_t cap = p->slots_cap ? p->slots_cap * 2 : 64;
        slot *s = hark__reallocarray(p->slots, cap, sizeof(*s));
        if (!s) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            set_stop_locked(p, rc, hark_error_last());
            goto out;
        }
        p->slots = s;
        p->slots_cap = cap;
    }
    if (!(ct = hark__calloc(1, sizeof(*ct)))) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        set_stop_locked(p, rc, hark_error_last());
        goto out;
    }
    memset(&p->slots[p->n_slots], 0, sizeof(slot));
    p->slots[p->n_slots].start = c->start;
    p->slots[p->n_slots].n = (int64_t)c->n;
    p->slots[p->n_slots].state = SLOT_QUEUED;
    p->n_slots++;
    p->progress.chunks_total = p->n_slots;
    p->queued++;
out:
    pthread_mutex_unlock(&p->mu);
    if (rc < 0)
        return rc; /* the chunker frees c->pcm */
    if (p->hooks.cut && (rc = p->hooks.cut(p->hooks.payload, c->index, c->start, c->n)) < 0) {
        char msg[ERRLEN];
        snprintf(msg, sizeof(msg), "%s", hark_error_last());
        pthread_mutex_lock(&p->mu);
        p->slots[c->index].state = SLOT_FAILED;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        hark__free(ct);
        stop_run(p, rc, msg);
        return rc;
    }
    ct->task.run = run_chunk;
    ct->p = p;
    ct->c = *c; /* owns c->pcm from here on */
    hark__sched_push(p->sched, &p->q, &ct->task);
    return 0;
}

/* ---- the run ---------------------------------------------------------------------------- */

void hark_pipeline_options_default(hark_pipeline_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_PIPELINE_OPTIONS_VERSION;
    o->priority = HARK_PRIORITY_BULK;
    o->max_retries = 3;
    o->retry_base_ms = 100;
    hark_decode_options_default(&o->decode);
}

static int set_meta(hark_pipeline *p)
{
    const char *model = hark__engine_model_name(p->engine);
    int rc = hark_transcript_set_meta(p->out, "engine", p->ops->name);
    if (rc == 0)
        rc = hark_transcript_set_meta(p->out, "model", model ? model : "default");
    if (rc == 0 && p->opts.decode.language)
        rc = hark_transcript_set_meta(p->out, "language", p->opts.decode.language);
    if (rc == 0 && hark__engine_fallback(p->engine, NULL))
        rc = hark_transcript_set_meta(p->out, "fallback",
                                      hark_engine_name(hark__engine_fallback(p->engine, NULL)));
    if (rc == 0)
        rc = hark_transcript_set_meta(p->out, "options", p->cfg.json.ptr);
    return rc;
}

/* Start a run expecting `total` samples (0 = unknown; sizes a private scheduler). */
static int begin(hark_pipeline **out, hark_engine *engine, const hark_pipeline_options *opts_in,
                 const hark__config *cfg, const hark_pipeline_hooks *hooks, int64_t total)
{
    hark_pipeline_options defaults;
    const hark_pipeline_options *opts = opts_in;
    hark_pipeline *p = NULL;
    unsigned workers;
    int rc = 0;

    HARK_ASSERT_ARG(out && engine);
    *out = NULL;
    if (!opts) {
        hark_pipeline_options_default(&defaults);
        opts = &defaults;
    }
    if (opts->version != HARK_PIPELINE_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_pipeline_options version %u not supported",
                              opts->version);
    if (!(p = hark__calloc(1, sizeof(*p))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->t0 = hark__now_ms();
    p->engine = engine;
    p->ops = hark__engine_ops(engine);
    p->opts = *opts;
    if (hooks)
        p->hooks = *hooks;
    p->cpus = hark__cpu_count();
    hark__sched_queue_init(&p->q, opts->priority);
    if (cfg) {
        p->cfg.chunk = cfg->chunk;
        memcpy(p->cfg.key, cfg->key, sizeof(p->cfg.key));
        rc = hark_buf_put(&p->cfg.json, cfg->json.ptr, cfg->json.len);
    } else {
        rc = hark__config_resolve(&p->cfg, engine, opts);
    }
    if (rc < 0)
        goto out;
    if ((rc = hark_transcript_new(&p->out)) < 0 || (rc = set_meta(p)) < 0)
        goto out;
    p->progress.samples_total = total;

    p->sched = opts->scheduler;
    if (!p->sched) {
        /* A private pool: as many workers as asked (default: all cores), but no more than
         * the chunks the recording can have, so a short file pays for no idle state. */
        hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
        so.n_workers = opts->n_workers ? opts->n_workers : p->cpus;
        if (total > 0) {
            int64_t est = (total + p->cfg.chunk.max - 1) / p->cfg.chunk.max;
            if ((int64_t)so.n_workers > HARK_MAX(est, 1))
                so.n_workers = (unsigned)HARK_MAX(est, 1);
        }
        if ((rc = hark_scheduler_new(&p->own, &so)) < 0)
            goto out;
        p->sched = p->own;
    }
    workers = hark_scheduler_workers(p->sched);
    p->depth = opts->queue_depth ? opts->queue_depth : 2 * workers;
    rc = hark__chunker_new(&p->chunker, &p->cfg.chunk);
out:
    if (rc < 0) {
        hark_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int hark__pipeline_begin(hark_pipeline **out, hark_engine *engine,
                         const hark_pipeline_options *opts, const hark__config *cfg,
                         const hark_pipeline_hooks *hooks)
{
    return begin(out, engine, opts, cfg, hooks, 0);
}

int hark_pipeline_begin(hark_pipeline **out, hark_engine *engine, const hark_pipeline_options *opts)
{
    return begin(out, engine, opts, NULL, NULL, 0);
}

void hark__pipeline_add_decode_ms(hark_pipeline *p, double ms)
{
    p->decode_ms += ms;
}

int hark_pipeline_feed(hark_pipeline *p, const float *pcm, size_t n)
{
    double t;
    int rc;

    HARK_ASSERT_ARG(p && (pcm || n == 0));
    pthread_mutex_lock(&p->mu);
    rc = p->stop ? p->stop_rc : p->input_done ? HARK_EINVAL : 0;
    pthread_mutex_unlock(&p->mu);
    if (rc == HARK_EINVAL)
        return hark_error_set(rc, "pipeline: feed after finish");
    if (rc < 0)
        return hark_error_set(rc, "%s", p->stop_msg);
    if (user_aborted(p)) {
        stop_run(p, HARK_ECANCELED, "canceled");
        return hark_error_set(HARK_ECANCELED, "canceled");
    }
    if (n == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    p->decoded += (int64_t)n;
    if (p->progress.samples_total > 0 && p->decoded > p->progress.samples_total)
        p->progress.samples_total = p->decoded;
    pthread_mutex_unlock(&p->mu);
    if (p->hooks.audio && (rc = p->hooks.audio(p->hooks.payload, pcm, n)) < 0) {
        stop_run(p, rc, hark_error_last());
        return rc;
    }
    t = hark__now_ms();
    rc = hark__chunker_push(p->chunker, pcm, n, enqueue, p);
    p->vad_ms += hark__now_ms() - t;
    if (rc < 0) {
        char msg[ERRLEN];
        snprintf(msg, sizeof(msg), "%s", hark_error_last());
        stop_run(p, rc, msg);
        return hark_error_set(rc, "%s", msg);
    }
    return 0;
}

void hark_pipeline_cancel(hark_pipeline *p)
{
    if (p)
        stop_run(p, HARK_ECANCELED, "canceled");
}

int hark_pipeline_finish(hark_pipeline *p, hark_transcript **out)
{
    int rc = 0, stopped;

    HARK_ASSERT_ARG(p && out);
    *out = NULL;
    if (p->finished)
        return hark_error_set(HARK_EINVAL, "pipeline: finish called twice");
    pthread_mutex_lock(&p->mu);
    stopped = p->stop;
    pthread_mutex_unlock(&p->mu);
    if (!stopped) {
        double t = hark__now_ms();
        rc = hark__chunker_finish(p->chunker, enqueue, p);
        p->vad_ms += hark__now_ms() - t;
        if (rc < 0)
            stop_run(p, rc, hark_error_last());
    }

    /* Wait for every chunk; the workers merge as results arrive. */
    pthread_mutex_lock(&p->mu);
    p->input_done = 1;
    p->progress.samples_total = p->decoded;
    if (!p->stop) { /* the total is final now: say so before the last chunks are done */
        p->report = 1;
        merge_ready_locked(p);
    }
    for (;;) {
        if (!p->stop && user_aborted(p)) {
            pthread_mutex_unlock(&p->mu);
            stop_run(p, HARK_ECANCELED, "canceled");
            pthread_mutex_lock(&p->mu);
        }
        if (p->queued == 0 && p->running == 0 && !p->merging)
            break;
        if (p->opts.abort) { /* poll the user's abort while waiting */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        } else {
            pthread_cond_wait(&p->cv, &p->mu);
        }
    }
    /* Results that finished after a stop but are still next in order. */
    if (p->stop) {
        int stopped_rc = p->stop_rc;
        p->stop = 0;
        merge_ready_locked(p);
        p->stop = 1;
        p->stop_rc = stopped_rc;
    } else {
        merge_ready_locked(p);
    }
    pthread_mutex_unlock(&p->mu);

    if (p->stop)
        rc = hark_error_set(p->stop_rc, "%s", p->stop_msg);
    else if (p->fail_rc)
        rc = hark_error_set(p->fail_rc, "%s", p->fail_msg);
    else if (p->decoded == 0)
        rc = hark_error_set(HARK_EEMPTY, "no audio samples");
    else
        rc = 0;
    {
        hark_timings *tm = hark_transcript_timings(p->out);
        hark_transcript_set_duration(p->out, p->decoded);
        tm->decode_ms = p->decode_ms;
        tm->vad_ms = p->vad_ms;
        tm->asr_ms = p->asr_ms;
        tm->total_ms = hark__now_ms() - p->t0;
    }
    p->finished = 1;
    *out = p->out;
    p->out = NULL;
    return rc;
}

void hark_pipeline_free(hark_pipeline *p)
{
    uint32_t i;
    if (!p)
        return;
    if (!p->finished && p->sched) {
        /* abandoned: stop, and wait for the chunks in flight */
        stop_run(p, HARK_ECANCELED, "canceled");
        pthread_mutex_lock(&p->mu);
        while (p->queued || p->running || p->merging)
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    hark_scheduler_free(p->own);
    for (i = 0; i < p->n_slots; i++)
        hark_transcript_free(p->slots[i].result);
    hark__free(p->slots);
    hark__chunker_free(p->chunker);
    hark_transcript_free(p->out);
    hark__config_dispose(&p->cfg);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    hark__free(p);
}

/* ---- pulling from a decoder or a buffer -------------------------------------------------- */

int hark__pipeline_run(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                       const float *pcm, size_t n_pcm, const hark_pipeline_options *opts,
                       const hark__config *cfg, const hark_pipeline_hooks *hooks)
{
    hark_pipeline *p = NULL;
    float *block = NULL;
    size_t pos = 0;
    int64_t total = 0;
    int rc;

    HARK_ASSERT_ARG(out && engine);
    *out = NULL;
    if (dec && hark_decoder_info(dec))
        total = hark_decoder_info(dec)->duration;
    else if (!dec)
        total = (int64_t)n_pcm;
    if ((rc = begin(&p, engine, opts, cfg, hooks, total)) < 0)
        return rc;
    if (dec && !(block = hark__malloc(BLOCK_SAMPLES * sizeof(float)))) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        stop_run(p, rc, hark_error_last());
    }
    while (rc == 0) {
        const float *data;
        size_t n = 0;
        if (dec) {
            double t = hark__now_ms();
            rc = hark_decoder_read(dec, block, BLOCK_SAMPLES, &n);
            p->decode_ms += hark__now_ms() - t;
            if (rc < 0) {
                char msg[ERRLEN];
                snprintf(msg, sizeof(msg), "%s", hark_error_last());
                stop_run(p, rc, msg);
                break;
            }
            data = block;
        } else {
            n = HARK_MIN((size_t)BLOCK_SAMPLES, n_pcm - pos);
            data = pcm + pos;
            pos += n;
        }
        if (n == 0) {
            if (user_aborted(p))
                stop_run(p, HARK_ECANCELED, "canceled");
            break;
        }
        rc = hark_pipeline_feed(p, data, n);
    }
    rc = hark_pipeline_finish(p, out);
    hark__free(block);
    hark_pipeline_free(p);
    return rc;
}

int hark_transcribe(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                    const hark_pipeline_options *opts)
{
    HARK_ASSERT_ARG(dec);
    return hark__pipeline_run(out, engine, dec, NULL, 0, opts, NULL, NULL);
}

int hark_transcribe_pcm(hark_transcript **out, hark_engine *engine, const float *pcm, size_t n,
                        const hark_pipeline_options *opts)
{
    HARK_ASSERT_ARG(pcm || n == 0);
    return hark__pipeline_run(out, engine, NULL, pcm, n, opts, NULL, NULL);
}

int hark_transcribe_file(hark_transcript **out, hark_engine *engine, const char *path,
                         const hark_pipeline_options *opts)
{
    hark_decoder *dec = NULL;
    int rc;
    HARK_ASSERT_ARG(out && path);
    *out = NULL;
    if ((rc = hark_decoder_open(&dec, path, NULL)) < 0)
        return rc;
    rc = hark__pipeline_run(out, engine, dec, NULL, 0, opts, NULL, NULL);
    if (*out)
        hark_transcript_set_meta(*out, "source", path);
    hark_decoder_free(dec);
    return rc;
}
