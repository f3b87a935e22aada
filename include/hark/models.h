/*
 * hark/models.h: Whisper model files: the catalog of downloadable models,
 * what is installed, downloading ("pull") and removal.
 *
 * Model files are whisper.cpp's ggml files, named as whisper.cpp names them
 * (ggml-<name>.bin) and kept in one directory: $HARK_MODELS_DIR, else
 * $XDG_DATA_HOME/hark/models, else ~/.local/share/hark/models. A name may be
 * given as "base.en", "ggml-base.en" or "ggml-base.en.bin".
 *
 * Fetch the default model if the network allows, and carry on without it
 * otherwise (what tools/setup.sh and `hark models pull base.en` do):
 *
 *     hark_models_pull_options opts;
 *     hark_buf path = HARK_BUF_INIT;
 *     int rc;
 *
 *     hark_models_pull_options_default(&opts);
 *     opts.progress = show_progress;            // optional, see hark_models_progress_format
 *     rc = hark_models_pull(&path, NULL, "base.en", &opts);
 *     if (rc == HARK_ENETWORK || rc == HARK_ETIMEOUT)
 *         fprintf(stderr, "offline, skipping: %s\n", hark_error_last());
 *     else if (rc < 0)
 *         fprintf(stderr, "hark: %s\n", hark_error_last());
 *     hark_buf_dispose(&path);
 *
 * A pull downloads into <file>.part, resumes an interrupted download with an
 * HTTP Range request, checks the size, the checksum (SHA-256 = the Hugging
 * Face LFS object id; whisper.cpp's published SHA-1 for a file whose SHA-256
 * is unknown) and the ggml structure, then fsyncs and renames the file into
 * place, so the final name only ever holds a complete, verified file.
 *
 * Thread safety: every function may be called from any thread. Pulls of
 * different models may run concurrently; a second pull of the same model
 * (in this or another process) fails with HARK_EBUSY while the first runs.
 */
#ifndef HARK_MODELS_H
#define HARK_MODELS_H

#include "common.h"

HARK_BEGIN_DECL

/* ---- catalog ------------------------------------------------------------------------------ */

/**
 * A model from the built-in catalog (whisper.cpp's models/download-ggml-model.sh
 * list). Everything is static and lives as long as the program.
 */
typedef struct hark_model_info {
    const char *name;   /**< "base.en", "large-v3-turbo-q5_0" */
    const char *family; /**< "tiny", "base", "small", "medium", "large-v1" ... "large-v3-turbo" */
    const char *quant;  /**< weight type: "f16", "q5_0", "q5_1", "q8_0" */
    int english_only;   /**< ".en" models: English only, no translation */
    uint64_t size;      /**< exact file size in bytes, 0 = not known */
    const char *sha1;   /**< hex SHA-1 whisper.cpp publishes, NULL = none; checked only
                             for a file without sha256 */
    const char *sha256; /**< hex SHA-256 of the file (what a pull checks), NULL = unknown */
    const char *url;    /**< default download URL */
} hark_model_info;

/** Number of catalog entries; hark_models_catalog_at(i) returns them in a stable order. */
HARK_API size_t hark_models_catalog_count(void);

/** Catalog entry `i` (borrowed, static), NULL when out of range. */
HARK_API const hark_model_info *hark_models_catalog_at(size_t i);

/** The catalog entry for `name` ("base.en" or "ggml-base.en.bin"), NULL if unknown. */
HARK_API const hark_model_info *hark_models_catalog_find(const char *name);

/* ---- inspecting model files --------------------------------------------------------------- */

