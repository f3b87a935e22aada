/*
 * runner.c: the job runner (hark/runner.h) against a real SQLite store,
 * real WAV files and the deterministic test engine: a job runs to done with
 * its transcript stored and its events in order; jobs share the scheduler
 * (a short job submitted after a long one finishes first) up to max_jobs at
 * once; failing attempts are retried after backoff_ms x 4^n, only their
 * failed chunks again, then dead-lettered; permanent errors (missing or
 * undecodable audio) go dead at once; cancel, through the runner or in the
 * store, also one that lands after the run ended; pause and resume; an idle
 * runner uses no CPU.
 *
 * Waits poll the store or the event log with generous timeouts; the only
 * fixed sleeps are windows in which something must NOT happen.
 */
#define _DEFAULT_SOURCE
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rt.h"

static char *copy(const char *s)
{
    char *c = strdup(s);
    ASSERT(c);
    return c;
}

static hark_recording *recording(hark_store *s, int64_t id)
{
    hark_recording *r = NULL;
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    return r;
}

static hark_recording_status rec_status(hark_store *s, int64_t id)
{
    hark_recording *r = recording(s, id);
    hark_recording_status st = r->status;
    hark_recording_free(r);
    return st;
}

static int runner_idle(void *arg)
{
    rt *t = arg;
    hark_runner_stats st;
    hark_runner_stats_get(t->runner, &st);
    return st.running == 0;
}

/* Events are delivered before the job's thread counts it as finished: wait for that. */
static void wait_idle(rt *t)
{
    rt_wait_for(runner_idle, t, 30000, "the runner to have no running job");
}

