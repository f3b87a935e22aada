/*
 * inspect.c: the structural check of ggml Whisper files (hark_model_inspect,
 * hark__model_scan) on generated files and, when present, the shared golden
 * models converted by whisper.cpp.
 */
#include "harness.h"
#include "asr/models.h"
#include "../../fixtures/ggml_gen.h"

static ggml_gen tiny_gen(void)
{
    ggml_gen g = ggml_gen_default();
    g.n_vocab = 300;
    g.n_audio_ctx = 16;
    g.n_state = 8;
    g.n_text_ctx = 16;
    g.n_mels = 4;
    g.n_fft = 5;
    g.n_tokens = 20;
    return g;
}

static const char *write_model(const char *name, const ggml_gen *g, hark_buf *keep)
{
    const char *path = harness_path(name);
    hark_buf b = HARK_BUF_INIT;
    ASSERT(ggml_gen_write(&b, g) == 0);
    ASSERT(harness_write_file(path, b.ptr, b.len) == 0);
    if (keep)
        *keep = b;
    else
        hark_buf_dispose(&b);
    return path;
}

TEST(generated_model_is_valid_and_described)
{
    ggml_gen g = ggml_gen_default();
    hark_model_header h;
    hark_buf b = HARK_BUF_INIT;
    const char *path = write_model("ggml-gen.bin", &g, &b);
    ASSERT_OK(hark_model_inspect(&h, path));
    ASSERT_EQ(h.n_vocab, 51864);
    ASSERT_EQ(h.n_audio_state, 32);
    ASSERT_EQ(h.n_mels, 80);
    ASSERT_EQ(h.ftype, 1);
    ASSERT_STREQ(h.quant, "f16");
    ASSERT_STREQ(h.type, "custom");
    ASSERT_EQ(h.multilingual, 0);
    ASSERT_EQ(h.n_tokens, 100);
    ASSERT_EQ(h.n_tensors, 11 + 15 + 24);
    ASSERT_EQ(h.n_tensors_expected, 50);
    ASSERT_EQ(h.file_size, b.len);
    /* token embedding alone: 32 x 51864 */
    ASSERT(h.n_params > 32u * 51864u);
    hark_buf_dispose(&b);
}

TEST(quantised_and_f32_models_are_valid)
{
    static const int32_t ftypes[] = { 0, 7, 8, 9 };
    static const char *const names[] = { "f32", "q8_0", "q5_0", "q5_1" };
    size_t i;
    for (i = 0; i < 4; i++) {
        ggml_gen g = tiny_gen();
        hark_model_header h;
        hark_buf b = HARK_BUF_INIT;
        g.n_state = 32;
        g.ftype = ftypes[i];
        ASSERT(ggml_gen_write(&b, &g) == 0);
        ASSERT_OK(hark__model_scan_mem(&h, "mem", b.ptr, b.len));
        ASSERT_STREQ(h.quant, names[i]);
        hark_buf_dispose(&b);
    }
}

TEST(every_truncation_is_detected)
{
    ggml_gen g = tiny_gen();
    hark_model_header h;
    hark_buf b = HARK_BUF_INIT;
    size_t cut;
    ASSERT(ggml_gen_write(&b, &g) == 0);
    ASSERT_OK(hark__model_scan_mem(&h, "mem", b.ptr, b.len));
    for (cut = 0; cut < b.len; cut++) {
        int rc = hark__model_scan_mem(&h, "mem", b.ptr, cut);
        ASSERT_MSG(rc == HARK_EMODEL, "prefix of %zu/%zu bytes: %s", cut, b.len, hark_err_name(rc));
    }
    hark_buf_dispose(&b);
}

