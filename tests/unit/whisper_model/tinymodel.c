/*
 * tinymodel.c: see tinymodel.h. The layout is FORMAT.md's: magic, 11
 * hyper-parameters, mel filters, vocabulary, tensor records in the
 * converter's order. Weights are deterministic pseudo-random numbers
 * scaled like make_random_whisper.py's (1/sqrt(fan_in)).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinymodel.h"
#include "asr/whisper/kernels.h"

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_i32(wbuf *b, int32_t v)
{
    unsigned char c[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    put(b, c, 4);
}

static void put_f32(wbuf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_i32(b, (int32_t)u);
}

static void put_f16(wbuf *b, float f)
{
    uint16_t h = hark_f32_to_f16(f);
    unsigned char c[2] = { (unsigned char)h, (unsigned char)(h >> 8) };
    put(b, c, 2);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rnd(uint64_t *s)
{
    /* approximately normal: sum of 4 uniforms */
    double u = 0;
    int i;
    for (i = 0; i < 4; i++)
        u += (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return (float)((u - 2.0) * 1.7320508);
}

void tiny_defaults(tiny_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n_vocab = 51864;
    o->n_audio_ctx = 1500;
    o->n_state = 32;
    o->n_head = 2;
    o->n_audio_layer = 1;
    o->n_text_layer = 3;
    o->n_text_ctx = 448;
    o->n_mels = 80;
    o->ftype = 1;
    o->seed = 1;
}

typedef struct tctx {
    wbuf *b;
    const tiny_opts *o;
    uint64_t rng;
    int wtype; /* type of W matrices */
    int n_written;
} tctx;

/* one tensor record: ne innermost first; kind: 0 vector, 1 W matrix, 2 conv */
static void tensor(tctx *t, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                   int kind, float std, float mean)
{
    const tiny_opts *o = t->o;
    int type = kind == 0 ? 0 : kind == 1 ? t->wtype : (o->ftype % 1000 == 0 ? 0 : 1);
    int64_t n = ne0 * ne1 * ne2, i;
    int name_len = (int)strlen(name);

    if (o->fault == TF_MISSING_TENSOR && strcmp(name, "decoder.ln.bias") == 0)
        return;
    if (o->fault == TF_BAD_TYPE && strcmp(name, "encoder.blocks.0.mlp.0.weight") == 0 && type == 1)
        type = 0;
    if (o->fault == TF_UNKNOWN_TYPE && strcmp(name, "encoder.ln_post.bias") == 0)
        type = 5;
    if (o->fault == TF_KQUANT_TENSOR && strcmp(name, "encoder.ln_post.bias") == 0)
        type = 12;
    put_i32(t->b, o->fault == TF_BAD_NDIMS && t->n_written == 3 ? 5 : n_dims);
    put_i32(t->b, o->fault == TF_LONG_NAME && t->n_written == 3 ? 100000 : name_len);
    put_i32(t->b, type);
    put_i32(t->b, (int32_t)ne0);
    if (n_dims > 1)
        put_i32(t->b, (int32_t)(o->fault == TF_BAD_SHAPE &&
                                        strcmp(name, "decoder.blocks.0.mlp.0.weight") == 0
                                    ? ne1 + 1
                                    : ne1));
    if (n_dims > 2)
        put_i32(t->b, (int32_t)ne2);
    put(t->b, name, (size_t)name_len);
    if (type == 0 || type == 5 || type == 12) {
        for (i = 0; i < n; i++) {
            float v = mean + std * rnd(&t->rng);
            if (o->fault == TF_NAN && strcmp(name, "encoder.ln_post.weight") == 0 && i == 3)
                v = NAN;
            put_f32(t->b, v);
        }
    } else if (type == 1) {
        for (i = 0; i < n; i++)
            put_f16(t->b, mean + std * rnd(&t->rng));
    } else {
        /* quantised rows: sane f16 scales, random codes */
        size_t row = hark_ggml_row_size(type, ne0), nb = (size_t)ne0 / 32, blk = row / nb, k;
        int64_t r;
        for (r = 0; r < n / ne0; r++)
            for (k = 0; k < nb; k++) {
                unsigned char bytes[64];
                size_t j;
                uint16_t d = hark_f32_to_f16(std / (type == 8 ? 40.0f : 5.0f));
                uint16_t mn = hark_f32_to_f16(-std * 1.5f);
                for (j = 0; j < blk; j++)
                    bytes[j] = (unsigned char)rng_next(&t->rng);
                bytes[0] = (unsigned char)d;
                bytes[1] = (unsigned char)(d >> 8);
                if (type == 3 || type == 7) {
                    bytes[2] = (unsigned char)mn;
                    bytes[3] = (unsigned char)(mn >> 8);
                }
                put(t->b, bytes, blk);
            }
    }
    t->n_written++;
}

