/*
 * pull.c: hark_models_pull against a real HTTP server on 127.0.0.1 (server.c)
 * serving a generated ~3.5 MB ggml Whisper model: resume with Range, servers
 * that ignore Range, dropped and stalled connections, 404/503, corruption,
 * redirects, offline, a full disk, cancellation, concurrent pulls.
 *
 * Never touches the real network: every URL is 127.0.0.1, except one lookup
 * of a name under the reserved .invalid TLD (RFC 6761), which cannot resolve.
 * The expected checksum of the generated file is passed in
 * hark_models_pull_options.sha256, the documented override for files the
 * catalog does not know.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "harness.h"
#include "server.h"
#include "asr/models.h"
#include "../../fixtures/ggml_gen.h"

typedef struct fixture {
    test_server *ts;
    hark_buf model;  /* the file the server serves */
    char sha256[65]; /* its digest */
    char dir[1024];  /* HARK_MODELS_DIR */
    char path[1100]; /* <dir>/ggml-test.bin */
    char part[1200]; /* <path>.part */
} fixture;

static fixture *setup(void)
{
    static fixture f;
    static const char *const proxies[] = { "http_proxy",  "https_proxy", "HTTP_PROXY",
                                           "HTTPS_PROXY", "ALL_PROXY",   "all_proxy" };
    ggml_gen g = ggml_gen_default();
    uint8_t d[32];
    size_t i;
    for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
    unsetenv("HARK_MODELS_URL");
    memset(&f, 0, sizeof(f));
    snprintf(f.dir, sizeof(f.dir), "%s", harness_path("models"));
    setenv("HARK_MODELS_DIR", f.dir, 1);
    snprintf(f.path, sizeof(f.path), "%s/ggml-test.bin", f.dir);
    snprintf(f.part, sizeof(f.part), "%s.part", f.path);
    ASSERT(ggml_gen_write(&f.model, &g) == 0);
    ASSERT_OK(hark_sha256_buf(d, f.model.ptr, f.model.len));
    hark_hex(f.sha256, d, 32);
    f.ts = ts_start();
    ts_add_file(f.ts, "/ggml-test.bin", f.model.ptr, f.model.len);
    return &f;
}

static void teardown(fixture *f)
{
    ts_stop(f->ts);
    hark_buf_dispose(&f->model);
}

static hark_models_pull_options options(const fixture *f)
{
    hark_models_pull_options o;
    hark_models_pull_options_default(&o);
    o.base_url = ts_url(f->ts);
    o.sha256 = f->sha256;
    o.max_retries = 0;
    o.retry_delay_ms = 10;
    o.connect_timeout_ms = 3000;
    return o;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX; /* MAX = missing */
}

static void assert_installed(const fixture *f)
{
    size_t len = 0;
    char *got = harness_read_file(f->path, &len);
    ASSERT_MSG(got != NULL, "%s missing", f->path);
    ASSERT_EQ(len, f->model.len);
    ASSERT(memcmp(got, f->model.ptr, len) == 0);
    free(got);
    ASSERT_EQ(file_size(f->part), UINT64_MAX);
}

/* ---- progress recording ---------------------------------------------------------------------- */

typedef struct recorder {
    int calls;
    int phases[64]; /* distinct phases in order */
    int n_phases;
    uint64_t last_done, last_total;
    int went_back;     /* done decreased within the downloading phase */
    uint64_t abort_at; /* abort once done >= this, 0 = never */
} recorder;

static void on_progress(const hark_models_progress *p, void *payload)
{
    recorder *r = payload;
    if (r->n_phases == 0 || r->phases[r->n_phases - 1] != (int)p->phase) {
        if (r->n_phases < 64)
            r->phases[r->n_phases++] = (int)p->phase;
    } else if (p->phase == HARK_MODELS_PHASE_DOWNLOADING && p->done < r->last_done) {
        r->went_back = 1;
    }
    ASSERT_STREQ(p->name, "test");
    r->calls++;
    r->last_done = p->done;
    r->last_total = p->total;
}

