/*
 * models_fetch.c: hark_models_pull: download a model with libcurl, resume an
 * interrupted download, verify, install atomically.
 *
 * Flow for ggml-<name>.bin in the models directory:
 *   1. A structurally valid file already there (of the catalog size, if
 *      known) is the answer: no network.
 *   2. Open and lock (flock, non-blocking) ggml-<name>.bin.part: the lock
 *      keeps a second pull (any process) and rm away while this one runs.
 *      The bytes already in it are hashed (SHA-256; SHA-1 too when that is
 *      the only checksum known), so the digests always cover exactly the
 *      `have` bytes of the file.
 *   3. GET <base>/ggml-<name>.bin, with "Range: bytes=<have>-" when have > 0,
 *      following redirects (Hugging Face answers with a 302 to its CDN).
 *      206 whose Content-Range starts at `have`: append. 200: the server
 *      ignored the Range; truncate and take the whole body. 206 at another
 *      offset: ask again without Range. 416: if the server's total equals
 *      `have`, the part is already complete, else start over. 404, 401/403,
 *      5xx: fail with ENOTFOUND / EAUTH / ENETWORK.
 *      A connection lost after some bytes arrived is retried (max_retries,
 *      backoff retry_delay_ms doubling), resuming from the new `have`.
 *   4. fsync, check size, checksum and ggml structure, rename over the
 *      final name, fsync the directory. Only verified bytes ever carry the
 *      final name. A failed check deletes the part (it would poison a
 *      resume); a network error, stall, cancellation or full disk keeps it.
 *
 * Invariants: `have` == bytes in the part file == bytes fed to the digests.
 * Errors raised inside libcurl callbacks are recorded in `err` (message set
 * where the cause is known) and surface after curl_easy_perform returns.
 * Timeouts: connect timeout plus libcurl's low-speed limit, so a dead
 * connection fails instead of hanging; no overall time limit (a 3 GB file
 * on a slow line legitimately takes long).
 */
#define _DEFAULT_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hark/version.h"
#include "models.h"
#include "../util/util.h"

#define DEFAULT_BASE_URL "https://huggingface.co/ggerganov/whisper.cpp/resolve/main"
#define RESTART          1     /* attempt(): request the whole file again */
#define MAX_RESTARTS     2     /* wrong-range answers tolerated per pull */
#define PROGRESS_MS      100.0 /* minimum interval between progress callbacks */

typedef struct pull {
    const char *name; /* bare model name */
    const hark_models_pull_options *o;
    hark_models_pull_result *res;
    const char *url;      /* first URL requested */
    const char *part;     /* path of the .part file */
    uint64_t exp_size;    /* expected file size in bytes, 0 = unknown */
    const char *exp_sha1; /* expected hex digests, NULL = unknown */
    const char *exp_sha256;
    int fd; /* the .part file, locked */
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail for the last failure */
    hark__models_digest dg;       /* digests of bytes [0, have) of the part */
    uint64_t have;                /* bytes in the part file */
    uint64_t total;               /* bytes of the whole file, 0 = not known yet */
    /* per request */
    int range_sent;              /* asked for bytes have.. */
    int cr_seen;                 /* a Content-Range header came with the final response */
    uint64_t cr_first, cr_total; /* its first byte (UINT64_MAX for "*") and total (0 = "*") */
    int started;                 /* the first body byte has been seen */
    long status;                 /* HTTP status of the final response */
    int err;                     /* error raised in a callback (message set), 0 = none */
    int restart;                 /* the body is unusable: request the whole file again */
    uint64_t got;                /* body bytes written by this request */
    /* progress */
    hark_models_phase phase;
    double t0;          /* hark__now_ms() at the start */
    double last_report; /* when the progress callback last ran, ms */
} pull;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hark_models_pull_options_default(hark_models_pull_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->version = HARK_MODELS_PULL_OPTIONS_VERSION;
    opts->connect_timeout_ms = 15000;
    opts->stall_bytes_per_sec = 1024;
    opts->stall_seconds = 30;
    opts->max_retries = 3;
    opts->retry_delay_ms = 1000;
}

