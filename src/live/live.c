/*
 * live.c: live transcription of a stream (hark/live.h).
 *
 * DESIGN
 * The feeding thread runs the VAD and the endpointer; the engine runs on the
 * scheduler's workers as tasks of this stream's queue (one queue, its own
 * priority class, round-robin with other streams and jobs of that class).
 *
 *   feed -> buffer (audio since the current utterance's start, minus
 *           nothing) -> VAD frames -> endpointer -> final task per utterance
 *        -> every partial_ms of speech: a partial task over the utterance so
 *           far, when none is running
 *   workers -> final results into a reorder table -> delivered in order by
 *              whichever thread completes the prefix (under `deliver_mu`, so
 *              the callback never runs concurrently)
 *
 * The endpointer works on VAD frames, which arrive hark__vad_delay() frames
 * late; the buffer keeps the audio from the current utterance's start (or,
 * between utterances, the pre-roll before the newest decided frame), so it
 * holds at most max_utterance + delay + pre-roll samples.
 *
 * STREAMING (engines with the stream_* operations, unless turned off)
 * An open utterance has an `sutt`: the feeding thread hands it the samples
 * [utt_start, handed) as they are decided (up to the last speech frame plus
 * min(TAIL_MS, endpoint), never past the maximum length: a cut never ends before that, so
 * the engine is never fed samples the utterance turns out not to have), in
 * `pend`, and makes sure one K_STREAM task is scheduled. The task feeds what
 * is pending to the engine state bound to the sutt, reads a partial every
 * partial_ms of audio fed, and re-pushes itself while audio keeps coming
 * (so one utterance's tasks never run at once, and streams take turns on
 * the workers). At the cut the rest is handed over and `ended` set; the
 * task that sees it takes the final (stream_end), stores it in the reorder
 * table like a K_FINAL task, and gives the state back. The state is bound
 * lazily by the first task (when the engine's cap allows, else the audio
 * waits in `hold`; the final binds one whatever the cap). A blip that is not
 * an utterance abandons its sutt. The sutt is reference-counted: the feeding
 * side holds one until the cut (or free), a scheduled task one.
 *
 * BACKLOG CAP
 * cut() refuses to transcribe an utterance when max_backlog utterances are
 * already waiting for their final: it gets a numbered final with an error.
 *
 * INVARIANTS
 *   buf holds samples [buf_start, buf_start + buf_len) of the stream.
 *   Utterances are numbered in cutting order, which is a function of the
 *   samples only (VAD decisions do not depend on the feed sizes).
 *   `inflight` counts tasks pushed and not yet finished; free() waits for 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark/live.h"
#include "hark/sys/engine.h"
#include "../asr/asr.h"
#include "../sched/sched.h"
#include "../util/util.h"
#include "../vad/vad.h"

#define MS(x)      ((int64_t)(x) * (HARK_SAMPLE_RATE / 1000))
#define PREROLL_MS 200 /* audio kept before the first speech frame of an utterance */
#define TAIL_MS    150 /* silence kept after the last speech frame */

#define MAX_BACKLOG_DEFAULT 32

enum { K_FINAL = 0, K_PARTIAL, K_STREAM };

/* One utterance decoded by a streaming engine (see STREAMING). */
typedef struct sutt {
    uint32_t utt;
    int64_t start; /* stream position of its first sample */
    /* under L->mu */
    unsigned refs;
    float *pend; /* samples handed over, not yet taken by a task */
    size_t pend_n, pend_cap;
    int ended;     /* every sample is handed over: the task takes the final */
    int abandoned; /* not an utterance after all (a blip, the backlog cap): no final */
    int scheduled; /* a K_STREAM task for it is queued or running */
    /* the running task only */
    float *work; /* samples taken from pend */
    size_t work_cap;
    float *hold; /* samples waiting for a state (no slot free yet) */
    size_t hold_n, hold_cap;
    const void *model; /* acquired while state is bound */
    void *state;       /* bound engine state, or NULL */
    int slot;          /* a bind slot is held (hark__engine_bind_try) */
    int64_t fed;       /* samples fed to the engine */
    int64_t last_partial;
    char *error; /* the first failure, then nothing more is fed */
} sutt;

