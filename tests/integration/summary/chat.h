/*
 * chat.h: a small OpenAI-compatible chat-completions server on 127.0.0.1
 * for the summary tests: real HTTP/1.1 (the harness's httpstub, in a thread
 * of the test process). Only the "model" is scripted: requests are answered in order
 * from a script of actions, then with C_OK.
 *
 * C_OK answers a chat.completion whose content is deterministic:
 * "S<k> words=<W> first=<first word of the user message>", where k counts
 * the OK answers from 1 and W is the number of words of the user message.
 * Every request body is kept (up to CHAT_MAX), so a test can check what the
 * client sent.
 */
#ifndef HARK_TEST_SUMMARY_CHAT_H
#define HARK_TEST_SUMMARY_CHAT_H

#include <pthread.h>
#include <stddef.h>

#include "httpstub.h"

typedef enum chat_act {
    C_OK = 0,    /* 200 with a summary */
    C_500,       /* 500 with an OpenAI-style error body */
    C_429,       /* 429 with Retry-After: retry_after_s */
    C_BADJSON,   /* 200 whose body is not JSON */
    C_NOCONTENT, /* 200 JSON without choices[0].message.content */
    C_SLOW       /* answers C_OK only after slow_ms (the client's timeout should fire first) */
} chat_act;

#define CHAT_MAX 64

typedef struct chat_server {
    httpstub http;
    char url[64]; /* http://127.0.0.1:PORT (no /v1: the client adds it) */
    chat_act acts[CHAT_MAX];
    int n_acts;
    int retry_after_s;
    int slow_ms;

    pthread_mutex_t mu; /* guards what follows */
    int n_ok;
    char *bodies[CHAT_MAX]; /* request bodies (malloc'ed) */
    char *paths[CHAT_MAX];  /* request targets */
    char *auth[CHAT_MAX];   /* Authorization header values, NULL = none */
} chat_server;

void chat_start(chat_server *s, const chat_act *acts, int n);
void chat_stop(chat_server *s);
int chat_requests(chat_server *s);
/* Request i's body / path / Authorization (copies: caller frees), NULL if none. */
char *chat_body(chat_server *s, int i);
char *chat_path(chat_server *s, int i);
char *chat_auth(chat_server *s, int i);

#endif
