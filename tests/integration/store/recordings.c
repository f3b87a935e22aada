/*
 * recordings.c: conformance tests for opening a store and for recordings:
 * create/get/update/find/list/delete, pagination edges, errors.
 */
#include "store_test.h"

TEST(store_open_reopen_keeps_data)
{
    hark_store *s = st_open();
    int64_t id;
    hark_recording *r = NULL;

    ASSERT(hark_store_backend(s) != NULL);
    ASSERT_STREQ(hark_store_uri(s), st_uri());
    ASSERT_EQ(hark_store_is_read_only(s), 0);
    id = st_recording(s, "kept", 0);
    hark_store_free(s);

    s = st_reopen();
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    ASSERT_STREQ(r->title, "kept");
    hark_recording_free(r);
    hark_store_free(s);
}

TEST(store_two_handles_see_each_other)
{
    hark_store *a = st_open(), *b = st_reopen();
    hark_recording *r = NULL;
    int64_t id = st_recording(a, "from a", 0);
    ASSERT_OK(hark_store_recording_get(b, id, &r));
    ASSERT_STREQ(r->title, "from a");
    hark_recording_free(r);
    hark_store_free(a);
    hark_store_free(b);
}

TEST(recording_roundtrip_all_fields)
{
    hark_store *s = st_open();
    hark_recording in = HARK_RECORDING_INIT, *out = NULL;
    int64_t id = 0, before = st_now_ms();

    in.title = "Inaugural address";
    in.source = "jfk.wav";
    in.content_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    in.duration_ms = 11000;
    in.engine = "whisper";
    in.model = "base.en";
    in.options = "{\"beam_size\":5,\"language\":\"en\"}";
    in.language = "en";
    in.status = HARK_STATUS_RUNNING;
    in.audio_path = "/var/lib/hark/audio/9f86.flac";
    in.id = 12345;      /* ignored */
    in.n_segments = 99; /* ignored */
    ASSERT_OK(hark_store_recording_create(s, &in, &id));
    ASSERT(id > 0 && id != 12345);

    ASSERT_OK(hark_store_recording_get(s, id, &out));
    ASSERT_EQ(out->version, HARK_RECORDING_VERSION);
    ASSERT_EQ(out->id, id);
    ASSERT_STREQ(out->title, in.title);
    ASSERT_STREQ(out->source, in.source);
    ASSERT_STREQ(out->content_hash, in.content_hash);
    ASSERT_EQ(out->duration_ms, 11000);
    ASSERT_STREQ(out->engine, "whisper");
    ASSERT_STREQ(out->model, "base.en");
    ASSERT_STREQ(out->options, in.options);
    ASSERT_STREQ(out->language, "en");
    ASSERT_EQ(out->status, HARK_STATUS_RUNNING);
    ASSERT_STREQ(out->audio_path, in.audio_path);
    ASSERT_EQ(out->n_segments, 0);
    ASSERT(out->created_ms >= before - 1000 && out->created_ms <= st_now_ms() + 1000);
    ASSERT(out->updated_ms >= out->created_ms);
    hark_recording_free(out);
    hark_store_free(s);
}

TEST(recording_null_fields_stay_null)
{
    hark_store *s = st_open();
    hark_recording in = HARK_RECORDING_INIT, *out = NULL;
    int64_t id;
    in.created_ms = 1000000000000;
    ASSERT_OK(hark_store_recording_create(s, &in, &id));
    ASSERT_OK(hark_store_recording_get(s, id, &out));
    ASSERT(out->title == NULL && out->source == NULL && out->content_hash == NULL);
    ASSERT(out->engine == NULL && out->model == NULL && out->options == NULL);
    ASSERT(out->language == NULL && out->audio_path == NULL);
    ASSERT_EQ(out->status, HARK_STATUS_PENDING);
    ASSERT_EQ(out->created_ms, 1000000000000);
    hark_recording_free(out);
    hark_store_free(s);
}