typedef struct live_task {
    hark__task base;
    hark_live *L;
    int kind;
    uint32_t utt;
    int64_t start; /* first sample */
    size_t n;
    float *pcm;
    sutt *su; /* K_STREAM */
} live_task;

typedef struct result {
    int ready;
    hark_transcript *t; /* absolute times */
    char *error;
} result;

struct hark_live {
    hark_live_options o;
    hark_engine *engine;
    const hark_engine_ops *ops;
    unsigned cpus;
    hark__vad *vad;
    hark__sched_queue queue;

    /* feeding thread only */
    float *buf;
    size_t buf_len, buf_cap;
    int64_t buf_start; /* stream position of buf[0] */
    int64_t fed;       /* samples fed */
    int in_speech;
    int64_t utt_start;   /* first sample of the current utterance */
    int64_t speech_end;  /* end of its last speech frame */
    int64_t speech_len;  /* samples of speech in it */
    int64_t silence_run; /* trailing silence, samples */
    int64_t last_partial;
    int64_t last_cut; /* end of the last utterance cut: the next one starts no earlier */
    int ended;
    int streaming;  /* the engine streams and the options allow it */
    sutt *cur;      /* the open utterance's, when streaming */
    int64_t handed; /* stream position up to which cur has its samples */

    pthread_mutex_t mu; /* the fields below */
    pthread_cond_t cv;
    uint32_t n_utts;    /* utterances cut */
    uint32_t delivered; /* finals delivered (the next one to deliver) */
    result *results;    /* indexed by utt - delivered_base */
    size_t results_cap; /* slots */
    uint32_t res_base;  /* utterance number of results[0] */
    uint32_t current;   /* the utterance partials are for (n_utts while one is open) */
    int partial_busy;   /* a partial task is queued or running */
    unsigned inflight;  /* tasks pushed, not finished */
    int end_sent;       /* the last callback was made */
    int closing;        /* hark_live_free in progress: deliver nothing more */

    pthread_mutex_t deliver_mu; /* held while callbacks run: never concurrently */
};

void hark_live_options_default(hark_live_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_LIVE_OPTIONS_VERSION;
    o->priority = HARK_PRIORITY_LIVE;
    hark_decode_options_default(&o->decode);
    o->endpoint_ms = 500;
    o->max_utterance_ms = 15000;
    o->partial_ms = 500;
    o->min_speech_ms = 150;
    o->streaming = 1;
    o->max_backlog = MAX_BACKLOG_DEFAULT;
}

/* ---- delivery -----------------------------------------------------------------------------------
 */

/* Deliver every final that is ready, in order, and the end marker once all are out. */
static void deliver(hark_live *L)
{
    pthread_mutex_lock(&L->deliver_mu);
    for (;;) {
        result r;
        uint32_t utt;
        int last_marker = 0;
        pthread_mutex_lock(&L->mu);
        if (L->closing) {
            pthread_mutex_unlock(&L->mu);
            break;
        }
        utt = L->delivered;
        if (utt < L->n_utts && L->results[utt - L->res_base].ready) {
            r = L->results[utt - L->res_base];
            memset(&L->results[utt - L->res_base], 0, sizeof(result));
            L->delivered++;
        } else if (utt == L->n_utts && L->ended && !L->end_sent) {
            memset(&r, 0, sizeof(r));
            L->end_sent = 1;
            last_marker = 1;
        } else {
            pthread_mutex_unlock(&L->mu);
            break;
        }
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        if (last_marker) {
            hark_transcript *empty = NULL;
            if (hark_transcript_new(&empty) == 0 && L->o.final)
                L->o.final(utt, empty, 0, 0, NULL, 1, L->o.payload);
            hark_transcript_free(empty);
            break;
        }
        if (r.t || r.error) {
            if (L->o.final)
                L->o.final(utt, r.t, 0, r.t ? hark_transcript_count(r.t) : 0, r.error, 0,
                           L->o.payload);
        }
        hark_transcript_free(r.t);
        hark__free(r.error);
    }
    pthread_mutex_unlock(&L->deliver_mu);
}

/* ---- tasks --------------------------------------------------------------------------------------
 */

