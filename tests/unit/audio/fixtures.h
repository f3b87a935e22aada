/*
 * fixtures.h: signals, files and checks shared by the audio tests.
 *
 * The reference signal is 3 s of 44.1 kHz stereo: a 1 kHz tone gated on for
 * the first half of every second, 0.6 full scale on the left channel and 0.2
 * on the right, so the mono average is a 0.4 tone (RMS 0.283) in the first
 * half of each second and silence in the second half. It is generated here,
 * written as a WAV, and encoded to the other formats by Debian's ffmpeg.
 */
#ifndef HARK_TEST_AUDIO_FIXTURES_H
#define HARK_TEST_AUDIO_FIXTURES_H

#include "harness.h"
#include "audio/audio.h"

#define SIG_RATE    44100
#define SIG_SECONDS 3
#define SIG_OUT     (SIG_SECONDS * HARK_SAMPLE_RATE) /* output samples of the reference */
#define SIG_TONE_HZ 1000.0
#define SIG_AMP     0.4 /* amplitude of the mono average */

/* SKIP unless ffmpeg is installed. */
void need_ffmpeg(void);

/* The 44-byte header of a 16-bit PCM WAV file of `frames` frames. */
void write_wav_header(FILE *f, int rate, int channels, uint64_t frames);

/* Write interleaved int16 frames as a WAV file of any rate and channel count. */
void write_wav(const char *path, int rate, int channels, const int16_t *data, size_t frames);

/* The reference signal as tmpdir/ref.wav (created once per test); returns its path. */
const char *ref_wav(void);

/*
 * The reference encoded by `ffmpeg -i ref.wav <args> tmpdir/<name>`; `video`
 * adds a small test-pattern video track. Returns the path.
 */
const char *make_fixture(const char *name, const char *args, int video);

/* Decode a whole file through hark_decoder in blocks of `block` samples. */
float *decode_file(const char *path, size_t block, size_t *n);

/* Decode with an open decoder until the end; asserts that reads succeed. */
float *decode_rest(hark_decoder *dec, size_t block, size_t *n);

/* RMS of pcm[from, to) (sample indices at 16 kHz, clamped to n). */
double rms(const float *pcm, size_t n, size_t from, size_t to);

/* Zero crossings per second over pcm[from, to). */
double crossings_per_s(const float *pcm, size_t n, size_t from, size_t to);

/*
 * Check that the gated tone is there: in each second, RMS of the tone part
 * within `tol` (relative) of the expected value, zero crossings at 2 kHz, and
 * near-silence in the other half.
 */
void check_signal(const float *pcm, size_t n, double tol);

#endif
