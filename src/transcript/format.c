/*
 * format.c: render a transcript as txt, srt, vtt, tsv or JSON.
 *
 * Times are converted from samples to milliseconds by rounding to the nearest
 * ms (16 samples per ms at 16 kHz), so every format agrees to the ms. Text is
 * trimmed of surrounding whitespace in txt/srt/vtt/tsv; JSON keeps the
 * engine's text unchanged. Segments whose text is empty after trimming are
 * left out of the subtitle and text formats.
 */
#include <string.h>

#include "hark/transcript.h"
#include "hark/version.h"
#include "../util/util.h"

static const char *const format_names[HARK_FORMAT_COUNT] = { "txt", "srt", "vtt", "json", "tsv" };

int hark_format_parse(hark_format *out, const char *name)
{
    int i;
    for (i = 0; i < HARK_FORMAT_COUNT; i++) {
        if (hark__strcasecmp(name, format_names[i]) == 0) {
            *out = (hark_format)i;
            return 0;
        }
    }
    return hark_error_set(HARK_EINVAL,
                          "unknown output format '%s' (use txt, srt, vtt, json or tsv)", name);
}

const char *hark_format_name(hark_format fmt)
{
    return (unsigned)fmt < HARK_FORMAT_COUNT ? format_names[fmt] : "?";
}

static int64_t to_ms(int64_t samples)
{
    int64_t per_ms = HARK_SAMPLE_RATE / 1000;
    if (samples < 0)
        return 0;
    return (samples + per_ms / 2) / per_ms;
}

/* "HH:MM:SS<sep>mmm" */
static int put_clock(hark_buf *out, int64_t samples, char sep)
{
    int64_t ms = to_ms(samples);
    return hark_buf_printf(out, "%02lld:%02lld:%02lld%c%03lld", (long long)(ms / 3600000),
                           (long long)(ms / 60000 % 60), (long long)(ms / 1000 % 60), sep,
                           (long long)(ms % 1000));
}

static const char *seg_text(const hark_segment *s, size_t *len)
{
    *len = strlen(s->text);
    return hark__trim(s->text, len);
}

/* Subtitles must not contain blank lines inside a cue. */
static int put_cue_text(hark_buf *out, const char *s, size_t len)
{
    size_t i;
    int rc = 0;
    for (i = 0; i < len && rc == 0; i++) {
        char c = s[i];
        if (c == '\r')
            continue;
        if (c == '\n' && i + 1 < len && (s[i + 1] == '\n' || s[i + 1] == '\r'))
            continue;
        rc = hark_buf_putc(out, c);
    }
    return rc;
}

static int write_txt(const hark_transcript *t, hark_buf *out)
{
    size_t i, n = hark_transcript_count(t), len;
    int rc = hark_buf_put(out, "", 0);
    for (i = 0; i < n && rc == 0; i++) {
        const char *s = seg_text(hark_transcript_segment(t, i), &len);
        if (!len)
            continue;
        rc = hark_buf_put(out, s, len);
        if (rc == 0)
            rc = hark_buf_putc(out, '\n');
    }
    return rc;
}

static int write_subs(const hark_transcript *t, hark_buf *out, int vtt)
{
    size_t i, n = hark_transcript_count(t), len;
    unsigned cue = 0;
    int rc = hark_buf_puts(out, vtt ? "WEBVTT\n\n" : "");
    for (i = 0; i < n && rc == 0; i++) {
        const hark_segment *s = hark_transcript_segment(t, i);
        const char *text = seg_text(s, &len);
        if (!len)
            continue;
        cue++;
        if (!vtt)
            rc = hark_buf_printf(out, "%u\n", cue);
        if (rc == 0)
            rc = put_clock(out, s->start, vtt ? '.' : ',');
        if (rc == 0)
            rc = hark_buf_puts(out, " --> ");
        if (rc == 0)
            rc = put_clock(out, s->end, vtt ? '.' : ',');
        if (rc == 0)
            rc = hark_buf_putc(out, '\n');
        if (rc == 0)
            rc = put_cue_text(out, text, len);
        if (rc == 0)
            rc = hark_buf_puts(out, "\n\n");
    }
    return rc;
}

