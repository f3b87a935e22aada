/*
 * schema.c: PostgreSQL-only tests of opening a store: versioned
 * migrations (an empty database is created, an older schema is refused
 * until `hark db migrate`, a newer one is refused), bad connection URIs,
 * and reconnecting after the server restarts.
 */
#include "pg_test.h"
#include "store/store.h"

TEST(pg_empty_database_gets_the_schema_and_migrate_is_idempotent)
{
    const char *uri = harness_pg_uri();
    hark_store *s = NULL;
    int from = -1, to = -1;
    char *out;
    int st;

    ASSERT_OK(hark_store_open(&s, uri));
    ASSERT_STREQ(hark_store_backend(s), "postgresql");
    hark_store_free(s);
    ASSERT_OK(hark_store_migrate(uri, &from, &to));
    ASSERT_EQ(from, hark__pg_schema_version());
    ASSERT_EQ(to, hark__pg_schema_version());
    out = harness_sh_output(&st, "'%s' db migrate --db '%s' 2>&1", harness_hark_bin(), uri);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "schema up to date");
    free(out);
}

TEST(pg_older_schema_is_refused_until_hark_db_migrate)
{
    const char *uri = harness_pg_uri();
    hark_store *s = NULL;
    hark_recording *r = NULL;
    int64_t id = 0;
    char *out;
    int st;

    ASSERT(hark__pg_schema_version() >= 2);
    ASSERT_OK(hark__pg_migrate_to(uri, 1)); /* a store written by an older hark */
    ASSERT_ERR(hark_store_open(&s, uri), HARK_EVERSION);
    ASSERT_CONTAINS(hark_error_last(), "older than this hark's");
    ASSERT_CONTAINS(hark_error_last(), "hark db migrate");
    ASSERT(s == NULL);
    /* the CLI says the same, fails, and does not migrate */
    out = harness_sh_output(&st, "'%s' list --db '%s' 2>&1", harness_hark_bin(), uri);
    ASSERT_NE(st, 0);
    ASSERT_CONTAINS(out, "hark db migrate");
    free(out);
    out = harness_sh_output(&st, "'%s' db migrate --db '%s' 2>&1", harness_hark_bin(), uri);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "migrated from version 1 to");
    free(out);
    ASSERT_OK(hark_store_open(&s, uri));
    id = st_dummy_recording(s);
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    hark_recording_free(r);
    hark_store_free(s);
}

TEST(pg_newer_schema_is_refused)
{
    const char *uri = harness_pg_uri();
    hark_store *s = NULL;
    char sql[600];
    ASSERT_OK(hark_store_migrate(uri, NULL, NULL));
    snprintf(sql, sizeof(sql),
             "psql -q '%s' -c 'UPDATE schema_version SET version = 999' >/dev/null", uri);
    if (!harness_have("psql"))
        SKIP("no psql");
    ASSERT_EQ(harness_sh("%s", sql), 0);
    ASSERT_ERR(hark_store_open(&s, uri), HARK_EVERSION);
    ASSERT_CONTAINS(hark_error_last(), "schema version 999 is newer than this hark supports");
    ASSERT_CONTAINS(hark_error_last(), "upgrade hark");
    ASSERT_ERR(hark_store_migrate(uri, NULL, NULL), HARK_EVERSION);
}

TEST(pg_bad_uris_give_clear_errors)
{
    hark_store *s = NULL;
    char uri[1500];
    const char *good = harness_pg_uri();
    char *q = strchr(good, '?');

    ASSERT_ERR(hark_store_open(&s, "postgresql://hark@/db?bogus_option=1"), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "bad connection URI");
    ASSERT_ERR(hark_store_open(&s, "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2"),
               HARK_EIO);
    ASSERT_CONTAINS(hark_error_last(), "cannot connect to the database server");
    /* a database that does not exist on a server that does */
    snprintf(uri, sizeof(uri), "postgresql://hark@/no_such_db%s", q);
    ASSERT_ERR(hark_store_open(&s, uri), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "no such database");
    /* a password never appears in messages */
    ASSERT_ERR(hark_store_open(&s, "postgresql://u:s3cret@127.0.0.1:1/x?connect_timeout=2"),
               HARK_EIO);
    ASSERT(strstr(hark_error_last(), "s3cret") == NULL);
    ASSERT(s == NULL);
}

TEST(pg_reconnects_after_the_server_restarts)
{
    const char *uri = harness_pg_uri();
    hark_store *s = NULL;
    hark_recording *r = NULL;
    int64_t id;

    if (!harness_pg_dir())
        SKIP("the server is not the harness's own (HARK_TEST_PG_DSN)");
    ASSERT_OK(hark_store_open(&s, uri));
    id = st_dummy_recording(s);
    ASSERT_EQ(harness_pg_ctl("restart"), 0);
    /* pooled connections are dead now: reads and writes reconnect with a log line */
    ASSERT_OK(hark_store_recording_get(s, id, &r));
    hark_recording_free(r);
    ASSERT(st_dummy_recording(s) > id);
    hark_store_free(s);
}
