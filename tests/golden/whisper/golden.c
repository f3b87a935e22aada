/*
 * golden.c: see golden.h.
 */
#include <math.h>

#include "golden.h"

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

float *golden_wav(const char *rel, size_t *n)
{
    char path[512];
    size_t len, off = 12;
    unsigned char *b;
    float *out = NULL;
    snprintf(path, sizeof(path), "whisper-golden/%s", rel);
    b = (unsigned char *)harness_read_file(harness_shared_file(path), &len);
    ASSERT_MSG(b && len > 44 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WAVE", 4) == 0,
               "%s: not a WAV file", rel);
    while (off + 8 <= len) {
        uint32_t size = rd_u32(b + off + 4);
        if (memcmp(b + off, "data", 4) == 0) {
            size_t i, cnt = HARK_MIN((size_t)size, len - off - 8) / 2;
            out = malloc(cnt * sizeof(float));
            ASSERT(out != NULL);
            for (i = 0; i < cnt; i++) {
                int16_t v = (int16_t)(b[off + 8 + 2 * i] | b[off + 9 + 2 * i] << 8);
                out[i] = (float)v / 32768.0f;
            }
            *n = cnt;
            break;
        }
        off += 8 + size + (size & 1);
    }
    free(b);
    ASSERT_MSG(out != NULL, "%s: no data chunk", rel);
    return out;
}

float *golden_f32(const char *rel, size_t expect)
{
    char path[512];
    size_t len;
    float *f;
    snprintf(path, sizeof(path), "whisper-golden/%s", rel);
    f = (float *)harness_read_file(harness_shared_file(path), &len);
    ASSERT_MSG(f != NULL, "cannot read %s", rel);
    if (expect)
        ASSERT_EQ(len, expect * sizeof(float));
    return f;
}

json_t *golden_json(const char *rel)
{
    char path[512];
    json_error_t err;
    json_t *j;
    snprintf(path, sizeof(path), "whisper-golden/%s", rel);
    j = json_load_file(harness_shared_file(path), 0, &err);
    ASSERT_MSG(j != NULL, "%s: %s", rel, err.text);
    return j;
}

hark_whisper_model *golden_model(const char *name)
{
    char path[512];
    hark_whisper_model *m = NULL;
    snprintf(path, sizeof(path), "whisper-golden/%s", name);
    ASSERT_OK(hark__whisper_model_load(&m, harness_shared_file(path)));
    return m;
}

golden_cmp golden_compare(const float *ours, const float *ref, size_t n)
{
    golden_cmp c = { 0, 0 };
    double se = 0, sr = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - ref[i]);
        if (!(d <= c.max_abs))
            c.max_abs = d; /* NaN propagates */
        se += d * d;
        sr += (double)ref[i] * ref[i];
    }
    c.rel_rms = sr > 0 ? sqrt(se / sr) : sqrt(se);
    return c;
}

void golden_mel(hark_whisper_mel *mel, const hark_whisper_model *m, const char *wav,
                hark_pool *pool)
{
    size_t n;
    float *pcm = golden_wav(wav, &n);
    ASSERT_OK(hark__whisper_mel_compute(mel, m->filters, m->hp.n_mels, pcm, n, pool));
    free(pcm);
}
