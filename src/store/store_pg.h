/*
 * store_pg.h: internals shared by the PostgreSQL backend's files
 * (store_pg.c: connections, schema, recordings, segments, search, cache;
 * store_pg_jobs.c: the job queue, LISTEN/NOTIFY, users, keys, audit,
 * settings). Nothing outside src/store/store_pg*.c includes it.
 */
#ifndef HARK_STORE_PG_H
#define HARK_STORE_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>

#include "store.h"

/* Prepared statements: the SQL text is in store_pg.c (pg_sql[]). */
enum {
    PG_BEGIN,
    PG_BEGIN_SNAPSHOT,
    PG_COMMIT,
    PG_ROLLBACK,
    PG_REC_INSERT,
    PG_REC_UPDATE,
    PG_REC_STATUS,
    PG_REC_GET,
    PG_REC_FIND,
    PG_REC_CURSOR,
    PG_REC_OWNER,
    PG_REC_COUNT_SEGS,
    PG_REC_DELETE,
    PG_AUDIO_REFS,
    PG_SEG_UPSERT,
    PG_SEG_TRUNCATE,
    PG_SEG_SELECT,
    PG_SEG_DELETE_REC,
    PG_CHUNK_DELETE_REC,
    PG_JOB_DELETE_REC,
    PG_GC_AUDIO,
    PG_GC_COUNT_REC,
    PG_GC_COUNT_SEG,
    PG_GC_COUNT_CACHE,
    PG_GC_COUNT_JOBS,
    PG_GC_DEL_SEG,
    PG_GC_DEL_CACHE,
    PG_GC_DEL_CHUNKS,
    PG_GC_DEL_JOBS,
    PG_GC_DEL_REC,
    PG_STATS,
    PG_CACHE_GET,
    PG_CACHE_TOUCH,
    PG_CACHE_PUT,
    PG_CACHE_DEL,
    PG_CACHE_DROP,
    PG_CACHE_CLEAR,
    PG_CACHE_GC,
    PG_CACHE_COUNTS,
    PG_COUNTER_ADD,
    PG_COUNTER_RESET,
    PG_SUBMIT_LOCK,
    PG_REC_DEDUP,
    PG_JOB_INSERT,
    PG_JOB_NEWEST,
    PG_JOB_GET,
    PG_JOB_LOCK,
    PG_JOB_PICK,
    PG_JOB_NEXT,
    PG_JOB_CLAIM,
    PG_JOB_SET,
    PG_JOB_HEARTBEAT,
    PG_JOB_COUNTS,
    PG_JOB_CHUNK_COUNTS,
    PG_JOB_SET_CHUNKS,
    PG_JOB_EXISTS,
    PG_NOTIFY,
    PG_CHUNK_STATE,
    PG_CHUNK_UPSERT,
    PG_CHUNKS,
    PG_CHUNKS_RESULTS,
    PG_CHUNKS_DROP_RESULTS,
    PG_CHUNKS_RESET_FAILED,
    PG_USER_INSERT,
    PG_USER_BY_ID,
    PG_USER_BY_NAME,
    PG_KEY_INSERT,
    PG_KEY_BY_DIGEST,
    PG_KEY_LIST,
    PG_KEY_LIST_USER,
    PG_KEY_REVOKE,
    PG_KEY_EXISTS,
    PG_KEY_COUNT_ACTIVE,
    PG_AUDIT_INSERT,
    PG_AUDIT_LIST,
    PG_SETTING_GET,
    PG_SETTING_PUT,
    PG_SETTING_DEL,
    PG_TEXT_PUT,
    PG_TEXT_GET,
    PG_TEXT_DEL,
    PG_TEXT_DELETE_REC,
    PG_GC_DEL_TEXTS,
    PG_REC_LOCK,
    PG_S_COUNT
};

/* The NOTIFY channel that wakes idle runners. */
#define PG_CHANNEL "hark_jobs"

/* One pooled connection. */
typedef struct pgconn {
    PGconn *db;
    unsigned char prepared[PG_S_COUNT]; /* statement i is prepared on this connection */
    int in_tx;                          /* a transaction is open */
    struct pgconn *next;                /* idle list link */
} pgconn;

/* The backend's context: one per open store. */
typedef struct pgs {
    char *conninfo;     /* the URI, as given to libpq */
    char *name;         /* the URI without its password, for messages */
    int read_only;      /* writes refused */
    pthread_mutex_t mu; /* guards idle, n_open */
    pthread_cond_t cv;  /* a connection became idle */
    pgconn *idle;       /* idle connections */
    unsigned n_open;    /* connections open (idle or in use) */
    unsigned max_open;  /* limit of n_open */
    unsigned down;      /* connections failed in a row (the server unreachable); under mu */
    /* LISTEN connection of hark_store_job_wait, used under lmu by one waiter at a time */
    pthread_mutex_t lmu;
    PGconn *listener;
    int waiting; /* a thread is in job_wait */
} pgs;

/* Parameters of one statement, in text format (bytea in binary). */
#define PG_MAX_PARAMS 16
typedef struct pgp {
    int n;
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    int fmt[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][32];
} pgp;

void hark__pgp_int(pgp *p, int64_t v);
void hark__pgp_text(pgp *p, const char *v); /* NULL = SQL NULL */
void hark__pgp_double(pgp *p, double v);
void hark__pgp_bytes(pgp *p, const void *v, size_t len); /* NULL = SQL NULL */

