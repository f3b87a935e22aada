/*
 * fuzz_transcript_decode.c: the cache's transcript decoder reads data from
 * disk. Any input must be rejected cleanly (HARK_ECORRUPT) or decode to a
 * transcript that re-encodes to exactly the same bytes (the encoding is
 * canonical), without crashes, leaks or undefined behaviour. Each input is
 * tried as is and with its last 4 bytes replaced by the right CRC-32, so the
 * fuzzer explores the parser behind the checksum too.
 */
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void one(const uint8_t *data, size_t size)
{
    hark_transcript *t = NULL;
    hark_buf again = HARK_BUF_INIT;
    int rc = hark__transcript_decode(data, size, &t);

    if (rc == 0) {
        if (hark__transcript_encode(t, &again) < 0 || again.len != size ||
            memcmp(again.ptr, data, size) != 0)
            abort();
    } else if (rc != HARK_ECORRUPT && rc != HARK_ENOMEM) {
        abort();
    }
    hark_buf_dispose(&again);
    hark_transcript_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed;
    one(data, size);
    if (size < 4 || !(fixed = malloc(size)))
        return 0;
    memcpy(fixed, data, size);
    {
        uint32_t c = crc32(fixed, size - 4);
        fixed[size - 4] = (uint8_t)c;
        fixed[size - 3] = (uint8_t)(c >> 8);
        fixed[size - 2] = (uint8_t)(c >> 16);
        fixed[size - 1] = (uint8_t)(c >> 24);
    }
    one(fixed, size);
    free(fixed);
    return 0;
}
