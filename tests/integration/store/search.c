/*
 * search.c: conformance tests for full-text search: ranking, phrases,
 * prefixes, operators, snippets and markers, hit fields, filters,
 * pagination, syntax errors and hostile input.
 */
#include "store_test.h"

static hark_search_result *search(hark_store *s, const char *q, const hark_search_options *o)
{
    hark_search_result *r = NULL;
    ASSERT_OK(hark_store_search(s, q, o, &r));
    return r;
}

TEST(search_hit_fields)
{
    hark_store *s = st_open();
    int64_t id = st_recording_texts(s, "Inaugural address",
                                    (const char *const[]){ "and so my fellow americans",
                                                           "ask not what your country can do",
                                                           "for you", NULL });
    hark_search_result *r = search(s, "country", NULL);
    ASSERT_EQ(r->n, 1);
    ASSERT_EQ(r->more, 0);
    ASSERT_EQ(r->hits[0].recording, id);
    ASSERT_STREQ(r->hits[0].title, "Inaugural address");
    ASSERT_EQ(r->hits[0].seq, 1);
    ASSERT_EQ(r->hits[0].start_ms, 2000);
    ASSERT_EQ(r->hits[0].end_ms, 3500);
    ASSERT_STREQ(r->hits[0].text, "ask not what your country can do");
    ASSERT_STREQ(r->hits[0].snippet, "ask not what your [country] can do");
    ASSERT(r->hits[0].score > 0);
    ASSERT(r->hits[0].created_ms > 0);
    hark_search_result_free(r);
    hark_store_free(s);
}

TEST(search_ranks_by_bm25)
{
    hark_store *s = st_open();
    st_recording_texts(s, "ranking",
                       (const char *const[]){
                           "the weather today is mild with a chance of rain later in the evening",
                           "rain rain rain",
                           "rain again",
                           "nothing to see here",
                           NULL,
                       });
    hark_search_result *r = search(s, "rain", NULL);
    ASSERT_EQ(r->n, 3);
    /* more occurrences in a shorter segment rank first */
    ASSERT_STREQ(r->hits[0].text, "rain rain rain");
    ASSERT_STREQ(r->hits[1].text, "rain again");
    ASSERT(r->hits[0].score > r->hits[1].score);
    ASSERT(r->hits[1].score > r->hits[2].score);
    hark_search_result_free(r);
    hark_store_free(s);
}

TEST(search_phrases_and_words)
{
    hark_store *s = st_open();
    st_recording_texts(s, "phrases",
                       (const char *const[]){ "and so my fellow americans ask not",
                                              "americans and their fellow citizens",
                                              "fellow travellers", NULL });
    ASSERT_EQ(st_hits(s, "\"fellow americans\""), 1);
    ASSERT_EQ(st_hits(s, "fellow americans"), 2); /* both words, any order */
    ASSERT_EQ(st_hits(s, "americans fellow"), 2);
    ASSERT_EQ(st_hits(s, "\"americans fellow\""), 0);
    ASSERT_EQ(st_hits(s, "fellow"), 3);
    ASSERT_EQ(st_hits(s, "FELLOW"), 3);
    hark_store_free(s);
}

TEST(search_prefixes)
{
    hark_store *s = st_open();
    st_recording_texts(s, "prefixes",
                       (const char *const[]){ "my fellow americans", "the american dream",
                                              "america the beautiful", "an amicable deal", NULL });
    ASSERT_EQ(st_hits(s, "americ*"), 3);
    ASSERT_EQ(st_hits(s, "american*"), 2);
    ASSERT_EQ(st_hits(s, "americ"), 0);
    ASSERT_EQ(st_hits(s, "\"fellow americ\"*"), 1);
    ASSERT_EQ(st_hits(s, "am*"), 4);
    ASSERT_EQ(st_hits(s, "americ**"), 3);
    hark_store_free(s);
}

TEST(search_operators)
{
    hark_store *s = st_open();
    st_recording_texts(s, "operators",
                       (const char *const[]){ "apples and oranges", "apples only", "oranges only",
                                              "pears", "apples or pears", NULL });
    ASSERT_EQ(st_hits(s, "apples OR oranges"), 4);
    ASSERT_EQ(st_hits(s, "apples AND oranges"), 1);
    ASSERT_EQ(st_hits(s, "apples oranges"), 1);
    ASSERT_EQ(st_hits(s, "apples NOT oranges"), 2);
    ASSERT_EQ(st_hits(s, "(apples OR oranges) NOT only"), 2);
    ASSERT_EQ(st_hits(s, "pears OR (apples AND oranges)"), 3);
    /* lower-case operators are words */
    ASSERT_EQ(st_hits(s, "apples or"), 1);
    ASSERT_EQ(st_hits(s, "apples and"), 1);
    ASSERT_EQ(st_hits(s, "\"OR\""), 1);
    hark_store_free(s);
}

