/*
 * `hark keys` end to end: the real binary on a real SQLite file in the
 * test's folder, checked from both sides: what the command prints, and what
 * the library then finds in the same database (key lookup by digest, the
 * audit log). The key is shown once and only its digest is stored: the
 * token's characters must not occur anywhere in the database's bytes.
 */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "harness.h"
#include "admin_util.h"

/* Create a key; returns the token (stdout without its newline). */
static char *create(const char *args)
{
    int st;
    char *o = hark(&st, "keys create %s", args);
    size_t n;
    ASSERT_EQ(st, 0);
    n = strlen(o);
    ASSERT_MSG(n == HARK_KEY_TOKEN_LEN + 1 && o[n - 1] == '\n', "stdout is not one key: '%s'", o);
    o[n - 1] = '\0';
    ASSERT_EQ(strncmp(o, "hark_", 5), 0);
    return o;
}

/* The key the library finds for `token`; NULL when none. */
static hark_api_key *lookup(const char *token)
{
    hark_store *s = open_db();
    hark_api_key *k = NULL;
    uint8_t digest[32];
    int rc;
    ASSERT_OK(hark_key_digest(token, strlen(token), digest));
    rc = hark_store_key_lookup(s, digest, &k);
    ASSERT_MSG(rc == 0 || rc == HARK_ENOTFOUND, "lookup: %s", hark_error_last());
    hark_store_free(s);
    return k;
}

/* Does `needle` occur in the database file or its WAL? */
static int in_db_bytes(const void *needle, size_t n)
{
    static const char *const suffix[] = { "", "-wal" };
    size_t i;
    int found = 0;
    for (i = 0; i < 2 && !found; i++) {
        char path[4200];
        size_t len = 0;
        char *bytes;
        snprintf(path, sizeof(path), "%s%s", db(), suffix[i]);
        bytes = harness_read_file(path, &len);
        if (!bytes) {
            ASSERT_MSG(i > 0, "cannot read %s", path);
            continue;
        }
        found = memmem(bytes, len, needle, n) != NULL;
        free(bytes);
    }
    return found;
}

TEST(create_shows_the_key_once_and_stores_only_its_digest)
{
    char *token = create("--name laptop --user alice");
    char *e = err(), *o;
    uint8_t digest[32];
    hark_api_key *k;
    int st;

    ASSERT_CONTAINS(e, "created user 'alice'");
    ASSERT_CONTAINS(e, "cannot be shown again");
    ASSERT(!strstr(e, token + 5)); /* not on stderr either */
    free(e);

    /* the database holds the digest, never the token or its secret part */
    ASSERT_OK(hark_key_digest(token, strlen(token), digest));
    ASSERT_MSG(in_db_bytes(digest, sizeof(digest)), "the digest is not in the database bytes");
    ASSERT_MSG(!in_db_bytes(token, strlen(token)), "the token is in the database bytes");
    ASSERT_MSG(!in_db_bytes(token + HARK_KEY_PREFIX_LEN, strlen(token) - HARK_KEY_PREFIX_LEN),
               "the secret part of the token is in the database bytes");
    ASSERT(in_db_bytes(token, HARK_KEY_PREFIX_LEN)); /* the display prefix is */

    /* the library finds it by the digest of the token */
    k = lookup(token);
    ASSERT(k);
    ASSERT_STREQ(k->user_name, "alice");
    ASSERT_STREQ(k->name, "laptop");
    ASSERT_EQ(k->admin, 0);
    ASSERT_EQ(k->revoked_ms, 0);
    ASSERT_EQ(strncmp(k->prefix, token, HARK_KEY_PREFIX_LEN), 0);
    hark_api_key_free(k);

    /* and no command shows the token again */
    o = hark(&st, "keys list");
    ASSERT_EQ(st, 0);
    ASSERT(!strstr(o, token + HARK_KEY_PREFIX_LEN));
    ASSERT_CONTAINS(o, "alice");
    free(o);
    o = hark(&st, "keys audit --json");
    ASSERT_EQ(st, 0);
    ASSERT(!strstr(o, token + HARK_KEY_PREFIX_LEN));
    free(o);
    free(token);

    /* a second key for alice: a new token, the same user */
    token = create("--user alice --admin");
    e = err();
    ASSERT(!strstr(e, "created user"));
    ASSERT_CONTAINS(e, "created admin key 2");
    free(e);
    k = lookup(token);
    ASSERT(k);
    ASSERT_EQ(k->id, 2);
    ASSERT_EQ(k->user, 1);
    ASSERT_EQ(k->admin, 1);
    hark_api_key_free(k);
    free(token);
}

