/*
 * reliability.c: conformance tests for concurrency and crashes.
 *
 * - threads sharing one handle: a writer adds batches while readers list,
 *   read transcripts and search; every read sees whole batches only and no
 *   reader ever gets an error (no busy errors surfacing);
 * - the same with separate processes, each with its own handle;
 * - a writer process killed with SIGKILL at random points, several times:
 *   after reopening, the integrity check passes, every batch the writer
 *   reported as committed is complete and no batch is partial.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_test.h"

#define BATCH 40

/* Segment texts of batch `b` carry the word "batch<b>x" so a search can find exactly them. */
static void write_batch(hark_store *s, int b, int64_t *id_out)
{
    char title[32], fmt[64];
    hark_transcript *t;
    int64_t id;
    snprintf(title, sizeof(title), "batch %d", b);
    snprintf(fmt, sizeof(fmt), "segment %%d of batch%dx with some common words", b);
    id = st_recording(s, title, 0);
    t = st_transcript(BATCH, fmt);
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, BATCH, 0));
    hark_transcript_free(t);
    if (id_out)
        *id_out = id;
}

/*
 * One consistency probe: the newest recordings each hold 0 or BATCH segments,
 * by their count, their transcript and a search for their batch word.
 * Returns 0, or fails the test (which in a child process exits non-zero).
 */
static void probe(hark_store *s)
{
    hark_recording_list *l = NULL;
    hark_list_options lo = HARK_LIST_OPTIONS_INIT;
    lo.limit = 5;
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    for (size_t i = 0; i < l->n; i++) {
        hark_transcript *t = NULL;
        hark_search_result *r = NULL;
        hark_search_options so = HARK_SEARCH_OPTIONS_INIT;
        char q[32];
        int b = 0;
        int rc = hark_store_transcript_get(s, l->items[i].id, &t);
        ASSERT_OK(rc);
        ASSERT_MSG(hark_transcript_count(t) == 0 || hark_transcript_count(t) == BATCH,
                   "partial batch: %zu segments", hark_transcript_count(t));
        hark_transcript_free(t);
        ASSERT(l->items[i].n_segments == 0 || l->items[i].n_segments == BATCH);
        ASSERT(sscanf(l->items[i].title, "batch %d", &b) == 1);
        snprintf(q, sizeof(q), "batch%dx", b);
        so.limit = 100;
        so.recording = l->items[i].id;
        ASSERT_OK(hark_store_search(s, q, &so, &r));
        ASSERT_MSG(r->n == 0 || r->n == BATCH, "search saw a partial batch: %zu hits", r->n);
        hark_search_result_free(r);
    }
    hark_recording_list_free(l);
}

typedef struct shared {
    hark_store *s;
    volatile int stop;
    int probes;
} shared;

