/*
 * matmul.c: hark_matmul, hark_gemm_f32 and hark_gemm_f16b against exact
 * double-precision products, with rigorous error bounds (kt.c err_bound),
 * and the invariances the contract promises: bit-identical results for every
 * implementation, thread count, batch size and source alignment.
 */
#include <string.h>

#include "kt.h"
#include "util/util.h"

/* Every implementation that might exist; unsupported ones are skipped. */
static const char *const impl_names[] = { "scalar", "avx2", "avx512" };

static void force(const char *name)
{
    ASSERT_EQ(hark_kernels_force(name), 0);
}

/* y = x · Wᵀ (+ bias) with the current implementation; y has ldy = rows + 3
 * and the padding must survive untouched. */
static float *run_matmul(hark_pool *pool, const tmat *t, const void *bytes, const float *x, int m,
                         int ldx, const float *bias)
{
    hark_wmat w;
    int ldy = t->rows + 3, i, r;
    float *y = malloc((size_t)m * ldy * sizeof(float));
    ASSERT(y);
    for (i = 0; i < m * ldy; i++)
        y[i] = 12345.0f;
    ASSERT_OK(hark_wmat_init(&w, t->type, t->rows, t->cols, bytes));
    hark_matmul(pool, &w, x, m, ldx, bias, y, ldy);
    hark_wmat_dispose(&w);
    for (i = 0; i < m; i++)
        for (r = t->rows; r < ldy; r++)
            ASSERT(y[(size_t)i * ldy + r] == 12345.0f);
    return y;
}

static void check_against_f64(const tmat *t, const float *y, const float *x, int m, int ldx,
                              const float *bias)
{
    double *ye = malloc((size_t)m * t->rows * sizeof(double));
    int i, r;
    ASSERT(ye);
    ref_matmul64(t, x, m, ldx, bias, ye, NULL);
    for (i = 0; i < m; i++)
        for (r = 0; r < t->rows; r++) {
            double got = y[(size_t)i * (t->rows + 3) + r], want = ye[(size_t)i * t->rows + r];
            double tol = err_bound(t, x + (size_t)i * ldx, r, bias);
            ASSERT_MSG(fabs(got - want) <= tol,
                       "%s %s %dx%d m=%d: y[%d][%d] = %.9g, exact %.9g, bound %.3g",
                       hark_kernels_name(), hark_ggml_type_name(t->type), t->rows, t->cols, m, i, r,
                       got, want, tol);
        }
    free(ye);
}

typedef struct shape {
    int m, rows, cols;
} shape;

static void matmul_shapes(int type, const shape *shapes, int n)
{
    int s;
    size_t im;
    for (im = 0; im < HARK_ARRAY_SIZE(impl_names); im++) {
        if (hark_kernels_force(impl_names[im]) != 0)
            continue;
        for (s = 0; s < n; s++) {
            tmat t;
            int ldx = shapes[s].cols + 5;
            float *x = rand_floats((size_t)shapes[s].m * ldx, (uint64_t)s);
            float *bias = rand_floats((size_t)shapes[s].rows, 99 + (uint64_t)s);
            float *y;
            tmat_random(&t, type, shapes[s].rows, shapes[s].cols, (uint64_t)s + 1);
            y = run_matmul(NULL, &t, t.bytes, x, shapes[s].m, ldx, s % 2 ? bias : NULL);
            check_against_f64(&t, y, x, shapes[s].m, ldx, s % 2 ? bias : NULL);
            free(y);
            free(x);
            free(bias);
            tmat_free(&t);
        }
    }
}

/* m = 1, single rows and columns, sizes that are not multiples of any tile
 * or vector width, and sizes that need more than one k block. */
static const shape float_shapes[] = {
    { 1, 1, 1 },    { 1, 7, 3 },     { 2, 33, 31 },   { 3, 17, 64 },
    { 5, 64, 65 },  { 13, 40, 97 },  { 1, 130, 40 },  { 25, 70, 33 },
    { 7, 96, 300 }, { 4, 20, 1100 }, { 40, 70, 600 },
};
static const shape quant_shapes[] = {
    { 1, 1, 32 },   { 1, 7, 64 },    { 2, 33, 96 },   { 13, 17, 32 },
    { 25, 70, 64 }, { 3, 40, 1056 }, { 6, 48, 2080 },
};

TEST(matmul_f32_within_rounding_bound)
{
    matmul_shapes(HARK_GGML_F32, float_shapes, (int)HARK_ARRAY_SIZE(float_shapes));
}

