/*
 * errors.c: how the SQLite store behaves when the file system says no:
 * read-only files and folders, a full disk, another process holding the
 * write lock. In every case the error is clear and nothing committed is lost.
 *
 * Full disk: a small tmpfs mounted in a private mount namespace when the
 * test may mount (root or CAP_SYS_ADMIN); otherwise RLIMIT_FSIZE caps the
 * size of every file the process writes. Read-only: as root, whom file modes
 * do not stop, the checks run in a child process that has switched to the
 * user "nobody" (uid 65534).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util/util.h"

static void put_batch(hark_store *s, int i, int n_segments, int64_t *id_out)
{
    hark_recording rec = HARK_RECORDING_INIT;
    hark_transcript *t = NULL;
    char title[32], text[256];
    int64_t id;
    int rc;

    snprintf(title, sizeof(title), "batch %d", i);
    rec.title = title;
    ASSERT_OK(hark_store_recording_create(s, &rec, &id));
    ASSERT_OK(hark_transcript_new(&t));
    for (int k = 0; k < n_segments; k++) {
        hark_segment seg;
        memset(&seg, 0, sizeof(seg));
        snprintf(text, sizeof(text),
                 "batch %d segment %d with enough text to fill some pages of the database "
                 "quickly, words words words",
                 i, k);
        seg.start = k * 16000;
        seg.end = seg.start + 8000;
        seg.text = text;
        ASSERT_OK(hark_transcript_add(t, &seg));
    }
    rc = hark_store_segments_put(s, id, t, 0, (size_t)n_segments, 0);
    hark_transcript_free(t);
    ASSERT_OK(rc);
    if (id_out)
        *id_out = id;
}

static void make_store(const char *path, int batches)
{
    hark_store *s = NULL;
    ASSERT_OK(hark_store_open(&s, path));
    for (int i = 0; i < batches; i++)
        put_batch(s, i, 5, NULL);
    hark_store_free(s);
}

static void verify_store(const char *path, int batches)
{
    hark_store *s = NULL;
    hark_store_stats st;
    char side[700];

    /* SQLite gives its -wal and -shm files the mode of the database: restore them too */
    snprintf(side, sizeof(side), "%s-wal", path);
    chmod(side, 0644);
    snprintf(side, sizeof(side), "%s-shm", path);
    chmod(side, 0644);
    ASSERT_OK(hark_store_open(&s, path));
    ASSERT_OK(hark_store_check(s));
    ASSERT_OK(hark_store_stats_get(s, &st));
    ASSERT_EQ(st.recordings, batches);
    ASSERT_EQ(st.segments, batches * 5);
    hark_store_free(s);
}

/* Drop root privileges (file modes then apply). */
static void become_nobody(void)
{
    if (geteuid() != 0)
        return;
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        harness_fail(__FILE__, __LINE__, "cannot switch to nobody: %s", strerror(errno));
}

/* Run `fn(arg)` in a child process as a user without privileges; fail if it fails. */
static void as_nobody(void (*fn)(const char *), const char *arg)
{
    int status;
    pid_t pid;
    ASSERT_EQ(chmod(harness_tmpdir(), 0755), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        become_nobody();
        fn(arg);
        _exit(0);
    }
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the unprivileged part failed");
}

static void reads_work_writes_refused(const char *path)
{
    hark_store *s = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_recording_list *l = NULL;
    hark_search_result *r = NULL;
    hark_cache *c = NULL;
    hark_transcript *t = NULL;
    hark_gc_options gc = HARK_GC_OPTIONS_INIT;
    uint8_t key[32] = { 1 };

    ASSERT_OK(hark_store_open(&s, path));
    ASSERT_EQ(hark_store_is_read_only(s), 1);
    ASSERT_OK(hark_store_recording_list(s, NULL, &l));
    ASSERT_EQ(l->n, 3);
    hark_recording_list_free(l);
    ASSERT_OK(hark_store_search(s, "batch", NULL, &r));
    ASSERT_EQ(r->n, 15);
    hark_search_result_free(r);
    ASSERT_OK(hark_store_transcript_get(s, 1, &t));
    ASSERT_EQ(hark_transcript_count(t), 5);

    ASSERT_ERR(hark_store_recording_create(s, &rec, NULL), HARK_EREADONLY);
    ASSERT_CONTAINS(hark_error_last(), "store.db");
    ASSERT_CONTAINS(hark_error_last(), "read-only");
    ASSERT_ERR(hark_store_segments_put(s, 1, t, 0, 5, 0), HARK_EREADONLY);
    ASSERT_ERR(hark_store_recording_delete(s, 1, NULL), HARK_EREADONLY);
    gc.older_than_ms = 1;
    ASSERT_ERR(hark_store_gc(s, &gc, NULL), HARK_EREADONLY);
    ASSERT_OK(hark_cache_new(&c, s, 1 << 16));
    ASSERT_ERR(hark_cache_put(c, key, "g", t), HARK_EREADONLY);
    hark_cache_free(c);
    hark_transcript_free(t);
    hark_store_free(s);
}

