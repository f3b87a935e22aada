/*
 * bench_stream.c: what live transcription costs the engine per utterance,
 * the re-decode way against the engine's stream operations, in one run on
 * the same machine and the same audio.
 *
 * usage: bench_stream [-e ENGINE] [-m MODEL] [-n FILES] [-p PARTIAL_MS] [WAV...]
 *
 * Each corpus recording (default: the first 4 of ../shared/corpus/en, in
 * name order) is taken as one utterance, delivered in 100 ms frames, with a
 * partial due every PARTIAL_MS (default 500) of audio:
 *   redecode   every partial transcribes the utterance so far (what live.c
 *              does without stream operations, when a worker is free), and
 *              the final transcribes the whole utterance once the end is
 *              known;
 *   streaming  stream_begin, stream_feed per frame, stream_partial when due,
 *              stream_end for the final.
 * Reported: CPU seconds per second of audio (the thread's CPU time, so the
 * load of a shared machine does not inflate it much), the final's cost once
 * the utterance has ended (re-decode: the whole transcription; streaming:
 * stream_end, plus the last frame's feed) as p50/p95 over the files, CPU
 * and wall, and the cost of one partial (p50). The word difference between
 * the two finals is printed too. Live latency also contains the VAD's
 * decision delay and queueing; bench_live.py measures that end to end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hark/hark.h"
#include "hark/sys/engine.h"
#include "hark/wer.h"
#include "asr/asr.h"
#include "corpus.h"
#include "util/util.h"

#define FRAME 1600 /* 100 ms */

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof(*v), cmp);
    return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

static char *words(const hark_transcript *t)
{
    hark_buf b = HARK_BUF_INIT;
    hark_transcript_text(t, &b);
    return b.ptr ? b.ptr : hark__strdup("");
}

