/*
 * config.c: the server's settings (config.h).
 *
 * DESIGN
 * `settings[]` is the one table: for each setting its name (the file key),
 * flag, environment variable, type, default and help, and where it lives in
 * hark_server_config. Loading applies the layers in increasing precedence:
 * defaults, file, environment, flags; each value is parsed by its type's
 * parser (sizes take K/M/G suffixes, durations ms/s/m/h), and the layer
 * that set it is remembered for --print-config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "../util/util.h"

enum kind { K_STR, K_COUNT, K_SIZE, K_MS, K_BOOL, K_WORKERS };
enum source { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG };
static const char *const source_names[] = { "default", "file", "environment", "flag" };

typedef struct setting {
    const char *name; /* file key; flag is --name with '_' -> '-' */
    const char *env;
    enum kind kind;
    size_t offset; /* in hark_server_config */
    const char *def;
    const char *help;
} setting;

#define OFF(f) offsetof(hark_server_config, f)

static const setting settings[] = {
    { "listen", "HARK_LISTEN", K_STR, OFF(listen), "127.0.0.1:8080",
      "address and port to listen on (a non-loopback address needs API keys)" },
    { "db", "HARK_DB", K_STR, OFF(db), NULL,
      "database file or URI (default $XDG_DATA_HOME/hark/hark.db)" },
    { "cache_db", "HARK_CACHE_DB", K_STR, OFF(cache_db), NULL,
      "result cache file (default $XDG_CACHE_HOME/hark/cache.db; none = no cache)" },
    { "data_dir", "HARK_DATA_DIR", K_STR, OFF(data_dir), NULL,
      "folder of uploaded audio (default: audio/ next to the database)" },
    { "engine", "HARK_ENGINE", K_STR, OFF(engine), NULL,
      "whisper or pocketsphinx (default: whisper when a model is installed)" },
    { "model", "HARK_MODEL", K_STR, OFF(model), NULL, "model name or file (engine default)" },
    { "workers", "HARK_WORKERS", K_WORKERS, OFF(workers), "auto",
      "ASR worker threads: auto = one per CPU; 0 = none, an API-only node (jobs are left to "
      "`hark worker` processes on the same database; no live sessions)" },
    { "vad", "HARK_VAD", K_BOOL, OFF(vad), "on",
      "cut recordings at silences (off: at fixed intervals, and silence is transcribed too)" },
    { "max_jobs", "HARK_MAX_JOBS", K_COUNT, OFF(max_jobs), "0",
      "jobs transcribed at once, sharing the workers (0 = 2 x workers)" },
    { "max_upload", "HARK_MAX_UPLOAD", K_SIZE, OFF(max_upload), "2G",
      "largest upload (413 beyond it)" },
    { "max_queue", "HARK_MAX_QUEUE", K_COUNT, OFF(max_queue), "1000",
      "queued jobs beyond which uploads are refused with 429" },
    { "max_body_json", "HARK_MAX_BODY_JSON", K_SIZE, OFF(max_body_json), "64K",
      "largest JSON request body (413 beyond it)" },
    { "max_connections", "HARK_MAX_CONNECTIONS", K_COUNT, OFF(max_connections), "20000",
      "open connections at most (the file descriptor limit is raised to fit)" },
    { "model_idle", "HARK_MODEL_IDLE", K_MS, OFF(model_idle_ms), "5m",
      "unload the model after this long unused (0 = never)" },
    { "header_timeout", "HARK_HEADER_TIMEOUT", K_MS, OFF(header_timeout_ms), "10s",
      "a request's headers must arrive within this" },
    { "body_timeout", "HARK_BODY_TIMEOUT", K_MS, OFF(body_timeout_ms), "30s",
      "a request body must bring 64 KiB within each such period" },
    { "idle_timeout", "HARK_IDLE_TIMEOUT", K_MS, OFF(idle_timeout_ms), "5m",
      "close a keep-alive connection idle this long" },
    { "rate", "HARK_RATE", K_COUNT, OFF(rate), "100",
      "requests per second per API key (0 = no limit)" },
    { "burst", "HARK_BURST", K_COUNT, OFF(burst), "200", "request burst per API key" },
    { "lease", "HARK_LEASE", K_MS, OFF(lease_ms), "30s",
      "job lease (a crashed runner's jobs are taken over after it)" },
    { "max_attempts", "HARK_MAX_ATTEMPTS", K_COUNT, OFF(max_attempts), "4",
      "attempts per job before it is dead-lettered" },
    { "backoff", "HARK_BACKOFF", K_MS, OFF(backoff_ms), "1s",
      "delay before a failed job's first retry (x4 per retry)" },
    { "shutdown_grace", "HARK_SHUTDOWN_GRACE", K_MS, OFF(shutdown_grace_ms), "10s",
      "on SIGTERM, time running jobs get to finish before they are handed back" },
    { "live_idle", "HARK_LIVE_IDLE", K_MS, OFF(live_idle_ms), "2m",
      "a live session without a client is finished after this" },
    { "live_streaming", "HARK_LIVE_STREAMING", K_BOOL, OFF(live_streaming), "on",
      "live sessions feed engines that stream incrementally (off: re-decode each utterance)" },
    { "live_lookahead", "HARK_LIVE_LOOKAHEAD", K_BOOL, OFF(live_lookahead), "off",
      "live utterances are found by the file VAD, 1.5 s behind the audio (off: 80 ms)" },
    { "log_level", "HARK_LOG_LEVEL", K_STR, OFF(log_level), "info", "error, warn, info or debug" },
    { "summary_url", "HARK_SUMMARY_URL", K_STR, OFF(summary_url), NULL,
      "OpenAI-compatible server for summaries (its /v1/chat/completions; unset = no summaries)" },
    { "summary_model", "HARK_SUMMARY_MODEL", K_STR, OFF(summary_model), "default",
      "model name sent to the summary server" },
    { "summary_api_key", "HARK_SUMMARY_API_KEY", K_STR, OFF(summary_api_key), NULL,
      "bearer key for the summary server (prefer the environment or the file to a flag)" },
    { "summary_timeout", "HARK_SUMMARY_TIMEOUT", K_MS, OFF(summary_timeout_ms), "2m",
      "time one summary request may take" },
    { "summary_context", "HARK_SUMMARY_CONTEXT", K_COUNT, OFF(summary_context), "12000",
      "transcript characters per summary request; longer ones are summarised in pieces" },
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static enum source sources[N_SETTINGS]; /* for --print-config */

static void flag_of(const setting *s, char *out, size_t n)
{
    size_t i;
    snprintf(out, n, "--%s", s->name);
    for (i = 2; out[i]; i++)
        if (out[i] == '_')
            out[i] = '-';
}

/* ---- value parsers ------------------------------------------------------------------- */

static int parse_u64(const char *v, uint64_t *out, char **end)
{
    unsigned long long x;
    if (!*v || *v == '-' || *v == '+')
        return -1;
    errno = 0;
    x = strtoull(v, end, 10);
    if (errno || *end == v)
        return -1;
    *out = x;
    return 0;
}

static int parse_size(const char *v, uint64_t *out)
{
    char *end;
    uint64_t x, mul = 1;
    if (parse_u64(v, &x, &end) < 0)
        return -1;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1ull << 10;
            break;
        case 'm':
        case 'M':
            mul = 1ull << 20;
            break;
        case 'g':
        case 'G':
            mul = 1ull << 30;
            break;
        case 't':
        case 'T':
            mul = 1ull << 40;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'B' || *end == 'b' || ((*end == 'i') && (end[1] == 'B' || end[1] == 'b')))
            end += *end == 'i' ? 2 : 1;
        if (*end)
            return -1;
    }
    if (x > UINT64_MAX / mul)
        return -1;
    *out = x * mul;
    return 0;
}