/* "141.1 MiB" */
static const char *fmt_bytes(char buf[32], uint64_t n)
{
    if (n < 1024)
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
    else if (n < 1024u * 1024u)
        snprintf(buf, 32, "%.1f KiB", (double)n / 1024.0);
    else if (n < 1024u * 1024u * 1024u)
        snprintf(buf, 32, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    else
        snprintf(buf, 32, "%.2f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

/* ---- Content-Range ------------------------------------------------------------------------- */

static int parse_u64(const char *v, size_t len, size_t *i, uint64_t *out)
{
    uint64_t x = 0;
    size_t start = *i;
    while (*i < len && v[*i] >= '0' && v[*i] <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(v[*i] - '0');
        (*i)++;
    }
    *out = x;
    return *i > start ? 0 : -1;
}

int hark__models_content_range(const char *v, size_t len, uint64_t *first, uint64_t *total)
{
    size_t i = 0;
    uint64_t a, b, t = 0;
    while (i < len && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (len - i < 6 || strncasecmp(v + i, "bytes", 5) != 0 || (v[i + 5] != ' ' && v[i + 5] != '\t'))
        return HARK_ESYNTAX;
    i += 5;
    while (i < len && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (i < len && v[i] == '*') {
        i++;
        if (i >= len || v[i++] != '/' || parse_u64(v, len, &i, &t) < 0)
            return HARK_ESYNTAX;
        a = UINT64_MAX;
    } else {
        if (parse_u64(v, len, &i, &a) < 0 || i >= len || v[i++] != '-' ||
            parse_u64(v, len, &i, &b) < 0 || b < a || i >= len || v[i++] != '/')
            return HARK_ESYNTAX;
        if (i < len && v[i] == '*')
            i++;
        else if (parse_u64(v, len, &i, &t) < 0 || t <= b)
            return HARK_ESYNTAX;
    }
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
        i++;
    if (i != len)
        return HARK_ESYNTAX;
    *first = a;
    *total = t;
    return 0;
}

/* ---- progress ------------------------------------------------------------------------------ */

static void report(pull *p, int force)
{
    hark_models_progress pr;
    double now = hark__now_ms();
    curl_off_t speed = 0;
    if (!p->o->progress || (!force && now - p->last_report < PROGRESS_MS))
        return;
    p->last_report = now;
    if (p->curl && p->phase == HARK_MODELS_PHASE_DOWNLOADING)
        curl_easy_getinfo(p->curl, CURLINFO_SPEED_DOWNLOAD_T, &speed);
    pr.name = p->name;
    pr.phase = p->phase;
    pr.done = p->have;
    pr.total = p->total ? p->total : p->exp_size;
    pr.resumed_from = p->res->resumed_from;
    pr.bytes_per_sec = (double)speed;
    pr.elapsed_ms = now - p->t0;
    p->o->progress(&pr, p->o->payload);
}

int hark_models_progress_format(hark_buf *out, const hark_models_progress *p, unsigned width)
{
    char done[32], total[32], speed[32];
    hark_buf line = HARK_BUF_INIT;
    int rc, bar, fill, i;
    double frac = p->total ? (double)p->done / (double)p->total : 0.0;

    HARK_ASSERT_ARG(out && p);
    if (width == 0)
        width = 80;
    if (frac > 1.0)
        frac = 1.0;
    fmt_bytes(done, p->done);
    fmt_bytes(total, p->total);
    fmt_bytes(speed, (uint64_t)(p->bytes_per_sec > 0 ? p->bytes_per_sec : 0));
    switch (p->phase) {
    case HARK_MODELS_PHASE_VERIFYING:
        rc = hark_buf_printf(&line, "%s  verifying %s", p->name, done);
        break;
    case HARK_MODELS_PHASE_DONE:
        rc = hark_buf_printf(&line, "%s  done, %s", p->name, done);
        break;
    case HARK_MODELS_PHASE_CONNECTING:
        rc = p->resumed_from
                 ? hark_buf_printf(&line, "%s  connecting (resuming at %s)", p->name, done)
                 : hark_buf_printf(&line, "%s  connecting", p->name);
        break;
    default: {
        /* "name  45% [####    ]  63.5 MiB/141.1 MiB  5.4 MiB/s  ETA 14s" */
        hark_buf tail = HARK_BUF_INIT;
        if (p->total)
            rc = hark_buf_printf(&tail, "  %s/%s", done, total);
        else
            rc = hark_buf_printf(&tail, "  %s", done);
        if (rc == 0 && p->bytes_per_sec > 0)
            rc = hark_buf_printf(&tail, "  %s/s", speed);
        if (rc == 0 && p->bytes_per_sec > 0 && p->total > p->done)
            rc = hark_buf_printf(&tail, "  ETA %.0fs",
                                 (double)(p->total - p->done) / p->bytes_per_sec);
        if (rc == 0)
            rc = p->total ? hark_buf_printf(&line, "%s  %3d%% ", p->name, (int)(frac * 100.0))
                          : hark_buf_printf(&line, "%s", p->name);
        bar = (int)width - (int)line.len - (int)tail.len - 2;
        if (rc == 0 && p->total && bar >= 5) {
            fill = (int)(frac * bar);
            rc = hark_buf_putc(&line, '[');
            for (i = 0; rc == 0 && i < bar; i++)
                rc = hark_buf_putc(&line, i < fill ? '#' : ' ');
            if (rc == 0)
                rc = hark_buf_putc(&line, ']');
        }
        if (rc == 0)
            rc = hark_buf_put(&line, tail.ptr ? tail.ptr : "", tail.len);
        hark_buf_dispose(&tail);
        break;
    }
    }
    if (rc == 0)
        rc = hark_buf_put(out, line.ptr ? line.ptr : "", HARK_MIN(line.len, (size_t)width));
    hark_buf_dispose(&line);
    return rc;
}

/* ---- file handling ------------------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    hark_buf b = HARK_BUF_INIT;
    size_t i;
    int rc = hark_buf_puts(&b, dir);
    for (i = 1; rc == 0 && i <= b.len; i++) {
        if (b.ptr[i] != '/' && b.ptr[i] != '\0')
            continue;
        b.ptr[i] = '\0';
        if (mkdir(b.ptr, 0755) != 0 && errno != EEXIST)
            rc =
                hark_error_set(errno == ENOSPC ? HARK_ENOSPC : HARK_EIO,
                               "cannot create the models directory %s: %s", b.ptr, strerror(errno));
        if (i < b.len)
            b.ptr[i] = '/';
    }
    hark_buf_dispose(&b);
    return rc;
}

static int disk_error(pull *p, int e, const char *doing)
{
    char have[32];
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return hark_error_set(HARK_ENOSPC,
                              "cannot download %s: no space left on the device (%s %s: %s); the %s "
                              "already downloaded are kept for a later resume",
                              p->name, doing, p->part, strerror(e), fmt_bytes(have, p->have));
    return hark_error_set(HARK_EIO, "cannot download %s: %s %s: %s", p->name, doing, p->part,
                          strerror(e));
}

/* Forget the part's contents: empty file, fresh digests. */
static int reset_part(pull *p)
{
    int rc;
    if (ftruncate(p->fd, 0) != 0 || lseek(p->fd, 0, SEEK_SET) != 0) {
        struct stat st;
        /* a non-regular part (a device) cannot be truncated; only files need it */
        if (fstat(p->fd, &st) != 0 || S_ISREG(st.st_mode))
            return disk_error(p, errno, "truncating");
    }
    p->have = 0;
    p->total = 0;
    if ((rc = hark__models_digest_init(&p->dg, p->exp_sha1 && !p->exp_sha256)) < 0)
        return rc;
    return 0;
}

static int write_all(pull *p, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(p->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return disk_error(p, errno, "writing");
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

/* host[:port] of the URL libcurl last worked on (after redirects). */
static void host_of(pull *p, char *out, size_t cap)
{
    char *eff = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    snprintf(out, cap, "%s", "the server");
    if (curl_easy_getinfo(p->curl, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || !eff)
        eff = (char *)p->url;
    if (u && curl_url_set(u, CURLUPART_URL, eff, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(out, cap, "%s:%s", host, port);
        else
            snprintf(out, cap, "%s", host);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static int http_error(pull *p, long status)
{
    char host[256];
    const char *what = status == 404 || status == 410   ? "no such file on the server"
                       : status == 401 || status == 403 ? "access denied"
                       : status == 429                  ? "too many requests, try again later"
                       : status >= 500                  ? "server error, try again later"
                                                        : "unexpected answer";
    host_of(p, host, sizeof(host));
    if (status == 404 || status == 410)
        return hark_error_set(HARK_ENOTFOUND, "cannot download %s: %s: HTTP %ld (%s)%s", p->name,
                              p->url, status, what,
                              hark__models_catalog_findn(p->name, strlen(p->name))
                                  ? ""
                                  : "; it is not a known model either (see hark models list)");
    return hark_error_set(status == 401 || status == 403 ? HARK_EAUTH : HARK_ENETWORK,
                          "cannot download %s: %s answered HTTP %ld (%s)", p->name, host, status,
                          what);
}

static int check_space(pull *p)
{
    struct statvfs vfs;
    struct stat st;
    uint64_t need = p->total > p->have ? p->total - p->have : 0, avail;
    char a[32], b[32];
    if (!need || fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode) || fstatvfs(p->fd, &vfs) != 0)
        return 0;
    avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (avail >= need)
        return 0;
    return hark_error_set(HARK_ENOSPC, "cannot download %s: it needs %s more, only %s free for %s",
                          p->name, fmt_bytes(a, need), fmt_bytes(b, avail), p->part);
}

/* The final response's first body byte (or its end, for an empty body). */
static int begin_body(pull *p)
{
    curl_off_t len = -1;
    char a[32], b[32];
    int rc;
    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &p->status);
    if (p->status == 206) {
        if (!p->range_sent || !p->cr_seen || p->cr_first != p->have) {
            p->restart = 1; /* not the range we asked for */
            return 0;
        }
        p->total = p->cr_total;
    } else if (p->status == 200) {
        if (p->have > 0) {
            p->res->range_ignored = 1;
            p->res->resumed_from = 0;
            if ((rc = reset_part(p)) < 0)
                return p->err = rc;
        }
        curl_easy_getinfo(p->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        p->total = len > 0 ? (uint64_t)len : 0;
    } else if (p->status == 416) {
        return 0; /* handled once the request is over */
    } else {
        return p->err = http_error(p, p->status);
    }
    if (p->total && p->exp_size && p->total != p->exp_size)
        return p->err = hark_error_set(
                   HARK_ECORRUPT,
                   "cannot download %s: the server offers a file of %s (%llu bytes), expected "
                   "%s (%llu bytes); is the mirror serving a different file?",
                   p->name, fmt_bytes(a, p->total), (unsigned long long)p->total,
                   fmt_bytes(b, p->exp_size), (unsigned long long)p->exp_size);
    if ((rc = check_space(p)) < 0)
        return p->err = rc;
    p->phase = HARK_MODELS_PHASE_DOWNLOADING;
    report(p, 1);
    return 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    pull *p = ud;
    size_t len = size * n;
    uint64_t first, total;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0)
        p->cr_seen = 0; /* a new response: a redirect's headers do not count */
    else if (len > 14 && strncasecmp(buf, "Content-Range:", 14) == 0 &&
             hark__models_content_range(buf + 14, len - 14, &first, &total) == 0) {
        p->cr_seen = 1;
        p->cr_first = first;
        p->cr_total = total;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    pull *p = ud;
    size_t len = size * n;
    int rc;
    if (!p->started) {
        p->started = 1;
        if (begin_body(p) < 0 || p->restart || p->status == 416)
            return 0;
    }
    if (p->err)
        return 0;
    if (p->total && len > p->total - p->have) {
        p->err = hark_error_set(HARK_ECORRUPT,
                                "cannot download %s: the server sent more than the %llu bytes it "
                                "announced",
                                p->name, (unsigned long long)p->total);
        return 0;
    }
    if ((rc = write_all(p, data, len)) < 0 ||
        (rc = hark__models_digest_update(&p->dg, data, len)) < 0) {
        p->err = rc;
        return 0;
    }
    p->have += len;
    p->got += len;
    p->res->downloaded += len;
    report(p, 0);
    return len;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    pull *p = ud;
    HARK_UNUSED(dltotal);
    HARK_UNUSED(dlnow);
    HARK_UNUSED(ultotal);
    HARK_UNUSED(ulnow);
    if (p->o->abort && p->o->abort(p->o->payload))
        return 1;
    report(p, 0);
    return 0;
}

static int setup_curl(pull *p)
{
    CURL *c = curl_easy_init();
    int https = strncasecmp(p->url, "https://", 8) == 0;
    if (!c)
        return hark_error_set(HARK_ENOMEM, "cannot download %s: cannot create a libcurl handle",
                              p->name);
    p->curl = c;
    if (curl_easy_setopt(c, CURLOPT_URL, p->url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        /* no https -> http downgrade on redirects */
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https") !=
            CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_USERAGENT, "hark/" HARK_VERSION_STRING) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->errbuf) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)p->o->connect_timeout_ms) !=
            CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)p->o->stall_bytes_per_sec) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                         p->o->stall_bytes_per_sec ? (long)HARK_MAX(p->o->stall_seconds, 1u)
                                                   : 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HEADERDATA, p) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, p) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, p) != CURLE_OK ||
        (p->o->ca_file && curl_easy_setopt(c, CURLOPT_CAINFO, p->o->ca_file) != CURLE_OK))
        return hark_error_set(HARK_EUNSUPPORTED,
                              "cannot download %s: this libcurl lacks a required option (%s)",
                              p->name, curl_version());
    return 0;
}

/* A failed transfer: one line saying what went wrong; *retryable if resuming may help. */
static int transfer_error(pull *p, CURLcode cc, int *retryable)
{
    char host[256], have[32], total[32];
    const char *detail = p->errbuf[0] ? p->errbuf : curl_easy_strerror(cc);
    host_of(p, host, sizeof(host));
    fmt_bytes(have, p->have);
    if (p->total)
        fmt_bytes(total, p->total);
    else
        snprintf(total, sizeof(total), "?");
    switch (cc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return hark_error_set(HARK_ECANCELED,
                              "download of %s canceled; the %s received are kept in %s for a "
                              "later resume",
                              p->name, have, p->part);
    case CURLE_COULDNT_RESOLVE_HOST:
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: could not resolve host %s (offline?)", p->name,
                              host);
    case CURLE_COULDNT_RESOLVE_PROXY:
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: could not resolve the proxy (offline?): %s",
                              p->name, detail);
    case CURLE_COULDNT_CONNECT:
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: cannot connect to %s (offline, or the server is "
                              "down): %s",
                              p->name, host, detail);
    case CURLE_OPERATION_TIMEDOUT:
        if (!p->started)
            return hark_error_set(HARK_ENETWORK,
                                  "cannot download %s: no answer from %s (offline?): %s", p->name,
                                  host, detail);
        *retryable = p->got > 0;
        return hark_error_set(HARK_ETIMEOUT,
                              "cannot download %s: the transfer from %s stalled (under %u bytes/s "
                              "for %u s) after %s of %s; pull again to resume",
                              p->name, host, p->o->stall_bytes_per_sec, p->o->stall_seconds, have,
                              total);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        *retryable = p->got > 0;
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: the connection to %s was lost after %s of %s "
                              "(%s); pull again to resume",
                              p->name, host, have, total, detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: secure connection to %s failed: %s", p->name,
                              host, detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return hark_error_set(HARK_ENETWORK, "cannot download %s: too many redirects from %s",
                              p->name, p->url);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: redirected to an unsupported or insecure URL "
                              "(%s)",
                              p->name, detail);
    case CURLE_URL_MALFORMAT:
        return hark_error_set(HARK_EINVAL, "cannot download %s: invalid URL %s", p->name, p->url);
    default:
        return hark_error_set(HARK_ENETWORK, "cannot download %s from %s: %s", p->name, host,
                              detail);
    }
}

