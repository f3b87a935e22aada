/*
 * multipart.c: the streaming multipart/form-data parser (src/server/multipart.c).
 *
 * Bodies are built byte for byte the way real clients send a transcription
 * upload (OpenAI Python SDK over httpx, OpenAI Node SDK over undici's
 * FormData and over form-data-encoder, curl -F; the undici and curl framing
 * was captured from node 20 and curl 7.88), then fed whole, split in two at
 * every position and one byte at a time: the callbacks must see the same
 * parts and the same bytes every time.
 *
 * src/server is not a library target yet, so the parser is compiled into
 * this test directly.
 */
#include "harness.h"
#include "util/util.h"

#include "server/multipart.c"

/* ---- recording callbacks ------------------------------------------------------------------- */

#define MAX_PARTS 128

typedef struct rec {
    hark_buf trace;               /* "<name=.. file=.. type=..>data</N>" per part, "[rc ..]" */
    hark_buf data;                /* every part's bytes, concatenated */
    size_t off[MAX_PARTS];        /* where each part's bytes start in `data` */
    size_t nparts;                /* part_begin calls */
    size_t calls;                 /* part_data calls */
    size_t direct;                /* bytes passed as pointers into the chunk being fed */
    const unsigned char *lo, *hi; /* that chunk */
    int events;                   /* callbacks so far */
    int fail_at;                  /* return fail_rc from this callback (1-based), 0 = never */
    int fail_rc;
    char msg[256]; /* hark_error_last() of the final error */
} rec;

static int rec_event(rec *r)
{
    r->events++;
    return r->fail_at && r->events == r->fail_at ? r->fail_rc : 0;
}

static int on_begin(const char *name, const char *filename, const char *ctype, void *payload)
{
    rec *r = payload;
    ASSERT(name != NULL);
    ASSERT_OK(hark_buf_printf(&r->trace, "<name=%s file=%s type=%s>", name,
                              filename ? filename : "(null)", ctype ? ctype : "(null)"));
    if (r->nparts < MAX_PARTS)
        r->off[r->nparts] = r->data.len;
    r->nparts++;
    return rec_event(r);
}

static int on_data(const void *data, size_t len, void *payload)
{
    rec *r = payload;
    const unsigned char *d = data;
    size_t i;
    ASSERT(len > 0);
    ASSERT_OK(hark_buf_put(&r->data, data, len));
    for (i = 0; i < len; i++) /* printable ASCII as is, the rest as \xHH */
        ASSERT_OK(d[i] >= ' ' && d[i] < 0x7f && d[i] != '\\'
                      ? hark_buf_putc(&r->trace, (char)d[i])
                      : hark_buf_printf(&r->trace, "\\x%02x", d[i]));
    r->calls++;
    if (r->lo && d >= r->lo && d + len <= r->hi)
        r->direct += len;
    return rec_event(r);
}

static int on_end(void *payload)
{
    rec *r = payload;
    ASSERT(r->nparts > 0);
    ASSERT_OK(hark_buf_printf(&r->trace, "</%zu>",
                              r->data.len - r->off[HARK_MIN(r->nparts, MAX_PARTS) - 1]));
    return rec_event(r);
}

static const hark_multipart_callbacks callbacks = { on_begin, on_data, on_end };

static void rec_dispose(rec *r)
{
    hark_buf_dispose(&r->trace);
    hark_buf_dispose(&r->data);
}

/* Bytes of part i (0-based) as a NUL-terminated string in a static buffer. */
static const char *part_str(const rec *r, size_t i)
{
    static char out[4096];
    size_t end = i + 1 < r->nparts ? r->off[i + 1] : r->data.len, n = end - r->off[i];
    ASSERT(i < r->nparts && n < sizeof(out));
    memcpy(out, r->data.ptr + r->off[i], n);
    out[n] = '\0';
    return out;
}

/*
 * Parse `body` cut at the sorted positions cuts[0..ncuts) (or in pieces of
 * `step` bytes when step > 0). Returns the first error or finish()'s result;
 * r gets the callbacks, and "[rc NAME: message]" at the end of its trace.
 */
static int run_cuts(rec *r, const char *boundary, const void *body, size_t len, const size_t *cuts,
                    size_t ncuts, size_t step)
{
    const unsigned char *b = body;
    hark_multipart *mp = NULL;
    size_t pos = 0, k = 0;
    int rc;

    ASSERT_OK(hark__multipart_new(&mp, boundary, &callbacks, r));
    for (;;) {
        size_t next = step ? HARK_MIN(pos + step, len) : (k < ncuts ? cuts[k++] : len);
        ASSERT(next >= pos && next <= len);
        r->lo = b + pos;
        r->hi = b + next;
        rc = hark__multipart_feed(mp, b + pos, next - pos);
        pos = next;
        if (rc < 0 || pos == len)
            break;
    }
    r->lo = r->hi = NULL;
    if (rc >= 0)
        rc = hark__multipart_finish(mp);
    if (rc < 0) {
        snprintf(r->msg, sizeof(r->msg), "%s", hark_error_last());
        /* errors are sticky: later calls give the same code and call nothing */
        int events = r->events;
        ASSERT_EQ(hark__multipart_feed(mp, "x", 1), rc);
        ASSERT_EQ(hark__multipart_finish(mp), rc);
        ASSERT_EQ(r->events, events);
    }
    ASSERT_OK(hark_buf_printf(&r->trace, "[rc %s: %s]", hark_err_name(rc), rc < 0 ? r->msg : ""));
    hark__multipart_free(mp);
    return rc;
}

static int run_whole(rec *r, const char *boundary, const void *body, size_t len)
{
    return run_cuts(r, boundary, body, len, NULL, 0, 0);
}

static void assert_same(const rec *a, const rec *b, const char *how)
{
    ASSERT_MSG(a->trace.len == b->trace.len &&
                   memcmp(a->trace.ptr, b->trace.ptr, a->trace.len) == 0,
               "%s: trace differs:\n  whole: %s\n  split: %s", how, a->trace.ptr, b->trace.ptr);
    ASSERT_MSG(a->data.len == b->data.len &&
                   (a->data.len == 0 || memcmp(a->data.ptr, b->data.ptr, a->data.len) == 0),
               "%s: data differs (%zu vs %zu bytes)", how, a->data.len, b->data.len);
}

