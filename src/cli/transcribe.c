/*
 * transcribe.c: `hark transcribe [options] FILE...`
 *
 * Transcribes each file in turn with one engine (the model is loaded once),
 * using all cores per file. Output goes to stdout, or with -o DIR to
 * DIR/<name>.<format> for each requested format (written to a new temporary
 * file beside it, created with O_EXCL|O_NOFOLLOW, and renamed, so a crash
 * never leaves a half-written file and a planted link is never followed:
 * hark__file_write_atomic). Every input is checked before the engine is
 * opened, so a missing file is reported first and a batch of missing files
 * never loads a model. One bad file does not stop the batch: its error is
 * printed as one line naming the file, and the exit code is that of the
 * first failure (an output that cannot be written is 1, not an input error).
 * Ctrl-C stops promptly, also while waiting on a pipe or FIFO, and writes
 * what was transcribed so far.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

#define CMD         "transcribe"
#define MAX_FORMATS HARK_FORMAT_COUNT

enum { O_HELP = 1, O_FORMAT, O_OUTDIR, O_NO_STORE, O_NO_CACHE, O_KEEP_AUDIO, O_TITLE };

static const cli_opt own_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "-f|--format", 1, O_FORMAT, "FMT[,FMT]", "txt (default), srt, vtt, json, tsv" },
    { "-o|--output-dir", 1, O_OUTDIR, "DIR", "write DIR/<name>.<fmt> per file instead of stdout" },
    { "--no-store", 0, O_NO_STORE, "", "do not keep the transcript in the database" },
    { "--no-cache", 0, O_NO_CACHE, "", "neither use nor fill the result cache" },
    { "--keep-audio", 0, O_KEEP_AUDIO, "",
      "archive the decoded audio as FLAC next to the database" },
    { "--title", 1, O_TITLE, "TEXT", "title of the stored recording (default: file name)" },
};

typedef struct args {
    cli_engine_args eng;
    hark_format formats[MAX_FORMATS];
    int n_formats;
    const char *outdir;
    int no_store, no_cache, keep_audio;
    const char *title;
    cli_store_args db;
    char **files;
    int n_files;
    int help;
} args;

static void usage(FILE *f)
{
    fprintf(f, "usage: hark transcribe [options] FILE...   (FILE '-' reads standard input)\n\n"
               "Transcribe recordings (any audio or video format; a file, pipe or FIFO) to "
               "text.\n\n");
    cli_print_options(f, own_opts, HARK_ARRAY_SIZE(own_opts));
    cli_print_options(f, cli_store_opts, cli_n_store_opts);
    cli_print_options(f, cli_engine_opts, cli_n_engine_opts);
    fprintf(f, "\nExit codes: 0 ok, 1 failed (also: output cannot be written), 2 usage, 3 input\n"
               "missing or unreadable, 4 not audio or undecodable, 5 no audio samples, 6 model\n"
               "missing or invalid, 7 database error, 130 interrupted.\n"
               "With several files, the code is that of the first file that failed.\n");
}

static int parse_formats(args *a, const char *v)
{
    char buf[128];
    char *tok, *save = NULL;
    if (strlen(v) >= sizeof(buf)) {
        fprintf(stderr, "hark " CMD ": format list too long\n");
        return EXIT_USAGE;
    }
    memcpy(buf, v, strlen(v) + 1);
    a->n_formats = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        hark_format f;
        int k, dup = 0;
        if (hark_format_parse(&f, tok) < 0) {
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
            return EXIT_USAGE;
        }
        for (k = 0; k < a->n_formats; k++)
            dup |= a->formats[k] == f;
        if (!dup)
            a->formats[a->n_formats++] = f;
    }
    if (a->n_formats == 0) {
        fprintf(stderr, "hark " CMD ": empty format list\n");
        return EXIT_USAGE;
    }
    return 0;
}

static int on_opt(void *ctx, int id, const char *v)
{
    args *a = ctx;
    int rc = cli_engine_option(CMD, &a->eng, id, v);
    if (rc)
        return rc < 0 ? -rc : 0;
    if ((rc = cli_store_option(&a->db, id, v)) != 0)
        return rc < 0 ? -rc : 0;
    switch (id) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_NO_STORE:
        a->no_store = 1;
        return 0;
    case O_NO_CACHE:
        a->no_cache = 1;
        return 0;
    case O_KEEP_AUDIO:
        a->keep_audio = 1;
        return 0;
    case O_TITLE:
        a->title = v;
        return 0;
    case O_FORMAT:
        return parse_formats(a, v);
    case O_OUTDIR:
        a->outdir = v;
        return 0;
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    args *a = ctx;
    a->files[a->n_files++] = (char *)arg;
    return 0;
}

/* The base name of `path` without its extension ("stdin" for "-"). */
static void base_name(const char *path, char *out, size_t n, int keep_ext)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    const char *dot = keep_ext ? NULL : strrchr(b, '.');
    size_t len = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    if (strcmp(path, "-") == 0) {
        snprintf(out, n, "stdin");
        return;
    }
    snprintf(out, n, "%.*s", (int)len, b);
}

