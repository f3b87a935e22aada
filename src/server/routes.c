/*
 * routes.c: the REST API of `hark serve` (server.h): the route table and the
 * handlers for recordings, jobs, search, health, metrics and admin.
 *
 * Every handler runs on the loop thread after the body is in. Reads go to
 * the store directly (indexed SQLite queries of well under a millisecond);
 * what may block longer (storing an upload) is offloaded. Callers with a
 * non-admin key see only their own recordings and jobs: anything else is
 * 404, exactly as if it did not exist.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "../asr/asr.h"

void srv_openai_transcribe(srv_req *q);
void srv_openai_translate(srv_req *q);
void srv_whisper_inference(srv_req *q);
void srv_openai_models(srv_req *q);
void srv_summary_post(srv_req *q);
void srv_summary_get(srv_req *q);
void srv_translation_post(srv_req *q);
void srv_translation_get(srv_req *q);

/* ---- helpers ----------------------------------------------------------------------------------
 */

static void audit(srv_req *q, const char *action, const char *fmt, ...) HARK_PRINTF(3, 4);
static void audit(srv_req *q, const char *action, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (hark_store_audit_add(q->s->store, q->who.user, q->who.key, action, detail) < 0)
        srv_log(q->s, 1, "audit %s: %s", action, hark_error_last());
}

/* The recording, if this caller may see it; else answers (404) and returns NULL. */
static hark_recording *get_recording(srv_req *q, int64_t id)
{
    hark_recording *r = NULL;
    int rc = hark_store_recording_get(q->s->store, id, &r);
    if (rc == HARK_ENOTFOUND || (rc == 0 && !q->who.admin && r->owner != q->who.user)) {
        hark_recording_free(r);
        srv_error(q, 404, "not_found", "no recording %lld", (long long)id);
        return NULL;
    }
    if (rc < 0) {
        srv_error_hark(q, rc);
        return NULL;
    }
    return r;
}

static hark_job *get_job(srv_req *q, int64_t id)
{
    hark_job *j = NULL;
    int rc = hark_store_job_get(q->s->store, id, &j);
    if (rc == HARK_ENOTFOUND || (rc == 0 && !q->who.admin && j->owner != q->who.user)) {
        hark_job_free(j);
        srv_error(q, 404, "not_found", "no job %lld", (long long)id);
        return NULL;
    }
    if (rc < 0) {
        srv_error_hark(q, rc);
        return NULL;
    }
    return j;
}

static int64_t parse_time_arg(srv_req *q, const char *name, int *bad)
{
    int64_t v;
    if (srv_arg_int(q, name, 0, INT64_MAX, 0, &v) < 0)
        *bad = 1;
    return v;
}

/* ---- health and metrics -------------------------------------------------------------------------
 */

static void health(srv_req *q)
{
    hark_buf b = HARK_BUF_INIT;
    hark_buf_printf(&b, "{\"status\":\"ok\",\"version\":\"%s\",\"uptime_s\":%.0f}", hark_version(),
                    (hark__now_ms() - q->s->started_ms) / 1000);
    srv_reply_json(q, 200, &b);
}

static void ready(srv_req *q)
{
    srv *s = q->s;
    hark_job_counts c;
    hark_buf b = HARK_BUF_INIT;
    int store_ok = hark_store_job_counts(s->store, &c) == 0;
    int ok = store_ok && s->mode != MODE_MAINTENANCE && !s->stopping;
    hark_buf_printf(&b,
                    "{\"ready\":%s,\"store\":%s,\"mode\":\"%s\",\"engine\":\"%s\","
                    "\"model_loaded\":%s,\"keys_required\":%s,\"workers\":%u}",
                    ok ? "true" : "false", store_ok ? "true" : "false", srv_mode_name(s->mode),
                    hark_engine_name(s->engine),
                    hark_engine_model_loaded(s->engine) ? "true" : "false",
                    s->auth_required ? "true" : "false", /* the web UI asks for a key or not */
                    hark_scheduler_workers(s->sched));   /* 0: API only, jobs run elsewhere */
    srv_reply_json(q, ok ? 200 : 503, &b);
}

