/*
 * server.h: the pieces of `hark serve` (src/server/) and how they meet.
 *
 * One thread, the loop (loop.c), owns every socket: libmicrohttpd in
 * external-epoll mode frames HTTP/1.1; our epoll set holds MHD's epoll fd,
 * an eventfd for messages from other threads, a signalfd and the slow-client
 * guard's timerfd. Nothing on the loop blocks for long: transcription runs on
 * the scheduler's workers (through the job runner), and whatever may block
 * (fsync, probing an upload's audio, submitting it) runs on the offload
 * thread while the request's connection is suspended; results come back as
 * messages and the connection is resumed.
 *
 *     request ─► loop.c (route, auth, body) ─► routes.c / upload.c / openai.c
 *                     ▲                               │ blocking work
 *                     │ messages (eventfd)            ▼
 *                 runner events, offload results ◄─ offload thread
 *
 * A request's lifetime: MHD calls the handler once when the headers are in
 * (srv_req is created, the route and the caller are resolved), once per
 * piece of body, and once more at the end, when the route's handler runs and
 * either answers (srv_reply_*) or goes asynchronous (srv_offload, or waiting
 * for a job). Every field of srv and srv_req is touched on the loop thread
 * only, except where a comment says otherwise.
 */
#ifndef HARK_SERVER_H
#define HARK_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "hark/hark.h"
#include "config.h"
#include "multipart.h"
#include "../util/util.h"

typedef struct srv srv;
typedef struct srv_req srv_req;

/* ---- routes ---------------------------------------------------------------------------------- */

enum srv_body { BODY_NONE = 0, BODY_JSON, BODY_UPLOAD };

/* Route flags. */
enum {
    R_ADMIN = 1,   /* admin keys only */
    R_PUBLIC = 2,  /* no key needed (health, metrics when allowed) */
    R_NOLIMIT = 4, /* not rate limited */
    R_WRITE = 8,   /* refused in maintenance mode */
    R_WSAUTH = 16  /* WebSocket: the key may come in the first message instead */
};

typedef void (*srv_handler)(srv_req *q);

typedef struct srv_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/recordings/{id}/transcript": {id} is a positive integer */
    enum srv_body body;
    unsigned flags;
    srv_handler fn;
    const char *name; /* for metrics: the pattern */
} srv_route;

/* Match method + path: the route, or NULL with *status 404 or 405 (and `allow` filled). */
const srv_route *srv_route_match(const char *method, const char *path, int64_t ids[2],
                                 unsigned *status, char *allow, size_t allow_size);
extern const size_t srv_n_routes;
extern const srv_route srv_routes[];

/* ---- the caller ------------------------------------------------------------------------------ */

typedef struct srv_principal {
    int64_t key;  /* API key id, 0 = none (local use without keys) */
    int64_t user; /* user id, 0 = none: sees everything */
    int admin;    /* may use admin routes and see everyone's data */
    int pending;  /* R_WSAUTH route without a key yet: it must come in the first message */
} srv_principal;

/* The owner filter for this caller: 0 (everything) for admins, else the user. */
static inline int64_t srv_owner_filter(const srv_principal *p)
{
    return p->admin ? 0 : p->user;
}

/* ---- requests -------------------------------------------------------------------------------- */

enum srv_req_state {
    Q_NEW = 0, /* headers in */
    Q_BODY,    /* receiving the body */
    Q_ASYNC,   /* suspended: offloaded or waiting for a job */
    Q_READY,   /* an answer is ready to queue */
    Q_QUEUED,  /* answer queued */
    Q_UPGRADED /* WebSocket */
};

typedef struct srv_upload srv_upload;

struct srv_req {
    srv *s;
    struct MHD_Connection *c;
    const srv_route *route;
    const char *method, *url;
    int64_t ids[2]; /* {id} values of the path */
    enum srv_req_state state;
    srv_principal who;
    double t0; /* ms, monotonic */
    int has_body;

    hark_buf body;      /* BODY_JSON: the request body */
    int body_too_big;   /* the body went past its limit: discard the rest */
    uint64_t discarded; /* bytes thrown away after an error */
    srv_upload *up;     /* BODY_UPLOAD */

    /* the answer */
    unsigned status;
    struct MHD_Response *resp;

    /* asynchronous work */
    void (*work)(srv_req *q); /* runs on the offload thread */
    void (*done)(srv_req *q); /* then on the loop, before the answer is queued */
    int suspended;            /* MHD has the connection suspended */
    int waiting;              /* in srv->waiters */
    int translate;            /* /v1/audio/translations: translate to English */
    int upgrade;              /* the answer is a WebSocket upgrade */
    int64_t wait_job;         /* waiting for this job to finish (openai.c) */
    srv_req *wait_next;
    void *ctx; /* the route's own state */
    void (*ctx_free)(void *ctx);
};

