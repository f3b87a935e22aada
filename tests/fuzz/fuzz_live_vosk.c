/*
 * fuzz_live_vosk.c: the text messages of the Vosk-compatible endpoint
 * (GET /v1/live/vosk: {"config": {"sample_rate": N}}, {"eof": 1}) through the
 * same parser as fuzz_live_config.c, in its Vosk mode: a sample rate is a JSON
 * number there, real or integer, and must be range-checked before it becomes
 * an int. The checks are fuzz_live_config.c's.
 */
#define LIVE_VOSK 1
#include "fuzz_live_config.c"
