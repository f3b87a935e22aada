/*
 * auth.c: who is calling, and whether they may (server.h).
 *
 * DESIGN
 * Keys are bearer tokens ("Authorization: Bearer hark_<64 hex>"). The store
 * keeps only their SHA-256 digest; a lookup is one indexed query on the
 * digest, made for every request, so a revoked key stops working at once
 * (no cache to go stale). Keys are required when any active key exists or
 * when the server listens beyond loopback (it refuses to start that way
 * without keys); a local server with no keys serves everyone as admin, the
 * way `hark` on the command line does.
 *
 * Rate limits: a token bucket per key (rate per second, burst), kept in an
 * open-addressing table on the loop thread. Refused requests get 429 with
 * Retry-After, in whole seconds, for the next token.
 */
#include <math.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

typedef struct bucket {
    int64_t key; /* 0 = empty slot */
    double tokens, last_ms;
} bucket;

typedef struct buckets {
    bucket *slots;
    size_t cap, n;
} buckets;

static bucket *bucket_find(buckets *b, int64_t key)
{
    size_t i, mask;
    if (b->n * 2 >= b->cap) { /* grow to keep probes short */
        size_t cap = b->cap ? b->cap * 2 : 64, j;
        bucket *ns = hark__calloc(cap, sizeof(*ns));
        if (!ns)
            return NULL;
        for (j = 0; j < b->cap; j++) {
            if (b->slots[j].key) {
                size_t k = (size_t)((uint64_t)b->slots[j].key * 0x9E3779B97F4A7C15ull) & (cap - 1);
                while (ns[k].key)
                    k = (k + 1) & (cap - 1);
                ns[k] = b->slots[j];
            }
        }
        hark__free(b->slots);
        b->slots = ns;
        b->cap = cap;
    }
    mask = b->cap - 1;
    i = (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ull) & mask;
    while (b->slots[i].key && b->slots[i].key != key)
        i = (i + 1) & mask;
    if (!b->slots[i].key) {
        b->slots[i].key = key;
        b->slots[i].tokens = -1; /* new: full */
        b->n++;
    }
    return &b->slots[i];
}

/* Take a token for `key`; 0, or the seconds until one is there. */
static unsigned take_token(srv *s, int64_t key)
{
    buckets *b = s->buckets;
    bucket *k;
    double now = hark__now_ms(), rate = (double)s->cfg.rate, burst = (double)s->cfg.burst;
    if (!s->cfg.rate)
        return 0;
    if (!b && !(b = s->buckets = hark__calloc(1, sizeof(*b))))
        return 0;
    if (!(k = bucket_find(b, key)))
        return 0;
    if (k->tokens < 0)
        k->tokens = burst;
    else
        k->tokens = fmin(burst, k->tokens + (now - k->last_ms) * rate / 1000.0);
    k->last_ms = now;
    if (k->tokens >= 1) {
        k->tokens -= 1;
        return 0;
    }
    return (unsigned)ceil((1 - k->tokens) / rate);
}

void srv_auth_free(srv *s)
{
    buckets *b = s->buckets;
    if (b) {
        hark__free(b->slots);
        hark__free(b);
    }
    s->buckets = NULL;
}

int srv_auth(srv_req *q)
{
    srv *s = q->s;
    const char *h, *tok;
    uint8_t digest[32];
    hark_api_key *k = NULL;
    unsigned wait;
    int rc;

    memset(&q->who, 0, sizeof(q->who));
    if (!s->auth_required) {
        q->who.admin = 1; /* local use without keys */
        return 0;
    }
    if (q->route->flags & R_PUBLIC)
        return 0;
    h = srv_hdr(q, "Authorization");
    if (!h && (q->route->flags & R_WSAUTH)) {
        q->who.pending = 1; /* the session's first message must carry the key */
        return 0;
    }
    if (!h) {
        srv_error(q, 401, "unauthorized",
                  "an API key is needed: send 'Authorization: Bearer <key>' (hark keys create)");
        srv_header(q, "WWW-Authenticate", "Bearer");
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        srv_error(q, 401, "unauthorized", "the Authorization header must be 'Bearer <key>'");
        srv_header(q, "WWW-Authenticate", "Bearer");
        return -1;
    }
    tok = h + 7;
    while (*tok == ' ')
        tok++;
    if ((rc = hark_key_digest(tok, strlen(tok), digest)) < 0 ||
        (rc = hark_store_key_lookup(s->store, digest, &k)) < 0) {
        if (rc == HARK_ENOTFOUND || rc == HARK_EINVAL || rc == HARK_EAUTH) {
            srv_error(q, 401, "unauthorized", "the API key is not valid (unknown or revoked)");
            srv_header(q, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        } else {
            srv_error_hark(q, rc);
        }
        return -1;
    }
    if (k->revoked_ms) {
        hark_api_key_free(k);
        srv_error(q, 401, "unauthorized", "the API key is not valid (unknown or revoked)");
        srv_header(q, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        return -1;
    }
    q->who.key = k->id;
    q->who.user = k->user;
    q->who.admin = k->admin;
    hark_api_key_free(k);
    if ((q->route->flags & R_ADMIN) && !q->who.admin) {
        srv_error(q, 403, "forbidden", "%s %s needs an admin key", q->method, q->route->pattern);
        return -1;
    }
    if (!(q->route->flags & R_NOLIMIT) && (wait = take_token(s, q->who.key)) > 0) {
        char ra[16];
        s->m.rejected_429++;
        srv_error(q, 429, "rate_limited",
                  "over %llu requests per second for this key; retry in %u s",
                  (unsigned long long)s->cfg.rate, wait);
        snprintf(ra, sizeof(ra), "%u", wait);
        srv_header(q, "Retry-After", ra);
        return -1;
    }
    return 0;
}
