/*
 * client.h: a real `hark serve` on 127.0.0.1 for the server tests, and a
 * small HTTP client (libcurl) to talk to it.
 */
#ifndef HARK_TEST_SERVER_CLIENT_H
#define HARK_TEST_SERVER_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct server {
    pid_t pid;
    unsigned port;
    char url[64];
    char db[512];
    char log[512];
} server;

/* Start `hark serve --listen 127.0.0.1:0 --db <tmp>/hark.db --cache-db none` plus `extra`
 * (shell words, may be NULL), and wait until it listens. Its stderr goes to srv->log. */
void server_start(server *s, const char *extra);
/* The same with the database file `db_name` in the test's folder. */
void server_start_at(server *s, const char *db_name, const char *extra);
/* Start `hark serve --listen 127.0.0.1:0 --db <db>` plus `extra` (no other option: say
 * --cache-db and --data-dir there), logging to <tmp>/<name>.log: one node of several. */
void server_start_node(server *s, const char *db, const char *name, const char *extra);
/* Send `sig` and wait up to timeout_ms; returns the exit status (128+sig when killed), -1 on
 * timeout (then it is killed). */
int server_stop(server *s, int sig, unsigned timeout_ms);
/* The server's log so far (caller frees). */
char *server_log(const server *s);

typedef struct reply {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *headers; /* raw header block, NUL-terminated */
} reply;

/*
 * One request. `headers`: NULL-terminated list of "Name: value". `body` may
 * be NULL; `file` (may be NULL) uploads a file as multipart field "file"
 * (with `fields`: NULL-terminated name, value pairs before it). Returns the
 * reply (status 0 when the connection failed).
 */
reply http(const server *s, const char *method, const char *path, const char *const *headers,
           const void *body, size_t len);
/* http() without headers or body, the path made with printf's `fmt`. */
reply httpf(const server *s, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
reply http_form(const server *s, const char *path, const char *const *headers,
                const char *const *fields, const char *file);
void reply_free(reply *r);
/* A header value of a reply (static buffer), or NULL. */
const char *reply_header(const reply *r, const char *name);

/* Wait until job `id` is done/dead/canceled (polls GET /v1/jobs/id); returns the state name
 * (static) or NULL on timeout. */
const char *wait_job(const server *s, const char *const *headers, long long id,
                     unsigned timeout_ms);

/* A tone WAV of `sec` seconds at `hz` (16 kHz mono) in the test's folder. */
const char *tone(const char *name, double sec, int hz);

/* Make an API key for `user` (created if new) in database `db`; `header` receives
 * "Authorization: Bearer <key>", `id` (may be NULL) its id. */
void server_make_key(const char *db, const char *user, int admin, char header[160], long long *id);

/* Raw TCP to the server: connect (-1 on failure). */
int tcp_connect(const server *s);

#endif