TEST(search_snippet_markers_and_ellipsis)
{
    hark_store *s = st_open();
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_search_result *r;
    st_recording_texts(s, "snippets",
                       (const char *const[]){ "one two three four five six seven eight nine ten "
                                              "eleven twelve thirteen fourteen fifteen sixteen "
                                              "seventeen eighteen nineteen twenty target word "
                                              "twentyone twentytwo",
                                              NULL });
    o.hl_open = "\x1b[1m";
    o.hl_close = "\x1b[0m";
    r = search(s, "target", &o);
    ASSERT_EQ(r->n, 1);
    ASSERT_CONTAINS(r->hits[0].snippet, "\x1b[1mtarget\x1b[0m");
    ASSERT_CONTAINS(r->hits[0].snippet, "...");
    ASSERT(strlen(r->hits[0].snippet) < strlen(r->hits[0].text));
    hark_search_result_free(r);

    o.hl_open = "<b>";
    o.hl_close = "</b>";
    o.ellipsis = "…";
    o.snippet_words = 4;
    r = search(s, "\"target word\"", &o);
    ASSERT_CONTAINS(r->hits[0].snippet, "<b>target word</b>"); /* a phrase is marked as one */
    ASSERT_CONTAINS(r->hits[0].snippet, "…");
    hark_search_result_free(r);

    r = search(s, "eleven*", NULL); /* default markers */
    ASSERT_CONTAINS(r->hits[0].snippet, "[eleven]");
    hark_search_result_free(r);
    hark_store_free(s);
}