TEST(matmul_f16_within_rounding_bound)
{
    matmul_shapes(HARK_GGML_F16, float_shapes, (int)HARK_ARRAY_SIZE(float_shapes));
}

TEST(matmul_quantised_within_q8_bound)
{
    size_t t;
    for (t = 0; t < 5; t++)
        matmul_shapes(kt_quant_types[t], quant_shapes, (int)HARK_ARRAY_SIZE(quant_shapes));
}

/* The bounds are tight enough to catch a misread layout: against the exact
 * product of a matrix with elements j and j + 16 of every block swapped (the
 * low/high nibble confusion; for f32/f16, neighbours swapped), the kernel's
 * correct output breaks the bound for most outputs. */
TEST(error_bounds_catch_a_swapped_layout)
{
    size_t ti;
    force("scalar");
    for (ti = 0; ti < 7; ti++) {
        tmat t, bad;
        float *x = rand_floats(4 * 128, 5), *y;
        double ye[4 * 40];
        int i, r, c, fails = 0;
        tmat_random(&t, kt_all_types[ti], 40, 128, 8);
        tmat_random(&bad, kt_all_types[ti], 40, 128, 8);
        for (r = 0; r < 40; r++)
            for (c = 0; c < 128; c++) {
                int sw =
                    hark_ggml_block_size(t.type) == 32 ? (c % 32 < 16 ? c + 16 : c - 16) : (c ^ 1);
                bad.wd[r * 128 + c] = t.wd[r * 128 + sw];
            }
        y = run_matmul(NULL, &t, t.bytes, x, 4, 128, NULL);
        ref_matmul64(&bad, x, 4, 128, NULL, ye, NULL);
        for (i = 0; i < 4; i++)
            for (r = 0; r < 40; r++)
                fails += fabs(y[i * 43 + r] - ye[i * 40 + r]) > err_bound(&t, x + i * 128, r, NULL);
        ASSERT_MSG(fails > 120, "%s: only %d of 160 outputs caught", hark_ggml_type_name(t.type),
                   fails);
        free(x);
        free(y);
        tmat_free(&t);
        tmat_free(&bad);
    }
}

/* All implementations, thread counts and source alignments give the same
 * bits as the scalar reference with one thread. */
TEST(matmul_bit_identical_across_impls_threads_alignment)
{
    static const shape shapes[] = {
        { 1, 75, 96 }, { 4, 33, 64 }, { 19, 130, 160 }, { 37, 61, 32 }
    };
    size_t ti, si, im;
    int threads, off;
    harness_timeout(300);
    for (ti = 0; ti < 7; ti++)
        for (si = 0; si < HARK_ARRAY_SIZE(shapes); si++) {
            const shape *sh = &shapes[si];
            tmat t;
            float *x = rand_floats((size_t)sh->m * sh->cols, 7 + si);
            float *bias = rand_floats((size_t)sh->rows, 3);
            float *want;
            unsigned char *shifted;
            tmat_random(&t, kt_all_types[ti], sh->rows, sh->cols, 11 + si);
            shifted = malloc(t.nbytes + 8);
            force("scalar");
            want = run_matmul(NULL, &t, t.bytes, x, sh->m, sh->cols, bias);
            for (im = 0; im < HARK_ARRAY_SIZE(impl_names); im++) {
                if (hark_kernels_force(impl_names[im]) != 0)
                    continue;
                for (threads = 1; threads <= 3; threads++)
                    for (off = 0; off < 4; off += 3) {
                        hark_pool *pool = pool_new(threads);
                        float *y;
                        memcpy(shifted + off, t.bytes, t.nbytes);
                        y = run_matmul(pool, &t, shifted + off, x, sh->m, sh->cols, bias);
                        ASSERT_MSG(
                            memcmp(y, want, (size_t)sh->m * (sh->rows + 3) * sizeof(float)) == 0,
                            "%s %s %dx%dx%d, %d threads, offset %d differs from scalar",
                            impl_names[im], hark_ggml_type_name(t.type), sh->m, sh->rows, sh->cols,
                            threads, off);
                        free(y);
                        hark_pool_free(pool);
                    }
            }
            free(want);
            free(shifted);
            free(x);
            free(bias);
            tmat_free(&t);
        }
}

/* Row i of a batch equals the same row computed alone (beam search relies
 * on this: a hypothesis scores the same whatever else is in the batch). */
