/*
 * main.c: `hark` command dispatch. --version and --help do no work beyond
 * printing (no model, no database), so they return in a few milliseconds.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    { "transcribe", cmd_transcribe, "transcribe recordings to txt, srt, vtt, json or tsv" },
    { "eval", cmd_eval, "word error rate and speed on a manifest of reference transcripts" },
    { "bench", cmd_bench, "throughput, parallel efficiency and peak memory, 1..N threads" },
    { "models", cmd_models, "list, pull, locate or remove Whisper models" },
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
    fprintf(f, "\n'hark COMMAND --help' describes a command's options.\n"
               "Exit codes: 0 ok, 1 failed, 2 usage, 3 input missing, 4 not audio, 5 empty audio,\n"
               "6 model missing or invalid, 7 database error, 8 network error, 130 interrupted.\n");
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
