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

const hark_engine_ops *hark__engine_ops(const hark_engine *e);
/* The model name/path the engine was opened with (NULL = default). */
const char *hark__engine_model_name(const hark_engine *e);

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