/* ---- answers (reply.c) ------------------------------------------------------------------------
 */

/* Set the answer. `body` is copied. Content-Type is `ctype`. */
void srv_reply(srv_req *q, unsigned status, const char *ctype, const void *body, size_t len);
/* JSON answer from a buffer (taken: the buffer is emptied). */
void srv_reply_json(srv_req *q, unsigned status, hark_buf *json);
/* {"error":{"code","message","type"}}. */
void srv_error(srv_req *q, unsigned status, const char *code, const char *fmt, ...)
    HARK_PRINTF(4, 5);
/* The answer for a library error code, with hark_error_last() as its message. */
void srv_error_hark(srv_req *q, int rc);
/* Add a header to the answer set last. */
void srv_header(srv_req *q, const char *name, const char *value);
/* A query argument, or NULL. */
const char *srv_arg(srv_req *q, const char *name);
/* Parse an integer query argument within [lo, hi]; absent: *out = def. 0, or -1 after
 * answering 400. */
int srv_arg_int(srv_req *q, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out);
/* A request header, or NULL. */
const char *srv_hdr(srv_req *q, const char *name);
/* Parse the JSON body as an object (answers 400 and returns NULL on error). */
struct json_t *srv_body_object(srv_req *q);

/* ---- the loop (loop.c) ----------------------------------------------------------------------- */

/* Run q->work on the offload thread, then q->done on the loop; the connection is suspended
 * meanwhile. */
