/*
 * live_parse.c: parsing live input (live_parse.h): the text messages of the
 * hark and Vosk protocols, the binary frame header, the audio record file's
 * record headers.
 *
 * DESIGN
 * Everything a client can put in a message is checked here and turned into
 * plain values with their ranges enforced, so live.c never does arithmetic
 * on a client's numbers: sample rates are range-checked before any cast
 * (Vosk's is a JSON real), last_final is clamped, the session id must be 32
 * hex digits before it can name a file or a store key, a title is cut to
 * SRV_LIVE_TITLE_MAX bytes at a UTF-8 character boundary (jansson hands out
 * valid UTF-8 only). Multi-byte numbers are little-endian on the wire and on
 * disk, decoded byte by byte.
 *
 * INVARIANTS (checked by tests/fuzz/fuzz_live_*.c)
 * - A CONFIG with close = 0 has rate 8000..192000, channels 1..2, a title
 *   that is valid UTF-8 of at most SRV_LIVE_TITLE_MAX bytes, last_final in
 *   -1..UINT32_MAX, and when resume = 1 a valid session id.
 * - SRV_FRAME_OK: seq = last_seq + 1, pcm + bytes lies inside the frame,
 *   bytes = frames x bytes_per_frame <= SRV_LIVE_MAX_FRAME.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "live_parse.h"

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int srv_live_id_valid(const char *id)
{
    size_t i;
    if (!id)
        return 0;
    for (i = 0; i < 32; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return id[32] == '\0';
}

static void bad(srv_live_text *t, uint16_t close, const char *code, const char *msg)
{
    if (t->close) /* the first problem is the one reported */
        return;
    t->close = close;
    t->code = code;
    snprintf(t->msg, sizeof(t->msg), "%s", msg);
}

/* An integral JSON number in [lo, hi] into *out; absent leaves *out. 0, or -1 when wrong. */
static int int_in(json_t *v, long lo, long hi, int *out)
{
    double d;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < lo || i > hi)
            return -1;
        *out = (int)i;
        return 0;
    }
    if (!json_is_real(v))
        return -1;
    d = json_real_value(v);
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) /* NaN fails too */
        return -1;
    *out = (int)d;
    return 0;
}

/* Copy at most `max` bytes of UTF-8 `s`, not cutting a character. */
static void copy_utf8(char *dst, size_t max, const char *s)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a character */
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void parse_config(json_t *o, int vosk, srv_live_text *t)
{
    json_t *v, *resume;
    const char *fmt;
    if (vosk) { /* {"config": {"sample_rate": 16000}} */
        json_t *cfg = json_object_get(o, "config");
        if (cfg && !json_is_object(cfg))
            bad(t, 1003, "bad_config", "\"config\" must be an object");
        else if (int_in(json_object_get(cfg, "sample_rate"), 8000, 192000, &t->rate) < 0)
            bad(t, 1003, "bad_config", "sample_rate must be a whole number from 8000 to 192000");
        return;
    }
    if ((v = json_object_get(o, "key")) != NULL) {
        const char *k = json_string_value(v);
        if (k && strlen(k) <= SRV_LIVE_KEY_MAX) {
            memcpy(t->key, k, strlen(k) + 1);
            t->has_key = 1;
        } else {
            t->has_key = -1;
        }
    }
    if (int_in(json_object_get(o, "sample_rate"), 8000, 192000, &t->rate) < 0 ||
        int_in(json_object_get(o, "channels"), 1, 2, &t->channels) < 0)
        bad(t, 1003, "bad_config",
            "sample_rate must be 8000 to 192000, channels 1 or 2, format s16le or f32le");
    v = json_object_get(o, "format");
    fmt = json_string_value(v);
    if (v && (!fmt || (strcmp(fmt, "s16le") && strcmp(fmt, "f32le"))))
        bad(t, 1003, "bad_config",
            "sample_rate must be 8000 to 192000, channels 1 or 2, format s16le or f32le");
    t->f32 = fmt && !strcmp(fmt, "f32le");
    if ((v = json_object_get(o, "title")) != NULL) {
        if (json_is_string(v))
            copy_utf8(t->title, SRV_LIVE_TITLE_MAX, json_string_value(v));
        else if (!json_is_null(v))
            bad(t, 1003, "bad_config", "title must be a string");
    }
    if ((v = json_object_get(o, "language")) && !json_is_string(v) && !json_is_null(v))
        bad(t, 1003, "bad_config", "language must be a string");
    resume = json_object_get(o, "resume");
    if (resume && !json_is_null(resume)) {
        const char *id;
        json_t *lf;
        if (!json_is_object(resume)) {
            bad(t, 1007, "bad_config", "resume must be an object");
            return;
        }
        id = json_string_value(json_object_get(resume, "session"));
        if (!id) {
            bad(t, 1007, "bad_config", "resume needs \"session\"");
            return;
        }
        if (!srv_live_id_valid(id)) {
            bad(t, 1008, "unknown_session", "no such live session");
            return;
        }
        memcpy(t->session, id, 33);
        t->resume = 1;
        lf = json_object_get(resume, "last_final");
        if (json_is_integer(lf)) {
            json_int_t i = json_integer_value(lf);
            t->last_final = i < -1 ? -1 : i > (json_int_t)UINT32_MAX ? (int64_t)UINT32_MAX : i;
        } else if (lf && !json_is_null(lf)) {
            bad(t, 1007, "bad_config", "resume.last_final must be an integer");
        }
    }
}

