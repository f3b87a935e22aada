/*
 * kt.c: see kt.h. The block encoders here are written from ggml's format
 * definitions (ggml-common.h), not from the library, so a misread layout in
 * either place shows up as a mismatch.
 */
#include <string.h>

#include "kt.h"

const int kt_quant_types[5] = { HARK_GGML_Q4_0, HARK_GGML_Q4_1, HARK_GGML_Q5_0, HARK_GGML_Q5_1,
                                HARK_GGML_Q8_0 };
const int kt_all_types[7] = { HARK_GGML_F32,  HARK_GGML_F16,  HARK_GGML_Q4_0, HARK_GGML_Q4_1,
                              HARK_GGML_Q5_0, HARK_GGML_Q5_1, HARK_GGML_Q8_0 };

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8);
}

/* A random f16 scale in [lo, 2 lo), returned exactly. */
static double rand_scale(uint64_t *s, double lo, uint16_t *h)
{
    float f = (float)(lo * (1.0 + (double)(harness_rand(s) % 1000) / 1000.0));
    *h = hark_f32_to_f16(f);
    return (double)hark_f16_to_f32(*h);
}

void tmat_random(tmat *t, int type, int rows, int cols, uint64_t seed)
{
    uint64_t s = seed * 7919 + (uint64_t)type;
    size_t row_bytes = hark_ggml_row_size(type, cols);
    int r, c, b, j;

    memset(t, 0, sizeof(*t));
    ASSERT(row_bytes > 0);
    t->type = type;
    t->rows = rows;
    t->cols = cols;
    t->nbytes = row_bytes * (size_t)rows;
    t->bytes = calloc(1, t->nbytes);
    t->wd = calloc((size_t)rows * cols, sizeof(double));
    t->wa = calloc((size_t)rows * cols, sizeof(double));
    ASSERT(t->bytes && t->wd && t->wa);

    for (r = 0; r < rows; r++) {
        unsigned char *row = t->bytes + row_bytes * (size_t)r;
        double *wd = t->wd + (size_t)r * cols;
        double sd = 1.0 / sqrt((double)cols);
        if (type == HARK_GGML_F32 || type == HARK_GGML_F16) {
            for (c = 0; c < cols; c++) {
                float v = (float)(harness_randn(&s) * sd);
                if (type == HARK_GGML_F32) {
                    memcpy(row + 4 * (size_t)c, &v, 4);
                    wd[c] = v;
                } else {
                    uint16_t h = hark_f32_to_f16(v);
                    put16(row + 2 * (size_t)c, h);
                    wd[c] = hark_f16_to_f32(h);
                }
                t->wa[(size_t)r * cols + c] = fabs(wd[c]);
            }
            continue;
        }
        for (b = 0; b < cols / 32; b++) {
            int u[32];
            uint16_t hd, hm = 0;
            double d, m = 0.0;
            unsigned char *blk;
            double *w = wd + 32 * b;
            uint32_t qh = 0;
            switch (type) {
            case HARK_GGML_Q4_0:
                blk = row + 18 * (size_t)b;
                d = rand_scale(&s, sd / 4, &hd);
                put16(blk, hd);
                for (j = 0; j < 32; j++)
                    u[j] = (int)(harness_rand(&s) % 16);
                for (j = 0; j < 16; j++)
                    blk[2 + j] = (unsigned char)(u[j] | u[j + 16] << 4);
                for (j = 0; j < 32; j++)
                    w[j] = (u[j] - 8) * d;
                break;
            case HARK_GGML_Q4_1:
                blk = row + 20 * (size_t)b;
                d = rand_scale(&s, sd / 4, &hd);
                m = -rand_scale(&s, sd * 2, &hm);
                hm ^= 0x8000; /* negative minimum */
                put16(blk, hd);
                put16(blk + 2, hm);
                for (j = 0; j < 32; j++)
                    u[j] = (int)(harness_rand(&s) % 16);
                for (j = 0; j < 16; j++)
                    blk[4 + j] = (unsigned char)(u[j] | u[j + 16] << 4);
                for (j = 0; j < 32; j++)
                    w[j] = u[j] * d + m;
                break;
            case HARK_GGML_Q5_0:
            case HARK_GGML_Q5_1: {
                int off = type == HARK_GGML_Q5_0 ? 6 : 8;
                blk = row + (type == HARK_GGML_Q5_0 ? 22 : 24) * (size_t)b;
                d = rand_scale(&s, sd / 8, &hd);
                put16(blk, hd);
                if (type == HARK_GGML_Q5_1) {
                    m = -rand_scale(&s, sd * 2, &hm);
                    hm ^= 0x8000;
                    put16(blk + 2, hm);
                }
                for (j = 0; j < 32; j++) {
                    u[j] = (int)(harness_rand(&s) % 32);
                    qh |= (uint32_t)(u[j] >> 4) << j; /* bit j = high bit of value j */
                }
                for (j = 0; j < 4; j++)
                    blk[off - 4 + j] = (unsigned char)(qh >> (8 * j));
                for (j = 0; j < 16; j++)
                    blk[off + j] = (unsigned char)((u[j] & 15) | (u[j + 16] & 15) << 4);
                for (j = 0; j < 32; j++)
                    w[j] = type == HARK_GGML_Q5_0 ? (u[j] - 16) * d : u[j] * d + m;
                break;
            }
            default: /* q8_0 */
                blk = row + 34 * (size_t)b;
                d = rand_scale(&s, sd / 64, &hd);
                put16(blk, hd);
                for (j = 0; j < 32; j++) {
                    int v = (int)(harness_rand(&s) % 256) - 128;
                    blk[2 + j] = (unsigned char)(int8_t)v;
                    w[j] = v * d;
                }
                break;
            }
            for (j = 0; j < 32; j++)
                t->wa[(size_t)r * cols + 32 * b + j] = hark_ggml_block_size(type) == 32 && m != 0.0
                                                           ? fabs(w[j] - m) + fabs(m)
                                                           : fabs(w[j]);
        }
    }
}

