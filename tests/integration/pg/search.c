/*
 * search.c: PostgreSQL-only test of the search plan for frequent words.
 * pg_search states the window's condition inline (so the planner can read
 * a frequent word newest first along the primary key) only when the
 * column's statistics list the word as frequent; without statistics it
 * keeps the GIN form. The conformance suite runs on unanalysed tables, so
 * this test runs the same searches before and after ANALYZE and asserts
 * identical hits, order, scores, snippets and window flags.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_test.h"
#include "hark/store.h"
#include "hark/transcript.h"

#define N_REC 3
#define N_SEG 40

typedef struct run {
    size_t n;
    int windowed;
    int64_t recording[8], seq[8];
    double score[8];
    char snippet[8][160];
} run;

static run search(hark_store *s, const char *query, int64_t owner)
{
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_search_result *r = NULL;
    run out;
    memset(&out, 0, sizeof(out));
    o.limit = 8;
    o.max_ranked = 10;
    o.owner = owner;
    ASSERT_OK(hark_store_search(s, query, &o, &r));
    out.n = r->n;
    out.windowed = r->windowed;
    for (size_t i = 0; i < r->n && i < 8; i++) {
        out.recording[i] = r->hits[i].recording;
        out.seq[i] = r->hits[i].seq;
        out.score[i] = r->hits[i].score;
        snprintf(out.snippet[i], sizeof(out.snippet[i]), "%s", r->hits[i].snippet);
    }
    hark_search_result_free(r);
    return out;
}

static void same(const run *a, const run *b)
{
    ASSERT_EQ(a->n, b->n);
    ASSERT_EQ(a->windowed, b->windowed);
    for (size_t i = 0; i < a->n; i++) {
        ASSERT_EQ(a->recording[i], b->recording[i]);
        ASSERT_EQ(a->seq[i], b->seq[i]);
        ASSERT(a->score[i] == b->score[i]);
        ASSERT_STREQ(a->snippet[i], b->snippet[i]);
    }
}

static double lexeme_freq(PGconn *db, const char *word)
{
    char sql[512];
    PGresult *r;
    double f;
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT max(e.f) FROM pg_stats st, "
             "unnest(st.most_common_elems::text::text[], st.most_common_elem_freqs) e(w, f) "
             "WHERE st.schemaname = current_schema() AND st.tablename = 'segments' "
             "AND st.attname = 'tsv' AND e.w = '%s'), 0)",
             word);
    r = PQexec(db, sql);
    ASSERT_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
    f = atof(PQgetvalue(r, 0, 0));
    PQclear(r);
    return f;
}

TEST(pg_frequent_word_search_is_the_same_with_and_without_statistics)
{
    const char *uri = harness_pg_uri();
    static const char *const queries[] = { "the",           "apple", "the apple",
                                           "\"the apple\"", "rare7", "nothing" };
    hark_store *s = NULL;
    run before[6][2], after[6][2];
    int64_t rec[N_REC];
    PGconn *db;
    PGresult *r;

    ASSERT_OK(hark_store_open(&s, uri));
    for (int k = 0; k < N_REC; k++) {
        hark_recording rc = HARK_RECORDING_INIT;
        hark_transcript *t = NULL;
        char text[N_SEG][96];
        rc.title = "frequent";
        rc.owner = 1 + k % 2;
        ASSERT_OK(hark_store_recording_create(s, &rc, &rec[k]));
        ASSERT_OK(hark_transcript_new(&t));
        for (int i = 0; i < N_SEG; i++) {
            hark_segment seg;
            memset(&seg, 0, sizeof(seg));
            /* "the" everywhere, "apple" in every 4th, a word of its own in each */
            snprintf(text[i], sizeof(text[i]), "the %s word rare%d and the end %s",
                     i % 4 ? "pear" : "apple", k * N_SEG + i, i % 3 ? "of it" : "of the day");
            seg.start = (int64_t)i * 16000;
            seg.end = seg.start + 16000;
            seg.text = text[i];
            ASSERT_OK(hark_transcript_add(t, &seg));
        }
        ASSERT_OK(hark_store_segments_put(s, rec[k], t, 0, N_SEG, 0));
        hark_transcript_free(t);
    }
    for (int i = 0; i < 6; i++) {
        before[i][0] = search(s, queries[i], 0);
        before[i][1] = search(s, queries[i], 2);
    }
    /* statistics: "the" and "apple" become frequent lexemes of the column */
    db = PQconnectdb(uri);
    ASSERT_MSG(PQstatus(db) == CONNECTION_OK, "connect: %s", PQerrorMessage(db));
    r = PQexec(db, "ANALYZE segments");
    ASSERT_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
    PQclear(r);
    ASSERT(lexeme_freq(db, "the") >= 0.02);
    ASSERT(lexeme_freq(db, "apple") >= 0.02);
    PQfinish(db);
    for (int i = 0; i < 6; i++) {
        after[i][0] = search(s, queries[i], 0);
        after[i][1] = search(s, queries[i], 2);
        same(&before[i][0], &after[i][0]);
        same(&before[i][1], &after[i][1]);
    }
    /* the window is the newest 11 matches: "the" ranks only the newest recording's last 10 */
    ASSERT_EQ(after[0][0].n, 8);
    ASSERT_EQ(after[0][0].windowed, 1);
    for (size_t i = 0; i < after[0][0].n; i++) {
        ASSERT_EQ(after[0][0].recording[i], rec[N_REC - 1]);
        ASSERT(after[0][0].seq[i] >= N_SEG - 10);
    }
    /* owner 2 has only the middle recording */
    ASSERT_EQ(after[0][1].windowed, 1);
    for (size_t i = 0; i < after[0][1].n; i++)
        ASSERT_EQ(after[0][1].recording[i], rec[1]);
    ASSERT_EQ(after[4][0].n, 1);
    ASSERT_EQ(after[5][0].n, 0);
    hark_store_free(s);
}
