/*
 * whisper.h: the native Whisper engine (internal to src/asr/whisper/).
 *
 * Layers, bottom up (one file each):
 *   model.c    ggml file loader: validation, mmap, tensors as hark_wmat
 *   vocab.c    token bytes, special tokens, text -> ids (whisper.cpp's BPE split)
 *   mel.c      log-mel spectrogram (whisper.cpp's recipe)
 *   ops.c      small vector ops: LayerNorm, softmax, GELU table, f16 rounding
 *   encoder.c  conv front end, encoder layers, cross-attention K/V
 *   decoder.c  batched decoder over per-sequence f16 KV caches
 *   sampling.c logit filters and token choice (whisper.cpp's rules), RNG
 *   decode.c   whisper_full: 30-s windows, seeking, greedy/beam/best-of,
 *              temperature fallback, segments, token and word times
 *   engine.c   the hark_engine_ops vtable
 *
 * The model is immutable after loading and shared by every worker; a state
 * holds everything mutable (mel, activations, KV caches, thread pool) and is
 * used by one thread at a time. Units: "frames" are 10 ms mel frames (the
 * unit of whisper.cpp's seek and t0/t1), audio positions are 20 ms
 * (n_audio_ctx = 1500 per 30-s window), samples are 16 kHz.
 */
#ifndef HARK_ASR_WHISPER_H
#define HARK_ASR_WHISPER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "../../util/pool.h"
#include "../../util/util.h"
#include "hark/sys/engine.h"

#define HARK_WHISPER_N_FFT        400  /* samples per STFT frame */
#define HARK_WHISPER_HOP          160  /* samples per mel frame (10 ms) */
#define HARK_WHISPER_CHUNK_FRAMES 3000 /* mel frames per 30-s window */
#define HARK_WHISPER_MAX_DECODERS 8    /* beams / best-of candidates, as whisper.cpp */
#define HARK_WHISPER_N_LANGS_MAX  100

/* ---- model (model.c) ----------------------------------------------------------------------- */

typedef struct hark_whisper_hparams {
    int32_t n_vocab;       /* tokens (logits per step) */
    int32_t n_audio_ctx;   /* encoder positions per window (1500) */
    int32_t n_audio_state; /* encoder width */
    int32_t n_audio_head;
    int32_t n_audio_layer;
    int32_t n_text_ctx;   /* decoder positions (448) */
    int32_t n_text_state; /* decoder width (== n_audio_state) */
    int32_t n_text_head;
    int32_t n_text_layer;
    int32_t n_mels; /* mel bands (80, or 128 for large-v3) */
    int32_t ftype;  /* file type (ftype % 1000) */
} hark_whisper_hparams;

/* One attention block: q/k/v/out projections. k has no bias. */
typedef struct hark_whisper_attn {
    hark_wmat q, k, v, o;
    const float *q_b, *v_b, *o_b; /* [S] */
} hark_whisper_attn;

/* An encoder or decoder layer (cross_* only in the decoder). */
typedef struct hark_whisper_layer {
    const float *attn_ln_w, *attn_ln_b;
    hark_whisper_attn attn;
    const float *cross_ln_w, *cross_ln_b;
    hark_whisper_attn cross;
    const float *mlp_ln_w, *mlp_ln_b;
    hark_wmat mlp0, mlp1;         /* [4S x S], [S x 4S] */
    const float *mlp0_b, *mlp1_b; /* [4S], [S] */
} hark_whisper_layer;

/* Special token ids (FORMAT.md section 8). */
typedef struct hark_whisper_special {
    int32_t eot, sot, translate, transcribe, solm, prev, nosp, not_ts, beg;
    int32_t space;    /* id of " " (220), -1 if the vocabulary lacks it */
    int multilingual; /* n_vocab >= 51865 */
    int n_langs;      /* language slots after SOT */
} hark_whisper_special;

