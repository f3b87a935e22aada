/*
 * cache.c: the result cache (L1 LRU + L2 store): hits and misses, eviction
 * by bytes, thread safety, persistence across reopening, statistics, clear,
 * drop_group, gc, corrupt values and durability across kill -9.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "harness.h"
#include "store/store.h"

hark_transcript *rich_transcript(int n_segments);
void assert_same_transcript(const hark_transcript *a, const hark_transcript *b);

static void key_of(uint8_t key[32], uint32_t i)
{
    /* spread like a SHA-256 would be */
    uint64_t st = i * 0x9e3779b97f4a7c15ull + 1;
    for (int k = 0; k < 4; k++) {
        uint64_t v = harness_rand(&st);
        memcpy(key + 8 * k, &v, 8);
    }
}

/* A small transcript whose text names `i`, so a value can be checked against its key. */
static hark_transcript *value_of(uint32_t i)
{
    hark_transcript *t = NULL;
    hark_segment seg;
    char text[64];
    ASSERT_OK(hark_transcript_new(&t));
    memset(&seg, 0, sizeof(seg));
    snprintf(text, sizeof(text), "value number %u", i);
    seg.text = text;
    seg.end = 16000;
    ASSERT_OK(hark_transcript_add(t, &seg));
    return t;
}

static uint32_t value_id(const hark_transcript *t)
{
    unsigned v = 0;
    ASSERT_EQ(hark_transcript_count(t), 1);
    ASSERT(sscanf(hark_transcript_segment(t, 0)->text, "value number %u", &v) == 1);
    return v;
}

static hark_store *open_l2(void)
{
    hark_store *s = NULL;
    ASSERT_OK(hark_store_open(&s, harness_path("cache.db")));
    return s;
}

TEST(l1_only_hit_miss_and_stats)
{
    hark_cache *c = NULL;
    hark_transcript *t = rich_transcript(4), *back = NULL;
    hark_cache_statistics st;
    uint8_t k1[32], k2[32];

    key_of(k1, 1);
    key_of(k2, 2);
    ASSERT_OK(hark_cache_new(&c, NULL, 1 << 20));
    ASSERT_ERR(hark_cache_get(c, k1, &back), HARK_ENOTFOUND);
    ASSERT(back == NULL);
    ASSERT_OK(hark_cache_put(c, k1, "grp", t));
    ASSERT_OK(hark_cache_get(c, k1, &back));
    assert_same_transcript(t, back);
    hark_transcript_free(back);
    ASSERT_ERR(hark_cache_get(c, k2, &back), HARK_ENOTFOUND);
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.hits, 1);
    ASSERT_EQ(st.misses, 2);
    ASSERT_EQ(st.l1_hits, 1);
    ASSERT_EQ(st.entries, 1);
    ASSERT_EQ(st.l1_entries, 1);
    ASSERT(st.bytes > 0 && st.l1_bytes > st.bytes);
    ASSERT_EQ(st.l1_capacity, 1 << 20);
    ASSERT_NEAR(st.hit_rate, 1.0 / 3.0, 1e-9);
    ASSERT_OK(hark_cache_stats_reset(c));
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.hits + st.misses, 0);
    ASSERT_EQ(st.hit_rate, 0);
    hark_cache_free(c);
    hark_transcript_free(t);
}

