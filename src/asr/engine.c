/*
 * engine.c: the engine registry and the model lifecycle.
 *
 * DESIGN
 * The registry is a fixed table of built-in engines plus up to
 * MAX_REGISTERED engines added at run time. A hark_engine holds one ops table
 * and, once loaded, one model. The model is shared read-only by every worker;
 * `users` counts outstanding acquisitions. Loading happens under the engine
 * mutex with `loading` set, so concurrent first users wait for one load
 * instead of loading twice. With an idle timeout, a reaper thread sleeps on
 * a condition variable and frees the model when users == 0 and the last
 * release is older than the timeout.
 *
 * The remote engine needs more than a model name (a URL, a key): the
 * engine keeps those fields of hark_engine_options and hands them to
 * hark__remote_model_load / hark__remote_identity instead of the generic
 * model_load / model_identity (see asr.h). For it, model_name holds the
 * remote model's name.
 *
 * Ops tables of API version 1 end before the stream operations: register
 * copies them into v1_copies (zero-filled, so the stream operations read as
 * NULL) and keeps the copy. States bound to a live stream for a whole
 * utterance are counted in `bound`, at most `bound_cap` at once
 * (hark__engine_bind_try), so open utterances cannot multiply the states.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "asr.h"
#include "../util/util.h"

#define MAX_REGISTERED  16
#define MAX_IDLE_STATES 64

static const hark_engine_ops *const builtin[] = {
    &hark__engine_whisper,
    &hark__engine_pocketsphinx,
    &hark__engine_test,
    &hark__engine_remote,
};

static const hark_engine_ops *registered[MAX_REGISTERED];
static hark_engine_ops v1_copies[MAX_REGISTERED]; /* version-1 tables, widened */
static size_t n_registered;
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;

struct hark_engine {
    const hark_engine_ops *ops;
    char *model_name;        /* as given by the user, NULL = engine default */
    char *url;               /* remote: the server's URL (copied), NULL for the others */
    char *api_key;           /* remote: bearer key (copied), NULL = none */
    unsigned timeout_ms;     /* remote: per request, 0 = default */
    int retries;             /* remote: extra attempts, -1 = default */
    int fresh_connections;   /* remote: a new connection per request */
    hark_engine *fallback;   /* confidence fallback (owned), NULL = none */
    float fallback_below;    /* segments below this confidence go to the fallback */
    unsigned idle_unload_ms; /* 0 = keep the model loaded */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* load finished / users changed / stop */
    void *model;                 /* NULL until loaded */
    int loading;                 /* a thread is loading the model right now */
    int users;                   /* outstanding acquisitions */
    double last_release_ms;      /* monotonic time of the last release */
    unsigned load_count;         /* statistics */
    unsigned states_made;        /* worker states created (tests: bounded by the workers) */
    void *idle[MAX_IDLE_STATES]; /* finished worker states kept for reuse */
    unsigned n_idle;
    unsigned idle_cap;  /* how many to keep: the number of CPUs */
    unsigned bound;     /* states bound to a live utterance (hark__engine_bind_try) */
    unsigned bound_cap; /* at most this many: the number of CPUs, at least 2 */
    int reaper_started;
    int stop;
    pthread_t reaper;
};

size_t hark_engine_count(void)
{
    size_t n;
    pthread_mutex_lock(&registry_mu);
    n = HARK_ARRAY_SIZE(builtin) + n_registered;
    pthread_mutex_unlock(&registry_mu);
    return n;
}

static const hark_engine_ops *ops_at(size_t i)
{
    const hark_engine_ops *ops = NULL;
    pthread_mutex_lock(&registry_mu);
    if (i < HARK_ARRAY_SIZE(builtin))
        ops = builtin[i];
    else if (i - HARK_ARRAY_SIZE(builtin) < n_registered)
        ops = registered[i - HARK_ARRAY_SIZE(builtin)];
    pthread_mutex_unlock(&registry_mu);
    return ops;
}

const char *hark_engine_name_at(size_t i)
{
    const hark_engine_ops *ops = ops_at(i);
    return ops ? ops->name : NULL;
}

static const hark_engine_ops *find_ops(const char *name)
{
    size_t i, n = hark_engine_count();
    for (i = 0; i < n; i++) {
        const hark_engine_ops *ops = ops_at(i);
        if (ops && strcmp(ops->name, name) == 0)
            return ops;
    }
    return NULL;
}