/** What a ggml Whisper file says about itself (hyper-parameters as stored). */
typedef struct hark_model_header {
    int32_t n_vocab;       /**< tokens: 51864 English-only, 51865 multilingual, 51866 large-v3 */
    int32_t n_audio_ctx;   /**< encoder positions (1500) */
    int32_t n_audio_state; /**< encoder width */
    int32_t n_audio_head;  /**< encoder attention heads */
    int32_t n_audio_layer; /**< encoder layers (4 tiny, 6 base, 12 small, 24 medium, 32 large) */
    int32_t n_text_ctx;    /**< decoder positions (448) */
    int32_t n_text_state;  /**< decoder width */
    int32_t n_text_head;   /**< decoder attention heads */
    int32_t n_text_layer;  /**< decoder layers */
    int32_t n_mels;        /**< mel bands (80, 128 for large-v3) */
    int32_t ftype;         /**< weight type; ftype % 1000 is the ggml file type */
    uint32_t n_tokens;     /**< vocabulary entries stored in the file */
    uint32_t n_tensors;    /**< tensor records found */
    uint32_t n_tensors_expected; /**< 11 + 15 * n_audio_layer + 24 * n_text_layer */
    uint64_t n_params;           /**< elements over all tensors */
    uint64_t file_size;          /**< bytes */
    const char *type;  /**< "tiny" "base" "small" "medium" "large" "large-v3" "large-v3-turbo"
                            or "custom" (static) */
    const char *quant; /**< "f32" "f16" "q4_0" "q4_1" "q5_0" "q5_1" "q8_0" "q2_k".."q6_k"
                            or "unknown" (static) */
    int multilingual;  /**< n_vocab >= 51865 */
} hark_model_header;

/**
 * Read the header of the ggml Whisper file at `path` and walk its tensor
 * records without loading them: magic, hyper-parameters, mel filters,
 * vocabulary, then every tensor's shape and type, whose data sizes must add
 * up to the file size exactly, with the tensor count the hyper-parameters
 * imply. Fast (reads a few hundred KB even of a 3 GB file).
 * @param[out] out filled as far as the file could be read, also on HARK_EMODEL.
 * @return 0 when the file is structurally a complete Whisper model;
 *         HARK_EMODEL (message says what is wrong: "truncated", "bad magic" ...),
 *         HARK_ENOTFOUND, HARK_EIO.
 */
HARK_API int hark_model_inspect(hark_model_header *out, const char *path);

/* ---- installed models --------------------------------------------------------------------- */

/** Result of comparing a file with the catalog's checksums. */
typedef enum hark_model_checksum {
    HARK_MODEL_CHECKSUM_UNCHECKED = 0, /**< not computed (list without HARK_MODELS_LIST_VERIFY) */
    HARK_MODEL_CHECKSUM_NONE = 1,      /**< computed; nothing published to compare with */
    HARK_MODEL_CHECKSUM_OK = 2,        /**< size and SHA-256 (else SHA-1) match the catalog */
    HARK_MODEL_CHECKSUM_MISMATCH = 3,  /**< the size or the checksum differs */
} hark_model_checksum;

/** One model in the models directory. */
typedef struct hark_model_file {
    char *name;               /**< "base.en" */
    char *path;               /**< <models dir>/ggml-base.en.bin */
    int installed;            /**< the file itself exists (else only a .part does) */
    uint64_t size;            /**< bytes of the file, 0 if not installed */
    uint64_t partial_size;    /**< bytes of an unfinished download (<file>.part), 0 = none */
    int valid;                /**< hark_model_inspect() succeeded */
    char *problem;            /**< why it is not valid (one line); NULL if valid or not installed */
    hark_model_header header; /**< what the file says, as far as it could be read */
    const hark_model_info *info;  /**< catalog entry of the same name, NULL if none (static) */
    hark_model_checksum checksum; /**< see hark_model_checksum */
    char sha256[65];              /**< hex SHA-256 if computed (HARK_MODELS_LIST_VERIFY), else "" */
    char sha1[41];                /**< hex SHA-1, computed only when it is the catalog's only
                                       checksum, else "" */
} hark_model_file;

