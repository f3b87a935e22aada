/*
 * helpers.c: see helpers.h.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"

const char *ct_tone(const char *name, double sec)
{
    const char *p = harness_path(name);
    if (!harness_have("ffmpeg"))
        SKIP("ffmpeg not installed");
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i "
                         "'sine=frequency=440:sample_rate=44100:duration=%.2f' -ac 2 '%s'",
                         sec, p),
              0);
    return p;
}

char *ct_run(int *status, const char *fmt, ...)
{
    char args[6144];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return harness_sh_output(status, "%s %s 2>'%s'", harness_hark_bin(), args,
                             harness_path("ct-stderr.txt"));
}

char *ct_err(void)
{
    char *s = harness_read_file(harness_path("ct-stderr.txt"), NULL);
    ASSERT(s != NULL);
    return s;
}

pid_t ct_spawn(const char *const *argv, int in_fd, const char *out_path, int keep_fd)
{
    char err_path[1024];
    const char *args[64];
    size_t n = 0;
    pid_t pid;

    snprintf(err_path, sizeof(err_path), "%s", harness_path("ct-stderr.txt"));
    args[n++] = "hark";
    while (argv[n - 1] && n < 63) {
        args[n] = argv[n - 1];
        n++;
    }
    args[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        if (keep_fd >= 0 && keep_fd != 3 && dup2(keep_fd, 3) < 0) /* in/out/err may be 3 */
            _exit(126);
        /* hark sees its input only as standard input (a second inherited descriptor would
         * look like hark's own copy of it to ct_wait_fd) */
        if (in_fd > 2 && !(keep_fd >= 0 && in_fd == 3)) /* fd 3 may now hold keep_fd */
            close(in_fd);
        execv(harness_hark_bin(), (char *const *)args);
        _exit(127);
    }
    return pid;
}

int ct_wait(pid_t pid, unsigned timeout_ms, int *status)
{
    unsigned waited = 0;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return 1;
        }
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            *status = -1;
            return 0;
        }
        usleep(20 * 1000);
        waited += 20;
    }
}

int ct_wait_fd(pid_t pid, const char *target, int min, unsigned timeout_ms)
{
    unsigned waited = 0;
    for (;;) {
        char dir[64], link[512], got[512];
        int n = 0, is_cli;
        ssize_t len0;
        DIR *d;
        struct dirent *e;
        /* only once the launcher has exec'd hark-cli: before that, descriptors inherited
         * across fork() show up for a moment, before hark installs its signal handlers */
        snprintf(dir, sizeof(dir), "/proc/%d/exe", (int)pid);
        len0 = readlink(dir, got, sizeof(got) - 1);
        got[len0 > 0 ? len0 : 0] = '\0';
        is_cli = len0 > 8 && strcmp(got + len0 - 8, "hark-cli") == 0;
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
        if (is_cli && (d = opendir(dir)) != NULL) {
            while ((e = readdir(d)) != NULL) {
                ssize_t len;
                snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
                len = readlink(link, got, sizeof(got) - 1);
                if (len > 0) {
                    got[len] = '\0';
                    n += strcmp(got, target) == 0;
                }
            }
            closedir(d);
        }
        if (n >= min)
            return 1;
        if (waited >= timeout_ms)
            return 0;
        usleep(20 * 1000);
        waited += 20;
    }
}
