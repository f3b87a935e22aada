/*
 * live_client.c: `hark listen --server URL`, the client of the live
 * transcription protocol (docs/live.md).
 *
 * Connection: a TCP socket, our own HTTP/1.1 upgrade request (random
 * Sec-WebSocket-Key; the answer must be 101 with Sec-WebSocket-Accept =
 * base64(SHA-1(key + RFC 6455 GUID)), checked with OpenSSL), then libwslay
 * (client context: masking, framing, control frames) over the socket made
 * non-blocking. Bytes the server sent right after its 101 headers are handed
 * to wslay before the socket is read again.
 *
 * Audio: read from the caller every <=20 ms, converted to s16le and cut into
 * frames of `frame_ms`, each with an 8-byte little-endian sequence number
 * (from 1). Every frame stays in a queue until the server acknowledges it
 * (`ack`, or `ready.ack` after a reconnection); only then is it freed. So
 * after a drop nothing is lost: the client reconnects with
 * {"resume": {"session", "last_final"}} and resends from ack + 1. At most
 * ~1 MiB is handed to wslay at a time (flow control); the rest waits in the
 * queue. While no connection is up the caller's audio keeps being read (so
 * the capture never overruns) and queued, up to max_unacked_bytes.
 *
 * Reconnection: after a network error, an unanswered connection (no message
 * for 10 s while frames wait for their ack), close 1001 (server shutting
 * down), 1011 or an HTTP 5xx: retry after 250 ms, doubling up to
 * max_backoff_ms, until give_up_ms without a connection. Fatal: a bad URL,
 * the first connection failing, HTTP 401/403/404, close 1003/1007/1009, and
 * 1008 (a key refused; an unknown session on resume is retried once as a new
 * session, with the unacknowledged frames renumbered from 1).
 *
 * Finals are delivered once each, in utterance order: one re-sent by the
 * server after a resume (utterance <= last_final) is skipped.
 *
 * Invariants: queue frames have consecutive sequence numbers acked + 1 ..
 * next_seq - 1; `sent` (highest number handed to wslay on this connection)
 * is in [acked, next_seq - 1].
 */
#include "live_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "cli.h"
#include "../util/util.h"

#define WS_GUID         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define CONNECT_MS      5000
#define HANDSHAKE_MS    10000
#define SILENT_MS       10000 /* no message while frames wait for an ack: the link is dead */
#define END_WAIT_MS     120000
#define WSLAY_QUEUE_MAX (1u << 20)

typedef struct frame {
    uint64_t seq;
    size_t len;          /* bytes of data, header included */
    unsigned char *data; /* 8-byte sequence number, then s16le samples */
} frame;

typedef enum { LINK_OK, LINK_RETRY, LINK_FATAL, LINK_DONE } link_state;

typedef struct client {
    const cli_live_client_options *o;
    const char *cmd;
    cli_live_client_result *res;
    char host[256], port[16], path[1024];
    /* the connection */
    int fd;
    wslay_event_context_ptr ws;
    unsigned char pending[4096]; /* bytes after the 101 headers, not yet given to wslay */
    size_t pending_len, pending_off;
    double last_msg_ms; /* when the server last said something */
    int ready;          /* `ready` received on this connection */
    int end_sent;       /* `end` queued on this connection */
    link_state link;    /* set by the message handler */
    uint16_t close_code;
    /* the stream */
    frame *q; /* circular queue of unacknowledged frames */
    size_t q_head, q_len, q_cap, q_bytes;
    uint64_t next_seq, acked, sent;
    int16_t *pcm; /* samples of the frame being filled */
    size_t pcm_len, frame_samples;
    int input_ended;
    int got_end;
    char session[128];
    int64_t last_final;
    int resume_refused; /* the server did not know our session once already */
    char err[512];      /* why the link failed */
} client;

/* ---- small pieces ------------------------------------------------------------------------- */

