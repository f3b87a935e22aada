/*
 * db.c: `hark db migrate --db URI`: bring a store's schema up to date,
 * explicitly (hark_store_migrate). A shared PostgreSQL store is never
 * migrated behind its operator's back: after an upgrade of hark, processes
 * refuse an older schema until this has run once. Idempotent: a store that
 * is up to date is left alone. SQLite stores are migrated when opened; the
 * command works on them too.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define CMD "db"

enum { O_HELP = 1, O_DB };

static const cli_opt opts[] = {
    { "-h|--help", 0, O_HELP, "", "this help" },
    { "--db", 1, O_DB, "URI",
      "the store: postgresql://..., sqlite:PATH or a file (default: "
      "$XDG_DATA_HOME/hark/hark.db)" },
};

static const char usage[] = "usage: hark db migrate [--db URI]\n";

static const cli_action actions[] = { { "migrate", 0, 0, 0 } };

static const cli_actions db_actions = {
    CMD, actions, 1, opts, sizeof(opts) / sizeof(opts[0]), usage
};

typedef struct args {
    int help;
    const char *db;
    const char *words[2];
    int n_words;
} args;

static int on_opt(void *ctx, int id, const char *v)
{
    args *a = ctx;
    if (id == O_HELP)
        a->help = 1;
    else if (id == O_DB)
        a->db = v;
    return 0;
}

static int on_arg(void *ctx, const char *arg)
{
    args *a = ctx;
    if (a->n_words == 2) {
        fprintf(stderr, "hark " CMD ": too many arguments (see hark " CMD " --help)\n");
        return EXIT_USAGE;
    }
    a->words[a->n_words++] = arg;
    return 0;
}

int cmd_db(int argc, char **argv)
{
    args a;
    hark_buf path = HARK_BUF_INIT;
    const char *uri;
    int rc, from = -1, to = -1;

    memset(&a, 0, sizeof(a));
    if ((rc = cli_parse(CMD, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), on_opt, on_arg,
                        &a)) != 0)
        return rc;
    if (a.help) {
        fputs(usage, stdout);
        printf("\nBring the store's schema up to date (create it in an empty database).\n"
               "Idempotent. PostgreSQL stores shared by many hark processes are never\n"
               "migrated implicitly: run this once after upgrading hark.\n\noptions:\n");
        cli_print_options(stdout, opts, sizeof(opts) / sizeof(opts[0]));
        return EXIT_OK;
    }
    if (!cli_action_pick(&db_actions, 0, a.words, a.n_words, NULL))
        return EXIT_USAGE;
    uri = a.db;
    if (!uri) {
        if ((rc = hark_store_default_path(&path)) < 0) {
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
            return EXIT_STORE;
        }
        uri = path.ptr;
    }
    rc = hark_store_migrate(uri, &from, &to);
    hark_buf_dispose(&path);
    if (rc < 0) {
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
        return rc == HARK_EUNSUPPORTED || rc == HARK_EINVAL ? EXIT_USAGE : EXIT_STORE;
    }
    if (from < 0 || to < 0)
        printf("schema up to date\n");
    else if (from == to)
        printf("schema up to date (version %d)\n", to);
    else if (from == 0)
        printf("schema created (version %d)\n", to);
    else
        printf("schema migrated from version %d to %d\n", from, to);
    return EXIT_OK;
}