static int on_abort(void *payload)
{
    recorder *r = payload;
    return r->abort_at && r->last_done >= r->abort_at;
}

/* ---- tests --------------------------------------------------------------------------------- */

TEST(pull_downloads_verifies_and_installs)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    hark_buf path = HARK_BUF_INIT;
    recorder rec = { 0 };
    o.progress = on_progress;
    o.payload = &rec;
    ASSERT_OK(hark_models_pull(&path, &res, "test", &o));
    ASSERT_STREQ(path.ptr, f->path);
    assert_installed(f);
    ASSERT_EQ(res.already_installed, 0);
    ASSERT_EQ(res.size, f->model.len);
    ASSERT_EQ(res.downloaded, f->model.len);
    ASSERT_EQ(res.resumed_from, 0);
    ASSERT_EQ(res.requests, 1);
    ASSERT_STREQ(res.sha256, f->sha256);
    ASSERT_STREQ(res.sha1, ""); /* a SHA-256 is known: no need for SHA-1 */
    /* progress: connecting, downloading, verifying, done; done never goes back */
    ASSERT_EQ(rec.n_phases, 4);
    ASSERT_EQ(rec.phases[0], HARK_MODELS_PHASE_CONNECTING);
    ASSERT_EQ(rec.phases[1], HARK_MODELS_PHASE_DOWNLOADING);
    ASSERT_EQ(rec.phases[2], HARK_MODELS_PHASE_VERIFYING);
    ASSERT_EQ(rec.phases[3], HARK_MODELS_PHASE_DONE);
    ASSERT_EQ(rec.went_back, 0);
    ASSERT_EQ(rec.last_done, f->model.len);
    ASSERT_EQ(rec.last_total, f->model.len);
    /* the installed file passes the structural check */
    {
        hark_model_header h;
        ASSERT_OK(hark_model_inspect(&h, f->path));
    }
    hark_buf_dispose(&path);
    teardown(f);
}

TEST(pull_of_an_installed_model_makes_no_request)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ASSERT_OK(hark_models_pull(NULL, NULL, "test", &o));
    ASSERT_OK(hark_models_pull(NULL, &res, "ggml-test.bin", &o));
    ASSERT_EQ(res.already_installed, 1);
    ASSERT_EQ(res.requests, 0);
    ASSERT_EQ(ts_counts(f->ts).requests, 1);
    o.force = 1; /* unless forced */
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.already_installed, 0);
    ASSERT_EQ(ts_counts(f->ts).requests, 2);
    assert_installed(f);
    teardown(f);
}

TEST(dropped_connection_resumes_with_a_range_request)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_behaviour b = ts_normal();
    uint64_t half = f->model.len / 2;
    ts_counters c;
    b.drop_after = (int64_t)half;
    b.drop_times = 1;
    ts_configure(f->ts, &b);

    ASSERT_ERR(hark_models_pull(NULL, &res, "test", &o), HARK_ENETWORK);
    ASSERT_CONTAINS(hark_error_last(), "cannot download test: the connection to 127.0.0.1:");
    ASSERT_CONTAINS(hark_error_last(), "pull again to resume");
    ASSERT_EQ(file_size(f->part), half);       /* kept for the resume */
    ASSERT_EQ(file_size(f->path), UINT64_MAX); /* nothing under the final name */

    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    assert_installed(f);
    ASSERT_EQ(res.resumed_from, half);
    ASSERT_EQ(res.downloaded, f->model.len - half);
    ASSERT_EQ(res.range_ignored, 0);
    c = ts_counts(f->ts);
    ASSERT_EQ(c.requests, 2);
    ASSERT_EQ(c.range_requests, 1);
    ASSERT_EQ(c.last_range, half);
    ASSERT_LT((double)c.body_bytes, 1.5 * (double)f->model.len);
    teardown(f);
}

