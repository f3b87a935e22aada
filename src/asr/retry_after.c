/*
 * retry_after.c: the Retry-After header of an HTTP answer, for the libcurl
 * clients of other servers (the remote engine, summaries).
 *
 * A header line is "Retry-After: SECONDS" or "Retry-After: HTTP-DATE"
 * (RFC 9110, 10.2.3); the wait is clamped to [0, max_ms]. Other lines and
 * values that are neither are left alone.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "asr.h"
#include "../util/util.h"

int hark__http_retry_after(const char *line, size_t len, long max_ms, long *out)
{
    static const char name[] = "retry-after:";
    char v[128], *end;
    size_t vl;
    const char *p;
    long sec;

    if (len <= sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0)
        return 0;
    vl = len - (sizeof(name) - 1);
    if (!(p = hark__trim(line + sizeof(name) - 1, &vl)))
        return 0;
    if (vl >= sizeof(v))
        vl = sizeof(v) - 1;
    memcpy(v, p, vl);
    v[vl] = '\0';
    sec = strtol(v, &end, 10);
    if (end != v && *end == '\0' && sec >= 0) {
        *out = sec > max_ms / 1000 ? max_ms : sec * 1000;
        return 1;
    }
    {
        time_t when = curl_getdate(v, NULL), now = time(NULL);
        if (when == (time_t)-1)
            return 0;
        *out = when <= now                          ? 0
               : (long)(when - now) > max_ms / 1000 ? max_ms
                                                    : (long)(when - now) * 1000;
        return 1;
    }
}