TEST(lru_evicts_by_bytes_least_recent_first)
{
    hark_cache *c = NULL;
    hark_cache_statistics st;
    hark_transcript *v[6], *back = NULL;
    uint8_t k[6][32];
    size_t one;

    for (uint32_t i = 0; i < 6; i++) {
        key_of(k[i], i);
        v[i] = value_of(i);
    }
    /* measure one entry's charge, then size the cache for exactly 3 */
    ASSERT_OK(hark_cache_new(&c, NULL, 1 << 20));
    ASSERT_OK(hark_cache_put(c, k[0], "g", v[0]));
    ASSERT_OK(hark_cache_stats(c, &st));
    one = (size_t)st.l1_bytes;
    hark_cache_free(c);

    ASSERT_OK(hark_cache_new(&c, NULL, 3 * one + one / 2));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(hark_cache_put(c, k[i], "g", v[i]));
    ASSERT_OK(hark_cache_get(c, k[0], &back)); /* 0 becomes the most recent */
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_put(c, k[3], "g", v[3])); /* evicts 1, the least recent */
    ASSERT_ERR(hark_cache_get(c, k[1], &back), HARK_ENOTFOUND);
    ASSERT_OK(hark_cache_get(c, k[0], &back));
    ASSERT_EQ(value_id(back), 0);
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_get(c, k[2], &back));
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_get(c, k[3], &back));
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.l1_entries, 3);
    ASSERT(st.l1_bytes <= st.l1_capacity);

    /* replacing a key does not grow the cache */
    ASSERT_OK(hark_cache_put(c, k[3], "g", v[4]));
    ASSERT_OK(hark_cache_get(c, k[3], &back));
    ASSERT_EQ(value_id(back), 4);
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.l1_entries, 3);

    /* an entry larger than the whole cache is not kept, and evicts nothing */
    {
        hark_transcript *big = rich_transcript(200);
        uint8_t kb[32];
        key_of(kb, 99);
        ASSERT_OK(hark_cache_put(c, kb, "g", big));
        ASSERT_ERR(hark_cache_get(c, kb, &back), HARK_ENOTFOUND);
        ASSERT_OK(hark_cache_stats(c, &st));
        ASSERT_EQ(st.l1_entries, 3);
        hark_transcript_free(big);
    }
    hark_cache_free(c);
    for (int i = 0; i < 6; i++)
        hark_transcript_free(v[i]);
}

typedef struct hammer {
    hark_cache *c;
    int thread;
    int errors; /* wrong values or unexpected errors */
    int hits;
    int gets;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    uint64_t rng = (uint64_t)h->thread * 7919 + 17;
    for (int n = 0; n < 3000; n++) {
        uint32_t i = (uint32_t)(harness_rand(&rng) % 200);
        uint8_t key[32];
        hark_transcript *t = NULL;
        int rc;
        key_of(key, i);
        if (harness_rand(&rng) % 4 == 0) {
            hark_transcript *v = value_of(i);
            if (hark_cache_put(h->c, key, i % 2 ? "odd" : "even", v) < 0)
                h->errors++;
            hark_transcript_free(v);
        } else if (h->gets++, (rc = hark_cache_get(h->c, key, &t)) == 0) {
            if (value_id(t) != i) /* a value under the wrong key would be a real bug */
                h->errors++;
            h->hits++;
            hark_transcript_free(t);
        } else if (rc != HARK_ENOTFOUND) {
            h->errors++;
        }
        if (n % 1000 == 999 && h->thread == 0)
            hark_cache_drop_group(h->c, "odd", NULL);
    }
    return NULL;
}

