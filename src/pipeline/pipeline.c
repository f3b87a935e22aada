/*
 * pipeline.c: decode -> chunk -> N workers -> ordered merge.
 *
 * DESIGN
 * The calling thread is the producer: it pulls blocks from the decoder,
 * pushes them through the chunker, and hands each chunk to a bounded FIFO.
 * When the FIFO is full the producer waits (backpressure: decoding never runs
 * more than `queue_depth` chunks ahead of the workers), and while it waits it
 * merges finished results. N worker threads each own one engine state; they
 * take chunks from the FIFO, transcribe them with per-chunk retries and
 * exponential backoff, and post the result into a table indexed by chunk
 * number. Only the producer merges: it appends result k to the output
 * transcript once results 0..k-1 are in, so the output is the same whatever
 * the number of workers or the order in which they finish.
 *
 * One mutex guards the FIFO, the result table and the run flags; two
 * condition variables wake workers (work available / shutting down) and the
 * producer (space in the FIFO / a result arrived / a fatal error).
 *
 * Failure: a chunk that still fails after its retries, a model that cannot
 * load, or cancellation sets `stop`. The producer stops decoding, workers
 * drop queued chunks, and the output keeps what was merged in order before
 * the first missing chunk. Workers record their error message (error text is
 * thread-local) so the caller sees the worker's one-line reason.
 *
 * Memory: at most queue_depth + n_workers chunks of audio exist at once, plus
 * the chunker's buffer; results awaiting merge hold only text.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hark/pipeline.h"
#include "../asr/asr.h"
#include "../util/util.h"
#include "chunker.h"
#include "pipeline_int.h"

#define BLOCK_SAMPLES 16384
#define ERRLEN        512

enum { SLOT_QUEUED = 0, SLOT_DONE, SLOT_FAILED };

typedef struct slot {
    hark_transcript *result; /* chunk transcript, times relative to the chunk */
    int64_t start;           /* chunk position in the recording, samples */
    int64_t n;               /* chunk length, samples */
    int state;               /* SLOT_* */
} slot;

typedef struct run {
    hark_engine *engine;
    const hark_engine_ops *ops;
    const hark_pipeline_options *opts;
    const hark_pipeline_hooks *hooks;
    int n_threads; /* compute threads per job */

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers: FIFO non-empty, or input done, or stop */
    pthread_cond_t main_cv; /* producer: FIFO space, result ready, stop */

    hark_chunk *fifo; /* ring of queue_depth chunks */
    unsigned fifo_cap, fifo_head, fifo_len;

    slot *slots; /* indexed by chunk number */
    uint32_t n_slots, slots_cap;
    uint32_t merged; /* chunks 0..merged-1 are in the output */
    int input_done;  /* no more chunks will come */
    int stop;        /* cancel or fatal error: wind down */
    int stop_rc;     /* the first error (HARK_ECANCELED for a cancel) */
    char stop_msg[ERRLEN];
    double asr_ms; /* summed engine time */
    uint32_t cache_hits;

    hark_transcript *out;
    hark_progress progress;
    double t0;
    int64_t total; /* expected samples, 0 = unknown */
} run;

/* ---- helpers ------------------------------------------------------------------ */

static int aborted(run *r)
{
    return r->opts->abort && r->opts->abort(r->opts->payload);
}

static int abort_cb(void *payload)
{
    run *r = payload;
    int stop;
    pthread_mutex_lock(&r->mu);
    stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop || aborted(r);
}

/* Record the first fatal error; caller holds mu. */
static void set_stop_locked(run *r, int rc, const char *msg)
{
    if (!r->stop) {
        r->stop = 1;
        r->stop_rc = rc;
        snprintf(r->stop_msg, sizeof(r->stop_msg), "%s", msg && *msg ? msg : hark_strerror(rc));
    }
    pthread_cond_broadcast(&r->work_cv);
    pthread_cond_broadcast(&r->main_cv);
}

static void set_stop(run *r, int rc, const char *msg)
{
    pthread_mutex_lock(&r->mu);
    set_stop_locked(r, rc, msg);
    pthread_mutex_unlock(&r->mu);
}

static int retryable(int rc)
{
    return rc != HARK_ECANCELED && rc != HARK_EINVAL && rc != HARK_EUNSUPPORTED &&
           rc != HARK_EMODEL && rc != HARK_EVERSION;
}

