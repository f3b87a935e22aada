/*
 * render.c: the JSON renderings of stored objects (hark/render.h), shared by
 * the command line and the server; plus the small JSON validator the store
 * uses for text that is meant to be JSON (job params, audit details).
 *
 * DESIGN
 * Every renderer writes through the internal JSON writer (util/jsonw.c):
 * strings are escaped per RFC 8259 (control characters as \uXXXX, invalid
 * UTF-8 bytes as \u00XX, valid UTF-8 kept as is), integers printed exactly,
 * scores with a fixed 4 decimals, so the output is byte-stable. Times that
 * have not happened (0 in the structs: started_ms, finished_ms,
 * not_before_ms, revoked_ms) and absent ids (an audit entry's user or key 0)
 * are null. Text stored as JSON (an audit entry's detail) is embedded as
 * JSON only if it validates, otherwise as a string, so a renderer never
 * emits invalid JSON. Local file paths appear only with HARK_RENDER_LOCAL.
 *
 * INVARIANTS
 * - On failure nothing is appended: `out` is cut back to its length on entry.
 * - With HARK_RENDER_PRETTY the value ends with a newline; compact output
 *   has none.
 */
#include <string.h>

#include "hark/render.h"
#include "store.h"

/* ---- JSON validation ------------------------------------------------------------------------ */

#define JSON_MAX_DEPTH 64

typedef struct jv {
    const unsigned char *p, *end;
    int depth;
} jv;

