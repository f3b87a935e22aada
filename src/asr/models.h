/*
 * models.h: where Whisper model files live and how model names resolve.
 *
 * Models directory: $HARK_MODELS_DIR, else $XDG_DATA_HOME/hark/models, else
 * ~/.local/share/hark/models. Files are named as whisper.cpp names them:
 * ggml-<name>.bin ("ggml-base.en.bin", "ggml-small-q5_1.bin").
 */
#ifndef HARK_ASR_MODELS_H
#define HARK_ASR_MODELS_H

#include "hark/common.h"

/* Append the models directory (not created). */
int hark__models_dir(hark_buf *out);

/*
 * Resolve a user's model argument: an existing file path is used as given;
 * otherwise a name ("base.en", "ggml-base.en.bin", "tiny-q5_1") is looked up
 * as <models dir>/ggml-<name>.bin. HARK_ENOTFOUND with a message that says
 * how to get the model (hark models pull NAME) if it is not there.
 */
int hark__model_resolve(const char *name, hark_buf *path_out);

/*
 * The default Whisper model: the first installed of base.en, base, small.en,
 * small, tiny.en, tiny, medium.en, medium, large-v3 (plain, then quantised
 * variants), else any ggml-*.bin in the models directory (alphabetical).
 * HARK_ENOTFOUND if there is none.
 */
int hark__model_default(hark_buf *path_out);

#endif
