/*
 * varint.h: the byte-level pieces of hark's binary encodings (the cache's
 * transcript format, the store's per-word blobs): LEB128 varints, zigzag for
 * signed values, little-endian 32-bit words. The readers are canonical (they
 * reject overlong varints and values over 64 bits), so a decoder built on
 * them accepts exactly one encoding of each value; both decoders are fuzzed.
 */
#ifndef HARK_UTIL_VARINT_H
#define HARK_UTIL_VARINT_H

#include <stdint.h>
#include <string.h>

static inline uint64_t hark__zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t hark__unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Write `v` at p (room for 10 bytes); returns the byte after it. */
static inline uint8_t *hark__varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Read a varint from *p (< end), advancing *p. 0, or -1 if truncated, overlong or too big. */
static inline int hark__varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        uint8_t byte;
        if (*p >= end || shift > 63)
            return -1;
        byte = *(*p)++;
        if (shift == 63 && (byte & 0x7e))
            return -1; /* more than 64 bits */
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            if (byte == 0 && shift > 0)
                return -1; /* overlong */
            *out = v;
            return 0;
        }
        shift += 7;
    }
}

/* Read a little-endian 32-bit word, advancing *p. 0, or -1 if truncated. */
static inline int hark__u32le_get(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    const uint8_t *b = *p;
    if (end - b < 4)
        return -1;
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    *p = b + 4;
    return 0;
}

/* Read a little-endian IEEE float, advancing *p. 0, or -1 if truncated. */
static inline int hark__f32le_get(const uint8_t **p, const uint8_t *end, float *out)
{
    uint32_t u;
    if (hark__u32le_get(p, end, &u) < 0)
        return -1;
    memcpy(out, &u, 4);
    return 0;
}

#endif
