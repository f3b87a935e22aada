/*
 * hark/jobs.h: the durable job queue, kept in the store.
 *
 * A job asks for work on one recording (today: transcribe it). Jobs are
 * claimed by job runners (hark/runner.h: the server's, later `hark worker`
 * processes on other machines) under a lease that the runner renews with
 * heartbeats; a runner that dies stops renewing, its lease expires and any
 * runner may claim the job again. Chunk-level progress is kept per job, so a
 * job that is claimed again, retried or resumed after a crash redoes only
 * the chunks that were not finished.
 *
 *   queued --claim--> running --finish--> done
 *     ^                 |  \---fail (attempts left)--> queued, not before now + backoff
 *     |                 |   \--fail (no attempts left, or not retryable)--> dead
 *     |                 \--release (graceful shutdown)--> queued (attempt not counted)
 *     +--retry (dead or canceled: failed chunks only)--+      cancel: queued|running -> canceled
 *
 * Claim order: lowest priority value first (HARK_PRIORITY_*), then the
 * oldest claimable time (not_before, else creation), then the lowest id.
 *
 * Every function here is one transaction and is durable when it returns 0,
 * and may be called from any thread (see hark/store.h).
 */
#ifndef HARK_JOBS_H
#define HARK_JOBS_H

#include "common.h"
#include "store.h"

HARK_BEGIN_DECL

/** Scheduling classes, most urgent first; also the chunk classes of hark/scheduler.h. */
typedef enum hark_priority {
    HARK_PRIORITY_LIVE = 0,        /**< live sessions (words on screen now) */
    HARK_PRIORITY_INTERACTIVE = 1, /**< a client waits on the request (OpenAI-compatible API) */
    HARK_PRIORITY_BULK = 2,        /**< uploads and command-line runs */
    HARK_PRIORITY_MAINTENANCE = 3, /**< re-indexing, summaries, anything that can wait */
    HARK_PRIORITY_COUNT
} hark_priority;

/** "live", "interactive", "bulk", "maintenance" (static), or "unknown". */
HARK_API const char *hark_priority_name(hark_priority p);

/** Where a job is in its life (see the diagram above). */
typedef enum hark_job_state {
    HARK_JOB_QUEUED = 0, /**< waiting to be claimed (maybe not before `not_before_ms`) */
    HARK_JOB_RUNNING,    /**< claimed by `lease_owner` until `lease_expires_ms` */
    HARK_JOB_DONE,       /**< finished: every chunk done */
    HARK_JOB_DEAD,       /**< dead letter: gave up (attempts exhausted or not retryable) */
    HARK_JOB_CANCELED,   /**< canceled by a user */
    HARK_JOB_STATE_COUNT
} hark_job_state;

/** "queued", "running", "done", "dead", "canceled" (static), or "unknown". */
HARK_API const char *hark_job_state_name(hark_job_state s);
/** Parse a state name. @return 0 or HARK_EINVAL. */
HARK_API int hark_job_state_parse(hark_job_state *out, const char *name);

/**
 * A job. As input (submit) strings are borrowed for the call; as output the
 * struct and its strings belong to the receiver (hark_job_free).
 */
