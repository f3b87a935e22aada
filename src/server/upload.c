/*
 * upload.c: receiving audio (server.h): POST /v1/recordings and the OpenAI
 * and whisper.cpp endpoints.
 *
 * DESIGN
 * The body is never held in memory: a raw body, or the file part of a
 * multipart/form-data body (multipart.c), is written as it arrives to
 * <data_dir>/tmp/upload-XXXXXX and hashed (SHA-256) on the way. Small form
 * fields (title, language, prompt...) are kept, bounded in size and number.
 * When the body is complete the rest runs on the offload thread: fsync,
 * probe the audio (a file FFmpeg cannot open is 415 and is removed), move
 * it to its content address <data_dir>/<h[0..2]>/<hash> (fsync of the
 * folder too), then one store transaction creates the recording and its
 * job, or finds the ones the same bytes already made. Only then is the
 * upload acknowledged, so an acknowledged upload survives kill -9 and
 * power loss; a half-received one leaves only a temporary file, removed at
 * the next start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define MAX_FIELDS     24
#define MAX_FIELD_SIZE 4096

typedef struct field {
    char name[48];
    hark_buf value;
} field;

struct srv_upload {
    int fd;
    char tmp[PATH_MAX];
    hark_sha256 sha;
    int sha_ok;
    uint64_t bytes;
    hark_multipart *mp;
    int in_file;   /* the current part is the audio */
    int have_file; /* the audio part was seen */
    int cur_field; /* the current part is fields[cur_field], -1 = none */
    char *filename;
    field fields[MAX_FIELDS];
    size_t n_fields;
    int failed; /* answered already */
    /* outcome */
    char hash[65];
    int64_t recording, job;
    int existed;
    hark_priority priority;
    void (*then)(srv_req *q);
};

static const char *const known_fields[] = { "file",
                                            "title",
                                            "language",
                                            "prompt",
                                            "temperature",
                                            "response_format",
                                            "model",
                                            "stream",
                                            "translate",
                                            "priority",
                                            "beam_size",
                                            "best_of",
                                            "timestamp_granularities[]",
                                            "timestamp_granularities",
                                            "temperature_inc",
                                            "encode",
                                            "no_timestamps",
                                            NULL };

void srv_upload_free(srv_upload *u)
{
    size_t i;
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp[0])
        unlink(u->tmp);
    if (u->sha_ok)
        hark_sha256_dispose(&u->sha);
    hark__multipart_free(u->mp);
    for (i = 0; i < u->n_fields; i++)
        hark_buf_dispose(&u->fields[i].value);
    hark__free(u->filename);
    hark__free(u);
}

static int fail(srv_req *q, unsigned status, const char *code, const char *msg)
{
    q->up->failed = 1;
    srv_error(q, status, code, "%s", msg);
    return -1;
}

