/*
 * hark/store.h: the persistent store of recordings, their transcripts, the
 * job queue and the result cache, with full-text search.
 *
 *     hark_store *db = NULL;
 *     hark_recording rec = HARK_RECORDING_INIT;
 *     hark_search_result *res = NULL;
 *     int64_t id;
 *
 *     if (hark_store_open(&db, NULL) < 0)          // $XDG_DATA_HOME/hark/hark.db
 *         goto out;
 *     rec.title = "Inaugural address";
 *     rec.source = "jfk.wav";
 *     if (hark_store_recording_create(db, &rec, &id) < 0 ||
 *         hark_store_segments_put(db, id, transcript, 0, hark_transcript_count(transcript), 0) < 0)
 *         goto out;
 *     if (hark_store_search(db, "\"fellow americans\"", NULL, &res) < 0)
 *         goto out;
 *     for (size_t i = 0; i < res->n; i++)
 *         printf("%lld @%lld ms: %s\n", (long long)res->hits[i].recording,
 *                (long long)res->hits[i].start_ms, res->hits[i].snippet);
 * out:
 *     hark_search_result_free(res);
 *     hark_store_free(db);
 *
 * A store is opened from a URI: a file path or "sqlite:PATH" for the
 * embedded SQLite backend (later "postgresql://..." for a shared server).
 * Callers never see which backend they talk to; backends implement
 * hark/sys/store.h.
 *
 * Times: transcripts carry times in samples at 16 kHz; the store keeps
 * milliseconds (samples / 16, rounded to the nearest ms, halves up) and hands
 * transcripts back with times of ms * 16 samples. Wall-clock times
 * (`created_ms`, cut-offs) are milliseconds since the Unix epoch, UTC.
 *
 * Threading: a hark_store is thread-safe. Any number of threads may call any
 * function on one handle at once; reads run concurrently with each other and
 * with one writer (the SQLite backend keeps one write connection behind a
 * mutex and a small pool of read connections; see its file comment). Several
 * processes may open the same store. Do not use a handle across fork(): open
 * a new one in the child.
 *
 * Durability: when a writing function returns 0 its change is committed and
 * survives the process being killed (SQLite: WAL with synchronous=NORMAL; a
 * power cut may lose the last commits but never corrupts the file). Each
 * writing function is one transaction: it happens completely or not at all.
 */
#ifndef HARK_STORE_H
#define HARK_STORE_H

#include "common.h"
#include "transcript.h"

HARK_BEGIN_DECL

typedef struct hark_store hark_store;

/* ---- opening ---------------------------------------------------------------------------- */

/** Options for hark_store_open_ext; initialise with HARK_STORE_OPTIONS_INIT. */
typedef struct hark_store_options {
    unsigned version;         /**< HARK_STORE_OPTIONS_VERSION */
    int read_only;            /**< open for reading only; writes fail with HARK_EREADONLY */
    int no_create;            /**< fail with HARK_ENOTFOUND instead of creating a missing store */
    unsigned readers;         /**< concurrent read connections, 0 = default (4) */
    unsigned busy_timeout_ms; /**< wait this long for another writer, 0 = default (5000) */
} hark_store_options;

#define HARK_STORE_OPTIONS_VERSION 1
#define HARK_STORE_OPTIONS_INIT                                                                    \
    {                                                                                              \
        HARK_STORE_OPTIONS_VERSION, 0, 0, 0, 0                                                     \
    }