void tmat_free(tmat *t)
{
    free(t->bytes);
    free(t->wd);
    free(t->wa);
    memset(t, 0, sizeof(*t));
}

float *rand_floats(size_t n, uint64_t seed)
{
    uint64_t s = seed * 104729 + 17;
    float *x = malloc(n * sizeof(float) + 1);
    size_t i;
    ASSERT(x);
    for (i = 0; i < n; i++) {
        double v = harness_randn(&s);
        if (harness_rand(&s) % 97 == 0)
            v *= 20; /* outliers, as real activations have */
        x[i] = (float)v;
    }
    return x;
}

void ref_matmul64(const tmat *t, const float *x, int m, int ldx, const float *bias, double *y,
                  double *mag)
{
    int i, r, k;
    for (i = 0; i < m; i++)
        for (r = 0; r < t->rows; r++) {
            const double *w = t->wd + (size_t)r * t->cols;
            double acc = bias ? bias[r] : 0.0, a = bias ? fabs(bias[r]) : 0.0;
            for (k = 0; k < t->cols; k++) {
                acc += w[k] * x[(size_t)i * ldx + k];
                a += fabs(w[k] * x[(size_t)i * ldx + k]);
            }
            y[(size_t)i * t->rows + r] = acc;
            if (mag)
                mag[(size_t)i * t->rows + r] = a;
        }
}

/*
 * f32/f16 weights: acc_k = fl(acc_{k-1} + w_k x_k) with one rounding per fma,
 * so |error| <= Σ_k u |acc_k| <= k u Σ|w x|, plus one rounding for the bias
 * (u = 2^-24).
 *
 * Quantised weights: the kernels compute exactly (in real arithmetic)
 * Σ_k w_k q_k dx_b, whose distance to Σ w_k x_k is at most Σ_k |w_k| dx_b / 2
 * (|x - q dx| <= dx/2 with round-to-nearest; dx is amax/127 rounded, hence
 * the 1e-6 slack). The f32 evaluation rounds d*dx, dx*Σq and each of the
 * (at most) two fmas per block: at most 4 roundings per block, each
 * relative to a partial sum bounded by Σ (|code d| + |m|)|q dx|.
 */
double err_bound(const tmat *t, const float *xrow, int r, const float *bias)
{
    const double u = 0x1p-24;
    const double *wd = t->wd + (size_t)r * t->cols, *wa = t->wa + (size_t)r * t->cols;
    double mag = bias ? fabs(bias[r]) : 0.0, qerr = 0.0;
    int k, b, j;
    if (hark_ggml_block_size(t->type) == 1) {
        for (k = 0; k < t->cols; k++)
            mag += fabs(wd[k] * xrow[k]);
        return (t->cols + 2) * u * mag;
    }
    for (b = 0; b < t->cols / 32; b++) {
        double amax = 0.0, dx;
        for (j = 0; j < 32; j++)
            amax = fmax(amax, fabs(xrow[32 * b + j]));
        dx = amax / 127 * (1 + 1e-6);
        for (j = 0; j < 32; j++) {
            qerr += fabs(wd[32 * b + j]) * dx / 2;
            mag += wa[32 * b + j] * (fabs(xrow[32 * b + j]) + dx / 2);
        }
    }
    return qerr + (4.0 * t->cols / 32 + 4) * u * mag;
}

hark_pool *pool_new(int n)
{
    hark_pool *p = NULL;
    ASSERT_OK(hark_pool_new(&p, n));
    return p;
}
