/*
 * worker.c: `hark worker --db URI [--workers N]`: a transcription node with
 * no HTTP: the job runner (hark/runner.h) on the shared store's queue, the
 * result cache in the same store (a result computed on any node is a hit
 * on every other), until SIGTERM or SIGINT.
 *
 * Shutdown is graceful, as in `hark serve`: no more claims, running jobs
 * get --grace seconds to finish, the rest are handed back to the queue with
 * their finished chunks kept (the attempt is not counted). A worker killed
 * outright (kill -9, a lost machine) stops renewing its leases: its jobs
 * are claimed by another worker when the leases expire.
 *
 * SIGTERM and SIGINT are blocked before any thread starts and taken with
 * sigwait() by the main thread, which otherwise sleeps. While no job is
 * claimable the runner's threads sleep too (PostgreSQL: LISTEN/NOTIFY
 * wakes them), so an idle worker sends no queries.
 *
 * Summary jobs need a chat-completions endpoint: HARK_SUMMARY_URL (with
 * HARK_SUMMARY_MODEL, HARK_SUMMARY_API_KEY) gives the worker one; without
 * it the runner hands such jobs back for a node that has one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD            "worker"
#define L1_CACHE_BYTES (64u << 20)

enum { O_HELP = 1, O_DB, O_WORKERS, O_MAX_JOBS, O_LEASE, O_GRACE, O_NO_CACHE, O_NAME };

static const cli_opt own_opts[] = {
    { "-h|--help", 0, O_HELP, "", "this help" },
    { "--db", 1, O_DB, "URI",
      "the shared store: postgresql://... (or sqlite:PATH on one machine)" },
    { "--workers", 1, O_WORKERS, "N", "transcription threads (default: number of cores)" },
    { "--max-jobs", 1, O_MAX_JOBS, "N", "jobs run at once (default: 2 x workers)" },
    { "--lease", 1, O_LEASE, "SEC",
      "job lease: a job of a worker that died is taken over after this (default 30)" },
    { "--grace", 1, O_GRACE, "SEC",
      "on SIGTERM, time running jobs get to finish before they are handed back (default 30)" },
    { "--no-cache", 0, O_NO_CACHE, "", "do not use the result cache" },
    { "--name", 1, O_NAME, "NAME", "lease owner name (default host:pid:random)" },
};

typedef struct args {
    cli_engine_args eng;
    const char *db, *name;
    long workers, max_jobs, lease_s, grace_s;
    int help, no_cache;
} args;

static int on_opt(void *ctx, int id, const char *v)
{
    args *a = ctx;
    int rc = cli_engine_option(CMD, &a->eng, id, v);
    if (rc)
        return rc < 0 ? -rc : 0;
    switch (id) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_DB:
        a->db = v;
        return 0;
    case O_NAME:
        a->name = v;
        return 0;
    case O_NO_CACHE:
        a->no_cache = 1;
        return 0;
    case O_WORKERS:
        return cli_long(CMD, "--workers", v, 1, 256, &a->workers);
    case O_MAX_JOBS:
        return cli_long(CMD, "--max-jobs", v, 1, 256, &a->max_jobs);
    case O_LEASE:
        return cli_long(CMD, "--lease", v, 1, 86400, &a->lease_s);
    case O_GRACE:
        return cli_long(CMD, "--grace", v, 0, 86400, &a->grace_s);
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    (void)ctx;
    fprintf(stderr, "hark " CMD ": unexpected argument %s\n", arg);
    return EXIT_USAGE;
}

static void print_log(hark_log_level level, const char *msg, void *payload)
{
    (void)payload;
    fprintf(stderr, "hark worker: %s%s\n", level >= HARK_LOG_WARN ? "warning: " : "", msg);
}

int cmd_worker(int argc, char **argv)
{
    args a;
    cli_opt all[64];
    size_t n = 0, k;
    hark_store *store = NULL;
    hark_cache *cache = NULL;
    hark_engine *engine = NULL;
    hark_scheduler *sched = NULL;
    hark_runner *runner = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_runner_options ro;
    hark_summary_options sum;
    hark_buf path = HARK_BUF_INIT;
    const char *env;
    sigset_t sigs;
    int rc, sig = 0;

    memset(&a, 0, sizeof(a));
    cli_engine_args_init(&a.eng);
    a.grace_s = 30;
    for (k = 0; k < sizeof(own_opts) / sizeof(own_opts[0]); k++)
        all[n++] = own_opts[k];
    for (k = 0; k < cli_n_engine_opts && n < 64; k++)
        all[n++] = cli_engine_opts[k];
    if ((rc = cli_parse(CMD, argc, argv, all, n, on_opt, on_arg, &a)) != 0)
        return rc;
    if (a.help) {
        printf("usage: hark worker --db URI [--workers N] [options]\n\n"
               "A transcription node without HTTP: runs jobs from the store's queue (submitted\n"
               "through any `hark serve` node) until SIGTERM. Start any number, on any number\n"
               "of machines, against one PostgreSQL store. Audio is read from the paths the\n"
               "jobs' recordings name: give every node the same shared data directory.\n\n"
               "options:\n");
        cli_print_options(stdout, own_opts, sizeof(own_opts) / sizeof(own_opts[0]));
        cli_print_options(stdout, cli_engine_opts, cli_n_engine_opts);
        return EXIT_OK;
    }

    /* SIGTERM/SIGINT to sigwait() below: blocked before the first thread starts */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    hark_log_set(print_log, NULL, HARK_LOG_INFO);

    if (!a.db && (rc = hark_store_default_path(&path)) == 0)
        a.db = path.ptr;
    if ((rc = hark_store_open(&store, a.db)) < 0) {
        fprintf(stderr, "hark " CMD ": database: %s\n", hark_error_last());
        rc = rc == HARK_EUNSUPPORTED || rc == HARK_EINVAL ? EXIT_USAGE : EXIT_STORE;
        goto out;
    }
    if (!a.no_cache && (rc = hark_cache_new(&cache, store, L1_CACHE_BYTES)) < 0) {
        fprintf(stderr, "hark " CMD ": result cache: %s\n", hark_error_last());
        rc = EXIT_STORE;
        goto out;
    }
    if ((rc = cli_open_engine(CMD, &a.eng, &engine)) != 0)
        goto out;
    so.n_workers = a.workers ? (unsigned)a.workers : a.eng.pipeline.n_workers;
    if ((rc = hark_scheduler_new(&sched, &so)) < 0) {
        fprintf(stderr, "hark " CMD ": workers: %s\n", hark_error_last());
        rc = EXIT_FAIL;
        goto out;
    }
    hark_runner_options_default(&ro);
    ro.store = store;
    ro.cache = cache;
    ro.engine = engine;
    ro.scheduler = sched;
    ro.pipeline = a.eng.pipeline;
    ro.name = a.name;
    ro.max_jobs = (unsigned)a.max_jobs;
    ro.lease_ms = (unsigned)(a.lease_s * 1000);
    hark_summary_options_default(&sum);
    if ((env = getenv("HARK_SUMMARY_URL")) && *env) {
        sum.url = env;
        if ((env = getenv("HARK_SUMMARY_MODEL")) && *env)
            sum.model = env;
        sum.api_key = getenv("HARK_SUMMARY_API_KEY");
        ro.summary = &sum;
    }
    if ((rc = hark_runner_start(&runner, &ro)) < 0) {
        fprintf(stderr, "hark " CMD ": job runner: %s\n", hark_error_last());
        rc = EXIT_FAIL;
        goto out;
    }
    printf("hark worker: %s running jobs of %s (engine %s, %u workers)\n", hark_runner_name(runner),
           hark_store_uri(store), hark_engine_name(engine), hark_scheduler_workers(sched));
    fflush(stdout);
    while (sigwait(&sigs, &sig) != 0) {
    }
    fprintf(stderr, "hark worker: %s: stopping (running jobs get %ld s to finish)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", a.grace_s);
    {
        unsigned back = hark_runner_stop(runner, (unsigned)(a.grace_s * 1000));
        if (back)
            fprintf(stderr, "hark worker: %u running job(s) handed back to the queue\n", back);
    }
    rc = EXIT_OK;
out:
    hark_runner_free(runner);
    hark_scheduler_free(sched);
    hark_engine_free(engine);
    hark_cache_free(cache);
    hark_store_free(store);
    hark_buf_dispose(&path);
    hark_log_set(NULL, NULL, HARK_LOG_WARN);
    return rc;
}
