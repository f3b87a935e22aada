/*
 * decoder.c: the Whisper text decoder, batched over tokens and sequences.
 *
 * DESIGN
 * A call processes n tokens at once (a prompt of one sequence, one token of
 * each beam, or both); every matrix product runs over all n rows. Each
 * decoder sequence owns a KV cache slot (f16, [layer][position][S]); a
 * token's K/V are written at its position before attention, and token i
 * attends to positions 0..pos[i] of its own sequence. Self-attention is
 * computed per (block of consecutive tokens of one sequence, head) as pool
 * tasks; cross-attention over the window's precomputed f16 K/V
 * (encoder.c) per (block of tokens, head). Logits (the tied token
 * embedding) are computed only for the rows that ask for them.
 *
 * Numerics follow whisper.cpp v1.7.5 on the CPU: Q and K are scaled by
 * d^-1/4 before the product (self-attention) and the cached K/V are f16;
 * the attention products round Q and the softmax output to f16; cross-
 * attention scales the scores by d^-1/4 (K was scaled when cached). The
 * logit product of an f16 embedding runs on ggml's generic path, which
 * rounds the final hidden state to f16 first; we do the same.
 *
 * INVARIANTS
 * Results depend only on the tokens, positions and cache contents, not on
 * the thread count or on which other tokens share the batch.
 */
#include <math.h>
#include <string.h>

#include "whisper.h"

#define SCORE_ROWS 32

typedef struct self_job {
    hark_whisper_state *st;
    const hark_whisper_batch *b;
    int layer;
    const int *blk_start; /* first batch row of each block */
    const int *blk_rows;  /* rows of each block (same sequence, consecutive positions) */
    int n_head, d, S, n_ctx;
} self_job;

static void self_task(void *payload, int task, int worker)
{
    const self_job *j = payload;
    hark_whisper_state *st = j->st;
    int blk = task / j->n_head, h = task % j->n_head;
    int r0 = j->blk_start[blk], rows = j->blk_rows[blk], r, c;
    int seq = j->b->seq[r0], n_kv = j->b->pos[r0 + rows - 1] + 1;
    int slot = st->seq_slot[seq];
    size_t loff = (size_t)j->layer * j->n_ctx * j->S;
    const uint16_t *K = st->slot_k[slot] + loff + (size_t)h * j->d * j->n_ctx; /* [S][n_ctx] */
    const uint16_t *V = st->slot_v[slot] + loff + (size_t)h * j->d;            /* [n_ctx][S] */
    float *s = st->scores + (size_t)worker * SCORE_ROWS * st->scores_cols;

    hark_gemm_f16b(NULL, rows, n_kv, j->d, 1.0f, st->dq + (size_t)r0 * j->S + h * j->d, j->S, K,
                   j->n_ctx, 0, s, st->scores_cols);
    for (r = 0; r < rows; r++) {
        float *row = s + (size_t)r * st->scores_cols;
        int p = j->b->pos[r0 + r];
        for (c = p + 1; c < n_kv; c++)
            row[c] = -INFINITY;
        hark__whisper_softmax(row, n_kv);
        hark__whisper_round_f16(row, (size_t)n_kv);
    }
    hark_gemm_f16b(NULL, rows, j->d, n_kv, 1.0f, s, st->scores_cols, V, j->S, 0,
                   st->dattn + (size_t)r0 * j->S + h * j->d, j->S);
}

typedef struct cross_job {
    hark_whisper_state *st;
    int layer, n, n_head, d, S, A;
    float scale;
} cross_job;

static void cross_task(void *payload, int task, int worker)
{
    const cross_job *j = payload;
    hark_whisper_state *st = j->st;
    int blocks = (j->n + SCORE_ROWS - 1) / SCORE_ROWS;
    int h = task / blocks, r0 = (task % blocks) * SCORE_ROWS;
    int rows = HARK_MIN(SCORE_ROWS, j->n - r0), r;
    size_t loff = (size_t)j->layer * j->A * j->S;
    float *s = st->scores + (size_t)worker * SCORE_ROWS * st->scores_cols;

    hark_gemm_f16b(NULL, rows, j->A, j->d, j->scale, st->dq + (size_t)r0 * j->S + h * j->d, j->S,
                   st->cross_k + loff + (size_t)h * j->d * j->A, j->A, 0, s, st->scores_cols);
    for (r = 0; r < rows; r++) {
        float *row = s + (size_t)r * st->scores_cols;
        hark__whisper_softmax(row, j->A);
        hark__whisper_round_f16(row, (size_t)j->A);
    }
    hark_gemm_f16b(NULL, rows, j->d, j->A, 1.0f, s, st->scores_cols,
                   st->cross_v + loff + (size_t)h * j->d, j->S, 0,
                   st->dattn + (size_t)r0 * j->S + h * j->d, j->S);
}

