/*
 * store.c: the public store API (hark/store.h) on top of the backend vtable
 * (hark/sys/store.h).
 *
 * DESIGN
 * Everything that must be identical on every backend lives here: choosing
 * the backend from the URI, defaults and argument checks, the samples <-> ms
 * conversion, encoding and decoding per-word data (words.c), parsing the
 * search grammar (query.c), and building the results callers own. Backends
 * emit borrowed rows through callbacks; this file copies them into
 * caller-owned objects, so backends never allocate public structures.
 *
 * INVARIANTS
 * - A hark_store is {ops, ctx, uri}; ops and uri never change after open, so
 *   the handle is as thread-safe as its backend (which must be).
 * - Objects handed out (hark_recording, lists, search results, transcripts)
 *   own all their strings; a failed call hands out nothing.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hark/cache.h"
#include "store.h"

#define MAX_REGISTERED        8
#define DEFAULT_PAGE          20
#define MAX_PAGE              1000
#define DEFAULT_READERS       4
#define DEFAULT_BUSY_MS       5000
#define DEFAULT_SNIPPET_WORDS 12
#define MAX_SNIPPET_WORDS     64
#define DEFAULT_MAX_RANKED    2000

struct hark_store {
    const hark_store_ops *ops; /* the backend */
    void *ctx;                 /* the backend's state */
    char *uri;                 /* as opened (after defaults) */
};

const hark_store_ops *hark__store_ops(const hark_store *s, void **ctx)
{
    *ctx = s->ctx;
    return s->ops;
}

static const hark_store_ops *const builtin[] = {
    &hark__store_sqlite_ops,
    &hark__store_pg_ops,
};

static const hark_store_ops *registered[MAX_REGISTERED];
static size_t n_registered;
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;

int64_t hark__store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hark__samples_to_ms(int64_t samples)
{
    const int64_t per_ms = HARK_SAMPLE_RATE / 1000;
    /* floor((samples + per_ms/2) / per_ms), also for negative values */
    int64_t q = samples / per_ms, r = samples % per_ms;
    if (r < 0) {
        q--;
        r += per_ms;
    }
    return q + (r >= per_ms / 2 ? 1 : 0);
}

/* ---- registry and URIs ----------------------------------------------------------------------- */

static int ops_serves(const hark_store_ops *ops, const char *scheme, size_t len)
{
    const char *const *s;
    for (s = ops->schemes; s && *s; s++)
        if (strlen(*s) == len && strncasecmp(*s, scheme, len) == 0)
            return 1;
    return 0;
}

/* The backend serving `scheme`, or NULL. */
static const hark_store_ops *find_scheme(const char *scheme, size_t len)
{
    const hark_store_ops *found = NULL;
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(builtin) && !found; i++)
        if (ops_serves(builtin[i], scheme, len))
            found = builtin[i];
    pthread_mutex_lock(&registry_mu);
    for (i = 0; i < n_registered && !found; i++)
        if (ops_serves(registered[i], scheme, len))
            found = registered[i];
    pthread_mutex_unlock(&registry_mu);
    return found;
}