static int write_audio(srv_req *q, const void *data, size_t len)
{
    srv_upload *u = q->up;
    const char *p = data;
    if (u->bytes + len > q->s->cfg.max_upload) {
        char msg[128];
        snprintf(msg, sizeof(msg), "upload is over the limit of %llu bytes",
                 (unsigned long long)q->s->cfg.max_upload);
        fail(q, 413, "too_large", msg);
        return HARK_ETOOBIG;
    }
    hark_sha256_update(&u->sha, data, len);
    u->bytes += len;
    while (len) {
        ssize_t w = write(u->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            char msg[256];
            snprintf(msg, sizeof(msg), "cannot store the upload: %s", strerror(errno));
            fail(q, errno == ENOSPC || errno == EDQUOT ? 507 : 500,
                 errno == ENOSPC || errno == EDQUOT ? "no_space" : "internal", msg);
            return HARK_EIO;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ---- multipart callbacks ------------------------------------------------------------------------
 */

static int part_begin(const char *name, const char *filename, const char *ctype, void *payload)
{
    srv_req *q = payload;
    srv_upload *u = q->up;
    size_t i;
    (void)ctype;
    u->cur_field = -1;
    u->in_file = 0;
    if (!strcmp(name, "file") || (filename && !u->have_file && strcmp(name, "title"))) {
        if (u->have_file) {
            fail(q, 400, "invalid_request", "one audio file per request (a second 'file' part)");
            return HARK_EINVAL;
        }
        u->have_file = u->in_file = 1;
        if (filename && !(u->filename = hark__strndup(filename, 255)))
            return HARK_ENOMEM;
        return 0;
    }
    for (i = 0; known_fields[i] && strcmp(known_fields[i], name); i++)
        ;
    if (!known_fields[i])
        return 0; /* an unknown field is ignored, as OpenAI's API does */
    if (u->n_fields == MAX_FIELDS) {
        fail(q, 400, "invalid_request", "too many form fields");
        return HARK_EINVAL;
    }
    snprintf(u->fields[u->n_fields].name, sizeof(u->fields[0].name), "%s", name);
    u->cur_field = (int)u->n_fields++;
    return 0;
}

static int part_data(const void *data, size_t len, void *payload)
{
    srv_req *q = payload;
    srv_upload *u = q->up;
    if (u->in_file)
        return write_audio(q, data, len);
    if (u->cur_field >= 0) {
        hark_buf *v = &u->fields[u->cur_field].value;
        if (v->len + len > MAX_FIELD_SIZE) {
            char msg[128];
            snprintf(msg, sizeof(msg), "form field '%s' is over %d bytes",
                     u->fields[u->cur_field].name, MAX_FIELD_SIZE);
            fail(q, 400, "invalid_request", msg);
            return HARK_EINVAL;
        }
        return hark_buf_put(v, data, len);
    }
    return 0;
}

static int part_end(void *payload)
{
    srv_req *q = payload;
    q->up->in_file = 0;
    q->up->cur_field = -1;
    return 0;
}

static const hark_multipart_callbacks mp_callbacks = { part_begin, part_data, part_end };

/* ---- the body
 * ------------------------------------------------------------------------------------ */

int srv_upload_begin(srv_req *q)
{
    srv *s = q->s;
    srv_upload *u;
    const char *ctype = srv_hdr(q, "Content-Type");
    hark_job_counts counts;
    uint64_t queued = 0;
    size_t i;
    int rc;

    if (hark_store_job_counts(s->store, &counts) == 0) {
        for (i = 0; i < HARK_PRIORITY_COUNT; i++)
            queued += counts.n[HARK_JOB_QUEUED][i];
        if (queued >= s->cfg.max_queue) {
            s->m.rejected_429++;
            srv_error(q, 429, "queue_full",
                      "%llu jobs are waiting (the limit is %llu); try again later",
                      (unsigned long long)queued, (unsigned long long)s->cfg.max_queue);
            srv_header(q, "Retry-After", "30");
            return -1;
        }
    }
    if (!(u = q->up = hark__calloc(1, sizeof(*u)))) {
        srv_error(q, 503, "out_of_memory", "out of memory");
        return -1;
    }
    u->fd = -1;
    u->cur_field = -1;
    if (ctype && (!strncasecmp(ctype, "application/json", 16) || !strncasecmp(ctype, "text/", 5) ||
                  !strncasecmp(ctype, "application/x-www-form-urlencoded", 33))) {
        return fail(q, 415, "unsupported_media",
                    "send the audio as multipart/form-data (a 'file' field) or as the raw request "
                    "body, not as JSON, text or a URL-encoded form");
    }
    if (ctype && !strncasecmp(ctype, "multipart/", 10)) {
        char boundary[HARK_MULTIPART_BOUNDARY_MAX + 1];
        if ((rc = hark__multipart_boundary(ctype, boundary, sizeof(boundary))) < 0)
            return fail(q, rc == HARK_EUNSUPPORTED ? 415 : 400,
                        rc == HARK_EUNSUPPORTED ? "unsupported_media" : "invalid_request",
                        hark_error_last());
        if (hark__multipart_new(&u->mp, boundary, &mp_callbacks, q) < 0)
            return fail(q, 400, "invalid_request", hark_error_last());
    } else {
        u->have_file = 1;
    }
    snprintf(u->tmp, sizeof(u->tmp), "%s/upload-XXXXXX", s->tmp_dir);
    u->fd = mkostemp(u->tmp, O_CLOEXEC);
    if (u->fd < 0) {
        char msg[PATH_MAX + 64];
        u->tmp[0] = '\0';
        snprintf(msg, sizeof(msg), "cannot create a file for the upload: %s", strerror(errno));
        return fail(q, 500, "internal", msg);
    }
    if (hark_sha256_init(&u->sha) < 0)
        return fail(q, 500, "internal", "cannot start hashing");
    u->sha_ok = 1;
    return 0;
}

int srv_upload_feed(srv_req *q, const char *data, size_t len)
{
    srv_upload *u = q->up;
    int rc;
    if (!u || u->failed)
        return -1;
    if (u->mp) {
        rc = hark__multipart_feed(u->mp, data, len);
        if (rc < 0 && !u->failed)
            fail(q, 400, "invalid_request", hark_error_last());
    } else {
        rc = write_audio(q, data, len);
    }
    return rc < 0 ? -1 : 0;
}

const char *srv_upload_field(srv_req *q, const char *name)
{
    srv_upload *u = q->up;
    size_t i;
    if (u)
        for (i = 0; i < u->n_fields; i++)
            if (!strcmp(u->fields[i].name, name))
                return u->fields[i].value.ptr ? u->fields[i].value.ptr : "";
    return srv_arg(q, name); /* a raw body takes its options from the query */
}

int srv_upload_field_has(srv_req *q, const char *name, const char *value)
{
    srv_upload *u = q->up;
    const char *v;
    size_t i;
    if (u)
        for (i = 0; i < u->n_fields; i++)
            if (!strcmp(u->fields[i].name, name) && u->fields[i].value.ptr &&
                !strcmp(u->fields[i].value.ptr, value))
                return 1;
    v = srv_arg(q, name);
    return v && !strcmp(v, value);
}

/* ---- finishing (offload thread)
 * ------------------------------------------------------------------ */

/* The job's params from the form fields (or query). -1 after answering 400. */
static int build_params(srv_req *q, json_t *p, hark_priority *prio)
{
    const char *v;
    char *end;
    double t;
    long n;
    if ((v = srv_upload_field(q, "language")) && *v) {
        size_t i, len = strlen(v);
        for (i = 0; i < len && ((v[i] >= 'a' && v[i] <= 'z') || v[i] == '-'); i++)
            ;
        if (i != len || len > 16 || len < 2) {
            srv_error(q, 400, "invalid_argument",
                      "language must be a language code such as 'en' or 'auto', not '%.32s'", v);
            return -1;
        }
        json_object_set_new(p, "language", json_string(v));
    }
    if ((v = srv_upload_field(q, "prompt")) && *v)
        json_object_set_new(p, "prompt", json_string(v));
    if ((v = srv_upload_field(q, "temperature")) && *v) {
        t = strtod(v, &end);
        if (*end || t < 0 || t > 1) {
            srv_error(q, 400, "invalid_argument", "temperature must be a number from 0 to 1");
            return -1;
        }
        json_object_set_new(p, "temperature", json_real(t));
    }
    if ((v = srv_upload_field(q, "translate")) && *v) {
        if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0")) {
            srv_error(q, 400, "invalid_argument", "translate must be true or false");
            return -1;
        }
        json_object_set_new(p, "translate", json_boolean(!strcmp(v, "true") || !strcmp(v, "1")));
    }
    if (q->translate)
        json_object_set_new(p, "translate", json_true());
    if ((v = srv_upload_field(q, "beam_size")) && *v) {
        n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 16) {
            srv_error(q, 400, "invalid_argument", "beam_size must be an integer from 1 to 16");
            return -1;
        }
        json_object_set_new(p, "beam_size", json_integer(n));
    }
    if ((v = srv_upload_field(q, "priority")) && *v) {
        if (!strcmp(v, "interactive"))
            *prio = HARK_PRIORITY_INTERACTIVE;
        else if (!strcmp(v, "bulk"))
            *prio = HARK_PRIORITY_BULK;
        else {
            srv_error(q, 400, "invalid_argument", "priority must be interactive or bulk");
            return -1;
        }
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static void finish_work(srv_req *q)
{
    srv *s = q->s;
    srv_upload *u = q->up;
    hark_decoder *dec = NULL;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_job job = HARK_JOB_INIT;
    hark_job_submitted sub;
    hark_buf options = HARK_BUF_INIT, model = HARK_BUF_INIT, title = HARK_BUF_INIT;
    char dir[PATH_MAX], blob[PATH_MAX];
    uint8_t digest[32];
    json_t *params = json_object();
    char *params_text = NULL;
    hark_priority prio = u->priority;
    struct stat st;
    int rc;

    if (!params) {
        srv_error(q, 503, "out_of_memory", "out of memory");
        goto out;
    }
    if (!u->have_file || u->bytes == 0) {
        srv_error(q, 400, "invalid_request",
                  u->mp ? "no audio: the form has no 'file' part, or it is empty"
                        : "no audio: the request body is empty");
        goto out;
    }
    if (build_params(q, params, &prio) < 0)
        goto out;
    if (fsync(u->fd) != 0) {
        srv_error(q, 500, "internal", "cannot store the upload: fsync: %s", strerror(errno));
        goto out;
    }
    close(u->fd);
    u->fd = -1;
    hark_sha256_final(&u->sha, digest);
    hark_sha256_dispose(&u->sha);
    u->sha_ok = 0;
    hark_hex(u->hash, digest, 32);

    /* is it audio? */
    if ((rc = hark_decoder_open(&dec, u->tmp, NULL)) < 0) {
        srv_error(q, 415, "unsupported_media", "not audio hark can decode: %s", hark_error_last());
        goto out;
    }
    rec.duration_ms = hark_decoder_info(dec)->duration / (HARK_SAMPLE_RATE / 1000);
    hark_decoder_free(dec);
    dec = NULL;

    /* its content address */
    if (strlen(s->data_dir) + 70 > sizeof(dir)) {
        srv_error(q, 500, "internal", "the data folder's path is too long");
        goto out;
    }
    snprintf(dir, sizeof(dir), "%.4000s/%.2s", s->data_dir, u->hash);
    snprintf(blob, sizeof(blob), "%.4000s/%.2s/%.64s", s->data_dir, u->hash, u->hash);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        srv_error(q, 500, "internal", "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if (stat(blob, &st) == 0 && (uint64_t)st.st_size == u->bytes) {
        unlink(u->tmp); /* the same bytes are there already */
        u->tmp[0] = '\0';
    } else {
        if (rename(u->tmp, blob) != 0) {
            srv_error(q, 500, "internal", "cannot store the upload: %s", strerror(errno));
            goto out;
        }
        u->tmp[0] = '\0';
        if (fsync_dir(dir) != 0) {
            srv_error(q, 500, "internal", "cannot store the upload: fsync: %s", strerror(errno));
            goto out;
        }
    }

    /* the recording and its job, in one transaction */
    if (json_object_size(params))
        params_text = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if ((rc = hark_runner_describe(s->runner, params_text, &options, &model)) < 0) {
        srv_error_hark(q, rc);
        goto out;
    }
    {
        const char *t = srv_upload_field(q, "title");
        if (t && *t)
            hark_buf_printf(&title, "%.200s", t);
        else if (u->filename && *u->filename)
            hark_buf_puts(&title, u->filename);
        else
            hark_buf_puts(&title, "upload");
    }
    rec.title = title.ptr;
    rec.source = "upload";
    rec.content_hash = u->hash;
    rec.engine = hark_engine_name(s->engine);
    rec.model = model.ptr;
    rec.options = options.ptr;
    rec.audio_path = blob;
    rec.owner = q->who.user;
    job.priority = prio;
    job.params = params_text;
    job.max_attempts = (unsigned)s->cfg.max_attempts;
    if ((rc = hark_store_job_submit(s->store, &rec, &job, &sub)) < 0) {
        srv_error_hark(q, rc);
        goto out;
    }
    u->recording = sub.recording;
    u->job = sub.job;
    u->existed = sub.existed;
    hark_runner_wake(s->runner);
out:
    hark_decoder_free(dec);
    hark_buf_dispose(&options);
    hark_buf_dispose(&model);
    hark_buf_dispose(&title);
    free(params_text); /* libc: from jansson */
    json_decref(params);
}

static void finish_done(srv_req *q)
{
    srv_upload *u = q->up;
    if (q->resp)
        u->failed = 1;
    else {
        q->s->m.uploads++;
        q->s->m.upload_bytes += u->bytes;
        if (u->existed)
            q->s->m.uploads_existing++;
        srv_log(q->s, 2, "upload %s: %llu bytes, recording %lld, job %lld%s", u->hash,
                (unsigned long long)u->bytes, (long long)u->recording, (long long)u->job,
                u->existed ? " (existing)" : "");
    }
    if (u->then)
        u->then(q);
}

void srv_upload_finish(srv_req *q, hark_priority priority, void (*then)(srv_req *q))
{
    srv_upload *u = q->up;
    if (!u || u->failed)
        return; /* answered already */
    u->priority = priority;
    if (u->mp && hark__multipart_finish(u->mp) < 0) {
        fail(q, 400, "invalid_request", hark_error_last());
        return;
    }
    u->then = then;
    srv_offload(q, finish_work, finish_done);
}

int srv_upload_result_get(srv_req *q, srv_upload_result *out)
{
    srv_upload *u = q->up;
    memset(out, 0, sizeof(*out));
    if (!u || u->failed || q->resp)
        return -1;
    out->recording = u->recording;
    out->job = u->job;
    out->existed = u->existed;
    out->field_format = srv_upload_field(q, "response_format");
    out->field_stream = srv_upload_field(q, "stream");
    return 0;
}