TEST(read_only_file_reads_work_and_writes_are_refused)
{
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s", harness_path("ro"));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    ASSERT_EQ(mkdir(dir, 0777), 0);
    make_store(path, 3);
    ASSERT_EQ(chmod(dir, 0777), 0);
    ASSERT_EQ(chmod(path, 0444), 0);
    as_nobody(reads_work_writes_refused, path);
    ASSERT_EQ(chmod(path, 0644), 0);
    verify_store(path, 3);
}

static void open_is_refused_clearly(const char *path)
{
    hark_store *s = NULL;
    ASSERT_ERR(hark_store_open(&s, path), HARK_EREADONLY);
    ASSERT_CONTAINS(hark_error_last(), "store.db");
    ASSERT_CONTAINS(hark_error_last(), "folder");
    ASSERT(s == NULL);
}

TEST(read_only_folder_gives_a_clear_error)
{
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s", harness_path("rodir"));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    ASSERT_EQ(mkdir(dir, 0755), 0);
    make_store(path, 3);
    ASSERT_EQ(chmod(path, 0666), 0); /* the file is writable, its folder is not */
    ASSERT_EQ(chmod(dir, 0555), 0);
    as_nobody(open_is_refused_clearly, path);
    ASSERT_EQ(chmod(path, 0444), 0); /* neither is */
    as_nobody(open_is_refused_clearly, path);
    ASSERT_EQ(chmod(path, 0644), 0);
    ASSERT_EQ(chmod(dir, 0755), 0);
    verify_store(path, 3);
}

TEST(read_only_option_refuses_writes)
{
    const char *path = harness_path("store.db");
    hark_store_options o = HARK_STORE_OPTIONS_INIT;
    hark_store *s = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_recording_list *l = NULL;

    o.read_only = 1;
    ASSERT_ERR(hark_store_open_ext(&s, path, &o), HARK_ENOTFOUND); /* never creates */
    make_store(path, 2);
    ASSERT_OK(hark_store_open_ext(&s, path, &o));
    ASSERT_EQ(hark_store_is_read_only(s), 1);
    ASSERT_OK(hark_store_recording_list(s, NULL, &l));
    ASSERT_EQ(l->n, 2);
    hark_recording_list_free(l);
    ASSERT_ERR(hark_store_recording_create(s, &rec, NULL), HARK_EREADONLY);
    hark_store_free(s);
    verify_store(path, 2);
}

/* Mount a tmpfs of `kib` KiB on `dir` in a private mount namespace; 0 on success. */
static int small_tmpfs(const char *dir, int kib)
{
    char opts[32];
    if (unshare(CLONE_NEWNS) != 0)
        return -1;
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    snprintf(opts, sizeof(opts), "size=%dk,mode=0755", kib);
    return mount("tmpfs", dir, "tmpfs", 0, opts);
}

