/*
 * bench.c: `hark bench FILE` measures end-to-end throughput (decode, VAD,
 * engine) with 1..N workers, parallel efficiency, and peak memory.
 *
 * Every measurement runs in a child process (this binary re-executed with
 * the hidden --child option) so that each one has its own peak RSS and a
 * cold start, and one measurement cannot disturb the next. Each
 * configuration runs --repeat times and the median wall time is kept. The
 * same run can time a baseline command on the same file (--baseline 'CMD {}')
 * so comparisons are made on the same machine at the same moment; the
 * machine is shared and noisy, so ratios matter more than absolute times.
 *
 * Row k runs k workers of one compute thread each (k threads in all), unless
 * -t sets the threads per worker.
 *
 * Memory: peak RSS of the full file vs its first --prefix seconds (default
 * 60) at the highest worker count shows whether memory grows with length.
 * The prefix must hold enough chunks to keep every worker busy (for Whisper,
 * whose chunks reach 120 s, use --prefix 300 with 2 workers).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

#define CMD        "bench"
#define MAX_REPEAT 15

enum { O_HELP = 1, O_MAXJOBS, O_REPEAT, O_BASELINE, O_PREFIX, O_CHILD, O_LIMIT };

static const cli_opt own_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--max-jobs", 1, O_MAXJOBS, "N", "measure 1..N workers (default: number of cores)" },
    { "--repeat", 1, O_REPEAT, "R", "runs per configuration, median kept (default 3)" },
    { "--baseline", 1, O_BASELINE, "CMD", "also time shell command CMD ({} = the file)" },
    { "--prefix", 1, O_PREFIX, "SEC",
      "memory check: compare with the first SEC seconds (default 60)" },
    { "--child", 1, O_CHILD, "", "(internal) run one measurement" },
    { "--limit", 1, O_LIMIT, "SEC", "(internal) transcribe only the first SEC seconds" },
};

typedef struct args {
    cli_engine_args eng;
    long max_jobs;
    long repeat;
    const char *baseline;
    double prefix_s;
    double limit_s;
    int child;
    int help;
    const char *file;
    char **argv; /* original engine options, passed on to children */
    int argc;
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
    case O_MAXJOBS:
        return cli_long(CMD, "--max-jobs", v, 1, 256, &a->max_jobs);
    case O_REPEAT:
        return cli_long(CMD, "--repeat", v, 1, MAX_REPEAT, &a->repeat);
    case O_BASELINE:
        a->baseline = v;
        return 0;
    case O_PREFIX:
        return cli_double(CMD, "--prefix", v, 1, 1e6, &a->prefix_s);
    case O_CHILD:
        a->child = 1;
        return 0;
    case O_LIMIT:
        return cli_double(CMD, "--limit", v, 0.1, 1e7, &a->limit_s);
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    args *a = ctx;
    if (a->file) {
        fprintf(stderr, "hark " CMD ": one file at a time\n");
        return EXIT_USAGE;
    }
    a->file = arg;
    return 0;
}

/* The measurement itself: decode + transcribe, print "audio_s segments". */
static int run_child(args *a)
{
    hark_engine *engine = NULL;
    hark_decoder *dec = NULL;
    hark_transcript *t = NULL;
    hark_decoder_options dopts = HARK_DECODER_OPTIONS_INIT;
    int rc;

    a->eng.quiet = 1;
    if (a->limit_s > 0)
        dopts.max_samples = (uint64_t)(a->limit_s * HARK_SAMPLE_RATE);
    if ((rc = cli_open_engine(CMD, &a->eng, &engine)) != 0)
        return rc;
    if ((rc = hark_decoder_open(&dec, a->file, &dopts)) == 0)
        rc = hark_transcribe(&t, engine, dec, &a->eng.pipeline);
    if (rc < 0)
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
    else {
        const hark_timings *tm = hark_transcript_timings(t);
        printf("%.3f %zu %.3f %u %.3f %u %u\n",
               (double)hark_transcript_duration(t) / HARK_SAMPLE_RATE, hark_transcript_count(t),
               tm->encoder_ms, tm->windows, tm->decoder_ms, tm->positions, tm->sampled);
    }
    hark_transcript_free(t);
    hark_decoder_free(dec);
    hark_engine_free(engine);
    return cli_exit_code(rc);
}

