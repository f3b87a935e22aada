/*
 * wer.c: text normalisation and word-level alignment for word error rates.
 *
 * DESIGN
 * Normalisation is a single pass over the bytes. Each step classifies the
 * character at the cursor (a word byte, an apostrophe, or a separator; a few
 * multi-byte UTF-8 punctuation marks are recognised from a table) and the
 * writer keeps one flag, "inside a word", to place single spaces between
 * words. An apostrophe needs one character of look-ahead: it is written only
 * when a word is open and a word character follows.
 *
 * Alignment splits both texts into word slices (pointers into the caller's
 * strings, nothing copied) and runs the Levenshtein recurrence row by row,
 * keeping two rows of cells. A cell carries the cost and the S/D/I split of
 * the best path into it, so no backtrace matrix is needed.
 *
 * INVARIANTS
 * - The normaliser output holds only word bytes, ' and single spaces; it is
 *   idempotent (normalising twice gives the same text).
 * - For every cell, cost == sub + del + ins.
 */
#include <string.h>

#include "hark/wer.h"
#include "../util/util.h"

typedef enum char_class { CH_WORD, CH_APOS, CH_SEP, CH_END } char_class;

/* Multi-byte UTF-8 characters that are not word characters. */
typedef struct utf8_mark {
    const char *bytes;
    char_class cls;
} utf8_mark;

static const utf8_mark marks[] = {
    { "\xE2\x80\x98", CH_APOS }, /* U+2018 left single quotation mark */
    { "\xE2\x80\x99", CH_APOS }, /* U+2019 right single quotation mark */
    { "\xCA\xBC", CH_APOS },     /* U+02BC modifier letter apostrophe */
    { "\xE2\x80\x90", CH_SEP },  /* U+2010 hyphen */
    { "\xE2\x80\x91", CH_SEP },  /* U+2011 non-breaking hyphen */
    { "\xE2\x80\x92", CH_SEP },  /* U+2012 figure dash */
    { "\xE2\x80\x93", CH_SEP },  /* U+2013 en dash */
    { "\xE2\x80\x94", CH_SEP },  /* U+2014 em dash */
    { "\xE2\x80\x95", CH_SEP },  /* U+2015 horizontal bar */
    { "\xE2\x80\x9C", CH_SEP },  /* U+201C left double quotation mark */
    { "\xE2\x80\x9D", CH_SEP },  /* U+201D right double quotation mark */
    { "\xE2\x80\x9E", CH_SEP },  /* U+201E double low-9 quotation mark */
    { "\xE2\x80\xA6", CH_SEP },  /* U+2026 horizontal ellipsis */
    { "\xC2\xA0", CH_SEP },      /* U+00A0 no-break space */
    { "\xC2\xA1", CH_SEP },      /* U+00A1 inverted exclamation mark */
    { "\xC2\xAB", CH_SEP },      /* U+00AB left guillemet */
    { "\xC2\xBB", CH_SEP },      /* U+00BB right guillemet */
    { "\xC2\xBF", CH_SEP },      /* U+00BF inverted question mark */
};

/* Classify the character at p; *len = its length in bytes (1 for unknown bytes). */
static char_class classify(const char *p, size_t *len)
{
    unsigned char c = (unsigned char)*p;
    size_t i;

    *len = 1;
    if (c == 0)
        return CH_END;
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return CH_WORD;
        if (c == '\'' || c == '`')
            return CH_APOS;
        return CH_SEP;
    }
    for (i = 0; i < HARK_ARRAY_SIZE(marks); i++) {
        size_t n = strlen(marks[i].bytes);
        if (strncmp(p, marks[i].bytes, n) == 0) {
            *len = n;
            return marks[i].cls;
        }
    }
    return CH_WORD;
}

int hark_wer_normalize(const char *text, hark_buf *out)
{
    const char *p = text;
    size_t start = out->len;
    int in_word = 0, rc;

    /* The output is never longer than the input: reserve once. */
    if ((rc = hark_buf_grow(out, strlen(text))) < 0)
        return rc;
    for (;;) {
        size_t n, n_next;
        char_class cls = classify(p, &n);
        if (cls == CH_END)
            break;
        if (cls == CH_WORD) {
            if (!in_word && out->len > start && (rc = hark_buf_putc(out, ' ')) < 0)
                return rc;
            in_word = 1;
            if (n == 1 && *p >= 'A' && *p <= 'Z')
                rc = hark_buf_putc(out, (char)(*p - 'A' + 'a'));
            else
                rc = hark_buf_put(out, p, n);
            if (rc < 0)
                return rc;
        } else if (cls == CH_APOS && in_word && classify(p + n, &n_next) == CH_WORD) {
            if ((rc = hark_buf_putc(out, '\'')) < 0)
                return rc;
        } else {
            in_word = 0;
        }
        p += n;
    }
    if (out->ptr)
        out->ptr[out->len] = '\0';
    return 0;
}