static void *reader_thread(void *arg)
{
    shared *sh = arg;
    while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
        probe(sh->s);
        __atomic_add_fetch(&sh->probes, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

TEST(threads_share_one_handle)
{
    shared sh = { NULL, 0, 0 };
    pthread_t th[4];
    int b;
    sh.s = st_open();
    write_batch(sh.s, 0, NULL);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, reader_thread, &sh), 0);
    for (b = 1; b <= 60; b++)
        write_batch(sh.s, b, NULL);
    __atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ASSERT(sh.probes > 0);
    ASSERT_EQ(st_hits(sh.s, "common"), (size_t)61 * BATCH);
    ASSERT_OK(hark_store_check(sh.s));
    hark_store_free(sh.s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(processes_readers_never_see_partial_batches_or_busy_errors)
{
    hark_store *s = st_open();
    pid_t pids[4];
    int status, n_readers = 3;

    write_batch(s, 0, NULL);
    hark_store_free(s);
    for (int p = 0; p <= n_readers; p++) {
        pids[p] = fork();
        ASSERT(pids[p] >= 0);
        if (pids[p] == 0) {
            /* each process opens its own handle */
            hark_store *mine = st_reopen();
            double end = now_s() + 1.5;
            int probes = 0;
            if (p == 0) {
                for (int b = 1; now_s() < end; b++)
                    write_batch(mine, b, NULL);
            } else {
                while (now_s() < end) {
                    probe(mine);
                    probes++;
                }
                if (probes == 0)
                    _exit(3);
            }
            hark_store_free(mine);
            _exit(0);
        }
    }
    for (int p = 0; p <= n_readers; p++) {
        ASSERT(waitpid(pids[p], &status, 0) == pids[p]);
        ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed (%d)", p,
                   status);
    }
    s = st_reopen();
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

/* The child: write batches forever, reporting each committed batch id on `fd`. */
static void crash_writer(int fd, int round)
{
    hark_store *s = NULL;
    if (hark_store_open(&s, st_uri()) < 0)
        _exit(2);
    for (int b = 0;; b++) {
        int64_t id;
        write_batch(s, round * 100000 + b, &id);
        if (write(fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
            _exit(2);
    }
}

TEST(kill_9_mid_batch_loses_nothing_committed)
{
    uint64_t rng = 0x5eed;
    int64_t committed[4096];
    size_t n_committed = 0;
    hark_store *s = st_open();
    hark_store_free(s);

    for (int round = 0; round < 8; round++) {
        int fds[2], status;
        pid_t pid;
        int64_t id;
        ASSERT_EQ(pipe(fds), 0);
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_writer(fds[1], round);
        }
        close(fds[1]);
        /* once the first batch is in (the writer is up), kill it at a random point */
        ASSERT_EQ(read(fds[0], &id, sizeof(id)), (ssize_t)sizeof(id));
        committed[n_committed++] = id;
        {
            struct timespec ts = { 0, (long)(1 + harness_rand(&rng) % 40) * 1000000L };
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        ASSERT(waitpid(pid, &status, 0) == pid);
        ASSERT_MSG(WIFSIGNALED(status), "writer exited early (status %d)", status);
        while (read(fds[0], &id, sizeof(id)) == (ssize_t)sizeof(id) && n_committed < 4096)
            committed[n_committed++] = id;
        close(fds[0]);
    }

    s = st_reopen();
    ASSERT_OK(hark_store_check(s));
    /* every batch reported as committed is complete */
    for (size_t i = 0; i < n_committed; i++) {
        hark_transcript *t = NULL;
        ASSERT_OK(hark_store_transcript_get(s, committed[i], &t));
        ASSERT_EQ(hark_transcript_count(t), BATCH);
        hark_transcript_free(t);
    }
    /* and no batch anywhere is partial */
    {
        hark_list_options o = HARK_LIST_OPTIONS_INIT;
        int more = 1;
        size_t total = 0;
        o.limit = 1000;
        while (more) {
            hark_recording_list *l = NULL;
            ASSERT_OK(hark_store_recording_list(s, &o, &l));
            for (size_t i = 0; i < l->n; i++) {
                hark_transcript *t = NULL;
                ASSERT_OK(hark_store_transcript_get(s, l->items[i].id, &t));
                ASSERT_MSG(hark_transcript_count(t) == 0 || hark_transcript_count(t) == BATCH,
                           "recording %lld has %zu segments", (long long)l->items[i].id,
                           hark_transcript_count(t));
                ASSERT_EQ(l->items[i].n_segments, (int64_t)hark_transcript_count(t));
                hark_transcript_free(t);
            }
            total += l->n;
            more = l->more;
            if (l->n)
                o.after = l->items[l->n - 1].id;
            hark_recording_list_free(l);
        }
        ASSERT(total >= n_committed);
        printf("  %zu batches committed before the kills, %zu recordings found\n", n_committed,
               total);
    }
    /* the store is writable again */
    write_batch(s, 999999, NULL);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}