typedef struct hark_job {
    unsigned version;         /**< HARK_JOB_VERSION */
    int64_t id;               /**< assigned by the store, > 0 */
    int64_t recording;        /**< the recording worked on */
    int64_t owner;            /**< user id (hark/auth.h), 0 = none (local use) */
    const char *kind;         /**< what to do: "transcribe" */
    hark_priority priority;   /**< scheduling class */
    hark_job_state state;     /**< see hark_job_state */
    unsigned attempts;        /**< attempts started (claims), a release gives one back */
    unsigned max_attempts;    /**< attempts allowed before the job goes dead, > 0 */
    const char *params;       /**< JSON object text for the runner (options of this job), or NULL */
    const char *error;        /**< last error message, NULL = none */
    const char *lease_owner;  /**< runner holding the lease (RUNNING), NULL otherwise */
    int64_t lease_expires_ms; /**< Unix ms when the lease runs out (RUNNING) */
    int64_t not_before_ms;    /**< QUEUED: not claimable before this Unix ms, 0 = at once */
    int64_t created_ms;       /**< Unix ms; submit: 0 = now */
    int64_t updated_ms;       /**< Unix ms of the last change */
    int64_t started_ms;       /**< Unix ms of the first claim, 0 = never claimed */
    int64_t finished_ms;      /**< Unix ms it became done/dead/canceled, 0 = not yet */
    uint32_t chunks_total;    /**< chunks known so far (final when chunks_final) */
    uint32_t chunks_done;     /**< chunks with state done (maintained by the store) */
    uint32_t chunks_failed;   /**< chunks with state failed (maintained by the store) */
    int chunks_final;         /**< the whole input has been cut: chunks_total is final */
} hark_job;

#define HARK_JOB_VERSION 1
#define HARK_JOB_INIT                                                                              \
    {                                                                                              \
        HARK_JOB_VERSION, 0, 0, 0, "transcribe", HARK_PRIORITY_BULK, HARK_JOB_QUEUED, 0, 4, NULL,  \
            NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0                                               \
    }

/** Free a job handed out by the store. NULL is ok. */
HARK_API void hark_job_free(hark_job *job);

/** What hark_store_job_submit did. */
typedef struct hark_job_submitted {
    int64_t recording; /**< the recording (new or existing) */
    int64_t job;       /**< its job (new or existing) */
    int existed;       /**< 1 = the same audio and configuration was already submitted by this
                            owner: nothing was created, the ids are the existing ones */
} hark_job_submitted;

/**
 * Create a recording and a job for it, in one transaction. When `rec` has a
 * content_hash and a recording of the same owner (rec->owner), content_hash,
 * engine, model and options already exists, nothing is created: its newest
 * job is returned with existed = 1 (a job is created, existed = 0, if it has
 * none). When `rec` has an audio_path, only a recording that holds audio too
 * is matched: one stored without its audio (by the command line) could not
 * be transcribed again, so the submit creates a new recording. Concurrent
 * submits of the same audio by one owner create one recording.
 * `job->recording`, `state`, and the counters are ignored; the job starts
 * QUEUED; `job->owner` is taken from `rec->owner`.
 * @return 0, HARK_EINVAL (bad priority, max_attempts 0, no kind), HARK_EREADONLY, ...
 */
HARK_API int hark_store_job_submit(hark_store *s, const hark_recording *rec, const hark_job *job,
                                   hark_job_submitted *out);

/**
 * Queue another job for the existing recording `job->recording` (a summary or
 * a translation of what is there: kinds "summarize", "translate"); the owner
 * is `job->owner`. Starts QUEUED; runners are notified as for a submit.
 * @param[out] id_out the new job's id.
 * @return 0, HARK_ENOTFOUND (no such recording), HARK_EINVAL, HARK_EREADONLY, ...
 */
HARK_API int hark_store_job_add(hark_store *s, const hark_job *job, int64_t *id_out);

/**
 * Fetch job `id`. @param[out] out free with hark_job_free.
 * @return 0, HARK_ENOTFOUND ("store: no job 42").
 */
HARK_API int hark_store_job_get(hark_store *s, int64_t id, hark_job **out);

/** Options for hark_store_job_list; initialise with HARK_JOB_LIST_OPTIONS_INIT. */
typedef struct hark_job_list_options {
    unsigned version;  /**< HARK_JOB_LIST_OPTIONS_VERSION */
    size_t limit;      /**< page size, 0 = default (20); at most 1000 */
    int64_t after;     /**< keyset cursor: id of the last job of the previous page, 0 = first */
    int64_t owner;     /**< only this owner's jobs, 0 = everyone's */
    int64_t recording; /**< only jobs of this recording, 0 = all */
    int state;         /**< only jobs in this hark_job_state, -1 = any */
} hark_job_list_options;

