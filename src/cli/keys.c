/*
 * keys.c: API keys for `hark serve`, from the command line:
 *   hark keys create [--name NAME] [--user USER] [--admin]
 *   hark keys list [--user USER] [--json]
 *   hark keys revoke ID|PREFIX
 *   hark keys audit [--limit N] [--before ID] [--json]
 *
 * DESIGN
 * - create: the token comes from hark_key_generate; only its SHA-256 and
 *   its display prefix reach the store. The token is printed once, alone on
 *   stdout (so `KEY=$(hark keys create)` works), with a note on stderr that
 *   it cannot be shown again; the copy in memory is wiped before exit. The
 *   user is created when it does not exist yet.
 * - Every change (user.create, key.create, key.revoke) is written to the
 *   audit log as a local action (user 0, key 0). A key whose audit entry
 *   cannot be written, or that could not be written to stdout (a full disk,
 *   a closed pipe), is revoked again: no key stays usable that nobody has or
 *   that the log does not show.
 * - revoke takes a key id, a display prefix (any unambiguous start of one,
 *   "hark_" and at least one more character), or the whole token (hashed and
 *   looked up, never stored or printed). Revoking a revoked key changes
 *   nothing and writes no audit entry.
 *
 * INVARIANTS
 * - No token is written anywhere but stdout, once, by create.
 * - Stored names reach the terminal through cli_put_safe.
 */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

#define DEFAULT_USER "default"

enum { O_HELP = 1, O_NAME, O_USER, O_ADMIN, O_JSON, O_LIMIT, O_BEFORE };

typedef struct keys_args {
    cli_store_args db;
    int help, admin, json;
    const char *name, *user;
    long limit, before;
    const char *words[4];
    int n_words;
    unsigned seen; /* bit (1 << O_x) per option given */
} keys_args;

static const cli_opt opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--name", 1, O_NAME, "NAME", "create: a label for the key (\"laptop\")" },
    { "--user", 1, O_USER, "USER",
      "create: the key's user, created if new (else \"" DEFAULT_USER "\"); list: only theirs" },
    { "--admin", 0, O_ADMIN, "", "create: an admin key (sees everything, admin routes)" },
    { "--json", 0, O_JSON, "", "list, audit: JSON output" },
    { "--limit", 1, O_LIMIT, "N", "audit: entries to show (default 50, at most 1000)" },
    { "--before", 1, O_BEFORE, "ID",
      "audit: entries older than entry ID (as printed at the end of a page)" },
};

static const char usage[] = "usage: hark keys create [--name NAME] [--user USER] [--admin]\n"
                            "       hark keys list [--user USER] [--json]\n"
                            "       hark keys revoke ID|PREFIX\n"
                            "       hark keys audit [--limit N] [--before ID] [--json]\n";

enum { A_CREATE, A_LIST, A_REVOKE, A_AUDIT };

static const cli_action actions[] = {
    { "create", A_CREATE, 1u << O_NAME | 1u << O_USER | 1u << O_ADMIN, 0 },
    { "list", A_LIST, 1u << O_USER | 1u << O_JSON, 0 },
    { "revoke", A_REVOKE, 0, 1 },
    { "audit", A_AUDIT, 1u << O_JSON | 1u << O_LIMIT | 1u << O_BEFORE, 0 },
};

static const cli_actions keys_actions = {
    "keys", actions, HARK_ARRAY_SIZE(actions), opts, HARK_ARRAY_SIZE(opts), usage
};