/**
 * Open (creating if needed) the store at `uri` and bring its schema up to
 * date (forward-only migrations, applied in one transaction).
 *
 * `uri` is "sqlite:PATH", "sqlite:///ABSOLUTE/PATH", a plain file path
 * (SQLite), "sqlite::memory:" (a private in-memory store, for tests) or a
 * libpq URI "postgresql://[user[:password]@][host][:port]/dbname[?param=...]"
 * ("postgres://" too) for a store shared by many processes and machines.
 * `readers` is then the size of the handle's connection pool (+1). NULL opens the default store
 * (hark_store_default_path). Missing folders on the way to a new SQLite file
 * are created (mode 0700) unless `no_create` is set.
 *
 * A database file the process may not write is opened read-only: reads work,
 * writes fail with HARK_EREADONLY. (SQLite needs to create its -wal and -shm
 * files next to the database: in a folder the process may not write either,
 * opening fails with HARK_EREADONLY and a message saying so.)
 *
 * @param[out] out owned by the caller; free with hark_store_free.
 * @return 0; HARK_ENOTFOUND (missing store with no_create),
 *   HARK_EUNSUPPORTED (unknown URI scheme), HARK_ECORRUPT (not a hark store,
 *   damaged file), HARK_EVERSION (written by a newer hark), HARK_EREADONLY
 *   (read-only and too old to be read without migrating), HARK_EBUSY,
 *   HARK_EIO, HARK_ENOMEM.
 */
HARK_API int hark_store_open(hark_store **out, const char *uri);

/** hark_store_open with options (NULL = defaults). */
HARK_API int hark_store_open_ext(hark_store **out, const char *uri, const hark_store_options *opts);

/**
 * Bring the schema of the store at `uri` up to date, creating it in an
 * empty database; idempotent (`hark db migrate`). SQLite stores are migrated
 * by hark_store_open anyway; a PostgreSQL store is shared by many processes,
 * so opening one only creates a schema in an empty database and refuses an
 * older schema (HARK_EVERSION) until this is run.
 * @param[out] from schema version before (may be NULL; 0 = empty, -1 = not reported)
 * @param[out] to schema version after (may be NULL; -1 = not reported)
 * @return 0, HARK_EVERSION (the schema is newer than this hark), HARK_EUNSUPPORTED,
 *   HARK_EIO (cannot connect), HARK_EREADONLY, ...
 */
HARK_API int hark_store_migrate(const char *uri, int *from, int *to);

/** Close the store. Every other call on it must have returned. NULL is ok. */
HARK_API void hark_store_free(hark_store *s);

/** The backend's name, "sqlite" (borrowed). */
HARK_API const char *hark_store_backend(const hark_store *s);

/** The URI the store was opened with, after defaults were applied (borrowed). */
HARK_API const char *hark_store_uri(const hark_store *s);

/** Whether writes are refused (opened read-only, or the file is not writable). */
HARK_API int hark_store_is_read_only(const hark_store *s);

/**
 * Path of the default store: $XDG_DATA_HOME/hark/hark.db, else
 * $HOME/.local/share/hark/hark.db (relative XDG values are ignored, as the
 * XDG spec asks). Nothing is created.
 * @param[out] out the path is appended; the caller disposes.
 * @return 0, HARK_ENOTFOUND (neither variable is set), HARK_ENOMEM.
 */
HARK_API int hark_store_default_path(hark_buf *out);

/* ---- recordings -------------------------------------------------------------------------- */

/** Where a recording is in its life. */
typedef enum hark_recording_status {
    HARK_STATUS_PENDING = 0, /**< created, transcription not started */
    HARK_STATUS_RUNNING,     /**< being transcribed; segments arrive chunk by chunk */
    HARK_STATUS_DONE,        /**< transcript complete */
    HARK_STATUS_FAILED,      /**< transcription failed; segments may be partial */
    HARK_STATUS_CANCELED,    /**< transcription canceled; segments may be partial */
    HARK_STATUS_COUNT
} hark_recording_status;

/** "pending", "running", "done", "failed", "canceled" (static), or "unknown". */
HARK_API const char *hark_recording_status_name(hark_recording_status status);

/** Parse a status name. @return 0 or HARK_EINVAL. */
HARK_API int hark_recording_status_parse(hark_recording_status *out, const char *name);

/**
 * A recording: one piece of audio and the metadata of its transcription.
 *
 * As input (create, update) the strings are borrowed from the caller for the
 * duration of the call; NULL means "none". As output (get, list, find) the
 * struct and its strings belong to whoever received it (free with
 * hark_recording_free, or with the list) and absent strings are NULL.
 */
