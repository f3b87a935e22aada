/*
 * main.c: `hark-cli`, the full tool behind the `hark` launcher (launcher.c):
 * command dispatch.
 */
#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    size_t i;
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("hark %s\n", hark_version());
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "hark: unknown command '%s' (see hark --help)\n", argv[1]);
    return EXIT_USAGE;
}