static int write_tsv(const hark_transcript *t, hark_buf *out)
{
    size_t i, n = hark_transcript_count(t), len, k;
    int rc = hark_buf_puts(out, "start\tend\ttext\n");
    for (i = 0; i < n && rc == 0; i++) {
        const hark_segment *s = hark_transcript_segment(t, i);
        const char *text = seg_text(s, &len);
        if (!len)
            continue;
        rc = hark_buf_printf(out, "%lld\t%lld\t", (long long)to_ms(s->start),
                             (long long)to_ms(s->end));
        for (k = 0; k < len && rc == 0; k++) /* tabs and newlines would break the columns */
            rc = hark_buf_putc(
                out, text[k] == '\t' || text[k] == '\n' || text[k] == '\r' ? ' ' : text[k]);
        if (rc == 0)
            rc = hark_buf_putc(out, '\n');
    }
    return rc;
}

static void json_seconds(hark_jsonw *w, const char *key, int64_t samples)
{
    hark_jsonw_key(w, key);
    hark_jsonw_fixed(w, (double)to_ms(samples) / 1000.0, 3);
}

/* `engine`: the engine that produced the segment, written when a fallback was in use. */
static void json_segment(hark_jsonw *w, const hark_segment *s, size_t id, const char *engine)
{
    uint32_t i;
    hark_jsonw_object(w);
    hark_jsonw_key(w, "id");
    hark_jsonw_int(w, (int64_t)id);
    json_seconds(w, "start", s->start);
    json_seconds(w, "end", s->end);
    hark_jsonw_key(w, "text");
    hark_jsonw_str(w, s->text);
    if (engine) {
        hark_jsonw_key(w, "engine");
        hark_jsonw_str(w, engine);
    }
    hark_jsonw_key(w, "confidence");
    hark_jsonw_fixed(w, s->confidence, 4);
    if (s->n_tokens) {
        hark_jsonw_key(w, "no_speech_prob");
        hark_jsonw_fixed(w, s->no_speech_prob, 4);
        hark_jsonw_key(w, "avg_logprob");
        hark_jsonw_fixed(w, s->avg_logprob, 4);
        hark_jsonw_key(w, "compression_ratio");
        hark_jsonw_fixed(w, s->compression_ratio, 4);
        hark_jsonw_key(w, "temperature");
        hark_jsonw_fixed(w, s->temperature, 2);
    }
    hark_jsonw_key(w, "words");
    hark_jsonw_array(w);
    for (i = 0; i < s->n_words; i++) {
        const hark_word *wd = &s->words[i];
        hark_jsonw_object(w);
        hark_jsonw_key(w, "word");
        hark_jsonw_str(w, wd->text);
        json_seconds(w, "start", wd->start);
        json_seconds(w, "end", wd->end);
        hark_jsonw_key(w, "confidence");
        hark_jsonw_fixed(w, wd->p, 4);
        hark_jsonw_close(w);
    }
    hark_jsonw_close(w);
    if (s->n_tokens) {
        hark_jsonw_key(w, "tokens");
        hark_jsonw_array(w);
        for (i = 0; i < s->n_tokens; i++) {
            const hark_token *tk = &s->tokens[i];
            hark_jsonw_object(w);
            hark_jsonw_key(w, "id");
            hark_jsonw_int(w, tk->id);
            hark_jsonw_key(w, "text");
            hark_jsonw_str(w, tk->text);
            hark_jsonw_key(w, "p");
            hark_jsonw_fixed(w, tk->p, 6);
            hark_jsonw_key(w, "plog");
            hark_jsonw_fixed(w, tk->plog, 6);
            if (tk->start >= 0) {
                json_seconds(w, "start", tk->start);
                json_seconds(w, "end", tk->end);
            }
            hark_jsonw_close(w);
        }
        hark_jsonw_close(w);
    }
    hark_jsonw_close(w);
}

