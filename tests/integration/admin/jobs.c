/*
 * `hark jobs` end to end: jobs are submitted, claimed and failed through the
 * library on a real SQLite file, then listed, shown, retried and canceled
 * through the real binary, and the library checks what the commands did to
 * the queue (states, attempts, chunk states, the audit log).
 */
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "harness.h"
#include "admin_util.h"

static int64_t submit(hark_store *s, const char *title, hark_priority prio, unsigned max_attempts)
{
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted sub;
    rec.title = title;
    rec.source = title;
    rec.content_hash = title; /* distinct per job: no dedup */
    rec.engine = "whisper";
    rec.model = "base.en";
    job.priority = prio;
    job.max_attempts = max_attempts;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    ASSERT_EQ(sub.existed, 0);
    return sub.job;
}

static void chunk(hark_store *s, int64_t job, uint32_t index, hark_chunk_state st,
                  const char *error)
{
    hark_job_chunk c;
    memset(&c, 0, sizeof(c));
    c.index = index;
    c.start = (int64_t)index * 16000 * 30;
    c.n = 16000 * 30;
    c.state = st;
    c.attempts = 1;
    c.error = error;
    c.asr_ms = 100;
    ASSERT_OK(hark_store_job_chunk_put(s, job, &c));
}

static hark_job *get(int64_t id)
{
    hark_store *s = open_db();
    hark_job *j = NULL;
    ASSERT_OK(hark_store_job_get(s, id, &j));
    hark_store_free(s);
    return j;
}

/*
 * The queue of every test: job 1 dead (claimed, chunk 0 done, chunk 1
 * failed, given up), job 2 queued, job 3 queued at interactive priority,
 * then claimed: running.
 */
static void make_queue(void)
{
    hark_store *s = open_db();
    hark_job *j = NULL;
    int64_t j1 = submit(s, "one.wav", HARK_PRIORITY_BULK, 1);
    ASSERT_EQ(j1, 1);
    ASSERT_EQ(submit(s, "two.wav", HARK_PRIORITY_BULK, 4), 2);
    chunk(s, j1, 0, HARK_CHUNK_DONE, NULL);
    chunk(s, j1, 1, HARK_CHUNK_FAILED, "engine \x1b[31mexploded");
    ASSERT_OK(hark_store_job_set_chunks(s, j1, 2, 1));
    ASSERT_OK(hark_store_job_claim(s, "runner-a", 600000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    ASSERT_EQ(j->id, j1); /* the oldest bulk job */
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, j1, "runner-a", HARK_JOB_DEAD, 0, 0, "gave up on chunk 1"));
    ASSERT_EQ(submit(s, "three.wav", HARK_PRIORITY_INTERACTIVE, 4), 3);
    ASSERT_OK(hark_store_job_claim(s, "runner-b", 600000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    ASSERT_EQ(j->id, 3); /* interactive before bulk */
    hark_job_free(j);
    hark_store_free(s);
}

/* The JSON document on stdout of `hark ARGS` (exit 0 required). */
static json_t *json_of(const char *fmt, const char *arg)
{
    int st;
    char *o = hark(&st, fmt, arg);
    json_error_t je;
    json_t *doc;
    ASSERT_EQ(st, 0);
    doc = json_loads(o, 0, &je);
    ASSERT_MSG(doc, "not JSON (%s): %s", je.text, o);
    free(o);
    return doc;
}

static const char *state_of(json_t *job)
{
    return json_string_value(json_object_get(job, "state"));
}

TEST(list_shows_the_queue_newest_first_and_filters_by_state)
{
    json_t *doc, *jobs;
    int st;
    char *o;

    make_queue();
    o = hark(&st, "jobs");
    ASSERT_EQ(st, 0);
    ASSERT_MSG(strstr(o, "\n     3  running   interactive") &&
                   strstr(o, "\n     2  queued    bulk") && strstr(o, "\n     1  dead      bulk"),
               "unexpected table:\n%s", o);
    ASSERT(strstr(o, "     3  ") < strstr(o, "     1  ")); /* newest first */
    ASSERT_CONTAINS(o, "gave up on chunk 1");
    ASSERT_CONTAINS(o, "1/2 ");
    free(o);

    o = hark(&st, "jobs list --state dead");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "     1  dead");
    ASSERT(!strstr(o, "queued"));
    ASSERT(!strstr(o, "running"));
    free(o);
    o = hark(&st, "jobs list --state canceled");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "no canceled jobs");
    free(o);

    doc = json_of("jobs list --json --state %s", "queued");
    jobs = json_object_get(doc, "jobs");
    ASSERT_EQ(json_array_size(jobs), 1);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), 2);
    ASSERT_STREQ(state_of(json_array_get(jobs, 0)), "queued");
    json_decref(doc);

    /* pages */
    o = hark(&st, "jobs list --limit 2");
    ASSERT_EQ(st, 0);
    ASSERT(!strstr(o, "     1  dead"));
    ASSERT_CONTAINS(o, "more: hark jobs list --after 2");
    free(o);
    doc = json_of("jobs list --json --after %s", "2");
    jobs = json_object_get(doc, "jobs");
    ASSERT_EQ(json_array_size(jobs), 1);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), 1);
    ASSERT(json_is_null(json_object_get(doc, "next_cursor")));
    json_decref(doc);
}

