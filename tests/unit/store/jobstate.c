/*
 * jobstate.c: the job queue's state machine (src/store/jobstate.c) as a pure
 * function: every state against every event (a table), then the details of
 * each transition (leases, attempts, backoff, dead letters, the cancel
 * acknowledgement, retry). The backends' use of it is covered by the
 * conformance suite (tests/integration/store on SQLite and PostgreSQL).
 */
#include "harness.h"
#include "store/jobstate.h"

#define NOW   1000000
#define ME    "host:1:me"
#define OTHER "host:2:other"

/* The row variants of the table. */
enum { R_QUEUED, R_RUNNING, R_DONE, R_DEAD, R_CANCELED, R_CANCELED_RUNNING, R_COUNT };

/* The event variants of the table. */
enum {
    E_CLAIM,
    E_END_DONE,
    E_END_REQUEUE,
    E_END_RELEASE,
    E_END_DEAD,
    E_END_CANCELED,
    E_CANCEL,
    E_RETRY,
    E_COUNT
};

static void make_row(hark__jrow *r, int variant)
{
    memset(r, 0, sizeof(*r));
    r->id = 42;
    r->attempts = 1;
    r->max_attempts = 4;
    r->created_ms = NOW - 5000;
    switch (variant) {
    case R_QUEUED:
        r->state = HARK_JOB_QUEUED;
        break;
    case R_RUNNING:
        r->state = HARK_JOB_RUNNING;
        ASSERT_OK(hark__jrow_set_str(&r->lease_owner, ME));
        r->lease_expires_ms = NOW + 30000;
        break;
    case R_DONE:
        r->state = HARK_JOB_DONE;
        r->finished_ms = NOW - 100;
        break;
    case R_DEAD:
        r->state = HARK_JOB_DEAD;
        r->finished_ms = NOW - 100;
        ASSERT_OK(hark__jrow_set_str(&r->error, "engine crashed"));
        break;
    case R_CANCELED:
        r->state = HARK_JOB_CANCELED;
        r->finished_ms = NOW - 100;
        break;
    default: /* canceled while ME ran it: the lease owner is kept for the acknowledgement */
        r->state = HARK_JOB_CANCELED;
        r->finished_ms = NOW - 100;
        ASSERT_OK(hark__jrow_set_str(&r->lease_owner, ME));
        r->lease_expires_ms = NOW + 30000;
        break;
    }
}

static hark__job_event make_event(int variant)
{
    hark__job_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.now = NOW;
    ev.lease_owner = ME;
    ev.lease_ms = 60000;
    switch (variant) {
    case E_CLAIM:
        ev.kind = HARK__JOB_EV_CLAIM;
        break;
    case E_END_DONE:
        ev.kind = HARK__JOB_EV_END;
        ev.state = HARK_JOB_DONE;
        break;
    case E_END_REQUEUE:
        ev.kind = HARK__JOB_EV_END;
        ev.state = HARK_JOB_QUEUED;
        ev.not_before_ms = NOW + 2000;
        ev.error = "chunk 3 failed";
        break;
    case E_END_RELEASE:
        ev.kind = HARK__JOB_EV_END;
        ev.state = HARK_JOB_QUEUED;
        ev.release = 1;
        break;
    case E_END_DEAD:
        ev.kind = HARK__JOB_EV_END;
        ev.state = HARK_JOB_DEAD;
        ev.error = "bad audio";
        break;
    case E_END_CANCELED:
        ev.kind = HARK__JOB_EV_END;
        ev.state = HARK_JOB_CANCELED;
        break;
    case E_CANCEL:
        ev.kind = HARK__JOB_EV_CANCEL;
        break;
    default:
        ev.kind = HARK__JOB_EV_RETRY;
        break;
    }
    return ev;
}

