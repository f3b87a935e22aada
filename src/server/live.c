/*
 * live.c: live sessions over WebSocket (docs/live.md): GET /v1/live and the
 * Vosk-compatible GET /v1/live/vosk.
 *
 * DESIGN
 * The HTTP upgrade is answered through MHD; the upgraded socket then joins
 * the loop's epoll set and libwslay frames it. A connection (ws_conn) is
 * attached to a session (live_session); a session outlives its connection,
 * so a client that reconnects with `resume` continues it, and the session
 * keeps transcribing what it has while the client is away.
 *
 * Durability: every audio frame is appended to <data_dir>/live/<id>.pcm as a
 * record [u64 seq][u32 n][n x s16le at 16 kHz mono]; fsync runs on the
 * offload thread, one at a time per session, covering every frame written
 * before it started; its completion sends `ack` for the highest seq covered.
 * So an acknowledged frame is on disk. The session's identity (recording,
 * owner, input format) is a store setting "live.<id>". After a crash, a
 * client resuming an unknown session gets it rebuilt from disk: the records
 * are read back (a torn last record is cut off), re-fed to a new stream with
 * skip_below = the utterances already stored, so only unfinished utterances
 * are transcribed again (utterance numbering depends only on the samples).
 *
 * Finals are stored by the stream's final callback (a worker thread: the
 * store is thread-safe) as segments numbered utterance * 1000 + i, then
 * handed to the loop as messages, which sends them if a client is attached.
 * A client that does not read (more than WS_OUT_MAX queued) is dropped; the
 * session goes on. Sessions without a client for live_idle are finished.
 *
 * Memory per session: the stream's bound (hark/live.h) plus the socket's
 * queue (WS_OUT_MAX); audio lives on disk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <libswresample/swresample.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "server.h"
#include "../audio/audio.h"

#define WS_MAX_FRAME (1u << 20) /* PCM bytes per binary frame */
#define WS_OUT_MAX   (1u << 20) /* bytes queued to a client before it is dropped */
#define SEG_PER_UTT  1000       /* segment seq = utterance * 1000 + i */
#define REC_HDR      12         /* record header: u64 seq, u32 samples */

enum { FMT_S16 = 0, FMT_F32 };

typedef struct live_session live_session;

typedef struct ws_conn {
    int tag; /* TAG_WS: first, the loop dispatches on it */
    srv *s;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    wslay_event_context_ptr ctx;
    char *extra;
    size_t extra_len, extra_off;
    int vosk;
    srv_principal who;
    int need_key; /* keys are required and none came with the upgrade */
    live_session *sess;
    int closing;
    uint16_t close_code; /* a close waiting for the queued messages to go out, 0 = none */
    uint32_t epoll_events;
    struct ws_conn *next, **pprev;
} ws_conn;

struct live_session {
    srv *s;
    char id[33];
    int64_t recording, owner;
    hark_live *live;
    int fd; /* the audio records */
    char path[4200];
    uint64_t last_seq, durable_seq, fsync_target;
    int fsync_busy;
    int fsync_failed;
    int rate, channels, fmt;
    struct SwrContext *swr;
    ws_conn *client;
    int64_t sent_final; /* highest utterance whose final went to the client, -1 none */
    uint32_t utts_done; /* finals delivered by the stream */
    int ended;          /* the client sent end */
    int finished;       /* the stream's last callback came */
    int finish_pending; /* finished, waiting for the last fsync before `end` */
    int dead;           /* closed: freed once refs drop to 0 */
    unsigned refs;
    double detached_ms; /* when the client went away, 0 = attached or never */
    double slow_sent_ms;
    int vosk;
    hark_buf vosk_results; /* Vosk: finals not yet answered, each a JSON line */
    char *vosk_partial;
    live_session *next, **pprev;
};

/* Messages from the stream's callbacks (worker threads) to the loop. */
typedef struct live_msg {
    char id[33];
    int kind; /* 0 partial, 1 final, 2 last */
    uint32_t utt;
    char *json;      /* hark protocol message */
    char *vosk_json; /* Vosk message (finals and partials) */
} live_msg;

/* ---- the registry --------------------------------------------------------------------------- */

static live_session *sessions; /* loop thread only */
static ws_conn *conns;
static int idle_fd = -1;

static live_session *find(const char *id)
{
    live_session *x;
    for (x = sessions; x; x = x->next)
        if (!x->dead && !strcmp(x->id, id))
            return x;
    return NULL;
}

static void sess_unref(live_session *x)
{
    if (--x->refs)
        return;
    *x->pprev = x->next;
    if (x->next)
        x->next->pprev = x->pprev;
    hark_live_free(x->live);
    if (x->fd >= 0)
        close(x->fd);
    swr_free(&x->swr);
    hark_buf_dispose(&x->vosk_results);
    hark__free(x->vosk_partial);
    hark__free(x);
}

/* ---- sending -------------------------------------------------------------------------------- */

static void ws_update(ws_conn *c);

static void send_text(ws_conn *c, const char *text)
{
    struct wslay_event_msg m;
    if (!c || c->closing)
        return;
    m.opcode = WSLAY_TEXT_FRAME;
    m.msg = (const uint8_t *)text;
    m.msg_length = strlen(text);
    wslay_event_queue_msg(c->ctx, &m);
    if (wslay_event_get_queued_msg_length(c->ctx) > WS_OUT_MAX) {
        srv_log(c->s, 1, "live session %s: the client is not reading; dropping the connection",
                c->sess ? c->sess->id : "-");
        shutdown(c->fd, SHUT_RDWR); /* the session goes on; the client may resume */
    }
    ws_update(c);
}