TEST(full_disk_is_enospc_and_loses_nothing_committed)
{
    char dir[512], path[600], ballast[600];
    hark_store *s = NULL;
    int committed = 0, rc = 0, use_tmpfs;
    struct rlimit old_limit, small;
    char block[4096];

    snprintf(dir, sizeof(dir), "%s", harness_path("small"));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
    ASSERT_EQ(mkdir(dir, 0755), 0);
    use_tmpfs = small_tmpfs(dir, 2048) == 0;
    printf("  full disk simulated with %s\n", use_tmpfs ? "a 2 MiB tmpfs" : "RLIMIT_FSIZE = 2 MiB");
    /* space to give back later: the database cannot even be reopened on a full disk */
    memset(block, 'x', sizeof(block));
    if (use_tmpfs) {
        FILE *f = fopen(ballast, "wb");
        ASSERT(f != NULL);
        for (int i = 0; i < 32; i++)
            ASSERT_EQ(fwrite(block, 1, sizeof(block), f), sizeof(block));
        ASSERT_EQ(fclose(f), 0);
    } else {
        signal(SIGXFSZ, SIG_IGN);
        ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
        small = old_limit;
        small.rlim_cur = 2048 * 1024;
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    }

    ASSERT_OK(hark_store_open(&s, path));
    for (int i = 0; i < 10000; i++) {
        hark_recording rec = HARK_RECORDING_INIT;
        hark_transcript *t = NULL;
        int64_t id;
        char text[200];
        rec.title = "filling";
        rc = hark_store_recording_create(s, &rec, &id);
        if (rc < 0)
            break;
        ASSERT_OK(hark_transcript_new(&t));
        for (int k = 0; k < 5; k++) {
            hark_segment seg;
            memset(&seg, 0, sizeof(seg));
            snprintf(text, sizeof(text), "filling segment %d %d with text that takes space", i, k);
            seg.text = text;
            ASSERT_OK(hark_transcript_add(t, &seg));
        }
        rc = hark_store_segments_put(s, id, t, 0, 5, 0);
        hark_transcript_free(t);
        if (rc < 0)
            break;
        committed++;
    }
    ASSERT_ERR(rc, HARK_ENOSPC);
    ASSERT_CONTAINS(hark_error_last(), "store.db");
    ASSERT_CONTAINS(hark_error_last(), "disk full");
    ASSERT(committed >= 5);
    printf("  %d batches committed before the disk filled up\n", committed);
    /* what was committed can still be read through the same handle */
    {
        hark_search_result *r = NULL;
        hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
        o.recording = 1;
        ASSERT_OK(hark_store_search(s, "filling", &o, &r));
        ASSERT_EQ(r->n, 5);
        hark_search_result_free(r);
    }
    hark_store_free(s);

    /* make room, reopen: every committed batch is complete, nothing partial */
    if (use_tmpfs)
        ASSERT_EQ(unlink(ballast), 0);
    else
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    ASSERT_OK(hark_store_open(&s, path));
    ASSERT_OK(hark_store_check(s));
    {
        hark_store_stats st;
        ASSERT_OK(hark_store_stats_get(s, &st));
        ASSERT(st.segments >= (uint64_t)committed * 5);
        ASSERT_EQ(st.segments % 5, 0);
        ASSERT(st.recordings >= (uint64_t)committed);
    }
    for (int64_t id = 1; id <= committed; id++) {
        hark_transcript *t = NULL;
        ASSERT_OK(hark_store_transcript_get(s, id, &t));
        ASSERT_EQ(hark_transcript_count(t), 5);
        hark_transcript_free(t);
    }
    hark_store_free(s);
    if (use_tmpfs)
        umount2(dir, MNT_DETACH);
}

TEST(another_writer_holding_the_lock_gives_ebusy_and_readers_go_on)
{
    const char *path = harness_path("store.db");
    hark_store_options o = HARK_STORE_OPTIONS_INIT;
    hark_store *s = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_recording_list *l = NULL;
    int ready[2], release[2], status;
    char byte = 0;
    pid_t pid;

    make_store(path, 2);
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(release), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        /* a foreign writer: takes the write lock and holds it */
        sqlite3 *db = NULL;
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db,
                         "BEGIN IMMEDIATE; INSERT INTO recordings(title, created_ms, "
                         "updated_ms) VALUES ('held', 1, 1)",
                         NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        if (write(ready[1], &byte, 1) != 1 || read(release[0], &byte, 1) != 1)
            _exit(1);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(0);
    }
    ASSERT_EQ(read(ready[0], &byte, 1), 1);
    o.busy_timeout_ms = 200;
    ASSERT_OK(hark_store_open_ext(&s, path, &o));
    ASSERT_ERR(hark_store_recording_create(s, &rec, NULL), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "locked");
    /* readers are not blocked by the writer */
    ASSERT_OK(hark_store_recording_list(s, NULL, &l));
    ASSERT_EQ(l->n, 2);
    hark_recording_list_free(l);
    ASSERT_EQ(write(release[1], &byte, 1), 1);
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_OK(hark_store_recording_create(s, &rec, NULL)); /* and later the write goes through */
    hark_store_free(s);
}

