/*
 * Files written safely and stored data printed safely: -o DIR outputs go
 * through a fresh temporary file (a link planted where the old fixed
 * temporary name "<file>.tmp-<pid>" was is never followed), names too long
 * for a temporary suffix still work, the database and the cache are private
 * (0600) whatever the umask and a shared one gets a warning, and file names,
 * titles, transcripts and query echoes reach a terminal with their control
 * characters escaped.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"

#define TE "-e test --no-vad --chunk-max 2 --chunk-min 1 -q"

TEST(output_files_never_follow_a_planted_link)
{
    const char *wav = ct_tone("talk.wav", 4);
    char outdir[1024], victim[1024], planted[1300], final[1200];
    const char *argv[] = { "transcribe", "-e", "test", "--no-vad", "--chunk-max", "2", "-q",
                           "-o",         NULL, "-f",   "txt",      wav,           NULL };
    int sync_pipe[2], st, entries = 0;
    char *s;
    pid_t pid;
    DIR *d;
    struct dirent *e;

    snprintf(outdir, sizeof(outdir), "%s", harness_path("out"));
    snprintf(victim, sizeof(victim), "%s", harness_path("victim"));
    snprintf(final, sizeof(final), "%s/talk.txt", outdir);
    argv[8] = outdir;
    ASSERT_EQ(mkdir(outdir, 0700), 0);
    ASSERT_OK(harness_write_file(victim, "precious\n", 9));
    /* the child waits until the link is planted at the name the old writer used */
    ASSERT_EQ(pipe(sync_pipe), 0);
    fflush(stdout);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        char c;
        close(sync_pipe[1]);
        if (read(sync_pipe[0], &c, 1) != 1)
            _exit(125);
        close(sync_pipe[0]);
        execv(harness_hark_bin(),
              (char *const[]){ "hark", (char *)argv[0], (char *)argv[1], (char *)argv[2],
                               (char *)argv[3], (char *)argv[4], (char *)argv[5], (char *)argv[6],
                               (char *)argv[7], (char *)argv[8], (char *)argv[9], (char *)argv[10],
                               (char *)argv[11], NULL });
        _exit(127);
    }
    close(sync_pipe[0]);
    snprintf(planted, sizeof(planted), "%s.tmp-%d", final, (int)pid);
    ASSERT_EQ(symlink(victim, planted), 0);
    ASSERT_EQ(write(sync_pipe[1], "g", 1), 1);
    close(sync_pipe[1]);
    ASSERT_MSG(ct_wait(pid, 30000, &st), "hark did not finish");
    ASSERT_EQ(st, 0);

    s = harness_read_file(victim, NULL);
    ASSERT_STREQ(s, "precious\n"); /* the link's target was not written */
    free(s);
    s = harness_read_file(final, NULL);
    ASSERT_CONTAINS(s, "f440");
    free(s);
    /* nothing else was left in the folder: talk.txt and the planted link only */
    d = opendir(outdir);
    ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    ASSERT_EQ(entries, 2);
}

TEST(a_link_at_the_output_name_is_replaced_not_followed)
{
    const char *wav = ct_tone("talk.wav", 2);
    char outdir[1024], victim[1024], final[1200], *s, *out;
    struct stat sb;
    int st;
    snprintf(outdir, sizeof(outdir), "%s", harness_path("out"));
    snprintf(victim, sizeof(victim), "%s", harness_path("victim"));
    snprintf(final, sizeof(final), "%s/talk.txt", outdir);
    ASSERT_EQ(mkdir(outdir, 0700), 0);
    ASSERT_OK(harness_write_file(victim, "precious\n", 9));
    ASSERT_EQ(symlink(victim, final), 0);
    out = ct_run(&st, "transcribe " TE " -o '%s' '%s'", outdir, wav);
    ASSERT_EQ(st, 0);
    free(out);
    s = harness_read_file(victim, NULL);
    ASSERT_STREQ(s, "precious\n");
    free(s);
    ASSERT_EQ(lstat(final, &sb), 0);
    ASSERT(S_ISREG(sb.st_mode));
}

TEST(an_output_name_too_long_for_a_temporary_suffix_still_works)
{
    char name[300], src[1300], outdir[1024], path[1600], *s, *out, *err;
    int st;
    /* "<245 x a>.txt" is 249 bytes: it fits NAME_MAX (255), a suffix such as ".tmp-12345" does not
     */
    memset(name, 'a', 245);
    snprintf(name + 245, sizeof(name) - 245, ".wav");
    snprintf(src, sizeof(src), "%s", ct_tone("x.wav", 2));
    snprintf(outdir, sizeof(outdir), "%s", harness_path("out"));
    snprintf(path, sizeof(path), "%s", harness_path(name));
    ASSERT_EQ(rename(src, path), 0);
    out = ct_run(&st, "transcribe " TE " -o '%s' '%s'", outdir, path);
    err = ct_err();
    ASSERT_MSG(st == 0, "exit %d: %s", st, err);
    free(out);
    free(err);
    memcpy(name + 245, ".txt", 5);
    snprintf(path, sizeof(path), "%s/%s", outdir, name);
    s = harness_read_file(path, NULL);
    ASSERT_MSG(s != NULL, "%s was not written", name);
    ASSERT_CONTAINS(s, "f440");
    free(s);
}

static unsigned mode_of(const char *path)
{
    struct stat sb;
    ASSERT_MSG(stat(path, &sb) == 0, "%s missing", path);
    return (unsigned)(sb.st_mode & 07777);
}

