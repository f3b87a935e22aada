/*
 * wav.c: hark_wav_write, 16 kHz mono samples to a 16-bit PCM WAV file.
 *
 * The file is the canonical 44-byte RIFF/WAVE header followed by the samples
 * as little-endian int16, quantised by hark__pcm_to_s16 (round(x * 32768),
 * clipped), so a file decoded by hark_decoder and written again is identical.
 * Written with stdio in blocks; on any error the partial file is removed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audio.h"

#define WAV_BLOCK 4096 /* samples converted per fwrite */

static void put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)((v >> 8) & 0xff);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, v & 0xffff);
    put_le16(p + 2, v >> 16);
}

static int write_error(const char *path)
{
    int e = errno;
    return hark_error_set(e == ENOSPC ? HARK_ENOSPC : HARK_EIO, "%s: write error: %s", path,
                          strerror(e));
}

int hark_wav_write(const char *path, const float *pcm, size_t n)
{
    uint8_t hdr[44], block[WAV_BLOCK * 2];
    FILE *f = NULL;
    size_t i, k, done;
    uint32_t data_bytes;
    int rc = 0, created = 0, closed;

    HARK_ASSERT_ARG(path);
    HARK_ASSERT_ARG(pcm || n == 0);
    if (n > (UINT32_MAX - 36) / 2)
        return hark_error_set(HARK_ETOOBIG, "%s: %zu samples do not fit in a WAV file", path, n);
    data_bytes = (uint32_t)(n * 2);

    memcpy(hdr, "RIFF", 4);
    put_le32(hdr + 4, 36 + data_bytes);
    memcpy(hdr + 8, "WAVEfmt ", 8);
    put_le32(hdr + 16, 16);                   /* fmt chunk size */
    put_le16(hdr + 20, 1);                    /* PCM */
    put_le16(hdr + 22, 1);                    /* channels */
    put_le32(hdr + 24, HARK_SAMPLE_RATE);     /* sample rate */
    put_le32(hdr + 28, HARK_SAMPLE_RATE * 2); /* bytes per second */
    put_le16(hdr + 32, 2);                    /* block align */
    put_le16(hdr + 34, 16);                   /* bits per sample */
    memcpy(hdr + 36, "data", 4);
    put_le32(hdr + 40, data_bytes);

    f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        rc = hark_error_set(e == ENOENT ? HARK_ENOTFOUND : HARK_EIO, "%s: cannot create: %s", path,
                            strerror(e));
        goto out;
    }
    created = 1;
    if (fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
        rc = write_error(path);
        goto out;
    }
    for (done = 0; done < n; done += k) {
        k = HARK_MIN((size_t)WAV_BLOCK, n - done);
        for (i = 0; i < k; i++)
            put_le16(block + 2 * i, (uint16_t)hark__pcm_to_s16(pcm[done + i]));
        if (fwrite(block, 2, k, f) != k) {
            rc = write_error(path);
            goto out;
        }
    }
    closed = fclose(f);
    f = NULL;
    if (closed != 0)
        rc = write_error(path);
out:
    if (f)
        fclose(f);
    if (rc < 0 && created)
        remove(path);
    return rc;
}
