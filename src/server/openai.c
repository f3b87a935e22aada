/*
 * openai.c: the OpenAI-compatible endpoints (POST /v1/audio/transcriptions,
 * /v1/audio/translations, GET /v1/models) and whisper.cpp's POST /inference,
 * so clients written for those servers work unchanged.
 *
 * DESIGN
 * A synchronous transcription is an upload like POST /v1/recordings, as an
 * interactive-class job (ahead of bulk work on the scheduler); the request
 * then waits, suspended, until the job ends and is answered in the asked
 * response_format. Because it is a stored job, nothing is lost if the client
 * goes away or the server restarts: the transcript is in the store, and the
 * same bytes sent again are answered from it at once. stream=true answers
 * with Server-Sent Events as segments are merged (events.c).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

enum rfmt { F_JSON = 0, F_TEXT, F_SRT, F_VTT, F_VERBOSE };

static int parse_rfmt(const char *v, enum rfmt *out)
{
    if (!v || !*v || !strcmp(v, "json"))
        *out = F_JSON;
    else if (!strcmp(v, "text"))
        *out = F_TEXT;
    else if (!strcmp(v, "srt"))
        *out = F_SRT;
    else if (!strcmp(v, "vtt"))
        *out = F_VTT;
    else if (!strcmp(v, "verbose_json"))
        *out = F_VERBOSE;
    else
        return -1;
    return 0;
}

static void answer(srv_req *q, int64_t job_id)
{
    srv *s = q->s;
    hark_job *job = NULL;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_buf b = HARK_BUF_INIT, text = HARK_BUF_INIT;
    enum rfmt f = F_JSON;
    json_t *o = NULL;
    char *js = NULL;
    int rc;

    parse_rfmt(srv_upload_field(q, "response_format"), &f);
    if ((rc = hark_store_job_get(s->store, job_id, &job)) < 0) {
        srv_error_hark(q, rc);
        goto out;
    }
    if (job->state == HARK_JOB_DEAD) {
        srv_error(q, 500, "transcription_failed", "the transcription failed: %s",
                  job->error ? job->error : "unknown error");
        goto out;
    }
    if (job->state == HARK_JOB_CANCELED) {
        srv_error(q, 409, "canceled", "job %lld was canceled", (long long)job_id);
        goto out;
    }
    if ((rc = hark_store_recording_get(s->store, job->recording, &rec)) < 0 ||
        (rc = hark_store_transcript_get(s->store, job->recording, &t)) < 0 ||
        (rc = hark_transcript_text(t, &text)) < 0) {
        srv_error_hark(q, rc);
        goto out;
    }
    switch (f) {
    case F_TEXT:
        hark_buf_puts(&text, "\n");
        srv_reply(q, 200, "text/plain; charset=utf-8", text.ptr, text.len);
        break;
    case F_SRT:
    case F_VTT:
        if ((rc = hark_transcript_write(t, f == F_SRT ? HARK_FORMAT_SRT : HARK_FORMAT_VTT, &b)) < 0)
            srv_error_hark(q, rc);
        else
            srv_reply(q, 200,
                      f == F_SRT ? "application/x-subrip; charset=utf-8"
                                 : "text/vtt; charset=utf-8",
                      b.ptr, b.len);
        break;
    case F_VERBOSE: {
        /* OpenAI's verbose_json, with each segment's real decoder figures and hark's own
         * "confidence" (clients such as hark's remote engine use it); "words" (with their
         * probability) when timestamp_granularities[] asks for word */
        json_t *segs = json_array(), *words = NULL;
        size_t i;
        uint32_t k;
        if (srv_upload_field_has(q, "timestamp_granularities[]", "word") ||
            srv_upload_field_has(q, "timestamp_granularities", "word"))
            words = json_array();
        for (i = 0; i < hark_transcript_count(t); i++) {
            const hark_segment *g = hark_transcript_segment(t, i);
            json_array_append_new(
                segs,
                json_pack("{s:I,s:i,s:f,s:f,s:s,s:[],s:f,s:f,s:f,s:f,s:f}", "id", (json_int_t)i,
                          "seek", 0, "start", (double)g->start / HARK_SAMPLE_RATE, "end",
                          (double)g->end / HARK_SAMPLE_RATE, "text", g->text, "tokens",
                          "temperature", (double)g->temperature, "avg_logprob",
                          (double)g->avg_logprob, "compression_ratio", (double)g->compression_ratio,
                          "no_speech_prob", (double)g->no_speech_prob, "confidence",
                          (double)g->confidence));
            for (k = 0; words && k < g->n_words; k++)
                json_array_append_new(
                    words, json_pack("{s:s,s:f,s:f,s:f}", "word", g->words[k].text, "start",
                                     (double)g->words[k].start / HARK_SAMPLE_RATE, "end",
                                     (double)g->words[k].end / HARK_SAMPLE_RATE, "probability",
                                     (double)g->words[k].p));
        }
        o = json_pack("{s:s,s:s,s:f,s:s,s:o,s:I,s:I}", "task",
                      q->translate ? "translate" : "transcribe", "language",
                      rec->language ? rec->language : "en", "duration",
                      (double)hark_transcript_duration(t) / HARK_SAMPLE_RATE, "text",
                      text.ptr ? text.ptr : "", "segments", segs, "x_hark_recording",
                      (json_int_t)rec->id, "x_hark_job", (json_int_t)job_id);
        if (o && words)
            json_object_set_new(o, "words", words);
        else
            json_decref(words);
        break;
    }
    default:
        o = json_pack("{s:s}", "text", text.ptr ? text.ptr : "");
        break;
    }
    if (o) {
        js = json_dumps(o, JSON_COMPACT);
        if (js)
            srv_reply(q, 200, "application/json", js, strlen(js));
        else
            srv_error(q, 503, "out_of_memory", "out of memory");
    }
