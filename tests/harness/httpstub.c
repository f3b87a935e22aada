/*
 * httpstub.c: see httpstub.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "httpstub.h"

static int stopped(httpstub *h)
{
    return __atomic_load_n(&h->stop, __ATOMIC_ACQUIRE);
}

int httpstub_wait(httpstub *h, int fd, int ms)
{
    int waited = 0;
    while (!stopped(h) && (ms < 0 || waited < ms)) {
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, 50);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
        waited += 50;
    }
    return 0;
}

void httpstub_send(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void httpstub_answer(int fd, int status, const char *reason, const char *extra, const char *body)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: keep-alive\r\n%s\r\n",
                      status, reason, strlen(body), extra ? extra : "");
    httpstub_send(fd, head, (size_t)hl);
    httpstub_send(fd, body, strlen(body));
}

char *httpstub_header(const char *head, const char *name)
{
    char pat[64];
    const char *v, *e;
    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    if (!(v = strcasestr(head, pat)))
        return NULL;
    v += strlen(pat);
    while (*v == ' ')
        v++;
    e = strstr(v, "\r\n");
    return strndup(v, e ? (size_t)(e - v) : strlen(v));
}

/* Read one request (headers + Content-Length body) into *buf: its length, or 0 when the
 * connection closed or the server stops first. *head_len: up to the blank line. */
static size_t read_request(httpstub *h, int fd, char **buf, size_t *head_len)
{
    size_t cap = 1 << 16, n = 0, need = 0;
    char *b = malloc(cap), *hdr_end = NULL;
    ASSERT(b != NULL);
    for (;;) {
        ssize_t r;
        if (!httpstub_wait(h, fd, -1))
            break;
        if (n + 4096 > cap) {
            cap *= 2;
            b = realloc(b, cap);
            ASSERT(b != NULL);
        }
        r = recv(fd, b + n, cap - n - 1, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        b[n] = '\0';
        if (!hdr_end && (hdr_end = strstr(b, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(b, "\r\ncontent-length:");
            size_t body = cl && cl < hdr_end ? strtoul(cl + 17, NULL, 10) : 0;
            *head_len = (size_t)(hdr_end - b);
            need = *head_len + 4 + body;
        }
        if (hdr_end && n >= need) {
            *buf = b;
            return n;
        }
    }
    free(b);
    return 0;
}

static void *serve(void *arg)
{
    httpstub *h = arg;
    while (!stopped(h)) {
        int c, open_ = 1;
        if (!httpstub_wait(h, h->lfd, -1))
            break;
        c = accept(h->lfd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&h->mu);
        h->n_connections++;
        pthread_mutex_unlock(&h->mu);
        while (open_ && !stopped(h)) {
            char *raw = NULL, *head;
            size_t head_len = 0, n = read_request(h, c, &raw, &head_len);
            httpstub_request r;
            if (!n)
                break;
            head = strndup(raw, head_len);
            ASSERT(head != NULL);
            pthread_mutex_lock(&h->mu);
            r.index = h->n_requests++;
            pthread_mutex_unlock(&h->mu);
            r.raw = raw;
            r.raw_len = n;
            r.head = head;
            r.body = raw + head_len + 4;
            r.body_len = n - head_len - 4;
            r.fd = c;
            open_ = h->fn(h, h->ctx, &r) == 0;
            free(head);
            free(raw);
        }
        close(c);
    }
    return NULL;
}

void httpstub_start(httpstub *h, httpstub_fn fn, void *ctx)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1;
    memset(h, 0, sizeof(*h));
    h->fn = fn;
    h->ctx = ctx;
    pthread_mutex_init(&h->mu, NULL);
    h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(h->lfd >= 0);
    setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    ASSERT(bind(h->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    ASSERT(listen(h->lfd, 16) == 0);
    ASSERT(getsockname(h->lfd, (struct sockaddr *)&a, &al) == 0);
    h->port = ntohs(a.sin_port);
    ASSERT(pthread_create(&h->thread, NULL, serve, h) == 0);
}

void httpstub_stop(httpstub *h)
{
    __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
    pthread_join(h->thread, NULL);
    close(h->lfd);
    pthread_mutex_destroy(&h->mu);
}

int httpstub_requests(httpstub *h)
{
    int n;
    pthread_mutex_lock(&h->mu);
    n = h->n_requests;
    pthread_mutex_unlock(&h->mu);
    return n;
}

int httpstub_connections(httpstub *h)
{
    int n;
    pthread_mutex_lock(&h->mu);
    n = h->n_connections;
    pthread_mutex_unlock(&h->mu);
    return n;
}
