/*
 * cli.h: shared pieces of the hark command-line tool. The CLI uses only the
 * public API (include/hark/) and the util layer.
 */
#ifndef HARK_CLI_H
#define HARK_CLI_H

#include <signal.h>
#include <stdio.h>

#include "hark/hark.h"

/* Exit codes (documented in `hark --help` and the README). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,    /* a file failed for another reason (engine, output) */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_NOINPUT = 3, /* input missing or unreadable */
    EXIT_DATAERR = 4, /* not audio, no audio stream, undecodable */
    EXIT_EMPTY = 5,   /* no audio samples at all */
    EXIT_MODEL = 6,   /* model missing or invalid */
    EXIT_STORE = 7,   /* database error */
    EXIT_NETWORK = 8, /* download failed */
    EXIT_INTERRUPT = 130
};

/* Map a hark error code to an exit code. */
int cli_exit_code(int rc);

/* ---- option parsing ----------------------------------------------------------- */

/* One option: `names` lists its spellings separated by '|' ("-j|--jobs"). */
typedef struct cli_opt {
    const char *names;
    int has_arg;          /* 1 = takes a value */
    int id;               /* passed to the callback */
    const char *arg_name; /* for help, e.g. "N" */
    const char *help;
} cli_opt;

typedef int (*cli_opt_fn)(void *ctx, int id, const char *value);
typedef int (*cli_arg_fn)(void *ctx, const char *arg);

/* Parse argv[0..argc) (argv[0] is the first argument, not the program).
 * Returns 0, or EXIT_USAGE after printing a message. --help is handled by the
 * caller (give it an id). "--" ends options; "-" is an argument. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts,
              cli_opt_fn on_opt, cli_arg_fn on_arg, void *ctx);
void cli_print_options(FILE *f, const cli_opt *opts, size_t n_opts);

/* ---- actions ("hark keys create") ------------------------------------------------ */

/* One action of a command that has several ("hark keys create|list|revoke"). */
typedef struct cli_action {
    const char *name;
    int id;         /* for the caller's dispatch */
    unsigned takes; /* bit (1 << option id) per option of the command's table it takes */
    int max_args;   /* arguments it takes after its name */
} cli_action;

/* A command's actions, its own options (for naming one given to the wrong
 * action) and its usage text (printed after an unknown action). */
typedef struct cli_actions {
    const char *cmd; /* "keys" */
    const cli_action *actions;
    size_t n_actions;
    const cli_opt *opts;
    size_t n_opts;
    const char *usage;
} cli_actions;

/* The action words[0] names (`dflt` when there are no words; NULL = an action
 * must be named), after checking that the options given (`seen`, bit 1 << id)
 * and the arguments after the name suit it. Returns NULL after printing a
 * usage error: an unknown action, an option the action does not take, or an
 * argument too many. */
const cli_action *cli_action_pick(const cli_actions *c, unsigned seen, const char *const *words,
                                  int n_words, const char *dflt);

/* Strict number parsing; print a usage error naming `what` on failure. */
int cli_long(const char *cmd, const char *what, const char *s, long lo, long hi, long *out);
int cli_double(const char *cmd, const char *what, const char *s, double lo, double hi, double *out);

/* ---- shared engine/decoding options --------------------------------------------- */

/* Options every command that runs an engine understands. */
typedef struct cli_engine_args {
    const char *engine;             /* --engine */
    const char *model;              /* -m/--model */
    hark_pipeline_options pipeline; /* -j, chunking, decode options */
    int quiet;                      /* -q */
    const char *url;                /* --url: the remote engine's server */
    const char *api_key;            /* --api-key (else $HARK_REMOTE_API_KEY) */
    const char *remote_model;       /* --remote-model */
    unsigned remote_timeout_ms;     /* --remote-timeout, 0 = engine default */
    int remote_retries;             /* --remote-retries, -1 = engine default */
    const char *fallback;           /* --fallback ENGINE[:MODEL], NULL = none */
    float fallback_below;           /* --fallback-below (default 0.8) */
} cli_engine_args;

void cli_engine_args_init(cli_engine_args *a);
/* Try to consume option `id`; returns 1 if consumed, 0 if not ours, <0 usage error. */
int cli_engine_option(const char *cmd, cli_engine_args *a, int id, const char *value);
/* The option table entries for cli_engine_option (ids >= 1000). */
extern const cli_opt cli_engine_opts[];
extern const size_t cli_n_engine_opts;

/* Open the engine the arguments ask for and check that its model is there (without
 * loading it); prints the PocketSphinx fallback notice. Returns 0, or an exit code
 * after printing one line: EXIT_USAGE (unknown engine), EXIT_MODEL (model missing). */