/* x += add (if add); out = LN(x) over n rows of S (out may equal add). */
static void add_ln(float *x, const float *add, float *out, const float *w, const float *b, int n,
                   int S)
{
    int r, i;
    for (r = 0; r < n; r++) {
        float *xr = x + (size_t)r * S;
        if (add)
            for (i = 0; i < S; i++)
                xr[i] += add[(size_t)r * S + i];
        if (out)
            hark__whisper_layernorm(out + (size_t)r * S, xr, S, w, b);
    }
}

static int decode(hark_whisper_state *st, const hark_whisper_batch *b, float *logits)
{
    const hark_whisper_model *m = st->m;
    const hark_whisper_hparams *hp = &m->hp;
    const int S = hp->n_text_state, H = hp->n_text_head, d = S / H, n = b->n;
    const int n_ctx = hp->n_text_ctx, A = hp->n_audio_ctx;
    const float kq_scale = (float)pow((double)d, -0.25);
    const size_t te_row = hark_ggml_row_size(m->d_te.type, S);
    hark_pool *pool = st->pool;
    int blk_start[512], blk_rows[512];
    int n_blk = 0, i, l, n_out;
    self_job sj;
    cross_job cj;

    HARK_ASSERT_ARG(b && n > 0);
    if (n > st->n_batch_max || n > (int)HARK_ARRAY_SIZE(blk_start))
        return hark_error_set(HARK_EINVAL, "decoder batch of %d tokens is too large", n);
    if (!st->encoded)
        return hark_error_set(HARK_EINVAL, "decoder called before the encoder");
    n_out = 0;
    for (i = 0; i < n; i++) {
        if (b->token[i] < 0 || b->token[i] >= hp->n_vocab || b->pos[i] < 0 || b->pos[i] >= n_ctx ||
            b->seq[i] < 0 || b->seq[i] >= st->n_seq_cap || !st->slot_k[st->seq_slot[b->seq[i]]])
            return hark_error_set(HARK_EINVAL, "bad decoder batch entry %d (token %d, pos %d)", i,
                                  b->token[i], b->pos[i]);
        n_out += b->want_logits && b->want_logits[i];
        /* blocks: consecutive tokens of one sequence at consecutive positions */
        if (n_blk > 0 && blk_rows[n_blk - 1] < SCORE_ROWS && b->seq[i] == b->seq[i - 1] &&
            b->pos[i] == b->pos[i - 1] + 1) {
            blk_rows[n_blk - 1]++;
        } else {
            blk_start[n_blk] = i;
            blk_rows[n_blk++] = 1;
        }
    }
    if (n_out > st->n_logit_rows)
        return hark_error_set(HARK_EINVAL, "logits wanted for %d rows, at most %d", n_out,
                              st->n_logit_rows);

    /* token + positional embedding */
    for (i = 0; i < n; i++) {
        float *x = st->dx + (size_t)i * S;
        const float *pe = m->d_pe + (size_t)b->pos[i] * S;
        int k;
        hark_dequantize_row(m->d_te.type, (const uint8_t *)m->d_te.src + te_row * b->token[i], x,
                            S);
        for (k = 0; k < S; k++)
            x[k] += pe[k];
    }

    sj.st = st;
    sj.b = b;
    sj.blk_start = blk_start;
    sj.blk_rows = blk_rows;
    sj.n_head = H;
    sj.d = d;
    sj.S = S;
    sj.n_ctx = n_ctx;
    cj.st = st;
    cj.n = n;
    cj.n_head = H;
    cj.d = d;
    cj.S = S;
    cj.A = A;
    cj.scale = kq_scale;

    add_ln(st->dx, NULL, st->dh, m->dec[0].attn_ln_w, m->dec[0].attn_ln_b, n, S);
    for (l = 0; l < hp->n_text_layer; l++) {
        const hark_whisper_layer *L = &m->dec[l];
        size_t loff = (size_t)l * n_ctx * S;

        /* self-attention: store K/V of the batch, then attend */
        hark_matmul(pool, &L->attn.q, st->dh, n, S, L->attn.q_b, st->dq, S);
        hark_matmul(pool, &L->attn.k, st->dh, n, S, NULL, st->dk, S);
        hark_matmul(pool, &L->attn.v, st->dh, n, S, L->attn.v_b, st->dv, S);
        for (i = 0; i < n; i++) {
            float *q = st->dq + (size_t)i * S, *k = st->dk + (size_t)i * S;
            int slot = st->seq_slot[b->seq[i]], c;
            size_t off = loff + (size_t)b->pos[i] * S;
            for (c = 0; c < S; c++) {
                q[c] *= kq_scale;
                k[c] *= kq_scale;
            }
            hark__whisper_round_f16(q, (size_t)S);
            /* K transposed ([S][n_ctx]: column pos), V by rows */
            hark_f32_to_f16_transposed(k, 1, S, S, st->slot_k[slot] + loff + b->pos[i], n_ctx);
            hark__whisper_to_f16(st->slot_v[slot] + off, st->dv + (size_t)i * S, (size_t)S);
        }
        sj.layer = l;
        hark_pool_run(pool, n_blk * H, self_task, &sj);
        hark_matmul(pool, &L->attn.o, st->dattn, n, S, L->attn.o_b, st->dh, S);
        add_ln(st->dx, st->dh, st->dh, L->cross_ln_w, L->cross_ln_b, n, S);

        /* cross-attention over the window */
        hark_matmul(pool, &L->cross.q, st->dh, n, S, L->cross.q_b, st->dq, S);
        hark__whisper_round_f16(st->dq, (size_t)n * S);
        cj.layer = l;
        hark_pool_run(pool, H * ((n + SCORE_ROWS - 1) / SCORE_ROWS), cross_task, &cj);
        hark_matmul(pool, &L->cross.o, st->dattn, n, S, L->cross.o_b, st->dh, S);
        add_ln(st->dx, st->dh, st->dh, L->mlp_ln_w, L->mlp_ln_b, n, S);

        /* MLP */
        hark_matmul(pool, &L->mlp0, st->dh, n, S, L->mlp0_b, st->dmlp, 4 * S);
        hark__whisper_gelu(st->dmlp, (size_t)n * 4 * S);
        hark_matmul(pool, &L->mlp1, st->dmlp, n, 4 * S, L->mlp1_b, st->dh, S);
        if (l + 1 < hp->n_text_layer)
            add_ln(st->dx, st->dh, st->dh, m->dec[l + 1].attn_ln_w, m->dec[l + 1].attn_ln_b, n, S);
        else
            add_ln(st->dx, st->dh, NULL, NULL, NULL, n, S);
    }

    /* final LayerNorm and logits for the rows that want them */
    if (n_out > 0) {
        int r = 0;
        for (i = 0; i < n; i++) {
            if (!b->want_logits[i])
                continue;
            hark__whisper_layernorm(st->dlog_in + (size_t)r * S, st->dx + (size_t)i * S, S,
                                    m->d_ln_w, m->d_ln_b);
            r++;
        }
        if (m->d_te.type == HARK_GGML_F16)
            hark__whisper_round_f16(st->dlog_in, (size_t)n_out * S);
        hark_matmul(pool, &m->d_te, st->dlog_in, n_out, S, NULL, logits, hp->n_vocab);
    }
    return 0;
}

