/*
 * hark/runner.h: the job runner: takes jobs from the durable queue in the
 * store (hark/jobs.h) and transcribes them on the process's scheduler.
 *
 * A runner claims up to `max_jobs` jobs at once under leases it renews
 * while they run, so their chunks interleave on the scheduler (a short job
 * claimed after a long one is not stuck behind it). Each job is a
 * hark_run_file of the recording's audio into that recording, with
 * chunk-level progress kept in the store: a job that fails is retried with
 * exponential backoff (backoff_ms, then x4 per attempt: 1, 4, 16 s by
 * default) and then dead-lettered; a job whose runner dies is claimed again
 * once its lease expires (at once, for a runner on this machine whose
 * process is gone); either way only unfinished chunks run again.
 *
 *     hark_runner_options ro;
 *     hark_runner_options_default(&ro);
 *     ro.store = store; ro.engine = engine; ro.scheduler = sched; ro.cache = cache;
 *     ro.event = on_event; ro.payload = server;
 *     hark_runner_start(&runner, &ro);
 *     ...                                  // hark_store_job_submit + hark_runner_wake
 *     hark_runner_stop(runner, 10000);     // graceful: finish or hand back running jobs
 *     hark_runner_free(runner);
 *
 * While no job is claimable the runner's threads sleep without timers
 * (until woken, or until the earliest backoff or lease ends). Thread-safe.
 */
#ifndef HARK_RUNNER_H
#define HARK_RUNNER_H

#include "common.h"
#include "cache.h"
#include "engine.h"
#include "jobs.h"
#include "pipeline.h"
#include "scheduler.h"
#include "store.h"
#include "summary.h"

HARK_BEGIN_DECL

typedef struct hark_runner hark_runner;

/** What happened to a job (delivered to hark_runner_options.event). */
typedef enum hark_job_event_kind {
    HARK_JOB_EVENT_STARTED = 0, /**< claimed; transcription starts */
    HARK_JOB_EVENT_PROGRESS,    /**< a chunk was merged: counters changed */
    HARK_JOB_EVENT_SEGMENTS,    /**< new segments, in order: t[first, first + count) */
    HARK_JOB_EVENT_DONE,        /**< finished */
    HARK_JOB_EVENT_RETRY,       /**< this attempt failed; queued again at retry_at_ms */
    HARK_JOB_EVENT_DEAD,        /**< failed for good (dead letter) */
    HARK_JOB_EVENT_CANCELED,    /**< canceled (hark_runner_cancel) */
    HARK_JOB_EVENT_RELEASED     /**< handed back to the queue (runner stopping) */
} hark_job_event_kind;

/** "started", "progress", "segments", "done", "retry", "dead", "canceled", "released". */
HARK_API const char *hark_job_event_name(hark_job_event_kind k);

/** An event. Everything is borrowed for the duration of the callback. */
typedef struct hark_job_event {
    hark_job_event_kind kind;
    int64_t job;              /**< job id */
    int64_t recording;        /**< its recording */
    int64_t owner;            /**< the job's owner (user id, 0 = none) */
    hark_priority priority;   /**< the job's class */
    uint32_t chunks_done;     /**< chunks merged so far */
    uint32_t chunks_total;    /**< chunks cut so far */
    int chunks_final;         /**< chunks_total is final */
    int64_t samples_done;     /**< audio covered by merged chunks, samples */
    int64_t samples_total;    /**< expected length, samples (0 = unknown) */
    const hark_transcript *t; /**< SEGMENTS: the transcript so far; DONE: the whole one */
    size_t first, count;      /**< SEGMENTS: the new segments of t */
    const char *error;        /**< RETRY, DEAD: why */
    int64_t retry_at_ms;      /**< RETRY: Unix ms of the next attempt */
    unsigned attempts;        /**< attempts made so far */
} hark_job_event;

/** Zero `ev` and fill its kind and what it says of `job` (id, recording, owner, priority,
 *  attempts); the kind's own fields are left to the caller. */
HARK_API void hark_job_event_init(hark_job_event *ev, hark_job_event_kind kind,
                                  const hark_job *job);

