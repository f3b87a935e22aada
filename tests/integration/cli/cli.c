/*
 * CLI integration tests: run the real `hark` binary on files generated with
 * Debian's ffmpeg/sox, and check outputs, messages and exit codes. The
 * deterministic "test" engine (no model) is used unless a test is about an
 * engine; --no-vad gives it fixed one-chunk-per-N-seconds cuts.
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TE "-e test --no-vad --chunk-max 2 --chunk-min 1 -q"

static void need_ffmpeg(void)
{
    if (!harness_have("ffmpeg"))
        SKIP("ffmpeg not installed");
}

/* A 440 Hz tone for `sec` seconds, written as `name` (format from the extension). */
static const char *tone(const char *name, double sec)
{
    const char *p = harness_path(name);
    need_ffmpeg();
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i "
                         "'sine=frequency=440:sample_rate=44100:duration=%.2f' -ac 2 '%s'",
                         sec, p),
              0);
    return p;
}

static char *run(int *status, const char *fmt_args)
{
    return harness_sh_output(status, "%s %s 2>%s", harness_hark_bin(), fmt_args,
                             harness_path("stderr.txt"));
}

static char *err_text(void)
{
    char *s = harness_read_file(harness_path("stderr.txt"), NULL);
    ASSERT(s != NULL);
    return s;
}

TEST(version_and_help)
{
    int st;
    char *out = harness_sh_output(&st, "%s --version", harness_hark_bin());
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "hark 0.");
    free(out);
    out = harness_sh_output(&st, "%s --help", harness_hark_bin());
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "transcribe");
    ASSERT_CONTAINS(out, "Exit codes");
    free(out);
    out = harness_sh_output(&st, "%s transcribe --help", harness_hark_bin());
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "--beam-size");
    free(out);
}

TEST(usage_errors_exit_2_with_a_message)
{
    int st;
    char *out, *err;
    out = run(&st, "transcribe --bogus x.wav");
    err = err_text();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "unknown option '--bogus'");
    free(out);
    free(err);
    out = run(&st, "transcribe");
    err = err_text();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "no input files");
    free(out);
    free(err);
    out = run(&st, "transcribe -f srt,vtt x.wav");
    err = err_text();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "-o DIR");
    free(out);
    free(err);
    out = run(&st, "transcribe -j zero x.wav");
    err = err_text();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "--jobs must be a whole number");
    free(out);
    free(err);
    out = run(&st, "transcribe -f doc x.wav");
    err = err_text();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "unknown output format 'doc'");
    free(out);
    free(err);
    out = run(&st, "frobnicate");
    err = err_text();
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(err, "unknown command 'frobnicate'");
    free(out);
    free(err);
}

TEST(transcribes_to_stdout_and_to_every_format)
{
    const char *wav = tone("talk.wav", 5);
    char args[2048];
    int st;
    char *out;
    const char *fmts[] = { "txt", "srt", "vtt", "json", "tsv" };
    size_t i;

    snprintf(args, sizeof(args), "transcribe " TE " '%s'", wav);
    out = run(&st, args);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "f440 a0.");
    free(out);

    snprintf(args, sizeof(args), "transcribe " TE " -f srt,vtt,json,tsv,txt -o '%s' '%s'",
             harness_path("out"), wav);
    out = run(&st, args);
    ASSERT_EQ(st, 0);
    free(out);
    for (i = 0; i < 5; i++) {
        char name[64];
        char *s;
        snprintf(name, sizeof(name), "out/talk.%s", fmts[i]);
        s = harness_read_file(harness_path(name), NULL);
        ASSERT_MSG(s != NULL, "missing %s", name);
        if (i == 1)
            ASSERT_CONTAINS(s, "1\n00:00:00,000 --> 00:00:02,000\nf440");
        if (i == 2)
            ASSERT_CONTAINS(s, "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nf440");
        if (i == 3) {
            ASSERT_CONTAINS(s, "\"engine\": \"test\"");
            ASSERT_CONTAINS(s, "\"duration\": 5.000");
            ASSERT_CONTAINS(s, "\"words\": [");
            ASSERT_CONTAINS(s, "\"timings\"");
        }
        if (i == 4)
            ASSERT_CONTAINS(s, "start\tend\ttext\n0\t2000\tf440");
        free(s);
    }
}

