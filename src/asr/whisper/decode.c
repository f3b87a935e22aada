/*
 * decode.c: whisper_full for one chunk of audio: 30-s windows, seeking,
 * greedy / best-of sampling / beam search, temperature fallback, segments,
 * token timestamps.
 *
 * DESIGN
 * The control flow is whisper.cpp v1.7.5's whisper_full_with_state, step by
 * step, so that transcripts match it (shared/whisper-golden/README.md lists
 * the quirks this reproduces: a window that hits the 220-token limit without
 * EOT is still output; a segment's t0 comes from the first token's most
 * likely timestamp; tokens after the last timestamp are dropped and the
 * next window starts at that timestamp; the previous text is offered as a
 * <|startofprev|> prompt of at most n_text_ctx/2 tokens unless fewer than
 * 500 frames remain). Deliberate differences, all outside whisper.cpp's
 * greedy path:
 *   - no_speech_prob is P(<|nospeech|>) at the SOT position of the prompt.
 *     whisper.cpp v1.7.5 reads row 0 of its logits buffer, which is only
 *     the SOT row when the prompt is [SOT] alone (stale data otherwise);
 *   - beam search keeps the beam_size best (token, beam) pairs by total
 *     log probability (whisper.cpp draws the candidates at random);
 *   - besides whisper.cpp's rules, a window is retried at the next
 *     temperature when the zlib compression ratio of its text exceeds
 *     compression_ratio_thold (OpenAI's guard against repetition loops);
 *   - without carry_context the previous window's text is not offered as
 *     a prompt (OpenAI's condition_on_previous_text = False).
 * All beams / candidates of a step go through one decoder call. Sampling
 * uses one deterministic RNG per candidate, seeded per call.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "whisper.h"

#define DELTA_MIN 10 /* frames: whisper.cpp skips windows shorter than 100 ms */

void hark__whisper_params_default(hark_whisper_params *p)
{
    memset(p, 0, sizeof(*p));
    p->beam_size = 1;
    p->best_of = 5;
    p->temperature = 0.0f;
    p->temperature_inc = 0.2f;
    p->length_penalty = -1.0f;
    p->entropy_thold = 2.4f;
    p->logprob_thold = -1.0f;
    p->no_speech_thold = 0.6f;
    p->compression_ratio_thold = 2.4f;
    p->carry_context = 1;
    p->n_max_text_ctx = 16384;
    p->language = "en";
    p->suppress_blank = 1;
    p->max_initial_ts = 1.0f;
    p->thold_pt = 0.01f;
    p->thold_ptsum = 0.01f;
}

float hark__whisper_compression_ratio(const char *text, size_t len)
{
    unsigned char buf[4096];
    unsigned char *out = buf;
    uLongf out_len;
    float r = 0.0f;
    if (len == 0)
        return 0.0f;
    out_len = compressBound((uLong)len);
    if (out_len > sizeof(buf) && !(out = hark__malloc(out_len)))
        return 0.0f;
    if (compress2(out, &out_len, (const Bytef *)text, (uLong)len, Z_DEFAULT_COMPRESSION) == Z_OK &&
        out_len > 0)
        r = (float)len / (float)out_len;
    if (out != buf)
        hark__free(out);
    return r;
}

/* One decoding candidate (whisper_decoder + whisper_sequence). */
typedef struct dec {
    hark_whisper_token *tok; /* [n_text_ctx] sampled tokens */
    int n_tok;
    int result_len;          /* tokens kept (up to the last timestamp) */
    double sum_logprobs_all; /* of every sampled token */
    double sum_logprobs, avg_logprobs, entropy, score;
    hark_whisper_ts_state ts;
    int failed, completed;
    uint64_t rng;
} dec;

typedef struct cand {
    int src; /* decoder it extends */
    hark_whisper_token t;
    double sum; /* sum_logprobs_all with t */
} cand;

/* Growable int32 list. */
typedef struct ilist {
    int32_t *v;
    int n, cap;
} ilist;

static int il_push(ilist *l, int32_t x)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        int32_t *v = hark__reallocarray(l->v, (size_t)cap, sizeof(int32_t));
        if (!v)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

/* whisper_sequence_score */
static void sequence_score(const hark_whisper_params *p, dec *d)
{
    double result = 0.0, penalty, entropy = 0.0;
    int i, j, cnt = 0, n = 32;
    if (d->result_len == 0)
        return;
    for (i = 0; i < d->result_len; i++)
        result += d->tok[i].plog;
    d->sum_logprobs = result;
    d->avg_logprobs = result / d->result_len;
    penalty = d->result_len;
    if (p->length_penalty > 0.0f)
        penalty = pow((5.0 + penalty) / 6.0, p->length_penalty);
    d->score = result / penalty;
    /* entropy of the token counts among the last 32 tokens (std::map order: ascending id) */
    {
        int32_t ids[32];
        int counts[32], k = 0;
        for (i = HARK_MAX(0, d->result_len - n); i < d->result_len; i++) {
            int32_t id = d->tok[i].id;
            for (j = 0; j < k && ids[j] != id; j++)
                ;
            if (j == k) {
                ids[k] = id;
                counts[k++] = 0;
            }
            counts[j]++;
            cnt++;
        }
        /* sum in ascending id order, as iterating a std::map does */
        for (;;) {
            int best = -1;
            for (j = 0; j < k; j++)
                if (counts[j] > 0 && (best < 0 || ids[j] < ids[best]))
                    best = j;
            if (best < 0)
                break;
            {
                double pr = counts[best] / (double)cnt;
                entropy -= pr * log(pr);
            }
            counts[best] = 0;
        }
    }
    d->entropy = entropy;
}

