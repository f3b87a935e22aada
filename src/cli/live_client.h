/*
 * live_client.h: the client side of the live transcription protocol
 * (docs/live.md) for `hark listen --server URL`: a WebSocket connection
 * (libwslay for the framing, our own HTTP upgrade over a TCP socket),
 * sequence-numbered audio frames kept until the server acknowledges them,
 * and reconnection with backoff and `resume` across network drops.
 */
#ifndef HARK_CLI_LIVE_CLIENT_H
#define HARK_CLI_LIVE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "hark/transcript.h"

typedef struct cli_live_client_options {
    const char *url;      /* ws://HOST[:PORT][/PATH] or http://...; no path: /v1/live */
    const char *key;      /* API key (sent as a bearer Authorization header), or NULL */
    const char *title;    /* title of the server's recording, or NULL */
    const char *language; /* spoken language, or NULL */
    /*
     * The audio: move up to `max` samples (16 kHz mono float) into dst,
     * waiting up to timeout_ms. Returns the samples (0: none yet), or -1 when
     * the input has ended (the client then sends `end`). Required.
     */
    long (*read)(float *dst, size_t max, unsigned timeout_ms, void *payload);
    /* Non-zero: stop reading and end the stream gracefully (Ctrl-C). May be NULL. */
    int (*stop)(void *payload);
    /* Interim text of utterance `utt`. May be NULL. */
    void (*partial)(int64_t utt, const char *text, void *payload);
    /* Utterance `utt` is final: every segment of `t` (times in samples, absolute). Called once
     * per utterance, in order, also across reconnections. May be NULL. */
    void (*final)(int64_t utt, const hark_transcript *t, void *payload);
    /* A one-line notice for the user (connected, reconnecting, slow down). May be NULL. */
    void (*notice)(const char *msg, void *payload);
    void *payload;
    unsigned frame_ms;        /* audio per frame, default 100 */
    unsigned max_backoff_ms;  /* longest wait between reconnection attempts, default 8000 */
    unsigned give_up_ms;      /* stop trying after this long without a connection, default
                                 120000 (the server's --live-idle) */
    size_t max_unacked_bytes; /* audio kept for resending, default 64 MiB (~35 min) */
} cli_live_client_options;

/* What a run did (for the summary line). */
typedef struct cli_live_client_result {
    int64_t recording;   /* the server's recording id, 0 = never connected */
    int64_t utterances;  /* finals received */
    uint64_t frames;     /* frames sent (first sends) */
    uint64_t resent;     /* frames sent again after a reconnection */
    unsigned reconnects; /* successful reconnections */
    char session[128];   /* the server's session id */
} cli_live_client_result;

/*
 * Stream until the input ends or stop() says so, then send `end` and wait
 * for the server's `end`. Prints errors as "hark CMD: ..." and returns an
 * exit code: 0, EXIT_USAGE (bad URL), EXIT_NETWORK (could not connect, or
 * gave up reconnecting), EXIT_FAIL (refused by the server: bad key, unknown
 * session, protocol error).
 */
int cli_live_client_run(const char *cmd, const cli_live_client_options *o,
                        cli_live_client_result *res);

/* ---- pieces, exposed for the tests -------------------------------------------------- */

/* Split ws://HOST[:PORT][/PATH] (also http://; wss/https are refused: no TLS yet). 0 or -1. */
int cli_ws_parse_url(const char *url, char *host, size_t host_n, char *port, size_t port_n,
                     char *path, size_t path_n);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
int cli_ws_accept(const char *key, char out[29]);

#endif