/** hark_models_list flag: hash every file and compare with the catalog (reads every byte). */
#define HARK_MODELS_LIST_VERIFY 1u

/**
 * The models in the models directory (ggml-*.bin and unfinished *.bin.part
 * downloads), sorted by name. A missing directory is an empty list.
 * @param[out] out array owned by the caller; free with hark_models_list_free.
 * @param[out] count number of entries.
 * @param flags 0 or HARK_MODELS_LIST_VERIFY.
 * @return 0, HARK_ENOMEM, HARK_EIO.
 */
HARK_API int hark_models_list(hark_model_file **out, size_t *count, unsigned flags);

/** Free a list from hark_models_list. NULL is ok. */
HARK_API void hark_models_list_free(hark_model_file *files, size_t count);

/** Append the models directory (not created) to `out`. */
HARK_API int hark_models_dir(hark_buf *out);

/**
 * Whether `name` can name a model ("base.en", "ggml-base.en.bin"): the bare
 * name is 1..128 of [A-Za-z0-9._-], not starting with '.' or '-', so it can
 * never reach outside the models directory. Makes no network or file access.
 * @return 0, or HARK_EINVAL with a message quoting the name.
 */
HARK_API int hark_models_check_name(const char *name);

/**
 * Append the path of an installed model to `out`: an existing file path is
 * used as given, a name is looked up in the models directory, NULL or ""
 * gives the default model (base.en, base, small.en ... whichever is
 * installed first).
 * @return 0, or HARK_ENOTFOUND whose message says how to get the model.
 */
HARK_API int hark_models_path(hark_buf *out, const char *name);

/**
 * Delete an installed model and any unfinished download of it. Only names
 * are accepted, never paths, so nothing outside the models directory goes.
 * @param[out] freed_out bytes removed (may be NULL).
 * @return 0, HARK_ENOTFOUND (neither exists), HARK_EINVAL (bad name), HARK_EIO.
 */
HARK_API int hark_models_rm(uint64_t *freed_out, const char *name);

/* ---- download ----------------------------------------------------------------------------- */

/** Stage of a pull, reported in hark_models_progress. */
typedef enum hark_models_phase {
    HARK_MODELS_PHASE_CONNECTING = 0,  /**< request sent, waiting for the response */
    HARK_MODELS_PHASE_DOWNLOADING = 1, /**< receiving the file */
    HARK_MODELS_PHASE_VERIFYING = 2,   /**< hashing and checking the downloaded file */
    HARK_MODELS_PHASE_DONE = 3,        /**< the model is in place */
} hark_models_phase;

/** Progress of a pull, passed to the progress callback. */
typedef struct hark_models_progress {
    const char *name; /**< the model being pulled */
    hark_models_phase phase;
    uint64_t done;         /**< bytes of the file on disk so far (a resumed part included) */
    uint64_t total;        /**< bytes of the whole file, 0 = not known yet */
    uint64_t resumed_from; /**< bytes taken over from an earlier unfinished download */
    double bytes_per_sec;  /**< average download speed of the current request */
    double elapsed_ms;     /**< since the pull started */
} hark_models_progress;

