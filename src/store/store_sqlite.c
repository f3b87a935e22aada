/*
 * store_sqlite.c: the embedded SQLite backend of the store (hark/sys/store.h).
 *
 * DESIGN
 * - One database file in WAL mode. One write connection, used under a mutex
 *   (`wmu`): every writing operation is one BEGIN IMMEDIATE ... COMMIT on it,
 *   so a write never has to upgrade a read lock (no SQLITE_BUSY_SNAPSHOT)
 *   and other processes queue on the busy timeout. Reads go to a pool of up
 *   to `max_readers` read-only connections, opened on demand and handed out
 *   under `pmu`; a thread finding the pool exhausted waits on `pcv`. WAL lets
 *   every reader run while a writer commits: readers see the last committed
 *   state and never a transaction in progress. Reads that need more than one
 *   statement run inside one read transaction, i.e. one snapshot.
 * - Every connection caches its prepared statements (`st[]`, prepared on
 *   first use with SQLITE_PREPARE_PERSISTENT) for its whole life.
 * - Durability: synchronous=NORMAL. A commit is in the WAL file when it
 *   returns, so it survives the process being killed; a power cut may lose
 *   the last commits but cannot corrupt the database.
 * - The schema is a list of forward-only migrations (`migrations[]`); the
 *   database's PRAGMA user_version is the number applied. Opening applies the
 *   missing ones in one transaction, under the write lock, so two processes
 *   opening an old file at once migrate it once.
 * - Search: an FTS5 table over segments.text with external content (the text
 *   is stored once, in segments), kept in step explicitly by every operation
 *   that writes segments, in the same transaction (migration 2 says why not
 *   by triggers). A query runs in two steps inside one snapshot: the ranked
 *   rowids of one page (hark_rank(), BM25 with sampled document frequencies,
 *   over the newest max_ranked matches only), then details and snippets of
 *   that page's hits in one pass, so snippets are built for the hits shown
 *   only. A recording filter also restricts the FTS rowid range to the
 *   recording's segments. The cost of a query is thereby bounded by the
 *   window, not by how common its words are.
 * - The cache table holds encoded values by 32-byte key; its last-use time
 *   is refreshed at most once an hour per entry (a read seldom writes).
 * - ":memory:" (tests) has a single connection; reads then use the writer.
 * - Job queue: the rules of every transition live in jobstate.c, shared with
 *   PostgreSQL; here a transition is one write transaction that loads the
 *   row, calls hark__job_apply and stores the row (and its side effects).
 * - Privacy: a new database file is created with mode 0600 whatever the
 *   umask (hark__file_create_private, folders 0700); SQLite gives its -wal
 *   and -shm files the database file's mode.
 *
 * THREADING: every function here may be called from any thread at once.
 * Error messages name the file and the operation: "hark.db: put segments:
 * disk full".
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "jobstate.h"
#include "store.h"

#define HARK_APP_ID    0x6861726b /* "hark" */
#define CACHE_TOUCH_MS (3600 * 1000)

/* ---- schema ---------------------------------------------------------------------------------- */

/*
 * The search index's tag of a recording's segments (SQL over the owner
 * column `col`); owner_tag() below builds the same text in C. Both must
 * agree: index deletes pass the tag that was indexed.
 */
#define OWNER_TAG(col) "CASE WHEN " col " > 0 THEN 'owner' || " col " ELSE '' END"

static const char *const migrations[] = {
    /* 1: recordings and their segments */
    "PRAGMA application_id = 1751216747;\n"
    "CREATE TABLE recordings (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  title TEXT, source TEXT, content_hash TEXT,\n"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  engine TEXT, model TEXT, options TEXT, language TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK (status IN ('pending','running','done','failed','canceled')),\n"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,\n"
    "  audio_path TEXT,\n"
    "  n_segments INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX recordings_created ON recordings(created_ms, id);\n"
    "CREATE INDEX recordings_hash ON recordings(content_hash);\n"
    "CREATE TABLE segments (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,\n"
    "  text TEXT NOT NULL,\n"
    "  confidence REAL NOT NULL DEFAULT 0,\n"
    "  words BLOB,\n"
    "  UNIQUE (recording_id, seq));\n",

    /*
     * 2: full-text index over segment text (external content: the text is
     * stored once, in segments). Kept in step by this file, in the same
     * transactions as the segments, not by triggers: a trigger makes SQLite
     * open a statement savepoint per row, and FTS5 flushes its pending index
     * data at every savepoint, which made inserts 3x slower.
     */
    "CREATE VIRTUAL TABLE segments_fts USING fts5(text, content='segments',\n"
    "  content_rowid='id', tokenize='unicode61 remove_diacritics 2');\n"
    "INSERT INTO segments_fts(segments_fts) VALUES ('rebuild');\n",

    /* 3: the job queue of the server */
    "CREATE TABLE jobs (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  recording_id INTEGER REFERENCES recordings(id),\n"
    "  state TEXT NOT NULL DEFAULT 'queued'\n"
    "    CHECK (state IN ('queued','running','done','failed','canceled')),\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  lease_owner TEXT, lease_expires_ms INTEGER,\n"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,\n"
    "  error TEXT, payload TEXT);\n"
    "CREATE INDEX jobs_state ON jobs(state, created_ms);\n"
    "CREATE INDEX jobs_recording ON jobs(recording_id);\n",

    /* 4: the result cache and persistent counters */
    "CREATE TABLE cache (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  key BLOB NOT NULL UNIQUE CHECK (length(key) = 32),\n"
    "  grp TEXT NOT NULL DEFAULT '',\n"
    "  value BLOB NOT NULL,\n"
    "  size INTEGER NOT NULL,\n"
    "  created_ms INTEGER NOT NULL, used_ms INTEGER NOT NULL);\n"
    "CREATE INDEX cache_grp ON cache(grp);\n"
    "CREATE INDEX cache_used ON cache(used_ms);\n"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;\n",

    /*
     * 5: the durable job queue. The jobs table of migration 3 was never
     * written by any code: it is replaced. `due_ms` is when a job becomes
     * claimable: QUEUED: not_before_ms, else created_ms; RUNNING: the lease's
     * expiry; NULL once finished. The partial index over (priority, due_ms)
     * makes a claim one index probe per priority class, however many jobs
     * wait. job_counts is kept by triggers (metrics and queue limits read it
     * in O(1)).
     */
    "DROP TABLE jobs;\n"
    "CREATE TABLE jobs (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
    "  owner INTEGER NOT NULL DEFAULT 0,\n"
    "  kind TEXT NOT NULL,\n"
    "  priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3),\n"
    "  state TEXT NOT NULL DEFAULT 'queued'\n"
    "    CHECK (state IN ('queued','running','done','dead','canceled')),\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),\n"
    "  params TEXT, error TEXT,\n"
    "  lease_owner TEXT, lease_expires_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  not_before_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  due_ms INTEGER,\n"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,\n"
    "  started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  chunks_total INTEGER NOT NULL DEFAULT 0, chunks_done INTEGER NOT NULL DEFAULT 0,\n"
    "  chunks_failed INTEGER NOT NULL DEFAULT 0, chunks_final INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX jobs_due ON jobs(priority, due_ms) WHERE due_ms IS NOT NULL;\n"
    "CREATE INDEX jobs_lease ON jobs(lease_owner) WHERE lease_owner IS NOT NULL;\n"
    "CREATE INDEX jobs_recording ON jobs(recording_id);\n"
    "CREATE INDEX jobs_owner ON jobs(owner);\n"
    "CREATE INDEX jobs_state ON jobs(state);\n"
    "CREATE TABLE job_chunks (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),\n"
    "  idx INTEGER NOT NULL CHECK (idx >= 0),\n"
    "  start INTEGER NOT NULL, n INTEGER NOT NULL,\n"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  error TEXT, result BLOB,\n"
    "  asr_ms REAL NOT NULL DEFAULT 0,\n"
    "  UNIQUE (job_id, idx));\n"
    "CREATE TABLE job_counts (state TEXT NOT NULL, priority INTEGER NOT NULL,\n"
    "  n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (state, priority)) WITHOUT ROWID;\n"
    "INSERT INTO job_counts(state, priority) SELECT s.value, p.value FROM\n"
    "  json_each('[\"queued\",\"running\",\"done\",\"dead\",\"canceled\"]') s,\n"
    "  json_each('[0,1,2,3]') p;\n"
    "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN\n"
    "  UPDATE job_counts SET n = n + 1 WHERE state = new.state AND priority = new.priority;\n"
    "END;\n"
    "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN\n"
    "  UPDATE job_counts SET n = n - 1 WHERE state = old.state AND priority = old.priority;\n"
    "END;\n"
    "CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, priority ON jobs\n"
    "  WHEN old.state IS NOT new.state OR old.priority IS NOT new.priority BEGIN\n"
    "  UPDATE job_counts SET n = n - 1 WHERE state = old.state AND priority = old.priority;\n"
    "  UPDATE job_counts SET n = n + 1 WHERE state = new.state AND priority = new.priority;\n"
    "END;\n",

    /* 6: users, their API keys (SHA-256 digests only), the audit log, server settings */
    "CREATE TABLE users (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  created_ms INTEGER NOT NULL);\n"
    "CREATE TABLE api_keys (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  user_id INTEGER NOT NULL REFERENCES users(id),\n"
    "  name TEXT,\n"
    "  prefix TEXT NOT NULL,\n"
    "  digest BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),\n"
    "  admin INTEGER NOT NULL DEFAULT 0,\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX api_keys_user ON api_keys(user_id);\n"
    "CREATE TABLE audit (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  ts_ms INTEGER NOT NULL,\n"
    "  user_id INTEGER NOT NULL DEFAULT 0,\n"
    "  key_id INTEGER NOT NULL DEFAULT 0,\n"
    "  action TEXT NOT NULL,\n"
    "  detail TEXT);\n"
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL,\n"
    "  updated_ms INTEGER NOT NULL) WITHOUT ROWID;\n",

    /*
     * 7: recordings get an owner (a user id, 0 = local use; never changed),
     * with indexes for owner- and status-filtered pages and for counting the
     * users of an archived audio file. The search index gets a second
     * column, `tag`, holding the token "owner<ID>" for owned recordings
     * (nothing for owner 0), so an owner-filtered search is FTS5's
     * intersection of the query with one doclist, not a walk over every
     * match checking its recording. User queries are confined to the text
     * column. The index's content is a view joining segments to their
     * recording; the index is rebuilt once here.
     */
    "ALTER TABLE recordings ADD COLUMN owner INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX recordings_owner ON recordings(owner, created_ms, id);\n"
    "CREATE INDEX recordings_status ON recordings(status, created_ms, id);\n"
    "CREATE INDEX recordings_audio ON recordings(audio_path) WHERE audio_path IS NOT NULL;\n"
    "DROP TABLE segments_fts;\n"
    "CREATE VIEW segments_fts_src(id, text, tag) AS SELECT s.id, s.text, " OWNER_TAG(
        "r.owner") "\n"
                   "  FROM segments s JOIN recordings r ON r.id = s.recording_id;\n"
                   "CREATE VIRTUAL TABLE segments_fts USING fts5(text, tag, "
                   "content='segments_fts_src',\n"
                   "  content_rowid='id', tokenize='unicode61 remove_diacritics 2');\n"
                   "INSERT INTO segments_fts(segments_fts) VALUES ('rebuild');\n",

    /* 8: texts derived from a recording (its summary, its translation): one per kind */
    "CREATE TABLE recording_texts (\n"
    "  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
    "  kind TEXT NOT NULL,\n"
    "  text TEXT NOT NULL,\n"
    "  meta TEXT,\n"
    "  updated_ms INTEGER NOT NULL,\n"
    "  PRIMARY KEY (recording_id, kind)) WITHOUT ROWID;\n",
};

#define SCHEMA_VERSION ((int)HARK_ARRAY_SIZE(migrations))

/* ---- statements ------------------------------------------------------------------------------ */

#define REC_COLS                                                                                   \
    "id, title, source, content_hash, duration_ms, engine, model, options, language, status, "     \
    "created_ms, updated_ms, audio_path, n_segments, owner"

#define JOB_COLS                                                                                   \
    "id, recording_id, owner, kind, priority, state, attempts, max_attempts, params, error, "      \
    "lease_owner, lease_expires_ms, not_before_ms, created_ms, updated_ms, started_ms, "           \
    "finished_ms, chunks_total, chunks_done, chunks_failed, chunks_final"

#define KEY_COLS                                                                                   \
    "k.id, k.user_id, u.name, k.name, k.prefix, k.admin, k.created_ms, k.revoked_ms, k.digest"
#define KEY_FROM " FROM api_keys k JOIN users u ON u.id = k.user_id "

/* gc predicates over ?1 = cut-off */
#define GC_RECS "SELECT id FROM recordings WHERE created_ms < ?1"
#define GC_CACHE_WHERE                                                                             \
    "used_ms < ?1 OR grp IN (SELECT content_hash FROM recordings WHERE created_ms < ?1 "           \
    "AND content_hash IS NOT NULL AND content_hash <> '')"
#define GC_JOBS_WHERE                                                                              \
    "(state IN ('done','dead','canceled') AND updated_ms < ?1) OR recording_id IN (" GC_RECS ")"

enum {
    S_BEGIN,
    S_BEGIN_WRITE,
    S_COMMIT,
    S_ROLLBACK,
    S_REC_INSERT,
    S_REC_UPDATE,
    S_REC_STATUS,
    S_REC_GET,
    S_REC_FIND,
    S_REC_CURSOR,
    S_REC_EXISTS,
    S_REC_COUNT_SEGS,
    S_REC_DELETE,
    S_SEG_FIND,
    S_SEG_IN_RANGE,
    S_FTS_INSERT_RANGE,
    S_SEG_INSERT,
    S_SEG_UPDATE,
    S_FTS_INSERT,
    S_FTS_DELETE,
    S_FTS_DELETE_FROM,
    S_SEG_TRUNCATE,
    S_SEG_SELECT,
    S_SEG_DELETE_REC,
    S_SEG_RANGE,
    S_JOB_DELETE_REC,
    S_CHUNK_DELETE_REC,
    S_AUDIO_REFS,
    S_HITS,
    S_GC_AUDIO,
    S_GC_COUNT_REC,
    S_GC_COUNT_SEG,
    S_GC_COUNT_CACHE,
    S_GC_COUNT_JOBS,
    S_GC_FTS_DELETE,
    S_GC_DEL_SEG,
    S_GC_DEL_CACHE,
    S_GC_DEL_CHUNKS,
    S_GC_DEL_JOBS,
    S_GC_DEL_REC,
    S_STATS,
    S_PAGES,
    S_CACHE_GET,
    S_CACHE_TOUCH,
    S_CACHE_PUT,
    S_CACHE_DEL,
    S_CACHE_DROP,
    S_CACHE_CLEAR,
    S_CACHE_GC,
    S_CACHE_COUNTS,
    S_COUNTER_ADD,
    S_COUNTER_RESET,
    S_REC_DEDUP,
    S_JOB_INSERT,
    S_JOB_NEWEST,
    S_JOB_GET,
    S_JOB_PICK,
    S_JOB_NEXT,
    S_JOB_CLAIM,
    S_JOB_SET,
    S_JOB_HEARTBEAT,
    S_JOB_COUNTS,
    S_JOB_CHUNK_COUNTS,
    S_JOB_SET_CHUNKS,
    S_JOB_EXISTS,
    S_CHUNK_STATE,
    S_CHUNK_UPSERT,
    S_CHUNKS,
    S_CHUNKS_RESULTS,
    S_CHUNKS_DROP_RESULTS,
    S_CHUNKS_RESET_FAILED,
    S_USER_INSERT,
    S_USER_BY_ID,
    S_USER_BY_NAME,
    S_KEY_INSERT,
    S_KEY_BY_DIGEST,
    S_KEY_LIST,
    S_KEY_LIST_USER,
    S_KEY_REVOKE,
    S_KEY_EXISTS,
    S_KEY_COUNT_ACTIVE,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_SETTING_GET,
    S_SETTING_PUT,
    S_SETTING_DEL,
    S_TEXT_PUT,
    S_TEXT_GET,
    S_TEXT_DEL,
    S_TEXT_DELETE_REC,
    S_GC_DEL_TEXTS,
    S_COUNT
};