int cli_ws_parse_url(const char *url, char *host, size_t host_n, char *port, size_t port_n,
                     char *path, size_t path_n)
{
    const char *p, *h, *hend, *slash;
    const char *def_port = "80";
    if (strncmp(url, "ws://", 5) == 0)
        p = url + 5;
    else if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return -1;
    slash = strchr(p, '/');
    hend = slash ? slash : p + strlen(p);
    h = p;
    if (*h == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb)
            return -1;
        if ((size_t)(rb - h - 1) >= host_n || rb == h + 1)
            return -1;
        snprintf(host, host_n, "%.*s", (int)(rb - h - 1), h + 1);
        p = rb + 1;
    } else {
        const char *colon = memchr(h, ':', (size_t)(hend - h));
        const char *e = colon ? colon : hend;
        if (e == h || (size_t)(e - h) >= host_n)
            return -1;
        snprintf(host, host_n, "%.*s", (int)(e - h), h);
        p = e;
    }
    if (*p == ':') {
        size_t n = (size_t)(hend - p - 1);
        size_t i;
        if (n == 0 || n >= port_n || n > 5)
            return -1;
        for (i = 0; i < n; i++)
            if (p[1 + i] < '0' || p[1 + i] > '9')
                return -1;
        snprintf(port, port_n, "%.*s", (int)n, p + 1);
    } else if (p == hend) {
        snprintf(port, port_n, "%s", def_port);
    } else {
        return -1;
    }
    if (!slash || strcmp(slash, "/") == 0)
        slash = "/v1/live";
    if (strlen(slash) >= path_n)
        return -1;
    snprintf(path, path_n, "%s", slash);
    return 0;
}

int cli_ws_accept(const char *key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    if (n < 0 || (size_t)n >= sizeof(buf) ||
        !EVP_Digest(buf, (size_t)n, md, &md_len, EVP_sha1(), NULL) || md_len != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return 0;
}

static void notice(client *c, const char *fmt, ...) HARK_PRINTF(2, 3);
static void notice(client *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!c->o->notice)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->o->notice(msg, c->o->payload);
}

static void link_fail(client *c, link_state st, const char *fmt, ...) HARK_PRINTF(3, 4);
static void link_fail(client *c, link_state st, const char *fmt, ...)
{
    va_list ap;
    if (c->link != LINK_OK)
        return; /* the first reason stands */
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    c->link = st;
}

/* ---- the frame queue ---------------------------------------------------------------------- */

static frame *q_at(client *c, size_t i)
{
    return &c->q[(c->q_head + i) % c->q_cap];
}

static int q_push(client *c, frame f)
{
    if (c->q_len == c->q_cap) {
        size_t ncap = c->q_cap ? c->q_cap * 2 : 256, i;
        frame *nq = hark__calloc(ncap, sizeof(frame));
        if (!nq)
            return -1;
        for (i = 0; i < c->q_len; i++)
            nq[i] = *q_at(c, i);
        hark__free(c->q);
        c->q = nq;
        c->q_cap = ncap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_len) % c->q_cap] = f;
    c->q_len++;
    c->q_bytes += f.len;
    return 0;
}

/* The server has frames up to `seq`: free them. */
static void q_ack(client *c, uint64_t seq)
{
    if (seq >= c->next_seq)
        seq = c->next_seq - 1; /* acknowledges more than was sent: keep what we have */
    while (c->q_len && q_at(c, 0)->seq <= seq) {
        frame *f = q_at(c, 0);
        c->q_bytes -= f->len;
        hark__free(f->data);
        f->data = NULL;
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    }
    if (seq > c->acked)
        c->acked = seq;
    if (c->sent < c->acked)
        c->sent = c->acked;
}

static void put_seq(unsigned char *p, uint64_t seq)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(seq >> (8 * i));
}

/* Close the frame being filled (if it has samples) and queue it. 0 or -1 (memory, cap). */
static int flush_frame(client *c)
{
    frame f;
    size_t i;
    if (c->pcm_len == 0)
        return 0;
    if (c->q_bytes + c->pcm_len * 2 + 8 > c->o->max_unacked_bytes) {
        hark_error_set(HARK_ETOOBIG,
                       "%zu MiB of audio is waiting for the server's acknowledgement: giving up",
                       c->q_bytes >> 20);
        return -1;
    }
    f.seq = c->next_seq;
    f.len = 8 + c->pcm_len * 2;
    f.data = hark__malloc(f.len);
    if (!f.data) {
        hark_error_set(HARK_ENOMEM, "out of memory");
        return -1;
    }
    put_seq(f.data, f.seq);
    for (i = 0; i < c->pcm_len; i++) {
        uint16_t v = (uint16_t)c->pcm[i];
        f.data[8 + 2 * i] = (unsigned char)(v & 0xff);
        f.data[8 + 2 * i + 1] = (unsigned char)(v >> 8);
    }
    if (q_push(c, f) < 0) {
        hark__free(f.data);
        hark_error_set(HARK_ENOMEM, "out of memory");
        return -1;
    }
    c->next_seq++;
    c->pcm_len = 0;
    return 0;
}