int main(int argc, char **argv)
{
    const char *engine = "pocketsphinx", *model = NULL;
    unsigned partial_ms = 500, n_files = 4;
    const char *files[64];
    size_t nf = 0, i;
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    const hark_engine_ops *ops;
    const void *m = NULL;
    void *st = NULL;
    hark_decode_options o;
    double audio = 0, cpu_re = 0, cpu_st = 0;
    double fin_re_cpu[64], fin_st_cpu[64], fin_re_wall[64], fin_st_wall[64];
    double *part_re = NULL, *part_st = NULL;
    size_t n_part_re = 0, n_part_st = 0, cap = 0;
    hark_wer_counts diff = { 0 };
    char cpu[256] = "?";
    FILE *f;
    int a;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "-e") && a + 1 < argc)
            engine = argv[++a];
        else if (!strcmp(argv[a], "-m") && a + 1 < argc)
            model = argv[++a];
        else if (!strcmp(argv[a], "-n") && a + 1 < argc)
            n_files = (unsigned)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "-p") && a + 1 < argc)
            partial_ms = (unsigned)strtoul(argv[++a], NULL, 10);
        else if (argv[a][0] != '-' && nf < 64)
            files[nf++] = argv[a];
        else {
            fprintf(stderr,
                    "usage: bench_stream [-e ENGINE] [-m MODEL] [-n FILES] [-p MS] [WAV...]\n");
            return 2;
        }
    }
    if (!nf) {
        static char paths[64][512];
        hark_buf cmd = HARK_BUF_INIT;
        hark_buf_printf(&cmd, "ls %s/corpus/en/*.wav 2>/dev/null | sort | head -%u",
                        HARK_SHARED_DIR, HARK_MIN(n_files, 64u));
        if ((f = popen(cmd.ptr, "r")) != NULL) {
            while (nf < 64 && fgets(paths[nf], sizeof(paths[nf]), f)) {
                paths[nf][strcspn(paths[nf], "\n")] = '\0';
                files[nf] = paths[nf];
                nf++;
            }
            pclose(f);
        }
        hark_buf_dispose(&cmd);
        if (!nf) {
            printf("bench_stream: no corpus in %s/corpus/en, skipped\n", HARK_SHARED_DIR);
            return 77;
        }
    }
    bench_cpu_name(cpu, sizeof(cpu));
    eo.model = model;
    if (hark_engine_open(&e, engine, &eo) < 0 || hark__engine_acquire(e, &m) < 0) {
        fprintf(stderr, "bench_stream: %s\n", hark_error_last());
        return 1;
    }
    ops = hark__engine_ops(e);
    if (!ops->stream_begin) {
        fprintf(stderr, "bench_stream: engine %s has no stream operations\n", engine);
        return 1;
    }
    if (ops->state_new(&st, m) < 0) {
        fprintf(stderr, "bench_stream: %s\n", hark_error_last());
        return 1;
    }
    hark_decode_options_default(&o);

    for (i = 0; i < nf; i++) {
        float *pcm = NULL;
        size_t n, off, step = (size_t)partial_ms * 16;
        hark_engine_job job;
        hark_transcript *tr = NULL, *ts = NULL;
        hark_wer_counts c;
        double t0, w0;
        char *wr, *ws;
        if (hark_audio_load(&pcm, &n, files[i]) < 0) {
            fprintf(stderr, "bench_stream: %s\n", hark_error_last());
            return 1;
        }
        if (cap < n_part_re + n / step + 2) {
            cap = (n_part_re + n / step + 2) * 2;
            part_re = hark__reallocarray(part_re, cap, sizeof(double));
            part_st = hark__reallocarray(part_st, cap, sizeof(double));
        }
        audio += (double)n / 16000;
        memset(&job, 0, sizeof(job));
        job.n_threads = 1;
        job.opts = &o;
        job.chunk = (uint32_t)i;

        /* re-decode: a transcription of the utterance so far per partial, then the whole */
        for (off = step; off < n; off += step) {
            hark_transcript *t = NULL;
            hark_transcript_new(&t);
            job.pcm = pcm;
            job.n = off;
            t0 = now(CLOCK_THREAD_CPUTIME_ID);
            if (ops->transcribe(st, &job, t) < 0)
                fprintf(stderr, "bench_stream: %s\n", hark_error_last());
            part_re[n_part_re++] = now(CLOCK_THREAD_CPUTIME_ID) - t0;
            cpu_re += part_re[n_part_re - 1];
            hark_transcript_free(t);
        }
        hark_transcript_new(&tr);
        job.n = n;
        w0 = now(CLOCK_MONOTONIC);
        t0 = now(CLOCK_THREAD_CPUTIME_ID);
        if (ops->transcribe(st, &job, tr) < 0)
            fprintf(stderr, "bench_stream: %s\n", hark_error_last());
        fin_re_cpu[i] = now(CLOCK_THREAD_CPUTIME_ID) - t0;
        fin_re_wall[i] = now(CLOCK_MONOTONIC) - w0;
        cpu_re += fin_re_cpu[i];

        /* streaming: feed per frame, a partial when due, the final at the end */
        job.pcm = NULL;
        job.n = 0;
        t0 = now(CLOCK_THREAD_CPUTIME_ID);
        ops->stream_begin(st, &job);
        for (off = 0; off < n; off += FRAME) {
            size_t k = HARK_MIN((size_t)FRAME, n - off);
            int last = off + k >= n;
            double c0 = 0;
            if (last) {
                cpu_st += now(CLOCK_THREAD_CPUTIME_ID) - t0;
                w0 = now(CLOCK_MONOTONIC);
                t0 = c0 = now(CLOCK_THREAD_CPUTIME_ID);
            }
            if (ops->stream_feed(st, pcm + off, k) < 0)
                fprintf(stderr, "bench_stream: %s\n", hark_error_last());
            if (!last && (off + k) % step == 0) {
                hark_buf p = HARK_BUF_INIT;
                double p0 = now(CLOCK_THREAD_CPUTIME_ID);
                ops->stream_partial(st, &p);
                part_st[n_part_st++] = now(CLOCK_THREAD_CPUTIME_ID) - p0;
                hark_buf_dispose(&p);
            }
            if (last) {
                hark_transcript_new(&ts);
                if (ops->stream_end(st, ts) < 0)
                    fprintf(stderr, "bench_stream: %s\n", hark_error_last());
                fin_st_cpu[i] = now(CLOCK_THREAD_CPUTIME_ID) - c0;
                fin_st_wall[i] = now(CLOCK_MONOTONIC) - w0;
                cpu_st += fin_st_cpu[i];
            }
        }
        wr = words(tr);
        ws = words(ts);
        if (hark_wer_score(wr, ws, &c) == 0)
            hark_wer_add(&diff, &c);
        fprintf(stderr, "%s (%.1f s): final re-decode %.2f s CPU, streaming %.3f s CPU\n", files[i],
                (double)n / 16000, fin_re_cpu[i], fin_st_cpu[i]);
        hark__free(wr);
        hark__free(ws);
        hark_transcript_free(tr);
        hark_transcript_free(ts);
        hark_free(pcm);
    }
    printf("CPU: %s; engine %s; %zu corpus recordings as utterances, %.1f s of audio, 100 ms "
           "frames, a partial every %u ms\n\n",
           cpu, engine, nf, audio, partial_ms);
    printf(
        "| path | CPU s / audio s | final after the end p50 (CPU) | p95 (CPU) | p50 (wall) | p95 "
        "(wall) | one partial p50 (CPU) |\n|---|---|---|---|---|---|---|\n");
    printf("| redecode | %.3f | %.3f s | %.3f s | %.3f s | %.3f s | %.3f s |\n", cpu_re / audio,
           pct(fin_re_cpu, nf, 0.5), pct(fin_re_cpu, nf, 0.95), pct(fin_re_wall, nf, 0.5),
           pct(fin_re_wall, nf, 0.95), pct(part_re, n_part_re, 0.5));
    printf("| streaming | %.3f | %.3f s | %.3f s | %.3f s | %.3f s | %.4f s |\n", cpu_st / audio,
           pct(fin_st_cpu, nf, 0.5), pct(fin_st_cpu, nf, 0.95), pct(fin_st_wall, nf, 0.5),
           pct(fin_st_wall, nf, 0.95), pct(part_st, n_part_st, 0.5));
    printf(
        "\nstreaming / redecode: CPU per audio second %.2f; final after the end (CPU p50) %.3f\n",
        (cpu_st / audio) / (cpu_re / audio), pct(fin_st_cpu, nf, 0.5) / pct(fin_re_cpu, nf, 0.5));
    printf("finals: streaming vs re-decode differ by %.1f%% of words (%zu edits in %zu)\n",
           100 * hark_wer_rate(&diff), diff.substitutions + diff.deletions + diff.insertions,
           diff.ref_words);
    ops->state_free(st);
    hark__engine_release(e);
    hark_engine_free(e);
    hark__free(part_re);
    hark__free(part_st);
    return 0;
}