/* Columns of a text-format result. */
static inline const char *pg_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
static inline int64_t pg_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}
static inline double pg_f64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0.0 : strtod(PQgetvalue(r, row, col), NULL);
}
/* Decode a bytea column (hex text format) into `out` (cleared first); NULL -> empty. */
int hark__pg_bytea(const PGresult *r, int row, int col, hark_buf *out);

/* Map a failed result (or a connection failure when r is NULL) onto a hark code with a message. */
int hark__pg_err(const pgs *s, pgconn *c, const PGresult *r, const char *what);

/* A new connection to the store's database, outside the pool (notices silenced). */
int hark__pg_connect(const pgs *s, PGconn **out, const char *what);

/* A connection from the pool (opened on demand). */
int hark__pg_acquire(pgs *s, pgconn **out, const char *what);
void hark__pg_release(pgs *s, pgconn *c);
/*
 * Take a connection and open a transaction: write (checks read-only),
 * or a read snapshot (REPEATABLE READ READ ONLY) when snapshot is set.
 */
int hark__pg_begin(pgs *s, pgconn **out, int write, int snapshot, const char *what);
/* Commit (rc == 0) or roll back, release the connection; returns the outcome. */
int hark__pg_end(pgs *s, pgconn *c, int rc, const char *what);
/*
 * Run prepared statement `id` with `p` (may be NULL). Returns the result
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK; the caller PQclear()s it) or NULL
 * with the error in *rc. Outside a transaction, a statement that fails
 * because the connection dropped is retried once on a new connection.
 */
PGresult *hark__pg_run(pgs *s, pgconn *c, int id, const pgp *p, int *rc, const char *what);
/* hark__pg_run for statements whose rows are not needed: 0 or < 0; *changed = rows affected. */
int hark__pg_exec(pgs *s, pgconn *c, int id, const pgp *p, uint64_t *changed, const char *what);

/* Insert a recording on c, inside a transaction (store_pg.c); *id = its id. */
int hark__pg_rec_insert(pgs *s, pgconn *c, const hark_recording *rec, int64_t *id,
                        const char *what);

/* The job queue and the rest (store_pg_jobs.c). */
int hark__pg_job_submit(void *ctx, const hark_recording *rec, const hark_job *job,
                        hark_job_submitted *out);
int hark__pg_job_get(void *ctx, int64_t id, hark_store_job_fn emit, void *payload);
int hark__pg_job_list(void *ctx, const hark_job_list_options *o, hark_store_job_fn emit,
                      void *payload);
int hark__pg_job_claim(void *ctx, const char *lease_owner, int64_t lease_ms,
                       hark_priority max_priority, int64_t now, hark_store_job_fn emit,
                       void *payload, int64_t *next_ms);
int hark__pg_job_heartbeat(void *ctx, const char *lease_owner, int64_t lease_ms, int64_t now,
                           unsigned *n);
int hark__pg_job_end(void *ctx, int64_t id, const char *lease_owner, hark_job_state state,
                     int release, int64_t not_before_ms, const char *error, int64_t now);
int hark__pg_job_cancel(void *ctx, int64_t id, int64_t now);
int hark__pg_job_retry(void *ctx, int64_t id, int64_t now);
int hark__pg_job_counts(void *ctx, hark_job_counts *out);
int hark__pg_job_chunk_put(void *ctx, int64_t job, const hark_job_chunk *c, int64_t now);
int hark__pg_job_set_chunks(void *ctx, int64_t job, uint32_t total, int final, int64_t now);
int hark__pg_job_chunks(void *ctx, int64_t job, int with_results, hark_store_chunk_fn emit,
                        void *payload);
int hark__pg_job_wait(void *ctx, int cancel_fd, int64_t timeout_ms);
void hark__pg_listener_close(pgs *s);
int hark__pg_user_create(void *ctx, const char *name, int64_t created_ms, int64_t *id_out);
int hark__pg_user_get(void *ctx, int64_t id, const char *name, hark_store_user_fn emit,
                      void *payload);
int hark__pg_key_create(void *ctx, int64_t user, const char *name, int admin,
                        const uint8_t digest[32], const char *prefix, int64_t created_ms,
                        int64_t *id_out);
int hark__pg_key_lookup(void *ctx, const uint8_t digest[32], hark_store_key_fn emit, void *payload);
int hark__pg_key_list(void *ctx, int64_t user, hark_store_key_fn emit, void *payload);
int hark__pg_key_revoke(void *ctx, int64_t id, int64_t now);
int hark__pg_key_count_active(void *ctx, uint64_t *out);
int hark__pg_audit_add(void *ctx, int64_t ts_ms, int64_t user, int64_t key, const char *action,
                       const char *detail);
int hark__pg_audit_list(void *ctx, int64_t before, size_t limit, hark_store_audit_fn emit,
                        void *payload);
int hark__pg_setting_get(void *ctx, const char *name, hark_buf *out);
int hark__pg_setting_set(void *ctx, const char *name, const char *value, int64_t now);

/* Derived texts and the jobs that make them (store_pg_texts.c). */
int hark__pg_job_add(void *ctx, const hark_job *job, int64_t *id_out);
int hark__pg_text_put(void *ctx, int64_t recording, const char *kind, const char *text,
                      const char *meta, int64_t now);
int hark__pg_text_get(void *ctx, int64_t recording, const char *kind, hark_buf *text,
                      hark_buf *meta, int64_t *updated_ms);

#endif
