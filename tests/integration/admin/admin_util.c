/*
 * admin_util.c: see admin_util.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "harness.h"
#include "admin_util.h"

const char *db(void)
{
    static char path[4096];
    if (!path[0])
        snprintf(path, sizeof(path), "%s", harness_path("admin.db"));
    return path;
}

char *hark(int *st, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return harness_sh_output(st, "%s %s --db '%s' 2>'%s'", harness_hark_bin(), args, db(),
                             harness_path("err.txt"));
}

char *err(void)
{
    char *s = harness_read_file(harness_path("err.txt"), NULL);
    ASSERT(s);
    return s;
}

hark_store *open_db(void)
{
    hark_store *s = NULL;
    ASSERT_OK(hark_store_open(&s, db()));
    return s;
}