static int threads(const hark_live *L, const hark__worker_info *w)
{
    return L->o.decode.n_threads > 0 ? L->o.decode.n_threads
                                     : (int)HARK_MAX(1u, L->cpus / HARK_MAX(1u, w->busy));
}

static int transcribe(hark_live *L, live_task *k, const hark__worker_info *w, hark_transcript **out)
{
    hark_engine_job job;
    const void *model = NULL;
    void *state = NULL;
    hark_transcript *t = NULL;
    int rc;

    *out = NULL;
    memset(&job, 0, sizeof(job));
    job.pcm = k->pcm;
    job.n = k->n;
    job.offset = k->start;
    job.chunk = k->utt;
    job.n_threads = threads(L, w);
    job.opts = &L->o.decode;
    if ((rc = hark__engine_acquire(L->engine, &model)) < 0)
        return rc;
    if ((rc = hark_transcript_new(&t)) == 0 &&
        (rc = hark__engine_state_take(L->engine, model, &state)) == 0)
        rc = L->ops->transcribe(state, &job, t);
    if (rc == HARK_EENGINE && state) { /* may be damaged: never reuse it */
        L->ops->state_free(state);
        state = NULL;
    }
    hark__engine_state_give(L->engine, state);
    hark__engine_release(L->engine);
    if (rc == 0) {
        hark_transcript *abs = NULL;
        if ((rc = hark_transcript_new(&abs)) == 0 &&
            (rc = hark_transcript_append(abs, t, k->start, k->utt)) == 0) {
            *out = abs;
            abs = NULL;
        }
        hark_transcript_free(abs);
    }
    hark_transcript_free(t);
    return rc;
}

static void task_done(hark_live *L)
{
    pthread_mutex_lock(&L->mu);
    L->inflight--;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

/* ---- streaming (see STREAMING) ------------------------------------------------------------ */

static int grow(float **buf, size_t *cap, size_t need)
{
    if (need > *cap) {
        size_t c = HARK_MAX(need, *cap * 2 + HARK_SAMPLE_RATE / 2);
        float *b = hark__reallocarray(*buf, c, sizeof(float));
        if (!b)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        *buf = b;
        *cap = c;
    }
    return 0;
}

/* Give the bound state back (freed instead when it may be damaged) and the bind slot. */
static void unbind(hark_live *L, sutt *su, int damaged)
{
    if (su->state) {
        if (damaged) {
            L->ops->state_free(su->state);
        } else {
            L->ops->stream_end(su->state, NULL); /* abandons an open utterance */
            hark__engine_state_give(L->engine, su->state);
        }
        su->state = NULL;
        hark__engine_release(L->engine);
    }
    if (su->slot) {
        hark__engine_bind_done(L->engine);
        su->slot = 0;
    }
}

static void sutt_free(hark_live *L, sutt *su)
{
    unbind(L, su, 0);
    hark__free(su->pend);
    hark__free(su->work);
    hark__free(su->hold);
    hark__free(su->error);
    hark__free(su);
}

/* Drop one reference (under no lock); the last frees. */
static void sutt_unref(hark_live *L, sutt *su, int unschedule)
{
    unsigned r;
    pthread_mutex_lock(&L->mu);
    if (unschedule)
        su->scheduled = 0;
    r = --su->refs;
    pthread_mutex_unlock(&L->mu);
    if (!r)
        sutt_free(L, su);
}

/* Bind a state and open the utterance on it, when a slot is free or `force`. */
static int bind(hark_live *L, sutt *su, int force, const hark__worker_info *w)
{
    hark_engine_job job;
    int rc;
    if (!su->slot && !(su->slot = hark__engine_bind_try(L->engine)) && !force)
        return 0;
    if ((rc = hark__engine_acquire(L->engine, &su->model)) < 0)
        return rc;
    if ((rc = hark__engine_state_take(L->engine, su->model, &su->state)) < 0) {
        su->state = NULL;
        hark__engine_release(L->engine);
        return rc;
    }
    memset(&job, 0, sizeof(job));
    job.offset = su->start;
    job.chunk = su->utt;
    job.n_threads = threads(L, w);
    job.opts = &L->o.decode;
    if ((rc = L->ops->stream_begin(su->state, &job)) < 0)
        unbind(L, su, rc == HARK_EENGINE);
    return rc;
}

static void fail(hark_live *L, sutt *su, int rc)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "utterance %u: %s", su->utt, hark_error_last());
    if (!su->error)
        su->error = hark__strdup(msg);
    unbind(L, su, rc == HARK_EENGINE);
}

