/*
 * vocab.c: token bytes, special names and whisper.cpp's tokenizer, on a
 * tiny vocabulary (exact splits) and on the real GPT-2 vocabulary of the
 * golden micro model (round trips, known ids).
 */
#include "harness.h"
#include "../whisper_model/tinymodel.h"
#include "asr/whisper/whisper.h"

static hark_whisper_model *tiny(void)
{
    tiny_opts o;
    size_t n;
    unsigned char *d;
    hark_whisper_model *m = NULL;
    tiny_defaults(&o);
    o.n_state = 8;
    o.n_audio_ctx = 16;
    d = tiny_model(&o, &n);
    ASSERT_OK(hark__whisper_model_load_buffer(&m, d, n, "tiny.bin"));
    free(d);
    return m;
}

static hark_whisper_model *real(void)
{
    hark_whisper_model *m = NULL;
    ASSERT_OK(hark__whisper_model_load(&m, harness_shared_file("whisper-golden/micro-f16.bin")));
    return m;
}

/* tokenize and render as "id id id" */
static void tok_str(const hark_whisper_model *m, const char *text, char *out, size_t size)
{
    int32_t *ids = NULL;
    int n = 0, cap = 0, i;
    size_t o = 0;
    ASSERT_OK(hark__whisper_tokenize(m, text, &ids, &n, &cap));
    out[0] = '\0';
    for (i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%d", i ? " " : "", ids[i]);
    hark__free(ids);
}

TEST(tokenizer_splits_like_whisper_cpp)
{
    hark_whisper_model *m = tiny();
    char s[512];
    /* ids: bytes 0..255, then " the"=256 " of" " and" "ing" " a" "he"=261 " he" "ll"=263
     * " hello"=264 " world"=265 "'s"=266 " "=267 "  "=268 "\n"=269 */
    tok_str(m, "hello world", s, sizeof(s));
    ASSERT_STREQ(s, "261 263 111 265"); /* "hello" has no token: he ll o */
    tok_str(m, " hello world", s, sizeof(s));
    ASSERT_STREQ(s, "264 265");
    tok_str(m, "he's", s, sizeof(s));
    ASSERT_STREQ(s, "261 266");
    /* "a  b": a, " " (\s+(?!\S)), " b" -> " " b; later duplicates win (" " = 267) */
    tok_str(m, "a  b", s, sizeof(s));
    ASSERT_STREQ(s, "97 267 267 98");
    tok_str(m, "\n\nhello", s, sizeof(s));
    ASSERT_STREQ(s, "269 269 261 263 111");
    tok_str(m, "x   ", s, sizeof(s)); /* trailing whitespace is one piece */
    ASSERT_STREQ(s, "120 268 267");
    tok_str(m, "9 10", s, sizeof(s));
    ASSERT_STREQ(s, "57 267 49 48");
    tok_str(m, "", s, sizeof(s));
    ASSERT_STREQ(s, "");
    ASSERT_EQ(m->sp.space, 267);
    ASSERT_EQ(hark__whisper_token_find(m, "ll", 2), 263);
    ASSERT_EQ(hark__whisper_token_find(m, "lll", 3), -1);
    hark__whisper_model_free(m);
}

TEST(special_tokens_have_whisper_cpp_names)
{
    hark_whisper_model *m = tiny();
    size_t len;
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50256, &len), "[_EOT_]"); /* not in the tiny file */
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50257, &len), "[_SOT_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50258, &len), "[_LANG_en]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50357, &len), "[_TRANSLATE_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50358, &len), "[_TRANSCRIBE_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50359, &len), "[_SOLM_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50360, &len), "[_PREV_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50361, &len), "[_NOSP_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50362, &len), "[_NOT_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50363, &len), "[_BEG_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 51863, &len), "[_TT_1500]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 1000, &len), "[_extra_token_1000]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 51864, &len), "");
    ASSERT_STREQ(hark__whisper_token_bytes(m, -1, &len), "");
    ASSERT_EQ(len, 0);
    ASSERT_EQ(hark__whisper_lang_id("en"), 0);
    ASSERT_EQ(hark__whisper_lang_id("german"), 2);
    ASSERT_EQ(hark__whisper_lang_id("yue"), 99);
    ASSERT_EQ(hark__whisper_lang_id("xx"), -1);
    ASSERT_STREQ(hark__whisper_lang_code(7), "ja");
    hark__whisper_model_free(m);
}