static void run_hammer(hark_cache *c)
{
    pthread_t th[8];
    hammer h[8];
    hark_cache_statistics st;
    int hits = 0, gets = 0;
    for (int i = 0; i < 8; i++) {
        h[i] = (hammer){ c, i, 0, 0, 0 };
        ASSERT_EQ(pthread_create(&th[i], NULL, hammer_thread, &h[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ(h[i].errors, 0);
        hits += h[i].hits;
        gets += h[i].gets;
    }
    ASSERT(hits > 0);
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT(st.l1_bytes <= st.l1_capacity);
    ASSERT_EQ(st.hits + st.misses, gets); /* no lookup lost or counted twice */
    ASSERT_EQ(st.hits, hits);
}

TEST(threads_hammering_l1)
{
    hark_cache *c = NULL;
    ASSERT_OK(hark_cache_new(&c, NULL, 16 * 1024)); /* small: constant eviction */
    run_hammer(c);
    hark_cache_free(c);
}

TEST(threads_hammering_l1_and_l2)
{
    hark_store *s = open_l2();
    hark_cache *c = NULL;
    ASSERT_OK(hark_cache_new(&c, s, 16 * 1024));
    run_hammer(c);
    hark_cache_free(c);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(l2_persists_across_reopen_with_statistics)
{
    hark_store *s = open_l2();
    hark_cache *c = NULL;
    hark_cache_statistics st;
    hark_transcript *t = rich_transcript(5), *back = NULL;
    uint8_t k1[32], k2[32];

    key_of(k1, 1);
    key_of(k2, 2);
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    ASSERT_OK(hark_cache_put(c, k1, "audio-a", t));
    ASSERT_ERR(hark_cache_get(c, k2, &back), HARK_ENOTFOUND);
    ASSERT_OK(hark_cache_get(c, k1, &back));
    hark_transcript_free(back);
    hark_cache_free(c); /* flushes 1 hit, 1 miss */
    hark_store_free(s);

    /* a new run: L1 is empty, L2 answers, counters continue */
    s = open_l2();
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    ASSERT_OK(hark_cache_get(c, k1, &back));
    assert_same_transcript(t, back);
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_get(c, k1, &back)); /* now from L1 */
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.hits, 3);
    ASSERT_EQ(st.misses, 1);
    ASSERT_EQ(st.l1_hits, 1);
    ASSERT_EQ(st.entries, 1);
    ASSERT_NEAR(st.hit_rate, 0.75, 1e-9);
    hark_cache_free(c);

    /* a cache without L1 reads the same L2 */
    ASSERT_OK(hark_cache_new(&c, s, 0));
    ASSERT_OK(hark_cache_get(c, k1, &back));
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.hits, 4);
    ASSERT_EQ(st.l1_entries, 0);
    hark_cache_free(c);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(counters_are_not_written_per_lookup)
{
    hark_store *s = open_l2(), *other = open_l2();
    hark_cache *c = NULL;
    hark_store_cache_counts counts;
    hark_transcript *back = NULL;
    uint8_t k[32];

    key_of(k, 5);
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    for (int i = 0; i < 10; i++)
        ASSERT_ERR(hark_cache_get(c, k, &back), HARK_ENOTFOUND);
    /* another handle does not see them yet: they are batched in memory */
    ASSERT_OK(hark__store_cache_counts(other, 0, 0, &counts));
    ASSERT_EQ(counts.misses, 0);
    for (int i = 0; i < 1000; i++)
        hark_cache_get(c, k, &back);
    ASSERT_OK(hark__store_cache_counts(other, 0, 0, &counts));
    ASSERT_EQ(counts.misses, 1000); /* one flush after 1000 lookups */
    hark_cache_free(c);
    ASSERT_OK(hark__store_cache_counts(other, 0, 0, &counts));
    ASSERT_EQ(counts.misses, 1010);
    hark_store_free(other);
    hark_store_free(s);
}

TEST(clear_drop_group_and_gc)
{
    hark_store *s = open_l2();
    hark_cache *c = NULL;
    hark_cache_statistics st;
    hark_transcript *v = value_of(7), *back = NULL;
    uint8_t k[6][32];
    uint64_t removed = 0;

    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    for (uint32_t i = 0; i < 6; i++) {
        key_of(k[i], i);
        ASSERT_OK(hark_cache_put(c, k[i], i < 4 ? "recording-a" : "recording-b", v));
    }
    ASSERT_OK(hark_cache_drop_group(c, "recording-a", &removed));
    ASSERT_EQ(removed, 4);
    ASSERT_ERR(hark_cache_get(c, k[0], &back), HARK_ENOTFOUND); /* gone from L1 too */
    ASSERT_OK(hark_cache_get(c, k[4], &back));
    hark_transcript_free(back);
    ASSERT_OK(hark_cache_drop_group(c, "no-such-group", &removed));
    ASSERT_EQ(removed, 0);

    /* gc: nothing is older than a cut-off in the past; everything older than the future */
    ASSERT_OK(hark_cache_gc(c, 1000, &removed));
    ASSERT_EQ(removed, 0);
    ASSERT_OK(hark_cache_gc(c, hark__store_now_ms() + 60000, &removed));
    ASSERT_EQ(removed, 2);
    ASSERT_ERR(hark_cache_get(c, k[5], &back), HARK_ENOTFOUND);

    for (uint32_t i = 0; i < 3; i++)
        ASSERT_OK(hark_cache_put(c, k[i], "x", v));
    ASSERT_OK(hark_cache_clear(c));
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.entries, 0);
    ASSERT_EQ(st.l1_entries, 0);
    ASSERT(st.hits > 0); /* counters are kept */
    ASSERT_ERR(hark_cache_get(c, k[1], &back), HARK_ENOTFOUND);
    hark_cache_free(c);
    hark_transcript_free(v);
    hark_store_free(s);
}

TEST(corrupt_value_in_l2_is_ecorrupt_then_a_miss)
{
    hark_store *s = open_l2();
    hark_cache *c = NULL;
    hark_cache_statistics st;
    hark_transcript *back = NULL;
    uint8_t k[32];
    const char junk[] = "hkT\x01 this is not a transcript at all";

    key_of(k, 3);
    ASSERT_OK(hark__store_cache_put(s, k, "g", junk, sizeof(junk)));
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    ASSERT_ERR(hark_cache_get(c, k, &back), HARK_ECORRUPT);
    ASSERT(back == NULL);
    ASSERT_CONTAINS(hark_error_last(), "cached transcript");
    ASSERT_ERR(hark_cache_get(c, k, &back), HARK_ENOTFOUND); /* the bad entry was dropped */
    ASSERT_OK(hark_cache_stats(c, &st));
    ASSERT_EQ(st.misses, 2);
    ASSERT_EQ(st.hits, 0);
    hark_cache_free(c);
    hark_store_free(s);
}

TEST(put_is_durable_across_kill_9)
{
    int fds[2], status;
    uint32_t done[4096];
    size_t n = 0;
    uint32_t i;
    pid_t pid;
    hark_store *s;
    hark_cache *c = NULL;

    harness_tmpdir(); /* before fork: parent and child must share the folder */
    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        hark_store *cs = NULL;
        hark_cache *cc = NULL;
        close(fds[0]);
        if (hark_store_open(&cs, harness_path("cache.db")) < 0 ||
            hark_cache_new(&cc, cs, 1 << 20) < 0)
            _exit(2);
        for (i = 0;; i++) {
            uint8_t key[32];
            hark_transcript *v = value_of(i);
            key_of(key, i);
            if (hark_cache_put(cc, key, "chunks", v) < 0)
                _exit(3);
            hark_transcript_free(v);
            if (write(fds[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(4);
        }
    }
    close(fds[1]);
    /* once the child is writing (the first put has returned), kill it a little later */
    ASSERT_EQ(read(fds[0], &done[n++], sizeof(done[0])), (ssize_t)sizeof(done[0]));
    {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFSIGNALED(status));
    while (n < 4096 && read(fds[0], &done[n], sizeof(done[0])) == (ssize_t)sizeof(done[0]))
        n++;
    close(fds[0]);
    ASSERT(n > 0);

    s = open_l2();
    ASSERT_OK(hark_store_check(s));
    ASSERT_OK(hark_cache_new(&c, s, 1 << 20));
    for (size_t j = 0; j < n; j++) {
        uint8_t key[32];
        hark_transcript *t = NULL;
        key_of(key, done[j]);
        ASSERT_OK(hark_cache_get(c, key, &t));
        ASSERT_EQ(value_id(t), done[j]);
        hark_transcript_free(t);
    }
    printf("  %zu entries put before the kill, all found\n", n);
    hark_cache_free(c);
    hark_store_free(s);
}
