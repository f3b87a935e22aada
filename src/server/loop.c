/*
 * loop.c: `hark serve`'s event loop and its glue to libmicrohttpd.
 *
 * DESIGN
 * MHD runs in external-epoll mode: its epoll fd sits in our epoll set next
 * to an eventfd (messages from other threads), a signalfd (SIGTERM, SIGINT)
 * and a timerfd (the slow-client guard). Each turn: wait, handle our fds,
 * MHD_run. While nothing happens the loop sleeps in epoll_wait with MHD's
 * own timeout (the idle-connection timeout), so an idle server uses no CPU.
 *
 * Requests (srv_req) follow MHD's calling convention: the first call has
 * the headers; we route, authenticate and refuse early (404, 405, 401, 413
 * by Content-Length, 429) without storing the body. An early answer to a
 * request with a body is queued at once only when the client waits for it
 * (Expect: 100-continue) or declared more than DISCARD_MAX; MHD then closes
 * the connection unread. Otherwise the body is read and thrown away and the
 * answer queued on the last call: a client still sending when the server
 * closed would get a reset that destroys the answer in its receive buffer
 * (curl saw "connection reset" instead of the 413). Answers are queued on
 * the last call, which keeps the connection alive. Body pieces go to a bounded JSON buffer
 * or to the upload sink (upload.c). Asynchronous answers suspend the
 * connection; the offload thread or a job's end hands them back through a
 * message, and resuming the connection makes MHD call us again to queue
 * the answer.
 *
 * Slow clients: MHD's timeout only counts inactivity, so a client sending a
 * byte a second would hold a connection forever. The guard keeps the
 * connections that are receiving headers or a body in a FIFO ordered by
 * deadline (each entry's deadline is "now + timeout" when it is appended,
 * and the timeouts per phase are fixed, so appending keeps the order), with
 * one timerfd armed for the head. A connection past its deadline is shut
 * down; MHD then cleans it up. A body renews its deadline per 64 KiB.
 *
 * Jobs of other processes: with workers = 0 (an API-only node) there is no
 * scheduler and the runner claims nothing (it describes and cancels); a
 * watch thread turns the end of a job run elsewhere into the event the
 * runner would have sent (see "jobs run by other processes" below).
 *
 * Shutdown (SIGTERM/SIGINT): stop accepting (MHD_quiesce_daemon), stop the
 * runner (running jobs get shutdown_grace to finish, the rest go back to
 * the queue with their finished chunks), answer waiting requests with 503,
 * end event streams, then stop MHD.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#define BODY_PROGRESS  (64u * 1024)  /* bytes that renew a body's deadline */
#define DISCARD_MAX    (64ull << 20) /* body thrown away after an error, at most */
#define L1_CACHE_BYTES (64u << 20)

enum { TAG_MHD = 1, TAG_EVENT, TAG_SIGNAL, TAG_GUARD, TAG_WS, TAG_LIVE };
static int tags[7] = { 0, TAG_MHD, TAG_EVENT, TAG_SIGNAL, TAG_GUARD, TAG_WS, TAG_LIVE };

/* ---- logging ----------------------------------------------------------------------------------
 */

void srv_log(srv *s, int level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    char line[1024];
    char ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;
    if (level > s->log_level || !s->log)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(s->log, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000, names[level], line);
    fflush(s->log);
}

static void lib_log(hark_log_level level, const char *msg, void *payload)
{
    srv *s = payload;
    srv_log(s, level == HARK_LOG_ERROR ? 0 : level == HARK_LOG_WARN ? 1 : 3, "%s", msg);
}

const char *srv_mode_name(enum srv_mode m)
{
    return m == MODE_FULL ? "full" : m == MODE_DEGRADED ? "degraded" : "maintenance";
}

/* ---- messages from other threads ---------------------------------------------------------------
 */

enum { MSG_EVENT = 1, MSG_DONE, MSG_FN_DONE, MSG_LIVE };

typedef struct srv_msg {
    int kind;
    srv_req *q;              /* MSG_DONE */
    void (*done)(void *arg); /* MSG_FN_DONE */
    void *arg;               /* MSG_FN_DONE, MSG_LIVE */
    srv_event ev;            /* MSG_EVENT */
    struct srv_msg *next;
} srv_msg;

/* Offloaded work: a suspended request's, or a plain function's. */
typedef struct srv_work {
    srv_req *q;
    void (*work)(void *arg);
    void (*done)(void *arg);
    void *arg;
} srv_work;

static void post(srv *s, srv_msg *m)
{
    uint64_t one = 1;
    ssize_t w;
    pthread_mutex_lock(&s->mu);
    m->next = NULL;
    if (s->msgs_tail)
        s->msgs_tail->next = m;
    else
        s->msgs = m;
    s->msgs_tail = m;
    pthread_mutex_unlock(&s->mu);
    w = write(s->evfd, &one, sizeof(one));
    (void)w;
}

/* ---- the offload thread ------------------------------------------------------------------------
 */

static void *offload_main(void *arg)
{
    srv *s = arg;
    for (;;) {
        srv_work w;
        srv_msg *m;
        pthread_mutex_lock(&s->mu);
        while (!s->n_work && !s->offload_stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->n_work) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        w = s->work[0];
        memmove(s->work, s->work + 1, (s->n_work - 1) * sizeof(*s->work));
        s->n_work--;
        pthread_mutex_unlock(&s->mu);
        if (w.q)
            w.q->work(w.q);
        else
            w.work(w.arg);
        m = hark__calloc(1, sizeof(*m));
        if (!m)
            abort(); /* cannot hand the work back: nothing sane is left */
        m->kind = w.q ? MSG_DONE : MSG_FN_DONE;
        m->q = w.q;
        m->done = w.done;
        m->arg = w.arg;
        post(s, m);
    }
    return NULL;
}

