/*
 * launcher.c: the `hark` executable.
 *
 * hark links FFmpeg's libraries, and Debian's libavcodec alone drags in about
 * 140 shared libraries whose loading costs ~60 ms before main() runs. So
 * `hark` is a tiny program that links nothing but libc: it answers --version
 * and --help itself (in about a millisecond) and exec()s the full tool,
 * `hark-cli`, installed next to it, for every real command. The process and
 * its arguments stay the same across the exec (same PID, same signals).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hark/version.h"
#include "commands.h"

#ifndef HARK_CLI_FALLBACK
#define HARK_CLI_FALLBACK "/usr/local/libexec/hark/hark-cli"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "hark %s: fast, private speech-to-text\n\n"
            "usage: hark COMMAND [options] [args]\n\ncommands:\n",
            HARK_VERSION_STRING);
#define X(name, summary) fprintf(f, "  %-12s %s\n", #name, summary);
    HARK_CLI_COMMANDS(X)
#undef X
    fputs(HARK_CLI_USAGE_TAIL, f);
}

/* 0, or 1 after a message when stdout could not be written (closed, disk full). */
static int flushed(void)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "hark: standard output: %s\n", errno ? strerror(errno) : "write error");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char self[PATH_MAX], cli[PATH_MAX + 16];
    ssize_t n;
    char *slash;

    (void)argc;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("hark %s\n", HARK_VERSION_STRING);
        return flushed();
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return flushed();
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash)
            slash[1] = '\0';
        snprintf(cli, sizeof(cli), "%shark-cli", self);
        execv(cli, argv);
    }
    execv(HARK_CLI_FALLBACK, argv);
    fprintf(stderr, "hark: cannot start hark-cli (looked next to %s and at %s): %s\n",
            n > 0 ? self : "hark", HARK_CLI_FALLBACK, strerror(errno));
    return 1;
}
