/*
 * kernels_impl.h: the private side of kernels.h, shared by kernels.c (type
 * tables, f16 conversion, dispatch) and the implementations kernels_ref.c,
 * kernels_avx2.c and kernels_avx512.c. Nothing outside src/asr/whisper/kernels*.c
 * includes this file.
 *
 * THE ARITHMETIC CONTRACT. Every implementation computes every output value
 * with exactly the same sequence of IEEE f32 operations, so all of them (and
 * any thread count, tile shape or batch size) give the same bits:
 *
 * - f32 / f16 weights, hark_gemm_f32, hark_gemm_f16b: one accumulator per
 *   output, acc = 0, then acc = fma(a[k], b[k], acc) for k = 0, 1, ..., K-1
 *   in order (f16 values widened exactly first); then y = acc + bias (matmul)
 *   or c = alpha * acc (gemm). SIMD code vectorises across outputs, never
 *   across k, which is why it can keep this order.
 *
 * - quantised weights (q4_0 q4_1 q5_0 q5_1 q8_0): each 32-block of an input
 *   row is quantised like ggml's q8_0 (dx = amax / 127, q = rint(x * (1/dx)),
 *   ties to even, dx kept in f32), then per weight block in order
 *       acc = fma((float)isum, dw * dx, acc)        isum = exact Σ wq * q
 *       acc = fma(mw, dx * (float)Σq, acc)           (q4_1/q5_1 only)
 *   where wq are the block's signed integer weights (q4_0: nib - 8, q5_0:
 *   q5 - 16, q8_0: int8; q4_1/q5_1: the unsigned codes, with the block
 *   minimum mw added through the second term). This is ggml's
 *   vec_dot_qX_q8 scheme (with the q8 scale kept in f32 rather than f16),
 *   so the accuracy is that of whisper.cpp on quantised models.
 */
#ifndef HARK_WHISPER_KERNELS_IMPL_H
#define HARK_WHISPER_KERNELS_IMPL_H

#include <math.h>
#include <string.h>

#include "kernels.h"

#define HARK_QK 32 /* values per quantisation block */

/* Packed-layout ids stored in hark_wmat.layout (0 = none: kernels read src). */
enum {
    HARK_LAYOUT_NONE = 0,
    HARK_LAYOUT_AVX2 = 1,
    HARK_LAYOUT_AVX512 = 2,
};

typedef void (*hark__matmul_fn)(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                                const float *bias, float *y, int ldy);
typedef void (*hark__gemm_f32_fn)(hark_pool *pool, int m, int n, int k, float alpha, const float *a,
                                  int lda, const float *b, int ldb, int b_trans, float *c, int ldc);
typedef void (*hark__gemm_f16b_fn)(hark_pool *pool, int m, int n, int k, float alpha,
                                   const float *a, int lda, const uint16_t *b, int ldb, int b_trans,
                                   float *c, int ldc);

/* One implementation of the kernels. */
typedef struct hark__kimpl {
    const char *name;
    int layout;             /* HARK_LAYOUT_* this implementation packs into */
    int (*supported)(void); /* does this CPU (and OS) run it? */
    /* Fill w->packed (owned, hark__malloc'ed) and return 0, or leave
     * w->packed NULL to have the reference read src; negative HARK_E* on
     * failure (the message is set). w->type/rows/cols/src are valid. */
    int (*pack)(hark_wmat *w);
    /* bytes that pack allocates for this matrix (0: none) */
    size_t (*packed_bytes)(int type, int rows, int cols);
    hark__matmul_fn matmul; /* used for wmats with w->layout == layout */
    hark__gemm_f32_fn gemm_f32;
    hark__gemm_f16b_fn gemm_f16b;
    void (*f32_to_f16_row)(const float *src, uint16_t *dst, int64_t n);
    void (*f16_to_f32_row)(const uint16_t *src, float *dst, int64_t n);
    void (*softmax_row)(float *x, int n, float scale);
} hark__kimpl;

extern const hark__kimpl hark__kernels_ref;
extern const hark__kimpl hark__kernels_avx2;
extern const hark__kimpl hark__kernels_avx512;

/*
 * exp for softmax (x <= 0 in practice), the same operations in every
 * implementation: x < HARK_EXP_MIN gives 0, x > HARK_EXP_MAX counts as
 * HARK_EXP_MAX, NaN stays NaN; otherwise with
 * t = x * log2(e) + 1.5*2^23 - 1.5*2^23 (n = round(x log2 e), ties even),
 * r = fma(t, -LN2_HI, x), r = fma(t, -LN2_LO, r), p = Horner-fma of the
 * degree-7 Taylor polynomial of exp at r, result = p * 2^n.
 */
