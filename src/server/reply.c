/*
 * reply.c: building answers and reading request arguments (server.h).
 *
 * Every error is {"error":{"code","message","type"}}: `code` is a stable
 * snake_case word for programs, `message` a sentence for people, `type`
 * repeats the code for OpenAI's client libraries, which read error.type.
 * Library errors map to statuses in one place (srv_error_hark).
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void srv_reply(srv_req *q, unsigned status, const char *ctype, const void *body, size_t len)
{
    if (q->resp)
        MHD_destroy_response(q->resp);
    q->resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    q->status = status;
    if (q->resp && ctype)
        MHD_add_response_header(q->resp, "Content-Type", ctype);
}

void srv_reply_json(srv_req *q, unsigned status, hark_buf *json)
{
    srv_reply(q, status, "application/json", json->ptr ? json->ptr : "{}",
              json->ptr ? json->len : 2);
    hark_buf_dispose(json);
}

void srv_error(srv_req *q, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    json_t *o;
    char *js;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", msg, "type", code);
    js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (js)
        srv_reply(q, status, "application/json", js, strlen(js));
    else
        srv_reply(q, status, "application/json", "{\"error\":{\"code\":\"internal\"}}", 29);
    free(js); /* libc: jansson allocates with malloc */
    json_decref(o);
    if (status >= 500)
        srv_log(q->s, 1, "%s %s -> %u %s", q->method, q->url, status, msg);
}

void srv_error_hark(srv_req *q, int rc)
{
    const char *msg = hark_error_last();
    switch (rc) {
    case HARK_ENOTFOUND:
        srv_error(q, 404, "not_found", "%s", msg);
        break;
    case HARK_EINVAL:
    case HARK_ESYNTAX:
        srv_error(q, 400, "invalid_request", "%s", msg);
        break;
    case HARK_ETOOBIG:
        srv_error(q, 413, "too_large", "%s", msg);
        break;
    case HARK_EDECODE:
    case HARK_ENOAUDIO:
    case HARK_EEMPTY:
    case HARK_EUNSUPPORTED:
        srv_error(q, 415, "unsupported_media", "%s", msg);
        break;
    case HARK_EBUSY:
    case HARK_EAGAIN:
        srv_error(q, 503, "busy", "%s", msg);
        break;
    case HARK_ENOSPC:
        srv_error(q, 507, "no_space", "%s", msg);
        break;
    case HARK_EREADONLY:
        srv_error(q, 503, "read_only", "%s", msg);
        break;
    case HARK_EIO: /* the database server unreachable (restarting), a failing disk: try later */
        srv_error(q, 503, "unavailable", "%s", msg);
        srv_header(q, "Retry-After", "5");
        break;
    case HARK_EAUTH:
        srv_error(q, 401, "unauthorized", "%s", msg);
        break;
    default:
        srv_error(q, 500, "internal", "%s", msg);
        break;
    }
}

void srv_header(srv_req *q, const char *name, const char *value)
{
    if (q->resp)
        MHD_add_response_header(q->resp, name, value);
}

const char *srv_arg(srv_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_hdr(srv_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->c, MHD_HEADER_KIND, name);
}

int srv_arg_int(srv_req *q, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out)
{
    const char *v = srv_arg(q, name);
    char *end;
    long long x;
    *out = def;
    if (!v)
        return 0;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        srv_error(q, 400, "invalid_argument",
                  "%s must be an integer from %lld to %lld, not '%.64s'", name, (long long)lo,
                  (long long)hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

json_t *srv_body_object(srv_req *q)
{
    json_error_t e;
    json_t *o;
    if (!q->body.len) {
        srv_error(q, 400, "invalid_json", "a JSON object is expected as the request body");
        return NULL;
    }
    o = json_loadb(q->body.ptr, q->body.len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        srv_error(q, 400, "invalid_json", "invalid JSON at line %d, column %d: %s", e.line,
                  e.column, e.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        srv_error(q, 400, "invalid_json", "a JSON object is expected as the request body");
        return NULL;
    }
    return o;
}