/* Pull what the caller has (waiting up to timeout_ms) into frames. 0 or -1. */
static int pull_audio(client *c, unsigned timeout_ms)
{
    float buf[1600];
    long n, i;
    if (c->input_ended)
        return 0;
    if (c->o->stop && c->o->stop(c->o->payload)) {
        c->input_ended = 1;
        return flush_frame(c);
    }
    for (;;) {
        n = c->o->read(buf, HARK_ARRAY_SIZE(buf), timeout_ms, c->o->payload);
        if (n < 0) {
            c->input_ended = 1;
            return flush_frame(c);
        }
        if (n == 0)
            return 0;
        for (i = 0; i < n; i++) {
            float x = buf[i] * 32767.0f;
            x = x > 32767.0f ? 32767.0f : x < -32768.0f ? -32768.0f : x;
            c->pcm[c->pcm_len++] = (int16_t)(x < 0 ? x - 0.5f : x + 0.5f);
            if (c->pcm_len == c->frame_samples && flush_frame(c) < 0)
                return -1;
        }
        timeout_ms = 0; /* drain what is there, do not wait again */
    }
}

/* ---- wslay callbacks ---------------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    client *c = user;
    ssize_t n;
    (void)flags;
    if (c->pending_off < c->pending_len) {
        size_t k = HARK_MIN(len, c->pending_len - c->pending_off);
        memcpy(buf, c->pending + c->pending_off, k);
        c->pending_off += k;
        return (ssize_t)k;
    }
    do
        n = recv(c->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        } else {
            link_fail(c, LINK_RETRY, "connection lost: %s", strerror(errno));
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
    }
    if (n == 0) {
        link_fail(c, LINK_RETRY, "the server closed the connection");
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    client *c = user;
    ssize_t n;
    (void)flags;
    do
        n = send(c->fd, data, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        } else {
            link_fail(c, LINK_RETRY, "connection lost: %s", strerror(errno));
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
    }
    return n;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

/* A `final` message as a transcript (times in samples). NULL on a malformed message. */
static hark_transcript *final_transcript(json_t *msg)
{
    hark_transcript *t = NULL;
    json_t *segs = json_object_get(msg, "segments"), *sg;
    hark_word *words = NULL;
    size_t i, k;
    if (hark_transcript_new(&t) < 0)
        return NULL;
    if (json_is_array(segs) && json_array_size(segs) > 0) {
        json_array_foreach(segs, i, sg)
        {
            hark_segment s;
            json_t *ws = json_object_get(sg, "words"), *w;
            const char *text = json_string_value(json_object_get(sg, "text"));
            memset(&s, 0, sizeof(s));
            s.start = json_integer_value(json_object_get(sg, "start_ms")) * 16;
            s.end = json_integer_value(json_object_get(sg, "end_ms")) * 16;
            s.text = text ? text : "";
            if (s.end < s.start)
                s.end = s.start;
            if (json_is_array(ws) && json_array_size(ws) > 0) {
                words = hark__calloc(json_array_size(ws), sizeof(hark_word));
                if (!words)
                    goto fail;
                json_array_foreach(ws, k, w)
                {
                    const char *wt = json_string_value(json_object_get(w, "word"));
                    words[k].text = wt ? wt : "";
                    words[k].start = json_integer_value(json_object_get(w, "start_ms")) * 16;
                    words[k].end = json_integer_value(json_object_get(w, "end_ms")) * 16;
                    words[k].p = (float)json_number_value(json_object_get(w, "p"));
                }
                s.words = words;
                s.n_words = (uint32_t)json_array_size(ws);
            }
            if (hark_transcript_add(t, &s) < 0)
                goto fail;
            hark__free(words);
            words = NULL;
        }
    } else {
        const char *text = json_string_value(json_object_get(msg, "text"));
        hark_segment s;
        memset(&s, 0, sizeof(s));
        s.start = json_integer_value(json_object_get(msg, "start_ms")) * 16;
        s.end = json_integer_value(json_object_get(msg, "end_ms")) * 16;
        if (s.end < s.start)
            s.end = s.start;
        s.text = text ? text : "";
        if (text && *text && hark_transcript_add(t, &s) < 0)
            goto fail;
    }
    return t;
fail:
    hark__free(words);
    hark_transcript_free(t);
    return NULL;
}

