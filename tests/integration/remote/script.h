/*
 * script.h: a tiny scripted HTTP/1.1 server on 127.0.0.1 for the remote
 * engine's fault tests, on plain sockets in a thread of the test process.
 *
 * It answers requests in order from a script of actions: a 200 with a
 * canned verbose_json body, a 429 with Retry-After, a 500 with an OpenAI-
 * style error body, a 401, a hang (reads the request and never answers),
 * or an answer cut short (headers promising more bytes than are sent, then
 * the connection closed). After the script ends it answers 200. The HTTP
 * side is the harness's httpstub (one connection at a time, keep-alive), so
 * it also counts how many connections the client opened.
 */
#ifndef HARK_TEST_REMOTE_SCRIPT_H
#define HARK_TEST_REMOTE_SCRIPT_H

#include <pthread.h>
#include <stddef.h>

#include "httpstub.h"

typedef enum script_act { S_OK = 0, S_429, S_500, S_401, S_HANG, S_CUT } script_act;

#define SCRIPT_MAX 64

typedef struct script_server {
    httpstub http;
    char url[64];
    script_act acts[SCRIPT_MAX];
    int n_acts;
    int retry_after_s;   /* S_429's Retry-After */
    const char *ok_body; /* S_OK's JSON (NULL: a default two-segment answer) */

    pthread_mutex_t mu;       /* guards what follows (the test reads while the thread runs) */
    double at_ms[SCRIPT_MAX]; /* when each request had fully arrived (monotonic) */
    char *first_request;      /* headers and body of the first request (malloc'ed) */
    size_t first_len;
} script_server;

/* Start on 127.0.0.1:0 with `acts` (n entries). */
void script_start(script_server *s, const script_act *acts, int n);
void script_stop(script_server *s);
int script_requests(script_server *s);
int script_connections(script_server *s);
double script_at(script_server *s, int i);

/* The default S_OK answer. */
extern const char script_default_body[];

#endif
