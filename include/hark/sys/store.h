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

#include "../auth.h"
#include "../common.h"
#include "../jobs.h"
#include "../store.h"

HARK_BEGIN_DECL

/*
 * Version of hark_store_ops. 2: recording_find takes an owner, recording_list
 * takes the list options, and the job queue, user, key, audit and settings
 * operations were added (version 1 backends are refused by
 * hark_store_register: the table grew). 3: the optional job_wait and
 * migrate operations were added at the end.
 */
#define HARK_STORE_API_VERSION 3

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
typedef int (*hark_store_job_fn)(const hark_job *job, void *payload);
typedef int (*hark_store_chunk_fn)(const hark_job_chunk *chunk, void *payload);
typedef int (*hark_store_user_fn)(const hark_user *user, void *payload);
/** A key and the SHA-256 digest it was stored with (the library compares digests). */
typedef int (*hark_store_key_fn)(const hark_api_key *key, const uint8_t digest[32], void *payload);
typedef int (*hark_store_audit_fn)(const hark_audit_entry *entry, void *payload);

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
    /**
     * Emit the newest recording of `owner` (-1 = any owner) matching the
     * criteria (NULL criteria match anything), or return HARK_ENOTFOUND.
     */
    int (*recording_find)(void *ctx, int64_t owner, const char *content_hash, const char *engine,
                          const char *model, const char *options, hark_store_recording_fn emit,
                          void *payload);
    /**
     * Emit up to opts->limit recordings after cursor opts->after (0 = start),
     * newest first, that pass every filter of `opts` (checked by the library;
     * limit is the page size + 1). HARK_ENOTFOUND when the cursor recording
     * does not exist.
     */
    int (*recording_list)(void *ctx, const hark_list_options *opts, hark_store_recording_fn emit,
                          void *payload);
    /**
     * Delete recording `id`, its segments, jobs (with their chunks) and cache
     * entries of group content_hash; emit the recording (as it was) before
     * committing.
     */
    int (*recording_delete)(void *ctx, int64_t id, hark_store_recording_fn emit, void *payload);
    /** Count the recordings whose audio_path is `path`. */
    int (*audio_refs)(void *ctx, const char *path, uint64_t *out);

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

    /*
     * The job queue (hark/jobs.h). Arguments are checked and defaults filled
     * in by the library; `now_ms` is the library's wall clock, so that every
     * backend applies the same times. The state machine is the backend's to
     * enforce, atomically (one transaction per call, claims included: two
     * runners, in two processes, never claim one job).
     */

    /**
     * In one transaction: find a recording of rec->owner with the same
     * content_hash, engine, model and options (NULL compares equal to NULL)
     * when rec->content_hash is set; if found, take its newest job, or
     * create a job for it; else create the recording (rec->created_ms set)
     * and the job (job->created_ms set). Fill `out`.
     */
    int (*job_submit)(void *ctx, const hark_recording *rec, const hark_job *job,
                      hark_job_submitted *out);
    /** Emit job `id` once, or return HARK_ENOTFOUND. */
    int (*job_get)(void *ctx, int64_t id, hark_store_job_fn emit, void *payload);
    /** Emit up to opts->limit jobs (page size + 1), newest first, after opts->after. */
    int (*job_list)(void *ctx, const hark_job_list_options *opts, hark_store_job_fn emit,
                    void *payload);
    /**
     * Claim the first claimable job with priority <= max_priority (see
     * hark_store_job_claim for the order and the dead-on-expiry rule) and
     * emit it as claimed; or return HARK_ENOTFOUND (no message) with
     * *next_ms set to the earliest time a job becomes claimable, 0 = none.
     */
    int (*job_claim)(void *ctx, const char *lease_owner, int64_t lease_ms,
                     hark_priority max_priority, int64_t now_ms, hark_store_job_fn emit,
                     void *payload, int64_t *next_ms);
    /** Renew the unexpired leases of `lease_owner`; *n = jobs renewed. */
    int (*job_heartbeat)(void *ctx, const char *lease_owner, int64_t lease_ms, int64_t now_ms,
                         unsigned *n);
    /** See hark_store_job_end (state is DONE, QUEUED, DEAD or CANCELED). */
    int (*job_end)(void *ctx, int64_t id, const char *lease_owner, hark_job_state state,
                   int release, int64_t not_before_ms, const char *error, int64_t now_ms);
    int (*job_cancel)(void *ctx, int64_t id, int64_t now_ms);
    int (*job_retry)(void *ctx, int64_t id, int64_t now_ms);
    /** Fill every count (out is zeroed by the library). */
    int (*job_counts)(void *ctx, hark_job_counts *out);
    /** Upsert chunk c->index of `job` and keep the job's counters in step; HARK_ENOTFOUND. */
    int (*job_chunk_put)(void *ctx, int64_t job, const hark_job_chunk *c, int64_t now_ms);
    int (*job_set_chunks)(void *ctx, int64_t job, uint32_t total, int final, int64_t now_ms);
    /** Emit the chunks of `job` in index order (result NULL unless with_results); HARK_ENOTFOUND.
     */
    int (*job_chunks)(void *ctx, int64_t job, int with_results, hark_store_chunk_fn emit,
                      void *payload);

    /* Users, API keys, the audit log and settings (hark/auth.h). */

    /** Create user `name` (checked); HARK_EEXISTS when the name is taken. */
    int (*user_create)(void *ctx, const char *name, int64_t created_ms, int64_t *id_out);
    /** Emit the user with id `id` (name == NULL) or name `name`, or return HARK_ENOTFOUND. */
    int (*user_get)(void *ctx, int64_t id, const char *name, hark_store_user_fn emit,
                    void *payload);
    /** HARK_ENOTFOUND (no user), HARK_EEXISTS (digest taken). */
    int (*key_create)(void *ctx, int64_t user, const char *name, int admin,
                      const uint8_t digest[32], const char *prefix, int64_t created_ms,
                      int64_t *id_out);
    /**
     * Emit the key stored with `digest` (with its user's name and its stored
     * digest, which the library compares in constant time), or return
     * HARK_ENOTFOUND with no message.
     */
    int (*key_lookup)(void *ctx, const uint8_t digest[32], hark_store_key_fn emit, void *payload);
    /** Emit the keys of `user` (0 = all), oldest first. */
    int (*key_list)(void *ctx, int64_t user, hark_store_key_fn emit, void *payload);
    /** Set revoked_ms = now_ms unless already revoked; HARK_ENOTFOUND. */
    int (*key_revoke)(void *ctx, int64_t id, int64_t now_ms);
    int (*key_count_active)(void *ctx, uint64_t *out);
    int (*audit_add)(void *ctx, int64_t ts_ms, int64_t user, int64_t key, const char *action,
                     const char *detail);
    /** Emit up to `limit` entries with id < before (0 = newest), newest first. */
    int (*audit_list)(void *ctx, int64_t before, size_t limit, hark_store_audit_fn emit,
                      void *payload);
    /** Append the value to `out`, or return HARK_ENOTFOUND with no message. */
    int (*setting_get)(void *ctx, const char *name, hark_buf *out);
    /** Set (value != NULL) or remove (NULL) a setting. */
    int (*setting_set)(void *ctx, const char *name, const char *value, int64_t now_ms);

    /**
     * Optional (hark_store_job_wait). Block until the queue may have changed
     * in any process (a job submitted, requeued or retried), until
     * `timeout_ms` passed (-1 = no limit), or until `cancel_fd` (-1 = none)
     * is readable. @return 1 (the queue changed), 0 (timeout or cancel_fd),
     * HARK_EBUSY (another thread waits on this context), < 0.
     */
    int (*job_wait)(void *ctx, int cancel_fd, int64_t timeout_ms);
    /**
     * Optional (hark_store_migrate). Bring the schema of the store `args`
     * names up to date, creating it in an empty database; *from and *to get
     * the schema versions before and after. Idempotent.
     */
    int (*migrate)(const hark_store_open_args *args, int *from, int *to);

    /* Derived texts and their jobs (hark_store_job_add, hark_store_text_*). */

    /** Queue `job` for the existing recording job->recording (created_ms set); *id_out = its
     *  id; HARK_ENOTFOUND when there is no such recording. */
    int (*job_add)(void *ctx, const hark_job *job, int64_t *id_out);
    /** Set (text != NULL) or remove (NULL) text `kind` of `recording`, with `meta` (may be
     *  NULL); HARK_ENOTFOUND when there is no such recording. */
    int (*text_put)(void *ctx, int64_t recording, const char *kind, const char *text,
                    const char *meta, int64_t now_ms);
    /** Append text `kind` of `recording` to `text` and its meta to `meta` (when not NULL),
     *  set *updated_ms; or return HARK_ENOTFOUND with no message. */
    int (*text_get)(void *ctx, int64_t recording, const char *kind, hark_buf *text, hark_buf *meta,
                    int64_t *updated_ms);
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
