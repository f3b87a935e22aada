/*
 * bench_remote.c: the remote engine against a local `hark serve`, compared
 * with the same engine run in-process on the same audio (the baseline,
 * measured in the same run): wall time, bytes sent per audio minute,
 * requests and connections, with connection reuse (the default: one
 * keep-alive connection per worker) and without (fresh_connections: a
 * fresh TCP connection per chunk).
 *
 *     bench_remote [-e ENGINE] [-s SECONDS] [-j WORKERS] [FILE]
 *
 * ENGINE runs both locally and behind the server (default "test", which
 * isolates the cost of the remote path itself; "pocketsphinx" for a real
 * recogniser). FILE defaults to the shared corpus's
 * corpus/long/4406-16882.wav, of which the first SECONDS (default 600) are
 * used. Each remote run gets a fresh server and database, so no answer
 * comes from the server's store.
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hark/hark.h"
#include "asr/asr.h"
#include "util/util.h"

typedef struct srv_proc {
    pid_t pid;
    char url[64];
    char dir[64];
} srv_proc;

static int start_server(srv_proc *s, const char *engine)
{
    char cmd[1024], out[128];
    double until;
    snprintf(s->dir, sizeof(s->dir), "/tmp/hark-bench-remote-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(out, sizeof(out), "%s/out", s->dir);
    snprintf(cmd, sizeof(cmd),
             "XDG_CONFIG_HOME=%s exec %s/hark serve --listen 127.0.0.1:0 --db %s/h.db "
             "--cache-db none --vad off --engine %s >%s 2>%s/log",
             s->dir, HARK_BUILD_DIR, s->dir, engine, out, s->dir);
    s->pid = fork();
    if (s->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    until = hark__now_ms() + 20000;
    while (hark__now_ms() < until) {
        char buf[256] = "";
        FILE *f = fopen(out, "r");
        const char *p;
        if (f) {
            size_t k = fread(buf, 1, sizeof(buf) - 1, f);
            buf[k] = '\0';
            fclose(f);
        }
        if ((p = strstr(buf, "listening on http://")) != NULL) {
            snprintf(s->url, sizeof(s->url), "%.*s", (int)strcspn(p + 13, " \n"), p + 13);
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

static void stop_server(srv_proc *s)
{
    char cmd[128];
    int st;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
}

static int run(hark_engine *e, const float *pcm, size_t n, unsigned workers, double *ms)
{
    hark_pipeline_options po;
    hark_transcript *t = NULL;
    double t0;
    int rc;
    hark_pipeline_options_default(&po);
    po.n_workers = workers;
    po.chunk.no_vad = 1;
    po.chunk.min = 10 * HARK_SAMPLE_RATE; /* the same 10 s chunks everywhere */
    po.chunk.max = 10 * HARK_SAMPLE_RATE;
    t0 = hark__now_ms();
    rc = hark_transcribe_pcm(&t, e, pcm, n, &po);
    *ms = hark__now_ms() - t0;
    hark_transcript_free(t);
    return rc;
}

static int remote(const char *engine, int reuse, const float *pcm, size_t n, unsigned workers,
                  double local_ms)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_engine *e = NULL;
    hark__remote_stats st;
    srv_proc s;
    double ms, minutes = (double)n / HARK_SAMPLE_RATE / 60;
    int rc;
    if (start_server(&s, engine) < 0) {
        fprintf(stderr, "bench_remote: hark serve did not start\n");
        return 1;
    }
    eo.url = s.url;
    eo.fresh_connections = !reuse;
    if ((rc = hark_engine_open(&e, "remote", &eo)) == 0)
        rc = run(e, pcm, n, workers, &ms);
    if (rc < 0) {
        fprintf(stderr, "bench_remote: %s\n", hark_error_last());
        hark_engine_free(e);
        stop_server(&s);
        return 1;
    }
    hark__remote_stats_get(e, &st);
    printf("remote, %-9s %9.0f ms  x%.2f of local  %8.0f bytes sent/audio min  %4llu requests "
           "%3llu connections  %.1f ms/request\n",
           reuse ? "reuse:" : "no reuse:", ms, ms / local_ms, (double)st.bytes_sent / minutes,
           (unsigned long long)st.attempts, (unsigned long long)st.connects,
           ms * workers / (double)st.attempts);
    hark_engine_free(e);
    stop_server(&s);
    return 0;
}

int main(int argc, char **argv)
{
    const char *engine = "test", *file = NULL;
    double seconds = 600, local_ms;
    unsigned workers = 2;
    float *pcm = NULL;
    size_t n = 0;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_engine *e = NULL;
    char path[1024];
    int i, rc = 1;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-e") && i + 1 < argc)
            engine = argv[++i];
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "-j") && i + 1 < argc)
            workers = (unsigned)strtoul(argv[++i], NULL, 10);
        else
            file = argv[i];
    }
    if (!file) {
        const char *shared =
            getenv("HARK_SHARED_DIR") ? getenv("HARK_SHARED_DIR") : HARK_SHARED_DIR;
        snprintf(path, sizeof(path), "%s/corpus/long/4406-16882.wav", shared);
        file = path;
    }
    if (hark_audio_load(&pcm, &n, file) < 0) {
        fprintf(stderr, "bench_remote: %s\n", hark_error_last());
        return 1;
    }
    if (seconds > 0 && (double)n > seconds * HARK_SAMPLE_RATE)
        n = (size_t)(seconds * HARK_SAMPLE_RATE);
    printf("bench_remote: engine %s, %.1f s of %s, %u workers, 10 s chunks\n", engine,
           (double)n / HARK_SAMPLE_RATE, file, workers);
    printf("16-bit PCM would be %.0f bytes/audio min\n", 60.0 * HARK_SAMPLE_RATE * 2);
    if (hark_engine_open(&e, engine, &eo) < 0 || run(e, pcm, n, workers, &local_ms) < 0) {
        fprintf(stderr, "bench_remote: %s\n", hark_error_last());
        goto out;
    }
    printf("local (baseline)  %9.0f ms\n", local_ms);
    if (remote(engine, 1, pcm, n, workers, local_ms) ||
        remote(engine, 0, pcm, n, workers, local_ms))
        goto out;
    rc = 0;
out:
    hark_engine_free(e);
    hark_free(pcm);
    return rc;
}