static int on_opt(void *ctx, int id, const char *v)
{
    keys_args *a = ctx;
    if (cli_store_option(&a->db, id, v))
        return 0;
    a->seen |= 1u << id;
    switch (id) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_NAME:
        a->name = v;
        return 0;
    case O_USER:
        a->user = v;
        return 0;
    case O_ADMIN:
        a->admin = 1;
        return 0;
    case O_JSON:
        a->json = 1;
        return 0;
    case O_LIMIT:
        return cli_long("keys", "--limit", v, 1, 1000, &a->limit);
    case O_BEFORE:
        return cli_long("keys", "--before", v, 1, 0x7fffffffL, &a->before);
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    keys_args *a = ctx;
    if (a->n_words == (int)HARK_ARRAY_SIZE(a->words)) {
        fprintf(stderr, "hark keys: too many arguments (see hark keys --help)\n");
        return EXIT_USAGE;
    }
    a->words[a->n_words++] = arg;
    return 0;
}

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

/* A name the store refuses (empty, too long) is a usage error. */
static int bad_input(const char *cmd, int rc)
{
    int code = cli_admin_fail(cmd, rc);
    return rc == HARK_EINVAL ? EXIT_USAGE : code;
}

/* The user called `name`, created (and audited) if new. */
static int ensure_user(hark_store *s, const char *name, int64_t *id)
{
    hark_user *u = NULL;
    hark_buf d = HARK_BUF_INIT;
    hark_jsonw w;
    int rc = hark_store_user_find(s, name, &u);
    if (rc == 0) {
        *id = u->id;
        hark_user_free(u);
        return 0;
    }
    if (rc != HARK_ENOTFOUND)
        return cli_admin_fail("keys create", rc);
    if ((rc = hark_store_user_create(s, name, id)) < 0)
        return bad_input("keys create", rc);
    hark_jsonw_init(&w, &d, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "user");
    hark_jsonw_int(&w, *id);
    hark_jsonw_key(&w, "name");
    hark_jsonw_str(&w, name);
    hark_jsonw_close(&w);
    if (hark_jsonw_end(&w) < 0 || cli_audit("keys create", s, "user.create", &d) < 0)
        rc = EXIT_STORE;
    hark_buf_dispose(&d);
    if (rc == 0) {
        fputs("hark keys: created user '", stderr);
        cli_put_safe(stderr, name, 0, NULL);
        fputs("'\n", stderr);
    }
    return rc;
}

static int key_detail(hark_buf *d, int64_t key, const char *prefix, int64_t user,
                      const char *user_name, const char *name, int admin)
{
    hark_jsonw w;
    hark_jsonw_init(&w, d, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "key");
    hark_jsonw_int(&w, key);
    hark_jsonw_key(&w, "prefix");
    hark_jsonw_str(&w, prefix);
    hark_jsonw_key(&w, "user");
    hark_jsonw_int(&w, user);
    hark_jsonw_key(&w, "user_name");
    hark_jsonw_str(&w, user_name);
    if (name) {
        hark_jsonw_key(&w, "name");
        hark_jsonw_str(&w, name);
    }
    hark_jsonw_key(&w, "admin");
    hark_jsonw_bool(&w, admin);
    hark_jsonw_close(&w);
    return hark_jsonw_end(&w);
}

/* ---- create --------------------------------------------------------------------------------- */