uint16_t srv_live_parse_text(const void *data, size_t len, int vosk, srv_live_text *out)
{
    json_error_t e;
    json_t *o;
    const char *type;

    memset(out, 0, sizeof(*out));
    out->rate = 16000;
    out->channels = 1;
    out->last_final = -1;
    o = json_loadb(data, len, 0, &e);
    if (!o || !json_is_object(o)) {
        out->close = 1007;
        out->code = "invalid_json";
        snprintf(out->msg, sizeof(out->msg), "invalid JSON message: %.120s",
                 o ? "not an object" : e.text);
        json_decref(o);
        return 1007;
    }
    type = json_string_value(json_object_get(o, "type"));
    if (vosk && json_object_get(o, "eof")) {
        out->kind = SRV_LIVE_END;
    } else if (vosk && json_object_get(o, "config")) {
        out->kind = SRV_LIVE_CONFIG;
    } else if (!type) {
        out->kind = SRV_LIVE_CONFIG;
        out->untyped = 1;
    } else if (!strcmp(type, "config")) {
        out->kind = SRV_LIVE_CONFIG;
    } else if (!strcmp(type, "end")) {
        out->kind = SRV_LIVE_END;
    } else {
        out->kind = SRV_LIVE_OTHER;
    }
    if (out->kind == SRV_LIVE_CONFIG)
        parse_config(o, vosk, out);
    json_decref(o);
    return 0;
}

enum srv_frame_result srv_live_parse_frame(const uint8_t *data, size_t len, int vosk,
                                           uint64_t last_seq, size_t bytes_per_frame,
                                           srv_live_frame *out)
{
    memset(out, 0, sizeof(*out));
    if (vosk) {
        out->seq = last_seq + 1;
        out->pcm = data;
        out->bytes = len;
    } else {
        if (len < 8)
            return SRV_FRAME_SHORT;
        out->seq = le64(data);
        out->pcm = data + 8;
        out->bytes = len - 8;
        if (out->seq <= last_seq)
            return SRV_FRAME_RESEND;
        if (out->seq != last_seq + 1)
            return SRV_FRAME_GAP;
    }
    if (out->bytes > SRV_LIVE_MAX_FRAME)
        return SRV_FRAME_BIG;
    if (!bytes_per_frame || out->bytes % bytes_per_frame)
        return SRV_FRAME_PARTIAL;
    out->frames = out->bytes / bytes_per_frame;
    return SRV_FRAME_OK;
}

size_t srv_live_out_max(size_t frames, int rate)
{
    return frames * 16000u / (size_t)(rate > 0 ? rate : 1) + 64;
}

int srv_live_record_header(const uint8_t hdr[SRV_LIVE_REC_HDR], uint64_t last_seq, uint64_t *seq,
                           uint32_t *n)
{
    *seq = le64(hdr);
    *n = le32(hdr + 8);
    return *seq == last_seq + 1 && *n <= SRV_LIVE_REC_MAX;
}