/* Whole vs every two-piece split vs one byte at a time vs a few three-piece splits. */
static void check_splits(const char *boundary, const void *body, size_t len)
{
    rec ref = { 0 };
    size_t i;
    uint64_t seed = 42;

    run_whole(&ref, boundary, body, len);
    for (i = 0; i <= len; i++) {
        rec r = { 0 };
        char how[64];
        run_cuts(&r, boundary, body, len, &i, 1, 0);
        snprintf(how, sizeof(how), "split at %zu", i);
        assert_same(&ref, &r, how);
        rec_dispose(&r);
    }
    {
        rec r = { 0 };
        run_cuts(&r, boundary, body, len, NULL, 0, 1);
        assert_same(&ref, &r, "one byte at a time");
        rec_dispose(&r);
    }
    for (i = 0; i < 200 && len > 0; i++) {
        rec r = { 0 };
        size_t cuts[2] = { harness_rand(&seed) % (len + 1), harness_rand(&seed) % (len + 1) };
        if (cuts[0] > cuts[1]) {
            size_t t = cuts[0];
            cuts[0] = cuts[1];
            cuts[1] = t;
        }
        run_cuts(&r, boundary, body, len, cuts, 2, 0);
        assert_same(&ref, &r, "three pieces");
        rec_dispose(&r);
    }
    rec_dispose(&ref);
}

/* ---- body builders ------------------------------------------------------------------------- */

static void put(hark_buf *b, const char *s)
{
    ASSERT_OK(hark_buf_puts(b, s));
}

static void putn(hark_buf *b, const void *s, size_t n)
{
    ASSERT_OK(hark_buf_put(b, s, n));
}

/*
 * A small WAV file: 44-byte header and 16-bit noise, with the bytes that
 * trouble delimiter searches mixed in: CR LF "--", a CR LF followed by
 * `boundary` minus its last byte, a CR before CR LF "--", and a last byte CR.
 */
static size_t make_wav(unsigned char *out, size_t cap, const char *boundary)
{
    static const unsigned char hdr[44] = { 'R', 'I', 'F',  'F', 0xa0, 0x02, 0,    0,    'W',
                                           'A', 'V', 'E',  'f', 'm',  't',  ' ',  16,   0,
                                           0,   0,   1,    0,   1,    0,    0x80, 0x3e, 0,
                                           0,   0,   0x7d, 0,   0,    2,    0,    16,   0,
                                           'd', 'a', 't',  'a', 0x7c, 0x02, 0,    0 };
    uint64_t seed = 7;
    size_t n = 44 + 636, i, bl = strlen(boundary);
    ASSERT(n <= cap && bl + 8 < 100);
    memcpy(out, hdr, 44);
    for (i = 44; i < n; i++)
        out[i] = (unsigned char)(harness_rand(&seed) >> 24);
    memcpy(out + 100, "\r\n--", 4);
    memcpy(out + 200, "\r\n--", 4); /* near miss: the boundary without its last byte */
    memcpy(out + 204, boundary, bl - 1);
    out[204 + bl - 1] = (unsigned char)(boundary[bl - 1] == 'x' ? 'y' : 'x');
    memcpy(out + 320, "\r\r\n-\r\n--\r", 9);
    out[n - 1] = '\r';
    return n;
}

typedef enum sdk { SDK_PYTHON, SDK_NODE_UNDICI, SDK_NODE_FDE, SDK_CURL, SDK_COUNT } sdk;

static const char *const sdk_boundary[SDK_COUNT] = {
    "8c5ba2b1f0a3d4e6c7b8a9f0e1d2c3b4",         /* httpx: os.urandom(16).hex() */
    "----formdata-undici-093789547502",         /* undici: ----formdata-undici-0 + 11 digits */
    "form-data-boundary-k3h9x2p0q7w1z5m8",      /* form-data-encoder: prefix + 16 [a-z0-9] */
    "------------------------e2f582fbe8095aeb", /* curl 7.88: 24 dashes + 16 hex */
};

static const char *const sdk_content_type[SDK_COUNT] = {
    "multipart/form-data; boundary=8c5ba2b1f0a3d4e6c7b8a9f0e1d2c3b4",
    "multipart/form-data; boundary=----formdata-undici-093789547502",
    "multipart/form-data; boundary=form-data-boundary-k3h9x2p0q7w1z5m8",
    "multipart/form-data; boundary=------------------------e2f582fbe8095aeb",
};

/* Text fields of an OpenAI transcription request, in the SDK's order. */
static const char *const fields[][2] = {
    { "model", "whisper-1" },
    { "language", "en" },
    { "prompt", "Hello, world." },
    { "response_format", "verbose_json" },
    { "temperature", "0" },
    { "timestamp_granularities[]", "word" },
    { "timestamp_granularities[]", "segment" },
};

