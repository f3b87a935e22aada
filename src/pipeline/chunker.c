/* PLACEHOLDER (fixed-length cuts only): replaced by the VAD chunker. */
#include <string.h>

#include "chunker.h"
#include "../util/util.h"

struct hark__chunker {
    hark_chunker_config cfg;
    float *buf;
    size_t n;
    int64_t pos;
    uint32_t next;
    hark_chunker_stats stats;
};

int hark__chunker_new(hark__chunker **out, const hark_chunker_config *cfg)
{
    hark__chunker *c = hark__calloc(1, sizeof(*c));
    *out = c;
    if (!c)
        return HARK_ENOMEM;
    c->cfg = *cfg;
    c->buf = hark__malloc(sizeof(float) * (size_t)cfg->max);
    if (!c->buf) {
        hark__free(c);
        *out = NULL;
        return HARK_ENOMEM;
    }
    return 0;
}

static int flush(hark__chunker *c, hark_chunk_fn emit, void *payload)
{
    hark_chunk ch;
    int rc;
    ch.index = c->next++;
    ch.start = c->pos;
    ch.n = c->n;
    ch.pcm = hark__malloc(sizeof(float) * c->n);
    if (!ch.pcm)
        return HARK_ENOMEM;
    memcpy(ch.pcm, c->buf, sizeof(float) * c->n);
    c->pos += (int64_t)c->n;
    c->n = 0;
    c->stats.chunks++;
    rc = emit(payload, &ch);
    if (rc < 0)
        hark__free(ch.pcm);
    return rc;
}

int hark__chunker_push(hark__chunker *c, const float *pcm, size_t n, hark_chunk_fn emit,
                       void *payload)
{
    while (n > 0) {
        size_t take = HARK_MIN(n, (size_t)c->cfg.max - c->n);
        int rc;
        memcpy(c->buf + c->n, pcm, take * sizeof(float));
        c->n += take;
        pcm += take;
        n -= take;
        c->stats.total += (int64_t)take;
        if (c->n == (size_t)c->cfg.max && (rc = flush(c, emit, payload)) < 0)
            return rc;
    }
    return 0;
}

int hark__chunker_finish(hark__chunker *c, hark_chunk_fn emit, void *payload)
{
    return c->n ? flush(c, emit, payload) : 0;
}

void hark__chunker_stats(const hark__chunker *c, hark_chunker_stats *out)
{
    *out = c->stats;
}

void hark__chunker_free(hark__chunker *c)
{
    if (!c)
        return;
    hark__free(c->buf);
    hark__free(c);
}
