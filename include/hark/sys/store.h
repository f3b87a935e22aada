/*
 * hark/sys/store.h: the interface for people writing storage backends.
 *
 * A backend is a table of functions plus one opaque context per open store.
 * The library (src/store/store.c) does everything that must behave the same
 * on every backend: URI dispatch, argument checks, the samples <-> ms
 * conversion, the encoding of per-word data, parsing the user's search query,
 * and assembling results. A backend only moves rows in and out of its
 * database, so adding one means adding one file.
 *
 * Rules for every operation:
 *   - Return 0 or a negative HARK_E* code with a message set through
 *     hark_error_set(), naming the store and the reason
 *     ("hark.db: put segments: disk full"). Map the database's errors onto
 *     HARK_EBUSY, HARK_ENOSPC, HARK_EREADONLY, HARK_ECORRUPT, HARK_ENOTFOUND;
 *     never leave a raw SQL error text as the only information.
 *   - Every writing operation is one transaction and is durable when it
 *     returns 0.
 *   - Every operation may be called from several threads at once on the same
 *     context: the backend does its own locking.
 *   - Callbacks (`emit`) receive borrowed data valid for the call only; a
 *     non-zero return stops the operation, which then returns that value.
 *   - Times are ms; wall-clock times are Unix ms.
 * Optional operations may be NULL; the library then returns HARK_EUNSUPPORTED.
 */
#ifndef HARK_SYS_STORE_H
#define HARK_SYS_STORE_H

#include "../common.h"
#include "../store.h"

HARK_BEGIN_DECL

#define HARK_STORE_API_VERSION 1

/** A segment row as backends store it. Strings and bytes are borrowed. */
typedef struct hark_store_row {
    int64_t seq;       /**< position within the recording, >= 0 */
    int64_t start_ms;  /**< ms from the start of the recording */
    int64_t end_ms;    /**< ms, >= start_ms */
    const char *text;  /**< UTF-8 */
    float confidence;  /**< in [0, 1] */
    const void *words; /**< per-word data in hark's word encoding (opaque to backends) */
    size_t words_len;  /**< bytes of `words`, 0 = none */
} hark_store_row;

/** Kinds of item of a parsed search query. */
typedef enum hark_query_op {
    HARK_QUERY_TERM = 0, /**< a word, phrase or prefix to match */
    HARK_QUERY_AND,      /**< both sides */
    HARK_QUERY_OR,       /**< either side */
    HARK_QUERY_NOT,      /**< the left side but not the right side (binary) */
    HARK_QUERY_OPEN,     /**< ( */
    HARK_QUERY_CLOSE     /**< ) */
} hark_query_op;

/** One item of a parsed search query. */
typedef struct hark_query_item {
    hark_query_op op; /**< what the item is */
    const char *text; /**< TERM: the words as typed, without quotes; never contains '"' */
    int phrase;       /**< TERM: was quoted */
    int prefix;       /**< TERM: its last word is a prefix ("americ*") */
} hark_query_item;

/**
 * A search query parsed and checked by the library: a well-formed infix
 * expression of TERMs, binary AND/OR/NOT (implicit ANDs made explicit) and
 * balanced parentheses. Precedence: NOT, then AND, then OR. Backends render
 * it into their own syntax (FTS5 MATCH, tsquery) with every TERM quoted.
 */
typedef struct hark_query {
    size_t n;                     /**< items */
    const hark_query_item *items; /**< n items, in order */
} hark_query;

/** Counters of the result cache kept in the store. */
typedef struct hark_store_cache_counts {
    uint64_t entries; /**< cache entries */
    uint64_t bytes;   /**< bytes of their values */
    uint64_t hits;    /**< lookups answered, all time */
    uint64_t misses;  /**< lookups not answered, all time */
} hark_store_cache_counts;

/** Options passed to a backend's open. */
typedef struct hark_store_open_args {
    const char *location;     /**< the URI without the scheme: a path for SQLite */
    const char *uri;          /**< the whole URI (for messages) */
    int read_only;            /**< from hark_store_options */
    int no_create;            /**< from hark_store_options */
    unsigned readers;         /**< read connections, > 0 */
    unsigned busy_timeout_ms; /**< > 0 */
} hark_store_open_args;

typedef int (*hark_store_recording_fn)(const hark_recording *rec, void *payload);
typedef int (*hark_store_row_fn)(const hark_store_row *row, void *payload);
typedef int (*hark_store_hit_fn)(const hark_search_hit *hit, void *payload);

