/*
 * jobs.c: conformance tests of the durable job queue (hark/jobs.h): submit
 * and its dedup, claim order, backoff and next_ms, leases (expiry, reclaim,
 * heartbeat, release), end/cancel/retry transitions and their errors, chunk
 * progress, counts and listing. Times are real (short leases and sleeps of a
 * few hundred ms), through the public API only.
 */
#include "store_test.h"

#define LONG_LEASE (10 * 60 * 1000)

static hark_job *claim(hark_store *s, const char *who, int64_t lease_ms)
{
    hark_job *j = NULL;
    ASSERT_OK(hark_store_job_claim(s, who, lease_ms, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    ASSERT(j != NULL);
    return j;
}

/* Claim must find nothing; returns next_ms. */
static int64_t claim_none(hark_store *s, const char *who, hark_priority max)
{
    hark_job *j = NULL;
    int64_t next = -1;
    ASSERT_ERR(hark_store_job_claim(s, who, LONG_LEASE, max, &j, &next), HARK_ENOTFOUND);
    ASSERT(j == NULL);
    ASSERT(next >= 0);
    return next;
}

static void chunk(hark_store *s, int64_t job, uint32_t index, hark_chunk_state st,
                  const char *result, const char *error)
{
    hark_job_chunk c;
    memset(&c, 0, sizeof(c));
    c.index = index;
    c.start = (int64_t)index * 16000 * 30;
    c.n = 16000 * 30;
    c.state = st;
    c.attempts = 1;
    c.error = error;
    c.result = result;
    c.result_len = result ? strlen(result) : 0;
    c.asr_ms = 12.5 + index;
    ASSERT_OK(hark_store_job_chunk_put(s, job, &c));
}

TEST(submit_creates_a_recording_and_a_queued_job)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT, *r = NULL;
    hark_job job = HARK_JOB_INIT, *j = NULL;
    hark_job_submitted sub;
    hark_store_stats st;
    int64_t t0 = st_now_ms();

    rec.title = "upload";
    rec.source = "talk.mp3";
    rec.content_hash = "c0ffee";
    rec.engine = "whisper";
    rec.model = "base.en";
    rec.options = "{\"beam\":5}";
    rec.owner = 7;
    job.priority = HARK_PRIORITY_INTERACTIVE;
    job.max_attempts = 3;
    job.params = "{\"format\": \"srt\", \"n\": [1, 2.5e3, true, null]}";
    job.owner = 99; /* ignored: the owner is the recording's */
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    ASSERT(sub.recording > 0 && sub.job > 0);
    ASSERT_EQ(sub.existed, 0);

    ASSERT_OK(hark_store_job_get(s, sub.job, &j));
    ASSERT_EQ(j->version, HARK_JOB_VERSION);
    ASSERT_EQ(j->id, sub.job);
    ASSERT_EQ(j->recording, sub.recording);
    ASSERT_EQ(j->owner, 7);
    ASSERT_STREQ(j->kind, "transcribe");
    ASSERT_EQ(j->priority, HARK_PRIORITY_INTERACTIVE);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_EQ(j->attempts, 0);
    ASSERT_EQ(j->max_attempts, 3);
    ASSERT_STREQ(j->params, job.params);
    ASSERT(j->error == NULL && j->lease_owner == NULL);
    ASSERT_EQ(j->not_before_ms, 0);
    ASSERT(j->created_ms >= t0 && j->created_ms <= st_now_ms());
    ASSERT_EQ(j->started_ms, 0);
    ASSERT_EQ(j->finished_ms, 0);
    ASSERT_EQ(j->chunks_total, 0);
    ASSERT_EQ(j->chunks_final, 0);
    hark_job_free(j);

    ASSERT_OK(hark_store_recording_get(s, sub.recording, &r));
    ASSERT_STREQ(r->title, "upload");
    ASSERT_STREQ(r->content_hash, "c0ffee");
    ASSERT_EQ(r->owner, 7);
    ASSERT_EQ(r->status, HARK_STATUS_PENDING);
    hark_recording_free(r);
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, 1);
    ASSERT_EQ(st.jobs, 1);
    ASSERT_ERR(hark_store_job_get(s, sub.job + 100, &j), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "no job");
    hark_store_free(s);
}