static void send_json(ws_conn *c, json_t *o)
{
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (js)
        send_text(c, js);
    free(js); /* libc: jansson allocates with malloc */
    json_decref(o);
}

/* Close once what is queued has gone out (wslay sends control frames ahead of data). */
static void close_now(ws_conn *c)
{
    wslay_event_queue_close(c->ctx, c->close_code, NULL, 0);
    c->close_code = 0;
}

static void close_with(ws_conn *c, uint16_t code, const char *errcode, const char *msg)
{
    if (!c || c->closing)
        return;
    if (errcode) {
        srv_log(c->s, 3, "live session %s: closing with %u: %s", c->sess ? c->sess->id : "-", code,
                msg);
        send_json(c, json_pack("{s:s,s:s,s:s}", "type", "error", "code", errcode, "message", msg));
    }
    c->closing = 1;
    c->close_code = code;
    if (wslay_event_get_queued_msg_count(c->ctx) == 0)
        close_now(c);
    ws_update(c);
}

/* ---- the stream's callbacks (worker threads) ------------------------------------------------- */

static void on_partial(uint32_t utt, const char *text, void *payload)
{
    live_session *x = payload;
    live_msg *m = hark__calloc(1, sizeof(*m));
    json_t *o;
    if (!m)
        return;
    memcpy(m->id, x->id, sizeof(m->id));
    m->kind = 0;
    m->utt = utt;
    o = json_pack("{s:s,s:i,s:s}", "type", "partial", "utterance", (int)utt, "text", text);
    m->json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    o = json_pack("{s:s}", "partial", text);
    m->vosk_json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    srv_post_live(x->s, m);
}

static json_t *final_json(uint32_t utt, const hark_transcript *t, size_t first, size_t count,
                          json_t **vosk)
{
    json_t *segs = json_array(), *vres = json_array();
    hark_buf text = HARK_BUF_INIT;
    size_t i, j;
    int64_t start = 0, end = 0;
    json_t *o;
    for (i = first; i < first + count; i++) {
        const hark_segment *g = hark_transcript_segment(t, i);
        json_t *words = json_array();
        for (j = 0; j < g->n_words; j++) {
            const hark_word *w = &g->words[j];
            json_array_append_new(words, json_pack("{s:s,s:I,s:I,s:f}", "word", w->text, "start_ms",
                                                   (json_int_t)(w->start / 16), "end_ms",
                                                   (json_int_t)(w->end / 16), "p", (double)w->p));
            json_array_append_new(vres,
                                  json_pack("{s:f,s:f,s:f,s:s}", "conf", (double)w->p, "start",
                                            (double)w->start / HARK_SAMPLE_RATE, "end",
                                            (double)w->end / HARK_SAMPLE_RATE, "word", w->text));
        }
        json_array_append_new(
            segs, json_pack("{s:I,s:I,s:s,s:o}", "start_ms", (json_int_t)(g->start / 16), "end_ms",
                            (json_int_t)(g->end / 16), "text", g->text, "words", words));
        if (i == first)
            start = g->start;
        end = g->end;
        {
            const char *tx = g->text;
            while (*tx == ' ')
                tx++;
            if (*tx)
                hark_buf_printf(&text, "%s%s", text.len ? " " : "", tx);
        }
    }
    o = json_pack("{s:s,s:i,s:I,s:I,s:s,s:o}", "type", "final", "utterance", (int)utt, "start_ms",
                  (json_int_t)(start / 16), "end_ms", (json_int_t)(end / 16), "text",
                  text.ptr ? text.ptr : "", "segments", segs);
    *vosk = json_pack("{s:o,s:s}", "result", vres, "text", text.ptr ? text.ptr : "");
    hark_buf_dispose(&text);
    return o;
}

static void on_final(uint32_t utt, const hark_transcript *t, size_t first, size_t count,
                     const char *error, int last, void *payload)
{
    live_session *x = payload;
    live_msg *m = hark__calloc(1, sizeof(*m));
    json_t *o, *vosk = NULL;
    if (!m)
        return;
    memcpy(m->id, x->id, sizeof(m->id));
    m->utt = utt;
    if (last) {
        m->kind = 2;
        srv_post_live(x->s, m);
        return;
    }
    m->kind = 1;
    if (error)
        srv_log(x->s, 1, "live session %s: %s", x->id, error);
    if (count) { /* stored before anyone hears of it */
        int rc = hark_store_segments_put(x->s->store, x->recording, t, first, count,
                                         (int64_t)utt * SEG_PER_UTT);
        if (rc < 0)
            srv_log(x->s, 0, "live session %s: storing utterance %u: %s", x->id, utt,
                    hark_error_last());
    }
    o = final_json(utt, t, first, count, &vosk);
    m->json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    m->vosk_json = vosk ? json_dumps(vosk, JSON_COMPACT) : NULL;
    json_decref(o);
    json_decref(vosk);
    srv_post_live(x->s, m);
}

/* ---- messages on the loop -------------------------------------------------------------------- */

static void finish_session(live_session *x);

void srv_live_message(srv *s, void *msg)
{
    live_msg *m = msg;
    live_session *x = find(m->id);
    (void)s;
    if (x) {
        ws_conn *c = x->client;
        if (m->kind == 0) {
            if (x->vosk) {
                hark__free(x->vosk_partial);
                x->vosk_partial = m->vosk_json;
                m->vosk_json = NULL;
            } else if (c && m->json) {
                send_text(c, m->json);
            }
        } else if (m->kind == 1) {
            x->utts_done = m->utt + 1;
            if (x->vosk) {
                if (m->vosk_json)
                    hark_buf_printf(&x->vosk_results, "%s\n", m->vosk_json);
                hark__free(x->vosk_partial);
                x->vosk_partial = NULL;
            } else if (c && m->json && (int64_t)m->utt > x->sent_final) {
                send_text(c, m->json);
                x->sent_final = m->utt;
            }
        } else {
            x->finished = 1;
            finish_session(x);
        }
    }
    hark__free(m->json);
    hark__free(m->vosk_json);
    hark__free(m);
}