typedef struct hark_whisper_model {
    hark_whisper_hparams hp;
    int qntvr;         /* quantisation version (ftype / 1000) */
    int wtype;         /* HARK_GGML_* type of the big matrices */
    char *path;        /* as loaded (for messages) */
    uint64_t n_params; /* total weights */
    uint64_t file_size;

    /* vocabulary: every id 0..n_vocab-1 has bytes (specials get whisper.cpp's display names) */
    int32_t n_vocab_file; /* tokens stored in the file */
    char *tok_blob;       /* all token bytes, each followed by a NUL */
    uint32_t *tok_off;    /* [n_vocab] offset into tok_blob */
    uint32_t *tok_len;    /* [n_vocab] length in bytes (without the NUL) */
    int32_t *hash;        /* open-addressing table bytes -> id, -1 empty */
    uint32_t hash_mask;
    uint32_t max_tok_len; /* longest token in bytes */
    hark_whisper_special sp;

    float *filters; /* [n_mels][201] mel filter bank */
    int n_fft_bins; /* 201 */

    /* encoder */
    const float *e_pe;      /* [n_audio_ctx][S] */
    hark_wmat conv1, conv2; /* rows S, cols 3*n_mels / 3*S: weight[o][c][k] at col c*3+k */
    const float *conv1_b, *conv2_b;
    const float *e_ln_w, *e_ln_b;
    hark_whisper_layer *enc; /* [n_audio_layer] */

    /* decoder */
    const float *d_pe; /* [n_text_ctx][S] */
    hark_wmat d_te;    /* token embedding [n_vocab x S], also the logit projection */
    const float *d_ln_w, *d_ln_b;
    hark_whisper_layer *dec; /* [n_text_layer] */

    /* storage */
    void *map;         /* mmap of the file (or NULL) */
    size_t map_size;   /* bytes mapped */
    void *owned;       /* copy of a memory buffer when loaded from one (or NULL) */
    float *f32;        /* aligned copies of the small f32 tensors */
    hark_wmat **wmats; /* every initialised hark_wmat, for disposal */
    int n_wmats;
} hark_whisper_model;

/* Load a ggml Whisper file (memory-mapped). Errors: HARK_EIO, HARK_EMODEL, HARK_EUNSUPPORTED. */
int hark__whisper_model_load(hark_whisper_model **out, const char *path);
/* Parse a model from memory (copied); `name` is used in messages. */
int hark__whisper_model_load_buffer(hark_whisper_model **out, const void *data, size_t size,
                                    const char *name);
void hark__whisper_model_free(hark_whisper_model *m);
/* "base.en (f16, 74M params, 80 mels, English)" */
int hark__whisper_model_describe(const hark_whisper_model *m, hark_buf *out);

/* ---- vocabulary (vocab.c) ---------------------------------------------------------------------
 */

/* Bytes of token `id` (NUL-terminated, may be a partial UTF-8 sequence); "" for bad ids. */
const char *hark__whisper_token_bytes(const hark_whisper_model *m, int32_t id, size_t *len);
/* Id of a token with exactly these bytes (later ids win, as whisper.cpp), or -1. */
int32_t hark__whisper_token_find(const hark_whisper_model *m, const char *bytes, size_t len);
/*
 * whisper.cpp's tokenize(): split `text` with the GPT-2 regex (ASCII classes,
 * like std::regex in the C locale), then greedy longest-match each piece
 * against the vocabulary; bytes that match nothing are skipped. Appends ids
 * to *ids (grown with hark__reallocarray).
 */
int hark__whisper_tokenize(const hark_whisper_model *m, const char *text, int32_t **ids, int *n_ids,
                           int *cap);
/* Build the vocabulary tables from the parsed token list (model.c calls this). */
int hark__whisper_vocab_init(hark_whisper_model *m, const uint8_t *vocab, size_t vocab_size,
                             int32_t n_file);
/* Language ids: "en" -> 0 ... ; -1 if unknown. Code of id (NULL if unknown). */
int hark__whisper_lang_id(const char *code);
const char *hark__whisper_lang_code(int id);

/* ---- log-mel (mel.c) --------------------------------------------------------------------------
 */

typedef struct hark_whisper_mel {
    float *data; /* [n_mel][n_len] */
    int n_mel;
    int n_len;     /* frames in data (audio + 30 s of padding) */
    int n_len_org; /* frames that belong to the audio */
    size_t cap;    /* floats allocated */
} hark_whisper_mel;

/* whisper.cpp's log_mel_spectrogram over `n` samples; reuses mel->data. */
int hark__whisper_mel_compute(hark_whisper_mel *mel, const float *filters, int n_mel,
                              const float *pcm, size_t n, hark_pool *pool);
