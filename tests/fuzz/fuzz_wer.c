/*
 * fuzz_wer.c: the WER scorer (src/pipeline/wer.c) on arbitrary text.
 *
 * Input: reference and hypothesis separated by the first newline (no
 * newline: the whole input is both). Checks the documented properties and
 * aborts when one fails: normalisation is idempotent and yields only
 * lower-case/digit/non-ASCII word bytes, apostrophes inside words and single
 * spaces; the alignment's counts are consistent (H - I == N - D, total at
 * most max(N, H)) and aligning a text with itself costs nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hark/wer.h"
#include "util/util.h"

#define MAX_INPUT 4096

static void check_normal_form(const char *s)
{
    size_t i, n = strlen(s);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            abort();
        if (c == ' ' && (i == 0 || i == n - 1 || s[i + 1] == ' '))
            abort();
        if (c == '\'' && (i == 0 || i == n - 1 || s[i - 1] == ' ' || s[i + 1] == ' '))
            abort();
        if (c < 0x80 && c != ' ' && c != '\'' && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9'))
            abort();
    }
}

static char *normalize(const char *text)
{
    hark_buf a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    if (hark_wer_normalize(text, &a) < 0)
        abort();
    check_normal_form(a.ptr);
    if (hark_wer_normalize(a.ptr, &b) < 0 || strcmp(a.ptr, b.ptr) != 0)
        abort();
    hark_buf_dispose(&b);
    return a.ptr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *nl, *ref, *hyp;
    hark_wer_counts c;
    size_t errors;

    if (size > MAX_INPUT)
        size = MAX_INPUT;
    text = hark__malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* an embedded NUL ends the text early, as in C strings */
    nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    ref = normalize(text);
    hyp = normalize(nl ? nl + 1 : text);

    if (hark_wer_align(ref, hyp, &c) < 0)
        abort();
    errors = c.substitutions + c.deletions + c.insertions;
    if (c.hyp_words - c.insertions != c.ref_words - c.deletions)
        abort();
    if (errors > (c.ref_words > c.hyp_words ? c.ref_words : c.hyp_words))
        abort();
    if (hark_wer_align(ref, ref, &c) < 0 || c.substitutions + c.deletions + c.insertions != 0)
        abort();

    hark__free(ref);
    hark__free(hyp);
    hark__free(text);
    return 0;
}