static void metrics(srv_req *q)
{
    srv *s = q->s;
    hark_buf b = HARK_BUF_INIT;
    hark_job_counts jc;
    hark_scheduler_stats ss;
    hark_runner_stats rs;
    static const double bounds[12] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000 };
    size_t r, i, k;
    char line[160];

    hark_buf_puts(&b, "# HELP hark_http_requests_total HTTP requests answered.\n"
                      "# TYPE hark_http_requests_total counter\n");
    for (r = 0; r <= srv_n_routes && r < 64; r++)
        for (k = 1; k <= 5; k++)
            if (s->m.by_route[r][k])
                hark_buf_printf(&b,
                                "hark_http_requests_total{method=\"%s\",route=\"%s\","
                                "code=\"%zuxx\"} %llu\n",
                                r ? srv_routes[r - 1].method : "",
                                r ? srv_routes[r - 1].name : "unmatched", k,
                                (unsigned long long)s->m.by_route[r][k]);
    hark_buf_puts(&b, "# HELP hark_http_request_duration_ms Time to answer, ms.\n"
                      "# TYPE hark_http_request_duration_ms histogram\n");
    for (r = 1; r <= srv_n_routes && r < 64; r++) {
        uint64_t n = 0;
        for (k = 1; k <= 5; k++)
            n += s->m.by_route[r][k];
        if (!n)
            continue;
        for (i = 0; i < 12; i++) {
            snprintf(line, sizeof(line),
                     "hark_http_request_duration_ms_bucket{method=\"%s\",route=\"%s\","
                     "le=\"%g\"} %llu\n",
                     srv_routes[r - 1].method, srv_routes[r - 1].name, bounds[i],
                     (unsigned long long)s->m.latency_bucket[r][i]);
            hark_buf_puts(&b, line);
        }
        hark_buf_printf(&b,
                        "hark_http_request_duration_ms_bucket{method=\"%s\",route=\"%s\","
                        "le=\"+Inf\"} %llu\n",
                        srv_routes[r - 1].method, srv_routes[r - 1].name, (unsigned long long)n);
        hark_buf_printf(&b, "hark_http_request_duration_ms_sum{method=\"%s\",route=\"%s\"} %.3f\n",
                        srv_routes[r - 1].method, srv_routes[r - 1].name, s->m.latency_sum[r]);
        hark_buf_printf(&b,
                        "hark_http_request_duration_ms_count{method=\"%s\",route=\"%s\"} %llu\n",
                        srv_routes[r - 1].method, srv_routes[r - 1].name, (unsigned long long)n);
    }
    hark_buf_printf(
        &b,
        "# TYPE hark_http_connections gauge\nhark_http_connections %llu\n"
        "# TYPE hark_http_connections_total counter\nhark_http_connections_total %llu\n"
        "# TYPE hark_http_slow_clients_closed_total counter\n"
        "hark_http_slow_clients_closed_total %llu\n"
        "# TYPE hark_http_rejected_total counter\nhark_http_rejected_total{reason=\"429\"} %llu\n"
        "# TYPE hark_uploads_total counter\nhark_uploads_total %llu\n"
        "hark_uploads_existing_total %llu\n"
        "# TYPE hark_upload_bytes_total counter\nhark_upload_bytes_total %llu\n",
        (unsigned long long)s->m.connections_open, (unsigned long long)s->m.connections_total,
        (unsigned long long)s->m.guard_closed, (unsigned long long)s->m.rejected_429,
        (unsigned long long)s->m.uploads, (unsigned long long)s->m.uploads_existing,
        (unsigned long long)s->m.upload_bytes);
    if (hark_store_job_counts(s->store, &jc) == 0) {
        hark_buf_puts(&b, "# HELP hark_jobs Jobs in the queue by state and class.\n"
                          "# TYPE hark_jobs gauge\n");
        for (i = 0; i < HARK_JOB_STATE_COUNT; i++)
            for (k = 0; k < HARK_PRIORITY_COUNT; k++)
                hark_buf_printf(&b, "hark_jobs{state=\"%s\",priority=\"%s\"} %llu\n",
                                hark_job_state_name((hark_job_state)i),
                                hark_priority_name((hark_priority)k),
                                (unsigned long long)jc.n[i][k]);
    }
    hark_runner_stats_get(s->runner, &rs);
    hark_buf_printf(&b,
                    "# TYPE hark_runner_running gauge\nhark_runner_running %u\n"
                    "# TYPE hark_runner_jobs_total counter\n"
                    "hark_runner_jobs_total{outcome=\"claimed\"} %llu\n"
                    "hark_runner_jobs_total{outcome=\"done\"} %llu\n"
                    "hark_runner_jobs_total{outcome=\"retried\"} %llu\n"
                    "hark_runner_jobs_total{outcome=\"dead\"} %llu\n"
                    "hark_runner_jobs_total{outcome=\"canceled\"} %llu\n"
                    "hark_runner_jobs_total{outcome=\"released\"} %llu\n",
                    rs.running, (unsigned long long)rs.claimed, (unsigned long long)rs.done,
                    (unsigned long long)rs.retried, (unsigned long long)rs.dead,
                    (unsigned long long)rs.canceled, (unsigned long long)rs.released);
    hark_scheduler_stats_get(s->sched, &ss); /* NULL (API only): all zero */
    hark_buf_printf(&b,
                    "# TYPE hark_workers gauge\nhark_workers %u\nhark_workers_busy %u\n"
                    "# TYPE hark_chunks_total counter\nhark_chunks_total %llu\n"
                    "# TYPE hark_chunks_queued gauge\n",
                    ss.workers, ss.busy, (unsigned long long)ss.done);
    for (k = 0; k < HARK_PRIORITY_COUNT; k++)
        hark_buf_printf(&b, "hark_chunks_queued{priority=\"%s\"} %llu\n",
                        hark_priority_name((hark_priority)k), (unsigned long long)ss.queued[k]);
    {
        const double *hb = hark_scheduler_bucket_bounds();
        uint64_t cum = 0;
        hark_buf_puts(&b, "# TYPE hark_chunk_duration_ms histogram\n");
        for (i = 0; i < HARK_SCHEDULER_BUCKETS; i++) {
            cum += ss.hist[i];
            if (i + 1 < HARK_SCHEDULER_BUCKETS)
                hark_buf_printf(&b, "hark_chunk_duration_ms_bucket{le=\"%g\"} %llu\n", hb[i],
                                (unsigned long long)cum);
        }
        hark_buf_printf(&b, "hark_chunk_duration_ms_bucket{le=\"+Inf\"} %llu\n",
                        (unsigned long long)cum);
        hark_buf_printf(&b, "hark_chunk_duration_ms_sum %.3f\nhark_chunk_duration_ms_count %llu\n",
                        ss.hist_sum_ms, (unsigned long long)cum);
    }
    hark_buf_printf(&b,
                    "# TYPE hark_engine_states_created_total counter\n"
                    "hark_engine_states_created_total %u\n"
                    "# TYPE hark_model_loads_total counter\nhark_model_loads_total %u\n",
                    hark__engine_states_made(s->engine), hark__engine_load_count(s->engine));
    hark_buf_printf(&b,
                    "# TYPE hark_model_loaded gauge\nhark_model_loaded %d\n"
                    "# TYPE hark_mode gauge\nhark_mode{mode=\"%s\"} 1\n"
                    "# TYPE process_resident_memory_peak_bytes gauge\n"
                    "process_resident_memory_peak_bytes %llu\n"
                    "# TYPE hark_uptime_seconds gauge\nhark_uptime_seconds %.0f\n",
                    hark_engine_model_loaded(s->engine), srv_mode_name(s->mode),
                    (unsigned long long)hark__peak_rss(), (hark__now_ms() - s->started_ms) / 1000);
    if (s->cache) {
        hark_cache_statistics cs;
        if (hark_cache_stats(s->cache, &cs) == 0)
            hark_buf_printf(&b,
                            "# TYPE hark_cache_lookups_total counter\n"
                            "hark_cache_lookups_total{result=\"hit\"} %llu\n"
                            "hark_cache_lookups_total{result=\"miss\"} %llu\n"
                            "# TYPE hark_cache_entries gauge\nhark_cache_entries %llu\n",
                            (unsigned long long)cs.hits, (unsigned long long)cs.misses,
                            (unsigned long long)cs.entries);
    }
    {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            hark_buf_printf(&b,
                            "# TYPE process_cpu_seconds_total counter\n"
                            "process_cpu_seconds_total %.3f\n",
                            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    }
    {
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long size, res;
        if (f && fscanf(f, "%lu %lu", &size, &res) == 2)
            hark_buf_printf(&b,
                            "# TYPE process_resident_memory_bytes gauge\n"
                            "process_resident_memory_bytes %llu\n",
                            (unsigned long long)res * (unsigned long long)sysconf(_SC_PAGESIZE));
        if (f)
            fclose(f);
    }
    srv_reply(q, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr, b.len);
    hark_buf_dispose(&b);
}