static void push_work(srv *s, const srv_work *w)
{
    pthread_mutex_lock(&s->mu);
    if (s->n_work == s->cap_work) {
        size_t cap = s->cap_work ? 2 * s->cap_work : 16;
        srv_work *nw = hark__reallocarray(s->work, cap, sizeof(*nw));
        if (!nw)
            abort();
        s->work = nw;
        s->cap_work = cap;
    }
    s->work[s->n_work++] = *w;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void srv_offload(srv_req *q, void (*work)(srv_req *q), void (*done)(srv_req *q))
{
    srv_work w;
    q->work = work;
    q->done = done;
    q->state = Q_ASYNC;
    if (!q->suspended) {
        q->suspended = 1;
        MHD_suspend_connection(q->c);
    }
    memset(&w, 0, sizeof(w));
    w.q = q;
    push_work(q->s, &w);
}

void srv_offload_fn(srv *s, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
    srv_work w;
    memset(&w, 0, sizeof(w));
    w.work = work;
    w.done = done;
    w.arg = arg;
    push_work(s, &w);
}

void srv_post_live(srv *s, void *msg)
{
    srv_msg *m = hark__calloc(1, sizeof(*m));
    if (!m) {
        srv_live_message_free(msg);
        return;
    }
    m->kind = MSG_LIVE;
    m->arg = msg;
    post(s, m);
}

/* The asynchronous part is over: run its `done`, which may wait again (srv_wait_job) or
 * offload again; otherwise the answer is ready and MHD is let back in. */
static void resume(srv_req *q)
{
    void (*done)(srv_req * q) = q->done;
    q->done = NULL;
    if (done)
        done(q);
    if (q->waiting || q->done)
        return; /* suspended again */
    q->state = Q_READY;
    q->suspended = 0;
    MHD_resume_connection(q->c);
}

void srv_wait_job(srv_req *q, int64_t job, void (*done)(srv_req *q))
{
    srv *s = q->s;
    q->wait_job = job;
    q->waiting = 1;
    q->done = done;
    q->state = Q_ASYNC;
    q->wait_next = s->waiters;
    s->waiters = q;
    srv_watch_job(s, job);
    if (!q->suspended) {
        q->suspended = 1;
        MHD_suspend_connection(q->c);
    }
}

/* Wake the requests waiting for this job (0: all of them, the server is stopping). */
static void waiters_job_ended(srv *s, int64_t job)
{
    srv_req **pp = &s->waiters;
    while (*pp) {
        srv_req *q = *pp;
        if (q->wait_job == job || job == 0) {
            *pp = q->wait_next;
            q->wait_next = NULL;
            q->waiting = 0;
            if (job == 0) {
                q->done = NULL;
                srv_error(q, 503, "shutting_down",
                          "the server is shutting down; job %lld goes on after the restart",
                          (long long)q->wait_job);
            }
            resume(q);
        } else {
            pp = &q->wait_next;
        }
    }
}

static void handle_messages(srv *s)
{
    srv_msg *m, *next;
    uint64_t v;
    ssize_t r = read(s->evfd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&s->mu);
    m = s->msgs;
    s->msgs = s->msgs_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    for (; m; m = next) {
        next = m->next;
        if (m->kind == MSG_DONE) {
            resume(m->q);
        } else if (m->kind == MSG_FN_DONE) {
            m->done(m->arg);
        } else if (m->kind == MSG_LIVE) {
            srv_live_message(s, m->arg);
        } else {
            srv_streams_deliver(s, &m->ev);
            if (m->ev.kind == HARK_JOB_EVENT_DONE || m->ev.kind == HARK_JOB_EVENT_DEAD ||
                m->ev.kind == HARK_JOB_EVENT_CANCELED)
                waiters_job_ended(s, m->ev.job);
            hark__free(m->ev.json);
            hark__free(m->ev.text);
        }
        hark__free(m);
    }
}

/* ---- runner events (runner and worker threads) ---------------------------------------------- */

static void on_job_event(const hark_job_event *ev, void *payload)
{
    srv *s = payload;
    srv_msg *m;
    hark_buf b = HARK_BUF_INIT, text = HARK_BUF_INIT;
    json_t *o;
    char *js;

    if (ev->kind == HARK_JOB_EVENT_PROGRESS && !s->streams)
        return; /* nobody listens: spare the loop (streams is only compared to NULL here) */
    if (ev->kind == HARK_JOB_EVENT_PROGRESS || ev->kind == HARK_JOB_EVENT_STARTED)
        o = json_pack("{s:s,s:I,s:I,s:{s:i,s:i,s:b,s:f}}", "event", hark_job_event_name(ev->kind),
                      "job", (json_int_t)ev->job, "recording", (json_int_t)ev->recording,
                      "progress", "chunks_done", (int)ev->chunks_done, "chunks_total",
                      (int)ev->chunks_total, "final", ev->chunks_final, "audio_s",
                      (double)ev->samples_done / HARK_SAMPLE_RATE);
    else /* the counters of other events are not current */
        o = json_pack("{s:s,s:I,s:I,s:i}", "event", hark_job_event_name(ev->kind), "job",
                      (json_int_t)ev->job, "recording", (json_int_t)ev->recording, "attempts",
                      (int)ev->attempts);
    if (!o)
        return;
    if (ev->error)
        json_object_set_new(o, "error", json_string(ev->error));
    if (ev->kind == HARK_JOB_EVENT_RETRY)
        json_object_set_new(o, "retry_at_ms", json_integer(ev->retry_at_ms));
    if (ev->kind == HARK_JOB_EVENT_SEGMENTS && ev->t) {
        json_t *segs = json_array();
        size_t i;
        for (i = ev->first; i < ev->first + ev->count; i++) {
            const hark_segment *g = hark_transcript_segment(ev->t, i);
            json_array_append_new(segs, json_pack("{s:I,s:I,s:s}", "start_ms",
                                                  (json_int_t)(g->start / 16), "end_ms",
                                                  (json_int_t)(g->end / 16), "text", g->text));
            hark_buf_puts(&text, g->text);
        }
        json_object_set_new(o, "segments", segs);
    } else if (ev->kind == HARK_JOB_EVENT_DONE && ev->t) {
        hark_transcript_text(ev->t, &text);
    }
    js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!js || !(m = hark__calloc(1, sizeof(*m)))) {
        free(js); /* libc: jansson allocates with malloc */
        hark_buf_dispose(&text);
        return;
    }
    hark_buf_puts(&b, js);
    free(js); /* libc: jansson allocates with malloc */
    m->kind = MSG_EVENT;
    m->ev.kind = ev->kind;
    m->ev.job = ev->job;
    m->ev.recording = ev->recording;
    m->ev.json = hark_buf_detach(&b);
    m->ev.text = text.len ? hark_buf_detach(&text) : NULL;
    hark_buf_dispose(&text);
    post(s, m);
}

