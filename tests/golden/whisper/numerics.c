/*
 * numerics.c: mel, conv, encoder and teacher-forced logits against
 * whisper.cpp's dumps (shared/whisper-golden/README.md, "Tolerances").
 */
#include "golden.h"

#define A 1500
#define S 64

TEST(mel_matches_whisper_cpp)
{
    hark_whisper_model *m = golden_model("micro-f16.bin");
    hark_whisper_mel mel = { 0 };
    float *ref = golden_f32("jfk.mel.f32", 80 * 3000), *win = malloc(80 * 3000 * sizeof(float));
    golden_cmp c;
    int b;
    golden_mel(&mel, m, "jfk.wav", NULL);
    ASSERT_EQ(mel.n_len, 4100);
    ASSERT_EQ(mel.n_len_org, 1099);
    for (b = 0; b < 80; b++)
        memcpy(win + b * 3000, mel.data + (size_t)b * mel.n_len, 3000 * sizeof(float));
    c = golden_compare(win, ref, 80 * 3000);
    printf("mel: max|d| %.3g rel_rms %.3g\n", c.max_abs, c.rel_rms);
    ASSERT_LE(c.max_abs, 1e-4);
    free(ref);
    free(win);
    hark__whisper_mel_dispose(&mel);
    hark__whisper_model_free(m);
}

static void encoder_case(const char *model, const char *prefix)
{
    hark_whisper_model *m = golden_model(model);
    hark_whisper_state *st = NULL;
    char name[128];
    float *conv, *enc;
    golden_cmp c;
    ASSERT_OK(hark__whisper_state_new(&st, m));
    golden_mel(&st->mel, m, "jfk.wav", NULL);
    ASSERT_OK(hark__whisper_encode(st, &st->mel, 0));
    snprintf(name, sizeof(name), "%s.jfk.conv.f32", prefix);
    conv = golden_f32(name, A * S);
    snprintf(name, sizeof(name), "%s.jfk.encoder.f32", prefix);
    enc = golden_f32(name, A * S);
    c = golden_compare(hark__whisper_conv_out(st), conv, A * S);
    printf("%s conv: max|d| %.3g rel_rms %.3g\n", prefix, c.max_abs, c.rel_rms);
    ASSERT_LE(c.max_abs, 5e-3);
    ASSERT_LE(c.rel_rms, 2e-3);
    c = golden_compare(hark__whisper_enc_out(st), enc, A * S);
    printf("%s encoder: max|d| %.3g rel_rms %.3g\n", prefix, c.max_abs, c.rel_rms);
    ASSERT_LE(c.max_abs, 5e-3);
    ASSERT_LE(c.rel_rms, 2e-3);
    free(conv);
    free(enc);
    hark__whisper_state_free(st);
    hark__whisper_model_free(m);
}

TEST(encoder_f16_matches_whisper_cpp)
{
    encoder_case("micro-f16.bin", "micro-f16");
}

TEST(encoder_f32_matches_whisper_cpp)
{
    encoder_case("micro-f32.bin", "micro-f32");
}

static void logits_case(const char *model, const char *prefix)
{
    hark_whisper_model *m = golden_model(model);
    hark_whisper_state *st = NULL;
    json_t *tj = golden_json("teacher-tokens.json"), *toks = json_object_get(tj, "tokens");
    const int V = 51864, n = (int)json_array_size(toks);
    int32_t tok[16], pos[16], seq[16];
    uint8_t want[16];
    float *ref, *ours = malloc((size_t)n * V * sizeof(float));
    char name[128];
    golden_cmp c;
    int k, i;

    ASSERT_EQ(n, 10);
    ASSERT_OK(hark__whisper_state_new(&st, m));
    golden_mel(&st->mel, m, "jfk.wav", NULL);
    ASSERT_OK(hark__whisper_encode(st, &st->mel, 0));
    snprintf(name, sizeof(name), "%s.jfk.logits.f32", prefix);
    ref = golden_f32(name, (size_t)n * V);
    /* one token at a time, as whisper_decode at n_past = k */
    for (k = 0; k < n; k++) {
        hark_whisper_batch b = { 1, tok, pos, seq, want };
        tok[0] = (int32_t)json_integer_value(json_array_get(toks, (size_t)k));
        pos[0] = k;
        seq[0] = 0;
        want[0] = 1;
        ASSERT_OK(hark__whisper_decode(st, &b, ours + (size_t)k * V));
    }
    c = golden_compare(ours, ref, (size_t)n * V);
    printf("%s logits: max|d| %.3g rel_rms %.3g\n", prefix, c.max_abs, c.rel_rms);
    ASSERT_LE(c.max_abs, 2e-2);
    ASSERT_LE(c.rel_rms, 2e-3);
    for (k = 0; k < n; k++) {
        int a = 0, r = 0;
        for (i = 1; i < V; i++) {
            if (ours[(size_t)k * V + i] > ours[(size_t)k * V + a])
                a = i;
            if (ref[(size_t)k * V + i] > ref[(size_t)k * V + r])
                r = i;
        }
        ASSERT_EQ(a, r);
    }
    /* the same tokens as one batch give the same rows */
    {
        float *batch = malloc((size_t)n * V * sizeof(float));
        hark_whisper_batch b = { n, tok, pos, seq, want };
        for (k = 0; k < n; k++) {
            tok[k] = (int32_t)json_integer_value(json_array_get(toks, (size_t)k));
            pos[k] = k;
            seq[k] = 0;
            want[k] = 1;
        }
        ASSERT_OK(hark__whisper_decode(st, &b, batch));
        ASSERT(memcmp(batch, ours, (size_t)n * V * sizeof(float)) == 0);
        free(batch);
    }
    free(ref);
    free(ours);
    json_decref(tj);
    hark__whisper_state_free(st);
    hark__whisper_model_free(m);
}

TEST(logits_f16_match_whisper_cpp)
{
    logits_case("micro-f16.bin", "micro-f16");
}

TEST(logits_f32_match_whisper_cpp)
{
    logits_case("micro-f32.bin", "micro-f32");
}