/* A 416 answer to our Range request: complete already, or start over. */
static int range_refused(pull *p)
{
    int rc;
    if (p->have > 0 && p->cr_seen && p->cr_first == UINT64_MAX && p->cr_total == p->have) {
        p->total = p->have;
        return 0;
    }
    if ((rc = reset_part(p)) < 0)
        return rc;
    return RESTART;
}

/* One HTTP request. 0 = the part holds the whole file, RESTART, or an error. */
static int attempt(pull *p, int *retryable)
{
    char range[32];
    CURLcode cc;
    int rc;

    p->range_sent = p->have > 0;
    p->cr_seen = 0;
    p->started = 0;
    p->status = 0;
    p->err = 0;
    p->restart = 0;
    p->got = 0;
    p->errbuf[0] = '\0';
    snprintf(range, sizeof(range), "%llu-", (unsigned long long)p->have);
    if (curl_easy_setopt(p->curl, CURLOPT_RANGE, p->range_sent ? range : NULL) != CURLE_OK)
        return hark_error_set(HARK_EUNSUPPORTED, "cannot download %s: libcurl refuses a range",
                              p->name);
    p->phase = HARK_MODELS_PHASE_CONNECTING;
    report(p, 1);
    p->res->requests++;
    cc = curl_easy_perform(p->curl);
    if (p->err)
        return p->err;
    if (p->restart)
        return RESTART;
    if (!p->status)
        curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &p->status);
    if (p->status == 416 && (cc == CURLE_OK || cc == CURLE_WRITE_ERROR))
        return range_refused(p);
    if (cc != CURLE_OK)
        return transfer_error(p, cc, retryable);
    if (!p->started) { /* empty body */
        if ((rc = begin_body(p)) < 0)
            return rc;
        if (p->restart)
            return RESTART;
    }
    if (p->total && p->have < p->total) {
        char have[32], total[32];
        *retryable = p->got > 0;
        return hark_error_set(HARK_ENETWORK,
                              "cannot download %s: the server ended the transfer after %s of %s; "
                              "pull again to resume",
                              p->name, fmt_bytes(have, p->have), fmt_bytes(total, p->total));
    }
    return 0;
}

