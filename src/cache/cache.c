/*
 * cache.c: the result cache (hark/cache.h): an in-memory LRU (L1) in front
 * of the store's cache table (L2).
 *
 * DESIGN
 * - L1 holds encoded transcripts (serialize.c), so an entry's size is exact
 *   and a hit returns a fresh transcript the caller owns. Entries sit in a
 *   chained hash table keyed by the first 8 bytes of the key (a SHA-256, so
 *   already uniform) and on a doubly linked recency list (head = most
 *   recent). get, put and eviction are O(1); the table doubles when it holds
 *   more entries than buckets.
 * - One mutex guards L1 and the counters. Decoding happens outside the lock:
 *   a reader takes a reference on the entry, so an entry evicted meanwhile
 *   stays alive until its last reader drops it (`refs`; the table holds one).
 * - L2 calls are made without the mutex held (the store is thread-safe), so
 *   workers do not queue behind each other's disk I/O.
 * - Hit/miss counters are counted in memory and added to the store's
 *   counters in batches (every FLUSH_EVERY lookups or FLUSH_MS, on stats and
 *   on free): never one write per lookup.
 *
 * INVARIANTS
 * - l1_bytes == sum of charge(e) over entries in the table, <= l1_cap.
 * - An entry is in the table iff it is on the recency list; `refs` counts the
 *   table's reference plus readers decoding it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "../store/store.h"

#define ENTRY_OVERHEAD 96      /* bytes charged per entry on top of its value */
#define FLUSH_EVERY    1000    /* lookups */
#define FLUSH_MS       10000.0 /* ms */

typedef struct entry {
    uint8_t key[HARK_CACHE_KEY_LEN];
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* recency list, head = most recently used */
    size_t len;                /* bytes of the encoded value */
    char *group;               /* points into the same allocation, after the value */
    int64_t used_ms;           /* last use, Unix ms (for gc) */
    unsigned refs;             /* 1 for the table + readers decoding it */
    uint8_t data[];            /* len bytes of value, then the group, NUL-terminated */
} entry;

struct hark_cache {
    hark_store *l2;     /* persistent level, NULL = none (borrowed) */
    pthread_mutex_t mu; /* guards everything below */
    entry **buckets;    /* n_buckets chains (power of two) */
    size_t n_buckets;
    size_t count;          /* entries in L1 */
    entry *head, *tail;    /* recency list */
    size_t l1_bytes;       /* charged bytes, <= l1_cap */
    size_t l1_cap;         /* capacity in bytes, 0 = no L1 */
    uint64_t hits, misses; /* lookups by this object (all levels) */
    uint64_t l1_hits;      /* of which answered by L1 */
    uint64_t pend_hits;    /* not yet added to L2's counters */
    uint64_t pend_misses;
    double last_flush_ms; /* monotonic time of the last counter flush */
};

static size_t charge(const entry *e)
{
    return e->len + strlen(e->group) + 1 + sizeof(*e) + ENTRY_OVERHEAD;
}

static size_t bucket_of(const hark_cache *c, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return (size_t)(h & (c->n_buckets - 1));
}

static entry **find_slot(hark_cache *c, const uint8_t *key)
{
    entry **p = &c->buckets[bucket_of(c, key)];
    while (*p && memcmp((*p)->key, key, HARK_CACHE_KEY_LEN) != 0)
        p = &(*p)->hnext;
    return p;
}

