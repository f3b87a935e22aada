/*
 * jobs.c: the durable job queue (hark/jobs.h) from the command line:
 *   hark jobs [list] [--state STATE] [--limit N] [--after ID] [--json]
 *   hark jobs show ID [--json]
 *   hark jobs retry ID
 *   hark jobs cancel ID
 *   hark jobs counts [--json]
 *
 * DESIGN
 * - A thin layer over the store: retry and cancel are the store's
 *   transitions (hark_store_job_retry/_cancel), which refuse a job in the
 *   wrong state with a message naming its state (exit 1). Both are written
 *   to the audit log as local actions (job.retry, job.cancel).
 * - --json uses the shared renderers (hark/render.h), so it has the shapes
 *   the server's API answers with.
 *
 * INVARIANTS
 * - Stored text (errors, lease owners, parameters) reaches the terminal
 *   through cli_put_safe.
 * - Unknown job: exit 3 ("no job N"); a malformed id or state: exit 2.
 */
#include <string.h>

#include "cli.h"
#include "../util/util.h"

enum { O_HELP = 1, O_STATE, O_LIMIT, O_AFTER, O_JSON };

typedef struct jobs_args {
    cli_store_args db;
    int help, json, state;
    long limit, after;
    const char *words[4];
    int n_words;
    unsigned seen; /* bit (1 << O_x) per option given */
} jobs_args;

static const cli_opt opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--state", 1, O_STATE, "STATE", "list: only jobs queued, running, done, dead or canceled" },
    { "--limit", 1, O_LIMIT, "N", "list: jobs per page (default 20, at most 1000)" },
    { "--after", 1, O_AFTER, "ID",
      "list: the page after job ID (as printed at the end of a page)" },
    { "--json", 0, O_JSON, "", "list, show, counts: JSON output" },
};

static const char usage[] =
    "usage: hark jobs [list] [--state STATE] [--limit N] [--after ID] [--json]\n"
    "       hark jobs show ID [--json]\n"
    "       hark jobs retry ID\n"
    "       hark jobs cancel ID\n"
    "       hark jobs counts [--json]\n";

static int on_opt(void *ctx, int id, const char *v)
{
    jobs_args *a = ctx;
    hark_job_state s;
    if (cli_store_option(&a->db, id, v))
        return 0;
    a->seen |= 1u << id;
    switch (id) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_STATE:
        if (hark_job_state_parse(&s, v) < 0) {
            fputs("hark jobs: unknown state '", stderr);
            cli_put_safe(stderr, v, 0, NULL);
            fputs("': queued, running, done, dead or canceled\n", stderr);
            return EXIT_USAGE;
        }
        a->state = (int)s;
        return 0;
    case O_LIMIT:
        return cli_long("jobs", "--limit", v, 1, 1000, &a->limit);
    case O_AFTER:
        return cli_long("jobs", "--after", v, 1, 0x7fffffffL, &a->after);
    case O_JSON:
        a->json = 1;
        return 0;
    }
    return EXIT_USAGE;
}

enum { A_LIST, A_SHOW, A_RETRY, A_CANCEL, A_COUNTS };

static const cli_action actions[] = {
    { "list", A_LIST, 1u << O_STATE | 1u << O_LIMIT | 1u << O_AFTER | 1u << O_JSON, 0 },
    { "show", A_SHOW, 1u << O_JSON, 1 },
    { "retry", A_RETRY, 0, 1 },
    { "cancel", A_CANCEL, 0, 1 },
    { "counts", A_COUNTS, 1u << O_JSON, 0 },
};

static const cli_actions jobs_actions = {
    "jobs", actions, HARK_ARRAY_SIZE(actions), opts, HARK_ARRAY_SIZE(opts), usage
};

static int on_arg(void *ctx, const char *arg)
{
    jobs_args *a = ctx;
    if (a->n_words == (int)HARK_ARRAY_SIZE(a->words)) {
        fprintf(stderr, "hark jobs: too many arguments (see hark jobs --help)\n");
        return EXIT_USAGE;
    }
    a->words[a->n_words++] = arg;
    return 0;
}

static void sample_clock(char *out, size_t n, int64_t samples)
{
    long long ms = (long long)(samples * 1000 / HARK_SAMPLE_RATE);
    snprintf(out, n, "%lld:%02lld.%03lld", ms / 60000, ms / 1000 % 60, ms % 1000);
}