static int keys_create(const keys_args *a, hark_store *s)
{
    char token[HARK_KEY_TOKEN_LEN + 1];
    char prefix[HARK_KEY_PREFIX_LEN + 1];
    uint8_t digest[32];
    const char *user = a->user ? a->user : DEFAULT_USER;
    hark_buf d = HARK_BUF_INIT;
    int64_t uid = 0, kid = 0;
    int rc;

    if ((rc = ensure_user(s, user, &uid)) != 0)
        return rc;
    if ((rc = hark_key_generate(token, digest)) < 0)
        return cli_admin_fail("keys create", rc);
    memcpy(prefix, token, HARK_KEY_PREFIX_LEN);
    prefix[HARK_KEY_PREFIX_LEN] = '\0';
    if ((rc = hark_store_key_create(s, uid, a->name, a->admin, digest, prefix, &kid)) < 0) {
        rc = bad_input("keys create", rc);
        goto out;
    }
    if (key_detail(&d, kid, prefix, uid, user, a->name, a->admin) < 0 ||
        cli_audit("keys create", s, "key.create", &d) < 0) {
        /* no unaudited key stays usable */
        if (hark_store_key_revoke(s, kid) < 0)
            fprintf(stderr, "hark keys create: key %lld could not be revoked again: revoke it\n",
                    (long long)kid);
        rc = EXIT_STORE;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN); /* a reader gone: a write error, handled below, not death */
    fputs(token, stdout);
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        /* nobody received the key: it must not stay usable */
        int saved = errno;
        hark_buf_clear(&d);
        fprintf(stderr, "hark keys create: cannot write the key to standard output: %s\n",
                strerror(saved ? saved : EIO));
        if (hark_store_key_revoke(s, kid) < 0 ||
            key_detail(&d, kid, prefix, uid, user, a->name, a->admin) < 0 ||
            cli_audit("keys create", s, "key.revoke", &d) < 0)
            fprintf(stderr, "hark keys create: revoke key %lld (hark keys revoke %lld)\n",
                    (long long)kid, (long long)kid);
        else
            fprintf(stderr, "hark keys create: key %lld was revoked again\n", (long long)kid);
        rc = EXIT_FAIL;
        goto out;
    }
    fprintf(stderr, "hark keys: created %skey %lld (%s) for user '", a->admin ? "admin " : "",
            (long long)kid, prefix);
    cli_put_safe(stderr, user, 0, NULL);
    fputs("'\nhark keys: this is the only time the key is shown: it cannot be shown again, "
          "store it now\n",
          stderr);
    rc = 0;
out:
    wipe(token, sizeof(token));
    wipe(digest, sizeof(digest));
    hark_buf_dispose(&d);
    return rc;
}

/* ---- list ----------------------------------------------------------------------------------- */

static int find_user(const char *cmd, hark_store *s, const char *name, int64_t *id)
{
    hark_user *u = NULL;
    int rc = hark_store_user_find(s, name, &u);
    if (rc == HARK_ENOTFOUND) {
        fprintf(stderr, "hark %s: no user '", cmd);
        cli_put_safe(stderr, name, 0, NULL);
        fputs("'\n", stderr);
        return EXIT_NOINPUT;
    }
    if (rc < 0)
        return cli_admin_fail(cmd, rc);
    *id = u->id;
    hark_user_free(u);
    return 0;
}

static int keys_list(const keys_args *a, hark_store *s)
{
    hark_api_key_list *list = NULL;
    int64_t uid = 0;
    size_t i;
    int rc;

    if (a->user && (rc = find_user("keys list", s, a->user, &uid)) != 0)
        return rc;
    if ((rc = hark_store_key_list(s, uid, &list)) < 0)
        return cli_admin_fail("keys list", rc);
    if (a->json) {
        hark_buf b = HARK_BUF_INIT;
        if ((rc = hark_render_key_list(&b, list, HARK_RENDER_PRETTY)) < 0)
            rc = cli_admin_fail("keys list", rc);
        else
            fputs(b.ptr, stdout);
        hark_buf_dispose(&b);
        goto out;
    }
    if (list->n == 0) {
        printf("no API keys%s: 'hark keys create' makes one\n", a->user ? " for this user" : "");
        goto out;
    }
    printf("%6s  %-12s  %-16s %-16s %-5s  %-16s  %s\n", "id", "prefix", "name", "user", "admin",
           "created", "revoked");
    for (i = 0; i < list->n; i++) {
        const hark_api_key *k = &list->items[i];
        char created[32], revoked[32];
        cli_local_time(created, sizeof(created), k->created_ms);
        cli_local_time(revoked, sizeof(revoked), k->revoked_ms);
        printf("%6lld  ", (long long)k->id);
        cli_put_col(stdout, k->prefix, 12);
        fputc(' ', stdout);
        cli_put_col(stdout, k->name, 16);
        cli_put_col(stdout, k->user_name, 16);
        printf("%-5s  %-16s  %s\n", k->admin ? "yes" : "no", created, revoked);
    }
out:
    hark_api_key_list_free(list);
    return rc;
}