TEST(dropped_connection_is_retried_within_one_pull)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_behaviour b = ts_normal();
    b.drop_after = (int64_t)(f->model.len / 3);
    b.drop_times = 2;
    ts_configure(f->ts, &b);
    o.max_retries = 2;
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    assert_installed(f);
    ASSERT_EQ(res.requests, 3);
    ASSERT_EQ(ts_counts(f->ts).range_requests, 2);
    ASSERT_LT((double)ts_counts(f->ts).body_bytes, 1.5 * (double)f->model.len);
    teardown(f);
}

TEST(server_ignoring_range_still_gives_the_right_file)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_behaviour b = ts_normal();
    b.drop_after = (int64_t)(f->model.len / 2);
    b.drop_times = 1;
    b.ignore_range = 1;
    ts_configure(f->ts, &b);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENETWORK);
    ASSERT_EQ(file_size(f->part), f->model.len / 2);
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o)); /* asks for a range, gets 200 */
    assert_installed(f);
    ASSERT_EQ(res.range_ignored, 1);
    ASSERT_EQ(res.resumed_from, 0);
    ASSERT_EQ(res.downloaded, f->model.len);
    ASSERT_EQ(ts_counts(f->ts).range_requests, 1);
    teardown(f);
}

TEST(a_range_answer_at_the_wrong_offset_restarts_cleanly)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_behaviour b = ts_normal();
    b.drop_after = (int64_t)(f->model.len / 2);
    b.drop_times = 1;
    b.wrong_range = 1;
    ts_configure(f->ts, &b);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENETWORK);
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    assert_installed(f);
    ASSERT_EQ(res.requests, 2); /* the bad 206, then the whole file */
    ASSERT_EQ(res.resumed_from, 0);
    teardown(f);
}

TEST(http_404_is_not_found)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "nosuchmodel", &o), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "cannot download nosuchmodel:");
    ASSERT_CONTAINS(hark_error_last(), "/ggml-nosuchmodel.bin: HTTP 404");
    ASSERT_CONTAINS(hark_error_last(), "not a known model");
    ASSERT_EQ(file_size(harness_path("models/ggml-nosuchmodel.bin.part")), UINT64_MAX);
    ASSERT_EQ(file_size(harness_path("models/ggml-nosuchmodel.bin")), UINT64_MAX);
    teardown(f);
}

TEST(http_5xx_is_a_network_error)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    ts_behaviour b = ts_normal();
    b.status = 503;
    ts_configure(f->ts, &b);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENETWORK);
    ASSERT_CONTAINS(hark_error_last(), "answered HTTP 503 (server error, try again later)");
    ASSERT_EQ(file_size(f->part), UINT64_MAX);
    b.status = 403;
    ts_configure(f->ts, &b);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_EAUTH);
    teardown(f);
}

TEST(corrupted_bytes_fail_the_checksum_and_leave_nothing)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    ts_behaviour b = ts_normal();
    b.corrupt_at = (int64_t)(f->model.len / 3);
    ts_configure(f->ts, &b);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "cannot download test: checksum mismatch: SHA-256 is");
    ASSERT_CONTAINS(hark_error_last(), f->sha256);
    ASSERT_CONTAINS(hark_error_last(), "or check the mirror");
    ASSERT_EQ(file_size(f->path), UINT64_MAX);
    ASSERT_EQ(file_size(f->part), UINT64_MAX); /* a poisoned part is not kept */
    ts_configure(f->ts, &(ts_behaviour){ -1, 0, -1, 0, 0, 0, -1, 0 });
    ASSERT_OK(hark_models_pull(NULL, NULL, "test", &o));
    assert_installed(f);
    teardown(f);
}

TEST(sha1_is_checked_when_it_is_the_only_checksum)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char sha1[41];
    ASSERT(EVP_Digest(f->model.ptr, f->model.len, d, &n, EVP_sha1(), NULL) == 1 && n == 20);
    hark_hex(sha1, d, 20);
    o.sha256 = NULL;
    o.sha1 = sha1;
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_STREQ(res.sha1, sha1);
    ASSERT_STREQ(res.sha256, f->sha256);
    sha1[0] = sha1[0] == '0' ? '1' : '0';
    o.force = 1;
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "checksum mismatch: SHA-1 is");
    assert_installed(f); /* the installed file was not touched */
    teardown(f);
}

