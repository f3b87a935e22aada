/*
 * maintenance.c: conformance tests for retention (gc), the integrity check
 * and the cache table of a store (through hark_cache with the store as L2).
 */
#include "store_test.h"

typedef struct paths {
    char seen[8][128];
    int n;
} paths;

static int collect(const char *path, void *payload)
{
    paths *p = payload;
    if (p->n < 8)
        snprintf(p->seen[p->n++], sizeof(p->seen[0]), "%s", path);
    return 0;
}

static void key_of(uint8_t key[32], int i)
{
    memset(key, 0, 32);
    key[0] = (uint8_t)i;
    key[31] = 0xaa;
}

TEST(gc_removes_old_recordings_segments_cache_and_reports_audio)
{
    hark_store *s = st_open();
    hark_cache *c = NULL;
    hark_gc_options o = HARK_GC_OPTIONS_INIT;
    hark_gc_result res;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_transcript *t = st_transcript(4, "retention %d test"), *back = NULL;
    paths p = { { { 0 } }, 0 };
    int64_t now = st_now_ms(), day = 86400000, old1, old2, fresh;
    uint8_t key[32];

    rec.created_ms = now - 100 * day;
    rec.audio_path = "/archive/old1.flac";
    rec.content_hash = "0101";
    ASSERT_OK(hark_store_recording_create(s, &rec, &old1));
    rec.created_ms = now - 95 * day;
    rec.audio_path = NULL;
    rec.content_hash = "0202";
    ASSERT_OK(hark_store_recording_create(s, &rec, &old2));
    rec.created_ms = now - 10 * day;
    rec.audio_path = "/archive/fresh.flac";
    rec.content_hash = "0303";
    ASSERT_OK(hark_store_recording_create(s, &rec, &fresh));
    ASSERT_OK(hark_store_segments_put(s, old1, t, 0, 4, 0));
    ASSERT_OK(hark_store_segments_put(s, old2, t, 0, 4, 0));
    ASSERT_OK(hark_store_segments_put(s, fresh, t, 0, 4, 0));

    /* cache entries: one of old1's audio, one of fresh's */
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    key_of(key, 1);
    ASSERT_OK(hark_cache_put(c, key, "0101", t));
    key_of(key, 3);
    ASSERT_OK(hark_cache_put(c, key, "0303", t));

    o.older_than_ms = now - 90 * day;
    o.audio = collect;
    o.payload = &p;
    o.dry_run = 1;
    ASSERT_OK(hark_store_gc(s, &o, &res));
    ASSERT_EQ(res.recordings, 2);
    ASSERT_EQ(res.segments, 8);
    ASSERT_EQ(res.cache_entries, 1);
    ASSERT_EQ(p.n, 0); /* not called on a dry run */
    ASSERT_EQ(st_hits(s, "retention"), 12);

    o.dry_run = 0;
    ASSERT_OK(hark_store_gc(s, &o, &res));
    ASSERT_EQ(res.recordings, 2);
    ASSERT_EQ(res.segments, 8);
    ASSERT_EQ(res.cache_entries, 1);
    ASSERT_EQ(p.n, 1);
    ASSERT_STREQ(p.seen[0], "/archive/old1.flac");
    ASSERT_EQ(st_hits(s, "retention"), 4);
    ASSERT_ERR(hark_store_transcript_get(s, old1, &back), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_transcript_get(s, fresh, &back));
    ASSERT_EQ(hark_transcript_count(back), 4);
    hark_transcript_free(back);
    hark_cache_free(c);

    /* a fresh cache object (empty L1): only fresh's entry is left in L2 */
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    key_of(key, 1);
    ASSERT_ERR(hark_cache_get(c, key, &back), HARK_ENOTFOUND);
    key_of(key, 3);
    ASSERT_OK(hark_cache_get(c, key, &back));
    hark_transcript_free(back);
    hark_cache_free(c);

    ASSERT_OK(hark_store_gc(s, &o, &res)); /* nothing left to do */
    ASSERT_EQ(res.recordings, 0);
    o.older_than_ms = 0;
    ASSERT_ERR(hark_store_gc(s, &o, &res), HARK_EINVAL);
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(t);
    hark_store_free(s);
}

static int stop_at_first(const char *path, void *payload)
{
    (void)path;
    (*(int *)payload)++;
    return 7;
}

TEST(gc_callback_can_stop_and_removal_stands)
{
    hark_store *s = st_open();
    hark_gc_options o = HARK_GC_OPTIONS_INIT;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_store_stats st;
    int calls = 0;

    rec.created_ms = 1000;
    rec.audio_path = "/a";
    ASSERT_OK(hark_store_recording_create(s, &rec, NULL));
    rec.audio_path = "/b";
    ASSERT_OK(hark_store_recording_create(s, &rec, NULL));
    o.older_than_ms = 2000;
    o.audio = stop_at_first;
    o.payload = &calls;
    ASSERT_EQ(hark_store_gc(s, &o, NULL), 7);
    ASSERT_EQ(calls, 1);
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, 0);
    hark_store_free(s);
}

TEST(cache_entries_live_in_the_store_and_follow_the_recording)
{
    hark_store *s = st_open();
    hark_cache *c = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_transcript *t = st_transcript(3, "cached %d"), *back = NULL;
    hark_store_stats st;
    uint8_t key[32];
    int64_t id;

    rec.content_hash = "abcdef";
    ASSERT_OK(hark_store_recording_create(s, &rec, &id));
    ASSERT_OK(hark_cache_new(&c, s, 0)); /* no L1: every lookup reaches the store */
    for (int i = 0; i < 5; i++) {
        key_of(key, i);
        ASSERT_OK(hark_cache_put(c, key, i < 3 ? "abcdef" : "other", t));
    }
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.cache_entries, 5);
    ASSERT(st.cache_bytes > 0);
    key_of(key, 0);
    ASSERT_OK(hark_cache_get(c, key, &back));
    ASSERT_EQ(hark_transcript_count(back), 3);
    hark_transcript_free(back);

    /* deleting the recording drops the cached results of its audio held in this store */
    ASSERT_OK(hark_store_recording_delete(s, id, NULL));
    ASSERT_ERR(hark_cache_get(c, key, &back), HARK_ENOTFOUND);
    key_of(key, 4);
    ASSERT_OK(hark_cache_get(c, key, &back));
    hark_transcript_free(back);
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.cache_entries, 2);
    hark_cache_free(c);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(check_passes_after_mixed_work)
{
    hark_store *s = st_open();
    hark_transcript *t = st_transcript(50, "mixed work %d");
    for (int i = 0; i < 10; i++) {
        int64_t id = st_recording(s, "m", 0);
        ASSERT_OK(hark_store_segments_put(s, id, t, 0, 50, 0));
        if (i % 3 == 0)
            ASSERT_OK(hark_store_segments_truncate(s, id, 20));
        if (i % 4 == 1)
            ASSERT_OK(hark_store_recording_delete(s, id, NULL));
    }
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(t);
    hark_store_free(s);
}
