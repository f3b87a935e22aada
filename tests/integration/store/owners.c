/*
 * owners.c: conformance tests of recording owners and the list filters:
 * owner isolation in list, search and find (nothing of another owner
 * leaks), owners are kept through updates and segment rewrites, status and
 * date filters with keyset pages, shared audio files (audio_refs), and
 * recording delete and gc taking the jobs and their chunks along.
 */
#include "store_test.h"

/* A recording of `owner` with segments from `texts`; returns its id. */
static int64_t owned(hark_store *s, int64_t owner, const char *title, const char *hash,
                     const char *const *texts)
{
    hark_recording rec = HARK_RECORDING_INIT;
    hark_transcript *t;
    int64_t id = 0;
    rec.title = title;
    rec.content_hash = hash;
    rec.owner = owner;
    ASSERT_OK(hark_store_recording_create(s, &rec, &id));
    if (texts) {
        t = st_texts(texts);
        ASSERT_OK(hark_store_segments_put(s, id, t, 0, hark_transcript_count(t), 0));
        hark_transcript_free(t);
    }
    return id;
}

static size_t owner_hits(hark_store *s, const char *q, int64_t owner, int64_t *only)
{
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_search_result *r = NULL;
    size_t n;
    o.owner = owner;
    o.limit = 1000;
    ASSERT_OK(hark_store_search(s, q, &o, &r));
    n = r->n;
    for (size_t i = 0; only && i < r->n; i++) {
        int ok = 0;
        for (int k = 0; only[k]; k++)
            ok |= r->hits[i].recording == only[k];
        ASSERT_MSG(ok, "owner %lld's search returned recording %lld", (long long)owner,
                   (long long)r->hits[i].recording);
    }
    hark_search_result_free(r);
    return n;
}