TEST(without_a_checksum_the_structure_is_checked)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    size_t cut = f->model.len - 1000;
    ts_add_file(f->ts, "/ggml-cut.bin", f->model.ptr, cut); /* complete HTTP, truncated model */
    o.sha256 = NULL;
    ASSERT_ERR(hark_models_pull(NULL, NULL, "cut", &o), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "cannot download cut: the downloaded file is not a valid "
                                       "Whisper model (truncated: tensor "
                                       "'decoder.token_embedding.weight'");
    ASSERT_EQ(file_size(harness_path("models/ggml-cut.bin")), UINT64_MAX);
    ASSERT_EQ(file_size(harness_path("models/ggml-cut.bin.part")), UINT64_MAX);
    ASSERT_OK(hark_models_pull(NULL, NULL, "test", &o)); /* the good one is accepted */
    assert_installed(f);
    teardown(f);
}

TEST(catalog_models_are_checked_against_the_catalog)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_buf path = HARK_BUF_INIT;
    ts_add_file(f->ts, "/ggml-base.en.bin", f->model.ptr, f->model.len);
    /* a mirror serving another file as base.en: the catalog size gives it away at once */
    o.sha256 = NULL;
    ASSERT_ERR(hark_models_pull(NULL, NULL, "base.en", &o), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "the server offers a file of 3.");
    ASSERT_CONTAINS(hark_error_last(), "expected 141.1 MiB (147964211 bytes)");
    ASSERT_EQ(file_size(harness_path("models/ggml-base.en.bin.part")), UINT64_MAX);
    /* the documented override: expected values from the options replace the catalog's */
    o.sha256 = f->sha256;
    ASSERT_OK(hark_models_pull(&path, NULL, "base.en", &o));
    ASSERT_CONTAINS(path.ptr, "/models/ggml-base.en.bin");
    hark_buf_dispose(&path);
    teardown(f);
}

TEST(hark_models_url_selects_the_mirror)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    char url[128];
    snprintf(url, sizeof(url), "%s/", ts_url(f->ts)); /* trailing slash is fine */
    setenv("HARK_MODELS_URL", url, 1);
    o.base_url = NULL;
    ASSERT_OK(hark_models_pull(NULL, NULL, "test", &o));
    assert_installed(f);
    teardown(f);
}

TEST(redirects_are_followed)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_add_file(f->ts, "/cdn/blob-1234", f->model.ptr, f->model.len);
    ts_add_redirect(f->ts, "/ggml-redir.bin", "/cdn/blob-1234");
    ASSERT_OK(hark_models_pull(NULL, &res, "redir", &o));
    ASSERT_EQ(ts_counts(f->ts).requests, 2);
    ASSERT_EQ(res.requests, 1);
    ASSERT_EQ(file_size(harness_path("models/ggml-redir.bin")), f->model.len);
    teardown(f);
}

TEST(offline_connection_refused_fails_fast)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char url[64];
    double t0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    /* a port that was free a moment ago and has nobody listening */
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    ASSERT(getsockname(s, (struct sockaddr *)&a, &alen) == 0);
    close(s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    o.base_url = url;
    o.max_retries = 3; /* nothing was received: no retries, no waiting */
    o.retry_delay_ms = 5000;
    t0 = hark__now_ms();
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENETWORK);
    ASSERT_LT(hark__now_ms() - t0, 3000);
    ASSERT_CONTAINS(hark_error_last(), "cannot download test: cannot connect to 127.0.0.1:");
    ASSERT_CONTAINS(hark_error_last(), "(offline, or the server is down)");
    ASSERT_EQ(file_size(f->part), UINT64_MAX);
    teardown(f);
}