TEST(recording_missing_is_enotfound)
{
    hark_store *s = st_open();
    hark_recording *r = (hark_recording *)1;
    hark_recording upd = HARK_RECORDING_INIT;
    ASSERT_ERR(hark_store_recording_get(s, 42, &r), HARK_ENOTFOUND);
    ASSERT(r == NULL);
    ASSERT_CONTAINS(hark_error_last(), "no recording 42");
    upd.id = 42;
    ASSERT_ERR(hark_store_recording_update(s, &upd), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_recording_set_status(s, 42, HARK_STATUS_DONE), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_recording_delete(s, 42, NULL), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_segments_truncate(s, 42, 0), HARK_ENOTFOUND);
    {
        hark_transcript *t = st_transcript(2, "x %d");
        ASSERT_ERR(hark_store_segments_put(s, 42, t, 0, 2, 0), HARK_ENOTFOUND);
        hark_transcript_free(t);
    }
    {
        hark_transcript *t = NULL;
        ASSERT_ERR(hark_store_transcript_get(s, 42, &t), HARK_ENOTFOUND);
        ASSERT(t == NULL);
    }
    hark_store_free(s);
}

TEST(recording_update_and_status)
{
    hark_store *s = st_open();
    hark_recording in = HARK_RECORDING_INIT, *out = NULL;
    int64_t id;

    in.title = "before";
    in.created_ms = 1500000000000;
    ASSERT_OK(hark_store_recording_create(s, &in, &id));
    in.id = id;
    in.title = "after";
    in.source = "talk.mp3";
    in.duration_ms = 5000;
    in.status = HARK_STATUS_DONE;
    in.audio_path = "/tmp/a.flac";
    in.created_ms = 1; /* ignored: created never changes */
    ASSERT_OK(hark_store_recording_update(s, &in));
    ASSERT_OK(hark_store_recording_get(s, id, &out));
    ASSERT_STREQ(out->title, "after");
    ASSERT_STREQ(out->source, "talk.mp3");
    ASSERT_EQ(out->duration_ms, 5000);
    ASSERT_EQ(out->status, HARK_STATUS_DONE);
    ASSERT_STREQ(out->audio_path, "/tmp/a.flac");
    ASSERT_EQ(out->created_ms, 1500000000000);
    hark_recording_free(out);

    ASSERT_OK(hark_store_recording_set_status(s, id, HARK_STATUS_FAILED));
    ASSERT_OK(hark_store_recording_get(s, id, &out));
    ASSERT_EQ(out->status, HARK_STATUS_FAILED);
    ASSERT_STREQ(out->title, "after");
    hark_recording_free(out);

    ASSERT_ERR(hark_store_recording_set_status(s, id, (hark_recording_status)77), HARK_EINVAL);
    in.status = (hark_recording_status)-1;
    ASSERT_ERR(hark_store_recording_update(s, &in), HARK_EINVAL);
    hark_store_free(s);
}

TEST(recording_status_names)
{
    hark_recording_status st;
    for (int i = 0; i < HARK_STATUS_COUNT; i++) {
        ASSERT_OK(
            hark_recording_status_parse(&st, hark_recording_status_name((hark_recording_status)i)));
        ASSERT_EQ(st, i);
    }
    ASSERT_STREQ(hark_recording_status_name(HARK_STATUS_DONE), "done");
    ASSERT_ERR(hark_recording_status_parse(&st, "finished"), HARK_EINVAL);
}