int hark_store_register(const hark_store_ops *ops)
{
    const char *const *s;
    size_t i;
    int rc = 0;

    HARK_ASSERT_ARG(ops && ops->name && ops->schemes && ops->schemes[0]);
    if (ops->version != HARK_STORE_API_VERSION)
        return hark_error_set(HARK_EVERSION, "store backend %s: API version %u, expected %u",
                              ops->name, ops->version, HARK_STORE_API_VERSION);
    if (!ops->open || !ops->close)
        return hark_error_set(HARK_EINVAL, "store backend %s: open and close are required",
                              ops->name);
    for (s = ops->schemes; *s; s++)
        if (find_scheme(*s, strlen(*s)))
            return hark_error_set(HARK_EEXISTS, "store backend %s: scheme %s is taken", ops->name,
                                  *s);
    pthread_mutex_lock(&registry_mu);
    for (i = 0; i < n_registered; i++)
        if (strcmp(registered[i]->name, ops->name) == 0)
            rc = hark_error_set(HARK_EEXISTS, "store backend %s exists", ops->name);
    if (rc == 0 && n_registered == MAX_REGISTERED)
        rc = hark_error_set(HARK_ETOOBIG, "too many store backends");
    if (rc == 0)
        registered[n_registered++] = ops;
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

/*
 * "scheme:rest" with a registered scheme -> that backend and rest (one "//"
 * dropped: sqlite:///abs -> /abs); an unknown "scheme://" -> unsupported;
 * anything else is a file path for SQLite.
 */
static int resolve(const char *uri, const hark_store_ops **ops, const char **location)
{
    size_t len = strspn(uri, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

    if (len >= 2 && uri[len] == ':') {
        const hark_store_ops *found = find_scheme(uri, len);
        if (found) {
            const char *rest = uri + len + 1;
            if (rest[0] == '/' && rest[1] == '/')
                rest += 2;
            *ops = found;
            *location = rest;
            return 0;
        }
        if (uri[len + 1] == '/' && uri[len + 2] == '/')
            return hark_error_set(HARK_EUNSUPPORTED, "%s: no storage backend for scheme %.*s", uri,
                                  (int)len, uri);
    }
    *ops = &hark__store_sqlite_ops;
    *location = uri;
    return 0;
}

static int xdg_path(hark_buf *out, const char *var, const char *fallback, const char *file)
{
    const char *base = getenv(var), *home = getenv("HOME");
    if (base && base[0] == '/')
        return hark_buf_printf(out, "%s/hark/%s", base, file);
    if (home && home[0])
        return hark_buf_printf(out, "%s/%s/hark/%s", home, fallback, file);
    return hark_error_set(HARK_ENOTFOUND, "cannot find a folder for %s: set %s or HOME", file, var);
}

int hark_store_default_path(hark_buf *out)
{
    HARK_ASSERT_ARG(out);
    return xdg_path(out, "XDG_DATA_HOME", ".local/share", "hark.db");
}

int hark_cache_default_path(hark_buf *out)
{
    HARK_ASSERT_ARG(out);
    return xdg_path(out, "XDG_CACHE_HOME", ".cache", "cache.db");
}

/* ---- open / close ---------------------------------------------------------------------------- */

int hark_store_open_ext(hark_store **out, const char *uri, const hark_store_options *opts)
{
    hark_store_options defaults = HARK_STORE_OPTIONS_INIT;
    hark_store_open_args args;
    hark_buf path = HARK_BUF_INIT;
    hark_store *s = NULL;
    const hark_store_ops *ops = NULL;
    const char *location = NULL;
    int rc;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->version != HARK_STORE_OPTIONS_VERSION) {
        rc = hark_error_set(HARK_EVERSION, "store options: version %u, expected %u", opts->version,
                            HARK_STORE_OPTIONS_VERSION);
        goto out;
    }
    if (!uri) {
        if ((rc = hark_store_default_path(&path)) < 0)
            goto out;
        uri = path.ptr;
    }
    if ((rc = resolve(uri, &ops, &location)) < 0)
        goto out;
    s = hark__calloc(1, sizeof(*s));
    HARK_ALLOC_CHECK(s, rc, out);
    s->ops = ops;
    s->uri = hark__strdup(uri);
    HARK_ALLOC_CHECK(s->uri, rc, out);
    args.location = location;
    args.uri = s->uri;
    args.read_only = opts->read_only;
    args.no_create = opts->no_create;
    args.readers = opts->readers ? opts->readers : DEFAULT_READERS;
    args.busy_timeout_ms = opts->busy_timeout_ms ? opts->busy_timeout_ms : DEFAULT_BUSY_MS;
    if ((rc = ops->open(&s->ctx, &args)) < 0)
        goto out;
    *out = s;
    s = NULL;
out:
    hark_store_free(s);
    hark_buf_dispose(&path);
    return rc;
}

int hark_store_migrate(const char *uri, int *from, int *to)
{
    hark_store_open_args args;
    hark_store *s = NULL;
    const hark_store_ops *ops = NULL;
    const char *location = NULL;
    int rc;

    HARK_ASSERT_ARG(uri);
    if (from)
        *from = -1;
    if (to)
        *to = -1;
    if ((rc = resolve(uri, &ops, &location)) < 0)
        return rc;
    if (!ops->migrate) /* SQLite: opening migrates */
        return (rc = hark_store_open(&s, uri)) < 0 ? rc : (hark_store_free(s), 0);
    memset(&args, 0, sizeof(args));
    args.location = location;
    args.uri = uri;
    args.readers = 1;
    args.busy_timeout_ms = DEFAULT_BUSY_MS;
    return ops->migrate(&args, from, to);
}

int hark_store_open(hark_store **out, const char *uri)
{
    return hark_store_open_ext(out, uri, NULL);
}

void hark_store_free(hark_store *s)
{
    if (!s)
        return;
    if (s->ctx)
        s->ops->close(s->ctx);
    hark__free(s->uri);
    hark__free(s);
}

const char *hark_store_backend(const hark_store *s)
{
    return s ? s->ops->name : NULL;
}

const char *hark_store_uri(const hark_store *s)
{
    return s ? s->uri : NULL;
}

int hark_store_is_read_only(const hark_store *s)
{
    return s && s->ops->is_read_only ? s->ops->is_read_only(s->ctx) : 0;
}

#define NEED_OP(s, op)                                                                             \
    do {                                                                                           \
        if (!(s)->ops->op)                                                                         \
            return hark_error_set(HARK_EUNSUPPORTED, "%s: the %s backend has no %s", (s)->uri,     \
                                  (s)->ops->name, #op);                                            \
    } while (0)

/* ---- recordings ------------------------------------------------------------------------------ */

static const char *const status_names[HARK_STATUS_COUNT] = {
    "pending", "running", "done", "failed", "canceled",
};

const char *hark_recording_status_name(hark_recording_status status)
{
    return (unsigned)status < HARK_STATUS_COUNT ? status_names[status] : "unknown";
}

int hark_recording_status_parse(hark_recording_status *out, const char *name)
{
    unsigned i;
    HARK_ASSERT_ARG(out);
    for (i = 0; name && i < HARK_STATUS_COUNT; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (hark_recording_status)i;
            return 0;
        }
    }
    return hark_error_set(HARK_EINVAL, "unknown recording status \"%s\"", name ? name : "");
}

static void rec_clear(hark_recording *r)
{
    hark__free((char *)r->title);
    hark__free((char *)r->source);
    hark__free((char *)r->content_hash);
    hark__free((char *)r->engine);
    hark__free((char *)r->model);
    hark__free((char *)r->options);
    hark__free((char *)r->language);
    hark__free((char *)r->audio_path);
    memset(r, 0, sizeof(*r));
}

static int dup_field(const char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = hark__strdup(src)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

/* Deep copy into *dst (which owns nothing yet); on failure *dst owns nothing. */
static int rec_copy(hark_recording *dst, const hark_recording *src)
{
    int rc;
    *dst = *src;
    dst->version = HARK_RECORDING_VERSION;
    dst->title = dst->source = dst->content_hash = dst->engine = NULL;
    dst->model = dst->options = dst->language = dst->audio_path = NULL;
    if ((rc = dup_field(&dst->title, src->title)) < 0 ||
        (rc = dup_field(&dst->source, src->source)) < 0 ||
        (rc = dup_field(&dst->content_hash, src->content_hash)) < 0 ||
        (rc = dup_field(&dst->engine, src->engine)) < 0 ||
        (rc = dup_field(&dst->model, src->model)) < 0 ||
        (rc = dup_field(&dst->options, src->options)) < 0 ||
        (rc = dup_field(&dst->language, src->language)) < 0 ||
        (rc = dup_field(&dst->audio_path, src->audio_path)) < 0)
        rec_clear(dst);
    return rc;
}

int hark_recording_dup(hark_recording **out, const hark_recording *src)
{
    hark_recording *r;
    int rc;
    HARK_ASSERT_ARG(out && src);
    *out = NULL;
    if (!(r = hark__calloc(1, sizeof(*r))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = rec_copy(r, src)) < 0) {
        hark__free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void hark_recording_free(hark_recording *rec)
{
    if (!rec)
        return;
    rec_clear(rec);
    hark__free(rec);
}

static int check_rec(const hark_store *s, const hark_recording *rec)
{
    if (rec->version != HARK_RECORDING_VERSION)
        return hark_error_set(HARK_EVERSION, "%s: recording struct version %u, expected %u", s->uri,
                              rec->version, HARK_RECORDING_VERSION);
    if ((unsigned)rec->status >= HARK_STATUS_COUNT)
        return hark_error_set(HARK_EINVAL, "%s: invalid recording status %d", s->uri,
                              (int)rec->status);
    if (rec->duration_ms < 0)
        return hark_error_set(HARK_EINVAL, "%s: negative recording duration", s->uri);
    if (rec->owner < 0)
        return hark_error_set(HARK_EINVAL, "%s: invalid recording owner %lld", s->uri,
                              (long long)rec->owner);
    return 0;
}

int hark__store_check_recording(const hark_store *s, const hark_recording *rec)
{
    return check_rec(s, rec);
}

int hark_store_recording_create(hark_store *s, const hark_recording *rec, int64_t *id_out)
{
    hark_recording r;
    int64_t id = 0;
    int rc;

    HARK_ASSERT_ARG(s && rec);
    NEED_OP(s, recording_create);
    if ((rc = check_rec(s, rec)) < 0)
        return rc;
    r = *rec;
    if (r.created_ms == 0)
        r.created_ms = hark__store_now_ms();
    r.updated_ms = hark__store_now_ms();
    r.n_segments = 0;
    rc = s->ops->recording_create(s->ctx, &r, &id);
    if (id_out)
        *id_out = rc < 0 ? 0 : id;
    return rc;
}

int hark_store_recording_update(hark_store *s, const hark_recording *rec)
{
    hark_recording r;
    int rc;

    HARK_ASSERT_ARG(s && rec);
    NEED_OP(s, recording_update);
    if ((rc = check_rec(s, rec)) < 0)
        return rc;
    r = *rec;
    r.updated_ms = hark__store_now_ms();
    return s->ops->recording_update(s->ctx, &r);
}

int hark_store_recording_set_status(hark_store *s, int64_t id, hark_recording_status status)
{
    HARK_ASSERT_ARG(s);
    NEED_OP(s, recording_set_status);
    if ((unsigned)status >= HARK_STATUS_COUNT)
        return hark_error_set(HARK_EINVAL, "%s: invalid recording status %d", s->uri, (int)status);
    return s->ops->recording_set_status(s->ctx, id, status);
}

/* emit callback: keep one copy (the first) */
static int keep_one(const hark_recording *rec, void *payload)
{
    hark_recording **dst = payload;
    if (*dst)
        return 0;
    return hark_recording_dup(dst, rec);
}

int hark_store_recording_get(hark_store *s, int64_t id, hark_recording **out)
{
    hark_recording *r = NULL;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    NEED_OP(s, recording_get);
    rc = s->ops->recording_get(s->ctx, id, keep_one, &r);
    if (rc == 0 && !r)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
    if (rc < 0) {
        hark_recording_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int hark_store_recording_find(hark_store *s, int64_t owner, const char *content_hash,
                              const char *engine, const char *model, const char *options,
                              hark_recording **out)
{
    hark_recording *r = NULL;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    NEED_OP(s, recording_find);
    if (!content_hash)
        return hark_error_set(HARK_EINVAL, "%s: find recording: no content hash", s->uri);
    if (owner < -1)
        return hark_error_set(HARK_EINVAL, "%s: find recording: invalid owner %lld", s->uri,
                              (long long)owner);
    rc = s->ops->recording_find(s->ctx, owner, content_hash, engine, model, options, keep_one, &r);
    if (rc == 0 && !r)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no matching recording");
    if (rc < 0) {
        hark_recording_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

typedef struct list_ctx {
    hark_recording_list *list;
    size_t cap; /* items allocated */
} list_ctx;

static int list_add(const hark_recording *rec, void *payload)
{
    list_ctx *lc = payload;
    hark_recording_list *l = lc->list;
    int rc;
    if (l->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 16;
        hark_recording *items = hark__reallocarray(l->items, cap, sizeof(*items));
        if (!items)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->items = items;
        lc->cap = cap;
    }
    if ((rc = rec_copy(&l->items[l->n], rec)) < 0)
        return rc;
    l->n++;
    return 0;
}

void hark_recording_list_free(hark_recording_list *list)
{
    size_t i;
    if (!list)
        return;
    for (i = 0; i < list->n; i++)
        rec_clear(&list->items[i]);
    hark__free(list->items);
    hark__free(list);
}

int hark_store_recording_list(hark_store *s, const hark_list_options *opts,
                              hark_recording_list **out)
{
    hark_list_options defaults = HARK_LIST_OPTIONS_INIT, o;
    list_ctx lc = { NULL, 0 };
    size_t limit;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    NEED_OP(s, recording_list);
    if (!opts)
        opts = &defaults;
    if (opts->version != HARK_LIST_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "list options: version %u, expected %u", opts->version,
                              HARK_LIST_OPTIONS_VERSION);
    if (opts->after < 0)
        return hark_error_set(HARK_EINVAL, "list: invalid cursor %lld", (long long)opts->after);
    if (opts->owner < 0)
        return hark_error_set(HARK_EINVAL, "list: invalid owner %lld", (long long)opts->owner);
    if (opts->status < -1 || opts->status >= HARK_STATUS_COUNT)
        return hark_error_set(HARK_EINVAL, "list: invalid status %d", opts->status);
    if (opts->created_from < 0 || opts->created_to < 0)
        return hark_error_set(HARK_EINVAL, "list: negative date");
    limit = opts->limit ? HARK_MIN(opts->limit, (size_t)MAX_PAGE) : DEFAULT_PAGE;
    o = *opts;
    o.limit = limit + 1; /* one extra row tells whether another page follows */
    lc.list = hark__calloc(1, sizeof(*lc.list));
    if (!lc.list)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = s->ops->recording_list(s->ctx, &o, list_add, &lc)) < 0) {
        hark_recording_list_free(lc.list);
        return rc;
    }
    if (lc.list->n > limit) {
        rec_clear(&lc.list->items[--lc.list->n]);
        lc.list->more = 1;
    }
    *out = lc.list;
    return 0;
}

int hark_store_recording_delete(hark_store *s, int64_t id, hark_recording **deleted)
{
    hark_recording *r = NULL;
    int rc;

    HARK_ASSERT_ARG(s);
    if (deleted)
        *deleted = NULL;
    NEED_OP(s, recording_delete);
    rc = s->ops->recording_delete(s->ctx, id, keep_one, &r);
    if (rc == 0 && !r)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
    if (rc < 0 || !deleted)
        hark_recording_free(r);
    else
        *deleted = r;
    return rc;
}

int hark_store_audio_refs(hark_store *s, const char *audio_path, uint64_t *out)
{
    uint64_t n = 0;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = 0;
    NEED_OP(s, audio_refs);
    if (!audio_path || !audio_path[0])
        return hark_error_set(HARK_EINVAL, "%s: audio references: no path", s->uri);
    if ((rc = s->ops->audio_refs(s->ctx, audio_path, &n)) == 0)
        *out = n;
    return rc;
}

/* ---- segments -------------------------------------------------------------------------------- */

int hark_store_segments_put(hark_store *s, int64_t recording, const hark_transcript *t,
                            size_t first, size_t count, int64_t first_seq)
{
    hark_store_row *rows = NULL;
    size_t *offs = NULL, i, n;
    hark_buf words = HARK_BUF_INIT;
    int rc = 0;

    HARK_ASSERT_ARG(s && t);
    NEED_OP(s, segments_put);
    n = hark_transcript_count(t);
    if (first > n || count > n - first) {
        rc = hark_error_set(HARK_EINVAL,
                            "%s: put segments: slice [%zu, +%zu) outside a "
                            "transcript of %zu segments",
                            s->uri, first, count, n);
        goto out;
    }
    if (first_seq < 0 || (uint64_t)first_seq > (uint64_t)INT64_MAX - count) {
        rc = hark_error_set(HARK_EINVAL, "%s: put segments: invalid seq %lld", s->uri,
                            (long long)first_seq);
        goto out;
    }
    if (count) {
        rows = hark__calloc(count, sizeof(*rows));
        offs = hark__calloc(count, sizeof(*offs));
        if (!rows || !offs) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (i = 0; i < count; i++) {
        const hark_segment *seg = hark_transcript_segment(t, first + i);
        hark_store_row *row = &rows[i];
        row->seq = first_seq + (int64_t)i;
        row->start_ms = hark__samples_to_ms(seg->start);
        row->end_ms = hark__samples_to_ms(seg->end);
        row->text = seg->text;
        row->confidence = seg->confidence;
        offs[i] = words.len;
        if ((rc = hark__words_encode(&words, seg->words, seg->n_words, row->start_ms)) < 0)
            goto out;
        row->words_len = words.len - offs[i];
    }
    /* the buffer may have moved while growing: point the rows into it only now */
    for (i = 0; i < count; i++)
        rows[i].words = rows[i].words_len ? words.ptr + offs[i] : NULL;
    rc = s->ops->segments_put(s->ctx, recording, rows, count);
out:
    hark__free(rows);
    hark__free(offs);
    hark_buf_dispose(&words);
    return rc;
}

int hark_store_segments_truncate(hark_store *s, int64_t recording, int64_t from_seq)
{
    HARK_ASSERT_ARG(s);
    NEED_OP(s, segments_truncate);
    if (from_seq < 0)
        return hark_error_set(HARK_EINVAL, "%s: truncate segments: negative seq", s->uri);
    return s->ops->segments_truncate(s->ctx, recording, from_seq);
}

typedef struct tget_ctx {
    hark_transcript *t;
    hark_words_scratch words;
    const char *uri;
} tget_ctx;

static int tget_rec(const hark_recording *rec, void *payload)
{
    tget_ctx *c = payload;
    int rc = 0;
    if (rec->engine && (rc = hark_transcript_set_meta(c->t, "engine", rec->engine)) < 0)
        return rc;
    if (rec->model && (rc = hark_transcript_set_meta(c->t, "model", rec->model)) < 0)
        return rc;
    if (rec->language && (rc = hark_transcript_set_meta(c->t, "language", rec->language)) < 0)
        return rc;
    if (rec->source && (rc = hark_transcript_set_meta(c->t, "source", rec->source)) < 0)
        return rc;
    if (rec->options && (rc = hark_transcript_set_meta(c->t, "options", rec->options)) < 0)
        return rc;
    hark_transcript_set_duration(c->t, rec->duration_ms * (HARK_SAMPLE_RATE / 1000));
    return 0;
}

static int tget_row(const hark_store_row *row, void *payload)
{
    tget_ctx *c = payload;
    const int64_t per_ms = HARK_SAMPLE_RATE / 1000;
    hark_segment seg;
    int rc;

    memset(&seg, 0, sizeof(seg));
    if (row->start_ms < 0 || row->end_ms < row->start_ms || row->start_ms > INT64_MAX / per_ms ||
        row->end_ms > INT64_MAX / per_ms || !row->text)
        return hark_error_set(HARK_ECORRUPT, "%s: segment %lld has invalid times", c->uri,
                              (long long)row->seq);
    if ((rc = hark__words_decode(&c->words, row->words, row->words_len, row->start_ms)) < 0)
        return hark_error_prefix("%s: segment %lld", c->uri, (long long)row->seq);
    seg.start = row->start_ms * per_ms;
    seg.end = row->end_ms * per_ms;
    seg.text = row->text;
    seg.confidence = row->confidence;
    seg.n_words = c->words.n;
    seg.words = c->words.n ? c->words.words : NULL;
    return hark_transcript_add(c->t, &seg);
}

int hark_store_transcript_get(hark_store *s, int64_t recording, hark_transcript **out)
{
    tget_ctx c;
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    NEED_OP(s, transcript_get);
    memset(&c, 0, sizeof(c));
    c.uri = s->uri;
    if ((rc = hark_transcript_new(&c.t)) < 0)
        return rc;
    rc = s->ops->transcript_get(s->ctx, recording, tget_rec, tget_row, &c);
    hark__words_scratch_dispose(&c.words);
    if (rc < 0) {
        hark_transcript_free(c.t);
        return rc;
    }
    *out = c.t;
    return 0;
}

/* ---- search ---------------------------------------------------------------------------------- */

typedef struct search_ctx {
    hark_search_result *res;
    size_t cap;
} search_ctx;

static int hit_add(const hark_search_hit *hit, void *payload)
{
    search_ctx *sc = payload;
    hark_search_result *r = sc->res;
    hark_search_hit *h;
    if (r->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 16;
        hark_search_hit *hits = hark__reallocarray(r->hits, cap, sizeof(*hits));
        if (!hits)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        r->hits = hits;
        sc->cap = cap;
    }
    h = &r->hits[r->n];
    *h = *hit;
    h->title = hark__strdup(hit->title ? hit->title : "");
    h->text = hark__strdup(hit->text ? hit->text : "");
    h->snippet = hark__strdup(hit->snippet ? hit->snippet : "");
    r->n++; /* counted even when a copy failed, so the free below releases the others */
    if (!h->title || !h->text || !h->snippet)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

void hark_search_result_free(hark_search_result *res)
{
    size_t i;
    if (!res)
        return;
    for (i = 0; i < res->n; i++) {
        hark__free((char *)res->hits[i].title);
        hark__free((char *)res->hits[i].text);
        hark__free((char *)res->hits[i].snippet);
    }
    hark__free(res->hits);
    hark__free(res);
}

int hark_store_search(hark_store *s, const char *query, const hark_search_options *opts,
                      hark_search_result **out)
{
    hark_search_options defaults = HARK_SEARCH_OPTIONS_INIT, o;
    hark_query q = { 0, NULL };
    search_ctx sc = { NULL, 0 };
    size_t limit;
    int rc;

    HARK_ASSERT_ARG(s && query && out);
    *out = NULL;
    NEED_OP(s, search);
    if (!opts)
        opts = &defaults;
    if (opts->version != HARK_SEARCH_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "search options: version %u, expected %u",
                              opts->version, HARK_SEARCH_OPTIONS_VERSION);
    if (opts->recording < 0 || opts->created_from < 0 || opts->created_to < 0 || opts->owner < 0)
        return hark_error_set(HARK_EINVAL, "search: negative recording id, owner or date");
    if ((rc = hark__query_parse(&q, query)) < 0)
        return rc;
    o = *opts;
    limit = o.limit ? HARK_MIN(o.limit, (size_t)MAX_PAGE) : DEFAULT_PAGE;
    o.limit = limit + 1; /* one extra hit tells whether another page follows */
    if (!o.hl_open)
        o.hl_open = "[";
    if (!o.hl_close)
        o.hl_close = "]";
    if (!o.ellipsis)
        o.ellipsis = "...";
    if (!o.snippet_words)
        o.snippet_words = DEFAULT_SNIPPET_WORDS;
    if (o.snippet_words > MAX_SNIPPET_WORDS)
        o.snippet_words = MAX_SNIPPET_WORDS;
    if (!o.max_ranked)
        o.max_ranked = DEFAULT_MAX_RANKED;
    sc.res = hark__calloc(1, sizeof(*sc.res));
    HARK_ALLOC_CHECK(sc.res, rc, out);
    if ((rc = s->ops->search(s->ctx, &q, &o, hit_add, &sc, &sc.res->windowed)) < 0)
        goto out;
    if (sc.res->n > limit) {
        hark_search_hit *h = &sc.res->hits[--sc.res->n];
        hark__free((char *)h->title);
        hark__free((char *)h->text);
        hark__free((char *)h->snippet);
        sc.res->more = 1;
    }
    *out = sc.res;
    sc.res = NULL;
out:
    hark_search_result_free(sc.res);
    hark__query_dispose(&q);
    return rc;
}

/* ---- maintenance ----------------------------------------------------------------------------- */

int hark_store_gc(hark_store *s, const hark_gc_options *opts, hark_gc_result *out)
{
    hark_gc_result r;
    int rc;

    HARK_ASSERT_ARG(s && opts);
    NEED_OP(s, gc);
    if (opts->version != HARK_GC_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "gc options: version %u, expected %u", opts->version,
                              HARK_GC_OPTIONS_VERSION);
    if (opts->older_than_ms <= 0)
        return hark_error_set(HARK_EINVAL, "gc: no cut-off time given");
    memset(&r, 0, sizeof(r));
    rc = s->ops->gc(s->ctx, opts, &r);
    if (out)
        *out = r;
    return rc;
}

int hark_store_stats_get(hark_store *s, hark_store_stats *out)
{
    HARK_ASSERT_ARG(s && out);
    memset(out, 0, sizeof(*out));
    NEED_OP(s, stats);
    return s->ops->stats(s->ctx, out);
}

int hark_store_check(hark_store *s)
{
    HARK_ASSERT_ARG(s);
    NEED_OP(s, check);
    return s->ops->check(s->ctx);
}

/* ---- the cache table ------------------------------------------------------------------------- */

int hark__store_cache_get(hark_store *s, const uint8_t key[32], hark_buf *value, hark_buf *group)
{
    NEED_OP(s, cache_get);
    return s->ops->cache_get(s->ctx, key, value, group);
}

int hark__store_cache_put(hark_store *s, const uint8_t key[32], const char *group,
                          const void *value, size_t len)
{
    NEED_OP(s, cache_put);
    return s->ops->cache_put(s->ctx, key, group ? group : "", value, len);
}

int hark__store_cache_del(hark_store *s, const uint8_t key[32])
{
    NEED_OP(s, cache_del);
    return s->ops->cache_del(s->ctx, key);
}

int hark__store_cache_drop(hark_store *s, const char *group, uint64_t *removed)
{
    uint64_t n = 0;
    int rc;
    NEED_OP(s, cache_drop);
    rc = s->ops->cache_drop(s->ctx, group, &n);
    if (removed)
        *removed = n;
    return rc;
}

int hark__store_cache_gc(hark_store *s, int64_t before_ms, uint64_t *removed)
{
    uint64_t n = 0;
    int rc;
    NEED_OP(s, cache_gc);
    rc = s->ops->cache_gc(s->ctx, before_ms, &n);
    if (removed)
        *removed = n;
    return rc;
}

int hark__store_cache_counts(hark_store *s, uint64_t add_hits, uint64_t add_misses,
                             hark_store_cache_counts *out)
{
    NEED_OP(s, cache_counts);
    return s->ops->cache_counts(s->ctx, add_hits, add_misses, out);
}

int hark__store_cache_reset_counts(hark_store *s)
{
    NEED_OP(s, cache_reset_counts);
    return s->ops->cache_reset_counts(s->ctx);
}