TEST(submit_dedups_per_owner_audio_and_configuration)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted a, b;

    rec.content_hash = "aaaa";
    rec.engine = "whisper";
    rec.model = "base.en";
    rec.options = "{\"beam\":5}";
    rec.owner = 1;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &a));
    ASSERT_EQ(a.existed, 0);
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &b)); /* the same again */
    ASSERT_EQ(b.existed, 1);
    ASSERT_EQ(b.recording, a.recording);
    ASSERT_EQ(b.job, a.job);

    rec.owner = 2; /* another owner: their own recording */
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &b));
    ASSERT_EQ(b.existed, 0);
    ASSERT_NE(b.recording, a.recording);
    rec.owner = 1;
    rec.options = "{\"beam\":1}"; /* other options */
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &b));
    ASSERT_EQ(b.existed, 0);
    ASSERT_NE(b.recording, a.recording);
    rec.options = "{\"beam\":5}";
    rec.model = NULL; /* NULL is a value of its own here, not "any" */
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &b));
    ASSERT_EQ(b.existed, 0);
    ASSERT_NE(b.recording, a.recording);
    rec.content_hash = NULL; /* no hash: never deduplicated */
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &a));
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &b));
    ASSERT_EQ(b.existed, 0);
    ASSERT_NE(b.recording, a.recording);

    /* a recording stored without a job (the command line) gets a job, and then keeps it */
    {
        hark_recording plain = HARK_RECORDING_INIT;
        int64_t id;
        plain.content_hash = "bbbb";
        ASSERT_OK(hark_store_recording_create(s, &plain, &id));
        ASSERT_OK(hark_store_job_submit(s, &plain, &job, &a));
        ASSERT_EQ(a.recording, id);
        ASSERT_EQ(a.existed, 0);
        ASSERT_OK(hark_store_job_submit(s, &plain, &job, &b));
        ASSERT_EQ(b.existed, 1);
        ASSERT_EQ(b.job, a.job);
        /* the same audio uploaded with its file: not that recording, which has no audio to
         * transcribe (the server answered "recording N has no audio to transcribe") */
        plain.audio_path = "/data/audio/bbbb.wav";
        ASSERT_OK(hark_store_job_submit(s, &plain, &job, &b));
        ASSERT_EQ(b.existed, 0);
        ASSERT_NE(b.recording, id);
        ASSERT_OK(hark_store_job_submit(s, &plain, &job, &a)); /* which is then matched */
        ASSERT_EQ(a.existed, 1);
        ASSERT_EQ(a.recording, b.recording);
    }
    hark_store_free(s);
}

TEST(submit_rejects_bad_arguments)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT, bad;
    hark_job_submitted sub;
    hark_store_stats st;

    bad = job;
    bad.priority = (hark_priority)7;
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EINVAL);
    bad = job;
    bad.max_attempts = 0;
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EINVAL);
    bad = job;
    bad.kind = "";
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EINVAL);
    bad.kind = NULL;
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EINVAL);
    bad = job;
    bad.params = "{\"a\": 1"; /* not JSON */
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "JSON object");
    bad.params = "[1, 2]"; /* JSON, not an object */
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EINVAL);
    bad = job;
    bad.version = 99;
    ASSERT_ERR(hark_store_job_submit(s, &rec, &bad, &sub), HARK_EVERSION);
    rec.owner = -3;
    ASSERT_ERR(hark_store_job_submit(s, &rec, &job, &sub), HARK_EINVAL);
    rec.owner = 0;
    rec.status = (hark_recording_status)42;
    ASSERT_ERR(hark_store_job_submit(s, &rec, &job, &sub), HARK_EINVAL);
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, 0); /* nothing half-made */
    ASSERT_EQ(st.jobs, 0);
    hark_store_free(s);
}

TEST(claim_order_is_priority_then_claimable_time_then_id)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted sub;
    int64_t id[6], next;
    /* name, priority, created_ms, not_before_ms */
    static const struct {
        hark_priority p;
        int64_t created, not_before;
    } spec[6] = {
        { HARK_PRIORITY_BULK, 1000, 0 },        /* 0: bulk, due 1000 */
        { HARK_PRIORITY_INTERACTIVE, 3000, 0 }, /* 1: interactive */
        { HARK_PRIORITY_BULK, 500, 2000 },      /* 2: bulk, created first but due 2000 */
        { HARK_PRIORITY_BULK, 1000, 0 },        /* 3: bulk, due 1000 like 0, higher id */
        { HARK_PRIORITY_MAINTENANCE, 1, 0 },    /* 4: maintenance, oldest of all */
        { HARK_PRIORITY_LIVE, 5000, 0 },        /* 5: live, newest of all */
    };
    static const int order[6] = { 5, 1, 0, 3, 2, 4 };
    int64_t first_expiry = 0;

    for (int i = 0; i < 6; i++) {
        job.priority = spec[i].p;
        job.created_ms = spec[i].created;
        job.not_before_ms = spec[i].not_before;
        ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
        id[i] = sub.job;
    }
    /* a runner that takes interactive work only sees the live and interactive jobs */
    {
        hark_job *j = NULL;
        ASSERT_OK(hark_store_job_claim(s, "fast", LONG_LEASE, HARK_PRIORITY_INTERACTIVE, &j, NULL));
        ASSERT_EQ(j->id, id[5]);
        hark_job_free(j);
        ASSERT_OK(hark_store_job_claim(s, "fast", LONG_LEASE, HARK_PRIORITY_INTERACTIVE, &j, NULL));
        ASSERT_EQ(j->id, id[1]);
        first_expiry = j->lease_expires_ms;
        hark_job_free(j);
        next = claim_none(s, "fast", HARK_PRIORITY_INTERACTIVE);
        /* nothing waits in those classes but the two leases */
        ASSERT(next > st_now_ms() && next <= first_expiry);
    }
    for (int k = 2; k < 6; k++) {
        hark_job *j = claim(s, "all", LONG_LEASE);
        ASSERT_MSG(j->id == id[order[k]], "claim %d got job %lld, expected %lld", k,
                   (long long)j->id, (long long)id[order[k]]);
        ASSERT_EQ(j->state, HARK_JOB_RUNNING);
        hark_job_free(j);
    }
    next = claim_none(s, "all", HARK_PRIORITY_MAINTENANCE);
    ASSERT(next > 0); /* the earliest lease expiry */
    hark_store_free(s);
}