static void jv_ws(jv *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int jv_lit(jv *v, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
        return 0;
    v->p += n;
    return 1;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the valid UTF-8 sequence at p (non-ASCII lead byte), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n, k;
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (k = 1; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

static int jv_string(jv *v)
{
    if (v->p >= v->end || *v->p != '"')
        return 0;
    v->p++;
    while (v->p < v->end) {
        unsigned char c = *v->p;
        if (c == '"') {
            v->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (v->end - v->p < 2)
                return 0;
            c = v->p[1];
            if (c == 'u') {
                if (v->end - v->p < 6 || !is_hex(v->p[2]) || !is_hex(v->p[3]) || !is_hex(v->p[4]) ||
                    !is_hex(v->p[5]))
                    return 0;
                v->p += 6;
            } else if (c && strchr("\"\\/bfnrt", c)) {
                v->p += 2;
            } else {
                return 0;
            }
        } else if (c >= 0x80) {
            size_t n = utf8_len(v->p, v->end);
            if (!n)
                return 0;
            v->p += n;
        } else {
            v->p++;
        }
    }
    return 0;
}

static int jv_number(jv *v)
{
    if (v->p < v->end && *v->p == '-')
        v->p++;
    if (v->p >= v->end)
        return 0;
    if (*v->p == '0') {
        v->p++;
    } else if (is_digit(*v->p)) {
        while (v->p < v->end && is_digit(*v->p))
            v->p++;
    } else {
        return 0;
    }
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (v->p >= v->end || !is_digit(*v->p))
            return 0;
        while (v->p < v->end && is_digit(*v->p))
            v->p++;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (v->p >= v->end || !is_digit(*v->p))
            return 0;
        while (v->p < v->end && is_digit(*v->p))
            v->p++;
    }
    return 1;
}

static int jv_value(jv *v);

/* An object or array body after its opening bracket. */
static int jv_container(jv *v, int object)
{
    const unsigned char close = object ? '}' : ']';
    int ok = 0;
    if (++v->depth > JSON_MAX_DEPTH)
        return 0;
    v->p++;
    jv_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return 1;
    }
    for (;;) {
        if (object) {
            if (!jv_string(v))
                break;
            jv_ws(v);
            if (v->p >= v->end || *v->p != ':')
                break;
            v->p++;
            jv_ws(v);
        }
        if (!jv_value(v))
            break;
        jv_ws(v);
        if (v->p < v->end && *v->p == ',') {
            v->p++;
            jv_ws(v);
            continue;
        }
        if (v->p < v->end && *v->p == close) {
            v->p++;
            ok = 1;
        }
        break;
    }
    v->depth--;
    return ok;
}

static int jv_value(jv *v)
{
    if (v->p >= v->end)
        return 0;
    switch (*v->p) {
    case '{':
        return jv_container(v, 1);
    case '[':
        return jv_container(v, 0);
    case '"':
        return jv_string(v);
    case 't':
        return jv_lit(v, "true");
    case 'f':
        return jv_lit(v, "false");
    case 'n':
        return jv_lit(v, "null");
    default:
        return jv_number(v);
    }
}

int hark__json_valid(const char *text, size_t len, int object)
{
    jv v;
    if (!text)
        return 0;
    v.p = (const unsigned char *)text;
    v.end = v.p + len;
    v.depth = 0;
    jv_ws(&v);
    if (object && (v.p >= v.end || *v.p != '{'))
        return 0;
    if (!jv_value(&v))
        return 0;
    jv_ws(&v);
    return v.p == v.end;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static void begin(hark_jsonw *w, hark_buf *out, unsigned flags)
{
    hark_jsonw_init(w, out, (flags & HARK_RENDER_PRETTY) != 0);
}

/* End the value: check the writer, add the newline of pretty output, or cut `out` back. */
static int finish(hark_jsonw *w, hark_buf *out, size_t len0, unsigned flags)
{
    int rc = hark_jsonw_end(w);
    if (rc == 0 && (flags & HARK_RENDER_PRETTY))
        rc = hark_buf_putc(out, '\n');
    if (rc < 0 && out->ptr && out->len > len0) {
        out->len = len0;
        out->ptr[len0] = '\0';
    }
    return rc;
}

static void kv_int(hark_jsonw *w, const char *key, int64_t v)
{
    hark_jsonw_key(w, key);
    hark_jsonw_int(w, v);
}

/* An integer that means "none" or "not yet" when 0: null then. */
static void kv_int0(hark_jsonw *w, const char *key, int64_t v)
{
    hark_jsonw_key(w, key);
    if (v)
        hark_jsonw_int(w, v);
    else
        hark_jsonw_null(w);
}

static void kv_str(hark_jsonw *w, const char *key, const char *v)
{
    hark_jsonw_key(w, key);
    hark_jsonw_str(w, v); /* NULL -> null */
}

static void kv_bool(hark_jsonw *w, const char *key, int v)
{
    hark_jsonw_key(w, key);
    hark_jsonw_bool(w, v);
}

static void kv_cursor(hark_jsonw *w, int more, size_t n, int64_t last_id)
{
    hark_jsonw_key(w, "next_cursor");
    if (more && n)
        hark_jsonw_int(w, last_id);
    else
        hark_jsonw_null(w);
}

/* ---- recordings ----------------------------------------------------------------------------- */

static void w_recording(hark_jsonw *w, const hark_recording *r, unsigned flags)
{
    hark_jsonw_object(w);
    kv_int(w, "id", r->id);
    kv_str(w, "title", r->title);
    kv_str(w, "source", r->source);
    kv_str(w, "status", hark_recording_status_name(r->status));
    kv_int(w, "created_ms", r->created_ms);
    kv_int(w, "updated_ms", r->updated_ms);
    kv_int(w, "duration_ms", r->duration_ms);
    kv_str(w, "engine", r->engine);
    kv_str(w, "model", r->model);
    kv_str(w, "language", r->language);
    kv_int(w, "segments", r->n_segments);
    kv_str(w, "content_hash", r->content_hash);
    kv_bool(w, "has_audio", r->audio_path && r->audio_path[0]);
    if (flags & HARK_RENDER_LOCAL)
        kv_str(w, "audio_path", r->audio_path);
    hark_jsonw_close(w);
}

int hark_render_recording(hark_buf *out, const hark_recording *rec, unsigned flags)
{
    hark_jsonw w;
    size_t len0;
    HARK_ASSERT_ARG(out && rec);
    len0 = out->len;
    begin(&w, out, flags);
    w_recording(&w, rec, flags);
    return finish(&w, out, len0, flags);
}

int hark_render_recording_list(hark_buf *out, const hark_recording_list *list, unsigned flags)
{
    hark_jsonw w;
    size_t len0, i;
    HARK_ASSERT_ARG(out && list);
    len0 = out->len;
    begin(&w, out, flags);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "recordings");
    hark_jsonw_array(&w);
    for (i = 0; i < list->n; i++)
        w_recording(&w, &list->items[i], flags);
    hark_jsonw_close(&w);
    kv_cursor(&w, list->more, list->n, list->n ? list->items[list->n - 1].id : 0);
    hark_jsonw_close(&w);
    return finish(&w, out, len0, flags);
}

/* ---- search --------------------------------------------------------------------------------- */

int hark_render_search(hark_buf *out, const hark_search_result *res, unsigned flags)
{
    hark_jsonw w;
    size_t len0, i;
    HARK_ASSERT_ARG(out && res);
    len0 = out->len;
    begin(&w, out, flags);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "hits");
    hark_jsonw_array(&w);
    for (i = 0; i < res->n; i++) {
        const hark_search_hit *h = &res->hits[i];
        hark_jsonw_object(&w);
        kv_int(&w, "recording", h->recording);
        kv_str(&w, "title", h->title);
        kv_int(&w, "created_ms", h->created_ms);
        kv_int(&w, "seq", h->seq);
        kv_int(&w, "start_ms", h->start_ms);
        kv_int(&w, "end_ms", h->end_ms);
        kv_str(&w, "text", h->text);
        kv_str(&w, "snippet", h->snippet);
        hark_jsonw_key(&w, "score");
        hark_jsonw_fixed(&w, h->score, 4);
        hark_jsonw_close(&w);
    }
    hark_jsonw_close(&w);
    kv_bool(&w, "more", res->more);
    kv_bool(&w, "windowed", res->windowed);
    hark_jsonw_close(&w);
    return finish(&w, out, len0, flags);
}