/** Options; initialise with hark_runner_options_default(). */
typedef struct hark_runner_options {
    unsigned version;          /**< HARK_RUNNER_OPTIONS_VERSION */
    hark_store *store;         /**< the queue and the recordings (borrowed, required) */
    hark_cache *cache;         /**< result cache (borrowed, may be NULL) */
    hark_engine *engine;       /**< the engine (borrowed, required) */
    hark_scheduler *scheduler; /**< the workers (borrowed, required) */
    /** Decoding, chunking and retry settings of every job (a job's params override the
     *  language, prompt, temperature, translate, beam_size and best_of). scheduler,
     *  priority and the callbacks are set by the runner. */
    hark_pipeline_options pipeline;
    const char *name;    /**< lease owner name; NULL = "<host>:<pid>:<random>" */
    unsigned max_jobs;   /**< jobs run at once, 0 = 2 x scheduler workers (at least 2) */
    unsigned lease_ms;   /**< lease length, 0 = 30000; renewed every lease_ms / 3 */
    unsigned backoff_ms; /**< delay before the first retry, 0 = 1000; x4 per retry */
    int paused;          /**< start without claiming (see hark_runner_pause) */
    int degraded;        /**< start in degraded mode (see hark_runner_set_degraded) */
    /** Never claim jobs: the runner only describes (hark_runner_describe), cancels in the store
     *  and puts back the jobs of dead local runners; jobs are left to other processes on the
     *  same store (`hark serve --workers 0`, an API-only node). scheduler may then be NULL;
     *  hark_runner_pause changes nothing but the reported state. */
    int no_claims;
    /** Called from the runner's threads and the scheduler's workers, never concurrently for
     *  one job; keep it short. May be NULL. */
    void (*event)(const hark_job_event *ev, void *payload);
    void *payload; /**< passed to event */
    /** Chat-completions endpoint for jobs of kind "summarize" (borrowed; NULL = such jobs
     *  fail at once: no endpoint configured). */
    const hark_summary_options *summary;
} hark_runner_options;

#define HARK_RUNNER_OPTIONS_VERSION 1

HARK_API void hark_runner_options_default(hark_runner_options *opts);

/**
 * Start the runner: jobs of runners on this machine whose process is gone
 * are put back at once, then claiming starts (unless opts->paused).
 * @param[out] out free with hark_runner_free.
 * @return 0, HARK_EINVAL (missing store/engine, or scheduler without no_claims), HARK_ENOMEM.
 */
HARK_API int hark_runner_start(hark_runner **out, const hark_runner_options *opts);

/** A job was submitted (or something else changed): look at the queue now. */
HARK_API void hark_runner_wake(hark_runner *r);

/** Stop claiming new jobs (paused != 0) or resume; running jobs go on. */
HARK_API void hark_runner_pause(hark_runner *r, int paused);

/** Degraded mode: jobs claimed from now on run with the fastest settings (greedy decoding,
 *  no temperature fallback, beam 1). */
HARK_API void hark_runner_set_degraded(hark_runner *r, int degraded);

/**
 * Cancel job `id`: in the store (hark_store_job_cancel), and if it runs
 * here, stop it now. @return as hark_store_job_cancel.
 */
HARK_API int hark_runner_cancel(hark_runner *r, int64_t id);

/**
 * What a job with `params` (a JSON object text, NULL = none) would record in
 * its recording when this runner runs it: its canonical options (appended to
 * `options`) and model identity (to `model`); see hark_run_describe. Give
 * these to hark_store_job_submit so the same audio with the same settings is
 * one recording. @return 0, HARK_EINVAL (params not a JSON object), HARK_ENOMEM.
 */
HARK_API int hark_runner_describe(hark_runner *r, const char *params, hark_buf *options,
                                  hark_buf *model);

/**
 * Job kinds a runner runs (hark_job.kind):
 *  - "transcribe": the recording's audio into its transcript (the default);
 *  - "summarize": the recording's transcript through opts->summary; the summary is stored as the
 *    recording's text "summary" (hark_store_text_put). Waits (without using up attempts)
 *    while the recording's transcription is not finished;
 *  - "translate": the recording's audio transcribed with the translate task (to English); the
 *    text is stored as the recording's text "translation", its transcript is left alone.
 *    Engines that cannot translate (see hark_runner_can_translate) fail the job at once.
 */
#define HARK_JOB_KIND_TRANSCRIBE "transcribe"
#define HARK_JOB_KIND_SUMMARIZE  "summarize"
#define HARK_JOB_KIND_TRANSLATE  "translate"

/** Whether `engine` can translate speech to English (Whisper, remote servers, the test
 *  engine); PocketSphinx cannot. */
HARK_API int hark_runner_can_translate(const hark_engine *engine);

/** Counters. */
typedef struct hark_runner_stats {
    unsigned running;  /**< jobs running now */
    unsigned max_jobs; /**< jobs run at once, at most */
    int paused;        /**< claiming is paused */
    int degraded;      /**< degraded mode */
    uint64_t claimed, done, retried, dead, canceled, released;
} hark_runner_stats;

HARK_API void hark_runner_stats_get(hark_runner *r, hark_runner_stats *out);

/** The lease owner name this runner uses (borrowed). */
HARK_API const char *hark_runner_name(const hark_runner *r);

/**
 * Graceful stop: claim nothing more, give running jobs up to `grace_ms` to
 * finish, then stop the rest and hand them back to the queue (their finished
 * chunks are kept; the attempt is not counted). Returns the number of jobs
 * handed back. Idempotent.
 */
HARK_API unsigned hark_runner_stop(hark_runner *r, unsigned grace_ms);

/** Stop (with no grace) if needed, and free. NULL is ok. */
HARK_API void hark_runner_free(hark_runner *r);

HARK_END_DECL

#endif