static void attn(tctx *t, const char *p, int S)
{
    char nm[96];
    float s = 1.0f / sqrtf((float)S);
#define T(suf, nd, a, b, kind, std, mean)                                                          \
    do {                                                                                           \
        snprintf(nm, sizeof(nm), "%s.%s", p, suf);                                                 \
        tensor(t, nm, nd, a, b, 1, kind, std, mean);                                               \
    } while (0)
    T("query.weight", 2, S, S, 1, s, 0);
    T("query.bias", 1, S, 1, 0, 0.1f, 0);
    T("key.weight", 2, S, S, 1, s, 0);
    T("value.weight", 2, S, S, 1, s, 0);
    T("value.bias", 1, S, 1, 0, 0.1f, 0);
    T("out.weight", 2, S, S, 1, s, 0);
    T("out.bias", 1, S, 1, 0, 0.1f, 0);
#undef T
}

static void layer(tctx *t, const char *p, int S, int cross)
{
    char nm[96];
#define T(suf, nd, a, b, kind, std, mean)                                                          \
    do {                                                                                           \
        snprintf(nm, sizeof(nm), "%s.%s", p, suf);                                                 \
        tensor(t, nm, nd, a, b, 1, kind, std, mean);                                               \
    } while (0)
    snprintf(nm, sizeof(nm), "%s.attn", p);
    attn(t, nm, S);
    T("attn_ln.weight", 1, S, 1, 0, 0.1f, 1);
    T("attn_ln.bias", 1, S, 1, 0, 0.1f, 0);
    if (cross) {
        snprintf(nm, sizeof(nm), "%s.cross_attn", p);
        attn(t, nm, S);
        T("cross_attn_ln.weight", 1, S, 1, 0, 0.1f, 1);
        T("cross_attn_ln.bias", 1, S, 1, 0, 0.1f, 0);
    }
    T("mlp.0.weight", 2, S, 4 * S, 1, 1.0f / sqrtf((float)S), 0);
    T("mlp.0.bias", 1, 4 * S, 1, 0, 0.1f, 0);
    T("mlp.2.weight", 2, 4 * S, S, 1, 1.0f / sqrtf(4.0f * (float)S), 0);
    T("mlp.2.bias", 1, S, 1, 0, 0.1f, 0);
    T("mlp_ln.weight", 1, S, 1, 0, 0.1f, 1);
    T("mlp_ln.bias", 1, S, 1, 0, 0.1f, 0);
#undef T
}

