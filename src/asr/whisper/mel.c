/*
 * mel.c: whisper.cpp's log-mel spectrogram (FORMAT.md section 7).
 *
 * DESIGN
 * The signal is padded like whisper.cpp (200-sample reflection at the start
 * that skips x[0], then 30 s + 200 samples of zeros), cut into 400-sample
 * frames every 160 samples, windowed with the periodic Hann window and
 * transformed with a 400-point FFT in double precision: decimation in time
 * by 2 down to four levels (400 = 16 x 25), then 25-point DFTs over real
 * samples, with one shared table of cos/sin(2 pi j / 400). Power spectra go
 * through the filter bank with double accumulation, log10, then the global
 * clamp to (max - 8) and (v + 4) / 4. whisper.cpp does the FFT in float; a
 * double FFT lands within ~2e-5 of it (the golden tolerance is 1e-4).
 *
 * Frames are independent, so they are spread over the pool in fixed blocks;
 * the result does not depend on the thread count. Frames whose window lies
 * entirely in the zero padding are -10 (log10(1e-10)) without an FFT, as in
 * whisper.cpp.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "whisper.h"

#define N_FFT           HARK_WHISPER_N_FFT
#define N_BINS          (N_FFT / 2 + 1)
#define PAD_END         480000 /* 30 s of zeros */
#define PAD_REFLECT     (N_FFT / 2)
#define FRAMES_PER_TASK 32

#define N_ODD 25 /* 400 = 16 x 25: the leaves of the decimation are 25-point DFTs */

static double cos_tab[N_FFT], sin_tab[N_FFT], hann[N_FFT];
static double cos25[N_ODD][N_ODD], sin25[N_ODD][N_ODD]; /* [k][j]: angle 2 pi k j / 25 */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    int i, k;
    const double pi = 3.14159265358979323846;
    for (i = 0; i < N_FFT; i++) {
        cos_tab[i] = cos(2.0 * pi * i / N_FFT);
        sin_tab[i] = sin(2.0 * pi * i / N_FFT);
        hann[i] = 0.5 * (1.0 - cos(2.0 * pi * i / N_FFT));
    }
    for (k = 0; k < N_ODD; k++)
        for (i = 0; i < N_ODD; i++) {
            cos25[k][i] = cos_tab[(k * i % N_ODD) * (N_FFT / N_ODD)];
            sin25[k][i] = sin_tab[(k * i % N_ODD) * (N_FFT / N_ODD)];
        }
}

/*
 * DFT of the real sequence x[0], x[stride], ..., x[(n-1)*stride] into
 * re/im[0..n). n divides 400; recursion splits even n.
 */
/*
 * DFT of the real sequence x[0], x[stride], ..., x[(n-1)*stride] into
 * re/im[0..n). n divides 400; recursion splits even n down to 25, whose DFT
 * is computed directly for k <= 12 and mirrored (real input: X[n-k] =
 * conj(X[k])).
 */
static void fft_rec(const double *x, int stride, int n, double *re, double *im)
{
    const int step = N_FFT / n;
    int k, j, h;
    if (n == N_ODD) {
        double v[N_ODD];
        for (j = 0; j < N_ODD; j++)
            v[j] = x[j * stride];
        for (k = 0; k <= N_ODD / 2; k++) {
            double sr = 0, si = 0;
            for (j = 0; j < N_ODD; j++) {
                sr += v[j] * cos25[k][j];
                si -= v[j] * sin25[k][j];
            }
            re[k] = sr;
            im[k] = si;
            if (k > 0) {
                re[N_ODD - k] = sr;
                im[N_ODD - k] = -si;
            }
        }
        return;
    }
    h = n / 2;
    fft_rec(x, stride * 2, h, re, im);
    fft_rec(x + stride, stride * 2, h, re + h, im + h);
    for (k = 0; k < h; k++) {
        double wr = cos_tab[k * step], wi = -sin_tab[k * step];
        double orr = re[k + h] * wr - im[k + h] * wi;
        double oi = re[k + h] * wi + im[k + h] * wr;
        double er = re[k], ei = im[k];
        re[k] = er + orr;
        im[k] = ei + oi;
        re[k + h] = er - orr;
        im[k + h] = ei - oi;
    }
}

typedef struct mel_job {
    const float *pcm;     /* the audio */
    size_t n;             /* samples */
    const float *filters; /* [n_mel][201] */
    int n_mel;
    int n_len;        /* frames */
    int n_fft_frames; /* frames that need an FFT */
    float *out;       /* [n_mel][n_len] */
    int band_lo[256]; /* per mel band: first and one past the last non-zero filter bin */
    int band_hi[256];
} mel_job;

/* Sample k of the padded signal P (FORMAT.md 7.1). */
static double padded(const mel_job *j, int64_t k)
{
    int64_t t;
    if (k < PAD_REFLECT) {
        t = PAD_REFLECT - k; /* P[0] = x[200] ... P[199] = x[1] */
        return t < (int64_t)j->n ? (double)j->pcm[t] : 0.0;
    }
    t = k - PAD_REFLECT;
    return t < (int64_t)j->n ? (double)j->pcm[t] : 0.0;
}

