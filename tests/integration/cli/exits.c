/*
 * Exit codes that say what happened, options as users type them, and what
 * `hark transcribe` tells a new user: a search query over the limits is a
 * usage error (2); a closed standard output is an output error (1), never
 * an input one; "-j1 -t2" work; a missing Whisper model is a model error
 * (6); missing inputs are reported before any engine note; --help lists the
 * database options; a cached answer's JSON timings say so.
 */
#define _DEFAULT_SOURCE
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "helpers.h"

#define TE "-e test --no-vad --chunk-max 2 --chunk-min 1 -q"

TEST(search_query_over_the_limits_is_a_usage_error)
{
    char *q = malloc(5001), *out, *err, many[4096];
    size_t len = 0;
    int st, i;
    ASSERT(q != NULL);
    memset(q, 'a', 5000);
    q[5000] = '\0';
    out = ct_run(&st, "search '%s'", q);
    err = ct_err();
    ASSERT_MSG(st == 2, "exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "hark search: query longer than 4096 bytes");
    free(out);
    free(err);

    for (i = 0; i < 300; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "w%d ", i);
    out = ct_run(&st, "search '%s'", many);
    err = ct_err();
    ASSERT_MSG(st == 2, "exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "hark search: query has more than 256 terms");
    free(out);
    free(err);
    free(q);
}

TEST(closed_standard_output_is_an_output_error)
{
    const char *wav = ct_tone("talk.wav", 2);
    char *out, *err;
    int st;
    /* ">&-": hark starts with descriptor 1 closed */
    out = ct_run(&st, "transcribe " TE " '%s' >&-", wav);
    err = ct_err();
    ASSERT_MSG(st == 1, "transcribe: exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "standard output");
    free(out);
    free(err);

    out = ct_run(&st, "list >&-");
    err = ct_err();
    ASSERT_MSG(st == 1, "list: exit %d: %s", st, err);
    ASSERT_CONTAINS(err, "standard output");
    free(out);
    free(err);

    out = ct_run(&st, "--version >&-"); /* answered by the launcher */
    err = ct_err();
    ASSERT_MSG(st == 1, "--version: exit %d: %s", st, err);
    free(out);
    free(err);
}

TEST(short_options_take_attached_values)
{
    const char *wav = ct_tone("talk.wav", 5);
    char *ref, *out, *err;
    int st;
    ref = ct_run(&st, "transcribe " TE " -j 1 -t 2 -f tsv '%s'", wav);
    ASSERT_EQ(st, 0);
    out = ct_run(&st, "transcribe " TE " -j1 -t2 -ftsv '%s'", wav);
    err = ct_err();
    ASSERT_MSG(st == 0, "exit %d: %s", st, err);
    ASSERT_STREQ(out, ref);
    ASSERT_CONTAINS(out, "0\t2000\tf440");
    free(out);
    free(err);
    free(ref);
    /* a bad attached value is a usage error naming the option */
    out = ct_run(&st, "transcribe " TE " -j0 '%s'", wav);
    err = ct_err();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "--jobs must be a whole number");
    free(out);
    free(err);
}

TEST(whisper_without_a_model_is_a_model_error)
{
    const char *wav = ct_tone("talk.wav", 2);
    char *out, *err;
    int st;
    out = ct_run(&st, "transcribe -e whisper '%s'", wav);
    err = ct_err();
    ASSERT_MSG(st == 6, "exit %d, expected 6 (model missing): %s", st, err);
    ASSERT_CONTAINS(err, "no Whisper model installed");
    free(out);
    free(err);
    out = ct_run(&st, "transcribe -e whisper -m '%s' '%s'", harness_path("nope.bin"), wav);
    err = ct_err();
    ASSERT_MSG(st == 6, "exit %d, expected 6: %s", st, err);
    free(out);
    free(err);
}

TEST(missing_inputs_are_reported_before_engine_notes)
{
    const char *wav, *missing = harness_path("missing.wav");
    struct stat sb;
    char *out, *err, *miss, *note;
    int st;
    if (stat("/usr/share/pocketsphinx/model/en-us", &sb) != 0)
        SKIP("Debian's pocketsphinx-en-us model is not installed");
    /* nothing to transcribe: no engine, no note */
    out = ct_run(&st, "transcribe '%s'", missing);
    err = ct_err();
    ASSERT_EQ(st, 3);
    ASSERT_CONTAINS(err, "missing.wav: no such file");
    ASSERT_MSG(!strstr(err, "note:"), "an engine note for a run with no input: %s", err);
    free(out);
    free(err);
    /* one missing, one there: the missing one is reported first */
    wav = ct_tone("talk.wav", 1);
    out = ct_run(&st, "transcribe --no-store --no-cache '%s' '%s'", missing, wav);
    err = ct_err();
    ASSERT_EQ(st, 3);
    miss = strstr(err, "missing.wav: no such file");
    note = strstr(err, "note: no Whisper model");
    ASSERT_MSG(miss && note && miss < note, "order of messages: %s", err);
    free(out);
    free(err);
}

TEST(transcribe_help_lists_the_database_options)
{
    int st;
    char *out = ct_run(&st, "transcribe --help");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "--db PATH");
    ASSERT_CONTAINS(out, "--cache-db PATH");
    ASSERT_CONTAINS(out, "7 database error");
    free(out);
}

static json_t *timings_of(const char *json_text)
{
    json_error_t e;
    json_t *doc = json_loads(json_text, 0, &e), *tm;
    ASSERT_MSG(doc != NULL, "bad JSON: %s", e.text);
    tm = json_object_get(doc, "timings");
    ASSERT(json_is_object(tm));
    json_incref(tm);
    json_decref(doc);
    return tm;
}

TEST(json_timings_of_a_cached_answer_say_so)
{
    const char *wav = ct_tone("talk.wav", 5);
    char *out;
    json_t *tm;
    int st;
    out = ct_run(&st, "transcribe " TE " -j 2 -f json '%s'", wav);
    ASSERT_EQ(st, 0);
    tm = timings_of(out);
    ASSERT(json_is_false(json_object_get(tm, "cached")));
    ASSERT(json_real_value(json_object_get(tm, "total_ms")) > 0);
    json_decref(tm);
    free(out);

    out = ct_run(&st, "transcribe " TE " -j 2 -f json '%s'", wav);
    ASSERT_EQ(st, 0);
    tm = timings_of(out);
    ASSERT_MSG(json_is_true(json_object_get(tm, "cached")), "not marked cached: %s", out);
    ASSERT(json_real_value(json_object_get(tm, "total_ms")) > 0); /* the time the answer took */
    ASSERT_EQ(json_real_value(json_object_get(tm, "asr_ms")), 0); /* no engine ran */
    ASSERT_EQ(json_real_value(json_object_get(tm, "decode_ms")), 0);
    json_decref(tm);
    free(out);
}

/* Figures are tied to the build that produced them: hark bench names its build type. */
TEST(bench_names_the_build_its_figures_come_from)
{
    const char *wav = ct_tone("clip.wav", 2);
    char *cache = harness_read_file(HARK_BUILD_DIR "/CMakeCache.txt", NULL), *p, *out, want[128];
    size_t n;
    int st;
    ASSERT(cache != NULL);
    p = strstr(cache, "CMAKE_BUILD_TYPE:STRING=");
    ASSERT(p != NULL);
    p += strlen("CMAKE_BUILD_TYPE:STRING=");
    n = strcspn(p, "\n");
    snprintf(want, sizeof(want), "build: %.*s", (int)n, p);
    out = ct_run(&st, "bench -e test --no-vad --repeat 1 --max-jobs 1 '%s'", wav);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, want);
    free(out);
    free(cache);
}
