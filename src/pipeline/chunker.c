/*
 * chunker.c: cut a stream of 16 kHz samples into chunks at silences (see
 * chunker.h for the contract).
 *
 * DESIGN
 * Samples are copied into `buf` and fed to the VAD (src/vad/) in pieces of
 * at most PIECE samples. The VAD reports one speech/silence decision per
 * 10 ms frame, a fixed number of frames late; every decision of the chunker
 * is taken in on_frame(), one decided frame at a time, so the output is a
 * function of the frame sequence alone and never of the block sizes.
 *
 * The current chunk starts at `cs`; it ends in one of three ways:
 *  - Long silence. When the silence run that started at `run_start` grows
 *    past `skip_silence`, the chunk ends at run_start + pad (a little
 *    silence after the speech), the run is "skipping", and `cs` follows the
 *    decided end at a distance of `pad`, so when speech resumes the next
 *    chunk starts `pad` before it. Everything `cs` passes over is counted as
 *    skipped.
 *  - Length. As soon as the decided part of the chunk is longer than `max`,
 *    the best cut c in [cs + min, cs + max] is chosen (choose_cut()): in the
 *    longest silence run that meets that window (ties: the later one), at
 *    its middle; a run still going on at the decided end is cut `pad` after
 *    its start instead, which is where the long-silence rule would end the
 *    chunk if the run turns out long. Without any silence in the window, the
 *    middle of its quietest frame. The next chunk starts at c.
 *  - End of stream: the rest is the last chunk.
 * A chunk without any speech frame is dropped (counted as skipped) instead
 * of emitted. With no_vad the VAD is not run: cuts every `max` samples, and
 * stats.speech counts every sample (nothing is known to be silence).
 *
 * PARAMETERS
 * pad = 250 ms (at most skip_silence / 2 and max / 4): covers the weak
 * start and end of speech that the VAD's 50 ms dilation may miss and gives
 * the engines a short lead-in, while keeping little of a skipped silence.
 * The VAD fills gaps under 250 ms and then dilates speech by 50 ms, so every
 * silence run between two stretches of speech is at least 150 ms long and a
 * cut in the middle of one lies at least 75 ms from anything called speech
 * (a cut clamped to the [min, max] window, or put in a run still going on,
 * may be closer, but it is still in silence).
 *
 * INVARIANTS
 * - buf holds samples [buf_start, buf_start + buf_len) = [.., n_in);
 *   buf_start <= cs <= dec_end <= n_in; nothing before cs is needed again.
 * - After each decided frame, dec_end - cs <= max (unless skipping, where
 *   dec_end - cs <= pad), and n_in - dec_end is at most the VAD delay plus a
 *   frame plus one piece, so buf needs max + (delay + 2) frames + PIECE
 *   samples, whatever the stream length and block sizes.
 * - Frame decisions are kept in a ring for frames overlapping [cs, dec_end).
 * - Chunks are emitted in order with consecutive indices; every pushed
 *   sample ends up in exactly one emitted chunk or in stats.skipped.
 */
#include <string.h>

#include "chunker.h"
#include "../util/util.h"
#include "../vad/vad.h"

#define PIECE       4096 /* samples fed to the VAD at a time */
#define PAD_DEFAULT 4000 /* samples (250 ms) of silence kept beside speech at a skipped silence */
#define MAX_LIMIT   ((int64_t)1 << 31) /* largest accepted `max`, samples (37 h) */

struct hark__chunker {
    hark_chunker_config cfg;
    hark__vad *vad; /* NULL with no_vad */
    int64_t pad;    /* samples of silence kept beside speech at a skipped silence */

    /* samples */
    float *buf;        /* samples [buf_start, buf_start + buf_len) */
    size_t cap;        /* capacity of buf, samples */
    size_t buf_len;    /* samples in buf */
    int64_t buf_start; /* stream position of buf[0], samples */
    int64_t n_in;      /* samples pushed so far */