/* ---- recordings ------------------------------------------------------------------------------ */

static void rec_uploaded(srv_req *q)
{
    srv_upload_result r;
    hark_buf b = HARK_BUF_INIT;
    if (srv_upload_result_get(q, &r) < 0)
        return; /* answered */
    hark_buf_printf(&b,
                    "{\"recording\":%lld,\"job\":%lld,\"existed\":%s,"
                    "\"links\":{\"recording\":\"/v1/recordings/%lld\",\"job\":\"/v1/jobs/%lld\","
                    "\"events\":\"/v1/jobs/%lld/events\","
                    "\"transcript\":\"/v1/recordings/%lld/transcript\"}}",
                    (long long)r.recording, (long long)r.job, r.existed ? "true" : "false",
                    (long long)r.recording, (long long)r.job, (long long)r.job,
                    (long long)r.recording);
    srv_reply_json(q, r.existed ? 200 : 202, &b);
    {
        char loc[64];
        snprintf(loc, sizeof(loc), "/v1/recordings/%lld", (long long)r.recording);
        srv_header(q, "Location", loc);
    }
}

static void rec_create(srv_req *q)
{
    hark_priority p = HARK_PRIORITY_BULK;
    srv_upload_finish(q, p, rec_uploaded);
}

static void rec_list(srv_req *q)
{
    hark_list_options o = HARK_LIST_OPTIONS_INIT;
    hark_recording_list *list = NULL;
    hark_buf b = HARK_BUF_INIT;
    int64_t limit, after;
    const char *st = srv_arg(q, "status");
    int bad = 0, rc;

    if (srv_arg_int(q, "limit", 1, 1000, 20, &limit) < 0 ||
        srv_arg_int(q, "cursor", 0, INT64_MAX, 0, &after) < 0)
        return;
    o.limit = (size_t)limit;
    o.after = after;
    o.owner = srv_owner_filter(&q->who);
    o.created_from = parse_time_arg(q, "created_from", &bad);
    if (!bad)
        o.created_to = parse_time_arg(q, "created_to", &bad);
    if (bad)
        return;
    if (st) {
        hark_recording_status v;
        if (hark_recording_status_parse(&v, st) < 0) {
            srv_error(q, 400, "invalid_argument", "unknown status '%.32s'", st);
            return;
        }
        o.status = (int)v;
    }
    if ((rc = hark_store_recording_list(q->s->store, &o, &list)) < 0) {
        if (rc == HARK_ENOTFOUND)
            srv_error(q, 400, "invalid_argument", "cursor %lld is not a recording (deleted?)",
                      (long long)after);
        else
            srv_error_hark(q, rc);
        return;
    }
    if ((rc = hark_render_recording_list(&b, list, 0)) < 0)
        srv_error_hark(q, rc);
    else
        srv_reply_json(q, 200, &b);
    hark_buf_dispose(&b);
    hark_recording_list_free(list);
}