static void json_meta(hark_jsonw *w, const hark_transcript *t, const char *key)
{
    const char *v = hark_transcript_meta(t, key);
    hark_jsonw_key(w, key);
    hark_jsonw_str(w, v);
}

static int write_json(const hark_transcript *t, hark_buf *out)
{
    hark_jsonw w;
    hark_buf text = HARK_BUF_INIT;
    size_t i, n = hark_transcript_count(t);
    const char *opts = hark_transcript_meta(t, "options");
    const hark_timings *tm = hark_transcript_timings((hark_transcript *)t);
    int rc;

    if ((rc = hark_transcript_text(t, &text)) < 0)
        return rc;
    hark_jsonw_init(&w, out, 1);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "hark");
    hark_jsonw_str(&w, HARK_VERSION_STRING);
    json_meta(&w, t, "source");
    json_seconds(&w, "duration", hark_transcript_duration(t));
    json_meta(&w, t, "engine");
    json_meta(&w, t, "model");
    if (hark_transcript_meta(t, "fallback"))
        json_meta(&w, t, "fallback");
    json_meta(&w, t, "language");
    hark_jsonw_key(&w, "options");
    if (opts)
        hark_jsonw_raw(&w, opts);
    else
        hark_jsonw_raw(&w, "{}");
    hark_jsonw_key(&w, "timings");
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "cached");
    hark_jsonw_bool(&w, tm->cached);
    hark_jsonw_key(&w, "decode_ms");
    hark_jsonw_fixed(&w, tm->decode_ms, 1);
    hark_jsonw_key(&w, "vad_ms");
    hark_jsonw_fixed(&w, tm->vad_ms, 1);
    hark_jsonw_key(&w, "asr_ms");
    hark_jsonw_fixed(&w, tm->asr_ms, 1);
    hark_jsonw_key(&w, "total_ms");
    hark_jsonw_fixed(&w, tm->total_ms, 1);
    if (tm->windows || tm->positions) {
        hark_jsonw_key(&w, "encoder_ms");
        hark_jsonw_fixed(&w, tm->encoder_ms, 1);
        hark_jsonw_key(&w, "decoder_ms");
        hark_jsonw_fixed(&w, tm->decoder_ms, 1);
        hark_jsonw_key(&w, "windows");
        hark_jsonw_int(&w, tm->windows);
        hark_jsonw_key(&w, "tokens_sampled");
        hark_jsonw_int(&w, tm->sampled);
        hark_jsonw_key(&w, "decoder_positions");
        hark_jsonw_int(&w, tm->positions);
    }
    hark_jsonw_close(&w);
    hark_jsonw_key(&w, "text");
    hark_jsonw_strn(&w, text.ptr, text.len);
    hark_jsonw_key(&w, "segments");
    hark_jsonw_array(&w);
    for (i = 0; i < n; i++)
        json_segment(&w, hark_transcript_segment(t, i), i,
                     hark_transcript_meta(t, "fallback") ? hark_transcript_segment_engine(t, i)
                                                         : NULL);
    hark_jsonw_close(&w);
    hark_jsonw_close(&w);
    rc = hark_jsonw_end(&w);
    if (rc == 0)
        rc = hark_buf_putc(out, '\n');
    hark_buf_dispose(&text);
    return rc;
}

int hark_transcript_write(const hark_transcript *t, hark_format fmt, hark_buf *out)
{
    HARK_ASSERT_ARG(t && out);
    switch (fmt) {
    case HARK_FORMAT_TXT:
        return write_txt(t, out);
    case HARK_FORMAT_SRT:
        return write_subs(t, out, 0);
    case HARK_FORMAT_VTT:
        return write_subs(t, out, 1);
    case HARK_FORMAT_TSV:
        return write_tsv(t, out);
    case HARK_FORMAT_JSON:
        return write_json(t, out);
    default:
        return hark_error_set(HARK_EINVAL, "unknown output format %d", (int)fmt);
    }
}