/* ---- merge (producer thread only) ------------------------------------------------ */

/* Append every finished result that is next in order. Called with mu held;
 * drops it around the append and the progress callback. */
static int merge_ready_locked(run *r)
{
    while (r->merged < r->n_slots && r->slots[r->merged].state == SLOT_DONE) {
        slot *s = &r->slots[r->merged];
        hark_transcript *res = s->result;
        uint32_t idx = r->merged;
        size_t first = hark_transcript_count(r->out);
        int rc;
        s->result = NULL;
        pthread_mutex_unlock(&r->mu);
        rc = hark_transcript_append(r->out, res, s->start, idx);
        if (rc == 0) { /* the engine's own counters, summed over chunks */
            const hark_timings *ct = hark_transcript_timings(res);
            hark_timings *ot = hark_transcript_timings(r->out);
            ot->encoder_ms += ct->encoder_ms;
            ot->decoder_ms += ct->decoder_ms;
            ot->windows += ct->windows;
            ot->sampled += ct->sampled;
            ot->positions += ct->positions;
        }
        if (rc == 0 && r->hooks && r->hooks->merged)
            rc = r->hooks->merged(r->hooks->payload, idx, r->out, first,
                                  hark_transcript_count(r->out) - first);
        hark_transcript_free(res);
        pthread_mutex_lock(&r->mu);
        if (rc < 0) {
            s->state = SLOT_FAILED; /* its result is gone: never merge it */
            set_stop_locked(r, rc, hark_error_last());
            return rc;
        }
        r->merged++;
        r->progress.chunks_done = r->merged;
        r->progress.samples_done = s->start + s->n;
        if (r->opts->progress) {
            hark_progress p = r->progress;
            p.chunks_total = r->n_slots;
            p.decoding_done = r->input_done;
            p.elapsed_ms = hark__now_ms() - r->t0;
            pthread_mutex_unlock(&r->mu);
            r->opts->progress(&p, r->opts->payload);
            pthread_mutex_lock(&r->mu);
        }
    }
    return 0;
}

/* ---- producer: chunk emit -------------------------------------------------------------- */

static int enqueue(void *payload, hark_chunk *c)
{
    run *r = payload;
    int rc = 0;

    pthread_mutex_lock(&r->mu);
    while (!r->stop && r->fifo_len == r->fifo_cap) {
        if (merge_ready_locked(r) < 0)
            break;
        if (r->fifo_len == r->fifo_cap && !r->stop)
            pthread_cond_wait(&r->main_cv, &r->mu);
    }
    if (r->stop) {
        rc = r->stop_rc;
        goto out;
    }
    if (c->index != r->n_slots) { /* the chunker must number chunks 0, 1, 2... */
        rc = hark_error_set(HARK_EINVAL, "chunker emitted chunk %u, expected %u", c->index,
                            r->n_slots);
        set_stop_locked(r, rc, hark_error_last());
        goto out;
    }
    if (r->n_slots == r->slots_cap) {
        uint32_t cap = r->slots_cap ? r->slots_cap * 2 : 64;
        slot *p = hark__reallocarray(r->slots, cap, sizeof(*p));
        if (!p) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            set_stop_locked(r, rc, hark_error_last());
            goto out;
        }
        r->slots = p;
        r->slots_cap = cap;
    }
    memset(&r->slots[r->n_slots], 0, sizeof(slot));
    r->slots[r->n_slots].start = c->start;
    r->slots[r->n_slots].n = (int64_t)c->n;
    r->slots[r->n_slots].state = SLOT_QUEUED;
    r->n_slots++;
    r->progress.chunks_total = r->n_slots;
    r->fifo[(r->fifo_head + r->fifo_len) % r->fifo_cap] = *c;
    r->fifo_len++;
    pthread_cond_signal(&r->work_cv);
    merge_ready_locked(r);
out:
    pthread_mutex_unlock(&r->mu);
    return rc; /* < 0: the chunker frees c->pcm */
}

/* ---- workers ------------------------------------------------------------------------ */

typedef struct worker {
    run *r;
    pthread_t thread;
    int started;
} worker;

