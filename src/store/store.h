/*
 * store.h: internals of the storage layer shared by store.c, the backends
 * and the result cache (src/cache/), which reaches the store's cache table
 * only through the functions below (no backend types, no SQL).
 */
#ifndef HARK_STORE_INTERNAL_H
#define HARK_STORE_INTERNAL_H

#include "hark/store.h"
#include "hark/sys/store.h"
#include "hark/transcript.h"
#include "../util/util.h"

/* Built-in backends. */
extern const hark_store_ops hark__store_sqlite_ops;
extern const hark_store_ops hark__store_pg_ops;

/* Wall-clock time, Unix ms. */
int64_t hark__store_now_ms(void);

/* Samples at 16 kHz -> ms, rounded to the nearest ms (halves up). */
int64_t hark__samples_to_ms(int64_t samples);

/* The backend of an open store and its context (for jobs.c and auth.c). */
const hark_store_ops *hark__store_ops(const hark_store *s, void **ctx);

/*
 * In jobs.c and auth.c: `ops` = the backend of `s` and `ctx` its context, or
 * return HARK_EUNSUPPORTED when the backend lacks operation `op`.
 */
#define HARK_STORE_NEED_OP(s, op, ops, ctx)                                                        \
    do {                                                                                           \
        (ops) = hark__store_ops((s), &(ctx));                                                      \
        if (!(ops)->op)                                                                            \
            return hark_error_set(HARK_EUNSUPPORTED, "%s: the %s backend has no %s",               \
                                  hark_store_uri(s), (ops)->name, #op);                            \
    } while (0)

/* The checks of hark_store_recording_create (status, duration, owner, version). */
int hark__store_check_recording(const hark_store *s, const hark_recording *rec);

/*
 * Whether [text, text + len) is exactly one JSON value (RFC 8259, UTF-8
 * checked, nesting at most 64 deep); with `object`, a JSON object. render.c.
 */
int hark__json_valid(const char *text, size_t len, int object);

/* ---- search query (query.c) ------------------------------------------------------------- */

#define HARK_QUERY_MAX_BYTES 4096
#define HARK_QUERY_MAX_ITEMS 256

/*
 * Parse a user's search text (grammar in hark/store.h) into a checked infix
 * expression. `out->items` and their text are allocated; release with
 * hark__query_dispose. Errors: HARK_ESYNTAX, HARK_ETOOBIG, HARK_ENOMEM, with
 * a message naming the query.
 */
int hark__query_parse(hark_query *out, const char *text);
void hark__query_dispose(hark_query *q);

/* Render a parsed query as an SQLite FTS5 MATCH expression (every term quoted). */
int hark__query_fts5(const hark_query *q, hark_buf *out);

/* Render a parsed query as a PostgreSQL to_tsquery() expression (every word quoted; store_pg.c). */
int hark__query_tsquery(const hark_query *q, hark_buf *out);

/* ---- per-word data (words.c) ------------------------------------------------------------ */

/*
 * Encode the words of a segment whose start is `seg_start_ms`: word times
 * become ms relative to it. Appends to `out`; nothing is written for n == 0.
 */
int hark__words_encode(hark_buf *out, const hark_word *words, uint32_t n, int64_t seg_start_ms);

/* Decoded words: `words` point into `text`; reused across calls. */
typedef struct hark_words_scratch {
    hark_word *words; /* n entries, capacity cap */
    uint32_t n, cap;
    char *text; /* NUL-terminated word texts, capacity text_cap bytes */
    size_t text_cap;
} hark_words_scratch;

/*
 * Decode `len` bytes produced by hark__words_encode for a segment starting at
 * `seg_start_ms`; word times come back in samples. len == 0 gives no words.
 * @return 0, HARK_ECORRUPT (malformed data), HARK_ENOMEM.
 */
int hark__words_decode(hark_words_scratch *s, const void *data, size_t len, int64_t seg_start_ms);
void hark__words_scratch_dispose(hark_words_scratch *s);

/* ---- the cache table, for src/cache/ ----------------------------------------------------- */

int hark__store_cache_get(hark_store *s, const uint8_t key[32], hark_buf *value, hark_buf *group);
int hark__store_cache_put(hark_store *s, const uint8_t key[32], const char *group,
                          const void *value, size_t len);
int hark__store_cache_del(hark_store *s, const uint8_t key[32]);
int hark__store_cache_drop(hark_store *s, const char *group, uint64_t *removed);
int hark__store_cache_gc(hark_store *s, int64_t before_ms, uint64_t *removed);
int hark__store_cache_counts(hark_store *s, uint64_t add_hits, uint64_t add_misses,
                             hark_store_cache_counts *out);
int hark__store_cache_reset_counts(hark_store *s);

/* ---- SQLite backend hooks for tests ------------------------------------------------------ */

struct sqlite3;
/* Apply migrations 1..target to `db` (forward only); `name` is used in messages. */
int hark__sqlite_migrate(struct sqlite3 *db, int target, const char *name);
/* The newest schema version this build knows. */
int hark__sqlite_schema_version(void);

/* ---- PostgreSQL backend hooks for tests ---------------------------------------------------- */

/* Bring the database at `uri` to schema version `target` (forward only). */
int hark__pg_migrate_to(const char *uri, int target);
/* The newest PostgreSQL schema version this build knows. */
int hark__pg_schema_version(void);

#endif
