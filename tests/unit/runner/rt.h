/*
 * rt.h: helpers of the job runner tests (hark/runner.h).
 *
 * Everything is real: a SQLite store file in the test's folder, WAV files
 * written there, a shared scheduler, and the deterministic "test" engine
 * registered once more as "counted", which counts its engine calls per
 * chunk index (so a test can tell a chunk that was transcribed from one
 * that was taken from the job's earlier progress). The runner's events are
 * kept in a log that tests wait on.
 */
#ifndef RT_H
#define RT_H

#include <stdint.h>

#include "harness.h"

#define RT_SEC        HARK_SAMPLE_RATE
#define RT_MAX_CHUNKS 512

/* A runner's world. rt_open fills `o` with working defaults; change it before rt_start. */
typedef struct rt {
    hark_store *store;
    hark_engine *engine;
    hark_scheduler *sched;
    hark_runner *runner;
    hark_runner_options o;
} rt;

/*
 * Open the store harness_path("hark.db"), a "counted" engine with this test
 * engine model spec (NULL = default; "delay=50" makes every chunk take 50 ms)
 * and a scheduler of `workers` workers. Runner options: 1-second chunks cut
 * at fixed intervals, no chunk retries inside an attempt, backoff 50 ms,
 * events into the log.
 */
void rt_open(rt *t, const char *model, unsigned workers);
void rt_start(rt *t);
/* Free the runner (stopping it), the scheduler, the engine and the store. */
void rt_close(rt *t);

/*
 * A WAV file of `seconds` seconds in the test folder: second i is a tone of
 * 200 + 40 i Hz, so every 1-second chunk gets its own text from the test
 * engine. Returns its path (harness_path: copy it if you keep it long).
 */
const char *rt_wav(const char *name, int seconds);

/* Submit a transcribe job for `path` (a new recording with that audio); returns the job id. */
int64_t rt_submit(hark_store *s, const char *path, unsigned max_attempts, int64_t not_before_ms,
                  int64_t *recording);

/* Fetch job `id` (free with hark_job_free); fails the test if it is missing. */
hark_job *rt_job(hark_store *s, int64_t id);
hark_job_state rt_state(hark_store *s, int64_t id);
/* Poll (10 ms) until job `id` is in `state`; fails the test after timeout_ms. */
void rt_wait_state(hark_store *s, int64_t id, hark_job_state state, unsigned timeout_ms);
/* Poll until at least `n` chunks of job `id` are done; fails the test after timeout_ms. */
void rt_wait_chunks(hark_store *s, int64_t id, uint32_t n, unsigned timeout_ms);
/* Poll until `cond(arg)` is true; fails the test after timeout_ms. */
void rt_wait_for(int (*cond)(void *), void *arg, unsigned timeout_ms, const char *what);
int64_t rt_now_ms(void);

/* Engine calls made on chunk `index` in this process since the last reset. */
unsigned rt_calls(uint32_t index);
void rt_calls_reset(void);

/* The transcript of `path` as a plain run of the "test" engine gives it (no store, no cache). */
hark_transcript *rt_reference(const char *path);
/* The stored transcript of `recording` must equal `ref` (times and texts). */
void rt_assert_transcript(hark_store *s, int64_t recording, const hark_transcript *ref);

/* ---- the event log ------------------------------------------------------------------------ */

typedef struct rt_event {
    hark_job_event_kind kind;
    int64_t job, recording;
    uint32_t chunks_done, chunks_total;
    int chunks_final;
    int64_t samples_done, samples_total;
    size_t first, count, n_segments; /* n_segments: of ev->t, when given */
    unsigned attempts;
    int64_t retry_at_ms; /* RETRY */
    int64_t at_ms;       /* when the callback ran (Unix ms) */
    char error[512];
} rt_event;

#define RT_NONE ((size_t)-1)

/* Called by rt_on_event with every event before it is logged (NULL = none): a test acting at an
 * exact point of a job's run. */
extern void (*rt_hook)(const hark_job_event *ev);
/* The runner's event callback (payload unused). */
void rt_on_event(const hark_job_event *ev, void *payload);
/* Events so far. */
size_t rt_n_events(void);
/* A copy of event i. */
rt_event rt_event_at(size_t i);
/* Index of the first event of job `job` (0 = any job) of `kind` at or after `from`, or RT_NONE. */
size_t rt_find(int64_t job, hark_job_event_kind kind, size_t from);
/* Number of events of job `job` of `kind`. */
size_t rt_count(int64_t job, hark_job_event_kind kind);
/* Wait until an event of job `job` of `kind` was delivered; returns its index. */
size_t rt_wait_event(int64_t job, hark_job_event_kind kind, unsigned timeout_ms);
/* Times an event callback ran while another one for the same job was running (must be 0). */
unsigned rt_overlaps(void);

#endif
