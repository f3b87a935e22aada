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
 * Sessions without a client for live_idle are finished.
 *
 * Untrusted input (text messages, frame headers, the record file read back)
 * is parsed by the pure functions of live_parse.c, which the fuzz targets
 * tests/fuzz/fuzz_live_*.c exercise.
 *
 * The end of a session: once every frame is durable and the last final is
 * out, "live.<id>" is marked finished and a thread of its own archives the
 * records as <data_dir>/live/<id>.flac (src/audio's FLAC writer: temporary
 * file, fsync, rename, fsync of the folder), points the recording at it and
 * marks it done, and only then removes the record file; `end` goes to the
 * client after that. A kill -9 at any point leaves the record file (and
 * maybe the complete FLAC): the next start removes the writer's temporary
 * files and archives every finished session whose record file is there
 * (scan_live_dir). A session that a crash interrupted and no client resumes
 * within live_idle after the start is rebuilt from disk and finished.
 *
 * Memory per session, whatever its length and the client's behaviour: the
 * stream's bound (hark/live.h); the socket's send queue, WS_OUT_MAX (a
 * client that does not read is reset once more is queued, the session goes
 * on); one message being received, at most SRV_LIVE_MAX_FRAME + 8 bytes
 * (wslay refuses longer ones, 1009); one record being written, the
 * resampled frame (at most SRV_LIVE_REC_MAX samples); Vosk: the finals
 * that came since the client's last message (each answer takes them all)
 * and one partial. Audio lives on disk; archiving streams it (one record
 * and the encoder's frame in memory). The test hook
 * HARK_TEST_LIVE_ARCHIVE_STALL holds an archive at one step (archive_stall)
 * for the crash tests.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include "live_parse.h"
#include "../audio/audio.h"

#define WS_OUT_MAX  (1u << 20) /* bytes queued to a client before it is dropped */
#define SEG_PER_UTT 1000       /* segment seq = utterance * 1000 + i */
#define FINALS_KEPT 64         /* finals kept for a client that resumes (per session) */

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
    int lookahead; /* VAD mode the session is cut with (hark_live_options.vad_lookahead) */
    struct SwrContext *swr;
    ws_conn *client;
    int64_t sent_final; /* highest utterance whose final went to the client, -1 none */
    uint32_t utts_done; /* finals delivered by the stream */
    int ended;          /* the client sent end */
    int finished;       /* the stream's last callback came */
    int finish_pending; /* finished, waiting for the last fsync before `end` */
    int archiving;      /* the audio is being archived; `end` follows */
    int dead;           /* closed: freed once refs drop to 0 */
    unsigned refs;
    double detached_ms; /* when the client went away, 0 = attached or never */
    double slow_sent_ms;
    int vosk;
    /* the last FINALS_KEPT finals (slot utt % FINALS_KEPT), for a client that resumes: those
     * sent on a connection that dropped, and those made while no client was there */
    struct {
        int64_t utt; /* valid when json is set */
        char *json;
    } kept[FINALS_KEPT];
    hark_buf vosk_results; /* Vosk: finals not yet answered, each a JSON line */
    char *vosk_partial;
    live_session *next, **pprev;
};

/* Messages from the stream's callbacks (worker threads) to the loop. */
typedef struct live_msg {
    char id[33];
    int kind; /* 0 partial, 1 final, 2 last, 3 an archive is over (job) */
    uint32_t utt;
    char *json;      /* hark protocol message */
    char *vosk_json; /* Vosk message (finals and partials) */
    void *job;       /* kind 3: its archive_job, owned by the `archives` list */
} live_msg;

/* ---- the registry --------------------------------------------------------------------------- */

static live_session *sessions; /* loop thread only */

/* Sessions a crash interrupted, found at start (scan_live_dir): a client may resume one; one
 * nobody resumes within live_idle is rebuilt from disk and finished as if its client had gone
 * (srv_live_idle). */
typedef struct orphan {
    char id[33];
    double since_ms;
    struct orphan *next;
} orphan;
static orphan *orphans;