typedef struct hark_recording {
    unsigned version;             /**< HARK_RECORDING_VERSION */
    int64_t id;                   /**< assigned by the store, > 0; ignored by create */
    const char *title;            /**< display title */
    const char *source;           /**< where the audio came from: file name, URL, "mic" */
    const char *content_hash;     /**< lower-case hex SHA-256 of the audio; also its cache group */
    int64_t duration_ms;          /**< length of the audio in ms, 0 = unknown */
    const char *engine;           /**< engine name, "whisper" */
    const char *model;            /**< model name or identity */
    const char *options;          /**< decode options, a JSON object text */
    const char *language;         /**< language code, "en" */
    hark_recording_status status; /**< see hark_recording_status */
    int64_t created_ms;           /**< Unix ms; create: 0 = now; never changed afterwards */
    int64_t updated_ms;           /**< Unix ms of the last change; set by the store */
    const char *audio_path;       /**< archived copy of the audio, NULL = none */
    int64_t n_segments;           /**< segments stored; maintained by the store (read-only) */
    int64_t owner;                /**< user id (hark/auth.h) it belongs to, 0 = none (local use);
                                       never changed after create */
} hark_recording;

#define HARK_RECORDING_VERSION 1
#define HARK_RECORDING_INIT                                                                        \
    {                                                                                              \
        HARK_RECORDING_VERSION, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL,                    \
            HARK_STATUS_PENDING, 0, 0, NULL, 0, 0                                                  \
    }

/** Free a recording handed out by the store. NULL is ok. */
HARK_API void hark_recording_free(hark_recording *rec);

/**
 * Add a recording. `rec->id`, `updated_ms` and `n_segments` are ignored.
 * @param[out] id_out the new id (may be NULL). Ids are never reused.
 * @return 0, HARK_EINVAL (bad status), HARK_EREADONLY, HARK_ENOSPC, HARK_EBUSY, ...
 */
HARK_API int hark_store_recording_create(hark_store *s, const hark_recording *rec, int64_t *id_out);

/**
 * Replace every field of recording `rec->id` with `rec`'s, except `created_ms`,
 * `owner` (set once, by create or hark_store_job_submit) and `n_segments`;
 * sets `updated_ms`.
 * @return 0, HARK_ENOTFOUND (no such recording), HARK_EINVAL, HARK_EREADONLY, ...
 */
HARK_API int hark_store_recording_update(hark_store *s, const hark_recording *rec);

/** Change only the status of recording `id`. @return 0, HARK_ENOTFOUND, ... */
HARK_API int hark_store_recording_set_status(hark_store *s, int64_t id,
                                             hark_recording_status status);

/**
 * Fetch recording `id`.
 * @param[out] out owned by the caller; free with hark_recording_free.
 * @return 0, HARK_ENOTFOUND ("store: no recording 42").
 */
HARK_API int hark_store_recording_get(hark_store *s, int64_t id, hark_recording **out);

/**
 * The newest recording of owner `owner` (0 = recordings of no owner, i.e.
 * local use; -1 = any owner) of the audio `content_hash` transcribed with the
 * given engine, model and options (each NULL = any value). Strings compare
 * exactly.
 * @param[out] out owned by the caller; free with hark_recording_free.
 * @return 0, HARK_ENOTFOUND.
 */
HARK_API int hark_store_recording_find(hark_store *s, int64_t owner, const char *content_hash,
                                       const char *engine, const char *model, const char *options,
                                       hark_recording **out);

/** Options for hark_store_recording_list; initialise with HARK_LIST_OPTIONS_INIT. */
typedef struct hark_list_options {
    unsigned version;     /**< HARK_LIST_OPTIONS_VERSION */
    size_t limit;         /**< page size, 0 = default (20); at most 1000 */
    int64_t after;        /**< keyset cursor: the id of the last recording of the previous page;
                               0 = first page */
    int64_t owner;        /**< only this owner's recordings, 0 = everyone's */
    int status;           /**< only recordings in this hark_recording_status, -1 = any */
    int64_t created_from; /**< only recordings created at or after (Unix ms), 0 = no bound */
    int64_t created_to;   /**< only recordings created before (Unix ms), 0 = no bound */
} hark_list_options;