TEST(show_gives_the_job_and_its_chunks)
{
    json_t *doc, *chunks;
    int st;
    char *o;

    make_queue();
    o = hark(&st, "jobs show 1");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "job 1\n");
    ASSERT_CONTAINS(o, "state       dead");
    ASSERT_CONTAINS(o, "attempts    1 of 1");
    ASSERT_CONTAINS(o, "1 of 2 chunks done, 1 failed");
    ASSERT_CONTAINS(o, "error       gave up on chunk 1");
    ASSERT_CONTAINS(o, "chunks:");
    ASSERT_CONTAINS(o, "0:30.000");
    ASSERT_CONTAINS(o, "1:00.000");
    ASSERT_CONTAINS(o, "engine \\x1b[31mexploded"); /* the stored error, made visible */
    ASSERT(!strchr(o, '\x1b'));
    free(o);

    o = hark(&st, "jobs show 3");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "state       running");
    ASSERT_CONTAINS(o, "lease       runner-b until");
    free(o);

    doc = json_of("jobs show %s --json", "1");
    ASSERT_EQ(json_integer_value(json_object_get(doc, "id")), 1);
    ASSERT_STREQ(state_of(doc), "dead");
    chunks = json_object_get(doc, "chunks");
    ASSERT_EQ(json_array_size(chunks), 2);
    ASSERT_STREQ(state_of(json_array_get(chunks, 0)), "done");
    ASSERT_STREQ(state_of(json_array_get(chunks, 1)), "failed");
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(chunks, 1), "start_ms")), 30000);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(chunks, 1), "error")),
                 "engine \x1b[31mexploded");
    json_decref(doc);
}

TEST(retry_requeues_a_dead_job_keeping_its_done_chunks)
{
    hark_store *s;
    hark_job_chunk_list *cl = NULL;
    hark_audit_list *al = NULL;
    hark_job *j;
    int st;
    char *o;

    make_queue();
    o = hark(&st, "jobs retry 1");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "job 1 is queued again (1 of 2 chunks kept)");
    free(o);
    j = get(1);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    ASSERT_EQ(j->attempts, 0);
    hark_job_free(j);
    s = open_db();
    ASSERT_OK(hark_store_job_chunks(s, 1, 0, &cl));
    ASSERT_EQ(cl->n, 2);
    ASSERT_EQ(cl->items[0].state, HARK_CHUNK_DONE);
    ASSERT_EQ(cl->items[1].state, HARK_CHUNK_PENDING);
    hark_job_chunk_list_free(cl);
    ASSERT_OK(hark_store_audit_list(s, 0, 0, &al));
    ASSERT_EQ(al->n, 1);
    ASSERT_STREQ(al->items[0].action, "job.retry");
    ASSERT_STREQ(al->items[0].detail, "{\"job\":1}");
    hark_audit_list_free(al);
    hark_store_free(s);

    /* only dead or canceled jobs are retried */
    free(hark(&st, "jobs retry 2"));
    ASSERT_EQ(st, 1);
    o = err();
    ASSERT_CONTAINS(o, "job 2 is queued");
    free(o);
    j = get(2);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    hark_job_free(j);
}