/* text bytes of tokens [0, n) with id < eot */
static int tokens_text(const hark_whisper_model *m, const hark_whisper_token *t, int n,
                       hark_buf *out)
{
    int i, rc;
    for (i = 0; i < n; i++) {
        size_t len;
        const char *b;
        if (t[i].id >= m->sp.eot)
            continue;
        b = hark__whisper_token_bytes(m, t[i].id, &len);
        if ((rc = hark_buf_put(out, b, len)) < 0)
            return rc;
    }
    return 0;
}

/* ---- token-level timestamps (whisper_exp_compute_token_level_timestamps)
 * ------------------------- */

typedef struct ts_ctx {
    const float *energy; /* smoothed |x| per sample */
    int n_samples;
    int64_t t_beg, t_last;
    int32_t tid_last;
} ts_ctx;

static float voice_length(const char *s)
{
    float r = 0.0f;
    for (; *s; s++) {
        char c = *s;
        if (c == ' ')
            r += 0.01f;
        else if (c == ',')
            r += 2.00f;
        else if (c == '.' || c == '!' || c == '?')
            r += 3.00f;
        else if (c >= '0' && c <= '9')
            r += 3.00f;
        else
            r += 1.00f;
    }
    return r;
}

static int ts_to_sample(int64_t t, int n_samples)
{
    int64_t s = t * 16000 / 100;
    if (s > n_samples - 1)
        s = n_samples - 1;
    return s < 0 ? 0 : (int)s;
}

static int64_t sample_to_ts(int i)
{
    return 100ll * i / 16000;
}

static void token_timestamps(const hark_whisper_model *m, ts_ctx *c, hark_whisper_segment *seg,
                             float thold_pt, float thold_ptsum)
{
    hark_whisper_token *tokens = seg->tokens;
    const int n = seg->n_tokens, beg = m->sp.beg;
    const int64_t t0 = seg->t0, t1 = seg->t1;
    int j;

    if (c->n_samples == 0 || n == 0)
        return;
    if (n == 1) {
        tokens[0].t0 = t0;
        tokens[0].t1 = t1;
        return;
    }
    for (j = 0; j < n; j++) {
        hark_whisper_token *tk = &tokens[j];
        int64_t tt;
        if (j == 0) {
            if (tk->id == beg) {
                tokens[0].t0 = t0;
                tokens[0].t1 = t0;
                tokens[1].t0 = t0;
                c->t_beg = t0;
                c->t_last = t0;
                c->tid_last = beg;
            } else {
                tokens[0].t0 = c->t_last;
            }
        }
        tt = c->t_beg + 2 * (tk->tid - beg);
        tk->vlen = voice_length(hark__whisper_token_bytes(m, tk->id, NULL));
        if (tk->pt > thold_pt && tk->ptsum > thold_ptsum && tk->tid > c->tid_last && tt <= t1) {
            if (j > 0)
                tokens[j - 1].t1 = tt;
            tokens[j].t0 = tt;
            c->tid_last = tk->tid;
        }
    }
    tokens[n - 2].t1 = t1;
    tokens[n - 1].t0 = t1;
    tokens[n - 1].t1 = t1;
    c->t_last = t1;

    /* split intervals of unknown times in proportion to the voice lengths */
    {
        int p0 = 0, p1 = 0;
        for (;;) {
            while (p1 < n && tokens[p1].t1 < 0)
                p1++;
            if (p1 >= n)
                p1--;
            if (p1 > p0) {
                double psum = 0.0, dt;
                for (j = p0; j <= p1; j++)
                    psum += tokens[j].vlen;
                dt = (double)(tokens[p1].t1 - tokens[p0].t0);
                for (j = p0 + 1; j <= p1; j++) {
                    double ct = (double)tokens[j - 1].t0 + dt * tokens[j - 1].vlen / psum;
                    tokens[j - 1].t1 = (int64_t)ct;
                    tokens[j].t0 = (int64_t)ct;
                }
            }
            p1++;
            p0 = p1;
            if (p1 >= n)
                break;
        }
    }
    for (j = 0; j < n - 1; j++) {
        if (tokens[j].t1 < 0)
            tokens[j + 1].t0 = tokens[j].t1;
        if (j > 0 && tokens[j - 1].t1 > tokens[j].t0) {
            tokens[j].t0 = tokens[j - 1].t1;
            tokens[j].t1 = HARK_MAX(tokens[j].t0, tokens[j].t1);
        }
    }
    /* expand or contract on signal energy */
    {
        const int hw = 16000 / 8;
        for (j = 0; j < n; j++) {
            int s0, s1, ss0, ss1, ns, k;
            float sum = 0.0f, thold;
            if (tokens[j].id >= m->sp.eot)
                continue;
            s0 = ts_to_sample(tokens[j].t0, c->n_samples);
            s1 = ts_to_sample(tokens[j].t1, c->n_samples);
            ss0 = HARK_MAX(s0 - hw, 0);
            ss1 = HARK_MIN(s1 + hw, c->n_samples);
            ns = ss1 - ss0;
            for (k = ss0; k < ss1; k++)
                sum += c->energy[k];
            thold = ns > 0 ? 0.5f * sum / (float)ns : 0.0f;
            k = s0;
            if (c->energy[k] > thold && j > 0) {
                while (k > 0 && c->energy[k] > thold)
                    k--;
                tokens[j].t0 = sample_to_ts(k);
                if (tokens[j].t0 < tokens[j - 1].t1)
                    tokens[j].t0 = tokens[j - 1].t1;
                else
                    s0 = k;
            } else {
                while (c->energy[k] < thold && k < s1)
                    k++;
                s0 = k;
                tokens[j].t0 = sample_to_ts(k);
            }
            k = s1;
            if (c->energy[k] > thold) {
                while (k < c->n_samples - 1 && c->energy[k] > thold)
                    k++;
                tokens[j].t1 = sample_to_ts(k);
                if (j < n - 1 && tokens[j].t1 > tokens[j + 1].t0)
                    tokens[j].t1 = tokens[j + 1].t0;
                else
                    s1 = k;
            } else {
                while (c->energy[k] < thold && k > s0)
                    k--;
                s1 = k;
                tokens[j].t1 = sample_to_ts(k);
            }
        }
    }
}