typedef struct word {
    const char *p;
    size_t n;
} word;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Split `s` at white space. *out is hark__malloc'ed (NULL when there are no words). */
static int split_words(const char *s, word **out, size_t *n_out)
{
    size_t n = 0, i = 0;
    const char *p;
    word *w = NULL;

    *out = NULL;
    *n_out = 0;
    for (p = s; *p;) {
        while (*p && is_blank(*p))
            p++;
        if (!*p)
            break;
        n++;
        while (*p && !is_blank(*p))
            p++;
    }
    if (n == 0)
        return 0;
    if (!(w = hark__reallocarray(NULL, n, sizeof(*w))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    for (p = s; *p;) {
        while (*p && is_blank(*p))
            p++;
        if (!*p)
            break;
        w[i].p = p;
        while (*p && !is_blank(*p))
            p++;
        w[i].n = (size_t)(p - w[i].p);
        i++;
    }
    *out = w;
    *n_out = n;
    return 0;
}

/* One alignment cell: the best path into it. cost == sub + del + ins. */
typedef struct cell {
    size_t cost, sub, del, ins;
} cell;

static int same_word(const word *a, const word *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

int hark_wer_align(const char *ref_norm, const char *hyp_norm, hark_wer_counts *out)
{
    word *ref = NULL, *hyp = NULL;
    cell *prev = NULL, *cur = NULL;
    size_t nr = 0, nh = 0, i, j;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = split_words(ref_norm, &ref, &nr)) < 0)
        goto out;
    if ((rc = split_words(hyp_norm, &hyp, &nh)) < 0)
        goto out;
    if (nh + 1 > HARK_WER_MAX_CELLS / (nr + 1)) {
        rc = hark_error_set(HARK_ETOOBIG, "WER alignment of %zu x %zu words is too large", nr, nh);
        goto out;
    }
    prev = hark__reallocarray(NULL, nh + 1, sizeof(*prev));
    HARK_ALLOC_CHECK(prev, rc, out);
    cur = hark__reallocarray(NULL, nh + 1, sizeof(*cur));
    HARK_ALLOC_CHECK(cur, rc, out);

    /* Row 0: an empty reference prefix; every hypothesis word is an insertion. */
    for (j = 0; j <= nh; j++) {
        prev[j].cost = prev[j].ins = j;
        prev[j].sub = prev[j].del = 0;
    }
    for (i = 1; i <= nr; i++) {
        cell *tmp;
        cur[0] = prev[0];
        cur[0].cost++;
        cur[0].del++;
        for (j = 1; j <= nh; j++) {
            int diff = !same_word(&ref[i - 1], &hyp[j - 1]);
            cell best = prev[j - 1];
            best.cost += (size_t)diff;
            best.sub += (size_t)diff;
            if (prev[j].cost + 1 < best.cost) {
                best = prev[j];
                best.cost++;
                best.del++;
            }
            if (cur[j - 1].cost + 1 < best.cost) {
                best = cur[j - 1];
                best.cost++;
                best.ins++;
            }
            cur[j] = best;
        }
        tmp = prev;
        prev = cur;
        cur = tmp;
    }
    out->ref_words = nr;
    out->hyp_words = nh;
    out->substitutions = prev[nh].sub;
    out->deletions = prev[nh].del;
    out->insertions = prev[nh].ins;
    rc = 0;
out:
    hark__free(ref);
    hark__free(hyp);
    hark__free(prev);
    hark__free(cur);
    return rc;
}

int hark_wer_score(const char *ref, const char *hyp, hark_wer_counts *out)
{
    hark_buf r = HARK_BUF_INIT, h = HARK_BUF_INIT;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = hark_wer_normalize(ref, &r)) < 0)
        goto out;
    if ((rc = hark_wer_normalize(hyp, &h)) < 0)
        goto out;
    rc = hark_wer_align(r.ptr ? r.ptr : "", h.ptr ? h.ptr : "", out);
out:
    hark_buf_dispose(&r);
    hark_buf_dispose(&h);
    return rc;
}

void hark_wer_add(hark_wer_counts *sum, const hark_wer_counts *c)
{
    sum->ref_words += c->ref_words;
    sum->hyp_words += c->hyp_words;
    sum->substitutions += c->substitutions;
    sum->deletions += c->deletions;
    sum->insertions += c->insertions;
}

double hark_wer_rate(const hark_wer_counts *c)
{
    size_t errors = c->substitutions + c->deletions + c->insertions;
    if (c->ref_words == 0)
        return errors ? 1.0 : 0.0;
    return (double)errors / (double)c->ref_words;
}