TEST(a_submitted_job_runs_to_done_with_its_transcript_and_events_in_order)
{
    char *wav = copy(rt_wav("five.wav", 5));
    hark_transcript *ref = rt_reference(wav);
    hark_runner_stats st;
    hark_recording *r;
    hark_job *j;
    rt t;
    int64_t rec, id;
    size_t i, n, next_first = 0, progress = 0;
    uint32_t last_done = 0;
    char host[128], prefix[200];

    ASSERT_EQ(hark_transcript_count(ref), 5);
    rt_open(&t, NULL, 2);
    rt_start(&t);
    /* the default lease name is "<host>:<pid>:<nonce>" */
    ASSERT_EQ(gethostname(host, sizeof(host)), 0);
    snprintf(prefix, sizeof(prefix), "%s:%ld:", host, (long)getpid());
    ASSERT(strncmp(hark_runner_name(t.runner), prefix, strlen(prefix)) == 0);
    ASSERT(strlen(hark_runner_name(t.runner)) > strlen(prefix));

    id = rt_submit(t.store, wav, 4, 0, &rec);
    hark_runner_wake(t.runner);
    rt_wait_event(id, HARK_JOB_EVENT_DONE, 30000);

    /* the queue */
    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT_EQ(j->attempts, 1);
    ASSERT_EQ(j->chunks_total, 5);
    ASSERT_EQ(j->chunks_done, 5);
    ASSERT_EQ(j->chunks_failed, 0);
    ASSERT_EQ(j->chunks_final, 1);
    ASSERT(j->error == NULL);
    ASSERT(j->lease_owner == NULL);
    ASSERT(j->started_ms > 0 && j->finished_ms >= j->started_ms);
    hark_job_free(j);

    /* the recording: done, with the same transcript as a plain run */
    r = recording(t.store, rec);
    ASSERT_EQ(r->status, HARK_STATUS_DONE);
    ASSERT_EQ(r->n_segments, 5);
    ASSERT_STREQ(r->audio_path, wav);
    ASSERT_EQ(r->duration_ms, 5000);
    hark_recording_free(r);
    rt_assert_transcript(t.store, rec, ref);
    for (i = 0; i < 5; i++)
        ASSERT_EQ(rt_calls((uint32_t)i), 1);

    /* events: STARTED, then PROGRESS and SEGMENTS in chunk order, then DONE */
    n = rt_n_events();
    ASSERT(n >= 2 + 5 + 1);
    {
        rt_event e = rt_event_at(0);
        ASSERT_EQ(e.kind, HARK_JOB_EVENT_STARTED);
        ASSERT_EQ(e.job, id);
        ASSERT_EQ(e.recording, rec);
        ASSERT_EQ(e.attempts, 1);
        e = rt_event_at(n - 1);
        ASSERT_EQ(e.kind, HARK_JOB_EVENT_DONE);
        ASSERT_EQ(e.job, id);
        ASSERT_EQ(e.n_segments, 5);
        ASSERT_EQ(e.attempts, 1);
    }
    for (i = 1; i + 1 < n; i++) {
        rt_event e = rt_event_at(i);
        ASSERT_EQ(e.job, id);
        if (e.kind == HARK_JOB_EVENT_SEGMENTS) {
            ASSERT_EQ(e.first, next_first); /* no gap, no repeat */
            ASSERT(e.count > 0);
            ASSERT_EQ(e.n_segments, e.first + e.count);
            next_first += e.count;
        } else {
            ASSERT_MSG(e.kind == HARK_JOB_EVENT_PROGRESS, "unexpected %s event in the middle",
                       hark_job_event_name(e.kind));
            ASSERT(e.chunks_done >= last_done);
            ASSERT(e.chunks_done <= e.chunks_total);
            ASSERT(e.samples_done <= 5 * RT_SEC);
            last_done = e.chunks_done;
            progress++;
        }
    }
    ASSERT_EQ(next_first, 5);
    ASSERT_EQ(last_done, 5);
    ASSERT(progress >= 5);
    {
        /* the last progress event says all of it is done */
        size_t k = n - 2;
        while (rt_event_at(k).kind != HARK_JOB_EVENT_PROGRESS)
            k--;
        ASSERT_EQ(rt_event_at(k).chunks_final, 1);
        ASSERT_EQ(rt_event_at(k).chunks_total, 5);
        ASSERT_EQ(rt_event_at(k).samples_done, 5 * RT_SEC);
    }
    ASSERT_EQ(rt_overlaps(), 0);

    wait_idle(&t);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.claimed, 1);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.retried + st.dead + st.canceled + st.released, 0);
    ASSERT_EQ(st.running, 0);
    ASSERT_EQ(st.max_jobs, 4); /* 0 = 2 x the scheduler's 2 workers */
    ASSERT_EQ(hark_runner_stop(t.runner, 1000), 0);
    rt_close(&t);
    hark_transcript_free(ref);
    free(wav);
}

TEST(chunks_answered_from_the_cache_count_as_done_in_the_job)
{
    /* the first three seconds of the longer file are the shorter file's, chunk for chunk: they
     * come from the chunk cache, and the job's counters and chunk rows must show them done */
    char *three = copy(rt_wav("three.wav", 3)), *five = copy(rt_wav("five.wav", 5));
    hark_store *l2 = NULL;
    hark_cache *cache = NULL;
    hark_job *j;
    rt t;
    int64_t rec, id;
    uint32_t i;

    rt_open(&t, NULL, 2);
    ASSERT_OK(hark_store_open(&l2, harness_path("cache.db")));
    ASSERT_OK(hark_cache_new(&cache, l2, 1u << 20));
    t.o.cache = cache;
    rt_start(&t);
    id = rt_submit(t.store, three, 4, 0, &rec);
    hark_runner_wake(t.runner);
    rt_wait_state(t.store, id, HARK_JOB_DONE, 30000);
    rt_calls_reset();
    id = rt_submit(t.store, five, 4, 0, &rec);
    hark_runner_wake(t.runner);
    rt_wait_state(t.store, id, HARK_JOB_DONE, 30000);
    for (i = 0; i < 5; i++) /* only the two new seconds reached the engine */
        ASSERT_EQ(rt_calls(i), i < 3 ? 0u : 1u);
    j = rt_job(t.store, id);
    ASSERT_EQ(j->chunks_total, 5);
    ASSERT_EQ(j->chunks_done, 5);
    ASSERT_EQ(j->chunks_final, 1);
    hark_job_free(j);
    ASSERT_EQ(hark_runner_stop(t.runner, 1000), 0);
    rt_close(&t);
    hark_cache_free(cache);
    hark_store_free(l2);
    free(three);
    free(five);
}

