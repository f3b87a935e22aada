/*
 * harness.h: hark's tiny test harness.
 *
 *     #include "harness.h"
 *
 *     TEST(buf_grows_past_initial_capacity)
 *     {
 *         hark_buf b = HARK_BUF_INIT;
 *         ASSERT_OK(hark_buf_puts(&b, "x"));
 *         ASSERT_EQ(b.len, 1);
 *         hark_buf_dispose(&b);
 *     }
 *
 * Each test binary collects its TEST()s automatically and runs each one in
 * its own child process (a crash fails one test only), with a timeout.
 * `./test_x name...` runs the tests whose names contain any of the words;
 * `--list` lists them; HARNESS_NOFORK=1 runs in-process (debuggers).
 * SKIP("why") ends a test as skipped; a binary whose tests were all skipped
 * exits 77, which ctest reports as skipped.
 */
#ifndef HARK_TEST_HARNESS_H
#define HARK_TEST_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark/hark.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

typedef void (*harness_fn)(void);
void harness_register(const char *name, harness_fn fn, const char *file);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void harness_timeout(unsigned seconds); /* change this test's timeout (default 120 s) */

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        harness_register(#name, test_##name, __FILE__);                                            \
    }                                                                                              \
    static void test_##name(void)

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            harness_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                          \
    } while (0)

#define ASSERT_MSG(c, ...)                                                                         \
    do {                                                                                           \
        if (!(c))                                                                                  \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                                         \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            harness_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);            \
    } while (0)

#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_)                                                                              \
            harness_fail(__FILE__, __LINE__, "%s != %s: both %lld", #a, #b, a_);                   \
    } while (0)

#define ASSERT_LT(a, b)                                                                            \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(a_ < b_))                                                                            \
            harness_fail(__FILE__, __LINE__, "%s < %s: %g >= %g", #a, #b, a_, b_);                 \
    } while (0)

#define ASSERT_LE(a, b)                                                                            \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(a_ <= b_))                                                                           \
            harness_fail(__FILE__, __LINE__, "%s <= %s: %g > %g", #a, #b, a_, b_);                 \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (double)(tol)))                                                     \
            harness_fail(__FILE__, __LINE__, "%s ~ %s: %g vs %g (tol %g)", #a, #b, a_, b_,         \
                         (double)(tol));                                                           \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            harness_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                 \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                  \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            harness_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", \
                         n_);                                                                      \
    } while (0)

/* rc must be >= 0; prints hark_error_last() otherwise. */
#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ < 0)                                                                               \
            harness_fail(__FILE__, __LINE__, "%s failed: %s (%s)", #expr, hark_err_name(rc_),      \
                         hark_error_last());                                                       \
    } while (0)

/* expr must return exactly `code`. */
#define ASSERT_ERR(expr, code)                                                                     \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (code))                                                                         \
            harness_fail(__FILE__, __LINE__, "%s returned %s, expected %s (%s)", #expr,            \
                         hark_err_name(rc_), hark_err_name(code), hark_error_last());              \
    } while (0)

#define SKIP(...) harness_skip(__VA_ARGS__)

/* ---- helpers ------------------------------------------------------------------------------ */

/* A fresh empty directory for this test (removed after the test passes). */
const char *harness_tmpdir(void);
/* harness_tmpdir()/name, in a static ring of 64 buffers: copy a path you
 * keep across many later calls. */
const char *harness_path(const char *name);
/* ../shared (HARK_SHARED_DIR env, else the configured path); SKIPs when absent. */
const char *harness_shared(void);
/* shared/<rel>, SKIPs when missing. */
const char *harness_shared_file(const char *rel);
/* The built `hark` binary (HARK_BIN env, else the configured path). */
const char *harness_hark_bin(void);
/* Run a shell command; returns its exit status (or -1). Output goes to the test log. */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run a shell command and capture stdout into a malloc'ed string (caller frees). */
char *harness_sh_output(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whole file into a malloc'ed NUL-terminated buffer; NULL if unreadable. */
char *harness_read_file(const char *path, size_t *len);
int harness_write_file(const char *path, const void *data, size_t len);
/* Does `prog` exist in PATH? */
int harness_have(const char *prog);
/*
 * PostgreSQL (harness_pg.c). With HARK_TEST_STORE=postgresql the binary
 * starts one server before its tests (initdb into a temporary folder,
 * pg_ctl on a Unix socket there and a free loopback port; torn down at
 * exit) unless HARK_TEST_PG_DSN names one, and exits 77 when PostgreSQL is
 * not installed. harness_pg_uri() creates a fresh database for the calling
 * test and returns its URI (the same on every call in a test); SKIPs when
 * no server is configured.
 */
void harness_pg_setup(void); /* called by main() */
int harness_pg_active(void); /* a server is configured */
const char *harness_pg_uri(void);
const char *harness_pg_uri_named(const char *name); /* a fresh database of this name */
/* pg_ctl ACTION ("restart", "stop", "start") on the harness's own server; its exit status. */
int harness_pg_ctl(const char *action);
const char *harness_pg_dir(void); /* the server's folder (socket, log), NULL if not ours */

/* A deterministic pseudo-random generator for test signals. */
uint64_t harness_rand(uint64_t *state);
double harness_randn(uint64_t *state); /* standard normal */

#endif