TEST(batch_with_clashing_names_and_a_bad_file)
{
    const char *a = tone("a.wav", 3), *b = tone("a.flac", 3);
    char args[4096];
    int st;
    char *out, *err, *s;
    snprintf(args, sizeof(args), "transcribe " TE " -f srt -o '%s' '%s' '%s' '%s'",
             harness_path("o"), a, harness_path("missing.mp3"), b);
    out = run(&st, args);
    err = err_text();
    ASSERT_EQ(st, 3); /* the first failure: a missing input */
    ASSERT_CONTAINS(err, "missing.mp3");
    s = harness_read_file(harness_path("o/a.wav.srt"), NULL);
    ASSERT_MSG(s != NULL, "a.wav.srt missing");
    free(s);
    s = harness_read_file(harness_path("o/a.flac.srt"), NULL);
    ASSERT_MSG(s != NULL, "a.flac.srt missing (the batch must go on after a bad file)");
    free(s);
    free(out);
    free(err);
}

TEST(reads_standard_input)
{
    const char *flac = tone("in.flac", 4);
    int st;
    char *out = harness_sh_output(&st, "cat '%s' | %s transcribe " TE " -f tsv -", flac,
                                  harness_hark_bin());
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "0\t2000\tf440");
    ASSERT_CONTAINS(out, "2000\t4000\tf440");
    free(out);
}

TEST(bad_inputs_get_one_clear_line_and_an_exit_code)
{
    char args[2048];
    int st;
    char *out, *err;
    const char *txt = harness_path("notes.wav");
    const char *empty = harness_path("empty.wav");
    const char *video = harness_path("video.mp4");

    ASSERT_OK(harness_write_file(txt, "this is not audio at all\n", 25));
    snprintf(args, sizeof(args), "transcribe " TE " '%s'", harness_path("nope.wav"));
    out = run(&st, args);
    err = err_text();
    ASSERT_EQ(st, 3);
    ASSERT_CONTAINS(err, "nope.wav");
    free(out);
    free(err);

    snprintf(args, sizeof(args), "transcribe " TE " '%s'", txt);
    out = run(&st, args);
    err = err_text();
    ASSERT_EQ(st, 4);
    ASSERT_CONTAINS(err, "notes.wav");
    free(out);
    free(err);

    need_ffmpeg();
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i anullsrc=r=16000:cl=mono "
                         "-t 0 '%s'",
                         empty),
              0);
    snprintf(args, sizeof(args), "transcribe " TE " '%s'", empty);
    out = run(&st, args);
    err = err_text();
    ASSERT_EQ(st, 5);
    ASSERT_CONTAINS(err, "empty.wav");
    ASSERT_CONTAINS(err, "no audio");
    free(out);
    free(err);

    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i "
                         "testsrc=size=64x48:rate=5 -t 1 -an '%s'",
                         video),
              0);
    snprintf(args, sizeof(args), "transcribe " TE " '%s'", video);
    out = run(&st, args);
    err = err_text();
    ASSERT_EQ(st, 4);
    ASSERT_CONTAINS(err, "video.mp4");
    ASSERT_CONTAINS(err, "no audio stream");
    free(out);
    free(err);
}

TEST(truncated_file_gives_a_warning_and_what_was_valid)
{
    const char *mp3 = tone("long.mp3", 8);
    const char *cut = harness_path("cut.mp3");
    char args[2048];
    int st;
    char *out, *err;
    ASSERT_EQ(harness_sh("head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", mp3, mp3, cut), 0);
    snprintf(args, sizeof(args), "transcribe " TE " -f tsv '%s'", cut);
    out = run(&st, args);
    err = err_text();
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "0\t2000\tf440");
    ASSERT_CONTAINS(err, "warning");
    ASSERT_CONTAINS(err, "cut.mp3");
    free(out);
    free(err);
}

TEST(pure_silence_gives_an_empty_transcript)
{
    const char *wav = harness_path("silence.wav");
    char args[2048];
    int st;
    char *out;
    need_ffmpeg();
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i "
                         "anullsrc=r=16000:cl=mono -t 6 '%s'",
                         wav),
              0);
    /* with the VAD: no chunk at all reaches the engine */
    snprintf(args, sizeof(args), "transcribe -e test -q -f srt '%s'", wav);
    out = run(&st, args);
    ASSERT_EQ(st, 0);
    ASSERT_STREQ(out, "");
    free(out);
}

TEST(output_is_identical_for_any_worker_count)
{
    const char *wav = tone("det.wav", 21);
    char args[2048];
    int st, j;
    char *ref = NULL;
    for (j = 1; j <= 4; j++) {
        char *out;
        snprintf(args, sizeof(args), "transcribe " TE " -j %d -f srt '%s'", j, wav);
        out = run(&st, args);
        ASSERT_EQ(st, 0);
        if (!ref)
            ref = out;
        else {
            ASSERT_STREQ(out, ref);
            free(out);
        }
    }
    free(ref);
}

