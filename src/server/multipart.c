/*
 * multipart.c: streaming multipart/form-data parser (multipart.h).
 *
 * DESIGN
 * The body is `[preamble CRLF] --B pad CRLF part (CRLF --B pad CRLF part)*
 * CRLF --B-- [epilogue]` (RFC 2046 5.1.1). Every delimiter, the first one
 * included, is treated as "CRLF--B" by starting the parser as if a CRLF had
 * already been matched: a body that opens with "--B" matches at once, one
 * with a preamble fails that match and goes on searching. A delimiter is
 * recognised wherever "CRLF--B" occurs (RFC 2046: the boundary must not
 * occur in the content, and a candidate line that merely starts with it is a
 * delimiter); what follows it must be "--" (end of body) or transport padding
 * (SP/HT) and CRLF, else the body is malformed.
 *
 * The search keeps one number, `match`: how many bytes of delim[] =
 * "\r\n--B" the stream has matched so far. Within a chunk, memchr() finds
 * the next CR and memcmp() tries the delimiter there; the bytes before it go
 * straight from the caller's chunk to part_data() (no copy). A match cut by
 * the end of the chunk is remembered as `match` and resumed on the next
 * chunk. If it then fails, the bytes matched so far were data: they are
 * exactly delim[0..match), so they are passed from delim[] itself and the
 * parser needs no lookbehind buffer. Since delim[] holds its only CR at
 * index 0 (the RFC 2046 boundary alphabet has no CR or LF), a failed partial
 * match can never hide the start of another match (no KMP fallback needed):
 * the byte that broke it is simply scanned again from match = 0.
 *
 * Part headers are copied into hdr[] (at most HARK_MULTIPART_HEADER_MAX
 * bytes) until CRLFCRLF, then parsed at once: folded lines are unfolded,
 * Content-Disposition and Content-Type are found case-insensitively, the
 * disposition's parameters (token or quoted-string with backslash escapes;
 * filename*= as RFC 8187 ext-value in UTF-8 or ISO-8859-1) are decoded into
 * vals[]. part_end() is deferred until the delimiter line after the part
 * proves well-formed.
 *
 * INVARIANTS
 * - One allocation per parser (in _new); _feed never allocates, so memory
 *   is O(header limit + boundary length) whatever the body size.
 * - match <= dlen; match > 0 only in S_PREAMBLE and S_DATA.
 * - part_data() is never called with len 0; the concatenation of its bytes
 *   is independent of how the body was split into chunks, and so is the
 *   sequence of callbacks and the result (tests/fuzz/fuzz_multipart.c).
 * - After an error (`err` != 0) no callback runs again.
 */
#include <string.h>

#include "multipart.h"
#include "../util/util.h"

enum state {
    S_PREAMBLE, /* before the first delimiter: bytes are dropped */
    S_DATA,     /* a part's content: bytes go to part_data() */
    S_DELIM,    /* "CRLF--B" matched: "--", padding or CRLF follows */
    S_DASH,     /* "--B-": one more '-' closes the body */
    S_PAD,      /* transport padding (SP/HT) after the boundary */
    S_CR,       /* CR of the delimiter line seen, LF expected */
    S_HEADERS,  /* collecting a part's header section in hdr[] */
    S_EPILOGUE, /* after the close delimiter: bytes are dropped */
};

#define DELIM_MAX (4 + HARK_MULTIPART_BOUNDARY_MAX)

struct hark_multipart {
    hark_multipart_callbacks cb;
    void *payload;
    enum state state;
    int err;               /* sticky error code, 0 = none */
    int in_part;           /* part_begin() called, part_end() not yet */
    unsigned parts;        /* parts begun */
    size_t match;          /* bytes of delim[] matched so far */
    size_t dlen;           /* bytes in delim[]: 4 + boundary length */
    size_t hlen;           /* bytes in hdr[] */
    const char *name;      /* the current part's name, in vals[] (messages), NULL before one */
    char delim[DELIM_MAX]; /* "\r\n--" boundary, not NUL-terminated */
    char hdr[HARK_MULTIPART_HEADER_MAX];       /* header section being collected */
    char vals[HARK_MULTIPART_HEADER_MAX + 16]; /* decoded name, filename, content type */
};

/* ---- character classes ----------------------------------------------------------------- */

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" / SP */
static int is_bchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("'()+_,-./:=? ", c) != NULL);
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* An unquoted parameter value: a token, leniently (any byte but CTL, SP, '"', ';'). */
static int is_value_char(unsigned char c)
{
    return c > ' ' && c != 0x7f && c != '"' && c != ';';
}