/* Most jobs seen running at once in the event log. */
static unsigned max_concurrency(void)
{
    size_t i, n = rt_n_events();
    unsigned running = 0, most = 0;
    for (i = 0; i < n; i++) {
        rt_event e = rt_event_at(i);
        if (e.kind == HARK_JOB_EVENT_STARTED)
            running++;
        else if (e.kind == HARK_JOB_EVENT_DONE || e.kind == HARK_JOB_EVENT_RETRY ||
                 e.kind == HARK_JOB_EVENT_DEAD || e.kind == HARK_JOB_EVENT_CANCELED ||
                 e.kind == HARK_JOB_EVENT_RELEASED)
            running--;
        most = running > most ? running : most;
    }
    return most;
}

TEST(jobs_share_the_scheduler_and_a_short_job_after_a_long_one_finishes_first)
{
    char *lwav = copy(rt_wav("long.wav", 40));
    char *swav = copy(rt_wav("short.wav", 2));
    hark_runner_stats st;
    rt t;
    int64_t L, S, S2, S3;

    /* one worker: the long job alone would keep it busy for 40 x 40 ms */
    rt_open(&t, "delay=40", 1);
    t.o.max_jobs = 2;
    rt_start(&t);
    L = rt_submit(t.store, lwav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_chunks(t.store, L, 2, 30000);
    S = rt_submit(t.store, swav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(S, HARK_JOB_EVENT_DONE, 30000);
    ASSERT_EQ(rt_state(t.store, S), HARK_JOB_DONE);
    ASSERT_EQ(rt_state(t.store, L), HARK_JOB_RUNNING); /* the long one is still going */
    ASSERT(rt_find(L, HARK_JOB_EVENT_DONE, 0) == RT_NONE);
    ASSERT(rt_find(S, HARK_JOB_EVENT_STARTED, 0) > rt_find(L, HARK_JOB_EVENT_STARTED, 0));

    /* two more short jobs while the long one runs: only one of them runs beside it */
    S2 = rt_submit(t.store, swav, 4, 0, NULL);
    S3 = rt_submit(t.store, swav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    hark_runner_wake(t.runner);
    rt_wait_event(S3, HARK_JOB_EVENT_DONE, 30000);
    rt_wait_event(S2, HARK_JOB_EVENT_DONE, 30000);
    rt_wait_event(L, HARK_JOB_EVENT_DONE, 60000);
    ASSERT_EQ(max_concurrency(), 2);
    ASSERT(rt_find(S2, HARK_JOB_EVENT_DONE, 0) < rt_find(L, HARK_JOB_EVENT_DONE, 0));
    ASSERT(rt_find(S3, HARK_JOB_EVENT_DONE, 0) < rt_find(L, HARK_JOB_EVENT_DONE, 0));
    ASSERT_EQ(rt_overlaps(), 0);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.max_jobs, 2);
    ASSERT_EQ(st.claimed, 4);
    ASSERT_EQ(st.done, 4);
    rt_close(&t);
    free(lwav);
    free(swav);
}

TEST(a_failed_attempt_is_retried_after_backoff_and_only_its_failed_chunk_runs_again)
{
    char *wav = copy(rt_wav("four.wav", 4));
    hark_transcript *ref = rt_reference(wav);
    hark_runner_stats st;
    hark_job *j;
    rt t;
    int64_t id, rec;
    size_t at[4], k;

    /* chunk 1 fails its first two engine attempts; no retries inside an attempt */
    rt_open(&t, "fail=1:2", 1);
    t.o.backoff_ms = 150;
    rt_start(&t);
    id = rt_submit(t.store, wav, 4, 0, &rec);
    hark_runner_wake(t.runner);
    rt_wait_event(id, HARK_JOB_EVENT_DONE, 30000);

    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT_EQ(j->attempts, 3);
    ASSERT_EQ(j->chunks_done, 4);
    ASSERT_EQ(j->chunks_failed, 0);
    ASSERT(j->error == NULL);
    hark_job_free(j);
    rt_assert_transcript(t.store, rec, ref);
    ASSERT_EQ(rec_status(t.store, rec), HARK_STATUS_DONE);

    /* the chunks that were done were not transcribed again */
    ASSERT_EQ(rt_calls(0), 1);
    ASSERT_EQ(rt_calls(1), 3);
    ASSERT_EQ(rt_calls(2), 1);
    ASSERT_EQ(rt_calls(3), 1);

    /* STARTED, RETRY, STARTED, RETRY, STARTED, DONE: backoff 150 ms, then 600 ms */
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_STARTED), 3);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_RETRY), 2);
    at[0] = rt_find(id, HARK_JOB_EVENT_STARTED, 0);
    for (k = 1; k <= 2; k++) {
        size_t ri = rt_find(id, HARK_JOB_EVENT_RETRY, at[k - 1]);
        rt_event started = rt_event_at(at[k - 1]), retry;
        int64_t delay = 150 << (2 * (k - 1));
        ASSERT(ri != RT_NONE);
        retry = rt_event_at(ri);
        at[k] = rt_find(id, HARK_JOB_EVENT_STARTED, ri);
        ASSERT(at[k] != RT_NONE);
        ASSERT_EQ(started.attempts, k);
        ASSERT_EQ(retry.attempts, k);
        ASSERT_CONTAINS(retry.error, "injected failure (chunk 1");
        /* retry_at = the failure's time + delay: after the attempt started, before the event */
        ASSERT_LE(started.at_ms + delay, retry.retry_at_ms);
        ASSERT_LE(retry.retry_at_ms, retry.at_ms + delay);
        /* and the job was not claimed again before it */
        ASSERT_LE(retry.retry_at_ms, rt_event_at(at[k]).at_ms);
    }
    ASSERT_EQ(rt_event_at(at[2]).attempts, 3);
    ASSERT(rt_find(id, HARK_JOB_EVENT_DONE, at[2]) != RT_NONE);

    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.claimed, 3);
    ASSERT_EQ(st.retried, 2);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.dead, 0);
    rt_close(&t);
    hark_transcript_free(ref);
    free(wav);
}