/** Options for hark_models_pull; initialise with hark_models_pull_options_default(). */
typedef struct hark_models_pull_options {
    unsigned version; /**< HARK_MODELS_PULL_OPTIONS_VERSION */
    /**
     * Where files are fetched from: <base_url>/ggml-<name>.bin. NULL: the
     * HARK_MODELS_URL environment variable, else the catalog URL
     * (https://huggingface.co/ggerganov/whisper.cpp/resolve/main). A mirror
     * must serve byte-identical files: the catalog checksums still apply.
     */
    const char *base_url;
    int force; /**< download even if a valid file is already installed */
    /** PEM file of CA certificates to trust instead of the system's (a mirror with a
        private CA), NULL = the system's. Certificates are always verified. */
    const char *ca_file;
    /**
     * Expected file, for files the catalog does not know (a mirror's own
     * models, tests). When any of these three is set, they replace the
     * catalog's values entirely. With neither, only the size announced by
     * the server and the ggml structure are checked.
     */
    const char *sha256;           /**< hex SHA-256 */
    const char *sha1;             /**< hex SHA-1, checked only when sha256 is NULL */
    uint64_t size;                /**< bytes */
    unsigned connect_timeout_ms;  /**< give up connecting after this long. Default 15000 */
    unsigned stall_bytes_per_sec; /**< a transfer slower than this ... Default 1024 */
    unsigned stall_seconds;  /**< ... for this many seconds fails (HARK_ETIMEOUT). Default 30 */
    unsigned max_retries;    /**< resume attempts after the connection drops mid-file. Default 3 */
    unsigned retry_delay_ms; /**< ms before the first retry, doubled per retry. Default 1000 */
    /** Called at most every 100 ms and at each phase change; keep it short. May be NULL. */
    void (*progress)(const hark_models_progress *p, void *payload);
    /** Polled while downloading and hashing; non-zero cancels (HARK_ECANCELED). May be NULL. */
    int (*abort)(void *payload);
    void *payload; /**< passed to progress and abort */
} hark_models_pull_options;

#define HARK_MODELS_PULL_OPTIONS_VERSION 1

/** Fill `opts` with the defaults. */
HARK_API void hark_models_pull_options_default(hark_models_pull_options *opts);

/** What a pull did (for the CLI's summary, and for tests). */
typedef struct hark_models_pull_result {
    int already_installed; /**< a valid file was there already; nothing was fetched */
    uint64_t size;         /**< bytes of the installed file */
    uint64_t downloaded;   /**< body bytes received over the network by this call */
    uint64_t resumed_from; /**< bytes reused from an earlier unfinished download */
    unsigned requests;     /**< HTTP requests made (retries included) */
    int range_ignored;     /**< the server answered a Range request with the whole file */
    char sha256[65];       /**< hex SHA-256 of the installed file ("" if already installed) */
    char sha1[41];         /**< hex SHA-1, computed only when it was the checksum checked */
    double elapsed_ms;
} hark_models_pull_result;

/**
 * Download model `name` into the models directory (created if missing).
 * Returns at once if a valid file is installed (unless opts->force).
 * Names outside the catalog are fetched from the base URL all the same and
 * verified by structure only (plus any checksum given in the options).
 *
 * Errors, each with a one-line message naming the model and the cause:
 * HARK_ENETWORK (offline, DNS failure, connection refused or lost, TLS,
 * HTTP 5xx), HARK_ETIMEOUT (the transfer stalled), HARK_ENOTFOUND (HTTP 404),
 * HARK_EAUTH (HTTP 401/403), HARK_ECORRUPT (size, checksum or structure
 * wrong: the partial file is deleted), HARK_ENOSPC (disk full), HARK_EBUSY
 * (another pull of the same model is running), HARK_ECANCELED (abort
 * callback), HARK_EINVAL (bad name), HARK_EIO. After a network error,
 * timeout, cancellation or a full disk the partial file is kept and the next
 * pull resumes it.
 *
 * @param[out] path_out the installed file's path is appended (may be NULL).
 * @param[out] result_out filled on success and on failure (may be NULL).
 * @param opts NULL = defaults.
 */
HARK_API int hark_models_pull(hark_buf *path_out, hark_models_pull_result *result_out,
                              const char *name, const hark_models_pull_options *opts);

/**
 * Format one line of progress for a terminal, at most `width` columns
 * (0 = 80), without a newline, e.g.
 * "base.en  45% [#########           ]  63.5/141.1 MiB  5.4 MiB/s  ETA 14s".
 * @param[out] out text appended.
 */
HARK_API int hark_models_progress_format(hark_buf *out, const hark_models_progress *p,
                                         unsigned width);

HARK_END_DECL

#endif