/* Transcribe one chunk with retries. Returns 0 and sets *out, or an error. */
static int process_chunk(run *r, void **state, const void *model, const hark_chunk *c,
                         hark_transcript **out)
{
    const hark_pipeline_options *o = r->opts;
    hark_engine_job job;
    unsigned attempt;
    int rc = 0;

    *out = NULL;
    if (r->hooks && r->hooks->lookup) {
        rc = r->hooks->lookup(r->hooks->payload, c->index, c->pcm, c->n, out);
        if (rc == 0 && *out) {
            pthread_mutex_lock(&r->mu);
            r->cache_hits++;
            pthread_mutex_unlock(&r->mu);
            return 0;
        }
        if (rc < 0 && rc != HARK_ENOTFOUND)
            hark_warn("chunk %u: cache lookup failed: %s", c->index, hark_error_last());
        rc = 0;
    }
    memset(&job, 0, sizeof(job));
    job.pcm = c->pcm;
    job.n = c->n;
    job.offset = c->start;
    job.chunk = c->index;
    job.n_threads = r->n_threads;
    job.opts = &o->decode;
    job.abort = abort_cb;
    job.payload = r;

    for (attempt = 0;; attempt++) {
        hark_transcript *t = NULL;
        double t0 = hark__now_ms();
        if ((rc = hark_transcript_new(&t)) < 0)
            return rc;
        if (!*state)
            rc = hark__engine_state_take(r->engine, model, state);
        if (rc == 0)
            rc = r->ops->transcribe(*state, &job, t);
        pthread_mutex_lock(&r->mu);
        r->asr_ms += hark__now_ms() - t0;
        pthread_mutex_unlock(&r->mu);
        if (rc == 0) {
            *out = t;
            break;
        }
        hark_transcript_free(t);
        if (rc == HARK_EENGINE && *state) { /* the state may be damaged: never reuse it */
            r->ops->state_free(*state);
            *state = NULL;
        }
        if (abort_cb(r))
            return hark_error_set(HARK_ECANCELED, "canceled");
        if (!retryable(rc) || attempt >= o->max_retries)
            return hark_error_prefix("chunk %u at %.1f s", c->index,
                                     (double)c->start / HARK_SAMPLE_RATE);
        hark_debug("chunk %u: attempt %u failed (%s), retrying", c->index, attempt + 1,
                   hark_error_last());
        if (hark__sleep_ms(o->retry_base_ms << HARK_MIN(attempt, 16u), abort_cb, r))
            return hark_error_set(HARK_ECANCELED, "canceled");
    }
    if (r->hooks && r->hooks->store && *out) {
        int src = r->hooks->store(r->hooks->payload, c->index, c->pcm, c->n, *out);
        if (src < 0)
            hark_warn("chunk %u: cache store failed: %s", c->index, hark_error_last());
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    const void *model = NULL;
    void *state = NULL;
    int rc;

    if ((rc = hark__engine_acquire(r->engine, &model)) < 0) {
        set_stop(r, rc, hark_error_last());
        return NULL;
    }
    for (;;) {
        hark_chunk c;
        hark_transcript *t = NULL;

        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->fifo_len == 0 && !r->input_done)
            pthread_cond_wait(&r->work_cv, &r->mu);
        if (r->stop || r->fifo_len == 0) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        c = r->fifo[r->fifo_head];
        r->fifo_head = (r->fifo_head + 1) % r->fifo_cap;
        r->fifo_len--;
        pthread_cond_signal(&r->main_cv); /* space in the FIFO */
        pthread_mutex_unlock(&r->mu);

        rc = process_chunk(r, &state, model, &c, &t);
        hark__free(c.pcm);

        pthread_mutex_lock(&r->mu);
        if (rc < 0) {
            r->slots[c.index].state = SLOT_FAILED;
            set_stop_locked(r, rc, hark_error_last());
        } else {
            r->slots[c.index].result = t;
            r->slots[c.index].state = SLOT_DONE;
        }
        pthread_cond_broadcast(&r->main_cv);
        pthread_mutex_unlock(&r->mu);
    }
    hark__engine_state_give(r->engine, state); /* the next run's workers reuse it */
    hark__engine_release(r->engine);
    return NULL;
}

/* ---- the run ---------------------------------------------------------------------------- */

static int set_meta(run *r, const hark_chunker_config *c);

void hark_pipeline_options_default(hark_pipeline_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_PIPELINE_OPTIONS_VERSION;
    o->max_retries = 3;
    o->retry_base_ms = 100;
    hark_decode_options_default(&o->decode);
}