/* Add the recording's derived text `kind` to o as {"text", "updated_ms"}, or null. */
static int add_text(srv *s, json_t *o, int64_t rec, const char *kind)
{
    hark_buf text = HARK_BUF_INIT;
    int64_t updated = 0;
    int rc = hark_store_text_get(s->store, rec, kind, &text, NULL, &updated);
    if (rc == 0)
        rc = json_object_set_new(o, kind,
                                 json_pack("{s:s%,s:I}", "text", text.ptr ? text.ptr : "", text.len,
                                           "updated_ms", (json_int_t)updated)) == 0
                 ? 0
                 : hark_error_set(HARK_ENOMEM, "out of memory");
    else if (rc == HARK_ENOTFOUND)
        rc = json_object_set_new(o, kind, json_null()) == 0
                 ? 0
                 : hark_error_set(HARK_ENOMEM, "out of memory");
    hark_buf_dispose(&text);
    return rc;
}

/* The recording, with its summary and translation (null until made). */
static void rec_get(srv_req *q)
{
    hark_recording *r = get_recording(q, q->ids[0]);
    hark_buf b = HARK_BUF_INIT;
    json_t *o = NULL;
    char *js = NULL;
    int rc;
    if (!r)
        return;
    if ((rc = hark_render_recording(&b, r, 0)) == 0 && !(o = json_loadb(b.ptr, b.len, 0, NULL)))
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
    if (rc == 0 && (rc = add_text(q->s, o, r->id, "summary")) == 0)
        rc = add_text(q->s, o, r->id, "translation");
    if (rc == 0 && !(js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
    hark_buf_clear(&b);
    if (rc == 0 && (rc = hark_buf_puts(&b, js)) == 0)
        srv_reply_json(q, 200, &b);
    else
        srv_error_hark(q, rc);
    free(js); /* libc: json_dumps allocates with malloc */
    json_decref(o);
    hark_buf_dispose(&b);
    hark_recording_free(r);
}

static void rec_delete(srv_req *q)
{
    srv *s = q->s;
    hark_recording *r = get_recording(q, q->ids[0]), *gone = NULL;
    hark_job_list_options jo = HARK_JOB_LIST_OPTIONS_INIT;
    hark_job_list *jobs = NULL;
    uint64_t refs = 1;
    size_t i;
    int rc;
    if (!r)
        return;
    /* stop its running jobs first */
    jo.recording = r->id;
    jo.limit = 1000;
    if (hark_store_job_list(s->store, &jo, &jobs) == 0)
        for (i = 0; i < jobs->n; i++)
            if (jobs->items[i].state == HARK_JOB_RUNNING || jobs->items[i].state == HARK_JOB_QUEUED)
                hark_runner_cancel(s->runner, jobs->items[i].id);
    hark_job_list_free(jobs);
    if ((rc = hark_store_recording_delete(s->store, r->id, &gone)) < 0) {
        srv_error_hark(q, rc);
        goto out;
    }
    if (gone && gone->audio_path && hark_store_audio_refs(s->store, gone->audio_path, &refs) == 0 &&
        refs == 0 && strncmp(gone->audio_path, s->data_dir, strlen(s->data_dir)) == 0)
        unlink(gone->audio_path); /* only files the server stored itself */
    if (gone && gone->content_hash && s->cache)
        hark_cache_drop_group(s->cache, gone->content_hash, NULL);
    audit(q, "recording.delete", "{\"recording\":%lld}", (long long)r->id);
    srv_reply(q, 204, NULL, "", 0);
out:
    hark_recording_free(gone);
    hark_recording_free(r);
}

static const char *format_type(hark_format f)
{
    switch (f) {
    case HARK_FORMAT_JSON:
        return "application/json";
    case HARK_FORMAT_SRT:
        return "application/x-subrip; charset=utf-8";
    case HARK_FORMAT_VTT:
        return "text/vtt; charset=utf-8";
    case HARK_FORMAT_TSV:
        return "text/tab-separated-values; charset=utf-8";
    default:
        return "text/plain; charset=utf-8";
    }
}

/* Answer `body` with a strong ETag, or 304 when the client has it. */
static void reply_tagged(srv_req *q, const char *ctype, const hark_buf *body)
{
    uint8_t d[32];
    char hex[65], tag[72];
    const char *inm = srv_hdr(q, "If-None-Match");
    hark_sha256_buf(d, body->ptr ? body->ptr : "", body->len);
    hark_hex(hex, d, 16);
    snprintf(tag, sizeof(tag), "\"%s\"", hex);
    if (inm && (strstr(inm, tag) || !strcmp(inm, "*"))) {
        srv_reply(q, 304, NULL, "", 0);
    } else {
        srv_reply(q, 200, ctype, body->ptr ? body->ptr : "", body->len);
    }
    srv_header(q, "ETag", tag);
    srv_header(q, "Cache-Control", "no-cache");
}

static void rec_transcript(srv_req *q)
{
    hark_recording *r = get_recording(q, q->ids[0]);
    hark_transcript *t = NULL;
    hark_buf b = HARK_BUF_INIT;
    hark_format f = HARK_FORMAT_JSON;
    const char *fmt = srv_arg(q, "format");
    int rc;
    if (!r)
        return;
    if (fmt && hark_format_parse(&f, fmt) < 0) {
        srv_error(q, 400, "invalid_argument",
                  "format must be json, txt, srt, vtt or tsv, not '%.32s'", fmt);
        goto out;
    }
    if ((rc = hark_store_transcript_get(q->s->store, r->id, &t)) < 0 ||
        (rc = hark_transcript_write(t, f, &b)) < 0) {
        srv_error_hark(q, rc);
        goto out;
    }
    reply_tagged(q, format_type(f), &b);
    srv_header(q, "X-Hark-Status", hark_recording_status_name(r->status));
out:
    hark_buf_dispose(&b);
    hark_transcript_free(t);
    hark_recording_free(r);
}

static const char *sniff(int fd)
{
    unsigned char h[12];
    ssize_t n = pread(fd, h, sizeof(h), 0);
    if (n < 12)
        return "application/octet-stream";
    if (!memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WAVE", 4))
        return "audio/wav";
    if (!memcmp(h, "fLaC", 4))
        return "audio/flac";
    if (!memcmp(h, "OggS", 4))
        return "audio/ogg";
    if (!memcmp(h, "ID3", 3) || (h[0] == 0xFF && (h[1] & 0xE0) == 0xE0))
        return "audio/mpeg";
    if (!memcmp(h + 4, "ftyp", 4))
        return "audio/mp4";
    if (h[0] == 0x1A && h[1] == 0x45 && h[2] == 0xDF && h[3] == 0xA3)
        return "audio/webm";
    return "application/octet-stream";
}

/* "bytes=a-b" | "bytes=a-" | "bytes=-n" against `size`: 1 and the range, 0 = no (valid)
 * range header, -1 = unsatisfiable. Several ranges: only the first is served. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    unsigned long long a = 0, b = 0;
    char *end;
    if (!h || strncmp(h, "bytes=", 6) != 0)
        return 0;
    h += 6;
    if (*h == '-') {
        b = strtoull(h + 1, &end, 10);
        if (end == h + 1 || (*end && *end != ','))
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    a = strtoull(h, &end, 10);
    if (end == h || *end != '-')
        return 0;
    h = end + 1;
    if (*h && *h != ',') {
        b = strtoull(h, &end, 10);
        if (end == h || (*end && *end != ','))
            return 0;
    } else {
        b = size ? size - 1 : 0;
    }
    if (a >= size || b < a)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

static void rec_audio(srv_req *q)
{
    hark_recording *r = get_recording(q, q->ids[0]);
    struct stat st;
    uint64_t from = 0, to = 0;
    int fd = -1, rr;
    const char *ctype;
    char cr[96];
    if (!r)
        return;
    if (!r->audio_path || (fd = open(r->audio_path, O_RDONLY | O_CLOEXEC)) < 0 ||
        fstat(fd, &st) != 0) {
        srv_error(q, 404, "not_found", "recording %lld has no archived audio", (long long)r->id);
        goto out;
    }
    ctype = sniff(fd);
    rr = parse_range(srv_hdr(q, "Range"), (uint64_t)st.st_size, &from, &to);
    if (rr < 0) {
        srv_error(q, 416, "range_not_satisfiable", "the file has %lld bytes",
                  (long long)st.st_size);
        snprintf(cr, sizeof(cr), "bytes */%lld", (long long)st.st_size);
        srv_header(q, "Content-Range", cr);
        goto out;
    }
    if (rr == 0) {
        from = 0;
        to = st.st_size ? (uint64_t)st.st_size - 1 : 0;
    }
    if (q->resp)
        MHD_destroy_response(q->resp);
    q->resp =
        MHD_create_response_from_fd_at_offset64(st.st_size ? to - from + 1 : 0, fd, (uint64_t)from);
    if (!q->resp) {
        srv_error(q, 503, "out_of_memory", "out of memory");
        goto out;
    }
    fd = -1; /* the response owns it */
    q->status = rr == 1 ? 206 : 200;
    MHD_add_response_header(q->resp, "Content-Type", ctype);
    MHD_add_response_header(q->resp, "Accept-Ranges", "bytes");
    if (rr == 1) {
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%lld", (unsigned long long)from,
                 (unsigned long long)to, (long long)st.st_size);
        MHD_add_response_header(q->resp, "Content-Range", cr);
    }
out:
    if (fd >= 0)
        close(fd);
    hark_recording_free(r);
}