TEST(a_job_that_keeps_failing_is_dead_after_max_attempts_with_the_error)
{
    char *wav = copy(rt_wav("three.wav", 3));
    hark_job_chunk_list *chunks = NULL;
    hark_runner_stats st;
    hark_job *j;
    rt t;
    int64_t id, rec;
    size_t dead;

    rt_open(&t, "fail=0:1000", 1);
    t.o.backoff_ms = 20;
    rt_start(&t);
    id = rt_submit(t.store, wav, 3, 0, &rec);
    hark_runner_wake(t.runner);
    dead = rt_wait_event(id, HARK_JOB_EVENT_DEAD, 30000);

    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    ASSERT_EQ(j->attempts, 3);
    ASSERT_CONTAINS(j->error, "injected failure (chunk 0");
    ASSERT(j->finished_ms > 0);
    ASSERT(j->lease_owner == NULL);
    ASSERT_EQ(j->chunks_done, 2);
    ASSERT_EQ(j->chunks_failed, 1);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_chunks(t.store, id, 0, &chunks));
    ASSERT_EQ(chunks->n, 3);
    ASSERT_EQ(chunks->items[0].state, HARK_CHUNK_FAILED);
    ASSERT_CONTAINS(chunks->items[0].error, "injected failure");
    ASSERT_EQ(chunks->items[1].state, HARK_CHUNK_DONE);
    ASSERT_EQ(chunks->items[2].state, HARK_CHUNK_DONE);
    hark_job_chunk_list_free(chunks);
    ASSERT_EQ(rec_status(t.store, rec), HARK_STATUS_FAILED);

    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_STARTED), 3);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_RETRY), 2);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_DEAD), 1);
    ASSERT_EQ(rt_event_at(dead).attempts, 3);
    ASSERT_CONTAINS(rt_event_at(dead).error, "injected failure (chunk 0");
    ASSERT_EQ(rt_calls(0), 3);
    ASSERT_EQ(rt_calls(1), 1);
    ASSERT_EQ(rt_calls(2), 1);
    wait_idle(&t);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.dead, 1);
    ASSERT_EQ(st.retried, 2);
    ASSERT_EQ(st.done, 0);
    ASSERT_EQ(st.running, 0);
    rt_close(&t);
    free(wav);
}

