/* Unit tests of the WER scorer (src/pipeline/wer.c). */
#include "harness.h"
#include "hark/wer.h"
#include "util/util.h"

/* Normalise `in` and compare with `want`. */
static void check_norm(const char *in, const char *want, const char *file, int line)
{
    hark_buf b = HARK_BUF_INIT, again = HARK_BUF_INIT;
    int rc = hark_wer_normalize(in, &b);
    if (rc < 0)
        harness_fail(file, line, "normalize(\"%s\") failed: %s", in, hark_error_last());
    if (strcmp(b.ptr, want) != 0)
        harness_fail(file, line, "normalize(\"%s\") = \"%s\", expected \"%s\"", in, b.ptr, want);
    /* idempotent */
    if (hark_wer_normalize(b.ptr, &again) < 0 || strcmp(again.ptr, b.ptr) != 0)
        harness_fail(file, line, "normalize is not idempotent on \"%s\"", b.ptr);
    hark_buf_dispose(&b);
    hark_buf_dispose(&again);
}
#define CHECK_NORM(in, want) check_norm(in, want, __FILE__, __LINE__)

TEST(normalize_lower_cases_and_strips_punctuation)
{
    CHECK_NORM("And so, my fellow Americans: ask not!", "and so my fellow americans ask not");
    CHECK_NORM("  Hello,\tworld...\n\n", "hello world");
    CHECK_NORM("", "");
    CHECK_NORM("  ,.;!? ", "");
    CHECK_NORM("\"Quoted\" (parens) [brackets] {braces}", "quoted parens brackets braces");
    CHECK_NORM("a.b,c", "a b c");
}

TEST(normalize_matches_librispeech_references)
{
    /* LibriSpeech text is already normal apart from case. */
    CHECK_NORM("HE HOPED THERE WOULD BE STEW FOR DINNER",
               "he hoped there would be stew for dinner");
    CHECK_NORM("DON'T YOU KNOW I'M NOT O'NEILL", "don't you know i'm not o'neill");
    CHECK_NORM("MISTER TWENTY FIVE", "mister twenty five");
}

TEST(normalize_keeps_apostrophes_only_inside_words)
{
    CHECK_NORM("don't", "don't");
    CHECK_NORM("Don\xE2\x80\x99t", "don't"); /* typographic apostrophe */
    CHECK_NORM("rock'n'roll", "rock'n'roll");
    CHECK_NORM("'tis the boys' books", "tis the boys books");
    CHECK_NORM("'quoted'", "quoted");
    CHECK_NORM("\xE2\x80\x98single\xE2\x80\x99", "single");
    CHECK_NORM("a '' b", "a b");
    CHECK_NORM("it''s", "it s");
}

TEST(normalize_turns_hyphens_and_dashes_into_spaces)
{
    CHECK_NORM("twenty-five", "twenty five");
    CHECK_NORM("well\xE2\x80\x94maybe", "well maybe"); /* em dash */
    CHECK_NORM("three\xE2\x80\x93six", "three six");   /* en dash */
    CHECK_NORM("--- a -- b ---", "a b");
}

TEST(normalize_handles_unicode)
{
    /* Unicode quotes, ellipsis and no-break spaces separate words */
    CHECK_NORM("\xE2\x80\x9CHi\xE2\x80\x9D\xE2\x80\xA6 there\xC2\xA0you", "hi there you");
    /* other non-ASCII characters are kept as they are (no case folding) */
    CHECK_NORM("Caf\xC3\xA9 \xC3\x89T\xC3\x89", "caf\xC3\xA9 \xC3\x89t\xC3\x89");
    /* digits are kept, numbers are not spelled out */
    CHECK_NORM("In 1961, 3.5%", "in 1961 3 5");
}

TEST(normalize_appends_to_the_buffer)
{
    hark_buf b = HARK_BUF_INIT;
    ASSERT_OK(hark_buf_puts(&b, "x|"));
    ASSERT_OK(hark_wer_normalize("A B", &b));
    ASSERT_STREQ(b.ptr, "x|a b");
    hark_buf_dispose(&b);
}

