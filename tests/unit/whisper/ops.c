/*
 * ops.c: the small vector ops of the forward pass: the vectorised exp
 * agrees bit for bit with its scalar form and within 2 ulp of expf; softmax
 * rows sum to 1; LayerNorm normalises; the GELU table matches the tanh form
 * within f16 rounding.
 */
#include <math.h>

#include "harness.h"
#include "asr/whisper/whisper.h"

TEST(vector_exp_matches_scalar_exp_and_expf)
{
    static float x[20000], y[20000];
    double worst = 0;
    int i;
    for (i = 0; i < 20000; i++)
        x[i] = -100.0f * (float)i / 19999.0f;
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = -INFINITY;
    x[3] = -87.0f;
    x[4] = nextafterf(-87.0f, 0.0f);
    x[5] = -1e-30f;
    hark__whisper_exp_sub(y, x, 0.0f, 20000);
    for (i = 0; i < 20000; i++) {
        float s = hark__whisper_exp(x[i]), e = expf(x[i]);
        ASSERT_MSG(memcmp(&s, &y[i], sizeof(float)) == 0, "x=%a: vector %a scalar %a", x[i], y[i],
                   s);
        if (x[i] < -87.0f) {
            ASSERT(y[i] == 0.0f);
        } else {
            double ulp = fabs((double)y[i] - e) / (nextafterf(e, INFINITY) - e);
            if (ulp > worst)
                worst = ulp;
        }
    }
    ASSERT(y[0] == 1.0f && y[1] == 1.0f && y[2] == 0.0f);
    printf("exp: max %.2f ulp from expf on [-87, 0]\n", worst);
    ASSERT_LE(worst, 2.0);
}

TEST(softmax_layernorm_gelu)
{
    float x[1500], w[64], b[64], y[64];
    double s = 0, mean = 0, var = 0;
    uint64_t rng = 9;
    int i;
    for (i = 0; i < 1500; i++)
        x[i] = (float)(8 * harness_randn(&rng));
    hark__whisper_softmax(x, 1500);
    for (i = 0; i < 1500; i++) {
        ASSERT(x[i] >= 0.0f && x[i] <= 1.0f);
        s += x[i];
    }
    ASSERT_NEAR(s, 1.0, 1e-5);
    for (i = 0; i < 64; i++) {
        x[i] = (float)(3 + 2 * harness_randn(&rng));
        w[i] = 1.0f;
        b[i] = 0.0f;
    }
    hark__whisper_layernorm(y, x, 64, w, b);
    for (i = 0; i < 64; i++)
        mean += y[i];
    mean /= 64;
    for (i = 0; i < 64; i++)
        var += (y[i] - mean) * (y[i] - mean);
    ASSERT_NEAR(mean, 0.0, 1e-6);
    ASSERT_NEAR(var / 64, 1.0, 1e-3);
    for (i = 0; i < 64; i++) {
        float v = -12.0f + 24.0f * (float)i / 63.0f, g = v;
        double ref = 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
        hark__whisper_gelu(&g, 1);
        ASSERT_NEAR(g, v >= 10 ? v : v <= -10 ? 0 : ref, fabs(ref) * 2e-3 + 1e-4);
    }
}