/* ---- jobs run by other processes --------------------------------------------------------------
 * On an API-only node every job runs elsewhere, and on a shared store any job may: their
 * runner's events never reach this process. Requests waiting for such a job (synchronous
 * OpenAI transcriptions, event streams) learn of it from the store: the watch thread polls the
 * state of the jobs waited for every WATCH_MS while there are any (none: no queries), and posts
 * what changed as the runner's events would: started, progress (the chunk counters the runner
 * keeps durably) and the end. A job whose lease this process holds sends its own events, with
 * the sample counts the store does not keep; only its end is posted too, and an end reported
 * twice finds no waiter the second time.
 */
#define WATCH_MS 250

typedef struct srv_watched {
    int64_t job;
    hark_job_state state; /* as last seen (QUEUED until seen otherwise) */
    uint32_t done, total;
    int final;
    int ended; /* watch thread: its end was posted */
} srv_watched;

void srv_watch_job(srv *s, int64_t job)
{
    size_t i;
    if (!s->watch_on)
        return;
    pthread_mutex_lock(&s->watch_mu);
    for (i = 0; i < s->n_watch && s->watched[i].job != job; i++)
        ;
    if (i == s->n_watch) {
        if (s->n_watch == s->cap_watch) {
            size_t cap = s->cap_watch ? 2 * s->cap_watch : 16;
            srv_watched *p = hark__realloc(s->watched, cap * sizeof(*p));
            if (!p) { /* out of memory: the request waits for a local event only */
                pthread_mutex_unlock(&s->watch_mu);
                return;
            }
            s->watched = p;
            s->cap_watch = cap;
        }
        memset(&s->watched[s->n_watch], 0, sizeof(srv_watched));
        s->watched[s->n_watch].job = job;
        s->watched[s->n_watch].state = HARK_JOB_QUEUED;
        s->n_watch++;
        pthread_cond_signal(&s->watch_cv);
    }
    pthread_mutex_unlock(&s->watch_mu);
}

static void watch_event(srv *s, const hark_job *j, hark_job_event_kind kind)
{
    hark_job_event ev;
    hark_transcript *t = NULL;
    hark_job_event_init(&ev, kind, j);
    ev.error = j->error;
    ev.chunks_done = j->chunks_done;
    ev.chunks_total = j->chunks_total;
    ev.chunks_final = j->chunks_final;
    if (ev.kind == HARK_JOB_EVENT_DONE &&
        hark_store_transcript_get(s->store, j->recording, &t) == 0)
        ev.t = t;
    on_job_event(&ev, s);
    hark_transcript_free(t);
}

/* Post what changed in job j since w saw it (watch thread). */
static void watch_seen(srv *s, srv_watched *w, const hark_job *j)
{
    int ended =
        j->state == HARK_JOB_DONE || j->state == HARK_JOB_DEAD || j->state == HARK_JOB_CANCELED;
    int mine = s->runner && j->lease_owner && !strcmp(j->lease_owner, hark_runner_name(s->runner));
    if (ended) {
        watch_event(s, j,
                    j->state == HARK_JOB_DONE   ? HARK_JOB_EVENT_DONE
                    : j->state == HARK_JOB_DEAD ? HARK_JOB_EVENT_DEAD
                                                : HARK_JOB_EVENT_CANCELED);
        w->ended = 1;
        return;
    }
    if (j->state == HARK_JOB_RUNNING && !mine &&
        (w->state != HARK_JOB_RUNNING || w->done != j->chunks_done || w->total != j->chunks_total ||
         w->final != j->chunks_final))
        watch_event(
            s, j, w->state != HARK_JOB_RUNNING ? HARK_JOB_EVENT_STARTED : HARK_JOB_EVENT_PROGRESS);
    w->state = j->state;
    w->done = j->chunks_done;
    w->total = j->chunks_total;
    w->final = j->chunks_final;
}