TEST(recording_find_by_hash_engine_model_options)
{
    hark_store *s = st_open();
    hark_recording in = HARK_RECORDING_INIT, *out = NULL;
    int64_t a, b, c;

    in.content_hash = "aaaa";
    in.engine = "whisper";
    in.model = "base.en";
    in.options = "{\"beam\":5}";
    in.created_ms = 1000;
    ASSERT_OK(hark_store_recording_create(s, &in, &a));
    in.model = "small.en";
    in.created_ms = 2000;
    ASSERT_OK(hark_store_recording_create(s, &in, &b));
    in.content_hash = "bbbb";
    in.created_ms = 3000;
    ASSERT_OK(hark_store_recording_create(s, &in, &c));

    ASSERT_OK(hark_store_recording_find(s, 0, "aaaa", NULL, NULL, NULL, &out));
    ASSERT_EQ(out->id, b); /* the newest of the audio */
    hark_recording_free(out);
    ASSERT_OK(hark_store_recording_find(s, 0, "aaaa", "whisper", "base.en", "{\"beam\":5}", &out));
    ASSERT_EQ(out->id, a);
    hark_recording_free(out);
    ASSERT_OK(hark_store_recording_find(s, 0, "bbbb", "whisper", NULL, NULL, &out));
    ASSERT_EQ(out->id, c);
    hark_recording_free(out);
    ASSERT_ERR(hark_store_recording_find(s, 0, "aaaa", "pocketsphinx", NULL, NULL, &out),
               HARK_ENOTFOUND);
    ASSERT(out == NULL);
    ASSERT_ERR(hark_store_recording_find(s, 0, "aaaa", NULL, NULL, "{\"beam\":1}", &out),
               HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_recording_find(s, 0, "cccc", NULL, NULL, NULL, &out), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_recording_find(s, 0, NULL, NULL, NULL, NULL, &out), HARK_EINVAL);
    hark_store_free(s);
}

/* Page through everything with `limit`; check order and completeness against `want` (newest first).
 */
static void check_pages(hark_store *s, size_t limit, const int64_t *want, size_t n_want)
{
    hark_list_options o = HARK_LIST_OPTIONS_INIT;
    size_t seen = 0;
    int more = 1, pages = 0;
    o.limit = limit;
    while (more) {
        hark_recording_list *l = NULL;
        ASSERT_OK(hark_store_recording_list(s, &o, &l));
        ASSERT(l->n <= limit);
        for (size_t i = 0; i < l->n; i++) {
            ASSERT(seen < n_want);
            ASSERT_EQ(l->items[i].id, want[seen]);
            seen++;
        }
        more = l->more;
        if (more)
            ASSERT_EQ(l->n, limit);
        if (l->n)
            o.after = l->items[l->n - 1].id;
        hark_recording_list_free(l);
        ASSERT(++pages <= 1000);
    }
    ASSERT_EQ(seen, n_want);
}

TEST(list_newest_first_with_keyset_pages)
{
    hark_store *s = st_open();
    int64_t ids[25], want[25];
    size_t i, k = 0;

    /* creation times with ties: 5 groups of 5 recordings sharing one time */
    for (i = 0; i < 25; i++)
        ids[i] = st_recording(s, "r", 1000000 + (int64_t)(i / 5) * 1000);
    /* newest first: group 4 first; within a group, the higher id first */
    for (int g = 4; g >= 0; g--)
        for (int j = 4; j >= 0; j--)
            want[k++] = ids[g * 5 + j];

    check_pages(s, 10, want, 25); /* 10, 10, 5 */
    check_pages(s, 5, want, 25);  /* exact multiple: the last full page says no more */
    check_pages(s, 25, want, 25);
    check_pages(s, 1, want, 25);
    check_pages(s, 1000, want, 25);
    hark_store_free(s);
}

TEST(list_defaults_and_edges)
{
    hark_store *s = st_open();
    hark_recording_list *l = NULL;
    hark_list_options o = HARK_LIST_OPTIONS_INIT;
    int64_t ids[30], last = 0;

    ASSERT_OK(hark_store_recording_list(s, NULL, &l)); /* empty store */
    ASSERT_EQ(l->n, 0);
    ASSERT_EQ(l->more, 0);
    hark_recording_list_free(l);

    for (int i = 0; i < 30; i++)
        last = ids[i] = st_recording(s, "r", 1000 + i);
    ASSERT_OK(hark_store_recording_list(s, NULL, &l)); /* default page: 20 */
    ASSERT_EQ(l->n, 20);
    ASSERT_EQ(l->more, 1);
    ASSERT_EQ(l->items[0].id, last);
    hark_recording_list_free(l);

    /* after the oldest: an empty page */
    ASSERT_OK(hark_store_recording_list(s, NULL, &l));
    hark_recording_list_free(l);
    o.after = ids[0];
    ASSERT_OK(hark_store_recording_list(s, &o, &l));
    ASSERT_EQ(l->n, 0);
    ASSERT_EQ(l->more, 0);
    hark_recording_list_free(l);

    /* a deleted cursor is reported, not silently restarted */
    ASSERT_OK(hark_store_recording_delete(s, ids[4], NULL));
    o.after = ids[4];
    ASSERT_ERR(hark_store_recording_list(s, &o, &l), HARK_ENOTFOUND);
    ASSERT(l == NULL);
    o.after = -3;
    ASSERT_ERR(hark_store_recording_list(s, &o, &l), HARK_EINVAL);
    hark_store_free(s);
}

