/*
 * store_pg_jobs.c: the PostgreSQL backend's job queue, LISTEN/NOTIFY
 * wake-ups, users, API keys, the audit log and settings (the rest of the
 * backend is store_pg.c).
 *
 * DESIGN
 * - The state machine is not here: jobstate.c decides every transition
 *   (lease checks, attempts, backoff, dead letters, cancel and its
 *   acknowledgement, retry) for both backends. This file only locks, loads
 *   and stores: a transition reads its job with SELECT ... FOR UPDATE, runs
 *   hark__job_apply and writes the row back in the same transaction; a claim
 *   walks the partial index jobs_due in claim order with FOR UPDATE SKIP
 *   LOCKED, so concurrent claimers (threads, processes, machines) each take
 *   a different job without waiting for each other.
 * - Submitting takes a transaction-scoped advisory lock on (owner,
 *   content hash) before looking for an existing recording of the same
 *   audio, so concurrent submits of one audio by one owner make one
 *   recording and one job.
 * - Wake-ups: every transaction that makes a job claimable (submit,
 *   requeue, retry) sends NOTIFY hark_jobs, delivered at commit.
 *   hark__pg_job_wait keeps one LISTEN connection per store handle and
 *   blocks in poll() on it and the caller's cancel descriptor: an idle
 *   runner sends no query at all. A LISTEN connection that drops is
 *   reopened (with a log line) and the waiter is woken, since notifications
 *   sent meanwhile were lost.
 * - A job that another claimer holds locked is skipped, so when nothing is
 *   claimable the earliest due time may lie in the past (a row being
 *   claimed right now): next_ms is then set a little ahead instead, so a
 *   runner never spins.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "jobstate.h"
#include "store_pg.h"

#define LOCKED_RETRY_MS 50

/* ---- jobs: rows ------------------------------------------------------------------------------ */

/* Emit the job in row `row` of a JOB_COLS result. */
static int emit_job(const pgs *s, const PGresult *r, int row, hark_store_job_fn emit, void *payload)
{
    hark_job j = HARK_JOB_INIT;
    int64_t prio = pg_i64(r, row, 4);

    j.id = pg_i64(r, row, 0);
    if (hark_job_state_parse(&j.state, pg_str(r, row, 5)) < 0 || prio < 0 ||
        prio >= HARK_PRIORITY_COUNT)
        return hark_error_set(HARK_ECORRUPT, "%s: job %lld has an unknown state or priority",
                              s->name, (long long)j.id);
    j.recording = pg_i64(r, row, 1);
    j.owner = pg_i64(r, row, 2);
    j.kind = pg_str(r, row, 3);
    j.priority = (hark_priority)prio;
    j.attempts = (unsigned)pg_i64(r, row, 6);
    j.max_attempts = (unsigned)pg_i64(r, row, 7);
    j.params = pg_str(r, row, 8);
    j.error = pg_str(r, row, 9);
    if (j.state == HARK_JOB_RUNNING) {
        j.lease_owner = pg_str(r, row, 10);
        j.lease_expires_ms = pg_i64(r, row, 11);
    } else {
        j.lease_owner = NULL;
        j.lease_expires_ms = 0;
    }
    j.not_before_ms = pg_i64(r, row, 12);
    j.created_ms = pg_i64(r, row, 13);
    j.updated_ms = pg_i64(r, row, 14);
    j.started_ms = pg_i64(r, row, 15);
    j.finished_ms = pg_i64(r, row, 16);
    j.chunks_total = (uint32_t)pg_i64(r, row, 17);
    j.chunks_done = (uint32_t)pg_i64(r, row, 18);
    j.chunks_failed = (uint32_t)pg_i64(r, row, 19);
    j.chunks_final = pg_i64(r, row, 20) != 0;
    return emit(&j, payload);
}

/* In a transaction on c: read and lock job `id`; HARK_ENOTFOUND. */
static int job_load(void *ctx, void *cv, int64_t id, hark__jrow *r, const char *what)
{
    pgs *s = ctx;
    pgconn *c = cv;
    pgp p = { 0 };
    PGresult *res;
    int rc;

    memset(r, 0, sizeof(*r));
    hark__pgp_int(&p, id);
    if (!(res = hark__pg_run(s, c, PG_JOB_LOCK, &p, &rc, what)))
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    }
    r->id = id;
    if (hark_job_state_parse(&r->state, pg_str(res, 0, 5)) < 0)
        rc = hark_error_set(HARK_ECORRUPT, "%s: job %lld has an unknown state", s->name,
                            (long long)id);
    r->attempts = (unsigned)pg_i64(res, 0, 6);
    r->max_attempts = (unsigned)pg_i64(res, 0, 7);
    r->lease_expires_ms = pg_i64(res, 0, 11);
    r->not_before_ms = pg_i64(res, 0, 12);
    r->created_ms = pg_i64(res, 0, 13);
    r->finished_ms = pg_i64(res, 0, 16);
    r->chunks_failed = (uint32_t)pg_i64(res, 0, 19);
    if (rc == 0 && ((rc = hark__jrow_set_str(&r->error, pg_str(res, 0, 9))) < 0 ||
                    (rc = hark__jrow_set_str(&r->lease_owner, pg_str(res, 0, 10))) < 0))
        hark__jrow_dispose(r);
    PQclear(res);
    return rc;
}