TEST(cancel_stops_queued_and_running_jobs_only)
{
    hark_store *s;
    hark_audit_list *al = NULL;
    hark_job *j;
    int st;
    char *o;

    make_queue();
    o = hark(&st, "jobs cancel 2");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "job 2 canceled");
    free(o);
    o = hark(&st, "jobs cancel 3");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "job 3 canceled");
    free(o);
    j = get(2);
    ASSERT_EQ(j->state, HARK_JOB_CANCELED);
    hark_job_free(j);
    j = get(3);
    ASSERT_EQ(j->state, HARK_JOB_CANCELED);
    hark_job_free(j);

    /* finished jobs cannot be canceled; nothing changes */
    free(hark(&st, "jobs cancel 1"));
    ASSERT_EQ(st, 1);
    o = err();
    ASSERT_CONTAINS(o, "job 1 is already dead");
    free(o);
    free(hark(&st, "jobs cancel 2"));
    ASSERT_EQ(st, 1);
    o = err();
    ASSERT_CONTAINS(o, "already canceled");
    free(o);
    j = get(1);
    ASSERT_EQ(j->state, HARK_JOB_DEAD);
    hark_job_free(j);

    s = open_db();
    ASSERT_OK(hark_store_audit_list(s, 0, 0, &al));
    ASSERT_EQ(al->n, 2);
    ASSERT_STREQ(al->items[0].action, "job.cancel");
    ASSERT_STREQ(al->items[0].detail, "{\"job\":3}");
    ASSERT_STREQ(al->items[1].detail, "{\"job\":2}");
    hark_audit_list_free(al);
    hark_store_free(s);

    /* a canceled job can be retried */
    free(hark(&st, "jobs retry 2"));
    ASSERT_EQ(st, 0);
    j = get(2);
    ASSERT_EQ(j->state, HARK_JOB_QUEUED);
    hark_job_free(j);
}

TEST(counts_per_state_and_priority)
{
    json_t *doc;
    int st;
    char *o;

    make_queue();
    o = hark(&st, "jobs counts");
    ASSERT_EQ(st, 0);
    ASSERT_MSG(strstr(o, "\nqueued          1           0           0           1           0\n") &&
                   strstr(o, "\nrunning         1           0           1           0") &&
                   strstr(o, "\ndead            1") && strstr(o, "\ndone            0"),
               "unexpected counts:\n%s", o);
    free(o);
    free(hark(&st, "jobs cancel 2"));
    ASSERT_EQ(st, 0);
    doc = json_of("jobs counts %s", "--json");
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doc, "queued"), "total")), 0);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doc, "canceled"), "total")), 1);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doc, "canceled"), "bulk")), 1);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doc, "running"), "interactive")),
              1);
    json_decref(doc);
}

TEST(bad_ids_states_and_actions_are_refused_clearly)
{
    int st;
    char *o;

    make_queue();
    free(hark(&st, "jobs show 99"));
    ASSERT_EQ(st, 3);
    o = err();
    ASSERT_CONTAINS(o, "hark jobs show: no job 99");
    free(o);
    free(hark(&st, "jobs retry 99"));
    ASSERT_EQ(st, 3);
    o = err();
    ASSERT_CONTAINS(o, "no job 99");
    free(o);
    free(hark(&st, "jobs cancel 99"));
    ASSERT_EQ(st, 3);
    free(hark(&st, "jobs show abc"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "a job id must be a whole number");
    free(o);
    free(hark(&st, "jobs show 0"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "jobs show"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "jobs cancel 1 2"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "jobs --state finished"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "unknown state 'finished': queued, running, done, dead or canceled");
    free(o);
    free(hark(&st, "jobs list --limit 0"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "jobs show 1 --state dead"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "--state does not apply");
    free(o);
    free(hark(&st, "jobs frob"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "unknown action 'frob'");
    free(o);
    /* nothing changed */
    {
        hark_job *j = NULL;
        hark_store *s = open_db();
        ASSERT_OK(hark_store_job_get(s, 1, &j));
        ASSERT_EQ(j->state, HARK_JOB_DEAD);
        hark_job_free(j);
        hark_store_free(s);
    }
}
