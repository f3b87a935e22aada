/*
 * quantized.c: quantised copies of the golden f16 model, made with
 * tools/quantize_whisper.py (ggml's reference quantisers), load and give
 * logits close to the f16 model's; q8_0 must be close enough to keep the
 * teacher-forced argmax. The dequantised weights are checked against the
 * f16 originals within each type's rounding bound.
 */
#include <math.h>

#include "golden.h"

/* A python3 with numpy, or SKIP. */
static const char *python(void)
{
    if (harness_sh("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0)
        return "/usr/bin/python3";
    if (harness_sh("python3 -c 'import numpy' >/dev/null 2>&1") == 0)
        return "python3";
    SKIP("no python3 with numpy for tools/quantize_whisper.py");
    return NULL;
}

static hark_whisper_model *quantised(const char *type)
{
    const char *src = harness_shared_file("whisper-golden/micro-f16.bin");
    const char *py = python();
    char dst[512];
    hark_whisper_model *m = NULL;
    snprintf(dst, sizeof(dst), "%s", harness_path("micro-q.bin"));
    ASSERT_EQ(
        harness_sh("%s %s/tools/quantize_whisper.py %s %s %s", py, HARK_SOURCE_DIR, src, dst, type),
        0);
    ASSERT_OK(hark__whisper_model_load(&m, dst));
    return m;
}

/* logits of the teacher tokens, one at a time */
static float *teacher_logits(hark_whisper_model *m)
{
    static const int32_t toks[10] = { 50257, 50362, 843, 523, 616, 5891, 3399, 11, 1265, 407 };
    const int V = 51864;
    hark_whisper_state *st = NULL;
    float *out = malloc((size_t)10 * V * sizeof(float));
    int k;
    ASSERT_OK(hark__whisper_state_new(&st, m));
    golden_mel(&st->mel, m, "jfk.wav", NULL);
    ASSERT_OK(hark__whisper_encode(st, &st->mel, 0));
    for (k = 0; k < 10; k++) {
        int32_t pos = k, seq = 0;
        uint8_t want = 1;
        hark_whisper_batch b = { 1, &toks[k], &pos, &seq, &want };
        ASSERT_OK(hark__whisper_decode(st, &b, out + (size_t)k * V));
    }
    hark__whisper_state_free(st);
    return out;
}

static int argmax(const float *x, int n)
{
    int i, a = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[a])
            a = i;
    return a;
}

static void quant_case(const char *type, int wtype, double max_rel_rms, int min_same_argmax,
                       double max_w_err)
{
    hark_whisper_model *q = quantised(type), *f = golden_model("micro-f16.bin");
    float *ref = golden_f32("micro-f16.jfk.logits.f32", (size_t)10 * 51864), *lg;
    float a[64], b[64];
    golden_cmp c;
    double werr = 0;
    int k, same = 0, r;

    ASSERT_EQ(q->wtype, wtype);
    ASSERT_EQ(q->d_te.type, wtype);
    ASSERT_EQ(q->conv1.type, HARK_GGML_F16);
    /* dequantised weights vs the f16 originals (relative to each row's largest weight) */
    for (r = 0; r < 256; r++) {
        const hark_wmat *wq = &q->dec[1].mlp0, *wf = &f->dec[1].mlp0;
        double amax = 0;
        int i;
        hark_dequantize_row(
            wq->type, (const char *)wq->src + hark_ggml_row_size(wq->type, 64) * (size_t)r, a, 64);
        hark_dequantize_row(wf->type, (const char *)wf->src + 128 * (size_t)r, b, 64);
        for (i = 0; i < 64; i++)
            amax = fmax(amax, fabs(b[i]));
        for (i = 0; i < 64; i++)
            werr = fmax(werr, fabs(a[i] - b[i]) / amax);
    }
    lg = teacher_logits(q);
    c = golden_compare(lg, ref, (size_t)10 * 51864);
    for (k = 0; k < 10; k++)
        same += argmax(lg + (size_t)k * 51864, 51864) == argmax(ref + (size_t)k * 51864, 51864);
    printf("%s: weights max rel err %.3g; logits vs f16 golden max|d| %.3g rel_rms %.3g, argmax "
           "same at %d/10\n",
           type, werr, c.max_abs, c.rel_rms, same);
    ASSERT_LE(werr, max_w_err);
    ASSERT_LE(c.rel_rms, max_rel_rms);
    ASSERT(same >= min_same_argmax);
    free(lg);
    free(ref);
    hark__whisper_model_free(q);
    hark__whisper_model_free(f);
}

/* Weight bounds, relative to the row's largest weight: half a step for q8_0 (1/254) and the
 * min/max types (q5_1: (max-min)/31/2 <= 1/31, q4_1: 1/15); a whole step for q5_0 (1/16) and
 * q4_0 (1/8), whose codes reach -max exactly but clip at +max - d; plus f16 scales. */
TEST(q8_0_logits_are_close_to_f16)
{
    quant_case("q8_0", HARK_GGML_Q8_0, 0.02, 10, 1.0 / 254 + 1e-3);
}

TEST(q5_1_logits_are_close_to_f16)
{
    quant_case("q5_1", HARK_GGML_Q5_1, 0.08, 6, 1.0 / 31 + 2e-3);
}

TEST(q5_0_logits_are_close_to_f16)
{
    quant_case("q5_0", HARK_GGML_Q5_0, 0.08, 6, 1.0 / 16 + 2e-3);
}

TEST(q4_1_logits_are_close_to_f16)
{
    quant_case("q4_1", HARK_GGML_Q4_1, 0.15, 4, 1.0 / 15 + 2e-3);
}

TEST(q4_0_logits_are_close_to_f16)
{
    quant_case("q4_0", HARK_GGML_Q4_0, 0.15, 4, 1.0 / 8 + 2e-3);
}
