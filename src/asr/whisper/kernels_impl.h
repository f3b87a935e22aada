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
} hark__kimpl;

extern const hark__kimpl hark__kernels_ref;
extern const hark__kimpl hark__kernels_avx2;
extern const hark__kimpl hark__kernels_avx512;

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
