/*
 * models.c: `hark models list | pull NAME | path [NAME] | rm NAME`.
 *
 * Whisper model management on top of hark/models.h: list what is installed
 * (and what can be downloaded), fetch a model over HTTPS with resume,
 * progress and checksum verification, print a model's path, remove one.
 *
 * A pull is checked before any network access: a bad name is a usage error,
 * and a name the catalog does not know (so no checksum vouches for it) is
 * refused unless --sha256 gives its checksum or --insecure accepts a file
 * checked for structure only. A plain http:// mirror gets a warning. A file
 * that fails its size, checksum or structure check is a model error (exit 6).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

#define CMD "models"

enum { O_HELP = 1, O_VERIFY, O_ALL, O_FORCE, O_URL, O_QUIET, O_SHA256, O_INSECURE };

static const cli_opt opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--verify", 0, O_VERIFY, "", "list: hash every installed file and compare with the catalog" },
    { "--all", 0, O_ALL, "", "list: also show every downloadable model" },
    { "--force", 0, O_FORCE, "", "pull: download again even if a valid file is installed" },
    { "--url", 1, O_URL, "URL", "pull: download from this base URL (a mirror)" },
    { "--sha256", 1, O_SHA256, "HEX",
      "pull: the file's SHA-256 (needed for a name not in the catalog)" },
    { "--insecure", 0, O_INSECURE, "",
      "pull: accept a name not in the catalog without a checksum" },
    { "-q|--quiet", 0, O_QUIET, "", "pull: no progress line" },
};

typedef struct args {
    int help, verify, all, force, quiet, insecure;
    const char *url, *sha256;
    const char *words[4];
    int n_words;
} args;

static int on_opt(void *ctx, int id, const char *v)
{
    args *a = ctx;
    switch (id) {
    case O_HELP:
        a->help = 1;
        break;
    case O_VERIFY:
        a->verify = 1;
        break;
    case O_ALL:
        a->all = 1;
        break;
    case O_FORCE:
        a->force = 1;
        break;
    case O_URL:
        a->url = v;
        break;
    case O_QUIET:
        a->quiet = 1;
        break;
    case O_SHA256:
        if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64) {
            fprintf(stderr, "hark " CMD ": --sha256 takes 64 hexadecimal digits, not '%s'\n", v);
            return EXIT_USAGE;
        }
        a->sha256 = v;
        break;
    case O_INSECURE:
        a->insecure = 1;
        break;
    }
    return 0;
}

static int on_arg(void *ctx, const char *arg)
{
    args *a = ctx;
    if (a->n_words == 4) {
        fprintf(stderr, "hark " CMD ": too many arguments\n");
        return EXIT_USAGE;
    }
    a->words[a->n_words++] = arg;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hark models list [--all] [--verify]\n"
               "       hark models pull NAME [--force] [--url URL] [--sha256 HEX] [--insecure] "
               "[-q]\n"
               "       hark models path [NAME]\n"
               "       hark models rm NAME\n\n"
               "Whisper models (whisper.cpp's ggml files: tiny, base.en, small, large-v3-turbo,\n"
               "...-q5_1, ...-q8_0) live in $HARK_MODELS_DIR, else $XDG_DATA_HOME/hark/models,\n"
               "else ~/.local/share/hark/models. HARK_MODELS_URL sets a download mirror.\n"
               "A name outside the catalog needs --sha256 (or --insecure).\n\n");
    cli_print_options(f, opts, sizeof(opts) / sizeof(opts[0]));
}

static void mib(char *out, size_t n, uint64_t bytes)
{
    snprintf(out, n, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

static int do_list(const args *a)
{
    hark_model_file *files = NULL;
    hark_buf dir = HARK_BUF_INIT;
    size_t n = 0, i;
    int rc;

    if ((rc = hark_models_list(&files, &n, a->verify ? HARK_MODELS_LIST_VERIFY : 0)) < 0) {
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
        return cli_exit_code(rc);
    }
    hark_models_dir(&dir);
    printf("installed in %s:\n", dir.ptr ? dir.ptr : "?");
    if (n == 0)
        printf("  (none: get one with 'hark models pull base.en')\n");
    for (i = 0; i < n; i++) {
        const hark_model_file *f = &files[i];
        char size[32];
        const char *check = "";
        mib(size, sizeof(size), f->installed ? f->size : f->partial_size);
        if (f->checksum == HARK_MODEL_CHECKSUM_OK)
            check = ", checksum ok";
        else if (f->checksum == HARK_MODEL_CHECKSUM_MISMATCH)
            check = ", CHECKSUM MISMATCH";
        else if (f->checksum == HARK_MODEL_CHECKSUM_NONE)
            check = ", no published checksum";
        if (!f->installed)
            printf("  %-24s %10s  unfinished download (pull again to resume)\n", f->name, size);
        else if (f->valid)
            printf("  %-24s %10s  %s %s%s%s\n", f->name, size, f->header.type, f->header.quant,
                   f->header.multilingual ? ", multilingual" : ", English", check);
        else
            printf("  %-24s %10s  INVALID: %s\n", f->name, size, f->problem ? f->problem : "?");
    }
    if (a->all) {
        printf("\ndownloadable (hark models pull NAME):\n");
        for (i = 0; i < hark_models_catalog_count(); i++) {
            const hark_model_info *m = hark_models_catalog_at(i);
            char size[32];
            mib(size, sizeof(size), m->size);
            printf("  %-24s %10s  %s%s\n", m->name, m->size ? size : "?", m->quant,
                   m->english_only ? ", English" : ", multilingual");
        }
    }
    hark_models_list_free(files, n);
    hark_buf_dispose(&dir);
    return 0;
}

typedef struct pull_ui {
    int tty;
    int drawn;
} pull_ui;

static void on_pull_progress(const hark_models_progress *p, void *payload)
{
    pull_ui *ui = payload;
    hark_buf line = HARK_BUF_INIT;
    if (!ui->tty)
        return;
    if (hark_models_progress_format(&line, p, 100) == 0) {
        fprintf(stderr, "\r\x1b[K%s", line.ptr ? line.ptr : "");
        fflush(stderr);
        ui->drawn = 1;
    }
    hark_buf_dispose(&line);
}

/* Exit code of a failed models operation (pull, path, rm). */
static int models_exit_code(int rc)
{
    switch (rc) {
    case HARK_ECORRUPT: /* size, checksum or structure: the file is not the model */
    case HARK_EMODEL:
        return EXIT_MODEL;
    case HARK_EINVAL:
        return EXIT_USAGE;
    case HARK_ETIMEOUT:
    case HARK_EAUTH:
        return EXIT_NETWORK;
    default:
        return cli_exit_code(rc);
    }
}