static const char *skip_ows(const char *s, const char *e)
{
    while (s < e && is_ows(*s))
        s++;
    return s;
}

static const char *skip_token(const char *s, const char *e)
{
    while (s < e && is_tchar((unsigned char)*s))
        s++;
    return s;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* [s, s+n) equals the lower-case word `w`, ignoring ASCII case */
static int ci_eq(const char *s, size_t n, const char *w)
{
    size_t i;
    if (strlen(w) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)lower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* ---- decoded values ----------------------------------------------------------------------- */

/* Appends decoded bytes to vals[]; each value ends with a NUL. */
typedef struct vwriter {
    char *buf;
    size_t len, cap;
} vwriter;

static int vput(vwriter *w, char c)
{
    if (w->len >= w->cap)
        return -1;
    w->buf[w->len++] = c;
    return 0;
}

/*
 * A quoted-string at *ps (which points at the opening quote): backslash
 * escapes the next byte. Decoded bytes go to `w` (NULL: skipped); *ps ends
 * after the closing quote. Returns 0, -1 if unterminated, -2 if `w` is full.
 */
static int quoted(const char **ps, const char *e, vwriter *w)
{
    const char *s = *ps + 1;
    while (s < e && *s != '"') {
        if (*s == '\\' && s + 1 < e)
            s++;
        if (w && vput(w, *s) < 0)
            return -2;
        s++;
    }
    if (s >= e)
        return -1;
    *ps = s + 1;
    return 0;
}

/* ---- boundary ------------------------------------------------------------------------------- */

static int check_boundary(const char *b, size_t len)
{
    size_t i;
    if (len == 0)
        return hark_error_set(HARK_EINVAL, "multipart: empty boundary");
    if (len > HARK_MULTIPART_BOUNDARY_MAX)
        return hark_error_set(HARK_EINVAL, "multipart: boundary longer than %d characters",
                              HARK_MULTIPART_BOUNDARY_MAX);
    for (i = 0; i < len; i++)
        if (!is_bchar((unsigned char)b[i]))
            return hark_error_set(HARK_EINVAL,
                                  "multipart: boundary has a character RFC 2046 does not allow "
                                  "(byte 0x%02x at %zu)",
                                  (unsigned char)b[i], i);
    if (b[len - 1] == ' ')
        return hark_error_set(HARK_EINVAL, "multipart: boundary ends with a space");
    return 0;
}

int hark__multipart_boundary(const char *content_type, char *out, size_t out_size)
{
    char b[HARK_MULTIPART_BOUNDARY_MAX + 1];
    vwriter w = { b, 0, sizeof(b) };
    const char *s, *e, *t;
    int found = 0, rc;

    HARK_ASSERT_ARG(out != NULL);
    if (content_type == NULL)
        return hark_error_set(HARK_EUNSUPPORTED,
                              "multipart: no Content-Type, expected multipart/form-data");
    s = content_type;
    e = s + strlen(s);
    s = skip_ows(s, e);
    t = s;
    s = skip_token(s, e);
    if (s < e && *s == '/')
        s = skip_token(s + 1, e);
    if (!ci_eq(t, (size_t)(s - t), "multipart/form-data"))
        return hark_error_set(HARK_EUNSUPPORTED,
                              "multipart: Content-Type is '%.80s', expected multipart/form-data",
                              content_type);
    for (;;) {
        const char *pname;
        size_t plen;
        int is_boundary;

        s = skip_ows(s, e);
        if (s == e)
            break;
        if (*s != ';')
            return hark_error_set(HARK_EINVAL, "multipart: malformed Content-Type '%.80s'",
                                  content_type);
        s = skip_ows(s + 1, e);
        if (s == e)
            break; /* a trailing ';' */
        pname = s;
        s = skip_token(s, e);
        plen = (size_t)(s - pname);
        s = skip_ows(s, e);
        if (plen == 0 || s == e || *s != '=')
            return hark_error_set(HARK_EINVAL, "multipart: malformed Content-Type '%.80s'",
                                  content_type);
        s = skip_ows(s + 1, e);
        is_boundary = ci_eq(pname, plen, "boundary");
        if (is_boundary && found)
            return hark_error_set(HARK_EINVAL, "multipart: more than one boundary in Content-Type");
        found |= is_boundary;
        if (s < e && *s == '"') {
            rc = quoted(&s, e, is_boundary ? &w : NULL);
            if (rc == -1)
                return hark_error_set(HARK_EINVAL,
                                      "multipart: unterminated quoted string in Content-Type");
            if (rc == -2)
                return hark_error_set(HARK_EINVAL, "multipart: boundary longer than %d characters",
                                      HARK_MULTIPART_BOUNDARY_MAX);
        } else {
            t = s;
            while (s < e && is_value_char((unsigned char)*s))
                s++;
            if (s == t)
                return hark_error_set(HARK_EINVAL,
                                      "multipart: empty %.*s parameter in Content-Type", (int)plen,
                                      pname);
            if (is_boundary) {
                if ((size_t)(s - t) > HARK_MULTIPART_BOUNDARY_MAX)
                    return hark_error_set(HARK_EINVAL,
                                          "multipart: boundary longer than %d characters",
                                          HARK_MULTIPART_BOUNDARY_MAX);
                memcpy(b, t, (size_t)(s - t));
                w.len = (size_t)(s - t);
            }
        }
    }
    if (!found)
        return hark_error_set(HARK_EINVAL, "multipart: no boundary in Content-Type");
    rc = check_boundary(b, w.len);
    if (rc < 0)
        return rc;
    if (out_size < w.len + 1)
        return hark_error_set(HARK_EINVAL, "multipart: boundary buffer too small");
    memcpy(out, b, w.len);
    out[w.len] = '\0';
    return 0;
}

/* ---- part headers ----------------------------------------------------------------------- */

enum { P_OTHER, P_NAME, P_FILENAME, P_FILENAME_EXT, P_COUNT };

/*
 * filename*= value (RFC 8187 ext-value: charset'lang'pct-encoded), decoded
 * in place into UTF-8; `v` is NUL-terminated and the result is never longer.
 */
static int decode_ext_value(hark_multipart *p, char *v)
{
    char *q1 = strchr(v, '\''), *q2, *r, *o;
    int latin1;
    if (!q1 || !(q2 = strchr(q1 + 1, '\'')))
        return hark_error_set(HARK_EINVAL, "multipart: part %u: malformed filename* parameter",
                              p->parts);
    if (ci_eq(v, (size_t)(q1 - v), "utf-8"))
        latin1 = 0;
    else if (ci_eq(v, (size_t)(q1 - v), "iso-8859-1"))
        latin1 = 1;
    else
        return hark_error_set(HARK_EINVAL,
                              "multipart: part %u: unsupported charset '%.*s' in "
                              "filename*",
                              p->parts, (int)HARK_MIN(q1 - v, 40), v);
    for (r = q2 + 1, o = v; *r; r++) {
        unsigned char c = (unsigned char)*r;
        if (c == '%') {
            int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
            if (hi < 0 || lo < 0)
                return hark_error_set(
                    HARK_EINVAL, "multipart: part %u: bad percent-encoding in filename*", p->parts);
            c = (unsigned char)(hi * 16 + lo);
            r += 2;
            if (c == 0)
                return hark_error_set(HARK_EINVAL, "multipart: part %u: NUL in filename*",
                                      p->parts);
        } else if (latin1 && c >= 0x80) { /* raw 8-bit: not an attr-char, and no room in place */
            return hark_error_set(HARK_EINVAL, "multipart: part %u: malformed filename* parameter",
                                  p->parts);
        }
        if (latin1 && c >= 0x80) { /* 3 bytes in ("%E9") for 2 out */
            *o++ = (char)(0xc0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3f));
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return 0;
}

/* Content-Disposition value [s, e): form-data; name=...; filename=...; filename*=... */
static int parse_disposition(hark_multipart *p, const char *s, const char *e, vwriter *w,
                             char *vals[P_COUNT])
{
    static const char *const pnames[P_COUNT] = { "", "name", "filename", "filename*" };
    const char *const v = s, *t;
    int rc;

    s = skip_token(s, e);
    if (!ci_eq(v, (size_t)(s - v), "form-data"))
        return hark_error_set(HARK_EINVAL,
                              "multipart: part %u: Content-Disposition is '%.*s', not form-data",
                              p->parts, (int)HARK_MIN(e - v, 60), v);
    for (;;) {
        const char *pn;
        size_t pl;
        int kind = P_OTHER, k;

        s = skip_ows(s, e);
        if (s == e)
            break;
        if (*s != ';')
            goto malformed;
        s = skip_ows(s + 1, e);
        if (s == e)
            break; /* a trailing ';' */
        pn = s;
        s = skip_token(s, e);
        pl = (size_t)(s - pn);
        s = skip_ows(s, e);
        if (pl == 0 || s == e || *s != '=')
            goto malformed;
        s = skip_ows(s + 1, e);
        for (k = P_NAME; k < P_COUNT; k++)
            if (ci_eq(pn, pl, pnames[k]))
                kind = k;
        if (kind != P_OTHER) {
            if (vals[kind])
                return hark_error_set(HARK_EINVAL,
                                      "multipart: part %u: duplicate %s parameter in "
                                      "Content-Disposition",
                                      p->parts, pnames[kind]);
            vals[kind] = w->buf + w->len;
        }
        if (s < e && *s == '"') {
            rc = quoted(&s, e, kind != P_OTHER ? w : NULL);
            if (rc == -1)
                return hark_error_set(HARK_EINVAL,
                                      "multipart: part %u: unterminated quoted string in "
                                      "Content-Disposition",
                                      p->parts);
            if (rc == -2)
                goto full;
        } else {
            t = s;
            while (s < e && is_value_char((unsigned char)*s))
                s++;
            if (s == t)
                goto malformed;
            if (kind != P_OTHER)
                for (; t < s; t++)
                    if (vput(w, *t) < 0)
                        goto full;
        }
        if (kind != P_OTHER && vput(w, '\0') < 0)
            goto full;
    }
    if (vals[P_FILENAME_EXT]) {
        rc = decode_ext_value(p, vals[P_FILENAME_EXT]);
        if (rc < 0)
            return rc;
    }
    return 0;
malformed:
    return hark_error_set(HARK_EINVAL, "multipart: part %u: malformed Content-Disposition '%.*s'",
                          p->parts, (int)HARK_MIN(e - v, 100), v);
full: /* cannot happen: decoded values are shorter than the header section */
    return hark_error_set(HARK_ETOOBIG, "multipart: part %u: header values too large", p->parts);
}

/* hdr[0..hlen) is a complete header section (ends with CRLFCRLF, or is just CRLF). */
static int begin_part(hark_multipart *p)
{
    char *h = p->hdr, *vals[P_COUNT] = { NULL, NULL, NULL, NULL }, *ctype = NULL;
    const char *cd = NULL, *cd_end = NULL;
    vwriter w = { p->vals, 0, sizeof(p->vals) };
    size_t n = p->hlen, i, ls, le;
    int rc, seen_ct = 0;

    if (memchr(h, '\0', n))
        return hark_error_set(HARK_EINVAL, "multipart: NUL byte in the headers of part %u",
                              p->parts);
    if (is_ows(h[0]))
        goto malformed;
    for (i = 0; i + 2 < n; i++) /* unfold obsolete line folding: CRLF SP -> SP SP SP */
        if (h[i] == '\r' && h[i + 1] == '\n' && is_ows(h[i + 2]))
            h[i] = h[i + 1] = ' ';
    for (ls = 0;; ls = le + 2) {
        const char *colon, *name, *value;
        size_t nlen, vlen;

        for (le = ls; h[le] != '\r' && h[le] != '\n'; le++)
            ; /* ends: the section ends with CRLF */
        if (h[le] != '\r' || h[le + 1] != '\n')
            return hark_error_set(HARK_EINVAL, "multipart: bare CR or LF in the headers of part %u",
                                  p->parts);
        if (le == ls)
            break; /* the blank line: the last line of the section */
        colon = memchr(h + ls, ':', le - ls);
        if (!colon)
            goto malformed;
        nlen = (size_t)(colon - (h + ls));
        name = hark__trim(h + ls, &nlen);
        vlen = (size_t)(h + le - (colon + 1));
        value = hark__trim(colon + 1, &vlen);
        if (nlen == 0 || skip_token(name, name + nlen) != name + nlen)
            goto malformed;
        if (ci_eq(name, nlen, "content-disposition")) {
            if (cd)
                return hark_error_set(HARK_EINVAL,
                                      "multipart: part %u has more than one Content-Disposition",
                                      p->parts);
            cd = value;
            cd_end = value + vlen;
        } else if (ci_eq(name, nlen, "content-type")) {
            if (seen_ct)
                return hark_error_set(
                    HARK_EINVAL, "multipart: part %u has more than one Content-Type", p->parts);
            seen_ct = 1;
            ctype = w.buf + w.len;
            if (vlen + 1 > w.cap - w.len)
                return hark_error_set(HARK_ETOOBIG, "multipart: part %u: header values too large",
                                      p->parts); /* cannot happen, see parse_disposition */
            memcpy(ctype, value, vlen);
            ctype[vlen] = '\0';
            w.len += vlen + 1;
        }
    }
    if (!cd)
        return hark_error_set(HARK_EINVAL, "multipart: part %u has no Content-Disposition header",
                              p->parts);
    rc = parse_disposition(p, cd, cd_end, &w, vals);
    if (rc < 0)
        return rc;
    if (!vals[P_NAME])
        return hark_error_set(HARK_EINVAL, "multipart: part %u has no name in Content-Disposition",
                              p->parts);
    p->name = vals[P_NAME];
    p->state = S_DATA;
    p->match = 0;
    p->in_part = 1;
    if (p->cb.part_begin)
        return p->cb.part_begin(vals[P_NAME],
                                vals[P_FILENAME_EXT] ? vals[P_FILENAME_EXT] : vals[P_FILENAME],
                                ctype, p->payload);
    return 0;
malformed:
    return hark_error_set(HARK_EINVAL, "multipart: malformed header line in part %u", p->parts);
}

/* Collect header bytes until CRLFCRLF (or a lone CRLF: a part without headers). */
static int headers(hark_multipart *p, const unsigned char **ps, const unsigned char *e)
{
    const unsigned char *s = *ps;
    while (s < e) {
        const unsigned char *nl = memchr(s, '\n', (size_t)(e - s));
        size_t n = (size_t)((nl ? nl + 1 : e) - s);
        if (n > sizeof(p->hdr) - p->hlen) {
            *ps = e;
            return hark_error_set(HARK_ETOOBIG, "multipart: headers of part %u exceed %d bytes",
                                  p->parts, HARK_MULTIPART_HEADER_MAX);
        }
        memcpy(p->hdr + p->hlen, s, n);
        p->hlen += n;
        s += n;
        if (nl && ((p->hlen == 2 && p->hdr[0] == '\r') ||
                   (p->hlen >= 4 && memcmp(p->hdr + p->hlen - 4, "\r\n\r\n", 4) == 0))) {
            *ps = s;
            return begin_part(p);
        }
    }
    *ps = s;
    return 0;
}

/* ---- body ------------------------------------------------------------------------------- */

static int emit(hark_multipart *p, const void *data, size_t len)
{
    if (len == 0 || p->state != S_DATA || !p->cb.part_data)
        return 0;
    return p->cb.part_data(data, len, p->payload);
}

/*
 * S_PREAMBLE / S_DATA: pass bytes on (in a part) until "CRLF--B". Consumes
 * the delimiter and switches to S_DELIM, or consumes the whole chunk.
 */
static int scan(hark_multipart *p, const unsigned char **ps, const unsigned char *e)
{
    const unsigned char *s = *ps, *start;
    const unsigned char *delim = (const unsigned char *)p->delim;
    size_t dlen = p->dlen;
    int rc;

    if (p->match > 0) { /* resume a match cut by the previous chunk */
        while (s < e && p->match < dlen && *s == delim[p->match]) {
            s++;
            p->match++;
        }
        if (p->match == dlen) {
            p->match = 0;
            p->state = S_DELIM;
            *ps = s;
            return 0;
        }
        if (s == e) {
            *ps = s;
            return 0;
        }
        /* not a delimiter: what matched was data; *s is scanned again */
        rc = emit(p, delim, p->match);
        p->match = 0;
        if (rc < 0)
            return rc;
    }
    start = s;
    while (s < e) {
        const unsigned char *cr = memchr(s, '\r', (size_t)(e - s));
        size_t avail;
        if (!cr)
            break;
        avail = HARK_MIN((size_t)(e - cr), dlen);
        if (memcmp(cr, delim, avail) == 0) {
            rc = emit(p, start, (size_t)(cr - start));
            if (rc < 0)
                return rc;
            if (avail == dlen) {
                p->state = S_DELIM;
                *ps = cr + dlen;
            } else {
                p->match = avail; /* the chunk ends inside a possible delimiter */
                *ps = e;
            }
            return 0;
        }
        s = cr + 1;
    }
    *ps = e;
    return emit(p, start, (size_t)(e - start));
}

static int bad_delimiter(hark_multipart *p)
{
    return hark_error_set(HARK_EINVAL,
                          "multipart: malformed delimiter line after %s%.64s%s (the boundary must "
                          "be followed by CRLF or \"--\")",
                          p->in_part ? "part '" : "the preamble", p->in_part ? p->name : "",
                          p->in_part ? "'" : "");
}

/* The delimiter line is complete: close the current part (if any). */
static int end_part(hark_multipart *p)
{
    if (!p->in_part)
        return 0;
    p->in_part = 0;
    return p->cb.part_end ? p->cb.part_end(p->payload) : 0;
}

static int next_part(hark_multipart *p)
{
    int rc = end_part(p);
    if (rc < 0)
        return rc;
    if (p->parts >= HARK_MULTIPART_PARTS_MAX)
        return hark_error_set(HARK_ETOOBIG, "multipart: more than %d parts",
                              HARK_MULTIPART_PARTS_MAX);
    p->parts++;
    p->state = S_HEADERS;
    p->hlen = 0;
    return 0;
}

int hark__multipart_feed(hark_multipart *p, const void *data, size_t len)
{
    const unsigned char *s = data, *e;
    int rc = 0;

    HARK_ASSERT_ARG(p != NULL);
    HARK_ASSERT_ARG(data != NULL || len == 0);
    if (p->err)
        return p->err;
    if (len == 0)
        return 0;
    e = s + len;
    while (s < e && rc >= 0) {
        unsigned char c;
        switch (p->state) {
        case S_PREAMBLE:
        case S_DATA:
            rc = scan(p, &s, e);
            break;
        case S_DELIM:
            c = *s++;
            if (c == '-')
                p->state = S_DASH;
            else if (is_ows((char)c))
                p->state = S_PAD;
            else if (c == '\r')
                p->state = S_CR;
            else
                rc = bad_delimiter(p);
            break;
        case S_DASH:
            if (*s++ != '-') {
                rc = bad_delimiter(p);
            } else {
                rc = end_part(p);
                p->state = S_EPILOGUE;
            }
            break;
        case S_PAD:
            c = *s++;
            if (c == '\r')
                p->state = S_CR;
            else if (!is_ows((char)c))
                rc = bad_delimiter(p);
            break;
        case S_CR:
            rc = *s++ == '\n' ? next_part(p) : bad_delimiter(p);
            break;
        case S_HEADERS:
            rc = headers(p, &s, e);
            break;
        case S_EPILOGUE:
            s = e;
            break;
        }
    }
    if (rc < 0)
        p->err = rc;
    return rc < 0 ? rc : 0;
}

int hark__multipart_finish(hark_multipart *p)
{
    int rc = 0;

    HARK_ASSERT_ARG(p != NULL);
    if (p->err)
        return p->err;
    switch (p->state) {
    case S_EPILOGUE:
        return 0;
    case S_PREAMBLE:
        rc = hark_error_set(HARK_EINVAL, "multipart: no delimiter \"--%.*s\" in the body",
                            (int)(p->dlen - 4), p->delim + 4);
        break;
    case S_HEADERS:
        rc = hark_error_set(HARK_EINVAL, "multipart: body ends inside the headers of part %u",
                            p->parts);
        break;
    case S_DATA:
        rc = hark_error_set(HARK_EINVAL, "multipart: body ends inside part '%.64s'", p->name);
        break;
    default: /* in a delimiter line */
        if (p->in_part)
            rc = hark_error_set(HARK_EINVAL,
                                "multipart: body ends after part '%.64s' without the closing "
                                "delimiter",
                                p->name);
        else
            rc = hark_error_set(HARK_EINVAL, "multipart: body ends before the first part");
        break;
    }
    p->err = rc;
    return rc;
}

unsigned hark__multipart_parts(const hark_multipart *p)
{
    return p ? p->parts : 0;
}

int hark__multipart_new(hark_multipart **out, const char *boundary,
                        const hark_multipart_callbacks *cb, void *payload)
{
    hark_multipart *p;
    size_t blen = 0;
    int rc;

    HARK_ASSERT_ARG(out != NULL);
    *out = NULL;
    HARK_ASSERT_ARG(boundary != NULL);
    while (blen <= HARK_MULTIPART_BOUNDARY_MAX && boundary[blen])
        blen++;
    rc = check_boundary(boundary, blen);
    if (rc < 0)
        return rc;
    p = hark__calloc(1, sizeof(*p));
    if (!p)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if (cb)
        p->cb = *cb;
    p->payload = payload;
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary, blen);
    p->dlen = 4 + blen;
    p->state = S_PREAMBLE;
    p->match = 2; /* as if the body were preceded by CRLF: it may open with "--B" */
    *out = p;
    return 0;
}

void hark__multipart_free(hark_multipart *p)
{
    hark__free(p);
}
