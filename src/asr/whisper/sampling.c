/*
 * sampling.c: whisper.cpp's logit filters and token choice.
 *
 * hark__whisper_process_logits is whisper_process_logits of whisper.cpp
 * v1.7.5 (FORMAT.md 8.1), in the same order:
 *   0. divide by the temperature when > 0
 *   1. first step: EOT and " " suppressed (suppress_blank)
 *   2. <|notimestamps|>; every timestamp when timestamps are off
 *   3. SOT, nospeech, startoflm, translate, transcribe, startofprev and the
 *      100 language slots after SOT; non-speech tokens (suppress_nst)
 *   4. timestamps come in pairs (except before EOT)
 *   5. first step: no timestamp above max_initial_ts
 *   6. timestamps never go back (below the last sampled one)
 *   7. log_softmax; if the timestamps together are more probable than any
 *      text token, every text token is suppressed
 * The float arithmetic of the log-softmax and of the timestamp logsumexp is
 * the same as whisper.cpp's (sequential float sums), so probabilities agree
 * to the last bits when the logits do.
 *
 * hark__whisper_sample is whisper_sample_token: the most probable token
 * (first index on ties) or a draw from the distribution, plus the most
 * probable timestamp `tid` and its share `pt` of the timestamp mass.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "whisper.h"

/* whisper.cpp's non_speech_tokens (OpenAI tokenizer.py) */
static const char *const non_speech[] = {
    "\"",
    "#",
    "(",
    ")",
    "*",
    "+",
    "/",
    ":",
    ";",
    "<",
    "=",
    ">",
    "@",
    "[",
    "\\",
    "]",
    "^",
    "_",
    "`",
    "{",
    "|",
    "}",
    "~",
    "\xe3\x80\x8c",
    "\xe3\x80\x8d",
    "\xe3\x80\x8e",
    "\xe3\x80\x8f",
    "<<",
    ">>",
    "<<<",
    ">>>",
    "--",
    "---",
    "-(",
    "-[",
    "('",
    "(\"",
    "((",
    "))",
    "(((",
    ")))",
    "[[",
    "]]",
    "{{",
    "}}",
    "\xe2\x99\xaa\xe2\x99\xaa",
    "\xe2\x99\xaa\xe2\x99\xaa\xe2\x99\xaa",
    "\xe2\x99\xa9",
    "\xe2\x99\xaa",
    "\xe2\x99\xab",
    "\xe2\x99\xac",
    "\xe2\x99\xad",
    "\xe2\x99\xae",
    "\xe2\x99\xaf",
};

static void suppress_str(const hark_whisper_model *m, float *logits, const char *s)
{
    int32_t id = hark__whisper_token_find(m, s, strlen(s));
    if (id >= 0)
        logits[id] = -INFINITY;
}

/* whisper_compute_logprobs: the exponentials are vectorised into logprobs first, then summed
 * in index order in float as whisper.cpp does. */