TEST(owners_see_only_their_recordings_in_list_search_and_find)
{
    hark_store *s = st_open();
    static const char *const alice_texts[] = { "the budget meeting of alice", "shared word here",
                                               NULL };
    static const char *const bob_texts[] = { "bob talks about the budget", "shared word again",
                                             NULL };
    static const char *const local_texts[] = { "a local budget note", NULL };
    hark_list_options lo = HARK_LIST_OPTIONS_INIT;
    hark_recording_list *l = NULL;
    hark_recording *r = NULL;
    int64_t a1, a2, b1, loc;

    a1 = owned(s, 11, "alice 1", "h-shared", alice_texts);
    b1 = owned(s, 12, "bob 1", "h-shared", bob_texts);
    a2 = owned(s, 11, "alice 2", "h-a2", alice_texts);
    loc = owned(s, 0, "local", "h-shared", local_texts);

    lo.owner = 11;
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 2);
    ASSERT_EQ(l->items[0].id, a2);
    ASSERT_EQ(l->items[1].id, a1);
    ASSERT_EQ(l->items[0].owner, 11);
    hark_recording_list_free(l);
    lo.owner = 12;
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 1);
    ASSERT_EQ(l->items[0].id, b1);
    hark_recording_list_free(l);
    lo.owner = 99;
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 0);
    hark_recording_list_free(l);
    lo.owner = 0; /* everyone's */
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 4);
    hark_recording_list_free(l);

    {
        int64_t only_a[] = { a1, a2, 0 }, only_b[] = { b1, 0 };
        ASSERT_EQ(owner_hits(s, "budget", 11, only_a), 2);
        ASSERT_EQ(owner_hits(s, "budget", 12, only_b), 1);
        ASSERT_EQ(owner_hits(s, "budget", 0, NULL), 4);
        ASSERT_EQ(owner_hits(s, "budget", 99, NULL), 0);
        ASSERT_EQ(owner_hits(s, "\"shared word\"", 12, only_b), 1);
        ASSERT_EQ(owner_hits(s, "shar* OR alice", 11, only_a), 4);
        ASSERT_EQ(owner_hits(s, "budget NOT alice", 11, NULL), 0);
    }
    /* the owner's tag is not text: searching for it finds nothing */
    ASSERT_EQ(owner_hits(s, "owner11", 0, NULL), 0);
    ASSERT_EQ(owner_hits(s, "owner*", 0, NULL), 0);
    {
        hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
        hark_search_result *res = NULL;
        o.owner = 11;
        o.recording = b1; /* bob's recording under alice's filter: nothing */
        ASSERT_OK(hark_store_search(s, "budget", &o, &res));
        ASSERT_EQ(res->n, 0);
        hark_search_result_free(res);
        o.recording = a1;
        ASSERT_OK(hark_store_search(s, "budget", &o, &res));
        ASSERT_EQ(res->n, 1);
        ASSERT_CONTAINS(res->hits[0].snippet, "[budget]");
        ASSERT(!strstr(res->hits[0].snippet, "owner"));
        hark_search_result_free(res);
        o.owner = -2;
        ASSERT_ERR(hark_store_search(s, "budget", &o, &res), HARK_EINVAL);
    }

    /* find: 0 = local recordings only, -1 = any owner, else that owner's */
    ASSERT_OK(hark_store_recording_find(s, 0, "h-shared", NULL, NULL, NULL, &r));
    ASSERT_EQ(r->id, loc);
    hark_recording_free(r);
    ASSERT_OK(hark_store_recording_find(s, 12, "h-shared", NULL, NULL, NULL, &r));
    ASSERT_EQ(r->id, b1);
    hark_recording_free(r);
    ASSERT_OK(hark_store_recording_find(s, -1, "h-shared", NULL, NULL, NULL, &r));
    ASSERT_EQ(r->id, loc); /* the newest */
    hark_recording_free(r);
    ASSERT_ERR(hark_store_recording_find(s, 12, "h-a2", NULL, NULL, NULL, &r), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_recording_find(s, 13, "h-shared", NULL, NULL, NULL, &r), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_recording_find(s, -7, "h-shared", NULL, NULL, NULL, &r), HARK_EINVAL);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(an_owner_is_kept_through_updates_and_segment_rewrites)
{
    hark_store *s = st_open();
    static const char *const v1[] = { "first version words", "kept segment", NULL };
    static const char *const v2[] = { "second version words", NULL };
    hark_recording *r = NULL;
    hark_transcript *t;
    int64_t id = owned(s, 5, "mine", "h", v1);

    ASSERT_OK(hark_store_recording_get(s, id, &r));
    ASSERT_EQ(r->owner, 5);
    {
        hark_recording u = *r;
        u.owner = 6; /* update cannot move a recording to another owner */
        u.title = NULL;
        ASSERT_OK(hark_store_recording_update(s, &u));
    }
    hark_recording_free(r);
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    ASSERT_EQ(r->owner, 5);
    ASSERT(r->title == NULL);
    hark_recording_free(r);

    /* rewrite segment 0 (row by row) and drop segment 1: the index follows, tag included */
    t = st_texts(v2);
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 1, 0));
    hark_transcript_free(t);
    ASSERT_OK(hark_store_segments_truncate(s, id, 1));
    ASSERT_EQ(owner_hits(s, "second", 5, NULL), 1);
    ASSERT_EQ(owner_hits(s, "first", 5, NULL), 0);
    ASSERT_EQ(owner_hits(s, "kept", 5, NULL), 0);
    ASSERT_EQ(owner_hits(s, "second", 6, NULL), 0);
    ASSERT_OK(hark_store_check(s)); /* FTS5 integrity-check re-tokenises the tags too */
    ASSERT_OK(hark_store_recording_delete(s, id, NULL));
    ASSERT_EQ(owner_hits(s, "second", 5, NULL), 0);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(list_filters_by_status_and_creation_time_with_keyset_pages)
{
    hark_store *s = st_open();
    hark_list_options lo = HARK_LIST_OPTIONS_INIT;
    hark_recording_list *l = NULL;
    int64_t ids[30];

    for (int i = 0; i < 30; i++) {
        hark_recording rec = HARK_RECORDING_INIT;
        rec.created_ms = 1000000 + (int64_t)i * 1000;
        rec.status = i % 3 == 0 ? HARK_STATUS_DONE : HARK_STATUS_FAILED;
        rec.owner = i % 2 ? 1 : 2;
        ASSERT_OK(hark_store_recording_create(s, &rec, &ids[i]));
    }
    /* done: i = 0, 3, ..., 27 (10), newest first, in pages of 4 */
    lo.status = HARK_STATUS_DONE;
    lo.limit = 4;
    {
        int seen = 0, k = 27;
        do {
            ASSERT_OK(hark_store_recording_list(s, &lo, &l));
            for (size_t i = 0; i < l->n; i++, seen++, k -= 3) {
                ASSERT_EQ(l->items[i].id, ids[k]);
                ASSERT_EQ(l->items[i].status, HARK_STATUS_DONE);
            }
            lo.after = l->n ? l->items[l->n - 1].id : 0;
            if (!l->more) {
                hark_recording_list_free(l);
                break;
            }
            hark_recording_list_free(l);
        } while (1);
        ASSERT_EQ(seen, 10);
    }
    /* created in [1010000, 1020000): i = 10..19; with owner 1: odd i */
    lo = (hark_list_options)HARK_LIST_OPTIONS_INIT;
    lo.created_from = 1010000;
    lo.created_to = 1020000;
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 10);
    ASSERT_EQ(l->items[0].id, ids[19]);
    ASSERT_EQ(l->items[9].id, ids[10]);
    hark_recording_list_free(l);
    lo.owner = 1;
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 5);
    for (size_t i = 0; i < l->n; i++)
        ASSERT_EQ(l->items[i].owner, 1);
    hark_recording_list_free(l);
    lo.status = HARK_STATUS_DONE; /* owner 1, i in 10..19, i % 3 == 0: 15 */
    ASSERT_OK(hark_store_recording_list(s, &lo, &l));
    ASSERT_EQ(l->n, 1);
    ASSERT_EQ(l->items[0].id, ids[15]);
    hark_recording_list_free(l);

    lo = (hark_list_options)HARK_LIST_OPTIONS_INIT;
    lo.status = HARK_STATUS_COUNT;
    ASSERT_ERR(hark_store_recording_list(s, &lo, &l), HARK_EINVAL);
    lo.status = -1;
    lo.owner = -1;
    ASSERT_ERR(hark_store_recording_list(s, &lo, &l), HARK_EINVAL);
    lo.owner = 0;
    lo.created_from = -5;
    ASSERT_ERR(hark_store_recording_list(s, &lo, &l), HARK_EINVAL);
    hark_store_free(s);
}