void srv_live_message_free(void *msg)
{
    live_msg *m = msg;
    hark__free(m->json);
    hark__free(m->vosk_json);
    hark__free(m);
}

/* ---- durability (offload thread) --------------------------------------------------------------
 */

typedef struct fsync_job {
    live_session *x;
    int fd;
    uint64_t target;
    int rc;
} fsync_job;

static void fsync_work(void *arg)
{
    fsync_job *j = arg;
    j->rc = fdatasync(j->fd);
}

static void schedule_fsync(live_session *x);

static void fsync_done(void *arg)
{
    fsync_job *j = arg;
    live_session *x = j->x;
    x->fsync_busy = 0;
    if (j->rc != 0) {
        x->fsync_failed = 1;
        srv_log(x->s, 0, "live session %s: cannot make audio durable: %s", x->id, strerror(errno));
        if (x->client)
            close_with(x->client, 1011, "storage", "the server cannot store audio");
    } else if (j->target > x->durable_seq) {
        x->durable_seq = j->target;
        if (x->client && !x->vosk)
            send_json(x->client,
                      json_pack("{s:s,s:I}", "type", "ack", "seq", (json_int_t)x->durable_seq));
    }
    if (!x->dead && x->last_seq > x->durable_seq && !x->fsync_failed)
        schedule_fsync(x);
    else if (!x->dead && x->finish_pending)
        finish_session(x); /* every frame is acknowledged: now `end` */
    hark__free(j);
    sess_unref(x);
}

static void schedule_fsync(live_session *x)
{
    fsync_job *j;
    if (x->fsync_busy || x->fd < 0)
        return;
    if (!(j = hark__calloc(1, sizeof(*j))))
        return;
    j->x = x;
    j->fd = x->fd;
    j->target = x->last_seq;
    x->fsync_busy = 1;
    x->refs++;
    srv_offload_fn(x->s, fsync_work, fsync_done, j);
}

/* ---- sessions
 * ------------------------------------------------------------------------------------ */

static int make_swr(live_session *x)
{
    AVChannelLayout in, out = AV_CHANNEL_LAYOUT_MONO;
    av_channel_layout_default(&in, x->channels);
    if (swr_alloc_set_opts2(&x->swr, &out, AV_SAMPLE_FMT_FLT, HARK_SAMPLE_RATE, &in,
                            x->fmt == FMT_F32 ? AV_SAMPLE_FMT_FLT : AV_SAMPLE_FMT_S16, x->rate, 0,
                            NULL) < 0 ||
        swr_init(x->swr) < 0)
        return -1;
    return 0;
}

/* Feed 16 kHz mono samples: to the file (a record) and the stream. */
static int take_audio(live_session *x, uint64_t seq, const float *pcm, size_t n, int write_file)
{
    if (write_file && x->fd >= 0) {
        size_t i, len = REC_HDR + n * 2;
        uint8_t *rec = hark__malloc(len);
        ssize_t w;
        uint32_t nn = (uint32_t)n;
        if (!rec)
            return -1;
        memcpy(rec, &seq, 8);
        memcpy(rec + 8, &nn, 4);
        for (i = 0; i < n; i++) {
            float v = pcm[i] * 32768.0f;
            int16_t s16 = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : (int)lrintf(v));
            memcpy(rec + REC_HDR + 2 * i, &s16, 2);
        }
        w = write(x->fd, rec, len);
        hark__free(rec);
        if (w != (ssize_t)len)
            return -1;
    }
    return hark_live_feed(x->live, pcm, n);
}

/* ---- sessions
 * ------------------------------------------------------------------------------------ */

static void random_id(char out[33])
{
    uint8_t b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
    if (fd >= 0)
        close(fd);
    if (r != (ssize_t)sizeof(b)) { /* no urandom: time and address, still unique here */
        uint64_t t = hark__now_ns(), a = (uint64_t)(uintptr_t)out;
        memcpy(b, &t, 8);
        memcpy(b + 8, &a, 8);
    }
    hark_hex(out, b, 16);
}

static live_session *session_add(srv *s, const char *id, int64_t owner, int vosk)
{
    live_session *x = hark__calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->s = s;
    x->fd = -1;
    x->refs = 1;
    x->sent_final = -1;
    x->owner = owner;
    x->vosk = vosk;
    snprintf(x->id, sizeof(x->id), "%s", id);
    snprintf(x->path, sizeof(x->path), "%.4000s/live/%s.pcm", s->data_dir, x->id);
    x->next = sessions;
    x->pprev = &sessions;
    if (sessions)
        sessions->pprev = &x->next;
    sessions = x;
    return x;
}

static int session_start_stream(live_session *x, int64_t skip_below)
{
    hark_live_options lo;
    hark_live_options_default(&lo);
    lo.scheduler = x->s->sched;
    lo.partial = on_partial;
    lo.final = on_final;
    lo.payload = x;
    lo.skip_below = skip_below;
    return hark_live_begin(&x->live, x->s->engine, &lo);
}

static void session_close(live_session *x)
{
    if (x->dead)
        return;
    x->dead = 1;
    if (x->client) {
        x->client->sess = NULL;
        x->client = NULL;
    }
    sess_unref(x);
}

