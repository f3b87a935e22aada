/*
 * chat.c: see chat.h. One connection at a time, keep-alive.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
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
#include "chat.h"

static int stopped(chat_server *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

static int wait_readable(chat_server *s, int fd, int ms)
{
    int waited = 0;
    while (!stopped(s) && (ms < 0 || waited < ms)) {
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

/* One request: *head (headers, NUL-terminated) and *body. 1 ok, 0 closed. */
static int read_request(chat_server *s, int fd, char **buf, char **body)
{
    size_t cap = 1 << 16, n = 0, need = 0;
    char *b = malloc(cap), *hdr_end = NULL;
    ASSERT(b != NULL);
    for (;;) {
        ssize_t r;
        if (!wait_readable(s, fd, -1))
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
            size_t blen = cl && cl < hdr_end ? strtoul(cl + 17, NULL, 10) : 0;
            need = (size_t)(hdr_end + 4 - b) + blen;
        }
        if (hdr_end && n >= need) {
            *hdr_end = '\0';
            *buf = b;
            *body = hdr_end + 4;
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

/* The scripted model: "S<k> words=<W> first=<first word of the user message>". */
static char *model_answer(int k, const char *req_body)
{
    json_error_t err;
    json_t *req = json_loads(req_body, 0, &err), *msgs, *ans;
    const char *user = "", *p;
    char first[64] = "", content[160], *out;
    int words = 0, in_word = 0;
    size_t i;
    if (req && (msgs = json_object_get(req, "messages")) && json_is_array(msgs))
        for (i = 0; i < json_array_size(msgs); i++) {
            json_t *m = json_array_get(msgs, i);
            if (json_is_string(json_object_get(m, "role")) &&
                !strcmp(json_string_value(json_object_get(m, "role")), "user") &&
                json_is_string(json_object_get(m, "content")))
                user = json_string_value(json_object_get(m, "content"));
        }
    for (p = user; *p; p++) {
        int space = *p == ' ' || *p == '\n';
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    sscanf(user, "%63s", first);
    snprintf(content, sizeof(content), "S%d words=%d first=%s", k, words, first);
    ans = json_pack("{s:s, s:s, s:s, s:[{s:i, s:{s:s, s:s}, s:s}]}", "id", "chatcmpl-test",
                    "object", "chat.completion", "model", "scripted", "choices", "index", 0,
                    "message", "role", "assistant", "content", content, "finish_reason", "stop");
    out = json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    if (req)
        json_decref(req);
    return out;
}

static char *header_value(const char *head, const char *name)
{
    char pat[64];
    const char *h, *e;
    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    if (!(h = strcasestr(head, pat)))
        return NULL;
    h += strlen(pat);
    while (*h == ' ')
        h++;
    e = strstr(h, "\r\n");
    return strndup(h, e ? (size_t)(e - h) : strlen(h));
}

static void *serve(void *arg)
{
    chat_server *s = arg;
    while (!stopped(s)) {
        int c, open_ = 1;
        if (!wait_readable(s, s->lfd, -1))
            break;
        c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            continue;
        while (open_ && !stopped(s)) {
            char *head = NULL, *body = NULL, *ok = NULL;
            int i, k = 0;
            chat_act a;
            if (!read_request(s, c, &head, &body))
                break;
            pthread_mutex_lock(&s->mu);
            i = s->n_requests++;
            a = i < s->n_acts ? s->acts[i] : C_OK;
            if (i < CHAT_MAX) {
                const char *sp = strchr(head, ' ');
                s->bodies[i] = strdup(body);
                s->paths[i] = sp ? strndup(sp + 1, strcspn(sp + 1, " ")) : NULL;
                s->auth[i] = header_value(head, "Authorization");
            }
            if (a == C_OK || a == C_SLOW)
                k = ++s->n_ok;
            pthread_mutex_unlock(&s->mu);
            if (a == C_OK || a == C_SLOW)
                ok = model_answer(k, body);
            switch (a) {
            case C_OK:
                answer(c, 200, "OK", NULL, ok);
                break;
            case C_SLOW:
                /* the client gives up first and closes: then stop waiting */
                if (wait_readable(s, c, s->slow_ms)) {
                    open_ = 0;
                    break;
                }
                answer(c, 200, "OK", NULL, ok);
                break;
            case C_500:
                answer(c, 500, "Internal Server Error", NULL,
                       "{\"error\":{\"message\":\"the model fell over\",\"type\":\"server\"}}");
                break;
            case C_429: {
                char h[64];
                snprintf(h, sizeof(h), "Retry-After: %d\r\n", s->retry_after_s);
                answer(c, 429, "Too Many Requests", h,
                       "{\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit\"}}");
                break;
            }
            case C_BADJSON:
                answer(c, 200, "OK", NULL, "{\"choices\":[{\"message\":{\"content\":\"trunc");
                break;
            case C_NOCONTENT:
                answer(c, 200, "OK", NULL, "{\"object\":\"chat.completion\",\"choices\":[]}");
                break;
            }
            free(ok);
            free(head);
        }
        close(c);
    }
    return NULL;
}

void chat_start(chat_server *s, const chat_act *acts, int n)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1;
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    ASSERT(n <= CHAT_MAX);
    if (n)
        memcpy(s->acts, acts, (size_t)n * sizeof(*acts));
    s->n_acts = n;
    s->retry_after_s = 7;
    s->slow_ms = 5000;
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
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->port);
    ASSERT(pthread_create(&s->thread, NULL, serve, s) == 0);
}

void chat_stop(chat_server *s)
{
    int i;
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    for (i = 0; i < CHAT_MAX; i++) {
        free(s->bodies[i]);
        free(s->paths[i]);
        free(s->auth[i]);
    }
    pthread_mutex_destroy(&s->mu);
}

int chat_requests(chat_server *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->n_requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static char *copy_at(chat_server *s, char **arr, int i)
{
    char *v = NULL;
    pthread_mutex_lock(&s->mu);
    if (i >= 0 && i < CHAT_MAX && arr[i])
        v = strdup(arr[i]);
    pthread_mutex_unlock(&s->mu);
    return v;
}

char *chat_body(chat_server *s, int i)
{
    return copy_at(s, s->bodies, i);
}

char *chat_path(chat_server *s, int i)
{
    return copy_at(s, s->paths, i);
}

char *chat_auth(chat_server *s, int i)
{
    return copy_at(s, s->auth, i);
}
