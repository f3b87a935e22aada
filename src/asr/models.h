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
#include "hark/models.h"

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

/* ---- names (models.c) ------------------------------------------------------------------------ */

/* The bare model name inside `name`: "ggml-base.en.bin" -> "base.en" (*len = 7). */
const char *hark__models_bare_name(const char *name, size_t *len);

/*
 * A bare name is 1..128 of [A-Za-z0-9._-], not starting with '.' or '-'
 * (so it can never name a path outside the models directory). HARK_EINVAL
 * otherwise, with a message quoting `given`.
 */
int hark__models_check_name(const char *bare, size_t len, const char *given);

/* Append <models dir>/ggml-<bare>.bin. */
int hark__models_file_path(hark_buf *out, const char *bare, size_t len);

/* Catalog lookup by bare name (models_catalog.c). */
const hark_model_info *hark__models_catalog_findn(const char *bare, size_t len);

/* ---- ggml structure (models_ggml.c) ---------------------------------------------------------- */

/* Read exactly `len` bytes at `off` into `dst`: 0, or a negative HARK_E* code. */
typedef int (*hark__model_read_fn)(void *ctx, uint64_t off, void *dst, size_t len);

/*
 * Walk a ggml Whisper file of `size` bytes (see hark_model_inspect): 0 when
 * it is structurally complete, else HARK_EMODEL with a message starting with
 * `what` ("ggml-base.en.bin: truncated: ..."), or the reader's error. `out`
 * is filled as far as the file could be read. Reads sequentially through a
 * 64 KiB window; never allocates more than that, whatever the input says.
 */
int hark__model_scan(hark_model_header *out, const char *what, hark__model_read_fn read, void *ctx,
                     uint64_t size);
/* The same over an open file descriptor (pread) or a memory buffer. */
int hark__model_scan_fd(hark_model_header *out, const char *what, int fd, uint64_t size);
int hark__model_scan_mem(hark_model_header *out, const char *what, const void *data, size_t len);

/* ---- checksums (models_digest.c) ------------------------------------------------------------ */

/*
 * SHA-256, and optionally SHA-1, of the same bytes side by side (libcrypto
 * EVP). SHA-1 doubles the cost, so it is computed only when it is the only
 * checksum to compare with.
 */
typedef struct hark__models_digest {
    void *sha1;   /* EVP_MD_CTX, NULL when not wanted */
    void *sha256; /* EVP_MD_CTX */
} hark__models_digest;

#define HARK__MODELS_DIGEST_INIT                                                                   \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

/* (Re)start; `d` must be HARK__MODELS_DIGEST_INIT or initialised before. */
int hark__models_digest_init(hark__models_digest *d, int with_sha1);
int hark__models_digest_update(hark__models_digest *d, const void *data, size_t len);
/* Lower-case hex into sha1 (41 bytes, "" if not computed) and sha256 (65 bytes); releases. */
int hark__models_digest_final(hark__models_digest *d, char *sha1, char *sha256);
void hark__models_digest_dispose(hark__models_digest *d);
/*
 * Feed bytes [0, len) of `fd` into `d` (pread, 1 MiB at a time), polling
 * abort(payload) between blocks (HARK_ECANCELED). `what` names the file in
 * messages.
 */
int hark__models_digest_fd(hark__models_digest *d, int fd, uint64_t len, const char *what,
                           int (*abort)(void *), void *payload);

/*
 * Compare a file of `size` bytes and digests with what is expected (any of
 * exp_size / exp_sha1 / exp_sha256 may be 0 / NULL = unknown): the size,
 * then the SHA-256 if known, else the SHA-1. Returns
 * HARK_MODEL_CHECKSUM_NONE when no checksum is known, else OK or MISMATCH;
 * on MISMATCH `why` (if not NULL) gets a one-line explanation.
 */
hark_model_checksum hark__models_compare(uint64_t size, const char *sha1, const char *sha256,
                                         uint64_t exp_size, const char *exp_sha1,
                                         const char *exp_sha256, hark_buf *why);

/* ---- HTTP helpers (models_fetch.c) ----------------------------------------------------------- */

/*
 * Parse the value of a Content-Range header: "bytes FIRST-LAST/TOTAL" (TOTAL
 * may be an asterisk: *total = 0), or for a 416 answer "bytes " + asterisk +
 * "/TOTAL" (*first = UINT64_MAX).
 * Returns 0, or HARK_ESYNTAX if `v` is not of that form.
 */
int hark__models_content_range(const char *v, size_t len, uint64_t *first, uint64_t *total);

#endif
