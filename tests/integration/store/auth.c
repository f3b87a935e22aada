/*
 * auth.c: conformance tests of users, API keys, the audit log and settings
 * (hark/auth.h): tokens and digests, the key lifecycle (create, lookup,
 * revoke, list, count), audit paging and settings that survive reopening.
 */
#include "store_test.h"

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

TEST(tokens_are_random_256_bit_hex_with_their_sha256)
{
    char t1[HARK_KEY_TOKEN_LEN + 1], t2[HARK_KEY_TOKEN_LEN + 1];
    uint8_t d1[32], d2[32], check[32];

    ASSERT_OK(hark_key_generate(t1, d1));
    ASSERT_OK(hark_key_generate(t2, d2));
    ASSERT_EQ(strlen(t1), HARK_KEY_TOKEN_LEN);
    ASSERT(strncmp(t1, "hark_", 5) == 0);
    ASSERT(is_lower_hex(t1 + 5, 64));
    ASSERT(strcmp(t1, t2) != 0);
    ASSERT(memcmp(d1, d2, 32) != 0);
    ASSERT_OK(hark_key_digest(t1, strlen(t1), check));
    ASSERT(memcmp(check, d1, 32) == 0);
    /* SHA-256("abc"), the FIPS 180-2 test vector */
    {
        static const uint8_t abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                         0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                         0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                         0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
        ASSERT_OK(hark_key_digest("abc", 3, check));
        ASSERT(memcmp(check, abc, 32) == 0);
    }
}

TEST(users_are_created_once_and_found_by_name_and_id)
{
    hark_store *s = st_open();
    hark_user *u = NULL;
    int64_t id = 0, id2 = 0;
    char long_name[80];

    ASSERT_OK(hark_store_user_create(s, "alice", &id));
    ASSERT(id > 0);
    ASSERT_ERR(hark_store_user_create(s, "alice", &id2), HARK_EEXISTS);
    ASSERT_CONTAINS(hark_error_last(), "alice");
    ASSERT_OK(hark_store_user_create(s, "bob", &id2));
    ASSERT(id2 > id);
    ASSERT_ERR(hark_store_user_create(s, "", NULL), HARK_EINVAL);
    memset(long_name, 'n', 65);
    long_name[65] = '\0';
    ASSERT_ERR(hark_store_user_create(s, long_name, NULL), HARK_EINVAL);
    long_name[64] = '\0';
    ASSERT_OK(hark_store_user_create(s, long_name, NULL));

    ASSERT_OK(hark_store_user_find(s, "alice", &u));
    ASSERT_EQ(u->id, id);
    ASSERT_STREQ(u->name, "alice");
    ASSERT(u->created_ms > 0);
    hark_user_free(u);
    ASSERT_OK(hark_store_user_get(s, id2, &u));
    ASSERT_STREQ(u->name, "bob");
    hark_user_free(u);
    ASSERT_ERR(hark_store_user_find(s, "carol", &u), HARK_ENOTFOUND);
    ASSERT(u == NULL);
    ASSERT_ERR(hark_store_user_get(s, id2 + 100, &u), HARK_ENOTFOUND);
    hark_store_free(s);
}

