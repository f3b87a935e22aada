/*
 * ring.c: the single-producer/single-consumer ring (src/util/ring.c):
 * capacity rounding, wraparound of positions and of the counters, overrun
 * counting, and two threads: nothing lost when the producer never overfills
 * it, and whole blocks or counted drops when it does.
 */
#include <pthread.h>
#include <sched.h>

#include "harness.h"
#include "util/ring.h"
#include "util/util.h"

TEST(ring_capacity_is_a_power_of_two)
{
    hark__ring r;
    ASSERT_OK(hark__ring_init(&r, 1000));
    ASSERT_EQ(r.cap, 1024);
    ASSERT_EQ(hark__ring_used(&r), 0);
    ASSERT_EQ(hark__ring_free_space(&r), 1024);
    hark__ring_dispose(&r);
    ASSERT_OK(hark__ring_init(&r, 1));
    ASSERT_EQ(r.cap, 16);
    hark__ring_dispose(&r);
    ASSERT_OK(hark__ring_init(&r, 4096));
    ASSERT_EQ(r.cap, 4096);
    hark__ring_dispose(&r);
    hark__ring_dispose(&r); /* twice is fine */
    ASSERT_ERR(hark__ring_init(&r, 0), HARK_EINVAL);
}

TEST(ring_wraps_around_and_keeps_the_bytes_in_order)
{
    hark__ring r;
    unsigned char in[7], out[16];
    unsigned k, i, next_in = 0, next_out = 0;
    ASSERT_OK(hark__ring_init(&r, 16));
    for (k = 0; k < 1000; k++) { /* 7 in, then 5 or 9 out: the positions wrap many times */
        for (i = 0; i < sizeof(in); i++)
            in[i] = (unsigned char)(next_in++);
        if (hark__ring_free_space(&r) >= sizeof(in))
            ASSERT_EQ(hark__ring_write(&r, in, sizeof(in)), sizeof(in));
        else
            next_in -= (unsigned)sizeof(in);
        {
            size_t n = hark__ring_read(&r, out, k % 2 ? 9 : 5);
            for (i = 0; i < n; i++)
                ASSERT_EQ(out[i], (unsigned char)(next_out++));
        }
    }
    ASSERT_EQ(hark__ring_overruns(&r), 0);
    ASSERT_EQ(next_in - next_out, hark__ring_used(&r));
    hark__ring_dispose(&r);
}

TEST(ring_counters_wrap_past_size_max)
{
    hark__ring r;
    unsigned char in[12], out[12];
    unsigned i, k;
    ASSERT_OK(hark__ring_init(&r, 16));
    atomic_store(&r.head, SIZE_MAX - 20);
    atomic_store(&r.tail, SIZE_MAX - 20);
    for (k = 0; k < 10; k++) {
        for (i = 0; i < sizeof(in); i++)
            in[i] = (unsigned char)(k * 31 + i);
        ASSERT_EQ(hark__ring_write(&r, in, sizeof(in)), sizeof(in));
        ASSERT_EQ(hark__ring_used(&r), sizeof(in));
        ASSERT_EQ(hark__ring_free_space(&r), 16 - sizeof(in));
        ASSERT_EQ(hark__ring_read(&r, out, sizeof(out)), sizeof(out));
        ASSERT(memcmp(in, out, sizeof(in)) == 0);
    }
    ASSERT(atomic_load(&r.head) < 1000); /* it did wrap */
    hark__ring_dispose(&r);
}

TEST(ring_full_drops_the_newest_block_and_counts_it)
{
    hark__ring r;
    unsigned char a[10], b[8], out[32];
    memset(a, 'a', sizeof(a));
    memset(b, 'b', sizeof(b));
    ASSERT_OK(hark__ring_init(&r, 16));
    ASSERT_EQ(hark__ring_write(&r, a, sizeof(a)), 10);
    ASSERT_EQ(hark__ring_write(&r, b, sizeof(b)), 0); /* 8 > 6 free: dropped whole */
    ASSERT_EQ(hark__ring_overruns(&r), 1);
    ASSERT_EQ(hark__ring_dropped(&r), 8);
    ASSERT_EQ(hark__ring_write(&r, b, 6), 6); /* exactly fills it */
    ASSERT_EQ(hark__ring_free_space(&r), 0);
    ASSERT_EQ(hark__ring_write(&r, b, 1), 0);
    ASSERT_EQ(hark__ring_write(&r, b, 0), 0); /* nothing to drop: not counted */
    ASSERT_EQ(hark__ring_overruns(&r), 2);
    ASSERT_EQ(hark__ring_dropped(&r), 9);
    /* what was kept is intact: the old data, never overwritten by the new */
    ASSERT_EQ(hark__ring_read(&r, out, sizeof(out)), 16);
    ASSERT(memcmp(out, a, 10) == 0);
    ASSERT(memcmp(out + 10, b, 6) == 0);
    /* a block larger than the whole ring never fits */
    ASSERT_EQ(hark__ring_write(&r, out, 17), 0);
    ASSERT_EQ(hark__ring_overruns(&r), 3);
    ASSERT_EQ(hark__ring_dropped(&r), 26);
    hark__ring_dispose(&r);
}