static const char *const sql_text[S_COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_REC_INSERT] = "INSERT INTO recordings(title, source, content_hash, duration_ms, engine, "
                     "model, options, language, status, created_ms, updated_ms, audio_path, owner) "
                     "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [S_REC_UPDATE] = "UPDATE recordings SET title = ?2, source = ?3, content_hash = ?4, "
                     "duration_ms = ?5, engine = ?6, model = ?7, options = ?8, language = ?9, "
                     "status = ?10, updated_ms = ?12, audio_path = ?13 WHERE id = ?1",
    [S_REC_STATUS] = "UPDATE recordings SET status = ?2, updated_ms = ?3 WHERE id = ?1",
    [S_REC_GET] = "SELECT " REC_COLS " FROM recordings WHERE id = ?1",
    [S_REC_FIND] = "SELECT " REC_COLS " FROM recordings WHERE content_hash = ?1 "
                   "AND (?2 IS NULL OR engine = ?2) AND (?3 IS NULL OR model = ?3) "
                   "AND (?4 IS NULL OR options = ?4) AND (?5 < 0 OR owner = ?5) "
                   "ORDER BY created_ms DESC, id DESC LIMIT 1",
    [S_REC_CURSOR] = "SELECT created_ms FROM recordings WHERE id = ?1",
    [S_REC_EXISTS] = "SELECT owner FROM recordings WHERE id = ?1",
    [S_REC_COUNT_SEGS] = "UPDATE recordings SET n_segments = (SELECT count(*) FROM segments "
                         "WHERE recording_id = ?1), updated_ms = ?2 WHERE id = ?1",
    [S_REC_DELETE] = "DELETE FROM recordings WHERE id = ?1",
    [S_SEG_FIND] = "SELECT id, start_ms, end_ms, text, confidence, words FROM segments "
                   "WHERE recording_id = ?1 AND seq = ?2",
    [S_SEG_IN_RANGE] = "SELECT count(*) FROM segments WHERE recording_id = ?1 "
                       "AND seq BETWEEN ?2 AND ?3",
    [S_FTS_INSERT_RANGE] = "INSERT INTO segments_fts(rowid, text, tag) SELECT id, text, ?4 "
                           "FROM segments WHERE recording_id = ?1 AND seq BETWEEN ?2 AND ?3",
    [S_SEG_INSERT] = "INSERT INTO segments(recording_id, seq, start_ms, end_ms, text, confidence, "
                     "words) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_SEG_UPDATE] = "UPDATE segments SET start_ms = ?2, end_ms = ?3, text = ?4, confidence = ?5, "
                     "words = ?6 WHERE id = ?1",
    [S_FTS_INSERT] = "INSERT INTO segments_fts(rowid, text, tag) VALUES (?1, ?2, ?3)",
    [S_FTS_DELETE] = "INSERT INTO segments_fts(segments_fts, rowid, text, tag) "
                     "VALUES ('delete', ?1, ?2, ?3)",
    [S_FTS_DELETE_FROM] =
        "INSERT INTO segments_fts(segments_fts, rowid, text, tag) "
        "SELECT 'delete', s.id, s.text, " OWNER_TAG(
            "r.owner") " "
                       "FROM segments s JOIN recordings r ON r.id = s.recording_id "
                       "WHERE s.recording_id = ?1 AND s.seq >= ?2",
    [S_SEG_TRUNCATE] = "DELETE FROM segments WHERE recording_id = ?1 AND seq >= ?2",
    [S_SEG_SELECT] = "SELECT seq, start_ms, end_ms, text, confidence, words FROM segments "
                     "WHERE recording_id = ?1 ORDER BY seq",
    [S_SEG_DELETE_REC] = "DELETE FROM segments WHERE recording_id = ?1",
    [S_SEG_RANGE] = "SELECT min(id), max(id) FROM segments WHERE recording_id = ?1",
    [S_JOB_DELETE_REC] = "DELETE FROM jobs WHERE recording_id = ?1",
    [S_CHUNK_DELETE_REC] = "DELETE FROM job_chunks WHERE job_id IN "
                           "(SELECT id FROM jobs WHERE recording_id = ?1)",
    [S_AUDIO_REFS] = "SELECT count(*) FROM recordings WHERE audio_path = ?1",
    /* the hits of a page, in one pass over the rowid range they span: FTS5 sets a query
     * up from scratch for every xFilter, which for a prefix means merging its whole
     * doclist, so one lookup per hit would repeat that for every hit */
    [S_HITS] = "SELECT segments_fts.rowid, s.recording_id, s.seq, s.start_ms, s.end_ms, s.text, "
               "r.title, r.created_ms, snippet(segments_fts, 0, ?2, ?3, ?4, ?5) "
               "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
               "JOIN recordings r ON r.id = s.recording_id "
               "WHERE segments_fts MATCH ?1 AND segments_fts.rowid BETWEEN ?6 AND ?7 "
               "AND +segments_fts.rowid IN (SELECT value FROM json_each(?8))",
    [S_GC_AUDIO] = "SELECT audio_path FROM recordings WHERE created_ms < ?1 "
                   "AND audio_path IS NOT NULL AND audio_path <> ''",
    [S_GC_COUNT_REC] = "SELECT count(*) FROM recordings WHERE created_ms < ?1",
    [S_GC_COUNT_SEG] = "SELECT count(*) FROM segments WHERE recording_id IN (" GC_RECS ")",
    [S_GC_COUNT_CACHE] = "SELECT count(*) FROM cache WHERE " GC_CACHE_WHERE,
    [S_GC_COUNT_JOBS] = "SELECT count(*) FROM jobs WHERE " GC_JOBS_WHERE,
    [S_GC_FTS_DELETE] = "INSERT INTO segments_fts(segments_fts, rowid, text, tag) "
                        "SELECT 'delete', s.id, s.text, " OWNER_TAG(
                            "r.owner") " "
                                       "FROM segments s JOIN recordings r ON r.id = s.recording_id "
                                       "WHERE r.created_ms < ?1",
    [S_GC_DEL_SEG] = "DELETE FROM segments WHERE recording_id IN (" GC_RECS ")",
    [S_GC_DEL_CACHE] = "DELETE FROM cache WHERE " GC_CACHE_WHERE,
    [S_GC_DEL_CHUNKS] =
        "DELETE FROM job_chunks WHERE job_id IN (SELECT id FROM jobs WHERE " GC_JOBS_WHERE ")",
    [S_GC_DEL_JOBS] = "DELETE FROM jobs WHERE " GC_JOBS_WHERE,
    [S_GC_DEL_REC] = "DELETE FROM recordings WHERE created_ms < ?1",
    [S_STATS] = "SELECT (SELECT count(*) FROM recordings), (SELECT count(*) FROM segments), "
                "(SELECT count(*) FROM jobs), (SELECT count(*) FROM cache), "
                "(SELECT coalesce(sum(size), 0) FROM cache)",
    [S_PAGES] = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    [S_CACHE_GET] = "SELECT value, used_ms, grp FROM cache WHERE key = ?1",
    [S_CACHE_TOUCH] = "UPDATE cache SET used_ms = ?2 WHERE key = ?1",
    [S_CACHE_PUT] = "INSERT INTO cache(key, grp, value, size, created_ms, used_ms) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(key) DO UPDATE SET "
                    "grp = excluded.grp, value = excluded.value, size = excluded.size, "
                    "used_ms = excluded.used_ms",
    [S_CACHE_DEL] = "DELETE FROM cache WHERE key = ?1",
    [S_CACHE_DROP] = "DELETE FROM cache WHERE grp = ?1",
    [S_CACHE_CLEAR] = "DELETE FROM cache",
    [S_CACHE_GC] = "DELETE FROM cache WHERE used_ms < ?1",
    [S_CACHE_COUNTS] =
        "SELECT (SELECT count(*) FROM cache), (SELECT coalesce(sum(size), 0) FROM cache), "
        "coalesce((SELECT value FROM counters WHERE name = 'cache_hits'), 0), "
        "coalesce((SELECT value FROM counters WHERE name = 'cache_misses'), 0)",
    [S_COUNTER_ADD] = "INSERT INTO counters(name, value) VALUES (?1, ?2) "
                      "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    [S_COUNTER_RESET] = "DELETE FROM counters WHERE name IN ('cache_hits', 'cache_misses')",
    /* job submit: the same audio and configuration of the same owner (NULL matches NULL) */
    [S_REC_DEDUP] = "SELECT id FROM recordings WHERE content_hash = ?1 AND owner = ?2 "
                    "AND engine IS ?3 AND model IS ?4 AND options IS ?5 "
                    "AND (audio_path IS NOT NULL OR ?6 IS NULL) "
                    "ORDER BY created_ms DESC, id DESC LIMIT 1",
    [S_JOB_INSERT] = "INSERT INTO jobs(recording_id, owner, kind, priority, state, max_attempts, "
                     "params, not_before_ms, due_ms, created_ms, updated_ms) "
                     "VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9, ?9)",
    [S_JOB_NEWEST] = "SELECT id FROM jobs WHERE recording_id = ?1 ORDER BY id DESC LIMIT 1",
    [S_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    /* one probe of the partial index jobs_due per priority class */
    [S_JOB_PICK] = "SELECT id, state, attempts, max_attempts FROM jobs WHERE priority = ?1 "
                   "AND due_ms IS NOT NULL AND due_ms <= ?2 ORDER BY due_ms, id LIMIT 1",
    [S_JOB_NEXT] = "SELECT min(due_ms) FROM jobs WHERE priority = ?1 AND due_ms IS NOT NULL",
    [S_JOB_CLAIM] = "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_expires_ms = ?3, "
                    "due_ms = ?3, attempts = attempts + 1, not_before_ms = 0, "
                    "started_ms = CASE WHEN started_ms = 0 THEN ?4 ELSE started_ms END, "
                    "updated_ms = ?4 WHERE id = ?1",
    /* every transition but a claim: the new values are decided by hark__job_apply (jobstate.c) */
    [S_JOB_SET] = "UPDATE jobs SET state = ?2, attempts = ?3, error = ?4, lease_owner = ?5, "
                  "lease_expires_ms = ?6, not_before_ms = ?7, due_ms = ?8, finished_ms = ?9, "
                  "updated_ms = ?10 WHERE id = ?1",
    [S_JOB_HEARTBEAT] = "UPDATE jobs SET lease_expires_ms = ?2, due_ms = ?2, updated_ms = ?3 "
                        "WHERE lease_owner = ?1 AND state = 'running' AND lease_expires_ms > ?3",
    [S_JOB_COUNTS] = "SELECT state, priority, n FROM job_counts",
    [S_JOB_CHUNK_COUNTS] = "UPDATE jobs SET chunks_done = chunks_done + ?2, "
                           "chunks_failed = chunks_failed + ?3, "
                           "chunks_total = max(chunks_total, ?4), updated_ms = ?5 WHERE id = ?1",
    [S_JOB_SET_CHUNKS] = "UPDATE jobs SET chunks_total = ?2, chunks_final = ?3, updated_ms = ?4 "
                         "WHERE id = ?1",
    [S_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE id = ?1",
    [S_CHUNK_STATE] = "SELECT state FROM job_chunks WHERE job_id = ?1 AND idx = ?2",
    [S_CHUNK_UPSERT] = "INSERT INTO job_chunks(job_id, idx, start, n, state, attempts, error, "
                       "result, asr_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                       "ON CONFLICT(job_id, idx) DO UPDATE SET start = excluded.start, "
                       "n = excluded.n, state = excluded.state, attempts = excluded.attempts, "
                       "error = excluded.error, result = excluded.result, "
                       "asr_ms = excluded.asr_ms",
    [S_CHUNKS] = "SELECT idx, start, n, state, attempts, error, NULL, asr_ms FROM job_chunks "
                 "WHERE job_id = ?1 ORDER BY idx",
    [S_CHUNKS_RESULTS] = "SELECT idx, start, n, state, attempts, error, result, asr_ms "
                         "FROM job_chunks WHERE job_id = ?1 ORDER BY idx",
    [S_CHUNKS_DROP_RESULTS] = "UPDATE job_chunks SET result = NULL WHERE job_id = ?1 "
                              "AND result IS NOT NULL",
    [S_CHUNKS_RESET_FAILED] = "UPDATE job_chunks SET state = 0, attempts = 0, error = NULL "
                              "WHERE job_id = ?1 AND state = 2",
    [S_USER_INSERT] = "INSERT INTO users(name, created_ms) VALUES (?1, ?2)",
    [S_USER_BY_ID] = "SELECT id, name, created_ms FROM users WHERE id = ?1",
    [S_USER_BY_NAME] = "SELECT id, name, created_ms FROM users WHERE name = ?1",
    [S_KEY_INSERT] = "INSERT INTO api_keys(user_id, name, prefix, digest, admin, created_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_KEY_BY_DIGEST] = "SELECT " KEY_COLS KEY_FROM "WHERE k.digest = ?1",
    [S_KEY_LIST] = "SELECT " KEY_COLS KEY_FROM "ORDER BY k.id",
    [S_KEY_LIST_USER] = "SELECT " KEY_COLS KEY_FROM "WHERE k.user_id = ?1 ORDER BY k.id",
    [S_KEY_REVOKE] = "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0",
    [S_KEY_EXISTS] = "SELECT 1 FROM api_keys WHERE id = ?1",
    [S_KEY_COUNT_ACTIVE] = "SELECT count(*) FROM api_keys WHERE revoked_ms = 0",
    [S_AUDIT_INSERT] = "INSERT INTO audit(ts_ms, user_id, key_id, action, detail) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_AUDIT_LIST] = "SELECT id, ts_ms, user_id, key_id, action, detail FROM audit "
                     "WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    [S_SETTING_GET] = "SELECT value FROM settings WHERE name = ?1",
    [S_SETTING_PUT] = "INSERT INTO settings(name, value, updated_ms) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT(name) DO UPDATE SET value = excluded.value, "
                      "updated_ms = excluded.updated_ms",
    [S_SETTING_DEL] = "DELETE FROM settings WHERE name = ?1",
    [S_TEXT_PUT] = "INSERT INTO recording_texts(recording_id, kind, text, meta, updated_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(recording_id, kind) DO UPDATE SET "
                   "text = excluded.text, meta = excluded.meta, updated_ms = excluded.updated_ms",
    [S_TEXT_GET] = "SELECT text, meta, updated_ms FROM recording_texts "
                   "WHERE recording_id = ?1 AND kind = ?2",
    [S_TEXT_DEL] = "DELETE FROM recording_texts WHERE recording_id = ?1 AND kind = ?2",
    [S_TEXT_DELETE_REC] = "DELETE FROM recording_texts WHERE recording_id = ?1",
    [S_GC_DEL_TEXTS] = "DELETE FROM recording_texts WHERE recording_id IN (" GC_RECS ")",
};

/*
 * Search: the ranked rowids of one page. Only the newest ?9 matches are
 * ranked (ranking every match of a common word costs ~1 us each: 100 ms for
 * a word in 10% of a million segments); ties go to the newer segment. The
 * FROM/WHERE part has a variant per filter: bit 0 recording, bit 1 dates.
 */
#define SEARCH_REC      1
#define SEARCH_DATE     2
#define SEARCH_VARIANTS 4

static const char *const search_from[SEARCH_VARIANTS] = {
    "FROM segments_fts WHERE segments_fts MATCH ?1 ",

    "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
    "WHERE segments_fts MATCH ?1 AND segments_fts.rowid BETWEEN ?4 AND ?5 "
    "AND s.recording_id = ?6 ",

    "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
    "JOIN recordings r ON r.id = s.recording_id "
    "WHERE segments_fts MATCH ?1 AND r.created_ms >= ?7 AND r.created_ms < ?8 ",

    "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
    "JOIN recordings r ON r.id = s.recording_id "
    "WHERE segments_fts MATCH ?1 AND segments_fts.rowid BETWEEN ?4 AND ?5 "
    "AND s.recording_id = ?6 AND r.created_ms >= ?7 AND r.created_ms < ?8 ",
};

/*
 * The page: the newest ?9 + 1 matches are ranked in one pass over the index
 * (materialised once); the extra one only says whether the window is full.
 * Columns: rowid, rank, matches in the window (at most ?9 + 1).
 */
static int search_page_sql(hark_buf *b, int variant)
{
    hark_buf_clear(b);
    return hark_buf_printf(b,
                           "WITH w AS MATERIALIZED (SELECT segments_fts.rowid AS id, "
                           "hark_rank(segments_fts, ?10, ?11) AS r %sORDER BY segments_fts.rowid "
                           "DESC "
                           "LIMIT ?9 + 1) "
                           "SELECT id, r, (SELECT count(*) FROM w) FROM "
                           "(SELECT id, r FROM w ORDER BY id DESC LIMIT ?9) "
                           "ORDER BY r, id DESC LIMIT ?2 OFFSET ?3",
                           search_from[variant]);
}

/* ---- ranking --------------------------------------------------------------------------------- */

/*
 * hark_rank(segments_fts): BM25 as FTS5's bm25() computes it (k1 = 1.2,
 * b = 0.75, idf = ln((N - df + 0.5) / (df + 0.5)), at least 1e-6, negative
 * score: lower is better), except for how document frequencies are found.
 * bm25() counts them by walking every match of every phrase, once per query:
 * 70 ms for a word in most of a million segments, whatever the LIMIT. Here
 * the walk stops after RANK_DF_SAMPLE matches and extrapolates from the rowid
 * span they covered (segments are numbered densely, in insertion order), so
 * the count is exact below the sample size and an estimate above it, where
 * the idf is near its floor anyway.
 *
 * The optional second argument is a bit mask of the phrases that are
 * prefixes (bit i = phrase i). FTS5 materialises the whole merged doclist
 * of a prefix before its first match, so counting a prefix would double the
 * cost of the query: prefixes get the fixed idf RANK_PREFIX_IDF instead (for
 * a query of one prefix the order is the same either way). A query of a
 * single phrase needs no document frequency at all: its idf multiplies every
 * score alike.
 *
 * The optional third argument is the number of phrases to rank: the user's
 * (an owner filter appends a phrase matching the `tag` column, which every
 * hit matches alike). Lengths are those of column 0, the text.
 */
#define RANK_DF_SAMPLE  1000
#define RANK_K1         1.2
#define RANK_B          0.75
#define RANK_PREFIX_IDF 1.0

typedef struct rank_data {
    int n_phrase;  /* phrases in the query */
    double avgdl;  /* mean document length, tokens */
    double idf[1]; /* n_phrase entries */
} rank_data;

typedef struct df_count {
    int64_t n;           /* matches seen */
    int64_t first, last; /* rowids of the first and the last seen */
} df_count;

static int df_step(const Fts5ExtensionApi *api, Fts5Context *fts, void *payload)
{
    df_count *d = payload;
    int64_t rowid = api->xRowid(fts);
    if (d->n++ == 0)
        d->first = rowid;
    d->last = rowid;
    return d->n >= RANK_DF_SAMPLE ? SQLITE_DONE : SQLITE_OK;
}

static int rank_setup(const Fts5ExtensionApi *api, Fts5Context *fts, uint64_t prefixes, int ranked,
                      rank_data **out)
{
    int n = api->xPhraseCount(fts), i, rc;
    sqlite3_int64 rows = 0, tokens = 0;
    rank_data *d = hark__calloc(1, sizeof(*d) + sizeof(double) * (size_t)(n > 0 ? n : 1));

    if (!d)
        return SQLITE_NOMEM;
    if (ranked >= 0 && ranked < n)
        n = ranked;
    d->n_phrase = n;
    if ((rc = api->xRowCount(fts, &rows)) != SQLITE_OK ||
        (rc = api->xColumnTotalSize(fts, 0, &tokens)) != SQLITE_OK) {
        hark__free(d);
        return rc;
    }
    if (rows < 1)
        rows = 1;
    d->avgdl = (double)tokens / (double)rows;
    for (i = 0; i < n; i++) {
        /* with one phrase the idf scales every score alike: the order needs no count */
        if (n == 1) {
            d->idf[i] = 1.0;
            break;
        }
        df_count c = { 0, 0, 0 };
        double df, idf;
        if (i >= 64 || (prefixes >> i & 1)) {
            d->idf[i] = RANK_PREFIX_IDF;
            continue;
        }
        if ((rc = api->xQueryPhrase(fts, i, &c, df_step)) != SQLITE_OK) {
            hark__free(d);
            return rc;
        }
        df = (double)c.n;
        if (c.n >= RANK_DF_SAMPLE && c.last > c.first)
            df = (double)c.n * (double)rows / (double)(c.last - c.first + 1);
        if (df > (double)rows)
            df = (double)rows;
        idf = log(((double)rows - df + 0.5) / (df + 0.5));
        d->idf[i] = idf <= 0.0 ? 1e-6 : idf;
    }
    *out = d;
    return SQLITE_OK;
}

static void hark_rank(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int argc,
                      sqlite3_value **argv)
{
    rank_data *d = api->xGetAuxdata(fts, 0);
    double score = 0.0;
    int i, rc = SQLITE_OK, dl = 0;

    if (!d) {
        uint64_t prefixes = argc > 0 ? (uint64_t)sqlite3_value_int64(argv[0]) : 0;
        int ranked = argc > 1 ? sqlite3_value_int(argv[1]) : -1;
        if ((rc = rank_setup(api, fts, prefixes, ranked, &d)) == SQLITE_OK &&
            (rc = api->xSetAuxdata(fts, d, hark__free)) != SQLITE_OK)
            d = NULL; /* xSetAuxdata freed it */
    }
    if (rc == SQLITE_OK)
        rc = api->xColumnSize(fts, 0, &dl);
    for (i = 0; rc == SQLITE_OK && i < d->n_phrase; i++) {
        Fts5PhraseIter it;
        int col, off, tf = 0;
        if ((rc = api->xPhraseFirst(fts, i, &it, &col, &off)) != SQLITE_OK)
            break;
        for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off))
            tf++;
        if (tf)
            score += d->idf[i] * ((double)tf * (RANK_K1 + 1.0)) /
                     ((double)tf + RANK_K1 * (1.0 - RANK_B + RANK_B * (double)dl / d->avgdl));
    }
    if (rc != SQLITE_OK)
        sqlite3_result_error_code(ctx, rc);
    else
        sqlite3_result_double(ctx, -score);
}