/* Forget orphan `id` (a client resumed it, or it is being finished); whether it was one. */
static int orphan_take(const char *id)
{
    orphan **p, *o;
    for (p = &orphans; (o = *p) != NULL; p = &o->next)
        if (!strcmp(o->id, id)) {
            *p = o->next;
            hark__free(o);
            return 1;
        }
    return 0;
}
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
    size_t i;
    if (--x->refs)
        return;
    *x->pprev = x->next;
    if (x->next)
        x->next->pprev = x->pprev;
    hark_live_free(x->live);
    if (x->fd >= 0)
        close(x->fd);
    swr_free(&x->swr);
    for (i = 0; i < FINALS_KEPT; i++)
        hark__free(x->kept[i].json);
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
        /* the session goes on; the client may resume. Reset rather than close: the socket's
         * buffers go at once instead of waiting for a peer that does not read, and nothing
         * more from this client is taken (closing) */
        struct linger lg = { 1, 0 };
        srv_log(c->s, 1, "live session %s: the client is not reading; dropping the connection",
                c->sess ? c->sess->id : "-");
        c->closing = 1;
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        shutdown(c->fd, SHUT_RDWR);
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
static void archive_done(void *arg);

/* Keep a copy of utterance `utt`'s final for a client that resumes behind it. */
static void keep_final(live_session *x, uint32_t utt, const char *json)
{
    size_t k = utt % FINALS_KEPT;
    char *copy = hark__strdup(json);
    if (!copy)
        return; /* the client reads it from the store if it resumes behind it */
    hark__free(x->kept[k].json);
    x->kept[k].json = copy;
    x->kept[k].utt = utt;
}

/* A client resumed after `last_final`: send the finals it missed (they are all in the loop's
 * hands: utts_done counts the finals delivered here), the kept ones as they were, the older
 * ones as one `missed` message naming the range to read from the store. */
static const char *kept_final(const live_session *x, int64_t utt)
{
    size_t k = (size_t)(utt % FINALS_KEPT);
    return x->kept[k].json && x->kept[k].utt == utt ? x->kept[k].json : NULL;
}

static void resend_finals(live_session *x, ws_conn *c, int64_t last_final)
{
    int64_t u, gap_from = -1, done = (int64_t)x->utts_done;
    for (u = last_final + 1; u < done; u++) {
        const char *json = kept_final(x, u);
        if (json) {
            send_text(c, json);
            continue;
        }
        if (gap_from < 0)
            gap_from = u;
        if (u + 1 == done || kept_final(x, u + 1)) {
            send_json(c, json_pack("{s:s,s:I,s:I,s:I}", "type", "missed", "from_utterance",
                                   (json_int_t)gap_from, "to_utterance", (json_int_t)u, "recording",
                                   (json_int_t)x->recording));
            gap_from = -1;
        }
    }
    x->sent_final = HARK_MAX(done - 1, last_final);
}

void srv_live_message(srv *s, void *msg)
{
    live_msg *m = msg;
    live_session *x = m->kind == 3 ? NULL : find(m->id);
    (void)s;
    if (m->kind == 3)
        archive_done(m->job);
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
            } else if (m->json) {
                keep_final(x, m->utt, m->json);
                if (c && (int64_t)m->utt > x->sent_final) {
                    send_text(c, m->json);
                    x->sent_final = m->utt;
                }
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
        size_t i, len = SRV_LIVE_REC_HDR + n * 2;
        uint8_t *rec = hark__malloc(len);
        ssize_t w;
        if (!rec || n > SRV_LIVE_REC_MAX) {
            hark__free(rec);
            return -1;
        }
        for (i = 0; i < 8; i++) /* little-endian, as live_parse.c reads it */
            rec[i] = (uint8_t)(seq >> (8 * i));
        for (i = 0; i < 4; i++)
            rec[8 + i] = (uint8_t)(n >> (8 * i));
        for (i = 0; i < n; i++) {
            uint16_t v = (uint16_t)hark__pcm_to_s16(pcm[i]);
            rec[SRV_LIVE_REC_HDR + 2 * i] = (uint8_t)v;
            rec[SRV_LIVE_REC_HDR + 2 * i + 1] = (uint8_t)(v >> 8);
        }
        w = write(x->fd, rec, len);
        hark__free(rec);
        if (w != (ssize_t)len)
            return -1;
    }
    return hark_live_feed(x->live, pcm, n);
}