/* Download into the part until it holds the whole file. */
static int fetch(pull *p)
{
    unsigned retries = 0, restarts = 0;
    int rc;
    for (;;) {
        int retryable = 0;
        if (p->exp_size && p->have == p->exp_size) {
            p->total = p->have; /* complete from an earlier run: only verification is left */
            return 0;
        }
        rc = attempt(p, &retryable);
        if (rc == 0)
            return 0;
        if (rc == RESTART) {
            if (++restarts > MAX_RESTARTS)
                return hark_error_set(HARK_ENETWORK,
                                      "cannot download %s: the server keeps answering with the "
                                      "wrong byte range",
                                      p->name);
            if (p->have > 0 && (rc = reset_part(p)) < 0)
                return rc;
            p->res->resumed_from = 0;
            continue;
        }
        if (!retryable || retries >= p->o->max_retries)
            return rc;
        /* the connection dropped mid-file: wait, then resume from the new end */
        if (hark__sleep_ms(p->o->retry_delay_ms << HARK_MIN(retries, 10u), p->o->abort,
                           p->o->payload))
            return hark_error_set(HARK_ECANCELED,
                                  "download of %s canceled; the partial file %s is kept for a "
                                  "later resume",
                                  p->name, p->part);
        retries++;
    }
}

/* fsync, check everything, rename into place. *corrupt when the part must go. */
static int finish(pull *p, const char *path, const char *dir, int *corrupt)
{
    hark_model_header h;
    hark_buf why = HARK_BUF_INIT;
    int rc, dfd;

    p->phase = HARK_MODELS_PHASE_VERIFYING;
    report(p, 1);
    if (fsync(p->fd) != 0 && errno != EINVAL)
        return disk_error(p, errno, "syncing");
    if ((rc = hark__models_digest_final(&p->dg, p->res->sha1, p->res->sha256)) < 0)
        return rc;
    if (hark__models_compare(p->have, p->res->sha1, p->res->sha256, p->exp_size, p->exp_sha1,
                             p->exp_sha256, &why) == HARK_MODEL_CHECKSUM_MISMATCH) {
        *corrupt = 1;
        rc = hark_error_set(HARK_ECORRUPT,
                            "cannot download %s: checksum mismatch: %s; the download was "
                            "discarded, pull again%s",
                            p->name, why.ptr ? why.ptr : "?",
                            p->o->base_url || getenv("HARK_MODELS_URL") ? " or check the mirror"
                                                                        : "");
        hark_buf_dispose(&why);
        return rc;
    }
    if ((rc = hark__model_scan_fd(&h, "download", p->fd, p->have)) < 0) {
        *corrupt = rc == HARK_EMODEL;
        /* "download: <reason>" -> the reason, copied: the message buffer is about to change */
        if (rc == HARK_EMODEL && (rc = hark_buf_puts(&why, hark_error_last() + 10)) == 0)
            rc = hark_error_set(HARK_ECORRUPT,
                                "cannot download %s: the downloaded file is not a valid Whisper "
                                "model (%s); it was discarded",
                                p->name, why.ptr);
        hark_buf_dispose(&why);
        return rc;
    }
    if (rename(p->part, path) != 0)
        return hark_error_set(HARK_EIO, "cannot install %s: rename %s: %s", p->name, p->part,
                              strerror(errno));
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd); /* make the rename durable; failure here loses nothing already synced */
        close(dfd);
    }
    p->res->size = p->have;
    p->phase = HARK_MODELS_PHASE_DONE;
    report(p, 1);
    return 0;
}