typedef struct measure {
    double wall_s;  /* median wall time */
    double cpu_s;   /* user + system of the median run */
    double rss_mb;  /* peak RSS, max over runs */
    double audio_s; /* audio length the child reported */
    /* the engine's counters of the median run (Whisper) */
    double encoder_ms, decoder_ms;
    unsigned windows, positions, sampled;
} measure;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Run `argv` or, when shell is set, `sh -c shell`, `repeat` times: median wall time. */
static int measure_runs(char **argv, const char *shell, long repeat, measure *m)
{
    double walls[MAX_REPEAT], cpus[MAX_REPEAT];
    measure runs[MAX_REPEAT];
    long r;
    memset(m, 0, sizeof(*m));
    for (r = 0; r < repeat; r++) {
        hark_buf out = HARK_BUF_INIT;
        cli_child c;
        /* a baseline's own output and logs are not ours to show */
        if (cli_run_child(argv, shell, shell != NULL, &out, &c) < 0) {
            hark_buf_dispose(&out);
            return -1;
        }
        walls[r] = c.wall_s;
        cpus[r] = c.cpu_s;
        if (c.rss_mb > m->rss_mb)
            m->rss_mb = c.rss_mb;
        if (c.status != 0) {
            fprintf(stderr, "hark " CMD ": a measured run failed (status %d)\n", c.status);
            hark_buf_dispose(&out);
            return -1;
        }
        memset(&runs[r], 0, sizeof(runs[r]));
        if (!shell) {
            size_t segs = 0;
            sscanf(out.ptr ? out.ptr : "", "%lf %zu %lf %u %lf %u %u", &runs[r].audio_s, &segs,
                   &runs[r].encoder_ms, &runs[r].windows, &runs[r].decoder_ms, &runs[r].positions,
                   &runs[r].sampled);
            m->audio_s = runs[r].audio_s;
        }
        hark_buf_dispose(&out);
    }
    {
        double sorted[MAX_REPEAT];
        long k, mid = repeat / 2;
        memcpy(sorted, walls, sizeof(double) * (size_t)repeat);
        qsort(sorted, (size_t)repeat, sizeof(double), cmp_double);
        m->wall_s = sorted[mid];
        for (k = 0; k < repeat; k++)
            if (walls[k] == m->wall_s) {
                m->cpu_s = cpus[k];
                m->encoder_ms = runs[k].encoder_ms;
                m->decoder_ms = runs[k].decoder_ms;
                m->windows = runs[k].windows;
                m->positions = runs[k].positions;
                m->sampled = runs[k].sampled;
            }
    }
    return 0;
}

/* argv for a child: self --child [engine options] -j N [--limit S] FILE */
static char **child_argv(const args *a, long jobs, double limit, char *jbuf, char *lbuf)
{
    char **v = calloc((size_t)a->argc + 12, sizeof(char *));
    int n = 0, i;
    static char self[4096];
    ssize_t len;
    if (!v)
        return NULL;
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[len > 0 ? len : 0] = '\0';
    v[n++] = self;
    v[n++] = "bench";
    v[n++] = "--child";
    v[n++] = "1";
    for (i = 0; i < a->argc; i++)
        v[n++] = a->argv[i];
    snprintf(jbuf, 16, "%ld", jobs);
    v[n++] = "-j";
    v[n++] = jbuf;
    if (a->eng.pipeline.decode.n_threads == 0) { /* row k uses k threads in all */
        v[n++] = "-t";
        v[n++] = "1";
    }
    if (limit > 0) {
        snprintf(lbuf, 32, "%.3f", limit);
        v[n++] = "--limit";
        v[n++] = lbuf;
    }
    v[n++] = (char *)a->file;
    v[n] = NULL;
    return v;
}

/* Keep only the engine/decoding options of the command line for children. */
static void collect_engine_argv(args *a, int argc, char **argv)
{
    int i;
    a->argv = calloc((size_t)argc + 1, sizeof(char *));
    a->argc = 0;
    for (i = 0; i < argc && a->argv; i++) {
        const char *s = argv[i];
        size_t k;
        int takes = -1;
        if (s[0] != '-')
            continue;
        for (k = 0; k < cli_n_engine_opts && takes < 0; k++) {
            const char *names = cli_engine_opts[k].names;
            size_t len = strcspn(s, "=");
            const char *p = names;
            while (*p) {
                size_t nl = strcspn(p, "|");
                if (nl == len && strncmp(p, s, len) == 0) {
                    takes = cli_engine_opts[k].has_arg && !strchr(s, '=');
                    break;
                }
                p += nl + (p[nl] == '|');
            }
        }
        if (takes < 0 || strcmp(s, "-j") == 0 || strcmp(s, "--jobs") == 0) {
            if (takes > 0)
                i++;
            continue;
        }
        a->argv[a->argc++] = argv[i];
        if (takes && i + 1 < argc)
            a->argv[a->argc++] = argv[++i];
    }
}