TEST(normalize_respects_the_buffer_cap)
{
    hark_buf b = HARK_BUF_INIT;
    hark_buf_init(&b, 8);
    ASSERT_ERR(hark_wer_normalize("a much longer text than eight bytes", &b), HARK_ETOOBIG);
    hark_buf_dispose(&b);
}

static hark_wer_counts align(const char *ref, const char *hyp)
{
    hark_wer_counts c;
    ASSERT_OK(hark_wer_align(ref, hyp, &c));
    /* every hypothesis word is a match, a substitution or an insertion */
    ASSERT_EQ((long)c.hyp_words - (long)c.insertions, (long)c.ref_words - (long)c.deletions);
    return c;
}

TEST(align_counts_substitutions_deletions_insertions)
{
    hark_wer_counts c;

    c = align("a b c d", "a b c d");
    ASSERT_EQ(c.ref_words, 4);
    ASSERT_EQ(c.hyp_words, 4);
    ASSERT_EQ(c.substitutions + c.deletions + c.insertions, 0);
    ASSERT_NEAR(hark_wer_rate(&c), 0.0, 1e-12);

    c = align("a b c d", "a x c d");
    ASSERT_EQ(c.substitutions, 1);
    ASSERT_EQ(c.deletions, 0);
    ASSERT_EQ(c.insertions, 0);
    ASSERT_NEAR(hark_wer_rate(&c), 0.25, 1e-12);

    c = align("a b c d", "a c d");
    ASSERT_EQ(c.substitutions, 0);
    ASSERT_EQ(c.deletions, 1);
    ASSERT_EQ(c.insertions, 0);

    c = align("a b c d", "a b y c d z");
    ASSERT_EQ(c.substitutions, 0);
    ASSERT_EQ(c.deletions, 0);
    ASSERT_EQ(c.insertions, 2);
    ASSERT_EQ(c.hyp_words, 6);
    ASSERT_NEAR(hark_wer_rate(&c), 0.5, 1e-12);

    /* a mix: the -> a (S), quick deleted (D), fox kept, extra inserted (I) */
    c = align("the quick brown fox", "a brown fox jumps");
    ASSERT_EQ(c.substitutions + c.deletions + c.insertions, 3);
    ASSERT_EQ(c.ref_words, 4);
}

TEST(align_handles_empty_sides)
{
    hark_wer_counts c;
    c = align("", "");
    ASSERT_EQ(c.ref_words, 0);
    ASSERT_NEAR(hark_wer_rate(&c), 0.0, 1e-12);

    c = align("a b c", "");
    ASSERT_EQ(c.deletions, 3);
    ASSERT_NEAR(hark_wer_rate(&c), 1.0, 1e-12);

    c = align("", "x y");
    ASSERT_EQ(c.insertions, 2);
    ASSERT_NEAR(hark_wer_rate(&c), 1.0, 1e-12);

    c = align("   \n ", "\t");
    ASSERT_EQ(c.ref_words + c.hyp_words, 0);
}

