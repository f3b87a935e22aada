/*
 * capture.h: microphone capture for `hark listen` through PulseAudio
 * (libpulse-simple), 16 kHz mono float, on its own thread, into a lock-free
 * ring buffer that the main thread drains.
 */
#ifndef HARK_CLI_CAPTURE_H
#define HARK_CLI_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_capture cli_capture;

/*
 * Open source `device` (NULL: the server's default source) at 16 kHz mono
 * float and start capturing into a ring of `buffer_ms` of audio. Prints one
 * line ("hark CMD: ...") and returns an exit code on failure: EXIT_NOINPUT
 * (no sound server, no such source), EXIT_FAIL.
 */
int cli_capture_start(cli_capture **out, const char *cmd, const char *device, unsigned buffer_ms);

/*
 * Wait up to `timeout_ms` for audio and move up to `max` samples into dst.
 * Returns the samples moved (0: none yet), or -1 once the capture has
 * stopped (cli_capture_stop, or a device error: cli_capture_error) and
 * everything it captured has been read.
 */
long cli_capture_read(cli_capture *c, float *dst, size_t max, unsigned timeout_ms);

/* Blocks of audio dropped because the ring was full, and their samples. Any thread. */
uint64_t cli_capture_overruns(cli_capture *c);
uint64_t cli_capture_dropped(cli_capture *c);
/* Samples captured from the device (kept or dropped). */
uint64_t cli_capture_samples(cli_capture *c);
/*
 * Capture to ring latency: how old each 50 ms block's newest sample was when
 * the block was in the ring (the sound server's record latency when the block
 * was read, plus the append), over every block: median, 95th percentile and
 * maximum in ms (0.1 ms resolution). Returns the blocks measured; 0 (and
 * zeros) while the capture runs: call after cli_capture_stop.
 */
uint64_t cli_capture_latency(cli_capture *c, double *p50_ms, double *p95_ms, double *max_ms);
/* Why the capture stopped by itself (borrowed), or NULL. Call after cli_capture_read gave -1. */
const char *cli_capture_error(cli_capture *c);

/* Stop the capture thread (within one block, 50 ms); what it captured stays readable. */
void cli_capture_stop(cli_capture *c);
/* Stop and free. NULL is ok. */
void cli_capture_free(cli_capture *c);

/*
 * `--list-devices`: print the sound server's sources, one per line: name,
 * then a tab, the description and "(default)" / "(monitor of a sink)".
 * Returns an exit code (EXIT_NOINPUT: no sound server) after printing why.
 */
int cli_capture_list(const char *cmd, FILE *out);

#endif