/* ---- jobs ----------------------------------------------------------------------------------- */

static void w_job(hark_jsonw *w, const hark_job *j, const hark_job_chunk_list *chunks)
{
    size_t i;
    hark_jsonw_object(w);
    kv_int(w, "id", j->id);
    kv_int(w, "recording", j->recording);
    kv_str(w, "kind", j->kind);
    kv_str(w, "priority", hark_priority_name(j->priority));
    kv_str(w, "state", hark_job_state_name(j->state));
    kv_int(w, "attempts", j->attempts);
    kv_int(w, "max_attempts", j->max_attempts);
    kv_str(w, "error", j->error);
    kv_int(w, "created_ms", j->created_ms);
    kv_int(w, "updated_ms", j->updated_ms);
    kv_int0(w, "started_ms", j->started_ms);
    kv_int0(w, "finished_ms", j->finished_ms);
    kv_int0(w, "not_before_ms", j->not_before_ms);
    hark_jsonw_key(w, "progress");
    hark_jsonw_object(w);
    kv_int(w, "chunks_total", j->chunks_total);
    kv_int(w, "chunks_done", j->chunks_done);
    kv_int(w, "chunks_failed", j->chunks_failed);
    kv_bool(w, "final", j->chunks_final);
    hark_jsonw_close(w);
    if (chunks) {
        hark_jsonw_key(w, "chunks");
        hark_jsonw_array(w);
        for (i = 0; i < chunks->n; i++) {
            const hark_job_chunk *c = &chunks->items[i];
            hark_jsonw_object(w);
            kv_int(w, "index", c->index);
            kv_int(w, "start_ms", hark__samples_to_ms(c->start));
            kv_int(w, "end_ms", hark__samples_to_ms(c->start + c->n));
            kv_str(w, "state", hark_chunk_state_name(c->state));
            kv_int(w, "attempts", c->attempts);
            kv_str(w, "error", c->error);
            hark_jsonw_close(w);
        }
        hark_jsonw_close(w);
    }
    hark_jsonw_close(w);
}

