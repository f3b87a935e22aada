/*
 * hark/live.h: live transcription of a stream that arrives as it is spoken
 * (a microphone, a WebSocket client), with interim text while someone speaks
 * and a final segment per utterance.
 *
 *     hark_live_options lo;
 *     hark_live_options_default(&lo);
 *     lo.scheduler = sched;             // the process's workers (live class by default)
 *     lo.partial = on_partial; lo.final = on_final; lo.payload = me;
 *     hark_live_begin(&live, engine, &lo);
 *     while (audio) hark_live_feed(live, pcm, n);   // never waits for the engine
 *     hark_live_end(live);                          // the last utterance; then wait for idle
 *     ...                                           // on_final(... last = 1) comes last
 *     hark_live_free(live);
 *
 * Endpointing: the voice-activity detector finds utterances (deciding 80 ms
 * behind the audio, or 1.53 s with `vad_lookahead`); one ends after
 * `endpoint_ms` of trailing silence or at `max_utterance_ms`, and is then
 * transcribed as one piece on the scheduler (a final). While an utterance
 * goes on, its audio so far is transcribed every `partial_ms` of audio for a
 * partial, when no partial of this stream is still running (so a partial
 * costs at most one worker at a time per stream, and partials are skipped,
 * never queued, when the workers are busy: latency does not grow with load).
 * Finals are delivered in utterance order; a partial is only delivered while
 * its utterance is the current one.
 *
 * Utterances are numbered from 0 and cut deterministically: the same samples
 * give the same utterances and the same finals, however the input was split
 * into feeds. That is what lets a caller that lost its state (a crash)
 * re-feed the audio it kept and skip the finals it already has
 * (hark_live_options.skip_below).
 *
 * Streaming engines (hark/sys/engine.h, stream_*: PocketSphinx, Whisper):
 * instead of re-transcribing, the current utterance's audio is fed to an
 * engine state as it is decided (a task of this stream's queue at a time,
 * each feeding what arrived since the last), partials are read from that
 * state every `partial_ms` of audio fed, and the final is the state's result
 * when the utterance is cut, so it is ready one feed after the cut instead
 * of one whole decode after it. The state is bound to the stream only while
 * an utterance is open and goes back to the engine's pool at its end: an
 * idle stream holds none. At most a few states (the engine's cap, the
 * number of CPUs) are bound at once over all streams; an utterance that
 * finds none free keeps its audio and tries again at its next feed, and at
 * the latest binds one for its final (so finals never wait for another
 * stream's utterance to end). `streaming` = 0 uses the re-decode path with
 * every engine (hark serve --live-streaming off; benchmarks).
 *
 * Memory per stream is bounded: the current utterance (max_utterance_ms of
 * audio) plus the utterances waiting for a worker (see hark_live_backlog),
 * at most `max_backlog`. An utterance cut while max_backlog are waiting is
 * numbered as usual but not transcribed: its final comes in order with
 * count 0 and an error ("not transcribed: ... waiting"), and its audio is
 * dropped. Callers that can slow their source down (the server's slow_down)
 * should do so well before that.
 */
#ifndef HARK_LIVE_H
#define HARK_LIVE_H

#include "common.h"
#include "engine.h"
#include "jobs.h"
#include "scheduler.h"
#include "transcript.h"

HARK_BEGIN_DECL

typedef struct hark_live hark_live;

/** Options; initialise with hark_live_options_default(). */
typedef struct hark_live_options {
    unsigned version;           /**< HARK_LIVE_OPTIONS_VERSION */
    hark_scheduler *scheduler;  /**< workers (borrowed, required) */
    hark_priority priority;     /**< class of this stream's work. Default HARK_PRIORITY_LIVE */
    hark_decode_options decode; /**< engine decoding options */
    float vad_threshold;        /**< speech sensitivity in (0, 1), 0 = default (0.5) */
    unsigned endpoint_ms;       /**< trailing silence that ends an utterance. Default 500 */
    unsigned max_utterance_ms;  /**< an utterance is cut at this length. Default 15000 */
    unsigned partial_ms;        /**< audio between partials while speaking, 0 = no partials.
                                     Default 500 */
    unsigned min_speech_ms;     /**< shorter blips of speech are dropped. Default 150 */
    int64_t skip_below;         /**< utterances numbered below this are cut but not transcribed
                                     (their finals exist already). Default 0 */
    /** Interim text of utterance `utt` (borrowed), from a worker thread. May be NULL. */
    void (*partial)(uint32_t utt, const char *text, void *payload);
    /**
     * Utterance `utt` is final: segments [first, first + count) of `t`
     * (absolute times, borrowed for the call; count may be 0 for an
     * utterance with no words). `error` is non-NULL when it could not be
     * transcribed (then count is 0). Called in utterance order, never
     * concurrently, from a worker thread or the thread calling hark_live_end.
     * After hark_live_end, the call for the last utterance has `last` set
     * (with utt = the number of utterances and count 0 when it only marks
     * the end).
     */
    void (*final)(uint32_t utt, const hark_transcript *t, size_t first, size_t count,
                  const char *error, int last, void *payload);
    void *payload; /**< passed to the callbacks */
    /* ---- version 2 ---- */
    int streaming;        /**< 1: use the engine's stream operations when it has them (default),
                               0: re-transcribe the utterance so far for partials and finals */
    unsigned max_backlog; /**< utterances waiting for their final, at most; one cut beyond is not
                               transcribed (see above). Default 32, 0 = the default */
    /* ---- version 3 ---- */
    int vad_lookahead; /**< 0: the VAD decides 80 ms behind the audio, so a final can come
                            endpoint_ms + 80 ms after the speech (default); 1: it looks 1.5 s
                            ahead like file transcription (fills short gaps, catches a stream
                            that starts mid-word) and every final comes 1.5 s later */
} hark_live_options;

/* Versions 1 (without streaming and max_backlog) and 2 (without vad_lookahead) are accepted
 * too; the fields they lack take their defaults. */
#define HARK_LIVE_OPTIONS_VERSION 3

HARK_API void hark_live_options_default(hark_live_options *o);

/**
 * Start a stream. `opts` is copied; the scheduler and payload must outlive
 * the stream. @param[out] out free with hark_live_free.
 * @return 0, HARK_EINVAL (no scheduler, bad option), HARK_ENOMEM.
 */
HARK_API int hark_live_begin(hark_live **out, hark_engine *engine, const hark_live_options *opts);

/** Feed 16 kHz mono samples. Does not wait for the engine. @return 0, HARK_ENOMEM,
 *  HARK_EINVAL after hark_live_end. One thread at a time may feed. */
HARK_API int hark_live_feed(hark_live *L, const float *pcm, size_t n);

/** The input has ended: the last utterance is cut. Returns at once; the final callback with
 *  `last` set comes when everything is transcribed. @return 0, HARK_EINVAL (called twice). */
HARK_API int hark_live_end(hark_live *L);

/** Utterances cut but not yet final (waiting for or on a worker). Thread-safe. */
HARK_API unsigned hark_live_backlog(hark_live *L);

/** Samples fed so far. */
HARK_API int64_t hark_live_samples(const hark_live *L);

/** Stop: utterances not started are dropped, running ones finish; waits for them. Then free.
 *  No callback runs after it returns. NULL is ok. */
HARK_API void hark_live_free(hark_live *L);

HARK_END_DECL

#endif
