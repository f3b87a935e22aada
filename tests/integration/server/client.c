/*
 * client.c: see client.h.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <strings.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "client.h"
#include "hark/hark.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

void server_start(server *s, const char *extra)
{
    server_start_at(s, "hark.db", extra);
}

void server_start_at(server *s, const char *db_name, const char *extra)
{
    char opts[2048];
    snprintf(opts, sizeof(opts), "--cache-db none %s", extra ? extra : "");
    server_start_node(s, harness_path(db_name), "server", opts);
}

void server_start_node(server *s, const char *db, const char *name, const char *extra)
{
    char out[512], cmd[4096];
    double until;
    pid_t pid;

    memset(s, 0, sizeof(*s));
    snprintf(s->db, sizeof(s->db), "%s", db);
    snprintf(s->log, sizeof(s->log), "%s/%s.log", harness_tmpdir(), name);
    snprintf(out, sizeof(out), "%s/%s.out", harness_tmpdir(), name);
    unlink(out);
    snprintf(cmd, sizeof(cmd),
             "XDG_CONFIG_HOME='%s' exec '%s' serve --listen 127.0.0.1:0 --db '%s' %s >'%s' 2>>'%s'",
             harness_tmpdir(), harness_hark_bin(), s->db, extra ? extra : "", out, s->log);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    until = now_ms() + 20000;
    while (now_ms() < until) {
        char *o = harness_read_file(out, NULL), *p;
        int st;
        if (o && (p = strstr(o, "listening on http://127.0.0.1:")) != NULL) {
            s->port = (unsigned)strtoul(p + strlen("listening on http://127.0.0.1:"), NULL, 10);
            snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->port);
            free(o);
            return;
        }
        free(o);
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char *log = server_log(s);
            s->pid = 0;
            harness_fail(__FILE__, __LINE__, "hark serve exited before listening (status %d): %s",
                         st, log ? log : "");
        }
        usleep(5000);
    }
    kill(pid, SIGKILL);
    harness_fail(__FILE__, __LINE__, "hark serve did not start listening within 20 s");
}

int server_stop(server *s, int sig, unsigned timeout_ms)
{
    double until = now_ms() + timeout_ms;
    int st;
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    while (now_ms() < until) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(5000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

char *server_log(const server *s)
{
    return harness_read_file(s->log, NULL);
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_data(char *d, size_t size, size_t n, void *u)
{
    sink *k = u;
    char *p = realloc(k->p, k->n + size * n + 1);
    if (!p)
        return 0;
    memcpy(p + k->n, d, size * n);
    k->n += size * n;
    p[k->n] = '\0';
    k->p = p;
    return size * n;
}

static reply perform(CURL *c, struct curl_slist *hl)
{
    reply r;
    sink body = { NULL, 0 }, hdr = { NULL, 0 };
    char err[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    memset(&r, 0, sizeof(r));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (hl)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    if ((rc = curl_easy_perform(c)) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else /* status 0: say why, for the failure that follows */
        fprintf(stderr, "  curl: %s (%s)\n", curl_easy_strerror(rc), err);
    r.body = body.p ? body.p : calloc(1, 1);
    r.len = body.n;
    r.headers = hdr.p ? hdr.p : calloc(1, 1);
    return r;
}

