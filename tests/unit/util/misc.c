#include <stdatomic.h>

#include "harness.h"
#include "util/arena.h"
#include "util/pool.h"
#include "util/util.h"

TEST(sha256_known_vectors)
{
    uint8_t d[32];
    char hex[65];
    hark_sha256 h;
    ASSERT_OK(hark_sha256_buf(d, "abc", 3));
    hark_hex(hex, d, 32);
    ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ASSERT_OK(hark_sha256_init(&h));
    ASSERT_OK(hark_sha256_update(&h, "a", 1));
    ASSERT_OK(hark_sha256_update(&h, "bc", 2));
    ASSERT_OK(hark_sha256_final(&h, d));
    hark_hex(hex, d, 32);
    ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(arena_keeps_pointers_stable_and_aligned)
{
    hark_arena a = HARK_ARENA_INIT;
    char *first = hark_arena_strdup(&a, "first");
    int i;
    for (i = 0; i < 10000; i++) {
        void *p = hark_arena_alloc(&a, (size_t)(i % 100) + 1);
        ASSERT(p != NULL);
        ASSERT_EQ((uintptr_t)p % 16, 0);
    }
    ASSERT(hark_arena_alloc(&a, 5u << 20) != NULL); /* larger than any block */
    ASSERT_STREQ(first, "first");
    hark_arena_dispose(&a);
}

typedef struct sum_job {
    double *out;
    int n;
} sum_job;

static void square_task(void *payload, int task, int worker)
{
    sum_job *j = payload;
    (void)worker;
    j->out[task] = (double)task * task;
}

TEST(pool_runs_every_task_once_for_any_thread_count)
{
    int threads, rep, i;
    double out[1000];
    for (threads = 1; threads <= 4; threads++) {
        hark_pool *p = NULL;
        ASSERT_OK(hark_pool_new(&p, threads));
        ASSERT_EQ(hark_pool_threads(p), threads);
        for (rep = 0; rep < 200; rep++) {
            sum_job j = { out, 1000 };
            memset(out, 0, sizeof(out));
            hark_pool_run(p, 1000 - rep, square_task, &j);
            for (i = 0; i < 1000 - rep; i++)
                ASSERT_EQ(out[i], (double)i * i);
        }
        hark_pool_free(p);
    }
}

static int abort_after_100ms(void *payload)
{
    return hark__now_ms() - *(double *)payload > 100;
}

TEST(sleep_ms_wakes_early_on_abort)
{
    double t0 = hark__now_ms();
    ASSERT_EQ(hark__sleep_ms(5000, abort_after_100ms, &t0), 1);
    ASSERT_LT(hark__now_ms() - t0, 1000);
    t0 = hark__now_ms();
    ASSERT_EQ(hark__sleep_ms(30, NULL, NULL), 0);
    ASSERT_LE(30, hark__now_ms() - t0);
}