TEST(align_is_the_edit_distance_on_random_word_strings)
{
    /* Compare with a straightforward full-matrix edit distance. */
    uint64_t rng = 42;
    int round;
    for (round = 0; round < 300; round++) {
        char ref[256], hyp[256];
        int nr = (int)(harness_rand(&rng) % 12), nh = (int)(harness_rand(&rng) % 12);
        int d[13][13], i, j;
        char rw[12], hw[12];
        hark_wer_counts c;
        size_t pos = 0;

        for (i = 0; i < nr; i++) {
            rw[i] = (char)('a' + harness_rand(&rng) % 3);
            pos += (size_t)snprintf(ref + pos, sizeof(ref) - pos, "%s%c", i ? " " : "", rw[i]);
        }
        ref[pos] = '\0';
        pos = 0;
        for (j = 0; j < nh; j++) {
            hw[j] = (char)('a' + harness_rand(&rng) % 3);
            pos += (size_t)snprintf(hyp + pos, sizeof(hyp) - pos, "%s%c", j ? " " : "", hw[j]);
        }
        hyp[pos] = '\0';
        for (i = 0; i <= nr; i++)
            d[i][0] = i;
        for (j = 0; j <= nh; j++)
            d[0][j] = j;
        for (i = 1; i <= nr; i++)
            for (j = 1; j <= nh; j++) {
                int best = d[i - 1][j - 1] + (rw[i - 1] != hw[j - 1]);
                if (d[i - 1][j] + 1 < best)
                    best = d[i - 1][j] + 1;
                if (d[i][j - 1] + 1 < best)
                    best = d[i][j - 1] + 1;
                d[i][j] = best;
            }
        ASSERT_OK(hark_wer_align(ref, hyp, &c));
        ASSERT_EQ(c.substitutions + c.deletions + c.insertions, d[nr][nh]);
        ASSERT_EQ(c.ref_words, nr);
        ASSERT_EQ(c.hyp_words, nh);
        /* every hypothesis word is a match, a substitution or an insertion */
        ASSERT_EQ((long)c.hyp_words - (long)c.insertions, (long)c.ref_words - (long)c.deletions);
    }
}

TEST(score_normalises_both_sides)
{
    hark_wer_counts c, sum;
    const char *ref = "And so, my fellow Americans, ask not what your country can do for you, ask "
                      "what you can do for your country.";
    ASSERT_OK(hark_wer_score(ref,
                             "AND SO MY FELLOW AMERICANS ASK NOT WHAT YOUR COUNTRY CAN DO "
                             "FOR YOU ASK WHAT YOU CAN DO FOR YOUR COUNTRY",
                             &c));
    ASSERT_EQ(c.ref_words, 22);
    ASSERT_EQ(c.substitutions + c.deletions + c.insertions, 0);

    ASSERT_OK(hark_wer_score("I DON'T KNOW", "i do not know", &c));
    ASSERT_EQ(c.ref_words, 3);
    ASSERT_EQ(c.substitutions + c.deletions + c.insertions, 2);

    memset(&sum, 0, sizeof(sum));
    hark_wer_add(&sum, &c);
    ASSERT_OK(hark_wer_score("a b c d e f g", "a b c d e f g", &c));
    hark_wer_add(&sum, &c);
    ASSERT_EQ(sum.ref_words, 10);
    ASSERT_NEAR(hark_wer_rate(&sum), 0.2, 1e-12); /* corpus rate: 2 errors / 10 words */
}

TEST(align_refuses_huge_inputs)
{
    /* 40000 x 40000 words > HARK_WER_MAX_CELLS: refused quickly instead of running for minutes */
    size_t n = 40000, i;
    char *s = hark__malloc(2 * n + 1);
    hark_wer_counts c;
    ASSERT(s != NULL);
    for (i = 0; i < n; i++) {
        s[2 * i] = 'w';
        s[2 * i + 1] = ' ';
    }
    s[2 * n] = '\0';
    ASSERT_ERR(hark_wer_align(s, s, &c), HARK_ETOOBIG);
    ASSERT_CONTAINS(hark_error_last(), "too large");
    hark__free(s);
}

TEST(normalize_and_align_survive_allocation_failures)
{
    uint64_t n;
    for (n = 1; n < 50; n++) {
        hark_wer_counts c;
        int rc;
        hark__alloc_fail_at(n);
        rc = hark_wer_score("Don't stop, believing", "dont stop believing now", &c);
        hark__alloc_fail_at(0);
        if (rc == 0) {
            ASSERT_EQ(c.ref_words, 3);
            ASSERT_EQ(c.substitutions + c.deletions + c.insertions, 2);
            return;
        }
        ASSERT_ERR(rc, HARK_ENOMEM);
    }
    ASSERT_MSG(0, "score never succeeded");
}
