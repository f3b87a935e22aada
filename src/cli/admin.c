/*
 * admin.c: pieces shared by the administration commands (keys.c, jobs.c):
 * store failures mapped to exit codes, local times, stored text printed in
 * table columns, and audit entries for actions taken from the command line.
 *
 * Stored names (users, keys) are chosen by whoever created them and reach
 * the terminal only through cli_put_safe, also when padded into a column.
 */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "../util/util.h"

int cli_admin_fail(const char *cmd, int rc)
{
    fputs("hark ", stderr);
    fputs(cmd, stderr);
    fputs(": ", stderr);
    cli_put_safe(stderr, hark_error_last(), 0, NULL);
    fputc('\n', stderr);
    if (rc == HARK_ENOTFOUND)
        return EXIT_NOINPUT;
    if (rc == HARK_EINVAL || rc == HARK_EEXISTS)
        return EXIT_FAIL;
    return cli_exit_code(rc) == EXIT_FAIL ? EXIT_STORE : cli_exit_code(rc);
}

void cli_local_time(char *out, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M", &tm);
}

void cli_put_col(FILE *f, const char *text, int width)
{
    char *esc = NULL;
    size_t len = 0, i;
    int cols = 0;
    FILE *m = open_memstream(&esc, &len);
    if (!m) { /* no memory: print it unpadded */
        cli_put_safe(f, text ? text : "-", 0, NULL);
        fputc(' ', f);
        return;
    }
    cli_put_safe(m, text ? text : "-", 0, NULL);
    fclose(m);
    fwrite(esc, 1, len, f);
    for (i = 0; i < len; i++) /* columns: UTF-8 lead bytes (escapes are ASCII) */
        if (((unsigned char)esc[i] & 0xc0) != 0x80)
            cols++;
    free(esc); /* libc's buffer from open_memstream */
    for (; cols < width; cols++)
        fputc(' ', f);
    fputc(' ', f);
}

int cli_audit(const char *cmd, hark_store *s, const char *action, const hark_buf *detail)
{
    int rc = hark_store_audit_add(s, 0, 0, action, detail ? detail->ptr : NULL);
    if (rc < 0) {
        fprintf(stderr, "hark %s: cannot write the audit entry: ", cmd);
        cli_put_safe(stderr, hark_error_last(), 0, NULL);
        fputc('\n', stderr);
    }
    return rc;
}