#define HARK_EXP_MIN   (-87.0f)
#define HARK_EXP_MAX   88.0f /* larger x are clamped (softmax never has x > 0) */
#define HARK_LOG2E     1.44269504088896341f
#define HARK_EXP_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define HARK_LN2_HI    0.693359375f
#define HARK_LN2_LO    (-2.12194440e-4f)
#define HARK_EXP_C7    (1.0f / 5040)
#define HARK_EXP_C6    (1.0f / 720)
#define HARK_EXP_C5    (1.0f / 120)
#define HARK_EXP_C4    (1.0f / 24)
#define HARK_EXP_C3    (1.0f / 6)
#define HARK_EXP_C2    0.5f

/* The scalar exp above (also the SIMD kernels' tails). */
static inline float hark__expf(float x)
{
    float t, r, p, two_n;
    uint32_t bits;
    if (!(x >= HARK_EXP_MIN))
        return x != x ? x : 0.0f; /* NaN stays NaN; below the range: 0 */
    if (x > HARK_EXP_MAX)
        x = HARK_EXP_MAX;
    t = x * HARK_LOG2E + HARK_EXP_MAGIC;
    t = t - HARK_EXP_MAGIC;
    r = fmaf(t, -HARK_LN2_HI, x);
    r = fmaf(t, -HARK_LN2_LO, r);
    p = fmaf(HARK_EXP_C7, r, HARK_EXP_C6);
    p = fmaf(p, r, HARK_EXP_C5);
    p = fmaf(p, r, HARK_EXP_C4);
    p = fmaf(p, r, HARK_EXP_C3);
    p = fmaf(p, r, HARK_EXP_C2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    bits = (uint32_t)((int32_t)t + 127) << 23;
    memcpy(&two_n, &bits, sizeof(two_n));
    return p * two_n;
}

/* The fixed reduction of 16 partial sums: lanes j + 8, then + 4, + 2, + 1. */
static inline float hark__sum16(const float acc[16])
{
    float h[8];
    int j;
    for (j = 0; j < 8; j++)
        h[j] = acc[j] + acc[j + 8];
    for (j = 0; j < 4; j++)
        h[j] = h[j] + h[j + 4];
    for (j = 0; j < 2; j++)
        h[j] = h[j] + h[j + 2];
    return h[0] + h[1];
}

/* ---- helpers shared by the implementations (kernels.c) ---------------------------------- */

/* Little-endian u16 / u32 at any byte address (model files are unaligned). */
static inline uint16_t hark__rd16(const void *p)
{
    const unsigned char *b = p;
    return (uint16_t)(b[0] | (unsigned)b[1] << 8);
}
static inline uint32_t hark__rd32(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* CPU features (kernels.c, from cpuid and xgetbv: usable = the CPU has them
 * and the OS saves their registers). */
enum {
    HARK_CPU_AVX2 = 1 << 0,   /* with FMA and F16C */
    HARK_CPU_AVX512 = 1 << 1, /* F, BW, DQ, VL */
    HARK_CPU_AVX512VNNI = 1 << 2,
    HARK_CPU_F16C = 1 << 3,
};
unsigned hark__cpu_features(void);

/* Bytes per block for a quantised type (0 otherwise). */
size_t hark__ggml_block_bytes(int type);
static inline int hark__type_is_quant(int type)
{
    return type == HARK_GGML_Q4_0 || type == HARK_GGML_Q4_1 || type == HARK_GGML_Q5_0 ||
           type == HARK_GGML_Q5_1 || type == HARK_GGML_Q8_0;
}
static inline int hark__type_has_min(int type)
{
    return type == HARK_GGML_Q4_1 || type == HARK_GGML_Q5_1;
}

/*
 * One quantisation block of a weight row, decoded: the integer weights wq[32]
 * (see the contract above), the scale d and the minimum m (0 for the _0
 * types). Shared by the reference kernels and the packers.
 */
void hark__qblock_decode(int type, const unsigned char *blk, int8_t wq[HARK_QK], float *d,
                         float *m);

/*
 * Quantise `nblocks` 32-value blocks of x to q8 as in the contract: q[32 * b
 * + j], dx[b] and the block sums qsum[b] = Σ q (exact).
 */
void hark__quantize_q8_ref(const float *x, int nblocks, int8_t *q, float *dx, int32_t *qsum);

/* Split [0, n) into `parts` nearly equal chunks; chunk i is [*lo, *hi). */
static inline void hark__split(int n, int parts, int i, int *lo, int *hi)
{
    *lo = (int)((long long)n * i / parts);
    *hi = (int)((long long)n * (i + 1) / parts);
}

#endif
