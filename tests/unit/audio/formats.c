/*
 * formats.c: the reference signal (3 s, 44.1 kHz stereo, gated 1 kHz tone)
 * encoded to every supported format by ffmpeg, decoded by hark: the info,
 * the length and the signal must come out right.
 *
 * Length tolerance per codec (output samples at 16 kHz beyond the exact
 * 48000; never fewer):
 *   PCM WAV, FLAC, Vorbis, Opus (Ogg and WebM), MP3 with the LAME/Xing
 *   header ffmpeg writes: exact. The containers carry the sample count
 *   (WAV data size, STREAMINFO, granule positions, Opus pre-skip and end
 *   trimming, Matroska CodecDelay/DiscardPadding, the LAME gapless fields)
 *   and libav trims to it.
 *   AAC in MP4/M4A: the edit list removes the encoder delay, but libav keeps
 *   the end padding of the last frame: up to 1024 source samples, 372 here.
 *   AC-3 in Matroska: no gapless information at all; up to one frame of
 *   1536 source samples, 558 here.
 */
#include "fixtures.h"

typedef struct fmt_case {
    const char *file;      /* fixture name (its extension picks the container) */
    const char *args;      /* ffmpeg output arguments */
    int video;             /* add a video track */
    const char *container; /* expected hark_audio_info.container */
    const char *codec;     /* expected hark_audio_info.codec */
    int rate;              /* expected source rate (Hz) */
    int extra;             /* output samples of padding the codec may add */
    double tol;            /* relative tolerance of the tone's RMS */
} fmt_case;

static void check_format(const fmt_case *c)
{
    const char *path = make_fixture(c->file, c->args, c->video);
    hark_decoder *dec = NULL;
    const hark_audio_info *info;
    const char *warn = "";
    float *pcm;
    size_t n;

    ASSERT_OK(hark_decoder_open(&dec, path, NULL));
    info = hark_decoder_info(dec);
    ASSERT_STREQ(info->container, c->container);
    ASSERT_STREQ(info->codec, c->codec);
    ASSERT_EQ(info->sample_rate, c->rate);
    ASSERT_EQ(info->channels, 2);
    /* the header's estimate may include codec delay and padding */
    ASSERT_NEAR(info->duration, SIG_OUT, SIG_OUT / 50);
    pcm = decode_rest(dec, 4096, &n);
    ASSERT_MSG(n >= SIG_OUT && n <= (size_t)(SIG_OUT + c->extra),
               "%s: %zu samples, expected %d + at most %d", c->file, n, SIG_OUT, c->extra);
    ASSERT_EQ(hark_decoder_position(dec), n);
    ASSERT_EQ(hark_decoder_warnings(dec, &warn), 0);
    ASSERT(warn == NULL);
    check_signal(pcm, n, c->tol);
    free(pcm);
    hark_decoder_free(dec);
}

static const fmt_case WAV = { "s.wav", "-c:a pcm_s16le", 0, "wav", "pcm_s16le", 44100, 0, 0.002 };
static const fmt_case FLAC = { "s.flac", "-c:a flac", 0, "flac", "flac", 44100, 0, 0.002 };
static const fmt_case MP3 = { "s.mp3", "-c:a libmp3lame -b:a 64k", 0, "mp3", "mp3", 44100, 0, 0.1 };
static const fmt_case OGG = { "s.ogg", "-c:a libvorbis -q:a 3", 0, "ogg", "vorbis", 44100, 0, 0.1 };
static const fmt_case OPUS = { "s.opus", "-c:a libopus -b:a 32k", 0, "ogg", "opus", 48000, 0, 0.1 };
static const fmt_case M4A = {
    "s.m4a", "-c:a aac -b:a 64k", 0, "mov,mp4,m4a,3gp,3g2,mj2", "aac", 44100, 372, 0.1
};
static const fmt_case WEBM = {
    "s.webm", "-c:a libopus -b:a 32k", 0, "matroska,webm", "opus", 48000, 0, 0.1
};
static const fmt_case MP4 = {
    "s.mp4", "-c:v mpeg4 -c:a aac -b:a 64k", 1, "mov,mp4,m4a,3gp,3g2,mj2", "aac", 44100, 372, 0.1
};
static const fmt_case MKV = { "s.mkv", "-c:v mpeg4 -c:a ac3", 1, "matroska,webm", "ac3", 44100, 558,
                              0.1 };

TEST(decodes_wav)
{
    check_format(&WAV);
}

TEST(decodes_flac)
{
    check_format(&FLAC);
}

TEST(decodes_mp3)
{
    check_format(&MP3);
}

TEST(decodes_ogg_vorbis)
{
    check_format(&OGG);
}

TEST(decodes_ogg_opus)
{
    check_format(&OPUS);
}

TEST(decodes_m4a_aac)
{
    check_format(&M4A);
}

TEST(decodes_webm_opus)
{
    check_format(&WEBM);
}

TEST(decodes_audio_track_of_mp4_video)
{
    check_format(&MP4);
}

TEST(decodes_audio_track_of_mkv_video)
{
    check_format(&MKV);
}