static struct curl_slist *header_list(const char *const *headers)
{
    struct curl_slist *hl = NULL;
    const char *const *h;
    int expect = 0;
    for (h = headers; h && *h; h++)
        expect |= !strncasecmp(*h, "Expect:", 7);
    /* no Expect: 100-continue unless the test asks for it. curl honours the first Expect header
     * in the list: a blank one before the test's made curl send the body at once while the
     * server, told to expect a client that waits, refused and closed (a broken pipe) */
    if (!expect)
        hl = curl_slist_append(hl, "Expect:");
    for (h = headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    return hl;
}

reply http(const server *s, const char *method, const char *path, const char *const *headers,
           const void *body, size_t len)
{
    char url[1024];
    CURL *c = curl_easy_init();
    struct curl_slist *hl = header_list(headers);
    reply r;
    ASSERT(c != NULL);
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    r = perform(c, hl);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
}

reply httpf(const server *s, const char *method, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return http(s, method, path, NULL, NULL, 0);
}

reply http_form(const server *s, const char *path, const char *const *headers,
                const char *const *fields, const char *file)
{
    char url[1024];
    CURL *c = curl_easy_init();
    struct curl_slist *hl = header_list(headers);
    curl_mime *m;
    curl_mimepart *part;
    reply r;
    ASSERT(c != NULL);
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    m = curl_mime_init(c);
    if (file) {
        part = curl_mime_addpart(m);
        curl_mime_name(part, "file");
        curl_mime_filedata(part, file);
    }
    for (; fields && fields[0]; fields += 2) {
        part = curl_mime_addpart(m);
        curl_mime_name(part, fields[0]);
        curl_mime_data(part, fields[1], CURL_ZERO_TERMINATED);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
    r = perform(c, hl);
    curl_mime_free(m);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
}

void reply_free(reply *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

const char *reply_header(const reply *r, const char *name)
{
    static char v[1024];
    const char *p = r->headers;
    size_t n = strlen(name);
    while (p && *p) {
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            const char *e = strstr(p, "\r\n");
            p += n + 1;
            while (*p == ' ')
                p++;
            snprintf(v, sizeof(v), "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
            return v;
        }
        p = strstr(p, "\r\n");
        if (p)
            p += 2;
    }
    return NULL;
}

const char *wait_job(const server *s, const char *const *headers, long long id, unsigned timeout_ms)
{
    static const char *const states[] = { "done", "dead", "canceled" };
    char path[64];
    double until = now_ms() + timeout_ms;
    snprintf(path, sizeof(path), "/v1/jobs/%lld", id);
    while (now_ms() < until) {
        reply r = http(s, "GET", path, headers, NULL, 0);
        json_t *o = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        const char *st =
            json_string_value(json_object_get(o, "state")); /* the job's, not a chunk's */
        size_t i;
        for (i = 0; st && i < 3; i++) {
            if (!strcmp(st, states[i])) {
                json_decref(o);
                reply_free(&r);
                return states[i];
            }
        }
        json_decref(o);
        reply_free(&r);
        usleep(20000);
    }
    return NULL;
}

const char *tone(const char *name, double sec, int hz)
{
    const char *p = harness_path(name);
    size_t n = (size_t)(sec * 16000), i;
    float *pcm = malloc(n * sizeof(float));
    ASSERT(pcm != NULL);
    for (i = 0; i < n; i++)
        pcm[i] = 0.3f * (float)sin(2 * 3.14159265358979 * hz * (double)i / 16000);
    ASSERT_OK(hark_wav_write(p, pcm, n));
    free(pcm);
    return p;
}

int tcp_connect(const server *s)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)s->port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Make a key in the server's database (before the server starts, or while it runs). */
void server_make_key(const char *db, const char *user, int admin, char header[160], long long *id)
{
    hark_store *st = NULL;
    hark_user *u = NULL;
    int64_t uid = 0, kid = 0;
    char token[HARK_KEY_TOKEN_LEN + 1], prefix[HARK_KEY_PREFIX_LEN + 1];
    uint8_t digest[32];
    ASSERT_OK(hark_store_open(&st, db));
    if (hark_store_user_find(st, user, &u) == 0)
        uid = u->id;
    else
        ASSERT_OK(hark_store_user_create(st, user, &uid));
    hark_user_free(u);
    ASSERT_OK(hark_key_generate(token, digest));
    memcpy(prefix, token, HARK_KEY_PREFIX_LEN);
    prefix[HARK_KEY_PREFIX_LEN] = '\0';
    ASSERT_OK(hark_store_key_create(st, uid, "test", admin, digest, prefix, &kid));
    hark_store_free(st);
    snprintf(header, 160, "Authorization: Bearer %s", token);
    if (id)
        *id = kid;
}