TEST(uris_and_default_paths)
{
    hark_store *s = NULL;
    hark_store_options o = HARK_STORE_OPTIONS_INIT;
    hark_buf b = HARK_BUF_INIT;
    char uri[700], want[700];
    struct stat st;

    snprintf(uri, sizeof(uri), "sqlite:%s", harness_path("a.db"));
    ASSERT_OK(hark_store_open(&s, uri));
    ASSERT_STREQ(hark_store_backend(s), "sqlite");
    hark_store_free(s);
    ASSERT_EQ(stat(harness_path("a.db"), &st), 0);

    snprintf(uri, sizeof(uri), "sqlite://%s", harness_path("b.db")); /* sqlite:///abs */
    ASSERT_OK(hark_store_open(&s, uri));
    hark_store_free(s);
    ASSERT_EQ(stat(harness_path("b.db"), &st), 0);

    ASSERT_OK(hark_store_open(&s, harness_path("deep/er/c.db"))); /* folders are created */
    hark_store_free(s);
    ASSERT_EQ(stat(harness_path("deep/er/c.db"), &st), 0);

    o.no_create = 1;
    ASSERT_ERR(hark_store_open_ext(&s, harness_path("missing.db"), &o), HARK_ENOTFOUND);
    ASSERT_NE(stat(harness_path("missing.db"), &st), 0);

    ASSERT_ERR(hark_store_open(&s, "mysql://localhost/hark"), HARK_EUNSUPPORTED);
    ASSERT_CONTAINS(hark_error_last(), "mysql");
    /* a PostgreSQL URI goes to its backend: no server there is a connection error */
    ASSERT_ERR(hark_store_open(&s, "postgresql://127.0.0.1:1/hark?connect_timeout=2"), HARK_EIO);
    ASSERT_CONTAINS(hark_error_last(), "cannot connect to the database server");
    ASSERT_ERR(hark_store_open(&s, "sqlite:"), HARK_EINVAL);

    /* WAL mode, checked from outside */
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        ASSERT_EQ(sqlite3_open(harness_path("a.db"), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
        ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
        ASSERT_STREQ((const char *)sqlite3_column_text(q, 0), "wal");
        sqlite3_finalize(q);
        sqlite3_close(db);
    }

    /* defaults follow XDG */
    setenv("XDG_DATA_HOME", harness_path("xdg-data"), 1);
    setenv("XDG_CACHE_HOME", harness_path("xdg-cache"), 1);
    ASSERT_OK(hark_store_default_path(&b));
    snprintf(want, sizeof(want), "%s/hark/hark.db", harness_path("xdg-data"));
    ASSERT_STREQ(b.ptr, want);
    hark_buf_clear(&b);
    ASSERT_OK(hark_cache_default_path(&b));
    snprintf(want, sizeof(want), "%s/hark/cache.db", harness_path("xdg-cache"));
    ASSERT_STREQ(b.ptr, want);
    hark_buf_clear(&b);
    ASSERT_OK(hark_store_open(&s, NULL));
    snprintf(want, sizeof(want), "%s/hark/hark.db", harness_path("xdg-data"));
    ASSERT_STREQ(hark_store_uri(s), want);
    hark_store_free(s);
    ASSERT_EQ(stat(want, &st), 0);

    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    setenv("HOME", harness_path("home"), 1);
    ASSERT_OK(hark_store_default_path(&b));
    snprintf(want, sizeof(want), "%s/.local/share/hark/hark.db", harness_path("home"));
    ASSERT_STREQ(b.ptr, want);
    hark_buf_clear(&b);
    unsetenv("XDG_CACHE_HOME");
    ASSERT_OK(hark_cache_default_path(&b));
    snprintf(want, sizeof(want), "%s/.cache/hark/cache.db", harness_path("home"));
    ASSERT_STREQ(b.ptr, want);
    hark_buf_clear(&b);
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    ASSERT_ERR(hark_store_default_path(&b), HARK_ENOTFOUND);
    hark_buf_dispose(&b);
}

TEST(memory_store_works_for_tests)
{
    hark_store *s = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_search_result *r = NULL;
    hark_transcript *t = NULL;
    hark_segment seg;
    int64_t id;

    ASSERT_OK(hark_store_open(&s, "sqlite::memory:"));
    rec.title = "in memory";
    ASSERT_OK(hark_store_recording_create(s, &rec, &id));
    ASSERT_OK(hark_transcript_new(&t));
    memset(&seg, 0, sizeof(seg));
    seg.text = "ephemeral words";
    ASSERT_OK(hark_transcript_add(t, &seg));
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, 1, 0));
    ASSERT_OK(hark_store_search(s, "ephemeral", NULL, &r));
    ASSERT_EQ(r->n, 1);
    hark_search_result_free(r);
    hark_transcript_free(t);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(damaged_word_data_is_ecorrupt_not_a_crash)
{
    const char *path = harness_path("store.db");
    hark_store *s = NULL;
    hark_transcript *t = NULL;
    hark_recording_list *l = NULL;
    sqlite3 *db = NULL;

    make_store(path, 2);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE segments SET words = x'01ffffffff0f00' "
                           "WHERE recording_id = 1 AND seq = 3",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_OK(hark_store_open(&s, path));
    ASSERT_ERR(hark_store_transcript_get(s, 1, &t), HARK_ECORRUPT);
    ASSERT(t == NULL);
    ASSERT_CONTAINS(hark_error_last(), "segment 3");
    ASSERT_CONTAINS(hark_error_last(), "word data");
    ASSERT_OK(hark_store_transcript_get(s, 2, &t)); /* the rest is readable */
    ASSERT_EQ(hark_transcript_count(t), 5);
    hark_transcript_free(t);
    ASSERT_OK(hark_store_recording_list(s, NULL, &l));
    ASSERT_EQ(l->n, 2);
    hark_recording_list_free(l);
    hark_store_free(s);
}