static void on_text(client *c, const uint8_t *msg, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)msg, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!j || !type) {
        link_fail(c, LINK_FATAL, "the server sent a malformed message");
        json_decref(j);
        return;
    }
    if (strcmp(type, "ready") == 0) {
        const char *session = json_string_value(json_object_get(j, "session"));
        json_int_t ack = json_integer_value(json_object_get(j, "ack"));
        int resumed = json_is_true(json_object_get(j, "resumed"));
        if (session)
            snprintf(c->session, sizeof(c->session), "%s", session);
        c->res->recording = json_integer_value(json_object_get(j, "recording"));
        snprintf(c->res->session, sizeof(c->res->session), "%s", c->session);
        if (ack > 0)
            q_ack(c, (uint64_t)ack);
        c->sent = c->acked; /* resend from ack + 1 */
        c->ready = 1;
        c->resume_refused = 0;
        if (resumed)
            notice(c, "resumed session %s at frame %llu", c->session,
                   (unsigned long long)c->acked + 1);
        else
            notice(c, "connected: recording %lld", (long long)c->res->recording);
    } else if (strcmp(type, "ack") == 0) {
        json_int_t seq = json_integer_value(json_object_get(j, "seq"));
        if (seq > 0)
            q_ack(c, (uint64_t)seq);
    } else if (strcmp(type, "partial") == 0) {
        json_int_t utt = json_integer_value(json_object_get(j, "utterance"));
        const char *text = json_string_value(json_object_get(j, "text"));
        if (c->o->partial && text && utt > c->last_final)
            c->o->partial(utt, text, c->o->payload);
    } else if (strcmp(type, "final") == 0) {
        json_int_t utt = json_integer_value(json_object_get(j, "utterance"));
        if (utt > c->last_final) {
            hark_transcript *t = final_transcript(j);
            if (!t) {
                link_fail(c, LINK_FATAL, "out of memory");
            } else {
                c->last_final = utt;
                c->res->utterances++;
                if (c->o->final)
                    c->o->final(utt, t, c->o->payload);
                hark_transcript_free(t);
            }
        }
    } else if (strcmp(type, "slow_down") == 0) {
        notice(c, "the server is behind by %lld utterance(s)",
               (long long)json_integer_value(json_object_get(j, "backlog_utterances")));
    } else if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(j, "code"));
        const char *m = json_string_value(json_object_get(j, "message"));
        snprintf(c->err, sizeof(c->err), "server: %s%s%s", m ? m : "error", code ? ": " : "",
                 code ? code : "");
    } else if (strcmp(type, "end") == 0) {
        c->got_end = 1;
        c->link = LINK_DONE;
    }
    json_decref(j);
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    client *c = user;
    (void)ctx;
    c->last_msg_ms = hark__now_ms();
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        on_text(c, arg->msg, arg->msg_length);
    } else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        uint16_t code = arg->status_code;
        c->close_code = code;
        if (c->got_end || code == 1000) {
            if (!c->got_end)
                link_fail(c, LINK_RETRY, "the server closed the stream before its end");
        } else if (code == 1001 || code == 1011 || code == 0 || code == 1006) {
            link_fail(c, LINK_RETRY, "the server closed the connection (%u)%s%s", code,
                      c->err[0] ? ": " : "", c->err);
        } else if (code == 1008 && c->session[0] && !c->ready && !c->resume_refused) {
            c->resume_refused = 1;
            link_fail(c, LINK_RETRY, "the server does not know session %s any more", c->session);
        } else {
            char why[512];
            snprintf(why, sizeof(why), "%s", c->err);
            link_fail(c, LINK_FATAL, "the server refused the stream (close %u%s%s)", code,
                      why[0] ? ", " : "", why);
        }
    }
}

/* ---- connecting --------------------------------------------------------------------------- */

static void disconnect(client *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->ready = 0;
    c->end_sent = 0;
    c->pending_len = c->pending_off = 0;
}

