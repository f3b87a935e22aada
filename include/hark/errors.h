/*
 * hark/errors.h: error codes. Every fallible function returns 0 on success or
 * a negative HARK_E* code; the one-line detail of the last error on this
 * thread is available from hark_error_last().
 */
#ifndef HARK_ERRORS_H
#define HARK_ERRORS_H

#include "common.h"

HARK_BEGIN_DECL

/* X(name, value, message): the single table behind the enum, hark_strerror and hark_err_name. */
#define HARK_ERRNO_MAP(X)                                                                          \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(ENOTFOUND, -3, "not found")                                                                  \
    X(EIO, -4, "input/output error")                                                               \
    X(EDECODE, -5, "cannot decode audio")                                                          \
    X(ENOAUDIO, -6, "no audio stream")                                                             \
    X(EEMPTY, -7, "no audio samples")                                                              \
    X(ETOOBIG, -8, "too large")                                                                    \
    X(ECANCELED, -9, "canceled")                                                                   \
    X(EENGINE, -10, "speech engine failed")                                                        \
    X(EMODEL, -11, "invalid model")                                                                \
    X(EBACKEND, -12, "storage backend error")                                                      \
    X(EEXISTS, -13, "already exists")                                                              \
    X(EBUSY, -14, "resource busy")                                                                 \
    X(ENOSPC, -15, "no space left")                                                                \
    X(EREADONLY, -16, "read-only storage")                                                         \
    X(ESYNTAX, -17, "syntax error")                                                                \
    X(EUNSUPPORTED, -18, "not supported")                                                          \
    X(ENETWORK, -19, "network error")                                                              \
    X(EAUTH, -20, "not authorized")                                                                \
    X(ECORRUPT, -21, "corrupt data")                                                               \
    X(ETIMEOUT, -22, "timed out")                                                                  \
    X(EVERSION, -23, "incompatible version")                                                       \
    X(EAGAIN, -24, "temporary failure, try again")

/** Error codes (0 and negative). */
typedef enum hark_error {
#define HARK__ERR_ENUM(name, value, msg) HARK_##name = value,
    HARK_ERRNO_MAP(HARK__ERR_ENUM)
#undef HARK__ERR_ENUM
} hark_error;

/** A static, human-readable description of `code` ("unknown error" if not a hark code). */
HARK_API const char *hark_strerror(int code);

/** The symbolic name of `code` without the HARK_ prefix ("EDECODE"), or "UNKNOWN". */
HARK_API const char *hark_err_name(int code);

/**
 * The detail message of the most recent error raised on the calling thread,
 * e.g. "meeting.m4a: no audio stream". Never NULL: "" when there is none.
 * Valid until the next hark call on this thread.
 */
HARK_API const char *hark_error_last(void);

/** The code of the most recent error on this thread (HARK_OK if none). */
HARK_API int hark_error_last_code(void);

/** Forget the last error on this thread. */
HARK_API void hark_error_clear(void);

HARK_END_DECL

#endif