/* mean of |x| over a window of 2*32+1 samples (get_signal_energy) */
static int signal_energy(hark_whisper_state *st, const float *pcm, size_t n)
{
    const int hw = 32;
    double sum = 0.0;
    size_t i;
    if (n > st->energy_cap) {
        float *e = hark__realloc(st->energy, n * sizeof(float));
        if (!e)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        st->energy = e;
        st->energy_cap = n;
    }
    for (i = 0; i < n && i <= (size_t)hw; i++)
        sum += fabs(pcm[i]);
    for (i = 0; i < n; i++) {
        st->energy[i] = (float)(sum / (2 * hw + 1));
        if (i + hw + 1 < n)
            sum += fabs(pcm[i + hw + 1]);
        if (i >= (size_t)hw)
            sum -= fabs(pcm[i - hw]);
    }
    return 0;
}

/* ---- results ------------------------------------------------------------------------------------
 */

void hark__whisper_result_dispose(hark_whisper_result *r)
{
    int i;
    if (!r)
        return;
    for (i = 0; i < r->n_seg; i++) {
        hark__free(r->seg[i].text);
        hark__free(r->seg[i].tokens);
    }
    hark__free(r->seg);
    memset(r, 0, sizeof(*r));
}

static int add_segment(hark_whisper_result *r, int64_t t0, int64_t t1, const char *text,
                       size_t text_len, const hark_whisper_token *tok, int n_tok)
{
    hark_whisper_segment *s;
    if (r->n_seg == r->cap_seg) {
        int cap = r->cap_seg ? r->cap_seg * 2 : 16;
        hark_whisper_segment *ns = hark__reallocarray(r->seg, (size_t)cap, sizeof(*ns));
        if (!ns)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        r->seg = ns;
        r->cap_seg = cap;
    }
    s = &r->seg[r->n_seg];
    memset(s, 0, sizeof(*s));
    s->t0 = t0;
    s->t1 = t1;
    s->text = hark__strndup(text, text_len);
    s->tokens = hark__malloc((size_t)(n_tok > 0 ? n_tok : 1) * sizeof(*tok));
    if (!s->text || !s->tokens) {
        hark__free(s->text);
        hark__free(s->tokens);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    s->text_len = text_len;
    if (n_tok > 0)
        memcpy(s->tokens, tok, (size_t)n_tok * sizeof(*tok));
    s->n_tokens = n_tok;
    r->n_seg++;
    return 0;
}

/* ---- language detection -------------------------------------------------------------------------
 */

int hark__whisper_detect_language(hark_whisper_state *st, const hark_whisper_mel *mel, int seek,
                                  float *probs, int *lang_out)
{
    const hark_whisper_model *m = st->m;
    const int n_langs = HARK_MIN(m->sp.n_langs, HARK_WHISPER_N_LANGS_MAX);
    int32_t tok = m->sp.sot, pos = 0, seq = 0;
    uint8_t want = 1;
    hark_whisper_batch b = { 1, &tok, &pos, &seq, &want };
    float max = -INFINITY;
    double sum = 0.0;
    int i, best = 0, rc;

    if (!m->sp.multilingual)
        return hark_error_set(HARK_EINVAL, "%s is an English-only model", m->path);
    if ((rc = hark__whisper_encode(st, mel, seek)) < 0 ||
        (rc = hark__whisper_decode(st, &b, st->logits)) < 0)
        return rc;
    for (i = 0; i < n_langs; i++) {
        float l = st->logits[m->sp.sot + 1 + i];
        if (l > max) {
            max = l;
            best = i;
        }
    }
    for (i = 0; i < n_langs; i++)
        sum += exp((double)st->logits[m->sp.sot + 1 + i] - max);
    if (probs)
        for (i = 0; i < n_langs; i++)
            probs[i] = (float)(exp((double)st->logits[m->sp.sot + 1 + i] - max) / sum);
    *lang_out = best;
    return 0;
}

/* ---- whisper_full -------------------------------------------------------------------------------
 */

typedef struct full_ctx {
    hark_whisper_state *st;
    const hark_whisper_model *m;
    const hark_whisper_params *p;
    dec decs[HARK_WHISPER_MAX_DECODERS];
    hark_whisper_token *alt[HARK_WHISPER_MAX_DECODERS]; /* beam reorder double buffers */
    hark_whisper_token *tok_store;                      /* 2 * MAX_DECODERS * n_text_ctx tokens */
    cand *cands;                                        /* MAX_DECODERS^2 */
    ilist prompt_past, prompt, init;
    int32_t *bt, *bp, *bs; /* batch arrays [n_text_ctx] */
    uint8_t *bw;
    float *stage; /* step_cb: logits after suppression 1-3 */
    hark_whisper_filter filter;
} full_ctx;

static int aborted(const hark_whisper_params *p)
{
    return p->abort && p->abort(p->payload);
}

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->sum != y->sum)
        return x->sum > y->sum ? -1 : 1;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->t.id < y->t.id ? -1 : x->t.id > y->t.id;
}

