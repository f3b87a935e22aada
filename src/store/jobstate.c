/*
 * jobstate.c: the job queue's state machine (hark/jobs.h's diagram), shared
 * by every backend.
 *
 * DESIGN
 * A transition is a pure function of a job row and an event: which events a
 * state accepts, the lease checks of job_end, counting and giving back
 * attempts, backoff (not_before_ms), dead letters (attempts used up on a
 * requeue or when a lease expired once too often), the cancel of a running
 * job (the lease owner is kept so that its runner can acknowledge) and the
 * acknowledgement itself, and retry. The backends (store_sqlite.c,
 * store_pg_jobs.c) only load the row under their own locking, call
 * hark__job_apply, store the row and run the side effects it names, so the
 * rules cannot drift apart between them. The transactions around it are
 * here too (hark__job_*_tx), over the backend's hark__job_tx: begin, load,
 * apply, write, commit; a claim picks rows until one can be claimed, making
 * dead on the way those whose attempts are used up (committed even when
 * nothing is claimed). Picking which job to claim (claim order, SKIP LOCKED)
 * stays in the backends: it is a query, not a rule.
 *
 * INVARIANTS
 * - On success the row is consistent for its state: RUNNING has a lease
 *   owner and expiry; QUEUED has neither; DONE, DEAD and CANCELED have
 *   finished_ms set and not_before_ms 0; only a CANCELED job that was
 *   running keeps its lease owner (until acknowledged).
 * - Error messages are the ones the conformance suite and the runners see;
 *   both backends used to print them, word for word.
 */
#include <stdio.h>
#include <string.h>

#include "jobstate.h"

void hark__jrow_dispose(hark__jrow *r)
{
    hark__free(r->error);
    hark__free(r->lease_owner);
    memset(r, 0, sizeof(*r));
}

