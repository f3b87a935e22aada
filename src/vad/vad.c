/*
 * vad.c: energy + spectral voice-activity detection, streaming.
 *
 * DESIGN
 * Every 10 ms frame (160 samples) goes through a chain of stages; each is a
 * function of a bounded window of the previous one, so the whole detector is
 * a fixed-delay filter over the frame sequence:
 *
 *  1. Features. A 256-point Hann-windowed FFT over the frame and the 96
 *     samples before it gives the power of five bands spanning the speech
 *     band (250-500-900-1500-2400-4000 Hz) and their sum, the frame level.
 *     Below 250 Hz (mains hum and its first harmonics, rumble) nothing counts.
 *
 *  2. Activity (S_ACT). Each band has its own noise floor: the minimum of
 *     its exponentially smoothed power over the frames [k - 2 s, k + 1 s]
 *     (minimum statistics with look-ahead, so the floor is right from the
 *     first frame of a stream, whether it starts in speech or in noise),
 *     raised by 3 dB towards the mean of the noise. The frame's score is the
 *     mean, over its 3 best bands, of its power above the floors (each
 *     clipped to 0..30 dB): speech is strong in a few formant bands at a
 *     time, and coloured noise (a fan) cannot hide it in the other bands.
 *     A frame is active when the score exceeds a margin, its level is above
 *     an absolute gate (digital silence and very faint sounds never count)
 *     and within a range of the loudest frame of the last 5 s. It is loud
 *     when also within a narrower range of that peak. Steady noise of any
 *     colour and level (fan, hum, hiss) sits on its floors: never active.
 *
 *  3. Near (S_NEAR): an active frame counts only within 200 ms of a loud
 *     one. Weak sounds belong to speech next to a syllable nucleus; away
 *     from speech they are breaths, rustle or a background bed (music more
 *     than ~20 dB under the voice) and are dropped.
 *
 *  4. Smoothing, as morphological filters: opening (S_OPEN) drops runs
 *     shorter than 30 ms (clicks), closing (S_CLOSE) fills gaps shorter than
 *     250 ms (stop closures, gaps inside and between words: no cut there),
 *     dilation (S_DILATE) extends speech by 50 ms on both sides (weak onsets
 *     and decays). The result is the frame's decision, reported in order.
 *
 * `threshold` (0..1, default 0.5) moves the margin (8 dB), the gate
 * (-68 dB), the range (40 dB) and the loud range (22 dB) together: higher
 * means stricter (see hark__vad_new()).
 *
 * LOW LATENCY (live streams)
 * The look-ahead above costs 1.53 s: fine for chunking a file, too slow to
 * end a spoken utterance. HARK_VAD_LOW_LATENCY keeps the stages but makes
 * the ones that look ahead look back only: the floors and the peak are over
 * [k - 2 s, k] and [k - 5 s, k], a frame is near a loud frame in the 200 ms
 * before it (or itself), and closing is left out (a live endpointer waits
 * for far longer silence than 250 ms anyway). Opening and dilation stay:
 * delay = 1 + (MIN_RUN - 1) + DILATE = 8 frames (80 ms). What it costs: a stream
 * that starts in speech is not speech until the first dip in level (the
 * floor starts at the speech), the weak onset before a syllable's loud
 * nucleus is not speech (dilation and the live pre-roll cover 50 + 200 ms
 * of it), and short gaps come out as silence. bench/bench_endpoint.c
 * measures the word error rate of live finals with either mode.
 *
 * INVARIANTS
 * - Frames lie on a fixed grid from the first sample; partial input waits in
 *   `part` until a frame is complete, so the decisions do not depend on the
 *   block sizes of the pushes.
 * - Stage s computes frame t once stage s - 1 has frame t + stage_reach[s]
 *   (or the stream has ended), so frame k is decided as soon as k + delay
 *   frames are complete: delay = 1 + FLOOR_AHEAD + NEAR + (MIN_RUN - 1) +
 *   MIN_GAP + DILATE = 153 frames (1.53 s); 8 frames with low latency.
 * - Outside the stream (before frame 0, after the last frame) every stage
 *   reads as inactive; a gap touching either end is never filled.
 * - All per-frame state lives in rings of RING frames; no window reaches
 *   back RING frames from the newest one, so memory is fixed (~100 KB).
 */
#include <math.h>
#include <string.h>

#include "vad.h"
#include "../util/util.h"

#define NFFT   256 /* FFT length, samples (16 ms) */
#define NBANDS 5   /* bands in the speech band */
#define RING   1024
#define MASK   (RING - 1)

