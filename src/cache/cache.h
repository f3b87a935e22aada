/*
 * cache.h: internals of the result cache: the binary encoding of a
 * transcript that cache entries hold.
 */
#ifndef HARK_CACHE_INTERNAL_H
#define HARK_CACHE_INTERNAL_H

#include "hark/cache.h"
#include "hark/transcript.h"
#include "../util/util.h"

/* Bytes that every encoding starts with: "hkT" and the format version. */
#define HARK_TRANSCRIPT_MAGIC  "hkT"
#define HARK_TRANSCRIPT_FORMAT 1

/*
 * Append the compact binary encoding of `t` to `out` (format in serialize.c).
 * Deterministic: the same transcript always gives the same bytes.
 */
int hark__transcript_encode(const hark_transcript *t, hark_buf *out);

/*
 * Decode `len` bytes made by hark__transcript_encode. Untrusted input: any
 * malformed, truncated or checksum-failing data gives HARK_ECORRUPT (never a
 * crash, never an allocation larger than a small multiple of `len`).
 * @param[out] out a new transcript owned by the caller (NULL on error).
 */
int hark__transcript_decode(const void *data, size_t len, hark_transcript **out);

#endif