/* A new session: its recording, its identity in the store, its audio file. */
static int session_create(live_session *x, const char *title, char *err, size_t n)
{
    srv *s = x->s;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_buf options = HARK_BUF_INIT, model = HARK_BUF_INIT, dir = HARK_BUF_INIT;
    char meta[256], key[48];
    int rc;

    hark_buf_printf(&dir, "%s/live", s->data_dir);
    if (!dir.ptr || (mkdir(dir.ptr, 0700) != 0 && errno != EEXIST)) {
        snprintf(err, n, "cannot create the session folder: %s", strerror(errno));
        hark_buf_dispose(&dir);
        return -1;
    }
    hark_buf_dispose(&dir);
    if ((rc = hark_runner_describe(s->runner, NULL, &options, &model)) < 0)
        goto fail;
    rec.title = title && *title ? title : "live session";
    rec.source = "live";
    rec.engine = hark_engine_name(s->engine);
    rec.model = model.ptr;
    rec.options = options.ptr;
    rec.status = HARK_STATUS_RUNNING;
    rec.owner = x->owner;
    rec.audio_path = x->path;
    if ((rc = hark_store_recording_create(s->store, &rec, &x->recording)) < 0)
        goto fail;
    snprintf(meta, sizeof(meta),
             "{\"recording\":%lld,\"owner\":%lld,\"rate\":%d,\"channels\":%d,\"format\":%d}",
             (long long)x->recording, (long long)x->owner, x->rate, x->channels, x->fmt);
    snprintf(key, sizeof(key), "live.%s", x->id);
    if ((rc = hark_store_setting_set(s->store, key, meta)) < 0)
        goto fail;
    x->fd = open(x->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (x->fd < 0) {
        snprintf(err, n, "cannot create %.300s: %s", x->path, strerror(errno));
        goto out_err;
    }
    if (make_swr(x) < 0 || session_start_stream(x, 0) < 0) {
        snprintf(err, n, "cannot start the stream: %s", hark_error_last());
        goto out_err;
    }
    hark_buf_dispose(&options);
    hark_buf_dispose(&model);
    return 0;
fail:
    snprintf(err, n, "%s", hark_error_last());
out_err:
    hark_buf_dispose(&options);
    hark_buf_dispose(&model);
    return -1;
}

/* A session this process does not know (it crashed, or restarted): rebuild it from the store
 * and its audio file. -1 with err when it does not exist (or is not the caller's). */
static live_session *session_recover(srv *s, const char *id, const srv_principal *who,
                                     int64_t last_final, char *err, size_t n)
{
    hark_buf meta = HARK_BUF_INIT, done = HARK_BUF_INIT;
    json_t *o = NULL;
    live_session *x = NULL;
    char key[64];
    int64_t owner, done_utts = 0, good = 0;
    uint8_t hdr[REC_HDR];
    float *pcm = NULL;
    int16_t *s16 = NULL;
    size_t cap = 0;

    snprintf(key, sizeof(key), "live.%s", id);
    if (strlen(id) != 32 || hark_store_setting_get(s->store, key, &meta) < 0 || !meta.ptr ||
        !(o = json_loads(meta.ptr, 0, NULL))) {
        snprintf(err, n, "no live session %.40s", id);
        goto fail;
    }
    owner = json_integer_value(json_object_get(o, "owner"));
    if (!who->admin && owner != who->user) {
        snprintf(err, n, "no live session %.40s", id);
        goto fail;
    }
    if (json_integer_value(json_object_get(o, "finished"))) {
        snprintf(err, n, "live session %.40s has ended", id);
        goto fail;
    }
    snprintf(key, sizeof(key), "live.%s.done", id);
    if (hark_store_setting_get(s->store, key, &done) == 0 && done.ptr)
        done_utts = atoll(done.ptr);
    if (!(x = session_add(s, id, owner, 0)))
        goto fail;
    x->recording = json_integer_value(json_object_get(o, "recording"));
    x->rate = (int)json_integer_value(json_object_get(o, "rate"));
    x->channels = (int)json_integer_value(json_object_get(o, "channels"));
    x->fmt = (int)json_integer_value(json_object_get(o, "format"));
    x->fd = open(x->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (x->fd < 0 || make_swr(x) < 0 ||
        session_start_stream(x, HARK_MIN(done_utts, last_final + 1)) < 0) {
        snprintf(err, n, "cannot reopen live session %.40s: %s", id,
                 x->fd < 0 ? strerror(errno) : hark_error_last());
        goto fail;
    }
    /* read the records back; a torn last one (a crash mid-write) is cut off */
    for (;;) {
        uint64_t seq;
        uint32_t ns, i;
        if (pread(x->fd, hdr, REC_HDR, good) != REC_HDR)
            break;
        memcpy(&seq, hdr, 8);
        memcpy(&ns, hdr + 8, 4);
        if (ns > WS_MAX_FRAME || seq != x->last_seq + 1)
            break;
        if (ns > cap) {
            cap = ns;
            hark__free(pcm);
            hark__free(s16);
            pcm = hark__malloc(cap * sizeof(float));
            s16 = hark__malloc(cap * sizeof(int16_t));
            if (!pcm || !s16)
                goto fail;
        }
        if (pread(x->fd, s16, ns * 2, good + REC_HDR) != (ssize_t)(ns * 2))
            break;
        for (i = 0; i < ns; i++)
            pcm[i] = (float)s16[i] / 32768.0f;
        if (take_audio(x, seq, pcm, ns, 0) < 0)
            goto fail;
        x->last_seq = seq;
        good += REC_HDR + (int64_t)ns * 2;
    }
    if (ftruncate(x->fd, good) != 0 || fdatasync(x->fd) != 0) {
        snprintf(err, n, "cannot repair live session %.40s: %s", id, strerror(errno));
        goto fail;
    }
    x->durable_seq = x->last_seq;
    x->utts_done = (uint32_t)done_utts;
    x->sent_final = last_final;
    srv_log(s, 2, "live session %s recovered from disk: %llu frames, %lld utterances stored", id,
            (unsigned long long)x->last_seq, (long long)done_utts);
    hark__free(pcm);
    hark__free(s16);
    json_decref(o);
    hark_buf_dispose(&meta);
    hark_buf_dispose(&done);
    return x;
fail:
    if (!err[0])
        snprintf(err, n, "%s", hark_error_last());
    hark__free(pcm);
    hark__free(s16);
    json_decref(o);
    hark_buf_dispose(&meta);
    hark_buf_dispose(&done);
    if (x)
        session_close(x);
    return NULL;
}

/* Everything is final: mark the recording done, say so, close. */
static void finish_session(live_session *x)
{
    srv *s = x->s;
    hark_recording *rec = NULL;
    char key[64];
    ws_conn *c = x->client;
    if ((x->fsync_busy || x->last_seq > x->durable_seq) && !x->fsync_failed) {
        x->finish_pending = 1; /* the last ack goes out before `end` */
        schedule_fsync(x);
        return;
    }
    x->finish_pending = 0;
    if (hark_store_recording_get(s->store, x->recording, &rec) == 0) {
        rec->status = HARK_STATUS_DONE;
        rec->duration_ms = hark_live_samples(x->live) / (HARK_SAMPLE_RATE / 1000);
        if (hark_store_recording_update(s->store, rec) < 0)
            srv_log(s, 0, "live session %s: %s", x->id, hark_error_last());
    }
    hark_recording_free(rec);
    snprintf(key, sizeof(key), "live.%s", x->id);
    {
        char meta[256];
        snprintf(meta, sizeof(meta),
                 "{\"recording\":%lld,\"owner\":%lld,\"rate\":%d,\"channels\":%d,\"format\":%d,"
                 "\"finished\":1}",
                 (long long)x->recording, (long long)x->owner, x->rate, x->channels, x->fmt);
        hark_store_setting_set(s->store, key, meta);
    }
    srv_log(s, 2, "live session %s finished: recording %lld, %u utterances", x->id,
            (long long)x->recording, x->utts_done);
    if (c) {
        if (x->vosk) {
            /* Vosk answers eof with the final result of what is left */
            hark_buf text = HARK_BUF_INIT;
            char *line = x->vosk_results.ptr, *nl;
            json_t *res = json_array();
            while (line && (nl = strchr(line, '\n')) != NULL) {
                json_t *o;
                *nl = '\0';
                if ((o = json_loads(line, 0, NULL)) != NULL) {
                    const char *t = json_string_value(json_object_get(o, "text"));
                    json_array_extend(res, json_object_get(o, "result"));
                    if (t && *t)
                        hark_buf_printf(&text, "%s%s", text.len ? " " : "", t);
                    json_decref(o);
                }
                line = nl + 1;
            }
            hark_buf_clear(&x->vosk_results);
            send_json(c, json_pack("{s:o,s:s}", "result", res, "text", text.ptr ? text.ptr : ""));
            hark_buf_dispose(&text);
        } else {
            send_json(c, json_pack("{s:s,s:i,s:I}", "type", "end", "utterances", (int)x->utts_done,
                                   "recording", (json_int_t)x->recording));
        }
        close_with(c, 1000, NULL, "done");
    }
    session_close(x);
}

/* ---- frames from the client
 * ------------------------------------------------------------------------ */

static int parse_config(ws_conn *c, json_t *o)
{
    srv *s = c->s;
    json_t *v, *resume;
    live_session *x;
    char err[512] = "";
    const char *fmt = NULL, *title = NULL, *language = NULL;
    int rate = 16000, channels = 1;
    (void)language;

    if (c->vosk) { /* {"config": {"sample_rate": 16000}} */
        json_t *cfg = json_object_get(o, "config");
        if ((v = json_object_get(cfg, "sample_rate")) && json_is_number(v))
            rate = (int)json_number_value(v);
    } else {
        if ((v = json_object_get(o, "key")) && json_is_string(v) && c->need_key) {
            uint8_t d[32];
            hark_api_key *k = NULL;
            const char *tok = json_string_value(v);
            if (hark_key_digest(tok, strlen(tok), d) < 0 ||
                hark_store_key_lookup(s->store, d, &k) < 0 || k->revoked_ms) {
                hark_api_key_free(k);
                close_with(c, 1008, "unauthorized",
                           "the API key is not valid (unknown or revoked)");
                return -1;
            }
            c->who.key = k->id;
            c->who.user = k->user;
            c->who.admin = k->admin;
            c->need_key = 0;
            hark_api_key_free(k);
        }
        if ((v = json_object_get(o, "sample_rate")) && json_is_integer(v))
            rate = (int)json_integer_value(v);
        if ((v = json_object_get(o, "channels")) && json_is_integer(v))
            channels = (int)json_integer_value(v);
        fmt = json_string_value(json_object_get(o, "format"));
        title = json_string_value(json_object_get(o, "title"));
        language = json_string_value(json_object_get(o, "language"));
    }
    if (c->need_key) {
        close_with(c, 1008, "unauthorized",
                   "an API key is needed: send it in the Authorization header or as \"key\" in "
                   "the config message");
        return -1;
    }
    if (rate < 8000 || rate > 192000 || channels < 1 || channels > 2 ||
        (fmt && strcmp(fmt, "s16le") && strcmp(fmt, "f32le"))) {
        close_with(c, 1003, "bad_config",
                   "sample_rate must be 8000 to 192000, channels 1 or 2, format s16le or f32le");
        return -1;
    }
    resume = json_object_get(o, "resume");
    if (resume && !c->vosk) {
        const char *id = json_string_value(json_object_get(resume, "session"));
        json_t *lf = json_object_get(resume, "last_final");
        int64_t last_final = json_is_integer(lf) ? json_integer_value(lf) : -1;
        if (!id) {
            close_with(c, 1007, "bad_config", "resume needs \"session\"");
            return -1;
        }
        x = find(id);
        if (x && !c->who.admin && x->owner != c->who.user)
            x = NULL;
        if (!x && !(x = session_recover(s, id, &c->who, last_final, err, sizeof(err)))) {
            close_with(c, 1008, "unknown_session", err);
            return -1;
        }
        if (x->client) { /* the old connection is replaced */
            ws_conn *old = x->client;
            old->sess = NULL;
            close_with(old, 1008, "replaced", "this session was resumed on another connection");
        }
        x->client = c;
        x->detached_ms = 0;
        c->sess = x;
        x->refs++;
        sess_unref(x);
        send_json(c, json_pack("{s:s,s:s,s:I,s:I,s:b}", "type", "ready", "session", x->id,
                               "recording", (json_int_t)x->recording, "ack",
                               (json_int_t)x->durable_seq, "resumed", 1));
        /* finals the client has not seen: those still in memory were sent as they came;
         * re-send is handled by re-transcription (recovered sessions) or by the store */
        if (last_final < x->sent_final)
            x->sent_final = last_final;
        return 0;
    }
    {
        char id[33];
        random_id(id);
        if (!(x = session_add(s, id, c->who.user, c->vosk))) {
            close_with(c, 1011, "internal", "out of memory");
            return -1;
        }
    }
    x->rate = rate;
    x->channels = channels;
    x->fmt = fmt && !strcmp(fmt, "f32le") ? FMT_F32 : FMT_S16;
    if (session_create(x, title, err, sizeof(err)) < 0) {
        srv_log(s, 0, "live session: %s", err);
        session_close(x);
        close_with(c, 1011, "internal", err);
        return -1;
    }
    x->client = c;
    c->sess = x;
    srv_log(s, 2, "live session %s started: recording %lld, %d Hz, %d channel(s)%s", x->id,
            (long long)x->recording, rate, channels, c->vosk ? ", Vosk protocol" : "");
    if (!c->vosk)
        send_json(c, json_pack("{s:s,s:s,s:I,s:i,s:b}", "type", "ready", "session", x->id,
                               "recording", (json_int_t)x->recording, "ack", 0, "resumed", 0));
    return 0;
}

static void on_audio(ws_conn *c, const uint8_t *data, size_t len)
{
    live_session *x = c->sess;
    uint64_t seq;
    const uint8_t *pcm;
    size_t bytes, frames, bps;
    float *out = NULL;
    int got;

    if (!x) {
        close_with(c, 1003, "no_config", "send the config message before audio");
        return;
    }
    if (c->vosk) {
        seq = x->last_seq + 1;
        pcm = data;
        bytes = len;
    } else {
        if (len < 8) {
            close_with(c, 1007, "bad_frame",
                       "an audio frame starts with an 8-byte sequence number");
            return;
        }
        memcpy(&seq, data, 8);
        pcm = data + 8;
        bytes = len - 8;
        if (seq <= x->last_seq) { /* a resend of a frame we have: acknowledge, ignore */
            if (seq <= x->durable_seq)
                send_json(c,
                          json_pack("{s:s,s:I}", "type", "ack", "seq", (json_int_t)x->durable_seq));
            return;
        }
        if (seq != x->last_seq + 1) {
            char msg[128];
            snprintf(msg, sizeof(msg), "frame %llu after %llu: sequence numbers must grow by one",
                     (unsigned long long)seq, (unsigned long long)x->last_seq);
            close_with(c, 1007, "bad_sequence", msg);
            return;
        }
    }
    if (x->ended) {
        close_with(c, 1007, "after_end", "audio after the end message");
        return;
    }
    bps = (size_t)x->channels * (x->fmt == FMT_F32 ? 4 : 2);
    if (bytes % bps) {
        close_with(c, 1007, "bad_frame", "a frame must hold whole samples of every channel");
        return;
    }
    frames = bytes / bps;
    out = hark__malloc((frames * HARK_SAMPLE_RATE / (size_t)x->rate + 64) * sizeof(float));
    if (!out) {
        close_with(c, 1011, "internal", "out of memory");
        return;
    }
    {
        uint8_t *o8 = (uint8_t *)out;
        const uint8_t *in8 = pcm;
        got = swr_convert(x->swr, &o8, (int)(frames * HARK_SAMPLE_RATE / (size_t)x->rate + 64),
                          &in8, (int)frames);
    }
    if (got < 0 || take_audio(x, seq, out, (size_t)got, 1) < 0) {
        hark__free(out);
        srv_log(c->s, 0, "live session %s: cannot take audio: %s", x->id, strerror(errno));
        close_with(c, 1011, "storage", "the server cannot store audio");
        return;
    }
    hark__free(out);
    x->last_seq = seq;
    schedule_fsync(x);
    if (c->vosk) { /* Vosk answers every message */
        char *nl = x->vosk_results.ptr ? strchr(x->vosk_results.ptr, '\n') : NULL;
        if (nl) {
            size_t n = (size_t)(nl - x->vosk_results.ptr);
            char *line = hark__strndup(x->vosk_results.ptr, n);
            memmove(x->vosk_results.ptr, nl + 1, x->vosk_results.len - n);
            x->vosk_results.len -= n + 1;
            if (line)
                send_text(c, line);
            hark__free(line);
        } else {
            send_text(c, x->vosk_partial ? x->vosk_partial : "{\"partial\":\"\"}");
        }
    } else if (hark_live_backlog(x->live) > 2 && hark__now_ms() - x->slow_sent_ms > 1000) {
        x->slow_sent_ms = hark__now_ms();
        send_json(c, json_pack("{s:s,s:i}", "type", "slow_down", "backlog_utterances",
                               (int)hark_live_backlog(x->live)));
    }
}

static void on_text(ws_conn *c, const uint8_t *data, size_t len)
{
    json_error_t e;
    json_t *o = json_loadb((const char *)data, len, 0, &e);
    const char *type;
    if (!o || !json_is_object(o)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid JSON message: %s", o ? "not an object" : e.text);
        json_decref(o);
        close_with(c, 1007, "invalid_json", msg);
        return;
    }
    type = json_string_value(json_object_get(o, "type"));
    if (c->vosk && json_object_get(o, "eof")) {
        type = "end";
    } else if (c->vosk && json_object_get(o, "config")) {
        type = "config";
    }
    if (!c->sess && (!type || !strcmp(type, "config"))) {
        parse_config(c, o);
    } else if (type && !strcmp(type, "end") && c->sess) {
        live_session *x = c->sess;
        if (!x->ended) {
            x->ended = 1;
            if (hark_live_end(x->live) < 0)
                close_with(c, 1011, "internal", hark_error_last());
        }
    } else if (!c->sess) {
        close_with(c, 1003, "no_config", "the first message must be the config");
    } else {
        close_with(c, 1007, "unknown_message", "unknown message type");
    }
    json_decref(o);
}

/* ---- wslay glue
 * -------------------------------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *u)
{
    ws_conn *c = u;
    ssize_t r;
    (void)flags;
    if (c->extra_off < c->extra_len) { /* bytes MHD read past the upgrade request */
        size_t n = HARK_MIN(len, c->extra_len - c->extra_off);
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += n;
        return (ssize_t)n;
    }
    r = recv(c->fd, buf, len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *u)
{
    ws_conn *c = u;
    ssize_t r = send(c->fd, data, len, MSG_NOSIGNAL);
    (void)flags;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static void ws_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *u)
{
    ws_conn *c = u;
    (void)ctx;
    if (c->closing || wslay_is_ctrl_frame(a->opcode))
        return;
    if (a->opcode == WSLAY_BINARY_FRAME)
        on_audio(c, a->msg, a->msg_length);
    else
        on_text(c, a->msg, a->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = { ws_recv, ws_send, NULL,  NULL,
                                                           NULL,    NULL,    ws_msg };

static void ws_free(ws_conn *c)
{
    srv *s = c->s;
    live_session *x = c->sess;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (x) { /* the session goes on without a client */
        x->client = NULL;
        x->detached_ms = hark__now_ms();
        srv_live_arm_idle(s);
    }
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    wslay_event_context_free(c->ctx);
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE); /* MHD closes the socket */
    hark__free(c->extra);
    hark__free(c);
}

static void ws_update(ws_conn *c)
{
    uint32_t ev = 0;
    struct epoll_event e;
    if (wslay_event_want_read(c->ctx))
        ev |= EPOLLIN;
    if (wslay_event_want_write(c->ctx))
        ev |= EPOLLOUT;
    if (!ev) {
        ws_free(c);
        return;
    }
    if (ev == c->epoll_events)
        return;
    memset(&e, 0, sizeof(e));
    e.events = ev;
    e.data.ptr = c;
    epoll_ctl(c->s->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->epoll_events = ev;
}

void srv_ws_io(void *conn, uint32_t events)
{
    ws_conn *c = conn;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && wslay_event_recv(c->ctx) != 0) {
        wslay_event_shutdown_read(c->ctx);
        wslay_event_shutdown_write(c->ctx);
    }
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0) {
        wslay_event_shutdown_read(c->ctx);
        wslay_event_shutdown_write(c->ctx);
    }
    if (c->close_code && wslay_event_get_queued_msg_count(c->ctx) == 0) {
        close_now(c);
        if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
            wslay_event_shutdown_write(c->ctx);
    }
    ws_update(c);
}

typedef struct upgrade_ctx {
    srv *s;
    srv_principal who;
    int need_key, vosk;
} upgrade_ctx;

static void upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
                     size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    upgrade_ctx *u = cls;
    srv *s = u->s;
    ws_conn *c = hark__calloc(1, sizeof(*c));
    struct epoll_event e;
    (void)conn;
    (void)req_cls;
    if (!c || (extra_len && !(c->extra = hark__malloc(extra_len))) ||
        wslay_event_context_server_init(&c->ctx, &ws_callbacks, c) != 0) {
        if (c)
            hark__free(c->extra);
        hark__free(c);
        hark__free(u);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    c->tag = 5; /* TAG_WS */
    c->s = s;
    c->fd = sock;
    c->urh = urh;
    c->who = u->who;
    c->need_key = u->need_key;
    c->vosk = u->vosk;
    hark__free(u);
    if (extra_len)
        memcpy(c->extra, extra, extra_len);
    c->extra_len = extra_len;
    wslay_event_config_set_max_recv_msg_length(c->ctx, WS_MAX_FRAME + 8);
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    c->next = conns;
    c->pprev = &conns;
    if (conns)
        conns->pprev = &c->next;
    conns = c;
    memset(&e, 0, sizeof(e));
    e.events = EPOLLIN;
    e.data.ptr = c;
    c->epoll_events = EPOLLIN;
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, sock, &e);
    if (extra_len)
        srv_ws_io(c, EPOLLIN);
}

