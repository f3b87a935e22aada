/*
 * eval.c: `hark eval MANIFEST` — word error rate and speed against reference
 * transcripts.
 *
 * The manifest is a UTF-8 TSV with a header row naming at least `file` and
 * `reference` columns (an `id` column is used for display when present);
 * files are relative to the manifest's folder. Files are transcribed in
 * parallel (up to -j at once; each file's pipeline gets the remaining cores),
 * with one engine whose model is loaded once, and without the store or the
 * cache: every figure comes from a real engine run.
 *
 * Scoring (src/pipeline/wer.h): both sides lower-cased, punctuation removed
 * except apostrophes inside words, hyphens split words, numbers not spelled
 * out. WER = (S + D + I) / N summed over the corpus. Speed: wall time per
 * file, and the whole run's CPU time per second of audio (what
 * `pocketsphinx_continuous` is measured in).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

#include "../util/util.h"

#define CMD      "eval"
#define MAX_ROWS 100000

enum { O_HELP = 1, O_LIMIT, O_JSON, O_VERBOSE, O_BASELINE };

static const cli_opt own_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--limit", 1, O_LIMIT, "N", "only the first N files" },
    { "--json", 0, O_JSON, "", "JSON output" },
    { "-v|--verbose", 0, O_VERBOSE, "", "print each reference and hypothesis" },
    { "--baseline", 1, O_BASELINE, "CMD",
      "also score CMD ({} = the file; its stdout is the transcript), e.g. "
      "'pocketsphinx_continuous -infile {}'" },
};

typedef struct row {
    char *id, *path, *reference;
    double audio_s, wall_s;
    char *hypothesis;
    hark_wer_counts c;
    int rc;
    char err[256];
    /* the baseline command on the same file */
    hark_wer_counts bc;
    double b_wall_s, b_cpu_s;
    int b_rc; /* 0 ok, else its exit status */
} row;

typedef struct args {
    cli_engine_args eng;
    long limit;
    int json, verbose, help;
    const char *manifest;
    const char *baseline;
} args;

typedef struct shared {
    row *rows;
    size_t n;
    _Atomic size_t next;
    hark_engine *engine;
    hark_pipeline_options po;
    const char *baseline; /* shell command, NULL = none */
    pthread_mutex_t mu;
    size_t done;
    int quiet;
} shared;

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
    case O_LIMIT:
        return cli_long(CMD, "--limit", v, 1, MAX_ROWS, &a->limit);
    case O_JSON:
        a->json = 1;
        return 0;
    case O_VERBOSE:
        a->verbose = 1;
        return 0;
    case O_BASELINE:
        a->baseline = v;
        return 0;
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    args *a = ctx;
    if (a->manifest) {
        fprintf(stderr, "hark " CMD ": one manifest at a time\n");
        return EXIT_USAGE;
    }
    a->manifest = arg;
    return 0;
}

/* Split a line on tabs in place; returns the field count. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *tab = strchr(p, '\t');
        fields[n++] = p;
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int load_manifest(const char *path, long limit, row **out, size_t *n_out)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *fields[64];
    size_t cap = 0, n = 0, rows_cap = 0;
    ssize_t len;
    int col_file = -1, col_ref = -1, col_id = -1, col_dur = -1, k, nf, lineno = 0;
    row *rows = NULL;
    char dir[4096];
    const char *slash = strrchr(path, '/');

    if (!f) {
        fprintf(stderr, "hark " CMD ": %s: %s\n", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        nf = split_tabs(line, fields, 64);
        if (col_file < 0) { /* header */
            for (k = 0; k < nf; k++) {
                if (strcmp(fields[k], "file") == 0 || strcmp(fields[k], "path") == 0)
                    col_file = k;
                else if (strcmp(fields[k], "reference") == 0 || strcmp(fields[k], "text") == 0)
                    col_ref = k;
                else if (strcmp(fields[k], "id") == 0)
                    col_id = k;
                else if (strcmp(fields[k], "duration_s") == 0)
                    col_dur = k;
            }
            if (col_file < 0 || col_ref < 0) {
                fprintf(stderr,
                        "hark " CMD ": %s: the header must name 'file' and 'reference' columns\n",
                        path);
                free(line);
                fclose(f);
                return EXIT_USAGE;
            }
            continue;
        }
        if (nf <= col_file || nf <= col_ref) {
            fprintf(stderr, "hark " CMD ": %s:%d: too few columns\n", path, lineno);
            continue;
        }
        if (limit && (long)n >= limit)
            break;
        if (n == rows_cap) {
            rows_cap = rows_cap ? rows_cap * 2 : 64;
            rows = realloc(rows, rows_cap * sizeof(row));
            if (!rows)
                abort();
        }
        memset(&rows[n], 0, sizeof(row));
        {
            size_t plen = strlen(dir) + strlen(fields[col_file]) + 2;
            rows[n].path = malloc(plen);
            if (!rows[n].path)
                abort();
            if (fields[col_file][0] == '/')
                snprintf(rows[n].path, plen, "%s", fields[col_file]);
            else
                snprintf(rows[n].path, plen, "%s/%s", dir, fields[col_file]);
        }
        rows[n].id = strdup(col_id >= 0 && nf > col_id ? fields[col_id] : fields[col_file]);
        rows[n].reference = strdup(fields[col_ref]);
        rows[n].audio_s = col_dur >= 0 && nf > col_dur ? strtod(fields[col_dur], NULL) : 0;
        n++;
    }
    free(line);
    fclose(f);
    *out = rows;
    *n_out = n;
    return 0;
}

