/*
 * util.h: the internal utility layer. Depends on nothing else in hark; every
 * other module may include it.
 *
 * - allocation through hark__malloc & co. (swappable, fail-Nth torture hook)
 * - errors: hark_error_set() records a thread-local message
 * - hark_buf helpers (capped growable buffers)
 * - logging through the user's sink
 * - time, CPU count, SHA-256, a small JSON writer
 */
#ifndef HARK_UTIL_H
#define HARK_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hark/common.h"
#include "hark/errors.h"

/* ---- allocation ---------------------------------------------------------- */

void *hark__malloc(size_t size);
void *hark__calloc(size_t n, size_t size);
void *hark__realloc(void *ptr, size_t size);
void hark__free(void *ptr);
char *hark__strdup(const char *s);
char *hark__strndup(const char *s, size_t n);
/* realloc for arrays: fails (NULL, ptr kept) if n * size overflows */
void *hark__reallocarray(void *ptr, size_t n, size_t size);

/*
 * Torture mode (tests): make the Nth allocation from now on fail (1 = the
 * next one), 0 = off. Returns how many allocations happened since the last
 * call, so a test can loop N = 1.. until the operation succeeds.
 */
uint64_t hark__alloc_fail_at(uint64_t n);

#define HARK_ALLOC_CHECK(p, rc, label)                                                             \
    do {                                                                                           \
        if ((p) == NULL) {                                                                         \
            (rc) = hark_error_set(HARK_ENOMEM, "out of memory");                                   \
            goto label;                                                                            \
        }                                                                                          \
    } while (0)

