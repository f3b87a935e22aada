/*
 * static.c: the web UI's files, served by `hark serve` (server.h).
 *
 * DESIGN
 * The files of web/ are compiled into the binary (tools/embed-web.c writes
 * srv_assets[] at build time, with a gzip copy and a strong ETag per file),
 * so the server needs nothing on disk and a request never touches the file
 * system: a name is looked up in the table, never opened, so no path can
 * reach outside it.
 *
 *   GET /                        index.html, Cache-Control: no-cache
 *   GET /static/<version>/NAME   an asset; with the current version it is
 *                                cached for a year (immutable): the page
 *                                names its assets with the version of the
 *                                whole set, so a new build has new URLs
 *   GET /static/<other>/NAME     the current file, no-cache (a page from an
 *   GET /static/NAME             older build, or a hand-typed URL)
 *
 * Answers carry Content-Type, ETag (If-None-Match gives 304), Vary:
 * Accept-Encoding, gzip when the client accepts it and it is smaller (the
 * gzip copy has its own ETag, as a strong validator must), and the
 * security headers: a Content-Security-Policy that allows only this origin
 * (no inline script or style, no external URLs; media also from blob:, the
 * audio of a recording fetched with the API key), nosniff, no framing, no
 * referrer, and a Permissions-Policy that leaves only the microphone (for
 * live recording) to the page itself.
 *
 * INVARIANTS
 * Responses point into the static table (MHD_RESPMEM_PERSISTENT): nothing
 * is copied or freed per request.
 */
#include <string.h>
#include <strings.h>

#include "server.h"

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "media-src 'self' blob:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; "         \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct {
    const char *ext, *type;
} types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".json", "application/json" },
    { ".webmanifest", "application/manifest+json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".woff2", "font/woff2" },
    { ".txt", "text/plain; charset=utf-8" },
};

static const char *type_of(const char *name)
{
    size_t i, n = strlen(name);
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t e = strlen(types[i].ext);
        if (n >= e && !strcmp(name + n - e, types[i].ext))
            return types[i].type;
    }
    return "application/octet-stream";
}

static const srv_asset *find(const char *name)
{
    size_t i;
    for (i = 0; i < srv_n_assets; i++)
        if (!strcmp(srv_assets[i].name, name))
            return &srv_assets[i];
    return NULL;
}

/* Does Accept-Encoding allow gzip? ("gzip", "gzip;q=0.5", not "gzip;q=0") */
static int accepts_gzip(const char *h)
{
    while (h && *h) {
        size_t len;
        h += strspn(h, " \t,");
        len = strcspn(h, ",; \t");
        if (len == 4 && !strncasecmp(h, "gzip", 4)) {
            const char *p = h + len, *end = p + strcspn(p, ",");
            const char *qv;
            for (qv = p; qv + 2 <= end && strncmp(qv, "q=", 2); qv++)
                ;
            if (qv + 2 <= end) {
                qv += 2;
                /* q=0, q=0.0, q=0.000: refused */
                if (*qv == '0') {
                    qv++;
                    if (*qv == '.')
                        qv += 1 + strspn(qv + 1, "0");
                    if (qv >= end || strchr(" \t,;", *qv))
                        return 0;
                }
            }
            return 1;
        }
        h += len;
        h += strcspn(h, ",");
    }
    return 0;
}

/* Does If-None-Match name `tag` (quoted) or "*"? Weak forms (W/"...") match too. */
static int matches(const char *inm, const char *tag)
{
    if (!inm)
        return 0;
    inm += strspn(inm, " \t");
    if (inm[0] == '*' && inm[1 + strspn(inm + 1, " \t")] == '\0')
        return 1;
    return strstr(inm, tag) != NULL;
}

void srv_static(srv_req *q)
{
    const char *url = q->url, *name = NULL;
    const srv_asset *a;
    const char *cache = "no-cache";
    char tag[48];
    int gz;
    size_t vl = strlen(srv_assets_version);

    if (!strcmp(url, "/")) {
        name = "index.html";
    } else if (!strncmp(url, "/static/", 8)) {
        const char *rest = url + 8, *slash = strchr(rest, '/');
        if (!slash) {
            name = rest;
        } else {
            name = slash + 1;
            if ((size_t)(slash - rest) == vl && !memcmp(rest, srv_assets_version, vl))
                cache = "public, max-age=31536000, immutable";
        }
    }
    if (!name || !(a = find(name))) {
        srv_error(q, 404, "not_found", "no such file: %.200s", url);
        return;
    }
    gz = a->gz && accepts_gzip(srv_hdr(q, "Accept-Encoding"));
    if (gz) /* the gzip copy is another representation: another strong tag */
        snprintf(tag, sizeof(tag), "%.*s-gz\"", (int)strlen(a->etag) - 1, a->etag);
    else
        snprintf(tag, sizeof(tag), "%s", a->etag);

    if (q->resp)
        MHD_destroy_response(q->resp);
    if (matches(srv_hdr(q, "If-None-Match"), tag)) {
        q->resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        q->status = 304;
    } else {
        q->resp = MHD_create_response_from_buffer(
            gz ? a->gz_len : a->len, (void *)(gz ? a->gz : a->data), MHD_RESPMEM_PERSISTENT);
        q->status = 200;
    }
    if (!q->resp) {
        srv_error(q, 503, "out_of_memory", "out of memory");
        return;
    }
    if (q->status == 200) {
        MHD_add_response_header(q->resp, "Content-Type", type_of(a->name));
        if (gz)
            MHD_add_response_header(q->resp, "Content-Encoding", "gzip");
    }
    MHD_add_response_header(q->resp, "ETag", tag);
    MHD_add_response_header(q->resp, "Cache-Control", cache);
    if (a->gz)
        MHD_add_response_header(q->resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(q->resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(q->resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(q->resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(q->resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(q->resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(q->resp, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(q->resp, "Permissions-Policy",
                            "microphone=(self), camera=(), geolocation=(), payment=(), usb=()");
}
