/*
 * config.h: the server's settings, from flags, environment (HARK_*) and a
 * config file, in that order of precedence, over built-in defaults.
 *
 * One table (config.c) names every setting once: its flag, its environment
 * variable, its key in the file, its type, its default and its help; the
 * --help text, the README table and --print-config all come from it.
 *
 * The file: lines of `key = value`; `#` starts a comment; blank lines are
 * ignored; values may be quoted with "". Unknown keys and bad values are
 * errors naming the file and line.
 */
#ifndef HARK_SERVER_CONFIG_H
#define HARK_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HARK_SERVER_WORKERS_AUTO UINT64_MAX /* workers = auto: one per CPU */
#define HARK_SERVER_WORKERS_MAX  256u       /* the scheduler's limit */

typedef struct hark_server_config {
    char *listen;           /* "127.0.0.1:8080", "[::1]:8080", ":8080" (all addresses) */
    char *db;               /* store URI or path; NULL = the default store */
    char *cache_db;         /* result cache file; NULL = default; "none" = no cache */
    char *data_dir;         /* uploaded audio; NULL = <database folder>/audio */
    char *engine;           /* NULL = the best available */
    char *model;            /* NULL = the engine's default */
    uint64_t workers;       /* ASR workers, 0 = none (API only), HARK_SERVER_WORKERS_AUTO = CPUs */
    uint64_t vad;           /* cut at silences (1) or at fixed intervals (0) */
    uint64_t max_jobs;      /* jobs transcribed at once, 0 = 2 x workers */
    uint64_t max_upload;    /* bytes per upload */
    uint64_t max_queue;     /* queued jobs beyond which uploads get 429 */
    uint64_t max_body_json; /* bytes of a JSON request body */
    uint64_t max_connections;
    uint64_t model_idle_ms; /* unload the model after this long unused, 0 = never */
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t idle_timeout_ms; /* keep-alive connections with no request */
    uint64_t rate;            /* requests per second per key */
    uint64_t burst;           /* token bucket size per key */
    uint64_t lease_ms;
    uint64_t max_attempts;
    uint64_t backoff_ms;
    uint64_t shutdown_grace_ms;
    uint64_t live_idle_ms;   /* a live session without a client is finished after this */
    uint64_t live_streaming; /* feed streaming engines incrementally (1), or re-decode (0) */
    uint64_t live_lookahead; /* new live sessions use the look-ahead VAD (1) or low latency (0) */
    char *log_level;         /* error, warn, info, debug */
    char *summary_url;       /* chat-completions server for summaries, NULL = none */
    char *summary_model;
    char *summary_api_key;
    uint64_t summary_timeout_ms;
    uint64_t summary_context; /* transcript characters per summary request */
    char *config;             /* the file read, NULL = none */
} hark_server_config;

/*
 * Resolve the settings: defaults, then the config file (--config FILE,
 * else $HARK_CONFIG, else $XDG_CONFIG_HOME/hark/server.conf when it
 * exists), then HARK_* variables, then flags. `argv` holds only the
 * options (argv[0] is the first option). Unknown flags, bad values: a
 * message in `err` and HARK_EINVAL. --help and --print-config are
 * recognised and reported through *help / *print.
 */
int hark__server_config_load(hark_server_config *out, int argc, char **argv, int *help, int *print,
                             char *err, size_t err_size);
void hark__server_config_dispose(hark_server_config *c);

/* The option list for --help. */
void hark__server_config_usage(FILE *f);

/* Every effective setting with where it came from (--print-config). */
void hark__server_config_print(const hark_server_config *c, FILE *f);

/* The settings as a Markdown table (README). */
void hark__server_config_markdown(FILE *f);

#endif
