/*
 * hark/run.h: transcribe a file the way `hark transcribe` and the server do:
 * answered from the result cache when it can be, kept in the store, and
 * resumable after a crash.
 *
 * Cache keys (SHA-256) cover the engine and model identity (a model file that
 * changes gets new keys), the engine's decoding options and the chunking:
 *   file:  the file's bytes          -> the whole transcript (fast path: no decoding)
 *   chunk: a chunk's 16 kHz PCM      -> that chunk's result, stored as soon as it is done
 *   audio: the whole 16 kHz PCM      -> the whole transcript
 * The chunk key is what lets the same audio in another container hit, and
 * what lets an interrupted run (Ctrl-C, kill -9, power loss) resume from the
 * last finished chunk: chunks are cut deterministically, so a rerun finds
 * every finished chunk in the cache and transcribes only the rest.
 *
 * In the store, a recording is matched on (content hash, engine, model,
 * options): a rerun of an interrupted transcription continues the same
 * recording, and segments are written per chunk with upserts on
 * (recording, seq), so nothing is duplicated or lost.
 */
#ifndef HARK_RUN_H
#define HARK_RUN_H

#include "common.h"
#include "cache.h"
#include "pipeline.h"
#include "store.h"

HARK_BEGIN_DECL

/** Options of hark_run_file; initialise with hark_run_options_default(). */
typedef struct hark_run_options {
    unsigned version;               /**< HARK_RUN_OPTIONS_VERSION */
    hark_pipeline_options pipeline; /**< workers, chunking, decoding, progress, abort */
    hark_store *store;              /**< keep the recording and its segments here; NULL = don't */
    hark_cache *cache;              /**< result cache; NULL = none */
    const char *title;              /**< recording title; NULL = the file's name */
    const char *audio_dir;          /**< keep the decoded audio as FLAC in this folder
                                         (<id>.flac; needs a store); NULL = don't */
    /**
     * Fill this existing recording (e.g. one created by hark_store_job_submit)
     * instead of finding or creating one: its title, source, owner, hash and
     * audio path are kept. 0 = find or create. Needs a store.
     */
    int64_t recording;
    /**
     * Keep chunk-level progress of this job (hark/jobs.h) in the store as the
     * run goes: every chunk cut, done (with its result) or failed. Results of
     * chunks finished by an earlier attempt of the job are used instead of
     * transcribing them again. 0 = none. Needs a store.
     */
    int64_t job;
    /** Hex SHA-256 of the file's bytes when the caller knows it already (an upload hashed
     *  while it arrived); NULL = hash the file. */
    const char *file_hash;
} hark_run_options;

#define HARK_RUN_OPTIONS_VERSION 1

HARK_API void hark_run_options_default(hark_run_options *opts);

/** What a run did. */
typedef struct hark_run_result {
    int64_t recording_id;   /**< the stored recording, 0 when not stored */
    int cached;             /**< the whole transcript came from the cache: no engine ran */
    int resumed;            /**< an earlier unfinished run of this recording was continued */
    uint32_t chunks;        /**< chunks in the recording (0 when cached) */
    uint32_t chunks_cached; /**< of which were found in the chunk cache */
    char file_hash[65];     /**< hex SHA-256 of the input's bytes, standard input and pipes
                                 included ("" when neither a store nor a cache was given) */
    char audio_hash[65];    /**< hex SHA-256 of the decoded 16 kHz PCM ("" when not decoded) */
    uint64_t audio_bytes;   /**< size of the FLAC archive written, 0 = none */
    double hash_ms;         /**< time spent opening and hashing (or copying) the input */
    char warning[256];      /**< decoder problems that did not stop it ("" = none) */
} hark_run_result;

/**
 * Transcribe `path` ("-" = standard input) with `engine`. The input is read
 * once: an input that cannot be seeked (standard input, a pipe, FIFO,
 * process substitution, socket) is copied to an unlinked temporary file in
 * $TMPDIR (else /tmp) while it is hashed, then decoded from that copy, so it
 * gets a file hash like a regular file. Waiting for data (a FIFO with no
 * writer yet) polls opts->pipeline.abort: HARK_ECANCELED with *out NULL.
 * @param[out] out the transcript, owned by the caller (set even on error: the
 *   part done so far; NULL when it failed or was canceled before decoding).
 * @param[out] res what happened (may be NULL).
 * @return as hark_transcribe_file; store and cache failures are errors too
 *   (HARK_EREADONLY, HARK_ENOSPC...), except cache writes, which are only
 *   logged.
 */
HARK_API int hark_run_file(hark_transcript **out, hark_run_result *res, hark_engine *engine,
                           const char *path, const hark_run_options *opts);

/**
 * What a run with `engine` and `pipeline` records in its recording: the
 * canonical options (a JSON object text, appended to `options`) and the model
 * identity (appended to `model`). A recording created with these
 * (hark_store_job_submit) is the one a later run with the same settings
 * finds. Either buffer may be NULL. @return 0, HARK_EINVAL, HARK_ENOMEM.
 */
HARK_API int hark_run_describe(hark_engine *engine, const hark_pipeline_options *pipeline,
                               hark_buf *options, hark_buf *model);

HARK_END_DECL

#endif
