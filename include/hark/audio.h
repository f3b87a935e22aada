/*
 * hark/audio.h: streaming audio decoding. Any container and codec that
 * libavformat/libavcodec understand (WAV, FLAC, MP3, Ogg Vorbis, Opus,
 * M4A/AAC, WebM, the audio track of MP4/MKV video...) is decoded and
 * resampled to HARK_SAMPLE_RATE mono float in blocks, so memory does not grow
 * with the length of the recording.
 *
 *     hark_decoder *dec = NULL;
 *     float buf[4096];
 *     size_t n;
 *     if (hark_decoder_open(&dec, "talk.m4a", NULL) < 0) { puts(hark_error_last()); ... }
 *     while (hark_decoder_read(dec, buf, 4096, &n) == 0 && n > 0)
 *         consume(buf, n);
 *     hark_decoder_free(dec);
 *
 * Output: 16 kHz mono float, channels averaged, resampled with a linear-phase
 * filter. A source of S samples at rate R yields exactly round(S * 16000 / R)
 * samples (halves round up), so N seconds give N * 16000 samples with no
 * drift; lossy codecs may add their end padding (AAC: up to 1024 source
 * samples) where the container does not say how much to trim.
 *
 * A file that holds audio of length zero is not an error: the first read
 * returns 0 samples. Callers that need audio report HARK_EEMPTY themselves.
 *
 * A decoder is single-threaded; separate decoders may be used from separate
 * threads. libav's own log output is captured (its last error message may
 * appear in hark_error_last()) and never printed; note that libav's log
 * callback is process-wide.
 */
#ifndef HARK_AUDIO_H
#define HARK_AUDIO_H

#include "common.h"

HARK_BEGIN_DECL

typedef struct hark_decoder hark_decoder;

/** Options for hark_decoder_open; initialise with HARK_DECODER_OPTIONS_INIT. */
typedef struct hark_decoder_options {
    unsigned version;     /**< HARK_DECODER_OPTIONS_VERSION */
    int stream_index;     /**< audio stream to decode, -1 = the best one */
    uint64_t max_samples; /**< stop after this many output samples, 0 = no limit */
} hark_decoder_options;

#define HARK_DECODER_OPTIONS_VERSION 1
/* clang-format off */
#define HARK_DECODER_OPTIONS_INIT {HARK_DECODER_OPTIONS_VERSION, -1, 0}
/* clang-format on */

/** What the decoder found in the input. Strings are borrowed from the decoder. */
typedef struct hark_audio_info {
    const char *container; /**< libavformat's name for it ("wav", "mov,mp4,m4a,3gp,3g2,mj2") */
    const char *codec;     /**< codec name ("pcm_s16le", "aac", "opus") */
    int sample_rate;       /**< the source's rate in Hz (of its start, if it changes) */
    int channels;          /**< the source's channel count */
    int64_t duration;      /**< expected output length in samples, from the header (an estimate for
                                some formats, e.g. MP3 includes codec delay); 0 = unknown (pipes) */
} hark_audio_info;

/**
 * Open `path` for decoding. `path` "-" reads standard input (a pipe is read
 * once, without seeking; formats that need to seek, such as MP4 with its index
 * at the end, then fail or end early). The container is recognised by its
 * content, not by the name's extension.
 * @param opts NULL for the defaults.
 * @param[out] out owned by the caller; free with hark_decoder_free. NULL on error.
 * @return 0; HARK_ENOTFOUND (no such file), HARK_EIO (unreadable: permission,
 *   a directory, a read error), HARK_EDECODE (empty, not an audio or video file,
 *   damaged beyond use, unsupported codec or sample rate), HARK_ENOAUDIO (no
 *   audio stream, e.g. a video without sound, or opts->stream_index is not
 *   audio), HARK_EINVAL (bad options version), HARK_ENOMEM. The message of
 *   hark_error_last() names the file ("stdin" for "-") and the reason.
 */
HARK_API int hark_decoder_open(hark_decoder **out, const char *path,
                               const hark_decoder_options *opts);

/**
 * Decode the next block: up to `max` samples are written to `pcm`, their count
 * to `*n`; fewer than `max` only at the end of the stream (or of max_samples).
 * At the end returns 0 with `*n == 0`, again on every later call. Corrupt
 * packets are skipped and counted, and the hole they leave is filled with
 * silence when timestamps show its length, so later audio keeps its timing;
 * a stream that breaks off (truncated file) ends early with what was valid
 * (see hark_decoder_warnings). Memory use does not depend on the input's
 * length.
 * @return 0; HARK_EIO (read error), HARK_EDECODE (unrecoverable decoding
 *   error), HARK_ENOMEM. Samples decoded before an error are returned first;
 *   the error comes with the next call and sticks.
 */
HARK_API int hark_decoder_read(hark_decoder *dec, float *pcm, size_t max, size_t *n);

/** Information about the opened input (borrowed; valid until hark_decoder_free). */
HARK_API const hark_audio_info *hark_decoder_info(const hark_decoder *dec);

/** Output samples delivered so far. */
HARK_API int64_t hark_decoder_position(const hark_decoder *dec);

/**
 * Problems that did not stop decoding: corrupt packets skipped, data cut
 * short. Returns the number of problems and sets `*msg` (if `msg` is not NULL;
 * borrowed until the next call on `dec`; NULL when there is none) to a
 * one-line summary such as "3 corrupt packets skipped; data ends early
 * (truncated file?)". Complete only once the end of the stream was read.
 */
HARK_API unsigned hark_decoder_warnings(const hark_decoder *dec, const char **msg);

/** Close the input and free the decoder. NULL is ok. */
HARK_API void hark_decoder_free(hark_decoder *dec);

/**
 * Decode a whole file into memory (convenience for short files and tests).
 * @param[out] pcm newly allocated samples, free with hark_free; NULL when the
 *   file holds no samples (the call still returns 0: see HARK_EEMPTY above).
 * @param[out] n number of samples.
 * @return as hark_decoder_open and hark_decoder_read.
 */
HARK_API int hark_audio_load(float **pcm, size_t *n, const char *path);

/** Free memory the library handed out as a raw pointer (hark_audio_load). NULL is ok. */
HARK_API void hark_free(void *ptr);

/**
 * Write 16 kHz mono samples as a 16-bit PCM WAV file (canonical 44-byte
 * header). Samples are quantised as round(x * 32768) and clipped to the int16
 * range (NaN becomes 0), the inverse of the decoder's conversion, so 16-bit
 * audio survives a decode/write round trip unchanged. Used by tests and tools.
 * On error the partial file is removed.
 * @return 0; HARK_ENOTFOUND (no such folder), HARK_EIO, HARK_ENOSPC,
 *   HARK_ETOOBIG (more than 2^31 samples).
 */
HARK_API int hark_wav_write(const char *path, const float *pcm, size_t n);

HARK_END_DECL

#endif
