/*
 * main.c: `hark-cli`, the full tool behind the `hark` launcher (launcher.c):
 * command dispatch.
 *
 * Standard descriptors: a closed stdin, stdout or stderr is reopened on
 * /dev/null in the opposite direction before anything else runs, so no file
 * hark opens later (an input, a temporary copy) can land on descriptor 1 and
 * receive the transcript, and writing to a closed stdout still fails (EBADF)
 * and is reported as an output error (exit 1). Whatever a command printed is
 * flushed and checked before exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
#define X(name, summary) { #name, cmd_##name, summary },
    HARK_CLI_COMMANDS(X)
#undef X
};

static void usage(FILE *f)
{
    size_t i;
    fprintf(f,
            "hark %s: fast, private speech-to-text\n\n"
            "usage: hark COMMAND [options] [args]\n\ncommands:\n",
            hark_version());
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs(HARK_CLI_USAGE_TAIL, f);
}

static void guard_std_fds(void)
{
    int fd;
    for (fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
            if (got >= 0 && got != fd) /* cannot happen: the lowest free descriptor is fd */
                close(got);
        }
}

/* rc, or EXIT_FAIL when what went to stdout could not be written. */
static int finish(int rc)
{
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == EXIT_OK) {
        fprintf(stderr, "hark: standard output: %s\n", errno ? strerror(errno) : "write error");
        rc = EXIT_FAIL;
    }
    return rc;
}

int main(int argc, char **argv)
{
    size_t i;
    guard_std_fds();
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("hark %s\n", hark_version());
        return finish(EXIT_OK);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return finish(EXIT_OK);
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return finish(commands[i].run(argc - 2, argv + 2));
    fprintf(stderr, "hark: unknown command '%s' (see hark --help)\n", argv[1]);
    return EXIT_USAGE;
}
