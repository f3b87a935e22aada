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
#include "jobs.h"

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
typedef struct hark_scheduler hark_scheduler;

/** Pipeline options; initialise with hark_pipeline_options_default(). */
typedef struct hark_pipeline_options {
    unsigned version; /**< HARK_PIPELINE_OPTIONS_VERSION */
    /**
     * The process-wide worker pool to run chunks on (borrowed; see
     * hark/scheduler.h). NULL = a private pool of n_workers workers for this
     * run only (never more workers than the recording can have chunks).
     */
    hark_scheduler *scheduler;
    unsigned n_workers;         /**< workers of the private pool, 0 = number of online CPUs */
    hark_priority priority;     /**< class of this run's chunks. Default HARK_PRIORITY_BULK */
    unsigned queue_depth;       /**< chunks cut but not yet taken by a worker, at most;
                                     0 = 2 per worker. Feeding waits while it is reached */
    unsigned max_retries;       /**< extra attempts per chunk after a failure. Default 3 */
    unsigned retry_base_ms;     /**< first backoff delay; doubles per attempt. Default 100 */
    hark_chunk_options chunk;   /**< chunking */
    hark_decode_options decode; /**< engine decoding options */
    /** Called from the merging thread after each finished chunk; keep it short. May be NULL. */
    void (*progress)(const hark_progress *p, void *payload);
    /** Polled between blocks and chunks; non-zero cancels the run. May be NULL. */
    int (*abort)(void *payload);
    /**
     * Called in chunk order, never concurrently, after each chunk's segments
     * were appended to the transcript: segments [first, first + count) of
     * `t` (absolute times; borrowed for the call). From a worker thread or
     * the thread calling feed/finish; keep it short. A negative return stops
     * the run with that code. May be NULL.
     */
    int (*segments)(const hark_transcript *t, size_t first, size_t count, void *payload);
    void *payload;     /**< passed to progress, abort and segments */
    hark_cache *cache; /**< chunk result cache, NULL = none (borrowed) */
    /**
     * A chunk that still fails after its retries does not stop the others:
     * they are transcribed (and reach the cache), and the run returns the
     * first failure once every chunk has been tried. Default 0: the first
     * failure stops the run.
     */
    int keep_going;
} hark_pipeline_options;

#define HARK_PIPELINE_OPTIONS_VERSION 1

/** Fill `opts` with defaults. */
HARK_API void hark_pipeline_options_default(hark_pipeline_options *opts);

/* ---- push API: the caller feeds samples ------------------------------------------------------ */

typedef struct hark_pipeline hark_pipeline;

/**
 * Start a run that the caller feeds with 16 kHz mono samples, in blocks of
 * any size (a live stream, a decoder the caller drives). `opts` is copied;
 * what it points to (scheduler, cache, callbacks' payload) must outlive the
 * pipeline. @param[out] out free with hark_pipeline_free.
 * @return 0, HARK_EVERSION, HARK_EINVAL (options the engine cannot honour), HARK_ENOMEM.
 */
HARK_API int hark_pipeline_begin(hark_pipeline **out, hark_engine *engine,
                                 const hark_pipeline_options *opts);

/**
 * Feed `n` samples. Chunks are cut as the samples arrive and queued on the
 * scheduler; when `queue_depth` chunks are waiting, this call waits for a
 * worker to take one (backpressure). One thread at a time may feed.
 * @return 0; once the run has stopped (an error, cancellation), that code.
 */
HARK_API int hark_pipeline_feed(hark_pipeline *p, const float *pcm, size_t n);

/**
 * The end of the input: cut the last chunk, wait for every chunk, and hand
 * over the transcript. As hark_transcribe, `*out` is set even on error (the
 * segments merged in order before the first missing chunk). Call once.
 * @param[out] out owned by the caller.
 */
HARK_API int hark_pipeline_finish(hark_pipeline *p, hark_transcript **out);

/**
 * Cancel the run from any thread: chunks not yet started are dropped, running
 * ones are asked to stop; feed and finish then return HARK_ECANCELED.
 */
HARK_API void hark_pipeline_cancel(hark_pipeline *p);

/** Free the pipeline; cancels it first if finish was not called. NULL is ok. */
HARK_API void hark_pipeline_free(hark_pipeline *p);

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
