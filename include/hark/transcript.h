/*
 * hark/transcript.h: the result of a transcription. A transcript is an ordered
 * list of segments; a segment has text, exact times and optional per-word and
 * per-token detail. Engines build one per chunk; the pipeline merges chunk
 * transcripts, in chunk order, into the transcript of the whole recording.
 *
 * Times are integers in samples at HARK_SAMPLE_RATE (16 kHz) so that chunk
 * boundaries and offsets stay exact; writers convert to seconds or ms.
 *
 * Ownership: every string and array reachable from a hark_segment belongs to
 * the transcript and stays valid until the transcript is freed. A transcript
 * is not thread-safe; readers may share one that nobody modifies.
 */
#ifndef HARK_TRANSCRIPT_H
#define HARK_TRANSCRIPT_H

#include "common.h"

HARK_BEGIN_DECL

/** One word with its time span and confidence. */
typedef struct hark_word {
    const char *text; /**< UTF-8, NUL-terminated */
    int64_t start;    /**< samples from the start of the recording (or chunk) */
    int64_t end;      /**< samples, exclusive */
    float p;          /**< confidence in [0, 1] */
} hark_word;

/** One decoder token (engines with a token vocabulary, e.g. Whisper). */
typedef struct hark_token {
    int32_t id;       /**< token id in the model's vocabulary */
    float p;          /**< probability of the token when it was sampled */
    float plog;       /**< log probability */
    int64_t start;    /**< samples, or -1 when unknown */
    int64_t end;      /**< samples, or -1 when unknown */
    const char *text; /**< the token's bytes as text (may be a partial UTF-8 sequence) */
} hark_token;

/** A timed piece of text: a sentence or utterance. */
typedef struct hark_segment {
    int64_t start;            /**< samples from the start of the recording */
    int64_t end;              /**< samples, exclusive; end >= start */
    const char *text;         /**< UTF-8 text as the engine produced it (may start with a space) */
    float confidence;         /**< in [0, 1]: mean word or token probability */
    float no_speech_prob;     /**< probability the span holds no speech (Whisper), else 0 */
    float avg_logprob;        /**< mean token log probability (Whisper), else 0 */
    float compression_ratio;  /**< gzip-style text compression ratio (Whisper), else 0 */
    float temperature;        /**< sampling temperature used (Whisper), else 0 */
    uint32_t chunk;           /**< index of the pipeline chunk the segment came from */
    uint32_t n_words;         /**< number of entries in `words` */
    uint32_t n_tokens;        /**< number of entries in `tokens` */
    const hark_word *words;   /**< per-word detail, may be NULL when n_words == 0 */
    const hark_token *tokens; /**< per-token detail, may be NULL when n_tokens == 0 */
} hark_segment;

/**
 * Timings of a run, in milliseconds. total_ms is the wall-clock time of the
 * whole run. decode_ms and vad_ms are wall-clock time of the one reading
 * thread. asr_ms, encoder_ms and decoder_ms are engine time summed over all
 * chunks (each chunk's elapsed time, added up across the parallel workers):
 * with N workers busy they grow up to N times faster than total_ms, so
 * asr_ms can exceed total_ms: it is worker time, not elapsed time. Engines
 * fill the fields that apply to them (zero otherwise). A transcript answered
 * from the result cache has cached = 1, total_ms = the time the answer took,
 * and zeros elsewhere: no decoder or engine ran.
 */
typedef struct hark_timings {
    double decode_ms;   /**< container/codec decoding and resampling */
    double vad_ms;      /**< voice-activity detection and chunking */
    double asr_ms;      /**< engine time, summed over chunks */
    double total_ms;    /**< wall-clock time of the whole run */
    double encoder_ms;  /**< engine: acoustic encoder (Whisper) */
    double decoder_ms;  /**< engine: text decoder (Whisper), prompts and beams included */
    uint32_t windows;   /**< engine: 30-second windows encoded */
    uint32_t sampled;   /**< engine: tokens sampled, counted per beam or candidate */
    uint32_t positions; /**< engine: token positions run through the decoder */
    int cached;         /**< 1 = answered from the result cache: nothing was decoded or run */
} hark_timings;