/* Make hark_rank() known to a connection's FTS5. */
static int register_rank(sqlite3 *db)
{
    fts5_api *fts = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&fts, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (!fts)
        return rc == SQLITE_OK ? SQLITE_ERROR : rc;
    return fts->xCreateFunction(fts, "hark_rank", NULL, hark_rank, NULL);
}

/* ---- connections ----------------------------------------------------------------------------- */

/* Filters of a recording page (list_sql) and of a job page (job_list_sql). */
#define LIST_OWNER     1
#define LIST_STATUS    2
#define LIST_FROM      4
#define LIST_TO        8
#define LIST_AFTER     16
#define LIST_VARIANTS  32
#define JLIST_OWNER    1
#define JLIST_REC      2
#define JLIST_STATE    4
#define JLIST_AFTER    8
#define JLIST_VARIANTS 16

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];             /* prepared on first use */
    sqlite3_stmt *search[SEARCH_VARIANTS]; /* ranked page, prepared on first use */
    sqlite3_stmt *list[LIST_VARIANTS];     /* recording pages by filter, prepared on first use */
    sqlite3_stmt *jlist[JLIST_VARIANTS];   /* job pages by filter, prepared on first use */
    struct conn *next;                     /* idle list link */
} conn;

typedef struct sq {
    char *path;       /* file name given to sqlite3_open_v2 */
    const char *name; /* for messages (the URI, owned by the hark_store) */
    unsigned busy_ms; /* busy timeout, ms */
    int read_only;    /* writes refused */
    int memory;       /* ":memory:": one connection, reads use the writer */
    conn *writer;     /* the write connection, used under wmu */
    pthread_mutex_t wmu;
    pthread_mutex_t pmu;  /* guards idle, n_readers */
    pthread_cond_t pcv;   /* a reader became idle */
    conn *idle;           /* idle read connections */
    unsigned n_readers;   /* read connections open (idle or in use) */
    unsigned max_readers; /* limit of n_readers */
} sq;

/* File size of `path` + `suffix`, 0 if absent. */
static uint64_t file_size(const char *path, const char *suffix)
{
    char name[4096];
    struct stat sb;
    snprintf(name, sizeof(name), "%s%s", path, suffix);
    return stat(name, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/*
 * After a failed write whose errno SQLite did not keep: is the disk (nearly)
 * full, or has a file reached the process's file size limit? NULL if neither.
 */
static const char *space_hint(const sq *s)
{
    struct statvfs vfs;
    struct rlimit lim;
    char dir[4096], *slash;

    if (s->memory)
        return NULL;
    snprintf(dir, sizeof(dir), "%s", s->path);
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (1u << 20))
        return "disk full";
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        (file_size(s->path, "") + (1u << 16) >= (uint64_t)lim.rlim_cur ||
         file_size(s->path, "-wal") + (1u << 16) >= (uint64_t)lim.rlim_cur))
        return "disk full (the file size limit, ulimit -f, is reached)";
    return NULL;
}

/* Map an SQLite result onto a hark code and set a message that names the file and the operation. */
static int sq_err(const sq *s, sqlite3 *db, int rc, const char *what)
{
    int code, sys = db ? sqlite3_system_errno(db) : 0;
    const char *why;
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = HARK_EBUSY;
        why = "the database is locked by another writer";
        break;
    case SQLITE_FULL:
        code = HARK_ENOSPC;
        why = "disk full";
        break;
    case SQLITE_READONLY:
        code = HARK_EREADONLY;
        if (rc == SQLITE_READONLY_DIRECTORY || rc == SQLITE_READONLY_CANTINIT)
            why = "the database's folder is read-only (SQLite keeps its -wal and -shm files "
                  "next to the database and cannot create them)";
        else if (rc == SQLITE_READONLY_DBMOVED)
            why = "the database file was moved or deleted while open";
        else
            why = "the database is read-only";
        break;
    case SQLITE_CORRUPT:
        code = HARK_ECORRUPT;
        why = "the database file is damaged";
        break;
    case SQLITE_NOTADB:
        code = HARK_ECORRUPT;
        why = "not a database file";
        break;
    case SQLITE_NOMEM:
        code = HARK_ENOMEM;
        why = "out of memory";
        break;
    case SQLITE_IOERR:
        if (sys == ENOSPC || sys == EFBIG || sys == EDQUOT) {
            code = HARK_ENOSPC;
            why = "disk full";
        } else if (rc == SQLITE_IOERR_WRITE && (why = space_hint(s)) != NULL) {
            code = HARK_ENOSPC; /* SQLite does not always keep the errno of a failed write */
        } else if (sys == EROFS || sys == EACCES || sys == EPERM) {
            code = HARK_EREADONLY;
            why = "the database is read-only";
        } else {
            code = HARK_EIO;
            why = sys ? strerror(sys) : "input/output error";
        }
        break;
    case SQLITE_CANTOPEN:
        if (sys == ENOENT) {
            code = HARK_ENOTFOUND;
            why = "no such file or folder";
        } else if (sys == EACCES || sys == EPERM || sys == EROFS) {
            code = HARK_EREADONLY;
            why = "permission denied";
        } else {
            code = HARK_EIO;
            why = sys ? strerror(sys) : "cannot open the database";
        }
        break;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        code = HARK_EREADONLY;
        why = "permission denied";
        break;
    case SQLITE_CONSTRAINT:
        code = HARK_EINVAL;
        why = "constraint violated";
        break;
    default:
        code = HARK_EBACKEND;
        why = "sqlite error";
        break;
    }
    return hark_error_set(code, "%s: %s: %s (sqlite: %s)", s->name, what, why, detail);
}

static int prepare(const sq *s, conn *c, sqlite3_stmt **slot, const char *sql)
{
    int rc;
    if (*slot)
        return 0;
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    if (rc != SQLITE_OK) {
        *slot = NULL;
        return sq_err(s, c->db, rc, "prepare statement");
    }
    return 0;
}

/* The cached statement `id` of `c`, ready to bind; NULL with the error in *rc. */
static sqlite3_stmt *stmt(const sq *s, conn *c, int id, int *rc)
{
    if ((*rc = prepare(s, c, &c->st[id], sql_text[id])) < 0)
        return NULL;
    return c->st[id];
}

static void done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Step: 1 = a row, 0 = done (statement reset), < 0 = error (statement reset). */
static int step(const sq *s, conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        done(st);
        return 0;
    }
    rc = sq_err(s, c->db, rc, what);
    done(st);
    return rc;
}

/* Run a statement without result rows (or ignoring them). */
static int exec_st(const sq *s, conn *c, sqlite3_stmt *st, const char *what)
{
    int rc;
    while ((rc = step(s, c, st, what)) == 1) {
    }
    return rc;
}

static int exec_id(const sq *s, conn *c, int id, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, id, &rc);
    return st ? exec_st(s, c, st, what) : rc;
}

static int exec_sql(const sq *s, sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_err(s, db, rc, what);
}

