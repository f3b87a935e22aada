/*
 * log.c: library logging goes to a sink the application installs with
 * hark_log_set(); by default records are dropped, so the library never
 * prints on its own.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "hark/version.h"
#include "util.h"

static hark_log_fn sink;
static void *sink_payload;
static _Atomic int min_level = HARK_LOG_ERROR + 1; /* nothing passes until a sink is set */

void hark_log_set(hark_log_fn fn, void *payload, hark_log_level level)
{
    sink = fn;
    sink_payload = payload;
    atomic_store(&min_level, fn ? (int)level : HARK_LOG_ERROR + 1);
}

void hark__log(hark_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    hark_log_fn fn;

    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
        return;
    fn = sink;
    if (!fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fn(level, line, sink_payload);
}

const char *hark_version(void)
{
    return HARK_VERSION_STRING;
}
