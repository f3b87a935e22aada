/*
 * recovery.c: the job runner when runners stop or die. A graceful stop
 * hands running jobs back with their finished chunks kept, a grace period
 * lets them finish; a job leased by a runner of this machine whose process
 * is gone is queued again at start (others are left alone); a job whose
 * runner elsewhere stopped renewing its lease is claimed when the lease ends
 * (the runner sleeps until then); and after a kill -9 of a process running
 * a runner, a new runner finishes the job without transcribing the chunks
 * that were done again.
 *
 * "Not transcribed again" is measured with the counted engine (rt.h): the
 * engine calls per chunk index made in this process.
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"

static char *copy(const char *s)
{
    char *c = strdup(s);
    ASSERT(c);
    return c;
}

/* Which chunks of job `id` are done, with their results kept for a resume. */
static uint32_t done_chunks(hark_store *s, int64_t id, int done[RT_MAX_CHUNKS])
{
    hark_job_chunk_list *l = NULL;
    uint32_t n = 0;
    size_t i;
    memset(done, 0, sizeof(int) * RT_MAX_CHUNKS);
    ASSERT_OK(hark_store_job_chunks(s, id, 1, &l));
    for (i = 0; i < l->n; i++) {
        const hark_job_chunk *c = &l->items[i];
        ASSERT_EQ(c->index, i);
        ASSERT_EQ(c->start, (int64_t)i * RT_SEC);
        if (c->state == HARK_CHUNK_DONE) {
            ASSERT(c->result != NULL && c->result_len > 0);
            done[i] = 1;
            n++;
        }
    }
    hark_job_chunk_list_free(l);
    return n;
}

/* Every chunk not done before was transcribed once now, every done one not at all. */
static void assert_only_the_rest_ran(const int done[RT_MAX_CHUNKS], uint32_t chunks)
{
    uint32_t i;
    for (i = 0; i < chunks; i++)
        ASSERT_MSG(rt_calls(i) == (done[i] ? 0u : 1u), "chunk %u (%s before) ran %u times", i,
                   done[i] ? "done" : "not done", rt_calls(i));
}

TEST(stop_without_grace_hands_a_running_job_back_and_a_new_runner_runs_only_the_rest)
{
    char *wav = copy(rt_wav("twenty.wav", 20));
    hark_transcript *ref = rt_reference(wav);
    int done[RT_MAX_CHUNKS];
    hark_runner_stats st;
    hark_job *j;
    rt t;
    int64_t id, rec;
    uint32_t n_done;
    size_t rel;

    rt_open(&t, "delay=60", 1);
    rt_start(&t);
    id = rt_submit(t.store, wav, 4, 0, &rec);
    hark_runner_wake(t.runner);
    rt_wait_chunks(t.store, id, 4, 30000);
    ASSERT_EQ(hark_runner_stop(t.runner, 0), 1);
    rel = rt_wait_event(id, HARK_JOB_EVENT_RELEASED, 1); /* delivered before stop returned */
    ASSERT_EQ(rt_event_at(rel).attempts, 1);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.released, 1);
    ASSERT_EQ(st.running, 0);
    ASSERT_EQ(hark_runner_stop(t.runner, 0), 0); /* idempotent */

    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_EQ(j->attempts, 0); /* a release does not count the attempt */
    ASSERT(j->lease_owner == NULL);
    ASSERT_EQ(j->not_before_ms, 0);
    ASSERT(j->error == NULL);
    hark_job_free(j);
    n_done = done_chunks(t.store, id, done);
    ASSERT(n_done >= 4);
    ASSERT(n_done < 20);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_DONE), 0);
    {
        hark_recording *r = NULL;
        ASSERT_OK(hark_store_recording_get(t.store, rec, &r));
        ASSERT_EQ(r->status, HARK_STATUS_PENDING);
        hark_recording_free(r);
    }
    rt_close(&t);

    /* a new runner (a restarted server) */
    rt_calls_reset();
    rt_open(&t, NULL, 2);
    rt_start(&t);
    rt_wait_event(id, HARK_JOB_EVENT_DONE, 30000);
    assert_only_the_rest_ran(done, 20);
    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT_EQ(j->attempts, 1);
    ASSERT_EQ(j->chunks_done, 20);
    hark_job_free(j);
    rt_assert_transcript(t.store, rec, ref);
    rt_close(&t);
    hark_transcript_free(ref);
    free(wav);
}

TEST(stop_with_grace_lets_a_running_job_finish)
{
    char *wav = copy(rt_wav("three.wav", 3));
    hark_runner_stats st;
    rt t;
    int64_t id;

    rt_open(&t, "delay=100", 1);
    rt_start(&t);
    id = rt_submit(t.store, wav, 4, 0, NULL);
    hark_runner_wake(t.runner);
    rt_wait_event(id, HARK_JOB_EVENT_STARTED, 30000);
    ASSERT_EQ(hark_runner_stop(t.runner, 60000), 0);
    ASSERT_EQ(rt_state(t.store, id), HARK_JOB_DONE);
    ASSERT_EQ(rt_count(id, HARK_JOB_EVENT_DONE), 1);
    hark_runner_stats_get(t.runner, &st);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.released, 0);
    rt_close(&t);
    free(wav);
}

