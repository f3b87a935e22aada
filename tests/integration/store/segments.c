/*
 * segments.c: conformance tests for segments and transcripts: round trips,
 * the samples <-> ms conversion, upsert idempotence, slices, truncation,
 * unicode text and large transcripts.
 */
#include "store_test.h"

TEST(transcript_roundtrip_with_words_and_meta)
{
    hark_store *s = st_open();
    hark_recording in = HARK_RECORDING_INIT;
    hark_transcript *t = st_transcript(5, "this is segment number %d"), *back = NULL;
    int64_t id;

    in.engine = "whisper";
    in.model = "base.en";
    in.language = "en";
    in.source = "talk.wav";
    in.options = "{\"beam_size\":5}";
    in.duration_ms = 10000;
    ASSERT_OK(hark_store_recording_create(s, &in, &id));
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 5, 0));
    ASSERT_OK(hark_store_transcript_get(s, id, &back));

    ASSERT_EQ(hark_transcript_count(back), 5);
    ASSERT_EQ(hark_transcript_duration(back), 10000 * 16);
    ASSERT_STREQ(hark_transcript_meta(back, "engine"), "whisper");
    ASSERT_STREQ(hark_transcript_meta(back, "model"), "base.en");
    ASSERT_STREQ(hark_transcript_meta(back, "language"), "en");
    ASSERT_STREQ(hark_transcript_meta(back, "source"), "talk.wav");
    ASSERT_STREQ(hark_transcript_meta(back, "options"), "{\"beam_size\":5}");
    for (size_t i = 0; i < 5; i++) {
        const hark_segment *a = hark_transcript_segment(t, i);
        const hark_segment *b = hark_transcript_segment(back, i);
        ASSERT_EQ(b->start, a->start); /* times divisible by 16: exact */
        ASSERT_EQ(b->end, a->end);
        ASSERT_STREQ(b->text, a->text);
        ASSERT_NEAR(b->confidence, a->confidence, 1e-6);
        ASSERT_EQ(b->n_words, a->n_words);
        ASSERT_EQ(b->n_words, 5);
        for (uint32_t w = 0; w < a->n_words; w++) {
            ASSERT_STREQ(b->words[w].text, a->words[w].text);
            ASSERT_EQ(b->words[w].start, a->words[w].start);
            ASSERT_EQ(b->words[w].end, a->words[w].end);
            ASSERT_NEAR(b->words[w].p, a->words[w].p, 1e-6);
        }
    }
    {
        hark_recording *r = NULL;
        ASSERT_OK(hark_store_recording_get(s, id, &r));
        ASSERT_EQ(r->n_segments, 5);
        hark_recording_free(r);
    }
    hark_transcript_free(back);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(times_are_rounded_to_the_nearest_ms)
{
    hark_store *s = st_open();
    hark_transcript *t = NULL, *back = NULL;
    hark_segment seg;
    hark_word w[2];
    int64_t id = st_recording(s, "rounding", 0);
    /* samples -> ms: 7 -> 0, 8 -> 1 (halves up), 24 -> 2, 16000 -> 1000, 16001 -> 1000 */
    static const int64_t in[][2] = { { 7, 8 }, { 24, 16000 }, { 16001, 16009 }, { 32000, 32000 } };
    static const int64_t want[][2] = {
        { 0, 16 }, { 32, 16000 }, { 16000, 16016 }, { 32000, 32000 }
    };

    ASSERT_OK(hark_transcript_new(&t));
    for (size_t i = 0; i < 4; i++) {
        memset(&seg, 0, sizeof(seg));
        seg.start = in[i][0];
        seg.end = in[i][1];
        seg.text = "x";
        if (i == 2) {
            w[0] = (hark_word){ "a", 16001, 16004, 0.25f }; /* 1000.06 ms, 1000.25 ms */
            w[1] = (hark_word){ "b", 16004, 16009, 0.75f }; /* 1000.25 ms, 1000.56 ms */
            seg.words = w;
            seg.n_words = 2;
        }
        ASSERT_OK(hark_transcript_add(t, &seg));
    }
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 4, 0));
    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    for (size_t i = 0; i < 4; i++) {
        const hark_segment *b = hark_transcript_segment(back, i);
        ASSERT_EQ(b->start, want[i][0]);
        ASSERT_EQ(b->end, want[i][1]);
    }
    {
        const hark_segment *b = hark_transcript_segment(back, 2);
        ASSERT_EQ(b->n_words, 2);
        ASSERT_EQ(b->words[0].start, 16000);
        ASSERT_EQ(b->words[0].end, 16000);
        ASSERT_EQ(b->words[1].start, 16000);
        ASSERT_EQ(b->words[1].end, 16016);
        ASSERT_NEAR(b->words[1].p, 0.75, 1e-7);
    }
    hark_transcript_free(back);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(put_twice_never_duplicates)
{
    hark_store *s = st_open();
    hark_transcript *t = st_transcript(30, "retry %d of the kangaroo"), *back = NULL;
    hark_store_stats st;
    hark_recording *r = NULL;
    int64_t id = st_recording(s, "retry", 0);

    /* chunk 0..9, then a retry of the same chunk, then 10..29 twice */
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 10, 0));
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 10, 0));
    ASSERT_OK(hark_store_segments_put(s, id, t, 10, 20, 10));
    ASSERT_OK(hark_store_segments_put(s, id, t, 10, 20, 10));
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.segments, 30);
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    ASSERT_EQ(r->n_segments, 30);
    hark_recording_free(r);
    ASSERT_EQ(st_hits(s, "kangaroo"), 30);
    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    ASSERT_EQ(hark_transcript_count(back), 30);
    for (size_t i = 0; i < 30; i++)
        ASSERT_STREQ(hark_transcript_segment(back, i)->text, hark_transcript_segment(t, i)->text);
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(back);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(put_replaces_changed_segments_and_the_index_follows)
{
    hark_store *s = st_open();
    hark_transcript *a = st_texts(
        (const char *const[]){ "the quick brown fox", "jumps over", "the lazy dog", NULL });
    hark_transcript *b = st_texts((const char *const[]){ "a slow green turtle", NULL });
    hark_transcript *back = NULL;
    int64_t id = st_recording(s, "replace", 0);

    ASSERT_OK(hark_store_segments_put(s, id, a, 0, 3, 0));
    ASSERT_EQ(st_hits(s, "fox"), 1);
    /* seq 0 replaced by different text */
    ASSERT_OK(hark_store_segments_put(s, id, b, 0, 1, 0));
    ASSERT_EQ(st_hits(s, "fox"), 0);
    ASSERT_EQ(st_hits(s, "turtle"), 1);
    ASSERT_EQ(st_hits(s, "lazy"), 1);
    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    ASSERT_EQ(hark_transcript_count(back), 3);
    ASSERT_STREQ(hark_transcript_segment(back, 0)->text, "a slow green turtle");
    ASSERT_STREQ(hark_transcript_segment(back, 1)->text, "jumps over");
    hark_transcript_free(back);
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(a);
    hark_transcript_free(b);
    hark_store_free(s);
}

