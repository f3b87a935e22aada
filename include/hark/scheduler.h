/*
 * hark/scheduler.h: one pool of ASR workers for the whole process.
 *
 * A scheduler owns N worker threads. Every pipeline (a file run, a server
 * job, later a live session) submits its chunks to it; the workers take
 * chunks from every pipeline at once, the most urgent class first
 * (HARK_PRIORITY_LIVE, then INTERACTIVE, BULK, MAINTENANCE) and round-robin
 * between the pipelines of one class, so a 10-second recording submitted
 * behind a 20-minute one waits for at most one chunk of it, not for all of
 * it. A worker gets an engine state from the engine's pool for each chunk
 * and gives it back after, so the process holds at most one state per
 * worker per engine whatever the number of concurrent jobs, and the engine's
 * idle unload can free the model once no chunk runs.
 *
 *     hark_scheduler *sched = NULL;
 *     hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
 *     so.n_workers = 4;
 *     if (hark_scheduler_new(&sched, &so) < 0)
 *         ...
 *     opts.scheduler = sched;           // hark_pipeline_options, for every run
 *     ...
 *     hark_scheduler_free(sched);       // after every pipeline using it has finished
 *
 * Idle workers sleep on a condition variable: an idle scheduler costs no CPU.
 * Thread-safe: any thread may submit to it at any time.
 */
#ifndef HARK_SCHEDULER_H
#define HARK_SCHEDULER_H

#include "common.h"
#include "jobs.h"

HARK_BEGIN_DECL

typedef struct hark_scheduler hark_scheduler;

/** Options; initialise with HARK_SCHEDULER_OPTIONS_INIT. */
typedef struct hark_scheduler_options {
    unsigned version;   /**< HARK_SCHEDULER_OPTIONS_VERSION */
    unsigned n_workers; /**< worker threads, 0 = number of online CPUs; at most 256 */
} hark_scheduler_options;

#define HARK_SCHEDULER_OPTIONS_VERSION 1
#define HARK_SCHEDULER_OPTIONS_INIT                                                                \
    {                                                                                              \
        HARK_SCHEDULER_OPTIONS_VERSION, 0                                                          \
    }

/**
 * Start a scheduler. @param opts NULL = defaults.
 * @param[out] out free with hark_scheduler_free.
 * @return 0, HARK_EINVAL, HARK_EVERSION, HARK_ENOMEM (threads could not start).
 */
HARK_API int hark_scheduler_new(hark_scheduler **out, const hark_scheduler_options *opts);

/** Stop the workers and free the scheduler. Every pipeline using it must be finished. NULL ok. */
HARK_API void hark_scheduler_free(hark_scheduler *s);

/** Number of worker threads. */
HARK_API unsigned hark_scheduler_workers(const hark_scheduler *s);

/** Upper bounds (ms) of the chunk-time histogram buckets; the last bucket is unbounded. */
#define HARK_SCHEDULER_BUCKETS 12
HARK_API const double *hark_scheduler_bucket_bounds(void);

/** A snapshot of what the scheduler is doing and has done. */
typedef struct hark_scheduler_stats {
    unsigned workers;                      /**< worker threads */
    unsigned busy;                         /**< workers running a chunk now */
    uint64_t queued[HARK_PRIORITY_COUNT];  /**< chunks waiting, per class */
    uint64_t pipelines;                    /**< pipelines with chunks waiting */
    uint64_t done;                         /**< chunks run since the start */
    double busy_ms;                        /**< summed wall time of all chunk runs, ms */
    uint64_t hist[HARK_SCHEDULER_BUCKETS]; /**< chunk run times, per bucket (not cumulative) */
    double hist_sum_ms;                    /**< sum of the chunk run times, ms */
} hark_scheduler_stats;

/** Fill `out` (thread-safe). */
HARK_API void hark_scheduler_stats_get(hark_scheduler *s, hark_scheduler_stats *out);

HARK_END_DECL

#endif
