/*
 * bench_endpoint.c: what the live path's low-latency VAD costs in accuracy,
 * against the look-ahead VAD that file transcription uses, in one run on
 * the same audio.
 *
 * usage: bench_endpoint [-e ENGINE] [-m MODEL] [-n FILES] [-w WORKERS] [CORPUS_DIR]
 *
 * The first FILES recordings of the corpus (default 30; CORPUS_DIR defaults
 * to ../shared/corpus/en) are joined back to back into one stream, as a
 * meeting would come, and fed to hark_live (streaming engine operations, no
 * partials) as fast as the engine takes it, once with each VAD mode:
 *   lookahead    the detector of file transcription (1.53 s look-ahead)
 *   low-latency  the live default (80 ms: causal noise floors, no gap filling)
 * Reported per mode: the word error rate of the joined finals against the
 * joined references, utterances cut, CPU seconds per audio second, and the
 * time from a speech frame to its decision (the VAD's delay; add the
 * endpoint's trailing silence for the earliest a final can come). Also the
 * WER of the same recordings transcribed as files, one by one (the batch
 * pipeline: look-ahead VAD, chunks), the reference point.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hark/hark.h"
#include "hark/live.h"
#include "hark/wer.h"
#include "corpus.h"
#include "util/util.h"
#include "vad/vad.h"

typedef struct run {
    hark_buf text; /* finals, joined */
    unsigned finals, errors;
    int done;
} run;

static void on_final(uint32_t utt, const hark_transcript *t, size_t first, size_t count,
                     const char *error, int last, void *payload)
{
    run *r = payload;
    size_t i;
    (void)utt;
    if (error)
        r->errors++;
    for (i = first; i < first + count; i++) {
        const char *s = hark_transcript_segment(t, i)->text;
        if (r->text.len)
            hark_buf_putc(&r->text, ' ');
        hark_buf_puts(&r->text, s);
    }
    if (count || error)
        r->finals++;
    if (last)
        __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_endpoint: %s: %s\n", what, hark_error_last());
    exit(1);
}

static void live_once(hark_engine *e, hark_scheduler *s, const float *pcm, size_t n, int lookahead,
                      const char *ref, const char *name)
{
    hark_live *L = NULL;
    hark_live_options lo;
    run r;
    hark_wer_counts c;
    hark__vad *v = NULL;
    double c0 = cpu_s();
    size_t i;
    memset(&r, 0, sizeof(r));
    hark_live_options_default(&lo);
    lo.scheduler = s;
    lo.partial_ms = 0;
    lo.final = on_final;
    lo.payload = &r;
    lo.vad_lookahead = lookahead;
    if (hark_live_begin(&L, e, &lo) < 0)
        die("hark_live_begin");
    for (i = 0; i < n; i += 1600) {
        if (hark_live_feed(L, pcm + i, HARK_MIN(1600, n - i)) < 0)
            die("hark_live_feed");
        while (hark_live_backlog(L) > 4) /* as fast as the engine goes, never past the cap */
            usleep(2000);
    }
    if (hark_live_end(L) < 0)
        die("hark_live_end");
    while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE))
        usleep(5000);
    hark_live_free(L);
    if (hark_wer_score(ref, r.text.ptr ? r.text.ptr : "", &c) < 0)
        die("wer");
    hark__vad_new(&v, 0.5f, lookahead ? HARK_VAD_LOOKAHEAD : HARK_VAD_LOW_LATENCY);
    printf("| %s | %.2f%% | %zu/%zu/%zu | %u | %u | %.3f | %lld ms |\n", name,
           100 * hark_wer_rate(&c), c.substitutions, c.deletions, c.insertions, r.finals, r.errors,
           (cpu_s() - c0) / ((double)n / 16000), (long long)hark__vad_delay(v) * 10);
    fflush(stdout);
    hark__vad_free(v);
    hark_buf_dispose(&r.text);
}

