/*
 * capture.c: microphone capture for `hark listen` (PulseAudio).
 *
 * Design: the source is opened with libpulse-simple in the caller's thread
 * (so a missing server or device is reported before anything starts), asking
 * for 16 kHz mono float: the sound server converts and resamples. A capture
 * thread then loops on pa_simple_read() of one 50 ms block into a buffer
 * allocated up front, and appends the block to a lock-free SPSC ring
 * (src/util/ring.c), then posts a semaphore (sem_post never blocks) so the
 * reader wakes at once. The thread waits on nothing but the device: no
 * lock, no allocation of ours, no I/O; when the reader falls behind and the
 * ring is full, the newest block is dropped and counted by the ring
 * (overruns), and the reader reports it.
 *
 * Latency: after each block is in the ring, the thread asks PulseAudio for
 * the stream's record latency (the age of the audio it has captured and not
 * yet handed over: pa_simple_get_latency, from the stream's cached timing
 * information; it waits only for the stream's first timing update) and adds
 * the time the append took: that is how old the block's newest sample is
 * when the reader can have it. Each figure goes into a histogram allocated
 * up front (0.1 ms bins); the oldest sample of a block is one block (50 ms)
 * older still.
 *
 * Listing sources (--list-devices) needs the introspection API, which the
 * simple API lacks: a pa_context on a private pa_mainloop, iterated in this
 * thread until the server info and the source list have arrived.
 *
 * Invariants: only the capture thread writes the ring and only the reader
 * reads it; `stop` and `failed` are atomics; `error` is written by the
 * thread before it sets `failed` and read only after seeing it.
 */
#include "capture.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <pulse/error.h>
#include <pulse/introspect.h>
#include <pulse/mainloop.h>
#include <pulse/simple.h>

#include "cli.h"
#include "../util/ring.h"
#include "../util/util.h"

#define RATE         16000
#define BLOCK        800 /* samples per read: 50 ms */
#define APP_NAME     "hark"
#define STREAM_TITLE "hark listen"
#define LAT_BIN_US   100   /* latency histogram: 0.1 ms bins ... */
#define LAT_BINS     20000 /* ... up to 2 s; beyond goes in the last bin (max is exact) */

struct cli_capture {
    pa_simple *pa;
    hark__ring ring;
    float *block; /* BLOCK samples, the thread's buffer */
    pthread_t thread;
    int started;       /* thread running (joinable) */
    sem_t wake;        /* posted by the thread after each block and when it ends */
    int sem_ok;        /* `wake` initialised */
    atomic_int stop;   /* asked to stop */
    atomic_int ended;  /* the thread has ended (stopped or failed) */
    atomic_int failed; /* the thread ended on a device error; `error` says why */
    _Atomic uint64_t samples;
    uint32_t *lat_hist;  /* LAT_BINS counters: written by the thread, read after it ends */
    uint64_t lat_blocks; /* blocks measured */
    uint64_t lat_max_us;
    char error[256];
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Count one block whose newest sample was `pa_us` old when read, appended since `read_us`. */
static void latency_add(cli_capture *c, pa_usec_t pa_us, uint64_t read_us)
{
    uint64_t us = (uint64_t)pa_us + (now_us() - read_us);
    size_t bin = (size_t)(us / LAT_BIN_US);
    c->lat_hist[bin < LAT_BINS ? bin : LAT_BINS - 1]++;
    c->lat_blocks++;
    if (us > c->lat_max_us)
        c->lat_max_us = us;
}

static void *capture_main(void *arg)
{
    cli_capture *c = arg;
    int err = 0;
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        if (pa_simple_read(c->pa, c->block, BLOCK * sizeof(float), &err) < 0) {
            snprintf(c->error, sizeof(c->error), "audio source: %s", pa_strerror(err));
            atomic_store(&c->failed, 1);
            break;
        }
        uint64_t read_us = now_us();
        atomic_fetch_add_explicit(&c->samples, BLOCK, memory_order_relaxed);
        hark__ring_write(&c->ring, c->block, BLOCK * sizeof(float)); /* 0 = dropped, counted */
        sem_post(&c->wake);
        pa_usec_t pa_us = pa_simple_get_latency(c->pa, &err);
        if (pa_us != (pa_usec_t)-1)
            latency_add(c, pa_us, read_us);
    }
    atomic_store(&c->ended, 1);
    sem_post(&c->wake);
    return NULL;
}