/* ---- jobs
 * ----------------------------------------------------------------------------------------- */

static void job_list(srv_req *q)
{
    hark_job_list_options o = HARK_JOB_LIST_OPTIONS_INIT;
    hark_job_list *list = NULL;
    hark_buf b = HARK_BUF_INIT;
    int64_t limit, after, rec;
    const char *st = srv_arg(q, "state");
    int rc;
    if (srv_arg_int(q, "limit", 1, 1000, 20, &limit) < 0 ||
        srv_arg_int(q, "cursor", 0, INT64_MAX, 0, &after) < 0 ||
        srv_arg_int(q, "recording", 0, INT64_MAX, 0, &rec) < 0)
        return;
    o.limit = (size_t)limit;
    o.after = after;
    o.recording = rec;
    o.owner = srv_owner_filter(&q->who);
    if (st) {
        hark_job_state v;
        if (hark_job_state_parse(&v, st) < 0) {
            srv_error(q, 400, "invalid_argument",
                      "state must be queued, running, done, dead or canceled, not '%.32s'", st);
            return;
        }
        o.state = (int)v;
    }
    if ((rc = hark_store_job_list(q->s->store, &o, &list)) < 0 ||
        (rc = hark_render_job_list(&b, list, 0)) < 0)
        srv_error_hark(q, rc);
    else
        srv_reply_json(q, 200, &b);
    hark_buf_dispose(&b);
    hark_job_list_free(list);
}