static void text_part(hark_buf *b, const char *bd, const char *name, const char *value)
{
    ASSERT_OK(hark_buf_printf(
        b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", bd, name, value));
}

/* The file part's head, as each client writes it. */
static void file_head(hark_buf *b, sdk s, const char *bd)
{
    static const char *const ctype[SDK_COUNT] = {
        "audio/x-wav",              /* Python's mimetypes for .wav (httpx guess_content_type) */
        "audio/wav",                /* the File's type */
        "audio/wav",                /* the File's type */
        "application/octet-stream", /* curl: .wav is not in its table */
    };
    ASSERT_OK(hark_buf_printf(b,
                              "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                              "filename=\"speech.wav\"\r\nContent-Type: %s\r\n\r\n",
                              bd, ctype[s]));
}

/*
 * One transcription upload. httpx writes the data fields first and the files
 * after, temperature as str(0.0); the Node SDK and curl keep the caller's
 * order (file first). form-data-encoder ends with CRLF CRLF after the close
 * delimiter, the others with one CRLF.
 */
static void sdk_body(hark_buf *b, sdk s, const unsigned char *wav, size_t wav_len)
{
    const char *bd = sdk_boundary[s];
    size_t i;
    if (s != SDK_PYTHON) {
        file_head(b, s, bd);
        putn(b, wav, wav_len);
        put(b, "\r\n");
    }
    for (i = 0; i < HARK_ARRAY_SIZE(fields); i++)
        text_part(b, bd, fields[i][0],
                  s == SDK_PYTHON && strcmp(fields[i][0], "temperature") == 0 ? "0.0"
                                                                              : fields[i][1]);
    if (s == SDK_PYTHON) {
        file_head(b, s, bd);
        putn(b, wav, wav_len);
        put(b, "\r\n");
    }
    ASSERT_OK(hark_buf_printf(b, "--%s--\r\n%s", bd, s == SDK_NODE_FDE ? "\r\n" : ""));
}

/* ---- boundary from Content-Type ------------------------------------------------------------ */

static void expect_boundary(const char *ct, const char *want)
{
    char out[HARK_MULTIPART_BOUNDARY_MAX + 1];
    int rc = hark__multipart_boundary(ct, out, sizeof(out));
    ASSERT_MSG(rc == 0, "'%s': %s", ct, hark_error_last());
    ASSERT_STREQ(out, want);
}

static void expect_boundary_error(const char *ct, int code, const char *msg)
{
    char out[HARK_MULTIPART_BOUNDARY_MAX + 1];
    int rc = hark__multipart_boundary(ct, out, sizeof(out));
    ASSERT_MSG(rc == code, "'%s': got %s (%s), expected %s", ct ? ct : "(null)", hark_err_name(rc),
               hark_error_last(), hark_err_name(code));
    ASSERT_CONTAINS(hark_error_last(), msg);
}

TEST(boundary_from_content_type)
{
    size_t i;
    for (i = 0; i < SDK_COUNT; i++)
        expect_boundary(sdk_content_type[i], sdk_boundary[i]);
    expect_boundary("multipart/form-data; boundary=\"a b:c\"", "a b:c");
    expect_boundary("Multipart/Form-Data;BOUNDARY=xyz", "xyz");
    expect_boundary("multipart/form-data; charset=utf-8; Boundary=\"q'()+_,-./:=?\"",
                    "q'()+_,-./:=?");
    expect_boundary("multipart/form-data ; boundary = abc ; charset=\"x;y\" ;", "abc");
    expect_boundary("  multipart/form-data;boundary=\"esc\\aped\"", "escaped");
    expect_boundary("multipart/form-data; boundary==_Part_0_1", "=_Part_0_1");
    expect_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
                    "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    {
        char b70[71], ct[128];
        memset(b70, 'b', 70);
        b70[70] = '\0';
        snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b70);
        expect_boundary(ct, b70);
        snprintf(ct, sizeof(ct), "multipart/form-data; boundary=\"%s\"", b70);
        expect_boundary(ct, b70);
    }
}