TEST(put_slice_at_first_seq_and_order_by_seq)
{
    hark_store *s = st_open();
    hark_transcript *t = st_transcript(10, "piece %d"), *back = NULL;
    int64_t id = st_recording(s, "slices", 0);

    /* the later chunk arrives first */
    ASSERT_OK(hark_store_segments_put(s, id, t, 5, 5, 5));
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 5, 0));
    ASSERT_OK(hark_store_segments_put(s, id, t, 3, 0, 3)); /* empty slice: nothing */
    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    ASSERT_EQ(hark_transcript_count(back), 10);
    for (size_t i = 0; i < 10; i++) {
        char want[32];
        snprintf(want, sizeof(want), "piece %zu", i);
        ASSERT_STREQ(hark_transcript_segment(back, i)->text, want);
    }
    hark_transcript_free(back);

    ASSERT_ERR(hark_store_segments_put(s, id, t, 8, 3, 0), HARK_EINVAL);
    ASSERT_ERR(hark_store_segments_put(s, id, t, 11, 0, 0), HARK_EINVAL);
    ASSERT_ERR(hark_store_segments_put(s, id, t, 0, 1, -1), HARK_EINVAL);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(truncate_drops_the_tail)
{
    hark_store *s = st_open();
    hark_transcript *t = st_transcript(10, "tail %d platypus"), *back = NULL;
    hark_recording *r = NULL;
    int64_t id = st_recording(s, "truncate", 0);

    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 10, 0));
    ASSERT_OK(hark_store_segments_truncate(s, id, 4));
    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    ASSERT_EQ(hark_transcript_count(back), 4);
    hark_transcript_free(back);
    ASSERT_EQ(st_hits(s, "platypus"), 4);
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    ASSERT_EQ(r->n_segments, 4);
    hark_recording_free(r);
    ASSERT_OK(hark_store_segments_truncate(s, id, 0));
    ASSERT_EQ(st_hits(s, "platypus"), 0);
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(unicode_text_roundtrips_and_is_searchable)
{
    static const char *const texts[] = {
        "Un café crème à Zürich, s'il vous plaît",
        "Größe und Übermut: naïve Fragen",
        "日本語のテキスト も 大丈夫",
        "emoji 🎤 and math ∑ x² ≤ ∞",
        "Ελληνικά και русский текст",
        NULL,
    };
    hark_store *s = st_open();
    hark_transcript *back = NULL;
    int64_t id = st_recording_texts(s, "unicode", texts);

    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    for (size_t i = 0; texts[i]; i++) {
        const hark_segment *b = hark_transcript_segment(back, i);
        ASSERT_STREQ(b->text, texts[i]);
        char first[64];
        snprintf(first, sizeof(first), "%.*s", (int)strcspn(texts[i], " "), texts[i]);
        ASSERT_STREQ(b->words[0].text, first);
    }
    hark_transcript_free(back);
    ASSERT_EQ(st_hits(s, "cafe"), 1); /* accents do not matter */
    ASSERT_EQ(st_hits(s, "CAFÉ"), 1); /* nor does case */
    ASSERT_EQ(st_hits(s, "zurich"), 1);
    ASSERT_EQ(st_hits(s, "naive"), 1);
    ASSERT_EQ(st_hits(s, "größe"), 1);
    ASSERT_EQ(st_hits(s, "русский"), 1);
    ASSERT_EQ(st_hits(s, "ελληνικά"), 1);
    ASSERT_EQ(st_hits(s, "大丈夫"), 1);
    ASSERT_EQ(st_hits(s, "\"s'il vous\""), 1);
    ASSERT_EQ(st_hits(s, "🎤"), 0); /* not a word to the indexer: no error either */
    hark_store_free(s);
}

