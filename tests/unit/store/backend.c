/*
 * backend.c: the backend vtable contract (hark/sys/store.h): a backend of
 * another API version is refused, and operations a backend leaves NULL
 * answer HARK_EUNSUPPORTED with a message instead of crashing.
 */
#include "harness.h"
#include "hark/sys/store.h"

static int dummy_open(void **out, const hark_store_open_args *args)
{
    (void)args;
    *out = (void *)1;
    return 0;
}

static void dummy_close(void *ctx)
{
    (void)ctx;
}

static const char *const dummy_schemes[] = { "bare", NULL };

TEST(a_backend_of_another_api_version_is_refused)
{
    hark_store_ops ops;
    memset(&ops, 0, sizeof(ops));
    ops.version = 1; /* the table before the job queue */
    ops.name = "old";
    ops.schemes = dummy_schemes;
    ops.open = dummy_open;
    ops.close = dummy_close;
    ASSERT_ERR(hark_store_register(&ops), HARK_EVERSION);
}

TEST(operations_a_backend_lacks_are_unsupported)
{
    static hark_store_ops ops;
    hark_store *s = NULL;
    hark_job *j = NULL;
    hark_job_counts counts;
    hark_api_key *k = NULL;
    hark_buf b = HARK_BUF_INIT;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted sub;
    uint8_t digest[32];
    uint64_t n;
    int64_t next;

    memset(&ops, 0, sizeof(ops));
    memset(digest, 0, sizeof(digest));
    ops.version = HARK_STORE_API_VERSION;
    ops.name = "bare";
    ops.schemes = dummy_schemes;
    ops.open = dummy_open;
    ops.close = dummy_close;
    ASSERT_OK(hark_store_register(&ops));
    ASSERT_OK(hark_store_open(&s, "bare:nothing"));
    ASSERT_STREQ(hark_store_backend(s), "bare");
    ASSERT_ERR(hark_store_job_submit(s, &rec, &job, &sub), HARK_EUNSUPPORTED);
    ASSERT_CONTAINS(hark_error_last(), "job_submit");
    ASSERT_ERR(hark_store_job_claim(s, "r", 1000, HARK_PRIORITY_BULK, &j, &next),
               HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_job_heartbeat(s, "r", 1000, NULL), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_job_end(s, 1, "r", HARK_JOB_DONE, 0, 0, NULL), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_job_counts(s, &counts), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_key_lookup(s, digest, &k), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_user_create(s, "u", NULL), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_audit_add(s, 0, 0, "a", NULL), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_setting_get(s, "x", &b), HARK_EUNSUPPORTED);
    ASSERT_ERR(hark_store_audio_refs(s, "/a.flac", &n), HARK_EUNSUPPORTED);
    ASSERT(j == NULL && k == NULL);
    hark_store_free(s);
}
