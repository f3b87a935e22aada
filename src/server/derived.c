/*
 * derived.c: a recording's summary and translation over the REST API
 * (routes in routes.c):
 *
 *   POST /v1/recordings/{id}/summary       queue a "summarize" job: 202 {recording, job}
 *   GET  /v1/recordings/{id}/summary       {recording, summary|null, updated_ms, meta, job}
 *   POST /v1/recordings/{id}/translation   queue a "translate" job: 202 {recording, job}
 *   GET  /v1/recordings/{id}/translation   {recording, translation|null, updated_ms, meta, job}
 *
 * DESIGN
 * Both are jobs of the durable queue in the maintenance class, below every
 * transcription (the runner claims by class), run by the job runner
 * (runner.c: run_summary, run_translation), which stores the result with the
 * recording (hark_store_text_put). A POST while a job of that kind for the
 * recording is queued or running answers that job (200) instead of queueing
 * another. Without a summary endpoint configured the summary POST answers
 * 501 with how to configure one; an engine that cannot translate answers
 * 422. The GETs give the stored text and the newest job of that kind (its
 * state and last error), each null when there is none (404 only for a
 * recording that does not exist or is not the caller's).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void srv_summary_post(srv_req *q);
void srv_summary_get(srv_req *q);
void srv_translation_post(srv_req *q);
void srv_translation_get(srv_req *q);

/* The recording, if this caller may see it; else answers 404 and returns NULL. */
static hark_recording *visible_recording(srv_req *q)
{
    hark_recording *r = NULL;
    int rc = hark_store_recording_get(q->s->store, q->ids[0], &r);
    if (rc == HARK_ENOTFOUND || (rc == 0 && !q->who.admin && r->owner != q->who.user)) {
        hark_recording_free(r);
        srv_error(q, 404, "not_found", "no recording %lld", (long long)q->ids[0]);
        return NULL;
    }
    if (rc < 0) {
        srv_error_hark(q, rc);
        return NULL;
    }
    return r;
}

/* The newest job of `kind` for recording `rec` (copied into *out), 1; 0 = none; < 0 error. */
static int newest_job(srv *s, int64_t rec, const char *kind, hark_job *out, char *err,
                      size_t err_size)
{
    hark_job_list_options lo = HARK_JOB_LIST_OPTIONS_INIT;
    hark_job_list *list = NULL;
    size_t i;
    int rc, found = 0;
    lo.recording = rec;
    lo.limit = 1000;
    if ((rc = hark_store_job_list(s->store, &lo, &list)) < 0)
        return rc;
    for (i = 0; i < list->n && !found; i++)
        if (list->items[i].kind && !strcmp(list->items[i].kind, kind)) {
            *out = list->items[i];
            snprintf(err, err_size, "%s", out->error ? out->error : "");
            out->kind = out->params = out->error = out->lease_owner = NULL;
            found = 1;
        }
    hark_job_list_free(list);
    return found;
}

static void reply_queued(srv_req *q, int64_t rec, int64_t job, int existed, const char *what)
{
    hark_buf b = HARK_BUF_INIT;
    char loc[96];
    hark_buf_printf(&b,
                    "{\"recording\":%lld,\"job\":%lld,\"existed\":%s,\"links\":{\"job\":"
                    "\"/v1/jobs/%lld\",\"events\":\"/v1/jobs/%lld/events\",\"%s\":"
                    "\"/v1/recordings/%lld/%s\"}}",
                    (long long)rec, (long long)job, existed ? "true" : "false", (long long)job,
                    (long long)job, what, (long long)rec, what);
    srv_reply_json(q, existed ? 200 : 202, &b);
    snprintf(loc, sizeof(loc), "/v1/recordings/%lld/%s", (long long)rec, what);
    srv_header(q, "Location", loc);
}

