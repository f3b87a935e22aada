/*
 * queue_concurrency.c: conformance tests of the job queue under
 * concurrency and crashes:
 * - several threads sharing one handle, and several processes with their own
 *   handles (several threads each), claim 200 jobs: every job is claimed
 *   exactly once;
 * - a process holding a lease is killed with SIGKILL: after the lease
 *   expires another claims the job (next_ms says when);
 * - the same audio submitted at once by several threads, and by several
 *   processes, makes one recording and one job.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_test.h"

#define N_JOBS      200
#define LEASE_MS    (10 * 60 * 1000)
#define N_THREADS   4
#define N_PROCESSES 2

typedef struct claimer {
    hark_store *s;
    char name[32];
    int64_t got[N_JOBS]; /* job ids claimed, in order */
    int n;
    int errors;
    pthread_barrier_t *start;
} claimer;

/* Claim until nothing is claimable, finishing each job; the ids go to c->got. */
static void *claim_loop(void *arg)
{
    claimer *c = arg;
    if (c->start)
        pthread_barrier_wait(c->start);
    for (;;) {
        hark_job *j = NULL;
        int rc = hark_store_job_claim(c->s, c->name, LEASE_MS, HARK_PRIORITY_MAINTENANCE, &j, NULL);
        if (rc == HARK_ENOTFOUND)
            break;
        if (rc < 0 || c->n == N_JOBS) {
            fprintf(stderr, "  %s: claim: %s\n", c->name, hark_error_last());
            c->errors++;
            hark_job_free(j);
            break;
        }
        c->got[c->n++] = j->id;
        if (hark_store_job_end(c->s, j->id, c->name, HARK_JOB_DONE, 0, 0, NULL) < 0) {
            fprintf(stderr, "  %s: end: %s\n", c->name, hark_error_last());
            c->errors++;
        }
        hark_job_free(j);
    }
    return NULL;
}

/* Every job claimed exactly once: `claimed[i]` counts the claims of job ids[i]. */
static void check_once(hark_store *s, const int64_t *ids, const int *claimed)
{
    hark_job_counts counts;
    for (int i = 0; i < N_JOBS; i++)
        ASSERT_MSG(claimed[i] == 1, "job %lld was claimed %d times", (long long)ids[i], claimed[i]);
    ASSERT_OK(hark_store_job_counts(s, &counts));
    ASSERT_EQ(counts.n[HARK_JOB_DONE][HARK_PRIORITY_BULK], N_JOBS);
    ASSERT_EQ(counts.n[HARK_JOB_QUEUED][HARK_PRIORITY_BULK], 0);
    ASSERT_EQ(counts.n[HARK_JOB_RUNNING][HARK_PRIORITY_BULK], 0);
    ASSERT_OK(hark_store_check(s));
}

static int index_of(const int64_t *ids, int64_t id)
{
    for (int i = 0; i < N_JOBS; i++)
        if (ids[i] == id)
            return i;
    return -1;
}

TEST(threads_claim_every_job_exactly_once)
{
    hark_store *s = st_open();
    static claimer c[N_THREADS];
    pthread_t th[N_THREADS];
    pthread_barrier_t start;
    int64_t ids[N_JOBS];
    int claimed[N_JOBS] = { 0 }, total = 0;

    for (int i = 0; i < N_JOBS; i++)
        ids[i] = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    pthread_barrier_init(&start, NULL, N_THREADS);
    for (int t = 0; t < N_THREADS; t++) {
        memset(&c[t], 0, sizeof(c[t]));
        c[t].s = s;
        c[t].start = &start;
        snprintf(c[t].name, sizeof(c[t].name), "thread-%d", t);
        ASSERT_EQ(pthread_create(&th[t], NULL, claim_loop, &c[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        ASSERT_EQ(c[t].errors, 0);
        for (int k = 0; k < c[t].n; k++) {
            int i = index_of(ids, c[t].got[k]);
            ASSERT(i >= 0);
            claimed[i]++;
        }
        total += c[t].n;
    }
    pthread_barrier_destroy(&start);
    ASSERT_EQ(total, N_JOBS);
    check_once(s, ids, claimed);
    hark_store_free(s);
}

TEST(processes_claim_every_job_exactly_once)
{
    hark_store *s = st_open();
    int64_t ids[N_JOBS];
    int claimed[N_JOBS] = { 0 }, total = 0, fds[2], status;
    pid_t pids[N_PROCESSES];
    int64_t id;

    harness_timeout(300);
    for (int i = 0; i < N_JOBS; i++)
        ids[i] = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_store_free(s); /* no handle across fork() */
    ASSERT_EQ(pipe(fds), 0);
    for (int p = 0; p < N_PROCESSES; p++) {
        pids[p] = fork();
        ASSERT(pids[p] >= 0);
        if (pids[p] == 0) {
            /* each process: its own handle, several threads claiming through it */
            static claimer c[N_THREADS];
            pthread_t th[N_THREADS];
            hark_store *cs = NULL;
            int bad = 0;
            close(fds[0]);
            if (hark_store_open(&cs, st_uri()) < 0)
                _exit(2);
            for (int t = 0; t < N_THREADS; t++) {
                memset(&c[t], 0, sizeof(c[t]));
                c[t].s = cs;
                snprintf(c[t].name, sizeof(c[t].name), "proc-%d-thread-%d", p, t);
                pthread_create(&th[t], NULL, claim_loop, &c[t]);
            }
            for (int t = 0; t < N_THREADS; t++) {
                pthread_join(th[t], NULL);
                bad |= c[t].errors;
                for (int k = 0; k < c[t].n; k++)
                    if (write(fds[1], &c[t].got[k], sizeof(int64_t)) != sizeof(int64_t))
                        bad = 1;
            }
            hark_store_free(cs);
            _exit(bad ? 1 : 0);
        }
    }
    close(fds[1]);
    while (read(fds[0], &id, sizeof(id)) == sizeof(id)) {
        int i = index_of(ids, id);
        ASSERT(i >= 0);
        claimed[i]++;
        total++;
    }
    close(fds[0]);
    for (int p = 0; p < N_PROCESSES; p++) {
        ASSERT(waitpid(pids[p], &status, 0) == pids[p]);
        ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed", p);
    }
    ASSERT_EQ(total, N_JOBS);
    s = st_reopen();
    check_once(s, ids, claimed);
    hark_store_free(s);
}

TEST(a_killed_lease_holder_loses_its_job_when_the_lease_expires)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, "victim", 0, HARK_PRIORITY_BULK, NULL), got = 0, next = 0;
    int fds[2], status;
    pid_t pid;
    hark_job *j = NULL;

    hark_store_free(s);
    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        hark_store *cs = NULL;
        hark_job *cj = NULL;
        close(fds[0]);
        if (hark_store_open(&cs, st_uri()) < 0 ||
            hark_store_job_claim(cs, "doomed", 400, HARK_PRIORITY_MAINTENANCE, &cj, NULL) < 0)
            _exit(1);
        if (write(fds[1], &cj->id, sizeof(cj->id)) != sizeof(cj->id))
            _exit(1);
        for (;;)
            pause(); /* holding the lease, working... until SIGKILL */
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], &got, sizeof(got)), (ssize_t)sizeof(got));
    close(fds[0]);
    ASSERT_EQ(got, id);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFSIGNALED(status));

    s = st_reopen();
    ASSERT_EQ(st_job_state(s, id), HARK_JOB_RUNNING);
    ASSERT_ERR(hark_store_job_claim(s, "heir", LEASE_MS, HARK_PRIORITY_MAINTENANCE, &j, &next),
               HARK_ENOTFOUND);
    ASSERT(next > st_now_ms() - 50 && next <= st_now_ms() + 400);
    st_sleep_ms(next - st_now_ms() + 5);
    ASSERT_OK(hark_store_job_claim(s, "heir", LEASE_MS, HARK_PRIORITY_MAINTENANCE, &j, &next));
    ASSERT_EQ(j->id, id);
    ASSERT_EQ(j->attempts, 2);
    ASSERT_STREQ(j->lease_owner, "heir");
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, id, "heir", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