static void job_get(srv_req *q)
{
    hark_job *j = get_job(q, q->ids[0]);
    hark_job_chunk_list *chunks = NULL;
    hark_buf b = HARK_BUF_INIT;
    int rc;
    if (!j)
        return;
    if ((rc = hark_store_job_chunks(q->s->store, j->id, 0, &chunks)) < 0 ||
        (rc = hark_render_job(&b, j, chunks, 0)) < 0)
        srv_error_hark(q, rc);
    else
        srv_reply_json(q, 200, &b);
    hark_buf_dispose(&b);
    hark_job_chunk_list_free(chunks);
    hark_job_free(j);
}

static void job_cancel(srv_req *q)
{
    hark_job *j = get_job(q, q->ids[0]);
    int rc;
    if (!j)
        return;
    if ((rc = hark_runner_cancel(q->s->runner, j->id)) < 0) {
        if (rc == HARK_EINVAL)
            srv_error(q, 409, "conflict", "%s", hark_error_last());
        else
            srv_error_hark(q, rc);
    } else {
        audit(q, "job.cancel", "{\"job\":%lld}", (long long)j->id);
        hark_job_free(j);
        j = NULL;
        job_get(q);
    }
    hark_job_free(j);
}

static void job_retry(srv_req *q)
{
    hark_job *j = get_job(q, q->ids[0]);
    int rc;
    if (!j)
        return;
    if ((rc = hark_store_job_retry(q->s->store, j->id)) < 0) {
        if (rc == HARK_EINVAL)
            srv_error(q, 409, "conflict", "%s", hark_error_last());
        else
            srv_error_hark(q, rc);
    } else {
        audit(q, "job.retry", "{\"job\":%lld}", (long long)j->id);
        hark_runner_wake(q->s->runner);
        job_get(q);
    }
    hark_job_free(j);
}

static void job_events(srv_req *q)
{
    hark_job *j = get_job(q, q->ids[0]);
    if (!j)
        return;
    srv_stream_start(q, j->id, 0);
    hark_job_free(j);
}

/* ---- search
 * -------------------------------------------------------------------------------------- */

static void search(srv_req *q)
{
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    hark_search_result *res = NULL;
    hark_buf b = HARK_BUF_INIT;
    const char *text = srv_arg(q, "q");
    int64_t limit, offset, rec;
    int bad = 0, rc;
    if (!text || !*text) {
        srv_error(q, 400, "invalid_argument", "the query parameter q is required");
        return;
    }
    if (srv_arg_int(q, "limit", 1, 1000, 20, &limit) < 0 ||
        srv_arg_int(q, "offset", 0, 1000000, 0, &offset) < 0 ||
        srv_arg_int(q, "recording", 0, INT64_MAX, 0, &rec) < 0)
        return;
    o.limit = (size_t)limit;
    o.offset = (size_t)offset;
    o.recording = rec;
    o.owner = srv_owner_filter(&q->who);
    o.hl_open = "<mark>";
    o.hl_close = "</mark>";
    o.created_from = parse_time_arg(q, "created_from", &bad);
    if (!bad)
        o.created_to = parse_time_arg(q, "created_to", &bad);
    if (bad)
        return;
    if ((rc = hark_store_search(q->s->store, text, &o, &res)) < 0 ||
        (rc = hark_render_search(&b, res, 0)) < 0)
        srv_error_hark(q, rc);
    else
        srv_reply_json(q, 200, &b);
    hark_buf_dispose(&b);
    hark_search_result_free(res);
}