TEST(decodes_wav_sample_formats)
{
    static const struct {
        const char *file, *args, *codec;
    } cases[] = {
        { "u8.wav", "-c:a pcm_u8", "pcm_u8" },        { "s24.wav", "-c:a pcm_s24le", "pcm_s24le" },
        { "s32.wav", "-c:a pcm_s32le", "pcm_s32le" }, { "f32.wav", "-c:a pcm_f32le", "pcm_f32le" },
        { "f64.wav", "-c:a pcm_f64le", "pcm_f64le" }, { "alaw.wav", "-c:a pcm_alaw", "pcm_alaw" },
    };
    size_t i, n;
    for (i = 0; i < HARK_ARRAY_SIZE(cases); i++) {
        const char *path = make_fixture(cases[i].file, cases[i].args, 0);
        hark_decoder *dec = NULL;
        float *pcm;
        ASSERT_OK(hark_decoder_open(&dec, path, NULL));
        ASSERT_STREQ(hark_decoder_info(dec)->codec, cases[i].codec);
        pcm = decode_rest(dec, 1000, &n);
        ASSERT_EQ(n, SIG_OUT);
        /* 8-bit and A-law are coarse: the silence check still holds (0.01 RMS) */
        check_signal(pcm, n, 0.02);
        free(pcm);
        hark_decoder_free(dec);
    }
}

TEST(downmix_is_the_average_of_all_channels)
{
    /* 16 kHz, 6 channels: no resampling, so the mix is exact */
    static const double gain[6] = { 0.6, 0.0, 0.3, -0.3, 0.1, 0.5 };
    const size_t frames = 16000;
    int16_t *d = malloc(frames * 6 * sizeof(int16_t));
    const char *path = harness_path("six.wav");
    float *pcm;
    size_t n, i;
    int c;

    ASSERT(d != NULL);
    for (i = 0; i < frames; i++)
        for (c = 0; c < 6; c++)
            d[i * 6 + (size_t)c] = (int16_t)lrint(gain[c] * 32767 * sin(0.1 * (double)i));
    write_wav(path, 16000, 6, d, frames);
    pcm = decode_file(path, 4096, &n);
    ASSERT_EQ(n, frames);
    for (i = 0; i < frames; i++) {
        double want = 0;
        for (c = 0; c < 6; c++)
            want += d[i * 6 + (size_t)c] / 32768.0;
        ASSERT_NEAR(pcm[i], want / 6, 1e-6);
    }
    free(pcm);
    free(d);
}

TEST(stereo_mix_is_average_after_resampling)
{
    /* left 0.6, right 0.2: the average is a 0.4 tone, not 0.566 (swr's default 0.707 weights) */
    size_t n;
    float *pcm = decode_file(ref_wav(), 4096, &n);
    ASSERT_EQ(n, SIG_OUT);
    check_signal(pcm, n, 0.002);
    free(pcm);
}

TEST(sixteen_bit_16khz_mono_passes_through_bit_exact)
{
    const size_t frames = 20000;
    int16_t *d = malloc(frames * sizeof(int16_t));
    const char *path = harness_path("m16.wav");
    uint64_t seed = 7;
    float *pcm;
    size_t n, i;

    ASSERT(d != NULL);
    for (i = 0; i < frames; i++)
        d[i] = (int16_t)(harness_rand(&seed) & 0xffff);
    d[0] = -32768;
    d[1] = 32767;
    write_wav(path, 16000, 1, d, frames);
    pcm = decode_file(path, 777, &n);
    ASSERT_EQ(n, frames);
    for (i = 0; i < frames; i++)
        ASSERT_MSG(pcm[i] == (float)d[i] / 32768.0f, "sample %zu: %g vs %d", i, pcm[i], d[i]);
    free(pcm);
    free(d);
}

TEST(non_finite_float_samples_become_silence)
{
    /* a 32-bit float WAV with NaN and infinities in it: they must not reach the caller
     * (nor poison the resampler's filter for the rest of the file) */
    const char *path = harness_path("nan.wav");
    const size_t frames = 22050;
    FILE *f = fopen(path, "wb");
    float *x = malloc(frames * sizeof(float)), *pcm;
    size_t n, i;
    uint8_t hdr[44];
    ASSERT(f && x);
    memcpy(hdr,
           "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x03\0\x01\0\x22\x56\0\0\x88\x58\x01\0\x04\0\x20\0data",
           40);
    {
        uint32_t bytes = (uint32_t)(frames * 4), riff = bytes + 36;
        for (i = 0; i < 4; i++) {
            hdr[4 + i] = (uint8_t)(riff >> (8 * i));
            hdr[40 + i] = (uint8_t)(bytes >> (8 * i));
        }
    }
    for (i = 0; i < frames; i++)
        x[i] = (float)(0.5 * sin(6.283185307179586 * 440 * (double)i / 22050));
    x[100] = NAN;
    x[5000] = INFINITY;
    x[5001] = -INFINITY;
    ASSERT(fwrite(hdr, 1, 44, f) == 44);
    ASSERT(fwrite(x, sizeof(float), frames, f) == frames); /* little-endian host assumed */
    ASSERT(fclose(f) == 0);
    pcm = decode_file(path, 4096, &n);
    ASSERT_EQ(n, 16000);
    for (i = 0; i < n; i++)
        ASSERT_MSG(isfinite(pcm[i]), "sample %zu is %g", i, pcm[i]);
    /* and the tone continues after the bad samples */
    ASSERT_NEAR(rms(pcm, n, 8000, 16000) * sqrt(2.0), 0.5, 0.01);
    free(pcm);
    free(x);
}
