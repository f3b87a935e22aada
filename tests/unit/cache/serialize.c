/*
 * serialize.c: the binary transcript encoding of cache values
 * (src/cache/serialize.c): exact round trips, determinism, and rejection of
 * every kind of damage with HARK_ECORRUPT.
 */
#include "cache/cache.h"
#include "harness.h"

/* A transcript using every field: meta, words, tokens with unknown times, odd floats. */
hark_transcript *rich_transcript(int n_segments);
hark_transcript *rich_transcript(int n_segments)
{
    hark_transcript *t = NULL;
    ASSERT_OK(hark_transcript_new(&t));
    ASSERT_OK(hark_transcript_set_meta(t, "engine", "whisper"));
    ASSERT_OK(hark_transcript_set_meta(t, "model", "base.en"));
    ASSERT_OK(hark_transcript_set_meta(t, "options", "{\"beam_size\":5}"));
    ASSERT_OK(hark_transcript_set_meta(t, "language", ""));
    for (int i = 0; i < n_segments; i++) {
        hark_word w[3] = { { "Hello", 0, 0, 0.5f }, { "wörld", 0, 0, 1.0f }, { "", 0, 0, 0.0f } };
        hark_token k[2] = { { 50364, 0.25f, -1.386f, -1, -1, "<|0.00|>" },
                            { 2425, 0.99f, -0.01f, 0, 0, " Hello" } };
        hark_segment seg;
        char text[64];
        int64_t start = (int64_t)i * 48007 + 3; /* not multiples of 16 */
        memset(&seg, 0, sizeof(seg));
        snprintf(text, sizeof(text), " Hello wörld %d", i);
        for (int j = 0; j < 3; j++) {
            w[j].start = start + j * 1001 - (j == 0 ? 5 : 0); /* a word may start early */
            w[j].end = w[j].start + 999;
        }
        k[1].start = start + 10;
        k[1].end = start + 20;
        seg.start = start;
        seg.end = start + 40000;
        seg.text = text;
        seg.confidence = 0.875f;
        seg.no_speech_prob = 0.01f;
        seg.avg_logprob = -0.25f;
        seg.compression_ratio = 1.5f;
        seg.temperature = 0.2f;
        seg.chunk = (uint32_t)(i / 4);
        seg.n_words = 3;
        seg.words = w;
        seg.n_tokens = 2;
        seg.tokens = k;
        ASSERT_OK(hark_transcript_add(t, &seg));
    }
    hark_transcript_set_duration(t, (int64_t)n_segments * 48007 + 1);
    return t;
}

void assert_same_transcript(const hark_transcript *a, const hark_transcript *b);
void assert_same_transcript(const hark_transcript *a, const hark_transcript *b)
{
    static const char *const keys[] = { "engine", "model", "language", "source", "options" };
    ASSERT_EQ(hark_transcript_count(a), hark_transcript_count(b));
    ASSERT_EQ(hark_transcript_duration(a), hark_transcript_duration(b));
    for (size_t k = 0; k < 5; k++) {
        const char *x = hark_transcript_meta(a, keys[k]), *y = hark_transcript_meta(b, keys[k]);
        ASSERT((x == NULL) == (y == NULL));
        if (x)
            ASSERT_STREQ(x, y);
    }
    for (size_t i = 0; i < hark_transcript_count(a); i++) {
        const hark_segment *x = hark_transcript_segment(a, i), *y = hark_transcript_segment(b, i);
        ASSERT_EQ(x->start, y->start);
        ASSERT_EQ(x->end, y->end);
        ASSERT_STREQ(x->text, y->text);
        ASSERT(x->confidence == y->confidence && x->no_speech_prob == y->no_speech_prob);
        ASSERT(x->avg_logprob == y->avg_logprob && x->temperature == y->temperature);
        ASSERT(x->compression_ratio == y->compression_ratio);
        ASSERT_EQ(x->chunk, y->chunk);
        ASSERT_EQ(x->n_words, y->n_words);
        ASSERT_EQ(x->n_tokens, y->n_tokens);
        for (uint32_t w = 0; w < x->n_words; w++) {
            ASSERT_STREQ(x->words[w].text, y->words[w].text);
            ASSERT_EQ(x->words[w].start, y->words[w].start);
            ASSERT_EQ(x->words[w].end, y->words[w].end);
            ASSERT(x->words[w].p == y->words[w].p);
        }
        for (uint32_t k = 0; k < x->n_tokens; k++) {
            ASSERT_EQ(x->tokens[k].id, y->tokens[k].id);
            ASSERT_STREQ(x->tokens[k].text, y->tokens[k].text);
            ASSERT_EQ(x->tokens[k].start, y->tokens[k].start);
            ASSERT_EQ(x->tokens[k].end, y->tokens[k].end);
            ASSERT(x->tokens[k].p == y->tokens[k].p && x->tokens[k].plog == y->tokens[k].plog);
        }
    }
}

TEST(encode_decode_roundtrip_is_exact)
{
    hark_transcript *t = rich_transcript(25), *back = NULL;
    hark_buf a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    ASSERT_OK(hark__transcript_encode(t, &a));
    ASSERT_EQ(memcmp(a.ptr, "hkT\x01", 4), 0);
    ASSERT_OK(hark__transcript_decode(a.ptr, a.len, &back));
    assert_same_transcript(t, back);
    /* deterministic and canonical: re-encoding gives the same bytes */
    ASSERT_OK(hark__transcript_encode(back, &b));
    ASSERT_EQ(a.len, b.len);
    ASSERT_EQ(memcmp(a.ptr, b.ptr, a.len), 0);
    /* compact: well under 200 bytes per segment with 3 words and 2 tokens */
    ASSERT_LT(a.len, 25 * 200);
    hark_buf_dispose(&a);
    hark_buf_dispose(&b);
    hark_transcript_free(back);
    hark_transcript_free(t);
}

TEST(empty_transcript_roundtrips)
{
    hark_transcript *t = NULL, *back = NULL;
    hark_buf a = HARK_BUF_INIT;
    ASSERT_OK(hark_transcript_new(&t));
    ASSERT_OK(hark__transcript_encode(t, &a));
    ASSERT_OK(hark__transcript_decode(a.ptr, a.len, &back));
    ASSERT_EQ(hark_transcript_count(back), 0);
    ASSERT(hark_transcript_meta(back, "engine") == NULL);
    hark_buf_dispose(&a);
    hark_transcript_free(back);
    hark_transcript_free(t);
}

TEST(every_truncation_and_bit_flip_is_ecorrupt)
{
    hark_transcript *t = rich_transcript(3), *back = NULL;
    hark_buf a = HARK_BUF_INIT;
    unsigned char *copy;
    ASSERT_OK(hark__transcript_encode(t, &a));
    copy = malloc(a.len);
    for (size_t n = 0; n < a.len; n++) {
        memcpy(copy, a.ptr, n);
        ASSERT_ERR(hark__transcript_decode(copy, n, &back), HARK_ECORRUPT);
        ASSERT(back == NULL);
    }
    for (size_t i = 0; i < a.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, a.ptr, a.len);
            copy[i] ^= (unsigned char)(1u << bit);
            ASSERT_ERR(hark__transcript_decode(copy, a.len, &back), HARK_ECORRUPT);
        }
    }
    free(copy);
    ASSERT_ERR(hark__transcript_decode(NULL, 0, &back), HARK_ECORRUPT);
    ASSERT_ERR(hark__transcript_decode("hkT\x02xxxxxxxx", 12, &back), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "version 2");
    hark_buf_dispose(&a);
    hark_transcript_free(t);
}
