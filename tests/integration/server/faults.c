/*
 * faults.c: keys, limits, misbehaving clients and crashes, against a real
 * `hark serve` on 127.0.0.1.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "client.h"
#include "hark/hark.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static long long upload_as(const server *s, const char *auth, const char *file, long *status)
{
    size_t n;
    char *data = harness_read_file(file, &n);
    const char *h[] = { "Content-Type: audio/wav", auth, NULL };
    reply r;
    json_t *o;
    long long rec = 0;
    r = http(s, "POST", "/v1/recordings", h, data, n);
    *status = r.status;
    o = json_loads(r.body, 0, NULL);
    if (o && json_is_integer(json_object_get(o, "recording")))
        rec = (long long)json_integer_value(json_object_get(o, "recording"));
    json_decref(o);
    reply_free(&r);
    free(data);
    return rec;
}

TEST(keys_are_required_once_one_exists_and_users_see_only_their_own)
{
    server s;
    char alice[160], bob[160], admin[160], path[64];
    long long rec, bob_key;
    long st;
    reply r;
    harness_sh("true");
    /* the database must exist before keys go in: a first start creates it */
    server_start(&s, "--vad off --engine test");
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    server_make_key(s.db, "alice", 0, alice, NULL);
    server_make_key(s.db, "bob", 0, bob, &bob_key);
    server_make_key(s.db, "root", 1, admin, NULL);
    server_start(&s, "--vad off --engine test");

    r = http(&s, "GET", "/v1/recordings", NULL, NULL, 0);
    ASSERT_EQ(r.status, 401);
    ASSERT(reply_header(&r, "WWW-Authenticate") != NULL);
    reply_free(&r);
    {
        const char *h[] = { "Authorization: Bearer hark_0000000000000000000000000000000000000000"
                            "000000000000000000000000",
                            NULL };
        r = http(&s, "GET", "/v1/recordings", h, NULL, 0);
        ASSERT_EQ(r.status, 401);
        ASSERT_CONTAINS(r.body, "not valid");
        reply_free(&r);
    }
    {
        const char *h[] = { "Authorization: Basic YWxpY2U6c2VjcmV0", NULL };
        r = http(&s, "GET", "/v1/recordings", h, NULL, 0);
        ASSERT_EQ(r.status, 401);
        reply_free(&r);
    }
    r = http(&s, "GET", "/health", NULL, NULL, 0); /* health needs no key */
    ASSERT_EQ(r.status, 200);
    reply_free(&r);

    rec = upload_as(&s, alice, tone("a.wav", 1, 440), &st);
    ASSERT_EQ(st, 202);
    snprintf(path, sizeof(path), "/v1/recordings/%lld", rec);
    {
        const char *h[] = { alice, NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 200);
        reply_free(&r);
    }
    {
        const char *h[] = { bob, NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 404); /* exactly as if it did not exist */
        reply_free(&r);
        r = http(&s, "DELETE", path, h, NULL, 0);
        ASSERT_EQ(r.status, 404);
        reply_free(&r);
        r = http(&s, "GET", "/v1/recordings", h, NULL, 0);
        ASSERT_CONTAINS(r.body, "\"recordings\":[]");
        reply_free(&r);
        r = http(&s, "GET", "/v1/jobs/1", h, NULL, 0);
        ASSERT_EQ(r.status, 404);
        reply_free(&r);
        ASSERT_STREQ(wait_job(&s, (const char *const[]){ alice, NULL }, 1, 60000), "done");
        r = http(&s, "GET", "/v1/search?q=f440", h, NULL, 0);
        ASSERT_CONTAINS(r.body, "\"hits\":[]");
        reply_free(&r);
        r = http(&s, "GET", "/v1/admin/audit", h, NULL, 0);
        ASSERT_EQ(r.status, 403);
        reply_free(&r);
    }
    {
        const char *h[] = { admin, NULL };
        r = http(&s, "GET", path, h, NULL, 0);
        ASSERT_EQ(r.status, 200); /* admins see everything */
        reply_free(&r);
        r = http(&s, "GET", "/v1/search?q=f440", (const char *const[]){ alice, NULL }, NULL, 0);
        ASSERT_CONTAINS(r.body, "\"recording\":");
        reply_free(&r);
    }
    { /* a revoked key stops working at once */
        hark_store *db = NULL;
        const char *h[] = { bob, NULL };
        ASSERT_OK(hark_store_open(&db, s.db));
        ASSERT_OK(hark_store_key_revoke(db, bob_key));
        hark_store_free(db);
        r = http(&s, "GET", "/v1/recordings", h, NULL, 0);
        ASSERT_EQ(r.status, 401);
        reply_free(&r);
    }
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(per_key_rate_limits_answer_429_with_retry_after)
{
    server s;
    char key[160];
    int i, limited = 0;
    server_start(&s, "--engine test");
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    server_make_key(s.db, "alice", 0, key, NULL);
    server_start(&s, "--engine test --rate 1 --burst 3");
    for (i = 0; i < 6; i++) {
        const char *h[] = { key, NULL };
        reply r = http(&s, "GET", "/v1/recordings", h, NULL, 0);
        if (r.status == 429) {
            limited++;
            ASSERT_STREQ(reply_header(&r, "Retry-After"), "1");
            ASSERT_CONTAINS(r.body, "rate_limited");
        } else {
            ASSERT_EQ(r.status, 200);
        }
        reply_free(&r);
    }
    ASSERT_MSG(limited >= 2, "only %d of 6 quick requests were limited (burst 3)", limited);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(no_keys_no_listening_beyond_loopback)
{
    int st;
    char *out = harness_sh_output(&st,
                                  "XDG_CONFIG_HOME='%s' '%s' serve --listen 0.0.0.0:0 "
                                  "--db '%s/h.db' --cache-db none --engine test 2>&1",
                                  harness_tmpdir(), harness_hark_bin(), harness_tmpdir());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "without API keys");
    free(out);
}

