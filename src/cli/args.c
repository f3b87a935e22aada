/*
 * args.c: a small, strict option parser. Options may come anywhere among the
 * arguments, as "--name value", "--name=value", a whisper-cli style alias
 * such as "-bs 5" (each option lists its spellings), or, as with getopt, a
 * one-letter option with its value attached ("-j1", "-t2"; an exact
 * spelling such as "-tr" wins over "-t" + "r"). Unknown options and bad
 * numbers are usage errors with a message naming the command. Commands with
 * actions ("hark keys create") pick theirs with cli_action_pick, which
 * rejects options and arguments the action does not take.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int name_matches(const char *names, const char *arg, size_t len)
{
    const char *p = names;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, arg, len) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts,
              cli_opt_fn on_opt, cli_arg_fn on_arg, void *ctx)
{
    int i, only_args = 0;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq;
        size_t len, k;
        const cli_opt *o = NULL;
        const char *value = NULL;
        int rc;

        if (only_args || a[0] != '-' || a[1] == '\0') {
            if ((rc = on_arg(ctx, a)) != 0)
                return rc;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        len = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < n_opts && !o; k++)
            if (name_matches(opts[k].names, a, len))
                o = &opts[k];
        /* getopt style: a one-letter option with its value attached ("-j1", "-t2") */
        for (k = 0; k < n_opts && !o && a[1] != '-' && a[2]; k++)
            if (opts[k].has_arg && name_matches(opts[k].names, a, 2)) {
                o = &opts[k];
                eq = a + 1; /* the value starts after the letter */
                len = 2;
            }
        if (!o) {
            fprintf(stderr, "hark %s: unknown option '%.*s' (see hark %s --help)\n", cmd, (int)len,
                    a, cmd);
            return EXIT_USAGE;
        }
        if (o->has_arg) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                fprintf(stderr, "hark %s: option '%s' needs a value\n", cmd, a);
                return EXIT_USAGE;
            }
        } else if (eq) {
            fprintf(stderr, "hark %s: option '%.*s' takes no value\n", cmd, (int)len, a);
            return EXIT_USAGE;
        }
        if ((rc = on_opt(ctx, o->id, value)) != 0)
            return rc;
    }
    return 0;
}

void cli_print_options(FILE *f, const cli_opt *opts, size_t n_opts)
{
    size_t k;
    for (k = 0; k < n_opts; k++) {
        char left[64];
        char names[48];
        const char *p = opts[k].names;
        size_t n = 0;
        /* show spellings separated by ", " */
        while (*p && n + 2 < sizeof(names)) {
            if (*p == '|') {
                names[n++] = ',';
                names[n++] = ' ';
            } else {
                names[n++] = *p;
            }
            p++;
        }
        names[n] = '\0';
        snprintf(left, sizeof(left), "%s%s%s", names, opts[k].has_arg ? " " : "",
                 opts[k].has_arg ? opts[k].arg_name : "");
        fprintf(f, "  %-30s %s\n", left, opts[k].help);
    }
}

int cli_long(const char *cmd, const char *what, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "hark %s: %s must be a whole number from %ld to %ld, not '%s'\n", cmd, what,
                lo, hi, s);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int cli_double(const char *cmd, const char *what, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "hark %s: %s must be a number from %g to %g, not '%s'\n", cmd, what, lo, hi,
                s);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

const cli_action *cli_action_pick(const cli_actions *c, unsigned seen, const char *const *words,
                                  int n_words, const char *dflt)
{
    const char *name = n_words > 0 ? words[0] : dflt;
    const cli_action *act = NULL;
    unsigned extra;
    size_t k;

    for (k = 0; name && k < c->n_actions && !act; k++)
        if (strcmp(c->actions[k].name, name) == 0)
            act = &c->actions[k];
    if (!act) {
        if (name && *name) {
            fprintf(stderr, "hark %s: unknown action '", c->cmd);
            cli_put_safe(stderr, name, 0, NULL);
            fputs("'\n", stderr);
        }
        fputs(c->usage, stderr);
        return NULL;
    }
    extra = seen & ~act->takes;
    for (k = 0; k < c->n_opts && extra; k++)
        if (extra & (1u << c->opts[k].id)) {
            const char *bar = strchr(c->opts[k].names, '|');
            fprintf(stderr, "hark %s %s: %s does not apply here (see hark %s --help)\n", c->cmd,
                    act->name, bar ? bar + 1 : c->opts[k].names, c->cmd);
            return NULL;
        }
    if (n_words > 1 + act->max_args) {
        fprintf(stderr, "hark %s %s: unexpected argument '", c->cmd, act->name);
        cli_put_safe(stderr, words[1 + act->max_args], 0, NULL);
        fprintf(stderr, "' (see hark %s --help)\n", c->cmd);
        return NULL;
    }
    return act;
}

int cli_exit_code(int rc)
{
    switch (rc) {
    case HARK_OK:
        return EXIT_OK;
    case HARK_ENOTFOUND:
    case HARK_EIO:
        return EXIT_NOINPUT;
    case HARK_EDECODE:
    case HARK_ENOAUDIO:
        return EXIT_DATAERR;
    case HARK_EEMPTY:
        return EXIT_EMPTY;
    case HARK_EMODEL:
    case HARK_EVERSION:
        return EXIT_MODEL;
    case HARK_EBACKEND:
    case HARK_EREADONLY:
    case HARK_ENOSPC:
    case HARK_ECORRUPT:
        return EXIT_STORE;
    case HARK_ENETWORK:
        return EXIT_NETWORK;
    case HARK_ECANCELED:
        return EXIT_INTERRUPT;
    default:
        return EXIT_FAIL;
    }
}