/* The source of samples: a decoder or a memory buffer. */
typedef struct source {
    hark_decoder *dec;
    const float *pcm;
    size_t n, pos;
} source;

static int source_read(source *s, float *buf, size_t max, size_t *n)
{
    if (s->dec)
        return hark_decoder_read(s->dec, buf, max, n);
    *n = HARK_MIN(max, s->n - s->pos);
    memcpy(buf, s->pcm + s->pos, *n * sizeof(float));
    s->pos += *n;
    return 0;
}

static void resolve_chunking(const hark_engine_ops *ops, const hark_chunk_options *co,
                             hark_chunker_config *cfg)
{
    cfg->min = co->min > 0 ? co->min : ops->chunk_min;
    cfg->max = co->max > 0 ? co->max : ops->chunk_max;
    if (cfg->min > cfg->max)
        cfg->min = cfg->max;
    cfg->no_vad = co->no_vad;
    cfg->vad_threshold = co->vad_threshold > 0 && co->vad_threshold < 1 ? co->vad_threshold : 0.5f;
    cfg->skip_silence = co->skip_silence != 0 ? co->skip_silence : 2 * HARK_SAMPLE_RATE;
}

int hark__pipeline_run(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                       const float *pcm, size_t n_pcm, const hark_pipeline_options *opts_in,
                       const hark_pipeline_hooks *hooks)
{
    hark_pipeline_options defaults;
    const hark_pipeline_options *opts = opts_in;
    hark_chunker_config ccfg;
    hark__chunker *chunker = NULL;
    worker *workers = NULL;
    float *block = NULL;
    source src = { dec, pcm, n_pcm, 0 };
    run r;
    unsigned n_workers, i, cpus = hark__cpu_count();
    int64_t decoded = 0;
    int rc = 0, mu_init = 0;
    double decode_ms = 0, vad_ms = 0;

    HARK_ASSERT_ARG(out && engine);
    *out = NULL;
    memset(&r, 0, sizeof(r));
    if (!opts) {
        hark_pipeline_options_default(&defaults);
        opts = &defaults;
    }
    if (opts->version != HARK_PIPELINE_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_pipeline_options version %u not supported",
                              opts->version);
    if ((rc = hark_transcript_new(&r.out)) < 0)
        return rc;
    r.t0 = hark__now_ms();
    r.engine = engine;
    r.ops = hark__engine_ops(engine);
    r.opts = opts;
    r.hooks = hooks;
    resolve_chunking(r.ops, &opts->chunk, &ccfg);
    if ((rc = set_meta(&r, &ccfg)) < 0)
        goto out;
    if (dec && hark_decoder_info(dec))
        r.total = hark_decoder_info(dec)->duration;
    else if (!dec)
        r.total = (int64_t)n_pcm;
    r.progress.samples_total = r.total;

    /* Workers: as requested (default: all cores), but no more than the chunks
     * the recording can have, so a short file does not pay for idle engine
     * states; compute threads per worker share the cores. */
    n_workers = opts->n_workers ? opts->n_workers : cpus;
    if (r.total > 0) {
        int64_t est = (r.total + ccfg.max - 1) / ccfg.max;
        if (est < 1)
            est = 1;
        if ((int64_t)n_workers > est)
            n_workers = (unsigned)est;
    }
    r.n_threads =
        opts->decode.n_threads > 0 ? opts->decode.n_threads : (int)HARK_MAX(1u, cpus / n_workers);
    r.fifo_cap = opts->queue_depth ? opts->queue_depth : 2 * n_workers;

    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.work_cv, NULL);
    pthread_cond_init(&r.main_cv, NULL);
    mu_init = 1;
    r.fifo = hark__calloc(r.fifo_cap, sizeof(*r.fifo));
    block = hark__malloc(BLOCK_SAMPLES * sizeof(float));
    workers = hark__calloc(n_workers, sizeof(*workers));
    if (!r.fifo || !block || !workers) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = hark__chunker_new(&chunker, &ccfg)) < 0)
        goto out;
    for (i = 0; i < n_workers; i++) {
        workers[i].r = &r;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            rc = hark_error_set(HARK_ENOMEM, "cannot start worker thread");
            set_stop(&r, rc, hark_error_last());
            break;
        }
        workers[i].started = 1;
    }

    /* Producer: decode and cut until the input ends or the run stops. */
    for (;;) {
        size_t n = 0;
        double t;
        if (aborted(&r)) {
            set_stop(&r, HARK_ECANCELED, "canceled");
            break;
        }
        t = hark__now_ms();
        rc = source_read(&src, block, BLOCK_SAMPLES, &n);
        decode_ms += hark__now_ms() - t;
        if (rc < 0) {
            set_stop(&r, rc, hark_error_last());
            break;
        }
        if (n == 0)
            break;
        decoded += (int64_t)n;
        if (r.total > 0 && decoded > r.total) {
            pthread_mutex_lock(&r.mu);
            r.total = r.progress.samples_total = decoded;
            pthread_mutex_unlock(&r.mu);
        }
        if (hooks && hooks->audio && (rc = hooks->audio(hooks->payload, block, n)) < 0) {
            set_stop(&r, rc, hark_error_last());
            break;
        }
        t = hark__now_ms();
        rc = hark__chunker_push(chunker, block, n, enqueue, &r);
        vad_ms += hark__now_ms() - t;
        if (rc < 0) {
            set_stop(&r, rc, hark_error_last());
            break;
        }
    }
    if (!r.stop) {
        double t = hark__now_ms();
        rc = hark__chunker_finish(chunker, enqueue, &r);
        vad_ms += hark__now_ms() - t;
        if (rc < 0)
            set_stop(&r, rc, hark_error_last());
    }

    /* Drain: wait for every chunk, merging in order as results arrive. */
    pthread_mutex_lock(&r.mu);
    r.input_done = 1;
    r.total = r.progress.samples_total = decoded;
    pthread_cond_broadcast(&r.work_cv);
    for (;;) {
        merge_ready_locked(&r);
        if (r.stop || r.merged == r.n_slots)
            break;
        pthread_cond_wait(&r.main_cv, &r.mu);
    }
    if (!r.stop && aborted(&r))
        set_stop_locked(&r, HARK_ECANCELED, "canceled");
    pthread_mutex_unlock(&r.mu);

    for (i = 0; i < n_workers; i++)
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
    /* Results that finished after the stop but are still next in order. */
    pthread_mutex_lock(&r.mu);
    {
        int stopped = r.stop;
        r.stop = 0; /* let merge_ready run */
        merge_ready_locked(&r);
        r.stop = stopped || r.stop;
    }
    pthread_mutex_unlock(&r.mu);

    if (r.stop)
        rc = hark_error_set(r.stop_rc, "%s", r.stop_msg);
    else if (rc == 0 && decoded == 0)
        rc = hark_error_set(HARK_EEMPTY, "no audio samples");