/** The backend vtable. */
typedef struct hark_store_ops {
    unsigned version;           /**< HARK_STORE_API_VERSION */
    const char *name;           /**< "sqlite" */
    const char *const *schemes; /**< URI schemes served, NULL-terminated: {"sqlite", NULL} */

    /** Open the store (create and migrate as needed). @param[out] out the context. */
    int (*open)(void **out, const hark_store_open_args *args);
    void (*close)(void *ctx);
    /** Whether writes are refused. */
    int (*is_read_only)(void *ctx);

    /** Insert `rec` (status validated; created_ms already set). */
    int (*recording_create)(void *ctx, const hark_recording *rec, int64_t *id_out);
    /** Replace the fields of `rec->id` (see hark_store_recording_update); HARK_ENOTFOUND. */
    int (*recording_update)(void *ctx, const hark_recording *rec);
    int (*recording_set_status)(void *ctx, int64_t id, hark_recording_status status);
    /** Emit recording `id` once, or return HARK_ENOTFOUND. */
    int (*recording_get)(void *ctx, int64_t id, hark_store_recording_fn emit, void *payload);
    /** Emit the newest match (NULL criteria match anything), or return HARK_ENOTFOUND. */
    int (*recording_find)(void *ctx, const char *content_hash, const char *engine,
                          const char *model, const char *options, hark_store_recording_fn emit,
                          void *payload);
    /** Emit up to `limit` recordings after cursor `after` (0 = start), newest first. */
    int (*recording_list)(void *ctx, int64_t after, size_t limit, hark_store_recording_fn emit,
                          void *payload);
    /**
     * Delete recording `id`, its segments, jobs and cache entries of group
     * content_hash; emit the recording (as it was) before committing.
     */
    int (*recording_delete)(void *ctx, int64_t id, hark_store_recording_fn emit, void *payload);

    /** Upsert `n` rows of recording `recording` in one transaction; HARK_ENOTFOUND. */
    int (*segments_put)(void *ctx, int64_t recording, const hark_store_row *rows, size_t n);
    /** Delete rows with seq >= from_seq; HARK_ENOTFOUND. */
    int (*segments_truncate)(void *ctx, int64_t recording, int64_t from_seq);
    /** From one snapshot: emit the recording, then its rows in seq order; HARK_ENOTFOUND. */
    int (*transcript_get)(void *ctx, int64_t recording, hark_store_recording_fn emit_rec,
                          hark_store_row_fn emit_row, void *payload);

    /**
     * Emit up to opts->limit hits of `q` (already parsed and checked), best
     * first, skipping opts->offset; opts has every default filled in. Rank
     * only the newest opts->max_ranked matches; set *windowed when more
     * matched.
     */
    int (*search)(void *ctx, const hark_query *q, const hark_search_options *opts,
                  hark_store_hit_fn emit, void *payload, int *windowed);

    /**
     * The removal of hark_store_gc. `audio` is called after the commit with
     * each removed recording's audio_path (see hark_gc_options).
     */
    int (*gc)(void *ctx, const hark_gc_options *opts, hark_gc_result *out);
    int (*stats)(void *ctx, hark_store_stats *out);
    /** Integrity check; HARK_ECORRUPT with the first problem. Optional. */
    int (*check)(void *ctx);

    /* Result cache: key -> value, content-addressed (32-byte keys). */

    /**
     * Append the value of `key` to `value` and its group to `group`;
     * HARK_ENOTFOUND (no message needed). Refreshes its last use.
     */
    int (*cache_get)(void *ctx, const uint8_t key[32], hark_buf *value, hark_buf *group);
    /** Insert or replace `key`; durable on return. */
    int (*cache_put)(void *ctx, const uint8_t key[32], const char *group, const void *value,
                     size_t len);
    /** Remove one entry (a no-op when absent). */
    int (*cache_del)(void *ctx, const uint8_t key[32]);
    /** Remove the entries of `group` (NULL = every entry). */
    int (*cache_drop)(void *ctx, const char *group, uint64_t *removed);
    /** Remove entries last used before `before_ms`. */
    int (*cache_gc)(void *ctx, int64_t before_ms, uint64_t *removed);
    /** Add to the hit/miss counters (may be 0), then read every count. `out` may be NULL. */
    int (*cache_counts)(void *ctx, uint64_t add_hits, uint64_t add_misses,
                        hark_store_cache_counts *out);
    /** Set both counters to zero. */
    int (*cache_reset_counts)(void *ctx);
} hark_store_ops;

/**
 * Add a backend to the registry (the built-in ones are always there). `ops`
 * must stay valid for the life of the process.
 * @return 0, HARK_EEXISTS (name or scheme taken), HARK_EVERSION, HARK_EINVAL.
 */
HARK_API int hark_store_register(const hark_store_ops *ops);

/**
 * A deep copy of `src` (for backends emitting recordings they built from
 * borrowed database text). @param[out] out free with hark_recording_free.
 */
HARK_API int hark_recording_dup(hark_recording **out, const hark_recording *src);

/**
 * Record an error message for the calling thread and return `code` (also
 * declared in hark/sys/engine.h).
 */
HARK_API int hark_error_set(int code, const char *fmt, ...) HARK_PRINTF(2, 3);

HARK_END_DECL

#endif