int hark__jrow_set_str(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && !(copy = hark__strdup(src)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    hark__free(*dst);
    *dst = copy;
    return 0;
}

int64_t hark__jrow_due(const hark__jrow *r)
{
    switch (r->state) {
    case HARK_JOB_QUEUED:
        return r->not_before_ms > 0 ? r->not_before_ms : r->created_ms;
    case HARK_JOB_RUNNING:
        return r->lease_expires_ms;
    default:
        return -1;
    }
}

static void drop_lease(hark__jrow *r)
{
    hark__free(r->lease_owner);
    r->lease_owner = NULL;
    r->lease_expires_ms = 0;
}

/* Move a row to a final state (done, dead, canceled) at `now`. */
static void finish(hark__jrow *r, hark_job_state state, int64_t now, int keep_lease)
{
    r->state = state;
    r->finished_ms = now;
    r->not_before_ms = 0;
    if (!keep_lease)
        drop_lease(r);
}

/* A claimer picked the row: claim it, or make it dead when its attempts are used up. */
static int claim(hark__jrow *r, const hark__job_event *ev, unsigned *fx)
{
    char msg[96];
    int rc;

    if (r->state != HARK_JOB_QUEUED && r->state != HARK_JOB_RUNNING)
        return hark_error_set(HARK_EBUSY, "store: job %lld is %s: not claimable", (long long)r->id,
                              hark_job_state_name(r->state));
    if (r->attempts >= r->max_attempts) {
        if (r->state == HARK_JOB_RUNNING)
            snprintf(msg, sizeof(msg), "lost its runner %u times", r->attempts);
        else
            snprintf(msg, sizeof(msg), "no attempts left (%u of %u used)", r->attempts,
                     r->max_attempts);
        finish(r, HARK_JOB_DEAD, ev->now, 0);
        return hark__jrow_set_str(&r->error, msg);
    }
    if ((rc = hark__jrow_set_str(&r->lease_owner, ev->lease_owner)) < 0)
        return rc;
    r->state = HARK_JOB_RUNNING;
    r->lease_expires_ms = ev->now + ev->lease_ms;
    r->attempts++;
    r->not_before_ms = 0;
    *fx |= HARK__JOB_FX_CLAIMED;
    return 0;
}

/* hark_store_job_end: the runner holding the lease ends or requeues the job. */
static int end(hark__jrow *r, const hark__job_event *ev, unsigned *fx)
{
    const char *owner = ev->lease_owner;
    int rc;

    if (ev->state == HARK_JOB_CANCELED && r->state == HARK_JOB_CANCELED && r->lease_owner &&
        strcmp(r->lease_owner, owner) == 0) {
        /* the runner acknowledges a cancel made while it ran */
        finish(r, HARK_JOB_CANCELED, r->finished_ms, 0);
        return 0;
    }
    if (r->state != HARK_JOB_RUNNING)
        return hark_error_set(HARK_EBUSY, "store: job %lld is %s, no longer running under %s",
                              (long long)r->id, hark_job_state_name(r->state), owner);
    if (!r->lease_owner || strcmp(r->lease_owner, owner) != 0)
        return hark_error_set(HARK_EBUSY, "store: job %lld is held by %s, not %s", (long long)r->id,
                              r->lease_owner ? r->lease_owner : "nobody", owner);
    if (r->lease_expires_ms <= ev->now)
        return hark_error_set(HARK_EBUSY,
                              "store: the lease of %s on job %lld expired %lld ms ago: another "
                              "runner may claim it",
                              owner, (long long)r->id, (long long)(ev->now - r->lease_expires_ms));
    switch (ev->state) {
    case HARK_JOB_DONE:
        finish(r, HARK_JOB_DONE, ev->now, 0);
        hark__free(r->error);
        r->error = NULL;
        *fx |= HARK__JOB_FX_DROP_RESULTS;
        return 0;
    case HARK_JOB_QUEUED:
        if (!ev->release && ev->error && (rc = hark__jrow_set_str(&r->error, ev->error)) < 0)
            return rc;
        if (ev->release) {
            r->attempts = r->attempts ? r->attempts - 1 : 0; /* the attempt is not counted */
        } else if (r->attempts >= r->max_attempts) {
            finish(r, HARK_JOB_DEAD, ev->now, 0);
            return 0;
        }
        r->state = HARK_JOB_QUEUED;
        r->not_before_ms = ev->not_before_ms > 0 ? ev->not_before_ms : 0;
        drop_lease(r);
        *fx |= HARK__JOB_FX_NOTIFY;
        return 0;
    case HARK_JOB_DEAD:
        if (ev->error && (rc = hark__jrow_set_str(&r->error, ev->error)) < 0)
            return rc;
        finish(r, HARK_JOB_DEAD, ev->now, 0);
        return 0;
    case HARK_JOB_CANCELED:
        finish(r, HARK_JOB_CANCELED, ev->now, 0);
        return 0;
    default:
        return hark_error_set(HARK_EINVAL, "store: end job %lld: a job cannot end as %s",
                              (long long)r->id, hark_job_state_name(ev->state));
    }
}

int hark__job_apply(hark__jrow *r, const hark__job_event *ev, unsigned *effects)
{
    int rc;

    *effects = 0;
    switch (ev->kind) {
    case HARK__JOB_EV_CLAIM:
        rc = claim(r, ev, effects);
        break;
    case HARK__JOB_EV_END:
        rc = end(r, ev, effects);
        break;
    case HARK__JOB_EV_CANCEL:
        if (r->state != HARK_JOB_QUEUED && r->state != HARK_JOB_RUNNING)
            return hark_error_set(HARK_EINVAL, "job %lld is already %s", (long long)r->id,
                                  hark_job_state_name(r->state));
        /* a running job keeps its lease owner, so that its runner can acknowledge */
        finish(r, HARK_JOB_CANCELED, ev->now, r->state == HARK_JOB_RUNNING);
        rc = 0;
        break;
    case HARK__JOB_EV_RETRY:
        if (r->state != HARK_JOB_DEAD && r->state != HARK_JOB_CANCELED)
            return hark_error_set(HARK_EINVAL,
                                  "job %lld is %s: only dead or canceled jobs are retried",
                                  (long long)r->id, hark_job_state_name(r->state));
        r->state = HARK_JOB_QUEUED;
        r->attempts = 0;
        r->not_before_ms = 0;
        r->finished_ms = 0;
        drop_lease(r);
        *effects = HARK__JOB_FX_RESET_FAILED | HARK__JOB_FX_NOTIFY;
        rc = 0;
        break;
    default:
        return hark_error_set(HARK_EINVAL, "store: unknown job event %d", (int)ev->kind);
    }
    if (rc < 0)
        *effects = 0;
    return rc;
}

/* ---- transactions --------------------------------------------------------------------------- */

/* One transition of job `id`: begin, load, apply `ev`, write, commit. */
static int transition(const hark__job_tx *tx, void *ctx, int64_t id, const hark__job_event *ev,
                      const char *what)
{
    void *conn = NULL;
    hark__jrow r;
    unsigned fx = 0;
    int rc;

    if ((rc = tx->begin(ctx, &conn, what)) < 0)
        return rc;
    memset(&r, 0, sizeof(r));
    if ((rc = tx->load(ctx, conn, id, &r, what)) == 0 && (rc = hark__job_apply(&r, ev, &fx)) == 0)
        rc = tx->write(ctx, conn, &r, fx, ev->now, what);
    hark__jrow_dispose(&r);
    return tx->end(ctx, conn, rc, what);
}

static hark__job_event event(hark__job_event_kind kind, int64_t now)
{
    hark__job_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.now = now;
    return ev;
}

int hark__job_end_tx(const hark__job_tx *tx, void *ctx, int64_t id, const char *lease_owner,
                     hark_job_state state, int release, int64_t not_before_ms, const char *error,
                     int64_t now)
{
    hark__job_event ev = event(HARK__JOB_EV_END, now);
    ev.lease_owner = lease_owner;
    ev.state = state;
    ev.release = release;
    ev.not_before_ms = not_before_ms;
    ev.error = error;
    return transition(tx, ctx, id, &ev, "end job");
}

int hark__job_cancel_tx(const hark__job_tx *tx, void *ctx, int64_t id, int64_t now)
{
    hark__job_event ev = event(HARK__JOB_EV_CANCEL, now);
    return transition(tx, ctx, id, &ev, "cancel job");
}

int hark__job_retry_tx(const hark__job_tx *tx, void *ctx, int64_t id, int64_t now)
{
    hark__job_event ev = event(HARK__JOB_EV_RETRY, now);
    return transition(tx, ctx, id, &ev, "retry job");
}

int hark__job_claim_tx(const hark__job_tx *tx, void *ctx, const char *lease_owner, int64_t lease_ms,
                       hark_priority max_priority, int64_t now, hark_store_job_fn emit,
                       void *payload, int64_t *next_ms)
{
    static const char what[] = "claim job";
    hark__job_event ev = event(HARK__JOB_EV_CLAIM, now);
    void *conn = NULL;
    int rc, claimed = 0;

    ev.lease_owner = lease_owner;
    ev.lease_ms = lease_ms;
    *next_ms = 0;
    if ((rc = tx->begin(ctx, &conn, what)) < 0)
        return rc;
    while (!claimed) {
        hark__jrow r;
        unsigned fx = 0;
        memset(&r, 0, sizeof(r));
        if ((rc = tx->pick(ctx, conn, max_priority, now, &r, what)) <= 0)
            break;
        if ((rc = hark__job_apply(&r, &ev, &fx)) == 0) {
            if (fx & HARK__JOB_FX_CLAIMED)
                claimed = (rc = tx->claim_write(ctx, conn, &r, now, emit, payload, what)) == 0;
            else
                rc = tx->write(ctx, conn, &r, fx, now, what); /* attempts used up: dead */
        }
        hark__jrow_dispose(&r);
        if (rc != 0)
            goto out;
    }
    if (rc == 0 && !claimed)
        rc = tx->next_due(ctx, conn, max_priority, now, next_ms, what);
out:
    /* jobs made dead on the way are committed even when nothing was claimed */
    rc = tx->end(ctx, conn, rc, what);
    if (rc == 0 && !claimed)
        rc = HARK_ENOTFOUND;
    return rc;
}
