/*
 * hark/common.h: export macro, C++ guards and the one output-buffer type that
 * every public function uses to hand bytes back to the caller.
 */
#ifndef HARK_COMMON_H
#define HARK_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define HARK_BEGIN_DECL extern "C" {
#define HARK_END_DECL   }
#else
#define HARK_BEGIN_DECL
#define HARK_END_DECL
#endif

#if defined(HARK_BUILDING_LIBRARY) && defined(__GNUC__)
#define HARK_API __attribute__((visibility("default")))
#else
#define HARK_API
#endif

#if defined(__GNUC__)
#define HARK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define HARK_NODISCARD         __attribute__((warn_unused_result))
#else
#define HARK_PRINTF(fmt, args)
#define HARK_NODISCARD
#endif

/** Audio sample rate used everywhere inside hark: 16 kHz mono float. */
#define HARK_SAMPLE_RATE 16000

HARK_BEGIN_DECL

/**
 * A growable byte buffer. Strings and blobs leave the library in a hark_buf so
 * that allocators are never mixed: the caller releases it with
 * hark_buf_dispose(). `ptr` is always NUL-terminated when `len > 0` or after
 * any successful write, so text can be used as a C string.
 *
 * Initialise with HARK_BUF_INIT. `max` caps growth (0 = no cap): a write that
 * would exceed it fails with HARK_ETOOBIG, which is how input from files and
 * sockets is bounded.
 */
typedef struct hark_buf {
    char *ptr;  /**< the bytes; NULL until the first write */
    size_t len; /**< bytes in use, not counting the terminating NUL */
    size_t cap; /**< bytes allocated */
    size_t max; /**< growth limit in bytes, 0 = unlimited */
} hark_buf;

#define HARK_BUF_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/** Release the memory held by `buf` and reset it to HARK_BUF_INIT (keeps `max`). NULL is ok. */
HARK_API void hark_buf_dispose(hark_buf *buf);

/**
 * Replace the allocator used by the whole library. Call before any other hark
 * function; the functions must behave like the C library's.
 * @return 0, or HARK_EINVAL if any pointer is NULL.
 */
HARK_API int hark_set_allocator(void *(*malloc_fn)(size_t), void *(*calloc_fn)(size_t, size_t),
                                void *(*realloc_fn)(void *, size_t), void (*free_fn)(void *));

/** Severity of a log record. */
typedef enum hark_log_level {
    HARK_LOG_DEBUG = 0,
    HARK_LOG_INFO = 1,
    HARK_LOG_WARN = 2,
    HARK_LOG_ERROR = 3,
} hark_log_level;

/** A log sink. `msg` is one line without a trailing newline, valid during the call. */
typedef void (*hark_log_fn)(hark_log_level level, const char *msg, void *payload);

/**
 * Route the library's log records to `fn` (NULL: drop them, the default: the
 * library never prints). Records below `min_level` are not formatted at all.
 * Thread-safe with respect to logging threads; set it once at start-up.
 */
HARK_API void hark_log_set(hark_log_fn fn, void *payload, hark_log_level min_level);

/** The run-time library version, "MAJOR.MINOR.PATCH". */
HARK_API const char *hark_version(void);

HARK_END_DECL

#endif