unsigned char *tiny_model(const tiny_opts *o, size_t *size)
{
    wbuf b = { 0 };
    tctx t;
    const int S = o->n_state, M = o->n_mels;
    int i, n_tok, ft = o->ftype % 1000;
    char nm[96];

    put_i32(&b, o->fault == TF_BAD_MAGIC ? 0x67676a74 : 0x67676d6c);
    put_i32(&b, o->n_vocab);
    put_i32(&b, o->n_audio_ctx);
    put_i32(&b, S);
    put_i32(&b, o->n_head);
    put_i32(&b, o->n_audio_layer);
    put_i32(&b, o->n_text_ctx);
    put_i32(&b, o->fault == TF_BAD_HPARAM ? S * 2 : S);
    put_i32(&b, o->n_head);
    put_i32(&b, o->n_text_layer);
    put_i32(&b, M);
    put_i32(&b, o->fault == TF_KQUANT_FTYPE ? 2012 : o->fault == TF_BAD_FTYPE ? 5 : o->ftype);

    /* mel filters: triangles */
    put_i32(&b, o->fault == TF_NMELS_MISMATCH ? M - 1 : M);
    put_i32(&b, o->fault == TF_NFFT ? 200 : 201);
    for (i = 0; i < (o->fault == TF_NMELS_MISMATCH ? M - 1 : M); i++) {
        int k, c = 1 + i * 190 / M;
        for (k = 0; k < (o->fault == TF_NFFT ? 200 : 201); k++) {
            int dk = abs(k - c);
            put_f32(&b, dk < 3 ? 0.01f * (float)(3 - dk) : 0.0f);
        }
    }

    /* vocabulary: the 256 single bytes, then a few words with leading spaces */
    {
        static const char *const words[] = { " the", " of",    " and",   "ing", " a", "he", " he",
                                             "ll",   " hello", " world", "'s",  " ",  "  ", "\n" };
        n_tok = 256 + (int)(sizeof(words) / sizeof(words[0]));
        put_i32(&b, o->fault == TF_VOCAB_OVERFLOW ? o->n_vocab + 1 : n_tok);
        for (i = 0; i < 256; i++) {
            unsigned char c = (unsigned char)i;
            put_i32(&b, 1);
            put(&b, &c, 1);
        }
        for (i = 0; i < n_tok - 256; i++) {
            int32_t len = (int32_t)strlen(words[i]);
            if (o->fault == TF_TOKEN_PAST_END && i == 3)
                len = 1 << 30;
            put_i32(&b, len);
            put(&b, words[i], strlen(words[i]));
        }
    }
    if (o->fault == TF_NO_TENSORS)
        goto done;

    memset(&t, 0, sizeof(t));
    t.b = &b;
    t.o = o;
    t.rng = o->seed * 7919 + 17;
    t.wtype = ft == 0 ? 0 : ft == 1 ? 1 : ft == 2 ? 2 : ft == 3 ? 3 : ft == 7 ? 8 : ft == 8 ? 6 : 7;
    /* encoder: sinusoidal positions */
    {
        float *pe = malloc((size_t)o->n_audio_ctx * S * sizeof(float));
        int p, c, h = S / 2;
        double inc = log(10000.0) / (h - 1);
        for (p = 0; p < o->n_audio_ctx; p++)
            for (c = 0; c < h; c++) {
                pe[(size_t)p * S + c] = (float)sin(p * exp(-inc * c));
                pe[(size_t)p * S + h + c] = (float)cos(p * exp(-inc * c));
            }
        put_i32(&b, 2);
        put_i32(&b, (int32_t)strlen("encoder.positional_embedding"));
        put_i32(&b, 0);
        put_i32(&b, S);
        put_i32(&b, o->n_audio_ctx);
        put(&b, "encoder.positional_embedding", strlen("encoder.positional_embedding"));
        for (p = 0; p < o->n_audio_ctx * S; p++)
            put_f32(&b, pe[p]);
        free(pe);
        t.n_written++;
    }
    tensor(&t, "encoder.conv1.weight", 3, 3, M, S, 2, 1.0f / sqrtf(3.0f * (float)M), 0);
    tensor(&t, "encoder.conv1.bias", 2, 1, S, 1, 0, 0.1f, 0);
    if (o->fault == TF_DUPLICATE_TENSOR)
        tensor(&t, "encoder.conv1.bias", 2, 1, S, 1, 0, 0.1f, 0);
    tensor(&t, "encoder.conv2.weight", 3, 3, S, S, 2, 1.0f / sqrtf(3.0f * (float)S), 0);
    tensor(&t, "encoder.conv2.bias", 2, 1, S, 1, 0, 0.1f, 0);
    for (i = 0; i < o->n_audio_layer; i++) {
        snprintf(nm, sizeof(nm), "encoder.blocks.%d", i);
        layer(&t, nm, S, 0);
    }
    tensor(&t, "encoder.ln_post.weight", 1, S, 1, 1, 0, 0.1f, 1);
    tensor(&t, "encoder.ln_post.bias", 1, S, 1, 1, 0, 0.1f, 0);
    tensor(&t, "decoder.positional_embedding", 2, S, o->n_text_ctx, 1, 0, 2.0f, 0);
    tensor(&t, "decoder.token_embedding.weight", 2, S, o->n_vocab, 1, 1, 4.0f / sqrtf((float)S), 0);
    for (i = 0; i < o->n_text_layer; i++) {
        snprintf(nm, sizeof(nm), "decoder.blocks.%d", i);
        layer(&t, nm, S, 1);
    }
    if (o->fault == TF_UNKNOWN_TENSOR)
        tensor(&t, "decoder.extra.weight", 1, S, 1, 1, 0, 0.1f, 0);
    tensor(&t, "decoder.ln.weight", 1, S, 1, 1, 0, 0.1f, 1);
    tensor(&t, "decoder.ln.bias", 1, S, 1, 1, 0, 0.1f, 0);
done:
    *size = b.n;
    return b.p;
}

int tiny_write(const tiny_opts *o, const char *path)
{
    size_t n;
    unsigned char *d = tiny_model(o, &n);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(d, 1, n, f) == n;
    if (f)
        fclose(f);
    free(d);
    return ok ? 0 : -1;
}