#define BUSY  HARK_EBUSY
#define INVAL HARK_EINVAL
#define Q     HARK_JOB_QUEUED
#define RUN   HARK_JOB_RUNNING
#define DONE  HARK_JOB_DONE
#define DEAD  HARK_JOB_DEAD
#define CANC  HARK_JOB_CANCELED
#define CL    HARK__JOB_FX_CLAIMED
#define DROP  HARK__JOB_FX_DROP_RESULTS
#define RESET HARK__JOB_FX_RESET_FAILED
#define NOTE  HARK__JOB_FX_NOTIFY

typedef struct expect {
    int rc;            /* 0 or the error */
    hark_job_state to; /* on success */
    unsigned effects;  /* on success */
} expect;

/* What every event does to every state. */
/* clang-format off */
static const expect table[R_COUNT][E_COUNT] = {
    /*                     claim            end done           end requeue      end release
                           end dead         end canceled       cancel           retry */
    [R_QUEUED] =         { { 0, RUN, CL },  { BUSY, Q, 0 },    { BUSY, Q, 0 },  { BUSY, Q, 0 },
                           { BUSY, Q, 0 },  { BUSY, Q, 0 },    { 0, CANC, 0 },  { INVAL, Q, 0 } },
    [R_RUNNING] =        { { 0, RUN, CL },  { 0, DONE, DROP }, { 0, Q, NOTE },  { 0, Q, NOTE },
                           { 0, DEAD, 0 },  { 0, CANC, 0 },    { 0, CANC, 0 },  { INVAL, Q, 0 } },
    [R_DONE] =           { { BUSY, Q, 0 },  { BUSY, Q, 0 },    { BUSY, Q, 0 },  { BUSY, Q, 0 },
                           { BUSY, Q, 0 },  { BUSY, Q, 0 },    { INVAL, Q, 0 }, { INVAL, Q, 0 } },
    [R_DEAD] =           { { BUSY, Q, 0 },  { BUSY, Q, 0 },    { BUSY, Q, 0 },  { BUSY, Q, 0 },
                           { BUSY, Q, 0 },  { BUSY, Q, 0 },    { INVAL, Q, 0 }, { 0, Q, RESET | NOTE } },
    [R_CANCELED] =       { { BUSY, Q, 0 },  { BUSY, Q, 0 },    { BUSY, Q, 0 },  { BUSY, Q, 0 },
                           { BUSY, Q, 0 },  { BUSY, Q, 0 },    { INVAL, Q, 0 }, { 0, Q, RESET | NOTE } },
    [R_CANCELED_RUNNING] = { { BUSY, Q, 0 },  { BUSY, Q, 0 },    { BUSY, Q, 0 },  { BUSY, Q, 0 },
                           { BUSY, Q, 0 },  { 0, CANC, 0 },    { INVAL, Q, 0 }, { 0, Q, RESET | NOTE } },
};
/* clang-format on */

/* The row is consistent for its state (the invariants of jobstate.c). */
static void check_consistent(const hark__jrow *r, int was_running)
{
    switch (r->state) {
    case HARK_JOB_QUEUED:
        ASSERT(r->lease_owner == NULL);
        ASSERT_EQ(r->lease_expires_ms, 0);
        ASSERT_EQ(r->finished_ms, 0);
        break;
    case HARK_JOB_RUNNING:
        ASSERT(r->lease_owner != NULL);
        ASSERT_LT(NOW, r->lease_expires_ms);
        ASSERT_EQ(r->not_before_ms, 0);
        break;
    default:
        ASSERT_NE(r->finished_ms, 0);
        ASSERT_EQ(r->not_before_ms, 0);
        if (r->state != HARK_JOB_CANCELED || !was_running)
            ASSERT(r->lease_owner == NULL);
        break;
    }
}