out:
    if (r.out) {
        hark_timings *tm = hark_transcript_timings(r.out);
        hark_transcript_set_duration(r.out, decoded);
        tm->decode_ms = decode_ms;
        tm->vad_ms = vad_ms;
        tm->asr_ms = r.asr_ms;
        tm->total_ms = hark__now_ms() - r.t0;
    }
    /* queued chunks never taken by a worker, and unmerged results */
    while (r.fifo && r.fifo_len) {
        hark__free(r.fifo[r.fifo_head].pcm);
        r.fifo_head = (r.fifo_head + 1) % r.fifo_cap;
        r.fifo_len--;
    }
    for (i = 0; i < r.n_slots; i++)
        hark_transcript_free(r.slots[i].result);
    hark__free(r.slots);
    hark__free(r.fifo);
    hark__free(workers);
    hark__free(block);
    hark__chunker_free(chunker);
    if (mu_init) {
        pthread_cond_destroy(&r.work_cv);
        pthread_cond_destroy(&r.main_cv);
        pthread_mutex_destroy(&r.mu);
    }
    *out = r.out;
    return rc;
}

/* Canonical JSON of the options that shape the output (not workers or threads,
 * which never change it). */
static int options_json(const hark_pipeline_options *o, const hark_chunker_config *c, hark_buf *b)
{
    const hark_decode_options *d = &o->decode;
    hark_jsonw w;
    hark_jsonw_init(&w, b, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "language");
    hark_jsonw_str(&w, d->language);
    hark_jsonw_key(&w, "translate");
    hark_jsonw_bool(&w, d->translate);
    hark_jsonw_key(&w, "beam_size");
    hark_jsonw_int(&w, d->beam_size);
    hark_jsonw_key(&w, "best_of");
    hark_jsonw_int(&w, d->best_of);
    hark_jsonw_key(&w, "temperature");
    hark_jsonw_fixed(&w, d->temperature, 2);
    hark_jsonw_key(&w, "temperature_inc");
    hark_jsonw_fixed(&w, d->no_fallback ? 0.0 : d->temperature_inc, 2);
    hark_jsonw_key(&w, "timestamps");
    hark_jsonw_bool(&w, !d->no_timestamps);
    hark_jsonw_key(&w, "prompt");
    hark_jsonw_str(&w, d->prompt);
    hark_jsonw_key(&w, "chunk_min_s");
    hark_jsonw_fixed(&w, (double)c->min / HARK_SAMPLE_RATE, 2);
    hark_jsonw_key(&w, "chunk_max_s");
    hark_jsonw_fixed(&w, (double)c->max / HARK_SAMPLE_RATE, 2);
    hark_jsonw_key(&w, "vad");
    hark_jsonw_bool(&w, !c->no_vad);
    hark_jsonw_close(&w);
    return hark_jsonw_end(&w);
}