int cmd_bench(int argc, char **argv)
{
    args a;
    cli_opt all[64];
    size_t n = 0, k;
    measure m[257], small, baseline;
    char jbuf[16], lbuf[32];
    long jobs;
    int rc;

    memset(&a, 0, sizeof(a));
    cli_engine_args_init(&a.eng);
    memset(m, 0, sizeof(m));
    memset(&small, 0, sizeof(small));
    memset(&baseline, 0, sizeof(baseline));
    a.repeat = 3;
    a.prefix_s = 60;
    a.max_jobs = (long)sysconf(_SC_NPROCESSORS_ONLN);
    for (k = 0; k < HARK_ARRAY_SIZE(own_opts); k++)
        all[n++] = own_opts[k];
    for (k = 0; k < cli_n_engine_opts; k++)
        all[n++] = cli_engine_opts[k];
    if ((rc = cli_parse(CMD, argc, argv, all, n, on_opt, on_arg, &a)) != 0)
        return rc;
    if (a.help) {
        printf(
            "usage: hark bench [options] FILE\n\n"
            "Throughput (multiple of real time) with 1..N workers, parallel efficiency and peak\n"
            "memory, each measured in a fresh process; optionally against a baseline command.\n"
            "Example: hark bench long.wav --baseline 'pocketsphinx_continuous -infile {}'\n\n");
        cli_print_options(stdout, own_opts, HARK_ARRAY_SIZE(own_opts));
        cli_print_options(stdout, cli_engine_opts, cli_n_engine_opts);
        return 0;
    }
    if (!a.file) {
        fprintf(stderr, "hark " CMD ": no input file (see hark " CMD " --help)\n");
        return EXIT_USAGE;
    }
    if (a.child)
        return run_child(&a);
    if (a.max_jobs > 256)
        a.max_jobs = 256;
    collect_engine_argv(&a, argc, argv);

    printf("hark bench: %s, engine %s, %ld run(s) per configuration, median wall time\n", a.file,
           a.eng.engine ? a.eng.engine : "default", a.repeat);
    /* which build the figures come from (the README's recipe is RelWithDebInfo) */
    printf("build: %s%s%s\n", HARK_BUILD_TYPE[0] ? HARK_BUILD_TYPE : "(no build type)",
           HARK_BUILD_SANITIZE[0] ? ", sanitizers " : "", HARK_BUILD_SANITIZE);
    if (strcmp(HARK_BUILD_TYPE, "RelWithDebInfo") != 0 && strcmp(HARK_BUILD_TYPE, "Release") != 0)
        fprintf(stderr,
                "hark " CMD ": warning: a %s build: not optimised, figures are not "
                "representative\n",
                HARK_BUILD_TYPE[0] ? HARK_BUILD_TYPE : "unnamed");
    else if (HARK_BUILD_SANITIZE[0])
        fprintf(stderr,
                "hark " CMD ": warning: a sanitizer build: figures are not representative\n");
    printf("%-8s %10s %12s %11s %10s %12s\n", "workers", "wall_s", "speed_x_rt", "efficiency",
           "cpu_s", "peak_rss_mb");
    for (jobs = 1; jobs <= a.max_jobs; jobs++) {
        char **cv = child_argv(&a, jobs, a.limit_s, jbuf, lbuf);
        if (!cv || measure_runs(cv, NULL, a.repeat, &m[jobs]) < 0) {
            free(cv);
            free(a.argv);
            return EXIT_FAIL;
        }
        free(cv);
        printf("%-8ld %10.2f %12.2f %10.0f%% %10.2f %12.1f\n", jobs, m[jobs].wall_s,
               m[jobs].audio_s / m[jobs].wall_s,
               100.0 * m[1].wall_s / (m[jobs].wall_s * (double)jobs), m[jobs].cpu_s,
               m[jobs].rss_mb);
        fflush(stdout);
    }
    printf("audio: %.1f s; speed-up %ld vs 1 worker: %.2fx\n", m[1].audio_s, a.max_jobs,
           m[1].wall_s / m[a.max_jobs].wall_s);
    if (m[1].windows) {
        printf("\nengine internals (summed over workers; time per unit is per worker):\n");
        printf("%-8s %9s %14s %10s %14s %16s\n", "workers", "windows", "encoder_ms/win",
               "positions", "decoder_ms/pos", "tokens_sampled");
        for (jobs = 1; jobs <= a.max_jobs; jobs++)
            printf("%-8ld %9u %14.1f %10u %14.3f %16u\n", jobs, m[jobs].windows,
                   m[jobs].encoder_ms / m[jobs].windows, m[jobs].positions,
                   m[jobs].positions ? m[jobs].decoder_ms / m[jobs].positions : 0, m[jobs].sampled);
    }
    if (m[1].audio_s > a.prefix_s * 1.5) {
        char **cv = child_argv(&a, a.max_jobs, a.prefix_s, jbuf, lbuf);
        if (cv && measure_runs(cv, NULL, 1, &small) == 0)
            printf("memory: peak RSS first %.0f s: %.1f MB, whole %.0f s: %.1f MB (ratio %.3f)\n",
                   small.audio_s, small.rss_mb, m[a.max_jobs].audio_s, m[a.max_jobs].rss_mb,
                   m[a.max_jobs].rss_mb / small.rss_mb);
        free(cv);
    }
    if (a.baseline) {
        hark_buf cmd = HARK_BUF_INIT;
        if (cli_shell_command(a.baseline, a.file, &cmd) == 0 &&
            measure_runs(NULL, cmd.ptr, a.repeat, &baseline) == 0) {
            printf("baseline: %s\n          wall %.2f s, cpu %.2f s, peak RSS %.1f MB\n", cmd.ptr,
                   baseline.wall_s, baseline.cpu_s, baseline.rss_mb);
            printf("hark with %ld workers is %.2fx faster end-to-end than the baseline\n",
                   a.max_jobs, baseline.wall_s / m[a.max_jobs].wall_s);
        }
        hark_buf_dispose(&cmd);
    }
    free(a.argv);
    return 0;
}