TEST(matmul_batch_size_does_not_change_rows)
{
    size_t ti, im;
    for (im = 0; im < HARK_ARRAY_SIZE(impl_names); im++) {
        if (hark_kernels_force(impl_names[im]) != 0)
            continue;
        for (ti = 0; ti < 7; ti++) {
            tmat t;
            float *x = rand_floats(23 * 128, 21);
            float *all;
            int i, m;
            tmat_random(&t, kt_all_types[ti], 50, 128, 4);
            all = run_matmul(NULL, &t, t.bytes, x, 23, 128, NULL);
            for (m = 1; m <= 23; m += 5)
                for (i = 0; i + m <= 23; i += 7) {
                    float *part = run_matmul(NULL, &t, t.bytes, x + (size_t)i * 128, m, 128, NULL);
                    ASSERT(memcmp(part, all + (size_t)i * 53, (size_t)m * 53 * sizeof(float)) == 0);
                    free(part);
                }
            free(all);
            free(x);
            tmat_free(&t);
        }
    }
}

TEST(matmul_is_deterministic_run_to_run)
{
    tmat t;
    float *x = rand_floats(64 * 256, 1), *a, *b;
    hark_pool *pool = pool_new(2);
    tmat_random(&t, HARK_GGML_F16, 200, 256, 2);
    a = run_matmul(pool, &t, t.bytes, x, 64, 256, NULL);
    b = run_matmul(pool, &t, t.bytes, x, 64, 256, NULL);
    ASSERT(memcmp(a, b, 64 * 203 * sizeof(float)) == 0);
    free(a);
    free(b);
    free(x);
    hark_pool_free(pool);
    tmat_free(&t);
}

/* ---- gemm ---------------------------------------------------------------------------------- */

/* C = alpha A · op(B) with B f32 or f16 (b16 != NULL), checked against f64
 * with the fma-chain bound, and against the scalar implementation bitwise. */
static void gemm_case(int m, int n, int k, int b_trans, int use_f16, int threads)
{
    int lda = k + 2, ldb = (b_trans ? k : n) + 1, ldc = n + 3;
    int brows = b_trans ? n : k;
    float *a = rand_floats((size_t)m * lda, (uint64_t)(m + n));
    float *b = rand_floats((size_t)brows * ldb, (uint64_t)(k + 1));
    uint16_t *bh = malloc((size_t)brows * ldb * sizeof(uint16_t) + 2);
    float *c = malloc((size_t)m * ldc * sizeof(float)), *c0 = NULL;
    float alpha = 0.125f;
    hark_pool *pool = pool_new(threads);
    size_t im;
    int i, j, kk;

    ASSERT(bh && c);
    for (i = 0; i < brows * ldb; i++) {
        bh[i] = hark_f32_to_f16(b[i]);
        if (use_f16)
            b[i] = hark_f16_to_f32(bh[i]); /* the exact values B holds */
    }
    for (im = 0; im < HARK_ARRAY_SIZE(impl_names); im++) {
        if (hark_kernels_force(impl_names[im]) != 0)
            continue;
        for (i = 0; i < m * ldc; i++)
            c[i] = -777.0f;
        if (use_f16)
            hark_gemm_f16b(pool, m, n, k, alpha, a, lda, bh, ldb, b_trans, c, ldc);
        else
            hark_gemm_f32(pool, m, n, k, alpha, a, lda, b, ldb, b_trans, c, ldc);
        for (i = 0; i < m; i++) {
            for (j = 0; j < n; j++) {
                double acc = 0, mag = 0;
                for (kk = 0; kk < k; kk++) {
                    double bv = b_trans ? b[(size_t)j * ldb + kk] : b[(size_t)kk * ldb + j];
                    acc += a[(size_t)i * lda + kk] * bv;
                    mag += fabs(a[(size_t)i * lda + kk] * bv);
                }
                /* k fma roundings, then one for alpha (a power of two: exact) */
                ASSERT_MSG(fabs(c[(size_t)i * ldc + j] - alpha * acc) <=
                               (k + 1) * 0x1p-24 * alpha * mag,
                           "%s gemm %s m=%d n=%d k=%d trans=%d: c[%d][%d] %.9g vs %.9g",
                           impl_names[im], use_f16 ? "f16" : "f32", m, n, k, b_trans, i, j,
                           c[(size_t)i * ldc + j], alpha * acc);
            }
            for (j = n; j < ldc; j++)
                ASSERT(c[(size_t)i * ldc + j] == -777.0f);
        }
        if (!c0) {
            c0 = malloc((size_t)m * ldc * sizeof(float));
            memcpy(c0, c, (size_t)m * ldc * sizeof(float));
        } else {
            ASSERT_MSG(memcmp(c0, c, (size_t)m * ldc * sizeof(float)) == 0,
                       "%s gemm differs from scalar (m=%d n=%d k=%d trans=%d f16=%d)",
                       impl_names[im], m, n, k, b_trans, use_f16);
        }
    }
    force("scalar");
    free(a);
    free(b);
    free(bh);
    free(c);
    free(c0);
    hark_pool_free(pool);
}