/* A pid that no process has (a child that has exited and been reaped). */
static pid_t dead_pid(void)
{
    int st;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0)
        _exit(0);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(kill(pid, 0) != 0);
    return pid;
}

TEST(jobs_of_a_dead_runner_of_this_machine_are_queued_again_at_start)
{
    char *wav = copy(rt_wav("two.wav", 2));
    char host[128], dead[256], alive[256], remote[256];
    hark_job *j = NULL;
    rt t;
    int64_t a, b, c;
    pid_t gone = dead_pid();

    ASSERT_EQ(gethostname(host, sizeof(host)), 0);
    snprintf(dead, sizeof(dead), "%s:%ld:x", host, (long)gone);
    snprintf(alive, sizeof(alive), "%s:%ld:x", host, (long)getppid());
    snprintf(remote, sizeof(remote), "not-%s:%ld:x", host, (long)gone);

    rt_open(&t, NULL, 1);
    /* three jobs claimed under long leases by three runners */
    a = rt_submit(t.store, wav, 4, 0, NULL);
    b = rt_submit(t.store, wav, 4, 0, NULL);
    c = rt_submit(t.store, wav, 4, 0, NULL);
    ASSERT_OK(hark_store_job_claim(t.store, dead, 600000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    ASSERT_EQ(j->id, a);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_claim(t.store, alive, 600000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    ASSERT_EQ(j->id, b);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_claim(t.store, remote, 600000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    ASSERT_EQ(j->id, c);
    hark_job_free(j);

    /* start paused: the requeue happens in start, before any claim */
    t.o.paused = 1;
    rt_start(&t);
    j = rt_job(t.store, a);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT(j->lease_owner == NULL);
    ASSERT_EQ(j->attempts, 1); /* the dead runner's attempt counts */
    ASSERT_CONTAINS(j->error, "process is gone");
    hark_job_free(j);
    /* a live process's lease and another machine's are left alone */
    j = rt_job(t.store, b);
    ASSERT_EQ(j->state, HARK_JOB_RUNNING);
    ASSERT_STREQ(j->lease_owner, alive);
    hark_job_free(j);
    j = rt_job(t.store, c);
    ASSERT_EQ(j->state, HARK_JOB_RUNNING);
    ASSERT_STREQ(j->lease_owner, remote);
    hark_job_free(j);

    hark_runner_pause(t.runner, 0);
    rt_wait_event(a, HARK_JOB_EVENT_DONE, 30000);
    j = rt_job(t.store, a);
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT_EQ(j->attempts, 2);
    hark_job_free(j);
    ASSERT_EQ(rt_count(b, HARK_JOB_EVENT_STARTED), 0);
    ASSERT_EQ(rt_count(c, HARK_JOB_EVENT_STARTED), 0);
    ASSERT_EQ(rt_state(t.store, b), HARK_JOB_RUNNING);
    ASSERT_EQ(rt_state(t.store, c), HARK_JOB_RUNNING);
    rt_close(&t);
    free(wav);
}

/* The child: a runner that works until it is killed. */
static void child_runner(void)
{
    rt t;
    rt_open(&t, "delay=100", 2);
    rt_start(&t);
    for (;;)
        pause();
}

TEST(kill_9_of_a_runner_process_then_a_new_runner_finishes_without_redoing_chunks)
{
    char *wav = copy(rt_wav("forty.wav", 40));
    char host[128], prefix[200];
    int done[RT_MAX_CHUNKS];
    hark_store *s = NULL;
    hark_transcript *ref;
    hark_job *j;
    rt t;
    int64_t id, rec;
    uint32_t n_done;
    pid_t pid;
    int st;

    /* submit before the fork: no store handle or thread crosses it */
    ASSERT_OK(hark_store_open(&s, harness_path("hark.db")));
    id = rt_submit(s, wav, 4, 0, &rec);
    hark_store_free(s);
    s = NULL;
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0)
        child_runner(); /* never returns */

    /* wait for some chunks to be done in the child, then kill it */
    ASSERT_OK(hark_store_open(&s, harness_path("hark.db")));
    {
        int64_t end = rt_now_ms() + 30000;
        for (;;) {
            j = rt_job(s, id);
            n_done = j->chunks_done;
            hark_job_free(j);
            if (n_done >= 5)
                break;
            if (waitpid(pid, &st, WNOHANG) == pid)
                harness_fail(__FILE__, __LINE__, "the runner process ended (status %d)", st);
            if (rt_now_ms() > end) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                harness_fail(__FILE__, __LINE__, "the runner process did no chunk in 30 s");
            }
            usleep(10000);
        }
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* the job still looks held by the child, under a lease with 30 s to run */
    ASSERT_EQ(gethostname(host, sizeof(host)), 0);
    snprintf(prefix, sizeof(prefix), "%s:%ld:", host, (long)pid);
    j = rt_job(s, id);
    ASSERT_EQ(j->state, HARK_JOB_RUNNING);
    ASSERT(j->lease_owner && strncmp(j->lease_owner, prefix, strlen(prefix)) == 0);
    ASSERT(j->lease_expires_ms > rt_now_ms() + 5000);
    hark_job_free(j);
    n_done = done_chunks(s, id, done);
    ASSERT(n_done >= 5 && n_done < 40);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);

    /* a new runner in this process: the job is queued again at once and finished */
    ref = rt_reference(wav);
    rt_calls_reset();
    rt_open(&t, NULL, 2);
    t.o.paused = 1;
    rt_start(&t);
    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_CONTAINS(j->error, "process is gone");
    hark_job_free(j);
    hark_runner_pause(t.runner, 0);
    rt_wait_event(id, HARK_JOB_EVENT_DONE, 30000);
    assert_only_the_rest_ran(done, 40);
    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT_EQ(j->attempts, 2);
    ASSERT_EQ(j->chunks_done, 40);
    ASSERT_EQ(j->chunks_failed, 0);
    hark_job_free(j);
    rt_assert_transcript(t.store, rec, ref);
    {
        hark_recording *r = NULL;
        ASSERT_OK(hark_store_recording_get(t.store, rec, &r));
        ASSERT_EQ(r->status, HARK_STATUS_DONE);
        ASSERT_EQ(r->n_segments, 40);
        hark_recording_free(r);
    }
    rt_close(&t);
    hark_transcript_free(ref);
    free(wav);
}

TEST(a_job_whose_lease_expires_is_claimed_when_it_does_without_a_wake)
{
    char *wav = copy(rt_wav("two.wav", 2));
    hark_job *j = NULL;
    rt t;
    int64_t id, expires;
    size_t started;

    rt_open(&t, NULL, 1);
    id = rt_submit(t.store, wav, 4, 0, NULL);
    /* a runner on another machine holds it, and stops renewing */
    ASSERT_OK(
        hark_store_job_claim(t.store, "elsewhere:1:x", 700, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    expires = j->lease_expires_ms;
    hark_job_free(j);
    rt_start(&t); /* finds nothing claimable yet: sleeps until the lease ends */
    started = rt_wait_event(id, HARK_JOB_EVENT_STARTED, 30000);
    ASSERT_LE(expires, rt_event_at(started).at_ms);
    ASSERT_EQ(rt_event_at(started).attempts, 2);
    rt_wait_event(id, HARK_JOB_EVENT_DONE, 30000);
    j = rt_job(t.store, id);
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT_EQ(j->attempts, 2);
    hark_job_free(j);
    rt_close(&t);
    free(wav);
}

/* no_claims (an API-only server): no scheduler needed, nothing claimed, describe and cancel
 * work; a runner with workers on the same store then runs what was left. */
TEST(a_runner_with_no_claims_leaves_jobs_to_others)
{
    char *wav = copy(rt_wav("two.wav", 2)), *wav1 = copy(rt_wav("one.wav", 1));
    hark_runner *api = NULL;
    hark_runner_options o;
    hark_runner_stats st;
    hark_buf opts = HARK_BUF_INIT, model = HARK_BUF_INIT;
    rt t;
    int64_t id, gone;

    rt_open(&t, NULL, 1);
    o = t.o;
    o.scheduler = NULL;
    ASSERT_ERR(hark_runner_start(&api, &o), HARK_EINVAL); /* a scheduler is needed to claim */
    o.no_claims = 1;
    ASSERT_OK(hark_runner_start(&api, &o));
    ASSERT_OK(hark_runner_describe(api, NULL, &opts, &model));
    ASSERT(opts.len > 0);
    id = rt_submit(t.store, wav, 4, 0, NULL);
    gone = rt_submit(t.store, wav1, 4, 0, NULL);
    hark_runner_wake(api);
    hark_runner_pause(api, 0);
    usleep(300 * 1000);
    ASSERT_EQ(rt_state(t.store, id), HARK_JOB_QUEUED);
    ASSERT_OK(hark_runner_cancel(api, gone));
    ASSERT_EQ(rt_state(t.store, gone), HARK_JOB_CANCELED);
    hark_runner_stats_get(api, &st);
    ASSERT_EQ(st.max_jobs, 0);
    ASSERT_EQ(st.claimed, 0);
    ASSERT_EQ(hark_runner_stop(api, 1000), 0);
    hark_runner_free(api);
    /* a runner that claims takes the job over */
    rt_start(&t);
    hark_runner_wake(t.runner);
    rt_wait_state(t.store, id, HARK_JOB_DONE, 30000);
    hark_buf_dispose(&opts);
    hark_buf_dispose(&model);
    rt_close(&t);
    free(wav);
    free(wav1);
}