static int tcp_connect(client *c)
{
    struct addrinfo hints, *ai = NULL, *p;
    int fd = -1, rc;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(c->host, c->port, &hints, &ai)) != 0) {
        link_fail(c, LINK_RETRY, "%s: %s", c->host, gai_strerror(rc));
        return -1;
    }
    for (p = ai; p; p = p->ai_next) {
        struct pollfd pfd;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, p->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            pfd.fd = fd;
            pfd.events = POLLOUT;
            if (poll(&pfd, 1, CONNECT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            errno = soerr ? soerr : ETIMEDOUT;
        }
        link_fail(c, LINK_RETRY, "cannot connect to %s:%s: %s", c->host, c->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* Write all of buf (non-blocking socket), within the deadline. */
static int send_all(int fd, const char *buf, size_t len, double deadline)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pfd = { fd, POLLOUT, 0 };
            int wait = (int)(deadline - hark__now_ms());
            if (wait <= 0 || poll(&pfd, 1, wait) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* The value of header `name` in the response head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, char *out, size_t n)
{
    const char *p = strstr(head, "\r\n");
    size_t nl = strlen(name);
    while (p && p[2] != '\r' && p[2]) {
        const char *line = p + 2, *end = strstr(line, "\r\n");
        if (!end)
            break;
        if ((size_t)(end - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            size_t len;
            while (*v == ' ' || *v == '\t')
                v++;
            len = (size_t)(end - v);
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            snprintf(out, n, "%.*s", (int)len, v);
            return out;
        }
        p = end;
    }
    return NULL;
}

/* Connect, upgrade, set up wslay. 0, or -1 with c->link/c->err saying why. */
static int ws_connect(client *c)
{
    unsigned char nonce[16];
    char key[32], accept[29], got[128], head[8192];
    hark_buf req = HARK_BUF_INIT;
    size_t have = 0;
    char *eoh = NULL;
    double deadline;
    int status = 0;
    struct wslay_event_callbacks cb = { ws_recv, ws_send, ws_genmask, NULL, NULL, NULL, ws_on_msg };

    c->link = LINK_OK;
    c->err[0] = 0;
    c->close_code = 0;
    if ((c->fd = tcp_connect(c)) < 0)
        goto fail;
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        goto fail;
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    if (cli_ws_accept(key, accept) < 0)
        goto fail;
    hark_buf_printf(&req,
                    "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                    "Sec-WebSocket-Version: 13\r\nUser-Agent: hark/%s\r\n",
                    c->path, c->host, c->port, key, hark_version());
    if (c->o->key)
        hark_buf_printf(&req, "Authorization: Bearer %s\r\n", c->o->key);
    if (hark_buf_puts(&req, "\r\n") < 0)
        goto fail;
    deadline = hark__now_ms() + HANDSHAKE_MS;
    if (send_all(c->fd, req.ptr, req.len, deadline) < 0) {
        link_fail(c, LINK_RETRY, "%s:%s: cannot send the upgrade request: %s", c->host, c->port,
                  strerror(errno));
        goto fail;
    }
    while (!eoh) {
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        int wait = (int)(deadline - hark__now_ms());
        ssize_t n;
        if (have + 1 >= sizeof(head) || wait <= 0 || poll(&pfd, 1, wait) <= 0) {
            link_fail(c, LINK_RETRY, "%s:%s: no WebSocket answer", c->host, c->port);
            goto fail;
        }
        n = recv(c->fd, head + have, sizeof(head) - 1 - have, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            link_fail(c, LINK_RETRY, "%s:%s: the server closed the connection during the upgrade",
                      c->host, c->port);
            goto fail;
        }
        have += (size_t)n;
        head[have] = 0;
        eoh = strstr(head, "\r\n\r\n");
    }
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    if (status != 101) {
        link_fail(c, status >= 500 || status == 0 || status == 429 ? LINK_RETRY : LINK_FATAL,
                  "%s:%s%s: the server answered HTTP %d%s", c->host, c->port, c->path, status,
                  status == 401 || status == 403 ? " (the API key is missing or refused: --key)"
                  : status == 404                ? " (no live endpoint: is it `hark serve`?)"
                                                 : "");
        goto fail;
    }
    if (!header(head, "Sec-WebSocket-Accept", got, sizeof(got)) || strcmp(got, accept) != 0) {
        link_fail(c, LINK_FATAL, "%s:%s: not a WebSocket answer (Sec-WebSocket-Accept)", c->host,
                  c->port);
        goto fail;
    }
    eoh += 4;
    c->pending_len = have - (size_t)(eoh - head);
    memcpy(c->pending, eoh, c->pending_len);
    c->pending_off = 0;
    if (wslay_event_context_client_init(&c->ws, &cb, c) != 0)
        goto fail;
    wslay_event_config_set_max_recv_msg_length(c->ws, 1u << 20);
    hark_buf_dispose(&req);
    c->last_msg_ms = hark__now_ms();
    return 0;
fail:
    if (c->link == LINK_OK)
        link_fail(c, LINK_RETRY, "%s:%s: cannot connect", c->host, c->port);
    hark_buf_dispose(&req);
    disconnect(c);
    return -1;
}

static int queue_text(client *c, const char *text)
{
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)text, strlen(text) };
    return wslay_event_queue_msg(c->ws, &m) == 0 ? 0 : -1;
}

static int send_config(client *c)
{
    hark_buf b = HARK_BUF_INIT;
    hark_jsonw w;
    int rc;
    hark_jsonw_init(&w, &b, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "type");
    hark_jsonw_str(&w, "config");
    hark_jsonw_key(&w, "sample_rate");
    hark_jsonw_int(&w, HARK_SAMPLE_RATE);
    hark_jsonw_key(&w, "format");
    hark_jsonw_str(&w, "s16le");
    hark_jsonw_key(&w, "channels");
    hark_jsonw_int(&w, 1);
    if (c->o->language) {
        hark_jsonw_key(&w, "language");
        hark_jsonw_str(&w, c->o->language);
    }
    if (c->o->title) {
        hark_jsonw_key(&w, "title");
        hark_jsonw_str(&w, c->o->title);
    }
    if (c->session[0]) {
        hark_jsonw_key(&w, "resume");
        hark_jsonw_object(&w);
        hark_jsonw_key(&w, "session");
        hark_jsonw_str(&w, c->session);
        hark_jsonw_key(&w, "last_final");
        hark_jsonw_int(&w, c->last_final);
        hark_jsonw_close(&w);
    }
    hark_jsonw_close(&w);
    rc = hark_jsonw_end(&w);
    if (rc == 0)
        rc = queue_text(c, b.ptr);
    hark_buf_dispose(&b);
    return rc;
}

/* Hand frames sent+1.. to wslay while its queue is short. */
static void send_frames(client *c)
{
    while (c->sent + 1 < c->next_seq &&
           wslay_event_get_queued_msg_length(c->ws) < WSLAY_QUEUE_MAX) {
        frame *f = q_at(c, (size_t)(c->sent + 1 - q_at(c, 0)->seq));
        struct wslay_event_msg m = { WSLAY_BINARY_FRAME, f->data, f->len };
        if (wslay_event_queue_msg(c->ws, &m) != 0) {
            link_fail(c, LINK_RETRY, "cannot queue a frame");
            return;
        }
        if (f->seq > c->res->frames)
            c->res->frames = f->seq;
        else
            c->res->resent++;
        c->sent++;
    }
}

/* One connection, from the upgrade to its end. */
static void session(client *c)
{
    if (send_config(c) < 0) {
        link_fail(c, LINK_RETRY, "cannot send the config");
        return;
    }
    while (c->link == LINK_OK) {
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        double now;
        if (wslay_event_want_write(c->ws))
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, 20) < 0 && errno != EINTR) {
            link_fail(c, LINK_RETRY, "poll: %s", strerror(errno));
            break;
        }
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) || c->pending_off < c->pending_len)
            if (wslay_event_recv(c->ws) != 0)
                link_fail(c, LINK_RETRY, "connection lost");
        if (c->link != LINK_OK)
            break;
        if (pull_audio(c, 0) < 0) {
            link_fail(c, LINK_FATAL, "%s", hark_error_last());
            break;
        }
        if (c->ready) {
            send_frames(c);
            if (c->input_ended && !c->end_sent && c->sent + 1 == c->next_seq) {
                if (queue_text(c, "{\"type\":\"end\"}") < 0)
                    link_fail(c, LINK_RETRY, "cannot queue the end");
                c->end_sent = 1;
            }
        }
        if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0)
            link_fail(c, LINK_RETRY, "connection lost");
        if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws))
            link_fail(c, LINK_RETRY, "the connection was closed");
        now = hark__now_ms();
        if (c->link == LINK_OK && now - c->last_msg_ms > (c->end_sent ? END_WAIT_MS : SILENT_MS) &&
            (c->sent > c->acked || !c->ready || c->end_sent))
            link_fail(c, LINK_RETRY, "no answer from the server for %.0f s",
                      (now - c->last_msg_ms) / 1000);
    }
    if (c->link == LINK_DONE) { /* say goodbye properly; the server closes after `end` */
        wslay_event_queue_close(c->ws, 1000, NULL, 0);
        wslay_event_send(c->ws);
    }
}