/* ---- list ----------------------------------------------------------------------------------- */

static int jobs_list(const jobs_args *a, hark_store *s)
{
    hark_job_list_options lo = HARK_JOB_LIST_OPTIONS_INIT;
    hark_job_list *list = NULL;
    size_t i;
    int rc;

    lo.limit = a->limit ? (size_t)a->limit : 20;
    lo.after = a->after;
    lo.state = (a->seen & 1u << O_STATE) ? a->state : -1;
    if ((rc = hark_store_job_list(s, &lo, &list)) < 0)
        return cli_admin_fail("jobs list", rc);
    if (a->json) {
        hark_buf b = HARK_BUF_INIT;
        if ((rc = hark_render_job_list(&b, list, HARK_RENDER_PRETTY | HARK_RENDER_LOCAL)) < 0)
            rc = cli_admin_fail("jobs list", rc);
        else
            fputs(b.ptr, stdout);
        hark_buf_dispose(&b);
        goto out;
    }
    if (list->n == 0 && !a->after) {
        if (lo.state >= 0)
            printf("no %s jobs\n", hark_job_state_name((hark_job_state)lo.state));
        else
            printf("no jobs: hark serve queues one per upload\n");
    }
    if (list->n)
        printf("%6s  %-8s  %-11s  %6s  %5s  %-9s  %-16s  %s\n", "id", "state", "priority", "rec",
               "tries", "chunks", "created", "error");
    for (i = 0; i < list->n; i++) {
        const hark_job *j = &list->items[i];
        char created[32], tries[32], chunks[48];
        cli_local_time(created, sizeof(created), j->created_ms);
        snprintf(tries, sizeof(tries), "%u/%u", j->attempts, j->max_attempts);
        snprintf(chunks, sizeof(chunks), "%u/%u%s", j->chunks_done, j->chunks_total,
                 j->chunks_final ? "" : "+");
        printf("%6lld  %-8s  %-11s  %6lld  %5s  %-9s  %-16s  ", (long long)j->id,
               hark_job_state_name(j->state), hark_priority_name(j->priority),
               (long long)j->recording, tries, chunks, created);
        cli_put_safe(stdout, j->error ? j->error : "", 0, NULL);
        putchar('\n');
    }
    if (list->more && list->n)
        printf("more: hark jobs list --after %lld%s%s\n", (long long)list->items[list->n - 1].id,
               lo.state >= 0 ? " --state " : "",
               lo.state >= 0 ? hark_job_state_name((hark_job_state)lo.state) : "");
out:
    hark_job_list_free(list);
    return rc;
}

/* ---- show ----------------------------------------------------------------------------------- */

static int parse_job_id(const char *sub, const jobs_args *a, int64_t *id)
{
    char cmd[32];
    long l;
    int rc;
    snprintf(cmd, sizeof(cmd), "jobs %s", sub);
    if (a->n_words != 2) {
        fprintf(stderr, "hark %s: give one job id (see hark jobs list)\n", cmd);
        return EXIT_USAGE;
    }
    if ((rc = cli_long(cmd, "a job id", a->words[1], 1, 0x7fffffffL, &l)) != 0)
        return rc;
    *id = l;
    return 0;
}

static int get_job(const char *cmd, hark_store *s, int64_t id, hark_job **job)
{
    int rc = hark_store_job_get(s, id, job);
    if (rc == HARK_ENOTFOUND) {
        fprintf(stderr, "hark %s: no job %lld (see hark jobs list)\n", cmd, (long long)id);
        return EXIT_NOINPUT;
    }
    return rc < 0 ? cli_admin_fail(cmd, rc) : 0;
}

static void field(const char *name, const char *text)
{
    printf("  %-11s ", name);
    cli_put_safe(stdout, text, 0, NULL);
    putchar('\n');
}

static void time_field(const char *name, int64_t ms)
{
    char when[32];
    if (!ms)
        return;
    cli_local_time(when, sizeof(when), ms);
    field(name, when);
}

