/*
 * query.c: the search grammar parser (src/store/query.c) and its FTS5
 * rendering.
 */
#include "harness.h"
#include "store/store.h"

/* Parse and render; returns the FTS5 text in a static buffer. */
static const char *fts(const char *q)
{
    static char out[1024];
    hark_query parsed;
    hark_buf b = HARK_BUF_INIT;
    ASSERT_OK(hark__query_parse(&parsed, q));
    ASSERT_OK(hark__query_fts5(&parsed, &b));
    snprintf(out, sizeof(out), "%s", b.ptr ? b.ptr : "");
    hark_buf_dispose(&b);
    hark__query_dispose(&parsed);
    return out;
}

static void bad(const char *q, int code, const char *msg)
{
    hark_query parsed;
    ASSERT_ERR(hark__query_parse(&parsed, q), code);
    ASSERT_EQ(parsed.n, 0);
    ASSERT(parsed.items == NULL);
    if (msg)
        ASSERT_STREQ(hark_error_last(), msg);
}

TEST(query_words_phrases_prefixes)
{
    ASSERT_STREQ(fts("fellow"), "\"fellow\"");
    ASSERT_STREQ(fts("  fellow   americans "), "\"fellow\" AND \"americans\"");
    ASSERT_STREQ(fts("\"fellow americans\""), "\"fellow americans\"");
    ASSERT_STREQ(fts("americ*"), "\"americ\" *");
    ASSERT_STREQ(fts("americ***"), "\"americ\" *");
    ASSERT_STREQ(fts("\"fellow americ\"*"), "\"fellow americ\" *");
    ASSERT_STREQ(fts("ask \"not what\" your*"), "\"ask\" AND \"not what\" AND \"your\" *");
}

TEST(query_operators_and_groups)
{
    ASSERT_STREQ(fts("a OR b"), "\"a\" OR \"b\"");
    ASSERT_STREQ(fts("a AND b"), "\"a\" AND \"b\"");
    ASSERT_STREQ(fts("a NOT b"), "\"a\" NOT \"b\"");
    ASSERT_STREQ(fts("a OR b c"), "\"a\" OR \"b\" AND \"c\"");
    ASSERT_STREQ(fts("(a OR b) NOT c"), "( \"a\" OR \"b\" ) NOT \"c\"");
    ASSERT_STREQ(fts("a (b OR c)"), "\"a\" AND ( \"b\" OR \"c\" )");
    ASSERT_STREQ(fts("((a))"), "( ( \"a\" ) )");
    /* lower case is plain text */
    ASSERT_STREQ(fts("a or b and c not d"),
                 "\"a\" AND \"or\" AND \"b\" AND \"and\" AND \"c\" AND \"not\" AND \"d\"");
    ASSERT_STREQ(fts("\"OR\""), "\"OR\"");
}

TEST(query_punctuation_is_plain_text)
{
    ASSERT_STREQ(fts("don't"), "\"don't\"");
    ASSERT_STREQ(fts("text:fellow"), "\"text:fellow\"");
    ASSERT_STREQ(fts("NEAR(a b)"), "\"NEAR\" AND ( \"a\" AND \"b\" )");
    ASSERT_STREQ(fts("a - b"), "\"a\" AND \"b\""); /* "-" holds no word: dropped */
    ASSERT_STREQ(fts("^a +b"), "\"^a\" AND \"+b\"");
    ASSERT_STREQ(fts("a*b"), "\"a*b\"");
    ASSERT_STREQ(fts("café"), "\"café\"");
    ASSERT_STREQ(fts("a\"b\"c"), "\"a\" AND \"b\" AND \"c\"");
    ASSERT_STREQ(fts("\"\" x \" \""), "\"x\""); /* empty phrases are dropped */
}

TEST(query_items_describe_terms)
{
    hark_query q;
    ASSERT_OK(hark__query_parse(&q, "\"fellow americ\"* OR ask"));
    ASSERT_EQ(q.n, 3);
    ASSERT_EQ(q.items[0].op, HARK_QUERY_TERM);
    ASSERT_STREQ(q.items[0].text, "fellow americ");
    ASSERT_EQ(q.items[0].phrase, 1);
    ASSERT_EQ(q.items[0].prefix, 1);
    ASSERT_EQ(q.items[1].op, HARK_QUERY_OR);
    ASSERT_EQ(q.items[2].phrase, 0);
    ASSERT_EQ(q.items[2].prefix, 0);
    hark__query_dispose(&q);
}

TEST(query_errors)
{
    bad("\"fellow americans", HARK_ESYNTAX,
        "search: unterminated phrase in \"\"fellow americans\"");
    bad("a OR", HARK_ESYNTAX, "search: OR needs a term on each side in \"a OR\"");
    bad("OR a", HARK_ESYNTAX, "search: OR needs a term on each side in \"OR a\"");
    bad("a AND OR b", HARK_ESYNTAX, "search: OR needs a term on each side in \"a AND OR b\"");
    bad("NOT a", HARK_ESYNTAX, "search: NOT needs a term before it (a NOT b) in \"NOT a\"");
    bad("(NOT a)", HARK_ESYNTAX, NULL);
    bad("(a", HARK_ESYNTAX, "search: unbalanced parenthesis ( in \"(a\"");
    bad("a (", HARK_ESYNTAX, "search: unbalanced parenthesis ( in \"a (\"");
    bad("a)", HARK_ESYNTAX, "search: unbalanced parenthesis ) in \"a)\"");
    bad("()", HARK_ESYNTAX, "search: nothing to search for inside ( ) in \"()\"");
    bad("(a OR)", HARK_ESYNTAX, "search: OR needs a term on each side in \"(a OR)\"");
    bad("", HARK_ESYNTAX, "search: empty query");
    bad(" \t", HARK_ESYNTAX, "search: empty query");
    bad("- * !", HARK_ESYNTAX, "search: nothing to search for in \"- * !\"");
    bad("a OR -", HARK_ESYNTAX, NULL);
}

TEST(query_limits)
{
    char big[HARK_QUERY_MAX_BYTES + 2];
    char many[HARK_QUERY_MAX_ITEMS * 2 + 10];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bad(big, HARK_ETOOBIG, NULL);
    big[HARK_QUERY_MAX_BYTES] = '\0';
    ASSERT_EQ(strncmp(fts(big), "\"aaaa", 5), 0); /* exactly at the limit is fine */
    /* 200 words make 399 items with their ANDs */
    for (size_t i = 0; i < 200; i++) {
        many[2 * i] = 'w';
        many[2 * i + 1] = ' ';
    }
    many[400] = '\0';
    bad(many, HARK_ETOOBIG, NULL);
    many[200] = '\0'; /* 100 words: 199 items */
    {
        hark_query q;
        ASSERT_OK(hark__query_parse(&q, many));
        ASSERT_EQ(q.n, 199);
        hark__query_dispose(&q);
    }
}
