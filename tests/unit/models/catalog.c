/*
 * catalog.c: the built-in model catalog and model names.
 */
#include <ctype.h>

#include "harness.h"
#include "asr/models.h"
#include "util/util.h"

static int is_hex(const char *s, size_t len)
{
    size_t i;
    if (strlen(s) != len)
        return 0;
    for (i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

TEST(catalog_has_every_model_of_the_download_script)
{
    /* whisper.cpp models/download-ggml-model.sh */
    static const char *const script[] = {
        "tiny",
        "tiny.en",
        "tiny-q5_1",
        "tiny.en-q5_1",
        "tiny-q8_0",
        "base",
        "base.en",
        "base-q5_1",
        "base.en-q5_1",
        "base-q8_0",
        "small",
        "small.en",
        "small.en-tdrz",
        "small-q5_1",
        "small.en-q5_1",
        "small-q8_0",
        "medium",
        "medium.en",
        "medium-q5_0",
        "medium.en-q5_0",
        "medium-q8_0",
        "large-v1",
        "large-v2",
        "large-v2-q5_0",
        "large-v2-q8_0",
        "large-v3",
        "large-v3-q5_0",
        "large-v3-turbo",
        "large-v3-turbo-q5_0",
        "large-v3-turbo-q8_0",
    };
    size_t i;
    for (i = 0; i < sizeof(script) / sizeof(script[0]); i++)
        ASSERT_MSG(hark_models_catalog_find(script[i]) != NULL, "%s missing", script[i]);
    ASSERT_EQ(hark_models_catalog_count(), 34);
}

TEST(catalog_entries_are_well_formed_and_unique)
{
    size_t n = hark_models_catalog_count(), i, j, with_sha1 = 0;
    char url[256];
    for (i = 0; i < n; i++) {
        const hark_model_info *m = hark_models_catalog_at(i);
        size_t len;
        ASSERT(m != NULL);
        ASSERT_OK(hark__models_check_name(m->name, strlen(m->name), m->name));
        ASSERT_MSG(strncmp(m->name, m->family, strlen(m->family)) == 0, "%s", m->name);
        ASSERT_EQ(m->english_only, strstr(m->name, ".en") != NULL);
        len = strlen(m->name);
        if (strcmp(m->quant, "f16") != 0)
            ASSERT_STREQ(m->name + len - 4, m->quant);
        /* every model has an exact size and a SHA-256; SHA-1 only where whisper.cpp lists one */
        ASSERT(m->size > 30u * 1000 * 1000);
        ASSERT_MSG(m->sha256 && is_hex(m->sha256, 64), "%s sha256", m->name);
        if (m->sha1) {
            ASSERT_MSG(is_hex(m->sha1, 40), "%s sha1", m->name);
            with_sha1++;
        }
        snprintf(url, sizeof(url), "/resolve/main/ggml-%s.bin", m->name);
        ASSERT_MSG(strncmp(m->url, "https://huggingface.co/", 23) == 0, "%s", m->url);
        ASSERT_CONTAINS(m->url, url);
        for (j = 0; j < i; j++)
            ASSERT(strcmp(hark_models_catalog_at(j)->name, m->name) != 0);
    }
    ASSERT_EQ(with_sha1, 16); /* the 16 rows of whisper.cpp's models/README.md */
    ASSERT(hark_models_catalog_at(n) == NULL);
}

TEST(catalog_values_match_the_published_ones)
{
    const hark_model_info *m = hark_models_catalog_find("base.en");
    ASSERT(m != NULL);
    ASSERT_EQ(m->size, 147964211);
    ASSERT_STREQ(m->sha1, "137c40403d78fd54d454da0f9bd998f78703390c");
    ASSERT_STREQ(m->sha256, "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002");
    ASSERT_STREQ(m->url,
                 "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin");
    m = hark_models_catalog_find("small.en-tdrz");
    ASSERT(m != NULL);
    ASSERT_CONTAINS(m->url, "akashmjn/tinydiarize-whisper.cpp");
    m = hark_models_catalog_find("large-v3-turbo-q8_0");
    ASSERT(m && m->sha1 == NULL && strcmp(m->quant, "q8_0") == 0);
}

TEST(catalog_find_accepts_file_names)
{
    ASSERT(hark_models_catalog_find("ggml-base.en.bin") == hark_models_catalog_find("base.en"));
    ASSERT(hark_models_catalog_find("ggml-tiny") == hark_models_catalog_find("tiny"));
    ASSERT(hark_models_catalog_find("base.e") == NULL);
    ASSERT(hark_models_catalog_find("") == NULL);
    ASSERT(hark_models_catalog_find(NULL) == NULL);
}

TEST(model_names_cannot_escape_the_models_directory)
{
    static const char *const bad[] = { "",    "../x", "a/b", ".hidden",  "-rf",
                                       "x y", "a\\b", "..",  "base.en\n" };
    static const char *const good[] = { "base.en", "large-v3-turbo-q5_0", "my_model.v2", "X9" };
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_ERR(hark__models_check_name(bad[i], strlen(bad[i]), bad[i]), HARK_EINVAL);
        ASSERT_CONTAINS(hark_error_last(), "invalid model name");
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ASSERT_OK(hark__models_check_name(good[i], strlen(good[i]), good[i]));
}

TEST(bare_names_strip_prefix_and_suffix)
{
    size_t len;
    const char *b = hark__models_bare_name("ggml-base.en.bin", &len);
    ASSERT_EQ(len, 7);
    ASSERT(strncmp(b, "base.en", len) == 0);
    b = hark__models_bare_name("base.en", &len);
    ASSERT_EQ(len, 7);
    b = hark__models_bare_name("ggml-.bin", &len); /* nothing left: stays invalid */
    ASSERT_ERR(hark__models_check_name(b, len, "ggml-.bin"), HARK_EINVAL);
}

TEST(content_range_parser)
{
    uint64_t first = 0, total = 0;
    ASSERT_OK(hark__models_content_range(" bytes 100-199/200\r\n", 20, &first, &total));
    ASSERT_EQ(first, 100);
    ASSERT_EQ(total, 200);
    ASSERT_OK(hark__models_content_range("bytes 0-0/*", 11, &first, &total));
    ASSERT_EQ(total, 0);
    ASSERT_OK(hark__models_content_range("Bytes */4096\r\n", 14, &first, &total));
    ASSERT(first == UINT64_MAX && total == 4096);
    ASSERT_ERR(hark__models_content_range("bytes 5-4/10", 12, &first, &total), HARK_ESYNTAX);
    ASSERT_ERR(hark__models_content_range("bytes 0-9/9", 11, &first, &total), HARK_ESYNTAX);
    ASSERT_ERR(hark__models_content_range("bytes=0-9/10", 12, &first, &total), HARK_ESYNTAX);
    ASSERT_ERR(hark__models_content_range("bytes 0-9/10x", 13, &first, &total), HARK_ESYNTAX);
    ASSERT_ERR(hark__models_content_range("bytes 99999999999999999999-1/2", 30, &first, &total),
               HARK_ESYNTAX);
    ASSERT_ERR(hark__models_content_range("", 0, &first, &total), HARK_ESYNTAX);
}

TEST(progress_line_fits_the_width)
{
    hark_buf b = HARK_BUF_INIT;
    hark_models_progress p = {
        "base.en", HARK_MODELS_PHASE_DOWNLOADING, 70u << 20, 140u << 20, 0, 5.0 * (1 << 20), 1000.0
    };
    ASSERT_OK(hark_models_progress_format(&b, &p, 80));
    ASSERT(b.len <= 80);
    ASSERT_CONTAINS(b.ptr, "base.en");
    ASSERT_CONTAINS(b.ptr, " 50% [");
    ASSERT_CONTAINS(b.ptr, "70.0 MiB/140.0 MiB");
    ASSERT_CONTAINS(b.ptr, "5.0 MiB/s");
    ASSERT_CONTAINS(b.ptr, "ETA 14s");
    hark_buf_clear(&b);
    ASSERT_OK(hark_models_progress_format(&b, &p, 40)); /* too narrow for a bar */
    ASSERT(b.len <= 40);
    ASSERT(strchr(b.ptr, '[') == NULL);
    hark_buf_clear(&b);
    p.total = 0; /* unknown size: no percentage, no bar, no ETA */
    ASSERT_OK(hark_models_progress_format(&b, &p, 0));
    ASSERT_STREQ(b.ptr, "base.en  70.0 MiB  5.0 MiB/s");
    hark_buf_clear(&b);
    p.phase = HARK_MODELS_PHASE_VERIFYING;
    ASSERT_OK(hark_models_progress_format(&b, &p, 0));
    ASSERT_CONTAINS(b.ptr, "verifying");
    hark_buf_dispose(&b);
}