    /* decided frames, ring indexed by frame number % fcap */
    uint8_t *speech; /* 1 = speech */
    float *level;    /* speech-band level, dB */
    size_t fcap;     /* ring size, frames */
    int64_t dec_end; /* samples decided so far (end of the last decided frame) */

    /* the chunk being built */
    int64_t cs;        /* its start, samples */
    int has_speech;    /* a speech frame overlaps [cs, dec_end) */
    int64_t run_start; /* start of the silence run going on at dec_end, -1 in speech */
    int skipping;      /* that run is longer than skip_silence */

    uint32_t next_index; /* index of the next chunk emitted */
    int finished;        /* hark__chunker_finish() was called */
    int err;             /* sticky error: every later call returns it */
    hark_chunker_stats stats;

    /* the caller's callback during push/finish (for on_frame) */
    hark_chunk_fn emit;
    void *payload;
};

int hark__chunker_new(hark__chunker **out, const hark_chunker_config *cfg)
{
    hark__chunker *c = NULL;
    int rc = 0;
    HARK_ASSERT_ARG(out && cfg);
    *out = NULL;
    if (cfg->min <= 0 || cfg->max < cfg->min || cfg->max > MAX_LIMIT) {
        rc = hark_error_set(HARK_EINVAL, "chunker: bad chunk length range [%lld, %lld] samples",
                            (long long)cfg->min, (long long)cfg->max);
        goto out;
    }
    if (!cfg->no_vad && !(cfg->vad_threshold > 0.0f && cfg->vad_threshold < 1.0f)) {
        rc = hark_error_set(HARK_EINVAL, "chunker: vad threshold %g is outside (0, 1)",
                            (double)cfg->vad_threshold);
        goto out;
    }
    c = hark__calloc(1, sizeof(*c));
    HARK_ALLOC_CHECK(c, rc, out);
    c->cfg = *cfg;
    c->run_start = -1;
    if (cfg->no_vad) {
        c->cap = (size_t)cfg->max;
    } else {
        if ((rc = hark__vad_new(&c->vad, cfg->vad_threshold, HARK_VAD_LOOKAHEAD)) < 0)
            goto out;
        c->pad = HARK_MIN(PAD_DEFAULT, cfg->max / 4);
        if (cfg->skip_silence >= 0)
            c->pad = HARK_MIN(c->pad, cfg->skip_silence / 2);
        c->cap = (size_t)cfg->max + (size_t)(hark__vad_delay(c->vad) + 2) * HARK_VAD_FRAME + PIECE;
        c->fcap = (size_t)(cfg->max / HARK_VAD_FRAME) + 8;
        c->speech = hark__malloc(c->fcap);
        HARK_ALLOC_CHECK(c->speech, rc, out);
        c->level = hark__malloc(c->fcap * sizeof(float));
        HARK_ALLOC_CHECK(c->level, rc, out);
    }
    c->buf = hark__malloc(c->cap * sizeof(float));
    HARK_ALLOC_CHECK(c->buf, rc, out);
    *out = c;
    c = NULL;
out:
    hark__chunker_free(c);
    return rc;
}

void hark__chunker_free(hark__chunker *c)
{
    if (!c)
        return;
    hark__vad_free(c->vad);
    hark__free(c->speech);
    hark__free(c->level);
    hark__free(c->buf);
    hark__free(c);
}

void hark__chunker_stats(const hark__chunker *c, hark_chunker_stats *out)
{
    *out = c->stats;
}

/* ---- output ---------------------------------------------------------------------------------- */

