/*
 * The stored-transcript commands end to end, through the real binary and a
 * real SQLite database in the test's folder: transcribe stores and then
 * answers from the cache, list pagination, show in every format, search with
 * time offsets, rm, cache stats/clear, gc, and cache invalidation when the
 * model or the options change. The "test" engine stands in for a recogniser
 * (its text names the tone and level of each chunk).
 */
#include <stdarg.h>
#include <sys/stat.h>

#include "harness.h"

#define TE "-e test --no-vad --chunk-max 2 --chunk-min 1"

/* A tone of about `hz` for `sec` seconds at 16 kHz mono (no resampling: WAV and
 * FLAC of it decode to identical samples). The frequency is off the integer by
 * 0.37 Hz so that no two 2-second chunks hold the same samples (identical
 * chunks would rightly hit each other in the content-addressed cache). */
static const char *tone(const char *name, int hz, double sec)
{
    const char *p = harness_path(name);
    if (!harness_have("ffmpeg"))
        SKIP("ffmpeg not installed");
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i "
                         "'sine=frequency=%d.37:sample_rate=16000:duration=%.2f' -ac 1 '%s'",
                         hz, sec, p),
              0);
    return p;
}

/* Run hark with `args`; stdout returned, stderr kept in err.txt. */
static char *hark(int *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *hark(int *st, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return harness_sh_output(st, "%s %s 2>'%s'", harness_hark_bin(), args, harness_path("err.txt"));
}

static char *err(void)
{
    char *s = harness_read_file(harness_path("err.txt"), NULL);
    ASSERT(s);
    return s;
}

TEST(transcribe_stores_and_a_second_run_comes_from_the_cache)
{
    const char *wav = tone("talk.wav", 440, 7);
    int st;
    char *a, *b, *e;

    a = hark(&st, "transcribe " TE " -f srt '%s'", wav);
    ASSERT_EQ(st, 0);
    e = err();
    ASSERT_CONTAINS(e, "recording 1");
    ASSERT(!strstr(e, "cache"));
    free(e);
    b = hark(&st, "transcribe " TE " -f srt '%s'", wav);
    ASSERT_EQ(st, 0);
    e = err();
    ASSERT_CONTAINS(e, "recording 1 (answered from the cache)");
    free(e);
    ASSERT_STREQ(a, b);
    free(b);

    /* --no-cache runs the engine again, into the same recording */
    b = hark(&st, "transcribe " TE " --no-cache -f srt '%s'", wav);
    e = err();
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(e, "recording 1\n");
    ASSERT_STREQ(a, b);
    free(b);
    free(e);

    /* show renders the stored transcript identically */
    b = hark(&st, "show 1 -f srt");
    ASSERT_EQ(st, 0);
    ASSERT_STREQ(a, b);
    free(a);
    free(b);

    /* --no-store keeps nothing */
    a = hark(&st, "transcribe " TE " --no-store -q '%s'", tone("other.wav", 880, 3));
    ASSERT_EQ(st, 0);
    free(a);
    a = hark(&st, "list");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(a, "talk.wav");
    ASSERT(!strstr(a, "other.wav"));
    free(a);
}

TEST(same_audio_in_another_container_hits_the_chunk_cache)
{
    const char *wav = tone("a.wav", 500, 6);
    const char *flac = harness_path("a.flac");
    int st;
    char *o, *e;
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -i '%s' '%s'", wav, flac), 0);
    free(hark(&st, "transcribe " TE " '%s'", wav));
    ASSERT_EQ(st, 0);
    o = hark(&st, "transcribe " TE " '%s'", flac);
    e = err();
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(e, "3 of 3 chunks from the cache");
    free(o);
    free(e);
}

TEST(another_model_or_other_options_do_not_hit)
{
    const char *wav = tone("m.wav", 300, 4);
    int st;
    char *e;
    free(hark(&st, "transcribe " TE " '%s'", wav));
    free(hark(&st, "transcribe " TE " -m delay=1 '%s'", wav));
    e = err();
    ASSERT_EQ(st, 0);
    ASSERT(!strstr(e, "cache"));
    free(e);
    free(hark(&st, "transcribe -e test --no-vad --chunk-max 4 '%s'", wav)); /* other chunking */
    e = err();
    ASSERT(!strstr(e, "cache"));
    free(e);
    free(hark(&st, "transcribe " TE " '%s'", wav)); /* the first again: hit */
    e = err();
    ASSERT_CONTAINS(e, "answered from the cache");
    free(e);
}

TEST(list_pages_newest_first)
{
    int i, st;
    char *o;
    for (i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "rec%d.wav", i);
        free(hark(&st, "transcribe " TE " -q '%s'", tone(name, 200 + 100 * i, 2)));
        ASSERT_EQ(st, 0);
    }
    o = hark(&st, "list --limit 2");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "rec4.wav");
    ASSERT_CONTAINS(o, "rec3.wav");
    ASSERT(!strstr(o, "rec2.wav"));
    ASSERT_CONTAINS(o, "hark list --after 4");
    free(o);
    o = hark(&st, "list --limit 2 --after 4");
    ASSERT_CONTAINS(o, "rec2.wav");
    ASSERT_CONTAINS(o, "rec1.wav");
    free(o);
    o = hark(&st, "list --after 2 --json");
    ASSERT_CONTAINS(o, "\"title\": \"rec0.wav\"");
    ASSERT_CONTAINS(o, "\"next_cursor\": null");
    ASSERT_CONTAINS(o, "\"has_audio\": false");
    ASSERT_CONTAINS(o, "\"audio_path\": null"); /* the command line shows local paths */
    free(o);
}