/* Write back a job_load()ed row changed by a transition (not a claim). */
static int job_store(pgs *s, pgconn *c, const hark__jrow *r, int64_t now, const char *what)
{
    pgp p = { 0 };
    int64_t due = hark__jrow_due(r);
    hark__pgp_int(&p, r->id);
    hark__pgp_text(&p, hark_job_state_name(r->state));
    hark__pgp_int(&p, r->attempts);
    hark__pgp_text(&p, r->error);
    hark__pgp_text(&p, r->lease_owner);
    hark__pgp_int(&p, r->lease_expires_ms);
    hark__pgp_int(&p, r->not_before_ms);
    if (due >= 0)
        hark__pgp_int(&p, due);
    else
        hark__pgp_text(&p, NULL);
    hark__pgp_int(&p, r->finished_ms);
    hark__pgp_int(&p, now);
    return hark__pg_exec(s, c, PG_JOB_SET, &p, NULL, what);
}

/* Run a statement bound with $1 = id only. */
static int exec_for_id(pgs *s, pgconn *c, int id_stmt, int64_t id, const char *what)
{
    pgp p = { 0 };
    hark__pgp_int(&p, id);
    return hark__pg_exec(s, c, id_stmt, &p, NULL, what);
}

/* A single-value query bound with $1 = arg: 1 and *out, 0 = no row or NULL, < 0. */
static int query_id(pgs *s, pgconn *c, int id_stmt, int64_t arg, int64_t *out, const char *what)
{
    pgp p = { 0 };
    PGresult *r;
    int rc;
    hark__pgp_int(&p, arg);
    if (!(r = hark__pg_run(s, c, id_stmt, &p, &rc, what)))
        return rc;
    rc = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    if (rc)
        *out = pg_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* Wake idle runners everywhere once this transaction commits. */
static int notify(pgs *s, pgconn *c, const char *what)
{
    return hark__pg_exec(s, c, PG_NOTIFY, NULL, NULL, what);
}

/* Store a row changed by hark__job_apply (not a claim) and carry out the side effects it asked for.
 */
static int job_write(void *ctx, void *cv, const hark__jrow *r, unsigned fx, int64_t now,
                     const char *what)
{
    pgs *s = ctx;
    pgconn *c = cv;
    pgp p = { 0 };
    int rc;

    if ((rc = job_store(s, c, r, now, what)) < 0)
        return rc;
    if ((fx & HARK__JOB_FX_DROP_RESULTS) &&
        (rc = exec_for_id(s, c, PG_CHUNKS_DROP_RESULTS, r->id, what)) < 0)
        return rc;
    if (fx & HARK__JOB_FX_RESET_FAILED) {
        if ((rc = exec_for_id(s, c, PG_CHUNKS_RESET_FAILED, r->id, what)) < 0)
            return rc;
        hark__pgp_int(&p, r->id);
        hark__pgp_int(&p, 0);
        hark__pgp_int(&p, -(int64_t)r->chunks_failed);
        hark__pgp_int(&p, 0);
        hark__pgp_int(&p, now);
        if ((rc = hark__pg_exec(s, c, PG_JOB_CHUNK_COUNTS, &p, NULL, what)) < 0)
            return rc;
    }
    if (fx & HARK__JOB_FX_NOTIFY)
        rc = notify(s, c, what);
    return rc;
}

/* ---- jobs: operations ------------------------------------------------------------------------ */

int hark__pg_job_submit(void *ctx, const hark_recording *rec, const hark_job *job,
                        hark_job_submitted *out)
{
    static const char what[] = "submit job";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r = NULL;
    pgp p = { 0 };
    int64_t rec_id = 0, job_id = 0;
    int rc, existed = 0;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    if (rec->content_hash) {
        pgp lp = { 0 };
        hark__pgp_text(&lp, rec->content_hash);
        hark__pgp_int(&lp, rec->owner);
        if ((rc = hark__pg_exec(s, c, PG_SUBMIT_LOCK, &lp, NULL, what)) < 0)
            goto out;
        hark__pgp_text(&p, rec->content_hash);
        hark__pgp_int(&p, rec->owner);
        hark__pgp_text(&p, rec->engine);
        hark__pgp_text(&p, rec->model);
        hark__pgp_text(&p, rec->options);
        hark__pgp_text(&p, rec->audio_path);
        if (!(r = hark__pg_run(s, c, PG_REC_DEDUP, &p, &rc, what)))
            goto out;
        if (PQntuples(r) > 0)
            rec_id = pg_i64(r, 0, 0);
        PQclear(r);
        r = NULL;
        if (rec_id && (rc = query_id(s, c, PG_JOB_NEWEST, rec_id, &job_id, what)) < 0)
            goto out;
        rc = 0;
        existed = job_id != 0;
    }
    if (!rec_id && (rc = hark__pg_rec_insert(s, c, rec, &rec_id, what)) < 0)
        goto out;
    if (!job_id) {
        memset(&p, 0, sizeof(p));
        hark__pgp_int(&p, rec_id);
        hark__pgp_int(&p, rec->owner);
        hark__pgp_text(&p, job->kind);
        hark__pgp_int(&p, (int64_t)job->priority);
        hark__pgp_int(&p, job->max_attempts);
        hark__pgp_text(&p, job->params);
        hark__pgp_int(&p, job->not_before_ms);
        hark__pgp_int(&p, job->not_before_ms > 0 ? job->not_before_ms : job->created_ms);
        hark__pgp_int(&p, job->created_ms);
        if (!(r = hark__pg_run(s, c, PG_JOB_INSERT, &p, &rc, what)))
            goto out;
        job_id = pg_i64(r, 0, 0);
        PQclear(r);
        r = NULL;
        if ((rc = notify(s, c, what)) < 0)
            goto out;
    }
    out->recording = rec_id;
    out->job = job_id;
    out->existed = existed;
out:
    PQclear(r);
    return hark__pg_end(s, c, rc, what);
}

/* Emit job `id` read on c; HARK_ENOTFOUND. */
static int job_emit_id(pgs *s, pgconn *c, int64_t id, hark_store_job_fn emit, void *payload,
                       const char *what)
{
    pgp p = { 0 };
    PGresult *r;
    int rc;
    hark__pgp_int(&p, id);
    if (!(r = hark__pg_run(s, c, PG_JOB_GET, &p, &rc, what)))
        return rc;
    if (PQntuples(r) > 0)
        rc = emit_job(s, r, 0, emit, payload);
    else
        rc = hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    PQclear(r);
    return rc;
}

int hark__pg_job_get(void *ctx, int64_t id, hark_store_job_fn emit, void *payload)
{
    pgs *s = ctx;
    pgconn *c;
    int rc;
    if ((rc = hark__pg_acquire(s, &c, "get job")) < 0)
        return rc;
    rc = job_emit_id(s, c, id, emit, payload, "get job");
    hark__pg_release(s, c);
    return rc;
}

int hark__pg_job_list(void *ctx, const hark_job_list_options *o, hark_store_job_fn emit,
                      void *payload)
{
    static const char what[] = "list jobs";
    static const Oid types[5] = { 20, 20, 20, 25, 20 };
    pgs *s = ctx;
    pgconn *c;
    PGresult *r = NULL;
    hark_buf sql = HARK_BUF_INIT;
    pgp p = { 0 };
    int rc, i, rows;

    if ((rc = hark_buf_printf(
             &sql,
             "SELECT id, recording_id, owner, kind, priority, state, attempts, "
             "max_attempts, params, error, lease_owner, lease_expires_ms, "
             "not_before_ms, created_ms, updated_ms, started_ms, finished_ms, "
             "chunks_total, chunks_done, chunks_failed, chunks_final FROM jobs "
             "WHERE true%s%s%s%s ORDER BY id DESC LIMIT $1",
             o->owner ? " AND owner = $2" : "", o->recording ? " AND recording_id = $3" : "",
             o->state >= 0 ? " AND state = $4" : "", o->after > 0 ? " AND id < $5" : "")) < 0)
        return rc;
    hark__pgp_int(&p, (int64_t)o->limit);
    hark__pgp_int(&p, o->owner);
    hark__pgp_int(&p, o->recording);
    hark__pgp_text(&p,
                   hark_job_state_name(o->state >= 0 ? (hark_job_state)o->state : HARK_JOB_QUEUED));
    hark__pgp_int(&p, o->after);
    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        goto out;
    r = PQexecParams(c->db, sql.ptr, p.n, types, p.v, p.len, p.fmt, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = hark__pg_err(s, c, r, what);
    } else {
        rows = PQntuples(r);
        for (i = 0; i < rows && rc == 0; i++)
            rc = emit_job(s, r, i, emit, payload);
    }
    hark__pg_release(s, c);
out:
    PQclear(r);
    hark_buf_dispose(&sql);
    return rc;
}

/*
 * Claims run in hark__job_claim_tx (jobstate.c): in one transaction, the
 * first claimable job in claim order that no other claimer holds (SKIP
 * LOCKED) is picked.
 */
static int job_pick(void *ctx, void *cv, hark_priority max_priority, int64_t now, hark__jrow *r,
                    const char *what)
{
    pgp p = { 0 };
    PGresult *res;
    int rc;

    hark__pgp_int(&p, (int64_t)max_priority);
    hark__pgp_int(&p, now);
    if (!(res = hark__pg_run(ctx, cv, PG_JOB_PICK, &p, &rc, what)))
        return rc;
    if ((rc = PQntuples(res) > 0)) {
        r->id = pg_i64(res, 0, 0);
        r->state = pg_str(res, 0, 1) && strcmp(pg_str(res, 0, 1), "running") == 0 ? HARK_JOB_RUNNING
                                                                                  : HARK_JOB_QUEUED;
        r->attempts = (unsigned)pg_i64(res, 0, 2);
        r->max_attempts = (unsigned)pg_i64(res, 0, 3);
    }
    PQclear(res);
    return rc;
}

static int job_claim_write(void *ctx, void *cv, const hark__jrow *r, int64_t now,
                           hark_store_job_fn emit, void *payload, const char *what)
{
    pgp p = { 0 };
    PGresult *res;
    int rc;

    hark__pgp_int(&p, r->id);
    hark__pgp_text(&p, r->lease_owner);
    hark__pgp_int(&p, r->lease_expires_ms);
    hark__pgp_int(&p, now);
    if (!(res = hark__pg_run(ctx, cv, PG_JOB_CLAIM, &p, &rc, what)))
        return rc;
    rc = emit_job(ctx, res, 0, emit, payload);
    PQclear(res);
    return rc;
}

static int job_next_due(void *ctx, void *cv, hark_priority max_priority, int64_t now,
                        int64_t *next_ms, const char *what)
{
    int64_t t = 0;
    int rc = query_id(ctx, cv, PG_JOB_NEXT, (int64_t)max_priority, &t, what);
    if (rc == 1)
        *next_ms = t > now ? t : now + LOCKED_RETRY_MS; /* a row another claimer holds */
    return rc < 0 ? rc : 0;
}

static int job_begin(void *ctx, void **cv, const char *what)
{
    pgconn *c = NULL;
    int rc = hark__pg_begin(ctx, &c, 1, 0, what);
    *cv = c;
    return rc;
}

static int job_commit(void *ctx, void *cv, int rc, const char *what)
{
    return hark__pg_end(ctx, cv, rc, what);
}

static const hark__job_tx job_tx = { job_begin, job_commit,      job_load,    job_write,
                                     job_pick,  job_claim_write, job_next_due };

int hark__pg_job_claim(void *ctx, const char *lease_owner, int64_t lease_ms,
                       hark_priority max_priority, int64_t now, hark_store_job_fn emit,
                       void *payload, int64_t *next_ms)
{
    return hark__job_claim_tx(&job_tx, ctx, lease_owner, lease_ms, max_priority, now, emit, payload,
                              next_ms);
}

int hark__pg_job_heartbeat(void *ctx, const char *lease_owner, int64_t lease_ms, int64_t now,
                           unsigned *n)
{
    static const char what[] = "job heartbeat";
    pgs *s = ctx;
    pgconn *c;
    pgp p = { 0 };
    uint64_t changed = 0;
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    hark__pgp_text(&p, lease_owner);
    hark__pgp_int(&p, now + lease_ms);
    hark__pgp_int(&p, now);
    if ((rc = hark__pg_exec(s, c, PG_JOB_HEARTBEAT, &p, &changed, what)) == 0)
        *n = (unsigned)changed;
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_job_end(void *ctx, int64_t id, const char *lease_owner, hark_job_state state,
                     int release, int64_t not_before_ms, const char *error, int64_t now)
{
    return hark__job_end_tx(&job_tx, ctx, id, lease_owner, state, release, not_before_ms, error,
                            now);
}

int hark__pg_job_cancel(void *ctx, int64_t id, int64_t now)
{
    return hark__job_cancel_tx(&job_tx, ctx, id, now);
}

int hark__pg_job_retry(void *ctx, int64_t id, int64_t now)
{
    return hark__job_retry_tx(&job_tx, ctx, id, now);
}

int hark__pg_job_counts(void *ctx, hark_job_counts *out)
{
    static const char what[] = "count jobs";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    int rc, i, rows;

    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    if ((r = hark__pg_run(s, c, PG_JOB_COUNTS, NULL, &rc, what))) {
        rows = PQntuples(r);
        for (i = 0; i < rows; i++) {
            hark_job_state state;
            int64_t p = pg_i64(r, i, 1), n = pg_i64(r, i, 2);
            if (hark_job_state_parse(&state, pg_str(r, i, 0)) == 0 && p >= 0 &&
                p < HARK_PRIORITY_COUNT && n > 0)
                out->n[state][p] = (uint64_t)n;
            hark_error_clear();
        }
        PQclear(r);
    }
    hark__pg_release(s, c);
    return rc;
}

/* In a transaction on c: HARK_ENOTFOUND unless job `id` exists. */
static int job_exists(pgs *s, pgconn *c, int64_t id, const char *what)
{
    int64_t one = 0;
    int rc = query_id(s, c, PG_JOB_EXISTS, id, &one, what);
    if (rc == 0)
        return hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    return rc < 0 ? rc : 0;
}

int hark__pg_job_chunk_put(void *ctx, int64_t job, const hark_job_chunk *ch, int64_t now)
{
    static const char what[] = "put job chunk";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int64_t old = -1;
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    /* the job row is locked first: concurrent chunk writes of one job keep its counters exact */
    {
        hark__jrow jr;
        if ((rc = job_load(s, c, job, &jr, what)) < 0)
            goto out;
        hark__jrow_dispose(&jr);
    }
    hark__pgp_int(&p, job);
    hark__pgp_int(&p, ch->index);
    if (!(r = hark__pg_run(s, c, PG_CHUNK_STATE, &p, &rc, what)))
        goto out;
    if (PQntuples(r) > 0)
        old = pg_i64(r, 0, 0);
    PQclear(r);
    hark__pgp_int(&p, ch->start);
    hark__pgp_int(&p, ch->n);
    hark__pgp_int(&p, (int64_t)ch->state);
    hark__pgp_int(&p, ch->attempts);
    hark__pgp_text(&p, ch->error);
    hark__pgp_bytes(&p, ch->result && ch->result_len ? ch->result : NULL,
                    ch->result && ch->result_len ? ch->result_len : 0);
    hark__pgp_double(&p, ch->asr_ms);
    if ((rc = hark__pg_exec(s, c, PG_CHUNK_UPSERT, &p, NULL, what)) < 0)
        goto out;
    memset(&p, 0, sizeof(p));
    hark__pgp_int(&p, job);
    hark__pgp_int(&p, (ch->state == HARK_CHUNK_DONE) - (old == HARK_CHUNK_DONE));
    hark__pgp_int(&p, (ch->state == HARK_CHUNK_FAILED) - (old == HARK_CHUNK_FAILED));
    hark__pgp_int(&p, (int64_t)ch->index + 1);
    hark__pgp_int(&p, now);
    rc = hark__pg_exec(s, c, PG_JOB_CHUNK_COUNTS, &p, NULL, what);
out:
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_job_set_chunks(void *ctx, int64_t job, uint32_t total, int final, int64_t now)
{
    static const char what[] = "set job chunks";
    pgs *s = ctx;
    pgconn *c;
    pgp p = { 0 };
    uint64_t n = 0;
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    hark__pgp_int(&p, job);
    hark__pgp_int(&p, total);
    hark__pgp_int(&p, final ? 1 : 0);
    hark__pgp_int(&p, now);
    if ((rc = hark__pg_exec(s, c, PG_JOB_SET_CHUNKS, &p, &n, what)) == 0 && n == 0)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)job);
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_job_chunks(void *ctx, int64_t job, int with_results, hark_store_chunk_fn emit,
                        void *payload)
{
    static const char what[] = "read job chunks";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r = NULL;
    hark_buf result = HARK_BUF_INIT;
    pgp p = { 0 };
    int rc, i, rows;

    if ((rc = hark__pg_begin(s, &c, 0, 1, what)) < 0)
        return rc;
    hark__pgp_int(&p, job);
    if ((rc = job_exists(s, c, job, what)) < 0 ||
        !(r = hark__pg_run(s, c, with_results ? PG_CHUNKS_RESULTS : PG_CHUNKS, &p, &rc, what)))
        goto out;
    rows = PQntuples(r);
    for (i = 0; i < rows && rc == 0; i++) {
        hark_job_chunk ch;
        int64_t state = pg_i64(r, i, 3);
        memset(&ch, 0, sizeof(ch));
        ch.index = (uint32_t)pg_i64(r, i, 0);
        ch.start = pg_i64(r, i, 1);
        ch.n = pg_i64(r, i, 2);
        ch.state = (hark_chunk_state)state;
        ch.attempts = (unsigned)pg_i64(r, i, 4);
        ch.error = pg_str(r, i, 5);
        if ((rc = hark__pg_bytea(r, i, 6, &result)) < 0)
            break;
        ch.result = PQgetisnull(r, i, 6) ? NULL : (result.ptr ? result.ptr : "");
        ch.result_len = ch.result ? result.len : 0;
        ch.asr_ms = pg_f64(r, i, 7);
        if (state < HARK_CHUNK_PENDING || state > HARK_CHUNK_FAILED)
            rc = hark_error_set(HARK_ECORRUPT, "%s: chunk %u of job %lld has state %lld", s->name,
                                ch.index, (long long)job, (long long)state);
        else
            rc = emit(&ch, payload);
    }
out:
    PQclear(r);
    hark_buf_dispose(&result);
    return hark__pg_end(s, c, rc, what);
}

/* ---- LISTEN/NOTIFY --------------------------------------------------------------------------- */

void hark__pg_listener_close(pgs *s)
{
    pthread_mutex_lock(&s->lmu);
    PQfinish(s->listener);
    s->listener = NULL;
    pthread_mutex_unlock(&s->lmu);
}

/* lmu held: open the LISTEN connection. */
static int listen_open(pgs *s)
{
    PGresult *r;
    int rc;
    if ((rc = hark__pg_connect(s, &s->listener, "listen for jobs")) < 0)
        return rc;
    r = PQexec(s->listener, "LISTEN " PG_CHANNEL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        pgconn tmp;
        memset(&tmp, 0, sizeof(tmp));
        tmp.db = s->listener;
        rc = hark__pg_err(s, &tmp, r, "listen for jobs");
        PQfinish(s->listener);
        s->listener = NULL;
    }
    PQclear(r);
    return rc;
}

/* lmu held: consume what arrived; 1 = a notification, 0 = none, < 0 = connection lost. */
static int listen_drain(pgs *s)
{
    PGnotify *n;
    int got = 0;
    if (!PQconsumeInput(s->listener))
        return HARK_EIO;
    while ((n = PQnotifies(s->listener))) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

int hark__pg_job_wait(void *ctx, int cancel_fd, int64_t timeout_ms)
{
    pgs *s = ctx;
    int64_t until = timeout_ms >= 0 ? (int64_t)hark__now_ms() + timeout_ms : -1;
    int rc = 0;

    if (pthread_mutex_trylock(&s->lmu) != 0)
        return hark_error_set(HARK_EBUSY, "%s: another thread waits for jobs on this store",
                              s->name);
    if (!s->listener) {
        /* a new LISTEN connection: what was sent before it is unknown, so report a change */
        rc = listen_open(s);
        pthread_mutex_unlock(&s->lmu);
        return rc < 0 ? rc : 1;
    }
    for (;;) {
        struct pollfd fds[2];
        int64_t left = until < 0 ? -1 : until - (int64_t)hark__now_ms();
        int n;
        if ((rc = listen_drain(s)) != 0)
            break;
        if (until >= 0 && left <= 0)
            break;
        fds[0].fd = PQsocket(s->listener);
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = cancel_fd;
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        n = poll(fds, cancel_fd >= 0 ? 2 : 1, left < 0 ? -1 : (int)HARK_MIN(left, INT32_MAX));
        if (n < 0 && errno != EINTR) {
            rc =
                hark_error_set(HARK_EIO, "%s: listen for jobs: poll: %s", s->name, strerror(errno));
            break;
        }
        if (n > 0 && cancel_fd >= 0 && fds[1].revents) {
            rc = 0;
            break;
        }
    }
    if (rc == HARK_EIO && s->listener && PQstatus(s->listener) == CONNECTION_BAD) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s", PQerrorMessage(s->listener));
        detail[strcspn(detail, "\n")] = '\0';
        PQfinish(s->listener);
        s->listener = NULL;
        if ((rc = listen_open(s)) == 0) {
            hark_warn("%s: job notifications: connection lost (%s); reconnected", s->name, detail);
            rc = 1; /* notifications sent meanwhile were lost: look at the queue */
        } else {
            hark_warn("%s: job notifications: connection lost (%s); reconnecting failed: %s",
                      s->name, detail, hark_error_last());
        }
    } else if (rc == HARK_EIO && s->listener) {
        rc = hark_error_set(HARK_EIO, "%s: listen for jobs: %s", s->name,
                            PQerrorMessage(s->listener));
    }
    pthread_mutex_unlock(&s->lmu);
    return rc;
}

/* ---- users, keys, audit, settings ------------------------------------------------------------ */

int hark__pg_user_create(void *ctx, const char *name, int64_t created_ms, int64_t *id_out)
{
    static const char what[] = "create user";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    hark__pgp_text(&p, name);
    hark__pgp_int(&p, created_ms);
    if ((r = hark__pg_run(s, c, PG_USER_INSERT, &p, &rc, what))) {
        if (PQntuples(r) > 0)
            *id_out = pg_i64(r, 0, 0);
        else
            rc = hark_error_set(HARK_EEXISTS, "store: user \"%s\" exists", name);
        PQclear(r);
    }
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_user_get(void *ctx, int64_t id, const char *name, hark_store_user_fn emit,
                      void *payload)
{
    static const char what[] = "get user";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    if (name)
        hark__pgp_text(&p, name);
    else
        hark__pgp_int(&p, id);
    if ((r = hark__pg_run(s, c, name ? PG_USER_BY_NAME : PG_USER_BY_ID, &p, &rc, what))) {
        if (PQntuples(r) > 0) {
            hark_user u;
            u.version = HARK_USER_VERSION;
            u.id = pg_i64(r, 0, 0);
            u.name = pg_str(r, 0, 1);
            u.created_ms = pg_i64(r, 0, 2);
            rc = emit(&u, payload);
        } else {
            rc = name ? hark_error_set(HARK_ENOTFOUND, "store: no user \"%s\"", name)
                      : hark_error_set(HARK_ENOTFOUND, "store: no user %lld", (long long)id);
        }
        PQclear(r);
    }
    hark__pg_release(s, c);
    return rc;
}

/* Emit the key in row `row` of a KEY_COLS result. */
static int emit_key(const pgs *s, const PGresult *r, int row, hark_buf *digest,
                    hark_store_key_fn emit, void *payload)
{
    hark_api_key k;
    int rc;

    k.version = HARK_API_KEY_VERSION;
    k.id = pg_i64(r, row, 0);
    if ((rc = hark__pg_bytea(r, row, 8, digest)) < 0 || digest->len != 32)
        return hark_error_set(HARK_ECORRUPT, "%s: key %lld has a malformed digest", s->name,
                              (long long)k.id);
    k.user = pg_i64(r, row, 1);
    k.user_name = pg_str(r, row, 2);
    k.name = pg_str(r, row, 3);
    k.prefix = pg_str(r, row, 4);
    k.admin = pg_i64(r, row, 5) != 0;
    k.created_ms = pg_i64(r, row, 6);
    k.revoked_ms = pg_i64(r, row, 7);
    return emit(&k, (const uint8_t *)digest->ptr, payload);
}

int hark__pg_key_create(void *ctx, int64_t user, const char *name, int admin,
                        const uint8_t digest[32], const char *prefix, int64_t created_ms,
                        int64_t *id_out)
{
    static const char what[] = "create key";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int64_t found = 0;
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    if ((rc = query_id(s, c, PG_USER_BY_ID, user, &found, what)) < 0)
        goto out;
    if (rc == 0) {
        rc = hark_error_set(HARK_ENOTFOUND, "store: no user %lld", (long long)user);
        goto out;
    }
    hark__pgp_int(&p, user);
    hark__pgp_text(&p, name);
    hark__pgp_text(&p, prefix);
    hark__pgp_bytes(&p, digest, 32);
    hark__pgp_int(&p, admin ? 1 : 0);
    hark__pgp_int(&p, created_ms);
    rc = 0;
    if ((r = hark__pg_run(s, c, PG_KEY_INSERT, &p, &rc, what))) {
        if (PQntuples(r) > 0)
            *id_out = pg_i64(r, 0, 0);
        else
            rc = hark_error_set(HARK_EEXISTS, "store: a key with this digest exists");
        PQclear(r);
    }
out:
    return hark__pg_end(s, c, rc, what);
}

/* Keys of a read statement, emitted one by one. `none` is returned when there is no row. */
static int read_keys(pgs *s, int id, const pgp *p, hark_store_key_fn emit, void *payload, int none,
                     const char *what)
{
    pgconn *c;
    PGresult *r;
    hark_buf digest = HARK_BUF_INIT;
    int rc, i, rows;

    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    if ((r = hark__pg_run(s, c, id, p, &rc, what))) {
        rows = PQntuples(r);
        if (rows == 0)
            rc = none;
        for (i = 0; i < rows && rc == 0; i++)
            rc = emit_key(s, r, i, &digest, emit, payload);
        PQclear(r);
    }
    hark__pg_release(s, c);
    hark_buf_dispose(&digest);
    return rc;
}

int hark__pg_key_lookup(void *ctx, const uint8_t digest[32], hark_store_key_fn emit, void *payload)
{
    pgp p = { 0 };
    hark__pgp_bytes(&p, digest, 32);
    /* an unknown key is an answer, not an error worth a message */
    return read_keys(ctx, PG_KEY_BY_DIGEST, &p, emit, payload, HARK_ENOTFOUND, "look up key");
}

int hark__pg_key_list(void *ctx, int64_t user, hark_store_key_fn emit, void *payload)
{
    pgp p = { 0 };
    if (user)
        hark__pgp_int(&p, user);
    return read_keys(ctx, user ? PG_KEY_LIST_USER : PG_KEY_LIST, &p, emit, payload, 0, "list keys");
}

int hark__pg_key_revoke(void *ctx, int64_t id, int64_t now)
{
    static const char what[] = "revoke key";
    pgs *s = ctx;
    pgconn *c;
    pgp p = { 0 };
    uint64_t changed = 0;
    int64_t one = 0;
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    hark__pgp_int(&p, id);
    hark__pgp_int(&p, now);
    if ((rc = hark__pg_exec(s, c, PG_KEY_REVOKE, &p, &changed, what)) < 0 || changed > 0)
        goto out;
    /* nothing changed: revoked before (idempotent) or no such key */
    if ((rc = query_id(s, c, PG_KEY_EXISTS, id, &one, what)) == 0)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no key %lld", (long long)id);
    else if (rc > 0)
        rc = 0;
out:
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_key_count_active(void *ctx, uint64_t *out)
{
    static const char what[] = "count keys";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    int rc;
    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    if ((r = hark__pg_run(s, c, PG_KEY_COUNT_ACTIVE, NULL, &rc, what))) {
        *out = (uint64_t)pg_i64(r, 0, 0);
        PQclear(r);
    }
    hark__pg_release(s, c);
    return rc;
}

int hark__pg_audit_add(void *ctx, int64_t ts_ms, int64_t user, int64_t key, const char *action,
                       const char *detail)
{
    static const char what[] = "audit";
    pgs *s = ctx;
    pgconn *c;
    pgp p = { 0 };
    int rc;
    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    hark__pgp_int(&p, ts_ms);
    hark__pgp_int(&p, user);
    hark__pgp_int(&p, key);
    hark__pgp_text(&p, action);
    hark__pgp_text(&p, detail);
    rc = hark__pg_exec(s, c, PG_AUDIT_INSERT, &p, NULL, what);
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_audit_list(void *ctx, int64_t before, size_t limit, hark_store_audit_fn emit,
                        void *payload)
{
    static const char what[] = "read audit log";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int rc, i, rows;

    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    hark__pgp_int(&p, before > 0 ? before : INT64_MAX);
    hark__pgp_int(&p, (int64_t)HARK_MIN(limit, (size_t)INT64_MAX));
    if ((r = hark__pg_run(s, c, PG_AUDIT_LIST, &p, &rc, what))) {
        rows = PQntuples(r);
        for (i = 0; i < rows && rc == 0; i++) {
            hark_audit_entry e;
            e.id = pg_i64(r, i, 0);
            e.ts_ms = pg_i64(r, i, 1);
            e.user = pg_i64(r, i, 2);
            e.key = pg_i64(r, i, 3);
            e.action = pg_str(r, i, 4) ? pg_str(r, i, 4) : "";
            e.detail = pg_str(r, i, 5);
            rc = emit(&e, payload);
        }
        PQclear(r);
    }
    hark__pg_release(s, c);
    return rc;
}

int hark__pg_setting_get(void *ctx, const char *name, hark_buf *out)
{
    static const char what[] = "read setting";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    hark__pgp_text(&p, name);
    if ((r = hark__pg_run(s, c, PG_SETTING_GET, &p, &rc, what))) {
        if (PQntuples(r) > 0)
            rc = hark_buf_puts(out, pg_str(r, 0, 0) ? pg_str(r, 0, 0) : "");
        else
            rc = HARK_ENOTFOUND;
        PQclear(r);
    }
    hark__pg_release(s, c);
    return rc;
}

int hark__pg_setting_set(void *ctx, const char *name, const char *value, int64_t now)
{
    static const char what[] = "write setting";
    pgs *s = ctx;
    pgconn *c;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    hark__pgp_text(&p, name);
    if (value) {
        hark__pgp_text(&p, value);
        hark__pgp_int(&p, now);
    }
    rc = hark__pg_exec(s, c, value ? PG_SETTING_PUT : PG_SETTING_DEL, &p, NULL, what);
    return hark__pg_end(s, c, rc, what);
}
