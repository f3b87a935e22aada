/*
 * bench_decode.c: how much faster than real time hark decodes (demux +
 * decode + downmix + resample to 16 kHz mono float), against ffmpeg doing the
 * same conversion in the same run. Figures are CPU seconds (the machine may
 * be shared: wall time is shown but not used for the ratios).
 *
 *     bench_decode [FILE...]
 *
 * Without files it makes, from the shared corpus's 20.6-minute recording
 * ($HARK_SHARED_DIR, default ../shared: corpus/long/4088-158077.wav), a
 * 44.1 kHz stereo WAV and a 128 kbit/s MP3
 * in a temporary folder, and measures those and the original. Each file is
 * decoded three times; the best run counts (the machine is shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hark/hark.h"
#include "util/util.h"

#define RUNS 3

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Best wall time of RUNS decodes; audio seconds in *audio, CPU seconds of the best in *cpu. */
static int bench_hark(const char *path, double *wall, double *cpu, double *audio)
{
    static float buf[16384];
    int r;
    *wall = 1e30;
    for (r = 0; r < RUNS; r++) {
        hark_decoder *dec = NULL;
        uint64_t total = 0;
        size_t n;
        double t0 = hark__now_ms(), c0 = cpu_s(), t;
        int rc = hark_decoder_open(&dec, path, NULL);
        if (rc < 0) {
            fprintf(stderr, "%s\n", hark_error_last());
            return rc;
        }
        while ((rc = hark_decoder_read(dec, buf, 16384, &n)) == 0 && n > 0)
            total += n;
        hark_decoder_free(dec);
        if (rc < 0) {
            fprintf(stderr, "%s\n", hark_error_last());
            return rc;
        }
        t = (hark__now_ms() - t0) / 1000;
        if (t < *wall) {
            *wall = t;
            *cpu = cpu_s() - c0;
        }
        *audio = (double)total / HARK_SAMPLE_RATE;
    }
    return 0;
}

static double children_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * Best wall time of RUNS single-threaded `ffmpeg` conversions to 16 kHz mono
 * float, and the CPU time of that run; 0 if ffmpeg is missing.
 */
static double bench_ffmpeg(const char *path, double *cpu)
{
    char cmd[4096];
    double best = 0;
    int r;
    if (system("command -v ffmpeg >/dev/null 2>&1") != 0)
        return 0;
    snprintf(
        cmd, sizeof(cmd),
        "exec ffmpeg -nostdin -v error -threads 1 -i '%s' -ac 1 -ar 16000 -f f32le -y /dev/null",
        path);
    for (r = 0; r < RUNS; r++) {
        double t0 = hark__now_ms(), c0 = children_cpu_s(), t;
        if (system(cmd) != 0)
            return 0;
        t = (hark__now_ms() - t0) / 1000;
        if (best == 0 || t < best) {
            best = t;
            *cpu = children_cpu_s() - c0;
        }
    }
    return best;
}

static void report(const char *path)
{
    double wall = 0, cpu = 0, audio = 0, ff, ff_cpu = 0;
    const char *base = strrchr(path, '/');
    if (bench_hark(path, &wall, &cpu, &audio) < 0)
        return;
    printf("%-22s %6.1f s audio | hark %6.3f s wall, %6.3f s CPU = %5.0fx real time",
           base ? base + 1 : path, audio, wall, cpu, audio / cpu);
    ff = bench_ffmpeg(path, &ff_cpu);
    if (ff > 0)
        printf(" | ffmpeg %6.3f s wall, %6.3f s CPU | CPU hark/ffmpeg %.2f", ff, ff_cpu,
               cpu / ff_cpu);
    printf("\n");
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/hark-bench-XXXXXX";
    char src[1024], wav[1100], mp3[1100], cmd[8192];
    const char *shared = getenv("HARK_SHARED_DIR");
    int i;

    if (argc > 1) {
        for (i = 1; i < argc; i++)
            report(argv[i]);
        return 0;
    }
    snprintf(src, sizeof(src), "%s/corpus/long/4088-158077.wav",
             shared && *shared ? shared : "../shared");
    if (access(src, R_OK) != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "usage: bench_decode FILE... (%s not found)\n", src);
        return 2;
    }
    snprintf(wav, sizeof(wav), "%s/long-44k-stereo.wav", dir);
    snprintf(mp3, sizeof(mp3), "%s/long-44k-stereo.mp3", dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -i '%s' -ac 2 -ar 44100 '%s' && "
             "ffmpeg -nostdin -v error -i '%s' -c:a libmp3lame -b:a 128k '%s'",
             src, wav, wav, mp3);
    fprintf(stderr, "making test files in %s...\n", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "ffmpeg could not make the test files\n");
        return 2;
    }
    report(src);
    report(wav);
    report(mp3);
    unlink(wav);
    unlink(mp3);
    rmdir(dir);
    return 0;
}
