/*
 * admin_util.h: what the `hark keys` and `hark jobs` tests share: the test's
 * database, the real binary run against it, its stderr, and the library's
 * view of the same file.
 */
#ifndef HARK_TEST_ADMIN_UTIL_H
#define HARK_TEST_ADMIN_UTIL_H

#include "hark/hark.h"

/* The test's database file (admin.db in its folder). */
const char *db(void);
/* Run `hark ARGS --db DB`; stdout returned (caller frees), stderr kept for err(). */
char *hark(int *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last run's stderr (caller frees). */
char *err(void);
/* The same database through the library (caller frees with hark_store_free). */
hark_store *open_db(void);

#endif
