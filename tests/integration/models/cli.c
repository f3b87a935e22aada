/*
 * cli.c: `hark models pull` as a user runs it, against the test server on
 * 127.0.0.1 (server.c): a file that fails its size, checksum or structure
 * check is a model error (exit 6); a bad name is a usage error (2) and a
 * name outside the catalog is refused without --sha256 or --insecure, both
 * before any request reaches the server; a plain http:// mirror gets a
 * warning.
 */
#define _DEFAULT_SOURCE
#include <unistd.h>

#include "harness.h"
#include "server.h"
#include "../../fixtures/ggml_gen.h"

typedef struct mirror {
    test_server *ts;
    hark_buf model;  /* a valid generated model */
    char sha256[65]; /* its digest */
    char junk[4096]; /* not a model at all */
} mirror;

static mirror *start(void)
{
    static mirror m;
    static const char *const proxies[] = { "http_proxy",  "https_proxy", "HTTP_PROXY",
                                           "HTTPS_PROXY", "ALL_PROXY",   "all_proxy" };
    ggml_gen g = ggml_gen_default();
    uint8_t d[32];
    size_t i;
    for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
    unsetenv("HARK_MODELS_URL");
    memset(&m, 0, sizeof(m));
    ASSERT(ggml_gen_write(&m.model, &g) == 0);
    ASSERT_OK(hark_sha256_buf(d, m.model.ptr, m.model.len));
    hark_hex(m.sha256, d, 32);
    memset(m.junk, 'j', sizeof(m.junk));
    m.ts = ts_start();
    ts_add_file(m.ts, "/ggml-test.bin", m.model.ptr, m.model.len);
    ts_add_file(m.ts, "/ggml-junk.bin", m.junk, sizeof(m.junk));
    /* a catalog name served with the wrong bytes: its size and checksum cannot match */
    ts_add_file(m.ts, "/ggml-tiny.en.bin", m.model.ptr, m.model.len);
    return &m;
}

static void stop(mirror *m)
{
    ts_stop(m->ts);
    hark_buf_dispose(&m->model);
}

/* `hark models pull ARGS --url <mirror> -q`; stderr into *err (caller frees). */
static int pull(mirror *m, char **err, const char *args)
{
    int st;
    char *out = harness_sh_output(&st, "%s models pull %s --url %s -q 2>'%s'", harness_hark_bin(),
                                  args, ts_url(m->ts), harness_path("err.txt"));
    free(out);
    *err = harness_read_file(harness_path("err.txt"), NULL);
    ASSERT(*err != NULL);
    return st;
}

TEST(a_file_failing_its_checks_is_a_model_error)
{
    mirror *m = start();
    char *err, arg[256];
    int st;
    /* size (and checksum) of a catalog model */
    st = pull(m, &err, "tiny.en");
    ASSERT_MSG(st == 6, "catalog size mismatch: exit %d: %s", st, err);
    free(err);
    /* a checksum given on the command line */
    snprintf(arg, sizeof(arg), "test --sha256 %064d", 0);
    st = pull(m, &err, arg);
    ASSERT_MSG(st == 6, "checksum mismatch: exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "checksum mismatch");
    free(err);
    /* structure: not a ggml file */
    st = pull(m, &err, "junk --insecure");
    ASSERT_MSG(st == 6, "not a model: exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "not a valid Whisper model");
    free(err);
    ASSERT_EQ(access(harness_path("models/ggml-junk.bin"), F_OK), -1);
    stop(m);
}

TEST(names_are_checked_before_any_network_access)
{
    mirror *m = start();
    char *err;
    int st;
    st = pull(m, &err, "../../x");
    ASSERT_MSG(st == 2, "bad name: exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "invalid model name");
    free(err);
    st = pull(m, &err, "test");
    ASSERT_MSG(st == 2, "name outside the catalog: exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "'test' is not in the catalog");
    ASSERT_CONTAINS(err, "--sha256");
    ASSERT_CONTAINS(err, "--insecure");
    free(err);
    ASSERT_EQ(ts_counts(m->ts).requests, 0);
    stop(m);
}

TEST(a_checksum_or_insecure_admits_a_name_outside_the_catalog)
{
    mirror *m = start();
    char *err, arg[256];
    int st;
    snprintf(arg, sizeof(arg), "test --sha256 %s", m->sha256);
    st = pull(m, &err, arg);
    ASSERT_MSG(st == 0, "exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "plain HTTP"); /* the test server is http:// */
    ASSERT_CONTAINS(err, "checksum is still checked");
    free(err);
    st = pull(m, &err, "test --insecure --force");
    ASSERT_MSG(st == 0, "exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "nothing checks its bytes");
    free(err);
    /* a bad --sha256 is a usage error */
    st = pull(m, &err, "test --sha256 abc");
    ASSERT_EQ(st, 2);
    free(err);
    stop(m);
}