/* Do candidates a and b describe the same token sequence? */
static int cand_same(const full_ctx *c, const cand *a, const cand *b)
{
    const dec *da = &c->decs[a->src], *db = &c->decs[b->src];
    int i;
    if (a->t.id != b->t.id || da->n_tok != db->n_tok)
        return 0;
    if (a->src == b->src)
        return 1;
    for (i = da->n_tok - 1; i >= 0; i--)
        if (da->tok[i].id != db->tok[i].id)
            return 0;
    return 1;
}

/* Filter the logits in db->logits for decoder d and compute logprobs/probs. */
static void process(full_ctx *c, int seek, const dec *d, hark_whisper_dec_buf *db, int report)
{
    const hark_whisper_model *m = c->m;
    const int n_vocab = m->hp.n_vocab;
    report = report && c->p->step_cb && c->stage;
    hark__whisper_process_logits(m, &c->filter, d->tok, d->n_tok, &d->ts, db->logits, db->logprobs,
                                 report ? c->stage : NULL);
    hark__whisper_probs(db->logits, db->logprobs, db->probs, n_vocab);
    if (report)
        c->p->step_cb(c->p->step_payload, seek, d->n_tok, c->stage, n_vocab);
}

typedef struct process_job {
    full_ctx *c;
    int seek;
    int dec[HARK_WHISPER_MAX_DECODERS]; /* live decoders; row t of the logits is dec[t]'s */
    int n;
} process_job;

static void process_task(void *payload, int task, int worker)
{
    const process_job *pj = payload;
    full_ctx *c = pj->c;
    const int j = pj->dec[task], n_vocab = c->m->hp.n_vocab;
    HARK_UNUSED(worker);
    memcpy(c->st->dec[j].logits, c->st->logits + (size_t)task * n_vocab,
           (size_t)n_vocab * sizeof(float));
    process(c, pj->seek, &c->decs[j], &c->st->dec[j], j == 0);
}

/* Beam step: the n_live best (beam, token) continuations by total log probability. */
typedef struct topk_job {
    full_ctx *c;
    int k;                                /* candidates per decoder */
    int n_top[HARK_WHISPER_MAX_DECODERS]; /* out: candidates of decoder j at cands[j * k] */
} topk_job;

/* The k most probable continuations of decoder `task` (ties: lower id first). */
static void topk_task(void *payload, int task, int worker)
{
    topk_job *tj = payload;
    full_ctx *c = tj->c;
    const hark_whisper_model *m = c->m;
    const int j = task, k = tj->k, n_vocab = m->hp.n_vocab;
    const dec *d = &c->decs[j];
    const float *lp = c->st->dec[j].logprobs;
    int top[HARK_WHISPER_MAX_DECODERS], n_top = 0, q, a;
    hark_whisper_token base;
    HARK_UNUSED(worker);
    tj->n_top[j] = 0;
    if (d->completed || d->failed)
        return;
    for (q = 0; q < n_vocab; q++) {
        if (lp[q] == -INFINITY || (n_top == k && lp[q] <= lp[top[n_top - 1]]))
            continue;
        a = n_top < k ? n_top++ : k - 1;
        while (a > 0 && lp[top[a - 1]] < lp[q]) {
            top[a] = top[a - 1];
            a--;
        }
        top[a] = q;
    }
    base = hark__whisper_sample(m, c->st->dec[j].probs, lp, NULL, 1); /* tid, pt, ptsum */
    c->st->n_sampled++;
    for (a = 0; a < n_top; a++) {
        cand *cd = &c->cands[j * k + a];
        cd->src = j;
        cd->t = base;
        cd->t.id = top[a];
        cd->t.p = c->st->dec[j].probs[top[a]];
        cd->t.plog = lp[top[a]];
        if (top[a] >= m->sp.beg) {
            cd->t.tid = top[a];
            cd->t.pt = cd->t.p;
        }
        cd->sum = d->sum_logprobs_all + cd->t.plog;
    }
    tj->n_top[j] = n_top;
}