static void mel_task(void *payload, int task, int worker)
{
    const mel_job *j = payload;
    double frame[N_FFT], re[N_FFT], im[N_FFT], power[N_BINS];
    int i0 = task * FRAMES_PER_TASK, i1 = HARK_MIN(i0 + FRAMES_PER_TASK, j->n_len);
    int i, k, m;
    HARK_UNUSED(worker);

    for (i = i0; i < i1; i++) {
        if (i >= j->n_fft_frames) {
            for (m = 0; m < j->n_mel; m++)
                j->out[(size_t)m * j->n_len + i] = -10.0f;
            continue;
        }
        {
            int64_t s0 =
                (int64_t)i * HARK_WHISPER_HOP - PAD_REFLECT; /* first sample of the frame */
            if (s0 >= 0 && s0 + N_FFT <= (int64_t)j->n) {
                for (k = 0; k < N_FFT; k++)
                    frame[k] = hann[k] * (double)j->pcm[s0 + k];
            } else {
                for (k = 0; k < N_FFT; k++)
                    frame[k] = hann[k] * padded(j, (int64_t)i * HARK_WHISPER_HOP + k);
            }
        }
        fft_rec(frame, 1, N_FFT, re, im);
        for (k = 0; k < N_BINS; k++)
            power[k] = re[k] * re[k] + im[k] * im[k];
        for (m = 0; m < j->n_mel; m++) {
            const float *f = j->filters + (size_t)m * N_BINS;
            double sum = 0;
            for (k = j->band_lo[m]; k < j->band_hi[m]; k++)
                sum += (double)f[k] * power[k];
            j->out[(size_t)m * j->n_len + i] = (float)log10(sum > 1e-10 ? sum : 1e-10);
        }
    }
}

int hark__whisper_mel_compute(hark_whisper_mel *mel, const float *filters, int n_mel,
                              const float *pcm, size_t n, hark_pool *pool)
{
    mel_job j;
    size_t need, i, total;
    double mmax = -1e20;
    int64_t n_org;

    HARK_ASSERT_ARG(mel && filters && n_mel > 0 && (pcm || n == 0));
    if (n > (size_t)INT32_MAX - PAD_END - N_FFT)
        return hark_error_set(HARK_ETOOBIG, "audio too long for one mel spectrogram");
    pthread_once(&tables_once, tables_init);

    j.pcm = pcm;
    j.n = n;
    j.filters = filters;
    j.n_mel = n_mel;
    j.n_len = (int)((n + PAD_END) / HARK_WHISPER_HOP);
    /* whisper.cpp transforms frames i < (n + 200) / 160 + 1; later ones see only zeros */
    j.n_fft_frames = HARK_MIN(j.n_len, (int)((n + PAD_REFLECT) / HARK_WHISPER_HOP + 1));
    for (i = 0; i < (size_t)n_mel && i < HARK_ARRAY_SIZE(j.band_lo); i++) {
        const float *f = filters + i * N_BINS;
        int lo = 0, hi = N_BINS;
        while (lo < hi && f[lo] == 0.0f)
            lo++;
        while (hi > lo && f[hi - 1] == 0.0f)
            hi--;
        j.band_lo[i] = lo;
        j.band_hi[i] = hi;
    }
    if (n_mel > (int)HARK_ARRAY_SIZE(j.band_lo))
        return hark_error_set(HARK_EINVAL, "%d mel bands, at most 256", n_mel);
    need = (size_t)n_mel * (size_t)j.n_len;
    if (need > mel->cap) {
        float *d = hark__realloc(mel->data, need * sizeof(float));
        if (!d)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        mel->data = d;
        mel->cap = need;
    }
    j.out = mel->data;
    hark_pool_run(pool, (j.n_len + FRAMES_PER_TASK - 1) / FRAMES_PER_TASK, mel_task, &j);

    total = need;
    for (i = 0; i < total; i++)
        if (mel->data[i] > mmax)
            mmax = mel->data[i];
    mmax -= 8.0;
    for (i = 0; i < total; i++) {
        double v = mel->data[i];
        if (v < mmax)
            v = (float)mmax;
        mel->data[i] = (float)((v + 4.0) / 4.0);
    }
    mel->n_mel = n_mel;
    mel->n_len = j.n_len;
    /* C division truncates toward zero, as in whisper.cpp */
    n_org = 1 + ((int64_t)n + PAD_REFLECT - N_FFT) / HARK_WHISPER_HOP;
    mel->n_len_org = (int)n_org;
    return 0;
}

void hark__whisper_mel_dispose(hark_whisper_mel *mel)
{
    if (!mel)
        return;
    hark__free(mel->data);
    memset(mel, 0, sizeof(*mel));
}