TEST(large_transcript_in_chunks)
{
    hark_store *s = st_open();
    hark_transcript *t = st_transcript(20000, "long recording segment %d with wombat"),
                    *back = NULL;
    int64_t id = st_recording(s, "large", 0);
    hark_recording *r = NULL;

    for (size_t first = 0; first < 20000; first += 1000)
        ASSERT_OK(hark_store_segments_put(s, id, t, first, 1000, (int64_t)first));
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    ASSERT_EQ(r->n_segments, 20000);
    hark_recording_free(r);
    ASSERT_OK(hark_store_transcript_get(s, id, &back));
    ASSERT_EQ(hark_transcript_count(back), 20000);
    ASSERT_STREQ(hark_transcript_segment(back, 19999)->text,
                 "long recording segment 19999 with wombat");
    ASSERT_EQ(hark_transcript_segment(back, 19999)->start, (int64_t)19999 * 32000);
    hark_transcript_free(back);
    ASSERT_EQ(st_hits(s, "19999"), 1);
    {
        hark_search_result *res = NULL;
        hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
        o.recording = id;
        ASSERT_OK(hark_store_search(s, "wombat", &o, &res));
        ASSERT_EQ(res->n, 20);
        ASSERT_EQ(res->more, 1);
        hark_search_result_free(res);
    }
    hark_transcript_free(t);
    hark_store_free(s);
}
