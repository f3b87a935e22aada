/*
 * error.c: error codes and the thread-local "last error" message.
 *
 * Library code records the reason for a failure once, where it is known, with
 * hark_error_set(code, fmt, ...) and propagates the code unchanged. Callers
 * read the one-line message with hark_error_last().
 */
#include <stdio.h>
#include <string.h>

#include "util.h"

#define ERRMSG_MAX 512

static _Thread_local char last_msg[ERRMSG_MAX];
static _Thread_local int last_code;

const char *hark_strerror(int code)
{
    switch (code) {
#define X(name, value, msg)                                                                        \
    case value:                                                                                    \
        return msg;
        HARK_ERRNO_MAP(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *hark_err_name(int code)
{
    switch (code) {
#define X(name, value, msg)                                                                        \
    case value:                                                                                    \
        return #name;
        HARK_ERRNO_MAP(X)
#undef X
    default:
        return "UNKNOWN";
    }
}

int hark_error_setv(int code, const char *fmt, va_list ap)
{
    last_code = code;
    if (fmt)
        vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    else
        snprintf(last_msg, sizeof(last_msg), "%s", hark_strerror(code));
    return code;
}

int hark_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hark_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int hark_error_prefix(const char *fmt, ...)
{
    char old[ERRMSG_MAX];
    const char *rest;
    size_t n, k;
    va_list ap;

    memcpy(old, last_msg, sizeof(old));
    rest = old[0] ? old : hark_strerror(last_code);
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    va_end(ap);
    n = strlen(last_msg);
    /* append ": " + rest, truncating at the buffer's end */
    for (k = 0; n + 1 < sizeof(last_msg) && k < 2; k++)
        last_msg[n++] = ": "[k];
    for (k = 0; n + 1 < sizeof(last_msg) && rest[k]; k++)
        last_msg[n++] = rest[k];
    last_msg[n] = '\0';
    return last_code;
}

const char *hark_error_last(void)
{
    return last_msg;
}

int hark_error_last_code(void)
{
    return last_code;
}

void hark_error_clear(void)
{
    last_code = 0;
    last_msg[0] = '\0';
}
