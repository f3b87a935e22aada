/*
 * workers.c: `hark worker` processes sharing one PostgreSQL queue: every
 * job done with each chunk transcribed once (engine calls counted through
 * the test engine's log), a worker killed with SIGKILL mid-job replaced by
 * another once its lease expires (finished chunks not redone), and idle
 * workers woken by LISTEN/NOTIFY without polling.
 */
#include <signal.h>

#include "pg_test.h"

/* Sum of chunks_total over jobs ids[]; each must be final. */
static size_t chunks_of(hark_store *s, const int64_t *ids, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        hark_job *j = NULL;
        ASSERT_OK(hark_store_job_get(s, ids[i], &j));
        ASSERT(j->chunks_final);
        ASSERT_EQ(j->chunks_done, j->chunks_total);
        total += j->chunks_total;
        hark_job_free(j);
    }
    return total;
}

TEST(pg_two_workers_share_the_queue_and_transcribe_each_chunk_once)
{
    const char *uri = harness_pg_uri();
    char model[600], wav[16][64];
    const char *log = harness_path("engine.log");
    const char *wlog[2] = { harness_path("w1.log"), harness_path("w2.log") };
    hark_store *s = NULL;
    int64_t ids[12];
    size_t n = 12, chunks, i;
    pid_t w[2];

    harness_timeout(120);
    ASSERT_OK(hark_store_open(&s, uri));
    snprintf(model, sizeof(model), "delay=150,log=%s", log);
    for (i = 0; i < 2; i++)
        w[i] =
            pt_worker(uri, wlog[i], "-e", "test", "--no-vad", "-m", model, "--workers", "2", NULL);
    for (i = 0; i < 2; i++)
        pt_wait_for_text(wlog[i], "running jobs of", 20000);
    for (i = 0; i < n; i++) {
        snprintf(wav[i], sizeof(wav[i]), "%s", harness_path(""));
        snprintf(wav[i] + strlen(wav[i]), sizeof(wav[i]) - strlen(wav[i]), "a%zu.wav", i);
        /* not a whole number of cycles per chunk: no two chunks are alike (no cache hits) */
        pt_wav(wav[i], 200.37 + 100.0 * (double)i, 12.0 + (double)(i % 3) * 5.0);
        ids[i] = pt_submit(s, wav[i], wav[i]);
    }
    pt_wait_done(s, ids, n, 90000);
    chunks = chunks_of(s, ids, n);
    ASSERT(chunks >= 2 * n);
    /* every chunk transcribed exactly once, by one worker or the other; both worked */
    ASSERT_EQ(pt_count_lines(log, 0), chunks);
    ASSERT(pt_count_lines(log, w[0]) > 0);
    ASSERT(pt_count_lines(log, w[1]) > 0);
    ASSERT_EQ(pt_count_lines(log, w[0]) + pt_count_lines(log, w[1]), chunks);
    /* the transcripts are the audio's: each segment names its tone */
    for (i = 0; i < n; i++) {
        hark_job *j = NULL;
        hark_transcript *t = NULL;
        char want[16];
        ASSERT_OK(hark_store_job_get(s, ids[i], &j));
        ASSERT_OK(hark_store_transcript_get(s, j->recording, &t));
        ASSERT_EQ(hark_transcript_count(t), j->chunks_total);
        snprintf(want, sizeof(want), "f%zu ", 200 + 100 * i);
        for (size_t k = 0; k < hark_transcript_count(t); k++)
            ASSERT_CONTAINS(hark_transcript_segment(t, k)->text, want);
        hark_transcript_free(t);
        hark_job_free(j);
    }
    /* SIGTERM: both stop cleanly */
    ASSERT_EQ(pt_stop(w[0], SIGTERM), 0);
    ASSERT_EQ(pt_stop(w[1], SIGTERM), 0);
    hark_store_free(s);
}

