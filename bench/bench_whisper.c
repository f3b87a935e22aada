/*
 * bench_whisper.c: timings of the native Whisper engine, the same figures
 * whisper.cpp's README table reports (shared/whisper-golden/README.md):
 * encoder (one 30-s window), decoding one token with a growing KV cache
 * (256 steps), 5 tokens as one batch, a 256-token prompt, and whole
 * transcriptions of a WAV file greedy (-bs 1 -bo 1 -nf) and with whisper-
 * cli's defaults (beam 5, best-of 5, fallback). Best of `reps` runs (other
 * jobs on a shared machine only add time).
 *
 *   bench_whisper MODEL.bin [WAV] [threads] [reps]
 *
 * Models of the real tiny/base shapes with random weights come from
 * shared/whisper-golden/tools/make_random_whisper.py --shape tiny|base.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/whisper/whisper.h"
#include "hark/hark.h"

static float *read_wav(const char *path, size_t *n)
{
    float *pcm = NULL;
    return hark_audio_load(&pcm, n, path) == 0 ? pcm : NULL; /* free with hark_free */
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The fastest of the runs: on a shared machine other jobs only ever add time. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[0];
}

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : NULL;
    const char *wav = argc > 2 ? argv[2] : "../shared/whisper-golden/jfk.wav";
    int threads = argc > 3 ? atoi(argv[3]) : 2, reps = argc > 4 ? atoi(argv[4]) : 3;
    hark_whisper_model *m = NULL;
    hark_whisper_state *st = NULL;
    hark_whisper_params p;
    hark_whisper_result r;
    double t, times[16], enc_ms;
    float *pcm, *logits;
    size_t n;
    int i, k, ntok;
    int32_t tok[256], pos[256], seq[256];
    uint8_t want[256];

    if (!model) {
        fprintf(stderr, "usage: bench_whisper MODEL.bin [WAV] [threads] [reps]\n");
        return 2;
    }
    if (reps > 16)
        reps = 16;
    t = hark__now_ms();
    if (hark__whisper_model_load(&m, model) < 0) {
        fprintf(stderr, "%s\n", hark_error_last());
        return 1;
    }
    printf("model: %s, loaded in %.0f ms; kernels: %s; threads: %d\n", model, hark__now_ms() - t,
           hark_kernels_name(), threads);
    if (!(pcm = read_wav(wav, &n))) {
        fprintf(stderr, "%s: cannot read\n", wav);
        return 1;
    }
    if (hark__whisper_state_new(&st, m) < 0 || hark__whisper_state_threads(st, threads) < 0) {
        fprintf(stderr, "%s\n", hark_error_last());
        return 1;
    }
    logits = malloc((size_t)16 * m->hp.n_vocab * sizeof(float));

    for (i = 0; i < reps; i++) {
        t = hark__now_ms();
        hark__whisper_mel_compute(&st->mel, m->filters, m->hp.n_mels, pcm, n, st->pool);
        times[i] = hark__now_ms() - t;
    }
    printf("mel (%.1f s of audio):            %8.2f ms\n", (double)n / 16000, median(times, reps));
    hark__whisper_encode(st, &st->mel, 0); /* warm-up */
    for (i = 0; i < reps; i++) {
        t = hark__now_ms();
        hark__whisper_encode(st, &st->mel, 0);
        times[i] = hark__now_ms() - t;
    }
    enc_ms = median(times, reps);
    printf("encoder (one 30-s window):         %8.2f ms\n", enc_ms);

    /* one token at a time with a growing KV cache */
    for (i = 0; i < reps; i++) {
        t = hark__now_ms();
        for (k = 0; k < 256; k++) {
            hark_whisper_batch b = { 1, tok, pos, seq, want };
            tok[0] = 50257 + (k % 7);
            pos[0] = k;
            seq[0] = 0;
            want[0] = 1;
            hark__whisper_decode(st, &b, logits);
        }
        times[i] = (hark__now_ms() - t) / 256;
    }
    printf("decode, 1 token, growing KV (256): %8.2f ms/token\n", median(times, reps));

    /* 5 sequences, one token each */
    hark__whisper_state_reserve(st, 5);
    for (i = 0; i < reps; i++) {
        t = hark__now_ms();
        for (k = 0; k < 64; k++) {
            hark_whisper_batch b = { 5, tok, pos, seq, want };
            int j;
            for (j = 0; j < 5; j++) {
                tok[j] = 440 + j;
                pos[j] = k;
                seq[j] = j;
                want[j] = 1;
            }
            hark__whisper_decode(st, &b, logits);
        }
        times[i] = (hark__now_ms() - t) / (64 * 5);
    }
    printf("decode, 5-token batches:           %8.2f ms/token\n", median(times, reps));

    /* a 256-token prompt, logits for the last one */
    ntok = HARK_MIN(256, m->hp.n_text_ctx - 1);
    for (i = 0; i < reps; i++) {
        hark_whisper_batch b = { ntok, tok, pos, seq, want };
        for (k = 0; k < ntok; k++) {
            tok[k] = 220 + k;
            pos[k] = k;
            seq[k] = 0;
            want[k] = k == ntok - 1;
        }
        t = hark__now_ms();
        hark__whisper_decode(st, &b, logits);
        times[i] = (hark__now_ms() - t) / ntok;
    }
    printf("prompt, %d-token batch:           %8.2f ms/token\n", ntok, median(times, reps));

    hark__whisper_params_default(&p);
    p.best_of = 1;
    p.temperature_inc = 0.0f;
    for (i = 0; i < reps; i++) {
        t = hark__now_ms();
        hark__whisper_full(st, &p, pcm, n, &r);
        times[i] = hark__now_ms() - t;
        if (i == 0) {
            int s, tk = 0;
            for (s = 0; s < r.n_seg; s++)
                tk += r.seg[s].n_tokens;
            printf("full greedy (-bs 1 -bo 1 -nf): %d windows, %d tokens\n", r.n_windows, tk);
        }
        hark__whisper_result_dispose(&r);
    }
    printf("full greedy total:                 %8.2f ms   RTF %.3f\n", median(times, reps),
           median(times, reps) / 1000.0 / ((double)n / 16000));

    hark__whisper_params_default(&p);
    p.beam_size = 5;
    for (i = 0; i < reps; i++) {
        t = hark__now_ms();
        hark__whisper_full(st, &p, pcm, n, &r);
        times[i] = hark__now_ms() - t;
        if (i == 0)
            printf("full defaults (beam 5, best-of 5, fallback): %d windows, %d fallbacks\n",
                   r.n_windows, r.n_fallbacks);
        hark__whisper_result_dispose(&r);
    }
    printf("full defaults total:               %8.2f ms   RTF %.3f\n", median(times, reps),
           median(times, reps) / 1000.0 / ((double)n / 16000));
    printf("peak RSS: %.0f MB\n", (double)hark__peak_rss() / 1e6);

    free(logits);
    hark_free(pcm);
    hark__whisper_state_free(st);
    hark__whisper_model_free(m);
    return 0;
}
