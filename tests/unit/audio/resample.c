/*
 * resample.c: resampling quality and exact timing. Signals are generated
 * here and written as WAV files, so these tests need no external tool.
 */
#include "fixtures.h"

#define TAU 6.283185307179586

/* A mono tone of `seconds` at `rate`, amplitude `amp`, written to tmpdir/name. */
static const char *tone_wav(const char *name, int rate, double hz, double amp, double seconds)
{
    size_t frames = (size_t)lrint(seconds * rate), i;
    int16_t *d = malloc(frames * sizeof(int16_t) + 1);
    const char *path = harness_path(name);
    ASSERT(d != NULL);
    for (i = 0; i < frames; i++)
        d[i] = (int16_t)lrint(amp * 32767 * sin(TAU * hz * (double)i / rate));
    write_wav(path, rate, 1, d, frames);
    free(d);
    return path;
}

TEST(resampled_1khz_sine_keeps_frequency_amplitude_and_phase)
{
    static const int rates[] = { 44100, 48000, 22050, 8000, 96000 };
    size_t r, i, n;
    for (r = 0; r < HARK_ARRAY_SIZE(rates); r++) {
        float *pcm = decode_file(tone_wav("t.wav", rates[r], 1000, 0.5, 2.0), 4096, &n);
        double err = 0;
        ASSERT_EQ(n, 32000);
        /* away from the edges the output is the ideal 16 kHz sine: right frequency,
         * right amplitude and no delay */
        for (i = 800; i < n - 800; i++) {
            double want = 0.5 * 32767 / 32768 * sin(TAU * 1000 * (double)i / 16000);
            err = fmax(err, fabs(pcm[i] - want));
        }
        ASSERT_MSG(err < 0.002, "%d Hz: largest deviation from the ideal sine %g", rates[r], err);
        ASSERT_NEAR(rms(pcm, n, 800, n - 800) * sqrt(2.0), 0.5, 0.002);
        ASSERT_NEAR(crossings_per_s(pcm, n, 800, n - 800), 2000, 2);
        free(pcm);
    }
}

TEST(resampling_passes_7khz_and_rejects_tones_above_8khz)
{
    size_t n;
    float *pcm = decode_file(tone_wav("p.wav", 44100, 7000, 0.5, 1.0), 4096, &n);
    double level = 20 * log10(rms(pcm, n, 800, n - 800) * sqrt(2.0) / 0.5);
    ASSERT_MSG(fabs(level) < 0.1, "7 kHz comes out at %.2f dB", level);
    free(pcm);
    /* 10 kHz and 8.1 kHz would alias to 6 and 7.9 kHz: they must be filtered out */
    pcm = decode_file(tone_wav("a.wav", 44100, 10000, 0.5, 1.0), 4096, &n);
    level = 20 * log10(rms(pcm, n, 800, n - 800) * sqrt(2.0) / 0.5 + 1e-12);
    ASSERT_MSG(level < -60, "10 kHz leaks through at %.1f dB", level);
    free(pcm);
    pcm = decode_file(tone_wav("b.wav", 48000, 8100, 0.5, 1.0), 4096, &n);
    level = 20 * log10(rms(pcm, n, 800, n - 800) * sqrt(2.0) / 0.5 + 1e-12);
    ASSERT_MSG(level < -60, "8.1 kHz leaks through at %.1f dB", level);
    free(pcm);
}

TEST(length_is_exactly_round_of_source_length_times_16000_over_rate)
{
    static const int rates[] = { 8000, 11025, 12345, 16000, 22050, 32000, 44100, 48000, 96000 };
    static const double seconds[] = { 3.0, 2.3456, 0.01 };
    size_t r, s, n;
    for (r = 0; r < HARK_ARRAY_SIZE(rates); r++) {
        for (s = 0; s < HARK_ARRAY_SIZE(seconds); s++) {
            size_t frames = (size_t)lrint(seconds[s] * rates[r]);
            size_t want =
                (size_t)((frames * 16000 * 2 + (size_t)rates[r]) / (2 * (size_t)rates[r]));
            float *pcm = decode_file(tone_wav("l.wav", rates[r], 440, 0.3, seconds[s]), 1000, &n);
            ASSERT_MSG(n == want, "%d Hz, %zu frames: %zu samples, expected %zu", rates[r], frames,
                       n, want);
            free(pcm);
        }
    }
}

TEST(no_timing_drift_over_a_minute)
{
    /* one-sample clicks at every second: each must come out at 16000 * k */
    static const int rates[] = { 44100, 48000, 22050, 8000 };
    size_t r, k, i, n;
    for (r = 0; r < HARK_ARRAY_SIZE(rates); r++) {
        size_t frames = (size_t)rates[r] * 60;
        int16_t *d = calloc(frames, sizeof(int16_t));
        const char *path = harness_path("clicks.wav");
        float *pcm;
        ASSERT(d != NULL);
        for (k = 1; k < 60; k++)
            d[k * (size_t)rates[r]] = 30000;
        write_wav(path, rates[r], 1, d, frames);
        pcm = decode_file(path, 4096, &n);
        ASSERT_EQ(n, 60 * 16000);
        for (k = 1; k < 60; k++) {
            size_t best = k * 16000 - 100;
            for (i = best; i <= k * 16000 + 100; i++)
                if (pcm[i] > pcm[best])
                    best = i;
            ASSERT_MSG(best == k * 16000, "%d Hz: click %zu at sample %zu, expected %zu", rates[r],
                       k, best, k * 16000);
        }
        free(pcm);
        free(d);
    }
}