/* The chunk [cs, end) is done: emit it (with speech) or drop it; cs moves to `end`. */
static int close_chunk(hark__chunker *c, int64_t end, int with_speech)
{
    hark_chunk ch;
    int rc;
    if (end <= c->cs)
        return 0;
    if (!with_speech) {
        c->stats.skipped += end - c->cs;
        c->cs = end;
        return 0;
    }
    ch.index = c->next_index;
    ch.start = c->cs;
    ch.n = (size_t)(end - c->cs);
    ch.pcm = hark__malloc(ch.n * sizeof(float));
    if (!ch.pcm)
        return hark_error_set(HARK_ENOMEM, "chunker: out of memory for a chunk of %zu samples",
                              ch.n);
    memcpy(ch.pcm, c->buf + (c->cs - c->buf_start), ch.n * sizeof(float));
    c->cs = end;
    c->next_index++;
    c->stats.chunks++;
    rc = c->emit(c->payload, &ch);
    if (rc < 0) {
        hark__free(ch.pcm);
        return rc;
    }
    return 0;
}

/* ---- frame bookkeeping ----------------------------------------------------------------------- */

static int64_t frame_of(int64_t sample)
{
    return sample / HARK_VAD_FRAME;
}

static int frame_speech(const hark__chunker *c, int64_t f)
{
    return c->speech[(size_t)f % c->fcap];
}

/* Does a speech frame overlap [a, b)? Only for decided frames. */
static int any_speech(const hark__chunker *c, int64_t a, int64_t b)
{
    int64_t f;
    if (b <= a)
        return 0;
    for (f = frame_of(a); f <= frame_of(b - 1); f++)
        if (frame_speech(c, f))
            return 1;
    return 0;
}

/*
 * The cut for a chunk [cs, dec_end) longer than max: a position in
 * [cs + min, cs + max] (see the file comment).
 */
static int64_t choose_cut(const hark__chunker *c)
{
    const int64_t lo = c->cs + c->cfg.min, hi = c->cs + c->cfg.max;
    int64_t f, best_len = -1, best_cut = hi, run_a = -1;
    float best_level = 0.0f;
    int found_quiet = 0;

    /* silence runs, clipped to [cs, dec_end) */
    for (f = frame_of(c->cs); f <= frame_of(c->dec_end - 1) + 1; f++) {
        int64_t f0 = HARK_MAX(f * HARK_VAD_FRAME, c->cs);
        int sil = f0 < c->dec_end && !frame_speech(c, f);
        if (sil && run_a < 0)
            run_a = f0;
        if (!sil && run_a >= 0) {
            int64_t a = run_a, b = HARK_MIN(f0, c->dec_end), len = b - a, cut;
            run_a = -1;
            if (a > hi || b < lo)
                continue;
            cut = b == c->dec_end ? a + HARK_MIN(c->pad, len / 2) : a + len / 2;
            cut = HARK_MAX(cut, HARK_MAX(a, lo));
            cut = HARK_MIN(cut, HARK_MIN(b, hi));
            if (len >= best_len) {
                best_len = len;
                best_cut = cut;
            }
        }
    }
    if (best_len >= 0)
        return best_cut;

    /* no silence in the window: the middle of the quietest frame */
    for (f = frame_of(lo); f <= frame_of(hi); f++) {
        int64_t mid = f * HARK_VAD_FRAME + HARK_VAD_FRAME / 2;
        float lv = c->level[(size_t)f % c->fcap];
        if (mid < lo || mid > hi || mid >= c->dec_end)
            continue;
        if (!found_quiet || lv <= best_level) {
            found_quiet = 1;
            best_level = lv;
            best_cut = mid;
        }
    }
    return best_cut;
}

