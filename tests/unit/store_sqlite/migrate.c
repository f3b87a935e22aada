/*
 * migrate.c: the SQLite schema migrations. Each migration is applied to a
 * database at the previous version that holds data, and the data must come
 * through intact and usable; plus refusals (newer schema, foreign files) and
 * two processes migrating one file at once.
 */
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    ASSERT_MSG(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    ASSERT_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
               sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int has_table(sqlite3 *db, const char *name)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name = '%s'", name);
    return raw_int(db, sql) == 1;
}

/* Rows that a database at schema `version` can hold, written with that version's SQL. */
static void fill(sqlite3 *db, int version, int round)
{
    char sql[1024];
    if (version >= 1) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO recordings(title, content_hash, status, created_ms, updated_ms, "
                 "duration_ms) VALUES ('round %d', 'hash%d', 'done', %d, %d, 3000);"
                 "INSERT INTO segments(recording_id, seq, start_ms, end_ms, text, confidence) "
                 "VALUES ((SELECT max(id) FROM recordings), 0, 0, 1000, "
                 "        'migrated words round%d', 0.5),"
                 "       ((SELECT max(id) FROM recordings), 1, 1000, 2000, 'second segment', 0.75);"
                 "UPDATE recordings SET n_segments = 2 WHERE title = 'round %d';",
                 round, round, 1000 + round, 1000 + round, round, round);
        raw_exec(db, sql);
    }
    if (version >= 3 && version < 5) { /* the unused jobs table of migration 3 */
        snprintf(sql, sizeof(sql),
                 "INSERT INTO jobs(recording_id, state, created_ms, updated_ms) "
                 "SELECT id, 'queued', 1, 1 FROM recordings WHERE title = 'round %d'",
                 round);
        raw_exec(db, sql);
    }
    if (version >= 5) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO jobs(recording_id, kind, priority, state, max_attempts, due_ms, "
                 "created_ms, updated_ms) SELECT id, 'transcribe', 2, 'queued', 4, 1, 1, 1 "
                 "FROM recordings WHERE title = 'round %d';"
                 "INSERT INTO job_chunks(job_id, idx, start, n, state) "
                 "VALUES ((SELECT max(id) FROM jobs), 0, 0, 16000, 1);"
                 "UPDATE jobs SET chunks_done = 1, chunks_total = 1 "
                 "WHERE id = (SELECT max(id) FROM jobs);",
                 round);
        raw_exec(db, sql);
    }
    if (version >= 6) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO users(name, created_ms) VALUES ('user%d', 1);"
                 "INSERT INTO api_keys(user_id, prefix, digest, created_ms) "
                 "VALUES ((SELECT max(id) FROM users), 'hark_0000000', randomblob(32), 1);"
                 "INSERT INTO audit(ts_ms, action, detail) VALUES (1, 'key.create', '{}');"
                 "INSERT INTO settings(name, value, updated_ms) VALUES ('s%d', 'v', 1);",
                 round, round);
        raw_exec(db, sql);
    }
    if (version >= 4) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO cache(key, grp, value, size, created_ms, used_ms) "
                 "VALUES (randomblob(32), 'hash%d', x'00010203', 4, 1, 1)",
                 round);
        raw_exec(db, sql);
    }
}

static int64_t rows(sqlite3 *db, const char *table)
{
    char sql[128];
    if (!has_table(db, table))
        return -1;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return raw_int(db, sql);
}