int hark_models_pull(hark_buf *path_out, hark_models_pull_result *result_out, const char *name,
                     const hark_models_pull_options *opts)
{
    hark_models_pull_options defaults;
    hark_models_pull_result local;
    hark_buf bare = HARK_BUF_INIT, url = HARK_BUF_INIT, dir = HARK_BUF_INIT;
    hark_buf path = HARK_BUF_INIT, part = HARK_BUF_INIT;
    const hark_model_info *info;
    const char *b, *base;
    size_t len;
    struct stat st;
    hark_model_header h;
    pull p;
    int rc, corrupt = 0;

    memset(&p, 0, sizeof(p));
    p.fd = -1;
    p.t0 = hark__now_ms();
    p.res = result_out ? result_out : &local;
    memset(p.res, 0, sizeof(*p.res));
    HARK_ASSERT_ARG(name);
    if (!opts) {
        hark_models_pull_options_default(&defaults);
        opts = &defaults;
    }
    p.o = opts;
    if (opts->version != HARK_MODELS_PULL_OPTIONS_VERSION) {
        rc = hark_error_set(HARK_EINVAL, "hark_models_pull: unsupported options version %u",
                            opts->version);
        goto out;
    }
    b = hark__models_bare_name(name, &len);
    if ((rc = hark__models_check_name(b, len, name)) < 0 || (rc = hark_buf_put(&bare, b, len)) < 0)
        goto out;
    p.name = bare.ptr;
    info = hark__models_catalog_findn(b, len);
    if (opts->sha1 || opts->sha256 || opts->size) {
        p.exp_size = opts->size;
        p.exp_sha1 = opts->sha1;
        p.exp_sha256 = opts->sha256;
    } else if (info) {
        p.exp_size = info->size;
        p.exp_sha1 = info->sha1;
        p.exp_sha256 = info->sha256;
    }
    base = opts->base_url ? opts->base_url : getenv("HARK_MODELS_URL");
    if (base && *base) {
        size_t blen = strlen(base);
        while (blen > 0 && base[blen - 1] == '/')
            blen--;
        rc = hark_buf_printf(&url, "%.*s/ggml-%s.bin", (int)blen, base, p.name);
    } else {
        rc = info ? hark_buf_puts(&url, info->url)
                  : hark_buf_printf(&url, "%s/ggml-%s.bin", DEFAULT_BASE_URL, p.name);
    }
    if (rc < 0 || (rc = hark__models_dir(&dir)) < 0 ||
        (rc = hark__models_file_path(&path, b, len)) < 0 ||
        (rc = hark_buf_printf(&part, "%s.part", path.ptr)) < 0)
        goto out;
    p.url = url.ptr;
    p.part = part.ptr;

    /* 1. already installed? */
    if (!opts->force && stat(path.ptr, &st) == 0 && S_ISREG(st.st_mode)) {
        if (hark_model_inspect(&h, path.ptr) == 0 && (!p.exp_size || h.file_size == p.exp_size)) {
            p.res->already_installed = 1;
            p.res->size = h.file_size;
            p.have = h.file_size;
            p.phase = HARK_MODELS_PHASE_DONE;
            report(&p, 1);
            rc = path_out ? hark_buf_put(path_out, path.ptr, path.len) : 0;
            goto out;
        }
        hark_error_clear(); /* invalid or different: download it again */
    }

    /* 2. the part file, locked, hashed so far */
    if ((rc = mkdir_p(dir.ptr)) < 0)
        goto out;
    if ((p.fd = open(part.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        rc = disk_error(&p, errno, "creating");
        goto out;
    }
    if (flock(p.fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? hark_error_set(HARK_EBUSY,
                                  "cannot download %s: another download of it is running (%s is "
                                  "locked)",
                                  p.name, part.ptr)
                 : disk_error(&p, errno, "locking");
        goto out;
    }
    if (fstat(p.fd, &st) != 0) {
        rc = disk_error(&p, errno, "reading");
        goto out;
    }
    p.have = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    if ((rc = hark__models_digest_init(&p.dg, p.exp_sha1 && !p.exp_sha256)) < 0)
        goto out;
    if (p.exp_size && p.have > p.exp_size && (rc = reset_part(&p)) < 0)
        goto out;
    if (p.have > 0) {
        if ((rc = hark__models_digest_fd(&p.dg, p.fd, p.have, p.part, opts->abort, opts->payload)) <
            0)
            goto out;
        if (lseek(p.fd, (off_t)p.have, SEEK_SET) < 0) {
            rc = disk_error(&p, errno, "seeking in");
            goto out;
        }
        p.res->resumed_from = p.have;
    }

    /* 3. download */
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        rc = hark_error_set(HARK_ENETWORK, "cannot download %s: libcurl failed to initialise: %s",
                            p.name, curl_easy_strerror(curl_init_rc));
        goto out;
    }
    if ((rc = setup_curl(&p)) < 0 || (rc = fetch(&p)) < 0)
        goto out;

    /* 4. verify and install */
    if ((rc = finish(&p, path.ptr, dir.ptr, &corrupt)) < 0)
        goto out;
    if (path_out)
        rc = hark_buf_put(path_out, path.ptr, path.len);
out:
    if (p.fd >= 0) {
        if (rc < 0 && (corrupt || (fstat(p.fd, &st) == 0 && st.st_size == 0)))
            unlink(part.ptr); /* unusable, or nothing worth resuming */
        close(p.fd);
    }
    if (p.curl)
        curl_easy_cleanup(p.curl);
    hark__models_digest_dispose(&p.dg);
    p.res->elapsed_ms = hark__now_ms() - p.t0;
    hark_buf_dispose(&bare);
    hark_buf_dispose(&url);
    hark_buf_dispose(&dir);
    hark_buf_dispose(&path);
    hark_buf_dispose(&part);
    return rc;
}
