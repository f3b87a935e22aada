/*
 * pipeline_int.h: the pipeline's internal entry point with hooks for the
 * result cache and the store (used by the CLI glue and later the server).
 */
#ifndef HARK_PIPELINE_INT_H
#define HARK_PIPELINE_INT_H

#include "hark/pipeline.h"

/* SHA-256 over everything that shapes a chunk's result besides its audio:
 * engine and model identity, the engine's options key and the chunking. */
/* The canonical options JSON that transcripts carry in their "options" meta. */
int hark__pipeline_options_json(hark_engine *engine, const hark_pipeline_options *opts,
                                hark_buf *out);
int hark__pipeline_config_key(hark_engine *engine, const hark_pipeline_options *opts,
                              uint8_t out[32]);

/*
 * Optional callbacks. All may be NULL.
 * - lookup: called by a worker before transcribing chunk `index`; return 0
 *   with *out set (owned by the pipeline) on a hit, HARK_ENOTFOUND on a miss.
 *   Must be thread-safe.
 * - store: called by a worker after a chunk was transcribed (times relative to
 *   the chunk). Must be thread-safe. Failures are logged, not fatal.
 * - merged: called on the producer thread, in chunk order, after chunk
 *   `index` was appended to the output `out` as segments [first, first+count)
 *   (absolute times). A negative return stops the run.
 * - audio: every decoded block, in order, on the producer thread (hashing,
 *   archiving). A negative return stops the run.
 */
typedef struct hark_pipeline_hooks {
    int (*lookup)(void *payload, uint32_t index, const float *pcm, size_t n, hark_transcript **out);
    int (*store)(void *payload, uint32_t index, const float *pcm, size_t n,
                 const hark_transcript *result);
    int (*merged)(void *payload, uint32_t index, const hark_transcript *out, size_t first,
                  size_t count);
    int (*audio)(void *payload, const float *pcm, size_t n);
    void *payload;
} hark_pipeline_hooks;

/* Run the pipeline on a decoder, or on `pcm` (n samples) when dec is NULL. */
int hark__pipeline_run(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                       const float *pcm, size_t n_pcm, const hark_pipeline_options *opts,
                       const hark_pipeline_hooks *hooks);

#endif