TEST(list_shows_every_key_as_a_table_and_as_json)
{
    char *t1 = create("--name 'build box' --user ci");
    char *t2 = create("--admin");
    int st;
    char *o;
    json_t *doc, *keys;
    json_error_t je;

    o = hark(&st, "keys list");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "prefix");
    ASSERT_CONTAINS(o, "revoked");
    ASSERT_MSG(strstr(o, "\n     1  ") && strstr(o, "\n     2  "), "rows missing in:\n%s", o);
    ASSERT_CONTAINS(o, "build box");
    ASSERT_CONTAINS(o, "default"); /* the user of a key made without --user */
    {
        char p1[HARK_KEY_PREFIX_LEN + 1];
        memcpy(p1, t1, HARK_KEY_PREFIX_LEN);
        p1[HARK_KEY_PREFIX_LEN] = '\0';
        ASSERT_CONTAINS(o, p1);
    }
    free(o);

    o = hark(&st, "keys list --json");
    ASSERT_EQ(st, 0);
    doc = json_loads(o, 0, &je);
    ASSERT_MSG(doc, "not JSON (%s): %s", je.text, o);
    keys = json_object_get(doc, "keys");
    ASSERT_EQ(json_array_size(keys), 2);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(keys, 0), "user_name")), "ci");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(keys, 0), "name")), "build box");
    ASSERT(json_is_false(json_object_get(json_array_get(keys, 0), "admin")));
    ASSERT(json_is_true(json_object_get(json_array_get(keys, 1), "admin")));
    ASSERT(json_is_null(json_object_get(json_array_get(keys, 1), "revoked_ms")));
    json_decref(doc);
    free(o);

    /* --user filters; an unknown user is "not found" */
    o = hark(&st, "keys list --user ci --json");
    ASSERT_EQ(st, 0);
    doc = json_loads(o, 0, &je);
    ASSERT(doc);
    ASSERT_EQ(json_array_size(json_object_get(doc, "keys")), 1);
    json_decref(doc);
    free(o);
    free(hark(&st, "keys list --user nobody"));
    ASSERT_EQ(st, 3);
    o = err();
    ASSERT_CONTAINS(o, "no user 'nobody'");
    free(o);
    free(t1);
    free(t2);
}

TEST(revoke_by_id_prefix_or_token_and_the_key_stops_working)
{
    char *t1 = create("--name one");
    char *t2 = create("--name two");
    char *t3 = create("--name three");
    char prefix[HARK_KEY_PREFIX_LEN + 1];
    hark_api_key *k;
    int st;
    char *o;

    /* by id */
    o = hark(&st, "keys revoke 1");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "revoked key 1");
    free(o);
    k = lookup(t1);
    ASSERT(k);
    ASSERT_LT(0, k->revoked_ms); /* the server refuses a key with revoked_ms set */
    hark_api_key_free(k);
    k = lookup(t2);
    ASSERT(k);
    ASSERT_EQ(k->revoked_ms, 0); /* the others are untouched */
    hark_api_key_free(k);

    /* by display prefix */
    memcpy(prefix, t2, HARK_KEY_PREFIX_LEN);
    prefix[HARK_KEY_PREFIX_LEN] = '\0';
    o = hark(&st, "keys revoke %s", prefix);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "revoked key 2");
    free(o);
    k = lookup(t2);
    ASSERT(k && k->revoked_ms > 0);
    hark_api_key_free(k);

    /* by the whole token (hashed, looked up) */
    o = hark(&st, "keys revoke %s", t3);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "revoked key 3");
    free(o);
    o = err();
    ASSERT(!strstr(o, t3 + 5));
    free(o);
    k = lookup(t3);
    ASSERT(k && k->revoked_ms > 0);
    hark_api_key_free(k);

    /* again: nothing to do, said so, still success */
    o = hark(&st, "keys revoke 1");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "already revoked");
    free(o);

    o = hark(&st, "keys list --json");
    ASSERT(!strstr(o, "\"revoked_ms\": null"));
    free(o);
    free(t1);
    free(t2);
    free(t3);
}

