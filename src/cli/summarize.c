/*
 * summarize.c: `hark summarize ID`: a stored recording's transcript summarised
 * by an OpenAI-compatible chat-completions server (hark/summary.h), the
 * summary printed and stored with the recording (`GET
 * /v1/recordings/{id}/summary` of hark serve shows the same).
 *
 * Settings come through the server's config layers (src/server/config.c):
 * flags, then HARK_* variables, then the config file, so one server.conf
 * with summary_url serves both `hark serve` and this command.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../server/config.h"
#include "../util/util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hark summarize ID [options]\n\n"
            "Summarise stored recording ID with a chat-completions model, print the summary\n"
            "and keep it with the recording. Long transcripts are summarised in pieces of at\n"
            "most --summary-context characters, then the summaries are summarised.\n\n"
            "options:\n"
            "  --db URI                 database (default $XDG_DATA_HOME/hark/hark.db)\n"
            "  --summary-url URL        OpenAI-compatible server (its /v1/chat/completions)\n"
            "  --summary-model NAME     model name sent [default]\n"
            "  --summary-api-key KEY    bearer key (better: HARK_SUMMARY_API_KEY)\n"
            "  --summary-timeout DUR    per request [2m]\n"
            "  --summary-context N      transcript characters per request [12000]\n"
            "  --config FILE            settings file (as hark serve's)\n"
            "  --json                   print {recording, summary, requests, pieces, rounds}\n\n"
            "Each setting also comes from HARK_SUMMARY_URL etc. or the config file's\n"
            "summary_url etc.; flags win over the environment, the environment over the file.\n");
}

int cmd_summarize(int argc, char **argv)
{
    hark_server_config cfg;
    hark_store *store = NULL;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_summary_options so;
    hark_summary_stats st;
    hark_buf text = HARK_BUF_INIT, sum = HARK_BUF_INIT, meta = HARK_BUF_INIT;
    char **rest = NULL, err[512], *end;
    const char *id_arg = NULL;
    int n_rest = 0, json = 0, help = 0, print = 0, i, rc, code = EXIT_FAIL;
    long long id;

    memset(&cfg, 0, sizeof(cfg));
    if (!(rest = calloc((size_t)argc + 1, sizeof(*rest)))) {
        fprintf(stderr, "hark summarize: out of memory\n");
        return EXIT_FAIL;
    }
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            free(rest);
            return EXIT_OK;
        } else if (i == 0 && argv[i][0] != '-') {
            id_arg = argv[i]; /* the recording comes first */
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    if (!id_arg) {
        usage(stderr);
        free(rest);
        return EXIT_USAGE;
    }
    id = strtoll(id_arg, &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "hark summarize: '%s' is not a recording id\n", id_arg);
        free(rest);
        return EXIT_USAGE;
    }
    rc = hark__server_config_load(&cfg, n_rest, rest, &help, &print, err, sizeof(err));
    free(rest);
    if (rc < 0) {
        fprintf(stderr, "hark summarize: %s\n", err);
        code = EXIT_USAGE;
        goto out;
    }
    if (!cfg.summary_url || !*cfg.summary_url) {
        fprintf(stderr, "hark summarize: no summary server configured: summaries need an "
                        "OpenAI-compatible chat-completions server: pass --summary-url URL (or "
                        "set HARK_SUMMARY_URL, or summary_url in the config file), and "
                        "--summary-model NAME\n");
        code = EXIT_USAGE;
        goto out;
    }
    if ((rc = hark_store_open(&store, cfg.db)) < 0) {
        fprintf(stderr, "hark summarize: cannot open the database: %s\n", hark_error_last());
        code = EXIT_STORE;
        goto out;
    }
    if ((rc = hark_store_recording_get(store, id, &rec)) < 0) {
        fprintf(stderr, "hark summarize: %s\n", hark_error_last());
        code = rc == HARK_ENOTFOUND ? EXIT_NOINPUT : EXIT_STORE;
        goto out;
    }
    if (rec->status != HARK_STATUS_DONE) {
        fprintf(stderr, "hark summarize: recording %lld has no complete transcript (%s)\n", id,
                hark_recording_status_name(rec->status));
        goto out;
    }
    if ((rc = hark_store_transcript_get(store, id, &t)) < 0 ||
        (rc = hark_transcript_text(t, &text)) < 0) {
        fprintf(stderr, "hark summarize: %s\n", hark_error_last());
        code = cli_exit_code(rc);
        goto out;
    }
    hark_summary_options_default(&so);
    so.url = cfg.summary_url;
    so.model = cfg.summary_model ? cfg.summary_model : "default";
    so.api_key = cfg.summary_api_key;
    so.timeout_ms =
        cfg.summary_timeout_ms > 0xffffffffu ? 0xffffffffu : (unsigned)cfg.summary_timeout_ms;
    so.context_chars = (size_t)cfg.summary_context;
    if ((rc = hark_summarize(&so, text.ptr ? text.ptr : "", &sum, &st)) < 0) {
        fprintf(stderr, "hark summarize: %s\n", hark_error_last());
        code = rc == HARK_ENETWORK || rc == HARK_ETIMEOUT || rc == HARK_EBUSY ? EXIT_NETWORK
                                                                              : EXIT_FAIL;
        goto out;
    }
    {
        /* the model name through jansson: it is user input */
        json_t *m = json_pack("{s:s, s:i, s:i, s:i, s:I}", "model", so.model, "requests",
                              (int)st.requests, "pieces", (int)st.pieces, "rounds", (int)st.rounds,
                              "transcript_chars", (json_int_t)text.len);
        char *js = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (js)
            hark_buf_puts(&meta, js);
        free(js); /* libc: json_dumps allocates with malloc */
        if (m)
            json_decref(m);
    }
    if ((rc = hark_store_text_put(store, id, "summary", sum.ptr, meta.len ? meta.ptr : NULL)) < 0) {
        fprintf(stderr, "hark summarize: cannot store the summary: %s\n", hark_error_last());
        code = EXIT_STORE;
        goto out;
    }
    if (json) {
        json_t *o = json_pack("{s:I, s:s, s:i, s:i, s:i}", "recording", (json_int_t)id, "summary",
                              sum.ptr, "requests", (int)st.requests, "pieces", (int)st.pieces,
                              "rounds", (int)st.rounds);
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (js)
            printf("%s\n", js);
        free(js);
        if (o)
            json_decref(o);
    } else {
        printf("%s\n", sum.ptr);
    }
    code = EXIT_OK;
out:
    hark_buf_dispose(&text);
    hark_buf_dispose(&sum);
    hark_buf_dispose(&meta);
    hark_transcript_free(t);
    hark_recording_free(rec);
    hark_store_free(store);
    hark__server_config_dispose(&cfg);
    return code;
}
