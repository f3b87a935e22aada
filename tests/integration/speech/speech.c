/*
 * Real speech through the command line with the default engine
 * (PocketSphinx): the word error rate must stay within bounds measured on
 * these exact files (the bound is the measured WER plus a small margin for
 * the noise of a different machine; see the figures in each test).
 *
 * - A 90-second prefix of a LibriSpeech chapter (corpus/long), cut at an
 *   utterance boundary, through `hark transcribe`: the VAD chunker cuts it
 *   into several chunks decoded by two workers, and the result is scored
 *   against the reference of the utterances it contains.
 * - Ten utterances of corpus/en through `hark eval`.
 */
#include <jansson.h>

#include "harness.h"

#define WER_BOUND_PREFIX 0.27 /* measured 25.4% (N=276), 2026-11-23 */
#define WER_BOUND_EVAL10 0.37 /* measured 35.1% */

/* Seconds of long/4088-158077.wav to use, and its reference (utterances ending before). */
static double prefix_reference(const char *tsv, double max_s, char **ref)
{
    char *text = harness_read_file(tsv, NULL), *line, *save = NULL;
    double end = 0;
    size_t used = 0;
    ASSERT(text);
    *ref = calloc(1, strlen(text) + 1); /* the references are a subset of the file */
    ASSERT(*ref);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4], *p = line;
        int k;
        for (k = 0; k < 4; k++) {
            f[k] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (k < 3 || strcmp(f[0], "utt_id") == 0)
            continue;
        if (strtod(f[2], NULL) > max_s)
            break;
        end = strtod(f[2], NULL);
        used += (size_t)sprintf(*ref + used, "%s%s", used ? " " : "", f[3]);
    }
    free(text);
    return end;
}

TEST(chunked_chapter_prefix_stays_within_the_measured_wer)
{
    const char *wav = harness_shared_file("corpus/long/4088-158077.wav");
    const char *tsv = harness_shared_file("corpus/long/4088-158077.segments.tsv");
    char cut[1024];
    char *ref = NULL;
    hark_wer_counts c;
    double end;
    char *hyp;
    int st;

    if (!harness_have("sox"))
        SKIP("sox not installed");
    end = prefix_reference(tsv, 90, &ref);
    ASSERT_LT(60, end);
    snprintf(cut, sizeof(cut), "%s", harness_path("prefix.wav"));
    ASSERT_EQ(harness_sh("sox '%s' '%s' trim 0 %.3f", wav, cut, end), 0);
    hyp = harness_sh_output(&st, "%s transcribe -e pocketsphinx -j 2 -q --no-store --no-cache '%s'",
                            harness_hark_bin(), cut);
    ASSERT_EQ(st, 0);
    ASSERT_OK(hark_wer_score(ref, hyp, &c));
    printf("  %.1f s prefix: WER %.1f%% (N=%zu S=%zu D=%zu I=%zu)\n", end, 100 * hark_wer_rate(&c),
           c.ref_words, c.substitutions, c.deletions, c.insertions);
    ASSERT_LE(hark_wer_rate(&c), WER_BOUND_PREFIX);
    free(hyp);
    free(ref);
}

TEST(eval_on_ten_utterances_stays_within_the_measured_wer)
{
    const char *manifest = harness_shared_file("corpus/en/manifest.tsv");
    char *out;
    json_t *doc;
    json_error_t e;
    double wer;
    int st;

    out = harness_sh_output(&st, "%s eval -e pocketsphinx -q --limit 10 --json '%s'",
                            harness_hark_bin(), manifest);
    ASSERT_EQ(st, 0);
    doc = json_loads(out, 0, &e);
    ASSERT_MSG(doc != NULL, "bad JSON from hark eval: %s", e.text);
    wer = json_real_value(json_object_get(doc, "wer"));
    printf("  10 utterances: WER %.1f%%\n", 100 * wer);
    ASSERT_LE(wer, WER_BOUND_EVAL10);
    ASSERT_EQ(json_integer_value(json_object_get(doc, "failed")), 0);
    json_decref(doc);
    free(out);
}
