/*
 * server.h: a small HTTP/1.1 file server on 127.0.0.1 for the model
 * download tests, running on a thread of the test process.
 *
 * It serves in-memory files with Range support (206, 416) and can be told to
 * misbehave the ways real servers and networks do: drop the connection after
 * N body bytes, stall, answer with a fixed status (404, 503), flip a byte,
 * ignore Range (200 instead of 206), answer a Range with the wrong offset, or
 * redirect. It counts requests, Range headers and body bytes sent so tests
 * can assert what went over the wire. One connection at a time,
 * "Connection: close" on every answer.
 */
#ifndef HARK_TEST_MODELS_SERVER_H
#define HARK_TEST_MODELS_SERVER_H

#include <stddef.h>
#include <stdint.h>

/* Behaviour; change it between requests with ts_configure. */
typedef struct ts_behaviour {
    int64_t drop_after;      /* close the connection after this many body bytes, -1 = never */
    int drop_times;          /* ...in this many responses (then serve normally) */
    int64_t stall_after;     /* send this many body bytes, then nothing until the client leaves,
                                -1 = never */
    int status;              /* answer every file request with this status, 0 = normally */
    int ignore_range;        /* answer Range requests with 200 and the whole file */
    int wrong_range;         /* answer Range requests with a 206 that starts at byte 0 */
    int64_t corrupt_at;      /* flip the byte at this file offset in every answer, -1 = none */
    unsigned chunk_delay_ms; /* pause after each 16 KiB of body, 0 = full speed */
} ts_behaviour;

/* What the server saw. */
typedef struct ts_counters {
    int requests;        /* requests answered, all paths */
    int range_requests;  /* requests carrying a Range header */
    uint64_t last_range; /* first byte asked for by the latest Range header */
    uint64_t body_bytes; /* body bytes written to clients in total */
} ts_counters;

typedef struct test_server test_server;

/* Start listening on 127.0.0.1 at a free port. Fails the test on error. */
test_server *ts_start(void);
/* Stop the thread, close everything, free. */
void ts_stop(test_server *ts);
/* "http://127.0.0.1:PORT" */
const char *ts_url(const test_server *ts);
/* Serve `data` (borrowed, must outlive the server) at `path` ("/ggml-x.bin"). */
void ts_add_file(test_server *ts, const char *path, const void *data, size_t len);
/* Answer `path` with "302 Found" to `location` (a path on this server or a URL). */
void ts_add_redirect(test_server *ts, const char *path, const char *location);
void ts_configure(test_server *ts, const ts_behaviour *b);
/* Defaults: all -1 / 0, i.e. a well-behaved server. */
ts_behaviour ts_normal(void);
ts_counters ts_counts(test_server *ts);

#endif