TEST(offline_unresolvable_host_fails_fast)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    double t0;
    o.base_url = "http://hark-test.invalid/models"; /* RFC 6761: never resolves */
    t0 = hark__now_ms();
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENETWORK);
    ASSERT_LT(hark__now_ms() - t0, 10000);
    ASSERT_STREQ(hark_error_last(),
                 "cannot download test: could not resolve host hark-test.invalid (offline?)");
    teardown(f);
}

TEST(stalled_transfer_times_out_and_resumes_later)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_behaviour b = ts_normal();
    uint64_t some = 64 * 1024;
    double t0;
    /* libcurl averages the speed over a few seconds: a small burst keeps that average low */
    b.stall_after = (int64_t)some;
    ts_configure(f->ts, &b);
    o.stall_bytes_per_sec = 100000;
    o.stall_seconds = 1;
    t0 = hark__now_ms();
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ETIMEOUT);
    ASSERT_LT(hark__now_ms() - t0, 8000);
    ASSERT_CONTAINS(hark_error_last(), "stalled (under 100000 bytes/s for 1 s) after 64.0 KiB of");
    ASSERT_EQ(file_size(f->part), some);
    ts_configure(f->ts, &(ts_behaviour){ -1, 0, -1, 0, 0, 0, -1, 0 });
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.resumed_from, some);
    assert_installed(f);
    teardown(f);
}

TEST(abort_callback_cancels_and_keeps_the_partial_file)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ts_behaviour b = ts_normal();
    recorder rec = { 0 };
    uint64_t half = f->model.len / 2;
    b.stall_after = (int64_t)half;
    ts_configure(f->ts, &b);
    rec.abort_at = half;
    o.progress = on_progress;
    o.abort = on_abort;
    o.payload = &rec;
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ECANCELED);
    ASSERT_CONTAINS(hark_error_last(), "download of test canceled;");
    ASSERT_EQ(file_size(f->part), half);
    ts_configure(f->ts, &(ts_behaviour){ -1, 0, -1, 0, 0, 0, -1, 0 });
    o.abort = NULL;
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.resumed_from, half);
    assert_installed(f);
    teardown(f);
}

TEST(full_disk_is_enospc)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    struct stat st;
    if (stat("/dev/full", &st) != 0)
        SKIP("no /dev/full");
    /* the partial file is a link to /dev/full: every write fails with ENOSPC */
    ASSERT(mkdir(f->dir, 0755) == 0);
    ASSERT(symlink("/dev/full", f->part) == 0);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENOSPC);
    ASSERT_CONTAINS(hark_error_last(), "cannot download test: no space left on the device");
    ASSERT_EQ(file_size(f->path), UINT64_MAX);
    teardown(f);
}

TEST(a_second_concurrent_pull_is_refused)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    int fd;
    ASSERT(mkdir(f->dir, 0755) == 0);
    fd = open(f->part, O_RDWR | O_CREAT, 0644);
    ASSERT(fd >= 0 && flock(fd, LOCK_EX) == 0); /* as a running pull holds it */
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "another download of it is running");
    ASSERT_EQ(ts_counts(f->ts).requests, 0);
    close(fd);
    teardown(f);
}

TEST(a_complete_partial_file_is_verified_without_downloading_again)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    ASSERT(mkdir(f->dir, 0755) == 0);
    /* size known: no request at all */
    ASSERT(harness_write_file(f->part, f->model.ptr, f->model.len) == 0);
    o.size = f->model.len;
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.requests, 0);
    assert_installed(f);
    /* size unknown: the server answers the range with 416 and the total */
    ASSERT(unlink(f->path) == 0);
    ASSERT(harness_write_file(f->part, f->model.ptr, f->model.len) == 0);
    o.size = 0;
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.requests, 1);
    ASSERT_EQ(res.downloaded, 0);
    ASSERT_EQ(ts_counts(f->ts).body_bytes, 0);
    assert_installed(f);
    teardown(f);
}