int hark_engine_register(const hark_engine_ops *ops)
{
    int rc = 0;
    int streams;
    HARK_ASSERT_ARG(ops && ops->name && ops->model_load && ops->model_free && ops->state_new &&
                    ops->state_free && ops->transcribe);
    if (ops->version != 1 && ops->version != HARK_ENGINE_API_VERSION)
        return hark_error_set(HARK_EVERSION, "engine '%s' uses API version %u, expected 1 to %u",
                              ops->name, ops->version, HARK_ENGINE_API_VERSION);
    streams = ops->version >= 2 ? !!ops->stream_begin + !!ops->stream_feed + !!ops->stream_partial +
                                      !!ops->stream_end
                                : 0;
    if (streams != 0 && streams != 4)
        return hark_error_set(HARK_EINVAL, "engine '%s': stream operations come all four or none",
                              ops->name);
    if (ops->chunk_min <= 0 || ops->chunk_max < ops->chunk_min)
        return hark_error_set(HARK_EINVAL, "engine '%s': bad chunk range", ops->name);
    if (find_ops(ops->name))
        return hark_error_set(HARK_EEXISTS, "engine '%s' is already registered", ops->name);
    pthread_mutex_lock(&registry_mu);
    if (n_registered == MAX_REGISTERED)
        rc = hark_error_set(HARK_ETOOBIG, "too many engines registered");
    else if (ops->version == 1) { /* the table ends at transcribe: widen a copy */
        hark_engine_ops *c = &v1_copies[n_registered];
        memset(c, 0, sizeof(*c));
        memcpy(c, ops, offsetof(hark_engine_ops, stream_begin));
        registered[n_registered++] = c;
    } else
        registered[n_registered++] = ops;
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

/* The default: Whisper when a Whisper model is installed, PocketSphinx otherwise. */
static const hark_engine_ops *default_ops(const char *model)
{
    hark_buf path = HARK_BUF_INIT;
    const hark_engine_ops *ops = &hark__engine_pocketsphinx;
    if (model && *model)
        return &hark__engine_whisper; /* a model file was named: only Whisper takes files */
    if (hark__engine_whisper.model_default && hark__engine_whisper.model_default(&path) == 0)
        ops = &hark__engine_whisper;
    hark_buf_dispose(&path);
    hark_error_clear();
    return ops;
}

static void *reaper_main(void *arg)
{
    hark_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        struct timespec ts;
        double now = hark__now_ms(), wait_ms;
        if (!e->model || e->users > 0 || e->loading) {
            /* nothing to time: sleep until a release (or a load, or stop) signals, so an idle
             * process never wakes up for this thread */
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        {
            double idle = now - e->last_release_ms;
            if (idle >= e->idle_unload_ms) {
                void *m = e->model;
                e->model = NULL;
                while (e->n_idle)
                    e->ops->state_free(e->idle[--e->n_idle]);
                e->ops->model_free(m);
                hark_debug("engine %s: model unloaded after %.0f ms idle", e->ops->name, idle);
                continue;
            }
            wait_ms = e->idle_unload_ms - idle;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)((wait_ms - (double)(long)(wait_ms / 1000) * 1000) * 1e6);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* Copy `s` into *dst unless it is NULL or empty. */
static int dup_opt(char **dst, const char *s)
{
    if (s && *s && !(*dst = hark__strdup(s)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

int hark_engine_open(hark_engine **out, const char *name, const hark_engine_options *opts_in)
{
    hark_engine *e = NULL;
    const hark_engine_ops *ops;
    hark_engine_options opts = HARK_ENGINE_OPTIONS_INIT;
    const char *model;
    int rc;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    if (opts_in && (opts_in->version < 1 || opts_in->version > HARK_ENGINE_OPTIONS_VERSION))
        return hark_error_set(HARK_EVERSION, "hark_engine_options version %u not supported",
                              opts_in->version);
    if (opts_in) { /* the fields of the caller's version; the defaults for later ones */
        opts.model = opts_in->model;
        opts.idle_unload_ms = opts_in->idle_unload_ms;
    }
    if (opts_in && opts_in->version >= 2) {
        opts.url = opts_in->url;
        opts.api_key = opts_in->api_key;
        opts.remote_model = opts_in->remote_model;
        opts.timeout_ms = opts_in->timeout_ms;
        opts.retries = opts_in->retries;
    }
    if (opts_in && opts_in->version >= 3)
        opts.fresh_connections = opts_in->fresh_connections;
    model = opts.model;
    ops = name && *name ? find_ops(name) : default_ops(model);
    if (!ops)
        return hark_error_set(HARK_ENOTFOUND, "unknown engine '%s'", name);
    if (ops == &hark__engine_remote && (rc = hark__remote_check_url(opts.url)) < 0)
        return rc;
    e = hark__calloc(1, sizeof(*e));
    if (!e)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    e->ops = ops;
    e->idle_unload_ms = opts.idle_unload_ms;
    e->idle_cap = HARK_MIN(hark__cpu_count(), (unsigned)MAX_IDLE_STATES);
    e->bound_cap = HARK_MAX(2u, hark__cpu_count());
    e->retries = -1;
    if (ops == &hark__engine_remote) {
        /* the remote model's name: --remote-model, else -m */
        if (opts.remote_model && *opts.remote_model)
            model = opts.remote_model;
        e->timeout_ms = opts.timeout_ms;
        e->retries = opts.retries;
        e->fresh_connections = opts.fresh_connections;
        if ((rc = dup_opt(&e->url, opts.url)) < 0 ||
            (rc = dup_opt(&e->api_key, opts.api_key)) < 0) {
            hark__free(e->url);
            hark__free(e);
            return rc;
        }
    }
    if ((rc = dup_opt(&e->model_name, model)) < 0) {
        hark__free(e->url);
        hark__free(e->api_key);
        hark__free(e);
        return rc;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (e->idle_unload_ms) {
        if (pthread_create(&e->reaper, NULL, reaper_main, e) != 0) {
            hark_engine_free(e);
            return hark_error_set(HARK_ENOMEM, "cannot start the model reaper thread");
        }
        e->reaper_started = 1;
    }
    *out = e;
    return 0;
}

void hark_engine_free(hark_engine *e)
{
    if (!e)
        return;
    if (e->reaper_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->reaper, NULL);
    }
    while (e->n_idle)
        e->ops->state_free(e->idle[--e->n_idle]);
    if (e->model)
        e->ops->model_free(e->model);
    hark_engine_free(e->fallback);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    hark__free(e->model_name);
    hark__free(e->url);
    if (e->api_key) /* a secret: do not leave it in freed memory */
        memset(e->api_key, 0, strlen(e->api_key));
    hark__free(e->api_key);
    hark__free(e);
}

int hark_engine_set_fallback(hark_engine *e, hark_engine *fallback, float below)
{
    HARK_ASSERT_ARG(e);
    if (fallback == e || (fallback && fallback->fallback))
        return hark_error_set(HARK_EINVAL, "a fallback engine cannot have a fallback itself");
    if (!(below >= 0.0f && below <= 1.0f))
        return hark_error_set(HARK_EINVAL, "the fallback threshold must lie in [0, 1], not %g",
                              (double)below);
    if (e->fallback != fallback)
        hark_engine_free(e->fallback);
    e->fallback = fallback;
    e->fallback_below = below;
    return 0;
}

hark_engine *hark__engine_fallback(const hark_engine *e, float *below)
{
    if (below)
        *below = e->fallback_below;
    return e->fallback;
}

const char *hark_engine_name(const hark_engine *e)
{
    return e ? e->ops->name : NULL;
}

const hark_engine_ops *hark__engine_ops(const hark_engine *e)
{
    return e->ops;
}

const char *hark__engine_model_name(const hark_engine *e)
{
    return e->model_name;
}

static void remote_params(const hark_engine *e, hark__remote_params *rp)
{
    memset(rp, 0, sizeof(*rp));
    rp->url = e->url;
    rp->api_key = e->api_key;
    rp->model = e->model_name;
    rp->timeout_ms = e->timeout_ms;
    rp->retries = e->retries;
    rp->fresh_connections = e->fresh_connections;
}

int hark__engine_acquire(hark_engine *e, const void **model)
{
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    while (e->loading)
        pthread_cond_wait(&e->cv, &e->mu);
    if (!e->model) {
        void *m = NULL;
        e->loading = 1;
        pthread_mutex_unlock(&e->mu);
        if (e->ops == &hark__engine_remote) {
            hark__remote_params rp;
            remote_params(e, &rp);
            rc = hark__remote_model_load(&m, &rp);
        } else {
            rc = e->ops->model_load(&m, e->model_name);
        }
        pthread_mutex_lock(&e->mu);
        e->loading = 0;
        if (rc == 0) {
            e->model = m;
            e->load_count++;
        }
        pthread_cond_broadcast(&e->cv);
    }
    if (rc == 0) {
        e->users++;
        *model = e->model;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void hark__engine_release(hark_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->users--;
    e->last_release_ms = hark__now_ms();
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

int hark__engine_state_take(hark_engine *e, const void *model, void **state)
{
    void *st = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->n_idle)
        st = e->idle[--e->n_idle];
    pthread_mutex_unlock(&e->mu);
    if (st) {
        *state = st;
        return 0;
    }
    pthread_mutex_lock(&e->mu);
    e->states_made++;
    pthread_mutex_unlock(&e->mu);
    return e->ops->state_new(state, model);
}

int hark__engine_streams(const hark_engine *e)
{
    return e->ops->stream_begin != NULL;
}

int hark__engine_bind_try(hark_engine *e)
{
    int ok;
    pthread_mutex_lock(&e->mu);
    ok = e->bound < e->bound_cap;
    if (ok)
        e->bound++;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

unsigned hark__engine_bound(const hark_engine *e)
{
    unsigned n;
    pthread_mutex_lock((pthread_mutex_t *)&e->mu);
    n = e->bound;
    pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
    return n;
}

void hark__engine_bind_done(hark_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->bound--;
    pthread_mutex_unlock(&e->mu);
}

unsigned hark__engine_states_made(const hark_engine *e)
{
    unsigned n;
    pthread_mutex_lock((pthread_mutex_t *)&e->mu);
    n = e->states_made;
    pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
    return n;
}

void hark__engine_state_give(hark_engine *e, void *state)
{
    if (!state)
        return;
    pthread_mutex_lock(&e->mu);
    if (e->n_idle < e->idle_cap) {
        e->idle[e->n_idle++] = state;
        state = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    if (state)
        e->ops->state_free(state);
}

unsigned hark__engine_load_count(const hark_engine *e)
{
    unsigned n;
    pthread_mutex_lock((pthread_mutex_t *)&e->mu);
    n = e->load_count;
    pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
    return n;
}

int hark_engine_model_loaded(const hark_engine *e)
{
    int loaded;
    pthread_mutex_lock((pthread_mutex_t *)&e->mu);
    loaded = e->model != NULL;
    pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
    return loaded;
}

int hark_engine_preload(hark_engine *e)
{
    const void *m;
    int rc;
    HARK_ASSERT_ARG(e);
    if ((rc = hark__engine_acquire(e, &m)) < 0)
        return rc;
    hark__engine_release(e);
    return 0;
}

int hark_engine_identity(hark_engine *e, hark_buf *out)
{
    HARK_ASSERT_ARG(e && out);
    if (hark_buf_printf(out, "%s:", e->ops->name) < 0)
        return HARK_ENOMEM;
    if (e->ops == &hark__engine_remote) {
        hark__remote_params rp;
        remote_params(e, &rp);
        return hark__remote_identity(&rp, out);
    }
    if (e->ops->model_identity)
        return e->ops->model_identity(e->model_name, out);
    return hark_buf_puts(out, e->model_name ? e->model_name : "default");
}

int hark_engine_describe(hark_engine *e, hark_buf *out)
{
    const void *m;
    int rc;
    HARK_ASSERT_ARG(e && out);
    if (!e->ops->model_describe)
        return hark_buf_puts(out, e->model_name ? e->model_name : "default");
    if ((rc = hark__engine_acquire(e, &m)) < 0)
        return rc;
    rc = e->ops->model_describe(m, out);
    hark__engine_release(e);
    return rc;
}

void hark_decode_options_default(hark_decode_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_DECODE_OPTIONS_VERSION;
    o->language = NULL;
    o->beam_size = 5;
    o->best_of = 5;
    o->temperature = 0.0f;
    o->temperature_inc = 0.2f;
    o->max_context = -1;
    o->entropy_thold = 2.4f;
    o->logprob_thold = -1.0f;
    o->no_speech_thold = 0.6f;
    o->word_timestamps = 1;
}