static int jobs_show(const jobs_args *a, hark_store *s)
{
    hark_job *j = NULL;
    hark_job_chunk_list *chunks = NULL;
    char line[160];
    int64_t id;
    size_t i;
    int rc;

    if ((rc = parse_job_id("show", a, &id)) != 0)
        return rc;
    if ((rc = get_job("jobs show", s, id, &j)) != 0)
        return rc;
    if ((rc = hark_store_job_chunks(s, id, 0, &chunks)) < 0) {
        rc = cli_admin_fail("jobs show", rc);
        goto out;
    }
    if (a->json) {
        hark_buf b = HARK_BUF_INIT;
        if ((rc = hark_render_job(&b, j, chunks, HARK_RENDER_PRETTY | HARK_RENDER_LOCAL)) < 0)
            rc = cli_admin_fail("jobs show", rc);
        else
            fputs(b.ptr, stdout);
        hark_buf_dispose(&b);
        goto out;
    }
    printf("job %lld\n", (long long)j->id);
    field("state", hark_job_state_name(j->state));
    field("kind", j->kind);
    field("priority", hark_priority_name(j->priority));
    snprintf(line, sizeof(line), "%lld", (long long)j->recording);
    field("recording", line);
    if (j->owner) {
        snprintf(line, sizeof(line), "user %lld", (long long)j->owner);
        field("owner", line);
    }
    snprintf(line, sizeof(line), "%u of %u", j->attempts, j->max_attempts);
    field("attempts", line);
    snprintf(line, sizeof(line), "%u of %u%s chunks done, %u failed", j->chunks_done,
             j->chunks_total, j->chunks_final ? "" : "+", j->chunks_failed);
    field("progress", line);
    time_field("created", j->created_ms);
    time_field("updated", j->updated_ms);
    time_field("started", j->started_ms);
    time_field("finished", j->finished_ms);
    if (j->state == HARK_JOB_QUEUED)
        time_field("not before", j->not_before_ms);
    if (j->lease_owner) {
        char until[32];
        cli_local_time(until, sizeof(until), j->lease_expires_ms);
        printf("  %-11s ", "lease");
        cli_put_safe(stdout, j->lease_owner, 0, NULL);
        printf(" until %s\n", until);
    }
    if (j->params)
        field("params", j->params);
    if (j->error)
        field("error", j->error);
    if (chunks->n)
        printf("chunks:\n  %5s  %-11s  %-11s  %-7s  %5s  %9s  %s\n", "index", "start", "end",
               "state", "tries", "asr_ms", "error");
    for (i = 0; i < chunks->n; i++) {
        const hark_job_chunk *c = &chunks->items[i];
        char from[32], to[32];
        sample_clock(from, sizeof(from), c->start);
        sample_clock(to, sizeof(to), c->start + c->n);
        printf("  %5u  %-11s  %-11s  %-7s  %5u  %9.0f  ", c->index, from, to,
               hark_chunk_state_name(c->state), c->attempts, c->asr_ms);
        cli_put_safe(stdout, c->error ? c->error : "", 0, NULL);
        putchar('\n');
    }
out:
    hark_job_chunk_list_free(chunks);
    hark_job_free(j);
    return rc;
}

/* ---- retry, cancel -------------------------------------------------------------------------- */

static int jobs_change(const jobs_args *a, hark_store *s, int retry)
{
    const char *sub = retry ? "retry" : "cancel";
    const char *cmd = retry ? "jobs retry" : "jobs cancel";
    hark_job *j = NULL;
    hark_buf d = HARK_BUF_INIT;
    hark_jsonw w;
    int64_t id;
    int rc;

    if ((rc = parse_job_id(sub, a, &id)) != 0)
        return rc;
    rc = retry ? hark_store_job_retry(s, id) : hark_store_job_cancel(s, id);
    if (rc == HARK_ENOTFOUND) {
        fprintf(stderr, "hark %s: no job %lld (see hark jobs list)\n", cmd, (long long)id);
        return EXIT_NOINPUT;
    }
    if (rc < 0)
        return cli_admin_fail(cmd, rc); /* wrong state: "job 4 is already done", exit 1 */
    hark_jsonw_init(&w, &d, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "job");
    hark_jsonw_int(&w, id);
    hark_jsonw_close(&w);
    if (hark_jsonw_end(&w) < 0 || cli_audit(cmd, s, retry ? "job.retry" : "job.cancel", &d) < 0) {
        rc = EXIT_STORE;
        goto out;
    }
    if ((rc = get_job(cmd, s, id, &j)) != 0)
        goto out;
    if (retry)
        printf("job %lld is queued again (%u of %u chunks kept)\n", (long long)id, j->chunks_done,
               j->chunks_total);
    else
        printf("job %lld canceled%s\n", (long long)id,
               j->lease_owner ? " (its runner stops at its next heartbeat)" : "");
out:
    hark_job_free(j);
    hark_buf_dispose(&d);
    return rc;
}