TEST(boundary_errors_are_precise)
{
    char out[8];
    expect_boundary_error(NULL, HARK_EUNSUPPORTED, "no Content-Type");
    expect_boundary_error("application/json", HARK_EUNSUPPORTED,
                          "Content-Type is 'application/json', expected multipart/form-data");
    expect_boundary_error("multipart/mixed; boundary=x", HARK_EUNSUPPORTED, "expected");
    expect_boundary_error("multipart/form-datax; boundary=x", HARK_EUNSUPPORTED, "expected");
    expect_boundary_error("multipart/form-data", HARK_EINVAL,
                          "multipart: no boundary in Content-Type");
    expect_boundary_error("multipart/form-data; charset=utf-8", HARK_EINVAL,
                          "multipart: no boundary in Content-Type");
    expect_boundary_error("multipart/form-data; boundary=\"\"", HARK_EINVAL, "empty boundary");
    expect_boundary_error("multipart/form-data; boundary=", HARK_EINVAL,
                          "empty boundary parameter");
    expect_boundary_error("multipart/form-data; boundary=b"
                          "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                          HARK_EINVAL, "multipart: boundary longer than 70 characters");
    expect_boundary_error(
        "multipart/form-data; boundary=\"b"
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
        HARK_EINVAL, "multipart: boundary longer than 70 characters");
    expect_boundary_error("multipart/form-data; boundary=a@b", HARK_EINVAL,
                          "character RFC 2046 does not allow (byte 0x40 at 1)");
    expect_boundary_error("multipart/form-data; boundary=\"a\\\"b\"", HARK_EINVAL, "byte 0x22");
    expect_boundary_error("multipart/form-data; boundary=\"ab \"", HARK_EINVAL,
                          "boundary ends with a space");
    expect_boundary_error("multipart/form-data; boundary=\"abc", HARK_EINVAL,
                          "unterminated quoted string");
    expect_boundary_error("multipart/form-data; boundary=a; boundary=b", HARK_EINVAL,
                          "more than one boundary");
    expect_boundary_error("multipart/form-data boundary=a", HARK_EINVAL, "malformed Content-Type");
    expect_boundary_error("multipart/form-data; boundary", HARK_EINVAL, "malformed Content-Type");
    expect_boundary_error("multipart/form-data; boundary=a b", HARK_EINVAL,
                          "malformed Content-Type");
    ASSERT_ERR(hark__multipart_boundary("multipart/form-data; boundary=12345678", out, sizeof(out)),
               HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "buffer too small");
    ASSERT_OK(hark__multipart_boundary("multipart/form-data; boundary=1234567", out, sizeof(out)));
    ASSERT_STREQ(out, "1234567");
}

TEST(new_checks_the_boundary_and_memory)
{
    hark_multipart *mp = (hark_multipart *)1;
    ASSERT_ERR(hark__multipart_new(&mp, "", &callbacks, NULL), HARK_EINVAL);
    ASSERT(mp == NULL);
    ASSERT_ERR(hark__multipart_new(&mp, "a\r\nb", &callbacks, NULL), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "byte 0x0d");
    ASSERT_ERR(hark__multipart_new(&mp,
                                   "12345678901234567890123456789012345678901234567890123456789012"
                                   "345678901",
                                   &callbacks, NULL),
               HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "longer than 70");
    hark__alloc_fail_at(1);
    ASSERT_ERR(hark__multipart_new(&mp, "abc", &callbacks, NULL), HARK_ENOMEM);
    hark__alloc_fail_at(0);
    ASSERT(mp == NULL);
    ASSERT_OK(hark__multipart_new(&mp, "abc", NULL, NULL)); /* no callbacks: parse and drop */
    {
        static const char body[] = "--abc\r\nContent-Disposition: form-data; name=x\r\n\r\n"
                                   "1\r\n--abc--";
        ASSERT_OK(hark__multipart_feed(mp, body, sizeof(body) - 1));
    }
    ASSERT_OK(hark__multipart_feed(mp, NULL, 0));
    ASSERT_OK(hark__multipart_finish(mp));
    ASSERT_EQ(hark__multipart_parts(mp), 1);
    hark__multipart_free(mp);
    hark__multipart_free(NULL);
}

/* ---- real client bodies -------------------------------------------------------------------- */

static void check_sdk_parse(sdk s)
{
    unsigned char wav[1024];
    size_t wav_len = make_wav(wav, sizeof(wav), sdk_boundary[s]), i, file_idx, f;
    hark_buf body = HARK_BUF_INIT;
    rec r = { 0 };
    char bd[HARK_MULTIPART_BOUNDARY_MAX + 1];

    sdk_body(&body, s, wav, wav_len);
    ASSERT_OK(hark__multipart_boundary(sdk_content_type[s], bd, sizeof(bd)));
    ASSERT_OK(run_whole(&r, bd, body.ptr, body.len));
    ASSERT_EQ(r.nparts, 8);
    file_idx = s == SDK_PYTHON ? 7 : 0;
    ASSERT_EQ((file_idx + 1 < r.nparts ? r.off[file_idx + 1] : r.data.len) - r.off[file_idx],
              wav_len);
    ASSERT(memcmp(r.data.ptr + r.off[file_idx], wav, wav_len) == 0);
    for (i = 0, f = 0; i < r.nparts; i++) {
        if (i == file_idx)
            continue;
        ASSERT_STREQ(part_str(&r, i), s == SDK_PYTHON && f == 4 ? "0.0" : fields[f][1]);
        f++;
    }
    ASSERT_CONTAINS(r.trace.ptr, "<name=file file=speech.wav type=");
    ASSERT_CONTAINS(r.trace.ptr, "<name=timestamp_granularities[] file=(null) type=(null)>word</4>"
                                 "<name=timestamp_granularities[] file=(null) type=(null)>segment"
                                 "</7>");
    ASSERT_CONTAINS(r.trace.ptr, "[rc OK: ]");
    rec_dispose(&r);
    hark_buf_dispose(&body);
}

TEST(python_sdk_httpx_body)
{
    check_sdk_parse(SDK_PYTHON);
}

TEST(node_sdk_undici_body)
{
    check_sdk_parse(SDK_NODE_UNDICI);
}

TEST(node_sdk_form_data_encoder_body)
{
    check_sdk_parse(SDK_NODE_FDE);
}

TEST(curl_form_body)
{
    check_sdk_parse(SDK_CURL);
}

TEST(client_bodies_give_the_same_result_at_every_split)
{
    int s;
    harness_timeout(600);
    for (s = 0; s < SDK_COUNT; s++) {
        unsigned char wav[1024];
        size_t wav_len = make_wav(wav, sizeof(wav), sdk_boundary[s]);
        hark_buf body = HARK_BUF_INIT;
        sdk_body(&body, (sdk)s, wav, wav_len);
        check_splits(sdk_boundary[s], body.ptr, body.len);
        hark_buf_dispose(&body);
    }
}

/* ---- framing ------------------------------------------------------------------------------- */

static int run_str(rec *r, const char *boundary, const char *body)
{
    return run_whole(r, boundary, body, strlen(body));
}

/* Parse `body`, check that every split agrees, return the trace. */
static void expect_trace(const char *boundary, const char *body, const char *trace)
{
    rec r = { 0 };
    run_str(&r, boundary, body);
    ASSERT_STREQ(r.trace.ptr, trace);
    rec_dispose(&r);
    check_splits(boundary, body, strlen(body));
}

#define CD(name) "Content-Disposition: form-data; name=\"" name "\"\r\n"

TEST(near_misses_of_the_delimiter_are_data)
{
    static const char data[] = "\r\n-"
                               "-"
                               "\r\n--X"
                               "\r\n--Xy"
                               "Q--XyZ"     /* no CRLF before it */
                               "\r\r\n--XY" /* case matters */
                               "\n--XyZ"    /* LF only */
                               "\r\n--xyz"
                               "\r\n --XyZ"
                               "\r\n--Xy"
                               "\r";
    hark_buf body = HARK_BUF_INIT;
    rec r = { 0 };
    put(&body, "--XyZ\r\n" CD("a") "\r\n");
    put(&body, data);
    put(&body, "\r\n--XyZ--\r\n");
    ASSERT_OK(run_whole(&r, "XyZ", body.ptr, body.len));
    ASSERT_EQ(r.nparts, 1);
    ASSERT_EQ(r.data.len, sizeof(data) - 1);
    ASSERT(memcmp(r.data.ptr, data, sizeof(data) - 1) == 0);
    check_splits("XyZ", body.ptr, body.len);
    rec_dispose(&r);
    hark_buf_dispose(&body);
}

TEST(data_is_passed_without_copies)
{
    /* a possible delimiter cut by the chunk end turns out to be data: those 6
     * bytes come from the parser's copy of the delimiter, all others straight
     * from the caller's chunk */
    static const char body[] = "--XyZ\r\n" CD("a") "\r\nhello\r\n--XyQ world\r\n--XyZ--";
    size_t cut = strlen("--XyZ\r\n" CD("a") "\r\nhello\r\n--Xy"), total;
    rec r = { 0 };
    ASSERT_OK(run_cuts(&r, "XyZ", body, sizeof(body) - 1, &cut, 1, 0));
    ASSERT_STREQ(part_str(&r, 0), "hello\r\n--XyQ world");
    total = strlen("hello\r\n--XyQ world");
    ASSERT_EQ(r.direct, total - 6);
    ASSERT_EQ(r.calls, 3);
    rec_dispose(&r);
    memset(&r, 0, sizeof(r));
    ASSERT_OK(run_whole(&r, "XyZ", body, sizeof(body) - 1));
    ASSERT_EQ(r.direct, total);
    ASSERT_EQ(r.calls, 1);
    rec_dispose(&r);
}

TEST(empty_parts)
{
    expect_trace(
        "b",
        "--b\r\n" CD("empty") "\r\n"
                              "\r\n--b\r\n"
                              "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
                              "Content-Type: application/octet-stream\r\n\r\n"
                              "\r\n--b\r\n" CD("") "\r\n"
                                                   "x\r\n--b--\r\n",
        "<name=empty file=(null) type=(null)></0>"
        "<name=file file= type=application/octet-stream></0>"
        "<name= file=(null) type=(null)>x</1>[rc OK: ]");
}

TEST(preamble_and_epilogue_are_ignored)
{
    expect_trace("frontier",
                 "This is a message with multiple parts in MIME format.\r\n"
                 "--front\r\n-- frontier\r\n--frontie\r\n"
                 "--frontier\r\n" CD("a") "\r\n"
                                          "A\r\n--frontier--\r\n"
                                          "This is the epilogue.\r\n--frontier\r\n" CD(
                                              "ghost") "\r\nboo\r\n"
                                                       "--frontier--\r\n--frontierX",
                 "<name=a file=(null) type=(null)>A</1>[rc OK: ]");
    /* an empty preamble: the body opens with CRLF */
    expect_trace("b", "\r\n--b\r\n" CD("a") "\r\nA\r\n--b--",
                 "<name=a file=(null) type=(null)>A</1>[rc OK: ]");
}

TEST(transport_padding_after_delimiters)
{
    expect_trace("b",
                 "--b \t \r\n" CD("a") "\r\nA\r\n--b\t\r\n" CD("c") "\r\nC\r\n--b-- \r\nepilogue",
                 "<name=a file=(null) type=(null)>A</1><name=c file=(null) type=(null)>C</1>"
                 "[rc OK: ]");
}

TEST(zero_parts)
{
    expect_trace("b", "--b--\r\n", "[rc OK: ]");
    expect_trace("b", "--b--", "[rc OK: ]");
    expect_trace("b", "", "[rc EINVAL: multipart: no delimiter \"--b\" in the body]");
    expect_trace("b", "--a\r\n" CD("x") "\r\n\r\n--a--",
                 "[rc EINVAL: multipart: no delimiter \"--b\" in the body]");
}

TEST(malformed_delimiter_lines)
{
    expect_trace("b", "--bX\r\n" CD("a") "\r\n\r\n--b--",
                 "[rc EINVAL: multipart: malformed delimiter line after the preamble (the "
                 "boundary must be followed by CRLF or \"--\")]");
    expect_trace("b", "--b\r\n" CD("a") "\r\nA\r\n--bc\r\n--b--",
                 "<name=a file=(null) type=(null)>A[rc EINVAL: multipart: malformed delimiter "
                 "line after part 'a' (the boundary must be followed by CRLF or \"--\")]");
    expect_trace("b", "--b\r\n" CD("a") "\r\nA\r\n--b-x",
                 "<name=a file=(null) type=(null)>A[rc EINVAL: multipart: malformed delimiter "
                 "line after part 'a' (the boundary must be followed by CRLF or \"--\")]");
    expect_trace("b", "--b \tx\r\n",
                 "[rc EINVAL: multipart: malformed delimiter line after the preamble (the "
                 "boundary must be followed by CRLF or \"--\")]");
    expect_trace("b", "--b\rx",
                 "[rc EINVAL: multipart: malformed delimiter line after the preamble (the "
                 "boundary must be followed by CRLF or \"--\")]");
    /* LF-only line ends are not MIME */
    expect_trace("b", "--b\nContent-Disposition: form-data; name=\"a\"\n\nA\n--b--\n",
                 "[rc EINVAL: multipart: malformed delimiter line after the preamble (the "
                 "boundary must be followed by CRLF or \"--\")]");
}

TEST(truncated_bodies_fail_with_the_place)
{
    unsigned char wav[1024];
    size_t wav_len = make_wav(wav, sizeof(wav), sdk_boundary[SDK_NODE_UNDICI]), k;
    const char *bd = sdk_boundary[SDK_NODE_UNDICI];
    hark_buf body = HARK_BUF_INIT;
    rec full = { 0 };
    size_t full_events;

    sdk_body(&body, SDK_NODE_UNDICI, wav, wav_len);
    ASSERT_OK(run_whole(&full, bd, body.ptr, body.len));
    full_events = full.trace.len - strlen("[rc OK: ]");
    for (k = 0; k <= body.len; k++) {
        rec r = { 0 };
        int rc = run_whole(&r, bd, body.ptr, k);
        size_t events = r.trace.len - strlen("[rc ") - strlen(hark_err_name(rc)) - 2 -
                        (rc < 0 ? strlen(r.msg) : 0) - 1;
        if (k >= body.len - 2) { /* only the final CRLF (epilogue) is missing */
            ASSERT_EQ(rc, 0);
        } else {
            ASSERT_MSG(rc == HARK_EINVAL, "prefix %zu: %s", k, hark_err_name(rc));
            ASSERT_CONTAINS(r.msg, "multipart: ");
        }
        /* what was reported before the end is a prefix of the full parse */
        ASSERT_MSG(events <= full_events && memcmp(r.trace.ptr, full.trace.ptr, events) == 0,
                   "prefix %zu: %s", k, r.trace.ptr);
        ASSERT(r.data.len <= full.data.len &&
               (r.data.len == 0 || memcmp(r.data.ptr, full.data.ptr, r.data.len) == 0));
        rec_dispose(&r);
    }
    rec_dispose(&full);
    {
        const struct {
            size_t len;
            const char *msg;
        } at[] = {
            { 0, "multipart: no delimiter \"--" },
            { 10, "multipart: no delimiter \"--" },
            { 34, "multipart: body ends before the first part" },
            { 35, "multipart: body ends before the first part" },
            { 36, "multipart: body ends inside the headers of part 1" },
            { 37, "multipart: body ends inside the headers of part 1" },
            { 160, "multipart: body ends inside part 'file'" },
            { 800, "multipart: body ends inside part 'file'" },
            { 878, "multipart: body ends inside the headers of part 2" },
            { body.len - 4, "multipart: body ends after part 'timestamp_granularities[]' "
                            "without the closing delimiter" },
            { body.len - 3, "without the closing delimiter" },
        };
        size_t i;
        for (i = 0; i < HARK_ARRAY_SIZE(at); i++) {
            rec r = { 0 };
            ASSERT_ERR(run_whole(&r, bd, body.ptr, at[i].len), HARK_EINVAL);
            ASSERT_MSG(strstr(r.msg, at[i].msg) != NULL, "prefix %zu: '%s', expected '%s'",
                       at[i].len, r.msg, at[i].msg);
            rec_dispose(&r);
        }
    }
    hark_buf_dispose(&body);
}

/* ---- limits -------------------------------------------------------------------------------- */

/* A body whose first part's header section is exactly `hsize` bytes. */
static void header_body(hark_buf *b, size_t hsize)
{
    static const char head[] = CD("a") "X-Pad: ";
    size_t pad = hsize - (sizeof(head) - 1) - 4, i;
    put(b, "--b\r\n");
    put(b, head);
    for (i = 0; i < pad; i++)
        ASSERT_OK(hark_buf_putc(b, 'p'));
    put(b, "\r\n\r\nA\r\n--b--\r\n");
}

TEST(part_headers_are_limited_to_8_KiB)
{
    hark_buf b = HARK_BUF_INIT;
    rec r = { 0 };
    harness_timeout(600);
    header_body(&b, HARK_MULTIPART_HEADER_MAX);
    ASSERT_OK(run_whole(&r, "b", b.ptr, b.len));
    ASSERT_STREQ(r.trace.ptr, "<name=a file=(null) type=(null)>A</1>[rc OK: ]");
    rec_dispose(&r);
    hark_buf_dispose(&b);

    memset(&r, 0, sizeof(r));
    header_body(&b, HARK_MULTIPART_HEADER_MAX + 1);
    ASSERT_ERR(run_whole(&r, "b", b.ptr, b.len), HARK_ETOOBIG);
    ASSERT_STREQ(r.msg, "multipart: headers of part 1 exceed 8192 bytes");
    check_splits("b", b.ptr, b.len);
    rec_dispose(&r);
    hark_buf_dispose(&b);

    /* a header section that never ends stops at the limit too, not at the body's end */
    memset(&r, 0, sizeof(r));
    put(&b, "--b\r\n" CD("ok") "\r\n1\r\n--b\r\n");
    while (b.len < 100000)
        put(&b, "X-Header: value\r\n");
    ASSERT_ERR(run_whole(&r, "b", b.ptr, b.len), HARK_ETOOBIG);
    ASSERT_STREQ(r.msg, "multipart: headers of part 2 exceed 8192 bytes");
    rec_dispose(&r);
    hark_buf_dispose(&b);
}

TEST(at_most_100_parts)
{
    hark_buf b = HARK_BUF_INIT;
    rec r = { 0 };
    int i;
    for (i = 0; i < HARK_MULTIPART_PARTS_MAX; i++)
        ASSERT_OK(hark_buf_printf(&b, "--b\r\n" CD("f%d") "\r\nv\r\n", i));
    put(&b, "--b--\r\n");
    ASSERT_OK(run_whole(&r, "b", b.ptr, b.len));
    ASSERT_EQ(r.nparts, 100);
    rec_dispose(&r);

    memset(&r, 0, sizeof(r));
    b.len -= strlen("--b--\r\n");
    put(&b, "--b\r\n" CD("f100") "\r\nv\r\n--b--\r\n");
    ASSERT_ERR(run_whole(&r, "b", b.ptr, b.len), HARK_ETOOBIG);
    ASSERT_STREQ(r.msg, "multipart: more than 100 parts");
    ASSERT_EQ(r.nparts, 100);
    ASSERT_CONTAINS(r.trace.ptr, "<name=f99 file=(null) type=(null)>v</1>[rc ETOOBIG");
    rec_dispose(&r);
    hark_buf_dispose(&b);
}

/* ---- part headers -------------------------------------------------------------------------- */

/* One part with header section `headers` (CRLF CRLF added) and content "v". */
static void expect_part(const char *headers, const char *trace)
{
    hark_buf b = HARK_BUF_INIT;
    rec r = { 0 };
    put(&b, "--b\r\n");
    put(&b, headers);
    put(&b, "\r\n\r\nv\r\n--b--\r\n");
    run_whole(&r, "b", b.ptr, b.len);
    ASSERT_MSG(strcmp(r.trace.ptr, trace) == 0, "headers '%s':\n  got      %s\n  expected %s",
               headers, r.trace.ptr, trace);
    rec_dispose(&r);
    hark_buf_dispose(&b);
}

TEST(content_disposition_forms)
{
    expect_part("Content-Disposition: form-data; name=field1",
                "<name=field1 file=(null) type=(null)>v</1>[rc OK: ]");
    expect_part("content-disposition: FORM-DATA; NAME=\"a b\"; FileName=\"a \\\"q\\\" \\\\ b.wav\"",
                "<name=a b file=a \"q\" \\ b.wav type=(null)>v</1>[rc OK: ]");
    /* filename* (RFC 8187) wins over filename, in either order */
    expect_part("Content-Disposition: form-data; name=\"file\"; filename=\"fallback.wav\"; "
                "filename*=UTF-8''%E2%82%AC%20rates.wav",
                "<name=file file=\xe2\x82\xac rates.wav type=(null)>v</1>[rc OK: ]");
    expect_part("Content-Disposition: form-data; name=\"file\"; filename*=utf-8'en'x.wav; "
                "filename=\"y.wav\"",
                "<name=file file=x.wav type=(null)>v</1>[rc OK: ]");
    expect_part("Content-Disposition: form-data; name=file; filename*=\"ISO-8859-1''caf%E9.wav\"",
                "<name=file file=caf\xc3\xa9.wav type=(null)>v</1>[rc OK: ]");
    /* browsers send UTF-8 filenames raw */
    expect_part("Content-Disposition: form-data; name=\"file\"; filename=\"\xc3\xa9t\xc3\xa9.wav\"",
                "<name=file file=\xc3\xa9t\xc3\xa9.wav type=(null)>v</1>[rc OK: ]");
    /* folded header lines, spacing, unknown parameters, a trailing ';' */
    expect_part("Content-Disposition: form-data;\r\n name=\"folded\";\r\n\tfilename=a.wav",
                "<name=folded file=a.wav type=(null)>v</1>[rc OK: ]");
    expect_part("Content-Disposition:form-data ; size=123 ; name = \"sp\" ;",
                "<name=sp file=(null) type=(null)>v</1>[rc OK: ]");
    /* Content-Type is passed on trimmed; other headers are ignored */
    expect_part("X-Foo: bar\r\nCONTENT-TYPE:  text/plain; charset=utf-8  \r\n"
                "Content-Transfer-Encoding: binary\r\n" CD("t") "Content-Length : 1",
                "<name=t file=(null) type=text/plain; charset=utf-8>v</1>[rc OK: ]");
}

TEST(bad_part_headers)
{
    static const struct {
        const char *headers, *msg;
    } cases[] = {
        { "Content-Type: text/plain", "multipart: part 1 has no Content-Disposition header" },
        { "Content-Disposition: form-data; filename=\"a.wav\"",
          "multipart: part 1 has no name in Content-Disposition" },
        { "Content-Disposition: attachment; name=\"a\"",
          "multipart: part 1: Content-Disposition is 'attachment; name=\"a\"', not form-data" },
        { "Content-Disposition: form-data; name=\"a\"; name=\"b\"",
          "multipart: part 1: duplicate name parameter in Content-Disposition" },
        { "Content-Disposition: form-data; name=a; filename=x; filename=y",
          "duplicate filename parameter" },
        { CD("a") "Content-Disposition: form-data; name=\"b\"",
          "multipart: part 1 has more than one Content-Disposition" },
        { CD("a") "Content-Type: a/b\r\ncontent-type: c/d",
          "multipart: part 1 has more than one Content-Type" },
        { "Content-Disposition: form-data; name=\"a", "unterminated quoted string" },
        { "Content-Disposition: form-data; name", "malformed Content-Disposition" },
        { "Content-Disposition: form-data; name=", "malformed Content-Disposition" },
        { "Content-Disposition: form-data name=\"a\"", "malformed Content-Disposition" },
        { "Content-Disposition: form-data; =a",
          "multipart: part 1: malformed Content-Disposition 'form-data; =a'" },
        { "Content-Disposition: form-data; name=a b",
          "multipart: part 1: malformed Content-Disposition 'form-data; name=a b'" },
        { "Content-Disposition", "multipart: malformed header line in part 1" },
        { ": form-data; name=a", "multipart: malformed header line in part 1" },
        { "Bad Name: x\r\n" CD("a"), "multipart: malformed header line in part 1" },
        { " Content-Disposition: form-data; name=a", "malformed header line in part 1" },
        { "X: a\nb\r\n" CD("a"), "multipart: bare CR or LF in the headers of part 1" },
        { "X: a\rb\r\n" CD("a"), "multipart: bare CR or LF in the headers of part 1" },
        { "Content-Disposition: form-data; name=a; filename*=koi8-r''x",
          "multipart: part 1: unsupported charset 'koi8-r' in filename*" },
        { "Content-Disposition: form-data; name=a; filename*=UTF-8''%zz",
          "multipart: part 1: bad percent-encoding in filename*" },
        { "Content-Disposition: form-data; name=a; filename*=UTF-8''x%4",
          "bad percent-encoding in filename*" },
        { "Content-Disposition: form-data; name=a; filename*=UTF-8''a%00b",
          "multipart: part 1: NUL in filename*" },
        { "Content-Disposition: form-data; name=a; filename*=x.wav",
          "multipart: part 1: malformed filename* parameter" },
        { "Content-Disposition: form-data; name=a; filename*=\"iso-8859-1''\xe9\"",
          "multipart: part 1: malformed filename* parameter" },
    };
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(cases); i++) {
        hark_buf b = HARK_BUF_INIT;
        rec r = { 0 };
        put(&b, "--b\r\n");
        put(&b, cases[i].headers);
        put(&b, "\r\n\r\nv\r\n--b--\r\n");
        ASSERT_MSG(run_whole(&r, "b", b.ptr, b.len) == HARK_EINVAL, "'%s': %s", cases[i].headers,
                   r.trace.ptr);
        ASSERT_MSG(strstr(r.msg, cases[i].msg) != NULL, "'%s': got '%s', expected '%s'",
                   cases[i].headers, r.msg, cases[i].msg);
        ASSERT_EQ(r.nparts, 0);
        rec_dispose(&r);
        hark_buf_dispose(&b);
    }
    /* NUL bytes, and errors count the parts */
    {
        static const char body[] = "--b\r\n" CD("a") "\r\n1\r\n--b\r\nX: \0\r\n" CD("b") "\r\n2";
        rec r = { 0 };
        ASSERT_ERR(run_whole(&r, "b", body, sizeof(body) - 1), HARK_EINVAL);
        ASSERT_STREQ(r.msg, "multipart: NUL byte in the headers of part 2");
        ASSERT_STREQ(r.trace.ptr, "<name=a file=(null) type=(null)>1</1>[rc EINVAL: multipart: "
                                  "NUL byte in the headers of part 2]");
        rec_dispose(&r);
    }
    /* a part with no headers at all */
    expect_trace("b", "--b\r\n\r\ndata\r\n--b--",
                 "[rc EINVAL: multipart: part 1 has no Content-Disposition header]");
}