static void accept_key(const char *key, char out[64])
{
    char buf[160];
    unsigned char sha[SHA_DIGEST_LENGTH];
    snprintf(buf, sizeof(buf), "%.100s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    SHA1((const unsigned char *)buf, strlen(buf), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

static void upgrade(srv_req *q, int vosk)
{
    const char *key = srv_hdr(q, "Sec-WebSocket-Key");
    const char *up = srv_hdr(q, "Upgrade");
    const char *ver = srv_hdr(q, "Sec-WebSocket-Version");
    upgrade_ctx *u;
    char acc[64];
    if (!up || strcasecmp(up, "websocket") || !key || strlen(key) > 64) {
        srv_error(q, 426, "upgrade_required",
                  "%s is a WebSocket endpoint: send Upgrade: websocket (see docs/live.md)", q->url);
        srv_header(q, "Upgrade", "websocket");
        return;
    }
    if (!ver || strcmp(ver, "13")) {
        srv_error(q, 426, "upgrade_required", "only WebSocket version 13 is supported");
        srv_header(q, "Sec-WebSocket-Version", "13");
        return;
    }
    if (q->s->stopping) {
        srv_error(q, 503, "shutting_down", "the server is shutting down");
        return;
    }
    if (!q->s->sched) {
        srv_error(q, 503, "no_workers",
                  "this node runs no ASR workers (workers = 0, API only): live sessions need a "
                  "node with workers");
        return;
    }
    if (!(u = hark__calloc(1, sizeof(*u)))) {
        srv_error(q, 503, "out_of_memory", "out of memory");
        return;
    }
    u->s = q->s;
    u->who = q->who;
    u->need_key = q->who.pending;
    u->vosk = vosk;
    accept_key(key, acc);
    if (q->resp)
        MHD_destroy_response(q->resp);
    q->resp = MHD_create_response_for_upgrade(upgraded, u);
    if (!q->resp) {
        hark__free(u);
        srv_error(q, 503, "out_of_memory", "out of memory");
        return;
    }
    q->status = 101;
    q->upgrade = 1;
    MHD_add_response_header(q->resp, "Upgrade", "websocket");
    MHD_add_response_header(q->resp, "Connection", "Upgrade");
    MHD_add_response_header(q->resp, "Sec-WebSocket-Accept", acc);
}

void srv_live_route(srv_req *q)
{
    upgrade(q, 0);
}

void srv_live_vosk_route(srv_req *q)
{
    upgrade(q, 1);
}

/* ---- idle sessions and shutdown
 * ------------------------------------------------------------------ */

void srv_live_arm_idle(srv *s)
{
    live_session *x;
    double first = 0;
    struct itimerspec its;
    if (idle_fd < 0)
        return;
    for (x = sessions; x; x = x->next)
        if (!x->dead && !x->client && x->detached_ms && (!first || x->detached_ms < first))
            first = x->detached_ms;
    memset(&its, 0, sizeof(its));
    if (first) {
        double d = first + (double)s->cfg.live_idle_ms - hark__now_ms();
        if (d < 1)
            d = 1;
        its.it_value.tv_sec = (time_t)(d / 1000);
        its.it_value.tv_nsec = (long)((d - (double)its.it_value.tv_sec * 1000) * 1e6);
    }
    timerfd_settime(idle_fd, 0, &its, NULL);
}

void srv_live_idle(srv *s)
{
    live_session *x, *next;
    uint64_t v;
    double now = hark__now_ms();
    ssize_t r = read(idle_fd, &v, sizeof(v));
    (void)r;
    for (x = sessions; x; x = next) {
        next = x->next;
        if (!x->dead && !x->client && x->detached_ms &&
            now - x->detached_ms >= (double)s->cfg.live_idle_ms) {
            srv_log(s, 2, "live session %s: no client for %llu ms: finishing it", x->id,
                    (unsigned long long)s->cfg.live_idle_ms);
            x->detached_ms = 0;
            if (!x->ended) {
                x->ended = 1;
                hark_live_end(x->live); /* the last callback finishes it */
            }
        }
    }
    srv_live_arm_idle(s);
}

int srv_live_init(srv *s)
{
    (void)s;
    idle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return idle_fd;
}

void srv_live_shutdown(srv *s)
{
    ws_conn *c, *next;
    live_session *x;
    for (c = conns; c; c = next) {
        next = c->next;
        close_with(c, 1001, "shutting_down", "the server is shutting down: resume later");
    }
    /* sessions keep their audio and identity on disk: a client resumes them after the
     * restart; stop their streams now (no callback after this) */
    for (x = sessions; x; x = x->next) {
        hark_live_free(x->live);
        x->live = NULL;
    }
    (void)s;
}

int srv_live_has_clients(srv *s)
{
    (void)s;
    return conns != NULL;
}

/* The upgraded sockets belong to MHD: they are closed (MHD_upgrade_action) before
 * MHD_stop_daemon, which frees their handles. */
void srv_live_drop_clients(srv *s)
{
    ws_conn *c;
    (void)s;
    while ((c = conns) != NULL) {
        if (c->sess) {
            c->sess->client = NULL;
            c->sess = NULL;
        }
        ws_free(c);
    }
}

void srv_live_free(srv *s)
{
    srv_live_drop_clients(s);
    while (sessions) {
        live_session *x = sessions;
        x->dead = 1;
        x->refs = 1;
        sess_unref(x);
    }
    if (idle_fd >= 0)
        close(idle_fd);
    idle_fd = -1;
    (void)s;
}
