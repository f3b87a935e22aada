/*
 * asr.h: the engine registry and lifecycle (internal).
 *
 * A hark_engine wraps an ops table with a lazily loaded, reference-counted
 * model. Workers call hark__engine_acquire() to get the model (the first
 * caller loads it; the others wait), and hark__engine_release() when done.
 * When idle_unload_ms > 0, a reaper thread frees the model once it has been
 * unused for that long; the next acquire loads it again.
 */
#ifndef HARK_ASR_H
#define HARK_ASR_H

#include "hark/sys/engine.h"

/* Built-in engines. */
extern const hark_engine_ops hark__engine_pocketsphinx;
extern const hark_engine_ops hark__engine_whisper;
extern const hark_engine_ops hark__engine_test;
extern const hark_engine_ops hark__engine_remote;

/*
 * The remote engine (engine_remote.c) is configured by more than a model
 * name, so the registry loads it through these instead of ops->model_load
 * and ops->model_identity (which take the URL alone as the "model").
 */
typedef struct hark__remote_params {
    const char *url; /* as given: base ".../v1", ".../audio/transcriptions" or ".../inference" */
    const char *api_key;   /* NULL = none */
    const char *model;     /* the form's "model" field, NULL = "whisper-1" */
    unsigned timeout_ms;   /* one request, 0 = default */
    int retries;           /* extra attempts, -1 = default */
    int fresh_connections; /* a new connection per request (no keep-alive) */
} hark__remote_params;

/* HARK_EINVAL with a message unless `url` is an http:// or https:// URL with a host. */
int hark__remote_check_url(const char *url);
/* A header line of an HTTP answer (as libcurl's header callback gets it): if it is a
 * Retry-After, store its wait in *out_ms (clamped to [0, max_ms]) and return 1; else 0. */
int hark__http_retry_after(const char *line, size_t len, long max_ms, long *out_ms);
int hark__remote_model_load(void **out, const hark__remote_params *p);
/* The endpoint and the remote model (never the key): cache keys. */
int hark__remote_identity(const hark__remote_params *p, hark_buf *out);

/* What a remote engine has sent and received so far (benchmarks, tests). */
typedef struct hark__remote_stats {
    uint64_t requests;       /* chunks answered */
    uint64_t attempts;       /* HTTP requests made, retries included */
    uint64_t retries;        /* attempts that were retried (429, 5xx, network, timeout) */
    uint64_t connects;       /* new connections opened (fewer than attempts = reuse) */
    uint64_t bytes_sent;     /* request bytes: headers and bodies */
    uint64_t bytes_received; /* answer bodies */
    uint64_t audio_samples;  /* samples uploaded in answered requests */
} hark__remote_stats;

/* The counters of `e`'s loaded model; zeros when it is not the remote engine or not loaded. */
void hark__remote_stats_get(hark_engine *e, hark__remote_stats *out);

const hark_engine_ops *hark__engine_ops(const hark_engine *e);
/* The model name/path the engine was opened with (NULL = default). */
const char *hark__engine_model_name(const hark_engine *e);

/* The confidence fallback engine and its threshold, or NULL (hark_engine_set_fallback). */
hark_engine *hark__engine_fallback(const hark_engine *e, float *below);

/*
 * Apply `e`'s fallback to one chunk (fallback.c). `job` is the chunk as the
 * primary engine saw it; *t its result (times relative to the chunk), or
 * NULL when the primary failed: then the fallback transcribes the whole
 * chunk. Segments below the threshold are re-transcribed on their span and
 * replaced when the fallback is more confident; replaced segments name the
 * fallback's engine. *t is replaced by the new result. *resent (may be
 * NULL) counts the spans sent to the fallback, *replaced those taken.
 * A fallback failure on a span keeps the primary's segment (logged); on a
 * whole failed chunk it is returned.
 */
int hark__fallback_apply(hark_engine *e, const hark_engine_job *job, hark_transcript **t,
                         unsigned *resent, unsigned *replaced);

/* Get the loaded model, loading it if needed. Pair with hark__engine_release. */
int hark__engine_acquire(hark_engine *e, const void **model);
void hark__engine_release(hark_engine *e);

/*
 * A worker state for `model` (acquired): an idle one kept from an earlier run,
 * or a new one. Give it back when done with it; a state that may be damaged
 * (HARK_EENGINE) must be freed with ops->state_free instead.
 */
int hark__engine_state_take(hark_engine *e, const void *model, void **state);
void hark__engine_state_give(hark_engine *e, void *state);

/* Non-zero when the engine has the stream operations (hark/sys/engine.h). */
int hark__engine_streams(const hark_engine *e);

/*
 * Binding a state to a live utterance for its whole length: a slot, when
 * fewer than the engine's cap (the number of CPUs, at least 2) are held;
 * returns 1 and takes one, or 0. Give it back with hark__engine_bind_done.
 */
int hark__engine_bind_try(hark_engine *e);
void hark__engine_bind_done(hark_engine *e);
/* Slots held now (tests: an idle live stream holds none). */
unsigned hark__engine_bound(const hark_engine *e);

/* Number of times the model has been loaded (tests of lazy load / idle unload). */
unsigned hark__engine_load_count(const hark_engine *e);
/* Number of worker states created so far (tests: states are shared, bounded by the workers). */
unsigned hark__engine_states_made(const hark_engine *e);

/*
 * A PocketSphinx state with extra decoder settings, for comparing them
 * (bench_pocketsphinx -ps): `argv` holds `argc` strings, flag/value pairs as
 * pocketsphinx_continuous takes them ("-fwdflat", "no"), applied over the
 * engine's own settings. The strings must stay valid until the state is
 * freed. HARK_EINVAL for an unknown flag or a bad value.
 */
int hark__pocketsphinx_state_new_args(void **out, const void *model, int argc,
                                      const char *const *argv);

#endif