/* VAD callback: one decided frame. All cutting decisions are taken here. */
static int on_frame(void *payload, const hark_vad_frame *fr)
{
    hark__chunker *c = payload;
    int64_t f0 = fr->index * HARK_VAD_FRAME, f1 = f0 + fr->n;
    int rc;

    c->speech[(size_t)fr->index % c->fcap] = fr->speech;
    c->level[(size_t)fr->index % c->fcap] = fr->level_db;
    c->dec_end = f1;
    if (fr->speech) {
        c->stats.speech += fr->n;
        c->has_speech = 1;
        c->run_start = -1;
        c->skipping = 0;
    } else if (c->run_start < 0) {
        c->run_start = f0;
    }

    /* length: cut while the decided part is longer than max */
    while (!c->skipping && c->dec_end - c->cs > c->cfg.max) {
        int64_t cut = choose_cut(c);
        if ((rc = close_chunk(c, cut, any_speech(c, c->cs, cut))) < 0)
            return rc;
        c->has_speech = any_speech(c, c->cs, c->dec_end);
    }

    /* long silence: end the chunk `pad` after the speech, then trail the decided end */
    if (c->run_start >= 0 && c->cfg.skip_silence >= 0 && !c->skipping &&
        c->dec_end - c->run_start > c->cfg.skip_silence) {
        c->skipping = 1;
        if ((rc = close_chunk(c, c->run_start + c->pad, c->has_speech)) < 0)
            return rc;
        c->has_speech = 0;
    }
    if (c->skipping && (rc = close_chunk(c, c->dec_end - c->pad, 0)) < 0)
        return rc;
    return 0;
}

/* ---- input ----------------------------------------------------------------------------------- */

/* Append samples to buf, first dropping what lies before cs. */
static int append(hark__chunker *c, const float *pcm, size_t n)
{
    if (c->buf_len + n > c->cap) {
        size_t drop = (size_t)(c->cs - c->buf_start);
        memmove(c->buf, c->buf + drop, (c->buf_len - drop) * sizeof(float));
        c->buf_len -= drop;
        c->buf_start = c->cs;
        if (c->buf_len + n > c->cap) /* the invariants above make this impossible */
            return hark_error_set(HARK_EINVAL, "chunker: internal buffer overflow");
    }
    memcpy(c->buf + c->buf_len, pcm, n * sizeof(float));
    c->buf_len += n;
    c->n_in += (int64_t)n;
    c->stats.total += (int64_t)n;
    return 0;
}

static int push_fixed(hark__chunker *c, const float *pcm, size_t n)
{
    int rc;
    while (n > 0) {
        size_t take = HARK_MIN(n, (size_t)(c->cfg.max - (c->n_in - c->cs)));
        if ((rc = append(c, pcm, take)) < 0)
            return rc;
        c->stats.speech += (int64_t)take;
        pcm += take;
        n -= take;
        if (c->n_in - c->cs == c->cfg.max && (rc = close_chunk(c, c->n_in, 1)) < 0)
            return rc;
    }
    return 0;
}

int hark__chunker_push(hark__chunker *c, const float *pcm, size_t n, hark_chunk_fn emit,
                       void *payload)
{
    int rc = 0;
    HARK_ASSERT_ARG(c && emit && (pcm || n == 0));
    if (c->err)
        return c->err;
    if (c->finished)
        return hark_error_set(HARK_EINVAL, "chunker: push after finish");
    c->emit = emit;
    c->payload = payload;
    if (!c->vad) {
        rc = push_fixed(c, pcm, n);
        goto out;
    }
    while (n > 0) {
        size_t take = HARK_MIN(n, (size_t)PIECE);
        if ((rc = append(c, pcm, take)) < 0)
            goto out;
        if ((rc = hark__vad_push(c->vad, pcm, take, on_frame, c)) < 0)
            goto out;
        pcm += take;
        n -= take;
    }
out:
    if (rc < 0)
        c->err = rc;
    return rc;
}

int hark__chunker_finish(hark__chunker *c, hark_chunk_fn emit, void *payload)
{
    int rc = 0;
    HARK_ASSERT_ARG(c && emit);
    if (c->err)
        return c->err;
    if (c->finished)
        return 0;
    c->finished = 1;
    c->emit = emit;
    c->payload = payload;
    if (c->vad && (rc = hark__vad_finish(c->vad, on_frame, c)) < 0)
        goto out;
    rc = close_chunk(c, c->n_in, c->vad ? c->has_speech : 1);
out:
    if (rc < 0)
        c->err = rc;
    return rc;
}