/* Window lengths, frames (10 ms). */
#define FLOOR_BACK  200 /* noise floor: minimum over the last 2 s ... */
#define FLOOR_AHEAD 100 /* ... and the next 1 s (also the look-ahead of the peak) */
#define PEAK_BACK   500 /* speech level: maximum over the last 5 s */
#define NEAR        20  /* an active frame counts only this close to a loud one, 200 ms */
#define MIN_RUN     3   /* opening: shortest active run kept, 30 ms */
#define MIN_GAP     25  /* closing: shortest inactive gap kept, 250 ms */
#define DILATE      5   /* dilation on each side, 50 ms */
#define TOP_BANDS   3   /* the score is the mean SNR of this many best bands */

#define SMOOTH     0.7f /* noise-floor smoothing: weight of the previous value */
#define FLOOR_BIAS 2.0f /* minimum -> mean of the noise, power ratio (3 dB) */
#define SNR_CLIP   30.0f
#define SAMPLE_MAX 1e4f /* samples are clamped to +-this for the features */
#define TWO_PI     6.28318530717958647692

/* Band edges in FFT bins of 62.5 Hz: 250, 500, 900, 1500, 2400, 4000 Hz. */
static const int band_lo[NBANDS] = { 4, 8, 14, 24, 38 };
static const int band_hi[NBANDS] = { 8, 14, 24, 38, 64 };

/* The stages after the features; each reads the previous one's ring. */
enum stage {
    S_ACT,    /* raw activity */
    S_NEAR,   /* active and within NEAR frames of a loud frame */
    S_OPEN,   /* opening: runs shorter than MIN_RUN dropped */
    S_CLOSE,  /* closing: gaps shorter than MIN_GAP filled */
    S_DILATE, /* dilation by DILATE frames: the decision */
    NSTAGES
};

/* A monotonic deque of frame indices over a ring (sliding minimum or maximum). */
typedef struct dq {
    int64_t idx[RING]; /* frame indices, values monotonic from head to tail */
    int64_t head;      /* position of the oldest entry (count, masked on use) */
    int64_t tail;      /* position after the newest entry */
} dq;

struct hark__vad {
    /* configuration, from the threshold */
    float snr_on;  /* dB: score (power above the floors) an active frame needs */
    float gate_db; /* dB: frames below this level are never active */
    float rel_db;  /* dB: frames more than this below the recent peak are not active */
    float loud_db; /* dB: active frames within this of the recent peak are loud */

    /* configuration, from the mode */
    int near_ahead;     /* near: frames after t searched for a loud frame */
    int min_gap;        /* closing: gaps shorter than this are filled; 0 = no closing */
    int reach[NSTAGES]; /* how far past t each stage reads the one before (see advance) */
    int64_t delay;      /* 1 + sum of reach: frame k is decided with frame k + delay - 1 */

    /* framing */
    float hist[NFFT - HARK_VAD_FRAME]; /* the 96 samples before the current frame */
    float part[HARK_VAD_FRAME];        /* the frame being filled */
    uint32_t n_part;                   /* samples in part */
    int64_t n_frames;                  /* frames whose features are computed */
    int64_t total;                     /* frames in the stream, once finished; -1 before */
    uint32_t last_n;                   /* samples in the last frame, once finished */
    int err;                           /* sticky error from a callback */

    /* FFT tables */
    float window[NFFT]; /* periodic Hann */
    float cs[NFFT / 2]; /* cos(2 pi k / N) */
    float sn[NFFT / 2]; /* sin(2 pi k / N) */
    uint16_t rev[NFFT]; /* bit reversal permutation */

    /* features, ring by frame index */
    float band[RING][NBANDS]; /* band power, mean-square units */
    float sm[RING][NBANDS];   /* smoothed band power (noise floor input) */
    float smooth[NBANDS];     /* current smoothed power */
    float level[RING];        /* dB of the summed band power */
    float snr[RING];          /* score: mean clipped SNR of the best bands, dB */
    dq floor_dq[NBANDS];      /* sliding minimum of sm per band */
    dq peak_dq;               /* sliding maximum of level */

    /* stage outputs (see enum stage), ring by frame index */
    uint8_t st[NSTAGES][RING];
    uint8_t loud[RING];    /* active and within loud_db of the recent peak */
    int64_t n_st[NSTAGES]; /* frames each stage has done */
    int64_t n_out;         /* frames reported */
};

/* ---- FFT ------------------------------------------------------------------------------------- */