TEST(messages_say_what_is_wrong)
{
    ggml_gen g = tiny_gen();
    hark_model_header h;
    hark_buf b = HARK_BUF_INIT;
    ASSERT(ggml_gen_write(&b, &g) == 0);

    ASSERT_ERR(hark__model_scan_mem(&h, "x.bin", b.ptr, b.len - 1), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "x.bin: truncated: tensor 'decoder.ln.bias'");

    ASSERT(hark_buf_put(&b, "\0\0\0\0", 4) == 0); /* trailing garbage */
    ASSERT_ERR(hark__model_scan_mem(&h, "x.bin", b.ptr, b.len), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "truncated: a tensor header");
    ASSERT(hark_buf_put(&b, "\0\0\0\0\0\0\0\0", 8) == 0);
    ASSERT_ERR(hark__model_scan_mem(&h, "x.bin", b.ptr, b.len), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "bad tensor record 50");
    b.len -= 12;

    b.ptr[0] = 'X';
    ASSERT_ERR(hark__model_scan_mem(&h, "x.bin", b.ptr, b.len), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "x.bin: not a ggml Whisper model (bad magic");
    b.ptr[0] = 0x6c;

    b.ptr[4 + 4 * 10] = 5; /* ftype 5: not a ggml file type */
    ASSERT_ERR(hark__model_scan_mem(&h, "x.bin", b.ptr, b.len), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "unsupported weight type (ftype 5)");
    b.ptr[4 + 4 * 10] = 1;

    b.ptr[4 + 4 * 2] = 7; /* width 7 with 2 heads */
    ASSERT_ERR(hark__model_scan_mem(&h, "x.bin", b.ptr, b.len), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "not a multiple of the head count");
    hark_buf_dispose(&b);
}

TEST(a_file_without_weights_is_reported_as_such)
{
    ggml_gen g = tiny_gen();
    hark_model_header h;
    hark_buf b = HARK_BUF_INIT;
    size_t header;
    /* header + filters + vocabulary only, like whisper.cpp's for-tests-*.bin */
    header = 4 + 44 + 8 + (size_t)(g.n_mels * g.n_fft) * 4 + 4;
    ASSERT(ggml_gen_write(&b, &g) == 0);
    {
        size_t i, pos = header;
        for (i = 0; i < (size_t)g.n_tokens; i++)
            pos += 4 + (size_t)(uint8_t)b.ptr[pos];
        ASSERT_ERR(hark__model_scan_mem(&h, "t.bin", b.ptr, pos), HARK_EMODEL);
    }
    ASSERT_CONTAINS(hark_error_last(), "no weights");
    ASSERT_EQ(h.n_tensors, 0);
    ASSERT_EQ(h.n_tokens, 20);
    hark_buf_dispose(&b);
}

TEST(missing_files_and_directories)
{
    hark_model_header h;
    ASSERT_ERR(hark_model_inspect(&h, harness_path("nope.bin")), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "nope.bin not found");
    ASSERT_ERR(hark_model_inspect(&h, harness_tmpdir()), HARK_EMODEL);
    ASSERT(harness_write_file(harness_path("empty.bin"), "", 0) == 0);
    ASSERT_ERR(hark_model_inspect(&h, harness_path("empty.bin")), HARK_EMODEL);
    ASSERT_CONTAINS(hark_error_last(), "empty file");
}

/* The golden micro models were written by whisper.cpp's converter: real files. */
TEST(whisper_cpp_converted_files_are_valid)
{
    static const char *const files[] = { "whisper-golden/micro-f16.bin",
                                         "whisper-golden/micro-f32.bin" };
    size_t i;
    for (i = 0; i < 2; i++) {
        hark_model_header h;
        const char *path = harness_shared_file(files[i]);
        ASSERT_OK(hark_model_inspect(&h, path));
        ASSERT_EQ(h.n_tensors, h.n_tensors_expected);
        ASSERT_EQ(h.n_text_layer, 3);
        ASSERT_STREQ(h.quant, i == 0 ? "f16" : "f32");
        ASSERT(h.n_tokens > 50000);
    }
}