TEST(real_vocabulary_known_ids_and_names)
{
    hark_whisper_model *m = real();
    char s[512];
    size_t len;
    /* teacher-tokens.json: " And so my fellow Americans, ask not" */
    tok_str(m, " And so my fellow Americans, ask not", s, sizeof(s));
    ASSERT_STREQ(s, "843 523 616 5891 3399 11 1265 407");
    ASSERT_EQ(m->n_vocab_file, 50257);
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50256, &len), "<|endoftext|>");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50257, &len), "[_SOT_]");
    ASSERT_STREQ(hark__whisper_token_bytes(m, 50501, &len), "[_TT_138]");
    ASSERT_EQ(m->sp.space, 220);
    hark__whisper_model_free(m);
}

TEST(real_vocabulary_round_trips_text_and_bytes)
{
    static const char *const texts[] = {
        " And so, my fellow Americans: ask not what your country can do for you.",
        "It's 10:30 -- we'll see (maybe) 100% [sure]!\n\tTabs\tand  spaces   ",
        " Grüße aus Köln, λα",
        "don't won't I'm you're they've we'd she'll 'tis",
    };
    hark_whisper_model *m = real();
    uint64_t rng = 42;
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(texts) + 20; i++) {
        char rnd[257];
        const char *t = texts[0];
        int32_t *ids = NULL;
        int n = 0, cap = 0, k;
        hark_buf b = HARK_BUF_INIT;
        if (i < HARK_ARRAY_SIZE(texts)) {
            t = texts[i];
        } else { /* random ASCII: every ASCII byte is a token, so nothing is lost */
            for (k = 0; k < 256; k++)
                rnd[k] = (char)(1 + harness_rand(&rng) % 127);
            rnd[256] = '\0';
            t = rnd;
        }
        ASSERT_OK(hark__whisper_tokenize(m, t, &ids, &n, &cap));
        for (k = 0; k < n; k++) {
            size_t len;
            const char *tb = hark__whisper_token_bytes(m, ids[k], &len);
            ASSERT(ids[k] >= 0 && ids[k] < 50257);
            ASSERT_OK(hark_buf_put(&b, tb, len));
        }
        ASSERT_EQ(b.len, strlen(t));
        ASSERT(memcmp(b.ptr, t, b.len) == 0);
        hark_buf_dispose(&b);
        hark__free(ids);
    }
    hark__whisper_model_free(m);
}

TEST(real_vocabulary_skips_bytes_no_token_starts_with)
{
    /* The golden vocabulary (whisper.cpp's for-tests file) stores the 128 single high bytes
     * as U+FFFD, so a character like "東" has no covering token: whisper.cpp logs "unknown
     * token" and skips a byte at a time. The result is a subsequence of the input. */
    static const char text[] = " 東京 and \xf0\x9f\x98\x80 ok";
    hark_whisper_model *m = real();
    int32_t *ids = NULL;
    int n = 0, cap = 0, k;
    hark_buf b = HARK_BUF_INIT;
    size_t i = 0, j;
    ASSERT_OK(hark__whisper_tokenize(m, text, &ids, &n, &cap));
    for (k = 0; k < n; k++) {
        size_t len;
        const char *tb = hark__whisper_token_bytes(m, ids[k], &len);
        ASSERT_OK(hark_buf_put(&b, tb, len));
    }
    ASSERT_CONTAINS(b.ptr, " and");
    ASSERT_CONTAINS(b.ptr, " ok");
    for (j = 0; j < b.len; j++) { /* subsequence */
        while (i < sizeof(text) - 1 && text[i] != b.ptr[j])
            i++;
        ASSERT(i < sizeof(text) - 1);
        i++;
    }
    ASSERT_LT(b.len, sizeof(text) - 1);
    hark_buf_dispose(&b);
    hark__free(ids);
    hark__whisper_model_free(m);
}
