/*
 * store_args.c: opening the database and the result cache for a command
 * (--db, --cache-db), with one clear message when that fails. With a
 * PostgreSQL database and no --cache-db the cache lives in that database
 * (the one `hark worker` and `hark serve` nodes share), not in a local file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "../util/util.h"

#define L1_CACHE_BYTES (64u << 20)

enum { O_DB = 2000, O_CACHE_DB };

const cli_opt cli_store_opts[] = {
    { "--db", 1, O_DB, "PATH", "database file (default: $XDG_DATA_HOME/hark/hark.db)" },
    { "--cache-db", 1, O_CACHE_DB, "PATH",
      "result cache file (default: $XDG_CACHE_HOME/hark/cache.db; with a postgresql:// --db, "
      "that database: the cache its other nodes share)" },
};
const size_t cli_n_store_opts = sizeof(cli_store_opts) / sizeof(cli_store_opts[0]);

int cli_store_option(cli_store_args *a, int id, const char *value)
{
    switch (id) {
    case O_DB:
        a->db = value;
        return 1;
    case O_CACHE_DB:
        a->cache_db = value;
        return 1;
    }
    return 0;
}

/* Transcripts are private: say so when the file's mode lets others read it. */
static void warn_if_shared(const char *cmd, const char *path)
{
    struct stat sb;
    if (path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077))
        fprintf(stderr,
                "hark %s: warning: %s can be read by other users (mode %04o): chmod 600 it "
                "(and its -wal and -shm files)\n",
                cmd, path, (unsigned)(sb.st_mode & 07777));
}

static int open_fail(const char *cmd, int rc, const char *what)
{
    fprintf(stderr, "hark %s: cannot open the %s: %s%s\n", cmd, what, hark_error_last(),
            rc == HARK_EREADONLY ? " (read-only: use --no-store, or --db another file)" : "");
    return cli_exit_code(rc) == EXIT_FAIL ? EXIT_STORE : cli_exit_code(rc);
}

int cli_store_open(const char *cmd, const cli_store_args *a, cli_store *out, int want_store,
                   int want_cache, int want_audio_dir)
{
    hark_buf path = HARK_BUF_INIT;
    int rc;

    memset(out, 0, sizeof(*out));
    /* a PostgreSQL database holds its own result cache: a command that wants only the cache
     * opens the database for it */
    if (want_cache && !a->cache_db && a->db && !strncmp(a->db, "postgres", 8))
        want_store = 1;
    if (want_store) {
        if ((rc = hark_store_open(&out->store, a->db)) < 0) {
            rc = open_fail(cmd, rc, "database");
            goto fail;
        }
        if (a->db || hark_store_default_path(&path) == 0)
            warn_if_shared(cmd, a->db ? a->db : path.ptr);
        hark_buf_clear(&path);
    }
    if (want_cache && !a->cache_db && out->store &&
        !strncmp(hark_store_uri(out->store), "postgres", 8)) {
        /* a shared store holds the shared cache: what any node computed is a hit here */
        if ((rc = hark_cache_new(&out->cache, out->store, L1_CACHE_BYTES)) < 0) {
            rc = open_fail(cmd, rc, "result cache");
            goto fail;
        }
    } else if (want_cache) {
        if (!a->cache_db && (rc = hark_cache_default_path(&path)) < 0) {
            rc = open_fail(cmd, rc, "result cache");
            goto fail;
        }
        if ((rc = hark_store_open(&out->cache_store, a->cache_db ? a->cache_db : path.ptr)) < 0 ||
            (rc = hark_cache_new(&out->cache, out->cache_store, L1_CACHE_BYTES)) < 0) {
            rc = open_fail(cmd, rc, "result cache");
            goto fail;
        }
        warn_if_shared(cmd, a->cache_db ? a->cache_db : path.ptr);
    }
    if (want_audio_dir && out->store) {
        char *slash;
        hark_buf_clear(&path);
        if (a->db)
            rc = hark_buf_puts(&path, a->db);
        else
            rc = hark_store_default_path(&path);
        if (rc < 0) {
            rc = open_fail(cmd, rc, "database");
            goto fail;
        }
        slash = strrchr(path.ptr, '/');
        if (slash)
            *slash = '\0';
        else
            hark_buf_clear(&path), hark_buf_puts(&path, ".");
        path.len = strlen(path.ptr);
        hark_buf_puts(&path, "/audio");
        if (mkdir(path.ptr, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "hark %s: cannot create %s: %s\n", cmd, path.ptr, strerror(errno));
            rc = EXIT_STORE;
            goto fail;
        }
        out->audio_dir = hark_buf_detach(&path);
    }
    hark_buf_dispose(&path);
    return 0;
fail:
    hark_buf_dispose(&path);
    cli_store_close(out);
    return rc;
}

void cli_store_close(cli_store *s)
{
    hark_cache_free(s->cache);
    hark_store_free(s->cache_store);
    hark_store_free(s->store);
    hark__free(s->audio_dir);
    memset(s, 0, sizeof(*s));
}
