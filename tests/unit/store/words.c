/*
 * words.c: the per-word encoding of the store (src/store/words.c) and the
 * samples -> ms rounding.
 */
#include "harness.h"
#include "store/store.h"

TEST(samples_to_ms_rounds_to_nearest_halves_up)
{
    ASSERT_EQ(hark__samples_to_ms(0), 0);
    ASSERT_EQ(hark__samples_to_ms(7), 0);
    ASSERT_EQ(hark__samples_to_ms(8), 1);
    ASSERT_EQ(hark__samples_to_ms(16), 1);
    ASSERT_EQ(hark__samples_to_ms(23), 1);
    ASSERT_EQ(hark__samples_to_ms(24), 2);
    ASSERT_EQ(hark__samples_to_ms(16000), 1000);
    ASSERT_EQ(hark__samples_to_ms(-8), 0);
    ASSERT_EQ(hark__samples_to_ms(-9), -1);
    ASSERT_EQ(hark__samples_to_ms(INT64_MAX), INT64_MAX / 16 + 1);
}

static const hark_word sample_words[] = {
    { "and", 16000, 19200, 0.9f },
    { "so", 19200, 24000, 0.5f },
    { "", 24000, 24000, 0.0f },
    { "café", 15000, 40000, 1.0f }, /* starts before the segment */
};

TEST(words_roundtrip)
{
    hark_buf b = HARK_BUF_INIT;
    hark_words_scratch sc;
    memset(&sc, 0, sizeof(sc));
    ASSERT_OK(hark__words_encode(&b, sample_words, 4, 1000));
    ASSERT(b.len > 0 && b.len < 4 * 12 + 10);
    ASSERT_OK(hark__words_decode(&sc, b.ptr, b.len, 1000));
    ASSERT_EQ(sc.n, 4);
    for (uint32_t i = 0; i < 4; i++) {
        ASSERT_STREQ(sc.words[i].text, sample_words[i].text);
        ASSERT_EQ(sc.words[i].start, hark__samples_to_ms(sample_words[i].start) * 16);
        ASSERT_EQ(sc.words[i].end, hark__samples_to_ms(sample_words[i].end) * 16);
        ASSERT_EQ(sc.words[i].p, sample_words[i].p);
    }
    /* no words: nothing written, nothing decoded */
    hark_buf_clear(&b);
    ASSERT_OK(hark__words_encode(&b, NULL, 0, 0));
    ASSERT_EQ(b.len, 0);
    ASSERT_OK(hark__words_decode(&sc, "", 0, 0));
    ASSERT_EQ(sc.n, 0);
    hark__words_scratch_dispose(&sc);
    hark_buf_dispose(&b);
}

TEST(words_corrupt_data_is_rejected)
{
    hark_buf b = HARK_BUF_INIT;
    hark_words_scratch sc;
    char *copy;
    memset(&sc, 0, sizeof(sc));
    ASSERT_OK(hark__words_encode(&b, sample_words, 4, 1000));
    copy = malloc(b.len + 1);
    /* every truncation */
    for (size_t n = 1; n < b.len; n++) {
        memcpy(copy, b.ptr, n);
        ASSERT_ERR(hark__words_decode(&sc, copy, n, 1000), HARK_ECORRUPT);
    }
    /* trailing garbage */
    memcpy(copy, b.ptr, b.len);
    copy[b.len] = 0;
    ASSERT_ERR(hark__words_decode(&sc, copy, b.len + 1, 1000), HARK_ECORRUPT);
    /* wrong version */
    copy[0] = 9;
    ASSERT_ERR(hark__words_decode(&sc, copy, b.len, 1000), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "version");
    /* a huge count */
    {
        const unsigned char huge[] = { 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0 };
        ASSERT_ERR(hark__words_decode(&sc, huge, sizeof(huge), 0), HARK_ECORRUPT);
    }
    /* a NUL inside a word */
    {
        const unsigned char nul[] = { 1, 1, 0, 0, 0, 0, 0, 0, 2, 'a', 0 };
        ASSERT_ERR(hark__words_decode(&sc, nul, sizeof(nul), 0), HARK_ECORRUPT);
    }
    /* times that overflow */
    {
        const unsigned char big[] = { 1,    1,    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0x01, 0,    0,    0,    0,    0,    0 };
        ASSERT_ERR(hark__words_decode(&sc, big, sizeof(big), 0), HARK_ECORRUPT);
    }
    free(copy);
    hark__words_scratch_dispose(&sc);
    hark_buf_dispose(&b);
}
