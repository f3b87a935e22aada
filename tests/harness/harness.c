/*
 * harness.c: test registry and runner (see harness.h).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_TESTS 1024
#define SKIP_EXIT 77

typedef struct test_entry {
    const char *name;
    harness_fn fn;
    const char *file;
} test_entry;

static test_entry tests[MAX_TESTS];
static int n_tests;
static char tmpdir[512];
static const char *current;
static unsigned timeout_s = 120;

void harness_register(const char *name, harness_fn fn, const char *file)
{
    if (n_tests < MAX_TESTS)
        tests[n_tests++] = (test_entry){ name, fn, file };
}

void harness_timeout(unsigned seconds)
{
    timeout_s = seconds;
    alarm(seconds);
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s (%s:%d): ", current ? current : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

void harness_skip(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  SKIP %s: ", current ? current : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(SKIP_EXIT);
}

const char *harness_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/hark-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir))
            harness_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    }
    return tmpdir;
}

const char *harness_path(const char *name)
{
    static char bufs[64][1024];
    static int next;
    char *b = bufs[next++ & 63];
    snprintf(b, 1024, "%s/%s", harness_tmpdir(), name);
    return b;
}

const char *harness_shared(void)
{
    static char path[1024];
    const char *env = getenv("HARK_SHARED_DIR");
    struct stat st;
    snprintf(path, sizeof(path), "%s", env && *env ? env : HARK_SHARED_DIR);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        harness_skip("shared test data not found at %s (set HARK_SHARED_DIR)", path);
    return path;
}

const char *harness_shared_file(const char *rel)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ & 3];
    struct stat st;
    snprintf(b, 1024, "%s/%s", harness_shared(), rel);
    if (stat(b, &st) != 0)
        harness_skip("missing shared file %s", b);
    return b;
}

const char *harness_hark_bin(void)
{
    const char *env = getenv("HARK_BIN");
    return env && *env ? env : HARK_BIN;
}

int harness_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    st = system(cmd);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

char *harness_sh_output(int *status, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    FILE *p;
    char *out = NULL;
    size_t len = 0, cap = 0;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    p = popen(cmd, "r");
    if (!p)
        harness_fail(__FILE__, __LINE__, "popen: %s", strerror(errno));
    for (;;) {
        size_t n;
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            out = realloc(out, cap);
            if (!out)
                harness_fail(__FILE__, __LINE__, "out of memory");
        }
        n = fread(out + len, 1, cap - len - 1, p);
        if (n == 0)
            break;
        len += n;
    }
    out[len] = '\0';
    st = pclose(p);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return out;
}

char *harness_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[size] = '\0';
        if (len)
            *len = (size_t)size;
    }
    return buf;
}

int harness_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

int harness_have(const char *prog)
{
    return harness_sh("command -v %s >/dev/null 2>&1", prog) == 0;
}

uint64_t harness_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double harness_randn(uint64_t *s)
{
    double u1 = ((double)(harness_rand(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(harness_rand(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "  FAIL: test timed out\n";
    if (write(2, msg, sizeof(msg) - 1) < 0) {
    }
    _exit(1);
}

static int matches(const char *name, int argc, char **argv)
{
    int i, any = 0;
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = 1;
        if (strstr(name, argv[i]))
            return 1;
    }
    return !any;
}

static int run_one(const test_entry *t, int nofork)
{
    pid_t pid;
    int st;

    if (nofork) {
        current = t->name;
        t->fn();
        return 0;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        char cmd[600];
        setpgid(0, 0); /* its own process group: whatever it starts is stopped with it */
        current = t->name;
        signal(SIGALRM, on_alarm);
        alarm(timeout_s);
        /* every test gets private data, cache and model folders: nothing
         * touches the user's real database or models */
        setenv("XDG_DATA_HOME", harness_path("xdg-data"), 1);
        setenv("XDG_CACHE_HOME", harness_path("xdg-cache"), 1);
        setenv("HARK_MODELS_DIR", harness_path("models"), 1);
        t->fn();
        if (tmpdir[0]) {
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
            if (system(cmd) != 0) {
            }
        }
        fflush(stdout);
        exit(0);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    /* a test that failed half-way leaves no server or child process behind */
    kill(-pid, SIGKILL);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    fprintf(stderr, "  FAIL %s: killed by signal %d\n", t->name, WTERMSIG(st));
    return 1;
}

int main(int argc, char **argv)
{
    int i, failed = 0, skipped = 0, ran = 0;
    int nofork = getenv("HARNESS_NOFORK") && atoi(getenv("HARNESS_NOFORK"));

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            int k;
            for (k = 0; k < n_tests; k++)
                printf("%s\n", tests[k].name);
            return 0;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    harness_pg_setup();
    for (i = 0; i < n_tests; i++) {
        double t0, t1;
        struct timespec ts;
        int rc;
        if (!matches(tests[i].name, argc, argv))
            continue;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        rc = run_one(&tests[i], nofork);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t1 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        ran++;
        if (rc == SKIP_EXIT) {
            skipped++;
            printf("skip %-50s\n", tests[i].name);
        } else if (rc != 0) {
            failed++;
            printf("FAIL %-50s %.2fs\n", tests[i].name, t1 - t0);
        } else {
            printf("ok   %-50s %.2fs\n", tests[i].name, t1 - t0);
        }
    }
    printf("%d tests, %d passed, %d failed, %d skipped\n", ran, ran - failed - skipped, failed,
           skipped);
    if (failed)
        return 1;
    if (ran > 0 && skipped == ran)
        return SKIP_EXIT;
    return 0;
}