void hark__whisper_mel_dispose(hark_whisper_mel *mel);

/* ---- small ops (ops.c) ------------------------------------------------------------------------
 */

/*
 * exp(x) for x <= 0 (softmax terms), branch-free so that loops calling it
 * vectorise: Cephes' expf (range reduction by ln 2 in two parts, degree-6
 * polynomial), about 1 ulp; 0 below -87 (where expf is denormal or 0 and
 * cannot change a sum that reaches 1). libm's expf takes a slow path for
 * every underflowing term, which dominated sampling at high temperatures.
 */
#define HARK__WHISPER_EXP_BODY(x, out)                                                             \
    do {                                                                                           \
        union {                                                                                    \
            float f;                                                                               \
            int32_t i;                                                                             \
        } in_, u_;                                                                                 \
        float fx_, z_, y_, xc_;                                                                    \
        int32_t n_, under_;                                                                        \
        /* x < -87 (also -inf), decided on the bits so that the loop has no float selects */       \
        in_.f = (x);                                                                               \
        under_ = (in_.i < 0) & (in_.i > -1028784128 /* bits of -87.0f */);                         \
        in_.i ^= (in_.i ^ -1028784128) & -under_; /* select without a branch */                    \
        xc_ = in_.f;                                                                               \
        fx_ = xc_ * 1.44269504088896341f + 0.5f;                                                   \
        n_ = (int32_t)fx_;                                                                         \
        n_ -= (float)n_ > fx_; /* floor */                                                         \
        fx_ = (float)n_;                                                                           \
        xc_ = xc_ - fx_ * 0.693359375f;                                                            \
        xc_ = xc_ - fx_ * -2.12194440e-4f;                                                         \
        z_ = xc_ * xc_;                                                                            \
        y_ = 1.9875691500e-4f;                                                                     \
        y_ = y_ * xc_ + 1.3981999507e-3f;                                                          \
        y_ = y_ * xc_ + 8.3334519073e-3f;                                                          \
        y_ = y_ * xc_ + 4.1665795894e-2f;                                                          \
        y_ = y_ * xc_ + 1.6666665459e-1f;                                                          \
        y_ = y_ * xc_ + 5.0000001201e-1f;                                                          \
        y_ = y_ * z_ + xc_ + 1.0f;                                                                 \
        u_.i = ((n_ + 127) * (1 << 23)) & (under_ - 1); /* 0.0f when under */                      \
        (out) = y_ * u_.f;                                                                         \
    } while (0)

static inline float hark__whisper_exp(float x)
{
    float r;
    HARK__WHISPER_EXP_BODY(x, r);
    return r;
}

/* y[i] = hark__whisper_exp(x[i] - sub), vectorised (y may be x) */
void hark__whisper_exp_sub(float *y, const float *x, float sub, size_t n);
/* y = LN(x) * w + b over rows of n floats (ggml_norm numerics: double sums, eps 1e-5) */
void hark__whisper_layernorm(float *y, const float *x, int n, const float *w, const float *b);
/* GELU (tanh form) through ggml's f16 table: f16(gelu(f16(x))), identity >= 10, 0 <= -10 */
void hark__whisper_gelu(float *x, size_t n);
/* x[i] = f32(f16(x[i])) */
void hark__whisper_round_f16(float *x, size_t n);
/* in-place softmax of x[0..n) (ggml numerics: max, expf, double sum) */
void hark__whisper_softmax(float *x, int n);
/* f32 -> f16 row */
void hark__whisper_to_f16(uint16_t *dst, const float *src, size_t n);

/* ---- per-worker state -------------------------------------------------------------------------
 */

/* Per-decoder working arrays of decode.c (n_vocab floats each). */
typedef struct hark_whisper_dec_buf {
    float *logits, *logprobs, *probs;
} hark_whisper_dec_buf;

/*
 * Everything mutable. Buffers are sized at creation from the hyper-
 * parameters (encoder, cross K/V, one decoder sequence) and grown per job
 * when more decoder sequences are needed; nothing is allocated per token.
 */
typedef struct hark_whisper_stream hark_whisper_stream;