static void *watch_main(void *arg)
{
    srv *s = arg;
    srv_watched *ws = NULL;
    size_t n, i, k;
    pthread_mutex_lock(&s->watch_mu);
    while (!s->watch_stop) {
        struct timespec ts;
        if (s->n_watch == 0) {
            pthread_cond_wait(&s->watch_cv, &s->watch_mu);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &ts);
        if (s->watch_stop || !(n = s->n_watch))
            continue;
        hark__free(ws);
        if (!(ws = hark__malloc(n * sizeof(*ws))))
            continue;
        memcpy(ws, s->watched, n * sizeof(*ws));
        pthread_mutex_unlock(&s->watch_mu);
        for (i = 0; i < n; i++) {
            hark_job *j = NULL;
            int rc = hark_store_job_get(s->store, ws[i].job, &j);
            if (rc == 0)
                watch_seen(s, &ws[i], j);
            else if (rc == HARK_ENOTFOUND)
                ws[i].ended = 1; /* gone: nothing more to say */
            /* else the store is unwell: look again next time */
            hark_job_free(j);
        }
        pthread_mutex_lock(&s->watch_mu);
        for (i = 0; i < n; i++) /* ended (or gone): stop watching; else keep what was seen */
            for (k = 0; k < s->n_watch; k++)
                if (s->watched[k].job == ws[i].job) {
                    if (ws[i].ended)
                        s->watched[k] = s->watched[--s->n_watch];
                    else
                        s->watched[k] = ws[i];
                    break;
                }
    }
    pthread_mutex_unlock(&s->watch_mu);
    hark__free(ws);
    return NULL;
}

/* ---- slow-client guard -------------------------------------------------------------------------
 */

enum { PH_NONE = 0, PH_HEADERS, PH_BODY };

typedef struct srv_conn {
    int fd, phase;
    double deadline;
    uint64_t body_mark;
    struct srv_conn *next, *prev;
    int linked;
} srv_conn;

static void guard_arm(srv *s)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (s->guard_head) {
        double d = s->guard_head->deadline - hark__now_ms();
        if (d < 1)
            d = 1;
        its.it_value.tv_sec = (time_t)(d / 1000);
        its.it_value.tv_nsec = (long)((d - (double)its.it_value.tv_sec * 1000) * 1e6);
    }
    timerfd_settime(s->guardfd, 0, &its, NULL);
}

static void guard_unlink(srv *s, srv_conn *k)
{
    if (!k->linked)
        return;
    if (k->prev)
        k->prev->next = k->next;
    else
        s->guard_head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        s->guard_tail = k->prev;
    k->next = k->prev = NULL;
    k->linked = 0;
}

/* (Re)start the deadline of this connection's phase (PH_NONE: no deadline). Phases with
 * different timeouts share the FIFO; the head is re-checked on expiry, so a later deadline
 * ahead of an earlier one only delays that one until the head's. */
static void guard_set(srv *s, srv_conn *k, int phase)
{
    srv_conn *old_head = s->guard_head;
    guard_unlink(s, k);
    k->phase = phase;
    if (phase != PH_NONE) {
        double t =
            (double)(phase == PH_HEADERS ? s->cfg.header_timeout_ms : s->cfg.body_timeout_ms);
        k->deadline = hark__now_ms() + t;
        k->prev = s->guard_tail;
        if (s->guard_tail)
            s->guard_tail->next = k;
        else
            s->guard_head = k;
        s->guard_tail = k;
        k->linked = 1;
    }
    if (old_head != s->guard_head)
        guard_arm(s);
}

static void guard_expire(srv *s)
{
    uint64_t v;
    double now = hark__now_ms();
    ssize_t r = read(s->guardfd, &v, sizeof(v));
    (void)r;
    while (s->guard_head && s->guard_head->deadline <= now) {
        srv_conn *k = s->guard_head;
        srv_log(s, 2, "closing a slow client (%s not complete in time)",
                k->phase == PH_HEADERS ? "request headers" : "request body");
        guard_unlink(s, k);
        k->phase = PH_NONE;
        s->m.guard_closed++;
        shutdown(k->fd, SHUT_RDWR);
    }
    guard_arm(s);
}

static srv_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code)
{
    srv *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        srv_conn *k = hark__calloc(1, sizeof(*k));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_ctx = k;
        s->m.connections_open++;
        s->m.connections_total++;
        if (!k || !ci)
            return;
        k->fd = ci->connect_fd;
        guard_set(s, k, PH_HEADERS);
    } else {
        srv_conn *k = *socket_ctx;
        s->m.connections_open--;
        if (k) {
            guard_unlink(s, k);
            if (s->guard_head == NULL)
                guard_arm(s);
            hark__free(k);
        }
        *socket_ctx = NULL;
    }
}

/* ---- requests
 * ------------------------------------------------------------------------------------ */

static const double latency_bounds[12] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000 };

static void observe(srv *s, srv_req *q)
{
    size_t r = q->route ? (size_t)(q->route - srv_routes) + 1 : 0;
    unsigned cls = q->status / 100;
    double ms = hark__now_ms() - q->t0;
    size_t i;
    if (cls > 5)
        cls = 5;
    if (r >= 64)
        r = 0;
    s->m.requests[cls]++;
    s->m.by_route[r][cls]++;
    s->m.latency_sum[r] += ms;
    for (i = 0; i < 12; i++)
        if (ms <= latency_bounds[i])
            s->m.latency_bucket[r][i]++;
}

static void req_free(srv_req *q)
{
    if (!q)
        return;
    hark_buf_dispose(&q->body);
    srv_upload_free(q->up);
    if (q->resp)
        MHD_destroy_response(q->resp);
    if (q->ctx_free)
        q->ctx_free(q->ctx);
    hark__free(q);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    srv_req *q = *con_cls;
    srv_conn *k = conn_of(c);
    if (q) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && q->status)
            srv_log(s, 3, "%s %s: connection ended before the answer was sent (code %d)", q->method,
                    q->url, (int)toe);
        if (k && q->state != Q_UPGRADED && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            k->body_mark = 0;
            guard_set(s, k, PH_HEADERS); /* the next request's headers */
        }
        req_free(q);
    }
    *con_cls = NULL;
}