typedef struct submitter {
    hark_store *s;
    pthread_barrier_t *start;
    hark_job_submitted sub;
    int rc;
} submitter;

static int submit_same(hark_store *s, hark_job_submitted *sub)
{
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    rec.title = "the same upload";
    rec.content_hash = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
    rec.engine = "whisper";
    rec.model = "base.en";
    rec.options = "{}";
    rec.owner = 3;
    return hark_store_job_submit(s, &rec, &job, sub);
}

static void *submit_thread(void *arg)
{
    submitter *x = arg;
    pthread_barrier_wait(x->start);
    x->rc = submit_same(x->s, &x->sub);
    return NULL;
}

static void check_one_recording_one_job(hark_store *s)
{
    hark_store_stats st;
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, 1);
    ASSERT_EQ(st.jobs, 1);
}

TEST(concurrent_submits_of_the_same_audio_by_threads_make_one_job)
{
    hark_store *s = st_open();
    submitter x[8];
    pthread_t th[8];
    pthread_barrier_t start;
    int created = 0;

    pthread_barrier_init(&start, NULL, 8);
    for (int i = 0; i < 8; i++) {
        memset(&x[i], 0, sizeof(x[i]));
        x[i].s = s;
        x[i].start = &start;
        ASSERT_EQ(pthread_create(&th[i], NULL, submit_thread, &x[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ASSERT_OK(x[i].rc);
        ASSERT_EQ(x[i].sub.recording, x[0].sub.recording);
        ASSERT_EQ(x[i].sub.job, x[0].sub.job);
        created += !x[i].sub.existed;
    }
    pthread_barrier_destroy(&start);
    ASSERT_EQ(created, 1);
    check_one_recording_one_job(s);
    hark_store_free(s);
}

TEST(concurrent_submits_of_the_same_audio_by_processes_make_one_job)
{
    hark_store *s = st_open();
    hark_job_submitted sub[4];
    pid_t pids[4];
    int fds[2], status, created = 0, n = 0;

    hark_store_free(s); /* the store exists; each process opens its own handle */
    ASSERT_EQ(pipe(fds), 0);
    for (int p = 0; p < 4; p++) {
        pids[p] = fork();
        ASSERT(pids[p] >= 0);
        if (pids[p] == 0) {
            hark_store *cs = NULL;
            hark_job_submitted one;
            close(fds[0]);
            if (hark_store_open(&cs, st_uri()) < 0 || submit_same(cs, &one) < 0) {
                fprintf(stderr, "  process %d: %s\n", p, hark_error_last());
                _exit(1);
            }
            if (write(fds[1], &one, sizeof(one)) != sizeof(one))
                _exit(1);
            hark_store_free(cs);
            _exit(0);
        }
    }
    close(fds[1]);
    while (n < 4 && read(fds[0], &sub[n], sizeof(sub[n])) == sizeof(sub[n]))
        n++;
    close(fds[0]);
    for (int p = 0; p < 4; p++) {
        ASSERT(waitpid(pids[p], &status, 0) == pids[p]);
        ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed", p);
    }
    ASSERT_EQ(n, 4);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(sub[i].recording, sub[0].recording);
        ASSERT_EQ(sub[i].job, sub[0].job);
        created += !sub[i].existed;
    }
    ASSERT_EQ(created, 1);
    s = st_reopen();
    check_one_recording_one_job(s);
    hark_store_free(s);
}