#define HARK_JOB_LIST_OPTIONS_VERSION 1
#define HARK_JOB_LIST_OPTIONS_INIT                                                                 \
    {                                                                                              \
        HARK_JOB_LIST_OPTIONS_VERSION, 0, 0, 0, 0, -1                                              \
    }

/** A page of jobs, newest (highest id) first. */
typedef struct hark_job_list {
    size_t n;        /**< jobs on this page */
    hark_job *items; /**< n jobs */
    int more;        /**< another page follows; pass items[n-1].id as `after` */
} hark_job_list;

/** List jobs. @param[out] out free with hark_job_list_free. @return 0, HARK_EINVAL. */
HARK_API int hark_store_job_list(hark_store *s, const hark_job_list_options *opts,
                                 hark_job_list **out);
HARK_API void hark_job_list_free(hark_job_list *list);

/**
 * Claim the next claimable job for `lease_owner` (a runner's unique name,
 * e.g. "host:pid:nonce") for `lease_ms`. Claimable: QUEUED with not_before
 * reached, or RUNNING with an expired lease (its runner died). The claim
 * sets RUNNING, the lease, started_ms (first time), and counts an attempt.
 * Only jobs with priority <= max_priority are considered. A job whose lease
 * expired with no attempts left is not claimed but becomes DEAD ("lost its
 * runner N times": a recording that crashes runners cannot loop forever).
 * @param[out] out the claimed job (free with hark_job_free).
 * @param[out] next_ms when nothing is claimable: the earliest Unix ms at
 *   which a job will become claimable (a backoff ending, a lease expiring),
 *   0 = no job is waiting at all. May be NULL. Lets runners sleep without
 *   polling.
 * @return 0, HARK_ENOTFOUND (nothing claimable; no message), ...
 */
HARK_API int hark_store_job_claim(hark_store *s, const char *lease_owner, int64_t lease_ms,
                                  hark_priority max_priority, hark_job **out, int64_t *next_ms);

/**
 * Block until the queue may have changed in any process sharing the store
 * (a job submitted, requeued or retried: PostgreSQL's LISTEN/NOTIFY), until
 * `timeout_ms` passed (-1 = no limit, 0 = just check), or until `cancel_fd`
 * (-1 = none) is readable (it is not read). Sends no query while it waits.
 * A job runner calls it from one thread so that idle runners on other
 * machines start at once without polling. One thread per store handle may
 * wait at a time.
 * @return 1 (the queue may have changed: claim), 0 (timeout or cancel_fd),
 *   HARK_EUNSUPPORTED (the backend has no notifications: SQLite),
 *   HARK_EBUSY (another thread waits on this handle), HARK_EIO, ...
 */
HARK_API int hark_store_job_wait(hark_store *s, int cancel_fd, int64_t timeout_ms);

/**
 * Renew the leases of every RUNNING job held by `lease_owner` to now +
 * lease_ms. Leases that already expired are not renewed (the job may have
 * been claimed by another runner; a runner whose count drops has lost jobs).
 * @param[out] n jobs renewed (may be NULL).
 */
HARK_API int hark_store_job_heartbeat(hark_store *s, const char *lease_owner, int64_t lease_ms,
                                      unsigned *n);

/**
 * End or requeue a RUNNING job held by `lease_owner`:
 *  - HARK_JOB_DONE: finished; chunk results are dropped (the segments are in
 *    the store), chunk states kept.
 *  - HARK_JOB_QUEUED with `not_before_ms` (a failed attempt to retry later,
 *    0 = at once), `error` recorded; a job with no attempts left goes DEAD
 *    instead. Or with `release` set: handed back without counting the
 *    attempt (graceful shutdown), error ignored.
 *  - HARK_JOB_DEAD: gave up; `error` recorded.
 *  - HARK_JOB_CANCELED: acknowledges a cancel.
 * An expired lease is lost even if no other runner claimed the job yet
 * (hark_store_job_heartbeat renews only unexpired leases).
 * @return 0; HARK_ENOTFOUND (no such job); HARK_EBUSY with a message when the
 *   job is not RUNNING under this lease any more (the lease expired, another
 *   runner claimed it, or it was canceled): the caller must drop its work;
 *   HARK_EINVAL (state RUNNING, or release with a state other than QUEUED).
 */
