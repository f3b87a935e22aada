/*
 * hark/auth.h: users, API keys, the audit log and server settings, kept in
 * the store.
 *
 * An API key is a random 256-bit token shown once at creation
 * ("hark_" + 64 lower-case hex digits). The store keeps only its SHA-256 and
 * its first 12 characters (the `prefix`, for listing); looking a key up
 * hashes the presented token and compares digests in constant time. Each key
 * belongs to a user, who sees only their own recordings and jobs; an admin
 * key sees everything and may use the admin routes.
 *
 * Every function here is one transaction, durable when it returns 0, and
 * may be called from any thread (see hark/store.h).
 */
#ifndef HARK_AUTH_H
#define HARK_AUTH_H

#include "common.h"
#include "store.h"

HARK_BEGIN_DECL

/* ---- tokens ----------------------------------------------------------------------------- */

#define HARK_KEY_TOKEN_LEN  69 /**< "hark_" + 64 hex digits */
#define HARK_KEY_PREFIX_LEN 12 /**< characters of the token kept for display */

/**
 * Make a new random token (from the kernel's CSPRNG) and its digest.
 * @param[out] token HARK_KEY_TOKEN_LEN characters + NUL.
 * @param[out] digest SHA-256 of the token's characters.
 * @return 0, HARK_EIO (no randomness available).
 */
HARK_API int hark_key_generate(char token[HARK_KEY_TOKEN_LEN + 1], uint8_t digest[32]);

/** SHA-256 of a presented token (any string; the server hashes what it receives). */
HARK_API int hark_key_digest(const char *token, size_t len, uint8_t digest[32]);

/* ---- users ------------------------------------------------------------------------------ */

/** A user. Output strings belong to the receiver. */
typedef struct hark_user {
    unsigned version;   /**< HARK_USER_VERSION */
    int64_t id;         /**< > 0 */
    const char *name;   /**< unique, 1..64 bytes */
    int64_t created_ms; /**< Unix ms */
} hark_user;

#define HARK_USER_VERSION 1

HARK_API void hark_user_free(hark_user *u);

/**
 * Create user `name`. @param[out] id_out the new id (may be NULL).
 * @return 0, HARK_EEXISTS (name taken), HARK_EINVAL (empty or too long name), ...
 */
HARK_API int hark_store_user_create(hark_store *s, const char *name, int64_t *id_out);

/** Find a user by name. @return 0, HARK_ENOTFOUND. */
HARK_API int hark_store_user_find(hark_store *s, const char *name, hark_user **out);

/** Fetch a user by id. @return 0, HARK_ENOTFOUND. */
HARK_API int hark_store_user_get(hark_store *s, int64_t id, hark_user **out);

/* ---- API keys ---------------------------------------------------------------------------- */

/** An API key as stored (never the token itself). */
typedef struct hark_api_key {
    unsigned version;      /**< HARK_API_KEY_VERSION */
    int64_t id;            /**< > 0 */
    int64_t user;          /**< owning user */
    const char *user_name; /**< the owning user's name (output only) */
    const char *name;      /**< a label ("laptop"), may be NULL */
    const char *prefix;    /**< the token's first HARK_KEY_PREFIX_LEN characters */
    int admin;             /**< admin key: sees everything, may use admin routes */
    int64_t created_ms;    /**< Unix ms */
    int64_t revoked_ms;    /**< Unix ms it was revoked, 0 = active */
} hark_api_key;

#define HARK_API_KEY_VERSION 1

HARK_API void hark_api_key_free(hark_api_key *k);

/**
 * Store a key for `user`: its digest and display prefix (from
 * hark_key_generate). @param[out] id_out the key's id (may be NULL).
 * @return 0, HARK_ENOTFOUND (no such user), HARK_EEXISTS (same digest), ...
 */
HARK_API int hark_store_key_create(hark_store *s, int64_t user, const char *name, int admin,
                                   const uint8_t digest[32], const char *prefix, int64_t *id_out);

/**
 * The key whose digest is `digest` (compared in constant time), revoked or
 * not: the caller checks `revoked_ms`. @param[out] out free with
 * hark_api_key_free. @return 0, HARK_ENOTFOUND (no message).
 */
HARK_API int hark_store_key_lookup(hark_store *s, const uint8_t digest[32], hark_api_key **out);

/** Keys, oldest first. */
typedef struct hark_api_key_list {
    size_t n;
    hark_api_key *items;
} hark_api_key_list;

/**
 * Every key of `user` (0 = every user's), revoked ones included.
 * @param[out] out free with hark_api_key_list_free.
 */
HARK_API int hark_store_key_list(hark_store *s, int64_t user, hark_api_key_list **out);
HARK_API void hark_api_key_list_free(hark_api_key_list *list);

/** Revoke key `id` (idempotent). @return 0, HARK_ENOTFOUND. */
HARK_API int hark_store_key_revoke(hark_store *s, int64_t id);

/** Number of keys that are not revoked. */
HARK_API int hark_store_key_count_active(hark_store *s, uint64_t *out);

/* ---- audit log --------------------------------------------------------------------------- */

/** One audited action. Output strings belong to the list. */
typedef struct hark_audit_entry {
    int64_t id;         /**< increasing */
    int64_t ts_ms;      /**< Unix ms */
    int64_t user;       /**< acting user, 0 = local (command line) */
    int64_t key;        /**< acting key, 0 = none */
    const char *action; /**< "mode", "key.create", "key.revoke", ... */
    const char *detail; /**< JSON object text, may be NULL */
} hark_audit_entry;

/** Append an entry (ts = now). */
HARK_API int hark_store_audit_add(hark_store *s, int64_t user, int64_t key, const char *action,
                                  const char *detail);

typedef struct hark_audit_list {
    size_t n;
    hark_audit_entry *items; /**< newest first */
    int more;                /**< older entries follow; pass items[n-1].id as `before` */
} hark_audit_list;

/**
 * Entries newest first, `limit` (0 = 50, at most 1000) of them with id <
 * `before` (0 = from the newest). @param[out] out free with hark_audit_list_free.
 */
HARK_API int hark_store_audit_list(hark_store *s, int64_t before, size_t limit,
                                   hark_audit_list **out);
HARK_API void hark_audit_list_free(hark_audit_list *list);

/* ---- settings ---------------------------------------------------------------------------- */

/**
 * Durable server settings (e.g. "mode" -> {"mode":"maintenance","reason":...}).
 * get appends the value to `out`; HARK_ENOTFOUND when unset (no message).
 */
HARK_API int hark_store_setting_get(hark_store *s, const char *name, hark_buf *out);
/** Set (value != NULL) or remove (NULL) a setting. */
HARK_API int hark_store_setting_set(hark_store *s, const char *name, const char *value);

HARK_END_DECL

#endif