static int beam_step(full_ctx *c, int n_dec, int n_pos)
{
    hark_whisper_state *st = c->st;
    int src[HARK_WHISPER_MAX_DECODERS], pick[HARK_WHISPER_MAX_DECODERS];
    int n_c = 0, n_pick = 0, j, a, rc;
    topk_job tj;

    tj.c = c;
    tj.k = n_dec;
    hark_pool_run(st->pool, n_dec, topk_task, &tj);
    for (j = 0; j < n_dec; j++) { /* compact, in decoder order */
        src[j] = j;
        for (a = 0; a < tj.n_top[j]; a++)
            c->cands[n_c++] = c->cands[j * n_dec + a];
    }
    qsort(c->cands, (size_t)n_c, sizeof(cand), cand_cmp);
    /* unique sequences, best first */
    for (a = 0; a < n_c && n_pick < n_dec; a++) {
        int dup = 0, z;
        for (z = 0; z < n_pick && !dup; z++)
            dup = cand_same(c, &c->cands[a], &c->cands[pick[z]]);
        if (!dup)
            pick[n_pick++] = a;
    }
    if (n_pick == 0) { /* every continuation suppressed: nothing can be sampled */
        for (j = 0; j < n_dec; j++)
            if (!c->decs[j].completed)
                c->decs[j].failed = 1;
        return 0;
    }
    /* assign to the live decoders; copies of sources go through the alternate buffers */
    a = 0;
    for (j = 0; j < n_dec; j++) {
        dec *d = &c->decs[j];
        const cand *cd;
        if (d->completed || d->failed)
            continue;
        cd = &c->cands[pick[a < n_pick ? a : 0]];
        a++;
        src[j] = cd->src;
        memcpy(c->alt[j], c->decs[cd->src].tok,
               (size_t)c->decs[cd->src].n_tok * sizeof(hark_whisper_token));
        c->alt[j][c->decs[cd->src].n_tok] = cd->t;
    }
    {
        dec snap[HARK_WHISPER_MAX_DECODERS];
        memcpy(snap, c->decs, sizeof(snap));
        for (j = 0; j < n_dec; j++) {
            dec *d = &c->decs[j];
            hark_whisper_token *old = d->tok;
            if (d->completed || d->failed)
                continue;
            d->tok = c->alt[j];
            c->alt[j] = old;
            d->n_tok = snap[src[j]].n_tok + 1;
            d->result_len = snap[src[j]].result_len;
            d->ts = snap[src[j]].ts;
            d->sum_logprobs_all = snap[src[j]].sum_logprobs_all + d->tok[d->n_tok - 1].plog;
        }
    }
    if ((rc = hark__whisper_kv_reorder(st, src, n_dec, n_pos)) < 0)
        return rc;
    return 0;
}

