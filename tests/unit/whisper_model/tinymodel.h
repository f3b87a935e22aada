/*
 * tinymodel.h: writes small but complete ggml Whisper files in memory for
 * the loader, tokenizer and engine tests: real layout, random weights, a
 * tiny vocabulary, and optional corruptions for the validation tests.
 */
#ifndef HARK_TEST_TINYMODEL_H
#define HARK_TEST_TINYMODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum tiny_fault {
    TF_NONE = 0,
    TF_BAD_MAGIC,
    TF_NMELS_MISMATCH,   /* filter bank rows != n_mels */
    TF_NFFT,             /* 200 frequency bins */
    TF_VOCAB_OVERFLOW,   /* more tokens than n_vocab */
    TF_TOKEN_PAST_END,   /* a token length running past the file */
    TF_BAD_SHAPE,        /* decoder.blocks.0.mlp.0.weight with a wrong dimension */
    TF_BAD_TYPE,         /* an f16 matrix stored as f32 */
    TF_UNKNOWN_TYPE,     /* type 5 (removed Q4_2) */
    TF_KQUANT_TENSOR,    /* a tensor of type Q4_K */
    TF_UNKNOWN_TENSOR,   /* an extra tensor name */
    TF_MISSING_TENSOR,   /* decoder.ln.bias left out */
    TF_DUPLICATE_TENSOR, /* encoder.conv1.bias twice */
    TF_BAD_NDIMS,        /* n_dims = 5 */
    TF_LONG_NAME,        /* name length 100000 */
    TF_NO_TENSORS,       /* header, filters and vocabulary only */
    TF_KQUANT_FTYPE,     /* ftype 12 (Q4_K) */
    TF_BAD_FTYPE,        /* ftype 5 */
    TF_BAD_HPARAM,       /* n_text_state != n_audio_state */
    TF_NAN,              /* a NaN in a LayerNorm weight */
} tiny_fault;

typedef struct tiny_opts {
    int n_vocab;                     /* 51864 (default), 51865, 51866 */
    int n_audio_ctx;                 /* default 1500 */
    int n_state;                     /* default 32 */
    int n_head;                      /* default 2 */
    int n_audio_layer, n_text_layer; /* default 1, 3 */
    int n_text_ctx;                  /* default 448 */
    int n_mels;                      /* default 80 */
    int ftype; /* 0 f32, 1 f16 (default), 2 q4_0, 3 q4_1, 7 q8_0, 8 q5_0, 9 q5_1 (+2000) */
    uint64_t seed;
    tiny_fault fault;
} tiny_opts;

void tiny_defaults(tiny_opts *o);
/* The file bytes (malloc'ed). */
unsigned char *tiny_model(const tiny_opts *o, size_t *size);
/* Write it to a file; returns the path (static buffer per call site: copy it). */
int tiny_write(const tiny_opts *o, const char *path);

#endif
