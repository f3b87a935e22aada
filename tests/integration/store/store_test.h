/*
 * store_test.h: helpers of the store conformance suite.
 *
 * The suite talks to the store through the public API only (hark/store.h,
 * hark/cache.h): the URI is its only input. By default every test gets a
 * fresh SQLite file in its own temporary folder. ctest runs the same binary
 * a second time with HARK_TEST_STORE=postgresql (test_integration_store_on_pg):
 * the harness then starts a PostgreSQL server for the binary and every test
 * gets a fresh database of its own on it (HARK_TEST_PG_DSN names an existing
 * server instead).
 */
#ifndef STORE_TEST_H
#define STORE_TEST_H

#include "harness.h"

/* The URI of a fresh, empty store for this test (the same string on every call in a test). */
const char *st_uri(void);
/* Open st_uri() (or SKIP when the backend is not available). */
hark_store *st_open(void);
/* Open the store at st_uri() again (a second handle / after reopening). */
hark_store *st_reopen(void);

/*
 * A transcript of `n` segments; segment i spans [i*2 s, i*2 s + 1.5 s) and
 * says `text_fmt` formatted with i (e.g. "segment %d says hello"), with one
 * word per space-separated token and confidence 0.5 + i % 50 / 100.
 */
hark_transcript *st_transcript(int n, const char *text_fmt);
/* A transcript with one segment per string in `texts` (NULL-terminated), 2 s apart. */
hark_transcript *st_texts(const char *const *texts);
/* Create a recording with this title and creation time (0 = now); returns its id. */
int64_t st_recording(hark_store *s, const char *title, int64_t created_ms);
/* Create a recording with segments from `texts`; returns its id. */
int64_t st_recording_texts(hark_store *s, const char *title, const char *const *texts);
/* Number of hits of `query` (all pages, no filters). Fails the test on an error. */
size_t st_hits(hark_store *s, const char *query);
/* Milliseconds since the epoch now. */
int64_t st_now_ms(void);
/* Sleep this many ms. */
void st_sleep_ms(int64_t ms);
/*
 * Submit a job (kind "transcribe", 4 attempts) for a new recording of audio
 * `hash` (NULL = none) of `owner` at `prio`; returns the job id and, if
 * `rec` is not NULL, the recording id. Fails the test on an error.
 */
int64_t st_job(hark_store *s, const char *hash, int64_t owner, hark_priority prio, int64_t *rec);
/* The job's current state (fails the test if it does not exist). */
hark_job_state st_job_state(hark_store *s, int64_t id);

#endif
