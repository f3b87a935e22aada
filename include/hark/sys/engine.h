/*
 * hark/sys/engine.h: the interface for people writing speech engines.
 *
 * An engine is a table of functions. The library calls them like this:
 *
 *   model_load once (lazily, on first use; again after an idle unload)
 *   for each worker: state_new, then transcribe for each chunk, state_free
 *   model_free when the engine is freed or idle
 *
 * `model` is immutable after model_load and is read by all workers at once,
 * so everything in it must be safe to read concurrently. `state` is used by
 * one thread at a time. Optional operations may be NULL.
 *
 * transcribe() appends segments to `out` with times relative to the start of
 * the chunk (sample 0 = job->pcm[0]); the pipeline shifts them. An engine
 * reports a failure by returning a negative HARK_E* code with a message set
 * through hark_error_set(); HARK_EAGAIN marks a transient failure worth a
 * retry. If it returns HARK_EENGINE the pipeline assumes the state may be
 * damaged and creates a fresh one before the retry.
 *
 * STREAMING (optional, API version 2). An engine that can decode audio as it
 * arrives sets all four stream_* operations; live transcription (hark/live.h)
 * then binds a state to a stream for the length of one utterance:
 *
 *   stream_begin(state, job)       job->pcm/n unused (NULL/0); opts, n_threads,
 *                                  offset, chunk (= utterance number) as for
 *                                  transcribe; abort/payload are NULL
 *   stream_feed(state, pcm, n)     the next n samples of the utterance (any
 *                                  split: the result must not depend on how the
 *                                  audio was cut into feeds)
 *   stream_partial(state, text)    append the hypothesis so far (may be empty)
 *   stream_end(state, out)         the utterance is over: append its final
 *                                  segments to `out`, times relative to the
 *                                  utterance's first sample, as transcribe does
 *                                  for a chunk; out == NULL abandons it
 *
 * The calls for one utterance come from one thread at a time, not always the
 * same one. stream_begin on a state whose utterance is still open abandons
 * it; so does state_free. A state between stream_end and the next
 * stream_begin may be used for transcribe. Errors as for transcribe;
 * HARK_EENGINE means the state must be freed. Engines without these
 * operations are used by re-transcribing the utterance so far.
 *
 * Versions: a table with version 1 ends at `transcribe`; it is still
 * accepted (hark_engine_register copies it; the stream operations read as
 * NULL). New optional members are only ever added at the end.
 */
#ifndef HARK_SYS_ENGINE_H
#define HARK_SYS_ENGINE_H

#include "../common.h"
#include "../engine.h"
#include "../transcript.h"

HARK_BEGIN_DECL

#define HARK_ENGINE_API_VERSION 2

/** Everything an engine needs to transcribe one chunk. */
typedef struct hark_engine_job {
    const float *pcm; /**< 16 kHz mono samples of the chunk */
    size_t n;         /**< number of samples */
    int64_t offset;   /**< position of pcm[0] in the recording, samples (informative) */
    uint32_t chunk;   /**< chunk index in the recording */
    int n_threads;    /**< compute threads the engine may use for this job (>= 1) */
    const hark_decode_options *opts; /**< never NULL */
    int (*abort)(void *payload);     /**< returns non-zero to cancel; may be NULL */
    void *payload;                   /**< passed to abort */
} hark_engine_job;

/** The engine vtable. */
typedef struct hark_engine_ops {
    unsigned version;  /**< HARK_ENGINE_API_VERSION */
    const char *name;  /**< registry name, e.g. "whisper" */
    int64_t chunk_min; /**< preferred shortest chunk, samples */
    int64_t chunk_max; /**< longest chunk the engine accepts well, samples */

    /** Default model when the user names none; write its path or name. Optional. */
    int (*model_default)(hark_buf *out);
    /** Append a stable identity of `model` (path/name, size, mtime...) without loading it. */
    int (*model_identity)(const char *model, hark_buf *out);
    /** Load `model` (NULL = default). @param[out] out the model object. */
    int (*model_load)(void **out, const char *model);
    void (*model_free)(void *model);
    /** Append a short description. Optional. */
    int (*model_describe)(const void *model, hark_buf *out);

    /** Append a canonical text of the options that change this engine's output (cache keys). */
    int (*options_key)(const hark_decode_options *opts, hark_buf *out);

    int (*state_new)(void **out, const void *model);
    void (*state_free)(void *state);
    int (*transcribe)(void *state, const hark_engine_job *job, hark_transcript *out);

    /* ---- version 2: streaming, all four or none (see above) ---- */
    /** Open an utterance on `state`. */
    int (*stream_begin)(void *state, const hark_engine_job *job);
    /** Decode the next `n` samples of the open utterance. */
    int (*stream_feed)(void *state, const float *pcm, size_t n);
    /** Append the current hypothesis of the open utterance to `text`. */
    int (*stream_partial)(void *state, hark_buf *text);
    /** Close the utterance; append its segments to `out` (NULL: abandon it, never fails). */
    int (*stream_end)(void *state, hark_transcript *out);
} hark_engine_ops;

/**
 * Add an engine to the registry. `ops` must stay valid for the life of the
 * process. Versions 1 and 2 are accepted. @return 0, HARK_EEXISTS (name
 * taken), HARK_EVERSION, HARK_EINVAL (missing operation, only some stream_*).
 */
HARK_API int hark_engine_register(const hark_engine_ops *ops);

/**
 * Record an error message for the calling thread (for engines and stores
 * implemented outside the library) and return `code`.
 */
HARK_API int hark_error_set(int code, const char *fmt, ...) HARK_PRINTF(2, 3);

HARK_END_DECL

#endif