TEST(search_filters_by_recording_and_date)
{
    hark_store *s = st_open();
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_search_result *r;
    int64_t ids[4];
    hark_transcript *t = st_transcript(3, "meeting %d about the budget");

    for (int i = 0; i < 4; i++) {
        ids[i] = st_recording(s, "meeting", 1000000 + (int64_t)i * 1000);
        ASSERT_OK(hark_store_segments_put(s, ids[i], t, 0, 3, 0));
    }
    ASSERT_EQ(st_hits(s, "budget"), 12);

    o.recording = ids[2];
    r = search(s, "budget", &o);
    ASSERT_EQ(r->n, 3);
    for (size_t i = 0; i < r->n; i++)
        ASSERT_EQ(r->hits[i].recording, ids[2]);
    hark_search_result_free(r);

    o.recording = 0;
    o.created_from = 1001000;
    o.created_to = 1003000; /* exclusive: recordings 1 and 2 */
    r = search(s, "budget", &o);
    ASSERT_EQ(r->n, 6);
    for (size_t i = 0; i < r->n; i++)
        ASSERT(r->hits[i].recording == ids[1] || r->hits[i].recording == ids[2]);
    hark_search_result_free(r);

    o.recording = ids[1];
    r = search(s, "budget", &o);
    ASSERT_EQ(r->n, 3);
    hark_search_result_free(r);
    o.recording = ids[3]; /* outside the dates */
    r = search(s, "budget", &o);
    ASSERT_EQ(r->n, 0);
    hark_search_result_free(r);

    o.created_from = 0;
    o.created_to = 0;
    o.recording = 999; /* no such recording */
    r = search(s, "budget", &o);
    ASSERT_EQ(r->n, 0);
    hark_search_result_free(r);

    /* a recording whose segments were written in several batches, between others */
    o.recording = ids[0];
    {
        hark_transcript *more = st_transcript(5, "later budget note %d");
        ASSERT_OK(hark_store_segments_put(s, ids[0], more, 0, 5, 3));
        hark_transcript_free(more);
    }
    r = search(s, "budget", &o);
    ASSERT_EQ(r->n, 8);
    hark_search_result_free(r);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(search_pagination)
{
    hark_store *s = st_open();
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_transcript *t = st_transcript(45, "page test %d with giraffe");
    int64_t id = st_recording(s, "pages", 0);
    int seen[45] = { 0 };
    size_t total = 0;
    hark_search_result *r;

    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 45, 0));
    o.limit = 20;
    for (int page = 0; page < 3; page++) {
        r = search(s, "giraffe", &o);
        ASSERT_EQ(r->n, page < 2 ? 20 : 5);
        ASSERT_EQ(r->more, page < 2);
        for (size_t i = 0; i < r->n; i++) {
            ASSERT(r->hits[i].seq >= 0 && r->hits[i].seq < 45);
            ASSERT_EQ(seen[r->hits[i].seq], 0);
            seen[r->hits[i].seq] = 1;
            if (i)
                ASSERT(r->hits[i - 1].score >= r->hits[i].score);
        }
        total += r->n;
        o.offset += r->n;
        hark_search_result_free(r);
    }
    ASSERT_EQ(total, 45);
    o.offset = 45;
    r = search(s, "giraffe", &o);
    ASSERT_EQ(r->n, 0);
    ASSERT_EQ(r->more, 0);
    hark_search_result_free(r);
    o.offset = 0;
    o.limit = 45;
    r = search(s, "giraffe", &o);
    ASSERT_EQ(r->n, 45);
    ASSERT_EQ(r->more, 0);
    hark_search_result_free(r);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(search_ranking_window_keeps_common_words_cheap)
{
    hark_store *s = st_open();
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_transcript *t = st_transcript(45, "window test %d with okapi");
    int64_t id = st_recording(s, "window", 0);
    hark_search_result *r;
    size_t total = 0;

    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 45, 0));
    /* 45 matches, a window of 10: only the newest 10 segments are ranked and paged */
    o.max_ranked = 10;
    o.limit = 4;
    for (int more = 1; more;) {
        r = search(s, "okapi", &o);
        ASSERT_EQ(r->windowed, 1);
        for (size_t i = 0; i < r->n; i++)
            ASSERT(r->hits[i].seq >= 35); /* the newest */
        total += r->n;
        o.offset += r->n;
        more = r->more;
        hark_search_result_free(r);
    }
    ASSERT_EQ(total, 10);
    /* a window as large as the matches, or unbounded: everything, not windowed */
    o.offset = 0;
    o.limit = 100;
    o.max_ranked = 45;
    r = search(s, "okapi", &o);
    ASSERT_EQ(r->n, 45);
    ASSERT_EQ(r->windowed, 0);
    hark_search_result_free(r);
    o.max_ranked = SIZE_MAX;
    r = search(s, "okapi", &o);
    ASSERT_EQ(r->n, 45);
    ASSERT_EQ(r->windowed, 0);
    hark_search_result_free(r);
    o.max_ranked = 0; /* the default window (2000) */
    r = search(s, "okapi", &o);
    ASSERT_EQ(r->n, 45);
    ASSERT_EQ(r->windowed, 0);
    hark_search_result_free(r);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(search_ranks_multi_word_queries_by_rarity)
{
    hark_store *s = st_open();
    const char *texts[40];
    hark_search_result *r;
    /* "common" is everywhere, "unusual" in two segments: a segment with the rare
     * word twice beats one with the common word twice */
    for (int i = 0; i < 38; i++)
        texts[i] = "common filler words";
    texts[38] = "common common unusual";
    texts[39] = NULL;
    st_recording_texts(s, "idf", texts);
    st_recording_texts(s, "idf2", (const char *const[]){ "unusual unusual common", NULL });
    r = search(s, "common OR unusual", NULL);
    ASSERT(r->n >= 2);
    ASSERT_STREQ(r->hits[0].text, "unusual unusual common");
    ASSERT_STREQ(r->hits[1].text, "common common unusual");
    hark_search_result_free(r);
    hark_store_free(s);
}

