/*
 * bench_startup.c: how long `hark --version` and `hark --help` take, from
 * fork to exit (median of 200 runs), next to `hark-cli --version` (the full
 * tool with FFmpeg's libraries loaded) and /bin/true as a floor measured in
 * the same run. Target: under 10 ms for the launcher.
 *
 *   ./build/bench/bench_startup [BUILD_DIR]
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 200

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_ms(const char *prog, const char *arg)
{
    static double t[RUNS];
    int i;
    for (i = 0; i < RUNS; i++) {
        double t0 = now_ms();
        int st;
        pid_t pid = fork();
        if (pid == 0) {
            freopen("/dev/null", "w", stdout);
            execl(prog, prog, arg, (char *)NULL);
            _exit(127);
        }
        waitpid(pid, &st, 0);
        t[i] = now_ms() - t0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s %s failed\n", prog, arg);
            exit(1);
        }
    }
    qsort(t, RUNS, sizeof(double), cmp);
    return t[RUNS / 2];
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : HARK_BUILD_DIR;
    char hark[4096], cli[4096];
    double floor_ms, v, h, full;
    snprintf(hark, sizeof(hark), "%s/hark", dir);
    snprintf(cli, sizeof(cli), "%s/hark-cli", dir);
    floor_ms = median_ms("/bin/true", "--version");
    v = median_ms(hark, "--version");
    h = median_ms(hark, "--help");
    full = median_ms(cli, "--version");
    printf("start-up, median of %d runs (fork to exit):\n", RUNS);
    printf("  /bin/true                %6.2f ms  (floor)\n", floor_ms);
    printf("  hark --version           %6.2f ms  (target < 10 ms: %s)\n", v,
           v < 10 ? "met" : "MISSED");
    printf("  hark --help              %6.2f ms  (target < 10 ms: %s)\n", h,
           h < 10 ? "met" : "MISSED");
    printf("  hark-cli --version       %6.2f ms  (the full tool, FFmpeg loaded)\n", full);
    printf("  launcher / full tool     %6.3f\n", v / full);
    return v < 10 && h < 10 ? 0 : 1;
}
