/*
 * server.c: the misbehaving HTTP/1.1 test server (see server.h).
 *
 * Design: one thread, one connection at a time: accept, read the request
 * head (up to 16 KiB), answer, close. Behaviour and counters live under one
 * mutex; the thread copies the behaviour at the start of each request, so a
 * test can reconfigure between requests. poll() with short timeouts keeps
 * the thread responsive to ts_stop() even while it stalls a client.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "server.h"

#define MAX_ROUTES 8
#define CHUNK      (16 * 1024)

typedef struct route {
    char path[256];
    const uint8_t *data; /* file contents (borrowed), NULL for a redirect */
    size_t len;          /* bytes */
    char location[512];  /* redirect target, "" for a file */
} route;

struct test_server {
    int fd; /* listening socket */
    int port;
    char url[64];
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu; /* guards everything below */
    route routes[MAX_ROUTES];
    int n_routes;
    ts_behaviour b;
    ts_counters c;
};

ts_behaviour ts_normal(void)
{
    ts_behaviour b = { -1, 0, -1, 0, 0, 0, -1, 0 };
    return b;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read the request head; 0 ok, -1 on error or timeout. */
static int read_head(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t n;
        if (poll(&pfd, 1, 5000) <= 0)
            return -1;
        n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

/* Wait until the client goes away or the server stops. */
static void stall(test_server *ts, int fd)
{
    char tmp[256];
    while (!atomic_load(&ts->stop)) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int r = poll(&pfd, 1, 50);
        if (r > 0 && recv(fd, tmp, sizeof(tmp), 0) <= 0)
            return;
    }
}

/* The value after "\r\n<name>" (case-insensitive), or NULL. */
static const char *find_header(const char *req, const char *name)
{
    size_t n = strlen(name);
    const char *p = strstr(req, "\r\n");
    for (; p; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, n) == 0)
            return p + 2 + n;
    return NULL;
}

static void answer_status(int fd, int status, const char *reason, const char *extra)
{
    char head[2048];
    const char *body = "error\n";
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s"
             "Connection: close\r\n\r\n%s",
             status, reason, strlen(body), extra ? extra : "", body);
    send_all(fd, head, strlen(head));
}

static void handle(test_server *ts, int fd)
{
    char req[16384], path[256], head[1024];
    const char *range_hdr;
    route r;
    ts_behaviour b;
    int found = 0, i, has_range = 0;
    unsigned long long from = 0;
    size_t start = 0, end, sent = 0;
    int64_t limit;

    if (read_head(fd, req, sizeof(req)) < 0 || sscanf(req, "GET %255s HTTP/1.", path) != 1)
        return;
    range_hdr = find_header(req, "Range: bytes=");
    if (range_hdr && sscanf(range_hdr, "%llu-", &from) == 1)
        has_range = 1;

    pthread_mutex_lock(&ts->mu);
    b = ts->b;
    ts->c.requests++;
    if (has_range) {
        ts->c.range_requests++;
        ts->c.last_range = from;
    }
    for (i = 0; i < ts->n_routes; i++)
        if (strcmp(ts->routes[i].path, path) == 0) {
            r = ts->routes[i];
            found = 1;
        }
    if (found && !r.location[0] && b.drop_times > 0)
        ts->b.drop_times--;
    pthread_mutex_unlock(&ts->mu);

    if (!found) {
        answer_status(fd, 404, "Not Found", NULL);
        return;
    }
    if (r.location[0]) {
        snprintf(head, sizeof(head), "Location: %s\r\n", r.location);
        answer_status(fd, 302, "Found", head);
        return;
    }
    if (b.status) {
        answer_status(fd, b.status, b.status == 404 ? "Not Found" : "Error", NULL);
        return;
    }
    end = r.len;
    if (has_range && !b.ignore_range) {
        if (from >= r.len) {
            snprintf(head, sizeof(head), "Content-Range: bytes */%zu\r\n", r.len);
            answer_status(fd, 416, "Range Not Satisfiable", head);
            return;
        }
        start = b.wrong_range ? 0 : (size_t)from;
        snprintf(head, sizeof(head),
                 "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Length: %zu\r\nContent-Range: bytes %zu-%zu/%zu\r\n"
                 "Connection: close\r\n\r\n",
                 r.len - start, start, r.len - 1, r.len);
    } else {
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Length: %zu\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                 r.len);
    }
    if (send_all(fd, head, strlen(head)) < 0)
        return;

    limit = -1;
    if (b.drop_after >= 0 && b.drop_times > 0)
        limit = b.drop_after;
    while (start + sent < end) {
        uint8_t chunk[CHUNK];
        size_t n = end - start - sent, k;
        if (n > CHUNK)
            n = CHUNK;
        if (limit >= 0 && (int64_t)(sent + n) > limit)
            n = (size_t)(limit - (int64_t)sent);
        if (b.stall_after >= 0 && (int64_t)(sent + n) > b.stall_after)
            n = (size_t)(b.stall_after - (int64_t)sent);
        memcpy(chunk, r.data + start + sent, n);
        for (k = 0; k < n; k++)
            if (b.corrupt_at >= 0 && (int64_t)(start + sent + k) == b.corrupt_at)
                chunk[k] ^= 0xff;
        if (n > 0 && send_all(fd, chunk, n) < 0)
            break;
        sent += n;
        pthread_mutex_lock(&ts->mu);
        ts->c.body_bytes += n;
        pthread_mutex_unlock(&ts->mu);
        if (limit >= 0 && (int64_t)sent >= limit)
            break; /* drop the connection */
        if (b.stall_after >= 0 && (int64_t)sent >= b.stall_after) {
            stall(ts, fd);
            break;
        }
        if (b.chunk_delay_ms)
            sleep_ms(b.chunk_delay_ms);
    }
}