/* ---- revoke --------------------------------------------------------------------------------- */

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* The key `arg` names in `list` (id, prefix or whole token): its index, or an exit code < 0. */
static int resolve(hark_store *s, const hark_api_key_list *list, const char *arg, size_t *at)
{
    size_t i, len = strlen(arg), found = 0;
    int64_t id = 0;
    int rc;

    if (all_digits(arg)) {
        long l;
        if ((rc = cli_long("keys revoke", "a key id", arg, 1, 0x7fffffffL, &l)) != 0)
            return -rc;
        id = l;
    } else if (len == HARK_KEY_TOKEN_LEN && strncmp(arg, "hark_", 5) == 0) {
        uint8_t digest[32];
        hark_api_key *k = NULL;
        rc = hark_key_digest(arg, len, digest);
        if (rc == 0)
            rc = hark_store_key_lookup(s, digest, &k);
        wipe(digest, sizeof(digest));
        if (rc == HARK_ENOTFOUND) {
            fprintf(stderr, "hark keys revoke: no key matches that token\n");
            return -EXIT_NOINPUT;
        }
        if (rc < 0)
            return -cli_admin_fail("keys revoke", rc);
        id = k->id;
        hark_api_key_free(k);
    } else if (len > 5 && len <= HARK_KEY_PREFIX_LEN && strncmp(arg, "hark_", 5) == 0) {
        for (i = 0; i < list->n; i++)
            if (strncmp(list->items[i].prefix, arg, len) == 0) {
                if (found++)
                    id = -1;
                else
                    id = list->items[i].id;
            }
        if (found > 1) {
            fprintf(stderr,
                    "hark keys revoke: '%s' is the start of %zu keys' prefixes: give the "
                    "key's id (see hark keys list)\n",
                    arg, found);
            return -EXIT_USAGE;
        }
        if (!found) {
            fprintf(stderr, "hark keys revoke: no key with prefix '%s' (see hark keys list)\n",
                    arg);
            return -EXIT_NOINPUT;
        }
    } else {
        fputs("hark keys revoke: '", stderr);
        cli_put_safe(stderr, arg, 0, NULL);
        fputs("' is neither a key id nor a key prefix (hark_...; see hark keys list)\n", stderr);
        return -EXIT_USAGE;
    }
    for (i = 0; i < list->n; i++)
        if (list->items[i].id == id) {
            *at = i;
            return 0;
        }
    fprintf(stderr, "hark keys revoke: no key %lld (see hark keys list)\n", (long long)id);
    return -EXIT_NOINPUT;
}

static int keys_revoke(const keys_args *a, hark_store *s)
{
    hark_api_key_list *list = NULL;
    hark_buf d = HARK_BUF_INIT;
    const hark_api_key *k;
    size_t at = 0;
    int rc;

    if (a->n_words != 2) {
        fprintf(stderr, "hark keys revoke: give one key id or prefix (see hark keys list)\n");
        return EXIT_USAGE;
    }
    if ((rc = hark_store_key_list(s, 0, &list)) < 0)
        return cli_admin_fail("keys revoke", rc);
    if ((rc = resolve(s, list, a->words[1], &at)) < 0) {
        rc = -rc;
        goto out;
    }
    k = &list->items[at];
    if (k->revoked_ms) {
        char when[32];
        cli_local_time(when, sizeof(when), k->revoked_ms);
        printf("key %lld (%s) was already revoked on %s\n", (long long)k->id, k->prefix, when);
        goto out;
    }
    if ((rc = hark_store_key_revoke(s, k->id)) < 0) {
        rc = cli_admin_fail("keys revoke", rc);
        goto out;
    }
    if (key_detail(&d, k->id, k->prefix, k->user, k->user_name, k->name, k->admin) < 0 ||
        cli_audit("keys revoke", s, "key.revoke", &d) < 0) {
        rc = EXIT_STORE; /* the key is revoked; only its audit entry is missing */
        goto out;
    }
    printf("revoked key %lld (%s) of user '", (long long)k->id, k->prefix);
    cli_put_safe(stdout, k->user_name, 0, NULL);
    fputs("'\n", stdout);
out:
    hark_buf_dispose(&d);
    hark_api_key_list_free(list);
    return rc;
}