static int parse_ms(const char *v, uint64_t *out)
{
    char *end;
    uint64_t x, mul;
    if (parse_u64(v, &x, &end) < 0)
        return -1;
    if (!*end)
        mul = x == 0 ? 1 : 1000; /* a bare number is seconds */
    else if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else
        return -1;
    if (x > UINT64_MAX / mul)
        return -1;
    *out = x * mul;
    return 0;
}

static int set_value(hark_server_config *c, size_t i, const char *v, enum source src, char *err,
                     size_t n, const char *where)
{
    const setting *s = &settings[i];
    void *field = (char *)c + s->offset;
    uint64_t x;
    int bad = 0;
    switch (s->kind) {
    case K_STR: {
        char **p = field;
        char *copy = v ? hark__strdup(v) : NULL;
        if (v && !copy) {
            snprintf(err, n, "out of memory");
            return HARK_ENOMEM;
        }
        hark__free(*p);
        *p = copy && *copy ? copy : (hark__free(copy), NULL);
        break;
    }
    case K_COUNT: {
        char *end;
        bad = parse_u64(v, &x, &end) < 0 || *end;
        if (!bad)
            *(uint64_t *)field = x;
        break;
    }
    case K_SIZE:
        bad = parse_size(v, &x) < 0;
        if (!bad)
            *(uint64_t *)field = x;
        break;
    case K_MS:
        bad = parse_ms(v, &x) < 0;
        if (!bad)
            *(uint64_t *)field = x;
        break;
    case K_WORKERS: {
        char *end;
        if (!strcmp(v, "auto"))
            x = HARK_SERVER_WORKERS_AUTO;
        else
            bad = parse_u64(v, &x, &end) < 0 || *end || x > HARK_SERVER_WORKERS_MAX;
        if (!bad)
            *(uint64_t *)field = x;
        break;
    }
    case K_BOOL:
        if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
            *(uint64_t *)field = 1;
        else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
            *(uint64_t *)field = 0;
        else
            bad = 1;
        break;
    }
    if (bad) {
        static const char *const what[] = { "",
                                            "a whole number",
                                            "a size (e.g. 512M, 2G)",
                                            "a duration (e.g. 500ms, 30s, 5m, 0)",
                                            "on or off",
                                            "auto or a whole number from 0 to 256" };
        snprintf(err, n, "%s: %s must be %s, not '%s'", where, s->name, what[s->kind], v);
        return HARK_EINVAL;
    }
    sources[i] = src;
    return 0;
}