#define HARK_LIST_OPTIONS_VERSION 1
#define HARK_LIST_OPTIONS_INIT                                                                     \
    {                                                                                              \
        HARK_LIST_OPTIONS_VERSION, 0, 0, 0, -1, 0, 0                                               \
    }

/** One page of recordings. */
typedef struct hark_recording_list {
    size_t n;              /**< recordings on this page */
    hark_recording *items; /**< n recordings, newest first (created_ms, then id, descending) */
    int more;              /**< another page follows; pass items[n-1].id as `after` */
} hark_recording_list;

/**
 * List recordings newest first, one page at a time. Pages are stable while
 * recordings are added: a page starts right after the cursor recording.
 * @param opts NULL = first page of 20.
 * @param[out] out owned by the caller; free with hark_recording_list_free.
 * @return 0, HARK_ENOTFOUND (the cursor recording no longer exists), HARK_EINVAL.
 */
HARK_API int hark_store_recording_list(hark_store *s, const hark_list_options *opts,
                                       hark_recording_list **out);

/** Free a list. NULL is ok. */
HARK_API void hark_recording_list_free(hark_recording_list *list);

/**
 * Delete recording `id` with its segments, its search index entries, its jobs
 * (and their chunks) and the cache entries of its audio (group
 * `content_hash`) held in this store. Files are not touched: the archived
 * audio (`audio_path`) is for the caller to remove, as are cache entries in a
 * separate cache store (hark_cache_drop_group).
 * @param[out] deleted if not NULL, receives the deleted recording (owned by the
 *   caller; free with hark_recording_free), which names its audio_path and
 *   content_hash.
 * @return 0, HARK_ENOTFOUND, HARK_EREADONLY, ...
 */
HARK_API int hark_store_recording_delete(hark_store *s, int64_t id, hark_recording **deleted);

/**
 * How many recordings name `audio_path` as their archived audio (uploaded
 * audio is stored once per content and may be shared by several recordings:
 * delete the file only when no recording refers to it any more).
 */
HARK_API int hark_store_audio_refs(hark_store *s, const char *audio_path, uint64_t *out);

/* ---- segments and transcripts ------------------------------------------------------------- */

/**
 * Store segments t[first .. first+count) of a transcript as segments
 * first_seq, first_seq+1, ... of recording `recording`, in one transaction.
 * A segment whose (recording, seq) already exists is replaced (upsert), so
 * writing the same chunk twice (a retry) never duplicates anything; the search
 * index follows. Times are converted to ms; words are kept (text, times,
 * confidence); tokens and the Whisper-specific floats are not.
 * @return 0, HARK_ENOTFOUND (no such recording), HARK_EINVAL (slice out of
 *   range, negative seq), HARK_EREADONLY, HARK_ENOSPC, HARK_EBUSY, ...
 */
HARK_API int hark_store_segments_put(hark_store *s, int64_t recording, const hark_transcript *t,
                                     size_t first, size_t count, int64_t first_seq);

/**
 * Delete the segments of `recording` with seq >= from_seq (0 = all), e.g.
 * before storing a new, shorter transcript of the same recording.
 * @return 0, HARK_ENOTFOUND (no such recording), ...
 */
HARK_API int hark_store_segments_truncate(hark_store *s, int64_t recording, int64_t from_seq);

/**
 * The stored transcript of `recording`: its segments in seq order (times in
 * samples = ms * 16, words included), duration, and metadata "engine",
 * "model", "language", "source" and "options" from the recording. Recording
 * and segments are read from one snapshot: a concurrent writer's batch is
 * seen completely or not at all.
 * @param[out] out owned by the caller; free with hark_transcript_free.
 * @return 0, HARK_ENOTFOUND, HARK_ECORRUPT (undecodable word data), ...
 */
HARK_API int hark_store_transcript_get(hark_store *s, int64_t recording, hark_transcript **out);

/* ---- derived texts -------------------------------------------------------------------------- */

