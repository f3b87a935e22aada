/*
 * state.c: the per-worker Whisper state: allocation, thread pool, growth.
 *
 * DESIGN
 * Encoder buffers, the cross-attention K/V and the decoder buffers are
 * sized once from the hyper-parameters. The self-attention KV cache is a
 * set of slots, each holding K and V (f16) for every layer and position of
 * one decoder sequence; 2 * n_seq slots exist so that a beam reorder can
 * copy into free slots without overwriting a source (decoder.c). The slot
 * count and the per-decoder logit arrays grow when a job asks for more
 * sequences (beam search, best-of); that happens per job, never per token.
 * The thread pool is re-created only when the requested thread count
 * changes; scratch rows for attention scores are kept per pool worker.
 */
#include <string.h>

#include "whisper.h"

#define SCORE_ROWS 32 /* query rows per attention task (encoder.c, decoder.c) */

static void *alloc_floats(size_t n)
{
    return hark__malloc((n ? n : 1) * sizeof(float));
}

int hark__whisper_state_new(hark_whisper_state **out, const hark_whisper_model *m)
{
    hark_whisper_state *st;
    const hark_whisper_hparams *hp = &m->hp;
    const size_t A = (size_t)hp->n_audio_ctx, S = (size_t)hp->n_audio_state;
    const size_t M = (size_t)hp->n_mels, L = (size_t)hp->n_text_layer;
    size_t cols, nb;
    int rc = 0;

    *out = NULL;
    st = hark__calloc(1, sizeof(*st));
    if (!st)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    st->m = m;
    st->n_threads = 1;
    cols = HARK_MAX(2 * A * 3 * M, A * 3 * S);
    st->win = alloc_floats(2 * A * M);
    st->im2col = alloc_floats(cols);
    st->conv1 = alloc_floats(2 * A * S);
    st->conv_out = alloc_floats(A * S);
    st->enc_x = alloc_floats(A * S);
    st->enc_h = alloc_floats(A * S);
    st->enc_q = alloc_floats(A * S);
    st->enc_k = alloc_floats(A * S);
    st->enc_v = alloc_floats(A * S);
    st->enc_attn = alloc_floats(A * S);
    st->enc_mlp = alloc_floats(A * 4 * S);
    st->enc_kh = hark__malloc(A * S * sizeof(uint16_t));
    st->enc_vh = hark__malloc(A * S * sizeof(uint16_t));
    st->cross_k = hark__malloc(L * A * S * sizeof(uint16_t));
    st->cross_v = hark__malloc(L * A * S * sizeof(uint16_t));
    st->scores_cols = (int)HARK_MAX(A, (size_t)hp->n_text_ctx);
    st->scores = alloc_floats((size_t)SCORE_ROWS * (size_t)st->scores_cols);

    nb = (size_t)hp->n_text_ctx;
    st->n_batch_max = (int)nb;
    st->dx = alloc_floats(nb * S);
    st->dh = alloc_floats(nb * S);
    st->dq = alloc_floats(nb * S);
    st->dk = alloc_floats(nb * S);
    st->dv = alloc_floats(nb * S);
    st->dattn = alloc_floats(nb * S);
    st->dmlp = alloc_floats(nb * 4 * S);
    st->n_logit_rows = 16; /* >= MAX_DECODERS + 1 (beams + the SOT row) */
    st->dlog_in = alloc_floats((size_t)st->n_logit_rows * S);
    st->logits = alloc_floats((size_t)st->n_logit_rows * (size_t)hp->n_vocab);
    st->kv_floats = L * (size_t)hp->n_text_ctx * S;
    if (!st->win || !st->im2col || !st->conv1 || !st->conv_out || !st->enc_x || !st->enc_h ||
        !st->enc_q || !st->enc_k || !st->enc_v || !st->enc_attn || !st->enc_mlp || !st->enc_kh ||
        !st->enc_vh || !st->cross_k || !st->cross_v || !st->scores || !st->dx || !st->dh ||
        !st->dq || !st->dk || !st->dv || !st->dattn || !st->dmlp || !st->dlog_in || !st->logits) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory (Whisper state)");
        goto out;
    }
    rc = hark__whisper_state_reserve(st, 1);
