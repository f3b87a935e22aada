/*
 * jobs.c: the public job queue API (hark/jobs.h) on top of the backend
 * vtable (hark/sys/store.h).
 *
 * DESIGN
 * As in store.c, everything that must behave the same on every backend is
 * here: argument checks, defaults, the wall clock (`now` is read once per
 * call and handed to the backend, so lease and backoff arithmetic does not
 * depend on the backend's clock), and copying the borrowed rows that
 * backends emit into caller-owned objects. The state machine itself
 * (claim, lease checks, transitions) is the backend's, because it must be
 * atomic: one transaction per call.
 *
 * INVARIANTS
 * - A job handed out owns every string it points to; a failed call hands
 *   out nothing.
 * - Backends receive only checked arguments: a valid priority and state,
 *   max_attempts > 0, a non-empty lease owner, lease_ms > 0, params that are
 *   a JSON object or NULL.
 */
#include <string.h>

#include "store.h"

#define DEFAULT_PAGE    20
#define MAX_PAGE        1000
#define MAX_KIND        64
#define MAX_LEASE_OWNER 256
#define MAX_ERROR       4096

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const priority_names[HARK_PRIORITY_COUNT] = {
    "live",
    "interactive",
    "bulk",
    "maintenance",
};

static const char *const job_state_names[HARK_JOB_STATE_COUNT] = {
    "queued", "running", "done", "dead", "canceled",
};

static const char *const chunk_state_names[] = { "pending", "done", "failed" };

const char *hark_priority_name(hark_priority p)
{
    return (unsigned)p < HARK_PRIORITY_COUNT ? priority_names[p] : "unknown";
}

const char *hark_job_state_name(hark_job_state st)
{
    return (unsigned)st < HARK_JOB_STATE_COUNT ? job_state_names[st] : "unknown";
}

int hark_job_state_parse(hark_job_state *out, const char *name)
{
    unsigned i;
    HARK_ASSERT_ARG(out);
    for (i = 0; name && i < HARK_JOB_STATE_COUNT; i++) {
        if (strcmp(name, job_state_names[i]) == 0) {
            *out = (hark_job_state)i;
            return 0;
        }
    }
    return hark_error_set(HARK_EINVAL, "unknown job state \"%s\"", name ? name : "");
}

const char *hark_chunk_state_name(hark_chunk_state st)
{
    return (unsigned)st < HARK_ARRAY_SIZE(chunk_state_names) ? chunk_state_names[st] : "unknown";
}

/* ---- owned copies --------------------------------------------------------------------------- */

static void job_clear(hark_job *j)
{
    hark__free((char *)j->kind);
    hark__free((char *)j->params);
    hark__free((char *)j->error);
    hark__free((char *)j->lease_owner);
    memset(j, 0, sizeof(*j));
}