static void conn_close(conn *c)
{
    size_t i;
    if (!c)
        return;
    for (i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    for (i = 0; i < SEARCH_VARIANTS; i++)
        sqlite3_finalize(c->search[i]);
    for (i = 0; i < LIST_VARIANTS; i++)
        sqlite3_finalize(c->list[i]);
    for (i = 0; i < JLIST_VARIANTS; i++)
        sqlite3_finalize(c->jlist[i]);
    sqlite3_close_v2(c->db);
    hark__free(c);
}

static int conn_open(const sq *s, conn **out, int flags)
{
    conn *c = hark__calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if (!c)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    rc = sqlite3_open_v2(s->path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = c->db ? sq_err(s, c->db, rc, "open") : hark_error_set(HARK_ENOMEM, "out of memory");
        conn_close(c);
        return rc;
    }
    sqlite3_extended_result_codes(c->db, 1);
    if ((rc = register_rank(c->db)) != SQLITE_OK) {
        rc = sq_err(s, c->db, rc, "open (search ranking)");
        conn_close(c);
        return rc;
    }
    sqlite3_busy_timeout(c->db, (int)s->busy_ms);
    *out = c;
    return 0;
}

/* ---- transactions and the connection pool ---------------------------------------------------- */

/* Take the write connection and open a write transaction. */
static int wbegin(sq *s, conn **out, const char *what)
{
    int rc;
    *out = NULL;
    if (s->read_only)
        return hark_error_set(HARK_EREADONLY, "%s: %s: the database is read-only", s->name, what);
    pthread_mutex_lock(&s->wmu);
    if ((rc = exec_id(s, s->writer, S_BEGIN_WRITE, what)) < 0) {
        pthread_mutex_unlock(&s->wmu);
        return rc;
    }
    *out = s->writer;
    return 0;
}

/* Commit (rc == 0) or roll back, and release the write connection; returns the outcome. */
static int wend(sq *s, conn *c, int rc, const char *what)
{
    if (rc == 0) {
        rc = exec_id(s, c, S_COMMIT, what);
        if (rc < 0 && !sqlite3_get_autocommit(c->db))
            exec_id(s, c, S_ROLLBACK, what);
    } else if (!sqlite3_get_autocommit(c->db)) {
        /* quietly: the first error's message is the one to keep */
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

static int racquire(sq *s, conn **out)
{
    conn *c = NULL;
    int rc = 0;

    *out = NULL;
    if (s->memory) {
        pthread_mutex_lock(&s->wmu);
        *out = s->writer;
        return 0;
    }
    pthread_mutex_lock(&s->pmu);
    while (!s->idle && s->n_readers >= s->max_readers)
        pthread_cond_wait(&s->pcv, &s->pmu);
    if (s->idle) {
        c = s->idle;
        s->idle = c->next;
        c->next = NULL;
    } else {
        s->n_readers++;
    }
    pthread_mutex_unlock(&s->pmu);
    if (!c) {
        rc = conn_open(s, &c, SQLITE_OPEN_READONLY);
        if (rc == 0)
            rc = exec_sql(s, c->db, "PRAGMA cache_size = -8192; PRAGMA mmap_size = 268435456",
                          "configure reader");
        if (rc < 0) {
            conn_close(c);
            c = NULL;
            pthread_mutex_lock(&s->pmu);
            s->n_readers--;
            pthread_cond_signal(&s->pcv);
            pthread_mutex_unlock(&s->pmu);
            return rc;
        }
    }
    *out = c;
    return 0;
}

static void rrelease(sq *s, conn *c)
{
    if (!c)
        return;
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    if (s->memory) {
        pthread_mutex_unlock(&s->wmu);
        return;
    }
    pthread_mutex_lock(&s->pmu);
    c->next = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->pcv);
    pthread_mutex_unlock(&s->pmu);
}

/* A read transaction (one snapshot for several statements) on a pooled connection. */
static int rbegin(sq *s, conn **out, const char *what)
{
    int rc;
    if ((rc = racquire(s, out)) < 0)
        return rc;
    if ((rc = exec_id(s, *out, S_BEGIN, what)) < 0) {
        rrelease(s, *out);
        *out = NULL;
    }
    return rc;
}

/* ---- open, migrate, close -------------------------------------------------------------------- */

static int query_int(const sq *s, sqlite3 *db, const char *sql, int64_t *out, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        rc = sq_err(s, db, rc, what);
    sqlite3_finalize(st);
    return rc;
}

/*
 * Bring `db` to schema version `target` (<= SCHEMA_VERSION). Refuses a
 * database written by a newer hark and files of other applications.
 */
static int migrate(const sq *s, sqlite3 *db, int target, int read_only)
{
    int64_t version = 0, app = 0, objects = 0;
    char sql[64];
    int rc, v;

    if ((rc = query_int(s, db, "PRAGMA user_version", &version, "read schema version")) < 0 ||
        (rc = query_int(s, db, "PRAGMA application_id", &app, "read application id")) < 0)
        return rc;
    if (app != 0 && app != HARK_APP_ID)
        return hark_error_set(HARK_ECORRUPT, "%s: not a hark database (application id %#llx)",
                              s->name, (unsigned long long)app);
    if (version > SCHEMA_VERSION)
        return hark_error_set(HARK_EVERSION,
                              "%s: schema version %lld is newer than this hark supports (%d); "
                              "upgrade hark",
                              s->name, (long long)version, SCHEMA_VERSION);
    if (version >= target)
        return 0;
    if (version == 0) {
        if ((rc = query_int(s, db, "SELECT count(*) FROM sqlite_master", &objects, "read schema")) <
            0)
            return rc;
        if (objects > 0)
            return hark_error_set(HARK_ECORRUPT,
                                  "%s: not a hark database (it has tables of "
                                  "another application)",
                                  s->name);
    }
    if (read_only)
        return hark_error_set(HARK_EREADONLY,
                              "%s: the database is read-only and needs a schema upgrade "
                              "(version %lld to %d)",
                              s->name, (long long)version, target);
    if ((rc = exec_sql(s, db, "BEGIN IMMEDIATE", "migrate")) < 0)
        return rc;
    /* another process may have migrated while we waited for the lock */
    if ((rc = query_int(s, db, "PRAGMA user_version", &version, "read schema version")) < 0)
        goto out;
    for (v = (int)version; v < target; v++) {
        char what[48];
        snprintf(what, sizeof(what), "migrate to schema version %d", v + 1);
        if ((rc = exec_sql(s, db, migrations[v], what)) < 0)
            goto out;
    }
    if (version < target) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", target);
        if ((rc = exec_sql(s, db, sql, "migrate")) < 0)
            goto out;
    }
    rc = exec_sql(s, db, "COMMIT", "migrate");
out:
    if (rc < 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Create the missing folders of `path` (mode 0700). */
static int make_parents(const sq *s, const char *path)
{
    char *dir = hark__strdup(path), *p;
    int rc = 0;

    if (!dir)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    for (p = dir + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            rc = hark_error_set(errno == EACCES || errno == EROFS ? HARK_EREADONLY : HARK_EIO,
                                "%s: cannot create folder %s: %s", s->name, dir, strerror(errno));
        *p = '/';
    }
    hark__free(dir);
    return rc;
}

static void sq_close(void *ctx)
{
    sq *s = ctx;
    conn *c;
    if (!s)
        return;
    while ((c = s->idle)) {
        s->idle = c->next;
        conn_close(c);
    }
    conn_close(s->writer);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->pmu);
    pthread_cond_destroy(&s->pcv);
    hark__free(s->path);
    hark__free(s);
}

/* Journal mode, pragmas and migrations of the write connection (idempotent). */
static int setup_writer(sq *s)
{
    int rc = 0;
    if (!s->read_only) {
        int wal = 0;
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(s->writer->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(st, 0);
            wal = mode && strcmp((const char *)mode, "wal") == 0;
            src = SQLITE_OK;
        }
        if (src != SQLITE_OK)
            rc = sq_err(s, s->writer->db, src, "open");
        sqlite3_finalize(st);
        if (rc < 0)
            return rc;
        if (!wal && !s->memory)
            return hark_error_set(HARK_EIO, "%s: cannot switch the database to WAL mode", s->name);
        if ((rc = exec_sql(s, s->writer->db,
                           "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                           "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384; "
                           "PRAGMA journal_size_limit = 67108864",
                           "open")) < 0)
            return rc;
    }
    return migrate(s, s->writer->db, SCHEMA_VERSION, s->read_only);
}

/*
 * SQLite keeps global memory statistics by default, taking one process-wide
 * mutex on every allocation of every connection; with a writer and readers
 * busy at once that mutex made 20% of the reads in bench_store sleep. Turn
 * the statistics off, once, if SQLite has not been initialised yet (otherwise
 * the call fails harmlessly and the host's settings stay). It only disables
 * sqlite3_memory_used() and the soft heap limit.
 */
static pthread_once_t sqlite_config_once = PTHREAD_ONCE_INIT;

static void sqlite_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(void **out, const hark_store_open_args *args)
{
    sq *s = NULL;
    struct stat sb;
    int rc = 0, flags;

    *out = NULL;
    pthread_once(&sqlite_config_once, sqlite_config);
    if (!args->location[0])
        return hark_error_set(HARK_EINVAL, "%s: no database file named", args->uri);
    s = hark__calloc(1, sizeof(*s));
    if (!s)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    pthread_mutex_init(&s->wmu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_cond_init(&s->pcv, NULL);
    s->name = args->uri;
    s->busy_ms = args->busy_timeout_ms;
    s->max_readers = args->readers;
    s->read_only = args->read_only;
    s->memory = strcmp(args->location, ":memory:") == 0;
    s->path = hark__strdup(args->location);
    HARK_ALLOC_CHECK(s->path, rc, out);

    if (!s->memory && stat(s->path, &sb) != 0) {
        if (args->no_create || args->read_only) {
            rc = hark_error_set(HARK_ENOTFOUND, "%s: no such database", s->name);
            goto out;
        }
        if ((rc = make_parents(s, s->path)) < 0 ||
            (rc = hark__file_create_private(s->path)) < 0) /* 0600 whatever the umask */
            goto out;
    }
    flags = s->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if ((rc = conn_open(s, &s->writer, flags)) < 0)
        goto out;
    /* A file we may not write opens read-only: reads work, writes say so. */
    if (sqlite3_db_readonly(s->writer->db, "main") == 1)
        s->read_only = 1;
    /*
     * Switching a new file to WAL needs an exclusive lock, and SQLite reports
     * SQLITE_BUSY at once, without its busy handler, where waiting could
     * deadlock (two processes creating one store): retry the whole setup,
     * which is idempotent, until the busy timeout.
     */
    {
        double deadline = hark__now_ms() + s->busy_ms;
        unsigned pause = 5;
        while ((rc = setup_writer(s)) == HARK_EBUSY && hark__now_ms() < deadline) {
            hark__sleep_ms(pause, NULL, NULL);
            pause = pause < 80 ? pause * 2 : pause;
        }
        if (rc < 0)
            goto out;
    }
    if (s->memory)
        s->max_readers = 0;
    *out = s;
    s = NULL;
out:
    sq_close(s);
    return rc;
}

static int sq_is_read_only(void *ctx)
{
    return ((sq *)ctx)->read_only;
}

static int fts_delete_from(const sq *s, conn *c, int64_t id, int64_t from_seq, const char *what);

/* ---- recordings ------------------------------------------------------------------------------ */

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Bind ?2..?13 of S_REC_INSERT / S_REC_UPDATE. */
static void bind_rec(sqlite3_stmt *st, const hark_recording *r)
{
    bind_text(st, 2, r->title);
    bind_text(st, 3, r->source);
    bind_text(st, 4, r->content_hash);
    sqlite3_bind_int64(st, 5, r->duration_ms);
    bind_text(st, 6, r->engine);
    bind_text(st, 7, r->model);
    bind_text(st, 8, r->options);
    bind_text(st, 9, r->language);
    bind_text(st, 10, hark_recording_status_name(r->status));
    sqlite3_bind_int64(st, 11, r->created_ms);
    sqlite3_bind_int64(st, 12, r->updated_ms);
    bind_text(st, 13, r->audio_path);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Emit the recording in the current row of a REC_COLS statement. */
static int emit_rec(const sq *s, sqlite3_stmt *st, hark_store_recording_fn emit, void *payload)
{
    hark_recording r = HARK_RECORDING_INIT;
    const char *status = col_text(st, 9);

    r.id = sqlite3_column_int64(st, 0);
    r.title = col_text(st, 1);
    r.source = col_text(st, 2);
    r.content_hash = col_text(st, 3);
    r.duration_ms = sqlite3_column_int64(st, 4);
    r.engine = col_text(st, 5);
    r.model = col_text(st, 6);
    r.options = col_text(st, 7);
    r.language = col_text(st, 8);
    r.created_ms = sqlite3_column_int64(st, 10);
    r.updated_ms = sqlite3_column_int64(st, 11);
    r.audio_path = col_text(st, 12);
    r.n_segments = sqlite3_column_int64(st, 13);
    r.owner = sqlite3_column_int64(st, 14);
    if (hark_recording_status_parse(&r.status, status) < 0)
        return hark_error_set(HARK_ECORRUPT, "%s: recording %lld has an unknown status \"%s\"",
                              s->name, (long long)r.id, status ? status : "");
    return emit(&r, payload);
}

static int sq_recording_create(void *ctx, const hark_recording *rec, int64_t *id_out)
{
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, "create recording")) < 0)
        return rc;
    if ((st = stmt(s, c, S_REC_INSERT, &rc))) {
        bind_rec(st, rec);
        sqlite3_bind_int64(st, 14, rec->owner);
        if ((rc = exec_st(s, c, st, "create recording")) == 0)
            *id_out = sqlite3_last_insert_rowid(c->db);
    }
    return wend(s, c, rc, "create recording");
}

static int sq_recording_update(void *ctx, const hark_recording *rec)
{
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, "update recording")) < 0)
        return rc;
    if ((st = stmt(s, c, S_REC_UPDATE, &rc))) {
        sqlite3_bind_int64(st, 1, rec->id);
        bind_rec(st, rec);
        if ((rc = exec_st(s, c, st, "update recording")) == 0 && sqlite3_changes(c->db) == 0)
            rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)rec->id);
    }
    return wend(s, c, rc, "update recording");
}

static int sq_recording_set_status(void *ctx, int64_t id, hark_recording_status status)
{
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, "set status")) < 0)
        return rc;
    if ((st = stmt(s, c, S_REC_STATUS, &rc))) {
        sqlite3_bind_int64(st, 1, id);
        bind_text(st, 2, hark_recording_status_name(status));
        sqlite3_bind_int64(st, 3, hark__store_now_ms());
        if ((rc = exec_st(s, c, st, "set status")) == 0 && sqlite3_changes(c->db) == 0)
            rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
    }
    return wend(s, c, rc, "set status");
}

/* Run a REC_COLS statement already bound and emit every row. */
static int emit_recs(const sq *s, conn *c, sqlite3_stmt *st, hark_store_recording_fn emit,
                     void *payload, const char *what, size_t *count)
{
    int rc;
    *count = 0;
    while ((rc = step(s, c, st, what)) == 1) {
        (*count)++;
        if ((rc = emit_rec(s, st, emit, payload)) != 0) {
            done(st);
            return rc;
        }
    }
    return rc;
}

static int sq_recording_get(void *ctx, int64_t id, hark_store_recording_fn emit, void *payload)
{
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_REC_GET, &rc))) {
        sqlite3_bind_int64(st, 1, id);
        rc = emit_recs(s, c, st, emit, payload, "get recording", &n);
        if (rc == 0 && n == 0)
            rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
    }
    rrelease(s, c);
    return rc;
}

static int sq_recording_find(void *ctx, int64_t owner, const char *content_hash, const char *engine,
                             const char *model, const char *options, hark_store_recording_fn emit,
                             void *payload)
{
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_REC_FIND, &rc))) {
        bind_text(st, 1, content_hash);
        bind_text(st, 2, engine);
        bind_text(st, 3, model);
        bind_text(st, 4, options);
        sqlite3_bind_int64(st, 5, owner);
        rc = emit_recs(s, c, st, emit, payload, "find recording", &n);
        if (rc == 0 && n == 0)
            rc = hark_error_set(HARK_ENOTFOUND,
                                "store: no recording of audio %.16s... with "
                                "those settings",
                                content_hash);
    }
    rrelease(s, c);
    return rc;
}

/*
 * A recording page with the filters of variant `v` (LIST_* bits). Bound:
 * ?1 limit, ?2 ?3 the cursor's (created_ms, id), ?4 owner, ?5 status,
 * ?6 created_from, ?7 created_to. With an owner the status test is kept off
 * the status index ("+status"): the owner's own index is the narrower one.
 */
static int list_sql(hark_buf *b, unsigned v)
{
    hark_buf_clear(b);
    return hark_buf_printf(
        b,
        "SELECT " REC_COLS " FROM recordings WHERE 1%s%s%s%s%s "
        "ORDER BY created_ms DESC, id DESC LIMIT ?1",
        v & LIST_OWNER ? " AND owner = ?4" : "",
        v & LIST_STATUS ? (v & LIST_OWNER ? " AND +status = ?5" : " AND status = ?5") : "",
        v & LIST_FROM ? " AND created_ms >= ?6" : "", v & LIST_TO ? " AND created_ms < ?7" : "",
        v & LIST_AFTER ? " AND (created_ms, id) < (?2, ?3)" : "");
}

static int sq_recording_list(void *ctx, const hark_list_options *o, hark_store_recording_fn emit,
                             void *payload)
{
    static const char what[] = "list recordings";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st = NULL;
    hark_buf sql = HARK_BUF_INIT;
    size_t n = 0;
    unsigned v = (o->owner ? LIST_OWNER : 0) | (o->status >= 0 ? LIST_STATUS : 0) |
                 (o->created_from ? LIST_FROM : 0) | (o->created_to ? LIST_TO : 0) |
                 (o->after > 0 ? LIST_AFTER : 0);
    int64_t created = 0;
    int rc;

    if ((rc = rbegin(s, &c, what)) < 0)
        return rc;
    if (o->after > 0) {
        sqlite3_stmt *cur = stmt(s, c, S_REC_CURSOR, &rc);
        if (!cur)
            goto out;
        sqlite3_bind_int64(cur, 1, o->after);
        rc = step(s, c, cur, what);
        if (rc == 1) {
            created = sqlite3_column_int64(cur, 0);
            done(cur);
            rc = 0;
        } else if (rc == 0) {
            rc = hark_error_set(HARK_ENOTFOUND,
                                "store: list: cursor recording %lld no longer exists",
                                (long long)o->after);
        }
        if (rc < 0)
            goto out;
    }
    if (!c->list[v] &&
        ((rc = list_sql(&sql, v)) < 0 || (rc = prepare(s, c, &c->list[v], sql.ptr)) < 0))
        goto out;
    st = c->list[v];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)o->limit);
    if (v & LIST_AFTER) {
        sqlite3_bind_int64(st, 2, created);
        sqlite3_bind_int64(st, 3, o->after);
    }
    if (v & LIST_OWNER)
        sqlite3_bind_int64(st, 4, o->owner);
    if (v & LIST_STATUS)
        bind_text(st, 5, hark_recording_status_name((hark_recording_status)o->status));
    if (v & LIST_FROM)
        sqlite3_bind_int64(st, 6, o->created_from);
    if (v & LIST_TO)
        sqlite3_bind_int64(st, 7, o->created_to);
    rc = emit_recs(s, c, st, emit, payload, what, &n);
out:
    rrelease(s, c);
    hark_buf_dispose(&sql);
    return rc;
}

