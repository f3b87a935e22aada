/*
 * hark/cache.h: the result cache. Content-addressed: a 32-byte key (a
 * SHA-256 the caller computes from audio bytes, engine identity and decode
 * options) maps to a transcript.
 *
 *   L1: a bounded in-memory LRU (capacity in bytes, O(1) get and put)
 *   L2: a hark_store (optional), which makes entries persistent and shared
 *       between processes. For SQLite the cache is usually a store file of its
 *       own, hark_cache_default_path(); with PostgreSQL it lives in the main
 *       database.
 *
 *     hark_store *l2 = NULL;
 *     hark_cache *cache = NULL;
 *     hark_buf path = HARK_BUF_INIT;
 *     hark_cache_default_path(&path);
 *     hark_store_open(&l2, path.ptr);
 *     hark_cache_new(&cache, l2, 64u << 20);
 *     if (hark_cache_get(cache, key, &t) == HARK_ENOTFOUND) {
 *         ... transcribe ...
 *         hark_cache_put(cache, key, audio_hash_hex, t);
 *     }
 *     hark_cache_free(cache);  // flushes the statistics
 *     hark_store_free(l2);
 *
 * Each entry also carries a `group` (the hex hash of the recording's audio),
 * so every result derived from one recording can be dropped together, and
 * its times of creation and last use, for garbage collection.
 *
 * Durability: hark_cache_put returns after the entry is committed to L2, so
 * the results of the chunks finished before a crash (even kill -9) are found
 * again when the run is repeated.
 *
 * Threading: a hark_cache is thread-safe; the pipeline's workers share one.
 */
#ifndef HARK_CACHE_H
#define HARK_CACHE_H

#include "common.h"
#include "store.h"
#include "transcript.h"

HARK_BEGIN_DECL

typedef struct hark_cache hark_cache; /* also declared in hark/pipeline.h */

/** Length of a cache key in bytes (a SHA-256 digest). */
#define HARK_CACHE_KEY_LEN 32

/**
 * Create a cache.
 * @param l2 the persistent level, NULL = memory only. Borrowed: it must
 *   outlive the cache.
 * @param l1_bytes capacity of the in-memory level in bytes (each entry is
 *   charged its encoded size plus about 100 bytes of bookkeeping), 0 = no L1.
 * @param[out] out owned by the caller; free with hark_cache_free.
 * @return 0, HARK_ENOMEM.
 */
HARK_API int hark_cache_new(hark_cache **out, hark_store *l2, size_t l1_bytes);

/** Flush the statistics to L2 and free the cache. NULL is ok. */
HARK_API void hark_cache_free(hark_cache *cache);

/**
 * Look `key` up: L1 first, then L2 (a hit in L2 is copied into L1).
 * @param[out] out on success a new transcript owned by the caller (free with
 *   hark_transcript_free); NULL otherwise.
 * @return 0; HARK_ENOTFOUND on a miss; HARK_ECORRUPT when the stored value
 *   cannot be decoded (the entry is then removed, so the next lookup is a
 *   plain miss); errors of L2.
 */
HARK_API int hark_cache_get(hark_cache *cache, const uint8_t key[HARK_CACHE_KEY_LEN],
                            hark_transcript **out);

/**
 * Store `t` under `key` in L2 (durably) and L1, replacing any previous value.
 * Segments, words, tokens, duration and the metadata keys "engine", "model",
 * "language", "source" and "options" are kept; timings are not.
 * @param group e.g. the hex hash of the recording's audio; NULL = "".
 * @return 0, HARK_ENOMEM, errors of L2 (HARK_ENOSPC, HARK_EREADONLY...).
 */
HARK_API int hark_cache_put(hark_cache *cache, const uint8_t key[HARK_CACHE_KEY_LEN],
                            const char *group, const hark_transcript *t);

/** Cache statistics. */
typedef struct hark_cache_statistics {
    uint64_t entries;     /**< entries (in L2 when there is one, else in L1) */
    uint64_t bytes;       /**< bytes of encoded values (same level as entries) */
    uint64_t l1_entries;  /**< entries in memory */
    uint64_t l1_bytes;    /**< bytes charged against the L1 capacity */
    uint64_t l1_capacity; /**< the L1 capacity, bytes */
    uint64_t hits;        /**< lookups answered; with L2: all time, across runs */
    uint64_t misses;      /**< lookups not answered (corrupt entries count as misses) */
    uint64_t l1_hits;     /**< hits answered from memory by this cache object */
    double hit_rate;      /**< hits / (hits + misses), 0 when there were none */
} hark_cache_statistics;

/**
 * Read the statistics. Hit and miss counters are kept in memory and added to
 * L2 every 10 seconds or 1000 lookups, on hark_cache_free, and by this call,
 * so the figures returned include every lookup made so far.
 */
HARK_API int hark_cache_stats(hark_cache *cache, hark_cache_statistics *out);

/** Set the hit and miss counters to zero (in L2 too). */
HARK_API int hark_cache_stats_reset(hark_cache *cache);

/** Remove every entry from L1 and L2. The hit/miss counters are kept. */
HARK_API int hark_cache_clear(hark_cache *cache);

/**
 * Remove the entries of `group` from L1 and L2 (e.g. when a recording is
 * deleted). @param[out] removed entries removed from L2 (or L1 without L2);
 * may be NULL.
 */
HARK_API int hark_cache_drop_group(hark_cache *cache, const char *group, uint64_t *removed);

/**
 * Remove the entries last used before `older_than_ms` (Unix ms). L2 refreshes
 * an entry's last use at most once an hour. @param[out] removed may be NULL.
 */
HARK_API int hark_cache_gc(hark_cache *cache, int64_t older_than_ms, uint64_t *removed);

/**
 * Path of the default cache store: $XDG_CACHE_HOME/hark/cache.db, else
 * $HOME/.cache/hark/cache.db. Nothing is created.
 * @return 0, HARK_ENOTFOUND (neither variable is set), HARK_ENOMEM.
 */
HARK_API int hark_cache_default_path(hark_buf *out);

HARK_END_DECL

#endif
