/*
 * auth.c: users, API keys, the audit log and settings (hark/auth.h) on top
 * of the backend vtable (hark/sys/store.h).
 *
 * DESIGN
 * - A token is "hark_" + 64 lower-case hex digits of 32 bytes from
 *   OpenSSL's CSPRNG (RAND_bytes, seeded from the kernel's getrandom()).
 *   Only SHA-256(token) and the token's first HARK_KEY_PREFIX_LEN characters
 *   are stored; the token is shown once, by the caller.
 * - Lookup: the backend finds the row by digest (an index probe on a hash of
 *   the secret, never on the secret itself) and hands the stored digest
 *   back; this file accepts the key only if CRYPTO_memcmp() says the two
 *   digests are equal, so the final comparison is constant-time whatever
 *   the backend's index does.
 * - Checks that must be identical on every backend (name lengths, JSON audit
 *   details, setting names) are made here.
 *
 * INVARIANTS
 * - Objects handed out own all their strings; a failed call hands out nothing.
 * - No token is ever stored, logged or put in an error message.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "store.h"

#define MAX_USER_NAME    64
#define MAX_KEY_NAME     128
#define MAX_ACTION       64
#define MAX_DETAIL       65536
#define MAX_SETTING_NAME 128
#define MAX_SETTING      (1 << 20)
#define DEFAULT_AUDIT    50
#define MAX_AUDIT        1000

/* ---- tokens --------------------------------------------------------------------------------- */

int hark_key_generate(char token[HARK_KEY_TOKEN_LEN + 1], uint8_t digest[32])
{
    uint8_t raw[32];
    int rc;

    HARK_ASSERT_ARG(token && digest);
    if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
        OPENSSL_cleanse(raw, sizeof(raw));
        return hark_error_set(HARK_EIO, "key: no randomness available (RAND_bytes failed)");
    }
    memcpy(token, "hark_", 5);
    hark_hex(token + 5, raw, sizeof(raw));
    token[HARK_KEY_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    rc = hark_sha256_buf(digest, token, HARK_KEY_TOKEN_LEN);
    if (rc < 0)
        OPENSSL_cleanse(token, HARK_KEY_TOKEN_LEN + 1);
    return rc;
}

int hark_key_digest(const char *token, size_t len, uint8_t digest[32])
{
    HARK_ASSERT_ARG((token || len == 0) && digest);
    return hark_sha256_buf(digest, token ? token : "", len);
}

/* ---- users ---------------------------------------------------------------------------------- */

void hark_user_free(hark_user *u)
{
    if (!u)
        return;
    hark__free((char *)u->name);
    hark__free(u);
}

