/*
 * softmax.c: hark_softmax_row and its exp against double precision, masked
 * entries, odd lengths, and bit equality across implementations.
 */
#include <string.h>

#include "kt.h"
#include "asr/whisper/kernels_impl.h"

static const char *const names[] = { "scalar", "avx2", "avx512" };

TEST(exp_within_3_ulp_over_the_softmax_range)
{
    double worst = 0;
    float x;
    int i;
    for (i = 0; i <= 2000000; i++) {
        double e, got;
        x = -87.0f * (float)i / 2000000.0f;
        e = exp((double)x);
        got = hark__expf(x);
        worst = fmax(worst, fabs(got - e) / e);
    }
    ASSERT_MSG(worst <= 3 * 0x1p-24, "worst relative error %.3g", worst);
    ASSERT(hark__expf(0.0f) == 1.0f);
    ASSERT(hark__expf(-INFINITY) == 0.0f);
    ASSERT(hark__expf(-88.0f) == 0.0f); /* below the range: 0 */
    ASSERT(isnan(hark__expf(NAN)));
    ASSERT(isfinite(hark__expf(1000.0f))); /* clamped, no overflow or UB */
}

static void softmax64(const float *x, int n, float scale, double *out)
{
    double mx = -INFINITY, sum = 0;
    int i;
    for (i = 0; i < n; i++)
        mx = fmax(mx, (double)(x[i] * scale));
    for (i = 0; i < n; i++)
        sum += out[i] = exp((double)(x[i] * scale) - mx);
    for (i = 0; i < n; i++)
        out[i] /= sum;
}

TEST(softmax_matches_f64_and_is_identical_across_impls)
{
    static const int lens[] = { 1, 2, 15, 16, 17, 31, 33, 100, 448, 1500 };
    size_t li, im;
    for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        int n = lens[li], i;
        float *x = rand_floats((size_t)n, li), *first = NULL;
        double *want = malloc((size_t)n * sizeof(double));
        for (i = 0; i < n; i++)
            x[i] *= 3.0f;
        if (n > 3)
            x[n / 2] = -INFINITY; /* a masked position */
        softmax64(x, n, 0.125f, want);
        for (im = 0; im < sizeof(names) / sizeof(names[0]); im++) {
            float *y = malloc((size_t)n * sizeof(float));
            double sum = 0;
            if (hark_kernels_force(names[im]) != 0) {
                free(y);
                continue;
            }
            memcpy(y, x, (size_t)n * sizeof(float));
            hark_softmax_row(y, n, 0.125f);
            for (i = 0; i < n; i++) {
                /* exp 3 ulp, the sum ~n/16 + 4, the division 1: a few units
                 * of 2^-24 relative each; and x - max is rounded in f32, an
                 * absolute error of |x - max| 2^-24 in the exponent */
                double tol =
                    want[i] > 0 ? (1e-6 + 2 * 0x1p-24 * fabs(log(want[i]))) * want[i] : 0.0;
                ASSERT_MSG(fabs(y[i] - want[i]) <= tol, "%s n=%d: y[%d] %.9g vs %.9g", names[im], n,
                           i, y[i], want[i]);
                sum += y[i];
            }
            ASSERT_NEAR(sum, 1.0, 1e-6);
            if (n > 3)
                ASSERT(y[n / 2] == 0.0f);
            if (!first) {
                first = y;
            } else {
                ASSERT_MSG(memcmp(first, y, (size_t)n * sizeof(float)) == 0,
                           "%s differs from scalar (n=%d)", names[im], n);
                free(y);
            }
        }
        hark_kernels_force("scalar");
        free(first);
        free(x);
        free(want);
    }
}

TEST(softmax_of_one_unmasked_entry_is_one_hot)
{
    float x[20];
    int i;
    for (i = 0; i < 20; i++)
        x[i] = -INFINITY;
    x[7] = 3.5f;
    hark_softmax_row(x, 20, 1.0f);
    for (i = 0; i < 20; i++)
        ASSERT(x[i] == (i == 7 ? 1.0f : 0.0f));
}