static int find_setting(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < N_SETTINGS; i++)
        if (strlen(settings[i].name) == len && strncmp(settings[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* ---- the file -------------------------------------------------------------------------- */

static int load_file(hark_server_config *c, const char *path, int must_exist, char *err, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0, rc = 0;
    if (!f) {
        if (!must_exist && errno == ENOENT)
            return 0;
        snprintf(err, n, "config file %s: %s", path, strerror(errno));
        return HARK_EINVAL;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *k, *eq, *v, *e, where[600];
        int idx;
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, n, "%s: line too long", where);
            rc = HARK_EINVAL;
            break;
        }
        for (k = line; *k == ' ' || *k == '\t'; k++)
            ;
        if (*k == '#' || *k == '\n' || *k == '\r' || *k == '\0')
            continue;
        if (!(eq = strchr(k, '='))) {
            snprintf(err, n, "%s: expected 'key = value'", where);
            rc = HARK_EINVAL;
            break;
        }
        for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
            ;
        idx = find_setting(k, (size_t)(e - k));
        if (idx < 0) {
            snprintf(err, n, "%s: unknown setting '%.*s'", where, (int)(e - k), k);
            rc = HARK_EINVAL;
            break;
        }
        for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
            ;
        e = v + strlen(v);
        while (e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*v == '"') {
            if (e - v < 2 || e[-1] != '"') {
                snprintf(err, n, "%s: unterminated quoted value", where);
                rc = HARK_EINVAL;
                break;
            }
            e[-1] = '\0';
            v++;
        } else if ((e = strchr(v, '#'))) { /* trailing comment on an unquoted value */
            *e = '\0';
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = '\0';
        }
        rc = set_value(c, (size_t)idx, v, SRC_FILE, err, n, where);
    }
    fclose(f);
    return rc;
}

/* ---- loading -------------------------------------------------------------------------- */

void hark__server_config_dispose(hark_server_config *c)
{
    size_t i;
    if (!c)
        return;
    for (i = 0; i < N_SETTINGS; i++)
        if (settings[i].kind == K_STR) {
            char **p = (char **)((char *)c + settings[i].offset);
            hark__free(*p);
            *p = NULL;
        }
    hark__free(c->config);
    c->config = NULL;
}

int hark__server_config_load(hark_server_config *c, int argc, char **argv, int *help, int *print,
                             char *err, size_t n)
{
    const char *file = NULL;
    char xdg[4096];
    size_t i;
    int k, rc = 0, must_exist = 1;

    memset(c, 0, sizeof(*c));
    *help = *print = 0;
    err[0] = '\0';
    for (i = 0; i < N_SETTINGS; i++) {
        sources[i] = SRC_DEFAULT;
        if (settings[i].def &&
            (rc = set_value(c, i, settings[i].def, SRC_DEFAULT, err, n, "default")) < 0)
            goto out;
    }
    /* the config file: --config, else HARK_CONFIG, else the XDG default if present */
    for (k = 0; k < argc; k++) {
        if (strcmp(argv[k], "--config") == 0 && k + 1 < argc)
            file = argv[k + 1];
        else if (strncmp(argv[k], "--config=", 9) == 0)
            file = argv[k] + 9;
    }
    if (!file && getenv("HARK_CONFIG") && *getenv("HARK_CONFIG"))
        file = getenv("HARK_CONFIG");
    if (!file) {
        const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (x && x[0] == '/')
            snprintf(xdg, sizeof(xdg), "%s/hark/server.conf", x);
        else if (home && *home)
            snprintf(xdg, sizeof(xdg), "%s/.config/hark/server.conf", home);
        else
            xdg[0] = '\0';
        if (xdg[0]) {
            file = xdg;
            must_exist = 0;
        }
    }
    if (file) {
        struct stat sb;
        if ((rc = load_file(c, file, must_exist, err, n)) < 0)
            goto out;
        if (stat(file, &sb) == 0 && !(c->config = hark__strdup(file))) {
            rc = HARK_ENOMEM;
            goto out;
        }
    }
    /* environment */
    for (i = 0; i < N_SETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        if (v && (rc = set_value(c, i, v, SRC_ENV, err, n, settings[i].env)) < 0)
            goto out;
    }
    /* flags */
    for (k = 0; k < argc; k++) {
        const char *a = argv[k], *v = NULL, *eq;
        char flag[64];
        size_t len;
        int found = -1;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = 1;
            continue;
        }
        if (strcmp(a, "--print-config") == 0) {
            *print = 1;
            continue;
        }
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        if (len == 8 && strncmp(a, "--config", 8) == 0) {
            if (!eq)
                k++;
            continue;
        }
        for (i = 0; i < N_SETTINGS && found < 0; i++) {
            flag_of(&settings[i], flag, sizeof(flag));
            if (strlen(flag) == len && strncmp(flag, a, len) == 0)
                found = (int)i;
        }
        if (found < 0) {
            snprintf(err, n, "unknown option '%.*s' (see hark serve --help)", (int)len, a);
            rc = HARK_EINVAL;
            goto out;
        }
        if (eq)
            v = eq + 1;
        else if (k + 1 < argc)
            v = argv[++k];
        else {
            snprintf(err, n, "option '%s' needs a value", a);
            rc = HARK_EINVAL;
            goto out;
        }
        flag_of(&settings[found], flag, sizeof(flag));
        if ((rc = set_value(c, (size_t)found, v, SRC_FLAG, err, n, flag)) < 0)
            goto out;
    }
    if (c->rate != 0 && c->burst == 0) {
        snprintf(err, n, "burst must be at least 1 (rate 0 turns the limit off)");
        rc = HARK_EINVAL;
    } else if (c->max_attempts == 0) {
        snprintf(err, n, "max_attempts must be at least 1");
        rc = HARK_EINVAL;
    }
out:
    if (rc < 0)
        hark__server_config_dispose(c);
    return rc;
}

