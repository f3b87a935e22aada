/*
 * pg_test.h: helpers of the PostgreSQL-only tests (schema versions, bad
 * URIs, reconnects, LISTEN/NOTIFY, several `hark worker` processes on one
 * store). ctest runs this binary with HARK_TEST_STORE=postgresql: the
 * harness starts the server; without PostgreSQL installed every test skips.
 */
#ifndef PG_TEST_H
#define PG_TEST_H

#include <sys/types.h>

#include "harness.h"

/* Write a 16 kHz mono 16-bit WAV of a sine at `hz` lasting `seconds`. */
void pt_wav(const char *path, double hz, double seconds);
/* Start hark with argv (argv[0] "hark", NULL-terminated), stdout and stderr appended to log_path.
 */
pid_t pt_hark(const char *log_path, const char *const *argv);
/* Start `hark worker --db uri ...args` (NULL-terminated) with stdout/stderr to log_path. */
pid_t pt_worker(const char *uri, const char *log_path, ...);
/* Wait until `path` contains `needle` (up to timeout_ms); fails the test otherwise. */
void pt_wait_for_text(const char *path, const char *needle, int timeout_ms);
/* SIGTERM (or sig) a child and wait for it; returns its exit status (128+N when killed). */
int pt_stop(pid_t pid, int sig);
/* Submit a transcription job for `wav`; returns the job id. */
int64_t pt_submit(hark_store *s, const char *wav, const char *title);
/* Wait until every job in ids[] is done (fails the test after timeout_ms or on a dead job). */
void pt_wait_done(hark_store *s, const int64_t *ids, size_t n, int timeout_ms);
/* Lines of `path` whose first field is `pid` (0 = every line). */
size_t pt_count_lines(const char *path, pid_t pid);
/* Create a recording titled "dummy"; returns its id. */
int64_t st_dummy_recording(hark_store *s);
int64_t pt_now_ms(void);

/*
 * Counting the statements of chosen processes: with logging on, the
 * harness's server logs every statement with the connection's
 * application_name (ALTER SYSTEM + pg_reload_conf; off resets both). A
 * process is told its name by connecting to pt_with_app(uri, name). Skips
 * the test when the server is not the harness's own (its log is elsewhere).
 */
void pt_statement_logging(int on);
/* `uri` with application_name=app (a ring of 4 static buffers). */
const char *pt_with_app(const char *uri, const char *app);
/* Bytes in the server's log now. */
long pt_log_size(void);
/* Statements logged after byte `from` by connections whose application_name starts with
 * `app`; the first few are printed. */
long pt_statements_since(long from, const char *app);
void pt_sleep_ms(int ms);

#endif
