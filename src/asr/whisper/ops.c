/*
 * ops.c: the small vector operations of the Whisper forward pass, written to
 * reproduce ggml's CPU numerics (whisper.cpp v1.7.5):
 *   - LayerNorm as ggml_norm: mean and variance summed in double, the scale
 *     1/sqrtf(var + eps) in float, then weight and bias as separate float
 *     operations (ggml_mul, ggml_add);
 *   - GELU through ggml's 64 Ki-entry f16 table (GGML_GELU_FP16): the input
 *     is rounded to f16, the tanh-form GELU of that value is rounded to f16;
 *     identity above 10, zero below -10;
 *   - softmax through the kernels' hark_softmax_row (ggml's soft_max: max,
 *     exp(x - max), sum, multiply by the reciprocal; vectorised, fixed order).
 * Everything here works on one row at a time and is deterministic; callers
 * parallelise over rows. These are the candidates for later vectorisation.
 */
#include <math.h>
#include <pthread.h>

#include "whisper.h"

#define LN_EPS         1e-5f
#define GELU_COEF_A    0.044715f
#define SQRT_2_OVER_PI 0.79788456080286535587989211986876f

void hark__whisper_layernorm(float *y, const float *x, int n, const float *w, const float *b)
{
    double sum = 0, sum2 = 0;
    float mean, variance, scale;
    int i;
    for (i = 0; i < n; i++)
        sum += (double)x[i];
    mean = (float)(sum / n);
    for (i = 0; i < n; i++) {
        float v = x[i] - mean;
        y[i] = v;
        sum2 += (double)(v * v);
    }
    variance = (float)(sum2 / n);
    scale = 1.0f / sqrtf(variance + LN_EPS);
    for (i = 0; i < n; i++) {
        float v = y[i] * scale;
        v = v * w[i];
        y[i] = v + b[i];
    }
}

static float gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_init(void)
{
    uint32_t i;
    for (i = 0; i < (1u << 16); i++) {
        float x = hark_f16_to_f32((uint16_t)i);
        float g = 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * x * (1.0f + GELU_COEF_A * x * x)));
        gelu_table[i] = hark_f16_to_f32(hark_f32_to_f16(g));
    }
}

void hark__whisper_gelu(float *x, size_t n)
{
    uint16_t h[256];
    size_t i, k;
    pthread_once(&gelu_once, gelu_init);
    for (i = 0; i < n; i += 256) {
        size_t c = HARK_MIN((size_t)256, n - i);
        float *v = x + i;
        hark_f32_to_f16_row(v, h, (int64_t)c); /* SIMD conversion, same bits as the scalar one */
        for (k = 0; k < c; k++) {
            if (v[k] <= -10.0f)
                v[k] = 0.0f;
            else if (v[k] < 10.0f)
                v[k] = gelu_table[h[k]];
        }
    }
}

void hark__whisper_round_f16(float *x, size_t n)
{
    uint16_t h[256];
    size_t i;
    for (i = 0; i < n; i += 256) {
        size_t k = HARK_MIN((size_t)256, n - i);
        hark_f32_to_f16_row(x + i, h, (int64_t)k);
        hark_f16_to_f32_row(h, x + i, (int64_t)k);
    }
}

/*
 * The exp loop is the one hot loop here that vectorises as written; with GCC
 * it is compiled at -O3 without FP-trap semantics (so the clamps become
 * blends) and cloned for AVX-512/AVX2 with a run-time choice. Each clone
 * does the same float operations lane by lane (no FMA contraction in ISO C
 * mode), so the result is the same on every CPU.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VEC_FN                                                                                     \
    __attribute__((optimize("O3", "no-trapping-math"), target_clones("avx512f", "avx2", "default")))
#else
#define VEC_FN
#endif

VEC_FN void hark__whisper_exp_sub(float *y, const float *x, float sub, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        float v = x[i] - sub;
        HARK__WHISPER_EXP_BODY(v, y[i]);
    }
}

void hark__whisper_softmax(float *x, int n)
{
    hark_softmax_row(x, n, 1.0f); /* the kernels' vectorised row: ggml's soft_max numerics */
}

void hark__whisper_to_f16(uint16_t *dst, const float *src, size_t n)
{
    hark_f32_to_f16_row(src, dst, (int64_t)n);
}