static const int gemm_shapes[][3] = {
    { 1, 1, 1 },    { 1, 9, 64 },    { 3, 17, 5 },   { 13, 33, 64 },
    { 30, 70, 31 }, { 50, 45, 130 }, { 7, 300, 64 }, { 17, 64, 600 },
};

TEST(gemm_f32_both_layouts)
{
    size_t s;
    int tr;
    for (s = 0; s < HARK_ARRAY_SIZE(gemm_shapes); s++)
        for (tr = 0; tr < 2; tr++)
            gemm_case(gemm_shapes[s][0], gemm_shapes[s][1], gemm_shapes[s][2], tr, 0,
                      (int)s % 3 + 1);
}

TEST(gemm_f16b_both_layouts)
{
    size_t s;
    int tr;
    for (s = 0; s < HARK_ARRAY_SIZE(gemm_shapes); s++)
        for (tr = 0; tr < 2; tr++)
            gemm_case(gemm_shapes[s][0], gemm_shapes[s][1], gemm_shapes[s][2], tr, 1,
                      (int)s % 3 + 1);
}

TEST(gemm_thread_count_invariance)
{
    int threads;
    float *c1 = NULL;
    float *a = rand_floats(70 * 64, 1), *b = rand_floats(90 * 64, 2);
    float c[70 * 90];
    for (threads = 1; threads <= 3; threads++) {
        hark_pool *pool = pool_new(threads);
        hark_gemm_f32(pool, 70, 90, 64, 0.3f, a, 64, b, 64, 1, c, 90);
        if (!c1) {
            c1 = malloc(sizeof(c));
            memcpy(c1, c, sizeof(c));
        }
        ASSERT(memcmp(c1, c, sizeof(c)) == 0);
        hark_pool_free(pool);
    }
    free(c1);
    free(a);
    free(b);
}

TEST(gemm_k_zero_gives_zero)
{
    float a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 2, 3, 4 }, c[6];
    int i;
    for (i = 0; i < 6; i++)
        c[i] = 5.0f;
    hark_gemm_f32(NULL, 2, 3, 0, 1.0f, a, 1, b, 1, 1, c, 3);
    for (i = 0; i < 6; i++)
        ASSERT(c[i] == 0.0f);
}

/* When init made a packed copy, the kernels never read the file's bytes
 * again: scribbling over them changes nothing. The copy's size is reported
 * and stays within the documented cost. */
TEST(packed_weights_do_not_need_the_source)
{
    size_t ti, im;
    int packed_any = 0;
    for (im = 0; im < HARK_ARRAY_SIZE(impl_names); im++) {
        if (hark_kernels_force(impl_names[im]) != 0)
            continue;
        for (ti = 0; ti < 7; ti++) {
            tmat t;
            hark_wmat w;
            float *x = rand_floats(3 * 96, 1), *want, y[3 * 37];
            unsigned char *copy;
            size_t bytes;
            tmat_random(&t, kt_all_types[ti], 37, 96, 6);
            want = run_matmul(NULL, &t, t.bytes, x, 3, 96, NULL);
            copy = malloc(t.nbytes);
            memcpy(copy, t.bytes, t.nbytes);
            ASSERT_OK(hark_wmat_init(&w, t.type, 37, 96, copy));
            bytes = hark_wmat_packed_bytes(&w);
            if (hark_wmat_needs_src(&w)) {
                ASSERT_EQ(bytes, 0);
            } else {
                double per_weight = (double)bytes / (37.0 * 96.0);
                double file = (double)t.nbytes / (37.0 * 96.0);
                /* rows are padded to the panel height (at most 32): 37 -> 64 */
                ASSERT_MSG(per_weight <= 64.0 / 37.0 * fmax(file, 1.25), "%s %s: %.3f B/weight",
                           impl_names[im], hark_ggml_type_name(t.type), per_weight);
                memset(copy, 0xff, t.nbytes);
                packed_any = 1;
            }
            hark_matmul(NULL, &w, x, 3, 96, NULL, y, 37);
            for (int i = 0; i < 3; i++)
                ASSERT(memcmp(y + i * 37, want + i * 40, 37 * sizeof(float)) == 0);
            hark_wmat_dispose(&w);
            free(copy);
            free(want);
            free(x);
            tmat_free(&t);
        }
    }
    force("scalar");
    if (!packed_any)
        SKIP("no packing implementation on this CPU");
}