typedef struct hark_whisper_state {
    const hark_whisper_model *m;
    hark_whisper_stream *stream; /* stream.c: the open utterance, NULL before the first */
    hark_pool *pool;             /* compute threads (NULL = caller only) */
    int n_threads;
    hark_whisper_mel mel;

    /* encoder, [A] = n_audio_ctx rows of S floats unless noted */
    float *win;      /* the mel window [n_mels][2A] */
    float *im2col;   /* conv input columns: max(2A*3M, A*3S) */
    float *conv1;    /* [2A][S] */
    float *conv_out; /* [A][S] after conv2 + GELU */
    float *enc_x;    /* residual stream, then the encoder output */
    float *enc_h, *enc_q, *enc_k, *enc_v, *enc_attn;
    float *enc_mlp;            /* [A][4S] */
    uint16_t *enc_kh, *enc_vh; /* f16 K transposed ([S][A]) and V ([A][S]) for attention */
    float *scores;             /* per worker: SCORE_ROWS x max(A, n_text_ctx) */
    int scores_cols;
    uint16_t *cross_k,
        *cross_v; /* [layer][S][A] (K transposed, pre-scaled by d^-1/4), [layer][A][S] */
    int encoded;  /* an encode has run */

    /* decoder */
    int n_batch_max;                       /* token rows of the decoder buffers */
    float *dx, *dh, *dq, *dk, *dv, *dattn; /* [n_batch_max][S] */
    float *dmlp;                           /* [n_batch_max][4S] */
    float *dlog_in;                        /* [n_logit_rows][S] rows that want logits */
    int n_logit_rows;
    size_t kv_floats;            /* halves per slot per K or V: n_text_layer * n_text_ctx * S */
    uint16_t **slot_k, **slot_v; /* 2 * n_seq_cap slots: K [layer][S][n_ctx], V [layer][n_ctx][S] */
    int *seq_slot;               /* [n_seq_cap] slot of each sequence */
    int n_seq_cap;

    /* decode.c */
    hark_whisper_dec_buf dec[HARK_WHISPER_MAX_DECODERS + 1];
    float *logits; /* [(MAX_DECODERS + 1) * n_vocab] batch output */
    float *energy; /* token timestamps: smoothed |x| */
    size_t energy_cap;

    /* counters, for hark_timings and benchmarks (only ever increase) */
    double t_encode_ms;   /* wall time inside hark__whisper_encode */
    double t_decode_ms;   /* wall time inside hark__whisper_decode */
    uint64_t n_encode;    /* windows encoded */
    uint64_t n_decode;    /* decoder calls */
    uint64_t n_positions; /* token positions run through the decoder (prompts and beams too) */
    uint64_t n_sampled;   /* tokens sampled, per decoder (beams, best-of) */
} hark_whisper_state;

int hark__whisper_state_new(hark_whisper_state **out, const hark_whisper_model *m);
void hark__whisper_state_free(hark_whisper_state *st);
/* Use `n` compute threads (pool re-created only when n changes). */
int hark__whisper_state_threads(hark_whisper_state *st, int n);
/* Make room for `n_seq` decoder sequences (KV cache slots). */
int hark__whisper_state_reserve(hark_whisper_state *st, int n_seq);
const hark_whisper_model *hark__whisper_state_model(const hark_whisper_state *st);

/* ---- encoder (encoder.c) ------------------------------------------------------------------------
 */

/*
 * Encode the window of `mel` starting at frame `seek` (2*n_audio_ctx frames,
 * zeros past mel->n_len): conv front end, layers, ln_post, then the
 * cross-attention K/V of every decoder layer.
 */
int hark__whisper_encode(hark_whisper_state *st, const hark_whisper_mel *mel, int seek);
/* After an encode: [n_audio_ctx][S] conv output (before the positional embedding) and encoder
 * output. */
const float *hark__whisper_conv_out(const hark_whisper_state *st);
const float *hark__whisper_enc_out(const hark_whisper_state *st);

/* ---- decoder (decoder.c) ------------------------------------------------------------------------
 */

/*
 * A batch of tokens: token i of sequence (KV slot) seq[i] at position pos[i]
 * attends to positions 0..pos[i] of its own sequence (the batch's K/V are
 * stored first, so several tokens of one sequence form a causal prompt).
 * Logits are computed for tokens with want_logits[i] set and written in
 * batch order, n_vocab floats per such token.
 */
