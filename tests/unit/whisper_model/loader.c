/*
 * loader.c: the ggml Whisper loader accepts valid files of every supported
 * type and shape, and rejects each kind of malformed file with a precise
 * error (HARK_EMODEL, or HARK_EUNSUPPORTED for k-quants).
 */
#include "harness.h"
#include "tinymodel.h"
#include "asr/whisper/whisper.h"

static int load_opts(const tiny_opts *o, hark_whisper_model **m)
{
    size_t n;
    unsigned char *d = tiny_model(o, &n);
    int rc = hark__whisper_model_load_buffer(m, d, n, "tiny.bin");
    free(d);
    return rc;
}

static void expect_fault(tiny_fault f, int code, const char *msg)
{
    tiny_opts o;
    hark_whisper_model *m = NULL;
    tiny_defaults(&o);
    o.fault = f;
    ASSERT_ERR(load_opts(&o, &m), code);
    ASSERT(m == NULL);
    ASSERT_CONTAINS(hark_error_last(), "tiny.bin: ");
    ASSERT_CONTAINS(hark_error_last(), msg);
}

TEST(loads_a_valid_f16_model_from_a_file)
{
    tiny_opts o;
    hark_whisper_model *m = NULL;
    hark_buf d = HARK_BUF_INIT;
    const char *path = harness_path("ggml-tiny-test.bin");
    tiny_defaults(&o);
    ASSERT_OK(tiny_write(&o, path));
    ASSERT_OK(hark__whisper_model_load(&m, path));
    ASSERT_EQ(m->hp.n_vocab, 51864);
    ASSERT_EQ(m->hp.n_audio_state, 32);
    ASSERT_EQ(m->hp.n_text_layer, 3);
    ASSERT_EQ(m->wtype, HARK_GGML_F16);
    ASSERT_EQ(m->conv1.type, HARK_GGML_F16);
    ASSERT_EQ(m->conv1.rows, 32);
    ASSERT_EQ(m->conv1.cols, 3 * 80);
    ASSERT_EQ(m->d_te.rows, 51864);
    ASSERT(m->e_pe && m->d_pe && m->dec[2].cross_ln_b && m->enc[0].mlp1_b);
    ASSERT_EQ(m->sp.eot, 50256);
    ASSERT_EQ(m->sp.sot, 50257);
    ASSERT_EQ(m->sp.beg, 50363);
    ASSERT_EQ(m->sp.multilingual, 0);
    ASSERT_OK(hark__whisper_model_describe(m, &d));
    ASSERT_STREQ(d.ptr, "whisper-1x32.en (f16, 1.8M params, 80 mels, English)");
    hark_buf_dispose(&d);
    hark__whisper_model_free(m);
}

TEST(loads_every_supported_weight_type)
{
    static const int ftypes[] = { 0, 1, 2002, 2003, 2007, 2008, 2009 };
    static const int wtypes[] = { HARK_GGML_F32,  HARK_GGML_F16,  HARK_GGML_Q4_0, HARK_GGML_Q4_1,
                                  HARK_GGML_Q8_0, HARK_GGML_Q5_0, HARK_GGML_Q5_1 };
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(ftypes); i++) {
        tiny_opts o;
        hark_whisper_model *m = NULL;
        tiny_defaults(&o);
        o.ftype = ftypes[i];
        ASSERT_OK(load_opts(&o, &m));
        ASSERT_EQ(m->wtype, wtypes[i]);
        ASSERT_EQ(m->d_te.type, wtypes[i]);
        ASSERT_EQ(m->dec[0].mlp0.type, wtypes[i]);
        /* the conv kernels stay f16 in quantised files, f32 in f32 files */
        ASSERT_EQ(m->conv2.type, ftypes[i] == 0 ? HARK_GGML_F32 : HARK_GGML_F16);
        hark__whisper_model_free(m);
    }
}

TEST(multilingual_vocabularies_and_128_mels)
{
    static const int vocabs[] = { 51865, 51866 };
    static const int beg[] = { 50364, 50365 }, nlang[] = { 99, 100 };
    size_t i;
    for (i = 0; i < 2; i++) {
        tiny_opts o;
        hark_whisper_model *m = NULL;
        size_t len;
        tiny_defaults(&o);
        o.n_vocab = vocabs[i];
        o.n_mels = 128;
        ASSERT_OK(load_opts(&o, &m));
        ASSERT_EQ(m->sp.multilingual, 1);
        ASSERT_EQ(m->sp.eot, 50257);
        ASSERT_EQ(m->sp.sot, 50258);
        ASSERT_EQ(m->sp.beg, beg[i]);
        ASSERT_EQ(m->sp.n_langs, nlang[i]);
        ASSERT_EQ(m->hp.n_mels, 128);
        ASSERT_STREQ(hark__whisper_token_bytes(m, m->sp.sot, &len), "[_SOT_]");
        ASSERT_STREQ(hark__whisper_token_bytes(m, m->sp.sot + 1, &len), "[_LANG_en]");
        ASSERT_STREQ(hark__whisper_token_bytes(m, m->sp.beg + 7, &len), "[_TT_7]");
        hark__whisper_model_free(m);
    }
}