/* Copy positions [0, n_pos) of every layer from slot ss to slot ds (K is [S][n_ctx], V [n_ctx][S]).
 */
static void copy_slot(hark_whisper_state *st, int ds, int ss, int n_pos)
{
    const hark_whisper_hparams *hp = &st->m->hp;
    const size_t S = (size_t)hp->n_text_state, T = (size_t)hp->n_text_ctx, per_layer = T * S;
    size_t l, c;
    for (l = 0; l < (size_t)hp->n_text_layer; l++) {
        for (c = 0; c < S; c++)
            memcpy(st->slot_k[ds] + l * per_layer + c * T, st->slot_k[ss] + l * per_layer + c * T,
                   (size_t)n_pos * sizeof(uint16_t));
        memcpy(st->slot_v[ds] + l * per_layer, st->slot_v[ss] + l * per_layer,
               (size_t)n_pos * S * sizeof(uint16_t));
    }
}

void hark__whisper_kv_copy(hark_whisper_state *st, int dst, int src, int n_pos)
{
    int ds = st->seq_slot[dst], ss = st->seq_slot[src];
    if (ds == ss || n_pos <= 0)
        return;
    copy_slot(st, ds, ss, n_pos);
}

int hark__whisper_kv_reorder(hark_whisper_state *st, const int *src, int n_seq, int n_pos)
{
    int new_slot[HARK_WHISPER_MAX_DECODERS + 1];
    unsigned char used[2 * (HARK_WHISPER_MAX_DECODERS + 1)];
    int j, s;

    if (n_seq > st->n_seq_cap || n_seq > HARK_WHISPER_MAX_DECODERS + 1)
        return hark_error_set(HARK_EINVAL, "reorder of %d sequences", n_seq);
    memset(used, 0, sizeof(used));
    for (j = 0; j < n_seq; j++)
        used[st->seq_slot[j]] = 1;
    for (j = 0; j < n_seq; j++) {
        if (src[j] == j) {
            new_slot[j] = st->seq_slot[j];
            continue;
        }
        for (s = 0; s < 2 * st->n_seq_cap && (used[s] || !st->slot_k[s]); s++)
            ;
        if (s == 2 * st->n_seq_cap)
            return hark_error_set(HARK_EINVAL, "no free KV slot for a beam reorder");
        used[s] = 1;
        new_slot[j] = s;
        if (n_pos > 0)
            copy_slot(st, s, st->seq_slot[src[j]], n_pos);
    }
    for (j = 0; j < n_seq; j++)
        st->seq_slot[j] = new_slot[j];
    return 0;
}

int hark__whisper_decode(hark_whisper_state *st, const hark_whisper_batch *b, float *logits)
{
    double t0 = hark__now_ms();
    int rc = decode(st, b, logits);
    st->t_decode_ms += hark__now_ms() - t0;
    st->n_decode++;
    st->n_positions += b ? (uint64_t)b->n : 0;
    return rc;
}