TEST(list_pages_are_stable_while_recordings_are_added)
{
    hark_store *s = st_open();
    hark_list_options o = HARK_LIST_OPTIONS_INIT;
    hark_recording_list *l = NULL;
    int64_t ids[10], first_page_last;

    for (int i = 0; i < 10; i++)
        ids[i] = st_recording(s, "old", 1000 + i);
    o.limit = 4;
    ASSERT_OK(hark_store_recording_list(s, &o, &l));
    first_page_last = l->items[3].id;
    ASSERT_EQ(l->items[0].id, ids[9]);
    ASSERT_EQ(first_page_last, ids[6]);
    hark_recording_list_free(l);
    /* new recordings arrive between page requests */
    for (int i = 0; i < 5; i++)
        st_recording(s, "new", 0);
    o.after = first_page_last;
    ASSERT_OK(hark_store_recording_list(s, &o, &l));
    ASSERT_EQ(l->n, 4);
    ASSERT_EQ(l->items[0].id, ids[5]); /* continues where it stopped */
    hark_recording_list_free(l);
    hark_store_free(s);
}

TEST(delete_removes_everything_and_ids_are_not_reused)
{
    hark_store *s = st_open();
    hark_recording in = HARK_RECORDING_INIT, *gone = NULL;
    hark_transcript *t = st_transcript(20, "segment %d mentions zebras");
    int64_t id, keep, next;
    hark_store_stats st;

    in.title = "to delete";
    in.content_hash = "feedbeef";
    in.audio_path = "/archive/feedbeef.flac";
    ASSERT_OK(hark_store_recording_create(s, &in, &id));
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 20, 0));
    keep = st_recording_texts(s, "kept", (const char *const[]){ "zebras everywhere", NULL });
    ASSERT_EQ(st_hits(s, "zebras"), 21);

    ASSERT_OK(hark_store_recording_delete(s, id, &gone));
    ASSERT(gone != NULL);
    ASSERT_EQ(gone->id, id);
    ASSERT_STREQ(gone->audio_path, "/archive/feedbeef.flac");
    ASSERT_STREQ(gone->content_hash, "feedbeef");
    ASSERT_EQ(gone->n_segments, 20);
    hark_recording_free(gone);

    ASSERT_EQ(st_hits(s, "zebras"), 1);
    {
        hark_transcript *back = NULL;
        ASSERT_ERR(hark_store_transcript_get(s, id, &back), HARK_ENOTFOUND);
    }
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, 1);
    ASSERT_EQ(st.segments, 1);
    ASSERT_ERR(hark_store_recording_delete(s, id, NULL), HARK_ENOTFOUND);
    next = st_recording(s, "next", 0);
    ASSERT(next > keep && next > id);
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(stats_count_everything)
{
    hark_store *s = st_open();
    hark_store_stats st;
    hark_transcript *t = st_transcript(7, "stat %d");
    int64_t a = st_recording(s, "a", 0);
    st_recording(s, "b", 0);
    ASSERT_OK(hark_store_segments_put(s, a, t, 0, 7, 0));
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, 2);
    ASSERT_EQ(st.segments, 7);
    ASSERT_EQ(st.jobs, 0);
    ASSERT_EQ(st.cache_entries, 0);
    ASSERT(st.db_bytes > 0);
    hark_transcript_free(t);
    hark_store_free(s);
}