/* ---- admin
 * ---------------------------------------------------------------------------------------- */

static void mode_reply(srv_req *q)
{
    hark_buf b = HARK_BUF_INIT;
    hark_buf_printf(&b, "{\"mode\":\"%s\"}", srv_mode_name(q->s->mode));
    srv_reply_json(q, 200, &b);
}

static void mode_get(srv_req *q)
{
    mode_reply(q);
}

static void mode_set(srv_req *q)
{
    srv *s = q->s;
    json_t *o = srv_body_object(q), *m;
    const char *v;
    enum srv_mode mode;
    int rc;
    if (!o)
        return;
    m = json_object_get(o, "mode");
    v = json_is_string(m) ? json_string_value(m) : NULL;
    if (!v || (strcmp(v, "full") && strcmp(v, "degraded") && strcmp(v, "maintenance"))) {
        srv_error(q, 400, "invalid_argument",
                  "mode must be \"full\", \"degraded\" or \"maintenance\"");
        json_decref(o);
        return;
    }
    mode = !strcmp(v, "full")       ? MODE_FULL
           : !strcmp(v, "degraded") ? MODE_DEGRADED
                                    : MODE_MAINTENANCE;
    if ((rc = hark_store_setting_set(s->store, "server.mode", v)) < 0) {
        srv_error_hark(q, rc);
        json_decref(o);
        return;
    }
    {
        /* an optional reason (the web UI asks for one) goes into the audit log */
        json_t *r = json_object_get(o, "reason");
        json_t *d = json_pack("{s:s,s:s}", "from", srv_mode_name(s->mode), "to", v);
        char *js;
        const char *why = json_is_string(r) ? json_string_value(r) : "";
        size_t n = json_is_string(r) ? json_string_length(r) : 0;
        if (n > 200) /* the audit detail is bounded: keep 200 bytes, whole characters */
            for (n = 200; n > 0 && ((unsigned char)why[n] & 0xC0) == 0x80; n--)
                ;
        if (d && n > 0)
            json_object_set_new(d, "reason", json_stringn(why, n));
        js = d ? json_dumps(d, JSON_COMPACT) : NULL;
        audit(q, "mode", "%s", js ? js : "{}");
        free(js); /* libc: json_dumps allocates with malloc */
        json_decref(d);
    }
    srv_log(s, 2, "mode: %s -> %s", srv_mode_name(s->mode), v);
    s->mode = mode;
    hark_runner_set_degraded(s->runner, mode == MODE_DEGRADED);
    hark_runner_pause(s->runner, mode == MODE_MAINTENANCE);
    json_decref(o);
    mode_reply(q);
}

static void audit_list(srv_req *q)
{
    hark_audit_list *list = NULL;
    hark_buf b = HARK_BUF_INIT;
    int64_t limit, before;
    int rc;
    if (srv_arg_int(q, "limit", 1, 1000, 50, &limit) < 0 ||
        srv_arg_int(q, "cursor", 0, INT64_MAX, 0, &before) < 0)
        return;
    if ((rc = hark_store_audit_list(q->s->store, before, (size_t)limit, &list)) < 0 ||
        (rc = hark_render_audit_list(&b, list, 0)) < 0)
        srv_error_hark(q, rc);
    else
        srv_reply_json(q, 200, &b);
    hark_buf_dispose(&b);
    hark_audit_list_free(list);
}

/* ---- the table
 * -------------------------------------------------------------------------------------- */