/* ---- callbacks ----------------------------------------------------------------------------- */

TEST(callback_errors_abort_the_parse)
{
    static const char body[] = "--b\r\n" CD("a") "\r\nAAA\r\n--b\r\n" CD("c") "\r\nC\r\n--b--";
    static const char *const traces[] = {
        "<name=a file=(null) type=(null)>[rc ECANCELED: cb]",
        "<name=a file=(null) type=(null)>AAA[rc ECANCELED: cb]",
        "<name=a file=(null) type=(null)>AAA</3>[rc ECANCELED: cb]",
        "<name=a file=(null) type=(null)>AAA</3><name=c file=(null) type=(null)>[rc ECANCELED: cb]",
    };
    int at;
    for (at = 1; at <= 4; at++) {
        rec r = { 0 }, s = { 0 };
        r.fail_at = s.fail_at = at;
        r.fail_rc = s.fail_rc = HARK_ECANCELED;
        hark_error_set(HARK_ECANCELED, "cb");
        ASSERT_ERR(run_whole(&r, "b", body, sizeof(body) - 1), HARK_ECANCELED);
        ASSERT_EQ(r.events, at);
        ASSERT_STREQ(r.trace.ptr, traces[at - 1]);
        ASSERT_EQ(run_cuts(&s, "b", body, sizeof(body) - 1, NULL, 0, 1), HARK_ECANCELED);
        ASSERT_EQ(s.events, at);
        rec_dispose(&r);
        rec_dispose(&s);
    }
}