TEST(missing_or_undecodable_audio_is_dead_at_once_without_retries)
{
    char *missing = copy(harness_path("gone.wav"));
    char *junk = copy(harness_path("junk.wav"));
    char bytes[4096];
    uint64_t rng = 7;
    hark_runner_stats st;
    hark_job *j;
    rt t;
    int64_t a, b;
    size_t i;

    for (i = 0; i < sizeof(bytes); i++)
        bytes[i] = (char)(harness_rand(&rng) & 0xff);
    ASSERT_EQ(harness_write_file(junk, bytes, sizeof(bytes)), 0);
    rt_open(&t, NULL, 1);
    rt_start(&t);
    a = rt_submit(t.store, missing, 4, 0, NULL);
    b = rt_submit(t.store, junk, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(a, HARK_JOB_EVENT_DEAD, 30000);
    rt_wait_event(b, HARK_JOB_EVENT_DEAD, 30000);

    j = rt_job(t.store, a);
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    ASSERT_EQ(j->attempts, 1);
    ASSERT_CONTAINS(j->error, "gone.wav");
    ASSERT_CONTAINS(j->error, "no such file");
    hark_job_free(j);
    j = rt_job(t.store, b);
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    ASSERT_EQ(j->attempts, 1);
    ASSERT_CONTAINS(j->error, "junk.wav");
    hark_job_free(j);
    ASSERT_EQ(rt_count(0, HARK_JOB_EVENT_RETRY), 0);
    ASSERT_EQ(rt_calls(0), 0);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.dead, 2);
    ASSERT_EQ(st.retried, 0);
    rt_close(&t);
    free(missing);
    free(junk);
}

TEST(cancel_stops_a_running_job_and_the_runner_goes_on_with_the_next)
{
    char *lwav = copy(rt_wav("long.wav", 40));
    char *swav = copy(rt_wav("short.wav", 2));
    hark_runner_stats st;
    hark_job *j;
    rt t;
    int64_t L, S, lrec;
    uint32_t done_at_cancel;

    rt_open(&t, "delay=50", 1);
    t.o.max_jobs = 1;
    rt_start(&t);
    L = rt_submit(t.store, lwav, 4, 0, &lrec);
    hark_runner_wake(t.runner);
    rt_wait_chunks(t.store, L, 2, 30000);
    S = rt_submit(t.store, swav, 4, 0, NULL); /* waits: the one slot is taken */
    hark_runner_wake(t.runner);
    ASSERT_OK(hark_runner_cancel(t.runner, L));
    rt_wait_event(L, HARK_JOB_EVENT_CANCELED, 30000);
    j = rt_job(t.store, L);
    ASSERT_EQ(j->state, HARK_JOB_CANCELED);
    ASSERT(j->chunks_done < 40);
    ASSERT(j->finished_ms > 0);
    done_at_cancel = j->chunks_done;
    hark_job_free(j);
    ASSERT_EQ(rec_status(t.store, lrec), HARK_STATUS_CANCELED);

    rt_wait_event(S, HARK_JOB_EVENT_DONE, 30000);
    ASSERT(rt_find(S, HARK_JOB_EVENT_STARTED, 0) > rt_find(L, HARK_JOB_EVENT_CANCELED, 0));
    j = rt_job(t.store, L);
    ASSERT_EQ(j->chunks_done, done_at_cancel); /* nothing more ran */
    hark_job_free(j);
    ASSERT_EQ(rt_count(L, HARK_JOB_EVENT_DONE), 0);

    /* finished and unknown jobs */
    ASSERT_ERR(hark_runner_cancel(t.runner, S), HARK_EINVAL);
    ASSERT_ERR(hark_runner_cancel(t.runner, L), HARK_EINVAL);
    ASSERT_ERR(hark_runner_cancel(t.runner, 999), HARK_ENOTFOUND);
    wait_idle(&t);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.canceled, 1);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.running, 0);
    rt_close(&t);
    free(lwav);
    free(swav);
}

