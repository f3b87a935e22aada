/*
 * fuzz_words_decode.c: the store's per-word decoder reads blobs from the
 * database. Any input must be rejected cleanly (HARK_ECORRUPT) or decode to
 * words that re-encode to exactly the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t starts[] = { 0, 1000, -5, INT64_MAX / 32 };
    hark_words_scratch sc;
    hark_buf again = HARK_BUF_INIT;

    memset(&sc, 0, sizeof(sc));
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        int rc = hark__words_decode(&sc, data, size, starts[i]);
        if (rc == 0) {
            hark_buf_clear(&again);
            if (hark__words_encode(&again, sc.words, sc.n, starts[i]) < 0 || again.len != size ||
                (size && memcmp(again.ptr, data, size) != 0))
                abort();
        } else if (rc != HARK_ECORRUPT && rc != HARK_ENOMEM) {
            abort();
        }
    }
    hark_buf_dispose(&again);
    hark__words_scratch_dispose(&sc);
    return 0;
}
