/*
 * encoder.c: the Whisper audio encoder and the cross-attention K/V.
 *
 * DESIGN
 * One 30-s window of the mel spectrogram (2 * n_audio_ctx frames starting at
 * `seek`, zeros past the end of the array) goes through:
 *   conv1 (k 3, stride 1, pad 1) + GELU, conv2 (k 3, stride 2, pad 1) + GELU
 *     as im2col + hark_matmul; the activations are time-major ([t][channel]),
 *     so conv2's output is already the [A][S] layout of the transformer;
 *   + positional embedding; n_audio_layer pre-LN transformer layers; ln_post;
 *   then for every decoder layer K = E Wkᵀ · d^-1/4 and V = E Wvᵀ + bv,
 *   stored in f16 (whisper.cpp's kv_cross).
 * Attention runs per (head, block of SCORE_ROWS query rows) as pool tasks,
 * each computing scores with hark_gemm_f16b, a softmax and P·V.
 *
 * Numerics follow whisper.cpp v1.7.5 on the CPU: with an f16 conv kernel
 * the conv input is rounded to f16 (ggml's f16 im2col); K and V are cast to
 * f16 and the product rounds Q and the softmax output to f16 (ggml_mul_mat
 * with an f16 first operand converts the second); GELU goes through the f16
 * table (ops.c). Results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "whisper.h"

#define SCORE_ROWS 32

/* conv input columns: col[t][c*3 + k] = in(c, t*stride + k - 1) */
typedef struct im2col_job {
    const float *src; /* channel-major [C][T_in] (mel) or time-major [T_in][C] */
    int src_time_major;
    int C, T_in, T_out, stride;
    int round_f16;
    float *dst; /* [T_out][3C] */
} im2col_job;

#define IM2COL_ROWS 64

static void im2col_task(void *payload, int task, int worker)
{
    const im2col_job *j = payload;
    int t0 = task * IM2COL_ROWS, t1 = HARK_MIN(t0 + IM2COL_ROWS, j->T_out), t, c, k;
    HARK_UNUSED(worker);
    for (t = t0; t < t1; t++) {
        float *row = j->dst + (size_t)t * 3 * j->C;
        for (c = 0; c < j->C; c++)
            for (k = 0; k < 3; k++) {
                int ti = t * j->stride + k - 1;
                float v = 0.0f;
                if (ti >= 0 && ti < j->T_in)
                    v = j->src_time_major ? j->src[(size_t)ti * j->C + c]
                                          : j->src[(size_t)c * j->T_in + ti];
                row[c * 3 + k] = v;
            }
        if (j->round_f16)
            hark__whisper_round_f16(row, (size_t)3 * j->C);
    }
}

typedef struct rows_job {
    float *x;         /* [n][S] */
    const float *add; /* [n][S] or NULL */
    float *out;       /* LayerNorm output or NULL */
    const float *w, *b;
    int S;
    int gelu_width; /* > 0: GELU rows of this width instead */
    int n;
} rows_job;

#define ROWS_PER_TASK 16

static void rows_task(void *payload, int task, int worker)
{
    const rows_job *j = payload;
    int r0 = task * ROWS_PER_TASK, r1 = HARK_MIN(r0 + ROWS_PER_TASK, j->n), r, i;
    HARK_UNUSED(worker);
    for (r = r0; r < r1; r++) {
        if (j->gelu_width > 0) {
            hark__whisper_gelu(j->x + (size_t)r * j->gelu_width, (size_t)j->gelu_width);
            continue;
        }
        if (j->add) {
            float *x = j->x + (size_t)r * j->S;
            const float *a = j->add + (size_t)r * j->S;
            for (i = 0; i < j->S; i++)
                x[i] += a[i];
        }
        if (j->out)
            hark__whisper_layernorm(j->out + (size_t)r * j->S, j->x + (size_t)r * j->S, j->S, j->w,
                                    j->b);
    }
}