TEST(rejects_a_bad_magic)
{
    expect_fault(TF_BAD_MAGIC, HARK_EMODEL, "bad magic");
}

TEST(rejects_a_filter_bank_that_does_not_match_n_mels)
{
    expect_fault(TF_NMELS_MISMATCH, HARK_EMODEL, "79 bands but n_mels is 80");
    expect_fault(TF_NFFT, HARK_EMODEL, "200 frequency bins");
}

TEST(rejects_vocabulary_overflows)
{
    expect_fault(TF_VOCAB_OVERFLOW, HARK_EMODEL, "51865 tokens, more than n_vocab 51864");
    expect_fault(TF_TOKEN_PAST_END, HARK_EMODEL, "past the end of the file");
}

TEST(rejects_bad_tensor_records)
{
    expect_fault(TF_BAD_SHAPE, HARK_EMODEL,
                 "tensor 'decoder.blocks.0.mlp.0.weight' has shape [32, 129, 1, 1], expected "
                 "[32, 128, 1, 1]");
    expect_fault(TF_BAD_TYPE, HARK_EMODEL,
                 "tensor 'encoder.blocks.0.mlp.0.weight' has type f32, expected f16");
    expect_fault(TF_UNKNOWN_TYPE, HARK_EMODEL, "tensor 'encoder.ln_post.bias' has type");
    expect_fault(TF_KQUANT_TENSOR, HARK_EUNSUPPORTED, "k-quant");
    expect_fault(TF_UNKNOWN_TENSOR, HARK_EMODEL, "unknown tensor 'decoder.extra.weight'");
    expect_fault(TF_MISSING_TENSOR, HARK_EMODEL, "missing tensor 'decoder.ln.bias'");
    expect_fault(TF_DUPLICATE_TENSOR, HARK_EMODEL, "duplicate tensor 'encoder.conv1.bias'");
    expect_fault(TF_BAD_NDIMS, HARK_EMODEL, "has 5 dimensions");
    expect_fault(TF_LONG_NAME, HARK_EMODEL, "a name of 100000 bytes");
    expect_fault(TF_NAN, HARK_EMODEL, "'encoder.ln_post.weight' holds a non-finite value");
}

TEST(rejects_files_without_tensors)
{
    expect_fault(TF_NO_TENSORS, HARK_EMODEL, "no tensors");
}

TEST(rejects_bad_hyperparameters)
{
    expect_fault(TF_KQUANT_FTYPE, HARK_EUNSUPPORTED, "k-quant files (ftype 12, Q4_K)");
    expect_fault(TF_BAD_FTYPE, HARK_EMODEL, "unknown ftype 5");
    expect_fault(TF_BAD_HPARAM, HARK_EMODEL, "n_text_state 64 differs from n_audio_state 32");
}

TEST(reports_the_tensor_a_truncated_file_ends_in)
{
    tiny_opts o;
    hark_whisper_model *m = NULL;
    size_t n, cut;
    unsigned char *d;
    tiny_defaults(&o);
    o.n_state = 8;
    d = tiny_model(&o, &n);
    /* the last tensor is decoder.ln.bias: 8 f32 values */
    ASSERT_ERR(hark__whisper_model_load_buffer(&m, d, n - 10, "ggml-x.bin"), HARK_EMODEL);
    ASSERT_STREQ(hark_error_last(), "ggml-x.bin: truncated in tensor 'decoder.ln.bias'");
    /* every prefix of the file fails cleanly */
    for (cut = 0; cut < n; cut += cut < 1500 ? 1 : 20011) {
        ASSERT_ERR(hark__whisper_model_load_buffer(&m, d, cut, "ggml-x.bin"), HARK_EMODEL);
        ASSERT_CONTAINS(hark_error_last(), "ggml-x.bin: ");
    }
    ASSERT_ERR(hark__whisper_model_load_buffer(&m, d, 100, "ggml-x.bin"), HARK_EMODEL);
    ASSERT_STREQ(hark_error_last(), "ggml-x.bin: truncated in the mel filters");
    free(d);
}

TEST(reports_missing_and_unreadable_files)
{
    hark_whisper_model *m = NULL;
    ASSERT_ERR(hark__whisper_model_load(&m, harness_path("nope.bin")), HARK_ENOTFOUND);
    ASSERT_OK(harness_write_file(harness_path("short.bin"), "lmgg", 4));
    ASSERT_ERR(hark__whisper_model_load(&m, harness_path("short.bin")), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "truncated in the header");
}

TEST(survives_allocation_failures)
{
    tiny_opts o;
    size_t n;
    unsigned char *d;
    uint64_t k;
    tiny_defaults(&o);
    o.n_audio_ctx = 64;
    d = tiny_model(&o, &n);
    for (k = 1;; k++) {
        hark_whisper_model *m = NULL;
        int rc;
        hark__alloc_fail_at(k);
        rc = hark__whisper_model_load_buffer(&m, d, n, "tiny.bin");
        hark__alloc_fail_at(0);
        if (rc == 0) {
            hark__whisper_model_free(m);
            break;
        }
        ASSERT_ERR(rc, HARK_ENOMEM);
        ASSERT(k < 10000);
    }
    free(d);
}