TEST(every_state_times_every_event)
{
    int rv, ev_i;
    for (rv = 0; rv < R_COUNT; rv++) {
        for (ev_i = 0; ev_i < E_COUNT; ev_i++) {
            const expect *x = &table[rv][ev_i];
            hark__jrow r, before;
            hark__job_event ev = make_event(ev_i);
            unsigned fx = 99;
            int rc;

            make_row(&r, rv);
            before = r;
            rc = hark__job_apply(&r, &ev, &fx);
            ASSERT_MSG(rc == x->rc, "row %d, event %d: rc %s, expected %s (%s)", rv, ev_i,
                       hark_err_name(rc), hark_err_name(x->rc), hark_error_last());
            if (rc < 0) {
                ASSERT_EQ(fx, 0);
                ASSERT_EQ(r.state, before.state); /* a refused event stores nothing */
                ASSERT_NE(strlen(hark_error_last()), 0);
            } else {
                ASSERT_MSG(r.state == x->to, "row %d, event %d: became %s, expected %s", rv, ev_i,
                           hark_job_state_name(r.state), hark_job_state_name(x->to));
                ASSERT_MSG(fx == x->effects, "row %d, event %d: effects %u, expected %u", rv, ev_i,
                           fx, x->effects);
                check_consistent(&r, ev_i == E_CANCEL && rv == R_RUNNING);
            }
            hark__jrow_dispose(&r);
        }
    }
}

TEST(claim_takes_lease_and_counts_attempt)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_CLAIM);
    unsigned fx;
    make_row(&r, R_QUEUED);
    r.not_before_ms = NOW - 10;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, HARK__JOB_FX_CLAIMED);
    ASSERT_EQ(r.state, HARK_JOB_RUNNING);
    ASSERT_STREQ(r.lease_owner, ME);
    ASSERT_EQ(r.lease_expires_ms, NOW + 60000);
    ASSERT_EQ(r.attempts, 2);
    ASSERT_EQ(r.not_before_ms, 0);
    ASSERT_EQ(hark__jrow_due(&r), NOW + 60000);
    hark__jrow_dispose(&r);

    /* an expired lease of another runner is taken over */
    make_row(&r, R_RUNNING);
    ASSERT_OK(hark__jrow_set_str(&r.lease_owner, OTHER));
    r.lease_expires_ms = NOW - 1;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_STREQ(r.lease_owner, ME);
    ASSERT_EQ(r.attempts, 2);
    hark__jrow_dispose(&r);
}

TEST(claim_with_attempts_used_up_is_a_dead_letter)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_CLAIM);
    unsigned fx;

    /* only id, state and attempts are loaded by a claim's pick */
    memset(&r, 0, sizeof(r));
    r.id = 7;
    r.state = HARK_JOB_QUEUED;
    r.attempts = 4;
    r.max_attempts = 4;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, 0);
    ASSERT_EQ(r.state, HARK_JOB_DEAD);
    ASSERT_STREQ(r.error, "no attempts left (4 of 4 used)");
    ASSERT_EQ(r.finished_ms, NOW);
    ASSERT_EQ(hark__jrow_due(&r), -1);
    hark__jrow_dispose(&r);

    memset(&r, 0, sizeof(r));
    r.id = 8;
    r.state = HARK_JOB_RUNNING;
    r.attempts = 3;
    r.max_attempts = 3;
    ASSERT_OK(hark__jrow_set_str(&r.lease_owner, OTHER));
    r.lease_expires_ms = NOW - 5;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, 0);
    ASSERT_EQ(r.state, HARK_JOB_DEAD);
    ASSERT_STREQ(r.error, "lost its runner 3 times");
    ASSERT(r.lease_owner == NULL);
    ASSERT_EQ(r.lease_expires_ms, 0);
    hark__jrow_dispose(&r);
}

