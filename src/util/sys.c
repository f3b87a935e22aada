/*
 * sys.c: clocks, sleeping, CPU count and memory statistics.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t hark__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double hark__now_ms(void)
{
    return (double)hark__now_ns() / 1e6;
}

int hark__sleep_ms(unsigned ms, int (*abort)(void *), void *payload)
{
    double end = hark__now_ms() + ms;
    for (;;) {
        double left = end - hark__now_ms();
        struct timespec ts;
        if (abort && abort(payload))
            return 1;
        if (left <= 0)
            return 0;
        if (left > 20)
            left = 20;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e6);
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            if (abort && abort(payload))
                return 1;
    }
}

unsigned hark__cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}

uint64_t hark__peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}
