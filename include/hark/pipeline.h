/*
 * hark/pipeline.h: transcribe a recording on all cores.
 *
 *   decoder -> VAD + chunker -> bounded queue -> N workers (engine states)
 *           -> ordered merge -> transcript
 *
 * The chunker cuts the audio at silences into chunks whose length lies in the
 * engine's [min, max] range and skips long silences. Workers transcribe
 * chunks in parallel with per-chunk retries and exponential backoff; results
 * are merged in chunk order, so the same input and options give the same
 * transcript whatever the number of workers.
 */
#ifndef HARK_PIPELINE_H
#define HARK_PIPELINE_H

#include "common.h"
#include "audio.h"
#include "engine.h"
#include "transcript.h"

HARK_BEGIN_DECL

/** How the audio is cut into chunks. Zero fields take the engine's defaults. */
typedef struct hark_chunk_options {
    int64_t min;          /**< shortest chunk in samples, 0 = engine default */
    int64_t max;          /**< longest chunk in samples, 0 = engine default */
    int no_vad;           /**< cut at fixed `max` intervals instead of at silences */
    float vad_threshold;  /**< speech sensitivity in (0, 1), 0 = default (0.5); higher = stricter */
    int64_t skip_silence; /**< silences longer than this are left out, samples; 0 = default (2 s),
                             <0 = never */
} hark_chunk_options;

/** Progress report, passed to the progress callback. */
typedef struct hark_progress {
    int64_t samples_done;  /**< audio covered by finished chunks, samples */
    int64_t samples_total; /**< expected length in samples, 0 = not known yet */
    uint32_t chunks_done;  /**< chunks finished (from the engine or the cache) */
    uint32_t chunks_total; /**< chunks cut so far (final once decoding has ended) */
    int decoding_done;     /**< the whole input has been decoded and cut */
    double elapsed_ms;     /**< since the run started */
} hark_progress;

typedef struct hark_cache hark_cache;

/** Pipeline options; initialise with hark_pipeline_options_default(). */
typedef struct hark_pipeline_options {
    unsigned version;           /**< HARK_PIPELINE_OPTIONS_VERSION */
    unsigned n_workers;         /**< parallel workers, 0 = number of online CPUs */
    unsigned queue_depth;       /**< chunks waiting for a worker, 0 = 2 per worker */
    unsigned max_retries;       /**< extra attempts per chunk after a failure. Default 3 */
    unsigned retry_base_ms;     /**< first backoff delay; doubles per attempt. Default 100 */
    hark_chunk_options chunk;   /**< chunking */
    hark_decode_options decode; /**< engine decoding options */
    /** Called from the merging thread after each finished chunk; keep it short. May be NULL. */
    void (*progress)(const hark_progress *p, void *payload);
    /** Polled between blocks and chunks; non-zero cancels the run. May be NULL. */
    int (*abort)(void *payload);
    void *payload;     /**< passed to progress and abort */
    hark_cache *cache; /**< chunk result cache, NULL = none (borrowed) */
} hark_pipeline_options;

#define HARK_PIPELINE_OPTIONS_VERSION 1

/** Fill `opts` with defaults. */
HARK_API void hark_pipeline_options_default(hark_pipeline_options *opts);

/**
 * Transcribe everything `dec` delivers. On success `*out` holds the whole
 * transcript. On cancellation (HARK_ECANCELED) or a chunk that still fails
 * after its retries, `*out` still holds the segments of every chunk finished
 * in order before the first missing one, so callers can flush partial work.
 * @param[out] out owned by the caller (set even on error, may be empty).
 */
HARK_API int hark_transcribe(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                             const hark_pipeline_options *opts);

/** Open `path` ("-" = stdin) and transcribe it; see hark_transcribe. */
HARK_API int hark_transcribe_file(hark_transcript **out, hark_engine *engine, const char *path,
                                  const hark_pipeline_options *opts);

/** Transcribe samples already in memory (16 kHz mono); see hark_transcribe. */
HARK_API int hark_transcribe_pcm(hark_transcript **out, hark_engine *engine, const float *pcm,
                                 size_t n, const hark_pipeline_options *opts);

HARK_END_DECL

#endif