int cli_capture_start(cli_capture **out, const char *cmd, const char *device, unsigned buffer_ms)
{
    cli_capture *c = NULL;
    pa_sample_spec ss;
    pa_buffer_attr attr;
    int err = 0, rc = EXIT_FAIL;

    *out = NULL;
    c = hark__calloc(1, sizeof(*c));
    if (!c) {
        fprintf(stderr, "hark %s: out of memory\n", cmd);
        goto out;
    }
    atomic_init(&c->stop, 0);
    atomic_init(&c->ended, 0);
    atomic_init(&c->failed, 0);
    atomic_init(&c->samples, 0);
    c->block = hark__malloc(BLOCK * sizeof(float));
    c->lat_hist = hark__calloc(LAT_BINS, sizeof(*c->lat_hist));
    if (!c->block || !c->lat_hist ||
        hark__ring_init(&c->ring, (size_t)buffer_ms * (RATE / 1000) * sizeof(float)) < 0) {
        fprintf(stderr, "hark %s: out of memory\n", cmd);
        goto out;
    }
    if (sem_init(&c->wake, 0, 0) != 0) {
        fprintf(stderr, "hark %s: semaphore: %s\n", cmd, strerror(errno));
        goto out;
    }
    c->sem_ok = 1;
    ss.format = PA_SAMPLE_FLOAT32NE;
    ss.rate = RATE;
    ss.channels = 1;
    attr.maxlength = (uint32_t)-1;
    attr.tlength = (uint32_t)-1;
    attr.prebuf = (uint32_t)-1;
    attr.minreq = (uint32_t)-1;
    attr.fragsize = BLOCK * sizeof(float); /* the server sends 50 ms at a time */
    c->pa = pa_simple_new(NULL, APP_NAME, PA_STREAM_RECORD, device, STREAM_TITLE, &ss, NULL, &attr,
                          &err);
    if (!c->pa) {
        fprintf(stderr, "hark %s: cannot open audio source %s%s%s: %s%s\n", cmd, device ? "'" : "",
                device ? device : "(the default)", device ? "'" : "", pa_strerror(err),
                err == PA_ERR_NOENTITY ? " (see hark listen --list-devices)"
                : err == PA_ERR_CONNECTIONREFUSED || err == PA_ERR_INVALIDSERVER
                    ? " (is a PulseAudio or PipeWire sound server running?)"
                    : "");
        rc = EXIT_NOINPUT;
        goto out;
    }
    if (pthread_create(&c->thread, NULL, capture_main, c) != 0) {
        fprintf(stderr, "hark %s: cannot start the capture thread\n", cmd);
        goto out;
    }
    c->started = 1;
    *out = c;
    c = NULL;
    rc = 0;
out:
    cli_capture_free(c);
    return rc;
}