/* ---- counts --------------------------------------------------------------------------------- */

static int jobs_counts(const jobs_args *a, hark_store *s)
{
    hark_job_counts c;
    int st, p, rc;

    if ((rc = hark_store_job_counts(s, &c)) < 0)
        return cli_admin_fail("jobs counts", rc);
    if (a->json) {
        hark_buf b = HARK_BUF_INIT;
        hark_jsonw w;
        hark_jsonw_init(&w, &b, 1);
        hark_jsonw_object(&w);
        for (st = 0; st < HARK_JOB_STATE_COUNT; st++) {
            uint64_t total = 0;
            hark_jsonw_key(&w, hark_job_state_name((hark_job_state)st));
            hark_jsonw_object(&w);
            for (p = 0; p < HARK_PRIORITY_COUNT; p++)
                total += c.n[st][p];
            hark_jsonw_key(&w, "total");
            hark_jsonw_int(&w, (int64_t)total);
            for (p = 0; p < HARK_PRIORITY_COUNT; p++) {
                hark_jsonw_key(&w, hark_priority_name((hark_priority)p));
                hark_jsonw_int(&w, (int64_t)c.n[st][p]);
            }
            hark_jsonw_close(&w);
        }
        hark_jsonw_close(&w);
        if ((rc = hark_jsonw_end(&w)) < 0)
            rc = cli_admin_fail("jobs counts", rc);
        else
            puts(b.ptr);
        hark_buf_dispose(&b);
        return rc;
    }
    printf("%-9s %7s", "state", "total");
    for (p = 0; p < HARK_PRIORITY_COUNT; p++)
        printf(" %11s", hark_priority_name((hark_priority)p));
    putchar('\n');
    for (st = 0; st < HARK_JOB_STATE_COUNT; st++) {
        unsigned long long total = 0;
        for (p = 0; p < HARK_PRIORITY_COUNT; p++)
            total += c.n[st][p];
        printf("%-9s %7llu", hark_job_state_name((hark_job_state)st), total);
        for (p = 0; p < HARK_PRIORITY_COUNT; p++)
            printf(" %11llu", (unsigned long long)c.n[st][p]);
        putchar('\n');
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int cmd_jobs(int argc, char **argv)
{
    cli_opt all[HARK_ARRAY_SIZE(opts) + 1];
    jobs_args a;
    cli_store st;
    const cli_action *act;
    size_t n = 0, k;
    int rc;

    memset(&a, 0, sizeof(a));
    for (k = 0; k < HARK_ARRAY_SIZE(opts); k++)
        all[n++] = opts[k];
    all[n++] = cli_store_opts[0]; /* --db (no result cache here) */
    if ((rc = cli_parse("jobs", argc, argv, all, n, on_opt, on_arg, &a)) != 0)
        return rc;
    if (a.help) {
        fputs(usage, stdout);
        fputs("\nThe durable job queue of hark serve, newest first. retry puts a dead or\n"
              "canceled job back in the queue (only its failed chunks run again); cancel\n"
              "stops a queued or running one. Both are written to the audit log.\n\n",
              stdout);
        cli_print_options(stdout, opts, HARK_ARRAY_SIZE(opts));
        cli_print_options(stdout, cli_store_opts, 1);
        return 0;
    }
    if (!(act = cli_action_pick(&jobs_actions, a.seen, a.words, a.n_words, "list")))
        return EXIT_USAGE;
    if ((rc = cli_store_open("jobs", &a.db, &st, 1, 0, 0)) != 0)
        return rc;
    switch (act->id) {
    case A_LIST:
        rc = jobs_list(&a, st.store);
        break;
    case A_SHOW:
        rc = jobs_show(&a, st.store);
        break;
    case A_COUNTS:
        rc = jobs_counts(&a, st.store);
        break;
    default:
        rc = jobs_change(&a, st.store, act->id == A_RETRY);
    }
    cli_store_close(&st);
    return rc;
}
