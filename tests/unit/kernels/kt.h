/*
 * kt.h: helpers shared by the kernel tests: random weight matrices encoded
 * by hand in ggml's byte layouts (independently of the library's decoder),
 * their exact values in double precision, and f64 reference products.
 */
#ifndef HARK_TEST_KT_H
#define HARK_TEST_KT_H

#include "harness.h"
#include "asr/whisper/kernels.h"
#include "util/pool.h"

/* A test weight matrix: the file bytes plus the exact value of every weight. */
typedef struct tmat {
    int type, rows, cols;
    unsigned char *bytes; /* ggml layout, rows * row_size bytes */
    size_t nbytes;
    double *wd; /* rows * cols exact values */
    double *wa; /* rows * cols: |code * d| + |m| (|w| for f32/f16), the size of
                   the terms the kernels actually add */
} tmat;

/* Random matrix of the given type: f32 ~ N(0, 1/cols); f16 the same rounded
 * to f16; quantised types random codes, scales and minimums. */
void tmat_random(tmat *t, int type, int rows, int cols, uint64_t seed);
void tmat_free(tmat *t);

/* n random floats ~ N(0, 1) (with some larger outliers). */
float *rand_floats(size_t n, uint64_t seed);

/* Exact product in double: y[i*ldy + r] = bias[r] + Σ wd[r][k] x[i*ldx + k];
 * mag[i*rows + r] = |bias[r]| + Σ |wd x| (the scale of the rounding error). */
void ref_matmul64(const tmat *t, const float *x, int m, int ldx, const float *bias, double *y,
                  double *mag);

/*
 * Rigorous bound on |kernel - exact| for output (i, r) of a hark_matmul on t
 * (see matmul.c for the derivation).
 */
double err_bound(const tmat *t, const float *xrow, int r, const float *bias);

/* Pool with n threads (ASSERTs). */
hark_pool *pool_new(int n);

/* The quantised types, for loops. */
extern const int kt_quant_types[5];
extern const int kt_all_types[7];

#endif