TEST(key_lifecycle_create_lookup_revoke_list_count)
{
    hark_store *s = st_open();
    char token[HARK_KEY_TOKEN_LEN + 1], prefix[HARK_KEY_PREFIX_LEN + 1];
    uint8_t digest[32], other[32];
    hark_api_key *k = NULL;
    hark_api_key_list *l = NULL;
    int64_t alice = 0, bob = 0, k1 = 0, k2 = 0, k3 = 0, revoked_at;
    uint64_t active = 9;

    memset(other, 7, sizeof(other));
    ASSERT_OK(hark_store_user_create(s, "alice", &alice));
    ASSERT_OK(hark_store_user_create(s, "bob", &bob));
    ASSERT_OK(hark_store_key_count_active(s, &active));
    ASSERT_EQ(active, 0);

    ASSERT_OK(hark_key_generate(token, digest));
    memcpy(prefix, token, HARK_KEY_PREFIX_LEN);
    prefix[HARK_KEY_PREFIX_LEN] = '\0';
    ASSERT_OK(hark_store_key_create(s, alice, "laptop", 0, digest, prefix, &k1));
    ASSERT(k1 > 0);
    ASSERT_ERR(hark_store_key_create(s, bob, "copy", 0, digest, prefix, NULL), HARK_EEXISTS);
    ASSERT_ERR(hark_store_key_create(s, bob + 50, NULL, 0, other, "hark_1", NULL), HARK_ENOTFOUND);
    ASSERT_ERR(hark_store_key_create(s, bob, NULL, 0, other, "hark_0123456789", NULL),
               HARK_EINVAL); /* prefix longer than 12 */
    ASSERT_ERR(hark_store_key_create(s, bob, NULL, 0, other, "", NULL), HARK_EINVAL);

    /* lookup by the digest of the presented token */
    ASSERT_OK(hark_key_digest(token, strlen(token), other));
    ASSERT_OK(hark_store_key_lookup(s, other, &k));
    ASSERT_EQ(k->id, k1);
    ASSERT_EQ(k->user, alice);
    ASSERT_STREQ(k->user_name, "alice");
    ASSERT_STREQ(k->name, "laptop");
    ASSERT_STREQ(k->prefix, prefix);
    ASSERT_EQ(k->admin, 0);
    ASSERT(k->created_ms > 0);
    ASSERT_EQ(k->revoked_ms, 0);
    hark_api_key_free(k);
    k = NULL;
    /* a token one character off is unknown */
    token[HARK_KEY_TOKEN_LEN - 1] = token[HARK_KEY_TOKEN_LEN - 1] == '0' ? '1' : '0';
    ASSERT_OK(hark_key_digest(token, strlen(token), other));
    ASSERT_ERR(hark_store_key_lookup(s, other, &k), HARK_ENOTFOUND);
    ASSERT(k == NULL);

    ASSERT_OK(hark_key_generate(token, other));
    ASSERT_OK(hark_store_key_create(s, bob, NULL, 1, other, "hark_bobkey", &k2));
    ASSERT_OK(hark_key_generate(token, other));
    ASSERT_OK(hark_store_key_create(s, alice, "phone", 0, other, "hark_phone", &k3));
    ASSERT_OK(hark_store_key_count_active(s, &active));
    ASSERT_EQ(active, 3);

    /* revoked keys are still found, with their revocation time */
    ASSERT_OK(hark_store_key_revoke(s, k1));
    ASSERT_OK(hark_store_key_lookup(s, digest, &k));
    ASSERT(k->revoked_ms > 0);
    revoked_at = k->revoked_ms;
    hark_api_key_free(k);
    st_sleep_ms(3);
    ASSERT_OK(hark_store_key_revoke(s, k1)); /* idempotent: the first time stays */
    ASSERT_OK(hark_store_key_lookup(s, digest, &k));
    ASSERT_EQ(k->revoked_ms, revoked_at);
    hark_api_key_free(k);
    ASSERT_ERR(hark_store_key_revoke(s, k3 + 100), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_key_count_active(s, &active));
    ASSERT_EQ(active, 2);

    ASSERT_OK(hark_store_key_list(s, alice, &l));
    ASSERT_EQ(l->n, 2);
    ASSERT_EQ(l->items[0].id, k1); /* oldest first, revoked included */
    ASSERT(l->items[0].revoked_ms > 0);
    ASSERT_EQ(l->items[1].id, k3);
    ASSERT_STREQ(l->items[1].name, "phone");
    hark_api_key_list_free(l);
    ASSERT_OK(hark_store_key_list(s, 0, &l));
    ASSERT_EQ(l->n, 3);
    ASSERT_EQ(l->items[1].id, k2);
    ASSERT_EQ(l->items[1].admin, 1);
    ASSERT(l->items[1].name == NULL);
    ASSERT_STREQ(l->items[1].user_name, "bob");
    hark_api_key_list_free(l);
    ASSERT_OK(hark_store_key_list(s, bob + 99, &l));
    ASSERT_EQ(l->n, 0);
    hark_api_key_list_free(l);
    hark_store_free(s);

    /* all of it is durable */
    s = st_reopen();
    ASSERT_OK(hark_store_key_lookup(s, digest, &k));
    ASSERT_EQ(k->revoked_ms, revoked_at);
    hark_api_key_free(k);
    hark_store_free(s);
}

