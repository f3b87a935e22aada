/*
 * events.c: job progress as Server-Sent Events (server.h).
 *
 * GET /v1/jobs/{id}/events streams "event: <kind>\ndata: <json>\n\n" for
 * every event of the job (started, progress, segments, retry, done, dead,
 * canceled), starting with its current state ("event: state"), and ends
 * after the last one. OpenAI's stream=true transcriptions use the same
 * stream with their own shapes: {"type":"transcript.text.delta","delta"}
 * per new text and {"type":"transcript.text.done","text"} at the end.
 *
 * DESIGN
 * Each stream is an MHD callback response with its own buffer. The reader
 * hands out what is buffered; when there is nothing it suspends the
 * connection (no polling, no CPU while waiting) and delivery resumes it. A
 * client that does not read (more than STREAM_MAX buffered) is cut off
 * rather than letting its buffer grow without bound.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define STREAM_MAX (4u << 20)

struct srv_stream {
    srv *s;
    struct MHD_Connection *c;
    int64_t job;
    int openai;
    hark_buf buf;
    size_t off;
    int suspended, ended;
    srv_stream *next, **pprev;
};

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    srv_stream *st = cls;
    size_t n;
    (void)pos;
    if (st->off == st->buf.len) {
        hark_buf_clear(&st->buf);
        st->off = 0;
        if (st->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        st->suspended = 1;
        MHD_suspend_connection(st->c);
        return 0;
    }
    n = st->buf.len - st->off;
    if (n > max)
        n = max;
    memcpy(out, st->buf.ptr + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    srv_stream *st = cls;
    *st->pprev = st->next;
    if (st->next)
        st->next->pprev = st->pprev;
    hark_buf_dispose(&st->buf);
    hark__free(st);
}

static void wake(srv_stream *st)
{
    if (st->suspended) {
        st->suspended = 0;
        MHD_resume_connection(st->c);
    }
}

static void put_openai(srv_stream *st, const char *type, const char *key, const char *text)
{
    json_t *o = json_pack("{s:s,s:s}", "type", type, key, text ? text : "");
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (js)
        hark_buf_printf(&st->buf, "data: %s\n\n", js);
    free(js); /* libc: jansson allocates with malloc */
    json_decref(o);
}

static int terminal(hark_job_event_kind k)
{
    return k == HARK_JOB_EVENT_DONE || k == HARK_JOB_EVENT_DEAD || k == HARK_JOB_EVENT_CANCELED;
}

void srv_streams_deliver(srv *s, const srv_event *ev)
{
    srv_stream *st;
    for (st = s->streams; st; st = st->next) {
        if (st->job != ev->job || st->ended)
            continue;
        if (st->openai) {
            if (ev->kind == HARK_JOB_EVENT_SEGMENTS && ev->text)
                put_openai(st, "transcript.text.delta", "delta", ev->text);
            else if (ev->kind == HARK_JOB_EVENT_DONE)
                put_openai(st, "transcript.text.done", "text", ev->text);
            else if (terminal(ev->kind))
                put_openai(st, "error", "message", "the transcription failed or was canceled");
        } else {
            hark_buf_printf(&st->buf, "event: %s\ndata: %s\n\n", hark_job_event_name(ev->kind),
                            ev->json);
        }
        if (terminal(ev->kind))
            st->ended = 1;
        if (st->buf.len - st->off > STREAM_MAX) { /* not reading: cut it off */
            srv_log(s, 1, "job %lld: an event stream client is not reading; closing it",
                    (long long)st->job);
            hark_buf_clear(&st->buf);
            st->off = 0;
            st->ended = 1;
        }
        wake(st);
    }
}

void srv_streams_close_all(srv *s)
{
    srv_stream *st;
    for (st = s->streams; st; st = st->next) {
        if (!st->ended && !st->openai)
            hark_buf_puts(&st->buf, "event: shutdown\ndata: {}\n\n");
        st->ended = 1;
        wake(st);
    }
}

void srv_stream_start(srv_req *q, int64_t job_id, int openai)
{
    srv *s = q->s;
    srv_stream *st;
    hark_job *job = NULL;
    hark_job_chunk_list *chunks = NULL;
    hark_buf b = HARK_BUF_INIT;
    int rc;

    if ((rc = hark_store_job_get(s->store, job_id, &job)) < 0) {
        srv_error_hark(q, rc);
        return;
    }
    if (!(st = hark__calloc(1, sizeof(*st)))) {
        hark_job_free(job);
        srv_error(q, 503, "out_of_memory", "out of memory");
        return;
    }
    st->s = s;
    st->c = q->c;
    st->job = job_id;
    st->openai = openai;
    if (!openai) {
        hark_store_job_chunks(s->store, job_id, 0, &chunks);
        if (hark_render_job(&b, job, NULL, 0) == 0)
            hark_buf_printf(&st->buf, "event: state\ndata: %s\n\n", b.ptr);
        hark_job_chunk_list_free(chunks);
        hark_buf_dispose(&b);
    }
    if (job->state == HARK_JOB_DONE || job->state == HARK_JOB_DEAD ||
        job->state == HARK_JOB_CANCELED) {
        st->ended = 1;
        if (openai) {
            hark_transcript *t = NULL;
            if (job->state == HARK_JOB_DONE &&
                hark_store_transcript_get(s->store, job->recording, &t) == 0 &&
                hark_transcript_text(t, &b) == 0) {
                put_openai(st, "transcript.text.delta", "delta", b.ptr);
                put_openai(st, "transcript.text.done", "text", b.ptr);
            } else {
                put_openai(st, "error", "message", "the transcription failed or was canceled");
            }
            hark_transcript_free(t);
            hark_buf_dispose(&b);
        }
    }
    if (!st->ended)
        srv_watch_job(s, job_id); /* it may end in another process */
    hark_job_free(job);
    st->next = s->streams;
    st->pprev = &s->streams;
    if (s->streams)
        s->streams->pprev = &st->next;
    s->streams = st;
    if (q->resp)
        MHD_destroy_response(q->resp);
    q->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, st, stream_free);
    if (!q->resp) {
        stream_free(st);
        srv_error(q, 503, "out_of_memory", "out of memory");
        return;
    }
    q->status = 200;
    MHD_add_response_header(q->resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(q->resp, "Cache-Control", "no-cache");
    MHD_add_response_header(q->resp, "X-Accel-Buffering", "no");
}
