/*
 * pg_test.c: helpers of the PostgreSQL-only tests (see pg_test.h).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_test.h"

int64_t pt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pt_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void put_le(FILE *f, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        fputc((int)(v >> (8 * i) & 0xff), f);
}

void pt_wav(const char *path, double hz, double seconds)
{
    FILE *f = fopen(path, "wb");
    uint32_t n = (uint32_t)(seconds * 16000), i;
    ASSERT(f != NULL);
    fwrite("RIFF", 1, 4, f);
    put_le(f, 36 + n * 2, 4);
    fwrite("WAVEfmt ", 1, 8, f);
    put_le(f, 16, 4);
    put_le(f, 1, 2);
    put_le(f, 1, 2);
    put_le(f, 16000, 4);
    put_le(f, 32000, 4);
    put_le(f, 2, 2);
    put_le(f, 16, 2);
    fwrite("data", 1, 4, f);
    put_le(f, n * 2, 4);
    for (i = 0; i < n; i++) {
        double v = 0.5 * sin(2 * M_PI * hz * (double)i / 16000.0);
        put_le(f, (uint32_t)(uint16_t)(int16_t)lround(v * 32767), 2);
    }
    ASSERT(fclose(f) == 0);
}

pid_t pt_hark(const char *log_path, const char *const *argv)
{
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(harness_hark_bin(), (char *const *)argv);
        _exit(127);
    }
    return pid;
}

pid_t pt_worker(const char *uri, const char *log_path, ...)
{
    const char *argv[32];
    int n = 0;
    va_list ap;

    argv[n++] = "hark";
    argv[n++] = "worker";
    argv[n++] = "--db";
    argv[n++] = uri;
    va_start(ap, log_path);
    for (const char *a; n < 31 && (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return pt_hark(log_path, argv);
}

void pt_wait_for_text(const char *path, const char *needle, int timeout_ms)
{
    int64_t until = pt_now_ms() + timeout_ms;
    for (;;) {
        char *text = harness_read_file(path, NULL);
        int found = text && strstr(text, needle);
        free(text);
        if (found)
            return;
        if (pt_now_ms() > until) {
            text = harness_read_file(path, NULL);
            harness_fail(__FILE__, __LINE__, "no \"%s\" in %s after %d ms:\n%s", needle, path,
                         timeout_ms, text ? text : "(no file)");
        }
        pt_sleep_ms(20);
    }
}

int pt_stop(pid_t pid, int sig)
{
    int st = 0;
    kill(pid, sig);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int64_t pt_submit(hark_store *s, const char *wav, const char *title)
{
    hark_recording r = HARK_RECORDING_INIT;
    hark_job j = HARK_JOB_INIT;
    hark_job_submitted sub;
    r.title = title;
    r.source = wav;
    r.audio_path = wav;
    ASSERT_OK(hark_store_job_submit(s, &r, &j, &sub));
    return sub.job;
}

void pt_wait_done(hark_store *s, const int64_t *ids, size_t n, int timeout_ms)
{
    int64_t until = pt_now_ms() + timeout_ms;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
            hark_job *j = NULL;
            ASSERT_OK(hark_store_job_get(s, ids[i], &j));
            ASSERT_MSG(j->state != HARK_JOB_DEAD, "job %lld is dead: %s", (long long)ids[i],
                       j->error ? j->error : "");
            done += j->state == HARK_JOB_DONE;
            hark_job_free(j);
        }
        if (done == n)
            return;
        ASSERT_MSG(pt_now_ms() < until, "%zu of %zu jobs done after %d ms", done, n, timeout_ms);
        pt_sleep_ms(50);
    }
}

size_t pt_count_lines(const char *path, pid_t pid)
{
    char *text = harness_read_file(path, NULL), *p;
    size_t n = 0;
    if (!text)
        return 0;
    for (p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (pid == 0 || strtol(p, NULL, 10) == (long)pid)
            n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    free(text);
    return n;
}

int64_t st_dummy_recording(hark_store *s)
{
    hark_recording r = HARK_RECORDING_INIT;
    int64_t id = 0;
    r.title = "dummy";
    ASSERT_OK(hark_store_recording_create(s, &r, &id));
    return id;
}

/* ---- counting statements -------------------------------------------------------------------- */

static void admin_exec(const char *sql)
{
    PGconn *db = PQconnectdb(getenv("HARK_TEST_PG_DSN"));
    PGresult *r;
    ASSERT_MSG(PQstatus(db) == CONNECTION_OK, "connect: %s", PQerrorMessage(db));
    r = PQexec(db, sql);
    ASSERT_MSG(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
               "%s: %s", sql, PQerrorMessage(db));
    PQclear(r);
    PQfinish(db);
}

static const char *server_log(void)
{
    static char path[600];
    const char *dir = harness_pg_dir();
    if (!dir)
        SKIP("the PostgreSQL server is not the harness's own: its log cannot be read");
    snprintf(path, sizeof(path), "%s/log", dir);
    return path;
}

void pt_statement_logging(int on)
{
    (void)server_log();
    if (on) {
        admin_exec("ALTER SYSTEM SET log_statement = 'all'");
        admin_exec("ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '");
    } else {
        admin_exec("ALTER SYSTEM RESET log_statement");
        admin_exec("ALTER SYSTEM RESET log_line_prefix");
    }
    admin_exec("SELECT pg_reload_conf()");
}

const char *pt_with_app(const char *uri, const char *app)
{
    static char bufs[4][1600];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof(bufs[0]), "%s&application_name=%s", uri, app);
    return b;
}

long pt_log_size(void)
{
    const char *log = server_log();
    FILE *f = fopen(log, "rb");
    long n;
    ASSERT_MSG(f != NULL, "cannot read the server log %s", log);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

long pt_statements_since(long from, const char *app)
{
    FILE *f = fopen(server_log(), "rb");
    char line[4096], tag[128];
    long n = 0;
    ASSERT(f != NULL);
    snprintf(tag, sizeof(tag), " app=%s", app);
    fseek(f, from, SEEK_SET);
    while (fgets(line, sizeof(line), f)) {
        if (!strstr(line, tag))
            continue;
        if (!strstr(line, "LOG:  statement: ") && !strstr(line, "LOG:  execute "))
            continue;
        if (n++ < 5)
            printf("  %s", line);
    }
    fclose(f);
    return n;
}