/* The checks a pull gets before any network access; 0 or an exit code. */
static int pull_allowed(const args *a, const char *name)
{
    const char *base = a->url ? a->url : getenv("HARK_MODELS_URL");
    if (hark_models_check_name(name) < 0) {
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
        return EXIT_USAGE;
    }
    if (!hark_models_catalog_find(name) && !a->sha256 && !a->insecure) {
        fprintf(stderr,
                "hark " CMD ": '%s' is not in the catalog (see hark models list --all), so no "
                "checksum vouches for it:\n"
                "      give its SHA-256 with --sha256 HEX, or pass --insecure to accept a file "
                "checked for structure only\n",
                name);
        return EXIT_USAGE;
    }
    if (base && strncasecmp(base, "http://", 7) == 0)
        fprintf(stderr,
                "hark " CMD ": warning: %s is plain HTTP: the download can be read and changed on "
                "the way%s\n",
                base,
                a->sha256 || hark_models_catalog_find(name) ? "; its checksum is still checked"
                                                            : " and nothing checks its bytes");
    return 0;
}

static int do_pull(const args *a, const char *name)
{
    hark_models_pull_options po;
    hark_models_pull_result res;
    hark_buf path = HARK_BUF_INIT;
    pull_ui ui = { 0, 0 };
    int rc;

    if ((rc = pull_allowed(a, name)) != 0)
        return rc;
    hark_models_pull_options_default(&po);
    ui.tty = !a->quiet && isatty(2);
    po.base_url = a->url;
    po.sha256 = a->sha256;
    po.force = a->force;
    po.progress = on_pull_progress;
    po.abort = cli_abort_cb;
    po.payload = &ui;
    cli_signals_install();
    rc = hark_models_pull(&path, &res, name, &po);
    if (ui.drawn)
        fprintf(stderr, "\r\x1b[K");
    if (rc < 0) {
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
        hark_buf_dispose(&path);
        return models_exit_code(rc);
    }
    if (res.already_installed)
        fprintf(stderr, "%s is already installed\n", name);
    else
        fprintf(stderr, "installed %s (%.1f MiB%s, sha256 %s)\n", name,
                (double)res.size / (1024.0 * 1024.0), res.resumed_from ? ", resumed" : "",
                res.sha256);
    printf("%s\n", path.ptr);
    hark_buf_dispose(&path);
    return 0;
}

int cmd_models(int argc, char **argv)
{
    args a;
    int rc;
    memset(&a, 0, sizeof(a));
    if ((rc = cli_parse(CMD, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), on_opt, on_arg,
                        &a)) != 0)
        return rc;
    if (a.help) {
        usage(stdout);
        return 0;
    }
    if (a.n_words == 0 || strcmp(a.words[0], "list") == 0)
        return do_list(&a);
    if (strcmp(a.words[0], "pull") == 0) {
        if (a.n_words != 2) {
            fprintf(stderr, "hark " CMD ": usage: hark models pull NAME (e.g. base.en)\n");
            return EXIT_USAGE;
        }
        return do_pull(&a, a.words[1]);
    }
    if (strcmp(a.words[0], "path") == 0) {
        hark_buf p = HARK_BUF_INIT;
        rc = hark_models_path(&p, a.n_words > 1 ? a.words[1] : NULL);
        if (rc < 0)
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
        else
            printf("%s\n", p.ptr);
        hark_buf_dispose(&p);
        return rc < 0 ? models_exit_code(rc) : 0;
    }
    if (strcmp(a.words[0], "rm") == 0) {
        uint64_t freed = 0;
        if (a.n_words != 2) {
            fprintf(stderr, "hark " CMD ": usage: hark models rm NAME\n");
            return EXIT_USAGE;
        }
        if ((rc = hark_models_rm(&freed, a.words[1])) < 0) {
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
            return models_exit_code(rc);
        }
        fprintf(stderr, "removed %s (%.1f MiB)\n", a.words[1], (double)freed / (1024.0 * 1024.0));
        return 0;
    }
    fprintf(stderr, "hark " CMD ": unknown subcommand '%s' (list, pull, path, rm)\n", a.words[0]);
    return EXIT_USAGE;
}