static void list_unlink(hark_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(hark_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void entry_unref(entry *e)
{
    if (--e->refs == 0)
        hark__free(e);
}

/* Remove `e` from the table and the list (under mu). */
static void remove_entry(hark_cache *c, entry *e)
{
    entry **p = find_slot(c, e->key);
    if (*p == e)
        *p = e->hnext;
    e->hnext = NULL;
    list_unlink(c, e);
    c->count--;
    c->l1_bytes -= charge(e);
    entry_unref(e);
}

static void grow_table(hark_cache *c)
{
    size_t n = c->n_buckets * 2, i;
    entry **b = hark__calloc(n, sizeof(*b));
    if (!b)
        return; /* keep the longer chains; still correct */
    for (i = 0; i < c->n_buckets; i++) {
        entry *e = c->buckets[i], *next;
        for (; e; e = next) {
            uint64_t h;
            next = e->hnext;
            memcpy(&h, e->key, sizeof(h));
            e->hnext = b[h & (n - 1)];
            b[h & (n - 1)] = e;
        }
    }
    hark__free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

/* Insert (or replace) an encoded value in L1 (under mu). */
static void l1_insert(hark_cache *c, const uint8_t *key, const char *group, const void *value,
                      size_t len)
{
    size_t glen = strlen(group), cost;
    entry **slot, *e;

    if (!c->l1_cap)
        return;
    cost = len + glen + 1 + sizeof(*e) + ENTRY_OVERHEAD;
    slot = find_slot(c, key);
    if (*slot)
        remove_entry(c, *slot);
    if (cost > c->l1_cap)
        return; /* larger than the whole cache */
    while (c->l1_bytes + cost > c->l1_cap && c->tail)
        remove_entry(c, c->tail);
    e = hark__malloc(sizeof(*e) + len + glen + 1);
    if (!e)
        return; /* L1 is best effort */
    memcpy(e->key, key, HARK_CACHE_KEY_LEN);
    e->len = len;
    memcpy(e->data, value, len);
    e->group = (char *)e->data + len;
    memcpy(e->group, group, glen + 1);
    e->used_ms = hark__store_now_ms();
    e->refs = 1;
    slot = find_slot(c, key);
    e->hnext = *slot;
    *slot = e;
    list_push_front(c, e);
    c->count++;
    c->l1_bytes += cost;
    if (c->count > c->n_buckets)
        grow_table(c);
}

int hark_cache_new(hark_cache **out, hark_store *l2, size_t l1_bytes)
{
    hark_cache *c;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    c = hark__calloc(1, sizeof(*c));
    if (!c)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    c->n_buckets = 64;
    c->buckets = hark__calloc(c->n_buckets, sizeof(*c->buckets));
    if (!c->buckets) {
        hark__free(c);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    c->l2 = l2;
    c->l1_cap = l1_bytes;
    c->last_flush_ms = hark__now_ms();
    *out = c;
    return 0;
}

/* Add the pending counters to L2. Called without mu held. */
static int flush_counts(hark_cache *c, hark_store_cache_counts *out)
{
    uint64_t h, m;
    int rc;

    if (!c->l2)
        return 0;
    pthread_mutex_lock(&c->mu);
    h = c->pend_hits;
    m = c->pend_misses;
    c->pend_hits = c->pend_misses = 0;
    c->last_flush_ms = hark__now_ms();
    pthread_mutex_unlock(&c->mu);
    rc = hark__store_cache_counts(c->l2, h, m, out);
    if (rc < 0) {
        /* keep them for the next attempt */
        pthread_mutex_lock(&c->mu);
        c->pend_hits += h;
        c->pend_misses += m;
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

/* Count a lookup; returns non-zero when the counters are due for a flush. */
static int count_lookup(hark_cache *c, int hit, int l1)
{
    int due;
    pthread_mutex_lock(&c->mu);
    if (hit) {
        c->hits++;
        c->pend_hits++;
        c->l1_hits += l1 ? 1 : 0;
    } else {
        c->misses++;
        c->pend_misses++;
    }
    due = c->l2 && (c->pend_hits + c->pend_misses >= FLUSH_EVERY ||
                    hark__now_ms() - c->last_flush_ms >= FLUSH_MS);
    pthread_mutex_unlock(&c->mu);
    return due;
}

void hark_cache_free(hark_cache *c)
{
    entry *e, *next;
    if (!c)
        return;
    flush_counts(c, NULL); /* best effort: a failure here loses only statistics */
    for (e = c->head; e; e = next) {
        next = e->next;
        hark__free(e);
    }
    pthread_mutex_destroy(&c->mu);
    hark__free(c->buckets);
    hark__free(c);
}

int hark_cache_get(hark_cache *c, const uint8_t key[HARK_CACHE_KEY_LEN], hark_transcript **out)
{
    hark_buf value = HARK_BUF_INIT, group = HARK_BUF_INIT;
    entry *e = NULL;
    int rc = 0, hit = 0, l1 = 0;

    HARK_ASSERT_ARG(c && key && out);
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->l1_cap && (e = *find_slot(c, key))) {
        e->refs++;
        e->used_ms = hark__store_now_ms();
        list_unlink(c, e);
        list_push_front(c, e);
    }
    pthread_mutex_unlock(&c->mu);

    if (e) {
        rc = hark__transcript_decode(e->data, e->len, out);
        pthread_mutex_lock(&c->mu);
        entry_unref(e);
        pthread_mutex_unlock(&c->mu);
        hit = l1 = rc == 0;
    } else if (c->l2) {
        rc = hark__store_cache_get(c->l2, key, &value, &group);
        if (rc == 0) {
            rc = hark__transcript_decode(value.ptr, value.len, out);
            if (rc == 0) {
                pthread_mutex_lock(&c->mu);
                l1_insert(c, key, group.ptr ? group.ptr : "", value.ptr, value.len);
                pthread_mutex_unlock(&c->mu);
                hit = 1;
            } else if (rc == HARK_ECORRUPT) {
                /* drop it so the next lookup is a plain miss and a new result replaces it */
                char msg[512];
                snprintf(msg, sizeof(msg), "%s", hark_error_last());
                hark__store_cache_del(c->l2, key);
                hark_error_set(HARK_ECORRUPT, "%s", msg);
            }
        }
    } else {
        rc = HARK_ENOTFOUND;
    }
    if (rc == HARK_ENOTFOUND)
        hark_error_set(HARK_ENOTFOUND, "cache: miss");
    if (count_lookup(c, hit, l1))
        flush_counts(c, NULL); /* statistics only: a failure is not the caller's problem */
    hark_buf_dispose(&value);
    hark_buf_dispose(&group);
    return rc;
}

int hark_cache_put(hark_cache *c, const uint8_t key[HARK_CACHE_KEY_LEN], const char *group,
                   const hark_transcript *t)
{
    hark_buf value = HARK_BUF_INIT;
    int rc;

    HARK_ASSERT_ARG(c && key && t);
    if (!group)
        group = "";
    if ((rc = hark__transcript_encode(t, &value)) < 0)
        goto out;
    if (c->l2 && (rc = hark__store_cache_put(c->l2, key, group, value.ptr, value.len)) < 0)
        goto out;
    pthread_mutex_lock(&c->mu);
    l1_insert(c, key, group, value.ptr, value.len);
    pthread_mutex_unlock(&c->mu);
out:
    hark_buf_dispose(&value);
    return rc;
}

int hark_cache_stats(hark_cache *c, hark_cache_statistics *out)
{
    hark_store_cache_counts l2 = { 0, 0, 0, 0 };
    int rc = 0;

    HARK_ASSERT_ARG(c && out);
    memset(out, 0, sizeof(*out));
    if (c->l2 && (rc = flush_counts(c, &l2)) < 0)
        return rc;
    pthread_mutex_lock(&c->mu);
    out->l1_entries = c->count;
    out->l1_bytes = c->l1_bytes;
    out->l1_capacity = c->l1_cap;
    out->l1_hits = c->l1_hits;
    if (c->l2) {
        out->entries = l2.entries;
        out->bytes = l2.bytes;
        out->hits = l2.hits + c->pend_hits;
        out->misses = l2.misses + c->pend_misses;
    } else {
        entry *e;
        out->entries = c->count;
        for (e = c->head; e; e = e->next)
            out->bytes += e->len;
        out->hits = c->hits;
        out->misses = c->misses;
    }
    pthread_mutex_unlock(&c->mu);
    if (out->hits + out->misses)
        out->hit_rate = (double)out->hits / (double)(out->hits + out->misses);
    return 0;
}

int hark_cache_stats_reset(hark_cache *c)
{
    int rc = 0;
    HARK_ASSERT_ARG(c);
    pthread_mutex_lock(&c->mu);
    c->hits = c->misses = c->l1_hits = 0;
    c->pend_hits = c->pend_misses = 0;
    pthread_mutex_unlock(&c->mu);
    if (c->l2)
        rc = hark__store_cache_reset_counts(c->l2);
    return rc;
}

/* Remove L1 entries matching `pred`; returns how many. */
static uint64_t l1_remove_if(hark_cache *c, int (*pred)(const entry *, const void *),
                             const void *arg)
{
    entry *e, *next;
    uint64_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (e = c->head; e; e = next) {
        next = e->next;
        if (pred(e, arg)) {
            remove_entry(c, e);
            n++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int pred_all(const entry *e, const void *arg)
{
    (void)e;
    (void)arg;
    return 1;
}

static int pred_group(const entry *e, const void *arg)
{
    return strcmp(e->group, arg) == 0;
}

static int pred_older(const entry *e, const void *arg)
{
    return e->used_ms < *(const int64_t *)arg;
}

int hark_cache_clear(hark_cache *c)
{
    HARK_ASSERT_ARG(c);
    l1_remove_if(c, pred_all, NULL);
    return c->l2 ? hark__store_cache_drop(c->l2, NULL, NULL) : 0;
}

int hark_cache_drop_group(hark_cache *c, const char *group, uint64_t *removed)
{
    uint64_t n;
    HARK_ASSERT_ARG(c && group);
    n = l1_remove_if(c, pred_group, group);
    if (c->l2)
        return hark__store_cache_drop(c->l2, group, removed);
    if (removed)
        *removed = n;
    return 0;
}

int hark_cache_gc(hark_cache *c, int64_t older_than_ms, uint64_t *removed)
{
    uint64_t n;
    HARK_ASSERT_ARG(c);
    n = l1_remove_if(c, pred_older, &older_than_ms);
    if (c->l2)
        return hark__store_cache_gc(c->l2, older_than_ms, removed);
    if (removed)
        *removed = n;
    return 0;
}