/* Programming errors: assert in debug builds, return HARK_EINVAL in release. */
#ifdef NDEBUG
#define HARK_ASSERT_ARG(x)                                                                         \
    do {                                                                                           \
        if (!(x))                                                                                  \
            return hark_error_set(HARK_EINVAL, "invalid argument: %s", #x);                        \
    } while (0)
#else
#include <assert.h>
#define HARK_ASSERT_ARG(x)                                                                         \
    do {                                                                                           \
        assert(x);                                                                                 \
        if (!(x))                                                                                  \
            return hark_error_set(HARK_EINVAL, "invalid argument: %s", #x);                        \
    } while (0)
#endif

#define HARK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HARK_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define HARK_MAX(a, b)     ((a) > (b) ? (a) : (b))
#define HARK_UNUSED(x)     ((void)(x))

/* ---- errors ------------------------------------------------------------------ */

int hark_error_set(int code, const char *fmt, ...) HARK_PRINTF(2, 3);
int hark_error_setv(int code, const char *fmt, va_list ap);
/* Prefix the current message: "<prefix>: <old message>"; returns the current code. */
int hark_error_prefix(const char *fmt, ...) HARK_PRINTF(1, 2);

/* ---- buffers ----------------------------------------------------------------- */

/* Initialise with a growth cap (0 = none). */
void hark_buf_init(hark_buf *b, size_t max);
int hark_buf_grow(hark_buf *b, size_t extra);
int hark_buf_put(hark_buf *b, const void *data, size_t len);
int hark_buf_puts(hark_buf *b, const char *s);
int hark_buf_putc(hark_buf *b, char c);
int hark_buf_printf(hark_buf *b, const char *fmt, ...) HARK_PRINTF(2, 3);
int hark_buf_vprintf(hark_buf *b, const char *fmt, va_list ap);
void hark_buf_clear(hark_buf *b);
/* Hand the bytes to the caller (NUL-terminated, free with hark__free); b is reset. */
char *hark_buf_detach(hark_buf *b);

/* ---- logging ----------------------------------------------------------------- */

void hark__log(hark_log_level level, const char *fmt, ...) HARK_PRINTF(2, 3);
#define hark_debug(...) hark__log(HARK_LOG_DEBUG, __VA_ARGS__)
#define hark_info(...)  hark__log(HARK_LOG_INFO, __VA_ARGS__)
#define hark_warn(...)  hark__log(HARK_LOG_WARN, __VA_ARGS__)

/* ---- time and system ----------------------------------------------------------- */

/* Monotonic clock in milliseconds / nanoseconds. */
double hark__now_ms(void);
uint64_t hark__now_ns(void);
/* Sleep, waking early (returning non-zero) if abort(payload) becomes true; polls every <=20 ms. */
int hark__sleep_ms(unsigned ms, int (*abort)(void *), void *payload);
/* Number of online CPUs, at least 1. */
unsigned hark__cpu_count(void);
/* Peak resident set size of this process in bytes (0 if unknown). */
uint64_t hark__peak_rss(void);

/* ---- hashing ------------------------------------------------------------------ */

#define HARK_SHA256_LEN 32

typedef struct hark_sha256 {
    void *ctx; /* EVP_MD_CTX */
} hark_sha256;

int hark_sha256_init(hark_sha256 *h);
int hark_sha256_update(hark_sha256 *h, const void *data, size_t len);
/* Writes the digest and releases the context. */
int hark_sha256_final(hark_sha256 *h, uint8_t out[HARK_SHA256_LEN]);
/* Release without finishing (error paths). */
void hark_sha256_dispose(hark_sha256 *h);
int hark_sha256_buf(uint8_t out[HARK_SHA256_LEN], const void *data, size_t len);
/* Lower-case hex of `len` bytes into `out` (2*len+1 bytes). */
void hark_hex(char *out, const uint8_t *data, size_t len);

/* ---- files (file.c) ------------------------------------------------------------------- */

/*
 * Whether `path` can be an input, without opening it (a FIFO must not be
 * opened and closed unread): 0 ("-" always), HARK_ENOTFOUND ("NAME: no such
 * file"), HARK_EIO ("NAME: is a directory", "NAME: permission denied").
 * Messages are the same as hark__file_open_read's.
 */
int hark__file_check_input(const char *path, const char *name);

/*
 * Open an input for reading without blocking: a regular file, "-" (standard
 * input, duplicated), a FIFO (no wait for a writer), /dev/fd/N (also a
 * socket). *fd_out is close-on-exec and owned by the caller; *regular_out is
 * 1 for a regular file (seekable). Errors as hark__file_check_input, with
 * messages naming `name`.
 */
int hark__file_open_read(int *fd_out, int *regular_out, const char *path, const char *name);

/*
 * Read up to n bytes from a descriptor of any kind, waiting for data in
 * slices of at most 100 ms and calling abort(payload) (may be NULL) between
 * them. Returns the bytes read (0 = end of input), HARK_ECANCELED ("NAME:
 * interrupted") or HARK_EIO.
 */
int64_t hark__file_read(int fd, void *buf, size_t n, const char *name, int (*abort)(void *),
                        void *payload);

/* Feed the rest of `fd` to `hash` (as hark__file_read); *bytes (may be NULL) gets the count. */
int hark__file_hash(int fd, const char *name, hark_sha256 *hash, uint64_t *bytes,
                    int (*abort)(void *), void *payload);

/*
 * Copy the rest of `in` into an anonymous temporary file (mkstemp in
 * $TMPDIR, else /tmp, mode 0600, unlinked at once), feeding the bytes to
 * `hash` (may be NULL). *fd_out: the copy, at offset 0, close-on-exec, owned
 * by the caller. Errors: as hark__file_read, HARK_ENOSPC, HARK_EIO.
 */
int hark__file_spool(int *fd_out, uint64_t *bytes_out, int in, const char *name, hark_sha256 *hash,
                     int (*abort)(void *), void *payload);

/*
 * Replace `path` with `data` atomically: a new temporary file beside it
 * (O_CREAT|O_EXCL|O_NOFOLLOW, random name, shortened when the target's name
 * leaves no room for a suffix; mode 0666 minus the umask) is written,
 * fsynced and renamed over `path`. A symbolic link at `path` is replaced,
 * never followed. On error nothing is left behind.
 */
int hark__file_write_atomic(const char *path, const void *data, size_t len);

/* Create `path` (mode exactly 0600, O_EXCL|O_NOFOLLOW) if it does not exist; 0 if it does. */
int hark__file_create_private(const char *path);

/* ---- text ----------------------------------------------------------------------- */

/* Trim ASCII whitespace from both ends of [s, s+len); returns the new start, updates *len. */
const char *hark__trim(const char *s, size_t *len);
/* Case-insensitive ASCII comparison. */
int hark__strcasecmp(const char *a, const char *b);

/* ---- JSON writer ----------------------------------------------------------------- */

/*
 * A streaming JSON writer on a hark_buf. Handles commas and escaping; numbers
 * are printed with a fixed format so output is byte-stable. Errors stick: the
 * first failure is returned by every later call and by hark_jsonw_end().
 */
typedef struct hark_jsonw {
    hark_buf *out;
    int depth;
    int err;
    int pretty;      /* indent with 2 spaces per level */
    uint64_t first;  /* bit d set = no element written yet at depth d */
    uint64_t arrays; /* bit d set = level d is an array */
    int after_key;   /* a key was just written */
} hark_jsonw;

void hark_jsonw_init(hark_jsonw *w, hark_buf *out, int pretty);
void hark_jsonw_object(hark_jsonw *w);
void hark_jsonw_array(hark_jsonw *w);
void hark_jsonw_close(hark_jsonw *w); /* closes the innermost object or array */
void hark_jsonw_key(hark_jsonw *w, const char *key);
void hark_jsonw_str(hark_jsonw *w, const char *s);
void hark_jsonw_strn(hark_jsonw *w, const char *s, size_t len);
void hark_jsonw_int(hark_jsonw *w, int64_t v);
/* %.*f with `decimals` digits; non-finite values become null */
void hark_jsonw_fixed(hark_jsonw *w, double v, int decimals);
/* shortest %.9g-style value for floats; non-finite values become null */
void hark_jsonw_num(hark_jsonw *w, double v);
void hark_jsonw_bool(hark_jsonw *w, int v);
void hark_jsonw_null(hark_jsonw *w);
/* Insert already-encoded JSON text as a value. */
void hark_jsonw_raw(hark_jsonw *w, const char *json);
int hark_jsonw_end(hark_jsonw *w);
/* Append `s` as a JSON string literal (with quotes) to `out`. */
int hark_json_escape(hark_buf *out, const char *s, size_t len);

#endif
