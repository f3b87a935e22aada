/*
 * synth.h: synthetic test signals for the VAD and chunker tests (16 kHz).
 *
 * Speech-like material is built from a fixed set of syllable templates:
 * voiced ones (a harmonic series on a pitch, weighted by two formants) and
 * noise ones (white noise, like fricatives), each with a raised-cosine
 * amplitude envelope. Words are 1-3 syllables with short dips between them;
 * sentences are words separated by short gaps; the caller places pauses.
 * Every sentence's span is recorded, so a test knows where the sound is.
 * Backgrounds (noise, hum, a music bed) are added over the whole signal.
 *
 * Header-only (static inline functions) so both test binaries can include it.
 */
#ifndef HARK_TEST_SYNTH_H
#define HARK_TEST_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SYN_RATE   16000
#define SYN_TWO_PI 6.283185307179586
#define SYN_NTPL   12 /* syllable templates: 8 voiced, 4 noise */

typedef struct syn_span {
    int64_t start, end; /* samples */
} syn_span;

typedef struct synth {
    float *x;             /* the signal */
    size_t n, cap;        /* samples */
    int64_t offset;       /* stream position of x[0] (streaming generation) */
    uint64_t rng;         /* harness_rand state */
    float *tpl[SYN_NTPL]; /* syllable templates, peak amplitude 1 */
    size_t tpl_n[SYN_NTPL];
    syn_span *sent; /* sentence spans, stream positions */
    size_t n_sent, cap_sent;
    int64_t sent_start; /* start of the sentence being written, -1 none */
} synth;

static inline double syn_uniform(synth *s)
{
    return (double)(harness_rand(&s->rng) >> 11) / 9007199254740992.0;
}

static inline void syn_reserve(synth *s, size_t extra)
{
    if (s->n + extra > s->cap) {
        size_t cap = s->cap ? s->cap : SYN_RATE;
        while (cap < s->n + extra)
            cap *= 2;
        s->x = realloc(s->x, cap * sizeof(float));
        ASSERT(s->x != NULL);
        s->cap = cap;
    }
}

static inline float syn_env(size_t i, size_t n)
{
    /* raised-cosine attack and decay of 25% each */
    size_t edge = n / 4;
    if (i < edge)
        return (float)(0.5 - 0.5 * cos(SYN_TWO_PI * 0.5 * (double)i / (double)edge));
    if (i >= n - edge)
        return (float)(0.5 - 0.5 * cos(SYN_TWO_PI * 0.5 * (double)(n - 1 - i) / (double)edge));
    return 1.0f;
}

static inline void syn_make_templates(synth *s)
{
    static const double f0[8] = { 110, 125, 140, 160, 180, 200, 215, 230 };
    static const double f1[8] = { 300, 700, 500, 400, 800, 350, 600, 450 };
    static const double f2[8] = { 2300, 1200, 1800, 900, 1300, 2600, 1000, 2000 };
    int t;
    for (t = 0; t < SYN_NTPL; t++) {
        size_t n = (size_t)(SYN_RATE * (t < 8 ? 0.12 + 0.02 * t : 0.08 + 0.02 * (t - 8))), i;
        float peak = 0.0f, *x = calloc(n, sizeof(float));
        ASSERT(x != NULL);
        if (t < 8) {
            int h;
            for (h = 1; h * f0[t] < 4000.0; h++) {
                double f = h * f0[t], ph = syn_uniform(s) * SYN_TWO_PI;
                double w = exp(-pow((f - f1[t]) / 250.0, 2)) +
                           0.6 * exp(-pow((f - f2[t]) / 350.0, 2)) + 0.03;
                for (i = 0; i < n; i++)
                    x[i] += (float)(w * sin(SYN_TWO_PI * f * (double)i / SYN_RATE + ph));
            }
        } else {
            for (i = 0; i < n; i++)
                x[i] = (float)harness_randn(&s->rng);
        }
        for (i = 0; i < n; i++) {
            x[i] *= syn_env(i, n);
            peak = fabsf(x[i]) > peak ? fabsf(x[i]) : peak;
        }
        for (i = 0; i < n; i++)
            x[i] /= peak;
        s->tpl[t] = x;
        s->tpl_n[t] = n;
    }
}

static inline void syn_init(synth *s, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed;
    s->sent_start = -1;
    syn_make_templates(s);
}

static inline void syn_free(synth *s)
{
    int t;
    for (t = 0; t < SYN_NTPL; t++)
        free(s->tpl[t]);
    free(s->x);
    free(s->sent);
    memset(s, 0, sizeof(*s));
}

/* Current stream position, samples. */
static inline int64_t syn_pos(const synth *s)
{
    return s->offset + (int64_t)s->n;
}

/* Forget the samples generated so far (streaming); spans are kept. */
static inline void syn_drop(synth *s)
{
    s->offset += (int64_t)s->n;
    s->n = 0;
}

static inline void syn_silence(synth *s, double sec)
{
    size_t n = (size_t)(sec * SYN_RATE);
    syn_reserve(s, n);
    memset(s->x + s->n, 0, n * sizeof(float));
    s->n += n;
}