TEST(search_finds_segments_with_their_time_offsets)
{
    int st;
    char *o;
    free(hark(&st, "transcribe " TE " -q --title 'Tone talk' '%s'", tone("s.wav", 700, 6)));
    free(hark(&st, "transcribe " TE " -q '%s'", tone("t.wav", 900, 2)));
    o = hark(&st, "search f700 --json");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "\"title\": \"Tone talk\"");
    ASSERT_CONTAINS(o, "\"start_ms\": 2000");
    ASSERT_CONTAINS(o, "\"start_ms\": 4000");
    ASSERT_CONTAINS(o, "[f700]");
    ASSERT(!strstr(o, "f900"));
    free(o);
    o = hark(&st, "search 'f9*'");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "t.wav");
    free(o);
    o = hark(&st, "search f700 --recording 2");
    ASSERT_CONTAINS(o, "no matches");
    free(o);
    o = hark(&st, "search '\"f700'");
    ASSERT_EQ(st, 2);
    free(o);
    o = err();
    ASSERT_CONTAINS(o, "unterminated");
    free(o);
}

TEST(rm_removes_recording_cache_entries_and_archived_audio)
{
    const char *wav = tone("r.wav", 600, 4);
    int st;
    char *o, *e;
    struct stat sb;
    free(hark(&st, "transcribe " TE " --keep-audio '%s'", wav));
    ASSERT_EQ(st, 0);
    ASSERT_EQ(stat(harness_path("xdg-data/hark/audio/1.flac"), &sb), 0);
    ASSERT_LT(0, sb.st_size);
    o = hark(&st, "rm 1");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "removed recording 1");
    free(o);
    ASSERT(stat(harness_path("xdg-data/hark/audio/1.flac"), &sb) != 0);
    o = hark(&st, "show 1");
    ASSERT_EQ(st, 3);
    free(o);
    /* its cached results went too: the engine runs again */
    free(hark(&st, "transcribe " TE " '%s'", wav));
    e = err();
    ASSERT(!strstr(e, "cache"));
    free(e);
    o = hark(&st, "rm 99");
    ASSERT_EQ(st, 3);
    free(o);
}

static long stat_of(const char *json, const char *key)
{
    const char *p = strstr(json, key);
    ASSERT_MSG(p != NULL, "no %s in %s", key, json);
    return strtol(p + strlen(key), NULL, 10);
}

TEST(cache_stats_and_clear)
{
    const char *wav = tone("c.wav", 350, 4);
    int st;
    char *o;
    long hits, misses;
    free(hark(&st, "transcribe " TE " -q '%s'", wav));
    o = hark(&st, "cache stats --json");
    ASSERT_EQ(st, 0);
    hits = stat_of(o, "\"hits\": ");
    misses = stat_of(o, "\"misses\": ");
    ASSERT_LT(0, stat_of(o, "\"entries\": "));
    ASSERT_LT(0, misses); /* the file and the first chunk were new */
    free(o);
    free(hark(&st, "transcribe " TE " -q '%s'", wav));
    o = hark(&st, "cache stats --json");
    ASSERT_EQ(stat_of(o, "\"hits\": "), hits + 1); /* the whole file, in one lookup */
    ASSERT_EQ(stat_of(o, "\"misses\": "), misses);
    free(o);
    free(hark(&st, "cache clear"));
    ASSERT_EQ(st, 0);
    o = hark(&st, "cache stats --json");
    ASSERT_EQ(stat_of(o, "\"entries\": "), 0);
    free(o);
}

TEST(gc_applies_a_retention_age)
{
    int st;
    char *o;
    struct stat sb;
    free(hark(&st, "transcribe " TE " -q --keep-audio '%s'", tone("g.wav", 450, 2)));
    o = hark(&st, "gc --older-than 90d");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "removed 0 recordings");
    free(o);
    harness_sh("sleep 1.1");
    o = hark(&st, "gc --older-than 1s --dry-run");
    ASSERT_CONTAINS(o, "would remove 1 recordings");
    free(o);
    o = hark(&st, "gc --older-than 1s");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "removed 1 recordings");
    ASSERT_CONTAINS(o, "1 audio files");
    free(o);
    ASSERT(stat(harness_path("xdg-data/hark/audio/1.flac"), &sb) != 0);
    o = hark(&st, "gc --older-than soon");
    ASSERT_EQ(st, 2);
    free(o);
}