/* Renumber the unacknowledged frames from 1, for a new session. */
static void renumber(client *c)
{
    size_t i;
    for (i = 0; i < c->q_len; i++) {
        frame *f = q_at(c, i);
        f->seq = i + 1;
        put_seq(f->data, f->seq);
    }
    c->acked = c->sent = 0;
    c->next_seq = c->q_len + 1;
    c->res->frames = 0;
    c->last_final = -1;
}

int cli_live_client_run(const char *cmd, const cli_live_client_options *opts,
                        cli_live_client_result *res)
{
    cli_live_client_options o = *opts;
    client c;
    unsigned backoff = 250;
    double lost_at = 0;
    int rc = EXIT_OK, connected_once = 0;
    size_t i;

    memset(res, 0, sizeof(*res));
    memset(&c, 0, sizeof(c));
    if (!o.frame_ms)
        o.frame_ms = 100;
    if (!o.max_backoff_ms)
        o.max_backoff_ms = 8000;
    if (!o.give_up_ms)
        o.give_up_ms = 120000;
    if (!o.max_unacked_bytes)
        o.max_unacked_bytes = (size_t)64 << 20;
    c.o = &o;
    c.cmd = cmd;
    c.res = res;
    c.fd = -1;
    c.next_seq = 1;
    c.last_final = -1;
    if (cli_ws_parse_url(o.url, c.host, sizeof(c.host), c.port, sizeof(c.port), c.path,
                         sizeof(c.path)) < 0) {
        fprintf(stderr, "hark %s: --server: '%s' is not a ws://HOST[:PORT][/PATH] URL%s\n", cmd,
                o.url, strncmp(o.url, "wss:", 4) == 0 ? " (TLS is not supported yet)" : "");
        return EXIT_USAGE;
    }
    c.frame_samples = (size_t)o.frame_ms * (HARK_SAMPLE_RATE / 1000);
    c.pcm = hark__calloc(c.frame_samples, sizeof(int16_t));
    if (!c.pcm) {
        fprintf(stderr, "hark %s: out of memory\n", cmd);
        return EXIT_FAIL;
    }
    while (!c.got_end) {
        if (ws_connect(&c) == 0) {
            if (connected_once)
                res->reconnects++;
            connected_once = 1;
            backoff = 250;
            session(&c);
            if (c.ready)
                lost_at = 0; /* this connection worked: the give-up clock starts again */
            if (c.link == LINK_RETRY && c.resume_refused && !c.ready) {
                notice(&c,
                       "%s: starting a new session with the %zu frames it had not "
                       "acknowledged",
                       c.err, c.q_len);
                c.session[0] = 0;
                renumber(&c);
            }
        }
        disconnect(&c);
        if (c.got_end)
            break;
        if (c.link == LINK_FATAL || !connected_once) {
            fprintf(stderr, "hark %s: %s\n", cmd, c.err);
            rc = c.link == LINK_FATAL ? EXIT_FAIL : EXIT_NETWORK;
            break;
        }
        /* the link is gone: keep the audio coming, retry after the backoff */
        if (lost_at == 0)
            lost_at = hark__now_ms();
        notice(&c, "%s; reconnecting in %.1f s", c.err, backoff / 1000.0);
        {
            double until = hark__now_ms() + backoff;
            while (hark__now_ms() < until) {
                if (pull_audio(&c, 20) < 0) {
                    fprintf(stderr, "hark %s: %s\n", cmd, hark_error_last());
                    rc = EXIT_FAIL;
                    goto out;
                }
                if (c.input_ended)
                    hark__sleep_ms(20, NULL, NULL);
            }
        }
        if (hark__now_ms() - lost_at > o.give_up_ms) {
            fprintf(stderr,
                    "hark %s: gave up reconnecting to %s after %.0f s (%llu frames not "
                    "acknowledged)\n",
                    cmd, o.url, (hark__now_ms() - lost_at) / 1000, (unsigned long long)c.q_len);
            rc = EXIT_NETWORK;
            break;
        }
        backoff = HARK_MIN(backoff * 2, o.max_backoff_ms);
    }
out:
    disconnect(&c);
    for (i = 0; i < c.q_len; i++)
        hark__free(q_at(&c, i)->data);
    hark__free(c.q);
    hark__free(c.pcm);
    return rc;
}