TEST(claim_on_an_empty_queue_reports_nothing_waiting)
{
    hark_store *s = st_open();
    ASSERT_EQ(claim_none(s, "r", HARK_PRIORITY_MAINTENANCE), 0);
    /* finished jobs are not waiting either */
    {
        int64_t id = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
        hark_job *j = claim(s, "r", LONG_LEASE);
        hark_job_free(j);
        ASSERT_OK(hark_store_job_end(s, id, "r", HARK_JOB_DONE, 0, 0, NULL));
    }
    ASSERT_EQ(claim_none(s, "r", HARK_PRIORITY_MAINTENANCE), 0);
    hark_store_free(s);
}

TEST(claim_rejects_bad_arguments)
{
    hark_store *s = st_open();
    hark_job *j = NULL;
    char longname[400];
    ASSERT_ERR(hark_store_job_claim(s, "", 1000, HARK_PRIORITY_BULK, &j, NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_claim(s, "r", 0, HARK_PRIORITY_BULK, &j, NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_claim(s, "r", -5, HARK_PRIORITY_BULK, &j, NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_claim(s, "r", 1000, (hark_priority)9, &j, NULL), HARK_EINVAL);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ASSERT_ERR(hark_store_job_claim(s, longname, 1000, HARK_PRIORITY_BULK, &j, NULL), HARK_EINVAL);
    hark_store_free(s);
}

TEST(backoff_not_before_is_not_claimable_and_next_ms_says_when)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT, *j;
    hark_job_submitted sub;
    int64_t at = st_now_ms() + 400, next;

    job.not_before_ms = at;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    next = claim_none(s, "r", HARK_PRIORITY_MAINTENANCE);
    ASSERT_EQ(next, at);
    st_sleep_ms(next - st_now_ms() + 5);
    j = claim(s, "r", LONG_LEASE);
    ASSERT_EQ(j->id, sub.job);
    ASSERT_EQ(j->attempts, 1);
    hark_job_free(j);

    /* a failed attempt: back to the queue with a backoff and the error */
    at = st_now_ms() + 300;
    ASSERT_OK(hark_store_job_end(s, sub.job, "r", HARK_JOB_QUEUED, 0, at, "engine crashed"));
    ASSERT_OK(hark_store_job_get(s, sub.job, &j));
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_EQ(j->not_before_ms, at);
    ASSERT_STREQ(j->error, "engine crashed");
    ASSERT(j->lease_owner == NULL);
    ASSERT_EQ(j->attempts, 1);
    hark_job_free(j);
    ASSERT_EQ(claim_none(s, "r", HARK_PRIORITY_MAINTENANCE), at);
    st_sleep_ms(at - st_now_ms() + 5);
    j = claim(s, "r2", LONG_LEASE);
    ASSERT_EQ(j->id, sub.job);
    ASSERT_EQ(j->attempts, 2);
    ASSERT_STREQ(j->lease_owner, "r2");
    hark_job_free(j);
    /* done: the last error is cleared */
    ASSERT_OK(hark_store_job_end(s, sub.job, "r2", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_OK(hark_store_job_get(s, sub.job, &j));
    ASSERT_EQ(j->state, HARK_JOB_DONE);
    ASSERT(j->error == NULL);
    ASSERT(j->finished_ms > 0);
    hark_job_free(j);
    hark_store_free(s);
}

TEST(an_expired_lease_is_reclaimed_and_its_old_holder_is_refused)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, "x", 0, HARK_PRIORITY_BULK, NULL), next;
    hark_job *j = claim(s, "r1", 200), *k;
    unsigned n = 9;
    int64_t started = j->started_ms;

    ASSERT_EQ(j->id, id);
    ASSERT_STREQ(j->lease_owner, "r1");
    ASSERT(j->lease_expires_ms >= started + 200);
    next = claim_none(s, "r2", HARK_PRIORITY_MAINTENANCE);
    ASSERT_EQ(next, j->lease_expires_ms);
    st_sleep_ms(next - st_now_ms() + 5);
    k = claim(s, "r2", LONG_LEASE);
    ASSERT_EQ(k->id, id);
    ASSERT_EQ(k->attempts, 2);
    ASSERT_STREQ(k->lease_owner, "r2");
    ASSERT_EQ(k->started_ms, started); /* the first claim's time */
    hark_job_free(k);
    hark_job_free(j);
    /* r1 lost it: its heartbeat renews nothing and its end is refused */
    ASSERT_OK(hark_store_job_heartbeat(s, "r1", 1000, &n));
    ASSERT_EQ(n, 0);
    ASSERT_ERR(hark_store_job_end(s, id, "r1", HARK_JOB_DONE, 0, 0, NULL), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "r2");
    ASSERT_EQ(st_job_state(s, id), HARK_JOB_RUNNING);
    ASSERT_OK(hark_store_job_end(s, id, "r2", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_EQ(st_job_state(s, id), HARK_JOB_DONE);
    hark_store_free(s);
}

TEST(a_job_that_keeps_losing_its_runner_goes_dead)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT, *j;
    hark_job_submitted sub;
    hark_job_counts counts;

    job.max_attempts = 2;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    for (int i = 0; i < 2; i++) {
        j = claim(s, i ? "r2" : "r1", 100);
        ASSERT_EQ(j->attempts, (unsigned)i + 1);
        st_sleep_ms(j->lease_expires_ms - st_now_ms() + 5);
        hark_job_free(j);
    }
    /* the lease expired with no attempts left: not claimed again, dead, and nothing waits */
    ASSERT_EQ(claim_none(s, "r3", HARK_PRIORITY_MAINTENANCE), 0);
    ASSERT_OK(hark_store_job_get(s, sub.job, &j));
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    ASSERT_CONTAINS(j->error, "lost its runner 2 times");
    ASSERT(j->finished_ms > 0);
    ASSERT(j->lease_owner == NULL);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_counts(s, &counts));
    ASSERT_EQ(counts.n[HARK_JOB_DEAD][HARK_PRIORITY_BULK], 1);
    ASSERT_EQ(counts.n[HARK_JOB_RUNNING][HARK_PRIORITY_BULK], 0);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(heartbeat_renews_only_the_holders_unexpired_leases)
{
    hark_store *s = st_open();
    int64_t a = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    int64_t b = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    int64_t c = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    /* leases long enough that a loaded machine (ASan, PostgreSQL) cannot let them run out
     * between the claims and the first heartbeat; the heartbeat's are longer still */
    hark_job *ja = claim(s, "r1", 1500), *jb = claim(s, "r1", 1500), *jc = claim(s, "other", 1500);
    hark_job *now = NULL;
    unsigned n = 0;

    ASSERT(ja->id == a && jb->id == b && jc->id == c);
    st_sleep_ms(150);
    ASSERT_OK(hark_store_job_heartbeat(s, "r1", 5000, &n));
    ASSERT_EQ(n, 2);
    ASSERT_OK(hark_store_job_get(s, a, &now));
    ASSERT(now->lease_expires_ms >= st_now_ms() + 4000);
    hark_job_free(now);
    ASSERT_OK(hark_store_job_heartbeat(s, "nobody", 1000, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(hark_store_job_heartbeat(s, "r1", 5000, NULL));
    /* past the first expiry: r1's jobs are still held, "other"'s is up for grabs */
    st_sleep_ms(jc->lease_expires_ms - st_now_ms() + 10);
    {
        hark_job *j = claim(s, "r3", LONG_LEASE);
        ASSERT_EQ(j->id, c);
        hark_job_free(j);
    }
    ASSERT_EQ(claim_none(s, "r3", HARK_PRIORITY_MAINTENANCE) > 0, 1);
    ASSERT_OK(hark_store_job_heartbeat(s, "other", 1000, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(hark_store_job_end(s, a, "r1", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_OK(hark_store_job_end(s, b, "r1", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_ERR(hark_store_job_heartbeat(s, "", 1000, &n), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_heartbeat(s, "r1", 0, &n), HARK_EINVAL);
    hark_job_free(ja);
    hark_job_free(jb);
    hark_job_free(jc);
    hark_store_free(s);
}

TEST(release_hands_a_job_back_without_counting_the_attempt)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_job *j = claim(s, "r1", LONG_LEASE), *k = NULL;
    int64_t started = j->started_ms;

    ASSERT_EQ(j->attempts, 1);
    hark_job_free(j);
    st_sleep_ms(5);
    ASSERT_OK(hark_store_job_end(s, id, "r1", HARK_JOB_QUEUED, 1, 0, "shutting down"));
    ASSERT_OK(hark_store_job_get(s, id, &k));
    ASSERT_EQ(k->state, HARK_JOB_QUEUED);
    ASSERT_EQ(k->attempts, 0);
    ASSERT(k->lease_owner == NULL);
    ASSERT(k->error == NULL); /* a release records no error */
    hark_job_free(k);
    j = claim(s, "r2", LONG_LEASE); /* claimable at once */
    ASSERT_EQ(j->id, id);
    ASSERT_EQ(j->attempts, 1);
    ASSERT_EQ(j->started_ms, started);
    hark_job_free(j);
    hark_store_free(s);
}

TEST(end_with_a_wrong_or_expired_lease_or_a_bad_state_is_refused)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_job *j;

    /* not running */
    ASSERT_ERR(hark_store_job_end(s, id, "r1", HARK_JOB_DONE, 0, 0, NULL), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "queued");
    ASSERT_ERR(hark_store_job_end(s, id + 50, "r1", HARK_JOB_DONE, 0, 0, NULL), HARK_ENOTFOUND);
    j = claim(s, "r1", 150);
    hark_job_free(j);
    ASSERT_ERR(hark_store_job_end(s, id, "r2", HARK_JOB_DONE, 0, 0, NULL), HARK_EBUSY);
    ASSERT_ERR(hark_store_job_end(s, id, "r1", HARK_JOB_RUNNING, 0, 0, NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_end(s, id, "r1", HARK_JOB_DONE, 1, 0, NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_end(s, id, "r1", (hark_job_state)17, 0, 0, NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_end(s, id, "r1", HARK_JOB_QUEUED, 0, -4, NULL), HARK_EINVAL);
    ASSERT_EQ(st_job_state(s, id), HARK_JOB_RUNNING);
    /* the lease runs out even though nobody claimed the job: the holder is refused */
    st_sleep_ms(200);
    ASSERT_ERR(hark_store_job_end(s, id, "r1", HARK_JOB_DONE, 0, 0, NULL), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "expired");
    ASSERT_EQ(st_job_state(s, id), HARK_JOB_RUNNING);
    hark_store_free(s);
}

TEST(failures_use_up_attempts_then_the_job_is_dead)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT, *j;
    hark_job_submitted sub;

    job.max_attempts = 2;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    j = claim(s, "r", LONG_LEASE);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, sub.job, "r", HARK_JOB_QUEUED, 0, 0, "first failure"));
    j = claim(s, "r", LONG_LEASE);
    ASSERT_EQ(j->attempts, 2);
    hark_job_free(j);
    /* asked to retry later with no attempts left: dead */
    ASSERT_OK(hark_store_job_end(s, sub.job, "r", HARK_JOB_QUEUED, 0, 0, "second failure"));
    ASSERT_OK(hark_store_job_get(s, sub.job, &j));
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    ASSERT_STREQ(j->error, "second failure");
    ASSERT(j->finished_ms > 0);
    hark_job_free(j);
    ASSERT_EQ(claim_none(s, "r", HARK_PRIORITY_MAINTENANCE), 0);

    /* a runner may also give up at once */
    sub.job = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    j = claim(s, "r", LONG_LEASE);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, sub.job, "r", HARK_JOB_DEAD, 0, 0, "not audio"));
    ASSERT_OK(hark_store_job_get(s, sub.job, &j));
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    ASSERT_STREQ(j->error, "not audio");
    ASSERT_EQ(j->attempts, 1);
    hark_job_free(j);
    hark_store_free(s);
}

TEST(cancel_and_retry_transitions_and_their_errors)
{
    hark_store *s = st_open();
    int64_t q = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_job *j = NULL;

    /* queued -> canceled; canceling again is an error */
    ASSERT_OK(hark_store_job_cancel(s, q));
    ASSERT_EQ(st_job_state(s, q), HARK_JOB_CANCELED);
    ASSERT_ERR(hark_store_job_cancel(s, q), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "already canceled");
    ASSERT_EQ(claim_none(s, "r", HARK_PRIORITY_MAINTENANCE), 0);
    /* canceled -> queued by retry */
    ASSERT_OK(hark_store_job_retry(s, q));
    ASSERT_OK(hark_store_job_get(s, q, &j));
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_EQ(j->attempts, 0);
    ASSERT_EQ(j->finished_ms, 0);
    hark_job_free(j);
    ASSERT_ERR(hark_store_job_retry(s, q), HARK_EINVAL); /* queued */
    ASSERT_CONTAINS(hark_error_last(), "queued");
    /* running -> canceled: the runner is refused, then acknowledges */
    j = claim(s, "r", LONG_LEASE);
    ASSERT_EQ(j->id, q);
    hark_job_free(j);
    ASSERT_ERR(hark_store_job_retry(s, q), HARK_EINVAL); /* running */
    ASSERT_CONTAINS(hark_error_last(), "running");
    ASSERT_OK(hark_store_job_cancel(s, q));
    ASSERT_OK(hark_store_job_get(s, q, &j));
    ASSERT_EQ(j->state, HARK_JOB_CANCELED);
    ASSERT(j->lease_owner == NULL);
    hark_job_free(j);
    {
        unsigned n = 5;
        ASSERT_OK(hark_store_job_heartbeat(s, "r", 1000, &n)); /* how the runner notices */
        ASSERT_EQ(n, 0);
    }
    ASSERT_ERR(hark_store_job_end(s, q, "r", HARK_JOB_DONE, 0, 0, NULL), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "canceled");
    ASSERT_ERR(hark_store_job_end(s, q, "other", HARK_JOB_CANCELED, 0, 0, NULL), HARK_EBUSY);
    ASSERT_OK(hark_store_job_end(s, q, "r", HARK_JOB_CANCELED, 0, 0, NULL));
    ASSERT_EQ(st_job_state(s, q), HARK_JOB_CANCELED);
    /* the acknowledgement is taken once */
    ASSERT_ERR(hark_store_job_end(s, q, "r", HARK_JOB_CANCELED, 0, 0, NULL), HARK_EBUSY);
    /* a runner may cancel the job it holds */
    ASSERT_OK(hark_store_job_retry(s, q));
    j = claim(s, "r", LONG_LEASE);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, q, "r", HARK_JOB_CANCELED, 0, 0, NULL));
    ASSERT_EQ(st_job_state(s, q), HARK_JOB_CANCELED);
    /* done jobs are neither canceled nor retried */
    ASSERT_OK(hark_store_job_retry(s, q));
    j = claim(s, "r", LONG_LEASE);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, q, "r", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_ERR(hark_store_job_cancel(s, q), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "already done");
    ASSERT_ERR(hark_store_job_retry(s, q), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_cancel(s, q + 40), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_job_retry(s, q + 40), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(done_drops_chunk_results_but_keeps_the_chunks)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_job_chunk_list *l = NULL;
    hark_job *j = claim(s, "r", LONG_LEASE);

    hark_job_free(j);
    chunk(s, id, 0, HARK_CHUNK_DONE, "result zero", NULL);
    chunk(s, id, 1, HARK_CHUNK_DONE, "result one", NULL);
    ASSERT_OK(hark_store_job_set_chunks(s, id, 2, 1));
    ASSERT_OK(hark_store_job_chunks(s, id, 1, &l));
    ASSERT_EQ(l->n, 2);
    ASSERT_EQ(l->items[1].result_len, strlen("result one"));
    ASSERT(memcmp(l->items[1].result, "result one", l->items[1].result_len) == 0);
    hark_job_chunk_list_free(l);
    ASSERT_OK(hark_store_job_end(s, id, "r", HARK_JOB_DONE, 0, 0, NULL));
    ASSERT_OK(hark_store_job_chunks(s, id, 1, &l));
    ASSERT_EQ(l->n, 2);
    for (size_t i = 0; i < l->n; i++) {
        ASSERT_EQ(l->items[i].index, i);
        ASSERT_EQ(l->items[i].state, HARK_CHUNK_DONE);
        ASSERT(l->items[i].result == NULL);
        ASSERT_EQ(l->items[i].result_len, 0);
    }
    hark_job_chunk_list_free(l);
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->chunks_done, 2);
    ASSERT_EQ(j->chunks_total, 2);
    ASSERT_EQ(j->chunks_final, 1);
    hark_job_free(j);
    hark_store_free(s);
}

TEST(retry_resets_failed_chunks_and_keeps_done_ones)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_job_chunk_list *l = NULL;
    hark_job *j = claim(s, "r", LONG_LEASE);

    hark_job_free(j);
    chunk(s, id, 0, HARK_CHUNK_DONE, "zero", NULL);
    chunk(s, id, 1, HARK_CHUNK_FAILED, NULL, "decoder blew up");
    chunk(s, id, 2, HARK_CHUNK_PENDING, NULL, NULL);
    chunk(s, id, 3, HARK_CHUNK_FAILED, NULL, "again");
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->chunks_done, 1);
    ASSERT_EQ(j->chunks_failed, 2);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, id, "r", HARK_JOB_DEAD, 0, 0, "2 chunks failed"));
    ASSERT_OK(hark_store_job_retry(s, id));
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_EQ(j->chunks_done, 1);
    ASSERT_EQ(j->chunks_failed, 0);
    ASSERT_EQ(j->attempts, 0);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_chunks(s, id, 1, &l));
    ASSERT_EQ(l->n, 4);
    ASSERT_EQ(l->items[0].state, HARK_CHUNK_DONE);
    ASSERT_EQ(l->items[0].result_len, 4); /* kept: the resume reuses it */
    ASSERT_EQ(l->items[1].state, HARK_CHUNK_PENDING);
    ASSERT(l->items[1].error == NULL);
    ASSERT_EQ(l->items[1].attempts, 0);
    ASSERT_EQ(l->items[2].state, HARK_CHUNK_PENDING);
    ASSERT_EQ(l->items[3].state, HARK_CHUNK_PENDING);
    hark_job_chunk_list_free(l);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(chunk_upsert_is_idempotent_and_keeps_the_counters)
{
    hark_store *s = st_open();
    int64_t id = st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    hark_job_chunk_list *l = NULL;
    hark_job_chunk bad;
    hark_job *j = NULL;

    chunk(s, id, 0, HARK_CHUNK_PENDING, NULL, NULL);
    chunk(s, id, 0, HARK_CHUNK_DONE, "abc", NULL);
    chunk(s, id, 0, HARK_CHUNK_DONE, "abc", NULL); /* the same write twice */
    chunk(s, id, 4, HARK_CHUNK_FAILED, NULL, "timeout");
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->chunks_done, 1);
    ASSERT_EQ(j->chunks_failed, 1);
    ASSERT_EQ(j->chunks_total, 5); /* chunk 4 exists: at least 5 are known */
    ASSERT_EQ(j->chunks_final, 0);
    hark_job_free(j);
    chunk(s, id, 0, HARK_CHUNK_FAILED, NULL, "redo failed");
    chunk(s, id, 4, HARK_CHUNK_DONE, "four", NULL);
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->chunks_done, 1);
    ASSERT_EQ(j->chunks_failed, 1);
    hark_job_free(j);
    ASSERT_OK(hark_store_job_set_chunks(s, id, 9, 1));
    ASSERT_OK(hark_store_job_get(s, id, &j));
    ASSERT_EQ(j->chunks_total, 9);
    ASSERT_EQ(j->chunks_final, 1);
    hark_job_free(j);

    ASSERT_OK(hark_store_job_chunks(s, id, 0, &l));
    ASSERT_EQ(l->n, 2);
    ASSERT_EQ(l->items[0].index, 0);
    ASSERT_EQ(l->items[0].state, HARK_CHUNK_FAILED);
    ASSERT_STREQ(l->items[0].error, "redo failed");
    ASSERT_EQ(l->items[1].index, 4);
    ASSERT_EQ(l->items[1].start, 4 * 16000 * 30);
    ASSERT_EQ(l->items[1].n, 16000 * 30);
    ASSERT_EQ(l->items[1].attempts, 1);
    ASSERT_NEAR(l->items[1].asr_ms, 16.5, 1e-9);
    ASSERT(l->items[1].result == NULL); /* not asked for */
    hark_job_chunk_list_free(l);
    ASSERT_OK(hark_store_job_chunks(s, id, 1, &l));
    ASSERT_EQ(l->items[1].result_len, 4);
    ASSERT(memcmp(l->items[1].result, "four", 4) == 0);
    hark_job_chunk_list_free(l);

    memset(&bad, 0, sizeof(bad));
    ASSERT_ERR(hark_store_job_chunk_put(s, id + 9, &bad), HARK_ENOTFOUND);
    bad.state = (hark_chunk_state)5;
    ASSERT_ERR(hark_store_job_chunk_put(s, id, &bad), HARK_EINVAL);
    bad.state = HARK_CHUNK_DONE;
    bad.start = -1;
    ASSERT_ERR(hark_store_job_chunk_put(s, id, &bad), HARK_EINVAL);
    bad.start = 0;
    bad.result_len = 3; /* no bytes */
    ASSERT_ERR(hark_store_job_chunk_put(s, id, &bad), HARK_EINVAL);
    ASSERT_ERR(hark_store_job_chunks(s, id + 9, 0, &l), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_job_set_chunks(s, id + 9, 1, 0), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(job_counts_by_state_and_priority)
{
    hark_store *s = st_open();
    hark_job_counts c;
    int64_t rec = 0, id;
    hark_job *j;

    memset(&c, 0xff, sizeof(c));
    ASSERT_OK(hark_store_job_counts(s, &c));
    for (int a = 0; a < HARK_JOB_STATE_COUNT; a++)
        for (int p = 0; p < HARK_PRIORITY_COUNT; p++)
            ASSERT_EQ(c.n[a][p], 0);
    for (int i = 0; i < 3; i++)
        st_job(s, NULL, 0, HARK_PRIORITY_BULK, NULL);
    id = st_job(s, NULL, 0, HARK_PRIORITY_INTERACTIVE, &rec);
    st_job(s, NULL, 0, HARK_PRIORITY_MAINTENANCE, NULL);
    j = claim(s, "r", LONG_LEASE); /* the interactive one */
    ASSERT_EQ(j->id, id);
    hark_job_free(j);
    j = claim(s, "r", LONG_LEASE); /* a bulk one */
    ASSERT_OK(hark_store_job_end(s, j->id, "r", HARK_JOB_DEAD, 0, 0, "x"));
    hark_job_free(j);
    ASSERT_OK(hark_store_job_counts(s, &c));
    ASSERT_EQ(c.n[HARK_JOB_QUEUED][HARK_PRIORITY_BULK], 2);
    ASSERT_EQ(c.n[HARK_JOB_QUEUED][HARK_PRIORITY_MAINTENANCE], 1);
    ASSERT_EQ(c.n[HARK_JOB_RUNNING][HARK_PRIORITY_INTERACTIVE], 1);
    ASSERT_EQ(c.n[HARK_JOB_DEAD][HARK_PRIORITY_BULK], 1);
    ASSERT_EQ(c.n[HARK_JOB_DONE][HARK_PRIORITY_BULK], 0);
    /* deleting the recording takes its job out of the counts */
    ASSERT_OK(hark_store_recording_delete(s, rec, NULL));
    ASSERT_OK(hark_store_job_counts(s, &c));
    ASSERT_EQ(c.n[HARK_JOB_RUNNING][HARK_PRIORITY_INTERACTIVE], 0);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(job_list_pages_newest_first_with_filters)
{
    hark_store *s = st_open();
    hark_job_list_options o = HARK_JOB_LIST_OPTIONS_INIT;
    hark_job_list *l = NULL;
    int64_t ids[12], rec5 = 0, seen = 0, after = 0;
    hark_job *j;

    for (int i = 0; i < 12; i++)
        ids[i] = st_job(s, NULL, i % 3 == 0 ? 5 : 6, HARK_PRIORITY_BULK, i == 4 ? &rec5 : NULL);
    j = claim(s, "r", LONG_LEASE); /* ids[0] */
    ASSERT_OK(hark_store_job_end(s, j->id, "r", HARK_JOB_DONE, 0, 0, NULL));
    hark_job_free(j);

    /* every job, 5 per page, newest first */
    o.limit = 5;
    do {
        o.after = after;
        ASSERT_OK(hark_store_job_list(s, &o, &l));
        for (size_t i = 0; i < l->n; i++) {
            ASSERT_EQ(l->items[i].id, ids[11 - seen]);
            seen++;
        }
        after = l->n ? l->items[l->n - 1].id : 0;
        if (!l->more) {
            hark_job_list_free(l);
            break;
        }
        hark_job_list_free(l);
    } while (1);
    ASSERT_EQ(seen, 12);

    o = (hark_job_list_options)HARK_JOB_LIST_OPTIONS_INIT;
    o.owner = 5;
    ASSERT_OK(hark_store_job_list(s, &o, &l));
    ASSERT_EQ(l->n, 4);
    for (size_t i = 0; i < l->n; i++)
        ASSERT_EQ(l->items[i].owner, 5);
    hark_job_list_free(l);
    o.state = HARK_JOB_DONE;
    ASSERT_OK(hark_store_job_list(s, &o, &l));
    ASSERT_EQ(l->n, 1);
    ASSERT_EQ(l->items[0].id, ids[0]);
    hark_job_list_free(l);
    o = (hark_job_list_options)HARK_JOB_LIST_OPTIONS_INIT;
    o.recording = rec5;
    ASSERT_OK(hark_store_job_list(s, &o, &l));
    ASSERT_EQ(l->n, 1);
    ASSERT_EQ(l->items[0].id, ids[4]);
    ASSERT_EQ(l->more, 0);
    hark_job_list_free(l);
    ASSERT_OK(hark_store_job_list(s, NULL, &l));
    ASSERT_EQ(l->n, 12);
    hark_job_list_free(l);
    o = (hark_job_list_options)HARK_JOB_LIST_OPTIONS_INIT;
    o.state = 9;
    ASSERT_ERR(hark_store_job_list(s, &o, &l), HARK_EINVAL);
    o.state = -1;
    o.owner = -1;
    ASSERT_ERR(hark_store_job_list(s, &o, &l), HARK_EINVAL);
    hark_store_free(s);
}

TEST(state_and_priority_names)
{
    hark_job_state st;
    ASSERT_STREQ(hark_job_state_name(HARK_JOB_DEAD), "dead");
    ASSERT_STREQ(hark_job_state_name((hark_job_state)77), "unknown");
    ASSERT_STREQ(hark_priority_name(HARK_PRIORITY_INTERACTIVE), "interactive");
    ASSERT_STREQ(hark_priority_name((hark_priority)-1), "unknown");
    ASSERT_STREQ(hark_chunk_state_name(HARK_CHUNK_FAILED), "failed");
    ASSERT_OK(hark_job_state_parse(&st, "canceled"));
    ASSERT_EQ(st, HARK_JOB_CANCELED);
    ASSERT_ERR(hark_job_state_parse(&st, "failed"), HARK_EINVAL);
}