TEST(ctrl_c_stops_promptly_and_writes_what_is_done)
{
    const char *wav = tone("slow.wav", 40);
    const char *outf = harness_path("partial.tsv");
    char cmd[2048];
    pid_t pid;
    int st;
    char *s;
    /* 20 chunks of 2 s, 300 ms each on 2 workers: about 3 s in total */
    snprintf(cmd, sizeof(cmd),
             "exec %s transcribe -e test -m delay=300 --no-vad --chunk-max 2 -j 2 -q -f tsv "
             "'%s' > '%s' 2>%s",
             harness_hark_bin(), wav, outf, harness_path("stderr.txt"));
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    usleep(1200 * 1000);
    kill(pid, SIGINT);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 130);
    s = harness_read_file(outf, NULL);
    ASSERT(s != NULL);
    ASSERT_CONTAINS(s, "0\t2000\tf440");       /* the first chunks were flushed */
    ASSERT(strstr(s, "38000\t40000") == NULL); /* but not the end */
    free(s);
    s = err_text();
    ASSERT_CONTAINS(s, "interrupted");
    free(s);
}

/* hark eval --baseline: the command runs on every file ({} quoted for the shell, even a
 * name with a quote in it) and its stdout is scored like hark's; a failing command counts. */
TEST(eval_scores_a_baseline_command_on_the_same_files)
{
    const char *wav = tone("clip.wav", 2.0), *manifest = harness_path("manifest.tsv");
    char args[4096], *out, *p;
    FILE *f = fopen(manifest, "w");
    int st;

    ASSERT(f != NULL);
    fprintf(f, "id\tfile\treference\nclip\tit's.wav\tHELLO WORLD\n");
    fclose(f);
    ASSERT_EQ(rename(wav, harness_path("it's.wav")), 0);
    snprintf(args, sizeof(args),
             "eval -e test --no-vad -q --json --baseline \"test -f {} && echo Hello, world.\" '%s'",
             manifest);
    out = run(&st, args);
    ASSERT_EQ(st, 0);
    p = strstr(out, "\"baseline\"");
    ASSERT_MSG(p != NULL, "no baseline in: %s", out);
    ASSERT_MSG(strstr(p, "\"wer\": 0.0000") || strstr(p, "\"wer\":0.0000"), "%s", p);
    ASSERT_MSG(strstr(p, "\"failed\": 0") || strstr(p, "\"failed\":0"), "%s", p);
    free(out);

    snprintf(args, sizeof(args), "eval -e test --no-vad -q --json --baseline 'false {}' '%s'",
             manifest);
    out = run(&st, args);
    p = strstr(out, "\"baseline\"");
    ASSERT_MSG(p != NULL, "no baseline in: %s", out);
    ASSERT_MSG(strstr(p, "\"failed\": 1") || strstr(p, "\"failed\":1"), "%s", p);
    free(out);
}

/* hark bench: a row per worker count from measured child processes, the memory check,
 * and a baseline command timed on the same file (its name quoted for the shell). */
TEST(bench_measures_each_worker_count_and_a_baseline)
{
    const char *wav = tone("clip.wav", 6.0), *named = harness_path("it's.wav");
    char args[4096], *out;
    int st;

    ASSERT_EQ(rename(wav, named), 0);
    snprintf(args, sizeof(args),
             "bench -e test --no-vad --chunk-max 2 --chunk-min 1 --repeat 1 --max-jobs 2 "
             "--prefix 3 --baseline \"test -f {} && cat {} >/dev/null\" \"%s\"",
             named);
    out = run(&st, args);
    ASSERT_EQ(st, 0);
    ASSERT_MSG(strstr(out, "\n1 ") && strstr(out, "\n2 "), "no row per worker count:\n%s", out);
    ASSERT_MSG(strstr(out, "memory: peak RSS first 3 s"), "no memory check:\n%s", out);
    ASSERT_MSG(strstr(out, "faster end-to-end than the baseline"), "no baseline:\n%s", out);
    free(out);

    /* a failing baseline is reported, not timed */
    snprintf(args, sizeof(args),
             "bench -e test --no-vad --repeat 1 --max-jobs 1 --baseline 'false {}' \"%s\"", named);
    out = run(&st, args);
    ASSERT_MSG(!strstr(out, "than the baseline"), "a failed baseline was timed:\n%s", out);
    free(out);
    out = err_text();
    ASSERT_MSG(strstr(out, "a measured run failed"), "%s", out);
    free(out);
}
