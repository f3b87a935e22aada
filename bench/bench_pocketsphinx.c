/*
 * bench_pocketsphinx.c: speed, accuracy and memory of the PocketSphinx
 * engine against Debian's pocketsphinx_continuous on the same files.
 *
 *   bench_pocketsphinx [-n N] [-no-continuous] [-ps "-flag value ..."] [CORPUS_DIR]
 *
 * CORPUS_DIR holds manifest.tsv and the WAV files (default: the shared
 * corpus, <HARK_SHARED_DIR>/corpus/en). Every file is decoded whole, as one
 * chunk, by one engine state (no chunking, no VAD cuts), and then by one
 * pocketsphinx_continuous -infile FILE process per file. Printed:
 * - engine: CPU seconds per audio second (thread CPU time of transcribe),
 *   WER over all files (hark_wer_*), load time and resident memory of each
 *   extra decoder state;
 * - pocketsphinx_continuous: CPU per audio second of its processes (user +
 *   sys of the children), with and without its model loading (measured on a
 *   0.5 s silent file and subtracted), and its WER from its stdout;
 * - the ratio of the two decoding costs, measured in the same run.
 * -ps passes extra decoder settings to the engine (flag/value pairs, as
 * pocketsphinx_continuous takes them), to compare configurations.
 * -n N uses the first N files of the manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hark/hark.h"
#include "hark/sys/engine.h"
#include "asr/asr.h"
#include "hark/wer.h"
#include "util/util.h"
#include "corpus.h"

#define MAX_FILES    1024
#define MAX_EXTRA    32
#define EXTRA_STATES 3 /* decoders created to measure memory per state */

extern char **environ;

static void die(const char *fmt, ...) HARK_PRINTF(1, 2);

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_pocketsphinx: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double children_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Resident memory now, bytes (Linux /proc/self/statm): all of it, or only the anonymous part
 * (heap; not the file pages that mappings of the same model file share). */
static double rss_bytes(int anon_only)
{
    long pages = 0, resident = 0, shared = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld %ld", &pages, &resident, &shared) != 3)
            resident = shared = 0;
        fclose(f);
    }
    return (double)(anon_only ? resident - shared : resident) * (double)sysconf(_SC_PAGESIZE);
}

/* 16 kHz mono 16-bit PCM WAV -> floats. */
static float *read_wav(const char *path, size_t *n)
{
    float *pcm = NULL;
    return hark_audio_load(&pcm, n, path) == 0 ? pcm : NULL; /* free with hark_free */
}

/* Run pocketsphinx_continuous -infile `wav`; append its hypothesis lines to `hyp` (joined by
 * spaces); returns the child's CPU seconds. */