/*
 * Read the records of a session's audio file (open on `fd`) from the start, handing each one's
 * samples (16 kHz mono float) to fn. Stops at the end or at a torn or damaged record. Returns
 * the bytes of the whole records read, or -1 when fn failed, memory ran out or reading failed
 * (errno). *last_seq: the seq of the last record read (0: none).
 */
typedef int (*record_fn)(void *arg, uint64_t seq, const float *pcm, size_t n);

static int64_t read_records(int fd, record_fn fn, void *arg, uint64_t *last_seq)
{
    uint8_t hdr[SRV_LIVE_REC_HDR];
    uint8_t *raw = NULL;
    float *pcm = NULL;
    size_t cap = 0;
    int64_t good = 0;
    *last_seq = 0;
    for (;;) {
        uint64_t seq;
        uint32_t ns, i;
        ssize_t r = pread(fd, hdr, SRV_LIVE_REC_HDR, good);
        if (r < 0) {
            good = -1;
            break;
        }
        if (r != SRV_LIVE_REC_HDR || !srv_live_record_header(hdr, *last_seq, &seq, &ns))
            break;
        if (ns > cap) {
            hark__free(raw);
            hark__free(pcm);
            cap = ns;
            raw = hark__malloc(cap * 2);
            pcm = hark__malloc(cap * sizeof(float));
            if (!raw || !pcm) {
                good = -1;
                break;
            }
        }
        r = pread(fd, raw, (size_t)ns * 2, good + SRV_LIVE_REC_HDR);
        if (r < 0) {
            good = -1;
            break;
        }
        if (r != (ssize_t)ns * 2)
            break;
        for (i = 0; i < ns; i++)
            pcm[i] = (float)(int16_t)(uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8) / 32768.0f;
        if (fn(arg, seq, pcm, ns) < 0) {
            good = -1;
            break;
        }
        *last_seq = seq;
        good += SRV_LIVE_REC_HDR + (int64_t)ns * 2;
    }
    hark__free(raw);
    hark__free(pcm);
    return good;
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
    lo.streaming = x->s->cfg.live_streaming != 0;
    lo.vad_lookahead = x->lookahead;
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

/* The session's description in the store's settings (what a restart rebuilds it from). */
static int meta_put(live_session *x, int finished)
{
    char key[64], meta[256];
    int rc;
    snprintf(key, sizeof(key), "live.%s", x->id);
    snprintf(meta, sizeof(meta),
             "{\"recording\":%lld,\"owner\":%lld,\"rate\":%d,\"channels\":%d,\"format\":%d,"
             "\"lookahead\":%d%s}",
             (long long)x->recording, (long long)x->owner, x->rate, x->channels, x->fmt,
             x->lookahead, finished ? ",\"finished\":1" : "");
    if ((rc = hark_store_setting_set(x->s->store, key, meta)) < 0)
        srv_log(x->s, 0, "live session %s: %s", x->id, hark_error_last());
    return rc;
}

/* A new session: its recording, its identity in the store, its audio file. */
static int session_create(live_session *x, const char *title, char *err, size_t n)
{
    srv *s = x->s;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_buf options = HARK_BUF_INIT, model = HARK_BUF_INIT, dir = HARK_BUF_INIT;
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
    x->lookahead = s->cfg.live_lookahead != 0;
    if ((rc = meta_put(x, 0)) < 0)
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

static int refeed(void *arg, uint64_t seq, const float *pcm, size_t n)
{
    return take_audio(arg, seq, pcm, n, 0);
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

    snprintf(key, sizeof(key), "live.%s", id);
    if (!srv_live_id_valid(id) || hark_store_setting_get(s->store, key, &meta) < 0 || !meta.ptr ||
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
    /* the VAD the session was cut with, whatever the setting now: the utterances must come out
     * numbered as before (sessions from before the setting used the look-ahead VAD) */
    x->lookahead = json_object_get(o, "lookahead") == NULL ||
                   json_integer_value(json_object_get(o, "lookahead")) != 0;
    x->fd = open(x->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (x->fd < 0 || make_swr(x) < 0 ||
        session_start_stream(x, HARK_MIN(done_utts, last_final + 1)) < 0) {
        snprintf(err, n, "cannot reopen live session %.40s: %s", id,
                 x->fd < 0 ? strerror(errno) : hark_error_last());
        goto fail;
    }
    /* read the records back; a torn last one (a crash mid-write) is cut off */
    if ((good = read_records(x->fd, refeed, x, &x->last_seq)) < 0) {
        snprintf(err, n, "cannot read live session %.40s back: %s", id,
                 errno ? strerror(errno) : hark_error_last());
        goto fail;
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
    json_decref(o);
    hark_buf_dispose(&meta);
    hark_buf_dispose(&done);
    return x;
fail:
    if (!err[0])
        snprintf(err, n, "%s", hark_error_last());
    json_decref(o);
    hark_buf_dispose(&meta);
    hark_buf_dispose(&done);
    if (x)
        session_close(x);
    return NULL;
}

/* ---- archiving ------------------------------------------------------------------------------
 *
 * A finished session's audio file becomes <data_dir>/live/<id>.flac (src/audio's writer: temp
 * file, fsync, rename, fsync of the folder), the recording is marked done and pointed at it,
 * and only then is the audio file removed. The store setting "live.<id>" says "finished" before
 * any of it starts, so whatever a crash interrupts, the audio file is still there and the next
 * start (srv_live_init) runs the whole archive again: it is idempotent.
 */

typedef struct archive_job {
    srv *s;
    char id[33];
    int64_t recording;
    uint64_t samples;  /* the session's, for the duration when archiving fails (0: unknown) */
    uint64_t archived; /* samples in the FLAC */
    int64_t pcm_bytes, flac_bytes;
    double ms;
    int rc; /* 0 archived, 1 the recording is gone, -1 failed (err) */
    char err[512];
    pthread_t thread;
    struct archive_job *next, **pprev;
} archive_job;

static archive_job *archives; /* running (loop thread) */
static const char *stall_at;  /* test hook HARK_TEST_LIVE_ARCHIVE_STALL: see archive_stall */

/* Tests of crash safety stop the archive at one step, say so in the log and wait for kill -9:
 * "encode" (FLAC half written to its temporary file), "renamed" (FLAC in place, recording not
 * updated), "updated" (recording updated, audio file not removed yet). */
static void archive_stall(srv *s, const char *step, const char *id)
{
    if (!stall_at || strcmp(stall_at, step))
        return;
    srv_log(s, 1, "live session %s: archive stalled at %s (HARK_TEST_LIVE_ARCHIVE_STALL)", id,
            step);
    for (;;)
        sleep(60);
}

static void fsync_dir_of(const char *path)
{
    char dir[4200];
    const char *slash = strrchr(path, '/');
    int fd;
    if (!slash || (size_t)(slash - path) >= sizeof(dir))
        return;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(fd);
        close(fd);
    }
}

typedef struct archive_feed_ctx {
    hark_flac_writer *w;
    srv *s;
    const char *id;
    uint64_t records;
} archive_feed_ctx;

static int archive_feed(void *arg, uint64_t seq, const float *pcm, size_t n)
{
    archive_feed_ctx *a = arg;
    (void)seq;
    if (++a->records == 2)
        archive_stall(a->s, "encode", a->id);
    return hark__flac_writer_write(a->w, pcm, n);
}

/* archive_thread: see above. */
static void archive_work(void *arg)
{
    archive_job *j = arg;
    srv *s = j->s;
    char pcm[4200], flac[4200];
    archive_feed_ctx a;
    hark_recording *rec = NULL;
    struct stat st;
    uint64_t last;
    int fd = -1, rc;
    double t0 = hark__now_ms();

    memset(&a, 0, sizeof(a));
    snprintf(pcm, sizeof(pcm), "%.4000s/live/%s.pcm", s->data_dir, j->id);
    snprintf(flac, sizeof(flac), "%.4000s/live/%s.flac", s->data_dir, j->id);
    if ((rc = hark_store_recording_get(s->store, j->recording, &rec)) == HARK_ENOTFOUND) {
        unlink(pcm); /* deleted meanwhile: nobody's audio */
        j->rc = 1;
        goto out;
    }
    if (rc < 0) {
        snprintf(j->err, sizeof(j->err), "%s", hark_error_last());
        j->rc = -1;
        goto out;
    }
    j->rc = -1;
    if ((fd = open(pcm, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        snprintf(j->err, sizeof(j->err), "cannot open %.300s: %s", pcm, strerror(errno));
    } else if (hark__flac_writer_open(&a.w, flac) < 0) {
        snprintf(j->err, sizeof(j->err), "%s", hark_error_last());
    } else {
        j->pcm_bytes = st.st_size;
        a.s = s;
        a.id = j->id;
        errno = 0;
        if (read_records(fd, archive_feed, &a, &last) < 0) {
            snprintf(j->err, sizeof(j->err), "cannot archive %.300s: %s", pcm,
                     errno ? strerror(errno) : hark_error_last());
            hark__flac_writer_discard(a.w);
        } else {
            j->archived = hark__flac_writer_samples(a.w);
            if (hark__flac_writer_close(a.w) < 0)
                snprintf(j->err, sizeof(j->err), "%s", hark_error_last());
            else
                j->rc = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    if (j->rc == 0) {
        archive_stall(s, "renamed", j->id);
        if (stat(flac, &st) == 0)
            j->flac_bytes = st.st_size;
        hark__free((char *)rec->audio_path);
        rec->audio_path = hark__strdup(flac);
        if (!rec->audio_path) {
            snprintf(j->err, sizeof(j->err), "out of memory");
            j->rc = -1;
        }
    }
    rec->status = HARK_STATUS_DONE;
    rec->duration_ms =
        (int64_t)((j->rc == 0 ? j->archived : j->samples) / (HARK_SAMPLE_RATE / 1000));
    if (hark_store_recording_update(s->store, rec) < 0) {
        snprintf(j->err, sizeof(j->err), "%s", hark_error_last());
        j->rc = -1;
    }
    if (j->rc == 0) { /* the FLAC is the recording's audio now: the records can go */
        archive_stall(s, "updated", j->id);
        unlink(pcm);
        fsync_dir_of(pcm);
    }
out:
    hark_recording_free(rec);
    j->ms = hark__now_ms() - t0;
}

static void finish_reply(live_session *x);

/* Its own thread: an archive takes seconds for a long session (10.7 s for 20 minutes of audio
 * on a loaded 2-core AMD EPYC), which must not hold back the offload thread's fsyncs (every
 * other session's acks) and uploads. */
static void *archive_thread(void *arg)
{
    archive_job *j = arg;
    live_msg *m;
    archive_work(j);
    while (!(m = hark__calloc(1, sizeof(*m))))
        usleep(100000); /* the loop must hear of it: joining the thread depends on it */
    memcpy(m->id, j->id, sizeof(m->id));
    m->kind = 3;
    m->job = j;
    srv_post_live(j->s, m);
    return NULL;
}

static void archive_done(void *arg)
{
    archive_job *j = arg;
    srv *s = j->s;
    live_session *x;
    pthread_join(j->thread, NULL); /* it has posted its message: it ends now */
    *j->pprev = j->next;
    if (j->next)
        j->next->pprev = j->pprev;
    if (j->rc == 0)
        srv_log(s, 2,
                "live session %s: audio archived as FLAC: %.1f s, %lld bytes (records: %lld "
                "bytes) in %.0f ms",
                j->id, (double)j->archived / HARK_SAMPLE_RATE, (long long)j->flac_bytes,
                (long long)j->pcm_bytes, j->ms);
    else if (j->rc < 0)
        srv_log(s, 0,
                "live session %s: cannot archive its audio (kept as records; the next start "
                "tries again): %s",
                j->id, j->err);
    for (x = sessions; x; x = x->next)
        if (!x->dead && x->archiving && !strcmp(x->id, j->id))
            break;
    if (x)
        finish_reply(x);
    hark__free(j);
}

/* Start archiving session `id` (recording `recording`); 0, or -1 (no memory, no thread). */
static int archive_start(srv *s, const char *id, int64_t recording, uint64_t samples)
{
    archive_job *j = hark__calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->s = s;
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->recording = recording;
    j->samples = samples;
    if (pthread_create(&j->thread, NULL, archive_thread, j) != 0) {
        hark__free(j);
        return -1;
    }
    j->next = archives;
    j->pprev = &archives;
    if (archives)
        archives->pprev = &j->next;
    archives = j;
    return 0;
}

/* Everything is final: archive the audio (the recording is marked done then), then
 * finish_reply says so and closes. */
static void finish_session(live_session *x)
{
    if (x->archiving)
        return;
    if ((x->fsync_busy || x->last_seq > x->durable_seq) && !x->fsync_failed) {
        x->finish_pending = 1; /* the last ack goes out before `end` */
        schedule_fsync(x);
        return;
    }
    x->finish_pending = 0;
    meta_put(x, 1); /* from here on, a restart archives it */
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
    x->archiving = 1;
    if (archive_start(x->s, x->id, x->recording,
                      x->live ? (uint64_t)hark_live_samples(x->live) : 0) < 0) {
        srv_log(x->s, 0,
                "live session %s: cannot start archiving: its audio is archived at the "
                "next start",
                x->id);
        finish_reply(x);
    }
}

/* Vosk: the finals not answered yet as one result ({"result": [...], "text": "..."}), or NULL
 * when there are none and `always` is 0. */
static json_t *vosk_take_results(live_session *x, int always)
{
    hark_buf text = HARK_BUF_INIT;
    char *line = x->vosk_results.ptr, *nl;
    json_t *res, *o;
    if (!always && !x->vosk_results.len)
        return NULL;
    res = json_array();
    while (line && (nl = strchr(line, '\n')) != NULL) {
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
    o = json_pack("{s:o,s:s}", "result", res, "text", text.ptr ? text.ptr : "");
    hark_buf_dispose(&text);
    return o;
}

/* The session is over (its audio archived, or left for the next start): tell the client,
 * close. */
static void finish_reply(live_session *x)
{
    srv *s = x->s;
    ws_conn *c = x->client;
    srv_log(s, 2, "live session %s finished: recording %lld, %u utterances", x->id,
            (long long)x->recording, x->utts_done);
    if (c) {
        if (x->vosk) /* Vosk answers eof with the final result of what is left */
            send_json(c, vosk_take_results(x, 1));
        else
            send_json(c, json_pack("{s:s,s:i,s:I}", "type", "end", "utterances", (int)x->utts_done,
                                   "recording", (json_int_t)x->recording));
        close_with(c, 1000, NULL, "done");
    }
    session_close(x);
}

/* ---- frames from the client
 * ------------------------------------------------------------------------ */

static int parse_config(ws_conn *c, const srv_live_text *t)
{
    srv *s = c->s;
    live_session *x;
    char err[512] = "";

    if (!c->vosk && t->has_key && c->need_key) {
        uint8_t d[32];
        hark_api_key *k = NULL;
        if (t->has_key < 0 || hark_key_digest(t->key, strlen(t->key), d) < 0 ||
            hark_store_key_lookup(s->store, d, &k) < 0 || k->revoked_ms) {
            hark_api_key_free(k);
            close_with(c, 1008, "unauthorized", "the API key is not valid (unknown or revoked)");
            return -1;
        }
        c->who.key = k->id;
        c->who.user = k->user;
        c->who.admin = k->admin;
        c->need_key = 0;
        hark_api_key_free(k);
    }
    if (c->need_key) {
        close_with(c, 1008, "unauthorized",
                   "an API key is needed: send it in the Authorization header or as \"key\" in "
                   "the config message");
        return -1;
    }
    if (t->close) {
        close_with(c, t->close, t->code, t->msg);
        return -1;
    }
    if (t->resume && !c->vosk) {
        const char *id = t->session;
        int64_t last_final = t->last_final;
        int recovered = 0;
        x = find(id);
        if (x && !c->who.admin && x->owner != c->who.user)
            x = NULL;
        if (!x) {
            if (!(x = session_recover(s, id, &c->who, last_final, err, sizeof(err)))) {
                close_with(c, 1008, "unknown_session", err);
                return -1;
            }
            recovered = 1;
        }
        orphan_take(id); /* a client took it over (if it was one) */
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
        if (recovered) /* its finals after last_final are being transcribed again */
            x->sent_final = last_final;
        else
            resend_finals(x, c, last_final);
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
    x->rate = t->rate;
    x->channels = t->channels;
    x->fmt = t->f32 ? FMT_F32 : FMT_S16;
    if (session_create(x, t->title, err, sizeof(err)) < 0) {
        srv_log(s, 0, "live session: %s", err);
        session_close(x);
        close_with(c, 1011, "internal", err);
        return -1;
    }
    x->client = c;
    c->sess = x;
    srv_log(s, 2, "live session %s started: recording %lld, %d Hz, %d channel(s)%s", x->id,
            (long long)x->recording, x->rate, x->channels, c->vosk ? ", Vosk protocol" : "");
    if (!c->vosk)
        send_json(c, json_pack("{s:s,s:s,s:I,s:i,s:b}", "type", "ready", "session", x->id,
                               "recording", (json_int_t)x->recording, "ack", 0, "resumed", 0));
    return 0;
}

static void on_audio(ws_conn *c, const uint8_t *data, size_t len)
{
    live_session *x = c->sess;
    srv_live_frame f;
    size_t cap;
    float *out = NULL;
    int got;

    if (!x) {
        close_with(c, 1003, "no_config", "send the config message before audio");
        return;
    }
    switch (srv_live_parse_frame(data, len, c->vosk, x->last_seq,
                                 (size_t)x->channels * (x->fmt == FMT_F32 ? 4 : 2), &f)) {
    case SRV_FRAME_OK:
        break;
    case SRV_FRAME_RESEND: /* a resend of a frame we have: acknowledge, ignore */
        if (f.seq <= x->durable_seq)
            send_json(c, json_pack("{s:s,s:I}", "type", "ack", "seq", (json_int_t)x->durable_seq));
        return;
    case SRV_FRAME_SHORT:
        close_with(c, 1007, "bad_frame", "an audio frame starts with an 8-byte sequence number");
        return;
    case SRV_FRAME_GAP: {
        char msg[128];
        snprintf(msg, sizeof(msg), "frame %llu after %llu: sequence numbers must grow by one",
                 (unsigned long long)f.seq, (unsigned long long)x->last_seq);
        close_with(c, 1007, "bad_sequence", msg);
        return;
    }
    case SRV_FRAME_BIG:
        close_with(c, 1009, "too_big", "an audio frame holds at most 1 MiB of PCM");
        return;
    case SRV_FRAME_PARTIAL:
        close_with(c, 1007, "bad_frame", "a frame must hold whole samples of every channel");
        return;
    }
    if (x->ended) {
        close_with(c, 1007, "after_end", "audio after the end message");
        return;
    }
    cap = srv_live_out_max(f.frames, x->rate);
    out = hark__malloc(cap * sizeof(float));
    if (!out) {
        close_with(c, 1011, "internal", "out of memory");
        return;
    }
    {
        uint8_t *o8 = (uint8_t *)out;
        const uint8_t *in8 = f.pcm;
        got = swr_convert(x->swr, &o8, (int)cap, &in8, (int)f.frames);
    }
    if (got < 0 || take_audio(x, f.seq, out, (size_t)got, 1) < 0) {
        hark__free(out);
        srv_log(c->s, 0, "live session %s: cannot take audio: %s", x->id, strerror(errno));
        close_with(c, 1011, "storage", "the server cannot store audio");
        return;
    }
    hark__free(out);
    x->last_seq = f.seq;
    schedule_fsync(x);
    if (c->vosk) { /* Vosk answers every message: with every final since the last answer, merged
                    * into one result (so what waits is bounded by what came in between) */
        json_t *res = vosk_take_results(x, 0);
        if (res)
            send_json(c, res);
        else
            send_text(c, x->vosk_partial ? x->vosk_partial : "{\"partial\":\"\"}");
    } else if (hark_live_backlog(x->live) > 2 && hark__now_ms() - x->slow_sent_ms > 1000) {
        x->slow_sent_ms = hark__now_ms();
        send_json(c, json_pack("{s:s,s:i}", "type", "slow_down", "backlog_utterances",
                               (int)hark_live_backlog(x->live)));
    }
}

static void on_text(ws_conn *c, const uint8_t *data, size_t len)
{
    srv_live_text *t = hark__malloc(sizeof(*t));
    if (!t) {
        close_with(c, 1011, "internal", "out of memory");
        return;
    }
    if (srv_live_parse_text(data, len, c->vosk, t) != 0) {
        close_with(c, t->close, t->code, t->msg);
    } else if (!c->sess && t->kind == SRV_LIVE_CONFIG) {
        parse_config(c, t);
    } else if (t->kind == SRV_LIVE_END && c->sess) {
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
    hark__free(t);
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
    wslay_event_config_set_max_recv_msg_length(c->ctx, SRV_LIVE_MAX_FRAME + 8);
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
    if (orphans) {
        orphan *o;
        for (o = orphans; o; o = o->next)
            if (first <= 0 || o->since_ms < first)
                first = o->since_ms;
    }
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
    for (;;) { /* orphans nobody resumed: rebuild from disk, finish as above */
        orphan *o;
        srv_principal admin;
        char err[512] = "", id[33];
        for (o = orphans; o; o = o->next)
            if (now - o->since_ms >= (double)s->cfg.live_idle_ms)
                break;
        if (!o)
            break;
        memcpy(id, o->id, sizeof(id));
        orphan_take(id);
        memset(&admin, 0, sizeof(admin));
        admin.admin = 1;
        srv_log(s, 2,
                "live session %s: interrupted by a restart, not resumed for %llu ms: "
                "finishing it",
                id, (unsigned long long)s->cfg.live_idle_ms);
        /* last_final: every stored utterance (they are not transcribed again) */
        x = session_recover(s, id, &admin, UINT32_MAX, err, sizeof(err));
        if (!x) {
            srv_log(s, 0, "live session %s: %s", id, err);
            continue;
        }
        x->ended = 1;
        if (hark_live_end(x->live) < 0) {
            srv_log(s, 0, "live session %s: %s", id, hark_error_last());
            finish_session(x);
        }
    }
    srv_live_arm_idle(s);
}

/* What a crash left in <data_dir>/live: temporary FLAC files go (their archive runs again),
 * finished sessions whose audio file is still there are archived again. */
static void scan_live_dir(srv *s)
{
    char path[4200];
    DIR *d;
    struct dirent *e;
    snprintf(path, sizeof(path), "%.4000s/live", s->data_dir);
    if (!(d = opendir(path)))
        return;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t n = strlen(name);
        char id[33], key[48];
        hark_buf meta = HARK_BUF_INIT;
        json_t *o;
        if (name[0] == '.' && strstr(name, ".flac.")) { /* the FLAC writer's temporary file */
            unlinkat(dirfd(d), name, 0);
            continue;
        }
        if (n != 36 || strcmp(name + 32, ".pcm"))
            continue;
        memcpy(id, name, 32);
        id[32] = '\0';
        snprintf(key, sizeof(key), "live.%s", id);
        if (!srv_live_id_valid(id) || hark_store_setting_get(s->store, key, &meta) < 0 ||
            !meta.ptr || !(o = json_loads(meta.ptr, 0, NULL))) {
            hark_buf_dispose(&meta);
            continue;
        }
        if (json_integer_value(json_object_get(o, "finished"))) {
            srv_log(s, 2, "live session %s: finished but not archived (a crash): archiving it", id);
            archive_start(s, id, json_integer_value(json_object_get(o, "recording")), 0);
        } else {
            orphan *x = hark__calloc(1, sizeof(*x));
            if (x) {
                memcpy(x->id, id, sizeof(x->id));
                x->since_ms = hark__now_ms();
                x->next = orphans;
                orphans = x;
            }
        }
        json_decref(o);
        hark_buf_dispose(&meta);
    }
    closedir(d);
}

int srv_live_init(srv *s)
{
    const char *stall = getenv("HARK_TEST_LIVE_ARCHIVE_STALL");
    stall_at = stall && *stall ? stall : NULL;
    idle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (idle_fd >= 0) {
        scan_live_dir(s);
        srv_live_arm_idle(s); /* for the orphans it found */
    }
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
    while (orphans)
        orphan_take(orphans->id);
    while (archives) { /* still running, or their message was not handled: wait for them */
        archive_job *j = archives;
        pthread_join(j->thread, NULL);
        archives = j->next;
        hark__free(j);
    }
    if (idle_fd >= 0)
        close(idle_fd);
    idle_fd = -1;
    (void)s;
}