out:
    free(js); /* libc: jansson allocates with malloc */
    json_decref(o);
    hark_buf_dispose(&b);
    hark_buf_dispose(&text);
    hark_transcript_free(t);
    hark_recording_free(rec);
    hark_job_free(job);
}

static void job_ended(srv_req *q)
{
    answer(q, q->wait_job);
}

static void uploaded(srv_req *q)
{
    srv_upload_result r;
    hark_job *job = NULL;
    const char *st;
    if (srv_upload_result_get(q, &r) < 0)
        return; /* answered */
    st = r.field_stream;
    if (st && (!strcmp(st, "true") || !strcmp(st, "1"))) {
        srv_stream_start(q, r.job, 1);
        return;
    }
    if (hark_store_job_get(q->s->store, r.job, &job) == 0 &&
        (job->state == HARK_JOB_DONE || job->state == HARK_JOB_DEAD ||
         job->state == HARK_JOB_CANCELED)) {
        hark_job_free(job);
        answer(q, r.job); /* the same audio was transcribed before */
        return;
    }
    hark_job_free(job);
    srv_wait_job(q, r.job, job_ended);
}

static void start(srv_req *q)
{
    enum rfmt f;
    const char *v = srv_upload_field(q, "response_format");
    if (parse_rfmt(v, &f) < 0) {
        srv_error(q, 400, "invalid_argument",
                  "response_format must be json, text, srt, vtt or verbose_json, not '%.32s'", v);
        return;
    }
    srv_upload_finish(q, HARK_PRIORITY_INTERACTIVE, uploaded);
}

void srv_openai_transcribe(srv_req *q)
{
    start(q);
}

void srv_openai_translate(srv_req *q)
{
    q->translate = 1;
    start(q);
}

void srv_whisper_inference(srv_req *q)
{
    start(q);
}

void srv_openai_models(srv_req *q)
{
    srv *s = q->s;
    hark_buf id = HARK_BUF_INIT, b = HARK_BUF_INIT;
    json_t *o;
    char *js;
    hark_buf_printf(&id, "%s", hark_engine_name(s->engine));
    o = json_pack("{s:s,s:[{s:s,s:s,s:I,s:s},{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id",
                  "whisper-1", "object", "model", "created",
                  (json_int_t)(s->started_unix_ms / 1000), "owned_by", "hark", "id",
                  id.ptr ? id.ptr : "hark", "object", "model", "created",
                  (json_int_t)(s->started_unix_ms / 1000), "owned_by", "hark");
    js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (js)
        srv_reply(q, 200, "application/json", js, strlen(js));
    else
        srv_error(q, 503, "out_of_memory", "out of memory");
    free(js); /* libc: jansson allocates with malloc */
    json_decref(o);
    hark_buf_dispose(&id);
    hark_buf_dispose(&b);
}