/*
 * Texts made from a recording after its transcript: kind "summary" (a
 * chat-completions model's summary, hark/summary.h) and kind "translation"
 * (the engine's English translation). One text per recording and kind; a new
 * one replaces the old; they go with the recording when it is deleted.
 * `meta` is a JSON object text describing how it was made (model, requests).
 */

/**
 * Store (text != NULL) or remove (NULL) text `kind` ([a-z_], 1..32 bytes) of
 * `recording`. @return 0, HARK_ENOTFOUND (no such recording), HARK_EINVAL
 * (bad kind, meta not a JSON object), HARK_EREADONLY, ...
 */
HARK_API int hark_store_text_put(hark_store *s, int64_t recording, const char *kind,
                                 const char *text, const char *meta);

/**
 * Append text `kind` of `recording` to `text` and its meta (the empty string
 * when none) to `meta` (may be NULL); *updated_ms (may be NULL) = Unix ms it
 * was stored. @return 0, HARK_ENOTFOUND (no such text; no message), ...
 */
HARK_API int hark_store_text_get(hark_store *s, int64_t recording, const char *kind, hark_buf *text,
                                 hark_buf *meta, int64_t *updated_ms);

/* ---- search ------------------------------------------------------------------------------- */

/** Options for hark_store_search; initialise with HARK_SEARCH_OPTIONS_INIT. */
typedef struct hark_search_options {
    unsigned version;       /**< HARK_SEARCH_OPTIONS_VERSION */
    size_t limit;           /**< hits per page, 0 = default (20); at most 1000 */
    size_t offset;          /**< hits to skip (pagination) */
    int64_t recording;      /**< only this recording, 0 = all */
    int64_t created_from;   /**< only recordings created at or after (Unix ms), 0 = no bound */
    int64_t created_to;     /**< only recordings created before (Unix ms), 0 = no bound */
    const char *hl_open;    /**< inserted before each matched word of a snippet, NULL = "[" */
    const char *hl_close;   /**< inserted after each matched word, NULL = "]" */
    const char *ellipsis;   /**< marks text cut from a snippet, NULL = "..." */
    unsigned snippet_words; /**< words per snippet, 0 = default (12); at most 64 */
    /**
     * Ranking window: when more segments match, only the newest max_ranked of
     * them are ranked (and paged through), which bounds the cost of a query
     * for a very common word. 0 = default (2000); SIZE_MAX = rank every match.
     */
    size_t max_ranked;
    int64_t owner; /**< only recordings of this owner, 0 = everyone's */
} hark_search_options;

#define HARK_SEARCH_OPTIONS_VERSION 1
#define HARK_SEARCH_OPTIONS_INIT                                                                   \
    {                                                                                              \
        HARK_SEARCH_OPTIONS_VERSION, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0                      \
    }

/** One search hit: a segment. Strings belong to the result. */
typedef struct hark_search_hit {
    int64_t recording;   /**< recording id */
    const char *title;   /**< the recording's title ("" if none) */
    int64_t created_ms;  /**< the recording's creation time, Unix ms */
    int64_t seq;         /**< segment number within the recording */
    int64_t start_ms;    /**< segment start, ms from the start of the recording */
    int64_t end_ms;      /**< segment end, ms */
    const char *text;    /**< the whole segment text */
    const char *snippet; /**< the best-matching words with highlight markers */
    double score;        /**< relevance (BM25), higher is better; comparable within one result */
} hark_search_hit;

/** One page of hits, best first. */
typedef struct hark_search_result {
    size_t n;              /**< hits on this page */
    hark_search_hit *hits; /**< n hits */
    int more;              /**< another page follows (offset + n) */
    int windowed;          /**< more than max_ranked segments matched: the hits are the best
                                of the newest max_ranked matches (older ones were not ranked) */
} hark_search_result;