/* Feed `n` samples taken from pend, first those waiting in hold. */
static int feed_engine(hark_live *L, sutt *su, size_t n, int ended, const hark__worker_info *w)
{
    int rc;
    if (!su->state && (rc = bind(L, su, ended, w)) < 0)
        return rc;
    if (!su->state) { /* no slot free: keep the audio for later */
        if ((rc = grow(&su->hold, &su->hold_cap, su->hold_n + n)) < 0)
            return rc;
        memcpy(su->hold + su->hold_n, su->work, n * sizeof(float));
        su->hold_n += n;
        return 0;
    }
    if (su->hold_n) {
        if ((rc = L->ops->stream_feed(su->state, su->hold, su->hold_n)) < 0)
            return rc;
        su->fed += (int64_t)su->hold_n;
        su->hold_n = su->hold_cap = 0;
        hark__free(su->hold);
        su->hold = NULL;
    }
    if (n && (rc = L->ops->stream_feed(su->state, su->work, n)) < 0)
        return rc;
    su->fed += (int64_t)n;
    return 0;
}

static void stream_partial(hark_live *L, sutt *su)
{
    hark_buf text = HARK_BUF_INIT;
    int current;
    su->last_partial = su->fed;
    if (L->ops->stream_partial(su->state, &text) < 0) {
        hark_buf_dispose(&text);
        return; /* a partial is only a hint: the final will tell */
    }
    pthread_mutex_lock(&L->mu);
    current = L->current == su->utt && !L->closing && !su->abandoned;
    pthread_mutex_unlock(&L->mu);
    if (current)
        L->o.partial(su->utt, text.ptr ? text.ptr : "", L->o.payload);
    hark_buf_dispose(&text);
}

/* The utterance is over: its final into the reorder table. */
static void stream_final(hark_live *L, sutt *su)
{
    hark_transcript *t = NULL, *abs = NULL;
    result *r;
    int rc = 0;
    if (!su->error) {
        if ((rc = hark_transcript_new(&t)) < 0 || (rc = L->ops->stream_end(su->state, t)) < 0)
            fail(L, su, rc);
        else if ((rc = hark_transcript_new(&abs)) < 0 ||
                 (rc = hark_transcript_append(abs, t, su->start, su->utt)) < 0)
            fail(L, su, rc);
    }
    unbind(L, su, 0);
    pthread_mutex_lock(&L->mu);
    r = &L->results[su->utt - L->res_base];
    if (su->error) {
        r->error = su->error;
        su->error = NULL;
        hark_transcript_free(abs);
        abs = NULL;
    }
    r->t = abs;
    r->ready = 1;
    pthread_mutex_unlock(&L->mu);
    hark_transcript_free(t);
    deliver(L);
}

static void run_stream(live_task *k, const hark__worker_info *w)
{
    hark_live *L = k->L;
    sutt *su = k->su;
    float *tmp;
    size_t n, tcap;
    int ended, stop, rc, again = 0;

    pthread_mutex_lock(&L->mu); /* take what was handed over */
    tmp = su->work;
    su->work = su->pend;
    su->pend = tmp;
    tcap = su->work_cap;
    su->work_cap = su->pend_cap;
    su->pend_cap = tcap;
    n = su->pend_n;
    su->pend_n = 0;
    ended = su->ended;
    stop = su->abandoned || L->closing;
    pthread_mutex_unlock(&L->mu);
    if (!stop) {
        if (!su->error && (rc = feed_engine(L, su, n, ended, w)) < 0)
            fail(L, su, rc);
        if (!ended && su->state && !su->error && L->o.partial && L->o.partial_ms &&
            su->fed - su->last_partial >= MS(L->o.partial_ms))
            stream_partial(L, su);
        if (ended)
            stream_final(L, su);
    }
    pthread_mutex_lock(&L->mu);
    if (!stop && !ended && !su->abandoned && !L->closing && (su->pend_n || su->ended)) {
        again = 1; /* more came: go round again, after the other streams' turns */
        k->base.next = NULL;
        L->inflight++;
        hark__sched_push(L->o.scheduler, &L->queue, &k->base);
    } else {
        /* in the same critical section as the look at pend_n and ended: audio (or the cut)
         * handed over after it schedules a new task instead of waiting for this one */
        su->scheduled = 0;
    }
    pthread_mutex_unlock(&L->mu);
    if (!again) {
        sutt_unref(L, su, 0);
        hark__free(k);
    }
    task_done(L);
}

