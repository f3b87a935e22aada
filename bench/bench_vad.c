/*
 * bench_vad.c: speed of the VAD and of the chunker, as multiples of real time.
 *
 *     bench_vad [file.wav]   (default: the shared 20.6-minute chapter)
 *
 * The file is a plain 44-byte-header 16-bit PCM 16 kHz mono WAV. Timings are
 * CPU time of this process (best of 5 runs, so other load on the machine
 * matters little), next to a baseline measured in the same run: one pass
 * computing the energy of every 10 ms frame, the cheapest possible VAD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hark/hark.h"
#include "pipeline/chunker.h"
#include "util/util.h"
#include "vad/vad.h"

#define RATE  16000
#define BLOCK 4096 /* samples per push, like the decoder's blocks */
#define RUNS  5

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *read_wav(const char *path, size_t *n)
{
    float *pcm = NULL;
    return hark_audio_load(&pcm, n, path) == 0 ? pcm : NULL; /* free with hark_free */
}

static int count_frame(void *payload, const hark_vad_frame *f)
{
    *(int64_t *)payload += f->speech;
    return 0;
}

static int drop_chunk(void *payload, hark_chunk *ch)
{
    (*(int64_t *)payload)++;
    hark__free(ch->pcm);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : HARK_SHARED_DIR "/corpus/long/4088-158077.wav";
    size_t n = 0, pos;
    float *x = read_wav(path, &n);
    double sec, best_base = 1e9, best_vad = 1e9, best_chunk = 1e9;
    volatile float sink = 0.0f;
    int64_t speech = 0, chunks = 0;
    int run;
    if (!x) {
        fprintf(stderr, "bench_vad: cannot read %s (a 16 kHz mono 16-bit WAV)\n", path);
        return 1;
    }
    sec = (double)n / RATE;
    for (run = 0; run < RUNS; run++) {
        double t0 = cpu_s(), t;
        hark__vad *v = NULL;
        hark__chunker *c = NULL;
        hark_chunker_config cfg = { 5 * RATE, 20 * RATE, 0, 0.5f, 2 * RATE };

        /* baseline: frame energies */
        for (pos = 0; pos + 160 <= n; pos += 160) {
            float e = 0.0f;
            size_t i;
            for (i = 0; i < 160; i++)
                e += x[pos + i] * x[pos + i];
            sink += e;
        }
        t = cpu_s();
        best_base = HARK_MIN(best_base, t - t0);

        /* the VAD alone */
        t0 = cpu_s();
        speech = 0;
        if (hark__vad_new(&v, 0.5f, HARK_VAD_LOOKAHEAD) < 0)
            return 1;
        for (pos = 0; pos < n; pos += BLOCK)
            hark__vad_push(v, x + pos, HARK_MIN(BLOCK, n - pos), count_frame, &speech);
        hark__vad_finish(v, count_frame, &speech);
        hark__vad_free(v);
        t = cpu_s();
        best_vad = HARK_MIN(best_vad, t - t0);

        /* VAD + chunker, PocketSphinx-like lengths (chunks copied out and freed) */
        t0 = cpu_s();
        chunks = 0;
        if (hark__chunker_new(&c, &cfg) < 0)
            return 1;
        for (pos = 0; pos < n; pos += BLOCK)
            hark__chunker_push(c, x + pos, HARK_MIN(BLOCK, n - pos), drop_chunk, &chunks);
        hark__chunker_finish(c, drop_chunk, &chunks);
        hark__chunker_free(c);
        t = cpu_s();
        best_chunk = HARK_MIN(best_chunk, t - t0);
    }
    printf("bench_vad: %s, %.1f s of audio, best of %d runs (CPU time)\n", path, sec, RUNS);
    printf("  baseline (frame energies)  %8.3f ms  %9.0fx real time\n", best_base * 1e3,
           sec / best_base);
    printf("  VAD                        %8.3f ms  %9.0fx real time  (%.3f%% of one core, "
           "%.1fx baseline; %.1f%% speech)\n",
           best_vad * 1e3, sec / best_vad, 100.0 * best_vad / sec, best_vad / best_base,
           100.0 * (double)speech * 160 / (double)n);
    printf("  VAD + chunker [5 s, 20 s]  %8.3f ms  %9.0fx real time  (%.3f%% of one core, "
           "%lld chunks)\n",
           best_chunk * 1e3, sec / best_chunk, 100.0 * best_chunk / sec, (long long)chunks);
    hark_free(x);
    return sink < 0.0f; /* keeps the baseline loop */
}
