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
 * A decoder is single-threaded.
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
#define HARK_DECODER_OPTIONS_INIT                                                                  \
    {                                                                                              \
        HARK_DECODER_OPTIONS_VERSION, -1, 0                                                        \
    }

/** What the decoder found in the input. Strings are borrowed from the decoder. */
typedef struct hark_audio_info {
    const char *container; /**< short container name ("wav", "mov,mp4,m4a,...") */
    const char *codec;     /**< codec name ("pcm_s16le", "aac", "opus") */
    int sample_rate;       /**< the source's rate in Hz */
    int channels;          /**< the source's channel count */
    int64_t
        duration; /**< expected output length in samples, 0 = unknown (pipes, some containers) */
} hark_audio_info;

/**
 * Open `path` for decoding. `path` "-" reads standard input.
 * @param[out] out owned by the caller; free with hark_decoder_free.
 * @return 0; HARK_ENOTFOUND (no such file), HARK_EIO (unreadable),
 *   HARK_EDECODE (not a recognised audio/video file), HARK_ENOAUDIO (no audio
 *   stream), HARK_ENOMEM. The message of hark_error_last() names the file.
 */
HARK_API int hark_decoder_open(hark_decoder **out, const char *path,
                               const hark_decoder_options *opts);

/**
 * Decode the next block: up to `max` samples are written to `pcm`, their count
 * to `*n`. At the end of the stream returns 0 with `*n == 0`. Corrupt packets
 * are skipped and counted (see hark_decoder_warnings); a stream that breaks off
 * (truncated file) ends early with what was valid.
 * @return 0, HARK_EDECODE (unrecoverable error), HARK_ENOMEM, HARK_ECANCELED.
 */
HARK_API int hark_decoder_read(hark_decoder *dec, float *pcm, size_t max, size_t *n);

/** Information about the opened input (borrowed; valid until hark_decoder_free). */
HARK_API const hark_audio_info *hark_decoder_info(const hark_decoder *dec);

/** Output samples delivered so far. */
HARK_API int64_t hark_decoder_position(const hark_decoder *dec);

/**
 * Problems that did not stop decoding: corrupt packets skipped, data cut
 * short. Returns the number of problems and sets `*msg` (borrowed, may be
 * NULL) to a one-line summary such as "3 corrupt packets skipped; data ends
 * early (truncated file?)".
 */
HARK_API unsigned hark_decoder_warnings(const hark_decoder *dec, const char **msg);

/** Close the input and free the decoder. NULL is ok. */
HARK_API void hark_decoder_free(hark_decoder *dec);

/**
 * Decode a whole file into memory (convenience for short files and tests).
 * @param[out] pcm newly allocated samples, free with hark_free.
 * @param[out] n number of samples.
 */
HARK_API int hark_audio_load(float **pcm, size_t *n, const char *path);

/** Free memory the library handed out as a raw pointer (hark_audio_load). NULL is ok. */
HARK_API void hark_free(void *ptr);

/**
 * Write 16 kHz mono samples as a 16-bit PCM WAV file (values clipped to
 * [-1, 1]). Used by tests and tools.
 */
HARK_API int hark_wav_write(const char *path, const float *pcm, size_t n);

HARK_END_DECL

#endif