TEST(end_checks_the_lease)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_END_DONE);
    unsigned fx;

    make_row(&r, R_RUNNING);
    ev.lease_owner = OTHER;
    ASSERT_ERR(hark__job_apply(&r, &ev, &fx), HARK_EBUSY);
    ASSERT_STREQ(hark_error_last(), "store: job 42 is held by " ME ", not " OTHER);
    ASSERT_EQ(r.state, HARK_JOB_RUNNING);

    ev.lease_owner = ME;
    r.lease_expires_ms = NOW; /* expires at NOW: lost, even if nobody claimed it yet */
    ASSERT_ERR(hark__job_apply(&r, &ev, &fx), HARK_EBUSY);
    ASSERT_STREQ(hark_error_last(), "store: the lease of " ME " on job 42 expired 0 ms ago: "
                                    "another runner may claim it");
    hark__jrow_dispose(&r);

    make_row(&r, R_QUEUED);
    ASSERT_ERR(hark__job_apply(&r, &ev, &fx), HARK_EBUSY);
    ASSERT_STREQ(hark_error_last(), "store: job 42 is queued, no longer running under " ME);
    hark__jrow_dispose(&r);

    /* a RUNNING target is not an end */
    make_row(&r, R_RUNNING);
    ev.state = HARK_JOB_RUNNING;
    ASSERT_ERR(hark__job_apply(&r, &ev, &fx), HARK_EINVAL);
    hark__jrow_dispose(&r);
}

TEST(done_clears_error_and_drops_results)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_END_DONE);
    unsigned fx;
    make_row(&r, R_RUNNING);
    ASSERT_OK(hark__jrow_set_str(&r.error, "an earlier attempt failed"));
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, HARK__JOB_FX_DROP_RESULTS);
    ASSERT(r.error == NULL);
    ASSERT_EQ(r.finished_ms, NOW);
    ASSERT_EQ(r.attempts, 1);
    hark__jrow_dispose(&r);
}

TEST(requeue_backs_off_then_dies_when_attempts_are_used_up)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_END_REQUEUE);
    unsigned fx;

    make_row(&r, R_RUNNING);
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, HARK__JOB_FX_NOTIFY);
    ASSERT_EQ(r.state, HARK_JOB_QUEUED);
    ASSERT_EQ(r.not_before_ms, NOW + 2000);
    ASSERT_EQ(hark__jrow_due(&r), NOW + 2000);
    ASSERT_STREQ(r.error, "chunk 3 failed");
    ASSERT_EQ(r.attempts, 1);
    hark__jrow_dispose(&r);

    /* not_before 0: claimable at once, in its original place (due = creation) */
    make_row(&r, R_RUNNING);
    ev.not_before_ms = 0;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(hark__jrow_due(&r), NOW - 5000);
    hark__jrow_dispose(&r);

    /* the last attempt failed: dead letter, error kept, nobody woken */
    make_row(&r, R_RUNNING);
    r.attempts = 4;
    ev.not_before_ms = NOW + 2000;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, 0);
    ASSERT_EQ(r.state, HARK_JOB_DEAD);
    ASSERT_STREQ(r.error, "chunk 3 failed");
    ASSERT_EQ(r.not_before_ms, 0);
    ASSERT_EQ(r.finished_ms, NOW);
    ASSERT(r.lease_owner == NULL);
    hark__jrow_dispose(&r);
}

TEST(release_gives_the_attempt_back)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_END_RELEASE);
    unsigned fx;

    make_row(&r, R_RUNNING);
    r.attempts = 4; /* even on the last attempt: a release never kills */
    ASSERT_OK(hark__jrow_set_str(&r.error, "old"));
    ev.error = "ignored on a release";
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(r.state, HARK_JOB_QUEUED);
    ASSERT_EQ(r.attempts, 3);
    ASSERT_STREQ(r.error, "old");
    ASSERT_EQ(fx, HARK__JOB_FX_NOTIFY);
    hark__jrow_dispose(&r);

    make_row(&r, R_RUNNING);
    r.attempts = 0;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(r.attempts, 0);
    hark__jrow_dispose(&r);
}