TEST(a_job_canceled_in_the_store_is_stopped_through_the_heartbeat)
{
    char *lwav = copy(rt_wav("long.wav", 40));
    char *swav = copy(rt_wav("short.wav", 2));
    hark_store *other = NULL;
    hark_runner_stats st;
    hark_job *j;
    rt t;
    int64_t L, S;

    rt_open(&t, "delay=50", 1);
    t.o.max_jobs = 1;
    t.o.lease_ms = 900; /* heartbeats every 300 ms */
    rt_start(&t);
    L = rt_submit(t.store, lwav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_chunks(t.store, L, 2, 30000);
    /* another process (the CLI, another server) cancels it: only the store knows */
    ASSERT_OK(hark_store_open(&other, harness_path("hark.db")));
    ASSERT_OK(hark_store_job_cancel(other, L));
    hark_store_free(other);
    rt_wait_event(L, HARK_JOB_EVENT_CANCELED, 30000);
    wait_idle(&t);
    j = rt_job(t.store, L);
    ASSERT_EQ(j->state, HARK_JOB_CANCELED);
    ASSERT(j->chunks_done < 40);
    hark_job_free(j);
    ASSERT_EQ(rt_count(L, HARK_JOB_EVENT_DONE), 0);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.canceled, 1);

    S = rt_submit(t.store, swav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(S, HARK_JOB_EVENT_DONE, 30000);
    wait_idle(&t);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.canceled, 1);
    rt_close(&t);
    free(lwav);
    free(swav);
}

TEST(a_paused_runner_claims_nothing_until_resumed_and_running_jobs_go_on)
{
    char *wav = copy(rt_wav("two.wav", 2));
    char *lwav = copy(rt_wav("long.wav", 10));
    hark_runner_stats st;
    rt t;
    int64_t A, B, C, D;

    rt_open(&t, "delay=30", 1);
    t.o.paused = 1;
    rt_start(&t);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.paused, 1);
    A = rt_submit(t.store, wav, 4, 0, NULL);
    B = rt_submit(t.store, wav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    usleep(300 * 1000); /* a window in which nothing may be claimed */
    ASSERT_EQ(rt_state(t.store, A), HARK_JOB_QUEUED);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.claimed, 0);
    /* a queued job is canceled without running */
    ASSERT_OK(hark_runner_cancel(t.runner, B));
    ASSERT_EQ(rt_state(t.store, B), HARK_JOB_CANCELED);

    hark_runner_pause(t.runner, 0);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.paused, 0);
    rt_wait_event(A, HARK_JOB_EVENT_DONE, 30000);
    ASSERT_EQ(rt_count(B, HARK_JOB_EVENT_STARTED), 0);
    ASSERT_EQ(rt_state(t.store, B), HARK_JOB_CANCELED);

    /* pausing while a job runs lets it finish, but claims nothing new */
    C = rt_submit(t.store, lwav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(C, HARK_JOB_EVENT_STARTED, 30000);
    hark_runner_pause(t.runner, 1);
    D = rt_submit(t.store, wav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(C, HARK_JOB_EVENT_DONE, 30000);
    usleep(300 * 1000);
    ASSERT_EQ(rt_state(t.store, D), HARK_JOB_QUEUED);
    ASSERT_EQ(rt_count(D, HARK_JOB_EVENT_STARTED), 0);
    hark_runner_pause(t.runner, 0);
    rt_wait_event(D, HARK_JOB_EVENT_DONE, 30000);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.claimed, 3);
    ASSERT_EQ(st.done, 3);
    rt_close(&t);
    free(wav);
    free(lwav);
}