static void fft_init(hark__vad *v)
{
    int i, bits = 0;
    while ((1 << bits) < NFFT)
        bits++;
    for (i = 0; i < NFFT; i++) {
        int r = 0, b;
        for (b = 0; b < bits; b++)
            if (i & (1 << b))
                r |= 1 << (bits - 1 - b);
        v->rev[i] = (uint16_t)r;
        v->window[i] = (float)(0.5 - 0.5 * cos(TWO_PI * i / NFFT));
    }
    for (i = 0; i < NFFT / 2; i++) {
        v->cs[i] = (float)cos(TWO_PI * i / NFFT);
        v->sn[i] = (float)sin(TWO_PI * i / NFFT);
    }
}

/* In-place radix-2 decimation-in-time FFT of re/im (already bit-reversed). */
static void fft(const hark__vad *v, float *re, float *im)
{
    int len, i, j;
    for (len = 2; len <= NFFT; len <<= 1) {
        int half = len >> 1, step = NFFT / len;
        for (i = 0; i < NFFT; i += len) {
            for (j = 0; j < half; j++) {
                float wr = v->cs[j * step], wi = -v->sn[j * step];
                float *ar = re + i + j, *ai = im + i + j;
                float *br = re + i + j + half, *bi = im + i + j + half;
                float tr = *br * wr - *bi * wi;
                float ti = *br * wi + *bi * wr;
                *br = *ar - tr;
                *bi = *ai - ti;
                *ar += tr;
                *ai += ti;
            }
        }
    }
}

/* ---- deques ---------------------------------------------------------------------------------- */

static void dq_push_min(dq *d, const float (*val)[NBANDS], int b, int64_t k)
{
    while (d->tail > d->head && val[d->idx[(d->tail - 1) & MASK] & MASK][b] >= val[k & MASK][b])
        d->tail--;
    d->idx[d->tail++ & MASK] = k;
}

static void dq_push_max(dq *d, const float *val, int64_t k)
{
    while (d->tail > d->head && val[d->idx[(d->tail - 1) & MASK] & MASK] <= val[k & MASK])
        d->tail--;
    d->idx[d->tail++ & MASK] = k;
}

/* Drop entries older than `oldest`; returns the front index (the deque is never empty here). */
static int64_t dq_front(dq *d, int64_t oldest)
{
    while (d->tail - d->head > 1 && d->idx[d->head & MASK] < oldest)
        d->head++;
    return d->idx[d->head & MASK];
}

/* ---- stage 1: features ----------------------------------------------------------------------- */

static void features(hark__vad *v, const float *frame, uint32_t n)
{
    float re[NFFT], im[NFFT], x[NFFT];
    /* Parseval with the Hann window: mean square = 2 sum|X|^2 / (N * sum w^2), sum w^2 = 3N/8 */
    const float norm = 16.0f / (3.0f * (float)NFFT * (float)NFFT);
    const int nh = NFFT - HARK_VAD_FRAME;
    int64_t k = v->n_frames;
    float total = 0.0f;
    int i, b;

    memcpy(x, v->hist, sizeof(v->hist));
    memcpy(x + nh, frame, n * sizeof(float));
    memset(x + nh + n, 0, (HARK_VAD_FRAME - n) * sizeof(float));
    for (i = 0; i < NFFT; i++) {
        re[v->rev[i]] = x[i] * v->window[i];
        im[i] = 0.0f;
    }
    fft(v, re, im);
    for (b = 0; b < NBANDS; b++) {
        float p = 0.0f;
        for (i = band_lo[b]; i < band_hi[b]; i++)
            p += re[i] * re[i] + im[i] * im[i];
        p *= norm;
        v->band[k & MASK][b] = p;
        v->smooth[b] = k == 0 ? p : SMOOTH * v->smooth[b] + (1.0f - SMOOTH) * p;
        v->sm[k & MASK][b] = v->smooth[b];
        total += p;
    }
    v->level[k & MASK] = 10.0f * log10f(total + 1e-20f);
    memcpy(v->hist, x + HARK_VAD_FRAME, sizeof(v->hist));

    for (b = 0; b < NBANDS; b++)
        dq_push_min(&v->floor_dq[b], (const float(*)[NBANDS])v->sm, b, k);
    dq_push_max(&v->peak_dq, v->level, k);
    v->n_frames++;
}

/* ---- stage 2: activity ----------------------------------------------------------------------- */