static void compute_logprobs(const float *logits, int n, float *logprobs)
{
    float max = -INFINITY, sum = 0.0f, lse;
    int i;
    for (i = 0; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    hark__whisper_exp_sub(logprobs, logits, max, (size_t)n); /* -inf gives 0 */
    for (i = 0; i < n; i++)
        sum += logprobs[i];
    lse = logf(sum) + max;
    for (i = 0; i < n; i++)
        logprobs[i] = logits[i] > -INFINITY ? logits[i] - lse : -INFINITY;
}

void hark__whisper_process_logits(const hark_whisper_model *m, const hark_whisper_filter *f,
                                  const hark_whisper_token *prev, int n_prev,
                                  const hark_whisper_ts_state *ts, float *logits, float *logprobs,
                                  float *stage_out)
{
    const hark_whisper_special *sp = &m->sp;
    const int n = m->hp.n_vocab;
    const int is_initial = n_prev == 0;
    int i;

    if (f->temperature > 0.0f)
        for (i = 0; i < n; i++)
            logits[i] /= f->temperature;

    /* 1. suppress blank */
    if (f->suppress_blank && is_initial) {
        logits[sp->eot] = -INFINITY;
        if (sp->space >= 0)
            logits[sp->space] = -INFINITY;
    }
    /* 2. <|notimestamps|>, and all timestamps without timestamps */
    logits[sp->not_ts] = -INFINITY;
    if (f->no_timestamps)
        for (i = sp->beg; i < n; i++)
            logits[i] = -INFINITY;
    /* 3. special and language tokens */
    logits[sp->sot] = -INFINITY;
    logits[sp->nosp] = -INFINITY;
    logits[sp->solm] = -INFINITY;
    logits[sp->translate] = -INFINITY;
    logits[sp->transcribe] = -INFINITY;
    logits[sp->prev] = -INFINITY;
    for (i = 0; i < HARK_WHISPER_N_LANGS_MAX; i++)
        if (sp->sot + 1 + i < n)
            logits[sp->sot + 1 + i] = -INFINITY;
    if (f->suppress_nst) {
        char buf[32];
        for (i = 0; i < (int)HARK_ARRAY_SIZE(non_speech); i++) {
            suppress_str(m, logits, non_speech[i]);
            snprintf(buf, sizeof(buf), " %s", non_speech[i]);
            suppress_str(m, logits, buf);
        }
        suppress_str(m, logits, " -");
        suppress_str(m, logits, " '");
    }
    if (stage_out)
        memcpy(stage_out, logits, (size_t)n * sizeof(float));

    /* 4. timestamps in pairs */
    if (n_prev > 0 && prev[n_prev - 1].id >= sp->beg) {
        int penultimate_ts = n_prev < 2 || prev[n_prev - 2].id >= sp->beg;
        if (penultimate_ts)
            for (i = sp->beg; i < n; i++)
                logits[i] = -INFINITY;
        else
            for (i = 0; i < sp->eot; i++)
                logits[i] = -INFINITY;
    }
    /* 5. initial timestamp at most max_initial_ts (precision 30 s / n_audio_ctx) */
    if (is_initial && f->max_initial_ts > 0.0f) {
        const float precision = 30.0f / (float)m->hp.n_audio_ctx;
        const int tid0 = (int)roundf(f->max_initial_ts / precision);
        for (i = sp->beg + tid0 + 1; i < n; i++)
            logits[i] = -INFINITY;
    }
    /* 6. timestamps increase */
    if (ts && ts->has_ts) {
        const int tid0 = ts->seek_delta / 2;
        for (i = sp->beg; i < sp->beg + tid0 && i < n; i++)
            logits[i] = -INFINITY;
    }

    /* 7. log-softmax; timestamps win if their total is more probable than any text token */
    compute_logprobs(logits, n, logprobs);
    {
        float ts_logprob = -INFINITY, lse = 0.0f, ts_max = -INFINITY, text_max = -INFINITY;
        for (i = sp->beg; i < n; i++)
            if (logprobs[i] > ts_max)
                ts_max = logprobs[i];
        for (i = sp->beg; i < n; i++)
            if (logprobs[i] > -INFINITY)
                lse += hark__whisper_exp(logprobs[i] - ts_max);
        if (lse > 0.0f)
            ts_logprob = logf(lse) + ts_max;
        for (i = 0; i < sp->beg; i++)
            if (logprobs[i] > text_max)
                text_max = logprobs[i];
        if (ts_logprob > text_max)
            for (i = 0; i < sp->beg; i++) {
                logits[i] = -INFINITY;
                logprobs[i] = -INFINITY;
            }
    }
}

void hark__whisper_probs(const float *logits, const float *logprobs, float *probs, int n)
{
    int i;
    hark__whisper_exp_sub(probs, logprobs, 0.0f, (size_t)n);
    for (i = 0; i < n; i++)
        if (logits[i] == -INFINITY)
            probs[i] = 0.0f;
}

hark_whisper_token hark__whisper_sample(const hark_whisper_model *m, const float *probs,
                                        const float *logprobs, uint64_t *rng, int best)
{
    const hark_whisper_special *sp = &m->sp;
    const int n = m->hp.n_vocab;
    hark_whisper_token r;
    double sum_ts = 0.0, max_ts = 0.0;
    int i;

    memset(&r, 0, sizeof(r));
    r.t0 = r.t1 = -1;
    for (i = sp->beg; i < n; i++) {
        sum_ts += probs[i];
        if (max_ts < probs[i]) {
            max_ts = probs[i];
            r.tid = i;
        }
    }
    r.pt = (float)(max_ts / (sum_ts + 1e-10));
    r.ptsum = (float)sum_ts;

    if (best || !rng) {
        for (i = 0; i < n; i++)
            if (r.p < probs[i]) {
                r.id = i;
                r.p = probs[i];
                r.plog = logprobs[i];
            }
    } else {
        double total = 0.0, u, acc = 0.0;
        for (i = 0; i < n; i++)
            total += probs[i];
        u = hark__whisper_rand(rng) * total;
        r.id = -1;
        for (i = 0; i < n; i++) {
            if (probs[i] <= 0.0f)
                continue;
            acc += probs[i];
            r.id = i; /* the last non-zero one absorbs rounding */
            if (u < acc)
                break;
        }
        if (r.id < 0)
            r.id = 0;
        r.p = probs[r.id];
        r.plog = logprobs[r.id];
    }
    if (r.id >= sp->beg) {
        r.tid = r.id;
        r.pt = r.p;
    }
    return r;
}

uint64_t hark__whisper_rng_seed(uint64_t seed)
{
    return seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

/* splitmix64: small, fast, and good enough for sampling */
double hark__whisper_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