const srv_route srv_routes[] = {
    { "GET", "/health", BODY_NONE, R_PUBLIC | R_NOLIMIT, health, "/health" },
    { "GET", "/health/ready", BODY_NONE, R_PUBLIC | R_NOLIMIT, ready, "/health/ready" },
    { "GET", "/metrics", BODY_NONE, R_NOLIMIT, metrics, "/metrics" },
    { "POST", "/v1/recordings", BODY_UPLOAD, R_WRITE, rec_create, "/v1/recordings" },
    { "GET", "/v1/recordings", BODY_NONE, 0, rec_list, "/v1/recordings" },
    { "GET", "/v1/recordings/{id}", BODY_NONE, 0, rec_get, "/v1/recordings/{id}" },
    { "DELETE", "/v1/recordings/{id}", BODY_NONE, R_WRITE, rec_delete, "/v1/recordings/{id}" },
    { "GET", "/v1/recordings/{id}/transcript", BODY_NONE, 0, rec_transcript,
      "/v1/recordings/{id}/transcript" },
    { "GET", "/v1/recordings/{id}/audio", BODY_NONE, 0, rec_audio, "/v1/recordings/{id}/audio" },
    { "POST", "/v1/recordings/{id}/summary", BODY_NONE, R_WRITE, srv_summary_post,
      "/v1/recordings/{id}/summary" },
    { "GET", "/v1/recordings/{id}/summary", BODY_NONE, 0, srv_summary_get,
      "/v1/recordings/{id}/summary" },
    { "POST", "/v1/recordings/{id}/translation", BODY_NONE, R_WRITE, srv_translation_post,
      "/v1/recordings/{id}/translation" },
    { "GET", "/v1/recordings/{id}/translation", BODY_NONE, 0, srv_translation_get,
      "/v1/recordings/{id}/translation" },
    { "GET", "/v1/jobs", BODY_NONE, 0, job_list, "/v1/jobs" },
    { "GET", "/v1/jobs/{id}", BODY_NONE, 0, job_get, "/v1/jobs/{id}" },
    { "POST", "/v1/jobs/{id}/cancel", BODY_NONE, R_WRITE, job_cancel, "/v1/jobs/{id}/cancel" },
    { "POST", "/v1/jobs/{id}/retry", BODY_NONE, R_WRITE, job_retry, "/v1/jobs/{id}/retry" },
    { "GET", "/v1/jobs/{id}/events", BODY_NONE, 0, job_events, "/v1/jobs/{id}/events" },
    { "GET", "/v1/search", BODY_NONE, 0, search, "/v1/search" },
    { "GET", "/v1/admin/mode", BODY_NONE, R_ADMIN, mode_get, "/v1/admin/mode" },
    { "PUT", "/v1/admin/mode", BODY_JSON, R_ADMIN, mode_set, "/v1/admin/mode" },
    { "GET", "/v1/admin/audit", BODY_NONE, R_ADMIN, audit_list, "/v1/admin/audit" },
    { "POST", "/v1/audio/transcriptions", BODY_UPLOAD, R_WRITE, srv_openai_transcribe,
      "/v1/audio/transcriptions" },
    { "POST", "/v1/audio/translations", BODY_UPLOAD, R_WRITE, srv_openai_translate,
      "/v1/audio/translations" },
    { "POST", "/inference", BODY_UPLOAD, R_WRITE, srv_whisper_inference, "/inference" },
    { "GET", "/v1/models", BODY_NONE, 0, srv_openai_models, "/v1/models" },
    { "GET", "/v1/live", BODY_NONE, R_WSAUTH | R_WRITE, srv_live_route, "/v1/live" },
    { "GET", "/v1/live/vosk", BODY_NONE, R_WSAUTH | R_WRITE, srv_live_vosk_route, "/v1/live/vosk" },
    /* the web UI (static.c): the page needs no key, its API calls do */
    { "GET", "/", BODY_NONE, R_PUBLIC | R_NOLIMIT, srv_static, "/" },
    { "GET", "/static/*", BODY_NONE, R_PUBLIC | R_NOLIMIT, srv_static, "/static/*" },
};

const size_t srv_n_routes = sizeof(srv_routes) / sizeof(srv_routes[0]);

/* Does `path` fit `pattern`? Fills ids[] with the {id} values. A '*' ending the pattern
 * stands for the rest of the path (one character or more). */
static int fits(const char *pattern, const char *path, int64_t ids[2])
{
    int n = 0;
    while (*pattern && *path) {
        if (pattern[0] == '*' && !pattern[1]) {
            return 1;
        } else if (*pattern == '{') {
            const char *end = path;
            long long v = 0;
            while (*end >= '0' && *end <= '9' && end - path < 18)
                v = v * 10 + (*end++ - '0');
            if (end == path || (*end && *end != '/') || v <= 0 || n == 2)
                return 0;
            ids[n++] = v;
            path = end;
            pattern = strchr(pattern, '}') + 1;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return !*pattern && !*path;
}

const srv_route *srv_route_match(const char *method, const char *path, int64_t ids[2],
                                 unsigned *status, char *allow, size_t allow_size)
{
    size_t i, used = 0;
    int path_known = 0;
    allow[0] = '\0';
    if (!strcmp(method, "HEAD"))
        method = "GET"; /* MHD leaves the body out */
    for (i = 0; i < srv_n_routes; i++) {
        int64_t tmp[2] = { 0, 0 };
        if (!fits(srv_routes[i].pattern, path, tmp))
            continue;
        if (!strcmp(srv_routes[i].method, method)) {
            ids[0] = tmp[0];
            ids[1] = tmp[1];
            return &srv_routes[i];
        }
        path_known = 1;
        if (used + strlen(srv_routes[i].method) + 3 < allow_size)
            used += (size_t)snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
                                     srv_routes[i].method);
    }
    *status = path_known ? 405 : 404;
    return NULL;
}
