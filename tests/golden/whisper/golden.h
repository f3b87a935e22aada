/*
 * golden.h: helpers for the Whisper golden tests (shared/whisper-golden/):
 * reading the WAV files and raw f32 dumps, loading the models, comparing
 * arrays (max |diff| and relative RMS), reading the greedy JSON.
 */
#ifndef HARK_TEST_WHISPER_GOLDEN_H
#define HARK_TEST_WHISPER_GOLDEN_H

#include <jansson.h>

#include "harness.h"
#include "asr/whisper/whisper.h"

/* s16 mono WAV (any chunk order) -> float samples / 32768 (malloc'ed). */
float *golden_wav(const char *rel, size_t *n);
/* whole raw f32 file (malloc'ed); ASSERTs the element count when expect > 0. */
float *golden_f32(const char *rel, size_t expect);
/* parsed JSON of shared/whisper-golden/<rel> (json_decref it) */
json_t *golden_json(const char *rel);
/* shared/whisper-golden/<name> loaded as a model (ASSERTs) */
hark_whisper_model *golden_model(const char *name);

typedef struct golden_cmp {
    double max_abs; /* max |a - b| */
    double rel_rms; /* sqrt(mean (a-b)^2) / sqrt(mean b^2) */
} golden_cmp;

golden_cmp golden_compare(const float *ours, const float *ref, size_t n);

/* Mel of a golden WAV through the library (ASSERTs). */
void golden_mel(hark_whisper_mel *mel, const hark_whisper_model *m, const char *wav,
                hark_pool *pool);

#endif