static inline void syn_syllable(synth *s, int t, float amp)
{
    size_t i;
    syn_reserve(s, s->tpl_n[t]);
    for (i = 0; i < s->tpl_n[t]; i++)
        s->x[s->n + i] = amp * s->tpl[t][i];
    s->n += s->tpl_n[t];
}

/* A word: 1-3 syllables (mostly voiced) with 30-90 ms silent dips between them. */
static inline void syn_word(synth *s, float amp)
{
    int k, n = 1 + (int)(syn_uniform(s) * 3);
    for (k = 0; k < n; k++) {
        int t = syn_uniform(s) < 0.8 ? (int)(syn_uniform(s) * 8) : 8 + (int)(syn_uniform(s) * 4);
        float a = amp * (float)(0.6 + 0.4 * syn_uniform(s));
        if (k > 0)
            syn_silence(s, 0.03 + 0.06 * syn_uniform(s));
        syn_syllable(s, t, a);
    }
}

/* A sentence of n words separated by 60-180 ms gaps; its span is recorded. */
static inline void syn_sentence(synth *s, int n_words, float amp)
{
    int k;
    int64_t start = syn_pos(s);
    for (k = 0; k < n_words; k++) {
        if (k > 0)
            syn_silence(s, 0.06 + 0.12 * syn_uniform(s));
        syn_word(s, amp);
    }
    if (s->n_sent == s->cap_sent) {
        s->cap_sent = s->cap_sent ? 2 * s->cap_sent : 64;
        s->sent = realloc(s->sent, s->cap_sent * sizeof(syn_span));
        ASSERT(s->sent != NULL);
    }
    s->sent[s->n_sent].start = start;
    s->sent[s->n_sent].end = syn_pos(s);
    s->n_sent++;
}

/* Continuous voiced babble: syllables overlapping by their edges, never silent. */
static inline void syn_babble(synth *s, double sec, float amp)
{
    size_t end = s->n + (size_t)(sec * SYN_RATE), at = s->n, i;
    syn_reserve(s, end - s->n + SYN_RATE);
    memset(s->x + s->n, 0, (end - s->n + SYN_RATE) * sizeof(float));
    while (at < end) {
        int t = (int)(syn_uniform(s) * 8);
        float a = amp * (float)(0.7 + 0.3 * syn_uniform(s));
        for (i = 0; i < s->tpl_n[t]; i++)
            s->x[at + i] += a * s->tpl[t][i];
        at += s->tpl_n[t] * 3 / 4; /* the next one starts during this one's decay */
    }
    s->n = end;
}

/* ---- backgrounds over x[from, n) ------------------------------------------------------------- */

static inline void syn_add_white(synth *s, size_t from, float rms)
{
    size_t i;
    for (i = from; i < s->n; i++)
        s->x[i] += rms * (float)harness_randn(&s->rng);
}

/* Fan-like noise: white noise through a one-pole low-pass (most power below 500 Hz). */
static inline void syn_add_fan(synth *s, size_t from, float rms)
{
    size_t i;
    double y = 0.0, a = exp(-SYN_TWO_PI * 400.0 / SYN_RATE), g = sqrt(1.0 - a * a);
    for (i = from; i < s->n; i++) {
        y = a * y + g * harness_randn(&s->rng);
        s->x[i] += rms * (float)y;
    }
}

/* Mains hum: 50 Hz and harmonics up to 450 Hz, falling 6 dB per harmonic; `amp` is the peak. */
static inline void syn_add_hum(synth *s, size_t from, float amp)
{
    size_t i;
    for (i = from; i < s->n; i++) {
        double t = (double)(s->offset + (int64_t)i) / SYN_RATE, v = 0.0, w = 0.5;
        int h;
        for (h = 1; h <= 9; h++, w *= 0.5)
            v += w * sin(SYN_TWO_PI * 50.0 * h * t);
        s->x[i] += amp * (float)v;
    }
}

/* A music bed: three-note chords (with 3 harmonics each) changing every 0.6 s, soft attacks. */
static inline void syn_add_music(synth *s, size_t from, float amp)
{
    static const double notes[6][3] = { { 261.6, 329.6, 392.0 }, { 220.0, 261.6, 329.6 },
                                        { 349.2, 440.0, 523.3 }, { 392.0, 493.9, 587.3 },
                                        { 293.7, 370.0, 440.0 }, { 329.6, 415.3, 493.9 } };
    size_t i, seg = (size_t)(0.6 * SYN_RATE);
    for (i = from; i < s->n; i++) {
        int64_t pos = s->offset + (int64_t)i;
        size_t c = (size_t)(pos / (int64_t)seg) % 6, in = (size_t)(pos % (int64_t)seg);
        double t = (double)pos / SYN_RATE, v = 0.0, env;
        int k, h;
        for (k = 0; k < 3; k++)
            for (h = 1; h <= 3; h++)
                v += sin(SYN_TWO_PI * notes[c][k] * h * t) / (h * 3.0);
        env = in < 800 ? (double)in / 800.0 : 1.0 - 0.4 * (double)(in - 800) / (double)seg;
        s->x[i] += amp * (float)(v * env);
    }
}

static inline void syn_scale(synth *s, float g)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        s->x[i] *= g;
}

#endif