long cli_capture_read(cli_capture *c, float *dst, size_t max, unsigned timeout_ms)
{
    size_t n = hark__ring_read(&c->ring, dst, max * sizeof(float)) / sizeof(float);
    if (n == 0 && timeout_ms > 0 && !atomic_load(&c->ended)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        ts.tv_sec += (time_t)(timeout_ms / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (sem_timedwait(&c->wake, &ts) != 0 && errno == EINTR) {
            if (cli_interrupted())
                break;
        }
        n = hark__ring_read(&c->ring, dst, max * sizeof(float)) / sizeof(float);
    }
    if (n == 0 && atomic_load(&c->ended) && hark__ring_used(&c->ring) == 0)
        return -1;
    return (long)n;
}

uint64_t cli_capture_overruns(cli_capture *c)
{
    return hark__ring_overruns(&c->ring);
}

uint64_t cli_capture_dropped(cli_capture *c)
{
    return hark__ring_dropped(&c->ring) / sizeof(float);
}

uint64_t cli_capture_samples(cli_capture *c)
{
    return atomic_load_explicit(&c->samples, memory_order_relaxed);
}

/* The smallest latency (bin's upper edge) that `q` of the blocks did not exceed. */
static double latency_quantile(const cli_capture *c, double q)
{
    uint64_t want = (uint64_t)(q * (double)c->lat_blocks + 0.999999), seen = 0;
    for (size_t i = 0; i < LAT_BINS; i++) {
        seen += c->lat_hist[i];
        if (seen >= want && seen > 0) {
            double edge = (double)(i + 1) * LAT_BIN_US / 1000.0;
            double max = (double)c->lat_max_us / 1000.0;
            return edge < max ? edge : max;
        }
    }
    return (double)c->lat_max_us / 1000.0;
}

uint64_t cli_capture_latency(cli_capture *c, double *p50_ms, double *p95_ms, double *max_ms)
{
    if (c->started || c->lat_blocks == 0) {
        *p50_ms = *p95_ms = *max_ms = 0;
        return 0;
    }
    *p50_ms = latency_quantile(c, 0.50);
    *p95_ms = latency_quantile(c, 0.95);
    *max_ms = (double)c->lat_max_us / 1000.0;
    return c->lat_blocks;
}

const char *cli_capture_error(cli_capture *c)
{
    return atomic_load(&c->failed) ? c->error : NULL;
}

void cli_capture_stop(cli_capture *c)
{
    if (!c || !c->started)
        return;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    c->started = 0;
}

void cli_capture_free(cli_capture *c)
{
    if (!c)
        return;
    cli_capture_stop(c);
    if (c->pa)
        pa_simple_free(c->pa);
    if (c->sem_ok)
        sem_destroy(&c->wake);
    hark__ring_dispose(&c->ring);
    hark__free(c->block);
    hark__free(c->lat_hist);
    hark__free(c);
}

/* ---- listing sources ------------------------------------------------------------------ */

typedef struct lister {
    FILE *out;
    char *default_source; /* from the server info */
    int pending;          /* operations not finished */
    int n;                /* sources printed */
    int failed;
} lister;

static void on_server_info(pa_context *ctx, const pa_server_info *i, void *payload)
{
    lister *l = payload;
    (void)ctx;
    if (i && i->default_source_name)
        l->default_source = hark__strdup(i->default_source_name);
    l->pending--;
}

static void on_source(pa_context *ctx, const pa_source_info *i, int eol, void *payload)
{
    lister *l = payload;
    (void)ctx;
    if (eol) {
        if (eol < 0)
            l->failed = 1;
        l->pending--;
        return;
    }
    cli_put_safe(l->out, i->name, 0, NULL);
    fputc('\t', l->out);
    cli_put_safe(l->out, i->description ? i->description : "", 0, NULL);
    if (l->default_source && strcmp(l->default_source, i->name) == 0)
        fputs(" (default)", l->out);
    if (i->monitor_of_sink != PA_INVALID_INDEX)
        fputs(" (monitor of a sink)", l->out);
    fputc('\n', l->out);
    l->n++;
}

int cli_capture_list(const char *cmd, FILE *out)
{
    pa_mainloop *ml = NULL;
    pa_context *ctx = NULL;
    pa_operation *op = NULL;
    lister l;
    int rc = EXIT_FAIL, state_ok = 0;

    memset(&l, 0, sizeof(l));
    l.out = out;
    if (!(ml = pa_mainloop_new()) || !(ctx = pa_context_new(pa_mainloop_get_api(ml), APP_NAME))) {
        fprintf(stderr, "hark %s: out of memory\n", cmd);
        goto out;
    }
    if (pa_context_connect(ctx, NULL, PA_CONTEXT_NOFAIL & 0, NULL) < 0)
        goto fail;
    for (;;) { /* connect */
        pa_context_state_t st = pa_context_get_state(ctx);
        if (st == PA_CONTEXT_READY) {
            state_ok = 1;
            break;
        }
        if (!PA_CONTEXT_IS_GOOD(st) || pa_mainloop_iterate(ml, 1, NULL) < 0)
            break;
    }
    if (!state_ok)
        goto fail;
    /* the server info first (it names the default source), then the sources */
    l.pending = 1;
    if (!(op = pa_context_get_server_info(ctx, on_server_info, &l)))
        goto fail;
    while (l.pending > 0 && pa_operation_get_state(op) == PA_OPERATION_RUNNING)
        if (pa_mainloop_iterate(ml, 1, NULL) < 0)
            goto fail;
    pa_operation_unref(op);
    l.pending = 1;
    if (!(op = pa_context_get_source_info_list(ctx, on_source, &l)))
        goto fail;
    while (l.pending > 0 && pa_operation_get_state(op) == PA_OPERATION_RUNNING)
        if (pa_mainloop_iterate(ml, 1, NULL) < 0)
            goto fail;
    if (l.failed)
        goto fail;
    if (l.n == 0)
        fprintf(stderr, "hark %s: the sound server has no audio sources\n", cmd);
    rc = EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "hark %s: sound server: %s (is a PulseAudio or PipeWire server running?)\n",
            cmd, ctx ? pa_strerror(pa_context_errno(ctx)) : "unavailable");
    rc = EXIT_NOINPUT;
out:
    if (op)
        pa_operation_unref(op);
    if (ctx) {
        pa_context_disconnect(ctx);
        pa_context_unref(ctx);
    }
    if (ml)
        pa_mainloop_free(ml);
    hark__free(l.default_source);
    return rc;
}
