/*
 * kernels.h: the compute kernels of the Whisper engine.
 *
 * Weights are matrices in ggml's storage types (f32, f16 and the block
 * quantisations q4_0, q4_1, q5_0, q5_1, q8_0, byte-for-byte as in ggml). A
 * hark_wmat is prepared once at model load time (possibly repacked into a
 * layout that suits the CPU's SIMD units) and is then immutable and shared
 * by all threads.
 *
 * Activations are f32. Products are computed with f32 accumulation (or
 * wider); every kernel gives the same bits whatever the thread count,
 * because work is split over output rows/columns, never over the reduction
 * dimension. The best implementation for the CPU (scalar reference, AVX2 +
 * FMA + F16C, AVX-512 F/BW/DQ/VL + VNNI) is picked at run time.
 *
 * Numerics (the full contract is in kernels_impl.h): every implementation
 * computes each output with the same sequence of f32 operations, so results
 * are bit-identical across implementations, thread counts and batch sizes m.
 * With f32/f16 weights (and in the gemms) each output is one fused
 * multiply-add chain over k in order. With quantised weights the activations
 * are quantised to 8 bits per 32-block on the fly, as ggml does
 * (vec_dot_qX_q8), and integer block dot products are scaled and summed in
 * f32: the error is that of whisper.cpp on the same model.
 *
 * The environment variable HARK_KERNELS=scalar|avx2|avx512 overrides the
 * choice made at the first call (debugging; unknown or unsupported names are
 * ignored).
 *
 * The kernels allocate nothing while they run; they use up to about 170 KB
 * of stack on the calling thread and on each pool thread.
 */
#ifndef HARK_WHISPER_KERNELS_H
#define HARK_WHISPER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../../util/pool.h"

/* ggml type ids, as stored in the model file's tensor records. */
enum {
    HARK_GGML_F32 = 0,
    HARK_GGML_F16 = 1,
    HARK_GGML_Q4_0 = 2,
    HARK_GGML_Q4_1 = 3,
    HARK_GGML_Q5_0 = 6,
    HARK_GGML_Q5_1 = 7,
    HARK_GGML_Q8_0 = 8,
};

/* Bytes used by `n` consecutive values of ggml type `type` (n a multiple of the
 * block size for quantised types); 0 for an unknown type or bad n. */
size_t hark_ggml_row_size(int type, int64_t n);
/* Values per block (1 for f32/f16, 32 for the q types); 0 for unknown types. */
int hark_ggml_block_size(int type);
const char *hark_ggml_type_name(int type);

/* IEEE half <-> float (exact conversions, round-to-nearest-even). */
float hark_f16_to_f32(uint16_t h);
uint16_t hark_f32_to_f16(float f);

/* Expand `n` values of type `type` starting at `src` (any alignment) to f32. */
void hark_dequantize_row(int type, const void *src, float *dst, int64_t n);

/* Rows of conversions (KV cache writes/reads), SIMD where available; same
 * bits as hark_f32_to_f16 / hark_f16_to_f32 element by element. */
void hark_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n);
void hark_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n);

/*
 * dst[c * ldd + r] = f16(src[r * lds + c]) for r < rows, c < cols: a
 * transposed f16 copy, e.g. of the cross-attention keys (frames x state) into
 * state x frames, so that Q·Kᵀ runs with b_trans = 0 (B read in place,
 * several times faster than transposing it on every call).
 */
void hark_f32_to_f16_transposed(const float *src, int rows, int cols, int lds, uint16_t *dst,
                                int ldd);

/* A weight matrix: `rows` outputs of `cols` inputs each, PyTorch (out, in). */
typedef struct hark_wmat {
    int type;        /* HARK_GGML_* of the source data */
    int rows;        /* output features */
    int cols;        /* input features (the reduction dimension) */
    const void *src; /* the file's bytes (borrowed, may be unaligned) */
    void *packed;    /* kernel-specific layout prepared at init, owned (may be NULL) */
    int layout;      /* which packed layout, private to the kernels */
} hark_wmat;

/*
 * Prepare `w` for the kernels (may allocate `packed`). Returns 0, HARK_EINVAL
 * (unknown type, rows/cols <= 0, cols not a whole number of blocks) or
 * HARK_ENOMEM. src must outlive w unless hark_wmat_needs_src(w) is 0.
 * Immutable afterwards: one wmat may be used by any number of threads.
 */
int hark_wmat_init(hark_wmat *w, int type, int rows, int cols, const void *src);
/* Frees `packed`; accepts a zeroed or already disposed wmat. */
void hark_wmat_dispose(hark_wmat *w);
/*
 * 0 when init made a self-contained copy (w->packed) and the kernels never
 * read w->src again: the caller may then release or madvise(MADV_DONTNEED)
 * the file's pages. 1 when the kernels read src directly.
 */
int hark_wmat_needs_src(const hark_wmat *w);
/*
 * Bytes of w->packed (0 when the kernels read src). f32/f16: the file's size
 * with rows rounded up to a multiple of 32 (avx512) or 16 (avx2); quantised:
 * 1.125 bytes per weight (1.25 for q4_1/q5_1; the files use 0.56-1.06) with
 * rows rounded up to 16 / 8.
 */
size_t hark_wmat_packed_bytes(const hark_wmat *w);

/*
 * Y = X · Wᵀ (+ bias): for each of the m input rows x_i (cols floats, rows of X
 * `ldx` floats apart) y_i[r] = bias[r] + Σ_k W[r][k] · x_i[k]. Y has m rows of
 * `ldy` floats. bias may be NULL. pool may be NULL (single thread). y must
 * not overlap x or bias (y holds partial sums while the product runs).
 */
void hark_matmul(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                 const float *bias, float *y, int ldy);

/*
 * General f32 product for attention (prefer k-major B, b_trans = 0: a
 * transposed B is repacked on every call, which costs about as much as the
 * product itself when m is small): C[i][j] = alpha · Σ_k A[i][k] · B(j, k)
 * where B(j, k) = B[j][k] when b_trans (B is n × k, row-major, e.g. K for
 * Q·Kᵀ) or B[k][j] otherwise (B is k × n, e.g. V for P·V). Leading
 * dimensions in floats. C is overwritten (and must not overlap A or B);
 * alpha is applied once to the finished sum.
 */
void hark_gemm_f32(hark_pool *pool, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, int b_trans, float *c, int ldc);

/* The same with B in f16 (the KV caches are f16, as in whisper.cpp). */
void hark_gemm_f16b(hark_pool *pool, int m, int n, int k, float alpha, const float *a, int lda,
                    const uint16_t *b, int ldb, int b_trans, float *c, int ldc);

/*
 * In-place softmax of one row: y_i = scale * x_i, then
 * x_i = exp(y_i - max y) / Σ exp(y_j - max y), as ggml's soft_max_ext does
 * (mask by setting entries to -INFINITY first). exp is a polynomial accurate
 * to about 2 ulp (terms below e^-87 relative to the largest count as 0); the
 * sum runs over 16 interleaved partial sums in a fixed order, so every
 * implementation gives the same bits. n >= 1.
 */
void hark_softmax_row(float *x, int n, float scale);

/* Which implementation was selected ("avx512", "avx2", "scalar"...). */
const char *hark_kernels_name(void);
/* Force an implementation (tests and benchmarks): "scalar", "avx2", "avx512"...
 * Returns 0, or -1 if it is unknown or not supported by this CPU. */
int hark_kernels_force(const char *name);

#endif