static int write_outputs(const args *a, const hark_transcript *t, const char *input, int keep_ext)
{
    hark_buf b = HARK_BUF_INIT;
    char base[1024], path[4096];
    int k, rc = 0;

    base_name(input, base, sizeof(base), keep_ext);
    for (k = 0; k < a->n_formats && rc == 0; k++) {
        hark_buf_clear(&b);
        if ((rc = hark_transcript_write(t, a->formats[k], &b)) < 0)
            break;
        if (!a->outdir) {
            errno = 0;
            if ((b.len && fwrite(b.ptr, 1, b.len, stdout) != b.len) || fflush(stdout) != 0 ||
                ferror(stdout))
                rc = hark_error_set(HARK_EIO, "standard output: %s",
                                    errno ? strerror(errno) : "write error");
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s.%s", a->outdir, base, hark_format_name(a->formats[k]));
        rc = hark__file_write_atomic(path, b.ptr ? b.ptr : "", b.len);
    }
    hark_buf_dispose(&b);
    return rc;
}

/* Does another input in the batch produce the same output base name? */
static int name_clash(const args *a, int i)
{
    char x[1024], y[1024];
    int j;
    base_name(a->files[i], x, sizeof(x), 0);
    for (j = 0; j < a->n_files; j++) {
        if (j == i)
            continue;
        base_name(a->files[j], y, sizeof(y), 0);
        if (strcmp(x, y) == 0)
            return 1;
    }
    return 0;
}

/* Transcribe file i and write its outputs; returns an exit code. */
static int transcribe_one(const args *a, hark_engine *engine, hark_scheduler *sched, cli_store *st,
                          int i)
{
    const char *path = a->files[i];
    const char *label = strcmp(path, "-") ? path : "stdin";
    hark_transcript *t = NULL;
    hark_run_options ro;
    hark_run_result res;
    cli_progress prog;
    double t0;
    int rc, code;

    hark_run_options_default(&ro);
    ro.pipeline = a->eng.pipeline;
    ro.pipeline.scheduler = sched;
    ro.store = st->store;
    ro.cache = st->cache;
    ro.title = a->title;
    ro.audio_dir = a->keep_audio ? st->audio_dir : NULL;
    cli_progress_init(&prog, !a->eng.quiet, label);
    ro.pipeline.progress = cli_progress_cb;
    ro.pipeline.abort = cli_abort_cb;
    ro.pipeline.payload = &prog;
    t0 = hark__now_ms();
    rc = hark_run_file(&t, &res, engine, path, &ro);
    cli_progress_done(&prog);
    code = cli_exit_code(rc);
    if (rc < 0 && rc != HARK_ECANCELED) {
        if (rc == HARK_EEMPTY)
            fprintf(stderr, "hark: %s: no audio samples (zero-length audio)\n", label);
        else
            fprintf(stderr, "hark: %s\n", hark_error_last());
    }
    if (rc == HARK_ECANCELED && !t)
        fprintf(stderr, "hark: %s: interrupted before any audio was decoded\n", label);
    if (t && res.cached) {
        /* no engine ran: the timings say so, and how long the answer took */
        hark_timings *tm = hark_transcript_timings(t);
        memset(tm, 0, sizeof(*tm));
        tm->cached = 1;
        tm->total_ms = hark__now_ms() - t0;
    }
    if (t && (rc == 0 || rc == HARK_ECANCELED)) {
        if (res.warning[0])
            fprintf(stderr, "hark: warning: %s: %s\n", label, res.warning);
        if (rc == HARK_ECANCELED)
            fprintf(stderr, "hark: %s: interrupted: writing the %zu segments done so far\n", label,
                    hark_transcript_count(t));
        if (write_outputs(a, t, path, name_clash(a, i)) < 0) {
            fprintf(stderr, "hark: %s\n", hark_error_last());
            if (code == EXIT_OK)
                code = EXIT_FAIL; /* the input was fine: not an input error */
        }
        if (rc == 0 && !a->eng.quiet && res.recording_id) {
            if (res.cached)
                fprintf(stderr, "hark: %s: recording %lld (answered from the cache)\n", label,
                        (long long)res.recording_id);
            else if (res.chunks_cached)
                fprintf(stderr, "hark: %s: recording %lld (%u of %u chunks from the cache%s)\n",
                        label, (long long)res.recording_id, res.chunks_cached, res.chunks,
                        res.resumed ? ", resumed" : "");
            else
                fprintf(stderr, "hark: %s: recording %lld\n", label, (long long)res.recording_id);
        }
    }
    hark_transcript_free(t);
    return code;
}

int cmd_transcribe(int argc, char **argv)
{
    args a;
    hark_engine *engine = NULL;
    hark_scheduler *sched = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    cli_store st;
    int *codes = NULL; /* exit code of each input, -1 = not run yet */
    int i, rc, usable = 0;

    memset(&a, 0, sizeof(a));
    memset(&st, 0, sizeof(st));
    cli_engine_args_init(&a.eng);
    a.formats[0] = HARK_FORMAT_TXT;
    a.n_formats = 1;
    a.files = calloc((size_t)argc + 1, sizeof(char *));
    codes = calloc((size_t)argc + 1, sizeof(int));
    if (!a.files || !codes) {
        free(a.files);
        free(codes);
        return EXIT_FAIL;
    }
    {
        cli_opt all[64];
        size_t n = 0, k;
        for (k = 0; k < HARK_ARRAY_SIZE(own_opts); k++)
            all[n++] = own_opts[k];
        for (k = 0; k < cli_n_engine_opts; k++)
            all[n++] = cli_engine_opts[k];
        for (k = 0; k < cli_n_store_opts; k++)
            all[n++] = cli_store_opts[k];
        rc = cli_parse(CMD, argc, argv, all, n, on_opt, on_arg, &a);
    }
    if (rc)
        goto out;
    if (a.help) {
        usage(stdout);
        goto out;
    }
    if (a.n_files == 0) {
        fprintf(stderr, "hark " CMD ": no input files (see hark " CMD " --help)\n");
        rc = EXIT_USAGE;
        goto out;
    }
    if (!a.outdir && a.n_formats > 1) {
        fprintf(stderr, "hark " CMD ": several formats need an output directory: add -o DIR\n");
        rc = EXIT_USAGE;
        goto out;
    }
    if (a.outdir) {
        struct stat sb;
        if (mkdir(a.outdir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "hark " CMD ": cannot create %s: %s\n", a.outdir, strerror(errno));
            rc = EXIT_FAIL; /* an output problem, not an input one */
            goto out;
        }
        if (stat(a.outdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "hark " CMD ": %s is not a directory\n", a.outdir);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    /* a signal from here on stops the batch gracefully (before the inputs are checked: checking
     * standard input may already wait on it) */
    cli_signals_install();
    /* inputs first: a missing file is reported before any engine note, and a
     * batch with nothing to transcribe opens neither the engine nor the store */
    for (i = 0; i < a.n_files; i++) {
        const char *name = strcmp(a.files[i], "-") ? a.files[i] : "stdin";
        int crc = hark__file_check_input(a.files[i], name);
        codes[i] = crc < 0 ? cli_exit_code(crc) : -1;
        if (crc < 0)
            fprintf(stderr, "hark: %s\n", hark_error_last());
        else
            usable++;
    }
    if (usable) {
        if ((rc = cli_open_engine(CMD, &a.eng, &engine)) != 0)
            goto out;
        if ((rc = cli_store_open(CMD, &a.db, &st, !a.no_store, !a.no_cache, a.keep_audio)) != 0)
            goto out;
        /* One pool of -j workers (default: one per core) for the whole batch: engine states
         * are made once and reused from file to file. */
        so.n_workers = a.eng.pipeline.n_workers;
        if (hark_scheduler_new(&sched, &so) < 0) {
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
            rc = EXIT_FAIL;
            goto out;
        }
        for (i = 0; i < a.n_files && !cli_interrupted(); i++)
            if (codes[i] < 0)
                codes[i] = transcribe_one(&a, engine, sched, &st, i);
    }
    rc = EXIT_OK;
    for (i = 0; i < a.n_files && rc == EXIT_OK; i++)
        if (codes[i] > 0)
            rc = codes[i];
    if (cli_interrupted()) {
        rc = EXIT_INTERRUPT;
        for (i = 0; i < a.n_files; i++) /* a signal during start-up: say what was not done */
            if (codes[i] < 0)
                fprintf(stderr, "hark: %s: interrupted before it was transcribed\n",
                        strcmp(a.files[i], "-") ? a.files[i] : "stdin");
    }
out:
    hark_scheduler_free(sched);
    cli_store_close(&st);
    hark_engine_free(engine);
    free(a.files);
    free(codes);
    return rc;
}