typedef struct hark_whisper_batch {
    int n;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq;
    const uint8_t *want_logits;
} hark_whisper_batch;

int hark__whisper_decode(hark_whisper_state *st, const hark_whisper_batch *b, float *logits);
/* Copy positions [0, n_pos) of sequence src's KV cache into sequence dst. */
void hark__whisper_kv_copy(hark_whisper_state *st, int dst, int src, int n_pos);
/* Reorder sequences after a beam step: new seq j = old seq src[j] (prefix of n_pos positions). */
int hark__whisper_kv_reorder(hark_whisper_state *st, const int *src, int n_seq, int n_pos);

/* ---- sampling (sampling.c) ----------------------------------------------------------------------
 */

/* One sampled token, with whisper.cpp's timestamp bookkeeping. */
typedef struct hark_whisper_token {
    int32_t id;  /* token id */
    int32_t tid; /* most likely timestamp token at this step (0 if none) */
    float p;     /* probability */
    float plog;  /* log probability */
    float pt;    /* probability of the timestamp tid, normalised over timestamps */
    float ptsum; /* total probability of timestamp tokens */
    int64_t t0;  /* token start, frames (10 ms), -1 unknown */
    int64_t t1;  /* token end, frames */
    float vlen;  /* voice length heuristic (token timestamps) */
} hark_whisper_token;

/* Options of the logit filter (whisper_process_logits). */
typedef struct hark_whisper_filter {
    int no_timestamps;
    int suppress_blank;
    int suppress_nst;
    float max_initial_ts; /* seconds, 0 = off */
    float temperature;    /* logits are divided by it when > 0 */
} hark_whisper_filter;

/* Per-decoder filter state: has a timestamp been sampled, the last one (frames). */
typedef struct hark_whisper_ts_state {
    int has_ts;
    int seek_delta;
} hark_whisper_ts_state;

/*
 * Apply whisper.cpp's logit rules to `logits` in place (temperature, the
 * suppressions, timestamp pairing, initial and monotonic timestamps) and
 * compute logprobs; the timestamp-vs-text rule is applied last. `prev` are
 * the tokens sampled so far in this window. With `stage_out`, the logits
 * after suppression steps 1-3 (before the timestamp rules) are copied there.
 */
void hark__whisper_process_logits(const hark_whisper_model *m, const hark_whisper_filter *f,
                                  const hark_whisper_token *prev, int n_prev,
                                  const hark_whisper_ts_state *ts, float *logits, float *logprobs,
                                  float *stage_out);
/* probs[i] = exp(logprobs[i]), 0 where logits is -inf */
void hark__whisper_probs(const float *logits, const float *logprobs, float *probs, int n);
/* whisper_sample_token with best = 1 (argmax) or drawing from `rng` */
hark_whisper_token hark__whisper_sample(const hark_whisper_model *m, const float *probs,
                                        const float *logprobs, uint64_t *rng, int best);

/* Deterministic RNG (splitmix64 seeded, xoshiro-style): uniform in [0, 1). */
double hark__whisper_rand(uint64_t *state);
uint64_t hark__whisper_rng_seed(uint64_t seed);

/* ---- whisper_full (decode.c)
 * --------------------------------------------------------------------- */