HARK_API int hark_store_job_end(hark_store *s, int64_t id, const char *lease_owner,
                                hark_job_state state, int release, int64_t not_before_ms,
                                const char *error);

/**
 * Cancel a QUEUED or RUNNING job (a runner holding it notices through its
 * heartbeat or hark_store_job_get and stops). Cancelling a finished job is
 * HARK_EINVAL ("job 42 is already done"). @return 0, HARK_ENOTFOUND, HARK_EINVAL.
 */
HARK_API int hark_store_job_cancel(hark_store *s, int64_t id);

/**
 * Retry a DEAD or CANCELED job: back to QUEUED at once (in its original
 * place: not_before_ms 0) with attempts = 0 and its failed chunks reset to
 * pending (done chunks are kept, so only the failed ones run again).
 * @return 0, HARK_ENOTFOUND, HARK_EINVAL (not dead or canceled: "job 42 is
 *   running").
 */
HARK_API int hark_store_job_retry(hark_store *s, int64_t id);

/** Per-state, per-priority job counts (for metrics and queue limits). */
typedef struct hark_job_counts {
    uint64_t n[HARK_JOB_STATE_COUNT][HARK_PRIORITY_COUNT];
} hark_job_counts;

HARK_API int hark_store_job_counts(hark_store *s, hark_job_counts *out);

/* ---- chunk-level progress ------------------------------------------------------------------- */

typedef enum hark_chunk_state {
    HARK_CHUNK_PENDING = 0, /**< cut, not finished */
    HARK_CHUNK_DONE,        /**< transcribed; `result` holds it until the job is done */
    HARK_CHUNK_FAILED       /**< failed after its retries; `error` says why */
} hark_chunk_state;

HARK_API const char *hark_chunk_state_name(hark_chunk_state s);

/** One chunk of a job. Output: strings and bytes belong to the list. */
typedef struct hark_job_chunk {
    uint32_t index;         /**< 0, 1, 2... in time order */
    int64_t start;          /**< first sample of the chunk in the recording (16 kHz) */
    int64_t n;              /**< samples */
    hark_chunk_state state; /**< see hark_chunk_state */
    unsigned attempts;      /**< engine attempts made on it */
    const char *error;      /**< last error, NULL = none */
    const void *result;     /**< DONE: the chunk's result (hark's transcript encoding), or NULL */
    size_t result_len;      /**< bytes of result */
    double asr_ms;          /**< engine time spent on it, ms */
} hark_job_chunk;

/**
 * Insert or replace chunk `c->index` of job `job` (upsert: writing the same
 * chunk twice never duplicates it), and keep the job's chunks_done and
 * chunks_failed counts in step; chunks_total is raised to c->index + 1 if
 * it was lower. @return 0, HARK_ENOTFOUND (no such job), HARK_EINVAL, ...
 */
HARK_API int hark_store_job_chunk_put(hark_store *s, int64_t job, const hark_job_chunk *c);

/** Record the number of chunks cut so far and whether cutting has ended. */
HARK_API int hark_store_job_set_chunks(hark_store *s, int64_t job, uint32_t total, int final);

/** The chunks of a job, in index order. */
typedef struct hark_job_chunk_list {
    size_t n;
    hark_job_chunk *items;
} hark_job_chunk_list;

/**
 * The chunks of job `job`. @param with_results include `result` bytes (the
 * runner's resume), else they are left NULL (progress display).
 * @param[out] out free with hark_job_chunk_list_free. @return 0, HARK_ENOTFOUND.
 */
HARK_API int hark_store_job_chunks(hark_store *s, int64_t job, int with_results,
                                   hark_job_chunk_list **out);
HARK_API void hark_job_chunk_list_free(hark_job_chunk_list *list);

HARK_END_DECL

#endif