/* Run the baseline command on r->path: its stdout is its transcript. */
static void run_baseline(const char *tmpl, row *r)
{
    hark_buf cmd = HARK_BUF_INIT, out = HARK_BUF_INIT;
    cli_child c;

    r->b_rc = -1;
    if (cli_shell_command(tmpl, r->path, &cmd) == 0 &&
        cli_run_child(NULL, cmd.ptr, 1, &out, &c) == 0) {
        r->b_wall_s = c.wall_s;
        r->b_cpu_s = c.cpu_s;
        r->b_rc = c.status;
        if (r->b_rc == 0 && hark_wer_score(r->reference, out.ptr ? out.ptr : "", &r->bc) < 0)
            r->b_rc = -1;
    }
    hark_buf_dispose(&cmd);
    hark_buf_dispose(&out);
}

/* Second pass: the baseline command on every file (timed apart from hark). */
static void *baseline_worker(void *arg)
{
    shared *s = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n || cli_interrupted())
            break;
        run_baseline(s->baseline, &s->rows[i]);
    }
    return NULL;
}

static void *eval_worker(void *arg)
{
    shared *s = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        row *r;
        hark_transcript *t = NULL;
        hark_buf hyp = HARK_BUF_INIT;
        double t0;
        if (i >= s->n || cli_interrupted())
            break;
        r = &s->rows[i];
        t0 = hark__now_ms();
        r->rc = hark_transcribe_file(&t, s->engine, r->path, &s->po);
        r->wall_s = (hark__now_ms() - t0) / 1000;
        if (r->rc == 0 && (r->rc = hark_transcript_text(t, &hyp)) == 0)
            r->rc = hark_wer_score(r->reference, hyp.ptr, &r->c);
        if (r->rc < 0)
            snprintf(r->err, sizeof(r->err), "%s", hark_error_last());
        else {
            r->hypothesis = strdup(hyp.ptr);
            r->audio_s = (double)hark_transcript_duration(t) / HARK_SAMPLE_RATE;
        }
        hark_transcript_free(t);
        hark_buf_dispose(&hyp);
        pthread_mutex_lock(&s->mu);
        s->done++;
        if (!s->quiet)
            fprintf(stderr, "\r\x1b[Keval: %zu/%zu files", s->done, s->n);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

int cmd_eval(int argc, char **argv)
{
    args a;
    shared s;
    row *rows = NULL;
    size_t n = 0, i;
    pthread_t th[64];
    hark_scheduler *sched = NULL;
    unsigned n_threads, cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN), jobs, k;
    hark_wer_counts total, btotal;
    double audio = 0, wall = 0, cpu_s, t0, b_wall = 0, b_cpu = 0;
    int b_failed = 0;
    struct rusage ru0, ru1;
    int rc, failed = 0;
    cli_opt all[64];
    size_t nopt = 0, q;

    memset(&a, 0, sizeof(a));
    memset(&s, 0, sizeof(s));
    memset(&total, 0, sizeof(total));
    memset(&btotal, 0, sizeof(btotal));
    cli_engine_args_init(&a.eng);
    for (q = 0; q < HARK_ARRAY_SIZE(own_opts); q++)
        all[nopt++] = own_opts[q];
    for (q = 0; q < cli_n_engine_opts; q++)
        all[nopt++] = cli_engine_opts[q];
    if ((rc = cli_parse(CMD, argc, argv, all, nopt, on_opt, on_arg, &a)) != 0)
        return rc;
    if (a.help) {
        printf("usage: hark eval [options] MANIFEST.tsv\n\n"
               "Word error rate and speed on a manifest of recordings with reference\n"
               "transcripts (TSV with a header naming 'file' and 'reference' columns).\n"
               "Normalisation: lower case, punctuation removed except apostrophes inside\n"
               "words, hyphens split words, numbers compared as written.\n\n");
        cli_print_options(stdout, own_opts, HARK_ARRAY_SIZE(own_opts));
        cli_print_options(stdout, cli_engine_opts, cli_n_engine_opts);
        return 0;
    }
    if (!a.manifest) {
        fprintf(stderr, "hark " CMD ": no manifest (see hark " CMD " --help)\n");
        return EXIT_USAGE;
    }
    if ((rc = load_manifest(a.manifest, a.limit, &rows, &n)) != 0)
        return rc;
    if (n == 0) {
        fprintf(stderr, "hark " CMD ": %s lists no files\n", a.manifest);
        free(rows);
        return EXIT_USAGE;
    }
    if ((rc = cli_open_engine(CMD, &a.eng, &s.engine)) != 0)
        goto out;
    /* up to -j files at once; each file's pipeline gets the remaining cores */
    jobs = a.eng.pipeline.n_workers ? a.eng.pipeline.n_workers : cpus;
    n_threads = (unsigned)HARK_MIN((size_t)jobs, n);
    if (n_threads > 64)
        n_threads = 64;
    s.po = a.eng.pipeline;
    {
        /* one pool of -j workers shared by every file in flight */
        hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
        so.n_workers = jobs;
        if (hark_scheduler_new(&sched, &so) < 0) {
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
            rc = EXIT_FAIL;
            goto out;
        }
    }
    s.po.scheduler = sched;
    s.po.abort = cli_abort_cb;
    s.baseline = a.baseline;
    s.rows = rows;
    s.n = n;
    s.quiet = a.eng.quiet || !isatty(2);
    pthread_mutex_init(&s.mu, NULL);
    cli_signals_install();
    getrusage(RUSAGE_SELF, &ru0);
    t0 = hark__now_ms();
    for (k = 0; k < n_threads; k++)
        pthread_create(&th[k], NULL, eval_worker, &s);
    for (k = 0; k < n_threads; k++)
        pthread_join(th[k], NULL);
    wall = (hark__now_ms() - t0) / 1000;
    getrusage(RUSAGE_SELF, &ru1);
    cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
            (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
            (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
            (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    if (a.baseline && !cli_interrupted()) {
        if (!s.quiet)
            fprintf(stderr, "\r\x1b[Keval: running the baseline...");
        atomic_store(&s.next, 0);
        for (k = 0; k < n_threads; k++)
            pthread_create(&th[k], NULL, baseline_worker, &s);
        for (k = 0; k < n_threads; k++)
            pthread_join(th[k], NULL);
    }
    pthread_mutex_destroy(&s.mu);
    if (!s.quiet)
        fprintf(stderr, "\r\x1b[K");

    for (i = 0; i < n; i++) {
        if (rows[i].rc < 0) {
            failed++;
            continue;
        }
        hark_wer_add(&total, &rows[i].c);
        audio += rows[i].audio_s;
        if (a.baseline) {
            if (rows[i].b_rc != 0) {
                b_failed++;
                continue;
            }
            hark_wer_add(&btotal, &rows[i].bc);
            b_wall += rows[i].b_wall_s;
            b_cpu += rows[i].b_cpu_s;
        }
    }

    if (a.json) {
        hark_buf b = HARK_BUF_INIT;
        hark_jsonw w;
        hark_jsonw_init(&w, &b, 1);
        hark_jsonw_object(&w);
        hark_jsonw_key(&w, "engine");
        hark_jsonw_str(&w, hark_engine_name(s.engine));
        hark_jsonw_key(&w, "files");
        hark_jsonw_array(&w);
        for (i = 0; i < n; i++) {
            const row *r = &rows[i];
            hark_jsonw_object(&w);
            hark_jsonw_key(&w, "id");
            hark_jsonw_str(&w, r->id);
            if (r->rc < 0) {
                hark_jsonw_key(&w, "error");
                hark_jsonw_str(&w, r->err);
            } else {
                hark_jsonw_key(&w, "audio_s");
                hark_jsonw_fixed(&w, r->audio_s, 3);
                hark_jsonw_key(&w, "wall_s");
                hark_jsonw_fixed(&w, r->wall_s, 3);
                hark_jsonw_key(&w, "wer");
                hark_jsonw_fixed(&w, hark_wer_rate(&r->c), 4);
                hark_jsonw_key(&w, "ref_words");
                hark_jsonw_int(&w, (int64_t)r->c.ref_words);
                hark_jsonw_key(&w, "errors");
                hark_jsonw_int(&w,
                               (int64_t)(r->c.substitutions + r->c.deletions + r->c.insertions));
                hark_jsonw_key(&w, "hypothesis");
                hark_jsonw_str(&w, r->hypothesis);
            }
            hark_jsonw_close(&w);
        }
        hark_jsonw_close(&w);
        hark_jsonw_key(&w, "wer");
        hark_jsonw_fixed(&w, hark_wer_rate(&total), 4);
        hark_jsonw_key(&w, "ref_words");
        hark_jsonw_int(&w, (int64_t)total.ref_words);
        hark_jsonw_key(&w, "substitutions");
        hark_jsonw_int(&w, (int64_t)total.substitutions);
        hark_jsonw_key(&w, "deletions");
        hark_jsonw_int(&w, (int64_t)total.deletions);
        hark_jsonw_key(&w, "insertions");
        hark_jsonw_int(&w, (int64_t)total.insertions);
        hark_jsonw_key(&w, "audio_s");
        hark_jsonw_fixed(&w, audio, 3);
        hark_jsonw_key(&w, "wall_s");
        hark_jsonw_fixed(&w, wall, 3);
        hark_jsonw_key(&w, "cpu_s_per_audio_s");
        hark_jsonw_fixed(&w, audio > 0 ? cpu_s / audio : 0, 4);
        hark_jsonw_key(&w, "failed");
        hark_jsonw_int(&w, failed);
        if (a.baseline) {
            hark_jsonw_key(&w, "baseline");
            hark_jsonw_object(&w);
            hark_jsonw_key(&w, "command");
            hark_jsonw_str(&w, a.baseline);
            hark_jsonw_key(&w, "wer");
            hark_jsonw_fixed(&w, hark_wer_rate(&btotal), 4);
            hark_jsonw_key(&w, "cpu_s_per_audio_s");
            hark_jsonw_fixed(&w, audio > 0 ? b_cpu / audio : 0, 4);
            hark_jsonw_key(&w, "failed");
            hark_jsonw_int(&w, b_failed);
            hark_jsonw_close(&w);
        }
        hark_jsonw_close(&w);
        if (hark_jsonw_end(&w) == 0)
            printf("%s\n", b.ptr);
        hark_buf_dispose(&b);
    } else {
        printf("%-20s %8s %7s %5s %4s %4s %4s %8s %7s\n", "id", "audio_s", "WER%", "N", "S", "D",
               "I", "wall_s", "x_rt");
        for (i = 0; i < n; i++) {
            const row *r = &rows[i];
            if (r->rc < 0) {
                printf("%-20s  FAILED: %s\n", r->id, r->err);
                continue;
            }
            printf("%-20s %8.2f %7.1f %5zu %4zu %4zu %4zu %8.2f %7.1f\n", r->id, r->audio_s,
                   100 * hark_wer_rate(&r->c), r->c.ref_words, r->c.substitutions, r->c.deletions,
                   r->c.insertions, r->wall_s, r->wall_s > 0 ? r->audio_s / r->wall_s : 0);
            if (a.verbose)
                printf("    REF: %s\n    HYP: %s\n", r->reference, r->hypothesis);
        }
        printf("\ntotal: %zu files (%d failed), %.1f s of audio, engine %s\n", n, failed, audio,
               hark_engine_name(s.engine));
        printf("WER %.2f%%  (N=%zu S=%zu D=%zu I=%zu)\n", 100 * hark_wer_rate(&total),
               total.ref_words, total.substitutions, total.deletions, total.insertions);
        printf("speed: %.1f s wall, %.1fx real time; %.3f CPU-s per audio-s\n", wall,
               wall > 0 ? audio / wall : 0, audio > 0 ? cpu_s / audio : 0);
        if (a.baseline) {
            printf("\nbaseline: %s (%d failed)\n", a.baseline, b_failed);
            printf("WER %.2f%%  (N=%zu S=%zu D=%zu I=%zu); %.3f CPU-s per audio-s\n",
                   100 * hark_wer_rate(&btotal), btotal.ref_words, btotal.substitutions,
                   btotal.deletions, btotal.insertions, audio > 0 ? b_cpu / audio : 0);
            printf("hark minus baseline: %+.2f WER points\n",
                   100 * (hark_wer_rate(&total) - hark_wer_rate(&btotal)));
        }
    }
    rc = cli_interrupted() ? EXIT_INTERRUPT : failed ? EXIT_FAIL : 0;
out:
    for (i = 0; i < n; i++) {
        free(rows[i].id);
        free(rows[i].path);
        free(rows[i].reference);
        free(rows[i].hypothesis);
    }
    free(rows);
    hark_scheduler_free(sched);
    hark_engine_free(s.engine);
    return rc;
}
