/*
 * bench_queue.c: job queue throughput with several claiming processes, on
 * SQLite and on PostgreSQL in the same run: claims per second with an empty
 * engine (claim + end as done, nothing transcribed), 1..P processes.
 *
 *   bench_queue --pg URI [--jobs N] [--procs P] [--sqlite PATH]
 *
 * Each round submits N jobs, forks P processes that each open the store and
 * claim-and-finish until the queue is empty, and reports claims/s for the
 * round. The SQLite figure, measured in the same run on the same machine,
 * is the baseline; the ratio PG / SQLite is printed for each P.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hark/hark.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int submit(const char *uri, int n)
{
    hark_store *s = NULL;
    if (hark_store_open(&s, uri) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        hark_recording r = HARK_RECORDING_INIT;
        hark_job j = HARK_JOB_INIT;
        hark_job_submitted sub;
        r.title = "bench";
        if (hark_store_job_submit(s, &r, &j, &sub) < 0) {
            hark_store_free(s);
            return -1;
        }
    }
    hark_store_free(s);
    return 0;
}

static void claimer(const char *uri, int k)
{
    hark_store *s = NULL;
    char name[64];
    snprintf(name, sizeof(name), "bench:%d:%d", (int)getpid(), k);
    if (hark_store_open(&s, uri) < 0)
        _exit(1);
    for (;;) {
        hark_job *j = NULL;
        int rc = hark_store_job_claim(s, name, 30000, HARK_PRIORITY_MAINTENANCE, &j, NULL);
        if (rc == HARK_ENOTFOUND)
            break;
        if (rc < 0 || hark_store_job_end(s, j->id, name, HARK_JOB_DONE, 0, 0, NULL) < 0) {
            fprintf(stderr, "claimer: %s\n", hark_error_last());
            _exit(1);
        }
        hark_job_free(j);
    }
    hark_store_free(s);
    _exit(0);
}

static double round_rate(const char *uri, int jobs, int procs)
{
    double t0;
    int ok = 1;
    if (submit(uri, jobs) < 0) {
        fprintf(stderr, "submit: %s\n", hark_error_last());
        exit(1);
    }
    t0 = now_s();
    for (int p = 0; p < procs; p++)
        if (fork() == 0)
            claimer(uri, p);
    for (int p = 0; p < procs; p++) {
        int st = 0;
        wait(&st);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    if (!ok)
        exit(1);
    return (double)jobs / (now_s() - t0);
}

int main(int argc, char **argv)
{
    const char *pg = NULL, *sqlite = "/tmp/bench_queue.db";
    int jobs = 2000, procs = 3;
    char sq[600];
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pg"))
            pg = argv[i + 1];
        else if (!strcmp(argv[i], "--jobs"))
            jobs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--procs"))
            procs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sqlite"))
            sqlite = argv[i + 1];
    }
    if (!pg) {
        fprintf(stderr, "usage: bench_queue --pg URI [--jobs N] [--procs P] [--sqlite PATH]\n");
        return 2;
    }
    snprintf(sq, sizeof(sq), "sqlite:%s", sqlite);
    unlink(sqlite);
    printf("claims/s with an empty engine (claim + done), %d jobs per round\n", jobs);
    printf("%-6s %12s %12s %8s\n", "procs", "sqlite", "postgresql", "pg/sq");
    for (int p = 1; p <= procs; p++) {
        double a = round_rate(sq, jobs, p), b = round_rate(pg, jobs, p);
        printf("%-6d %12.0f %12.0f %8.2f\n", p, a, b, b / a);
    }
    return 0;
}
