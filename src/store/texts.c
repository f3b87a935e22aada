/*
 * texts.c: texts derived from a recording (its summary, its translation) and
 * the jobs that make them (hark_store_text_put/get, hark_store_job_add in
 * hark/store.h and hark/jobs.h).
 *
 * DESIGN
 * The library checks arguments and takes the clock; the backends
 * (store_sqlite.c, store_pg_texts.c) keep one row per (recording, kind) in
 * the table recording_texts, replaced on each put, deleted with the
 * recording. A job added here is an ordinary job of the durable queue
 * (hark/jobs.h): same leases, retries and dead letters as a transcription.
 *
 * INVARIANTS
 * - A kind is 1..MAX_KIND bytes of [a-z_]; meta is NULL or a JSON object.
 * - On failure nothing is appended to the caller's buffers.
 */
#include <string.h>

#include "hark/jobs.h"
#include "store.h"

#define MAX_KIND 32

static int check_kind(const hark_store *s, const char *kind)
{
    size_t i, n = kind ? strnlen(kind, MAX_KIND + 1) : 0;
    if (n == 0 || n > MAX_KIND)
        return hark_error_set(HARK_EINVAL, "%s: a text kind is 1 to %d bytes", hark_store_uri(s),
                              MAX_KIND);
    for (i = 0; i < n; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || kind[i] == '_'))
            return hark_error_set(HARK_EINVAL, "%s: text kind \"%s\": only a-z and _",
                                  hark_store_uri(s), kind);
    return 0;
}

int hark_store_text_put(hark_store *s, int64_t recording, const char *kind, const char *text,
                        const char *meta)
{
    const hark_store_ops *ops;
    void *ctx;
    int rc;

    HARK_ASSERT_ARG(s);
    HARK_STORE_NEED_OP(s, text_put, ops, ctx);
    if ((rc = check_kind(s, kind)) < 0)
        return rc;
    if (recording <= 0)
        return hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)recording);
    if (meta && !hark__json_valid(meta, strlen(meta), 1))
        return hark_error_set(HARK_EINVAL, "%s: text meta is not a JSON object", hark_store_uri(s));
    return ops->text_put(ctx, recording, kind, text, text ? meta : NULL, hark__store_now_ms());
}

int hark_store_text_get(hark_store *s, int64_t recording, const char *kind, hark_buf *text,
                        hark_buf *meta, int64_t *updated_ms)
{
    const hark_store_ops *ops;
    void *ctx;
    size_t tlen, mlen = 0;
    int64_t when = 0;
    int rc;

    HARK_ASSERT_ARG(s && text);
    HARK_STORE_NEED_OP(s, text_get, ops, ctx);
    if ((rc = check_kind(s, kind)) < 0)
        return rc;
    tlen = text->len;
    if (meta)
        mlen = meta->len;
    rc = ops->text_get(ctx, recording, kind, text, meta, &when);
    if (rc < 0) {
        if (text->len > tlen) {
            text->len = tlen;
            text->ptr[tlen] = '\0';
        }
        if (meta && meta->len > mlen) {
            meta->len = mlen;
            meta->ptr[mlen] = '\0';
        }
        return rc;
    }
    if (updated_ms)
        *updated_ms = when;
    return 0;
}

int hark_store_job_add(hark_store *s, const hark_job *job, int64_t *id_out)
{
    const hark_store_ops *ops;
    void *ctx;
    hark_job j;
    size_t kind_len;
    int64_t now;

    HARK_ASSERT_ARG(s && job && id_out);
    *id_out = 0;
    HARK_STORE_NEED_OP(s, job_add, ops, ctx);
    kind_len = job->kind ? strnlen(job->kind, MAX_KIND + 1) : 0;
    if (job->version != HARK_JOB_VERSION)
        return hark_error_set(HARK_EVERSION, "job: version %u, expected %u", job->version,
                              HARK_JOB_VERSION);
    if (kind_len == 0 || kind_len > MAX_KIND)
        return hark_error_set(HARK_EINVAL, "%s: add job: a job kind is 1 to %d bytes",
                              hark_store_uri(s), MAX_KIND);
    if ((unsigned)job->priority >= HARK_PRIORITY_COUNT || job->max_attempts == 0 ||
        job->max_attempts > 1000 || job->not_before_ms < 0 || job->created_ms < 0)
        return hark_error_set(HARK_EINVAL, "%s: add job: bad priority, attempts or time",
                              hark_store_uri(s));
    if (job->params && !hark__json_valid(job->params, strlen(job->params), 1))
        return hark_error_set(HARK_EINVAL, "%s: add job: params are not a JSON object",
                              hark_store_uri(s));
    if (job->recording <= 0)
        return hark_error_set(HARK_ENOTFOUND, "store: no recording %lld",
                              (long long)job->recording);
    now = hark__store_now_ms();
    j = *job;
    j.id = 0;
    j.state = HARK_JOB_QUEUED;
    j.attempts = 0;
    j.created_ms = j.created_ms ? j.created_ms : now;
    j.updated_ms = now;
    return ops->job_add(ctx, &j, id_out);
}
