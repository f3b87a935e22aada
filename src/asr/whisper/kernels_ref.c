/*
 * kernels_ref.c: the scalar reference implementation of kernels.h.
 *
 * DESIGN: the plainest code that follows the arithmetic contract of
 * kernels_impl.h to the letter (fmaf chains in k order, ggml-style q8
 * activations for quantised weights). It reads the model's bytes in place
 * (no packing), byte by byte, so any alignment works, and it runs on any
 * CPU. The SIMD implementations are tested for bit equality against it.
 *
 * Work is split over output rows (matmul) or rows of C (gemm) into tasks for
 * the pool; each output is computed by exactly one task, so the thread count
 * cannot change the bits.
 *
 * Stack use: a task keeps one quantised chunk of an input row (KCHUNK bytes
 * plus its scales), about 1.4 KB.
 */
#include <math.h>
#include <string.h>

#include "kernels_impl.h"
#include "../../util/util.h"

#define KCHUNK 1024 /* input values quantised at a time (a multiple of HARK_QK) */

typedef struct mm_job {
    const hark_wmat *w;
    const float *x;
    int m, ldx, ldy;
    const float *bias;
    float *y;
    int n_tasks;
} mm_job;

/* Output rows [r0, r1) for all m inputs, f32 or f16 weights. */
static void mm_float_rows(const mm_job *j, int r0, int r1)
{
    const hark_wmat *w = j->w;
    const unsigned char *src = w->src;
    int i, r, k;

    for (i = 0; i < j->m; i++) {
        const float *x = j->x + (size_t)i * j->ldx;
        float *y = j->y + (size_t)i * j->ldy;
        for (r = r0; r < r1; r++) {
            float acc = 0.0f;
            if (w->type == HARK_GGML_F32) {
                const unsigned char *row = src + (size_t)r * w->cols * 4;
                for (k = 0; k < w->cols; k++) {
                    float v;
                    memcpy(&v, row + (size_t)k * 4, sizeof(v));
                    acc = fmaf(x[k], v, acc);
                }
            } else {
                const unsigned char *row = src + (size_t)r * w->cols * 2;
                for (k = 0; k < w->cols; k++)
                    acc = fmaf(x[k], hark_f16_to_f32(hark__rd16(row + (size_t)k * 2)), acc);
            }
            y[r] = j->bias ? acc + j->bias[r] : acc;
        }
    }
}

/* Output rows [r0, r1) for all m inputs, quantised weights. */
static void mm_quant_rows(const mm_job *j, int r0, int r1)
{
    const hark_wmat *w = j->w;
    const unsigned char *src = w->src;
    size_t bb = hark__ggml_block_bytes(w->type);
    size_t row_bytes = hark_ggml_row_size(w->type, w->cols);
    int nb = w->cols / HARK_QK, has_min = hark__type_has_min(w->type);
    int8_t q[KCHUNK];
    float dx[KCHUNK / HARK_QK];
    int32_t qsum[KCHUNK / HARK_QK];
    int i, r, b0, b, t;

    for (i = 0; i < j->m; i++) {
        const float *x = j->x + (size_t)i * j->ldx;
        float *y = j->y + (size_t)i * j->ldy;
        /* one chunk of the input row at a time; partial sums wait in y */
        for (b0 = 0; b0 < nb; b0 += KCHUNK / HARK_QK) {
            int nbc = HARK_MIN(KCHUNK / HARK_QK, nb - b0);
            hark__quantize_q8_ref(x + (size_t)b0 * HARK_QK, nbc, q, dx, qsum);
            for (r = r0; r < r1; r++) {
                const unsigned char *row = src + (size_t)r * row_bytes;
                float acc = b0 == 0 ? 0.0f : y[r];
                for (b = 0; b < nbc; b++) {
                    int8_t wq[HARK_QK];
                    float d, mn;
                    int32_t isum = 0;
                    hark__qblock_decode(w->type, row + (size_t)(b0 + b) * bb, wq, &d, &mn);
                    for (t = 0; t < HARK_QK; t++)
                        isum += (int32_t)wq[t] * q[b * HARK_QK + t];
                    acc = fmaf((float)isum, d * dx[b], acc);
                    if (has_min)
                        acc = fmaf(mn, dx[b] * (float)qsum[b], acc);
                }
                y[r] = acc;
            }
        }
        if (j->bias)
            for (r = r0; r < r1; r++)
                y[r] = y[r] + j->bias[r];
    }
}