TEST(each_migration_applies_over_data_of_the_previous_version)
{
    static const char *const tables[] = { "recordings", "segments", "jobs",     "cache",
                                          "job_chunks", "users",    "api_keys", "audit",
                                          "settings",   NULL };
    int latest = hark__sqlite_schema_version();
    ASSERT(latest >= 7);

    for (int target = 1; target <= latest; target++) {
        char path[64];
        sqlite3 *db;
        int64_t before[16];
        snprintf(path, sizeof(path), "v%d.db", target);
        db = raw_open(harness_path(path));
        /* a database at target - 1, filled with what that version can hold */
        ASSERT_OK(hark__sqlite_migrate(db, target - 1, path));
        ASSERT_EQ(raw_int(db, "PRAGMA user_version"), target - 1);
        fill(db, target - 1, 1);
        fill(db, target - 1, 2);
        for (int t = 0; tables[t]; t++)
            before[t] = rows(db, tables[t]);

        ASSERT_OK(hark__sqlite_migrate(db, target, path));
        ASSERT_EQ(raw_int(db, "PRAGMA user_version"), target);
        ASSERT_EQ(raw_int(db, "PRAGMA application_id"), 0x6861726b);
        for (int t = 0; tables[t]; t++) {
            if (target == 5 && strcmp(tables[t], "jobs") == 0)
                continue; /* migration 5 replaces the never used jobs table: its rows go */
            if (before[t] >= 0)
                ASSERT_EQ(rows(db, tables[t]), before[t]);
        }
        /* what this migration adds works, over the old rows too */
        if (target == 1) {
            ASSERT(has_table(db, "recordings") && has_table(db, "segments"));
        } else if (target == 2) {
            ASSERT_EQ(raw_int(db, "SELECT count(*) FROM segments_fts WHERE segments_fts MATCH "
                                  "'migrated'"),
                      2); /* existing segments were indexed */
        } else if (target == 3) {
            ASSERT_EQ(rows(db, "jobs"), 0);
            fill(db, 3, 3);
            ASSERT_EQ(rows(db, "jobs"), 1);
        } else if (target == 4) {
            ASSERT_EQ(rows(db, "cache"), 0);
            fill(db, 4, 3);
            ASSERT_EQ(rows(db, "cache"), 1);
        } else if (target == 5) {
            ASSERT_EQ(rows(db, "jobs"), 0);
            ASSERT_EQ(raw_int(db, "SELECT count(*) FROM job_counts"), 20);
            fill(db, 5, 3);
            ASSERT_EQ(rows(db, "jobs"), 1);
            ASSERT_EQ(rows(db, "job_chunks"), 1);
            /* the triggers count jobs by state and priority */
            ASSERT_EQ(raw_int(db, "SELECT n FROM job_counts WHERE state = 'queued' AND "
                                  "priority = 2"),
                      1);
            raw_exec(db, "UPDATE jobs SET state = 'dead', due_ms = NULL");
            ASSERT_EQ(raw_int(db, "SELECT sum(n) FROM job_counts WHERE state = 'queued'"), 0);
            ASSERT_EQ(raw_int(db, "SELECT n FROM job_counts WHERE state = 'dead' AND "
                                  "priority = 2"),
                      1);
        } else if (target == 6) {
            ASSERT_EQ(rows(db, "users"), 0);
            fill(db, 6, 3);
            ASSERT_EQ(rows(db, "users"), 1);
            ASSERT_EQ(rows(db, "api_keys"), 1);
        } else if (target == 7) {
            /* old recordings belong to nobody; their segments are in the rebuilt index */
            ASSERT_EQ(raw_int(db, "SELECT count(*) FROM recordings WHERE owner <> 0"), 0);
            ASSERT_EQ(raw_int(db, "SELECT count(*) FROM segments_fts WHERE segments_fts MATCH "
                                  "'migrated'"),
                      2);
            raw_exec(db, "INSERT INTO segments_fts(segments_fts) VALUES ('integrity-check')");
        }
        /* migrating again is a no-op */
        ASSERT_OK(hark__sqlite_migrate(db, target, path));
        {
            sqlite3_stmt *st = NULL;
            ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
            ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
            ASSERT_STREQ((const char *)sqlite3_column_text(st, 0), "ok");
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
    }
}

TEST(opening_an_old_store_migrates_it_and_keeps_it_usable)
{
    const char *path = harness_path("old.db");
    sqlite3 *db = raw_open(path);
    hark_store *s = NULL;
    hark_transcript *t = NULL;
    hark_search_result *r = NULL;
    hark_recording_list *l = NULL;

    ASSERT_OK(hark__sqlite_migrate(db, 1, "old.db"));
    fill(db, 1, 1);
    fill(db, 1, 2);
    sqlite3_close(db);

    ASSERT_OK(hark_store_open(&s, path));
    ASSERT_OK(hark_store_recording_list(s, NULL, &l));
    ASSERT_EQ(l->n, 2);
    ASSERT_STREQ(l->items[0].title, "round 2");
    ASSERT_EQ(l->items[0].n_segments, 2);
    hark_recording_list_free(l);
    ASSERT_OK(hark_store_transcript_get(s, 1, &t));
    ASSERT_EQ(hark_transcript_count(t), 2);
    ASSERT_EQ(hark_transcript_segment(t, 1)->start, 1000 * 16);
    ASSERT_EQ(hark_transcript_duration(t), 3000 * 16);
    hark_transcript_free(t);
    ASSERT_OK(hark_store_search(s, "round1", NULL, &r));
    ASSERT_EQ(r->n, 1);
    hark_search_result_free(r);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);

    db = raw_open(path);
    ASSERT_EQ(raw_int(db, "PRAGMA user_version"), hark__sqlite_schema_version());
    sqlite3_close(db);
}