/* Decode one window at one temperature with n_dec decoders. */
static int decode_window(full_ctx *c, int seek, int seek_end, float t_cur, int n_dec, int use_beam,
                         float *no_speech_prob)
{
    hark_whisper_state *st = c->st;
    const hark_whisper_model *m = c->m;
    const hark_whisper_params *p = c->p;
    const int n_vocab = m->hp.n_vocab, n_max = m->hp.n_text_ctx / 2 - 4;
    hark_whisper_batch b;
    int i, j, rc, n_prompt, sot_row = -1, rows;

    /* prompt: [<|startofprev|> past...] + init */
    c->prompt.n = 0;
    if (c->prompt_past.n > 0 && t_cur < 0.5f && p->n_max_text_ctx > 0) {
        int n_take = HARK_MIN(HARK_MIN(p->n_max_text_ctx, m->hp.n_text_ctx / 2), c->prompt_past.n);
        if ((rc = il_push(&c->prompt, m->sp.prev)) < 0)
            return rc;
        for (i = c->prompt_past.n - n_take; i < c->prompt_past.n; i++)
            if ((rc = il_push(&c->prompt, c->prompt_past.v[i])) < 0)
                return rc;
    }
    for (i = 0; i < c->init.n; i++)
        if ((rc = il_push(&c->prompt, c->init.v[i])) < 0)
            return rc;
    n_prompt = c->prompt.n;
    if (n_prompt > st->n_batch_max || n_prompt >= m->hp.n_text_ctx)
        return hark_error_set(HARK_EINVAL, "prompt of %d tokens is too long", n_prompt);

    for (j = 0; j < n_dec; j++) {
        dec *d = &c->decs[j];
        d->n_tok = 0;
        d->result_len = 0;
        d->sum_logprobs_all = 0.0;
        d->sum_logprobs = -INFINITY;
        d->avg_logprobs = -INFINITY;
        d->entropy = 0.0;
        d->score = -INFINITY;
        d->ts.seek_delta = 100 * 30;
        d->ts.has_ts = 0;
        d->failed = 0;
        d->completed = 0;
    }
    c->filter.temperature = t_cur;

    /* the prompt through sequence 0, with logits at SOT (no-speech) and at the end */
    for (i = 0; i < n_prompt; i++) {
        c->bt[i] = c->prompt.v[i];
        c->bp[i] = i;
        c->bs[i] = 0;
        c->bw[i] = i == n_prompt - 1;
        if (i >= n_prompt - c->init.n && i < n_prompt - 1 && c->prompt.v[i] == m->sp.sot) {
            c->bw[i] = 1;
            sot_row = 0;
        }
    }
    b.n = n_prompt;
    b.token = c->bt;
    b.pos = c->bp;
    b.seq = c->bs;
    b.want_logits = c->bw;
    if ((rc = hark__whisper_decode(st, &b, st->logits)) < 0)
        return rc;
    rows = sot_row == 0 ? 2 : 1;
    {
        const float *lg = st->logits; /* the SOT row is the first one computed */
        float mx = -INFINITY, sum = 0.0f;
        for (i = 0; i < n_vocab; i++)
            if (lg[i] > mx)
                mx = lg[i];
        for (i = 0; i < n_vocab; i++)
            sum += hark__whisper_exp(lg[i] - mx);
        *no_speech_prob = hark__whisper_exp(lg[m->sp.nosp] - (logf(sum) + mx));
    }
    memcpy(st->dec[0].logits, st->logits + (size_t)(rows - 1) * n_vocab,
           (size_t)n_vocab * sizeof(float));
    process(c, seek, &c->decs[0], &st->dec[0], 1);
    for (j = 1; j < n_dec; j++) {
        hark__whisper_kv_copy(st, j, 0, n_prompt);
        memcpy(st->dec[j].logits, st->dec[0].logits, (size_t)n_vocab * sizeof(float));
        memcpy(st->dec[j].logprobs, st->dec[0].logprobs, (size_t)n_vocab * sizeof(float));
        memcpy(st->dec[j].probs, st->dec[0].probs, (size_t)n_vocab * sizeof(float));
    }

    for (i = 0; i < n_max; i++) {
        int n_live = 0;
        if (aborted(p))
            return hark_error_set(HARK_ECANCELED, "canceled");

        if (use_beam) {
            if ((rc = beam_step(c, n_dec, n_prompt + i)) < 0)
                return rc;
        } else {
            for (j = 0; j < n_dec; j++) {
                dec *d = &c->decs[j];
                hark_whisper_token t;
                if (d->completed || d->failed)
                    continue;
                t = hark__whisper_sample(m, st->dec[j].probs, st->dec[j].logprobs, &d->rng,
                                         t_cur < 1e-6f);
                st->n_sampled++;
                if (j == 0 && p->force_cb) {
                    int32_t f = p->force_cb(p->step_payload, seek, d->n_tok);
                    if (f >= 0 && f < n_vocab) {
                        t.id = f;
                        t.p = st->dec[0].probs[f];
                        t.plog = st->dec[0].logprobs[f];
                        if (f >= m->sp.beg) {
                            t.tid = f;
                            t.pt = t.p;
                        }
                    }
                }
                d->tok[d->n_tok++] = t;
                d->sum_logprobs_all += t.plog;
            }
        }

        /* update each decoder: timestamps, completion, failure */
        for (j = 0; j < n_dec; j++) {
            dec *d = &c->decs[j];
            const hark_whisper_token *t;
            if (d->completed || d->failed)
                continue;
            if (d->n_tok == 0) {
                d->failed = 1;
                continue;
            }
            t = &d->tok[d->n_tok - 1];
            if (t->id > m->sp.beg) {
                int seek_delta_new = 2 * (t->id - m->sp.beg);
                if (d->ts.has_ts && d->ts.seek_delta > seek_delta_new && d->result_len < i) {
                    d->failed = 1;
                    continue;
                }
                d->ts.seek_delta = seek_delta_new;
                d->result_len = i + 1;
                d->ts.has_ts = 1;
            }
            if (t->id == m->sp.eot || (p->max_tokens > 0 && i >= p->max_tokens) ||
                (d->ts.has_ts && seek + d->ts.seek_delta + DELTA_MIN >= seek_end)) {
                if (d->result_len == 0 && !p->no_timestamps) {
                    if (seek + d->ts.seek_delta + DELTA_MIN >= seek_end) {
                        d->result_len = i + 1;
                    } else {
                        d->failed = 1;
                        continue;
                    }
                }
                if (p->single_segment || p->no_timestamps) {
                    d->result_len = i + 1;
                    d->ts.seek_delta = 100 * 30;
                }
                d->completed = 1;
                continue;
            }
            if (i == n_max - 1 && (d->result_len == 0 || d->ts.seek_delta < 100 * 30 / 2)) {
                d->failed = 1;
                continue;
            }
        }

        /* the next token of every live decoder, in one batch */
        for (j = 0; j < n_dec; j++) {
            const dec *d = &c->decs[j];
            if (d->completed || d->failed)
                continue;
            c->bt[n_live] = d->tok[d->n_tok - 1].id;
            c->bp[n_live] = n_prompt + i;
            c->bs[n_live] = j;
            c->bw[n_live] = 1;
            n_live++;
        }
        if (n_live == 0)
            break;
        /* A 229-token prompt (multilingual, no timestamps) plus 220 tokens would need position
         * 448 = n_text_ctx on the last step, where whisper.cpp reads past its positional
         * embedding; those logits are never used (the loop ends), so stop here instead. */
        if (n_prompt + i >= m->hp.n_text_ctx)
            break;
        b.n = n_live;
        if ((rc = hark__whisper_decode(st, &b, st->logits)) < 0)
            return rc;
        {
            /* filter each live decoder's logits, in parallel (independent per decoder) */
            process_job pj;
            pj.c = c;
            pj.seek = seek;
            pj.n = 0;
            for (j = 0; j < n_dec; j++)
                if (!c->decs[j].completed && !c->decs[j].failed)
                    pj.dec[pj.n++] = j;
            hark_pool_run(st->pool, pj.n, process_task, &pj);
        }
    }
    return 0;
}