TEST(a_full_queue_answers_429)
{
    server s;
    long st;
    int i, refused = 0;
    char name[32];
    server_start(&s, "--vad off --engine test --model delay=3000 --max-jobs 1 --workers 1 "
                     "--max-queue 2");
    for (i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "q%d.wav", i);
        upload_as(&s, NULL, tone(name, 1, 300 + 50 * i), &st);
        if (st == 429)
            refused++;
        else
            ASSERT_EQ(st, 202);
    }
    ASSERT_MSG(refused >= 2, "%d of 6 uploads refused with a queue of 2", refused);
    ASSERT_EQ(server_stop(&s, SIGKILL, 20000), 128 + SIGKILL);
}

TEST(a_client_leaving_mid_upload_leaves_nothing)
{
    server s;
    int fd, i;
    char *out;
    reply r;
    const char head[] = "POST /v1/recordings HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
                        "Content-Length: 1000000\r\n\r\n";
    char junk[8192];
    int st;
    server_start(&s, "--engine test");
    fd = tcp_connect(&s);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, head, sizeof(head) - 1), (ssize_t)(sizeof(head) - 1));
    memset(junk, 'x', sizeof(junk));
    for (i = 0; i < 10; i++)
        ASSERT_EQ(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    usleep(200 * 1000);
    close(fd);
    usleep(300 * 1000);
    r = http(&s, "GET", "/v1/recordings", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200); /* still up */
    ASSERT_CONTAINS(r.body, "\"recordings\":[]");
    reply_free(&r);
    out = harness_sh_output(&st, "ls -A '%s/audio/tmp' | wc -l", harness_tmpdir());
    ASSERT_EQ(atoi(out), 0);
    free(out);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

/* Does the server close this connection within `ms`? */
static int closed_within(int fd, unsigned ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    char buf[4096];
    double until = now_ms() + ms;
    while (now_ms() < until) {
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                return 1;
        }
    }
    return 0;
}