out:
    if (rc < 0) {
        hark__whisper_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void hark__whisper_state_free(hark_whisper_state *st)
{
    int i;
    if (!st)
        return;
    hark__whisper_stream_free(st->stream);
    hark_pool_free(st->pool);
    hark__whisper_mel_dispose(&st->mel);
    hark__free(st->win);
    hark__free(st->im2col);
    hark__free(st->conv1);
    hark__free(st->conv_out);
    hark__free(st->enc_x);
    hark__free(st->enc_h);
    hark__free(st->enc_q);
    hark__free(st->enc_k);
    hark__free(st->enc_v);
    hark__free(st->enc_attn);
    hark__free(st->enc_mlp);
    hark__free(st->enc_kh);
    hark__free(st->enc_vh);
    hark__free(st->cross_k);
    hark__free(st->cross_v);
    hark__free(st->scores);
    hark__free(st->dx);
    hark__free(st->dh);
    hark__free(st->dq);
    hark__free(st->dk);
    hark__free(st->dv);
    hark__free(st->dattn);
    hark__free(st->dmlp);
    hark__free(st->dlog_in);
    hark__free(st->logits);
    for (i = 0; i < 2 * st->n_seq_cap; i++) {
        hark__free(st->slot_k[i]);
        hark__free(st->slot_v[i]);
    }
    hark__free(st->slot_k);
    hark__free(st->slot_v);
    hark__free(st->seq_slot);
    for (i = 0; i <= HARK_WHISPER_MAX_DECODERS; i++) {
        hark__free(st->dec[i].logits);
        hark__free(st->dec[i].logprobs);
        hark__free(st->dec[i].probs);
    }
    hark__free(st->energy);
    hark__free(st);
}

int hark__whisper_state_threads(hark_whisper_state *st, int n)
{
    hark_pool *p = NULL;
    float *scores;
    int rc;
    if (n < 1)
        n = 1;
    if (n == st->n_threads && (n == 1 || st->pool))
        return 0;
    scores =
        hark__realloc(st->scores, (size_t)n * SCORE_ROWS * (size_t)st->scores_cols * sizeof(float));
    if (!scores)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    st->scores = scores;
    if (n > 1 && (rc = hark_pool_new(&p, n)) < 0)
        return rc;
    hark_pool_free(st->pool);
    st->pool = p;
    st->n_threads = n;
    return 0;
}

int hark__whisper_state_reserve(hark_whisper_state *st, int n_seq)
{
    const size_t V = (size_t)st->m->hp.n_vocab;
    uint16_t **sk, **sv;
    int *ss, i;

    if (n_seq > HARK_WHISPER_MAX_DECODERS + 1)
        return hark_error_set(HARK_EINVAL, "at most %d decoder sequences",
                              HARK_WHISPER_MAX_DECODERS);
    for (i = 0; i < n_seq; i++) {
        hark_whisper_dec_buf *d = &st->dec[i];
        if (d->logits)
            continue;
        d->logits = alloc_floats(V);
        d->logprobs = alloc_floats(V);
        d->probs = alloc_floats(V);
        if (!d->logits || !d->logprobs || !d->probs)
            return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    if (n_seq > st->n_seq_cap) {
        sk = hark__reallocarray(st->slot_k, 2 * (size_t)n_seq, sizeof(*sk));
        if (!sk)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        st->slot_k = sk;
        sv = hark__reallocarray(st->slot_v, 2 * (size_t)n_seq, sizeof(*sv));
        if (!sv)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        st->slot_v = sv;
        ss = hark__reallocarray(st->seq_slot, (size_t)n_seq, sizeof(*ss));
        if (!ss)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        st->seq_slot = ss;
        for (i = 2 * st->n_seq_cap; i < 2 * n_seq; i++)
            st->slot_k[i] = st->slot_v[i] = NULL;
        /* sequences keep their slots; new ones take new (free) even slots */
        for (i = st->n_seq_cap; i < n_seq; i++)
            st->seq_slot[i] = 2 * i;
        st->n_seq_cap = n_seq;
    }
    /* One sequence never reorders: it needs its own slot only. Several need
     * all 2n slots (hark__whisper_kv_reorder copies into free ones). */
    for (i = 0; i < 2 * st->n_seq_cap; i++) {
        int needed = n_seq > 1 ? i < 2 * n_seq : i == st->seq_slot[0];
        if (!needed || st->slot_k[i])
            continue;
        st->slot_k[i] = hark__calloc(st->kv_floats, sizeof(uint16_t));
        st->slot_v[i] = hark__calloc(st->kv_floats, sizeof(uint16_t));
        if (!st->slot_k[i] || !st->slot_v[i]) {
            hark__free(st->slot_k[i]);
            hark__free(st->slot_v[i]);
            st->slot_k[i] = st->slot_v[i] = NULL;
            return hark_error_set(HARK_ENOMEM, "out of memory (KV cache)");
        }
    }
    return 0;
}

const hark_whisper_model *hark__whisper_state_model(const hark_whisper_state *st)
{
    return st->m;
}
