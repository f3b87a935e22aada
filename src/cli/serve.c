/*
 * serve.c: `hark serve`, the transcription server (src/server/): settings
 * from flags, HARK_* variables and a config file (src/server/config.c), then
 * the server runs until SIGTERM or SIGINT.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../server/config.h"

int hark__serve(const hark_server_config *cfg, FILE *log, void (*ready)(const char *url));

static void on_ready(const char *url)
{
    printf("hark serve: listening on %s\n", url);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    hark_server_config cfg;
    char err[512];
    int help = 0, print = 0, rc;

    if (argc == 1 && strcmp(argv[0], "--settings-table") == 0) {
        hark__server_config_markdown(stdout);
        return EXIT_OK;
    }
    if (hark__server_config_load(&cfg, argc, argv, &help, &print, err, sizeof(err)) < 0) {
        fprintf(stderr, "hark serve: %s\n", err);
        hark__server_config_dispose(&cfg);
        return EXIT_USAGE;
    }
    if (help) {
        printf("usage: hark serve [options]\n\n"
               "The transcription server: REST and OpenAI-compatible APIs over a durable job\n"
               "queue. Settings come from flags, then HARK_* environment variables, then the\n"
               "config file (--config FILE, $HARK_CONFIG or ~/.config/hark/server.conf),\n"
               "then the defaults.\n\noptions:\n");
        hark__server_config_usage(stdout);
        printf("  %-24s %s\n", "--settings-table", "the settings as a Markdown table (README)");
        hark__server_config_dispose(&cfg);
        return EXIT_OK;
    }
    if (print) {
        hark__server_config_print(&cfg, stdout);
        hark__server_config_dispose(&cfg);
        return EXIT_OK;
    }
    rc = hark__serve(&cfg, stderr, on_ready);
    hark__server_config_dispose(&cfg);
    return rc;
}