static void run_task(hark__task *task, const hark__worker_info *w)
{
    live_task *k = (live_task *)task;
    hark_live *L = k->L;
    hark_transcript *t = NULL;
    int rc;

    if (k->kind == K_STREAM) {
        run_stream(k, w);
        return;
    }
    rc = transcribe(L, k, w, &t);

    if (k->kind == K_PARTIAL) {
        int current;
        pthread_mutex_lock(&L->mu);
        current = L->current == k->utt && !L->closing;
        L->partial_busy = 0;
        pthread_mutex_unlock(&L->mu);
        if (rc == 0 && current && L->o.partial) {
            hark_buf text = HARK_BUF_INIT;
            if (hark_transcript_text(t, &text) == 0)
                L->o.partial(k->utt, text.ptr ? text.ptr : "", L->o.payload);
            hark_buf_dispose(&text);
        }
        hark_transcript_free(t);
    } else {
        result *r;
        pthread_mutex_lock(&L->mu);
        r = &L->results[k->utt - L->res_base];
        r->t = t;
        if (rc < 0) {
            char msg[512];
            snprintf(msg, sizeof(msg), "utterance %u: %s", k->utt, hark_error_last());
            r->error = hark__strdup(msg);
        }
        r->ready = 1;
        pthread_mutex_unlock(&L->mu);
        deliver(L);
    }
    hark__free(k->pcm);
    hark__free(k);
    task_done(L);
}

static void drop_task(hark__task *task, void *payload)
{
    live_task *k = (live_task *)task;
    hark_live *L = payload;
    if (k->su)
        sutt_unref(L, k->su, 1);
    hark__free(k->pcm);
    hark__free(k);
    task_done(L);
}

