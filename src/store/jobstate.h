/*
 * jobstate.h: the job queue's state machine (jobstate.c), one copy for every
 * backend. A backend loads a job row under its own locking (SQLite: a write
 * transaction; PostgreSQL: SELECT ... FOR UPDATE), hands it and an event to
 * hark__job_apply, and, if that succeeds, stores the changed row and carries
 * out the side effects it asks for, in the same transaction.
 */
#ifndef HARK_STORE_JOBSTATE_H
#define HARK_STORE_JOBSTATE_H

#include "store.h"

#include "hark/jobs.h"

/* The mutable part of a job row, as a backend loads it and stores it back. */
typedef struct hark__jrow {
    int64_t id;
    hark_job_state state;
    unsigned attempts, max_attempts;
    char *error;       /* owned */
    char *lease_owner; /* owned; kept on a running job that was canceled, for the runner's ack */
    int64_t lease_expires_ms, not_before_ms, created_ms, finished_ms;
    uint32_t chunks_failed;
} hark__jrow;

/* Release the strings of a row and zero it (a zeroed row may be disposed). */
void hark__jrow_dispose(hark__jrow *r);

/* Replace *dst by a copy of src (NULL allowed). HARK_ENOMEM. */
int hark__jrow_set_str(char **dst, const char *src);

/* When a row in its state becomes claimable (the due_ms column), or -1 for NULL (never). */
int64_t hark__jrow_due(const hark__jrow *r);

/* What happens to a job. */
typedef enum hark__job_event_kind {
    HARK__JOB_EV_CLAIM = 0, /* a claimer picked this claimable row */
    HARK__JOB_EV_END,       /* hark_store_job_end */
    HARK__JOB_EV_CANCEL,    /* hark_store_job_cancel */
    HARK__JOB_EV_RETRY,     /* hark_store_job_retry */
    HARK__JOB_EV_COUNT
} hark__job_event_kind;

typedef struct hark__job_event {
    hark__job_event_kind kind;
    int64_t now;             /* Unix ms */
    const char *lease_owner; /* CLAIM, END: the runner */
    int64_t lease_ms;        /* CLAIM: lease length */
    hark_job_state state;    /* END: DONE, QUEUED, DEAD or CANCELED (checked by jobs.c) */
    int release;             /* END with QUEUED: hand back without counting the attempt */
    int64_t not_before_ms;   /* END with QUEUED: backoff end, 0 = at once */
    const char *error;       /* END: error message, NULL = none */
} hark__job_event;

/* Side effects hark__job_apply asks of the backend, besides storing the row. */
enum {
    HARK__JOB_FX_CLAIMED = 1u << 0,      /* store with the backend's claim statement (it counts the
                                            attempt and sets started_ms), then emit the job */
    HARK__JOB_FX_DROP_RESULTS = 1u << 1, /* drop the job's chunk results (done) */
    HARK__JOB_FX_RESET_FAILED = 1u << 2, /* failed chunks back to pending and chunks_failed
                                            lowered by the row's chunks_failed (retry) */
    HARK__JOB_FX_NOTIFY = 1u << 3        /* the job became claimable: wake idle runners */
};

/*
 * Apply event `ev` to row `r` (loaded and locked by the backend). On 0 the
 * row holds the new values to store (HARK__JOB_FX_CLAIMED: the claim's
 * values, lease_owner and lease_expires_ms set, attempts counted) and
 * *effects the side effects; on an error (HARK_EBUSY, HARK_EINVAL with a
 * message, HARK_ENOMEM) nothing is to be stored and the row may be partly
 * changed. A CLAIM needs only id, state, attempts and max_attempts loaded:
 * a job that has used up its attempts becomes DEAD, which overwrites every
 * other stored field.
 */
int hark__job_apply(hark__jrow *r, const hark__job_event *ev, unsigned *effects);

/*
 * What a backend provides to run transitions: its transactions and the
 * reading and writing of job rows; every function takes the backend's
 * context and the connection `begin` handed out. 0 or a negative HARK_E*
 * with a message, unless said otherwise.
 */
typedef struct hark__job_tx {
    /* Begin a write transaction; *conn for the calls below. */
    int (*begin)(void *ctx, void **conn, const char *what);
    /* Commit when rc == 0, else roll back; returns rc, or the commit's error. */
    int (*end)(void *ctx, void *conn, int rc, const char *what);
    /* Read (and lock, where the backend locks rows) job `id`; HARK_ENOTFOUND. */
    int (*load)(void *ctx, void *conn, int64_t id, hark__jrow *r, const char *what);
    /* Store a row changed by hark__job_apply (not a claim) and run the side effects `fx`. */
    int (*write)(void *ctx, void *conn, const hark__jrow *r, unsigned fx, int64_t now,
                 const char *what);
    /* The first claimable job in claim order with priority <= max_priority that this claimer
     * may take: 1 with id, state, attempts and max_attempts of `r` set; 0 = none. */
    int (*pick)(void *ctx, void *conn, hark_priority max_priority, int64_t now, hark__jrow *r,
                const char *what);
    /* Store a claim (HARK__JOB_FX_CLAIMED: r->lease_owner until r->lease_expires_ms, at `now`)
     * and emit the claimed job. */
    int (*claim_write)(void *ctx, void *conn, const hark__jrow *r, int64_t now,
                       hark_store_job_fn emit, void *payload, const char *what);
    /* Nothing claimable: *next_ms = when a job with priority <= max_priority becomes
     * claimable, 0 = no job waits at all. */
    int (*next_due)(void *ctx, void *conn, hark_priority max_priority, int64_t now,
                    int64_t *next_ms, const char *what);
} hark__job_tx;

/*
 * The job operations of the backend vtable (hark/sys/store.h), each one
 * transaction through `tx`: the backends' job_claim, job_end, job_cancel
 * and job_retry are these, with their own hark__job_tx.
 */
int hark__job_claim_tx(const hark__job_tx *tx, void *ctx, const char *lease_owner, int64_t lease_ms,
                       hark_priority max_priority, int64_t now, hark_store_job_fn emit,
                       void *payload, int64_t *next_ms);
int hark__job_end_tx(const hark__job_tx *tx, void *ctx, int64_t id, const char *lease_owner,
                     hark_job_state state, int release, int64_t not_before_ms, const char *error,
                     int64_t now);
int hark__job_cancel_tx(const hark__job_tx *tx, void *ctx, int64_t id, int64_t now);
int hark__job_retry_tx(const hark__job_tx *tx, void *ctx, int64_t id, int64_t now);

#endif
