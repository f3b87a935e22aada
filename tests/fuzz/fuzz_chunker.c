/*
 * fuzz_chunker.c: the chunker (and the VAD under it) on arbitrary samples and
 * configurations; aborts when the contract of chunker.h is broken.
 *
 * Input: an 8-byte header, then samples.
 *   [0] flags: bit 0 no_vad, bit 1 samples are raw float32 (NaN, Inf, huge
 *       values), else int16
 *   [1] min = 1 + [1] * 97 samples      [2] max = min + [2] * 131 samples
 *   [3] threshold = ([3] + 1) / 257     [4] skip_silence = [4] * 61 samples, 255 = never
 *   [5] each sample is repeated 1 + [5] % 64 times (long signals from short inputs)
 *   [6..7] seed of the block sizes
 * The input is chunked twice, in one push and in random blocks; both runs
 * must give the same chunks and statistics.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/chunker.h"
#include "util/util.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

typedef struct rec {
    const float *x;
    int64_t n_total;
    int64_t max;
    int64_t next;    /* chunk i + 1 starts at or after this */
    int64_t emitted; /* samples in chunks */
    int64_t starts[4096];
    size_t lens[4096];
    uint32_t n;
} rec;

static int on_chunk(void *payload, hark_chunk *ch)
{
    rec *r = payload;
    CHECK(ch->index == r->n);
    CHECK(ch->n > 0 && (int64_t)ch->n <= r->max);
    CHECK(ch->start >= r->next && ch->start + (int64_t)ch->n <= r->n_total);
    CHECK(memcmp(ch->pcm, r->x + ch->start, ch->n * sizeof(float)) == 0);
    if (r->n < 4096) {
        r->starts[r->n] = ch->start;
        r->lens[r->n] = ch->n;
    }
    r->next = ch->start + (int64_t)ch->n;
    r->emitted += (int64_t)ch->n;
    r->n++;
    hark__free(ch->pcm);
    return 0;
}

static void run(const hark_chunker_config *cfg, const float *x, size_t n, uint64_t seed, rec *r,
                hark_chunker_stats *st)
{
    hark__chunker *c = NULL;
    size_t pos = 0;
    memset(r, 0, sizeof(*r));
    r->x = x;
    r->n_total = (int64_t)n;
    r->max = cfg->max;
    CHECK(hark__chunker_new(&c, cfg) == 0);
    while (pos < n) {
        size_t take = n - pos;
        if (seed) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            take = (size_t)(seed >> 33) % 5000;
            take = take > n - pos ? n - pos : take;
        }
        CHECK(hark__chunker_push(c, x + pos, take, on_chunk, r) == 0);
        pos += take;
    }
    CHECK(hark__chunker_finish(c, on_chunk, r) == 0);
    hark__chunker_stats(c, st);
    hark__chunker_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hark_chunker_config cfg;
    hark_chunker_stats st1, st2;
    rec *r1 = NULL, *r2 = NULL;
    float *x = NULL;
    size_t n_in, n, i, rep;
    int raw;
    if (size < 8)
        return 0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.no_vad = data[0] & 1;
    raw = (data[0] >> 1) & 1;
    cfg.min = 1 + (int64_t)data[1] * 97;
    cfg.max = cfg.min + (int64_t)data[2] * 131;
    cfg.vad_threshold = (float)(data[3] + 1) / 257.0f;
    cfg.skip_silence = data[4] == 255 ? -1 : (int64_t)data[4] * 61;
    rep = 1 + data[5] % 64;
    n_in = raw ? (size - 8) / 4 : (size - 8) / 2;
    n = n_in * rep;
    x = malloc((n ? n : 1) * sizeof(float));
    r1 = malloc(sizeof(*r1));
    r2 = malloc(sizeof(*r2));
    CHECK(x && r1 && r2);
    for (i = 0; i < n_in; i++) {
        float v;
        size_t k;
        if (raw) {
            memcpy(&v, data + 8 + 4 * i, 4);
        } else {
            int16_t s;
            memcpy(&s, data + 8 + 2 * i, 2);
            v = (float)s / 32768.0f;
        }
        for (k = 0; k < rep; k++)
            x[i * rep + k] = v;
    }

    run(&cfg, x, n, 0, r1, &st1);
    run(&cfg, x, n, 1 + (uint64_t)data[6] * 256 + data[7], r2, &st2);
    CHECK(r1->n == r2->n && memcmp(&st1, &st2, sizeof(st1)) == 0);
    for (i = 0; i < r1->n && i < 4096; i++)
        CHECK(r1->starts[i] == r2->starts[i] && r1->lens[i] == r2->lens[i]);
    CHECK(st1.total == (int64_t)n && st1.chunks == r1->n && st1.skipped + r1->emitted == st1.total);
    CHECK(st1.speech >= 0 && st1.speech <= st1.total);
    if (cfg.no_vad)
        CHECK(st1.skipped == 0 && r1->n == (n + (size_t)cfg.max - 1) / (size_t)cfg.max);
    else if (r1->n == 0)
        CHECK(st1.skipped == st1.total);

    free(x);
    free(r1);
    free(r2);
    return 0;
}