static int sq_recording_delete(void *ctx, int64_t id, hark_store_recording_fn emit, void *payload)
{
    static const char what[] = "delete recording";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    char *group = NULL;
    size_t n = 0;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if (!(st = stmt(s, c, S_REC_GET, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = step(s, c, st, what)) == 1) {
        n++;
        if (col_text(st, 3) && !(group = hark__strdup(col_text(st, 3)))) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
        } else {
            rc = emit_rec(s, st, emit, payload);
        }
        if (rc != 0) {
            done(st);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    if (n == 0) {
        rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
        goto out;
    }
    if ((rc = fts_delete_from(s, c, id, 0, what)) < 0 || !(st = stmt(s, c, S_SEG_DELETE_REC, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = exec_st(s, c, st, what)) < 0 || !(st = stmt(s, c, S_CHUNK_DELETE_REC, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = exec_st(s, c, st, what)) < 0 || !(st = stmt(s, c, S_JOB_DELETE_REC, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = exec_st(s, c, st, what)) < 0 || !(st = stmt(s, c, S_TEXT_DELETE_REC, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = exec_st(s, c, st, what)) < 0)
        goto out;
    if (group && group[0]) {
        if (!(st = stmt(s, c, S_CACHE_DROP, &rc)))
            goto out;
        bind_text(st, 1, group);
        if ((rc = exec_st(s, c, st, what)) < 0)
            goto out;
    }
    if (!(st = stmt(s, c, S_REC_DELETE, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    rc = exec_st(s, c, st, what);
out:
    hark__free(group);
    return wend(s, c, rc, what);
}

static int sq_audio_refs(void *ctx, const char *path, uint64_t *out)
{
    static const char what[] = "count audio references";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_AUDIO_REFS, &rc))) {
        bind_text(st, 1, path);
        if ((rc = step(s, c, st, what)) == 1) {
            *out = (uint64_t)sqlite3_column_int64(st, 0);
            done(st);
            rc = 0;
        }
    }
    rrelease(s, c);
    return rc;
}

/* ---- segments -------------------------------------------------------------------------------- */

/* The search index tag of owner `owner`'s segments: OWNER_TAG() in C. */
static void owner_tag(char out[32], int64_t owner)
{
    if (owner > 0)
        snprintf(out, 32, "owner%lld", (long long)owner);
    else
        out[0] = '\0';
}

/*
 * In a transaction on c: HARK_ENOTFOUND unless recording `id` exists; its
 * search index tag into `tag` (may be NULL).
 */
static int rec_exists(const sq *s, conn *c, int64_t id, char *tag, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_REC_EXISTS, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step(s, c, st, what);
    if (rc == 1) {
        if (tag)
            owner_tag(tag, sqlite3_column_int64(st, 0));
        done(st);
        return 0;
    }
    return rc < 0 ? rc : hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)id);
}

static int update_count(const sq *s, conn *c, int64_t id, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_REC_COUNT_SEGS, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, hark__store_now_ms());
    return exec_st(s, c, st, what);
}

/* Bind ?1 = id, ?2 = text, ?3 = tag and run S_FTS_INSERT or S_FTS_DELETE. */
static int fts_row(const sq *s, conn *c, int which, int64_t id, const char *text, const char *tag,
                   const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, which, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tag, -1, SQLITE_STATIC);
    return exec_st(s, c, st, what);
}

/* Remove the index entries of recording `id`'s segments with seq >= from_seq. */
static int fts_delete_from(const sq *s, conn *c, int64_t id, int64_t from_seq, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_FTS_DELETE_FROM, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, from_seq);
    return exec_st(s, c, st, what);
}

/* Bind a row's start, end, text, confidence and words to ?first .. ?first+4. */
static void bind_row(sqlite3_stmt *st, int first, const hark_store_row *r)
{
    sqlite3_bind_int64(st, first, r->start_ms);
    sqlite3_bind_int64(st, first + 1, r->end_ms);
    sqlite3_bind_text(st, first + 2, r->text, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, first + 3, (double)r->confidence);
    if (r->words_len)
        sqlite3_bind_blob(st, first + 4, r->words, (int)r->words_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, first + 4);
}

/*
 * Upsert one row and keep the index in step: a new seq is inserted and
 * indexed; an existing one is left alone when nothing changed (a retry),
 * updated in place otherwise, and re-indexed only when its text changed.
 * `old_text` is scratch space for the replaced text.
 */
static int put_row(const sq *s, conn *c, int64_t recording, const char *tag,
                   const hark_store_row *r, hark_buf *old_text, const char *what)
{
    sqlite3_stmt *find, *st;
    int64_t id;
    int rc, found, same, text_changed;

    if (!(find = stmt(s, c, S_SEG_FIND, &rc)))
        return rc;
    sqlite3_bind_int64(find, 1, recording);
    sqlite3_bind_int64(find, 2, r->seq);
    if ((found = step(s, c, find, what)) < 0)
        return found;
    if (!found) {
        if (!(st = stmt(s, c, S_SEG_INSERT, &rc)))
            return rc;
        sqlite3_bind_int64(st, 1, recording);
        sqlite3_bind_int64(st, 2, r->seq);
        bind_row(st, 3, r);
        if ((rc = exec_st(s, c, st, what)) < 0)
            return rc;
        return fts_row(s, c, S_FTS_INSERT, sqlite3_last_insert_rowid(c->db), r->text, tag, what);
    }
    {
        const char *text = col_text(find, 3);
        const void *words = sqlite3_column_blob(find, 5);
        size_t words_len = (size_t)sqlite3_column_bytes(find, 5);
        id = sqlite3_column_int64(find, 0);
        text_changed = !text || strcmp(text, r->text) != 0;
        same = !text_changed && sqlite3_column_int64(find, 1) == r->start_ms &&
               sqlite3_column_int64(find, 2) == r->end_ms &&
               sqlite3_column_double(find, 4) == (double)r->confidence &&
               words_len == r->words_len && (!words_len || memcmp(words, r->words, words_len) == 0);
        hark_buf_clear(old_text);
        rc = text_changed ? hark_buf_puts(old_text, text ? text : "") : 0;
        done(find);
    }
    if (rc < 0 || same)
        return rc;
    if (text_changed && (rc = fts_row(s, c, S_FTS_DELETE, id, old_text->ptr, tag, what)) < 0)
        return rc;
    if (!(st = stmt(s, c, S_SEG_UPDATE, &rc)))
        return rc;
    sqlite3_bind_int64(st, 1, id);
    bind_row(st, 2, r);
    if ((rc = exec_st(s, c, st, what)) < 0)
        return rc;
    return text_changed ? fts_row(s, c, S_FTS_INSERT, id, r->text, tag, what) : 0;
}

/* Number of recording `id`'s segments with lo <= seq <= hi. */
static int count_in_range(const sq *s, conn *c, int64_t id, int64_t lo, int64_t hi, int64_t *out,
                          const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_SEG_IN_RANGE, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    if ((rc = step(s, c, st, what)) == 1) {
        *out = sqlite3_column_int64(st, 0);
        done(st);
        rc = 0;
    }
    return rc;
}

/*
 * Fast path for a batch of new segments (the usual case: no seq of the
 * batch's range exists yet): plain inserts, then the whole range indexed by
 * one INSERT ... SELECT. Otherwise (a retry, a replacement) row by row.
 */
static int sq_segments_put(void *ctx, int64_t recording, const hark_store_row *rows, size_t n)
{
    static const char what[] = "put segments";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    hark_buf old_text = HARK_BUF_INIT;
    int64_t lo = INT64_MAX, hi = INT64_MIN, existing = 1;
    char tag[32];
    size_t i;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = rec_exists(s, c, recording, tag, what)) < 0)
        goto out;
    for (i = 0; i < n; i++) {
        lo = HARK_MIN(lo, rows[i].seq);
        hi = HARK_MAX(hi, rows[i].seq);
    }
    if (n && (rc = count_in_range(s, c, recording, lo, hi, &existing, what)) < 0)
        goto out;
    if (n && existing == 0) {
        if (!(st = stmt(s, c, S_SEG_INSERT, &rc)))
            goto out;
        for (i = 0; i < n && rc == 0; i++) {
            sqlite3_bind_int64(st, 1, recording);
            sqlite3_bind_int64(st, 2, rows[i].seq);
            bind_row(st, 3, &rows[i]);
            rc = exec_st(s, c, st, what);
        }
        if (rc < 0 || !(st = stmt(s, c, S_FTS_INSERT_RANGE, &rc)))
            goto out;
        sqlite3_bind_int64(st, 1, recording);
        sqlite3_bind_int64(st, 2, lo);
        sqlite3_bind_int64(st, 3, hi);
        sqlite3_bind_text(st, 4, tag, -1, SQLITE_STATIC);
        rc = exec_st(s, c, st, what);
    } else {
        for (i = 0; i < n && rc == 0; i++)
            rc = put_row(s, c, recording, tag, &rows[i], &old_text, what);
    }
    if (rc == 0)
        rc = update_count(s, c, recording, what);
out:
    hark_buf_dispose(&old_text);
    return wend(s, c, rc, what);
}

static int sq_segments_truncate(void *ctx, int64_t recording, int64_t from_seq)
{
    static const char what[] = "truncate segments";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = rec_exists(s, c, recording, NULL, what)) < 0 ||
        (rc = fts_delete_from(s, c, recording, from_seq, what)) < 0 ||
        !(st = stmt(s, c, S_SEG_TRUNCATE, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, recording);
    sqlite3_bind_int64(st, 2, from_seq);
    if ((rc = exec_st(s, c, st, what)) == 0)
        rc = update_count(s, c, recording, what);
out:
    return wend(s, c, rc, what);
}

static int sq_transcript_get(void *ctx, int64_t recording, hark_store_recording_fn emit_rec_fn,
                             hark_store_row_fn emit_row, void *payload)
{
    static const char what[] = "read transcript";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc;

    if ((rc = rbegin(s, &c, what)) < 0)
        return rc;
    if (!(st = stmt(s, c, S_REC_GET, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, recording);
    if ((rc = emit_recs(s, c, st, emit_rec_fn, payload, what, &n)) != 0)
        goto out;
    if (n == 0) {
        rc = hark_error_set(HARK_ENOTFOUND, "store: no recording %lld", (long long)recording);
        goto out;
    }
    if (!(st = stmt(s, c, S_SEG_SELECT, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, recording);
    while ((rc = step(s, c, st, what)) == 1) {
        hark_store_row row;
        row.seq = sqlite3_column_int64(st, 0);
        row.start_ms = sqlite3_column_int64(st, 1);
        row.end_ms = sqlite3_column_int64(st, 2);
        row.text = col_text(st, 3);
        row.confidence = (float)sqlite3_column_double(st, 4);
        row.words = sqlite3_column_blob(st, 5);
        row.words_len = (size_t)sqlite3_column_bytes(st, 5);
        if (!row.text)
            row.text = "";
        if ((rc = emit_row(&row, payload)) != 0) {
            done(st);
            break;
        }
    }
out:
    rrelease(s, c);
    return rc;
}

/* ---- search ---------------------------------------------------------------------------------- */

typedef struct ranked {
    int64_t id;          /* segment rowid */
    double rank;         /* hark_rank, lower is better */
    hark_search_hit hit; /* filled by the second step; strings owned here */
} ranked;

static int cmp_ranked_id(const void *a, const void *b)
{
    int64_t x = ((const ranked *)a)->id, y = ((const ranked *)b)->id;
    return x < y ? -1 : x > y;
}

static int cmp_ranked_rank(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id; /* ties: newer first, as in the SQL */
}

static void ranked_clear(ranked *r)
{
    hark__free((char *)r->hit.text);
    hark__free((char *)r->hit.title);
    hark__free((char *)r->hit.snippet);
    memset(&r->hit, 0, sizeof(r->hit));
}

/*
 * Second step of a search: details and snippets of the n hits of a page
 * (top[], sorted by rank), emitted in rank order.
 */
static int search_hits(const sq *s, conn *c, const hark_buf *match, const hark_search_options *o,
                       ranked *top, size_t n, hark_store_hit_fn emit, void *payload)
{
    static const char what[] = "search";
    hark_buf ids = HARK_BUF_INIT;
    sqlite3_stmt *st;
    size_t i;
    int rc = 0;

    if (n == 0)
        return 0;
    qsort(top, n, sizeof(*top), cmp_ranked_id);
    for (i = 0; i < n && rc == 0; i++)
        rc = hark_buf_printf(&ids, "%c%lld", i ? ',' : '[', (long long)top[i].id);
    if (rc < 0 || (rc = hark_buf_putc(&ids, ']')) < 0 || !(st = stmt(s, c, S_HITS, &rc)))
        goto out;
    sqlite3_bind_text(st, 1, match->ptr, (int)match->len, SQLITE_STATIC);
    bind_text(st, 2, o->hl_open);
    bind_text(st, 3, o->hl_close);
    bind_text(st, 4, o->ellipsis);
    sqlite3_bind_int(st, 5, (int)o->snippet_words);
    sqlite3_bind_int64(st, 6, top[0].id);
    sqlite3_bind_int64(st, 7, top[n - 1].id);
    sqlite3_bind_text(st, 8, ids.ptr, (int)ids.len, SQLITE_STATIC);
    i = 0;
    while ((rc = step(s, c, st, what)) == 1) {
        int64_t id = sqlite3_column_int64(st, 0);
        hark_search_hit *h;
        while (i < n && top[i].id < id)
            i++;
        if (i == n || top[i].id != id)
            continue; /* cannot happen: the IN list is top[] */
        h = &top[i].hit;
        h->recording = sqlite3_column_int64(st, 1);
        h->seq = sqlite3_column_int64(st, 2);
        h->start_ms = sqlite3_column_int64(st, 3);
        h->end_ms = sqlite3_column_int64(st, 4);
        h->text = hark__strdup(col_text(st, 5) ? col_text(st, 5) : "");
        h->title = hark__strdup(col_text(st, 6) ? col_text(st, 6) : "");
        h->created_ms = sqlite3_column_int64(st, 7);
        h->snippet = hark__strdup(col_text(st, 8) ? col_text(st, 8) : "");
        h->score = -top[i].rank;
        if (!h->text || !h->title || !h->snippet) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            done(st);
            break;
        }
    }
    if (rc < 0)
        goto out;
    qsort(top, n, sizeof(*top), cmp_ranked_rank);
    for (i = 0; i < n && rc == 0; i++)
        if (top[i].hit.text) /* always, inside one snapshot */
            rc = emit(&top[i].hit, payload);
out:
    for (i = 0; i < n; i++)
        ranked_clear(&top[i]);
    hark_buf_dispose(&ids);
    return rc;
}

/*
 * The FTS5 MATCH text of a search: the user's query confined to the text
 * column, and for an owner filter the owner's tag (see migration 7).
 */
static int search_match(const hark_query *q, int64_t owner, hark_buf *out)
{
    int rc;
    if ((rc = hark_buf_puts(out, "text : (")) < 0 || (rc = hark__query_fts5(q, out)) < 0 ||
        (rc = hark_buf_putc(out, ')')) < 0)
        return rc;
    if (owner > 0)
        rc = hark_buf_printf(out, " AND tag : \"owner%lld\"", (long long)owner);
    return rc;
}

/* Bind the match text, the window and the filters of a search page statement. */
static void bind_search(sqlite3_stmt *st, const hark_buf *match, const hark_query *q,
                        const hark_search_options *o, int variant, int64_t lo, int64_t hi)
{
    uint64_t prefixes = 0;
    size_t i, phrase = 0;
    for (i = 0; i < q->n; i++) {
        if (q->items[i].op != HARK_QUERY_TERM)
            continue;
        if (q->items[i].prefix && phrase < 64)
            prefixes |= (uint64_t)1 << phrase;
        phrase++;
    }
    sqlite3_bind_text(st, 1, match->ptr, (int)match->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)prefixes);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)phrase); /* the owner's tag is not ranked */
    sqlite3_bind_int64(st, 9, (sqlite3_int64)HARK_MIN(o->max_ranked, (size_t)INT64_MAX - 1));
    if (variant & SEARCH_REC) {
        sqlite3_bind_int64(st, 4, lo);
        sqlite3_bind_int64(st, 5, hi);
        sqlite3_bind_int64(st, 6, o->recording);
    }
    if (variant & SEARCH_DATE) {
        sqlite3_bind_int64(st, 7, o->created_from);
        sqlite3_bind_int64(st, 8, o->created_to ? o->created_to : INT64_MAX);
    }
}

static int sq_search(void *ctx, const hark_query *q, const hark_search_options *o,
                     hark_store_hit_fn emit, void *payload, int *windowed)
{
    static const char what[] = "search";
    sq *s = ctx;
    conn *c = NULL;
    hark_buf match = HARK_BUF_INIT, sql = HARK_BUF_INIT;
    ranked *top = NULL;
    size_t n = 0;
    sqlite3_stmt *st;
    int rc, variant = (o->recording ? SEARCH_REC : 0) |
                      (o->created_from || o->created_to ? SEARCH_DATE : 0);
    int64_t lo = 0, hi = -1;

    *windowed = 0;
    if ((rc = search_match(q, o->owner, &match)) < 0)
        goto out;
    top = hark__calloc(o->limit ? o->limit : 1, sizeof(*top));
    HARK_ALLOC_CHECK(top, rc, out);
    if ((rc = rbegin(s, &c, what)) < 0)
        goto out;
    if (variant & SEARCH_REC) {
        /* the recording's segments were mostly inserted together: bound the FTS scan by rowid */
        if (!(st = stmt(s, c, S_SEG_RANGE, &rc)))
            goto out;
        sqlite3_bind_int64(st, 1, o->recording);
        if ((rc = step(s, c, st, what)) == 1) {
            if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
                lo = sqlite3_column_int64(st, 0);
                hi = sqlite3_column_int64(st, 1);
            }
            done(st);
            rc = 0;
        }
        if (rc < 0)
            goto out;
        if (hi < lo)
            goto out; /* no segments: no hits */
    }
    if (!c->search[variant] && ((rc = search_page_sql(&sql, variant)) < 0 ||
                                (rc = prepare(s, c, &c->search[variant], sql.ptr)) < 0))
        goto out;
    st = c->search[variant];
    bind_search(st, &match, q, o, variant, lo, hi);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)o->limit);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)o->offset);
    while (n < o->limit && (rc = step(s, c, st, what)) == 1) {
        top[n].id = sqlite3_column_int64(st, 0);
        top[n].rank = sqlite3_column_double(st, 1);
        *windowed = (uint64_t)sqlite3_column_int64(st, 2) > o->max_ranked;
        n++;
    }
    done(st);
    if (rc < 0)
        goto out;
    rc = search_hits(s, c, &match, o, top, n, emit, payload);
