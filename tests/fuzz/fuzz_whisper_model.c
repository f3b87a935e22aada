/*
 * fuzz_whisper_model.c: the ggml Whisper loader on arbitrary bytes. A file
 * that loads is also walked: token bytes, the tokenizer on a fixed text and
 * the model description, so the tables the loader built get read.
 */
#include <stddef.h>
#include <stdint.h>

#include "asr/whisper/whisper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hark_whisper_model *m = NULL;
    if (hark__whisper_model_load_buffer(&m, data, size, "fuzz.bin") == 0) {
        hark_buf b = HARK_BUF_INIT;
        int32_t *ids = NULL, i;
        int n = 0, cap = 0;
        size_t len, total = 0;
        for (i = 0; i < m->hp.n_vocab; i++) {
            hark__whisper_token_bytes(m, i, &len);
            total += len;
        }
        (void)total;
        hark__whisper_tokenize(m, " And so my fellow Americans, ask not", &ids, &n, &cap);
        hark__free(ids);
        hark__whisper_model_describe(m, &b);
        hark_buf_dispose(&b);
        hark__whisper_model_free(m);
    }
    return 0;
}