TEST(revoke_refuses_unknown_malformed_and_ambiguous_keys)
{
    static const uint8_t d1[32] = { 1 }, d2[32] = { 2 };
    hark_store *s = open_db();
    int64_t user, k1 = 0;
    int st;
    char *o;

    /* two keys whose prefixes share a start (made through the library) */
    ASSERT_OK(hark_store_user_create(s, "bob", &user));
    ASSERT_OK(hark_store_key_create(s, user, NULL, 0, d1, "hark_abcd001", &k1));
    ASSERT_OK(hark_store_key_create(s, user, NULL, 0, d2, "hark_abcd002", NULL));
    hark_store_free(s);

    free(hark(&st, "keys revoke 99"));
    ASSERT_EQ(st, 3);
    o = err();
    ASSERT_CONTAINS(o, "no key 99");
    free(o);
    free(hark(&st, "keys revoke hark_ffff"));
    ASSERT_EQ(st, 3);
    o = err();
    ASSERT_CONTAINS(o, "no key with prefix 'hark_ffff'");
    free(o);
    free(hark(&st, "keys revoke hark_%064d", 0)); /* a well-formed token nobody has */
    ASSERT_EQ(st, 3);
    free(hark(&st, "keys revoke nonsense"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "neither a key id nor a key prefix");
    free(o);
    free(hark(&st, "keys revoke"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "keys revoke 1 2"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "keys revoke hark_abcd"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "start of 2 keys");
    free(o);
    o = hark(&st, "keys revoke hark_abcd00");
    ASSERT_EQ(st, 2); /* still both */
    free(o);
    o = hark(&st, "keys revoke hark_abcd001");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "revoked key 1 (hark_abcd001)");
    free(o);

    /* other usage errors */
    free(hark(&st, "keys"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "keys frob"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "unknown action 'frob'");
    free(o);
    free(hark(&st, "keys create --json"));
    ASSERT_EQ(st, 2);
    o = err();
    ASSERT_CONTAINS(o, "--json does not apply");
    free(o);
    free(hark(&st, "keys create --user ''"));
    ASSERT_EQ(st, 2);
    free(hark(&st, "keys audit --limit 0"));
    ASSERT_EQ(st, 2);
}

TEST(every_change_is_audited)
{
    char *t = create("--name audited --user carol");
    hark_store *s;
    hark_audit_list *list = NULL;
    json_t *doc, *entries;
    json_error_t je;
    int st;
    char *o;

    free(hark(&st, "keys revoke 1"));
    ASSERT_EQ(st, 0);
    free(hark(&st, "keys revoke 1")); /* a no-op is not audited */
    ASSERT_EQ(st, 0);

    s = open_db();
    ASSERT_OK(hark_store_audit_list(s, 0, 0, &list));
    ASSERT_EQ(list->n, 3);
    ASSERT_STREQ(list->items[0].action, "key.revoke");
    ASSERT_STREQ(list->items[1].action, "key.create");
    ASSERT_STREQ(list->items[2].action, "user.create");
    ASSERT_EQ(list->items[0].user, 0); /* local: the command line */
    ASSERT_CONTAINS(list->items[0].detail, "\"key\":1");
    ASSERT_CONTAINS(list->items[1].detail, "\"user_name\":\"carol\"");
    ASSERT_CONTAINS(list->items[1].detail, "\"name\":\"audited\"");
    ASSERT(!strstr(list->items[1].detail, t + HARK_KEY_PREFIX_LEN));
    hark_audit_list_free(list);
    hark_store_free(s);

    o = hark(&st, "keys audit");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(o, "key.revoke");
    ASSERT_CONTAINS(o, "user.create");
    ASSERT_CONTAINS(o, "local");
    free(o);

    /* pages */
    o = hark(&st, "keys audit --limit 2");
    ASSERT_EQ(st, 0);
    ASSERT(!strstr(o, "user.create"));
    ASSERT_CONTAINS(o, "more: hark keys audit --before 2");
    free(o);
    o = hark(&st, "keys audit --before 2 --json");
    ASSERT_EQ(st, 0);
    doc = json_loads(o, 0, &je);
    ASSERT_MSG(doc, "not JSON (%s): %s", je.text, o);
    entries = json_object_get(doc, "entries");
    ASSERT_EQ(json_array_size(entries), 1);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(entries, 0), "action")),
                 "user.create");
    ASSERT(json_is_object(json_object_get(json_array_get(entries, 0), "detail")));
    json_decref(doc);
    free(o);
    free(t);
}

TEST(stored_names_cannot_drive_the_terminal)
{
    char *t =
        create("--name \"$(printf 'evil\\033]0;pwned\\007')\" --user \"$(printf 'u\\033[2J')\"");
    int st;
    char *o = hark(&st, "keys list");
    ASSERT_EQ(st, 0);
    ASSERT(!strchr(o, '\x1b'));
    ASSERT(!strchr(o, '\x07'));
    ASSERT_CONTAINS(o, "evil\\x1b]0;pwned\\x07");
    ASSERT_CONTAINS(o, "u\\x1b[2J");
    free(o);
    o = hark(&st, "keys audit");
    ASSERT_EQ(st, 0);
    ASSERT(!strchr(o, '\x1b'));
    free(o);
    o = err();
    ASSERT(!strchr(o, '\x1b'));
    free(o);
    free(t);
}

TEST(a_key_that_cannot_be_delivered_is_revoked_again)
{
    hark_store *s;
    hark_api_key_list *keys = NULL;
    hark_audit_list *al = NULL;
    int st;
    char *o;

    st = harness_sh("%s keys create --name lost --db '%s' >/dev/full 2>'%s'", harness_hark_bin(),
                    db(), harness_path("err.txt"));
    ASSERT_EQ(st, 1);
    o = err();
    ASSERT_CONTAINS(o, "cannot write the key to standard output");
    ASSERT_CONTAINS(o, "key 1 was revoked again");
    free(o);
    s = open_db();
    ASSERT_OK(hark_store_key_list(s, 0, &keys));
    ASSERT_EQ(keys->n, 1);
    ASSERT_STREQ(keys->items[0].name, "lost");
    ASSERT_LT(0, keys->items[0].revoked_ms);
    hark_api_key_list_free(keys);
    ASSERT_OK(hark_store_audit_list(s, 0, 0, &al));
    ASSERT_LE(2, al->n);
    ASSERT_STREQ(al->items[0].action, "key.revoke");
    ASSERT_STREQ(al->items[1].action, "key.create");
    hark_audit_list_free(al);
    hark_store_free(s);
}