out:
    rrelease(s, c);
    hark__free(top);
    hark_buf_dispose(&match);
    hark_buf_dispose(&sql);
    return rc;
}

/* ---- maintenance ----------------------------------------------------------------------------- */

static int count_of(const sq *s, conn *c, int id, int64_t arg, uint64_t *out, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, id, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    rc = step(s, c, st, what);
    if (rc == 1) {
        *out = (uint64_t)sqlite3_column_int64(st, 0);
        done(st);
        rc = 0;
    }
    return rc;
}

static int delete_count(const sq *s, conn *c, int id, int64_t arg, uint64_t *out, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, id, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    if ((rc = exec_st(s, c, st, what)) == 0)
        *out = (uint64_t)sqlite3_changes64(c->db);
    return rc;
}

static int sq_gc(void *ctx, const hark_gc_options *opts, hark_gc_result *out)
{
    static const char what[] = "gc";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    char **paths = NULL;
    size_t n_paths = 0, cap = 0, i;
    uint64_t chunks = 0;
    int64_t cut = opts->older_than_ms;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if (opts->dry_run) {
        if ((rc = count_of(s, c, S_GC_COUNT_REC, cut, &out->recordings, what)) < 0 ||
            (rc = count_of(s, c, S_GC_COUNT_SEG, cut, &out->segments, what)) < 0 ||
            (rc = count_of(s, c, S_GC_COUNT_CACHE, cut, &out->cache_entries, what)) < 0 ||
            (rc = count_of(s, c, S_GC_COUNT_JOBS, cut, &out->jobs, what)) < 0)
            goto out;
        /* a dry run changes nothing: roll the (read-only) transaction back */
        wend(s, c, HARK_ECANCELED, what);
        return 0;
    }
    if (opts->audio) {
        if (!(st = stmt(s, c, S_GC_AUDIO, &rc)))
            goto out;
        sqlite3_bind_int64(st, 1, cut);
        while ((rc = step(s, c, st, what)) == 1) {
            if (n_paths == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                char **p = hark__reallocarray(paths, ncap, sizeof(*p));
                if (!p) {
                    rc = hark_error_set(HARK_ENOMEM, "out of memory");
                    done(st);
                    goto out;
                }
                paths = p;
                cap = ncap;
            }
            if (!(paths[n_paths] = hark__strdup(col_text(st, 0)))) {
                rc = hark_error_set(HARK_ENOMEM, "out of memory");
                done(st);
                goto out;
            }
            n_paths++;
        }
        if (rc < 0)
            goto out;
    }
    /* segments (and their index entries, by trigger), cache, jobs, then the recordings */
    if ((rc = delete_count(s, c, S_GC_FTS_DELETE, cut, &out->segments, what)) < 0 ||
        (rc = delete_count(s, c, S_GC_DEL_SEG, cut, &out->segments, what)) < 0 ||
        (rc = delete_count(s, c, S_GC_DEL_CACHE, cut, &out->cache_entries, what)) < 0 ||
        (rc = delete_count(s, c, S_GC_DEL_CHUNKS, cut, &chunks, what)) < 0 ||
        (rc = delete_count(s, c, S_GC_DEL_JOBS, cut, &out->jobs, what)) < 0 ||
        (rc = delete_count(s, c, S_GC_DEL_TEXTS, cut, &chunks, what)) < 0 ||
        (rc = delete_count(s, c, S_GC_DEL_REC, cut, &out->recordings, what)) < 0)
        goto out;
out:
    rc = wend(s, c, rc, what);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    for (i = 0; i < n_paths; i++) {
        if (rc == 0)
            rc = opts->audio(paths[i], opts->payload);
        hark__free(paths[i]);
    }
    hark__free(paths);
    return rc;
}

static int sq_stats(void *ctx, hark_store_stats *out)
{
    static const char what[] = "stats";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    char *wal = NULL;
    struct stat sb;
    int rc;

    if ((rc = rbegin(s, &c, what)) < 0)
        return rc;
    if (!(st = stmt(s, c, S_STATS, &rc)))
        goto out;
    if ((rc = step(s, c, st, what)) == 1) {
        out->recordings = (uint64_t)sqlite3_column_int64(st, 0);
        out->segments = (uint64_t)sqlite3_column_int64(st, 1);
        out->jobs = (uint64_t)sqlite3_column_int64(st, 2);
        out->cache_entries = (uint64_t)sqlite3_column_int64(st, 3);
        out->cache_bytes = (uint64_t)sqlite3_column_int64(st, 4);
        done(st);
        rc = 0;
    }
    if (rc < 0 || !(st = stmt(s, c, S_PAGES, &rc)))
        goto out;
    if ((rc = step(s, c, st, what)) == 1) {
        out->db_bytes = (uint64_t)sqlite3_column_int64(st, 0);
        done(st);
        rc = 0;
    }
    if (rc == 0 && !s->memory) {
        size_t len = strlen(s->path);
        wal = hark__malloc(len + 5);
        HARK_ALLOC_CHECK(wal, rc, out);
        memcpy(wal, s->path, len);
        memcpy(wal + len, "-wal", 5);
        if (stat(wal, &sb) == 0)
            out->db_bytes += (uint64_t)sb.st_size;
    }
out:
    hark__free(wal);
    rrelease(s, c);
    return rc;
}

/* Run `sql`; HARK_ECORRUPT unless it returns no rows, or exactly one row "ok". */
static int check_query(const sq *s, sqlite3 *db, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL), ret = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, "ok") != 0 || sqlite3_step(st) == SQLITE_ROW)
            ret = hark_error_set(HARK_ECORRUPT, "%s: %s: %s", s->name, what,
                                 v ? v : "inconsistent rows");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        ret = sq_err(s, db, rc, what);
    sqlite3_finalize(st);
    return ret;
}

static int sq_check(void *ctx)
{
    sq *s = ctx;
    int rc;

    pthread_mutex_lock(&s->wmu);
    if ((rc = check_query(s, s->writer->db, "PRAGMA integrity_check", "integrity check")) == 0 &&
        (rc = check_query(s, s->writer->db,
                          "SELECT 'segment ' || id || ' of recording ' || recording_id || "
                          "' has no recording' FROM segments WHERE recording_id NOT IN "
                          "(SELECT id FROM recordings) LIMIT 1",
                          "foreign keys")) == 0 &&
        (rc = check_query(s, s->writer->db,
                          "SELECT 'segment ' || id || ' is missing from the search index' "
                          "FROM segments WHERE id NOT IN (SELECT id FROM segments_fts_docsize) "
                          "UNION ALL SELECT 'search index entry ' || id || ' has no segment' "
                          "FROM segments_fts_docsize WHERE id NOT IN (SELECT id FROM segments) "
                          "LIMIT 1",
                          "search index")) == 0 &&
        (rc = check_query(s, s->writer->db,
                          "SELECT 'job ' || id || ' has no recording' FROM jobs WHERE "
                          "recording_id NOT IN (SELECT id FROM recordings) UNION ALL "
                          "SELECT 'chunk ' || idx || ' of job ' || job_id || ' has no job' "
                          "FROM job_chunks WHERE job_id NOT IN (SELECT id FROM jobs) LIMIT 1",
                          "job references")) == 0 &&
        (rc = check_query(s, s->writer->db,
                          "SELECT 'job ' || j.id || ' counts ' || j.chunks_done || ' done and ' || "
                          "j.chunks_failed || ' failed chunks, not ' || "
                          "(SELECT count(*) FROM job_chunks WHERE job_id = j.id AND state = 1) || "
                          "' and ' || "
                          "(SELECT count(*) FROM job_chunks WHERE job_id = j.id AND state = 2) "
                          "FROM jobs j WHERE j.chunks_done <> (SELECT count(*) FROM job_chunks "
                          "WHERE job_id = j.id AND state = 1) OR j.chunks_failed <> "
                          "(SELECT count(*) FROM job_chunks WHERE job_id = j.id AND state = 2) "
                          "LIMIT 1",
                          "job chunk counts")) == 0 &&
        (rc = check_query(s, s->writer->db,
                          "SELECT 'jobs ' || c.state || '/' || c.priority || ' counted ' || c.n "
                          "|| ', not ' || coalesce(j.n, 0) FROM job_counts c LEFT JOIN "
                          "(SELECT state, priority, count(*) AS n FROM jobs GROUP BY state, "
                          "priority) j ON j.state = c.state AND j.priority = c.priority "
                          "WHERE c.n <> coalesce(j.n, 0) LIMIT 1",
                          "job counts")) == 0 &&
        !s->read_only)
        rc = exec_sql(s, s->writer->db,
                      "INSERT INTO segments_fts(segments_fts) VALUES ('integrity-check')",
                      "search index check");
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

/* ---- the cache table ------------------------------------------------------------------------- */

static int sq_cache_get(void *ctx, const uint8_t key[32], hark_buf *value, hark_buf *group)
{
    static const char what[] = "cache get";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int64_t used = 0, now = hark__store_now_ms();
    int rc, found = 0;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_CACHE_GET, &rc))) {
        sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
        if ((rc = step(s, c, st, what)) == 1) {
            const void *v = sqlite3_column_blob(st, 0);
            size_t len = (size_t)sqlite3_column_bytes(st, 0);
            used = sqlite3_column_int64(st, 1);
            found = 1;
            const char *g = col_text(st, 2);
            rc = hark_buf_put(value, v ? v : "", len);
            if (rc == 0)
                rc = hark_buf_puts(group, g ? g : "");
            done(st);
        }
    }
    rrelease(s, c);
    if (rc < 0)
        return rc;
    if (!found)
        return HARK_ENOTFOUND; /* a miss is not an error worth a message */
    if (used < now - CACHE_TOUCH_MS && !s->read_only) {
        /* refresh the last use for gc: best effort, a failure only ages the entry */
        if (wbegin(s, &c, what) == 0) {
            if ((st = stmt(s, c, S_CACHE_TOUCH, &rc))) {
                sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, now);
                rc = exec_st(s, c, st, what);
            }
            wend(s, c, rc, what);
        }
        hark_error_clear();
    }
    return 0;
}

static int sq_cache_put(void *ctx, const uint8_t key[32], const char *group, const void *value,
                        size_t len)
{
    static const char what[] = "cache put";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if (len > (size_t)INT32_MAX)
        return hark_error_set(HARK_ETOOBIG, "%s: cache value of %zu bytes", s->name, len);
    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((st = stmt(s, c, S_CACHE_PUT, &rc))) {
        sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
        bind_text(st, 2, group);
        sqlite3_bind_blob(st, 3, len ? value : "", (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)len);
        sqlite3_bind_int64(st, 5, hark__store_now_ms());
        rc = exec_st(s, c, st, what);
    }
    return wend(s, c, rc, what);
}

/* One write statement with an optional key, text or integer argument; changes() into *removed. */
static int cache_write(sq *s, int id, const uint8_t *key, const char *text, int64_t num,
                       uint64_t *removed, const char *what)
{
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((st = stmt(s, c, id, &rc))) {
        if (key)
            sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
        else if (text)
            bind_text(st, 1, text);
        else
            sqlite3_bind_int64(st, 1, num);
        if ((rc = exec_st(s, c, st, what)) == 0 && removed)
            *removed = (uint64_t)sqlite3_changes64(c->db);
    }
    return wend(s, c, rc, what);
}

static int sq_cache_del(void *ctx, const uint8_t key[32])
{
    return cache_write(ctx, S_CACHE_DEL, key, NULL, 0, NULL, "cache delete");
}

static int sq_cache_drop(void *ctx, const char *group, uint64_t *removed)
{
    if (!group)
        return cache_write(ctx, S_CACHE_CLEAR, NULL, NULL, 0, removed, "cache clear");
    return cache_write(ctx, S_CACHE_DROP, NULL, group, 0, removed, "cache drop group");
}

static int sq_cache_gc(void *ctx, int64_t before_ms, uint64_t *removed)
{
    return cache_write(ctx, S_CACHE_GC, NULL, NULL, before_ms, removed, "cache gc");
}

static int sq_cache_counts(void *ctx, uint64_t add_hits, uint64_t add_misses,
                           hark_store_cache_counts *out)
{
    static const char what[] = "cache statistics";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc = 0;

    if ((add_hits || add_misses) && !s->read_only) {
        if ((rc = wbegin(s, &c, what)) < 0)
            return rc;
        if ((st = stmt(s, c, S_COUNTER_ADD, &rc))) {
            sqlite3_bind_text(st, 1, "cache_hits", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)add_hits);
            if ((rc = exec_st(s, c, st, what)) == 0) {
                sqlite3_bind_text(st, 1, "cache_misses", -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, (sqlite3_int64)add_misses);
                rc = exec_st(s, c, st, what);
            }
        }
        if ((rc = wend(s, c, rc, what)) < 0)
            return rc;
    }
    if (!out)
        return 0;
    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_CACHE_COUNTS, &rc)) && (rc = step(s, c, st, what)) == 1) {
        out->entries = (uint64_t)sqlite3_column_int64(st, 0);
        out->bytes = (uint64_t)sqlite3_column_int64(st, 1);
        out->hits = (uint64_t)sqlite3_column_int64(st, 2);
        out->misses = (uint64_t)sqlite3_column_int64(st, 3);
        done(st);
        rc = 0;
    }
    rrelease(s, c);
    return rc;
}

static int sq_cache_reset_counts(void *ctx)
{
    sq *s = ctx;
    conn *c;
    int rc;
    if ((rc = wbegin(s, &c, "cache statistics reset")) < 0)
        return rc;
    rc = exec_id(s, c, S_COUNTER_RESET, "cache statistics reset");
    return wend(s, c, rc, "cache statistics reset");
}

/* ---- the job queue --------------------------------------------------------------------------- */

/* Emit the job in the current row of a JOB_COLS statement. */
static int emit_job(const sq *s, sqlite3_stmt *st, hark_store_job_fn emit, void *payload)
{
    hark_job j = HARK_JOB_INIT;
    const char *state = col_text(st, 5);
    int prio = sqlite3_column_int(st, 4);

    j.id = sqlite3_column_int64(st, 0);
    if (hark_job_state_parse(&j.state, state) < 0 || prio < 0 || prio >= HARK_PRIORITY_COUNT)
        return hark_error_set(HARK_ECORRUPT, "%s: job %lld has an unknown state or priority",
                              s->name, (long long)j.id);
    j.recording = sqlite3_column_int64(st, 1);
    j.owner = sqlite3_column_int64(st, 2);
    j.kind = col_text(st, 3);
    j.priority = (hark_priority)prio;
    j.attempts = (unsigned)sqlite3_column_int(st, 6);
    j.max_attempts = (unsigned)sqlite3_column_int(st, 7);
    j.params = col_text(st, 8);
    j.error = col_text(st, 9);
    if (j.state == HARK_JOB_RUNNING) {
        j.lease_owner = col_text(st, 10);
        j.lease_expires_ms = sqlite3_column_int64(st, 11);
    } else {
        j.lease_owner = NULL;
        j.lease_expires_ms = 0;
    }
    j.not_before_ms = sqlite3_column_int64(st, 12);
    j.created_ms = sqlite3_column_int64(st, 13);
    j.updated_ms = sqlite3_column_int64(st, 14);
    j.started_ms = sqlite3_column_int64(st, 15);
    j.finished_ms = sqlite3_column_int64(st, 16);
    j.chunks_total = (uint32_t)sqlite3_column_int64(st, 17);
    j.chunks_done = (uint32_t)sqlite3_column_int64(st, 18);
    j.chunks_failed = (uint32_t)sqlite3_column_int64(st, 19);
    j.chunks_final = sqlite3_column_int(st, 20) != 0;
    return emit(&j, payload);
}