TEST(a_store_of_schema_4_with_data_migrates_and_takes_jobs_keys_and_owners)
{
    const char *path = harness_path("v4.db");
    sqlite3 *db = raw_open(path);
    hark_store *s = NULL;
    hark_search_result *r = NULL;
    hark_search_options so = HARK_SEARCH_OPTIONS_INIT;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted sub;
    hark_job *claimed = NULL;
    int64_t user = 0;

    /* schema 4 is what hark wrote before the job queue: recordings, segments, cache */
    ASSERT_OK(hark__sqlite_migrate(db, 4, "v4.db"));
    fill(db, 4, 1);
    fill(db, 4, 2);
    raw_exec(db, "INSERT INTO segments_fts(segments_fts) VALUES ('rebuild')");
    sqlite3_close(db);

    ASSERT_OK(hark_store_open(&s, path));
    ASSERT_OK(hark_store_check(s));
    ASSERT_OK(hark_store_search(s, "round1", NULL, &r));
    ASSERT_EQ(r->n, 1);
    hark_search_result_free(r);
    /* the old recording of audio "hash1" (no engine, model, options, owner) takes a job */
    rec.content_hash = "hash1";
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    ASSERT_EQ(sub.recording, 1);
    ASSERT_EQ(sub.existed, 0);
    ASSERT_OK(hark_store_job_claim(s, "runner", 60000, HARK_PRIORITY_MAINTENANCE, &claimed, NULL));
    ASSERT_EQ(claimed->id, sub.job);
    hark_job_free(claimed);
    ASSERT_OK(hark_store_job_end(s, sub.job, "runner", HARK_JOB_DONE, 0, 0, NULL));
    /* a user's recording is found by an owner-filtered search; the old ones are not */
    ASSERT_OK(hark_store_user_create(s, "alice", &user));
    rec.content_hash = "hash9";
    rec.owner = user;
    ASSERT_OK(hark_store_job_submit(s, &rec, &job, &sub));
    {
        hark_transcript *t = NULL;
        hark_segment seg;
        memset(&seg, 0, sizeof(seg));
        seg.end = 16000;
        seg.text = "migrated words of alice";
        ASSERT_OK(hark_transcript_new(&t));
        ASSERT_OK(hark_transcript_add(t, &seg));
        ASSERT_OK(hark_store_segments_put(s, sub.recording, t, 0, 1, 0));
        hark_transcript_free(t);
    }
    so.owner = user;
    ASSERT_OK(hark_store_search(s, "migrated", &so, &r));
    ASSERT_EQ(r->n, 1);
    ASSERT_EQ(r->hits[0].recording, sub.recording);
    hark_search_result_free(r);
    ASSERT_OK(hark_store_search(s, "migrated", NULL, &r));
    ASSERT_EQ(r->n, 3);
    hark_search_result_free(r);
    ASSERT_OK(hark_store_check(s));
    hark_store_free(s);
}

TEST(a_newer_schema_is_refused)
{
    const char *path = harness_path("new.db");
    sqlite3 *db = raw_open(path);
    hark_store *s = NULL;
    ASSERT_OK(hark__sqlite_migrate(db, hark__sqlite_schema_version(), "new.db"));
    raw_exec(db, "PRAGMA user_version = 99");
    sqlite3_close(db);
    ASSERT_ERR(hark_store_open(&s, path), HARK_EVERSION);
    ASSERT_CONTAINS(hark_error_last(), "schema version 99 is newer");
    ASSERT(s == NULL);
}

TEST(foreign_and_garbage_files_are_refused)
{
    const char *other = harness_path("other.db"), *junk = harness_path("junk.db");
    sqlite3 *db = raw_open(other);
    hark_store *s = NULL;
    char bytes[8192];

    raw_exec(db, "CREATE TABLE mine (x); INSERT INTO mine VALUES (1)");
    sqlite3_close(db);
    ASSERT_ERR(hark_store_open(&s, other), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "not a hark database");
    db = raw_open(other);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM mine"), 1); /* untouched */
    sqlite3_close(db);

    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (char)(i * 7 + 3);
    ASSERT_EQ(harness_write_file(junk, bytes, sizeof(bytes)), 0);
    ASSERT_ERR(hark_store_open(&s, junk), HARK_ECORRUPT);
    ASSERT_CONTAINS(hark_error_last(), "junk.db");
    ASSERT(s == NULL);
}

TEST(two_processes_migrating_one_file_at_once)
{
    const char *path = harness_path("race.db");
    pid_t pids[4];
    int status;
    for (int i = 0; i < 4; i++) {
        pids[i] = fork();
        ASSERT(pids[i] >= 0);
        if (pids[i] == 0) {
            hark_store *s = NULL;
            hark_recording rec = HARK_RECORDING_INIT;
            if (hark_store_open(&s, path) < 0 || hark_store_recording_create(s, &rec, NULL) < 0) {
                fprintf(stderr, "  process %d: %s\n", i, hark_error_last());
                _exit(1);
            }
            hark_store_free(s);
            _exit(0);
        }
    }
    for (int i = 0; i < 4; i++) {
        ASSERT(waitpid(pids[i], &status, 0) == pids[i]);
        ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed", i);
    }
    {
        sqlite3 *db = raw_open(path);
        ASSERT_EQ(raw_int(db, "SELECT count(*) FROM recordings"), 4);
        ASSERT_EQ(raw_int(db, "PRAGMA user_version"), hark__sqlite_schema_version());
        sqlite3_close(db);
    }
}
