/*
 * store_pg_texts.c: the PostgreSQL backend's derived texts of a recording
 * (summary, translation) and the jobs that make them (see texts.c).
 *
 * DESIGN
 * Each operation is one transaction. Adding a job or a text first takes a
 * FOR SHARE lock on the recording's row, so a concurrent delete of the
 * recording either ran before (HARK_ENOTFOUND) or waits until this commits
 * (and then removes the job and text with it). A job added sends NOTIFY
 * hark_jobs like a submit, so idle runners anywhere claim it at once.
 *
 * INVARIANTS
 * - At most one text per (recording, kind): the put is an upsert.
 */
#include <string.h>

#include "store_pg.h"

/* Lock recording `id` against deletion for this transaction; HARK_ENOTFOUND. */
static int lock_rec(pgs *s, pgconn *c, int64_t id, const char *what)
{
    pgp p = { 0 };
    PGresult *r;
    int rc, found;
    hark__pgp_int(&p, id);
    if (!(r = hark__pg_run(s, c, PG_REC_LOCK, &p, &rc, what)))
        return rc;
    found = PQntuples(r) > 0;
    PQclear(r);
    return found ? 0 : hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
}

int hark__pg_job_add(void *ctx, const hark_job *job, int64_t *id_out)
{
    static const char what[] = "add job";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r = NULL;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    if ((rc = lock_rec(s, c, job->recording, what)) < 0)
        goto out;
    hark__pgp_int(&p, job->recording);
    hark__pgp_int(&p, job->owner);
    hark__pgp_text(&p, job->kind);
    hark__pgp_int(&p, (int64_t)job->priority);
    hark__pgp_int(&p, job->max_attempts);
    hark__pgp_text(&p, job->params);
    hark__pgp_int(&p, job->not_before_ms);
    hark__pgp_int(&p, job->not_before_ms > 0 ? job->not_before_ms : job->created_ms);
    hark__pgp_int(&p, job->created_ms);
    if (!(r = hark__pg_run(s, c, PG_JOB_INSERT, &p, &rc, what)))
        goto out;
    *id_out = pg_i64(r, 0, 0);
    rc = hark__pg_exec(s, c, PG_NOTIFY, NULL, NULL, what);
out:
    PQclear(r);
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_text_put(void *ctx, int64_t recording, const char *kind, const char *text,
                      const char *meta, int64_t now)
{
    static const char what[] = "write recording text";
    pgs *s = ctx;
    pgconn *c;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_begin(s, &c, 1, 0, what)) < 0)
        return rc;
    if ((rc = lock_rec(s, c, recording, what)) < 0)
        goto out;
    hark__pgp_int(&p, recording);
    hark__pgp_text(&p, kind);
    if (text) {
        hark__pgp_text(&p, text);
        hark__pgp_text(&p, meta);
        hark__pgp_int(&p, now);
    }
    rc = hark__pg_exec(s, c, text ? PG_TEXT_PUT : PG_TEXT_DEL, &p, NULL, what);
out:
    return hark__pg_end(s, c, rc, what);
}

int hark__pg_text_get(void *ctx, int64_t recording, const char *kind, hark_buf *text,
                      hark_buf *meta, int64_t *updated_ms)
{
    static const char what[] = "read recording text";
    pgs *s = ctx;
    pgconn *c;
    PGresult *r;
    pgp p = { 0 };
    int rc;

    if ((rc = hark__pg_acquire(s, &c, what)) < 0)
        return rc;
    hark__pgp_int(&p, recording);
    hark__pgp_text(&p, kind);
    if ((r = hark__pg_run(s, c, PG_TEXT_GET, &p, &rc, what))) {
        if (PQntuples(r) > 0) {
            rc = hark_buf_puts(text, pg_str(r, 0, 0) ? pg_str(r, 0, 0) : "");
            if (rc == 0 && meta)
                rc = hark_buf_puts(meta, pg_str(r, 0, 1) ? pg_str(r, 0, 1) : "");
            *updated_ms = pg_i64(r, 0, 2);
        } else {
            rc = HARK_ENOTFOUND;
        }
        PQclear(r);
    }
    hark__pg_release(s, c);
    return rc;
}
