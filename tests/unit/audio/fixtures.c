/*
 * fixtures.c: see fixtures.h.
 */
#include <sys/stat.h>

#include "fixtures.h"

void need_ffmpeg(void)
{
    if (!harness_have("ffmpeg"))
        SKIP("ffmpeg is not installed");
}

static void put16(FILE *f, unsigned v)
{
    fputc((int)(v & 0xff), f);
    fputc((int)((v >> 8) & 0xff), f);
}

static void put32(FILE *f, uint32_t v)
{
    put16(f, v & 0xffff);
    put16(f, v >> 16);
}

void write_wav_header(FILE *f, int rate, int channels, uint64_t frames)
{
    uint32_t bytes = (uint32_t)(frames * (uint64_t)channels * 2);
    fwrite("RIFF", 1, 4, f);
    put32(f, 36 + bytes);
    fwrite("WAVEfmt ", 1, 8, f);
    put32(f, 16);
    put16(f, 1);
    put16(f, (unsigned)channels);
    put32(f, (uint32_t)rate);
    put32(f, (uint32_t)(rate * channels * 2));
    put16(f, (unsigned)(channels * 2));
    put16(f, 16);
    fwrite("data", 1, 4, f);
    put32(f, bytes);
}

void write_wav(const char *path, int rate, int channels, const int16_t *data, size_t frames)
{
    FILE *f = fopen(path, "wb");
    size_t i;
    ASSERT_MSG(f != NULL, "cannot create %s", path);
    write_wav_header(f, rate, channels, frames);
    for (i = 0; i < frames * (size_t)channels; i++)
        put16(f, (uint16_t)data[i]);
    ASSERT(fclose(f) == 0);
}

const char *ref_wav(void)
{
    static char path[1024];
    struct stat st;
    size_t frames = (size_t)SIG_RATE * SIG_SECONDS, i;
    int16_t *d;

    snprintf(path, sizeof(path), "%s", harness_path("ref.wav"));
    if (stat(path, &st) == 0)
        return path;
    d = malloc(frames * 2 * sizeof(int16_t));
    ASSERT(d != NULL);
    for (i = 0; i < frames; i++) {
        double t = (double)i / SIG_RATE;
        double s = fmod(t, 1.0) < 0.5 ? sin(6.283185307179586 * SIG_TONE_HZ * t) : 0.0;
        d[2 * i] = (int16_t)lrint(0.6 * s * 32767);
        d[2 * i + 1] = (int16_t)lrint(0.2 * s * 32767);
    }
    write_wav(path, SIG_RATE, 2, d, frames);
    free(d);
    return path;
}

const char *make_fixture(const char *name, const char *args, int video)
{
    static char paths[4][1024];
    static int next;
    char *out = paths[next++ & 3];
    const char *ref = ref_wav();
    need_ffmpeg();
    snprintf(out, 1024, "%s", harness_path(name));
    ASSERT_MSG(harness_sh("ffmpeg -nostdin -v error -y %s -i '%s' %s '%s'",
                          video ? "-f lavfi -i testsrc=size=64x48:rate=5:duration=3" : "", ref,
                          args, out) == 0,
               "ffmpeg could not make %s", name);
    return out;
}

float *decode_rest(hark_decoder *dec, size_t block, size_t *n)
{
    float *pcm = NULL;
    size_t len = 0, cap = 0, got;
    for (;;) {
        if (cap - len < block) {
            cap = cap * 2 + block;
            pcm = realloc(pcm, cap * sizeof(float));
            ASSERT(pcm != NULL);
        }
        ASSERT_OK(hark_decoder_read(dec, pcm + len, block, &got));
        ASSERT(got <= block);
        if (got == 0)
            break;
        len += got;
        ASSERT_EQ(hark_decoder_position(dec), len);
    }
    *n = len;
    return pcm;
}

float *decode_file(const char *path, size_t block, size_t *n)
{
    hark_decoder *dec = NULL;
    float *pcm;
    ASSERT_OK(hark_decoder_open(&dec, path, NULL));
    pcm = decode_rest(dec, block, n);
    hark_decoder_free(dec);
    return pcm;
}

double rms(const float *pcm, size_t n, size_t from, size_t to)
{
    double s = 0;
    size_t i;
    if (to > n)
        to = n;
    if (from >= to)
        return 0;
    for (i = from; i < to; i++)
        s += (double)pcm[i] * pcm[i];
    return sqrt(s / (double)(to - from));
}

double crossings_per_s(const float *pcm, size_t n, size_t from, size_t to)
{
    size_t i, c = 0;
    if (to > n)
        to = n;
    if (from + 1 >= to)
        return 0;
    for (i = from + 1; i < to; i++)
        c += (pcm[i - 1] < 0) != (pcm[i] < 0);
    return (double)c * HARK_SAMPLE_RATE / (double)(to - from);
}

void check_signal(const float *pcm, size_t n, double tol)
{
    const double want = SIG_AMP / sqrt(2.0);
    int s;
    for (s = 0; s < SIG_SECONDS; s++) {
        size_t t0 = (size_t)(s * HARK_SAMPLE_RATE);
        double on = rms(pcm, n, t0 + 1600, t0 + 6400);   /* 0.1 - 0.4 s: tone */
        double off = rms(pcm, n, t0 + 9600, t0 + 14400); /* 0.6 - 0.9 s: silence */
        double zc = crossings_per_s(pcm, n, t0 + 1600, t0 + 6400);
        ASSERT_MSG(fabs(on - want) <= tol * want, "second %d: tone RMS %.4f, expected %.4f", s, on,
                   want);
        ASSERT_MSG(off < 0.01, "second %d: RMS %.4f where there should be silence", s, off);
        ASSERT_MSG(fabs(zc - 2 * SIG_TONE_HZ) < 20, "second %d: %.1f zero crossings/s", s, zc);
    }
}