int hark_render_job(hark_buf *out, const hark_job *job, const hark_job_chunk_list *chunks,
                    unsigned flags)
{
    hark_jsonw w;
    size_t len0;
    HARK_ASSERT_ARG(out && job);
    len0 = out->len;
    begin(&w, out, flags);
    w_job(&w, job, chunks);
    return finish(&w, out, len0, flags);
}

int hark_render_job_list(hark_buf *out, const hark_job_list *list, unsigned flags)
{
    hark_jsonw w;
    size_t len0, i;
    HARK_ASSERT_ARG(out && list);
    len0 = out->len;
    begin(&w, out, flags);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "jobs");
    hark_jsonw_array(&w);
    for (i = 0; i < list->n; i++)
        w_job(&w, &list->items[i], NULL);
    hark_jsonw_close(&w);
    kv_cursor(&w, list->more, list->n, list->n ? list->items[list->n - 1].id : 0);
    hark_jsonw_close(&w);
    return finish(&w, out, len0, flags);
}

/* ---- keys and audit ------------------------------------------------------------------------- */

static void w_key(hark_jsonw *w, const hark_api_key *k)
{
    hark_jsonw_object(w);
    kv_int(w, "id", k->id);
    kv_int(w, "user", k->user);
    kv_str(w, "user_name", k->user_name);
    kv_str(w, "name", k->name);
    kv_str(w, "prefix", k->prefix);
    kv_bool(w, "admin", k->admin);
    kv_int(w, "created_ms", k->created_ms);
    kv_int0(w, "revoked_ms", k->revoked_ms);
    hark_jsonw_close(w);
}

int hark_render_key(hark_buf *out, const hark_api_key *key, unsigned flags)
{
    hark_jsonw w;
    size_t len0;
    HARK_ASSERT_ARG(out && key);
    len0 = out->len;
    begin(&w, out, flags);
    w_key(&w, key);
    return finish(&w, out, len0, flags);
}

int hark_render_key_list(hark_buf *out, const hark_api_key_list *list, unsigned flags)
{
    hark_jsonw w;
    size_t len0, i;
    HARK_ASSERT_ARG(out && list);
    len0 = out->len;
    begin(&w, out, flags);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "keys");
    hark_jsonw_array(&w);
    for (i = 0; i < list->n; i++)
        w_key(&w, &list->items[i]);
    hark_jsonw_close(&w);
    hark_jsonw_close(&w);
    return finish(&w, out, len0, flags);
}

int hark_render_audit_list(hark_buf *out, const hark_audit_list *list, unsigned flags)
{
    hark_jsonw w;
    size_t len0, i;
    HARK_ASSERT_ARG(out && list);
    len0 = out->len;
    begin(&w, out, flags);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "entries");
    hark_jsonw_array(&w);
    for (i = 0; i < list->n; i++) {
        const hark_audit_entry *e = &list->items[i];
        hark_jsonw_object(&w);
        kv_int(&w, "id", e->id);
        kv_int(&w, "ts_ms", e->ts_ms);
        kv_int0(&w, "user", e->user);
        kv_int0(&w, "key", e->key);
        kv_str(&w, "action", e->action);
        hark_jsonw_key(&w, "detail");
        if (e->detail && hark__json_valid(e->detail, strlen(e->detail), 0))
            hark_jsonw_raw(&w, e->detail);
        else
            hark_jsonw_str(&w, e->detail);
        hark_jsonw_close(&w);
    }
    hark_jsonw_close(&w);
    kv_cursor(&w, list->more, list->n, list->n ? list->items[list->n - 1].id : 0);
    hark_jsonw_close(&w);
    return finish(&w, out, len0, flags);
}