static enum MHD_Result queue(srv_req *q)
{
    enum MHD_Result r;
    if (!q->resp) {
        srv_error(q, 500, "internal", "no answer was produced");
        if (!q->resp)
            return MHD_NO;
    }
    srv_log(q->s, 3, "%s %s -> %u", q->method, q->url, q->status);
    observe(q->s, q); /* counted when answered: the time to the first byte */
    r = MHD_queue_response(q->c, q->status, q->resp);
    MHD_destroy_response(q->resp);
    q->resp = NULL;
    q->state = q->upgrade ? Q_UPGRADED : Q_QUEUED;
    return r;
}

static int request_has_body(struct MHD_Connection *c, uint64_t *length)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    *length = UINT64_MAX;
    if (cl) {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(cl, &end, 10);
        if (!errno && end != cl && !*end)
            *length = v;
        return *length != 0;
    }
    return te != NULL;
}

/* An early answer to a request with a body: send it before the body (and
 * close) only when the client waits for it or the body is too big to throw
 * away; otherwise read the body into nothing and answer after it. */
static int refuse_unread(struct MHD_Connection *c, uint64_t length)
{
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
    if (expect && !strcasecmp(expect, "100-continue"))
        return 1;
    return length != UINT64_MAX && length > DISCARD_MAX;
}