int main(int argc, char **argv)
{
    const char *engine = "pocketsphinx", *model = NULL, *dir = NULL;
    char dir_buf[1024], cpu[256] = "?";
    size_t limit = 30, total = 0, i;
    unsigned workers = 2;
    bench_entry *files = NULL;
    long nf;
    float *all = NULL;
    hark_buf ref = HARK_BUF_INIT;
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_wer_counts whole = { 0 };
    int a;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "-e") && a + 1 < argc)
            engine = argv[++a];
        else if (!strcmp(argv[a], "-m") && a + 1 < argc)
            model = argv[++a];
        else if (!strcmp(argv[a], "-n") && a + 1 < argc)
            limit = strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "-w") && a + 1 < argc)
            workers = (unsigned)strtoul(argv[++a], NULL, 10);
        else if (argv[a][0] != '-')
            dir = argv[a];
        else {
            fprintf(stderr, "usage: bench_endpoint [-e ENGINE] [-m MODEL] [-n FILES] "
                            "[-w WORKERS] [CORPUS_DIR]\n");
            return 2;
        }
    }
    dir = bench_corpus_dir(dir, dir_buf, sizeof(dir_buf));
    if ((nf = bench_corpus_read(dir, limit, &files)) <= 0) {
        printf("bench_endpoint: no corpus in %s, skipped\n", dir);
        return 77;
    }
    bench_cpu_name(cpu, sizeof(cpu));
    eo.model = model;
    if (hark_engine_open(&e, engine, &eo) < 0)
        die("engine");
    so.n_workers = workers;
    if (hark_scheduler_new(&s, &so) < 0)
        die("scheduler");

    /* the whole files one by one: the ceiling; and the joined stream */
    for (i = 0; i < (size_t)nf; i++) {
        float *pcm = NULL;
        size_t n;
        hark_transcript *t = NULL;
        hark_buf text = HARK_BUF_INIT;
        hark_wer_counts c;
        hark_pipeline_options po;
        float *grown;
        if (hark_audio_load(&pcm, &n, files[i].file) < 0)
            die(files[i].file);
        if (!(grown = realloc(all, (total + n) * sizeof(float))))
            die("out of memory");
        all = grown;
        memcpy(all + total, pcm, n * sizeof(float));
        total += n;
        hark_pipeline_options_default(&po);
        po.scheduler = s;
        if (hark_transcribe_pcm(&t, e, pcm, n, &po) < 0 || hark_transcript_text(t, &text) < 0 ||
            hark_wer_score(files[i].reference, text.ptr ? text.ptr : "", &c) < 0)
            die(files[i].id);
        hark_wer_add(&whole, &c);
        if (ref.len)
            hark_buf_putc(&ref, ' ');
        hark_buf_puts(&ref, files[i].reference);
        hark_buf_dispose(&text);
        hark_transcript_free(t);
        hark_free(pcm);
    }
    printf("bench_endpoint: %s, %ld corpus recordings joined (%.1f s), CPU %s, %u workers\n\n",
           engine, nf, (double)total / 16000, cpu, workers);
    printf("| VAD | WER | S/D/I | finals | errors | CPU s / audio s | decision delay |\n");
    printf("|---|---|---|---|---|---|---|\n");
    printf("| file transcription, file by file | %.2f%% | %zu/%zu/%zu | %ld | 0 | - | - |\n",
           100 * hark_wer_rate(&whole), whole.substitutions, whole.deletions, whole.insertions, nf);
    fflush(stdout);
    live_once(e, s, all, total, 1, ref.ptr, "lookahead (live, 1.5 s)");
    live_once(e, s, all, total, 0, ref.ptr, "low latency (live default)");

    hark_scheduler_free(s);
    hark_engine_free(e);
    hark_buf_dispose(&ref);
    free(all);
    bench_corpus_free(files, (size_t)nf);
    return 0;
}