static void activity(hark__vad *v, int64_t k)
{
    float snr[NBANDS], score = 0.0f, peak;
    int b, i, act;
    for (b = 0; b < NBANDS; b++) {
        int64_t f = dq_front(&v->floor_dq[b], k - FLOOR_BACK);
        float floor = HARK_MAX(v->sm[f & MASK][b], 1e-14f) * FLOOR_BIAS;
        float x = 10.0f * log10f((v->band[k & MASK][b] + 1e-20f) / floor);
        x = x < 0.0f ? 0.0f : x > SNR_CLIP ? SNR_CLIP : x;
        for (i = b; i > 0 && snr[i - 1] < x; i--) /* insertion sort, descending */
            snr[i] = snr[i - 1];
        snr[i] = x;
    }
    for (b = 0; b < TOP_BANDS; b++)
        score += snr[b];
    score /= TOP_BANDS;
    peak = v->level[dq_front(&v->peak_dq, k - PEAK_BACK) & MASK];
    v->snr[k & MASK] = score;
    act = score >= v->snr_on && v->level[k & MASK] >= v->gate_db &&
          v->level[k & MASK] >= peak - v->rel_db;
    v->st[S_ACT][k & MASK] = (uint8_t)act;
    v->loud[k & MASK] = (uint8_t)(act && v->level[k & MASK] >= peak - v->loud_db);
}

/* ---- stages 3-4: near, smoothing ------------------------------------------------------------- */

/* A stage's value at frame i; 0 outside the stream. */
static int at(const hark__vad *v, const uint8_t *ring, int64_t i)
{
    if (i < 0 || (v->total >= 0 && i >= v->total))
        return 0;
    return ring[i & MASK];
}

/* Near: active and within NEAR frames of a loud frame. */
static int near(const hark__vad *v, int64_t t)
{
    int64_t i;
    if (!at(v, v->st[S_ACT], t))
        return 0;
    for (i = t - NEAR; i <= t + v->near_ahead; i++)
        if (at(v, v->loud, i))
            return 1;
    return 0;
}

/* Opening: inside a run of at least MIN_RUN frames. */
static int opening(const hark__vad *v, int64_t t)
{
    const uint8_t *in = v->st[S_NEAR];
    int64_t l = t, r = t;
    if (!at(v, in, t))
        return 0;
    while (l > t - MIN_RUN + 1 && at(v, in, l - 1))
        l--;
    while (r < t + MIN_RUN - 1 && at(v, in, r + 1))
        r++;
    return r - l + 1 >= MIN_RUN;
}

/* Closing: speech, or inside a gap shorter than MIN_GAP with speech on both sides. */
static int closing(const hark__vad *v, int64_t t)
{
    const uint8_t *in = v->st[S_OPEN];
    int64_t l = t, r = t;
    const int64_t min_gap = v->min_gap;
    if (at(v, in, t))
        return 1;
    if (!min_gap)
        return 0;
    /* walk to the ends of the gap; each walk stops at speech, at a stream end or after
     * MIN_GAP steps (then the gap is too long anyway) */
    while (t - l < min_gap && l - 1 >= 0 && !at(v, in, l - 1))
        l--;
    while (r - t < min_gap && (v->total < 0 || r + 1 < v->total) && !at(v, in, r + 1))
        r++;
    if (r - l + 1 >= min_gap)
        return 0;
    /* short: filled unless it touches a stream end */
    return l - 1 >= 0 && (v->total < 0 || r + 1 < v->total);
}

static int dilation(const hark__vad *v, int64_t t)
{
    int64_t i;
    for (i = t - DILATE; i <= t + DILATE; i++)
        if (at(v, v->st[S_CLOSE], i))
            return 1;
    return 0;
}

/* Stage s > S_ACT: its function. How far past t it reads stage s - 1 is v->reach[s]
 * (S_ACT: how far past k it reads the features). */
static int (*const stage_fn[NSTAGES])(const hark__vad *, int64_t) = { NULL, near, opening, closing,
                                                                      dilation };