/* x += add (if add), then out = LN(x) (if out), over n rows. */
static void rows_add_ln(hark_pool *pool, float *x, const float *add, float *out, const float *w,
                        const float *b, int n, int S)
{
    rows_job j = { x, add, out, w, b, S, 0, n };
    hark_pool_run(pool, (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rows_task, &j);
}

static void rows_gelu(hark_pool *pool, float *x, int n, int width)
{
    rows_job j = { x, NULL, NULL, NULL, NULL, 0, width, n };
    hark_pool_run(pool, (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rows_task, &j);
}

typedef struct attn_job {
    const float *q;    /* [n][S] (already f16-rounded) */
    const uint16_t *k; /* [S][n_kv] f16: keys transposed (k-major for the product) */
    const uint16_t *v; /* [n_kv][S] f16 */
    float *out;        /* [n][S] */
    float *scores;     /* per worker SCORE_ROWS x cols */
    int cols;
    int n, n_kv, S, d, n_head;
    float scale;
} attn_job;

static void attn_task(void *payload, int task, int worker)
{
    const attn_job *j = payload;
    int blocks = (j->n + SCORE_ROWS - 1) / SCORE_ROWS;
    int h = task / blocks, r0 = (task % blocks) * SCORE_ROWS;
    int rows = HARK_MIN(SCORE_ROWS, j->n - r0), r;
    float *s = j->scores + (size_t)worker * SCORE_ROWS * j->cols;

    hark_gemm_f16b(NULL, rows, j->n_kv, j->d, j->scale, j->q + (size_t)r0 * j->S + h * j->d, j->S,
                   j->k + (size_t)h * j->d * j->n_kv, j->n_kv, 0, s, j->cols);
    for (r = 0; r < rows; r++) {
        float *row = s + (size_t)r * j->cols;
        hark__whisper_softmax(row, j->n_kv);
        hark__whisper_round_f16(row, (size_t)j->n_kv);
    }
    hark_gemm_f16b(NULL, rows, j->d, j->n_kv, 1.0f, s, j->cols, j->v + h * j->d, j->S, 0,
                   j->out + (size_t)r0 * j->S + h * j->d, j->S);
}

typedef struct cvt_job {
    const float *src;
    uint16_t *dst;
    size_t n;
    float scale; /* multiply before converting (1 = none) */
} cvt_job;

#define CVT_CHUNK 65536

static void cvt_task(void *payload, int task, int worker)
{
    const cvt_job *j = payload;
    size_t i0 = (size_t)task * CVT_CHUNK, i1 = HARK_MIN(i0 + CVT_CHUNK, j->n), i;
    HARK_UNUSED(worker);
    if (j->scale == 1.0f) {
        hark__whisper_to_f16(j->dst + i0, j->src + i0, i1 - i0);
        return;
    }
    for (i = i0; i < i1; i++)
        j->dst[i] = hark_f32_to_f16(j->src[i] * j->scale);
}

static void to_f16(hark_pool *pool, uint16_t *dst, const float *src, size_t n, float scale)
{
    cvt_job j = { src, dst, n, scale };
    hark_pool_run(pool, (int)((n + CVT_CHUNK - 1) / CVT_CHUNK), cvt_task, &j);
}

typedef struct scale_job {
    float *x;
    size_t n;
    float s;
} scale_job;

static void scale_task(void *payload, int task, int worker)
{
    const scale_job *j = payload;
    size_t i0 = (size_t)task * CVT_CHUNK, i1 = HARK_MIN(i0 + CVT_CHUNK, j->n), i;
    HARK_UNUSED(worker);
    for (i = i0; i < i1; i++)
        j->x[i] *= j->s;
}

static void scale_rows(hark_pool *pool, float *x, size_t n, float s)
{
    scale_job j = { x, n, s };
    hark_pool_run(pool, (int)((n + CVT_CHUNK - 1) / CVT_CHUNK), scale_task, &j);
}

typedef struct round_job {
    float *x;
    size_t n;
} round_job;

static void round_task(void *payload, int task, int worker)
{
    const round_job *j = payload;
    size_t i0 = (size_t)task * CVT_CHUNK, i1 = HARK_MIN(i0 + CVT_CHUNK, j->n);
    HARK_UNUSED(worker);
    hark__whisper_round_f16(j->x + i0, i1 - i0);
}

static void round_f16(hark_pool *pool, float *x, size_t n)
{
    round_job j = { x, n };
    hark_pool_run(pool, (int)((n + CVT_CHUNK - 1) / CVT_CHUNK), round_task, &j);
}

static int encode(hark_whisper_state *st, const hark_whisper_mel *mel, int seek)
{
    const hark_whisper_model *m = st->m;
    const hark_whisper_hparams *hp = &m->hp;
    const int A = hp->n_audio_ctx, S = hp->n_audio_state, M = hp->n_mels;
    const int H = hp->n_audio_head, d = S / H, T = 2 * A;
    const size_t AS = (size_t)A * S;
    const float kq_scale = 1.0f / sqrtf((float)d);
    const float k_scale = (float)pow((double)d, -0.25); /* as whisper.cpp: double pow */
    hark_pool *pool = st->pool;
    float *win = st->win; /* the mel window, [M][T] */
    im2col_job ij;
    attn_job aj;
    int c, i, l;

    HARK_ASSERT_ARG(mel && mel->n_mel == M && seek >= 0);

    /* the window: frames [seek, seek + T), zeros past the array */
    for (c = 0; c < M; c++) {
        const float *src = mel->data + (size_t)c * mel->n_len;
        float *dst = win + (size_t)c * T;
        int n = HARK_MAX(0, HARK_MIN(T, mel->n_len - seek));
        if (n > 0)
            memcpy(dst, src + seek, (size_t)n * sizeof(float));
        for (i = n; i < T; i++)
            dst[i] = 0.0f;
    }

    /* conv1 + GELU -> conv1 [T][S] */
    ij.src = win;
    ij.src_time_major = 0;
    ij.C = M;
    ij.T_in = T;
    ij.T_out = T;
    ij.stride = 1;
    ij.round_f16 = m->conv1.type == HARK_GGML_F16;
    ij.dst = st->im2col;
    hark_pool_run(pool, (T + IM2COL_ROWS - 1) / IM2COL_ROWS, im2col_task, &ij);
    hark_matmul(pool, &m->conv1, st->im2col, T, 3 * M, m->conv1_b, st->conv1, S);
    rows_gelu(pool, st->conv1, T, S);

    /* conv2 + GELU -> conv_out [A][S] */
    ij.src = st->conv1;
    ij.src_time_major = 1;
    ij.C = S;
    ij.T_in = T;
    ij.T_out = A;
    ij.stride = 2;
    ij.round_f16 = m->conv2.type == HARK_GGML_F16;
    hark_pool_run(pool, (A + IM2COL_ROWS - 1) / IM2COL_ROWS, im2col_task, &ij);
    hark_matmul(pool, &m->conv2, st->im2col, A, 3 * S, m->conv2_b, st->conv_out, S);
    rows_gelu(pool, st->conv_out, A, S);

    /* + positional embedding, first LayerNorm */
    memcpy(st->enc_x, st->conv_out, AS * sizeof(float));
    rows_add_ln(pool, st->enc_x, m->e_pe, st->enc_h, m->enc[0].attn_ln_w, m->enc[0].attn_ln_b, A,
                S);

    aj.scores = st->scores;
    aj.cols = st->scores_cols;
    aj.n = A;
    aj.n_kv = A;
    aj.S = S;
    aj.d = d;
    aj.n_head = H;
    aj.scale = kq_scale;
    for (l = 0; l < hp->n_audio_layer; l++) {
        const hark_whisper_layer *L = &m->enc[l];
        /* self-attention on enc_h = LN_attn(x) */
        hark_matmul(pool, &L->attn.q, st->enc_h, A, S, L->attn.q_b, st->enc_q, S);
        hark_matmul(pool, &L->attn.k, st->enc_h, A, S, NULL, st->enc_k, S);
        hark_matmul(pool, &L->attn.v, st->enc_h, A, S, L->attn.v_b, st->enc_v, S);
        round_f16(pool, st->enc_q, AS);
        hark_f32_to_f16_transposed(st->enc_k, A, S, S, st->enc_kh, A);
        to_f16(pool, st->enc_vh, st->enc_v, AS, 1.0f);
        aj.q = st->enc_q;
        aj.k = st->enc_kh;
        aj.v = st->enc_vh;
        aj.out = st->enc_attn;
        hark_pool_run(pool, H * ((A + SCORE_ROWS - 1) / SCORE_ROWS), attn_task, &aj);
        hark_matmul(pool, &L->attn.o, st->enc_attn, A, S, L->attn.o_b, st->enc_h, S);
        /* x += attn; h = LN_mlp(x) (row by row, so h may be the addend) */
        rows_add_ln(pool, st->enc_x, st->enc_h, st->enc_h, L->mlp_ln_w, L->mlp_ln_b, A, S);
        hark_matmul(pool, &L->mlp0, st->enc_h, A, S, L->mlp0_b, st->enc_mlp, 4 * S);
        rows_gelu(pool, st->enc_mlp, A, 4 * S);
        hark_matmul(pool, &L->mlp1, st->enc_mlp, A, 4 * S, L->mlp1_b, st->enc_h, S);
        /* x += mlp; h = LN of the next layer (or ln_post) */
        if (l + 1 < hp->n_audio_layer)
            rows_add_ln(pool, st->enc_x, st->enc_h, st->enc_h, m->enc[l + 1].attn_ln_w,
                        m->enc[l + 1].attn_ln_b, A, S);
        else
            rows_add_ln(pool, st->enc_x, st->enc_h, st->enc_h, m->e_ln_w, m->e_ln_b, A, S);
    }
    /* enc_h now holds the encoder output ln_post(x) */

    /* cross-attention K/V of every decoder layer */
    for (l = 0; l < hp->n_text_layer; l++) {
        const hark_whisper_layer *L = &m->dec[l];
        hark_matmul(pool, &L->cross.k, st->enc_h, A, S, NULL, st->enc_k, S);
        hark_matmul(pool, &L->cross.v, st->enc_h, A, S, L->cross.v_b, st->enc_v, S);
        scale_rows(pool, st->enc_k, AS, k_scale);
        hark_f32_to_f16_transposed(st->enc_k, A, S, S, st->cross_k + (size_t)l * AS, A);
        to_f16(pool, st->cross_v + (size_t)l * AS, st->enc_v, AS, 1.0f);
    }
    st->encoded = 1;
    return 0;
}

const float *hark__whisper_conv_out(const hark_whisper_state *st)
{
    return st->conv_out;
}

const float *hark__whisper_enc_out(const hark_whisper_state *st)
{
    return st->enc_h;
}

int hark__whisper_encode(hark_whisper_state *st, const hark_whisper_mel *mel, int seek)
{
    double t0 = hark__now_ms();
    int rc = encode(st, mel, seek);
    st->t_encode_ms += hark__now_ms() - t0;
    st->n_encode++;
    return rc;
}