typedef struct hark_transcript hark_transcript;

/** Create an empty transcript. @param[out] out owned by the caller; free with hark_transcript_free.
 */
HARK_API int hark_transcript_new(hark_transcript **out);

/** Free a transcript and everything it owns. NULL is ok. */
HARK_API void hark_transcript_free(hark_transcript *t);

/** Number of segments. */
HARK_API size_t hark_transcript_count(const hark_transcript *t);

/** Segment `i` (borrowed; valid until the transcript is modified or freed), NULL if out of range.
 */
HARK_API const hark_segment *hark_transcript_segment(const hark_transcript *t, size_t i);

/**
 * Append a copy of `seg` (with its text, words and tokens) at the end. The
 * transcript copies everything; `seg` stays owned by the caller.
 * @return 0, HARK_EINVAL (end < start, NULL text), HARK_ENOMEM.
 */
HARK_API int hark_transcript_add(hark_transcript *t, const hark_segment *seg);

/**
 * Append all segments of `src` to `dst`, shifting every time by `offset`
 * samples and setting each segment's `chunk` to `chunk` (or keeping the
 * source's value when `chunk` is UINT32_MAX).
 */
HARK_API int hark_transcript_append(hark_transcript *dst, const hark_transcript *src,
                                    int64_t offset, uint32_t chunk);

/**
 * The engine that produced segment `i` (borrowed): the name set with
 * hark_transcript_set_segment_engine (a confidence fallback's, see
 * hark_engine_set_fallback), else the transcript's "engine" metadata. NULL
 * when out of range or unknown. hark_transcript_append carries it along.
 */
HARK_API const char *hark_transcript_segment_engine(const hark_transcript *t, size_t i);

/** Record that segment `i` was produced by `engine` (copied; NULL = the transcript's engine). */
HARK_API int hark_transcript_set_segment_engine(hark_transcript *t, size_t i, const char *engine);

/** Length of the audio the transcript covers, in samples (0 = unknown). */
HARK_API int64_t hark_transcript_duration(const hark_transcript *t);
HARK_API void hark_transcript_set_duration(hark_transcript *t, int64_t samples);

/**
 * Descriptive metadata carried into the JSON output: `key` is one of
 * "engine", "model", "language", "source", "options" (a JSON object text).
 * Values are copied. Unknown keys are stored too. NULL value removes the key.
 */
HARK_API int hark_transcript_set_meta(hark_transcript *t, const char *key, const char *value);

/** A metadata value (borrowed) or NULL. */
HARK_API const char *hark_transcript_meta(const hark_transcript *t, const char *key);

/** Timings of the run that produced the transcript (borrowed, writable). */
HARK_API hark_timings *hark_transcript_timings(hark_transcript *t);

/** The concatenated text of all segments, single-spaced and trimmed. @param[out] out caller
 * disposes. */
HARK_API int hark_transcript_text(const hark_transcript *t, hark_buf *out);

/** Output formats understood by hark_transcript_write. */
typedef enum hark_format {
    HARK_FORMAT_TXT = 0, /**< plain text, one segment per line */
    HARK_FORMAT_SRT,     /**< SubRip subtitles */
    HARK_FORMAT_VTT,     /**< WebVTT subtitles */
    HARK_FORMAT_JSON,    /**< hark JSON: metadata, timings, segments with words and tokens */
    HARK_FORMAT_TSV,     /**< start<TAB>end<TAB>text, times in ms (whisper.cpp's tsv) */
    HARK_FORMAT_COUNT
} hark_format;

/** Parse "txt", "srt", "vtt", "json" or "tsv". @return 0 or HARK_EINVAL. */
HARK_API int hark_format_parse(hark_format *out, const char *name);

/** The file-name extension of a format, without a dot ("srt"). */
HARK_API const char *hark_format_name(hark_format fmt);

/**
 * Render `t` in format `fmt`, appending to `out`. Output is deterministic: the
 * same transcript always renders to the same bytes.
 */
HARK_API int hark_transcript_write(const hark_transcript *t, hark_format fmt, hark_buf *out);

HARK_END_DECL

#endif