TEST(audit_log_pages_newest_first)
{
    hark_store *s = st_open();
    hark_audit_list *l = NULL;
    int64_t before = 0, last = INT64_MAX;
    int seen = 0, pages = 0;

    for (int i = 0; i < 120; i++) {
        char detail[64];
        snprintf(detail, sizeof(detail), "{\"i\": %d, \"mode\": \"maintenance\"}", i);
        ASSERT_OK(hark_store_audit_add(s, i % 3, i % 2 ? 7 : 0, i % 5 ? "mode" : "key.revoke",
                                       i == 7 ? NULL : detail));
    }
    do {
        ASSERT_OK(hark_store_audit_list(s, before, 0, &l)); /* default page: 50 */
        pages++;
        for (size_t k = 0; k < l->n; k++, seen++) {
            const hark_audit_entry *e = &l->items[k];
            int i = 119 - seen;
            ASSERT(e->id < last);
            last = e->id;
            ASSERT(e->ts_ms > 0);
            ASSERT_EQ(e->user, i % 3);
            ASSERT_EQ(e->key, i % 2 ? 7 : 0);
            ASSERT_STREQ(e->action, i % 5 ? "mode" : "key.revoke");
            if (i == 7) {
                ASSERT(e->detail == NULL);
            } else {
                char want[64];
                snprintf(want, sizeof(want), "{\"i\": %d, \"mode\": \"maintenance\"}", i);
                ASSERT_STREQ(e->detail, want);
            }
        }
        ASSERT_EQ(l->more, seen < 120);
        before = l->n ? l->items[l->n - 1].id : 0;
        if (!l->more) {
            hark_audit_list_free(l);
            break;
        }
        hark_audit_list_free(l);
    } while (1);
    ASSERT_EQ(seen, 120);
    ASSERT_EQ(pages, 3);
    ASSERT_OK(hark_store_audit_list(s, 0, 7, &l));
    ASSERT_EQ(l->n, 7);
    ASSERT_EQ(l->more, 1);
    hark_audit_list_free(l);

    ASSERT_ERR(hark_store_audit_add(s, 0, 0, "mode", "not json"), HARK_EINVAL);
    ASSERT_ERR(hark_store_audit_add(s, 0, 0, "mode", "\"a string\""), HARK_EINVAL);
    ASSERT_ERR(hark_store_audit_add(s, 0, 0, "", NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_audit_add(s, -1, 0, "mode", NULL), HARK_EINVAL);
    ASSERT_ERR(hark_store_audit_list(s, -3, 0, &l), HARK_EINVAL);
    hark_store_free(s);
}

TEST(settings_are_set_read_replaced_removed_and_durable)
{
    hark_store *s = st_open();
    hark_buf b = HARK_BUF_INIT;

    ASSERT_ERR(hark_store_setting_get(s, "mode", &b), HARK_ENOTFOUND);
    ASSERT_EQ(b.len, 0);
    ASSERT_OK(hark_store_setting_set(s, "mode", "{\"mode\":\"maintenance\",\"reason\":\"x\"}"));
    ASSERT_OK(hark_store_setting_get(s, "mode", &b));
    ASSERT_OK(hark_store_setting_get(s, "mode", &b)); /* appends */
    ASSERT_STREQ(b.ptr, "{\"mode\":\"maintenance\",\"reason\":\"x\"}"
                        "{\"mode\":\"maintenance\",\"reason\":\"x\"}");
    ASSERT_OK(hark_store_setting_set(s, "mode", "{\"mode\":\"full\"}"));
    ASSERT_OK(hark_store_setting_set(s, "other", ""));
    hark_store_free(s);

    s = st_reopen();
    hark_buf_dispose(&b);
    ASSERT_OK(hark_store_setting_get(s, "mode", &b));
    ASSERT_STREQ(b.ptr, "{\"mode\":\"full\"}");
    hark_buf_dispose(&b);
    ASSERT_OK(hark_store_setting_get(s, "other", &b));
    ASSERT_EQ(b.len, 0);
    ASSERT_OK(hark_store_setting_set(s, "mode", NULL));
    ASSERT_ERR(hark_store_setting_get(s, "mode", &b), HARK_ENOTFOUND);
    ASSERT_OK(hark_store_setting_set(s, "mode", NULL)); /* removing nothing is fine */
    ASSERT_ERR(hark_store_setting_set(s, "", "x"), HARK_EINVAL);
    hark_buf_dispose(&b);
    hark_store_free(s);
}