/* ---- documentation --------------------------------------------------------------------- */

static void value_text(const hark_server_config *c, size_t i, char *out, size_t n)
{
    const setting *s = &settings[i];
    const void *field = (const char *)c + s->offset;
    uint64_t x;
    if (s->kind == K_STR) {
        const char *v = *(char *const *)field;
        if (v && strstr(s->name, "api_key"))
            snprintf(out, n, "(set, %zu characters)", strlen(v)); /* never print a secret */
        else
            snprintf(out, n, "%s", v ? v : "(default)");
        return;
    }
    x = *(const uint64_t *)field;
    if (s->kind == K_MS)
        snprintf(out, n, "%llu ms", (unsigned long long)x);
    else if (s->kind == K_BOOL)
        snprintf(out, n, "%s", x ? "on" : "off");
    else if (s->kind == K_WORKERS && x == HARK_SERVER_WORKERS_AUTO)
        snprintf(out, n, "auto");
    else
        snprintf(out, n, "%llu", (unsigned long long)x);
}

void hark__server_config_usage(FILE *f)
{
    size_t i;
    char flag[64];
    fprintf(f, "  %-24s %s\n", "--config FILE",
            "settings file (default $XDG_CONFIG_HOME/hark/server.conf if present)");
    for (i = 0; i < N_SETTINGS; i++) {
        flag_of(&settings[i], flag, sizeof(flag));
        fprintf(f, "  %-24s %s%s%s%s\n", flag, settings[i].help, settings[i].def ? " [" : "",
                settings[i].def ? settings[i].def : "", settings[i].def ? "]" : "");
    }
    fprintf(f, "  %-24s %s\n", "--print-config", "print the effective settings and exit");
    fprintf(f, "\nEach setting also comes from the environment (HARK_<NAME>) or the file\n"
               "(`name = value` lines); flags win over the environment, the environment over\n"
               "the file.\n");
}

void hark__server_config_print(const hark_server_config *c, FILE *f)
{
    size_t i;
    char v[4200];
    fprintf(f, "# config file: %s\n", c->config ? c->config : "(none)");
    for (i = 0; i < N_SETTINGS; i++) {
        value_text(c, i, v, sizeof(v));
        fprintf(f, "%-16s = %-28s # %s\n", settings[i].name, v, source_names[sources[i]]);
    }
}

void hark__server_config_markdown(FILE *f)
{
    size_t i;
    char flag[64];
    fprintf(f, "| flag | environment | file key | default | meaning |\n|---|---|---|---|---|\n");
    for (i = 0; i < N_SETTINGS; i++) {
        flag_of(&settings[i], flag, sizeof(flag));
        fprintf(f, "| `%s` | `%s` | `%s` | %s | %s |\n", flag, settings[i].env, settings[i].name,
                settings[i].def ? settings[i].def : "", settings[i].help);
    }
}