/* Emit job `id` from an open transaction or a pooled connection; HARK_ENOTFOUND. */
static int job_emit_id(const sq *s, conn *c, int64_t id, hark_store_job_fn emit, void *payload,
                       const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_JOB_GET, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = step(s, c, st, what)) == 1) {
        rc = emit_job(s, st, emit, payload);
        done(st);
    } else if (rc == 0) {
        rc = hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    }
    return rc;
}

/* In a transaction on c: read job `id`; HARK_ENOTFOUND. */
static int job_load(void *ctx, void *cv, int64_t id, hark__jrow *r, const char *what)
{
    const sq *s = ctx;
    conn *c = cv;
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_JOB_GET, &rc);

    memset(r, 0, sizeof(*r));
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = step(s, c, st, what)) == 0)
        return hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    if (rc < 0)
        return rc;
    r->id = id;
    if (hark_job_state_parse(&r->state, col_text(st, 5)) < 0)
        rc = hark_error_set(HARK_ECORRUPT, "%s: job %lld has an unknown state", s->name,
                            (long long)id);
    else
        rc = 0;
    r->attempts = (unsigned)sqlite3_column_int(st, 6);
    r->max_attempts = (unsigned)sqlite3_column_int(st, 7);
    r->lease_expires_ms = sqlite3_column_int64(st, 11);
    r->not_before_ms = sqlite3_column_int64(st, 12);
    r->created_ms = sqlite3_column_int64(st, 13);
    r->finished_ms = sqlite3_column_int64(st, 16);
    r->chunks_failed = (uint32_t)sqlite3_column_int64(st, 19);
    if (rc == 0 && ((rc = hark__jrow_set_str(&r->error, col_text(st, 9))) < 0 ||
                    (rc = hark__jrow_set_str(&r->lease_owner, col_text(st, 10))) < 0))
        hark__jrow_dispose(r);
    done(st);
    return rc;
}

/* Write back a job_load()ed row changed by a transition (not a claim). */
static int job_store(const sq *s, conn *c, const hark__jrow *r, int64_t now, const char *what)
{
    int rc;
    int64_t due = hark__jrow_due(r);
    sqlite3_stmt *st = stmt(s, c, S_JOB_SET, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, r->id);
    bind_text(st, 2, hark_job_state_name(r->state));
    sqlite3_bind_int64(st, 3, r->attempts);
    bind_text(st, 4, r->error);
    bind_text(st, 5, r->lease_owner);
    sqlite3_bind_int64(st, 6, r->lease_expires_ms);
    sqlite3_bind_int64(st, 7, r->not_before_ms);
    if (due >= 0)
        sqlite3_bind_int64(st, 8, due);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_int64(st, 9, r->finished_ms);
    sqlite3_bind_int64(st, 10, now);
    return exec_st(s, c, st, what);
}

/* Run a statement bound with ?1 = id (and nothing else). */
static int exec_for_id(const sq *s, conn *c, int id_stmt, int64_t id, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, id_stmt, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return exec_st(s, c, st, what);
}

/* A single-row, single-integer query bound with ?1 = arg: 1 and *out, 0 = no row, < 0. */
static int query_id(const sq *s, conn *c, int id_stmt, int64_t arg, int64_t *out, const char *what)
{
    int rc;
    sqlite3_stmt *st = stmt(s, c, id_stmt, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    if ((rc = step(s, c, st, what)) == 1) {
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            rc = 0;
        else
            *out = sqlite3_column_int64(st, 0);
        done(st);
    }
    return rc;
}

/*
 * Store a row changed by hark__job_apply (not a claim) and carry out the side
 * effects it asked for. HARK__JOB_FX_NOTIFY needs nothing here: SQLite runners
 * sleep until the next_ms of their last claim, or are woken in-process.
 */
static int job_write(void *ctx, void *cv, const hark__jrow *r, unsigned fx, int64_t now,
                     const char *what)
{
    const sq *s = ctx;
    conn *c = cv;
    sqlite3_stmt *st;
    int rc;

    if ((rc = job_store(s, c, r, now, what)) < 0)
        return rc;
    if ((fx & HARK__JOB_FX_DROP_RESULTS) &&
        (rc = exec_for_id(s, c, S_CHUNKS_DROP_RESULTS, r->id, what)) < 0)
        return rc;
    if (fx & HARK__JOB_FX_RESET_FAILED) {
        if ((rc = exec_for_id(s, c, S_CHUNKS_RESET_FAILED, r->id, what)) < 0 ||
            !(st = stmt(s, c, S_JOB_CHUNK_COUNTS, &rc)))
            return rc;
        sqlite3_bind_int64(st, 1, r->id);
        sqlite3_bind_int64(st, 2, 0);
        sqlite3_bind_int64(st, 3, -(int64_t)r->chunks_failed);
        sqlite3_bind_int64(st, 4, 0);
        sqlite3_bind_int64(st, 5, now);
        rc = exec_st(s, c, st, what);
    }
    return rc;
}

static int sq_job_submit(void *ctx, const hark_recording *rec, const hark_job *job,
                         hark_job_submitted *out)
{
    static const char what[] = "submit job";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int64_t rec_id = 0, job_id = 0;
    int rc, existed = 0;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    /* under the write lock: a concurrent submit of the same audio (another thread or process)
     * either committed before this transaction began or waits until it commits */
    if (rec->content_hash) {
        if (!(st = stmt(s, c, S_REC_DEDUP, &rc)))
            goto out;
        bind_text(st, 1, rec->content_hash);
        sqlite3_bind_int64(st, 2, rec->owner);
        bind_text(st, 3, rec->engine);
        bind_text(st, 4, rec->model);
        bind_text(st, 5, rec->options);
        bind_text(st, 6, rec->audio_path);
        if ((rc = step(s, c, st, what)) == 1) {
            rec_id = sqlite3_column_int64(st, 0);
            done(st);
        }
        if (rc < 0)
            goto out;
        if (rec_id && (rc = query_id(s, c, S_JOB_NEWEST, rec_id, &job_id, what)) < 0)
            goto out;
        rc = 0;
        existed = job_id != 0;
    }
    if (!rec_id) {
        if (!(st = stmt(s, c, S_REC_INSERT, &rc)))
            goto out;
        bind_rec(st, rec);
        sqlite3_bind_int64(st, 14, rec->owner);
        if ((rc = exec_st(s, c, st, what)) < 0)
            goto out;
        rec_id = sqlite3_last_insert_rowid(c->db);
    }
    if (!job_id) {
        if (!(st = stmt(s, c, S_JOB_INSERT, &rc)))
            goto out;
        sqlite3_bind_int64(st, 1, rec_id);
        sqlite3_bind_int64(st, 2, rec->owner);
        bind_text(st, 3, job->kind);
        sqlite3_bind_int(st, 4, (int)job->priority);
        sqlite3_bind_int64(st, 5, job->max_attempts);
        bind_text(st, 6, job->params);
        sqlite3_bind_int64(st, 7, job->not_before_ms);
        sqlite3_bind_int64(st, 8, job->not_before_ms > 0 ? job->not_before_ms : job->created_ms);
        sqlite3_bind_int64(st, 9, job->created_ms);
        if ((rc = exec_st(s, c, st, what)) < 0)
            goto out;
        job_id = sqlite3_last_insert_rowid(c->db);
    }
    out->recording = rec_id;
    out->job = job_id;
    out->existed = existed;
out:
    return wend(s, c, rc, what);
}

static int sq_job_get(void *ctx, int64_t id, hark_store_job_fn emit, void *payload)
{
    sq *s = ctx;
    conn *c;
    int rc;
    if ((rc = racquire(s, &c)) < 0)
        return rc;
    rc = job_emit_id(s, c, id, emit, payload, "get job");
    rrelease(s, c);
    return rc;
}

/* A job page with the filters of variant `v` (JLIST_* bits): ?1 limit, ?2 owner, ?3 recording,
 * ?4 state, ?5 cursor. */
static int job_list_sql(hark_buf *b, unsigned v)
{
    hark_buf_clear(b);
    return hark_buf_printf(
        b,
        "SELECT " JOB_COLS " FROM jobs WHERE 1%s%s%s%s ORDER BY id DESC "
        "LIMIT ?1",
        v & JLIST_OWNER ? " AND owner = ?2" : "", v & JLIST_REC ? " AND recording_id = ?3" : "",
        v & JLIST_STATE ? " AND state = ?4" : "", v & JLIST_AFTER ? " AND id < ?5" : "");
}

static int sq_job_list(void *ctx, const hark_job_list_options *o, hark_store_job_fn emit,
                       void *payload)
{
    static const char what[] = "list jobs";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    hark_buf sql = HARK_BUF_INIT;
    unsigned v = (o->owner ? JLIST_OWNER : 0) | (o->recording ? JLIST_REC : 0) |
                 (o->state >= 0 ? JLIST_STATE : 0) | (o->after > 0 ? JLIST_AFTER : 0);
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if (!c->jlist[v] &&
        ((rc = job_list_sql(&sql, v)) < 0 || (rc = prepare(s, c, &c->jlist[v], sql.ptr)) < 0))
        goto out;
    st = c->jlist[v];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)o->limit);
    if (v & JLIST_OWNER)
        sqlite3_bind_int64(st, 2, o->owner);
    if (v & JLIST_REC)
        sqlite3_bind_int64(st, 3, o->recording);
    if (v & JLIST_STATE)
        bind_text(st, 4, hark_job_state_name((hark_job_state)o->state));
    if (v & JLIST_AFTER)
        sqlite3_bind_int64(st, 5, o->after);
    while ((rc = step(s, c, st, what)) == 1) {
        if ((rc = emit_job(s, st, emit, payload)) != 0) {
            done(st);
            break;
        }
    }
out:
    rrelease(s, c);
    hark_buf_dispose(&sql);
    return rc;
}

/*
 * Claims run in hark__job_claim_tx (jobstate.c) as one transaction under
 * BEGIN IMMEDIATE, so claims are serialised across threads (the write
 * mutex) and processes (SQLite's write lock). Each priority class is one
 * probe of jobs_due.
 */
static int job_pick(void *ctx, void *cv, hark_priority max_priority, int64_t now, hark__jrow *r,
                    const char *what)
{
    const sq *s = ctx;
    conn *c = cv;
    sqlite3_stmt *st;
    int rc, p;

    if (!(st = stmt(s, c, S_JOB_PICK, &rc)))
        return rc;
    for (p = 0; p <= (int)max_priority; p++) {
        sqlite3_bind_int(st, 1, p);
        sqlite3_bind_int64(st, 2, now);
        if ((rc = step(s, c, st, what)) != 1) {
            if (rc < 0)
                return rc;
            continue;
        }
        r->id = sqlite3_column_int64(st, 0);
        r->state = col_text(st, 1) && strcmp(col_text(st, 1), "running") == 0 ? HARK_JOB_RUNNING
                                                                              : HARK_JOB_QUEUED;
        r->attempts = (unsigned)sqlite3_column_int(st, 2);
        r->max_attempts = (unsigned)sqlite3_column_int(st, 3);
        done(st);
        return 1;
    }
    return 0;
}

static int job_claim_write(void *ctx, void *cv, const hark__jrow *r, int64_t now,
                           hark_store_job_fn emit, void *payload, const char *what)
{
    const sq *s = ctx;
    conn *c = cv;
    int rc;
    sqlite3_stmt *st = stmt(s, c, S_JOB_CLAIM, &rc);

    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, r->id);
    bind_text(st, 2, r->lease_owner);
    sqlite3_bind_int64(st, 3, r->lease_expires_ms);
    sqlite3_bind_int64(st, 4, now);
    if ((rc = exec_st(s, c, st, what)) < 0)
        return rc;
    return job_emit_id(s, c, r->id, emit, payload, what);
}

static int job_next_due(void *ctx, void *cv, hark_priority max_priority, int64_t now,
                        int64_t *next_ms, const char *what)
{
    int rc, p;
    (void)now;
    for (p = 0; p <= (int)max_priority; p++) {
        int64_t t = 0;
        if ((rc = query_id(ctx, cv, S_JOB_NEXT, p, &t, what)) < 0)
            return rc;
        if (rc == 1 && (*next_ms == 0 || t < *next_ms))
            *next_ms = t;
    }
    return 0;
}

static int job_begin(void *ctx, void **cv, const char *what)
{
    conn *c = NULL;
    int rc = wbegin(ctx, &c, what);
    *cv = c;
    return rc;
}

static int job_commit(void *ctx, void *cv, int rc, const char *what)
{
    return wend(ctx, cv, rc, what);
}

static const hark__job_tx job_tx = { job_begin, job_commit,      job_load,    job_write,
                                     job_pick,  job_claim_write, job_next_due };

static int sq_job_claim(void *ctx, const char *lease_owner, int64_t lease_ms,
                        hark_priority max_priority, int64_t now, hark_store_job_fn emit,
                        void *payload, int64_t *next_ms)
{
    return hark__job_claim_tx(&job_tx, ctx, lease_owner, lease_ms, max_priority, now, emit, payload,
                              next_ms);
}

static int sq_job_heartbeat(void *ctx, const char *lease_owner, int64_t lease_ms, int64_t now,
                            unsigned *n)
{
    static const char what[] = "job heartbeat";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((st = stmt(s, c, S_JOB_HEARTBEAT, &rc))) {
        bind_text(st, 1, lease_owner);
        sqlite3_bind_int64(st, 2, now + lease_ms);
        sqlite3_bind_int64(st, 3, now);
        if ((rc = exec_st(s, c, st, what)) == 0)
            *n = (unsigned)sqlite3_changes(c->db);
    }
    return wend(s, c, rc, what);
}

static int sq_job_end(void *ctx, int64_t id, const char *lease_owner, hark_job_state state,
                      int release, int64_t not_before_ms, const char *error, int64_t now)
{
    return hark__job_end_tx(&job_tx, ctx, id, lease_owner, state, release, not_before_ms, error,
                            now);
}

static int sq_job_cancel(void *ctx, int64_t id, int64_t now)
{
    return hark__job_cancel_tx(&job_tx, ctx, id, now);
}

static int sq_job_retry(void *ctx, int64_t id, int64_t now)
{
    return hark__job_retry_tx(&job_tx, ctx, id, now);
}

static int sq_job_counts(void *ctx, hark_job_counts *out)
{
    static const char what[] = "count jobs";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_JOB_COUNTS, &rc))) {
        while ((rc = step(s, c, st, what)) == 1) {
            hark_job_state state;
            int p = sqlite3_column_int(st, 1);
            int64_t n = sqlite3_column_int64(st, 2);
            if (hark_job_state_parse(&state, col_text(st, 0)) == 0 && p >= 0 &&
                p < HARK_PRIORITY_COUNT && n > 0)
                out->n[state][p] = (uint64_t)n;
            hark_error_clear();
        }
    }
    rrelease(s, c);
    return rc;
}

/* In a transaction on c: HARK_ENOTFOUND unless job `id` exists. */
static int job_exists(const sq *s, conn *c, int64_t id, const char *what)
{
    int64_t one = 0;
    int rc = query_id(s, c, S_JOB_EXISTS, id, &one, what);
    if (rc == 0)
        return hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)id);
    return rc < 0 ? rc : 0;
}

