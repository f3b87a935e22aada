/*
 * audio.h: the audio module's internal interface (decoding from memory, the
 * FLAC archive writer, libav glue shared by the files of src/audio/).
 *
 * Sample convention, everywhere in hark: 16 kHz mono float, full scale is
 * [-1, 1). Integer PCM maps as int16 k <-> k / 32768.0f, the scale libswresample
 * uses, so 16-bit audio round-trips bit-exactly through float.
 */
#ifndef HARK_AUDIO_INTERNAL_H
#define HARK_AUDIO_INTERNAL_H

#include <math.h>

#include "hark/audio.h"
#include "../util/util.h"

/* ---- decoder ----------------------------------------------------------------------------- */

/*
 * Open a decoder over `len` bytes at `data` (a whole file held in memory: an
 * upload, a fuzz input). `data` is borrowed and must stay valid and unchanged
 * until hark_decoder_free. `name` (copied; NULL = "memory") stands for the file
 * in error messages. Errors as hark_decoder_open, except that there is no file
 * to be missing or unreadable.
 */
int hark__decoder_open_memory(hark_decoder **out, const void *data, size_t len, const char *name,
                              const hark_decoder_options *opts);

/*
 * Open a decoder over descriptor `fd`, which it takes over (closed by
 * hark_decoder_free, and on error). A seekable file is read from offset 0.
 * `name` (copied) stands for the input in error messages. Errors as
 * hark_decoder_open, except that there is no file name to resolve.
 */
int hark__decoder_open_fd(hark_decoder **out, int fd, const char *name,
                          const hark_decoder_options *opts);

/*
 * The most bytes the decoder has held in its own sample buffer at any time
 * (the queue between libswresample and the caller). It depends on the codec's
 * frame size and the source rate, never on the length of the input: tests use
 * it to prove that decoding streams.
 */
size_t hark__decoder_buffer_peak(const hark_decoder *dec);

/* ---- FLAC archive writer ------------------------------------------------------------------ */

/*
 * Streams 16 kHz mono float samples into a FLAC file (16-bit, libavcodec's
 * encoder and libavformat's flac muxer). The data goes to a hidden temporary
 * file beside `path` (".<name>.XXXXXX"); hark__flac_writer_close finalises the
 * stream (STREAMINFO with the sample count and MD5), syncs it to disk and
 * renames it to `path`, so `path` either does not exist or holds a complete
 * archive, whatever happens to the process. Samples are quantised as
 * hark__pcm_to_s16 does. A writer is single-threaded.
 */
typedef struct hark_flac_writer hark_flac_writer;

/* @param[out] out owned by the caller; release with _close or _discard. HARK_EIO names path. */
int hark__flac_writer_open(hark_flac_writer **out, const char *path);

/* Append `n` samples. After an error the writer is unusable: _discard or _close it. */
int hark__flac_writer_write(hark_flac_writer *w, const float *pcm, size_t n);

/* Samples written so far. */
uint64_t hark__flac_writer_samples(const hark_flac_writer *w);

/*
 * Finish the file and move it to its final name; frees `w` in every case. On
 * error (including an earlier failed write) the temporary file is removed and
 * `path` is left untouched. NULL is ok (returns 0).
 */
int hark__flac_writer_close(hark_flac_writer *w);

/* Abandon the archive: remove the temporary file and free `w`. NULL is ok. */
void hark__flac_writer_discard(hark_flac_writer *w);

/*
 * Encode `n` samples as a complete FLAC stream (the archive's settings and
 * quantisation: the same samples give the same bytes) appended to `out`. On
 * error `out` is left as it was. For uploads of audio to other servers.
 */
int hark__flac_encode(hark_buf *out, const float *pcm, size_t n);

/* ---- sample conversion --------------------------------------------------------------------- */

/* float -> int16 as libswresample does: round(x * 32768), clipped to [-32768, 32767]. */
static inline int16_t hark__pcm_to_s16(float x)
{
    float v = x * 32768.0f;
    if (isnan(v))
        return 0;
    if (v <= -32768.0f)
        return -32768;
    if (v >= 32767.0f)
        return 32767;
    return (int16_t)lrintf(v);
}

/* ---- libav glue (avglue.c) ------------------------------------------------------------------ */

/* Route libav's log into hark (never printed); idempotent and thread-safe. */
void hark__av_init(void);

/* The last error-level message libav logged on this thread ("" if none since _clear). */
const char *hark__av_last_log(void);
void hark__av_clear_log(void);

/*
 * Record an error for a failed libav call: "<name>: <what>: <libav reason>",
 * with libav's last logged message appended when it adds something. Maps
 * AVERROR(ENOMEM) to HARK_ENOMEM, everything else to `code`. Returns the code.
 */
int hark__av_error(int code, int averr, const char *name, const char *what);

/* The seek callback of an AVIOContext over file descriptor `fd` (AVSEEK_SIZE, AVSEEK_FORCE). */
int64_t hark__av_fd_seek(int fd, int64_t offset, int whence);

#endif