/* ---- two threads ---------------------------------------------------------------------- */

#define BLOCKS 200000u

typedef struct shared {
    hark__ring ring;
    int wait_for_room; /* producer waits instead of overrunning */
    uint64_t written;  /* blocks written (producer) */
    atomic_int done;
} shared;

/* A block: its number, its length in 32-bit words (2..33), then (number + i) for each word. */
static void *producer(void *arg)
{
    shared *s = arg;
    uint32_t blk[40];
    uint32_t seq, i;
    for (seq = 0; seq < BLOCKS; seq++) {
        uint32_t len = 2 + (seq * 7919u) % 32u;
        blk[0] = seq;
        blk[1] = len;
        for (i = 2; i < len; i++)
            blk[i] = seq + i;
        if (s->wait_for_room)
            while (hark__ring_free_space(&s->ring) < len * 4u)
                sched_yield();
        if (hark__ring_write(&s->ring, blk, len * 4u) == len * 4u)
            s->written++;
    }
    atomic_store(&s->done, 1);
    return NULL;
}

/* Reads blocks in pieces of odd sizes; checks each block is whole and numbers only grow.
 * Returns the number of blocks received. */
static uint64_t consume(shared *s, int expect_all)
{
    static uint32_t buf[64];
    size_t have = 0; /* bytes in buf */
    uint64_t got = 0;
    int64_t last = -1;
    unsigned step = 0;
    for (;;) {
        int finished = atomic_load(&s->done);
        size_t want = 4 + (step++ * 13u) % 60u; /* bytes, not a multiple of a block */
        size_t n;
        if (want > sizeof(buf) - have)
            want = sizeof(buf) - have;
        n = hark__ring_read(&s->ring, (unsigned char *)buf + have, want);
        have += n;
        while (have >= 8 && have >= buf[1] * 4u) {
            uint32_t len = buf[1], i;
            ASSERT(len >= 2 && len <= 33);
            ASSERT((int64_t)buf[0] > last);
            if (expect_all)
                ASSERT_EQ(buf[0], last + 1);
            for (i = 2; i < len; i++)
                ASSERT_EQ(buf[i], buf[0] + i);
            last = buf[0];
            got++;
            memmove(buf, buf + len, have - len * 4u);
            have -= len * 4u;
        }
        if (n == 0) {
            if (finished && hark__ring_used(&s->ring) == 0)
                break;
            sched_yield();
        }
    }
    ASSERT_EQ(have, 0);
    return got;
}

TEST(ring_threads_lose_nothing_when_not_full)
{
    shared s;
    pthread_t th;
    uint64_t got;
    memset(&s, 0, sizeof(s));
    harness_timeout(300);
    ASSERT_OK(hark__ring_init(&s.ring, 256)); /* small: wraps constantly */
    s.wait_for_room = 1;
    ASSERT_EQ(pthread_create(&th, NULL, producer, &s), 0);
    got = consume(&s, 1);
    pthread_join(th, NULL);
    ASSERT_EQ(got, BLOCKS);
    ASSERT_EQ(s.written, BLOCKS);
    ASSERT_EQ(hark__ring_overruns(&s.ring), 0);
    ASSERT_EQ(hark__ring_dropped(&s.ring), 0);
    hark__ring_dispose(&s.ring);
}

TEST(ring_threads_overrun_drops_whole_blocks_and_counts_them)
{
    shared s;
    pthread_t th;
    uint64_t got;
    memset(&s, 0, sizeof(s));
    harness_timeout(300);
    ASSERT_OK(hark__ring_init(&s.ring, 128)); /* a producer that never waits overruns it */
    ASSERT_EQ(pthread_create(&th, NULL, producer, &s), 0);
    got = consume(&s, 0);
    pthread_join(th, NULL);
    ASSERT_EQ(got, s.written);
    ASSERT_EQ(got + hark__ring_overruns(&s.ring), BLOCKS);
    printf("ring: %llu of %u blocks dropped (counted)\n",
           (unsigned long long)hark__ring_overruns(&s.ring), BLOCKS);
    hark__ring_dispose(&s.ring);
}