int cli_open_engine(const char *cmd, const cli_engine_args *a, hark_engine **out);

/* ---- database and cache ------------------------------------------------------------------ */

typedef struct cli_store_args {
    const char *db;       /* --db PATH: the database (default $XDG_DATA_HOME/hark/hark.db) */
    const char *cache_db; /* --cache-db PATH (default $XDG_CACHE_HOME/hark/cache.db) */
} cli_store_args;

extern const cli_opt cli_store_opts[]; /* ids >= 2000 */
extern const size_t cli_n_store_opts;
/* Try to consume option `id`; returns 1 if consumed, 0 if not ours. */
int cli_store_option(cli_store_args *a, int id, const char *value);

typedef struct cli_store {
    hark_store *store;       /* recordings and transcripts, or NULL */
    hark_store *cache_store; /* the cache's database, or NULL */
    hark_cache *cache;       /* result cache, or NULL */
    char *audio_dir;         /* <database folder>/audio (created), or NULL */
} cli_store;

/* Open what is asked for; prints one clear line and returns an exit code on failure. */
int cli_store_open(const char *cmd, const cli_store_args *a, cli_store *out, int want_store,
                   int want_cache, int want_audio_dir);
void cli_store_close(cli_store *s);

/* ---- interruption ------------------------------------------------------------------ */

/* Install the SIGINT/SIGTERM handler: first signal sets the flag (graceful
 * stop), the second one kills the process. */
void cli_signals_install(void);
int cli_interrupted(void);
int cli_abort_cb(void *payload);

/* ---- terminal-safe output (term.c) -------------------------------------------------- */

/* Highlight markers put into text by hark (search snippets) and what they become. */
typedef struct cli_marks {
    char in_open[19], in_close[19]; /* random per process: text cannot forge them */
    const char *out_open, *out_close;
} cli_marks;

void cli_marks_init(cli_marks *m, const char *out_open, const char *out_close);

/*
 * Write stored text (a file name, title, transcript, query) to f with control
 * characters escaped: C0 and DEL as \xHH (newline and tab kept when
 * keep_lines), C1 as \u00HH, bytes that are not UTF-8 as \xHH. `m` (may be
 * NULL): markers to turn into their terminal sequences.
 */
void cli_put_safe(FILE *f, const char *text, int keep_lines, const cli_marks *m);

/* ---- progress ------------------------------------------------------------------------ */

typedef struct cli_progress {
    int enabled;       /* draw at all (stderr is a terminal and not -q) */
    const char *label; /* file name shown */
    double last_draw;  /* ms */
    int drawn;         /* something is on the line */
} cli_progress;

void cli_progress_init(cli_progress *p, int enabled, const char *label);
void cli_progress_cb(const hark_progress *pr, void *payload);
void cli_progress_done(cli_progress *p);

/* ---- commands ------------------------------------------------------------------------ */

/* child.c: a program run to completion, and what it cost. */
typedef struct cli_child {
    double wall_s, cpu_s, rss_mb;
    int status; /* exit status, 128 + signal number, or -1 if it could not run */
} cli_child;

/* Append `tmpl` to out with every {} replaced by `path`, single-quoted for sh. 0 or HARK_E*. */
int cli_shell_command(const char *tmpl, const char *path, hark_buf *out);

/*
 * Run argv (execv) or, when `shell` is set, `sh -c shell`; wait for it. Its
 * stdout is appended to `out` (NULL: discarded), its stderr goes to
 * /dev/null when quiet_stderr is set. 0, or -1 if it could not be started.
 */
int cli_run_child(char *const argv[], const char *shell, int quiet_stderr, hark_buf *out,
                  cli_child *res);

int cmd_transcribe(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_summarize(int argc, char **argv);

/* ---- administration (admin.c) ---------------------------------------------------------- */

/* Print "hark CMD: <last error>" and return the exit code for `rc`: not found 3,
 * a refused change (wrong state, duplicate) 1, anything else from the store 7. */
int cli_admin_fail(const char *cmd, int rc);
/* "YYYY-MM-DD HH:MM" in local time, "-" for 0. */
void cli_local_time(char *out, size_t n, int64_t ms);
/* Stored text (NULL: "-") through cli_put_safe, padded to `width` columns, then a space. */
void cli_put_col(FILE *f, const char *text, int width);
/* Audit an action taken from the command line (user 0, key 0); prints why it failed. */
int cli_audit(const char *cmd, hark_store *s, const char *action, const hark_buf *detail);

#endif
