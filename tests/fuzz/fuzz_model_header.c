/*
 * fuzz_model_header.c: the parsers of untrusted model-download input: the
 * ggml Whisper structure walk (hark__model_scan, run on every downloaded and
 * every listed file) and the HTTP Content-Range value parser.
 *
 * Properties checked beyond "no crash, no leak": a file the scanner accepts
 * has exactly the tensor count its hyper-parameters imply and the size it
 * was given; a parsed Content-Range has first <= total when both are known.
 * Seeds (corpora/model_header/): tiny generated models (f16, f32, q5_1,
 * no weights) and Content-Range lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asr/models.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hark_model_header h;
    uint64_t first, total;
    if (hark__model_scan_mem(&h, "fuzz", data, size) == 0 &&
        (h.n_tensors != h.n_tensors_expected || h.file_size != size))
        abort();
    if (hark__models_content_range((const char *)data, size, &first, &total) == 0 && total &&
        first != UINT64_MAX && first >= total)
        abort();
    return 0;
}