/* ---- audit ---------------------------------------------------------------------------------- */

static int keys_audit(const keys_args *a, hark_store *s)
{
    hark_audit_list *list = NULL;
    size_t i;
    int rc;

    if ((rc = hark_store_audit_list(s, a->before, a->limit ? (size_t)a->limit : 50, &list)) < 0)
        return cli_admin_fail("keys audit", rc);
    if (a->json) {
        hark_buf b = HARK_BUF_INIT;
        if ((rc = hark_render_audit_list(&b, list, HARK_RENDER_PRETTY)) < 0)
            rc = cli_admin_fail("keys audit", rc);
        else
            fputs(b.ptr, stdout);
        hark_buf_dispose(&b);
        goto out;
    }
    if (list->n == 0 && !a->before)
        printf("the audit log is empty\n");
    if (list->n)
        printf("%6s  %-16s  %-6s  %-6s  %-14s %s\n", "id", "time", "user", "key", "action",
               "detail");
    for (i = 0; i < list->n; i++) {
        const hark_audit_entry *e = &list->items[i];
        char when[32], user[24], key[24];
        cli_local_time(when, sizeof(when), e->ts_ms);
        snprintf(user, sizeof(user), "%lld", (long long)e->user);
        snprintf(key, sizeof(key), "%lld", (long long)e->key);
        printf("%6lld  %-16s  %-6s  %-6s  ", (long long)e->id, when, e->user ? user : "local",
               e->key ? key : "-");
        cli_put_col(stdout, e->action, 14);
        cli_put_safe(stdout, e->detail ? e->detail : "", 0, NULL);
        putchar('\n');
    }
    if (list->more && list->n)
        printf("more: hark keys audit --before %lld\n", (long long)list->items[list->n - 1].id);
out:
    hark_audit_list_free(list);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int cmd_keys(int argc, char **argv)
{
    cli_opt all[HARK_ARRAY_SIZE(opts) + 1];
    keys_args a;
    cli_store st;
    const cli_action *act;
    size_t n = 0, k;
    int rc;

    memset(&a, 0, sizeof(a));
    for (k = 0; k < HARK_ARRAY_SIZE(opts); k++)
        all[n++] = opts[k];
    all[n++] = cli_store_opts[0]; /* --db (no result cache here) */
    if ((rc = cli_parse("keys", argc, argv, all, n, on_opt, on_arg, &a)) != 0)
        return rc;
    if (a.help) {
        fputs(usage, stdout);
        fputs("\nAPI keys for hark serve. A key is shown once, when it is created; the database\n"
              "keeps only its SHA-256 and its first 12 characters (the prefix). Every change\n"
              "is written to the audit log (hark keys audit).\n\n",
              stdout);
        cli_print_options(stdout, opts, HARK_ARRAY_SIZE(opts));
        cli_print_options(stdout, cli_store_opts, 1); /* --db; no cache here */
        return 0;
    }
    if (!(act = cli_action_pick(&keys_actions, a.seen, a.words, a.n_words, NULL)))
        return EXIT_USAGE;
    if ((rc = cli_store_open("keys", &a.db, &st, 1, 0, 0)) != 0)
        return rc;
    switch (act->id) {
    case A_CREATE:
        rc = keys_create(&a, st.store);
        break;
    case A_LIST:
        rc = keys_list(&a, st.store);
        break;
    case A_REVOKE:
        rc = keys_revoke(&a, st.store);
        break;
    default:
        rc = keys_audit(&a, st.store);
    }
    cli_store_close(&st);
    return rc;
}