static void run_route(srv_req *q)
{
    if (q->state == Q_QUEUED || q->resp)
        return;
    q->route->fn(q);
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                           const char *version, const char *data, size_t *data_size, void **con_cls)
{
    srv *s = cls;
    srv_req *q = *con_cls;
    (void)version;

    if (!q) { /* headers are in */
        char allow[64];
        unsigned status = 0;
        uint64_t length;
        srv_conn *k = conn_of(c);
        if (!(q = hark__calloc(1, sizeof(*q))))
            return MHD_NO;
        *con_cls = q;
        q->s = s;
        q->c = c;
        q->url = url;
        q->method = method;
        q->t0 = hark__now_ms();
        q->has_body = request_has_body(c, &length);
        q->route = srv_route_match(method, url, q->ids, &status, allow, sizeof(allow));
        if (k)
            guard_set(s, k, q->has_body ? PH_BODY : PH_NONE);
        if (!q->route) {
            if (status == 405) {
                srv_error(q, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                          method, url, allow);
                srv_header(q, "Allow", allow);
            } else {
                srv_error(q, 404, "not_found", "no such endpoint: %s %s", method, url);
            }
        } else if (s->stopping) {
            srv_error(q, 503, "shutting_down", "the server is shutting down");
            srv_header(q, "Retry-After", "5");
        } else if (srv_auth(q) < 0) {
            /* answered */
        } else if ((q->route->flags & R_WRITE) && s->mode == MODE_MAINTENANCE) {
            srv_error(q, 503, "maintenance",
                      "the server is in maintenance mode: reads only, no new work");
            srv_header(q, "Retry-After", "60");
        } else if (q->route->body == BODY_NONE && q->has_body && length != UINT64_MAX &&
                   length > 0) {
            srv_error(q, 400, "unexpected_body", "%s %s takes no request body", method,
                      q->route->pattern);
        } else if (q->route->body == BODY_JSON && length != UINT64_MAX &&
                   length > s->cfg.max_body_json) {
            srv_error(q, 413, "too_large", "request body of %llu bytes is over the limit of %llu",
                      (unsigned long long)length, (unsigned long long)s->cfg.max_body_json);
        } else if (q->route->body == BODY_UPLOAD && length != UINT64_MAX &&
                   length > s->cfg.max_upload) {
            srv_error(q, 413, "too_large", "upload of %llu bytes is over the limit of %llu bytes",
                      (unsigned long long)length, (unsigned long long)s->cfg.max_upload);
        } else if (q->route->body == BODY_UPLOAD) {
            srv_upload_begin(q); /* may answer (415, 429, 503) */
        }
        q->state = Q_BODY;
        if (q->resp && q->has_body && refuse_unread(c, length))
            return queue(q); /* MHD closes the connection after it */
        return MHD_YES;      /* answer on the last call: keeps the connection alive */
    }

    if (*data_size) { /* a piece of body */
        size_t n = *data_size;
        srv_conn *k = conn_of(c);
        *data_size = 0;
        if (q->resp || q->body_too_big) { /* already answered: throw the rest away */
            q->discarded += n;
            return q->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (k && k->phase == PH_BODY) {
            k->body_mark += n;
            if (k->body_mark >= BODY_PROGRESS) {
                k->body_mark = 0;
                guard_set(s, k, PH_BODY);
            }
        }
        if (q->route->body == BODY_JSON) {
            if (q->body.len + n > s->cfg.max_body_json) {
                q->body_too_big = 1;
                srv_error(q, 413, "too_large", "request body is over the limit of %llu bytes",
                          (unsigned long long)s->cfg.max_body_json);
            } else if (hark_buf_put(&q->body, data, n) < 0) {
                srv_error(q, 503, "out_of_memory", "out of memory");
            }
        } else if (q->route->body == BODY_UPLOAD) {
            srv_upload_feed(q, data, n); /* answers on failure */
        } else {
            q->discarded += n;
        }
        return MHD_YES;
    }

    /* the body is complete (or there was none) */
    {
        srv_conn *k = conn_of(c);
        if (k && k->phase == PH_BODY)
            guard_set(s, k, PH_NONE);
    }
    if (q->state == Q_BODY && !q->resp)
        run_route(q);
    if (q->state == Q_ASYNC || q->state == Q_UPGRADED)
        return MHD_YES;
    if (q->state == Q_QUEUED || q->state == Q_UPGRADED)
        return MHD_YES;
    return queue(q);
}

/* ---- start-up
 * ------------------------------------------------------------------------------------ */

/* "host:port", "[v6]:port", ":port" (all addresses) -> sockaddr; loopback says whether
 * only this machine can connect. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                        int *loopback, char *err, size_t err_size)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':') {
            snprintf(err, err_size, "listen address '%s': expected [ADDRESS]:PORT", spec);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
        port = end + 2;
    } else {
        colon = strrchr(spec, ':');
        if (!colon) {
            snprintf(err, err_size, "listen address '%s': expected HOST:PORT", spec);
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
        port = colon + 1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0 || !res) {
        snprintf(err, err_size, "listen address '%s': %s", spec, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    srv *s = cls;
    char line[512];
    size_t n;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    srv_log(s, 3, "http: %s", line);
}

static int make_dirs(srv *s, const char *db_path, char *err, size_t err_size)
{
    hark_buf b = HARK_BUF_INIT;
    if (s->cfg.data_dir) {
        hark_buf_puts(&b, s->cfg.data_dir);
    } else {
        const char *slash = strrchr(db_path, '/');
        if (slash)
            hark_buf_put(&b, db_path, (size_t)(slash - db_path));
        else
            hark_buf_puts(&b, ".");
        hark_buf_puts(&b, "/audio");
    }
    if (!b.ptr) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (mkdir(b.ptr, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", b.ptr, strerror(errno));
        hark_buf_dispose(&b);
        return -1;
    }
    s->data_dir = hark__strdup(b.ptr);
    hark_buf_puts(&b, "/tmp");
    if (mkdir(b.ptr, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", b.ptr, strerror(errno));
        hark_buf_dispose(&b);
        return -1;
    }
    s->tmp_dir = hark_buf_detach(&b);
    if (!s->data_dir || !s->tmp_dir) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    /* uploads that a crash left half-received were never acknowledged: remove them */
    {
        DIR *d = opendir(s->tmp_dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
            if (!strncmp(e->d_name, "upload-", 7))
                unlinkat(dirfd(d), e->d_name, 0);
        if (d)
            closedir(d);
    }
    return 0;
}

static int open_all(srv *s, int *code, char *err, size_t err_size)
{
    hark_buf path = HARK_BUF_INIT;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_runner_options ro;
    uint64_t keys = 0;
    int rc;

    if ((rc = hark_store_open(&s->store, s->cfg.db)) < 0) {
        snprintf(err, err_size, "database: %s", hark_error_last());
        *code = rc == HARK_EINVAL || rc == HARK_EUNSUPPORTED ? 2 : 7; /* usage, database error */
        goto fail;
    }
    if (!s->cfg.data_dir && !strncmp(hark_store_uri(s->store), "postgres", 8)) {
        snprintf(err, err_size,
                 "with a PostgreSQL database, give --data-dir: the folder of uploaded audio, "
                 "shared by every node (hark worker processes read the audio from it)");
        *code = 2;
        goto fail;
    }
    if (s->cfg.db)
        rc = hark_buf_puts(&path, s->cfg.db);
    else
        rc = hark_store_default_path(&path);
    if (rc < 0 ||
        make_dirs(s, strncmp(path.ptr, "sqlite:", 7) ? path.ptr : path.ptr + 7, err, err_size) < 0)
        goto fail;
    if (!s->cfg.cache_db && !strncmp(hark_store_uri(s->store), "postgres", 8)) {
        /* a shared store holds the shared cache: a result of any node is a hit on every other */
        if ((rc = hark_cache_new(&s->cache, s->store, L1_CACHE_BYTES)) < 0) {
            snprintf(err, err_size, "result cache: %s", hark_error_last());
            goto fail;
        }
    } else if (!s->cfg.cache_db || strcmp(s->cfg.cache_db, "none") != 0) {
        hark_buf_clear(&path);
        if (!s->cfg.cache_db && (rc = hark_cache_default_path(&path)) < 0) {
            snprintf(err, err_size, "result cache: %s", hark_error_last());
            goto fail;
        }
        if ((rc = hark_store_open(&s->cache_store, s->cfg.cache_db ? s->cfg.cache_db : path.ptr)) <
                0 ||
            (rc = hark_cache_new(&s->cache, s->cache_store, L1_CACHE_BYTES)) < 0) {
            snprintf(err, err_size, "result cache: %s", hark_error_last());
            goto fail;
        }
    }
    eo.model = s->cfg.model;
    eo.idle_unload_ms = s->cfg.model_idle_ms > UINT_MAX ? UINT_MAX : (unsigned)s->cfg.model_idle_ms;
    if ((rc = hark_engine_open(&s->engine, s->cfg.engine, &eo)) < 0) {
        snprintf(err, err_size, "engine: %s", hark_error_last());
        goto fail;
    }
    /* workers = 0: an API-only node, no scheduler; the runner only describes and cancels */
    so.n_workers = s->cfg.workers == HARK_SERVER_WORKERS_AUTO ? 0 : (unsigned)s->cfg.workers;
    if (s->cfg.workers != 0 && (rc = hark_scheduler_new(&s->sched, &so)) < 0) {
        snprintf(err, err_size, "workers: %s", hark_error_last());
        goto fail;
    }
    hark_runner_options_default(&ro);
    ro.store = s->store;
    ro.cache = s->cache;
    ro.engine = s->engine;
    ro.scheduler = s->sched;
    ro.max_jobs = (unsigned)s->cfg.max_jobs;
    ro.lease_ms = (unsigned)s->cfg.lease_ms;
    ro.backoff_ms = (unsigned)s->cfg.backoff_ms;
    ro.pipeline.chunk.no_vad = !s->cfg.vad;
    ro.event = on_job_event;
    ro.payload = s;
    ro.no_claims = s->cfg.workers == 0;
    hark_summary_options_default(&s->summary);
    if (s->cfg.summary_url && *s->cfg.summary_url) {
        s->summary.url = s->cfg.summary_url;
        s->summary.model = s->cfg.summary_model ? s->cfg.summary_model : "default";
        s->summary.api_key = s->cfg.summary_api_key;
        s->summary.timeout_ms =
            s->cfg.summary_timeout_ms > UINT_MAX ? UINT_MAX : (unsigned)s->cfg.summary_timeout_ms;
        s->summary.context_chars = (size_t)s->cfg.summary_context;
    }
    ro.summary = &s->summary;
    if ((rc = hark_runner_start(&s->runner, &ro)) < 0) {
        snprintf(err, err_size, "job runner: %s", hark_error_last());
        goto fail;
    }
    if ((rc = hark_store_key_count_active(s->store, &keys)) < 0) {
        snprintf(err, err_size, "database: %s", hark_error_last());
        goto fail;
    }
    s->auth_required = keys > 0;
    {
        hark_buf mode = HARK_BUF_INIT;
        if (hark_store_setting_get(s->store, "server.mode", &mode) == 0 && mode.ptr) {
            if (!strcmp(mode.ptr, "degraded"))
                s->mode = MODE_DEGRADED;
            else if (!strcmp(mode.ptr, "maintenance"))
                s->mode = MODE_MAINTENANCE;
        }
        hark_buf_dispose(&mode);
        hark_runner_set_degraded(s->runner, s->mode == MODE_DEGRADED);
        hark_runner_pause(s->runner, s->mode == MODE_MAINTENANCE);
    }
    hark_buf_dispose(&path);
    return 0;
fail:
    hark_buf_dispose(&path);
    return -1;
}

static void close_all(srv *s)
{
    hark_runner_free(s->runner);
    hark_scheduler_free(s->sched);
    hark_engine_free(s->engine);
    hark_cache_free(s->cache);
    hark_store_free(s->cache_store);
    hark_store_free(s->store);
    hark__free(s->data_dir);
    hark__free(s->tmp_dir);
    hark__free(s->work);
    srv_auth_free(s);
}

static int add_fd(srv *s, int fd, int *tag)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = tag;
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int hark__serve(const hark_server_config *cfg, FILE *log, void (*ready)(const char *url))
{
    srv *s;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int loopback = 0, code = 1;
    char err[512], url[300];
    sigset_t sigs;
    struct rlimit rl;
    MHD_socket lfd;

    if (!(s = hark__calloc(1, sizeof(*s))))
        return 1;
    s->cfg = *cfg;
    s->log = log;
    s->log_level = !strcmp(cfg->log_level, "error")   ? 0
                   : !strcmp(cfg->log_level, "warn")  ? 1
                   : !strcmp(cfg->log_level, "debug") ? 3
                                                      : 2;
    s->epfd = s->evfd = s->sigfd = s->guardfd = s->livefd = -1;
    s->started_ms = hark__now_ms();
    s->started_unix_ms = (int64_t)time(NULL) * 1000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->watch_mu, NULL);
    pthread_cond_init(&s->watch_cv, NULL);
    hark_log_set(lib_log, s, s->log_level >= 3 ? HARK_LOG_DEBUG : HARK_LOG_WARN);

    /* SIGTERM and SIGINT go to the signalfd: block them before any thread starts (the
     * engine's, the scheduler's and the runner's threads inherit the mask) */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (parse_listen(cfg->listen, &ss, &sslen, &loopback, err, sizeof(err)) < 0) {
        srv_log(s, 0, "%s", err);
        code = 2;
        goto out;
    }
    if (open_all(s, &code, err, sizeof(err)) < 0) {
        srv_log(s, 0, "%s", err);
        goto out;
    }
    if (!loopback && !s->auth_required) {
        srv_log(s, 0,
                "refusing to listen on %s without API keys: anyone who can reach it could use "
                "it. Create a key first (hark keys create --admin), or listen on 127.0.0.1",
                cfg->listen);
        code = 2;
        goto out;
    }
    if (!loopback)
        s->auth_required = 1;

    /* room for the connections asked for */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cfg->max_connections + 64) {
        rl.rlim_cur =
            rl.rlim_max < cfg->max_connections + 64 ? rl.rlim_max : cfg->max_connections + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (pthread_create(&s->offload, NULL, offload_main, s) != 0) {
        srv_log(s, 0, "cannot start the offload thread");
        goto out;
    }
    s->offload_started = 1;
    /* jobs may end in other processes: an API-only node, or a store shared with other nodes */
    s->watch_on = !s->sched || !strncmp(hark_store_uri(s->store), "postgres", 8);
    if (s->watch_on) {
        if (pthread_create(&s->watch, NULL, watch_main, s) != 0) {
            srv_log(s, 0, "cannot start the job watch thread");
            goto out;
        }
        s->watch_started = 1;
    }

    s->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, ahc, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first: it logs the others */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(cfg->idle_timeout_ms / 1000 ? cfg->idle_timeout_ms / 1000 : 1),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)4096, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        notify_conn, s, MHD_OPTION_END);
    if (!s->mhd) {
        srv_log(s, 0, "cannot listen on %s: %s", cfg->listen, strerror(errno ? errno : EADDRINUSE));
        goto out;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    s->guardfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    s->livefd = srv_live_init(s);
    if (s->epfd < 0 || s->evfd < 0 || s->sigfd < 0 || s->guardfd < 0 || s->livefd < 0 ||
        add_fd(s, s->livefd, &tags[6]) < 0 ||
        add_fd(s, MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd, &tags[1]) < 0 ||
        add_fd(s, s->evfd, &tags[2]) < 0 || add_fd(s, s->sigfd, &tags[3]) < 0 ||
        add_fd(s, s->guardfd, &tags[4]) < 0) {
        srv_log(s, 0, "event loop: %s", strerror(errno));
        goto out;
    }
    {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        unsigned port = di ? di->port : 0;
        char host[128];
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
            snprintf(url, sizeof(url), "http://[%s]:%u", host, port);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
            snprintf(url, sizeof(url), "http://%s:%u", strcmp(host, "0.0.0.0") ? host : "127.0.0.1",
                     port);
        }
        srv_log(s, 2, "listening on %s (engine %s, %u workers, store %s, keys %s, mode %s)", url,
                hark_engine_name(s->engine), hark_scheduler_workers(s->sched),
                hark_store_uri(s->store), s->auth_required ? "required" : "not required",
                srv_mode_name(s->mode));
        if (!s->sched)
            srv_log(s, 2,
                    "API only (workers = 0): jobs are left to `hark worker --db %s` processes; "
                    "live sessions are refused",
                    hark_store_uri(s->store));
        if (ready)
            ready(url);
    }

    while (!s->stopping) {
        struct epoll_event evs[64];
        MHD_UNSIGNED_LONG_LONG to;
        int i, n, tms = -1;
        if (MHD_get_timeout(s->mhd, &to) == MHD_YES)
            tms = to > INT_MAX ? INT_MAX : (int)to;
        n = epoll_wait(s->epfd, evs, 64, tms);
        if (n < 0 && errno != EINTR) {
            srv_log(s, 0, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (i = 0; i < n; i++) {
            int tag = *(int *)evs[i].data.ptr;
            if (tag == TAG_EVENT) {
                handle_messages(s);
            } else if (tag == TAG_SIGNAL) {
                struct signalfd_siginfo si;
                if (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    srv_log(s, 2, "%s: stopping (running jobs get %llu ms to finish)",
                            si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
                            (unsigned long long)cfg->shutdown_grace_ms);
                    s->stopping = 1;
                }
            } else if (tag == TAG_GUARD) {
                guard_expire(s);
            } else if (tag == TAG_LIVE) {
                srv_live_idle(s);
            } else if (tag == TAG_WS) {
                srv_ws_io(evs[i].data.ptr, evs[i].events);
            }
        }
        MHD_run(s->mhd);
    }

    /* graceful stop */
    lfd = MHD_quiesce_daemon(s->mhd);
    srv_live_shutdown(s); /* clients get 1001; sessions stay on disk for a resume */
    {
        unsigned back = hark_runner_stop(s->runner, (unsigned)cfg->shutdown_grace_ms);
        if (back)
            srv_log(s, 2, "%u running job(s) handed back to the queue", back);
    }
    handle_messages(s); /* the runner's last events */
    waiters_job_ended(s, 0);
    srv_streams_close_all(s);
    {
        double until = hark__now_ms() + 2000; /* let the last answers go out */
        while (hark__now_ms() < until && s->m.connections_open > 0) {
            struct epoll_event evs[16];
            MHD_UNSIGNED_LONG_LONG to;
            int tms = 50;
            if (MHD_get_timeout(s->mhd, &to) == MHD_YES && to < 50)
                tms = (int)to;
            int i, n = epoll_wait(s->epfd, evs, 16, tms);
            for (i = 0; i < n; i++) {
                int tag = *(int *)evs[i].data.ptr;
                if (tag == TAG_EVENT)
                    handle_messages(s);
                else if (tag == TAG_WS) /* the close frames (1001) of live clients */
                    srv_ws_io(evs[i].data.ptr, evs[i].events);
            }
            MHD_run(s->mhd);
            if (!s->waiters && !s->streams && !srv_live_has_clients(s))
                break;
        }
    }
    code = 0;
    srv_log(s, 2, "stopped");
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
out:
    srv_live_drop_clients(s); /* their MHD handles die with the daemon */
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->offload_started) {
        pthread_mutex_lock(&s->mu);
        s->offload_stop = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->offload, NULL);
    }
    if (s->watch_started) {
        pthread_mutex_lock(&s->watch_mu);
        s->watch_stop = 1;
        pthread_cond_signal(&s->watch_cv);
        pthread_mutex_unlock(&s->watch_mu);
        pthread_join(s->watch, NULL);
    }
    if (s->runner)
        hark_runner_stop(s->runner, 0);
    srv_live_free(s);
    {
        srv_msg *m = s->msgs, *next;
        for (; m; m = next) {
            next = m->next;
            if (m->kind == MSG_EVENT) {
                hark__free(m->ev.json);
                hark__free(m->ev.text);
            } else if (m->kind == MSG_LIVE) {
                srv_live_message_free(m->arg);
            }
            hark__free(m);
        }
    }
    close_all(s);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->evfd >= 0)
        close(s->evfd);
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (s->guardfd >= 0)
        close(s->guardfd);
    hark_log_set(NULL, NULL, HARK_LOG_WARN);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->watch_mu);
    pthread_cond_destroy(&s->watch_cv);
    hark__free(s->watched);
    hark__free(s);
    return code;
}
