/*
 * script.c: see script.h. The actions, as a handler of the harness's httpstub.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"
#include "script.h"

const char script_default_body[] =
    "{\"task\":\"transcribe\",\"language\":\"en\",\"duration\":10.0,\"text\":\"hello world\","
    "\"segments\":[{\"id\":0,\"start\":0.0,\"end\":1.5,\"text\":\" hello\",\"avg_logprob\":-0.1},"
    "{\"id\":1,\"start\":1.5,\"end\":3.0,\"text\":\" world\",\"avg_logprob\":-0.5}],"
    "\"words\":[{\"word\":\"hello\",\"start\":0.1,\"end\":1.0},"
    "{\"word\":\"world\",\"start\":1.6,\"end\":2.5}]}";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static int act(httpstub *h, void *ctx, const httpstub_request *r)
{
    script_server *s = ctx;
    script_act a;
    pthread_mutex_lock(&s->mu);
    if (r->index < SCRIPT_MAX)
        s->at_ms[r->index] = now_ms();
    if (r->index == 0) {
        s->first_request = malloc(r->raw_len + 1);
        ASSERT(s->first_request != NULL);
        memcpy(s->first_request, r->raw, r->raw_len + 1);
        s->first_len = r->raw_len;
    }
    a = r->index < s->n_acts ? s->acts[r->index] : S_OK;
    pthread_mutex_unlock(&s->mu);
    switch (a) {
    case S_OK:
        httpstub_answer(r->fd, 200, "OK", NULL, s->ok_body ? s->ok_body : script_default_body);
        return 0;
    case S_429: {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", s->retry_after_s);
        httpstub_answer(r->fd, 429, "Too Many Requests", hdr,
                        "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit\"}}");
        return 0;
    }
    case S_500:
        httpstub_answer(r->fd, 500, "Internal Server Error", NULL,
                        "{\"error\":{\"message\":\"the model fell over\",\"type\":\"server\"}}");
        return 0;
    case S_401:
        httpstub_answer(r->fd, 401, "Unauthorized", NULL,
                        "{\"error\":{\"message\":\"bad key\",\"type\":\"auth\"}}");
        return 0;
    case S_HANG: {
        char junk[4096];
        /* never answer: wait until the client gives up and closes */
        while (httpstub_wait(h, r->fd, -1) && recv(r->fd, junk, sizeof(junk), 0) > 0)
            ;
        return -1;
    }
    case S_CUT: {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: 1000\r\n\r\n{\"text\":\"hel";
        httpstub_send(r->fd, head, sizeof(head) - 1);
        return -1;
    }
    }
    return -1;
}

void script_start(script_server *s, const script_act *acts, int n)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    ASSERT(n <= SCRIPT_MAX);
    if (n)
        memcpy(s->acts, acts, (size_t)n * sizeof(*acts));
    s->n_acts = n;
    s->retry_after_s = 1;
    httpstub_start(&s->http, act, s);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/v1", s->http.port);
}

void script_stop(script_server *s)
{
    httpstub_stop(&s->http);
    free(s->first_request);
    s->first_request = NULL;
    pthread_mutex_destroy(&s->mu);
}

int script_requests(script_server *s)
{
    return httpstub_requests(&s->http);
}

int script_connections(script_server *s)
{
    return httpstub_connections(&s->http);
}

double script_at(script_server *s, int i)
{
    double t;
    pthread_mutex_lock(&s->mu);
    t = i < SCRIPT_MAX ? s->at_ms[i] : 0;
    pthread_mutex_unlock(&s->mu);
    return t;
}