static void *serve(void *arg)
{
    test_server *ts = arg;
    while (!atomic_load(&ts->stop)) {
        struct pollfd pfd = { ts->fd, POLLIN, 0 };
        int c;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept(ts->fd, NULL, NULL);
        if (c < 0)
            continue;
        handle(ts, c);
        shutdown(c, SHUT_RDWR);
        close(c);
    }
    return NULL;
}

test_server *ts_start(void)
{
    test_server *ts = calloc(1, sizeof(*ts));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    ASSERT(ts != NULL);
    ts->fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(ts->fd >= 0);
    setsockopt(ts->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ASSERT(bind(ts->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    ASSERT(listen(ts->fd, 16) == 0);
    ASSERT(getsockname(ts->fd, (struct sockaddr *)&a, &alen) == 0);
    ts->port = ntohs(a.sin_port);
    snprintf(ts->url, sizeof(ts->url), "http://127.0.0.1:%d", ts->port);
    pthread_mutex_init(&ts->mu, NULL);
    ts->b = ts_normal();
    atomic_init(&ts->stop, 0);
    ASSERT(pthread_create(&ts->thread, NULL, serve, ts) == 0);
    return ts;
}

void ts_stop(test_server *ts)
{
    if (!ts)
        return;
    atomic_store(&ts->stop, 1);
    pthread_join(ts->thread, NULL);
    close(ts->fd);
    pthread_mutex_destroy(&ts->mu);
    free(ts);
}

const char *ts_url(const test_server *ts)
{
    return ts->url;
}

static void add_route(test_server *ts, const char *path, const void *data, size_t len,
                      const char *location)
{
    route *r;
    pthread_mutex_lock(&ts->mu);
    ASSERT(ts->n_routes < MAX_ROUTES);
    r = &ts->routes[ts->n_routes++];
    memset(r, 0, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->data = data;
    r->len = len;
    snprintf(r->location, sizeof(r->location), "%s", location ? location : "");
    pthread_mutex_unlock(&ts->mu);
}

void ts_add_file(test_server *ts, const char *path, const void *data, size_t len)
{
    add_route(ts, path, data, len, NULL);
}

void ts_add_redirect(test_server *ts, const char *path, const char *location)
{
    add_route(ts, path, NULL, 0, location);
}

void ts_configure(test_server *ts, const ts_behaviour *b)
{
    pthread_mutex_lock(&ts->mu);
    ts->b = *b;
    pthread_mutex_unlock(&ts->mu);
}

ts_counters ts_counts(test_server *ts)
{
    ts_counters c;
    pthread_mutex_lock(&ts->mu);
    c = ts->c;
    pthread_mutex_unlock(&ts->mu);
    return c;
}