/* Run every stage as far as its inputs allow; report decided frames. */
static int advance(hark__vad *v, hark_vad_frame_fn fn, void *payload)
{
    int fin = v->total >= 0, s;
    while (v->n_st[S_ACT] < v->n_frames && (fin || v->n_st[S_ACT] + v->reach[S_ACT] < v->n_frames))
        activity(v, v->n_st[S_ACT]++);
    for (s = S_ACT + 1; s < NSTAGES; s++) {
        int64_t *n = &v->n_st[s], prev = v->n_st[s - 1];
        while (*n < prev && (fin ? prev == v->total : *n + v->reach[s] < prev)) {
            v->st[s][*n & MASK] = (uint8_t)stage_fn[s](v, *n);
            (*n)++;
        }
    }
    while (v->n_out < v->n_st[NSTAGES - 1]) {
        int64_t k = v->n_out;
        hark_vad_frame f;
        int rc;
        memset(&f, 0, sizeof(f)); /* padding too: frames compare with memcmp */
        f.index = k;
        f.n = fin && k == v->total - 1 ? v->last_n : HARK_VAD_FRAME;
        f.speech = v->st[S_DILATE][k & MASK];
        f.active = v->st[S_ACT][k & MASK];
        f.level_db = v->level[k & MASK];
        f.snr_db = v->snr[k & MASK];
        v->n_out++;
        if ((rc = fn(payload, &f)) < 0)
            return v->err = rc;
    }
    return 0;
}

/* ---- API ------------------------------------------------------------------------------------- */

int hark__vad_new(hark__vad **out, float threshold, hark__vad_mode mode)
{
    hark__vad *v = NULL;
    int rc = 0, s;
    HARK_ASSERT_ARG(out);
    *out = NULL;
    if (!(threshold > 0.0f && threshold < 1.0f)) {
        rc = hark_error_set(HARK_EINVAL, "vad: threshold %g is outside (0, 1)", (double)threshold);
        goto out;
    }
    if (mode != HARK_VAD_LOOKAHEAD && mode != HARK_VAD_LOW_LATENCY) {
        rc = hark_error_set(HARK_EINVAL, "vad: unknown mode %d", (int)mode);
        goto out;
    }
    v = hark__calloc(1, sizeof(*v));
    HARK_ALLOC_CHECK(v, rc, out);
    /* threshold 0.5 -> margin 8 dB, gate -68 dB, range 40 dB, loud 22 dB */
    v->snr_on = 3.0f + 10.0f * threshold;
    v->gate_db = -80.0f + 24.0f * threshold;
    v->rel_db = 50.0f - 20.0f * threshold;
    v->loud_db = 30.0f - 16.0f * threshold;
    if (mode == HARK_VAD_LOOKAHEAD) {
        v->near_ahead = NEAR;
        v->min_gap = MIN_GAP;
        v->reach[S_ACT] = FLOOR_AHEAD;
    }
    v->reach[S_NEAR] = v->near_ahead;
    v->reach[S_OPEN] = MIN_RUN - 1;
    v->reach[S_CLOSE] = v->min_gap;
    v->reach[S_DILATE] = DILATE;
    v->delay = 1; /* frame k itself */
    for (s = 0; s < NSTAGES; s++)
        v->delay += v->reach[s];
    v->total = -1;
    v->last_n = HARK_VAD_FRAME;
    fft_init(v);
    *out = v;
    v = NULL;
out:
    hark__free(v);
    return rc;
}

static float sanitize(float x)
{
    if (!isfinite(x))
        return 0.0f;
    return x > SAMPLE_MAX ? SAMPLE_MAX : x < -SAMPLE_MAX ? -SAMPLE_MAX : x;
}

int hark__vad_push(hark__vad *v, const float *pcm, size_t n, hark_vad_frame_fn fn, void *payload)
{
    HARK_ASSERT_ARG(v && fn && (pcm || n == 0));
    if (v->err)
        return v->err;
    if (v->total >= 0)
        return hark_error_set(HARK_EINVAL, "vad: push after finish");
    while (n > 0) {
        size_t take = HARK_MIN(n, (size_t)(HARK_VAD_FRAME - v->n_part)), i;
        int rc;
        for (i = 0; i < take; i++)
            v->part[v->n_part + i] = sanitize(pcm[i]);
        v->n_part += (uint32_t)take;
        pcm += take;
        n -= take;
        if (v->n_part < HARK_VAD_FRAME)
            break;
        features(v, v->part, HARK_VAD_FRAME);
        v->n_part = 0;
        if ((rc = advance(v, fn, payload)) < 0)
            return rc;
    }
    return 0;
}

int hark__vad_finish(hark__vad *v, hark_vad_frame_fn fn, void *payload)
{
    HARK_ASSERT_ARG(v && fn);
    if (v->err)
        return v->err;
    if (v->total < 0) {
        if (v->n_part > 0) {
            v->last_n = v->n_part;
            features(v, v->part, v->n_part);
            v->n_part = 0;
        }
        v->total = v->n_frames;
    }
    return advance(v, fn, payload);
}

int64_t hark__vad_delay(const hark__vad *v)
{
    return v->delay;
}

void hark__vad_free(hark__vad *v)
{
    hark__free(v);
}