int hark__whisper_full(hark_whisper_state *st, const hark_whisper_params *p, const float *pcm,
                       size_t n, hark_whisper_result *out)
{
    const hark_whisper_model *m = st->m;
    const int n_ctx = m->hp.n_text_ctx;
    full_ctx c;
    float temps[64];
    int n_temps = 0, n_dec_max, use_beam, seek, seek_end, rc = 0, i, j, enc_seek = -1;
    int no_timestamps = p->no_timestamps;
    hark_whisper_params pp = *p;
    hark_buf text = HARK_BUF_INIT;
    ts_ctx tsc;

    HARK_ASSERT_ARG(st && p && out && (pcm || n == 0));
    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    memset(&tsc, 0, sizeof(tsc));
    out->lang_id = -1;
    c.st = st;
    c.m = m;
    c.p = &pp;

    /* first release distilled models: timestamps off (FORMAT.md 8.2) */
    if (m->hp.n_text_layer == 2 && m->hp.n_vocab != 51866)
        no_timestamps = 1;
    pp.no_timestamps = no_timestamps;
    c.filter.no_timestamps = no_timestamps;
    c.filter.suppress_blank = p->suppress_blank;
    c.filter.suppress_nst = p->suppress_nst;
    c.filter.max_initial_ts = p->max_initial_ts;

    if ((rc = hark__whisper_mel_compute(&st->mel, m->filters, m->hp.n_mels, pcm, n, st->pool)) < 0)
        goto out;
    seek = 0;
    seek_end = st->mel.n_len_org;
    if (seek_end < seek + DELTA_MIN)
        goto out;

    /* language */
    if (m->sp.multilingual) {
        const char *lang = p->language;
        if (!lang || !*lang || strcmp(lang, "auto") == 0) {
            if ((rc = hark__whisper_detect_language(st, &st->mel, 0, NULL, &out->lang_id)) < 0)
                goto out;
            enc_seek = 0;
        } else if ((out->lang_id = hark__whisper_lang_id(lang)) < 0 ||
                   out->lang_id >= m->sp.n_langs) {
            rc = hark_error_set(HARK_EINVAL, "unknown language '%s'", lang);
            goto out;
        }
    }

    /* temperatures t0, t0 + inc, ... < 1 + 1e-6 */
    if (p->temperature_inc > 0.0f) {
        float t;
        for (t = p->temperature; t < 1.0f + 1e-6f && n_temps < (int)HARK_ARRAY_SIZE(temps);
             t += p->temperature_inc)
            temps[n_temps++] = t;
    }
    if (n_temps == 0)
        temps[n_temps++] = p->temperature;

    use_beam = p->beam_size > 1;
    n_dec_max = HARK_MAX(1, use_beam ? HARK_MAX(p->best_of, p->beam_size) : p->best_of);
    if (n_dec_max > HARK_WHISPER_MAX_DECODERS) {
        rc = hark_error_set(HARK_EINVAL, "too many decoders requested (%d), max = %d", n_dec_max,
                            HARK_WHISPER_MAX_DECODERS);
        goto out;
    }
    if ((rc = hark__whisper_state_reserve(st, n_dec_max + 1)) < 0)
        goto out;

    c.tok_store = hark__calloc((size_t)2 * HARK_WHISPER_MAX_DECODERS * (size_t)n_ctx,
                               sizeof(hark_whisper_token));
    c.cands =
        hark__calloc((size_t)HARK_WHISPER_MAX_DECODERS * HARK_WHISPER_MAX_DECODERS, sizeof(cand));
    c.bt = hark__calloc((size_t)n_ctx, sizeof(int32_t));
    c.bp = hark__calloc((size_t)n_ctx, sizeof(int32_t));
    c.bs = hark__calloc((size_t)n_ctx, sizeof(int32_t));
    c.bw = hark__calloc((size_t)n_ctx, 1);
    if (!c.tok_store || !c.cands || !c.bt || !c.bp || !c.bs || !c.bw) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    for (j = 0; j < HARK_WHISPER_MAX_DECODERS; j++) {
        c.decs[j].tok = c.tok_store + (size_t)j * n_ctx;
        c.alt[j] = c.tok_store + (size_t)(HARK_WHISPER_MAX_DECODERS + j) * n_ctx;
        c.decs[j].rng = hark__whisper_rng_seed(p->seed + (uint64_t)j);
    }
    if (p->step_cb && !(c.stage = hark__malloc((size_t)m->hp.n_vocab * sizeof(float)))) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }

    /* initial prompt */
    if (p->prompt_tokens && p->n_prompt_tokens > 0) {
        for (i = 0; i < p->n_prompt_tokens; i++)
            if (p->prompt_tokens[i] >= 0 && p->prompt_tokens[i] < m->hp.n_vocab &&
                (rc = il_push(&c.prompt_past, p->prompt_tokens[i])) < 0)
                goto out;
    } else if (p->prompt && *p->prompt) {
        if ((rc = hark__whisper_tokenize(m, p->prompt, &c.prompt_past.v, &c.prompt_past.n,
                                         &c.prompt_past.cap)) < 0)
            goto out;
    }

    /* task tokens */
    if ((rc = il_push(&c.init, m->sp.sot)) < 0)
        goto out;
    if (m->sp.multilingual) {
        if ((rc = il_push(&c.init, m->sp.sot + 1 + out->lang_id)) < 0 ||
            (rc = il_push(&c.init, p->translate ? m->sp.translate : m->sp.transcribe)) < 0)
            goto out;
    }
    if (no_timestamps && (rc = il_push(&c.init, m->sp.not_ts)) < 0)
        goto out;

    if (p->token_timestamps) {
        if ((rc = signal_energy(st, pcm, n)) < 0)
            goto out;
        tsc.energy = st->energy;
        tsc.n_samples = (int)n;
    }

    for (;;) {
        int best = 0, it, seek_delta, result_len, is_no_speech, first_seg;
        float no_speech_prob = 0.0f, t_used = temps[0], cr = 0.0f;
        const dec *bd;

        if (seek + DELTA_MIN >= seek_end)
            break;
        if (aborted(p)) {
            rc = hark_error_set(HARK_ECANCELED, "canceled");
            goto out;
        }
        if (seek != enc_seek && (rc = hark__whisper_encode(st, &st->mel, seek)) < 0)
            goto out;
        enc_seek = -1;
        out->n_windows++;
        if (seek > 0 && seek + 500 >= seek_end)
            c.prompt_past.n = 0;

        for (it = 0; it < n_temps; it++) {
            const float t_cur = temps[it];
            int n_dec = 1, fallback;
            double best_score = -INFINITY;
            if (use_beam)
                n_dec = t_cur > 0.0f ? p->best_of : p->beam_size;
            else if (t_cur > 0.0f)
                n_dec = p->best_of;
            n_dec = HARK_MAX(1, n_dec);
            if ((rc = decode_window(&c, seek, seek_end, t_cur, n_dec, use_beam && t_cur <= 0.0f,
                                    &no_speech_prob)) < 0)
                goto out;
            t_used = t_cur;
            best = 0;
            for (j = 0; j < n_dec; j++) {
                dec *d = &c.decs[j];
                if (d->failed)
                    continue;
                d->n_tok = d->result_len;
                sequence_score(p, d);
                if (d->result_len > 32 && d->entropy < p->entropy_thold) {
                    d->failed = 1;
                    continue;
                }
                if (best_score < d->score) {
                    best_score = d->score;
                    best = j;
                }
            }
            bd = &c.decs[best];
            hark_buf_clear(&text);
            if ((rc = tokens_text(m, bd->tok, bd->n_tok, &text)) < 0)
                goto out;
            cr = hark__whisper_compression_ratio(text.ptr, text.len);
            if (it == n_temps - 1)
                break;
            {
                int silence =
                    no_speech_prob > p->no_speech_thold && bd->avg_logprobs < p->logprob_thold;
                fallback =
                    bd->failed ||
                    (bd->avg_logprobs < p->logprob_thold && no_speech_prob < p->no_speech_thold) ||
                    (!silence && p->compression_ratio_thold > 0.0f &&
                     cr > p->compression_ratio_thold);
            }
            if (!fallback)
                break;
            out->n_fallbacks++;
        }

        /* output the best decoder's tokens */
        bd = &c.decs[best];
        seek_delta = bd->ts.seek_delta;
        result_len = bd->result_len;
        is_no_speech = no_speech_prob > p->no_speech_thold && bd->avg_logprobs < p->logprob_thold;
        {
            /* prompt_past = the past part of this window's prompt + the kept tokens */
            ilist np = { 0 };
            if (c.prompt.n > 0 && c.prompt.v[0] == m->sp.prev)
                for (i = 1; i < c.prompt.n - c.init.n; i++)
                    if ((rc = il_push(&np, c.prompt.v[i])) < 0) {
                        hark__free(np.v);
                        goto out;
                    }
            for (i = 0; i < result_len && !is_no_speech; i++)
                if ((rc = il_push(&np, bd->tok[i].id)) < 0) {
                    hark__free(np.v);
                    goto out;
                }
            hark__free(c.prompt_past.v);
            c.prompt_past = np;
            if (!p->carry_context)
                c.prompt_past.n = 0;
        }
        first_seg = out->n_seg;
        if (bd->n_tok > 0 && !is_no_speech) {
            int i0 = 0;
            int64_t t0 = seek + 2 * (int64_t)(bd->tok[0].tid - m->sp.beg);
            hark_buf_clear(&text);
            for (i = 0; i < bd->n_tok; i++) {
                const hark_whisper_token *t = &bd->tok[i];
                if (t->id < m->sp.eot) {
                    size_t len;
                    const char *bb = hark__whisper_token_bytes(m, t->id, &len);
                    if ((rc = hark_buf_put(&text, bb, len)) < 0)
                        goto out;
                }
                if (t->id > m->sp.beg && !p->single_segment) {
                    int64_t t1 = seek + 2 * (int64_t)(t->tid - m->sp.beg);
                    if (text.len > 0) {
                        if ((rc = add_segment(out, t0, t1, text.ptr, text.len, bd->tok + i0,
                                              i - i0 + 1)) < 0)
                            goto out;
                    }
                    hark_buf_clear(&text);
                    while (i < bd->n_tok && bd->tok[i].id > m->sp.beg)
                        i++;
                    i--;
                    t0 = t1;
                    i0 = i + 1;
                }
            }
            if (text.len > 0) {
                int64_t t1 = seek + seek_delta;
                if ((rc = add_segment(out, t0, t1, text.ptr, text.len, bd->tok + i0,
                                      bd->n_tok - i0)) < 0)
                    goto out;
            }
        }
        for (i = first_seg; i < out->n_seg; i++) {
            hark_whisper_segment *s = &out->seg[i];
            s->no_speech_prob = no_speech_prob;
            s->temperature = t_used;
            s->avg_logprob = (float)bd->avg_logprobs;
            s->compression_ratio = cr;
            s->seek = seek;
            if (p->token_timestamps)
                token_timestamps(m, &tsc, s, p->thold_pt, p->thold_ptsum);
        }
        seek += seek_delta;
    }
out:
    hark_buf_dispose(&text);
    hark__free(c.tok_store);
    hark__free(c.stage);
    hark__free(c.cands);
    hark__free(c.bt);
    hark__free(c.bp);
    hark__free(c.bs);
    hark__free(c.bw);
    hark__free(c.prompt_past.v);
    hark__free(c.prompt.v);
    hark__free(c.init.v);
    if (rc < 0)
        hark__whisper_result_dispose(out);
    return rc;
}
