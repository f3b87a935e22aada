/*
 * bench_cache.c: what the result cache saves. Runs `hark transcribe` on a
 * recording in a fresh data and cache directory: once cold (the engine runs),
 * then again (answered from the cache by the file's hash, median of
 * `repeats`), then once on the same
 * audio re-encoded as FLAC (another file: answered chunk by chunk from the
 * decoded audio's hashes, no engine run), each a fresh process timed from
 * fork to exit. Target: the repeat under 1% of the cold run's time.
 *
 *   bench_cache [FILE] [ENGINE] [repeats]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HARK_BUILD_DIR
#define HARK_BUILD_DIR "build"
#endif
#ifndef HARK_SHARED_DIR
#define HARK_SHARED_DIR "../shared"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall seconds of one shell command, or -1 if it failed. */
static double timed(const char *cmd)
{
    double t0 = now_s();
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_cache: failed (status %d): %s\n", st, cmd);
        return -1;
    }
    return now_s() - t0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of `reps` runs of cmd. */
static double median(const char *cmd, int reps)
{
    double t[16];
    int i;
    for (i = 0; i < reps; i++)
        if ((t[i] = timed(cmd)) < 0)
            return -1;
    qsort(t, (size_t)reps, sizeof(t[0]), cmp_d);
    return t[reps / 2];
}

int main(int argc, char **argv)
{
    const char *file = argc > 1 ? argv[1] : HARK_SHARED_DIR "/corpus/long/4088-158077.wav";
    const char *engine = argc > 2 ? argv[2] : "pocketsphinx";
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    char dir[] = "/tmp/hark-bench-cache-XXXXXX", env[512], cmd[4096], flac[600];
    double cold, warm, other = -1;

    if (reps < 1 || reps > 15 || !mkdtemp(dir)) {
        fprintf(stderr, "usage: bench_cache [FILE] [ENGINE] [repeats 1..15]\n");
        return 2;
    }
    snprintf(env, sizeof(env), "XDG_DATA_HOME='%s/data' XDG_CACHE_HOME='%s/cache'", dir, dir);
    snprintf(flac, sizeof(flac), "%s/copy.flac", dir);

    printf("bench_cache: %s, engine %s\n", file, engine);
    snprintf(cmd, sizeof(cmd), "%s %s/hark transcribe -q -e %s '%s' > %s/cold.txt", env,
             HARK_BUILD_DIR, engine, file, dir);
    if ((cold = timed(cmd)) < 0)
        return 1;
    printf("cold run (engine):                    %9.3f s\n", cold);

    snprintf(cmd, sizeof(cmd), "%s %s/hark transcribe -q -e %s '%s' > %s/warm.txt", env,
             HARK_BUILD_DIR, engine, file, dir);
    if ((warm = median(cmd, reps)) < 0)
        return 1;
    printf("repeat (file hash hit), median of %d:  %9.3f s  = %.3f%% of the cold run (target < "
           "1%%)\n",
           reps, warm, 100 * warm / cold);

    snprintf(cmd, sizeof(cmd), "ffmpeg -v error -y -i '%s' -c:a flac '%s'", file, flac);
    if (system(cmd) == 0) {
        snprintf(cmd, sizeof(cmd), "%s %s/hark transcribe -q -e %s '%s' > %s/other.txt", env,
                 HARK_BUILD_DIR, engine, flac, dir);
        if ((other = timed(cmd)) >= 0) /* once: a second run would hit the file's hash */
            printf("same audio as FLAC (chunk hits):      %9.3f s  = %.2f%% of the cold run\n",
                   other, 100 * other / cold);
    }
    snprintf(cmd, sizeof(cmd), "cmp -s %s/cold.txt %s/warm.txt && %s", dir, dir,
             other >= 0 ? "" : "true");
    if (other >= 0)
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "cmp -s %s/cold.txt %s/other.txt",
                 dir, dir);
    printf("transcripts identical: %s\n", system(cmd) == 0 ? "yes" : "NO");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
