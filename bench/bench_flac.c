/*
 * bench_flac.c: the FLAC archive writer on real speech: size against 16-bit
 * PCM (the baseline: what a WAV archive would take), encoding speed, and a
 * bit-exact round trip through the decoder.
 *
 *     bench_flac [FILE...]
 *
 * Without files it uses the shared corpus's two long recordings
 * ($HARK_SHARED_DIR, default ../shared: corpus/long/4088-158077.wav and
 * 4406-16882.wav).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audio/audio.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int report(const char *path)
{
    char out[] = "/tmp/hark-bench-flac-XXXXXX";
    float *pcm = NULL, *back = NULL;
    size_t n = 0, m = 0, i;
    hark_flac_writer *w = NULL;
    struct stat st;
    double c0, c1;
    int rc, fd;

    rc = hark_audio_load(&pcm, &n, path);
    if (rc < 0)
        goto out;
    fd = mkstemp(out);
    if (fd < 0) {
        rc = hark_error_set(HARK_EIO, "cannot create a temporary file");
        goto out;
    }
    close(fd);
    c0 = cpu_s();
    rc = hark__flac_writer_open(&w, out);
    for (i = 0; rc == 0 && i < n; i += HARK_SAMPLE_RATE) /* one-second blocks, like a live feed */
        rc = hark__flac_writer_write(w, pcm + i, HARK_MIN((size_t)HARK_SAMPLE_RATE, n - i));
    if (rc == 0)
        rc = hark__flac_writer_close(w);
    else
        hark__flac_writer_discard(w);
    c1 = cpu_s();
    if (rc < 0 || stat(out, &st) != 0)
        goto out;
    rc = hark_audio_load(&back, &m, out);
    if (rc < 0)
        goto out;
    printf("%s: %.1f s of audio, 16-bit PCM %zu bytes, FLAC %lld bytes = %.1f%% (ratio %.3f), "
           "encoded in %.2f s CPU (%.0fx real time), round trip %s\n",
           path, (double)n / HARK_SAMPLE_RATE, 2 * n, (long long)st.st_size,
           100.0 * (double)st.st_size / (double)(2 * n), (double)(2 * n) / (double)st.st_size,
           c1 - c0, (double)n / HARK_SAMPLE_RATE / (c1 - c0),
           m == n && memcmp(pcm, back, n * sizeof(float)) == 0 ? "bit-exact" : "DIFFERS");
out:
    if (rc < 0)
        fprintf(stderr, "%s\n", hark_error_last());
    unlink(out);
    hark_free(pcm);
    hark_free(back);
    return rc;
}

int main(int argc, char **argv)
{
    const char *shared = getenv("HARK_SHARED_DIR");
    char path[1024];
    int i, rc = 0;

    if (argc > 1) {
        for (i = 1; i < argc; i++)
            rc |= report(argv[i]) < 0;
        return rc;
    }
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/corpus/long/%s.wav",
                 shared && *shared ? shared : "../shared", i == 0 ? "4088-158077" : "4406-16882");
        rc |= report(path) < 0;
    }
    return rc;
}