TEST(pg_a_worker_killed_mid_job_is_replaced_and_done_chunks_are_kept)
{
    const char *uri = harness_pg_uri();
    char model[600];
    const char *log = harness_path("engine.log"), *wav = harness_path("long.wav");
    const char *la = harness_path("a.log"), *lb = harness_path("b.log");
    hark_store *s = NULL;
    hark_job *j = NULL;
    int64_t id, t0;
    uint32_t recorded;
    size_t by_a, by_b;
    pid_t a, b;

    harness_timeout(120);
    ASSERT_OK(hark_store_open(&s, uri));
    snprintf(model, sizeof(model), "delay=400,log=%s", log);
    pt_wav(wav, 330.37, 60.0); /* 6 chunks of 10 s, all different */
    /* both workers are up before the job exists (a slow start-up, e.g. under a sanitizer on a
     * loaded machine, cannot let one finish the job alone); whichever claims it is killed */
    a = pt_worker(uri, la, "-e", "test", "--no-vad", "-m", model, "--workers", "1", "--lease", "2",
                  "--name", "worker-a", NULL);
    b = pt_worker(uri, lb, "-e", "test", "--no-vad", "-m", model, "--workers", "1", "--lease", "2",
                  "--name", "worker-b", NULL);
    pt_wait_for_text(la, "running jobs of", 20000);
    pt_wait_for_text(lb, "running jobs of", 20000);
    id = pt_submit(s, wav, "long");
    /* wait until the holder has finished a chunk or two, then kill it outright */
    for (t0 = pt_now_ms();;) {
        ASSERT_OK(hark_store_job_get(s, id, &j));
        if (j->chunks_done >= 2)
            break;
        ASSERT_MSG(pt_now_ms() - t0 < 30000, "the first worker made no progress");
        hark_job_free(j);
        j = NULL;
        pt_sleep_ms(20);
    }
    ASSERT(j->lease_owner != NULL);
    if (strcmp(j->lease_owner, "worker-b") == 0) {
        pid_t t = a; /* from here on `a` is the holder, killed, and `b` the one taking over */
        a = b;
        b = t;
    } else {
        ASSERT_STREQ(j->lease_owner, "worker-a");
    }
    hark_job_free(j);
    j = NULL;
    ASSERT_EQ(pt_stop(a, SIGKILL), 128 + SIGKILL);
    ASSERT_OK(hark_store_job_get(s, id, &j));
    recorded = j->chunks_done; /* final for the first worker: it is gone */
    ASSERT_MSG(j->state == HARK_JOB_RUNNING || j->state == HARK_JOB_QUEUED, "job is %s",
               hark_job_state_name(j->state));
    hark_job_free(j);
    j = NULL;
    /* its lease (2 s) expires and the second worker takes over without being told */
    pt_wait_done(s, &id, 1, 60000);
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->attempts, 2);
    ASSERT_EQ(j->chunks_done, j->chunks_total);
    ASSERT_EQ(j->chunks_total, 6);
    by_a = pt_count_lines(log, a);
    by_b = pt_count_lines(log, b);
    /* chunks the first worker recorded are not redone */
    ASSERT_EQ(by_b, j->chunks_total - recorded);
    /* at most the chunk it finished as it died was done twice */
    ASSERT(by_a >= recorded && by_a <= recorded + 1);
    hark_job_free(j);
    ASSERT_EQ(pt_stop(b, SIGTERM), 0);
    hark_store_free(s);
}

TEST(pg_idle_workers_send_no_queries_and_wake_on_notify)
{
    const char *uri = harness_pg_uri();
    const char *log = harness_path("w.log"), *wav = harness_path("x.wav");
    hark_store *s = NULL;
    hark_job *j = NULL;
    int64_t id, t0;
    long from, idle;
    pid_t w;

    harness_timeout(60);
    ASSERT_OK(hark_store_open(&s, uri));
    pt_statement_logging(1);
    w = pt_worker(pt_with_app(uri, "hark_quiet_worker"), log, "-e", "test", "--no-vad", "--workers",
                  "2", NULL);
    pt_wait_for_text(log, "running jobs of", 20000);
    pt_sleep_ms(1000); /* start-up: the first claims, LISTEN */
    from = pt_log_size();
    pt_sleep_ms(3000);
    idle = pt_statements_since(from, "hark_quiet_worker");
    pt_statement_logging(0);
    ASSERT_MSG(idle == 0, "%ld statements while the worker was idle", idle);
    /* a job submitted now is claimed at once: only the notification can wake the runner */
    pt_wav(wav, 440.0, 4.0);
    t0 = pt_now_ms();
    id = pt_submit(s, wav, "wake");
    pt_wait_done(s, &id, 1, 10000);
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_LT(j->started_ms - t0, 2000);
    hark_job_free(j);
    ASSERT_EQ(pt_stop(w, SIGTERM), 0);
    hark_store_free(s);
}
