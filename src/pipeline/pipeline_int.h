/*
 * pipeline_int.h: the pipeline's internal entry points, with hooks for the
 * result cache, the store and the job queue (run.c, runner.c).
 */
#ifndef HARK_PIPELINE_INT_H
#define HARK_PIPELINE_INT_H

#include "hark/pipeline.h"
#include "chunker.h"

/* ---- the canonical configuration (config.c) ----------------------------------------------- */

/* Everything that shapes a run's output besides the audio, resolved once. */
typedef struct hark__config {
    hark_chunker_config chunk; /* chunking, engine defaults applied */
    hark_buf json;             /* canonical JSON of every output-shaping option */
    uint8_t key[32];           /* SHA-256 of engine/model identity + json: cache keys */
} hark__config;

int hark__config_resolve(hark__config *out, hark_engine *engine, const hark_pipeline_options *opts);
void hark__config_dispose(hark__config *c);

/* ---- hooks ------------------------------------------------------------------------------------
 */

/*
 * Optional callbacks. All may be NULL.
 * - lookup: called by a worker before transcribing chunk `index` (at sample
 *   `start`); return 0
 *   with *out set (owned by the pipeline) on a hit, HARK_ENOTFOUND on a miss.
 *   Must be thread-safe.
 * - store: called by a worker after chunk `index` (at sample `start`) was
 *   transcribed (times relative to the chunk). Must be thread-safe. Failures
 *   are logged, not fatal.
 * - failed: called by a worker when chunk `index` [start, start+n) failed
 *   after its retries (rc and message). Must be thread-safe.
 * - cut: called on the feeding thread, in order, when chunk `index`
 *   [start, start + n) has been cut, before it is queued. A negative return
 *   stops the run.
 * - merged: called in chunk order, never concurrently, after chunk `index`
 *   was appended to the output `out` as segments [first, first+count)
 *   (absolute times). A negative return stops the run.
 * - audio: every block fed, in order, on the feeding thread (hashing,
 *   archiving). A negative return stops the run.
 */
typedef struct hark_pipeline_hooks {
    int (*lookup)(void *payload, uint32_t index, int64_t start, const float *pcm, size_t n,
                  hark_transcript **out);
    int (*store)(void *payload, uint32_t index, int64_t start, const float *pcm, size_t n,
                 const hark_transcript *result);
    void (*failed)(void *payload, uint32_t index, int64_t start, size_t n, int rc, const char *msg);
    int (*cut)(void *payload, uint32_t index, int64_t start, size_t n);
    int (*merged)(void *payload, uint32_t index, const hark_transcript *out, size_t first,
                  size_t count);
    int (*audio)(void *payload, const float *pcm, size_t n);
    void *payload;
} hark_pipeline_hooks;

/* hark_pipeline_begin with a configuration resolved by the caller (NULL = resolve it) and hooks
 * (NULL = none). Both are copied. */
int hark__pipeline_begin(hark_pipeline **out, hark_engine *engine,
                         const hark_pipeline_options *opts, const hark__config *cfg,
                         const hark_pipeline_hooks *hooks);

/* Add decoding time to the transcript's timings (the feeding caller measures it). */
void hark__pipeline_add_decode_ms(hark_pipeline *p, double ms);

/* Run the pipeline on a decoder, or on `pcm` (n samples) when dec is NULL: begin, feed every
 * block, finish. `cfg` may be NULL. */
int hark__pipeline_run(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                       const float *pcm, size_t n_pcm, const hark_pipeline_options *opts,
                       const hark__config *cfg, const hark_pipeline_hooks *hooks);

#endif
