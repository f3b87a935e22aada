/*
 * hark/render.h: the JSON renderings of stored objects, shared by the
 * command line (`--json`) and the server's API, so both speak the same
 * shapes. Each function appends one JSON value (compact, or indented with
 * HARK_RENDER_PRETTY) to `out`; numbers have a fixed format, so the output
 * is byte-stable. Times are Unix ms ("created_ms") and durations ms, as in
 * the store. Times that have not happened (0 in the struct: started_ms,
 * finished_ms, not_before_ms, revoked_ms) and an audit entry's absent user
 * or key (0) are null; absent strings are null. An audit entry's detail is
 * embedded as JSON when it is valid JSON (the store only accepts JSON
 * objects), else as a string. A job chunk's start_ms/end_ms are its sample
 * range in ms. On failure nothing is appended to `out`.
 *
 * Shapes:
 *   recording: {"id","title","source","status","created_ms","updated_ms",
 *               "duration_ms","engine","model","language","segments",
 *               "content_hash","has_audio"[, "audio_path" with HARK_RENDER_LOCAL]}
 *   recording list: {"recordings":[recording...],"next_cursor":ID|null}
 *   search result: {"hits":[{"recording","title","created_ms","seq","start_ms",
 *                   "end_ms","text","snippet","score"}...],"more":bool,"windowed":bool}
 *   job: {"id","recording","kind","priority","state","attempts","max_attempts",
 *         "error","created_ms","updated_ms","started_ms","finished_ms",
 *         "not_before_ms","progress":{"chunks_total","chunks_done",
 *         "chunks_failed","final"}[, "chunks":[{"index","start_ms","end_ms",
 *         "state","attempts","error"}...]]}
 *   job list: {"jobs":[job...],"next_cursor":ID|null}
 *   key: {"id","user","user_name","name","prefix","admin","created_ms","revoked_ms"}
 *   key list: {"keys":[key...]}
 *   audit list: {"entries":[{"id","ts_ms","user","key","action","detail"}...],
 *                "next_cursor":ID|null}
 */
#ifndef HARK_RENDER_H
#define HARK_RENDER_H

#include "auth.h"
#include "common.h"
#include "jobs.h"
#include "store.h"

HARK_BEGIN_DECL

/** Rendering flags. */
enum {
    HARK_RENDER_PRETTY = 1, /**< indent with two spaces per level, newline at the end */
    HARK_RENDER_LOCAL = 2   /**< include local file paths (command line; never over the network) */
};

HARK_API int hark_render_recording(hark_buf *out, const hark_recording *rec, unsigned flags);
HARK_API int hark_render_recording_list(hark_buf *out, const hark_recording_list *list,
                                        unsigned flags);
HARK_API int hark_render_search(hark_buf *out, const hark_search_result *res, unsigned flags);
/** `chunks` may be NULL (no "chunks" array). */
HARK_API int hark_render_job(hark_buf *out, const hark_job *job, const hark_job_chunk_list *chunks,
                             unsigned flags);
HARK_API int hark_render_job_list(hark_buf *out, const hark_job_list *list, unsigned flags);
HARK_API int hark_render_key(hark_buf *out, const hark_api_key *key, unsigned flags);
HARK_API int hark_render_key_list(hark_buf *out, const hark_api_key_list *list, unsigned flags);
HARK_API int hark_render_audit_list(hark_buf *out, const hark_audit_list *list, unsigned flags);

HARK_END_DECL

#endif