static int dup_str(const char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = hark__strdup(src)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

/* Deep copy into *dst (which owns nothing yet); on failure *dst owns nothing. */
static int job_copy(hark_job *dst, const hark_job *src)
{
    int rc;
    *dst = *src;
    dst->version = HARK_JOB_VERSION;
    dst->kind = dst->params = dst->error = dst->lease_owner = NULL;
    if ((rc = dup_str(&dst->kind, src->kind)) < 0 ||
        (rc = dup_str(&dst->params, src->params)) < 0 ||
        (rc = dup_str(&dst->error, src->error)) < 0 ||
        (rc = dup_str(&dst->lease_owner, src->lease_owner)) < 0)
        job_clear(dst);
    return rc;
}

void hark_job_free(hark_job *job)
{
    if (!job)
        return;
    job_clear(job);
    hark__free(job);
}

/* emit callback: keep a copy of the first job */
static int keep_job(const hark_job *job, void *payload)
{
    hark_job **dst = payload;
    hark_job *j;
    int rc;
    if (*dst)
        return 0;
    if (!(j = hark__calloc(1, sizeof(*j))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = job_copy(j, job)) < 0) {
        hark__free(j);
        return rc;
    }
    *dst = j;
    return 0;
}

/* ---- checks --------------------------------------------------------------------------------- */

static int check_lease(const hark_store *s, const char *lease_owner, int64_t lease_ms)
{
    size_t len = strnlen(lease_owner, MAX_LEASE_OWNER + 1);
    if (len == 0 || len > MAX_LEASE_OWNER)
        return hark_error_set(HARK_EINVAL, "%s: a lease owner is 1 to %d bytes", hark_store_uri(s),
                              MAX_LEASE_OWNER);
    if (lease_ms <= 0 || lease_ms > INT64_MAX / 4)
        return hark_error_set(HARK_EINVAL, "%s: invalid lease of %lld ms", hark_store_uri(s),
                              (long long)lease_ms);
    return 0;
}

static int check_job(const hark_store *s, const hark_job *job)
{
    const char *uri = hark_store_uri(s);
    size_t kind_len = job->kind ? strnlen(job->kind, MAX_KIND + 1) : 0;

    if (job->version != HARK_JOB_VERSION)
        return hark_error_set(HARK_EVERSION, "job: version %u, expected %u", job->version,
                              HARK_JOB_VERSION);
    if (kind_len == 0 || kind_len > MAX_KIND)
        return hark_error_set(HARK_EINVAL, "%s: submit job: a job kind is 1 to %d bytes", uri,
                              MAX_KIND);
    if ((unsigned)job->priority >= HARK_PRIORITY_COUNT)
        return hark_error_set(HARK_EINVAL, "%s: submit job: invalid priority %d", uri,
                              (int)job->priority);
    if (job->max_attempts == 0 || job->max_attempts > 1000)
        return hark_error_set(HARK_EINVAL, "%s: submit job: max_attempts must be 1 to 1000", uri);
    if (job->not_before_ms < 0 || job->created_ms < 0)
        return hark_error_set(HARK_EINVAL, "%s: submit job: negative time", uri);
    if (job->params && !hark__json_valid(job->params, strlen(job->params), 1))
        return hark_error_set(HARK_EINVAL, "%s: submit job: params are not a JSON object", uri);
    return 0;
}

/* ---- jobs ----------------------------------------------------------------------------------- */

int hark_store_job_submit(hark_store *s, const hark_recording *rec, const hark_job *job,
                          hark_job_submitted *out)
{
    const hark_store_ops *ops;
    void *ctx;
    hark_recording r;
    hark_job j;
    hark_job_submitted res;
    int64_t now;
    int rc;

    HARK_ASSERT_ARG(s && rec && job && out);
    memset(out, 0, sizeof(*out));
    HARK_STORE_NEED_OP(s, job_submit, ops, ctx);
    if ((rc = hark__store_check_recording(s, rec)) < 0 || (rc = check_job(s, job)) < 0)
        return rc;
    now = hark__store_now_ms();
    r = *rec;
    r.id = 0;
    r.created_ms = r.created_ms ? r.created_ms : now;
    r.updated_ms = now;
    r.n_segments = 0;
    j = *job;
    j.id = 0;
    j.recording = 0;
    j.owner = rec->owner;
    j.state = HARK_JOB_QUEUED;
    j.attempts = 0;
    j.created_ms = j.created_ms ? j.created_ms : now;
    j.updated_ms = now;
    memset(&res, 0, sizeof(res));
    if ((rc = ops->job_submit(ctx, &r, &j, &res)) == 0)
        *out = res;
    return rc;
}

int hark_store_job_get(hark_store *s, int64_t id, hark_job **out)
{
    const hark_store_ops *ops;
    void *ctx;
    hark_job *j = NULL;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    HARK_STORE_NEED_OP(s, job_get, ops, ctx);
    rc = ops->job_get(ctx, id, keep_job, &j);
    if (rc == 0 && !j)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    if (rc < 0) {
        hark_job_free(j);
        return rc;
    }
    *out = j;
    return 0;
}

typedef struct jlist_ctx {
    hark_job_list *list;
    size_t cap;
} jlist_ctx;

static int jlist_add(const hark_job *job, void *payload)
{
    jlist_ctx *lc = payload;
    hark_job_list *l = lc->list;
    int rc;
    if (l->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 16;
        hark_job *items = hark__reallocarray(l->items, cap, sizeof(*items));
        if (!items)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->items = items;
        lc->cap = cap;
    }
    if ((rc = job_copy(&l->items[l->n], job)) < 0)
        return rc;
    l->n++;
    return 0;
}

void hark_job_list_free(hark_job_list *list)
{
    size_t i;
    if (!list)
        return;
    for (i = 0; i < list->n; i++)
        job_clear(&list->items[i]);
    hark__free(list->items);
    hark__free(list);
}

int hark_store_job_list(hark_store *s, const hark_job_list_options *opts, hark_job_list **out)
{
    const hark_store_ops *ops;
    void *ctx;
    hark_job_list_options defaults = HARK_JOB_LIST_OPTIONS_INIT, o;
    jlist_ctx lc = { NULL, 0 };
    size_t limit;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    HARK_STORE_NEED_OP(s, job_list, ops, ctx);
    if (!opts)
        opts = &defaults;
    if (opts->version != HARK_JOB_LIST_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "job list options: version %u, expected %u",
                              opts->version, HARK_JOB_LIST_OPTIONS_VERSION);
    if (opts->after < 0 || opts->owner < 0 || opts->recording < 0)
        return hark_error_set(HARK_EINVAL, "job list: negative cursor, owner or recording");
    if (opts->state < -1 || opts->state >= HARK_JOB_STATE_COUNT)
        return hark_error_set(HARK_EINVAL, "job list: invalid state %d", opts->state);
    limit = opts->limit ? HARK_MIN(opts->limit, (size_t)MAX_PAGE) : DEFAULT_PAGE;
    o = *opts;
    o.limit = limit + 1; /* one extra row tells whether another page follows */
    if (!(lc.list = hark__calloc(1, sizeof(*lc.list))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = ops->job_list(ctx, &o, jlist_add, &lc)) < 0) {
        hark_job_list_free(lc.list);
        return rc;
    }
    if (lc.list->n > limit) {
        job_clear(&lc.list->items[--lc.list->n]);
        lc.list->more = 1;
    }
    *out = lc.list;
    return 0;
}

int hark_store_job_claim(hark_store *s, const char *lease_owner, int64_t lease_ms,
                         hark_priority max_priority, hark_job **out, int64_t *next_ms)
{
    const hark_store_ops *ops;
    void *ctx;
    hark_job *j = NULL;
    int64_t next = 0;
    int rc;

    HARK_ASSERT_ARG(s && lease_owner && out);
    *out = NULL;
    if (next_ms)
        *next_ms = 0;
    HARK_STORE_NEED_OP(s, job_claim, ops, ctx);
    if ((rc = check_lease(s, lease_owner, lease_ms)) < 0)
        return rc;
    if ((unsigned)max_priority >= HARK_PRIORITY_COUNT)
        return hark_error_set(HARK_EINVAL, "%s: claim: invalid priority %d", hark_store_uri(s),
                              (int)max_priority);
    rc = ops->job_claim(ctx, lease_owner, lease_ms, max_priority, hark__store_now_ms(), keep_job,
                        &j, &next);
    if (rc == 0 && !j)
        rc = hark_error_set(HARK_EBACKEND, "%s: claim: the backend claimed nothing",
                            hark_store_uri(s));
    if (rc < 0) {
        hark_job_free(j);
        if (rc == HARK_ENOTFOUND && next_ms)
            *next_ms = next;
        return rc;
    }
    *out = j;
    return 0;
}

int hark_store_job_wait(hark_store *s, int cancel_fd, int64_t timeout_ms)
{
    const hark_store_ops *ops;
    void *ctx;

    HARK_ASSERT_ARG(s);
    HARK_STORE_NEED_OP(s, job_wait, ops, ctx);
    return ops->job_wait(ctx, cancel_fd, timeout_ms < 0 ? -1 : timeout_ms);
}

int hark_store_job_heartbeat(hark_store *s, const char *lease_owner, int64_t lease_ms, unsigned *n)
{
    const hark_store_ops *ops;
    void *ctx;
    unsigned count = 0;
    int rc;

    HARK_ASSERT_ARG(s && lease_owner);
    if (n)
        *n = 0;
    HARK_STORE_NEED_OP(s, job_heartbeat, ops, ctx);
    if ((rc = check_lease(s, lease_owner, lease_ms)) < 0)
        return rc;
    rc = ops->job_heartbeat(ctx, lease_owner, lease_ms, hark__store_now_ms(), &count);
    if (rc == 0 && n)
        *n = count;
    return rc;
}

int hark_store_job_end(hark_store *s, int64_t id, const char *lease_owner, hark_job_state state,
                       int release, int64_t not_before_ms, const char *error)
{
    const hark_store_ops *ops;
    void *ctx;
    const char *uri;
    int rc;

    HARK_ASSERT_ARG(s && lease_owner);
    HARK_STORE_NEED_OP(s, job_end, ops, ctx);
    uri = hark_store_uri(s);
    if ((rc = check_lease(s, lease_owner, 1)) < 0)
        return rc;
    if (state != HARK_JOB_DONE && state != HARK_JOB_QUEUED && state != HARK_JOB_DEAD &&
        state != HARK_JOB_CANCELED)
        return hark_error_set(HARK_EINVAL, "%s: end job %lld: a job cannot end as %s", uri,
                              (long long)id, hark_job_state_name(state));
    if (release && state != HARK_JOB_QUEUED)
        return hark_error_set(HARK_EINVAL, "%s: end job %lld: only a requeue can be a release", uri,
                              (long long)id);
    if (not_before_ms < 0)
        return hark_error_set(HARK_EINVAL, "%s: end job %lld: negative time", uri, (long long)id);
    if (error && strnlen(error, MAX_ERROR + 1) > MAX_ERROR)
        return hark_error_set(HARK_ETOOBIG, "%s: end job %lld: error message over %d bytes", uri,
                              (long long)id, MAX_ERROR);
    return ops->job_end(ctx, id, lease_owner, state, release, not_before_ms, error,
                        hark__store_now_ms());
}

int hark_store_job_cancel(hark_store *s, int64_t id)
{
    const hark_store_ops *ops;
    void *ctx;
    HARK_ASSERT_ARG(s);
    HARK_STORE_NEED_OP(s, job_cancel, ops, ctx);
    return ops->job_cancel(ctx, id, hark__store_now_ms());
}

int hark_store_job_retry(hark_store *s, int64_t id)
{
    const hark_store_ops *ops;
    void *ctx;
    HARK_ASSERT_ARG(s);
    HARK_STORE_NEED_OP(s, job_retry, ops, ctx);
    return ops->job_retry(ctx, id, hark__store_now_ms());
}

int hark_store_job_counts(hark_store *s, hark_job_counts *out)
{
    const hark_store_ops *ops;
    void *ctx;
    int rc;
    HARK_ASSERT_ARG(s && out);
    memset(out, 0, sizeof(*out));
    HARK_STORE_NEED_OP(s, job_counts, ops, ctx);
    if ((rc = ops->job_counts(ctx, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- chunks --------------------------------------------------------------------------------- */

int hark_store_job_chunk_put(hark_store *s, int64_t job, const hark_job_chunk *c)
{
    const hark_store_ops *ops;
    void *ctx;
    const char *uri;

    HARK_ASSERT_ARG(s && c);
    HARK_STORE_NEED_OP(s, job_chunk_put, ops, ctx);
    uri = hark_store_uri(s);
    if ((unsigned)c->state > HARK_CHUNK_FAILED)
        return hark_error_set(HARK_EINVAL, "%s: chunk %u of job %lld: invalid state %d", uri,
                              c->index, (long long)job, (int)c->state);
    if (c->start < 0 || c->n < 0 || c->asr_ms < 0 || c->index > INT32_MAX)
        return hark_error_set(HARK_EINVAL, "%s: chunk %u of job %lld: negative or huge value", uri,
                              c->index, (long long)job);
    if (c->result_len && !c->result)
        return hark_error_set(HARK_EINVAL, "%s: chunk %u of job %lld: result length without bytes",
                              uri, c->index, (long long)job);
    if (c->result_len > (size_t)INT32_MAX)
        return hark_error_set(HARK_ETOOBIG, "%s: chunk %u of job %lld: result of %zu bytes", uri,
                              c->index, (long long)job, c->result_len);
    if (c->error && strnlen(c->error, MAX_ERROR + 1) > MAX_ERROR)
        return hark_error_set(HARK_ETOOBIG, "%s: chunk %u of job %lld: error over %d bytes", uri,
                              c->index, (long long)job, MAX_ERROR);
    return ops->job_chunk_put(ctx, job, c, hark__store_now_ms());
}

int hark_store_job_set_chunks(hark_store *s, int64_t job, uint32_t total, int final)
{
    const hark_store_ops *ops;
    void *ctx;
    HARK_ASSERT_ARG(s);
    HARK_STORE_NEED_OP(s, job_set_chunks, ops, ctx);
    if (total > INT32_MAX)
        return hark_error_set(HARK_EINVAL, "%s: job %lld: %u chunks", hark_store_uri(s),
                              (long long)job, total);
    return ops->job_set_chunks(ctx, job, total, final != 0, hark__store_now_ms());
}

typedef struct chunks_ctx {
    hark_job_chunk_list *list;
    size_t cap;
} chunks_ctx;

static void chunk_clear(hark_job_chunk *c)
{
    hark__free((char *)c->error);
    hark__free((void *)c->result);
    memset(c, 0, sizeof(*c));
}

static int chunk_add(const hark_job_chunk *c, void *payload)
{
    chunks_ctx *cc = payload;
    hark_job_chunk_list *l = cc->list;
    hark_job_chunk *d;
    if (l->n == cc->cap) {
        size_t cap = cc->cap ? cc->cap * 2 : 16;
        hark_job_chunk *items = hark__reallocarray(l->items, cap, sizeof(*items));
        if (!items)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->items = items;
        cc->cap = cap;
    }
    d = &l->items[l->n];
    *d = *c;
    d->error = NULL;
    d->result = NULL;
    d->result_len = 0;
    l->n++; /* counted before copying, so that the list's free releases a partial copy */
    if (c->error && !(d->error = hark__strdup(c->error)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if (c->result && c->result_len) {
        void *bytes = hark__malloc(c->result_len);
        if (!bytes)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        memcpy(bytes, c->result, c->result_len);
        d->result = bytes;
        d->result_len = c->result_len;
    }
    return 0;
}

void hark_job_chunk_list_free(hark_job_chunk_list *list)
{
    size_t i;
    if (!list)
        return;
    for (i = 0; i < list->n; i++)
        chunk_clear(&list->items[i]);
    hark__free(list->items);
    hark__free(list);
}

int hark_store_job_chunks(hark_store *s, int64_t job, int with_results, hark_job_chunk_list **out)
{
    const hark_store_ops *ops;
    void *ctx;
    chunks_ctx cc = { NULL, 0 };
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    HARK_STORE_NEED_OP(s, job_chunks, ops, ctx);
    if (!(cc.list = hark__calloc(1, sizeof(*cc.list))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = ops->job_chunks(ctx, job, with_results, chunk_add, &cc)) < 0) {
        hark_job_chunk_list_free(cc.list);
        return rc;
    }
    *out = cc.list;
    return 0;
}