void srv_offload(srv_req *q, void (*work)(srv_req *q), void (*done)(srv_req *q));
/* Run work(arg) on the offload thread, then done(arg) on the loop. */
void srv_offload_fn(srv *s, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Hand a live message (live.c) to the loop (any thread). */
void srv_post_live(srv *s, void *msg);
/* Wait (suspended) until job `id` ends, then run `done` on the loop. May be called from a
 * `done` callback. */
void srv_wait_job(srv_req *q, int64_t job, void (*done)(srv_req *q));
/* A request waits for `job`, which may end in another process: watch the store for its end
 * (a no-op when every job runs here). Loop thread. */
void srv_watch_job(srv *s, int64_t job);

/* ---- job event streams (events.c) --------------------------------------------------------------
 */

typedef struct srv_stream srv_stream;
/* GET /v1/jobs/{id}/events and OpenAI stream=true: a text/event-stream answer fed by job
 * events. `openai`: OpenAI's transcript.text.delta/done events instead of hark's. */
void srv_stream_start(srv_req *q, int64_t job, int openai);

/* A job event from the runner, rendered by the runner's thread and delivered on the loop. */
typedef struct srv_event {
    hark_job_event_kind kind;
    int64_t job, recording;
    char *json; /* the event's data line (owned) */
    char *text; /* SEGMENTS: the new text; DONE: the whole text (owned, may be NULL) */
} srv_event;

void srv_streams_deliver(srv *s, const srv_event *ev);
void srv_streams_close_all(srv *s);

/* ---- callers (auth.c) --------------------------------------------------------------------------
 */

/* Resolve the caller from Authorization; answers 401/403/429 and returns -1 when refused. */
int srv_auth(srv_req *q);
void srv_auth_free(srv *s);

/* ---- uploads (upload.c) -----------------------------------------------------------------------
 */

/* Start receiving an upload (multipart or raw); answers and returns -1 on refusal. */
int srv_upload_begin(srv_req *q);
/* A piece of body. 0, or -1 when the upload failed (answer set). */
int srv_upload_feed(srv_req *q, const char *data, size_t len);
/* The body is complete: check, store and submit on the offload thread, then `then` runs on
 * the loop with the outcome in the upload (see srv_upload_result_get). `priority` is the
 * job's class unless the form's 'priority' field says otherwise. */
void srv_upload_finish(srv_req *q, hark_priority priority, void (*then)(srv_req *q));
void srv_upload_free(srv_upload *u);

typedef struct srv_upload_result {
    int64_t recording, job;
    int existed;
    const char *field_format; /* response_format form field, or NULL */
    const char *field_stream; /* stream form field, or NULL */
} srv_upload_result;
/* After srv_upload_finish: 0 and the outcome, or -1 (the answer is set already). */
int srv_upload_result_get(srv_req *q, srv_upload_result *out);
/* A form field of the upload, or NULL. */
const char *srv_upload_field(srv_req *q, const char *name);
/* Whether some field `name` (fields may repeat: timestamp_granularities[]) has `value`. */
int srv_upload_field_has(srv_req *q, const char *name, const char *value);

/* ---- live sessions (live.c) ---------------------------------------------------------------------
 */

void srv_live_route(srv_req *q);      /* GET /v1/live */
void srv_live_vosk_route(srv_req *q); /* GET /v1/live/vosk */
void srv_ws_io(void *conn, uint32_t events);
void srv_live_message(srv *s, void *msg);
void srv_live_message_free(void *msg);
int srv_live_init(srv *s); /* returns the idle timer's fd */
void srv_live_arm_idle(srv *s);
void srv_live_idle(srv *s);
void srv_live_shutdown(srv *s);
void srv_live_drop_clients(srv *s); /* before MHD_stop_daemon */
int srv_live_has_clients(srv *s);   /* WebSocket connections are open */
void srv_live_free(srv *s);
/* ---- the web UI (static.c) ------------------------------------------------------------------
 */

/* A file of web/, embedded at build time (tools/embed-web.c writes the table). */
typedef struct srv_asset {
    const char *name; /* path below web/, e.g. "app.js" */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip copy, or NULL when it would not be smaller */
    size_t gz_len;
    const char *etag; /* strong, quoted: "\"<16 hex>\"" */
} srv_asset;
extern const srv_asset srv_assets[]; /* ends with a NULL name */
extern const size_t srv_n_assets;
extern const char srv_assets_version[]; /* assets are served at /static/<version>/<name> */

/* GET / (the page) and GET /static/... (its assets). */
void srv_static(srv_req *q);

/* ---- the server --------------------------------------------------------------------------------
 */

enum srv_mode { MODE_FULL = 0, MODE_DEGRADED, MODE_MAINTENANCE };
const char *srv_mode_name(enum srv_mode m);

typedef struct srv_metrics {
    uint64_t requests[6]; /* by status class: [1] 1xx ... [5] 5xx */
    uint64_t by_route[64][6];
    uint64_t latency_bucket[64][12]; /* cumulative counts per bound, see loop.c */
    double latency_sum[64];
    uint64_t upload_bytes, uploads, uploads_existing, rejected_429, guard_closed;
    uint64_t connections_open, connections_total;
} srv_metrics;

struct srv {
    hark_server_config cfg;
    FILE *log;
    int log_level; /* 0 error, 1 warn, 2 info, 3 debug */

    hark_store *store;
    hark_store *cache_store;
    hark_cache *cache;
    hark_engine *engine;
    hark_scheduler *sched;
    hark_runner *runner;
    hark_summary_options summary; /* summary jobs' endpoint (url NULL = not configured) */
    char *data_dir;               /* content-addressed uploads: <data_dir>/<h[0..2]>/<hash> */
    char *tmp_dir;                /* <data_dir>/tmp: uploads on their way in */

    struct MHD_Daemon *mhd;
    int epfd, evfd, sigfd, guardfd, livefd;
    int stopping;
    int auth_required; /* keys exist, or listening beyond loopback */
    enum srv_mode mode;
    double started_ms;
    int64_t started_unix_ms;

    /* messages to the loop (any thread) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct srv_msg *msgs, *msgs_tail;
    /* offload work (loop -> offload thread) */
    struct srv_work *work;
    size_t n_work, cap_work;
    pthread_t offload;
    int offload_started, offload_stop;
    /* jobs that requests wait for and that may run in another process (an API-only node, a
     * shared store): the watch thread polls their state and posts their progress and end as
     * a runner's events would (loop.c) */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    struct srv_watched *watched;
    size_t n_watch, cap_watch;
    pthread_t watch;
    int watch_on, watch_started, watch_stop;

    srv_req *waiters;    /* waiting for jobs (loop thread) */
    srv_stream *streams; /* event streams (loop thread) */
    void *buckets;       /* rate limits (auth.c) */
    struct srv_conn *guard_head, *guard_tail;

    srv_metrics m;
};

/* Log a line (loop thread or any: one fprintf per line). */
void srv_log(srv *s, int level, const char *fmt, ...) HARK_PRINTF(3, 4);

/* Run the server until SIGTERM/SIGINT (graceful) with these settings; returns an exit code.
 * `ready` (may be NULL) is called once listening, with the URL. */
int hark__serve(const hark_server_config *cfg, FILE *log, void (*ready)(const char *url));

#endif
