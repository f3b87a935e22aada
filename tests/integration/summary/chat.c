/*
 * chat.c: see chat.h. The scripted model, as a handler of the harness's httpstub.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "chat.h"

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

static int act(httpstub *h, void *ctx, const httpstub_request *r)
{
    chat_server *s = ctx;
    char *ok = NULL;
    int k = 0, keep = 0;
    chat_act a;
    pthread_mutex_lock(&s->mu);
    a = r->index < s->n_acts ? s->acts[r->index] : C_OK;
    if (r->index < CHAT_MAX) {
        const char *sp = strchr(r->head, ' ');
        s->bodies[r->index] = strdup(r->body);
        s->paths[r->index] = sp ? strndup(sp + 1, strcspn(sp + 1, " ")) : NULL;
        s->auth[r->index] = httpstub_header(r->head, "Authorization");
    }
    if (a == C_OK || a == C_SLOW)
        k = ++s->n_ok;
    pthread_mutex_unlock(&s->mu);
    if (a == C_OK || a == C_SLOW)
        ok = model_answer(k, r->body);
    switch (a) {
    case C_OK:
        httpstub_answer(r->fd, 200, "OK", NULL, ok);
        break;
    case C_SLOW:
        /* the client gives up first and closes: then stop waiting */
        if (httpstub_wait(h, r->fd, s->slow_ms)) {
            keep = -1;
            break;
        }
        httpstub_answer(r->fd, 200, "OK", NULL, ok);
        break;
    case C_500:
        httpstub_answer(r->fd, 500, "Internal Server Error", NULL,
                        "{\"error\":{\"message\":\"the model fell over\",\"type\":\"server\"}}");
        break;
    case C_429: {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", s->retry_after_s);
        httpstub_answer(r->fd, 429, "Too Many Requests", hdr,
                        "{\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit\"}}");
        break;
    }
    case C_BADJSON:
        httpstub_answer(r->fd, 200, "OK", NULL, "{\"choices\":[{\"message\":{\"content\":\"trunc");
        break;
    case C_NOCONTENT:
        httpstub_answer(r->fd, 200, "OK", NULL, "{\"object\":\"chat.completion\",\"choices\":[]}");
        break;
    }
    free(ok);
    return keep;
}

void chat_start(chat_server *s, const chat_act *acts, int n)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    ASSERT(n <= CHAT_MAX);
    if (n)
        memcpy(s->acts, acts, (size_t)n * sizeof(*acts));
    s->n_acts = n;
    s->retry_after_s = 7;
    s->slow_ms = 5000;
    httpstub_start(&s->http, act, s);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->http.port);
}

void chat_stop(chat_server *s)
{
    int i;
    httpstub_stop(&s->http);
    for (i = 0; i < CHAT_MAX; i++) {
        free(s->bodies[i]);
        free(s->paths[i]);
        free(s->auth[i]);
    }
    pthread_mutex_destroy(&s->mu);
}

int chat_requests(chat_server *s)
{
    return httpstub_requests(&s->http);
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