static void mm_task(void *payload, int task, int worker)
{
    const mm_job *j = payload;
    int r0, r1;
    HARK_UNUSED(worker);
    hark__split(j->w->rows, j->n_tasks, task, &r0, &r1);
    if (hark__type_is_quant(j->w->type))
        mm_quant_rows(j, r0, r1);
    else
        mm_float_rows(j, r0, r1);
}

static void ref_matmul(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                       const float *bias, float *y, int ldy)
{
    mm_job j;
    j.w = w;
    j.x = x;
    j.m = m;
    j.ldx = ldx;
    j.ldy = ldy;
    j.bias = bias;
    j.y = y;
    j.n_tasks = HARK_MIN(w->rows, 4 * hark_pool_threads(pool));
    hark_pool_run(pool, j.n_tasks, mm_task, &j);
}

/* ---- gemm ---------------------------------------------------------------------------------- */

typedef struct gemm_job {
    int m, n, k;
    float alpha;
    const float *a;
    int lda;
    const float *bf;    /* f32 B, or NULL */
    const uint16_t *bh; /* f16 B, or NULL */
    int ldb, b_trans;
    float *c;
    int ldc;
    int n_tasks;
} gemm_job;

static void gemm_task(void *payload, int task, int worker)
{
    const gemm_job *g = payload;
    int i0, i1, i, jj, kk;
    HARK_UNUSED(worker);
    hark__split(g->m, g->n_tasks, task, &i0, &i1);
    for (i = i0; i < i1; i++) {
        const float *a = g->a + (size_t)i * g->lda;
        for (jj = 0; jj < g->n; jj++) {
            float acc = 0.0f;
            for (kk = 0; kk < g->k; kk++) {
                size_t at = g->b_trans ? (size_t)jj * g->ldb + kk : (size_t)kk * g->ldb + jj;
                float bv = g->bf ? g->bf[at] : hark_f16_to_f32(g->bh[at]);
                acc = fmaf(a[kk], bv, acc);
            }
            g->c[(size_t)i * g->ldc + jj] = g->alpha * acc;
        }
    }
}

static void ref_gemm(hark_pool *pool, gemm_job *g)
{
    g->n_tasks = HARK_MIN(g->m, 4 * hark_pool_threads(pool));
    hark_pool_run(pool, g->n_tasks, gemm_task, g);
}

static void ref_gemm_f32(hark_pool *pool, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, int b_trans, float *c, int ldc)
{
    gemm_job g = { m, n, k, alpha, a, lda, b, NULL, ldb, b_trans, c, ldc, 0 };
    ref_gemm(pool, &g);
}

static void ref_gemm_f16b(hark_pool *pool, int m, int n, int k, float alpha, const float *a,
                          int lda, const uint16_t *b, int ldb, int b_trans, float *c, int ldc)
{
    gemm_job g = { m, n, k, alpha, a, lda, NULL, b, ldb, b_trans, c, ldc, 0 };
    ref_gemm(pool, &g);
}

/* ---- conversions --------------------------------------------------------------------------- */

static void ref_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++)
        dst[i] = hark_f32_to_f16(src[i]);
}

static void ref_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++)
        dst[i] = hark_f16_to_f32(src[i]);
}

/* ---- softmax ------------------------------------------------------------------------------- */

static void ref_softmax_row(float *x, int n, float scale)
{
    float mx = -INFINITY, acc[16] = { 0 }, inv;
    int i;
    for (i = 0; i < n; i++) {
        x[i] = x[i] * scale;
        mx = x[i] > mx ? x[i] : mx;
    }
    for (i = 0; i < n; i++) {
        x[i] = hark__expf(x[i] - mx);
        acc[i % 16] = acc[i % 16] + x[i];
    }
    inv = 1.0f / hark__sum16(acc);
    for (i = 0; i < n; i++)
        x[i] = x[i] * inv;
}

static int ref_supported(void)
{
    return 1;
}

static int ref_pack(hark_wmat *w)
{
    HARK_UNUSED(w);
    return 0;
}

static size_t ref_packed_bytes(int type, int rows, int cols)
{
    HARK_UNUSED(type);
    HARK_UNUSED(rows);
    HARK_UNUSED(cols);
    return 0;
}

const hark__kimpl hark__kernels_ref = {
    .name = "scalar",
    .layout = HARK_LAYOUT_NONE,
    .supported = ref_supported,
    .pack = ref_pack,
    .packed_bytes = ref_packed_bytes,
    .matmul = ref_matmul,
    .gemm_f32 = ref_gemm_f32,
    .gemm_f16b = ref_gemm_f16b,
    .f32_to_f16_row = ref_f32_to_f16_row,
    .f16_to_f32_row = ref_f16_to_f32_row,
    .softmax_row = ref_softmax_row,
};