TEST(slow_clients_are_cut_off)
{
    server s;
    int fd, fd2, i;
    reply r;
    server_start(&s, "--engine test --header-timeout 1s --body-timeout 1s");
    /* headers trickling in, a byte every 200 ms: MHD's inactivity timeout never fires */
    fd = tcp_connect(&s);
    ASSERT(fd >= 0);
    fd2 = tcp_connect(&s);
    ASSERT(fd2 >= 0);
    {
        const char h[] =
            "POST /v1/recordings HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
        ASSERT_EQ(write(fd2, h, sizeof(h) - 1), (ssize_t)(sizeof(h) - 1));
    }
    for (i = 0; i < 8; i++) {
        if (send(fd, "G", 1, MSG_NOSIGNAL) != 1 || send(fd2, "x", 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(200 * 1000);
    }
    ASSERT_MSG(closed_within(fd, 3000), "a client sending its headers slowly was not cut off");
    ASSERT_MSG(closed_within(fd2, 3000), "a client sending its body slowly was not cut off");
    close(fd);
    close(fd2);
    r = http(&s, "GET", "/metrics", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "hark_http_slow_clients_closed_total 2\n");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}

TEST(ten_thousand_idle_connections_do_not_stop_it)
{
    server s;
    struct rlimit rl;
    int *fds, i, n = 10000, opened = 0;
    double t0;
    reply r;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max < (rlim_t)n + 100)
        SKIP("the file descriptor limit (%llu) is below 10,100", (unsigned long long)rl.rlim_max);
    rl.rlim_cur = (rlim_t)n + 100;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    harness_timeout(300);
    server_start(&s, "--engine test");
    fds = calloc((size_t)n, sizeof(int));
    for (i = 0; i < n; i++) {
        fds[i] = tcp_connect(&s);
        if (fds[i] >= 0)
            opened++;
    }
    ASSERT_EQ(opened, n);
    t0 = now_ms();
    r = http(&s, "GET", "/health", NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    fprintf(stderr, "  /health with %d idle connections open: %.1f ms\n", n, now_ms() - t0);
    r = http(&s, "GET", "/metrics", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "hark_http_connections 10001\n");
    reply_free(&r);
    for (i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    ASSERT_EQ(server_stop(&s, SIGTERM, 30000), 0);
}

/* The transcript text of recording `rec`. */
static char *transcript(const server *s, long long rec)
{
    char path[96];
    reply r;
    char *t;
    snprintf(path, sizeof(path), "/v1/recordings/%lld/transcript?format=tsv", rec);
    r = http(s, "GET", path, NULL, NULL, 0);
    ASSERT_EQ(r.status, 200);
    t = strdup(r.body);
    reply_free(&r);
    return t;
}

/* Transcribe `wav` on a fresh server without interruption: the reference transcript. */
static char *reference(const char *wav)
{
    server s;
    long st;
    long long rec;
    char *t;
    server_start_at(&s, "reference.db", "--vad off --engine test");
    rec = upload_as(&s, NULL, wav, &st);
    ASSERT_EQ(st, 202);
    ASSERT_STREQ(wait_job(&s, NULL, 1, 120000), "done");
    t = transcript(&s, rec);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    return t;
}

/* Wait until job 1 has at least `n` chunks done. */
static void wait_chunks(const server *s, int n)
{
    double until = now_ms() + 60000;
    char want[64];
    snprintf(want, sizeof(want), "\"chunks_done\":%d", n);
    while (now_ms() < until) {
        reply r = http(s, "GET", "/v1/jobs/1", NULL, NULL, 0);
        json_t *o = json_loads(r.body, 0, NULL);
        json_t *d = json_object_get(json_object_get(o, "progress"), "chunks_done");
        int done = json_is_integer(d) && json_integer_value(d) >= n;
        json_decref(o);
        reply_free(&r);
        if (done)
            return;
        usleep(20000);
    }
    harness_fail(__FILE__, __LINE__, "job 1 never had %d chunks done", n);
}

TEST(kill_9_mid_job_then_restart_finishes_it_identically)
{
    server s;
    long st;
    long long rec;
    char *want, *got;
    const char *wav = tone("long.wav", 150, 440);
    reply r;
    harness_timeout(300);
    want = reference(wav);
    server_start(&s, "--vad off --engine test --model delay=1000 --workers 1");
    rec = upload_as(&s, NULL, wav, &st);
    ASSERT_EQ(st, 202);
    wait_chunks(&s, 1);
    ASSERT_EQ(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
    /* restart: the job is taken over (its runner's process is gone) and finishes */
    server_start(&s, "--vad off --engine test --model delay=1000 --workers 1");
    ASSERT_STREQ(wait_job(&s, NULL, 1, 120000), "done");
    got = transcript(&s, rec);
    ASSERT_STREQ(got, want);
    r = http(&s, "GET", "/v1/jobs/1", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"chunks_failed\":0");
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    free(got);
    free(want);
}

TEST(sigterm_hands_running_work_back_and_exits_0)
{
    server s;
    long st;
    long long rec;
    char *want, *got, *log;
    double t0;
    const char *wav = tone("long.wav", 150, 440);
    harness_timeout(300);
    want = reference(wav);
    server_start(&s, "--vad off --engine test --model delay=1500 --workers 1 "
                     "--shutdown-grace 200ms");
    rec = upload_as(&s, NULL, wav, &st);
    ASSERT_EQ(st, 202);
    wait_chunks(&s, 1);
    t0 = now_ms();
    ASSERT_EQ(server_stop(&s, SIGTERM, 15000), 0);
    ASSERT_MSG(now_ms() - t0 < 10000, "SIGTERM took %.0f ms", now_ms() - t0);
    log = server_log(&s);
    ASSERT_CONTAINS(log, "handed back to the queue");
    free(log);
    server_start(&s, "--vad off --engine test --workers 1");
    ASSERT_STREQ(wait_job(&s, NULL, 1, 120000), "done");
    got = transcript(&s, rec);
    ASSERT_STREQ(got, want);
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
    free(got);
    free(want);
}

TEST(a_short_upload_is_not_stuck_behind_a_long_one)
{
    server s;
    long st;
    reply r;
    harness_timeout(300);
    server_start(&s, "--vad off --engine test --model delay=300 --workers 1");
    upload_as(&s, NULL, tone("long.wav", 600, 440), &st);
    ASSERT_EQ(st, 202);
    upload_as(&s, NULL, tone("short.wav", 10, 660), &st);
    ASSERT_EQ(st, 202);
    ASSERT_STREQ(wait_job(&s, NULL, 2, 60000), "done");
    r = http(&s, "GET", "/v1/jobs/1", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"state\":\"running\""); /* the long one is still going */
    reply_free(&r);
    ASSERT_EQ(server_stop(&s, SIGKILL, 20000), 128 + SIGKILL);
}

TEST(the_model_loads_on_first_use_and_unloads_when_idle)
{
    server s;
    long st;
    reply r;
    double until;
    int unloaded = 0;
    server_start(&s, "--vad off --engine test --model-idle 1s");
    r = http(&s, "GET", "/health/ready", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "\"model_loaded\":false");
    reply_free(&r);
    upload_as(&s, NULL, tone("a.wav", 2, 440), &st);
    ASSERT_STREQ(wait_job(&s, NULL, 1, 60000), "done");
    r = http(&s, "GET", "/metrics", NULL, NULL, 0);
    ASSERT_CONTAINS(r.body, "hark_model_loaded 1\n");
    reply_free(&r);
    until = now_ms() + 10000;
    while (!unloaded && now_ms() < until) {
        r = http(&s, "GET", "/health/ready", NULL, NULL, 0);
        unloaded = strstr(r.body, "\"model_loaded\":false") != NULL;
        reply_free(&r);
        usleep(100 * 1000);
    }
    ASSERT_MSG(unloaded, "the model was still loaded 10 s after the last job (idle 1 s)");
    ASSERT_EQ(server_stop(&s, SIGTERM, 20000), 0);
}