TEST(cancel_of_running_job_waits_for_acknowledgement)
{
    hark__jrow r;
    hark__job_event cancel = make_event(E_CANCEL), ack = make_event(E_END_CANCELED);
    unsigned fx;

    make_row(&r, R_RUNNING);
    ASSERT_OK(hark__job_apply(&r, &cancel, &fx));
    ASSERT_EQ(r.state, HARK_JOB_CANCELED);
    ASSERT_STREQ(r.lease_owner, ME);
    ASSERT_EQ(r.finished_ms, NOW);
    ASSERT_EQ(hark__jrow_due(&r), -1);

    /* another runner cannot acknowledge; ending it any other way is refused */
    ack.lease_owner = OTHER;
    ASSERT_ERR(hark__job_apply(&r, &ack, &fx), HARK_EBUSY);
    ack.lease_owner = ME;
    ack.state = HARK_JOB_DONE;
    ASSERT_ERR(hark__job_apply(&r, &ack, &fx), HARK_EBUSY);
    ASSERT_STREQ(hark_error_last(), "store: job 42 is canceled, no longer running under " ME);

    ack.state = HARK_JOB_CANCELED;
    ack.now = NOW + 777;
    ASSERT_OK(hark__job_apply(&r, &ack, &fx));
    ASSERT_EQ(fx, 0);
    ASSERT_EQ(r.state, HARK_JOB_CANCELED);
    ASSERT(r.lease_owner == NULL);
    ASSERT_EQ(r.finished_ms, NOW); /* the time of the cancel, not of the acknowledgement */
    hark__jrow_dispose(&r);

    /* a queued job is canceled with no lease to keep */
    make_row(&r, R_QUEUED);
    r.not_before_ms = NOW + 10;
    ASSERT_OK(hark__job_apply(&r, &cancel, &fx));
    ASSERT(r.lease_owner == NULL);
    ASSERT_EQ(r.not_before_ms, 0);
    hark__jrow_dispose(&r);

    make_row(&r, R_DONE);
    ASSERT_ERR(hark__job_apply(&r, &cancel, &fx), HARK_EINVAL);
    ASSERT_STREQ(hark_error_last(), "job 42 is already done");
    hark__jrow_dispose(&r);
}

TEST(retry_starts_over_keeping_done_chunks)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_RETRY);
    unsigned fx;

    make_row(&r, R_DEAD);
    r.attempts = 4;
    r.chunks_failed = 3;
    ASSERT_OK(hark__job_apply(&r, &ev, &fx));
    ASSERT_EQ(fx, HARK__JOB_FX_RESET_FAILED | HARK__JOB_FX_NOTIFY);
    ASSERT_EQ(r.state, HARK_JOB_QUEUED);
    ASSERT_EQ(r.attempts, 0);
    ASSERT_EQ(r.finished_ms, 0);
    ASSERT_EQ(r.not_before_ms, 0);
    ASSERT_EQ(r.chunks_failed, 3);           /* the backend lowers the counter by this much */
    ASSERT_STREQ(r.error, "engine crashed"); /* the last error stays visible */
    ASSERT_EQ(hark__jrow_due(&r), NOW - 5000);
    hark__jrow_dispose(&r);

    make_row(&r, R_RUNNING);
    ASSERT_ERR(hark__job_apply(&r, &ev, &fx), HARK_EINVAL);
    ASSERT_STREQ(hark_error_last(), "job 42 is running: only dead or canceled jobs are retried");
    hark__jrow_dispose(&r);
}

TEST(unknown_event_is_refused)
{
    hark__jrow r;
    hark__job_event ev = make_event(E_CLAIM);
    unsigned fx = 5;
    make_row(&r, R_QUEUED);
    ev.kind = HARK__JOB_EV_COUNT;
    ASSERT_ERR(hark__job_apply(&r, &ev, &fx), HARK_EINVAL);
    ASSERT_EQ(fx, 0);
    ASSERT_EQ(r.state, HARK_JOB_QUEUED);
    hark__jrow_dispose(&r);
}
