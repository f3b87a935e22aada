/*
 * chunker.h: cut a stream of 16 kHz samples into chunks for the engines.
 *
 * Contract (the pipeline and the tests rely on every point):
 * - Samples arrive in blocks of any size through hark__chunker_push(); chunks
 *   come out through the `emit` callback in time order, index 0, 1, 2...
 * - A chunk is a contiguous, unmodified span [start, start + n) of the input
 *   (no gain, no trimming inside it). Boundaries are exact in samples.
 * - Cuts fall in silence found by the VAD, never mid-word in ordinary speech.
 *   A chunk is at most `max` samples; it is at least `min` samples unless it
 *   is the last one, or it ends at a silence longer than `skip_silence`.
 * - Silences longer than `skip_silence` are left out (a little padding of
 *   silence stays on each side of the speech); a chunk without any speech
 *   frame is never emitted, so pure silence gives no chunks at all.
 * - If the whole input is at most `max` samples long and has no silence
 *   longer than `skip_silence`, it comes out as exactly one chunk
 *   [0, n_total): short recordings reach the engine untouched.
 * - With `no_vad`, the input is cut every `max` samples (the last chunk may
 *   be shorter) and nothing is skipped.
 * - Memory is bounded by about `max` samples plus one block, whatever the
 *   length of the stream.
 * - The output depends only on the samples and the configuration, never on
 *   how the input was split into blocks.
 */
#ifndef HARK_PIPELINE_CHUNKER_H
#define HARK_PIPELINE_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

/** One chunk of audio. */
typedef struct hark_chunk {
    uint32_t index; /* 0, 1, 2... in time order */
    int64_t start;  /* position of pcm[0] in the recording, samples */
    size_t n;       /* number of samples */
    float *pcm;     /* the samples (hark__malloc'ed); ownership passes to `emit` */
} hark_chunk;

/** Resolved chunker configuration (no zero "defaults" here: the caller resolves them). */
typedef struct hark_chunker_config {
    int64_t min;          /* samples, > 0 */
    int64_t max;          /* samples, >= min */
    int no_vad;           /* fixed cuts every `max` samples */
    float vad_threshold;  /* in (0, 1): speech sensitivity, 0.5 typical */
    int64_t skip_silence; /* samples; silences longer than this are dropped; < 0 = never */
} hark_chunker_config;

/*
 * Called for every chunk. On success (return 0) the callee owns chunk->pcm
 * and must hark__free it. A negative return (e.g. HARK_ECANCELED) stops the
 * chunker: push/finish return that code, and the chunker frees chunk->pcm.
 */
typedef int (*hark_chunk_fn)(void *payload, hark_chunk *chunk);

typedef struct hark__chunker hark__chunker;

/** Statistics of what the chunker saw so far, in samples. */
typedef struct hark_chunker_stats {
    int64_t total;   /* samples pushed */
    int64_t speech;  /* samples the VAD marked as speech */
    int64_t skipped; /* samples left out as long silence */
    uint32_t chunks; /* chunks emitted */
} hark_chunker_stats;

int hark__chunker_new(hark__chunker **out, const hark_chunker_config *cfg);
int hark__chunker_push(hark__chunker *c, const float *pcm, size_t n, hark_chunk_fn emit,
                       void *payload);
/* Flush the rest at the end of the stream. */
int hark__chunker_finish(hark__chunker *c, hark_chunk_fn emit, void *payload);
void hark__chunker_stats(const hark__chunker *c, hark_chunker_stats *out);
void hark__chunker_free(hark__chunker *c);

#endif