TEST(audio_refs_count_the_recordings_sharing_a_file)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    int64_t a, b;
    uint64_t n = 99;

    rec.audio_path = "/srv/hark/audio/ab/abcdef.flac";
    ASSERT_OK(hark_store_recording_create(s, &rec, &a));
    rec.owner = 4;
    ASSERT_OK(hark_store_recording_create(s, &rec, &b));
    ASSERT_OK(hark_store_audio_refs(s, rec.audio_path, &n));
    ASSERT_EQ(n, 2);
    ASSERT_OK(hark_store_recording_delete(s, a, NULL));
    ASSERT_OK(hark_store_audio_refs(s, rec.audio_path, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(hark_store_recording_delete(s, b, NULL));
    ASSERT_OK(hark_store_audio_refs(s, rec.audio_path, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(hark_store_audio_refs(s, "/nowhere.flac", &n));
    ASSERT_EQ(n, 0);
    ASSERT_ERR(hark_store_audio_refs(s, "", &n), HARK_EINVAL);
    hark_store_free(s);
}

static void chunks_for(hark_store *s, int64_t job, int n)
{
    for (int i = 0; i < n; i++) {
        hark_job_chunk c;
        memset(&c, 0, sizeof(c));
        c.index = (uint32_t)i;
        c.n = 16000;
        c.state = HARK_CHUNK_DONE;
        c.result = "bytes";
        c.result_len = 5;
        ASSERT_OK(hark_store_job_chunk_put(s, job, &c));
    }
}

TEST(delete_and_gc_take_the_jobs_and_their_chunks_along)
{
    hark_store *s = st_open();
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT, *j = NULL;
    hark_job_submitted old, fresh, del;
    hark_gc_options go = HARK_GC_OPTIONS_INIT;
    hark_gc_result res;
    hark_store_stats st;
    hark_job_chunk_list *cl = NULL;

    rec.content_hash = "deleted";
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &del));
    chunks_for(s, del.job, 3);
    ASSERT_OK(hark_store_recording_delete(s, del.recording, NULL));
    ASSERT_ERR(hark_store_job_get(s, del.job, &j), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_job_chunks(s, del.job, 0, &cl), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_check(s)); /* no orphan chunks */

    rec.content_hash = "old";
    rec.created_ms = 1000; /* long ago */
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &old));
    chunks_for(s, old.job, 2);
    rec.content_hash = "fresh";
    rec.created_ms = 0;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &fresh));
    chunks_for(s, fresh.job, 2);
    ASSERT_OK(hark_store_job_claim(s, "r", 60000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    hark_job_free(j);
    ASSERT_OK(hark_store_job_claim(s, "r", 60000, HARK_PRIORITY_MAINTENANCE, &j, NULL));
    hark_job_free(j);
    ASSERT_OK(hark_store_job_end(s, fresh.job, "r", HARK_JOB_DONE, 0, 0, NULL));

    go.older_than_ms = st_now_ms() - 3600 * 1000;
    go.dry_run = 1;
    ASSERT_OK(hark_store_gc(s, &go, &res));
    ASSERT_EQ(res.recordings, 1);
    ASSERT_EQ(res.jobs, 1);
    go.dry_run = 0;
    ASSERT_OK(hark_store_gc(s, &go, &res));
    ASSERT_EQ(res.recordings, 1);
    ASSERT_EQ(res.jobs, 1);
    ASSERT_ERR(hark_store_job_get(s, old.job, &j), HARK_ENOTFOUND);
    ASSERT_EQ(st_job_state(s, fresh.job), HARK_JOB_DONE); /* finished within the window */
    ASSERT_OK(hark_store_check(s));
    /* a cut-off after everything: the finished job and its recording go too */
    go.older_than_ms = st_now_ms() + 1000;
    ASSERT_OK(hark_store_gc(s, &go, &res));
    ASSERT_EQ(res.jobs, 1);
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.jobs, 0);
    ASSERT_EQ(st.recordings, 0);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}
