/*
 * texts.c: conformance tests of a recording's derived texts (summary,
 * translation: hark_store_text_put/get) and of jobs added to an existing
 * recording (hark_store_job_add), on every backend.
 */
#include "store_test.h"
#include "util/util.h"

TEST(text_put_get_replace_and_remove)
{
    hark_store *s = st_open();
    int64_t rec = st_recording(s, "meeting", 0), t0 = st_now_ms(), when = 0;
    hark_buf text = HARK_BUF_INIT, meta = HARK_BUF_INIT;

    ASSERT_ERR(hark_store_text_get(s, rec, "summary", &text, &meta, &when), HARK_ENOTFOUND);
    ASSERT_EQ(text.len, 0);
    ASSERT_OK(hark_store_text_put(s, rec, "summary", "Budget agreed; ship on Friday.",
                                  "{\"model\":\"m1\",\"requests\":3}"));
    ASSERT_OK(hark_store_text_get(s, rec, "summary", &text, &meta, &when));
    ASSERT_STREQ(text.ptr, "Budget agreed; ship on Friday.");
    ASSERT_STREQ(meta.ptr, "{\"model\":\"m1\",\"requests\":3}");
    ASSERT(when >= t0 && when <= st_now_ms());
    /* another kind is separate */
    hark_buf_clear(&text);
    ASSERT_ERR(hark_store_text_get(s, rec, "translation", &text, NULL, NULL), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_text_put(s, rec, "translation", "Hello, world.", NULL));
    /* replace, then read through a second handle */
    ASSERT_OK(hark_store_text_put(s, rec, "summary", "Shipping moved to Monday.", NULL));
    {
        hark_store *s2 = st_reopen();
        hark_buf_clear(&text);
        hark_buf_clear(&meta);
        ASSERT_OK(hark_store_text_get(s2, rec, "summary", &text, &meta, NULL));
        ASSERT_STREQ(text.ptr, "Shipping moved to Monday.");
        ASSERT_EQ(meta.len, 0);
        hark_buf_clear(&text);
        ASSERT_OK(hark_store_text_get(s2, rec, "translation", &text, NULL, NULL));
        ASSERT_STREQ(text.ptr, "Hello, world.");
        hark_store_free(s2);
    }
    /* remove */
    ASSERT_OK(hark_store_text_put(s, rec, "summary", NULL, NULL));
    hark_buf_clear(&text);
    ASSERT_ERR(hark_store_text_get(s, rec, "summary", &text, NULL, NULL), HARK_ENOTFOUND);
    hark_buf_dispose(&text);
    hark_buf_dispose(&meta);
    hark_store_free(s);
}

TEST(text_errors)
{
    hark_store *s = st_open();
    int64_t rec = st_recording(s, "r", 0);
    hark_buf text = HARK_BUF_INIT;
    ASSERT_ERR(hark_store_text_put(s, rec + 100, "summary", "x", NULL), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_text_put(s, rec, "Summary!", "x", NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_text_put(s, rec, "", "x", NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_text_put(s, rec, "summary", "x", "[1,2]"), HARK_EINVAL);
    ASSERT_ERR(hark_store_text_get(s, rec, "bad kind", &text, NULL, NULL), HARK_EINVAL);
    ASSERT_EQ(text.len, 0);
    hark_buf_dispose(&text);
    hark_store_free(s);
}

TEST(texts_and_added_jobs_go_with_their_recording)
{
    hark_store *s = st_open();
    int64_t rec, keep = st_recording(s, "keep", 0), id = 0;
    hark_job j = HARK_JOB_INIT;
    hark_buf text = HARK_BUF_INIT;
    hark_recording *gone = NULL;

    st_job(s, "feed", 0, HARK_PRIORITY_BULK, &rec);
    ASSERT_OK(hark_store_text_put(s, rec, "summary", "gone soon", NULL));
    ASSERT_OK(hark_store_text_put(s, keep, "summary", "stays", NULL));
    j.recording = rec;
    j.kind = "summarize";
    j.priority = HARK_PRIORITY_MAINTENANCE;
    ASSERT_OK(hark_store_job_add(s, &j, &id));
    ASSERT_OK(hark_store_recording_delete(s, rec, &gone));
    hark_recording_free(gone);
    ASSERT_ERR(hark_store_text_get(s, rec, "summary", &text, NULL, NULL), HARK_ENOTFOUND);
    {
        hark_job *jj = NULL;
        ASSERT_ERR(hark_store_job_get(s, id, &jj), HARK_ENOTFOUND);
    }
    ASSERT_OK(hark_store_text_get(s, keep, "summary", &text, NULL, NULL));
    ASSERT_STREQ(text.ptr, "stays");
    hark_buf_dispose(&text);
    hark_store_free(s);
}

TEST(job_add_queues_below_transcription)
{
    hark_store *s = st_open();
    int64_t rec = 0, tj, sj = 0, xj = 0;
    hark_job j = HARK_JOB_INIT, *c = NULL;
    hark_job_counts counts;

    tj = st_job(s, "beef", 7, HARK_PRIORITY_BULK, &rec);
    j.recording = rec;
    j.owner = 7;
    j.kind = "summarize";
    j.priority = HARK_PRIORITY_MAINTENANCE;
    j.params = "{\"model\":\"m\"}";
    ASSERT_OK(hark_store_job_add(s, &j, &sj));
    ASSERT(sj > tj);
    j.kind = "translate";
    ASSERT_OK(hark_store_job_add(s, &j, &xj));
    ASSERT(xj > sj);
    ASSERT_OK(hark_store_job_counts(s, &counts));
    ASSERT_EQ(counts.n[HARK_JOB_QUEUED][HARK_PRIORITY_MAINTENANCE], 2);
    ASSERT_EQ(counts.n[HARK_JOB_QUEUED][HARK_PRIORITY_BULK], 1);
    /* a claimer that takes only bulk work never sees them */
    ASSERT_OK(hark_store_job_claim(s, "r1", 60000, HARK_PRIORITY_BULK, &c, NULL));
    ASSERT_EQ(c->id, tj);
    hark_job_free(c);
    c = NULL;
    ASSERT_ERR(hark_store_job_claim(s, "r1", 60000, HARK_PRIORITY_BULK, &c, NULL), HARK_ENOTFOUND);
    /* then the summary, the oldest of its class, with its kind, owner and params */
    ASSERT_OK(hark_store_job_claim(s, "r1", 60000, HARK_PRIORITY_MAINTENANCE, &c, NULL));
    ASSERT_EQ(c->id, sj);
    ASSERT_STREQ(c->kind, "summarize");
    ASSERT_EQ(c->recording, rec);
    ASSERT_EQ(c->owner, 7);
    ASSERT_STREQ(c->params, "{\"model\":\"m\"}");
    ASSERT_OK(hark_store_job_end(s, c->id, "r1", HARK_JOB_DONE, 0, 0, NULL));
    hark_job_free(c);
    ASSERT_EQ(st_job_state(s, xj), HARK_JOB_QUEUED);
    /* errors */
    j.recording = rec + 1000;
    ASSERT_ERR(hark_store_job_add(s, &j, &xj), HARK_ENOTFOUND);
    j.recording = rec;
    j.kind = "";
    ASSERT_ERR(hark_store_job_add(s, &j, &xj), HARK_EINVAL);
    j.kind = "summarize";
    j.max_attempts = 0;
    ASSERT_ERR(hark_store_job_add(s, &j, &xj), HARK_EINVAL);
    hark_store_free(s);
}