/* Queue a job of `kind` for the recording of the request (or answer the one pending). */
static void queue(srv_req *q, hark_recording *r, const char *kind, const char *what)
{
    srv *s = q->s;
    hark_job j = HARK_JOB_INIT, pending;
    char err[8];
    int64_t id = 0;
    int rc;

    if (s->mode == MODE_MAINTENANCE) {
        srv_error(q, 503, "maintenance", "the server is in maintenance mode");
        return;
    }
    if (r->status == HARK_STATUS_FAILED || r->status == HARK_STATUS_CANCELED) {
        srv_error(q, 409, "conflict",
                  "recording %lld has no complete transcript (%s): retry its transcription "
                  "first",
                  (long long)r->id, hark_recording_status_name(r->status));
        return;
    }
    if ((rc = newest_job(s, r->id, kind, &pending, err, sizeof(err))) < 0) {
        srv_error_hark(q, rc);
        return;
    }
    if (rc == 1 && (pending.state == HARK_JOB_QUEUED || pending.state == HARK_JOB_RUNNING)) {
        reply_queued(q, r->id, pending.id, 1, what);
        return;
    }
    j.recording = r->id;
    j.owner = r->owner;
    j.kind = kind;
    j.priority = HARK_PRIORITY_MAINTENANCE; /* below every transcription */
    j.max_attempts = (unsigned)s->cfg.max_attempts;
    if ((rc = hark_store_job_add(s->store, &j, &id)) < 0) {
        srv_error_hark(q, rc);
        return;
    }
    hark_runner_wake(s->runner);
    {
        char detail[96];
        snprintf(detail, sizeof(detail), "{\"recording\":%lld,\"job\":%lld}", (long long)r->id,
                 (long long)id);
        if (hark_store_audit_add(
                s->store, q->who.user, q->who.key,
                !strcmp(kind, "summarize") ? "summary.create" : "translation.create", detail) < 0)
            srv_log(s, 1, "audit: %s", hark_error_last());
    }
    reply_queued(q, r->id, id, 0, what);
}

/* GET: the stored text of `kind` and the newest job of `job_kind`. */
static void get_text(srv_req *q, const char *kind, const char *job_kind)
{
    srv *s = q->s;
    hark_recording *r = visible_recording(q);
    hark_buf text = HARK_BUF_INIT, meta = HARK_BUF_INIT;
    hark_job job;
    json_t *o = NULL, *m = NULL;
    char *js = NULL, err[512];
    int64_t updated = 0;
    int rc, have_text, have_job;

    if (!r)
        return;
    rc = hark_store_text_get(s->store, r->id, kind, &text, &meta, &updated);
    if (rc < 0 && rc != HARK_ENOTFOUND) {
        srv_error_hark(q, rc);
        goto out;
    }
    have_text = rc == 0;
    if ((have_job = newest_job(s, r->id, job_kind, &job, err, sizeof(err))) < 0) {
        srv_error_hark(q, have_job);
        goto out;
    }
    if (have_text && meta.len)
        m = json_loads(meta.ptr, 0, NULL);
    o = json_pack("{s:I, s:o, s:I, s:o, s:o}", "recording", (json_int_t)r->id, kind,
                  have_text ? json_string(text.ptr ? text.ptr : "") : json_null(), "updated_ms",
                  (json_int_t)updated, "meta", m ? m : json_null(), "job",
                  have_job ? json_pack("{s:I, s:s, s:i, s:s?}", "id", (json_int_t)job.id, "state",
                                       hark_job_state_name(job.state), "attempts",
                                       (int)job.attempts, "error", err[0] ? err : NULL)
                           : json_null());
    m = NULL; /* taken by o ("o" steals) */
    if (!o || !(js = json_dumps(o, JSON_COMPACT))) {
        srv_error(q, 500, "internal", "out of memory");
        goto out;
    }
    {
        hark_buf b = HARK_BUF_INIT;
        if (hark_buf_puts(&b, js) < 0)
            srv_error(q, 500, "internal", "out of memory");
        else
            srv_reply_json(q, 200, &b);
        hark_buf_dispose(&b);
    }
out:
    free(js); /* libc: json_dumps allocates with malloc */
    if (o)
        json_decref(o);
    if (m)
        json_decref(m);
    hark_buf_dispose(&text);
    hark_buf_dispose(&meta);
    hark_recording_free(r);
}

void srv_summary_post(srv_req *q)
{
    hark_recording *r = visible_recording(q);
    if (!r)
        return;
    if (!q->s->summary.url) {
        srv_error(q, 501, "not_configured",
                  "summaries need an OpenAI-compatible chat-completions server: start hark serve "
                  "with --summary-url URL (or HARK_SUMMARY_URL, or summary_url in the config "
                  "file), and --summary-model NAME");
    } else {
        queue(q, r, HARK_JOB_KIND_SUMMARIZE, "summary");
    }
    hark_recording_free(r);
}

void srv_summary_get(srv_req *q)
{
    get_text(q, "summary", HARK_JOB_KIND_SUMMARIZE);
}

void srv_translation_post(srv_req *q)
{
    hark_recording *r = visible_recording(q);
    if (!r)
        return;
    if (!hark_runner_can_translate(q->s->engine)) {
        srv_error(q, 422, "unsupported_engine",
                  "the %s engine cannot translate: run hark serve with --engine whisper (a "
                  "multilingual model) to translate recordings",
                  hark_engine_name(q->s->engine));
    } else {
        queue(q, r, HARK_JOB_KIND_TRANSLATE, "translation");
    }
    hark_recording_free(r);
}

void srv_translation_get(srv_req *q)
{
    get_text(q, "translation", HARK_JOB_KIND_TRANSLATE);
}
