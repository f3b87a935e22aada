/*
 * fuzz_decoder.c: arbitrary bytes through the memory decoder
 * (hark__decoder_open_memory), the path uploads take. It must never crash,
 * leak or hang, and every sample it returns must be finite. Output is capped
 * at 10 minutes (max_samples) so inputs that describe hours of audio in a
 * few bytes stay fast.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "audio/audio.h"

#define MAX_OUT (10 * 60 * HARK_SAMPLE_RATE) /* samples */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hark_decoder_options opts = HARK_DECODER_OPTIONS_INIT;
    hark_decoder *dec = NULL;
    static float buf[4096];
    const char *msg = NULL;
    uint64_t total = 0;
    size_t n, i;

    opts.max_samples = MAX_OUT;
    if (hark__decoder_open_memory(&dec, data, size, "fuzz", &opts) < 0)
        return 0;
    if (hark_decoder_info(dec)->container == NULL || hark_decoder_info(dec)->codec == NULL)
        abort();
    while (hark_decoder_read(dec, buf, 4096, &n) == 0 && n > 0) {
        for (i = 0; i < n; i++)
            if (!isfinite(buf[i]))
                abort();
        total += n;
    }
    if (total > MAX_OUT || (uint64_t)hark_decoder_position(dec) != total)
        abort();
    hark_decoder_warnings(dec, &msg);
    hark_decoder_free(dec);
    return 0;
}
