/*
 * script.c: see script.h.
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
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "script.h"

const char script_default_body[] =
    "{\"task\":\"transcribe\",\"language\":\"en\",\"duration\":10.0,\"text\":\"hello world\","
    "\"segments\":[{\"id\":0,\"start\":0.0,\"end\":1.5,\"text\":\" hello\",\"avg_logprob\":-0.1},"
    "{\"id\":1,\"start\":1.5,\"end\":3.0,\"text\":\" world\",\"avg_logprob\":-0.5}],"
    "\"words\":[{\"word\":\"hello\",\"start\":0.1,\"end\":1.0},"
    "{\"word\":\"world\",\"start\":1.6,\"end\":2.5}]}";

static int stopped(script_server *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* Wait until fd is readable or stop; 1 readable, 0 stop. */
static int wait_readable(script_server *s, int fd)
{
    while (!stopped(s)) {
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, 50);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
    }
    return 0;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Read one request into *buf (headers + Content-Length body). 1 ok, 0 closed/stop. */
static int read_request(script_server *s, int fd, char **buf, size_t *len)
{
    size_t cap = 1 << 16, n = 0, need = 0;
    char *b = malloc(cap), *hdr_end = NULL;
    ASSERT(b != NULL);
    for (;;) {
        ssize_t r;
        if (!wait_readable(s, fd))
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
            need = (size_t)(hdr_end + 4 - b) + body;
        }
        if (hdr_end && n >= need) {
            *buf = b;
            *len = n;
            return 1;
        }
    }
    free(b);
    return 0;
}

static void answer(int fd, int status, const char *reason, const char *extra, const char *body)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: keep-alive\r\n%s\r\n",
                      status, reason, strlen(body), extra ? extra : "");
    send_all(fd, head, (size_t)hl);
    send_all(fd, body, strlen(body));
}

static void *serve(void *arg)
{
    script_server *s = arg;
    while (!stopped(s)) {
        int c, open_ = 1;
        if (!wait_readable(s, s->lfd))
            break;
        c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->n_connections++;
        pthread_mutex_unlock(&s->mu);
        while (open_ && !stopped(s)) {
            char *req = NULL;
            size_t len = 0;
            int i;
            script_act a;
            if (!read_request(s, c, &req, &len))
                break;
            pthread_mutex_lock(&s->mu);
            i = s->n_requests++;
            if (i < SCRIPT_MAX)
                s->at_ms[i] = now_ms();
            if (i == 0) {
                s->first_request = req;
                s->first_len = len;
                req = NULL;
            }
            a = i < s->n_acts ? s->acts[i] : S_OK;
            pthread_mutex_unlock(&s->mu);
            free(req);
            switch (a) {
            case S_OK:
                answer(c, 200, "OK", NULL, s->ok_body ? s->ok_body : script_default_body);
                break;
            case S_429: {
                char h[64];
                snprintf(h, sizeof(h), "Retry-After: %d\r\n", s->retry_after_s);
                answer(c, 429, "Too Many Requests", h,
                       "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit\"}}");
                break;
            }
            case S_500:
                answer(c, 500, "Internal Server Error", NULL,
                       "{\"error\":{\"message\":\"the model fell over\",\"type\":\"server\"}}");
                break;
            case S_401:
                answer(c, 401, "Unauthorized", NULL,
                       "{\"error\":{\"message\":\"bad key\",\"type\":\"auth\"}}");
                break;
            case S_HANG: {
                char junk[4096];
                /* never answer: wait until the client gives up and closes */
                while (wait_readable(s, c) && recv(c, junk, sizeof(junk), 0) > 0)
                    ;
                open_ = 0;
                break;
            }
            case S_CUT: {
                static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: 1000\r\n\r\n{\"text\":\"hel";
                send_all(c, head, sizeof(head) - 1);
                open_ = 0;
                break;
            }
            }
        }
        close(c);
    }
    return NULL;
}

void script_start(script_server *s, const script_act *acts, int n)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1;
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    ASSERT(n <= SCRIPT_MAX);
    if (n)
        memcpy(s->acts, acts, (size_t)n * sizeof(*acts));
    s->n_acts = n;
    s->retry_after_s = 1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    ASSERT(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    ASSERT(listen(s->lfd, 16) == 0);
    ASSERT(getsockname(s->lfd, (struct sockaddr *)&a, &al) == 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/v1", s->port);
    ASSERT(pthread_create(&s->thread, NULL, serve, s) == 0);
}

void script_stop(script_server *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    free(s->first_request);
    s->first_request = NULL;
    pthread_mutex_destroy(&s->mu);
}

int script_requests(script_server *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->n_requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int script_connections(script_server *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->n_connections;
    pthread_mutex_unlock(&s->mu);
    return n;
}

double script_at(script_server *s, int i)
{
    double t;
    pthread_mutex_lock(&s->mu);
    t = i < SCRIPT_MAX ? s->at_ms[i] : 0;
    pthread_mutex_unlock(&s->mu);
    return t;
}