static int sq_job_chunk_put(void *ctx, int64_t job, const hark_job_chunk *ch, int64_t now)
{
    static const char what[] = "put job chunk";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int64_t old = -1;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = job_exists(s, c, job, what)) < 0 || !(st = stmt(s, c, S_CHUNK_STATE, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int64(st, 2, ch->index);
    if ((rc = step(s, c, st, what)) == 1) {
        old = sqlite3_column_int64(st, 0);
        done(st);
    }
    if (rc < 0 || !(st = stmt(s, c, S_CHUNK_UPSERT, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int64(st, 2, ch->index);
    sqlite3_bind_int64(st, 3, ch->start);
    sqlite3_bind_int64(st, 4, ch->n);
    sqlite3_bind_int(st, 5, (int)ch->state);
    sqlite3_bind_int64(st, 6, ch->attempts);
    bind_text(st, 7, ch->error);
    if (ch->result && ch->result_len)
        sqlite3_bind_blob(st, 8, ch->result, (int)ch->result_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_double(st, 9, ch->asr_ms);
    if ((rc = exec_st(s, c, st, what)) < 0 || !(st = stmt(s, c, S_JOB_CHUNK_COUNTS, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int64(st, 2, (ch->state == HARK_CHUNK_DONE) - (old == HARK_CHUNK_DONE));
    sqlite3_bind_int64(st, 3, (ch->state == HARK_CHUNK_FAILED) - (old == HARK_CHUNK_FAILED));
    sqlite3_bind_int64(st, 4, (int64_t)ch->index + 1);
    sqlite3_bind_int64(st, 5, now);
    rc = exec_st(s, c, st, what);
out:
    return wend(s, c, rc, what);
}

static int sq_job_set_chunks(void *ctx, int64_t job, uint32_t total, int final, int64_t now)
{
    static const char what[] = "set job chunks";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((st = stmt(s, c, S_JOB_SET_CHUNKS, &rc))) {
        sqlite3_bind_int64(st, 1, job);
        sqlite3_bind_int64(st, 2, total);
        sqlite3_bind_int(st, 3, final ? 1 : 0);
        sqlite3_bind_int64(st, 4, now);
        if ((rc = exec_st(s, c, st, what)) == 0 && sqlite3_changes(c->db) == 0)
            rc = hark_error_set(HARK_ENOTFOUND, "store: no job %lld", (long long)job);
    }
    return wend(s, c, rc, what);
}

static int sq_job_chunks(void *ctx, int64_t job, int with_results, hark_store_chunk_fn emit,
                         void *payload)
{
    static const char what[] = "read job chunks";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = rbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = job_exists(s, c, job, what)) < 0 ||
        !(st = stmt(s, c, with_results ? S_CHUNKS_RESULTS : S_CHUNKS, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, job);
    while ((rc = step(s, c, st, what)) == 1) {
        hark_job_chunk ch;
        int state = sqlite3_column_int(st, 3);
        memset(&ch, 0, sizeof(ch));
        ch.index = (uint32_t)sqlite3_column_int64(st, 0);
        ch.start = sqlite3_column_int64(st, 1);
        ch.n = sqlite3_column_int64(st, 2);
        ch.state = (hark_chunk_state)state;
        ch.attempts = (unsigned)sqlite3_column_int(st, 4);
        ch.error = col_text(st, 5);
        ch.result = sqlite3_column_blob(st, 6);
        ch.result_len = ch.result ? (size_t)sqlite3_column_bytes(st, 6) : 0;
        ch.asr_ms = sqlite3_column_double(st, 7);
        if (state < HARK_CHUNK_PENDING || state > HARK_CHUNK_FAILED)
            rc = hark_error_set(HARK_ECORRUPT, "%s: chunk %u of job %lld has state %d", s->name,
                                ch.index, (long long)job, state);
        else
            rc = emit(&ch, payload);
        if (rc != 0) {
            done(st);
            break;
        }
    }
out:
    rrelease(s, c);
    return rc;
}

/* ---- users, keys, audit, settings ------------------------------------------------------------ */

static int sq_user_create(void *ctx, const char *name, int64_t created_ms, int64_t *id_out)
{
    static const char what[] = "create user";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if (!(st = stmt(s, c, S_USER_BY_NAME, &rc)))
        goto out;
    bind_text(st, 1, name);
    if ((rc = step(s, c, st, what)) == 1) {
        done(st);
        rc = hark_error_set(HARK_EEXISTS, "store: user \"%s\" exists", name);
    }
    if (rc < 0 || !(st = stmt(s, c, S_USER_INSERT, &rc)))
        goto out;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, created_ms);
    if ((rc = exec_st(s, c, st, what)) == 0)
        *id_out = sqlite3_last_insert_rowid(c->db);
out:
    return wend(s, c, rc, what);
}

static int sq_user_get(void *ctx, int64_t id, const char *name, hark_store_user_fn emit,
                       void *payload)
{
    static const char what[] = "get user";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, name ? S_USER_BY_NAME : S_USER_BY_ID, &rc))) {
        if (name)
            bind_text(st, 1, name);
        else
            sqlite3_bind_int64(st, 1, id);
        if ((rc = step(s, c, st, what)) == 1) {
            hark_user u;
            u.version = HARK_USER_VERSION;
            u.id = sqlite3_column_int64(st, 0);
            u.name = col_text(st, 1);
            u.created_ms = sqlite3_column_int64(st, 2);
            rc = emit(&u, payload);
            done(st);
        } else if (rc == 0) {
            rc = name ? hark_error_set(HARK_ENOTFOUND, "store: no user \"%s\"", name)
                      : hark_error_set(HARK_ENOTFOUND, "store: no user %lld", (long long)id);
        }
    }
    rrelease(s, c);
    return rc;
}

/* Emit the key in the current row of a KEY_COLS statement. */
static int emit_key(const sq *s, sqlite3_stmt *st, hark_store_key_fn emit, void *payload)
{
    hark_api_key k;
    const void *digest = sqlite3_column_blob(st, 8);

    k.version = HARK_API_KEY_VERSION;
    k.id = sqlite3_column_int64(st, 0);
    if (!digest || sqlite3_column_bytes(st, 8) != 32)
        return hark_error_set(HARK_ECORRUPT, "%s: key %lld has a malformed digest", s->name,
                              (long long)k.id);
    k.user = sqlite3_column_int64(st, 1);
    k.user_name = col_text(st, 2);
    k.name = col_text(st, 3);
    k.prefix = col_text(st, 4);
    k.admin = sqlite3_column_int(st, 5) != 0;
    k.created_ms = sqlite3_column_int64(st, 6);
    k.revoked_ms = sqlite3_column_int64(st, 7);
    return emit(&k, digest, payload);
}

static int sq_key_create(void *ctx, int64_t user, const char *name, int admin,
                         const uint8_t digest[32], const char *prefix, int64_t created_ms,
                         int64_t *id_out)
{
    static const char what[] = "create key";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int64_t found = 0;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = query_id(s, c, S_USER_BY_ID, user, &found, what)) < 0)
        goto out;
    if (rc == 0) {
        rc = hark_error_set(HARK_ENOTFOUND, "store: no user %lld", (long long)user);
        goto out;
    }
    if (!(st = stmt(s, c, S_KEY_BY_DIGEST, &rc)))
        goto out;
    sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
    if ((rc = step(s, c, st, what)) == 1) {
        done(st);
        rc = hark_error_set(HARK_EEXISTS, "store: a key with this digest exists");
    }
    if (rc < 0 || !(st = stmt(s, c, S_KEY_INSERT, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, user);
    bind_text(st, 2, name);
    bind_text(st, 3, prefix);
    sqlite3_bind_blob(st, 4, digest, 32, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, admin ? 1 : 0);
    sqlite3_bind_int64(st, 6, created_ms);
    if ((rc = exec_st(s, c, st, what)) == 0)
        *id_out = sqlite3_last_insert_rowid(c->db);
out:
    return wend(s, c, rc, what);
}

static int sq_key_lookup(void *ctx, const uint8_t digest[32], hark_store_key_fn emit, void *payload)
{
    static const char what[] = "look up key";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_KEY_BY_DIGEST, &rc))) {
        sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
        if ((rc = step(s, c, st, what)) == 1) {
            rc = emit_key(s, st, emit, payload);
            done(st);
        } else if (rc == 0) {
            rc = HARK_ENOTFOUND; /* an unknown key is an answer, not an error worth a message */
        }
    }
    rrelease(s, c);
    return rc;
}

static int sq_key_list(void *ctx, int64_t user, hark_store_key_fn emit, void *payload)
{
    static const char what[] = "list keys";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, user ? S_KEY_LIST_USER : S_KEY_LIST, &rc))) {
        if (user)
            sqlite3_bind_int64(st, 1, user);
        while ((rc = step(s, c, st, what)) == 1) {
            if ((rc = emit_key(s, st, emit, payload)) != 0) {
                done(st);
                break;
            }
        }
    }
    rrelease(s, c);
    return rc;
}

static int sq_key_revoke(void *ctx, int64_t id, int64_t now)
{
    static const char what[] = "revoke key";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int64_t one = 0;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if (!(st = stmt(s, c, S_KEY_REVOKE, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = exec_st(s, c, st, what)) < 0 || sqlite3_changes(c->db) > 0)
        goto out;
    /* nothing changed: revoked before (idempotent) or no such key */
    if ((rc = query_id(s, c, S_KEY_EXISTS, id, &one, what)) == 0)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no key %lld", (long long)id);
    else if (rc > 0)
        rc = 0;
out:
    return wend(s, c, rc, what);
}

static int sq_key_count_active(void *ctx, uint64_t *out)
{
    static const char what[] = "count keys";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_KEY_COUNT_ACTIVE, &rc)) && (rc = step(s, c, st, what)) == 1) {
        *out = (uint64_t)sqlite3_column_int64(st, 0);
        done(st);
        rc = 0;
    }
    rrelease(s, c);
    return rc;
}

static int sq_audit_add(void *ctx, int64_t ts_ms, int64_t user, int64_t key, const char *action,
                        const char *detail)
{
    static const char what[] = "audit";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((st = stmt(s, c, S_AUDIT_INSERT, &rc))) {
        sqlite3_bind_int64(st, 1, ts_ms);
        sqlite3_bind_int64(st, 2, user);
        sqlite3_bind_int64(st, 3, key);
        bind_text(st, 4, action);
        bind_text(st, 5, detail);
        rc = exec_st(s, c, st, what);
    }
    return wend(s, c, rc, what);
}

static int sq_audit_list(void *ctx, int64_t before, size_t limit, hark_store_audit_fn emit,
                         void *payload)
{
    static const char what[] = "read audit log";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_AUDIT_LIST, &rc))) {
        sqlite3_bind_int64(st, 1, before > 0 ? before : INT64_MAX);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
        while ((rc = step(s, c, st, what)) == 1) {
            hark_audit_entry e;
            e.id = sqlite3_column_int64(st, 0);
            e.ts_ms = sqlite3_column_int64(st, 1);
            e.user = sqlite3_column_int64(st, 2);
            e.key = sqlite3_column_int64(st, 3);
            e.action = col_text(st, 4) ? col_text(st, 4) : "";
            e.detail = col_text(st, 5);
            if ((rc = emit(&e, payload)) != 0) {
                done(st);
                break;
            }
        }
    }
    rrelease(s, c);
    return rc;
}

static int sq_setting_get(void *ctx, const char *name, hark_buf *out)
{
    static const char what[] = "read setting";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_SETTING_GET, &rc))) {
        bind_text(st, 1, name);
        if ((rc = step(s, c, st, what)) == 1) {
            const char *v = col_text(st, 0);
            rc = hark_buf_puts(out, v ? v : "");
            done(st);
        } else if (rc == 0) {
            rc = HARK_ENOTFOUND;
        }
    }
    rrelease(s, c);
    return rc;
}

static int sq_setting_set(void *ctx, const char *name, const char *value, int64_t now)
{
    static const char what[] = "write setting";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((st = stmt(s, c, value ? S_SETTING_PUT : S_SETTING_DEL, &rc))) {
        bind_text(st, 1, name);
        if (value) {
            bind_text(st, 2, value);
            sqlite3_bind_int64(st, 3, now);
        }
        rc = exec_st(s, c, st, what);
    }
    return wend(s, c, rc, what);
}

/* ---- derived texts and their jobs ------------------------------------------------------------ */

static int sq_job_add(void *ctx, const hark_job *job, int64_t *id_out)
{
    static const char what[] = "add job";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = rec_exists(s, c, job->recording, NULL, what)) < 0 ||
        !(st = stmt(s, c, S_JOB_INSERT, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, job->recording);
    sqlite3_bind_int64(st, 2, job->owner);
    bind_text(st, 3, job->kind);
    sqlite3_bind_int(st, 4, (int)job->priority);
    sqlite3_bind_int64(st, 5, job->max_attempts);
    bind_text(st, 6, job->params);
    sqlite3_bind_int64(st, 7, job->not_before_ms);
    sqlite3_bind_int64(st, 8, job->not_before_ms > 0 ? job->not_before_ms : job->created_ms);
    sqlite3_bind_int64(st, 9, job->created_ms);
    if ((rc = exec_st(s, c, st, what)) == 0)
        *id_out = sqlite3_last_insert_rowid(c->db);
out:
    return wend(s, c, rc, what);
}

static int sq_text_put(void *ctx, int64_t recording, const char *kind, const char *text,
                       const char *meta, int64_t now)
{
    static const char what[] = "write recording text";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = wbegin(s, &c, what)) < 0)
        return rc;
    if ((rc = rec_exists(s, c, recording, NULL, what)) < 0 ||
        !(st = stmt(s, c, text ? S_TEXT_PUT : S_TEXT_DEL, &rc)))
        goto out;
    sqlite3_bind_int64(st, 1, recording);
    bind_text(st, 2, kind);
    if (text) {
        bind_text(st, 3, text);
        bind_text(st, 4, meta);
        sqlite3_bind_int64(st, 5, now);
    }
    rc = exec_st(s, c, st, what);
out:
    return wend(s, c, rc, what);
}

static int sq_text_get(void *ctx, int64_t recording, const char *kind, hark_buf *text,
                       hark_buf *meta, int64_t *updated_ms)
{
    static const char what[] = "read recording text";
    sq *s = ctx;
    conn *c;
    sqlite3_stmt *st;
    int rc;

    if ((rc = racquire(s, &c)) < 0)
        return rc;
    if ((st = stmt(s, c, S_TEXT_GET, &rc))) {
        sqlite3_bind_int64(st, 1, recording);
        bind_text(st, 2, kind);
        if ((rc = step(s, c, st, what)) == 1) {
            const char *t = col_text(st, 0), *m = col_text(st, 1);
            rc = hark_buf_puts(text, t ? t : "");
            if (rc == 0 && meta)
                rc = hark_buf_puts(meta, m ? m : "");
            *updated_ms = sqlite3_column_int64(st, 2);
            done(st);
        } else if (rc == 0) {
            rc = HARK_ENOTFOUND;
        }
    }
    rrelease(s, c);
    return rc;
}

/* ---- the ops table --------------------------------------------------------------------------- */

static const char *const sq_schemes[] = { "sqlite", "sqlite3", NULL };

const hark_store_ops hark__store_sqlite_ops = {
    .version = HARK_STORE_API_VERSION,
    .name = "sqlite",
    .schemes = sq_schemes,
    .open = sq_open,
    .close = sq_close,
    .is_read_only = sq_is_read_only,
    .recording_create = sq_recording_create,
    .recording_update = sq_recording_update,
    .recording_set_status = sq_recording_set_status,
    .recording_get = sq_recording_get,
    .recording_find = sq_recording_find,
    .recording_list = sq_recording_list,
    .recording_delete = sq_recording_delete,
    .audio_refs = sq_audio_refs,
    .segments_put = sq_segments_put,
    .segments_truncate = sq_segments_truncate,
    .transcript_get = sq_transcript_get,
    .search = sq_search,
    .gc = sq_gc,
    .stats = sq_stats,
    .check = sq_check,
    .cache_get = sq_cache_get,
    .cache_put = sq_cache_put,
    .cache_del = sq_cache_del,
    .cache_drop = sq_cache_drop,
    .cache_gc = sq_cache_gc,
    .cache_counts = sq_cache_counts,
    .cache_reset_counts = sq_cache_reset_counts,
    .job_submit = sq_job_submit,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_claim = sq_job_claim,
    .job_heartbeat = sq_job_heartbeat,
    .job_end = sq_job_end,
    .job_cancel = sq_job_cancel,
    .job_retry = sq_job_retry,
    .job_counts = sq_job_counts,
    .job_chunk_put = sq_job_chunk_put,
    .job_set_chunks = sq_job_set_chunks,
    .job_chunks = sq_job_chunks,
    .user_create = sq_user_create,
    .user_get = sq_user_get,
    .key_create = sq_key_create,
    .key_lookup = sq_key_lookup,
    .key_list = sq_key_list,
    .key_revoke = sq_key_revoke,
    .key_count_active = sq_key_count_active,
    .audit_add = sq_audit_add,
    .audit_list = sq_audit_list,
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    .job_add = sq_job_add,
    .text_put = sq_text_put,
    .text_get = sq_text_get,
};

/* ---- test hooks ------------------------------------------------------------------------------ */

int hark__sqlite_migrate(struct sqlite3 *db, int target, const char *name)
{
    sq s;
    memset(&s, 0, sizeof(s));
    s.name = name;
    if (target < 0 || target > SCHEMA_VERSION)
        return hark_error_set(HARK_EINVAL, "no schema version %d", target);
    return migrate(&s, db, target, 0);
}

int hark__sqlite_schema_version(void)
{
    return SCHEMA_VERSION;
}