TEST(database_and_cache_are_private_whatever_the_umask)
{
    const char *wav = ct_tone("talk.wav", 2);
    char db[1024], cache[1024], wal[1100];
    int st;
    snprintf(db, sizeof(db), "%s/hark/hark.db", harness_path("xdg-data"));
    snprintf(cache, sizeof(cache), "%s/hark/cache.db", harness_path("xdg-cache"));
    ASSERT_EQ(
        harness_sh("umask 000 && %s transcribe " TE " '%s' >/dev/null", harness_hark_bin(), wav),
        0);
    ASSERT_MSG(mode_of(db) == 0600, "hark.db has mode %04o", mode_of(db));
    ASSERT_MSG(mode_of(cache) == 0600, "cache.db has mode %04o", mode_of(cache));
    snprintf(wal, sizeof(wal), "%s-wal", db);
    if (access(wal, F_OK) == 0)
        ASSERT_MSG((mode_of(wal) & 077) == 0, "hark.db-wal has mode %04o", mode_of(wal));
    /* --db and --cache-db files too */
    snprintf(db, sizeof(db), "%s", harness_path("mine.db"));
    snprintf(cache, sizeof(cache), "%s", harness_path("mine-cache.db"));
    st = harness_sh("umask 022 && %s transcribe " TE " --db '%s' --cache-db '%s' '%s' >/dev/null",
                    harness_hark_bin(), db, cache, wav);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(mode_of(db), 0600);
    ASSERT_EQ(mode_of(cache), 0600);
}

TEST(a_database_others_can_read_gets_a_warning)
{
    char db[1024], *out, *err;
    int st;
    snprintf(db, sizeof(db), "%s", harness_path("shared.db"));
    out = ct_run(&st, "list --db '%s'", db);
    err = ct_err();
    ASSERT_EQ(st, 0);
    ASSERT_MSG(!strstr(err, "warning"), "a private database got a warning: %s", err);
    free(out);
    free(err);
    ASSERT_EQ(chmod(db, 0644), 0);
    out = ct_run(&st, "list --db '%s'", db);
    err = ct_err();
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(err, "warning");
    ASSERT_CONTAINS(err, db);
    ASSERT_CONTAINS(err, "other users");
    free(out);
    free(err);
}

/* No raw ESC or BEL byte in s. */
static void assert_no_raw_controls(const char *what, const char *s)
{
    ASSERT_MSG(!strchr(s, '\x1b') && !strchr(s, '\a'), "%s reached the terminal raw:\n%s", what, s);
}

TEST(stored_names_and_queries_are_printed_with_controls_escaped)
{
    const char *evil = "evil\x1b]2;owned\a\x1b[31m.wav";
    char src[1024], path[1024], *out, *err;
    int st;
    snprintf(src, sizeof(src), "%s", ct_tone("x.wav", 2));
    snprintf(path, sizeof(path), "%s", harness_path(evil));
    ASSERT_EQ(rename(src, path), 0);
    /* the file is given through a glob, so the shell command line stays printable */
    out = ct_run(&st, "transcribe " TE " %s/evil*.wav", harness_tmpdir());
    ASSERT_EQ(st, 0);
    free(out);

    out = ct_run(&st, "list");
    ASSERT_EQ(st, 0);
    assert_no_raw_controls("hark list", out);
    ASSERT_CONTAINS(out, "evil\\x1b]2;owned\\x07\\x1b[31m.wav");
    free(out);

    out = ct_run(&st, "search f440");
    ASSERT_EQ(st, 0);
    assert_no_raw_controls("hark search (title)", out);
    ASSERT_CONTAINS(out, "evil\\x1b]2;owned");
    ASSERT_CONTAINS(out, "[f440]");
    free(out);

    out = ct_run(&st, "search \"$(printf 'zz\\033[2Jzz')\"");
    err = ct_err();
    assert_no_raw_controls("hark search (query echo)", out);
    assert_no_raw_controls("hark search (query echo, stderr)", err);
    ASSERT_MSG(strstr(out, "\\x1b[2J") || strstr(err, "\\x1b[2J"), "%s%s", out, err);
    free(out);
    free(err);
}

TEST(a_transcript_shown_on_a_terminal_is_escaped)
{
    char db[1024], *out;
    hark_store *s = NULL;
    hark_transcript *t = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_segment seg;
    int64_t id = 0;
    int st;

    if (!harness_have("script"))
        SKIP("no script(1) to give hark a terminal");
    snprintf(db, sizeof(db), "%s", harness_path("t.db"));
    /* a transcript whose text holds an escape sequence, stored through the public API */
    ASSERT_OK(hark_store_open(&s, db));
    ASSERT_OK(hark_transcript_new(&t));
    memset(&seg, 0, sizeof(seg));
    seg.start = 0;
    seg.end = 16000;
    seg.text = "hello \x1b[2J\x1b]0;owned\a world";
    ASSERT_OK(hark_transcript_add(t, &seg));
    rec.title = "t";
    rec.source = "t.wav";
    rec.status = HARK_STATUS_DONE;
    ASSERT_OK(hark_store_recording_create(s, &rec, &id));
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 1, 0));
    hark_transcript_free(t);
    hark_store_free(s);

    /* on a terminal (script(1) gives it one): escaped */
    out = harness_sh_output(&st, "script -qec \"%s show --db '%s' %lld\" /dev/null",
                            harness_hark_bin(), db, (long long)id);
    ASSERT_EQ(st, 0);
    assert_no_raw_controls("hark show", out);
    ASSERT_CONTAINS(out, "hello \\x1b[2J\\x1b]0;owned\\x07 world");
    free(out);
    /* into a pipe or file: the bytes as stored */
    out = harness_sh_output(&st, "%s show --db '%s' %lld", harness_hark_bin(), db, (long long)id);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "hello \x1b[2J");
    free(out);
}
