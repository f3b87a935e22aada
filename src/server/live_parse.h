/*
 * live_parse.h: the parsers of what a live client sends (docs/live.md) and of
 * a session's audio record file. Pure functions (no I/O, no globals), so that
 * live.c stays about sessions and the fuzz targets (tests/fuzz/fuzz_live_*.c)
 * reach every parser of untrusted live input directly.
 */
#ifndef HARK_SERVER_LIVE_PARSE_H
#define HARK_SERVER_LIVE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SRV_LIVE_MAX_FRAME 1048576u /* PCM bytes in one binary frame */
#define SRV_LIVE_REC_HDR   12       /* record header: u64 seq, u32 samples (little-endian) */
/* Samples in one record: a frame's worth at the lowest rate (8 kHz s16 mono, upsampled x2)
 * plus libswresample's slack (live.c asks it for at most frames * 16000 / rate + 64). */
#define SRV_LIVE_REC_MAX   (SRV_LIVE_MAX_FRAME + 64u)
#define SRV_LIVE_TITLE_MAX 200 /* bytes of title kept (cut at a UTF-8 boundary) */
#define SRV_LIVE_KEY_MAX   159 /* longer "key" strings are not keys */

enum srv_live_kind { SRV_LIVE_CONFIG = 1, SRV_LIVE_END, SRV_LIVE_OTHER };

/* One text message, parsed. Every string is NUL-terminated and owned by the struct. */
typedef struct srv_live_text {
    enum srv_live_kind kind;
    int untyped; /* CONFIG without "type" (accepted as the first message only) */
    /* CONFIG: the values, defaults filled in */
    int rate, channels, f32;
    int has_key; /* 1: key holds it; -1: a "key" that cannot be one (not a string, too long) */
    char key[SRV_LIVE_KEY_MAX + 1];
    char title[SRV_LIVE_TITLE_MAX + 1]; /* "" = none */
    int resume;                         /* resume.session holds 32 lower-case hex digits */
    char session[33];
    int64_t last_final; /* -1 .. UINT32_MAX */
    /* CONFIG that cannot be used: the close code (1003, 1007, 1008), error code and message;
     * close = 0 when it is fine */
    uint16_t close;
    const char *code;
    char msg[160];
} srv_live_text;

/*
 * Parse a text message of the hark protocol (vosk = 0) or of the Vosk one
 * (vosk = 1: {"config": {"sample_rate": N}}, {"eof": 1}). Returns 0 with *out
 * set, or 1007 when it is not a JSON object (out->code, out->msg say why).
 */
uint16_t srv_live_parse_text(const void *data, size_t len, int vosk, srv_live_text *out);

enum srv_frame_result {
    SRV_FRAME_OK = 0,  /* the next frame: seq, pcm, bytes, frames are set */
    SRV_FRAME_RESEND,  /* seq <= last_seq: already taken (seq is set) */
    SRV_FRAME_SHORT,   /* no room for the 8-byte sequence number */
    SRV_FRAME_GAP,     /* seq > last_seq + 1 (seq is set) */
    SRV_FRAME_PARTIAL, /* the PCM is not whole samples of every channel */
    SRV_FRAME_BIG,     /* more than SRV_LIVE_MAX_FRAME bytes of PCM */
};

typedef struct srv_live_frame {
    uint64_t seq;
    const uint8_t *pcm; /* inside the frame */
    size_t bytes;       /* of PCM */
    size_t frames;      /* samples per channel */
} srv_live_frame;

/*
 * A binary frame: [u64 seq little-endian][PCM] (hark), or PCM alone (Vosk,
 * whose frames are numbered last_seq + 1). bytes_per_frame: channels x
 * sample size (2 or 4).
 */
enum srv_frame_result srv_live_parse_frame(const uint8_t *data, size_t len, int vosk,
                                           uint64_t last_seq, size_t bytes_per_frame,
                                           srv_live_frame *out);

/* The most 16 kHz samples a frame of `frames` samples per channel at `rate` Hz is asked to
 * give (always <= SRV_LIVE_REC_MAX for a frame the parser accepted at 8000..192000 Hz). */
size_t srv_live_out_max(size_t frames, int rate);

/*
 * The header of a record of a session's audio file (<data_dir>/live/<id>.pcm:
 * [u64 seq][u32 n][n x s16le], seq 1, 2, 3...). 1 and *seq, *n when it is the
 * record after `last_seq`; 0 when it is not (a torn or damaged tail: the file
 * ends before it).
 */
int srv_live_record_header(const uint8_t hdr[SRV_LIVE_REC_HDR], uint64_t last_seq, uint64_t *seq,
                           uint32_t *n);

/* Whether `id` is a session id: 32 lower-case hex digits. */
int srv_live_id_valid(const char *id);

#endif
