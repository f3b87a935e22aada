/*
 * fuzz_whisper_tokenize.c: whisper.cpp's tokenizer (the --prompt text) on
 * arbitrary bytes, against a small model built once in memory. Every id must
 * be in range and, since every byte has a token in this vocabulary, the
 * tokens must spell the input exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asr/whisper/whisper.h"
#include "../unit/whisper_model/tinymodel.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hark_whisper_model *model;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    int32_t *ids = NULL;
    int n = 0, cap = 0, i;
    size_t pos = 0;
    if (!model) {
        tiny_opts o;
        size_t len;
        unsigned char *d;
        tiny_defaults(&o);
        o.n_state = 8;
        o.n_audio_ctx = 4;
        o.n_text_ctx = 16;
        d = tiny_model(&o, &len);
        if (hark__whisper_model_load_buffer(&model, d, len, "tiny.bin") < 0)
            abort();
        free(d);
    }
    if (size > 4096)
        size = 4096;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* the tokenizer reads C strings: stop at the first NUL */
    if (hark__whisper_tokenize(model, text, &ids, &n, &cap) == 0) {
        for (i = 0; i < n; i++) {
            size_t len;
            const char *b = hark__whisper_token_bytes(model, ids[i], &len);
            if (ids[i] < 0 || ids[i] >= model->n_vocab_file || memcmp(b, text + pos, len) != 0)
                abort();
            pos += len;
        }
        if (pos != strlen(text))
            abort();
    }
    hark__free(ids);
    free(text);
    return 0;
}