/**
 * Full-text search over every stored segment, ranked by BM25 (within the
 * ranking window, see max_ranked).
 *
 * Query grammar (what users type):
 *   - words: fellow americans    segments containing every word, in any order
 *   - phrases: "fellow americans"    the words next to each other, in order
 *   - prefixes: americ*  and  "fellow americ"*    words starting with americ
 *   - operators, in capitals: a OR b, a AND b, a NOT b, and ( ) for grouping;
 *     NOT binds tightest, then AND (also implied between terms), then OR.
 *     Lower-case and/or/not are ordinary words; quote "OR" to search for it.
 *   - anything else is plain text: punctuation inside a word is treated the
 *     way the indexer treats it (don't, U.S.A., e-mail), case and accents do
 *     not matter (café matches cafe). Nothing typed is passed to the backend
 *     as raw query syntax.
 * @param opts NULL = defaults.
 * @param[out] out owned by the caller; free with hark_search_result_free.
 * @return 0 (possibly with no hits); HARK_ESYNTAX with a message such as
 *   'search: unterminated phrase in "fellow americans' or 'search: OR needs a
 *   term on each side in "a OR"'; HARK_ETOOBIG (query over 4 KiB or 256 terms).
 */
HARK_API int hark_store_search(hark_store *s, const char *query, const hark_search_options *opts,
                               hark_search_result **out);

/** Free a search result. NULL is ok. */
HARK_API void hark_search_result_free(hark_search_result *res);

/* ---- maintenance -------------------------------------------------------------------------- */

/** Options for hark_store_gc; initialise with HARK_GC_OPTIONS_INIT. */
typedef struct hark_gc_options {
    unsigned version;      /**< HARK_GC_OPTIONS_VERSION */
    int64_t older_than_ms; /**< cut-off, Unix ms: see hark_store_gc */
    int dry_run;           /**< count what would go, change nothing */
    /**
     * Called once per removed recording that has an archived audio file, after
     * the removal is committed, with that file's path (borrowed for the call).
     * Typically unlinks it. A non-zero return stops the calls (the removal
     * stands) and is returned by hark_store_gc. May be NULL. Not called on a
     * dry run.
     */
    int (*audio)(const char *path, void *payload);
    void *payload; /**< passed to `audio` */
} hark_gc_options;

#define HARK_GC_OPTIONS_VERSION 1
#define HARK_GC_OPTIONS_INIT                                                                       \
    {                                                                                              \
        HARK_GC_OPTIONS_VERSION, 0, 0, NULL, NULL                                                  \
    }

/** What a gc removed (or would remove, on a dry run). */
typedef struct hark_gc_result {
    uint64_t recordings;    /**< recordings removed */
    uint64_t segments;      /**< their segments */
    uint64_t cache_entries; /**< cache entries removed */
    uint64_t jobs;          /**< jobs removed */
} hark_gc_result;

/**
 * Retention: in one transaction, remove every recording created before
 * `older_than_ms` (with its segments, index entries and jobs, and the cache
 * entries of its audio), every cache entry last used before the cut-off, and
 * finished (done, dead, canceled) jobs last updated before it, with their
 * chunks. Archived audio files are not removed by the store: the `audio`
 * callback receives their paths. The file shrinks only as space is reused (no VACUUM).
 * @param[out] out counts (may be NULL).
 * @return 0, the callback's non-zero value, HARK_EREADONLY, ...
 */
HARK_API int hark_store_gc(hark_store *s, const hark_gc_options *opts, hark_gc_result *out);

/** Sizes of a store. */
typedef struct hark_store_stats {
    uint64_t recordings;    /**< recordings */
    uint64_t segments;      /**< segments */
    uint64_t jobs;          /**< jobs in any state */
    uint64_t cache_entries; /**< result-cache entries held in this store */
    uint64_t cache_bytes;   /**< bytes of their values */
    uint64_t db_bytes;      /**< size of the database on disk (SQLite: file + WAL), bytes */
} hark_store_stats;

/** Count what the store holds. @return 0, ... */
HARK_API int hark_store_stats_get(hark_store *s, hark_store_stats *out);

/**
 * Verify the store's integrity (SQLite: PRAGMA integrity_check, foreign keys
 * and the search index against the segments).
 * @return 0, HARK_ECORRUPT with the first problem found, ...
 */
HARK_API int hark_store_check(hark_store *s);

HARK_END_DECL

#endif
