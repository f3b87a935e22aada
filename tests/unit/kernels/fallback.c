/*
 * fallback.c: shared check for fallback_avx2.c / fallback_avx512.c: an
 * implementation table used directly (pack + matmul + gemm) against the
 * scalar kernels, bit for bit, on shapes that reach every driver path.
 */
#include <string.h>

#include "kt.h"
#include "asr/whisper/kernels_impl.h"

void fallback_check(const hark__kimpl *k);

void fallback_check(const hark__kimpl *k)
{
    static const int shapes[][3] = { { 1, 75, 96 }, { 5, 33, 64 }, { 40, 70, 544 } };
    size_t ti, si;
    int tr;
    ASSERT_EQ(hark_kernels_force("scalar"), 0);
    for (ti = 0; ti < 7; ti++)
        for (si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            int m = shapes[si][0], rows = shapes[si][1], cols = shapes[si][2];
            tmat t;
            hark_wmat ws, wf;
            float *x = rand_floats((size_t)m * cols, si), *bias = rand_floats((size_t)rows, 2);
            float *ys = malloc((size_t)m * rows * sizeof(float));
            float *yf = malloc((size_t)m * rows * sizeof(float));
            tmat_random(&t, kt_all_types[ti], rows, cols, 9);
            ASSERT_OK(hark_wmat_init(&ws, t.type, rows, cols, t.bytes));
            hark_matmul(NULL, &ws, x, m, cols, bias, ys, rows);
            memset(&wf, 0, sizeof(wf));
            wf.type = t.type, wf.rows = rows, wf.cols = cols, wf.src = t.bytes;
            ASSERT_OK(k->pack(&wf));
            ASSERT(wf.packed != NULL);
            k->matmul(NULL, &wf, x, m, cols, bias, yf, rows);
            ASSERT_MSG(memcmp(ys, yf, (size_t)m * rows * sizeof(float)) == 0, "%s %s m=%d", k->name,
                       hark_ggml_type_name(t.type), m);
            hark_wmat_dispose(&ws);
            hark_wmat_dispose(&wf);
            free(x);
            free(bias);
            free(ys);
            free(yf);
            tmat_free(&t);
        }
    for (tr = 0; tr < 2; tr++)
        for (si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            int m = shapes[si][0], n = shapes[si][1], kk = shapes[si][2];
            float *a = rand_floats((size_t)m * kk, 1), *b = rand_floats((size_t)n * kk, 2);
            float *cs = malloc((size_t)m * n * sizeof(float)), *cf = malloc((size_t)m * n * 4);
            int ldb = tr ? kk : n;
            hark_gemm_f32(NULL, m, n, kk, 0.5f, a, kk, b, ldb, tr, cs, n);
            k->gemm_f32(NULL, m, n, kk, 0.5f, a, kk, b, ldb, tr, cf, n);
            ASSERT(memcmp(cs, cf, (size_t)m * n * sizeof(float)) == 0);
            free(a);
            free(b);
            free(cs);
            free(cf);
        }
}
