/*
 * fuzz_search_query.c: the search grammar parses whatever users type. Any
 * input must give HARK_ESYNTAX/HARK_ETOOBIG or a query whose FTS5 rendering
 * SQLite accepts: the backend must never see a syntax error of its own.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;
static sqlite3_stmt *query;

static void setup(void)
{
    if (db)
        return;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE VIRTUAL TABLE f USING fts5(text, tokenize='unicode61 "
                     "remove_diacritics 2');"
                     "INSERT INTO f VALUES ('and so my fellow americans ask not'),"
                     "('don''t e-mail the U.S.A. at 50%'), ('café Größe 日本語');",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT count(*) FROM f WHERE f MATCH ?", -1, &query, NULL) !=
            SQLITE_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    hark_query q;
    hark_buf fts = HARK_BUF_INIT;
    int rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* stops at an embedded NUL, as a C string would */
    setup();
    rc = hark__query_parse(&q, text);
    if (rc == 0) {
        if (q.n == 0 || hark__query_fts5(&q, &fts) < 0)
            abort();
        sqlite3_bind_text(query, 1, fts.ptr, (int)fts.len, SQLITE_STATIC);
        if (sqlite3_step(query) != SQLITE_ROW)
            abort(); /* the rendering reached FTS5 as invalid syntax */
        sqlite3_reset(query);
        hark__query_dispose(&q);
    } else if (rc != HARK_ESYNTAX && rc != HARK_ETOOBIG && rc != HARK_ENOMEM) {
        abort();
    }
    hark_buf_dispose(&fts);
    free(text);
    return 0;
}