TEST(bad_partial_files_are_replaced)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    hark_models_pull_result res;
    hark_buf junk = HARK_BUF_INIT;
    ASSERT(mkdir(f->dir, 0755) == 0);
    /* longer than the file: dropped before downloading */
    ASSERT(hark_buf_put(&junk, f->model.ptr, f->model.len) == 0);
    ASSERT(hark_buf_puts(&junk, "trailing junk") == 0);
    ASSERT(harness_write_file(f->part, junk.ptr, junk.len) == 0);
    o.size = f->model.len;
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.resumed_from, 0);
    assert_installed(f);
    /* a damaged prefix: caught by the checksum after the resume, then removed */
    ASSERT(unlink(f->path) == 0);
    junk.ptr[100] ^= 1;
    ASSERT(harness_write_file(f->part, junk.ptr, f->model.len / 2) == 0);
    o.size = 0;
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ECORRUPT);
    ASSERT_EQ(file_size(f->part), UINT64_MAX);
    ASSERT_OK(hark_models_pull(NULL, &res, "test", &o));
    ASSERT_EQ(res.resumed_from, 0);
    assert_installed(f);
    hark_buf_dispose(&junk);
    teardown(f);
}

/* HTTPS for real: openssl s_server -WWW with a throwaway self-signed certificate. */
TEST(https_with_certificate_verification)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    char www[1024], cert[1024], *log = NULL, url[64], *pid;
    int port = 0, i, st;
    if (!harness_have("openssl"))
        SKIP("no openssl command");
    /* copies: harness_path() returns a rotating static buffer */
    snprintf(www, sizeof(www), "%s", harness_path("www"));
    snprintf(cert, sizeof(cert), "%s", harness_path("cert.pem"));
    ASSERT(harness_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 1 "
                      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
                      harness_path("key.pem"), cert) == 0);
    ASSERT(mkdir(www, 0755) == 0);
    ASSERT(harness_write_file(harness_path("www/ggml-test.bin"), f->model.ptr, f->model.len) == 0);
    ASSERT(harness_sh("cd '%s' && (timeout 60 openssl s_server -accept 127.0.0.1:0 -cert '%s' "
                      "-key '%s' -WWW >'%s' 2>&1 & echo $! >'%s')",
                      www, cert, harness_path("key.pem"), harness_path("s_server.log"),
                      harness_path("s_server.pid")) == 0);
    for (i = 0; i < 100 && !port; i++) { /* it prints "ACCEPT 127.0.0.1:PORT" when ready */
        const char *a;
        free(log);
        log = harness_read_file(harness_path("s_server.log"), NULL);
        if (log && (a = strstr(log, "ACCEPT 127.0.0.1:")) != NULL)
            port = atoi(a + 17);
        else
            hark__sleep_ms(50, NULL, NULL);
    }
    free(log);
    ASSERT_MSG(port > 0, "openssl s_server did not start");
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    o.base_url = url;

    /* a certificate nobody vouches for is refused */
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_ENETWORK);
    ASSERT_CONTAINS(hark_error_last(), "cannot download test: secure connection to 127.0.0.1:");
    ASSERT_EQ(file_size(f->path), UINT64_MAX);
    /* trusted through ca_file: downloaded (HTTP/1.0, no Content-Length) and verified */
    o.ca_file = cert;
    ASSERT_OK(hark_models_pull(NULL, NULL, "test", &o));
    assert_installed(f);

    pid = harness_read_file(harness_path("s_server.pid"), NULL);
    ASSERT(pid != NULL);
    st = harness_sh("kill %d", atoi(pid));
    HARK_UNUSED(st);
    free(pid);
    teardown(f);
}

TEST(bad_names_and_options_are_rejected)
{
    fixture *f = setup();
    hark_models_pull_options o = options(f);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "../etc/passwd", &o), HARK_EINVAL);
    ASSERT_ERR(hark_models_pull(NULL, NULL, "", &o), HARK_EINVAL);
    o.version = 99;
    ASSERT_ERR(hark_models_pull(NULL, NULL, "test", &o), HARK_EINVAL);
    ASSERT_EQ(ts_counts(f->ts).requests, 0);
    teardown(f);
}
