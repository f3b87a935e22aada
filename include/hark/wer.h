/*
 * hark/wer.h: word error rate, as `hark eval` scores transcripts against
 * references (also used by the benchmarks and the engine tests).
 *
 * Scoring a hypothesis against a reference is two steps:
 *
 *     hark_buf ref = HARK_BUF_INIT, hyp = HARK_BUF_INIT;
 *     hark_wer_counts c;
 *     hark_wer_normalize("And so, my fellow Americans...", &ref);
 *     hark_wer_normalize(engine_text, &hyp);
 *     hark_wer_align(ref.ptr, hyp.ptr, &c);          // c.substitutions ...
 *     printf("%.1f%%\n", 100 * hark_wer_rate(&c));
 *
 * or hark_wer_score(ref_text, hyp_text, &c), which does both. Counts of many
 * utterances add up with hark_wer_add(); the corpus WER is the rate of the
 * sum (errors over all reference words), not the mean of per-file rates.
 *
 * NORMALISATION (hark_wer_normalize) makes LibriSpeech references ("DON'T
 * ASK", upper case, no punctuation) and ordinary text ("Don't ask!") agree:
 * - ASCII letters are lower-cased; digits are kept (numbers are NOT spelled
 *   out: "1961" and "nineteen sixty one" differ);
 * - an apostrophe (' or the typographic U+2018, U+2019, U+02BC, or `) is kept,
 *   as ', only between two word characters ("don't", "o'clock", "rock'n'roll");
 *   anywhere else (quotes, "boys'", "'tis") it is dropped;
 * - hyphens and dashes (-, U+2010..U+2015) become spaces: "twenty-five" ->
 *   "twenty five";
 * - every other ASCII character that is not a letter or digit (punctuation,
 *   control characters, white space) separates words, as do the common
 *   Unicode quotes, guillemets, ellipsis, no-break space and inverted marks;
 * - other non-ASCII bytes are kept unchanged as parts of words (no Unicode
 *   case folding: "É" stays "É");
 * - words are separated by exactly one space, with none at either end.
 * The result contains only word characters, apostrophes and single spaces,
 * so normalising it again changes nothing.
 *
 * ALIGNMENT (hark_wer_align) is a word-level Levenshtein alignment with
 * unit costs. When several alignments have the same minimal cost, the one
 * preferred at each step is match/substitution, then deletion, then
 * insertion, so the split of the total into S/D/I is deterministic. The
 * total S + D + I is always the edit distance. Time is O(R * H) and memory
 * O(H) for R reference and H hypothesis words.
 */
#ifndef HARK_WER_H
#define HARK_WER_H

#include <stddef.h>

#include "common.h"

HARK_BEGIN_DECL

/* Alignments above this many cells ((R + 1) * (H + 1)) fail with HARK_ETOOBIG. */
#define HARK_WER_MAX_CELLS ((size_t)1 << 30)

/** Result of aligning a hypothesis with a reference; all values are word counts. */
typedef struct hark_wer_counts {
    size_t ref_words;     /* words in the reference (N) */
    size_t hyp_words;     /* words in the hypothesis */
    size_t substitutions; /* reference words replaced by another word (S) */
    size_t deletions;     /* reference words missing from the hypothesis (D) */
    size_t insertions;    /* hypothesis words with no reference word (I) */
} hark_wer_counts;

/**
 * Append the normalised form of `text` (UTF-8, NUL-terminated) to `out`
 * (see NORMALISATION above). On failure `out` may hold part of the result.
 * @return 0, HARK_ENOMEM, HARK_ETOOBIG (out's cap).
 */
HARK_API int hark_wer_normalize(const char *text, hark_buf *out);

/**
 * Align two normalised texts (words separated by white space) and fill `out`.
 * @return 0, HARK_ENOMEM, HARK_ETOOBIG (more than HARK_WER_MAX_CELLS cells).
 */
HARK_API int hark_wer_align(const char *ref_norm, const char *hyp_norm, hark_wer_counts *out);

/** Normalise both texts, then align them. Same errors as the two steps. */
HARK_API int hark_wer_score(const char *ref, const char *hyp, hark_wer_counts *out);

/** Add the counts of `c` to `sum`. */
HARK_API void hark_wer_add(hark_wer_counts *sum, const hark_wer_counts *c);

/**
 * (S + D + I) / N as a fraction (0.25 = 25 %; it can exceed 1 with many
 * insertions). With an empty reference: 0 if the hypothesis is empty too,
 * else 1.
 */
HARK_API double hark_wer_rate(const hark_wer_counts *c);

HARK_END_DECL

#endif