TEST(an_idle_runner_uses_no_cpu_even_with_a_job_waiting_for_later)
{
    char *wav = copy(rt_wav("two.wav", 2));
    struct rusage r0, r1;
    hark_runner_stats st;
    rt t;
    int64_t first, later;
    double cpu_ms;
    long switches;

    rt_open(&t, NULL, 2);
    t.o.max_jobs = 4;
    rt_start(&t);
    first = rt_submit(t.store, wav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(first, HARK_JOB_EVENT_DONE, 30000);
    /* a job that may not run for a minute: the runner must sleep until then, not poll */
    later = rt_submit(t.store, wav, 4, rt_now_ms() + 60000, NULL);
    hark_runner_wake(t.runner);
    usleep(300 * 1000); /* let the woken threads look and go back to sleep */

    ASSERT_EQ(getrusage(RUSAGE_SELF, &r0), 0);
    usleep(1000 * 1000); /* the measured idle second */
    ASSERT_EQ(getrusage(RUSAGE_SELF, &r1), 0);
    cpu_ms = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e3 +
             (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e3 +
             (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e3 +
             (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e3;
    switches = r1.ru_nvcsw - r0.ru_nvcsw; /* every sleep of a polling thread counts one */
    ASSERT_MSG(cpu_ms <= 25, "an idle runner used %.1f ms of CPU in 1 s", cpu_ms);
    ASSERT_MSG(switches <= 5, "an idle runner's threads woke up %ld times in 1 s", switches);

    ASSERT_EQ(rt_state(t.store, later), HARK_JOB_QUEUED);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.claimed, 1);
    ASSERT_EQ(st.running, 0);
    rt_close(&t);
    free(wav);
}

TEST(start_checks_its_options_and_stop_is_idempotent)
{
    hark_runner_options o;
    hark_runner *r = NULL;
    rt t;

    rt_open(&t, NULL, 1);
    o = t.o;
    o.store = NULL;
    ASSERT_ERR(hark_runner_start(&r, &o), HARK_EINVAL);
    ASSERT(r == NULL);
    o = t.o;
    o.engine = NULL;
    ASSERT_ERR(hark_runner_start(&r, &o), HARK_EINVAL);
    o = t.o;
    o.scheduler = NULL;
    ASSERT_ERR(hark_runner_start(&r, &o), HARK_EINVAL);
    o = t.o;
    o.version = 99;
    ASSERT_ERR(hark_runner_start(&r, &o), HARK_EVERSION);
    ASSERT(r == NULL);

    t.o.name = "me";
    t.o.max_jobs = 3;
    rt_start(&t);
    ASSERT_STREQ(hark_runner_name(t.runner), "me");
    ASSERT_EQ(hark_runner_stop(t.runner, 0), 0);
    ASSERT_EQ(hark_runner_stop(t.runner, 100), 0);
    rt_close(&t);
    hark_runner_free(NULL);

    ASSERT_STREQ(hark_job_event_name(HARK_JOB_EVENT_STARTED), "started");
    ASSERT_STREQ(hark_job_event_name(HARK_JOB_EVENT_RELEASED), "released");
    ASSERT_STREQ(hark_job_event_name((hark_job_event_kind)42), "unknown");
}

static hark_runner *hook_runner;

/* Cancel a job once its last chunk is merged: nothing of the run polls for it any more. */
static void cancel_when_all_merged(const hark_job_event *ev)
{
    if (ev->kind == HARK_JOB_EVENT_PROGRESS && ev->chunks_final && ev->chunks_done == 3)
        ASSERT_OK(hark_runner_cancel(hook_runner, ev->job));
}

TEST(a_cancel_that_comes_as_the_job_finishes_is_reported_as_canceled_not_done)
{
    char *wav = copy(rt_wav("three.wav", 3));
    hark_runner_stats st;
    rt t;
    int64_t id;
    size_t end;

    rt_open(&t, "delay=30", 1);
    rt_start(&t);
    hook_runner = t.runner;
    rt_hook = cancel_when_all_merged;
    id = rt_submit(t.store, wav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    end = rt_wait_event(id, HARK_JOB_EVENT_CANCELED, 30000);
    wait_idle(&t);
    /* the store says canceled (the cancel succeeded): so do the events and the counters */
    ASSERT_EQ(rt_state(t.store, id), HARK_JOB_CANCELED);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_DONE), 0);
    ASSERT_EQ(end, rt_n_events() - 1);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.canceled, 1);
    ASSERT_EQ(st.done, 0);
    rt_hook = NULL;
    rt_close(&t);
    free(wav);
}

/*
 * A cancel committed after the run's last abort poll, between the moment the
 * recording is marked done and the job's end: made exact with a trigger on
 * the store file (in SQL, as another process's hark_store_job_cancel of a
 * running job writes it: the lease owner is kept for the acknowledgement).
 */
TEST(a_cancel_committed_after_the_run_ended_is_acknowledged_not_reported_as_done)
{
    char *wav = copy(rt_wav("three.wav", 3));
    sqlite3 *db = NULL;
    hark_runner_stats st;
    hark_job_counts counts;
    rt t;
    int64_t id, rec;
    size_t end;

    rt_open(&t, NULL, 1);
    ASSERT_EQ(sqlite3_open(harness_path("hark.db"), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER cancel_at_the_end AFTER UPDATE OF status ON recordings "
                           "WHEN new.status = 'done' BEGIN UPDATE jobs SET state = 'canceled', "
                           "due_ms = NULL, finished_ms = CAST((julianday('now') - 2440587.5) * "
                           "86400000 AS INTEGER), updated_ms = CAST((julianday('now') - "
                           "2440587.5) * 86400000 AS INTEGER) WHERE recording_id = new.id AND "
                           "state = 'running'; END",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    rt_start(&t);
    id = rt_submit(t.store, wav, 4, 0, &rec);
    hark_runner_wake(t.runner);
    end = rt_wait_event(id, HARK_JOB_EVENT_CANCELED, 30000);
    wait_idle(&t);
    /* the run ended well, but the job was canceled meanwhile: the events and the counters
     * say so, as the store does, and the acknowledgement let go of the lease */
    ASSERT_EQ(rt_state(t.store, id), HARK_JOB_CANCELED);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_DONE), 0);
    ASSERT_EQ(end, rt_n_events() - 1);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.canceled, 1);
    ASSERT_EQ(st.done, 0);
    ASSERT_OK(hark_store_job_counts(t.store, &counts));
    ASSERT_EQ(counts.n[HARK_JOB_CANCELED][HARK_PRIORITY_BULK], 1);
    ASSERT_EQ(counts.n[HARK_JOB_RUNNING][HARK_PRIORITY_BULK], 0);
    ASSERT_EQ(sqlite3_open(harness_path("hark.db"), &db), SQLITE_OK);
    {
        sqlite3_stmt *q = NULL;
        ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT lease_owner IS NULL FROM jobs WHERE id = ?1", -1,
                                     &q, NULL),
                  SQLITE_OK);
        sqlite3_bind_int64(q, 1, id);
        ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
        ASSERT_EQ(sqlite3_column_int(q, 0), 1);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    rt_close(&t);
    free(wav);
}
