/*
 * child.c: run another program to completion and measure it, for `hark
 * bench` (its own measured children and a baseline command) and `hark eval
 * --baseline`: wall time, CPU time and peak RSS from wait4(), standard output
 * captured. Baseline commands are templates in which {} stands for a file.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#include "../util/util.h"

int cli_shell_command(const char *tmpl, const char *path, hark_buf *out)
{
    const char *p = tmpl, *q, *c;
    int rc = 0;
    while (rc == 0 && (q = strstr(p, "{}")) != NULL) {
        rc = hark_buf_put(out, p, (size_t)(q - p));
        rc = rc ? rc : hark_buf_putc(out, '\'');
        for (c = path; rc == 0 && *c; c++) /* quoted for sh: ' becomes '\'' */
            rc = *c == '\'' ? hark_buf_puts(out, "'\\''") : hark_buf_putc(out, *c);
        rc = rc ? rc : hark_buf_putc(out, '\'');
        p = q + 2;
    }
    return rc ? rc : hark_buf_puts(out, p);
}

int cli_run_child(char *const argv[], const char *shell, int quiet_stderr, hark_buf *out,
                  cli_child *res)
{
    int fds[2], status;
    struct rusage ru;
    char buf[4096];
    ssize_t n;
    double t0;
    pid_t pid;

    memset(res, 0, sizeof(*res));
    res->status = -1;
    if (pipe(fds) != 0)
        return -1;
    t0 = hark__now_ms();
    pid = fork();
    if (pid == 0) { /* only async-signal-safe calls from here on */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (quiet_stderr) {
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0)
                dup2(devnull, 2);
        }
        if (shell)
            execl("/bin/sh", "sh", "-c", shell, (char *)NULL);
        else
            execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    while (pid > 0 && (n = read(fds[0], buf, sizeof(buf))) > 0)
        if (out)
            hark_buf_put(out, buf, (size_t)n);
    close(fds[0]);
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return -1;
    res->wall_s = (hark__now_ms() - t0) / 1000;
    res->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    res->rss_mb = (double)ru.ru_maxrss / 1024;
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}