/* ---- a large upload ------------------------------------------------------------------------ */

typedef struct stream_sink {
    uint64_t bytes, calls, direct, hash;
    const unsigned char *lo, *hi;
    int begun, ended;
} stream_sink;

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static int sink_begin(const char *name, const char *filename, const char *ctype, void *payload)
{
    stream_sink *k = payload;
    ASSERT_STREQ(name, "file");
    ASSERT_STREQ(filename, "long.wav");
    ASSERT_STREQ(ctype, "audio/wav");
    k->begun++;
    return 0;
}

static int sink_data(const void *data, size_t len, void *payload)
{
    stream_sink *k = payload;
    const unsigned char *d = data;
    k->bytes += len;
    k->calls++;
    k->hash = fnv1a(k->hash, d, len);
    if (d >= k->lo && d + len <= k->hi)
        k->direct += len;
    return 0;
}

static int sink_end(void *payload)
{
    stream_sink *k = payload;
    k->ended++;
    return 0;
}

TEST(streamed_100_MB_part_in_constant_memory)
{
    static const char bd[] = "hark-boundary-0123456789";
    static const char head[] = "--hark-boundary-0123456789\r\nContent-Disposition: form-data; "
                               "name=\"file\"; filename=\"long.wav\"\r\nContent-Type: audio/wav"
                               "\r\n\r\n";
    static const char tail[] = "\r\n--hark-boundary-0123456789--\r\n";
    const size_t block = 1 << 20, piece = 65521; /* a prime: cuts fall everywhere */
    const size_t total = (size_t)100 << 20;
    hark_multipart_callbacks cb = { sink_begin, sink_data, sink_end };
    stream_sink k = { 0 };
    hark_multipart *mp = NULL;
    unsigned char *buf = hark__malloc(block);
    uint64_t seed = 99, want = 0xcbf29ce484222325ULL, allocs;
    size_t i, fed = 0, near = 0;

    harness_timeout(600);
    ASSERT(buf != NULL);
    for (i = 0; i < block; i++)
        buf[i] = (unsigned char)(harness_rand(&seed) >> 24);
    /* near misses every ~4 KiB, some cut by the piece boundaries */
    for (i = 1000; i + 64 < block; i += 4099, near++) {
        memcpy(buf + i, "\r\n--", 4);
        memcpy(buf + i + 4, bd, (i / 4099) % (sizeof(bd) - 1));
    }
    k.hash = 0xcbf29ce484222325ULL;
    for (i = 0; i < total / block; i++)
        want = fnv1a(want, buf, block);

    ASSERT_OK(hark__multipart_new(&mp, bd, &cb, &k));
    hark__alloc_fail_at(0); /* from here on, count allocations */
    ASSERT_OK(hark__multipart_feed(mp, head, sizeof(head) - 1));
    while (fed < total) {
        size_t off = fed % block, n = HARK_MIN(piece, block - off);
        k.lo = buf + off;
        k.hi = buf + off + n;
        ASSERT_OK(hark__multipart_feed(mp, buf + off, n));
        fed += n;
    }
    k.lo = k.hi = NULL;
    ASSERT_OK(hark__multipart_feed(mp, tail, sizeof(tail) - 1));
    ASSERT_OK(hark__multipart_finish(mp));
    allocs = hark__alloc_fail_at(0);
    ASSERT_EQ(allocs, 0); /* the parser allocated nothing while streaming 100 MB */
    ASSERT_EQ(k.begun, 1);
    ASSERT_EQ(k.ended, 1);
    ASSERT_EQ(k.bytes, total);
    ASSERT(k.hash == want);
    /* only near misses cut by a piece boundary went through the parser's own copy */
    ASSERT_LE(k.bytes - k.direct, (uint64_t)(total / piece + 1) * (sizeof(bd) + 3));
    ASSERT_LT(k.calls, total / 1000);
    ASSERT(near > 200);
    hark__multipart_free(mp);
    hark__free(buf);
}
