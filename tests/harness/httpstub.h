/*
 * httpstub.h: a tiny HTTP/1.1 server on 127.0.0.1, on plain sockets in a
 * thread of the test process, for tests of hark's HTTP clients against a
 * server that answers (or misbehaves) on cue: the remote engine's scripted
 * transcription server, the summaries' scripted chat-completions server.
 *
 * One connection is served at a time, with keep-alive. Each request (its
 * headers and a Content-Length body) goes to the test's handler, which
 * answers on the connection (httpstub_answer, httpstub_send) or does not.
 * The server counts requests and connections.
 */
#ifndef HARK_TEST_HTTPSTUB_H
#define HARK_TEST_HTTPSTUB_H

#include <pthread.h>
#include <stddef.h>

typedef struct httpstub_request {
    int index;       /* 0, 1, ... over the server's life */
    const char *raw; /* the request as it came: headers, blank line, body */
    size_t raw_len;
    const char *head; /* request line and headers, NUL-terminated (no blank line) */
    const char *body; /* the body, NUL-terminated (it may hold NULs of its own) */
    size_t body_len;
    int fd; /* the connection */
} httpstub_request;

typedef struct httpstub httpstub;

/* Answer `r` (called on the server's thread). Returns 0 to keep the connection, -1 to close it. */
typedef int (*httpstub_fn)(httpstub *h, void *ctx, const httpstub_request *r);

struct httpstub {
    int lfd;
    unsigned port;
    pthread_t thread;
    int stop; /* atomic */
    httpstub_fn fn;
    void *ctx;
    pthread_mutex_t mu; /* guards the counts */
    int n_requests, n_connections;
};

/* Listen on 127.0.0.1 (a free port) and serve in a thread. */
void httpstub_start(httpstub *h, httpstub_fn fn, void *ctx);
void httpstub_stop(httpstub *h);
int httpstub_requests(httpstub *h);
int httpstub_connections(httpstub *h);

/* A complete answer with a JSON body; `extra` holds more header lines ("Name: v\r\n"), or NULL. */
void httpstub_answer(int fd, int status, const char *reason, const char *extra, const char *body);
/* Raw bytes (a cut answer, say). */
void httpstub_send(int fd, const char *p, size_t n);
/* Wait until `fd` is readable: 1, or 0 once the server stops or `ms` (-1: no limit) pass. */
int httpstub_wait(httpstub *h, int fd, int ms);
/* The value of header `name` in `head` (malloc'ed), NULL when absent. */
char *httpstub_header(const char *head, const char *name);

#endif
