/*
 * hark/engine.h: speech engines. An engine pairs a recogniser implementation
 * (PocketSphinx, Whisper, a remote API, the deterministic test engine) with a
 * model. The model is immutable and shared by every worker; it is loaded
 * lazily on first use and released again after an idle timeout. Each worker
 * gets its own mutable state (see hark/sys/engine.h).
 *
 * A hark_engine is thread-safe: the pipeline's workers share one.
 */
#ifndef HARK_ENGINE_H
#define HARK_ENGINE_H

#include "common.h"

HARK_BEGIN_DECL

/**
 * Decoding options. Names follow whisper.cpp's CLI where they mean the same;
 * engines ignore what does not apply to them. Initialise with
 * hark_decode_options_default().
 */
typedef struct hark_decode_options {
    unsigned version;      /**< HARK_DECODE_OPTIONS_VERSION */
    const char *language;  /**< "en", "de", ..., "auto" = detect; NULL = engine default */
    int translate;         /**< translate to English (multilingual Whisper models) */
    int beam_size;         /**< beams for beam search; 1 = greedy. Default 5 */
    int best_of;           /**< candidates when sampling with temperature > 0. Default 5 */
    float temperature;     /**< initial sampling temperature. Default 0 */
    float temperature_inc; /**< fallback increment. Default 0.2 */
    int no_fallback;       /**< never retry a window at a higher temperature */
    int no_timestamps;     /**< decode without timestamp tokens */
    const char *prompt;    /**< initial prompt text, NULL = none */
    int no_context;        /**< do not carry text from one window into the next */
    int max_context;       /**< max tokens of carried text, -1 = model default */
    float entropy_thold;   /**< fallback if the entropy of the last tokens is below. Default 2.4 */
    float logprob_thold;   /**< fallback if the average log probability is below. Default -1.0 */
    float
        no_speech_thold; /**< a window is silence if P(no speech) is above (and logprob low). 0.6 */
    int word_timestamps; /**< compute per-word times (Whisper: from token timestamps). Default 1 */
    int n_threads;       /**< compute threads per worker, 0 = automatic */
    int suppress_nst;    /**< suppress non-speech tokens (whisper.cpp --suppress-nst). Default 0 */
} hark_decode_options;

#define HARK_DECODE_OPTIONS_VERSION 1

/** Fill `opts` with the defaults (whisper-cli's defaults for file transcription). */
HARK_API void hark_decode_options_default(hark_decode_options *opts);

typedef struct hark_engine hark_engine;

/**
 * Options for hark_engine_open; initialise with HARK_ENGINE_OPTIONS_INIT.
 *
 * Versioning: version 1 callers pass the first three fields only, version 2
 * callers up to `retries`; the library reads the fields of the version the
 * caller names and takes the defaults (zero / NULL) for later ones. New
 * fields are only ever appended.
 */
typedef struct hark_engine_options {
    unsigned version;        /**< HARK_ENGINE_OPTIONS_VERSION */
    const char *model;       /**< model path or name, NULL = the engine's default model */
    unsigned idle_unload_ms; /**< unload the model after this long unused, 0 = keep it */
    /* ---- version 2: the "remote" engine (ignored by the others) ---- */
    /** OpenAI-compatible server: "https://host/v1", ".../v1/audio/transcriptions" or
     * whisper.cpp's ".../inference". Copied. */
    const char *url;
    const char *api_key;      /**< sent as "Authorization: Bearer KEY"; NULL = none. Copied. */
    const char *remote_model; /**< the form's "model" field; NULL = "whisper-1". Copied. */
    unsigned timeout_ms;      /**< one request, upload to answer; 0 = 300000 */
    int retries;              /**< extra attempts on 429/5xx/network errors; -1 = default (4) */
    /* ---- version 3 ---- */
    /** remote: open a new connection for every request instead of keeping one per worker
     * (what keep-alive saves is measured against this; bench/bench_remote.c). 0 = keep. */
    int fresh_connections;
} hark_engine_options;

#define HARK_ENGINE_OPTIONS_VERSION 3
#define HARK_ENGINE_OPTIONS_INIT                                                                   \
    {                                                                                              \
        HARK_ENGINE_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL, 0, -1, 0                           \
    }

/**
 * Create an engine by name ("pocketsphinx", "whisper", "test", "remote", or any engine
 * registered with hark_engine_register). NULL picks the default: "whisper"
 * when a Whisper model is installed (or `opts->model` names one), otherwise
 * "pocketsphinx". Nothing is loaded yet ("remote" connects on first use).
 * @param[out] out owned by the caller; free with hark_engine_free.
 * @return 0, HARK_ENOTFOUND (unknown engine), HARK_EINVAL ("remote" without a
 *         valid http(s) url), HARK_EVERSION, HARK_ENOMEM.
 */
HARK_API int hark_engine_open(hark_engine **out, const char *name, const hark_engine_options *opts);

/** Free the engine and its model. All pipelines using it must have finished. NULL is ok. */
HARK_API void hark_engine_free(hark_engine *engine);

/** The engine's registered name (borrowed). */
HARK_API const char *hark_engine_name(const hark_engine *engine);

/**
 * A stable identity of the engine and its model, computed without loading
 * the model (for cache keys): it changes when the model file changes.
 * @param[out] out text appended; caller disposes.
 */
HARK_API int hark_engine_identity(hark_engine *engine, hark_buf *out);

/** A short human description of the model ("base.en (f16, 74M params)"); loads the model. */
HARK_API int hark_engine_describe(hark_engine *engine, hark_buf *out);

/** Load the model now instead of on first use. */
HARK_API int hark_engine_preload(hark_engine *engine);

/** Whether the model is currently loaded (for tests and metrics). */
HARK_API int hark_engine_model_loaded(const hark_engine *engine);

/**
 * Confidence fallback: after `engine` transcribes a chunk, every segment whose
 * confidence is below `below` is transcribed again by `fallback` on the same
 * audio span, and the fallback's segments replace it when their confidence
 * (duration-weighted mean) is higher; a chunk `engine` fails on (after its
 * retries) is transcribed by `fallback` as a whole. Replaced segments name
 * their engine (hark_transcript_segment_engine; the JSON output's
 * per-segment "engine"), and the fallback is part of the run's
 * configuration (cache keys, stored settings). Call before any run.
 * @param fallback taken over: freed with `engine` (also on a later call
 *        that replaces it). NULL removes the fallback.
 * @return 0, HARK_EINVAL (below outside [0, 1], fallback == engine, or a
 *         fallback that has a fallback itself: `fallback` is then not taken).
 */
HARK_API int hark_engine_set_fallback(hark_engine *engine, hark_engine *fallback, float below);

/** Number of engines in the registry; hark_engine_name_at(i) gives their names. */
HARK_API size_t hark_engine_count(void);
HARK_API const char *hark_engine_name_at(size_t i);

HARK_END_DECL

#endif