static double run_continuous(const char *wav, hark_buf *hyp)
{
    int out[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[] = { "pocketsphinx_continuous", "-infile", (char *)wav, NULL };
    double before = children_cpu_s();
    char buf[4096];
    ssize_t got;
    int status;
    hark_buf raw = HARK_BUF_INIT;
    char *line, *save = NULL;

    if (pipe(out) != 0)
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        die("cannot run pocketsphinx_continuous (package pocketsphinx)");
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    while ((got = read(out[0], buf, sizeof(buf))) > 0)
        if (hark_buf_put(&raw, buf, (size_t)got) < 0)
            die("out of memory");
    close(out[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("pocketsphinx_continuous failed on %s", wav);
    for (line = raw.ptr ? strtok_r(raw.ptr, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        if (hyp->len && hark_buf_putc(hyp, ' ') < 0)
            die("out of memory");
        if (hark_buf_puts(hyp, line) < 0)
            die("out of memory");
    }
    hark_buf_dispose(&raw);
    return children_cpu_s() - before;
}

static void print_wer(const char *what, const hark_wer_counts *c)
{
    printf("%-26s WER %6.2f%%  (S %zu, D %zu, I %zu / %zu words)\n", what, 100 * hark_wer_rate(c),
           c->substitutions, c->deletions, c->insertions, c->ref_words);
}

int main(int argc, char **argv)
{
    bench_entry *files = NULL;
    const char *extra[MAX_EXTRA];
    char *extra_buf = NULL;
    int n_extra = 0, limit = MAX_FILES, continuous = 1, i;
    char dir_buf[1024];
    const char *dir = NULL;
    size_t n_files, f, k;
    hark_engine *engine = NULL;
    const hark_engine_ops *ops;
    const void *model = NULL;
    void *state = NULL, *more[EXTRA_STATES];
    hark_decode_options opts;
    double t0, rss0, load_s, audio_s = 0, ours_s = 0, theirs_s = 0, their_load_s = 0;
    double rss_per_state, anon0;
    hark_wer_counts ours_wer, theirs_wer;
    int rc;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            limit = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-no-continuous") == 0) {
            continuous = 0;
        } else if (strcmp(argv[i], "-ps") == 0 && i + 1 < argc) {
            char *tok, *save = NULL;
            extra_buf = strdup(argv[++i]);
            for (tok = strtok_r(extra_buf, " ", &save); tok && n_extra < MAX_EXTRA;
                 tok = strtok_r(NULL, " ", &save))
                extra[n_extra++] = tok;
        } else if (argv[i][0] == '-') {
            die("usage: bench_pocketsphinx [-n N] [-no-continuous] [-ps \"-flag value...\"] "
                "[CORPUS_DIR]");
        } else {
            dir = argv[i];
        }
    }
    dir = bench_corpus_dir(dir, dir_buf, sizeof(dir_buf));
    {
        long got = bench_corpus_read(dir, limit > 0 ? (size_t)limit : 0, &files);
        n_files = got > 0 ? (size_t)got : 0;
    }
    if (n_files == 0)
        die("no files in %s/manifest.tsv", dir);

    /* the engine: model, one decoder state, then memory per extra state */
    if ((rc = hark_engine_open(&engine, "pocketsphinx", NULL)) < 0 ||
        (rc = hark__engine_acquire(engine, &model)) < 0)
        die("pocketsphinx engine: %s", hark_error_last());
    ops = hark__engine_ops(engine);
    rss0 = rss_bytes(0);
    t0 = thread_cpu_s();
    if ((rc = hark__pocketsphinx_state_new_args(&state, model, n_extra, extra)) < 0)
        die("%s", hark_error_last());
    load_s = thread_cpu_s() - t0;
    printf("corpus %s: %zu files\n", dir, n_files);
    if (n_extra) {
        printf("extra decoder settings:");
        for (i = 0; i < n_extra; i++)
            printf(" %s", extra[i]);
        printf("\n");
    }
    printf("engine state: %.2f CPU-s to create, %.1f MB resident (first)\n", load_s,
           (rss_bytes(0) - rss0) / 1e6);
    rss0 = rss_bytes(0);
    anon0 = rss_bytes(1);
    for (k = 0; k < EXTRA_STATES; k++)
        if (ops->state_new(&more[k], model) < 0)
            die("%s", hark_error_last());
    rss_per_state = (rss_bytes(0) - rss0) / EXTRA_STATES;
    printf("each extra decoder state: %.1f MB resident, %.1f MB of it anonymous (not shared)\n",
           rss_per_state / 1e6, (rss_bytes(1) - anon0) / EXTRA_STATES / 1e6);
    for (k = 0; k < EXTRA_STATES; k++)
        ops->state_free(more[k]);

    memset(&ours_wer, 0, sizeof(ours_wer));
    memset(&theirs_wer, 0, sizeof(theirs_wer));
    hark_decode_options_default(&opts);
    printf("\n%-20s %7s %8s %8s %8s\n", "file", "audio_s", "hark_cpu", "hark_wer",
           continuous ? "ps_cpu" : "");
    for (f = 0; f < n_files; f++) {
        hark_transcript *t = NULL;
        hark_engine_job job;
        hark_buf text = HARK_BUF_INIT, theirs = HARK_BUF_INIT;
        hark_wer_counts c;
        size_t n;
        float *pcm = read_wav(files[f].file, &n);
        double cpu, their_cpu = 0;

        memset(&job, 0, sizeof(job));
        job.pcm = pcm;
        job.n = n;
        job.n_threads = 1;
        job.opts = &opts;
        if (hark_transcript_new(&t) < 0)
            die("out of memory");
        t0 = thread_cpu_s();
        if (ops->transcribe(state, &job, t) < 0)
            die("%s: %s", files[f].id, hark_error_last());
        cpu = thread_cpu_s() - t0;
        if (hark_transcript_text(t, &text) < 0 ||
            hark_wer_score(files[f].reference, text.ptr ? text.ptr : "", &c) < 0)
            die("%s", hark_error_last());
        hark_wer_add(&ours_wer, &c);
        ours_s += cpu;
        audio_s += (double)n / HARK_SAMPLE_RATE;
        if (continuous) {
            hark_wer_counts tc;
            their_cpu = run_continuous(files[f].file, &theirs);
            if (hark_wer_score(files[f].reference, theirs.ptr ? theirs.ptr : "", &tc) < 0)
                die("%s", hark_error_last());
            hark_wer_add(&theirs_wer, &tc);
            theirs_s += their_cpu;
        }
        printf("%-20s %7.2f %8.2f %7.1f%% %8.2f\n", files[f].id, (double)n / HARK_SAMPLE_RATE, cpu,
               100 * hark_wer_rate(&c), their_cpu);
        fflush(stdout);
        hark_buf_dispose(&text);
        hark_buf_dispose(&theirs);
        hark_transcript_free(t);
        hark_free(pcm);
    }

    printf("\naudio: %.1f s in %zu files\n", audio_s, n_files);
    printf("%-26s %.4f CPU-s per audio-s (decoding; + %.2f CPU-s per decoder state)\n",
           "hark pocketsphinx:", ours_s / audio_s, load_s);
    print_wer("", &ours_wer);
    if (continuous) {
        /* its fixed cost per process: model loading, measured on 0.5 s of silence */
        char silent[256];
        unsigned char hdr[44] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0"
                                "\x02\0\x10\0data";
        uint32_t bytes = 16000;
        FILE *w;
        hark_buf ignore = HARK_BUF_INIT;
        const char *tmp = getenv("TMPDIR");
        if (snprintf(silent, sizeof(silent), "%s/bench_ps_silence_%ld.wav", tmp ? tmp : "/tmp",
                     (long)getpid()) >= (int)sizeof(silent))
            die("TMPDIR too long");
        hdr[40] = (unsigned char)(bytes & 0xff);
        hdr[41] = (unsigned char)(bytes >> 8 & 0xff);
        hdr[4] = (unsigned char)((bytes + 36) & 0xff);
        hdr[5] = (unsigned char)((bytes + 36) >> 8 & 0xff);
        if (!(w = fopen(silent, "wb")))
            die("cannot write %s", silent);
        fwrite(hdr, 1, sizeof(hdr), w);
        for (k = 0; k < bytes; k++)
            fputc(0, w);
        fclose(w);
        for (k = 0; k < 3; k++)
            their_load_s += run_continuous(silent, &ignore) / 3;
        unlink(silent);
        hark_buf_dispose(&ignore);
        printf("%-26s %.4f CPU-s per audio-s with model loading (%.2f CPU-s per process)\n",
               "pocketsphinx_continuous:", theirs_s / audio_s, their_load_s);
        printf("%-26s %.4f CPU-s per audio-s without it\n", "",
               (theirs_s - their_load_s * (double)n_files) / audio_s);
        print_wer("", &theirs_wer);
        printf("ratio hark / continuous (decoding only): %.2f\n",
               ours_s / (theirs_s - their_load_s * (double)n_files));
    }

    ops->state_free(state);
    hark__engine_release(engine);
    hark_engine_free(engine);
    bench_corpus_free(files, n_files);
    free(extra_buf);
    return 0;
}
