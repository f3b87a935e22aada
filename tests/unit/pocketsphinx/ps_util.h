/*
 * ps_util.h: helpers for the PocketSphinx engine tests: a small reader for
 * 16-bit PCM WAV files (the libav decoder is another module), a driver that
 * runs the engine the way the pipeline does (registry -> model -> state ->
 * transcribe), and capture of file descriptor 2.
 */
#ifndef HARK_TEST_PS_UTIL_H
#define HARK_TEST_PS_UTIL_H

#include <stddef.h>

#include "hark/hark.h"
#include "hark/sys/engine.h"

/* A whole audio file decoded by libhark (16 kHz mono floats; free with hark_free). Fails the
 * test if it cannot be read. */
float *ps_read_wav(const char *path, size_t *n);

/* An opened engine with its model acquired. */
typedef struct ps_fixture {
    hark_engine *engine;
    const hark_engine_ops *ops;
    const void *model;
} ps_fixture;

/* Open "pocketsphinx" with `model` (NULL = default) and acquire the model; returns the rc. */
int ps_fixture_open(ps_fixture *f, const char *model);
void ps_fixture_close(ps_fixture *f);

/* Transcribe pcm[0, n) with `state`; `abort_fn` may be NULL. Returns the rc. */
int ps_run(ps_fixture *f, void *state, const float *pcm, size_t n, const char *language,
           int (*abort_fn)(void *), void *payload, hark_transcript **out);

/* All words of a transcript joined by single spaces (malloc'ed). */
char *ps_words(const hark_transcript *t);

/* Fail the test unless the two transcripts are identical (text, times, confidences). */
void ps_assert_same(const hark_transcript *a, const hark_transcript *b);

/* Redirect fd 2 into a temporary file; ps_stderr_end restores it and returns what was written
 * (malloc'ed, "" when nothing). */
void ps_stderr_begin(void);
char *ps_stderr_end(void);

#endif