static int keep_user(const hark_user *u, void *payload)
{
    hark_user **dst = payload, *c;
    if (*dst)
        return 0;
    if (!(c = hark__calloc(1, sizeof(*c))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    *c = *u;
    c->version = HARK_USER_VERSION;
    if (!(c->name = hark__strdup(u->name ? u->name : ""))) {
        hark__free(c);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    *dst = c;
    return 0;
}

static int check_user_name(const hark_store *s, const char *name)
{
    size_t len = strnlen(name, MAX_USER_NAME + 1);
    if (len == 0 || len > MAX_USER_NAME)
        return hark_error_set(HARK_EINVAL, "%s: a user name is 1 to %d bytes", hark_store_uri(s),
                              MAX_USER_NAME);
    return 0;
}

int hark_store_user_create(hark_store *s, const char *name, int64_t *id_out)
{
    const hark_store_ops *ops;
    void *ctx;
    int64_t id = 0;
    int rc;

    HARK_ASSERT_ARG(s && name);
    if (id_out)
        *id_out = 0;
    HARK_STORE_NEED_OP(s, user_create, ops, ctx);
    if ((rc = check_user_name(s, name)) < 0)
        return rc;
    if ((rc = ops->user_create(ctx, name, hark__store_now_ms(), &id)) == 0 && id_out)
        *id_out = id;
    return rc;
}

static int user_get(hark_store *s, int64_t id, const char *name, hark_user **out)
{
    const hark_store_ops *ops;
    void *ctx;
    hark_user *u = NULL;
    int rc;

    *out = NULL;
    HARK_STORE_NEED_OP(s, user_get, ops, ctx);
    rc = ops->user_get(ctx, id, name, keep_user, &u);
    if (rc == 0 && !u)
        rc = hark_error_set(HARK_ENOTFOUND, "store: no such user");
    if (rc < 0) {
        hark_user_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

int hark_store_user_find(hark_store *s, const char *name, hark_user **out)
{
    HARK_ASSERT_ARG(s && name && out);
    return user_get(s, 0, name, out);
}

int hark_store_user_get(hark_store *s, int64_t id, hark_user **out)
{
    HARK_ASSERT_ARG(s && out);
    return user_get(s, id, NULL, out);
}

/* ---- keys ----------------------------------------------------------------------------------- */

static void key_clear(hark_api_key *k)
{
    hark__free((char *)k->user_name);
    hark__free((char *)k->name);
    hark__free((char *)k->prefix);
    memset(k, 0, sizeof(*k));
}

static int key_copy(hark_api_key *dst, const hark_api_key *src)
{
    *dst = *src;
    dst->version = HARK_API_KEY_VERSION;
    dst->user_name = dst->name = dst->prefix = NULL;
    if ((src->user_name && !(dst->user_name = hark__strdup(src->user_name))) ||
        (src->name && !(dst->name = hark__strdup(src->name))) ||
        !(dst->prefix = hark__strdup(src->prefix ? src->prefix : ""))) {
        key_clear(dst);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    return 0;
}

void hark_api_key_free(hark_api_key *k)
{
    if (!k)
        return;
    key_clear(k);
    hark__free(k);
}

typedef struct lookup_ctx {
    const uint8_t *digest; /* presented */
    hark_api_key *key;     /* found, owned */
} lookup_ctx;

static int keep_key(const hark_api_key *k, const uint8_t digest[32], void *payload)
{
    lookup_ctx *lc = payload;
    hark_api_key *c;
    int rc;
    /* the backend found the row by digest; accept it only on a constant-time match */
    if (lc->key || CRYPTO_memcmp(digest, lc->digest, 32) != 0)
        return 0;
    if (!(c = hark__calloc(1, sizeof(*c))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = key_copy(c, k)) < 0) {
        hark__free(c);
        return rc;
    }
    lc->key = c;
    return 0;
}

int hark_store_key_create(hark_store *s, int64_t user, const char *name, int admin,
                          const uint8_t digest[32], const char *prefix, int64_t *id_out)
{
    const hark_store_ops *ops;
    void *ctx;
    int64_t id = 0;
    size_t plen;
    int rc;

    HARK_ASSERT_ARG(s && digest && prefix);
    if (id_out)
        *id_out = 0;
    HARK_STORE_NEED_OP(s, key_create, ops, ctx);
    plen = strnlen(prefix, HARK_KEY_PREFIX_LEN + 1);
    if (plen == 0 || plen > HARK_KEY_PREFIX_LEN)
        return hark_error_set(HARK_EINVAL, "%s: a key prefix is 1 to %d characters",
                              hark_store_uri(s), HARK_KEY_PREFIX_LEN);
    if (name && strnlen(name, MAX_KEY_NAME + 1) > MAX_KEY_NAME)
        return hark_error_set(HARK_EINVAL, "%s: a key name is at most %d bytes", hark_store_uri(s),
                              MAX_KEY_NAME);
    rc = ops->key_create(ctx, user, name, admin != 0, digest, prefix, hark__store_now_ms(), &id);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int hark_store_key_lookup(hark_store *s, const uint8_t digest[32], hark_api_key **out)
{
    const hark_store_ops *ops;
    void *ctx;
    lookup_ctx lc;
    int rc;

    HARK_ASSERT_ARG(s && digest && out);
    *out = NULL;
    HARK_STORE_NEED_OP(s, key_lookup, ops, ctx);
    lc.digest = digest;
    lc.key = NULL;
    rc = ops->key_lookup(ctx, digest, keep_key, &lc);
    if (rc == 0 && !lc.key)
        rc = HARK_ENOTFOUND;
    if (rc < 0) {
        hark_api_key_free(lc.key);
        return rc;
    }
    *out = lc.key;
    return 0;
}

typedef struct klist_ctx {
    hark_api_key_list *list;
    size_t cap;
} klist_ctx;

static int klist_add(const hark_api_key *k, const uint8_t digest[32], void *payload)
{
    klist_ctx *kc = payload;
    hark_api_key_list *l = kc->list;
    int rc;
    HARK_UNUSED(digest);
    if (l->n == kc->cap) {
        size_t cap = kc->cap ? kc->cap * 2 : 8;
        hark_api_key *items = hark__reallocarray(l->items, cap, sizeof(*items));
        if (!items)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->items = items;
        kc->cap = cap;
    }
    if ((rc = key_copy(&l->items[l->n], k)) < 0)
        return rc;
    l->n++;
    return 0;
}

void hark_api_key_list_free(hark_api_key_list *list)
{
    size_t i;
    if (!list)
        return;
    for (i = 0; i < list->n; i++)
        key_clear(&list->items[i]);
    hark__free(list->items);
    hark__free(list);
}

int hark_store_key_list(hark_store *s, int64_t user, hark_api_key_list **out)
{
    const hark_store_ops *ops;
    void *ctx;
    klist_ctx kc = { NULL, 0 };
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    HARK_STORE_NEED_OP(s, key_list, ops, ctx);
    if (user < 0)
        return hark_error_set(HARK_EINVAL, "%s: list keys: invalid user %lld", hark_store_uri(s),
                              (long long)user);
    if (!(kc.list = hark__calloc(1, sizeof(*kc.list))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if ((rc = ops->key_list(ctx, user, klist_add, &kc)) < 0) {
        hark_api_key_list_free(kc.list);
        return rc;
    }
    *out = kc.list;
    return 0;
}

int hark_store_key_revoke(hark_store *s, int64_t id)
{
    const hark_store_ops *ops;
    void *ctx;
    HARK_ASSERT_ARG(s);
    HARK_STORE_NEED_OP(s, key_revoke, ops, ctx);
    return ops->key_revoke(ctx, id, hark__store_now_ms());
}

int hark_store_key_count_active(hark_store *s, uint64_t *out)
{
    const hark_store_ops *ops;
    void *ctx;
    uint64_t n = 0;
    int rc;
    HARK_ASSERT_ARG(s && out);
    *out = 0;
    HARK_STORE_NEED_OP(s, key_count_active, ops, ctx);
    if ((rc = ops->key_count_active(ctx, &n)) == 0)
        *out = n;
    return rc;
}

/* ---- audit ---------------------------------------------------------------------------------- */

int hark_store_audit_add(hark_store *s, int64_t user, int64_t key, const char *action,
                         const char *detail)
{
    const hark_store_ops *ops;
    void *ctx;
    size_t alen;

    HARK_ASSERT_ARG(s && action);
    HARK_STORE_NEED_OP(s, audit_add, ops, ctx);
    alen = strnlen(action, MAX_ACTION + 1);
    if (alen == 0 || alen > MAX_ACTION)
        return hark_error_set(HARK_EINVAL, "%s: an audit action is 1 to %d bytes",
                              hark_store_uri(s), MAX_ACTION);
    if (user < 0 || key < 0)
        return hark_error_set(HARK_EINVAL, "%s: audit: negative user or key", hark_store_uri(s));
    if (detail) {
        size_t dlen = strnlen(detail, MAX_DETAIL + 1);
        if (dlen > MAX_DETAIL)
            return hark_error_set(HARK_ETOOBIG, "%s: audit detail over %d bytes", hark_store_uri(s),
                                  MAX_DETAIL);
        if (!hark__json_valid(detail, dlen, 1))
            return hark_error_set(HARK_EINVAL, "%s: audit detail is not a JSON object",
                                  hark_store_uri(s));
    }
    return ops->audit_add(ctx, hark__store_now_ms(), user, key, action, detail);
}

typedef struct alist_ctx {
    hark_audit_list *list;
    size_t cap;
} alist_ctx;

static void entry_clear(hark_audit_entry *e)
{
    hark__free((char *)e->action);
    hark__free((char *)e->detail);
    memset(e, 0, sizeof(*e));
}

static int alist_add(const hark_audit_entry *e, void *payload)
{
    alist_ctx *ac = payload;
    hark_audit_list *l = ac->list;
    hark_audit_entry *d;
    if (l->n == ac->cap) {
        size_t cap = ac->cap ? ac->cap * 2 : 16;
        hark_audit_entry *items = hark__reallocarray(l->items, cap, sizeof(*items));
        if (!items)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        l->items = items;
        ac->cap = cap;
    }
    d = &l->items[l->n];
    *d = *e;
    d->action = d->detail = NULL;
    l->n++; /* counted first: the list's free releases a partial copy */
    if (!(d->action = hark__strdup(e->action ? e->action : "")) ||
        (e->detail && !(d->detail = hark__strdup(e->detail))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    return 0;
}

void hark_audit_list_free(hark_audit_list *list)
{
    size_t i;
    if (!list)
        return;
    for (i = 0; i < list->n; i++)
        entry_clear(&list->items[i]);
    hark__free(list->items);
    hark__free(list);
}

int hark_store_audit_list(hark_store *s, int64_t before, size_t limit, hark_audit_list **out)
{
    const hark_store_ops *ops;
    void *ctx;
    alist_ctx ac = { NULL, 0 };
    int rc;

    HARK_ASSERT_ARG(s && out);
    *out = NULL;
    HARK_STORE_NEED_OP(s, audit_list, ops, ctx);
    if (before < 0)
        return hark_error_set(HARK_EINVAL, "%s: audit: invalid cursor %lld", hark_store_uri(s),
                              (long long)before);
    limit = limit ? HARK_MIN(limit, (size_t)MAX_AUDIT) : DEFAULT_AUDIT;
    if (!(ac.list = hark__calloc(1, sizeof(*ac.list))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    /* one extra entry tells whether older ones follow */
    if ((rc = ops->audit_list(ctx, before, limit + 1, alist_add, &ac)) < 0) {
        hark_audit_list_free(ac.list);
        return rc;
    }
    if (ac.list->n > limit) {
        entry_clear(&ac.list->items[--ac.list->n]);
        ac.list->more = 1;
    }
    *out = ac.list;
    return 0;
}

/* ---- settings ------------------------------------------------------------------------------- */

static int check_setting_name(const hark_store *s, const char *name)
{
    size_t len = strnlen(name, MAX_SETTING_NAME + 1);
    if (len == 0 || len > MAX_SETTING_NAME)
        return hark_error_set(HARK_EINVAL, "%s: a setting name is 1 to %d bytes", hark_store_uri(s),
                              MAX_SETTING_NAME);
    return 0;
}

int hark_store_setting_get(hark_store *s, const char *name, hark_buf *out)
{
    const hark_store_ops *ops;
    void *ctx;
    size_t len0;
    int rc;

    HARK_ASSERT_ARG(s && name && out);
    HARK_STORE_NEED_OP(s, setting_get, ops, ctx);
    if ((rc = check_setting_name(s, name)) < 0)
        return rc;
    len0 = out->len;
    if ((rc = ops->setting_get(ctx, name, out)) < 0 && out->len > len0) {
        out->len = len0; /* nothing appended on failure */
        out->ptr[len0] = '\0';
    }
    return rc;
}

int hark_store_setting_set(hark_store *s, const char *name, const char *value)
{
    const hark_store_ops *ops;
    void *ctx;
    int rc;

    HARK_ASSERT_ARG(s && name);
    HARK_STORE_NEED_OP(s, setting_set, ops, ctx);
    if ((rc = check_setting_name(s, name)) < 0)
        return rc;
    if (value && strnlen(value, MAX_SETTING + 1) > MAX_SETTING)
        return hark_error_set(HARK_ETOOBIG, "%s: setting %s: value over %d bytes",
                              hark_store_uri(s), name, MAX_SETTING);
    return ops->setting_set(ctx, name, value, hark__store_now_ms());
}