typedef struct hark_whisper_params {
    int beam_size;                 /* > 1: beam search at temperature 0 */
    int best_of;                   /* candidates when sampling (t > 0) */
    float temperature;             /* first temperature */
    float temperature_inc;         /* fallback step, 0 = no fallback */
    float length_penalty;          /* <= 0: divide by length (whisper.cpp default -1) */
    float entropy_thold;           /* fail if the entropy of the last 32 tokens is below (2.4) */
    float logprob_thold;           /* fallback if avg logprob below (-1) */
    float no_speech_thold;         /* skip the window if p(no speech) above and logprob low (0.6) */
    float compression_ratio_thold; /* retry at the next temperature above (2.4), 0 = off */
    int no_timestamps;
    int single_segment;   /* one segment per window */
    int carry_context;    /* use earlier windows' text as prompt (whisper.cpp: always) */
    int n_max_text_ctx;   /* max carried tokens (16384 = n_text_ctx/2) */
    int max_tokens;       /* max tokens per segment, 0 = no limit */
    const char *language; /* "en", ..., "auto"/NULL = detect (multilingual models) */
    int translate;
    int suppress_blank;
    int suppress_nst;
    float max_initial_ts;         /* seconds (1.0) */
    const char *prompt;           /* initial prompt text */
    const int32_t *prompt_tokens; /* or tokens (wins over text) */
    int n_prompt_tokens;
    int token_timestamps; /* compute per-token t0/t1 */
    float thold_pt;       /* 0.01 */
    float thold_ptsum;    /* 0.01 */
    uint64_t seed;        /* sampling RNG seed (decoder j uses seed + j) */
    int (*abort)(void *payload);
    void *payload;
    /* debug: called after each logit-processing step of decoder 0 with the logits after
     * suppression steps 1-3 (FORMAT.md 8.1) */
    void (*step_cb)(void *payload, int window_seek, int n_prev, const float *logits, int n);
    void *step_payload;
    /* debug (teacher forcing): a token id >= 0 replaces decoder 0's greedy choice */
    int32_t (*force_cb)(void *payload, int window_seek, int n_prev);
} hark_whisper_params;

/* whisper_full_default_params(GREEDY) plus hark's choices (carry_context = 1). */
void hark__whisper_params_default(hark_whisper_params *p);

typedef struct hark_whisper_segment {
    int64_t t0, t1; /* frames (10 ms) from the start of the audio, as whisper.cpp */
    char *text;     /* concatenated text tokens (owned, NUL-terminated) */
    size_t text_len;
    float no_speech_prob;
    float temperature;          /* of the window's accepted decode */
    float avg_logprob;          /* of the window's accepted decode */
    float compression_ratio;    /* of the window's text */
    int64_t seek;               /* window start, frames */
    hark_whisper_token *tokens; /* owned */
    int n_tokens;
} hark_whisper_segment;

typedef struct hark_whisper_result {
    hark_whisper_segment *seg;
    int n_seg, cap_seg;
    int lang_id;  /* language used (-1 for English-only models) */
    float lang_p; /* its probability when detected */
    int n_windows;
    int n_fallbacks;
} hark_whisper_result;

/* Transcribe `n` samples (whisper_full_with_state). `out` must be zeroed or disposed. */
int hark__whisper_full(hark_whisper_state *st, const hark_whisper_params *p, const float *pcm,
                       size_t n, hark_whisper_result *out);
void hark__whisper_result_dispose(hark_whisper_result *r);

/* Detect the language of the window at frame `seek` of `mel`: probabilities per language id. */
int hark__whisper_detect_language(hark_whisper_state *st, const hark_whisper_mel *mel, int seek,
                                  float *probs, int *lang_out);

/* zlib compression ratio of a text (bytes / deflated bytes), as OpenAI's fallback uses. */
float hark__whisper_compression_ratio(const char *text, size_t len);

/* ---- streaming (stream.c, LocalAgreement) ------------------------------------------------------
 */

/* The engine's transcribe (engine.c), for stream.c's windows. */
int hark__whisper_engine_transcribe(void *state, const hark_engine_job *job, hark_transcript *out);

/* The stream operations of hark/sys/engine.h; `state` is a hark_whisper_state. */
int hark__whisper_stream_begin(void *state, const hark_engine_job *job);
int hark__whisper_stream_feed(void *state, const float *pcm, size_t n);
int hark__whisper_stream_partial(void *state, hark_buf *text);
int hark__whisper_stream_end(void *state, hark_transcript *out);
void hark__whisper_stream_free(hark_whisper_stream *s);

/* Tests: the committed words of the open utterance, and what the stream has transcribed. */
typedef struct hark__whisper_stream_stats {
    unsigned decodes;         /* window transcriptions */
    uint64_t decoded_samples; /* their total length */
    size_t max_window;        /* the longest, samples */
    unsigned forced;          /* words committed by the window bound, not by agreement */
    uint64_t skipped;         /* samples the bound dropped with no word in them */
} hark__whisper_stream_stats;
int hark__whisper_stream_committed(void *state, hark_buf *text);
void hark__whisper_stream_stats_get(void *state, hark__whisper_stream_stats *out);
/* Tests: from now on no two transcriptions agree, so only the window bound commits words. */
int hark__whisper_stream_test_no_agree(void *state);

#endif