static int set_meta(run *r, const hark_chunker_config *c)
{
    hark_buf b = HARK_BUF_INIT;
    const char *model = hark__engine_model_name(r->engine);
    int rc = hark_transcript_set_meta(r->out, "engine", r->ops->name);
    if (rc == 0)
        rc = hark_transcript_set_meta(r->out, "model", model ? model : "default");
    if (rc == 0 && r->opts->decode.language)
        rc = hark_transcript_set_meta(r->out, "language", r->opts->decode.language);
    if (rc == 0)
        rc = options_json(r->opts, c, &b);
    if (rc == 0)
        rc = hark_transcript_set_meta(r->out, "options", b.ptr);
    hark_buf_dispose(&b);
    return rc;
}

int hark__pipeline_options_json(hark_engine *engine, const hark_pipeline_options *opts,
                                hark_buf *out)
{
    hark_chunker_config c;
    resolve_chunking(hark__engine_ops(engine), &opts->chunk, &c);
    return options_json(opts, &c, out);
}

int hark__pipeline_config_key(hark_engine *engine, const hark_pipeline_options *opts,
                              uint8_t out[32])
{
    const hark_engine_ops *ops = hark__engine_ops(engine);
    hark_chunker_config c;
    hark_buf b = HARK_BUF_INIT;
    int rc;

    resolve_chunking(ops, &opts->chunk, &c);
    rc = hark_buf_puts(&b, "hark-chunk-config-v1\n");
    if (rc == 0)
        rc = hark_engine_identity(engine, &b);
    if (rc == 0)
        rc = hark_buf_putc(&b, '\n');
    if (rc == 0)
        rc = ops->options_key ? ops->options_key(&opts->decode, &b) : hark_buf_puts(&b, "{}");
    if (rc == 0)
        rc = hark_buf_printf(&b, "\nmin=%lld max=%lld vad=%d thr=%.4f skip=%lld", (long long)c.min,
                             (long long)c.max, !c.no_vad, (double)c.vad_threshold,
                             (long long)c.skip_silence);
    if (rc == 0)
        rc = hark_sha256_buf(out, b.ptr, b.len);
    hark_buf_dispose(&b);
    return rc;
}

int hark_transcribe(hark_transcript **out, hark_engine *engine, hark_decoder *dec,
                    const hark_pipeline_options *opts)
{
    HARK_ASSERT_ARG(dec);
    return hark__pipeline_run(out, engine, dec, NULL, 0, opts, NULL);
}

int hark_transcribe_pcm(hark_transcript **out, hark_engine *engine, const float *pcm, size_t n,
                        const hark_pipeline_options *opts)
{
    HARK_ASSERT_ARG(pcm || n == 0);
    return hark__pipeline_run(out, engine, NULL, pcm, n, opts, NULL);
}

int hark_transcribe_file(hark_transcript **out, hark_engine *engine, const char *path,
                         const hark_pipeline_options *opts)
{
    hark_decoder *dec = NULL;
    int rc;
    HARK_ASSERT_ARG(out && path);
    *out = NULL;
    if ((rc = hark_decoder_open(&dec, path, NULL)) < 0)
        return rc;
    rc = hark__pipeline_run(out, engine, dec, NULL, 0, opts, NULL);
    if (*out)
        hark_transcript_set_meta(*out, "source", path);
    hark_decoder_free(dec);
    return rc;
}