TEST(search_syntax_errors_are_clear)
{
    hark_store *s = st_open();
    hark_search_result *r = NULL;
    st_recording_texts(s, "x", (const char *const[]){ "fellow americans", NULL });

    ASSERT_ERR(hark_store_search(s, "\"fellow americans", NULL, &r), HARK_ESYNTAX);
    ASSERT_STREQ(hark_error_last(), "search: unterminated phrase in \"\"fellow americans\"");
    ASSERT(r == NULL);
    ASSERT_ERR(hark_store_search(s, "fellow OR", NULL, &r), HARK_ESYNTAX);
    ASSERT_CONTAINS(hark_error_last(), "OR needs a term on each side");
    ASSERT_ERR(hark_store_search(s, "AND fellow", NULL, &r), HARK_ESYNTAX);
    ASSERT_ERR(hark_store_search(s, "fellow OR AND americans", NULL, &r), HARK_ESYNTAX);
    ASSERT_ERR(hark_store_search(s, "NOT fellow", NULL, &r), HARK_ESYNTAX);
    ASSERT_CONTAINS(hark_error_last(), "NOT needs a term before it");
    ASSERT_ERR(hark_store_search(s, "(fellow", NULL, &r), HARK_ESYNTAX);
    ASSERT_CONTAINS(hark_error_last(), "unbalanced parenthesis");
    ASSERT_ERR(hark_store_search(s, "fellow)", NULL, &r), HARK_ESYNTAX);
    ASSERT_ERR(hark_store_search(s, "fellow ()", NULL, &r), HARK_ESYNTAX);
    ASSERT_ERR(hark_store_search(s, "", NULL, &r), HARK_ESYNTAX);
    ASSERT_STREQ(hark_error_last(), "search: empty query");
    ASSERT_ERR(hark_store_search(s, "   ", NULL, &r), HARK_ESYNTAX);
    ASSERT_ERR(hark_store_search(s, "-- ** !!", NULL, &r), HARK_ESYNTAX);
    ASSERT_CONTAINS(hark_error_last(), "nothing to search for");
    {
        char big[5000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ASSERT_ERR(hark_store_search(s, big, NULL, &r), HARK_ETOOBIG);
    }
    hark_store_free(s);
}

TEST(search_never_passes_raw_syntax_to_the_backend)
{
    /* Things FTS5 (or tsquery) would treat as syntax: each is either a valid
     * search or a clear HARK_ESYNTAX, never a backend error. */
    static const char *const queries[] = {
        "don't",
        "U.S.A.",
        "text:fellow",
        "fellow:americans",
        "NEAR(fellow americans)",
        "fellow + americans",
        "^fellow",
        "{text}: fellow",
        "fellow*americans",
        "*",
        "a & b | !c",
        "fellow -americans",
        "'quoted'",
        "C++",
        "e-mail",
        "50%",
        "$100",
        "x AND (y OR",
        "\"\"",
        "\" \"",
        "fellow NEAR americans",
        "foo\\\"bar",
        "\"a\"\"b\"",
        "(((a)))",
        "a) OR (b",
        "-fellow",
        "fellow^2",
        "fellow~",
        "@#$%^&*()",
        NULL,
    };
    hark_store *s = st_open();
    st_recording_texts(s, "x",
                       (const char *const[]){ "don't email my fellow americans in the U.S.A.",
                                              "c++ and e-mail cost $100 at 50%", NULL });
    for (size_t i = 0; queries[i]; i++) {
        hark_search_result *r = NULL;
        int rc = hark_store_search(s, queries[i], NULL, &r);
        ASSERT_MSG(rc == 0 || rc == HARK_ESYNTAX, "query %s: %s (%s)", queries[i],
                   hark_err_name(rc), hark_error_last());
        if (rc == HARK_ESYNTAX)
            ASSERT_CONTAINS(hark_error_last(), "search: ");
        hark_search_result_free(r);
    }
    ASSERT_EQ(st_hits(s, "don't"), 1);
    ASSERT_EQ(st_hits(s, "U.S.A."), 1);
    ASSERT_EQ(st_hits(s, "e-mail"), 1);
    ASSERT_EQ(st_hits(s, "fellow:americans"), 1);
    ASSERT_EQ(st_hits(s, "$100"), 1);
    hark_store_free(s);
}

TEST(search_index_follows_updates_and_deletes)
{
    hark_store *s = st_open();
    hark_transcript *t = st_transcript(10, "alpha %d bravo"), *u = st_transcript(3, "charlie %d");
    int64_t a = st_recording(s, "a", 0), b = st_recording(s, "b", 0);

    ASSERT_OK(hark_store_segments_put(s, a, t, 0, 10, 0));
    ASSERT_OK(hark_store_segments_put(s, b, t, 0, 10, 0));
    ASSERT_EQ(st_hits(s, "bravo"), 20);
    ASSERT_OK(hark_store_segments_put(s, a, u, 0, 3, 0)); /* replace 3 of a */
    ASSERT_EQ(st_hits(s, "bravo"), 17);
    ASSERT_EQ(st_hits(s, "charlie"), 3);
    ASSERT_OK(hark_store_segments_truncate(s, b, 5)); /* drop 5 of b */
    ASSERT_EQ(st_hits(s, "bravo"), 12);
    ASSERT_OK(hark_store_recording_delete(s, a, NULL)); /* drop 7 bravo + 3 charlie */
    ASSERT_EQ(st_hits(s, "bravo"), 5);
    ASSERT_EQ(st_hits(s, "charlie"), 0);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
    s = st_reopen();
    ASSERT_EQ(st_hits(s, "bravo"), 5);
    ASSERT_OK(hark_store_check(s));
    hark_transcript_free(t);
    hark_transcript_free(u);
    hark_store_free(s);
}