/* Push a task over stream samples [start, start + n) (which are in buf). */
static int push(hark_live *L, int kind, uint32_t utt, int64_t start, size_t n)
{
    live_task *k = hark__calloc(1, sizeof(*k));
    if (!k || !(k->pcm = hark__malloc(HARK_MAX(n, 1) * sizeof(float)))) {
        hark__free(k);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    memcpy(k->pcm, L->buf + (start - L->buf_start), n * sizeof(float));
    k->base.run = run_task;
    k->L = L;
    k->kind = kind;
    k->utt = utt;
    k->start = start;
    k->n = n;
    pthread_mutex_lock(&L->mu);
    L->inflight++;
    pthread_mutex_unlock(&L->mu);
    hark__sched_push(L->o.scheduler, &L->queue, &k->base);
    return 0;
}

/* Start streaming utterance `utt` (its samples from utt_start). */
static int sutt_open(hark_live *L, uint32_t utt)
{
    sutt *su = hark__calloc(1, sizeof(*su));
    if (!su)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    su->utt = utt;
    su->start = L->utt_start;
    su->refs = 1; /* the feeding side's */
    L->cur = su;
    L->handed = L->utt_start;
    return 0;
}

/* The open utterance is not one (a blip) or will not be transcribed: drop its sutt. */
static void sutt_abandon(hark_live *L)
{
    sutt *su = L->cur;
    if (!su)
        return;
    L->cur = NULL;
    pthread_mutex_lock(&L->mu);
    su->abandoned = 1;
    pthread_mutex_unlock(&L->mu);
    sutt_unref(L, su, 0);
}

/* Hand the samples up to `limit` to the open utterance's sutt (all of them and the end when
 * `end`), and make sure a task will feed them. */
static int hand_over(hark_live *L, int64_t limit, int end)
{
    sutt *su = L->cur;
    live_task *k = NULL;
    size_t n;
    int rc = 0;
    limit = HARK_MIN(limit, L->buf_start + (int64_t)L->buf_len);
    n = limit > L->handed ? (size_t)(limit - L->handed) : 0;
    if (!n && !end)
        return 0;
    if (!(k = hark__calloc(1, sizeof(*k))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    pthread_mutex_lock(&L->mu);
    if ((rc = grow(&su->pend, &su->pend_cap, su->pend_n + n)) < 0) {
        pthread_mutex_unlock(&L->mu);
        hark__free(k);
        return rc;
    }
    if (n)
        memcpy(su->pend + su->pend_n, L->buf + (L->handed - L->buf_start), n * sizeof(float));
    su->pend_n += n;
    L->handed += (int64_t)n;
    if (end) {
        su->ended = 1;
        su->refs--; /* the feeding side lets go; a task holds it (below, or already) */
        L->cur = NULL;
    }
    if (!su->scheduled) {
        su->scheduled = 1;
        su->refs++;
        L->inflight++;
        k->base.run = run_task;
        k->L = L;
        k->kind = K_STREAM;
        k->utt = su->utt;
        k->su = su;
        hark__sched_push(L->o.scheduler, &L->queue, &k->base);
        k = NULL;
    }
    pthread_mutex_unlock(&L->mu);
    hark__free(k);
    return 0;
}

/* ---- the endpointer (feeding thread)
 * -------------------------------------------------------------- */

/* Make room in the reorder table for utterance `utt`. */
static int results_room(hark_live *L, uint32_t utt)
{
    size_t need;
    pthread_mutex_lock(&L->mu);
    if (L->delivered > L->res_base) { /* slide delivered slots out */
        size_t gone = L->delivered - L->res_base;
        memmove(L->results, L->results + gone, (L->results_cap - gone) * sizeof(result));
        memset(L->results + L->results_cap - gone, 0, gone * sizeof(result));
        L->res_base = L->delivered;
    }
    need = (size_t)(utt - L->res_base) + 1;
    if (need > L->results_cap) {
        size_t cap = HARK_MAX(need, L->results_cap * 2);
        result *r = hark__reallocarray(L->results, cap, sizeof(result));
        if (!r) {
            pthread_mutex_unlock(&L->mu);
            return hark_error_set(HARK_ENOMEM, "out of memory");
        }
        memset(r + L->results_cap, 0, (cap - L->results_cap) * sizeof(result));
        L->results = r;
        L->results_cap = cap;
    }
    pthread_mutex_unlock(&L->mu);
    return 0;
}

/* Cut the current utterance at `end` (exclusive). */
static int cut(hark_live *L, int64_t end)
{
    uint32_t utt;
    int rc = 0;
    int keep = L->speech_len >= MS(L->o.min_speech_ms);
    L->in_speech = 0;
    L->last_cut = end;
    if (!keep) {
        sutt_abandon(L);
        return 0; /* a blip: not an utterance */
    }
    if (end > L->buf_start + (int64_t)L->buf_len)
        end = L->buf_start + (int64_t)L->buf_len;
    pthread_mutex_lock(&L->mu);
    utt = L->n_utts;
    pthread_mutex_unlock(&L->mu);
    if ((rc = results_room(L, utt)) < 0)
        return rc;
    pthread_mutex_lock(&L->mu);
    L->n_utts++;
    L->current = UINT32_MAX;              /* no open utterance: late partials are dropped */
    if ((int64_t)utt < L->o.skip_below) { /* its final exists already */
        L->results[utt - L->res_base].ready = 1;
        pthread_mutex_unlock(&L->mu);
        sutt_abandon(L);
        deliver(L);
        return 0;
    }
    if (utt - L->delivered >= L->o.max_backlog) { /* the cap: numbered, not transcribed */
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "utterance %u: not transcribed: %u utterances were waiting (max_backlog)", utt,
                 utt - L->delivered);
        L->results[utt - L->res_base].error = hark__strdup(msg);
        L->results[utt - L->res_base].ready = 1;
        pthread_mutex_unlock(&L->mu);
        sutt_abandon(L);
        deliver(L);
        return 0;
    }
    pthread_mutex_unlock(&L->mu);
    if (L->cur)
        return hand_over(L, end, 1);
    return push(L, K_FINAL, utt, L->utt_start, (size_t)(end - L->utt_start));
}

static int on_frame(void *payload, const hark_vad_frame *f)
{
    hark_live *L = payload;
    int64_t start = f->index * HARK_VAD_FRAME, end = start + f->n;
    int rc;
    if (f->speech) {
        if (!L->in_speech) {
            L->in_speech = 1;
            L->utt_start = HARK_MAX(HARK_MAX(L->buf_start, L->last_cut), start - MS(PREROLL_MS));
            L->speech_len = 0;
            pthread_mutex_lock(&L->mu);
            L->current = L->n_utts;
            pthread_mutex_unlock(&L->mu);
            L->last_partial = end;
            if (L->streaming && (int64_t)L->current >= L->o.skip_below &&
                (rc = sutt_open(L, L->current)) < 0)
                return rc;
        }
        L->speech_end = end;
        L->speech_len += f->n;
        L->silence_run = 0;
        if (end - L->utt_start >= MS(L->o.max_utterance_ms)) { /* too long: cut here */
            if ((rc = cut(L, end)) < 0)
                return rc;
        }
    } else if (L->in_speech) {
        L->silence_run += f->n;
        if (L->silence_run >= MS(L->o.endpoint_ms) &&
            (rc = cut(L, HARK_MIN(HARK_MIN(end, L->speech_end + MS(TAIL_MS)),
                                  L->utt_start + MS(L->o.max_utterance_ms)))) < 0)
            return rc;
    }
    return 0;
}

/* Drop audio no longer needed: before the utterance (or the pre-roll). */
static void trim(hark_live *L, int64_t decided_end)
{
    int64_t keep_from = L->in_speech ? L->utt_start : decided_end - MS(PREROLL_MS);
    if (keep_from > L->buf_start) {
        size_t drop = (size_t)HARK_MIN(keep_from - L->buf_start, (int64_t)L->buf_len);
        memmove(L->buf, L->buf + drop, (L->buf_len - drop) * sizeof(float));
        L->buf_len -= drop;
        L->buf_start += (int64_t)drop;
    }
}

int hark_live_begin(hark_live **out, hark_engine *engine, const hark_live_options *opts)
{
    hark_live *L;
    int rc;
    HARK_ASSERT_ARG(out && engine && opts);
    *out = NULL;
    if (opts->version < 1 || opts->version > HARK_LIVE_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_live_options version %u not supported",
                              opts->version);
    if (!opts->scheduler)
        return hark_error_set(HARK_EINVAL, "live: a scheduler is required");
    if (opts->max_utterance_ms < 1000 || opts->endpoint_ms < 50 ||
        opts->priority >= HARK_PRIORITY_COUNT)
        return hark_error_set(HARK_EINVAL,
                              "live: max_utterance_ms must be >= 1000 and endpoint_ms >= 50");
    if (!(L = hark__calloc(1, sizeof(*L))))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if (opts->version < HARK_LIVE_OPTIONS_VERSION) { /* shorter: the rest takes the defaults */
        hark_live_options_default(&L->o);
        memcpy(&L->o, opts,
               opts->version == 1 ? offsetof(hark_live_options, streaming)
                                  : offsetof(hark_live_options, vad_lookahead));
        L->o.version = HARK_LIVE_OPTIONS_VERSION;
    } else {
        L->o = *opts;
    }
    if (!L->o.max_backlog)
        L->o.max_backlog = MAX_BACKLOG_DEFAULT;
    L->engine = engine;
    L->ops = hark__engine_ops(engine);
    L->streaming = L->o.streaming && hark__engine_streams(engine);
    L->cpus = hark__cpu_count();
    L->current = UINT32_MAX;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    pthread_mutex_init(&L->deliver_mu, NULL);
    hark__sched_queue_init(&L->queue, opts->priority);
    if ((rc = hark__vad_new(&L->vad, L->o.vad_threshold > 0 ? L->o.vad_threshold : 0.5f,
                            L->o.vad_lookahead ? HARK_VAD_LOOKAHEAD : HARK_VAD_LOW_LATENCY)) < 0) {
        hark_live_free(L);
        return rc;
    }
    *out = L;
    return 0;
}

int hark_live_feed(hark_live *L, const float *pcm, size_t n)
{
    int rc;
    HARK_ASSERT_ARG(L && (pcm || !n));
    if (L->ended)
        return hark_error_set(HARK_EINVAL, "live: feed after end");
    if (L->buf_len + n > L->buf_cap) {
        size_t cap = HARK_MAX(L->buf_len + n, L->buf_cap * 2 + HARK_SAMPLE_RATE);
        float *b = hark__reallocarray(L->buf, cap, sizeof(float));
        if (!b)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        L->buf = b;
        L->buf_cap = cap;
    }
    memcpy(L->buf + L->buf_len, pcm, n * sizeof(float));
    L->buf_len += n;
    L->fed += (int64_t)n;
    if ((rc = hark__vad_push(L->vad, pcm, n, on_frame, L)) < 0)
        return rc;
    /* streaming: what is decided of the utterance goes to its task (a cut never ends before
     * the last speech frame + min(TAIL_MS, endpoint_ms), nor past the maximum: see on_frame) */
    if (L->cur && L->in_speech &&
        (rc = hand_over(L,
                        HARK_MIN(L->speech_end + MS(HARK_MIN(TAIL_MS, L->o.endpoint_ms)),
                                 L->utt_start + MS(L->o.max_utterance_ms)),
                        0)) < 0)
        return rc;
    /* re-decoding: a partial over the utterance so far, if one is due and none is running */
    if (!L->cur && L->in_speech && L->o.partial_ms &&
        L->fed - L->last_partial >= MS(L->o.partial_ms)) {
        int busy;
        pthread_mutex_lock(&L->mu);
        busy = L->partial_busy;
        if (!busy)
            L->partial_busy = 1;
        pthread_mutex_unlock(&L->mu);
        if (!busy) {
            L->last_partial = L->fed;
            if ((rc = push(L, K_PARTIAL, L->current, L->utt_start,
                           (size_t)(L->fed - L->utt_start))) < 0) {
                pthread_mutex_lock(&L->mu);
                L->partial_busy = 0;
                pthread_mutex_unlock(&L->mu);
                return rc;
            }
        }
    }
    trim(L, L->fed - hark__vad_delay(L->vad) * HARK_VAD_FRAME);
    return 0;
}

int hark_live_end(hark_live *L)
{
    int rc;
    HARK_ASSERT_ARG(L);
    if (L->ended)
        return hark_error_set(HARK_EINVAL, "live: end called twice");
    if ((rc = hark__vad_finish(L->vad, on_frame, L)) < 0)
        return rc;
    if (L->in_speech && (rc = cut(L, HARK_MIN(L->speech_end + MS(TAIL_MS),
                                              L->utt_start + MS(L->o.max_utterance_ms)))) < 0)
        return rc;
    pthread_mutex_lock(&L->mu);
    L->ended = 1;
    pthread_mutex_unlock(&L->mu);
    deliver(L);
    return 0;
}

unsigned hark_live_backlog(hark_live *L)
{
    unsigned n;
    pthread_mutex_lock(&L->mu);
    n = L->n_utts - L->delivered;
    pthread_mutex_unlock(&L->mu);
    return n;
}

int64_t hark_live_samples(const hark_live *L)
{
    return L->fed;
}

void hark_live_free(hark_live *L)
{
    size_t i;
    if (!L)
        return;
    pthread_mutex_lock(&L->mu);
    L->closing = 1;
    pthread_mutex_unlock(&L->mu);
    if (L->o.scheduler)
        hark__sched_drain(L->o.scheduler, &L->queue, drop_task, L);
    pthread_mutex_lock(&L->mu);
    while (L->inflight)
        pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
    pthread_mutex_lock(&L->deliver_mu); /* a callback still running finishes first */
    pthread_mutex_unlock(&L->deliver_mu);
    sutt_abandon(L); /* the open utterance's, if any: every task is gone */
    for (i = 0; i < L->results_cap; i++) {
        hark_transcript_free(L->results[i].t);
        hark__free(L->results[i].error);
    }
    hark__free(L->results);
    hark__vad_free(L->vad);
    hark__free(L->buf);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    pthread_mutex_destroy(&L->deliver_mu);
    hark__free(L);
}
