/*
 * vad.h: streaming voice-activity detection on 16 kHz mono float samples.
 *
 *     hark__vad *v = NULL;
 *     hark__vad_new(&v, 0.5f, HARK_VAD_LOOKAHEAD);
 *     while (more audio)
 *         hark__vad_push(v, pcm, n, on_frame, payload); // on_frame: one call per decided frame
 *     hark__vad_finish(v, on_frame, payload);           // decides the frames still pending
 *     hark__vad_free(v);
 *
 * The audio is cut into 10 ms frames (HARK_VAD_FRAME samples) on a fixed
 * grid: frame k covers samples [k * 160, k * 160 + 160); the last frame of a
 * stream may be shorter. Each frame gets one speech/silence decision,
 * delivered through the callback in frame order, exactly once per frame.
 *
 * Decisions are delayed: the detector looks ahead (noise-floor estimate,
 * hangover) before deciding, so frame k is reported only once frames
 * 0 .. k + hark__vad_delay() - 1 are complete, or at finish. The decisions
 * depend only on the samples and the threshold, never on how the input was
 * split into pushes. Memory is fixed (a few tens of KB) whatever the stream
 * length. A hark__vad is single-threaded; use one per stream.
 */
#ifndef HARK_VAD_H
#define HARK_VAD_H

#include <stddef.h>
#include <stdint.h>

#define HARK_VAD_RATE  16000 /* samples per second the detector expects */
#define HARK_VAD_FRAME 160   /* samples per frame (10 ms) */

/** The decision and features of one frame. */
typedef struct hark_vad_frame {
    int64_t index;  /* frame number; the frame starts at sample index * HARK_VAD_FRAME */
    uint32_t n;     /* samples in the frame: HARK_VAD_FRAME, fewer for a stream's last one */
    uint8_t speech; /* final decision (after hangover and gap filling): 1 = speech */
    uint8_t active; /* raw decision of this frame alone, before smoothing */
    float level_db; /* speech-band (250-4000 Hz) power, dB relative to a full-scale mean square */
    float snr_db;   /* power above the noise floors, mean of the 3 best bands, dB (>= 0) */
} hark_vad_frame;

/*
 * Receives each decided frame. A negative return stops the detector: the
 * push or finish that called it returns that code, and the detector may only
 * be freed afterwards.
 */
typedef int (*hark_vad_frame_fn)(void *payload, const hark_vad_frame *frame);

typedef struct hark__vad hark__vad;

/* How far the detector looks ahead before deciding (see vad.c, LOW LATENCY). */
typedef enum hark__vad_mode {
    HARK_VAD_LOOKAHEAD = 0,  /* 1.53 s: the best decisions (chunking files) */
    HARK_VAD_LOW_LATENCY = 1 /* 80 ms: causal floors, no gap filling (ending live utterances) */
} hark__vad_mode;

/*
 * Create a detector. `threshold` in (0, 1) sets the sensitivity: 0.5 is the
 * default, higher values need more evidence before calling a frame speech.
 * Returns HARK_EINVAL for a threshold outside (0, 1) or an unknown mode,
 * HARK_ENOMEM.
 */
int hark__vad_new(hark__vad **out, float threshold, hark__vad_mode mode);

/* Feed `n` samples (any n, including 0). Non-finite samples count as 0. */
int hark__vad_push(hark__vad *v, const float *pcm, size_t n, hark_vad_frame_fn fn, void *payload);

/* End of stream: decide every frame still pending (including a partial last frame). */
int hark__vad_finish(hark__vad *v, hark_vad_frame_fn fn, void *payload);

/* Look-ahead in frames: frame k is decided once k + delay frames are complete. */
int64_t hark__vad_delay(const hark__vad *v);

void hark__vad_free(hark__vad *v);

#endif
