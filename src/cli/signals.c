/*
 * signals.c: Ctrl-C handling. The first SIGINT/SIGTERM asks the pipeline to
 * stop (it finishes promptly and the CLI writes what is done); a second one
 * restores the default action and kills the process.
 */
#include <signal.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    if (interrupted) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted = 1;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void)
{
    return interrupted != 0;
}

int cli_abort_cb(void *payload)
{
    (void)payload;
    return interrupted != 0;
}
