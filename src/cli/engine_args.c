/*
 * engine_args.c: the options shared by every command that runs an engine
 * (transcribe, eval, bench): engine and model, workers and threads, chunking,
 * and the decoding options, spelled as in whisper-cli where they mean the same.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    O_ENGINE = 1000,
    O_MODEL,
    O_JOBS,
    O_THREADS,
    O_QUIET,
    O_RETRIES,
    O_CHUNK_MIN,
    O_CHUNK_MAX,
    O_NO_VAD,
    O_VAD_THRESHOLD,
    O_SKIP_SILENCE,
    O_LANGUAGE,
    O_TRANSLATE,
    O_BEAM_SIZE,
    O_BEST_OF,
    O_TEMPERATURE,
    O_TEMPERATURE_INC,
    O_NO_FALLBACK,
    O_NO_TIMESTAMPS,
    O_PROMPT,
    O_MAX_CONTEXT,
    O_NO_CONTEXT,
    O_ENTROPY,
    O_LOGPROB,
    O_NO_SPEECH,
    O_URL,
    O_API_KEY,
    O_REMOTE_MODEL,
    O_REMOTE_TIMEOUT,
    O_REMOTE_RETRIES,
    O_FALLBACK,
    O_FALLBACK_BELOW,
    O_TASK,
};

const cli_opt cli_engine_opts[] = {
    { "-e|--engine", 1, O_ENGINE, "NAME",
      "pocketsphinx, whisper, remote or test (default: whisper if a model is installed)" },
    { "-m|--model", 1, O_MODEL, "PATH|NAME",
      "model file or installed model name (base.en, small...)" },
    { "-j|--jobs", 1, O_JOBS, "N", "parallel workers (default: number of cores)" },
    { "-t|--threads", 1, O_THREADS, "N", "compute threads per worker (default: cores / workers)" },
    { "-q|--quiet", 0, O_QUIET, "", "no progress bar or notices" },
    { "--retries", 1, O_RETRIES, "N", "retries per failing chunk (default 3)" },
    { "--chunk-min", 1, O_CHUNK_MIN, "SEC", "shortest chunk (default: engine's)" },
    { "--chunk-max", 1, O_CHUNK_MAX, "SEC", "longest chunk (default: engine's)" },
    { "--no-vad", 0, O_NO_VAD, "", "cut at fixed intervals instead of at silences" },
    { "--vad-threshold", 1, O_VAD_THRESHOLD, "X",
      "speech sensitivity 0..1 (default 0.5; higher = stricter)" },
    { "--skip-silence", 1, O_SKIP_SILENCE, "SEC",
      "leave out silences longer than this (default 2; 0 = never)" },
    { "-l|--language", 1, O_LANGUAGE, "LANG", "spoken language (en, de, ..., auto)" },
    { "-tr|--translate", 0, O_TRANSLATE, "", "translate to English (multilingual Whisper models)" },
    { "--task", 1, O_TASK, "TASK",
      "transcribe (default) or translate (to English; = --translate; remote: "
      "/audio/translations)" },
    { "-bs|--beam-size", 1, O_BEAM_SIZE, "N", "beam size, 1 = greedy (default 5)" },
    { "-bo|--best-of", 1, O_BEST_OF, "N", "candidates when sampling (default 5)" },
    { "-tp|--temperature", 1, O_TEMPERATURE, "X", "initial sampling temperature (default 0)" },
    { "-tpi|--temperature-inc", 1, O_TEMPERATURE_INC, "X",
      "temperature fallback step (default 0.2)" },
    { "-nf|--no-fallback", 0, O_NO_FALLBACK, "", "never retry a window at a higher temperature" },
    { "-nt|--no-timestamps", 0, O_NO_TIMESTAMPS, "", "decode without timestamp tokens" },
    { "--prompt", 1, O_PROMPT, "TEXT", "initial prompt" },
    { "-mc|--max-context", 1, O_MAX_CONTEXT, "N",
      "max tokens of text carried between windows (-1 = model's)" },
    { "--no-context", 0, O_NO_CONTEXT, "", "do not carry text between windows" },
    { "-et|--entropy-thold", 1, O_ENTROPY, "X", "entropy threshold for fallback (default 2.4)" },
    { "-lpt|--logprob-thold", 1, O_LOGPROB, "X",
      "average log-probability threshold (default -1.0)" },
    { "-nth|--no-speech-thold", 1, O_NO_SPEECH, "X",
      "no-speech probability threshold (default 0.6)" },
    { "--url", 1, O_URL, "URL",
      "remote: OpenAI-compatible server (http(s)://HOST[:PORT][/v1], or whisper.cpp's "
      ".../inference)" },
    { "--api-key", 1, O_API_KEY, "KEY",
      "remote: bearer key (default: $HARK_REMOTE_API_KEY; the environment keeps it out of ps)" },
    { "--remote-model", 1, O_REMOTE_MODEL, "NAME",
      "remote: the server's model name (default whisper-1)" },
    { "--remote-timeout", 1, O_REMOTE_TIMEOUT, "SEC", "remote: per request (default 300)" },
    { "--remote-retries", 1, O_REMOTE_RETRIES, "N",
      "remote: retries on 429/5xx/network errors, with backoff and Retry-After (default 4)" },
    { "--fallback", 1, O_FALLBACK, "ENGINE[:MODEL]",
      "re-transcribe doubtful passages and failed chunks with this engine (e.g. remote)" },
    { "--fallback-below", 1, O_FALLBACK_BELOW, "X",
      "confidence under which a segment goes to the fallback (default 0.8)" },
};
const size_t cli_n_engine_opts = sizeof(cli_engine_opts) / sizeof(cli_engine_opts[0]);

void cli_engine_args_init(cli_engine_args *a)
{
    memset(a, 0, sizeof(*a));
    hark_pipeline_options_default(&a->pipeline);
    a->remote_retries = -1;
    a->fallback_below = 0.8f;
}

static int seconds(const char *cmd, const char *what, const char *v, double lo, int64_t *out)
{
    double s;
    int rc = cli_double(cmd, what, v, lo, 24 * 3600.0, &s);
    if (rc == 0)
        *out = (int64_t)(s * HARK_SAMPLE_RATE + 0.5);
    return rc;
}

int cli_engine_option(const char *cmd, cli_engine_args *a, int id, const char *v)
{
    hark_pipeline_options *p = &a->pipeline;
    hark_decode_options *d = &p->decode;
    long l;
    double x;
    int rc = 0;

    switch (id) {
    case O_ENGINE:
        a->engine = v;
        break;
    case O_MODEL:
        a->model = v;
        break;
    case O_JOBS:
        if ((rc = cli_long(cmd, "--jobs", v, 1, 256, &l)) == 0)
            p->n_workers = (unsigned)l;
        break;
    case O_THREADS:
        if ((rc = cli_long(cmd, "--threads", v, 1, 256, &l)) == 0)
            d->n_threads = (int)l;
        break;
    case O_QUIET:
        a->quiet = 1;
        break;
    case O_RETRIES:
        if ((rc = cli_long(cmd, "--retries", v, 0, 100, &l)) == 0)
            p->max_retries = (unsigned)l;
        break;
    case O_CHUNK_MIN:
        rc = seconds(cmd, "--chunk-min", v, 0.1, &p->chunk.min);
        break;
    case O_CHUNK_MAX:
        rc = seconds(cmd, "--chunk-max", v, 0.5, &p->chunk.max);
        break;
    case O_NO_VAD:
        p->chunk.no_vad = 1;
        break;
    case O_VAD_THRESHOLD:
        if ((rc = cli_double(cmd, "--vad-threshold", v, 0.01, 0.99, &x)) == 0)
            p->chunk.vad_threshold = (float)x;
        break;
    case O_SKIP_SILENCE:
        if ((rc = seconds(cmd, "--skip-silence", v, 0, &p->chunk.skip_silence)) == 0 &&
            p->chunk.skip_silence == 0)
            p->chunk.skip_silence = -1; /* 0 on the command line = never skip */
        break;
    case O_LANGUAGE:
        d->language = v;
        break;
    case O_TRANSLATE:
        d->translate = 1;
        break;
    case O_TASK:
        if (!strcmp(v, "translate") || !strcmp(v, "transcribe")) {
            d->translate = !strcmp(v, "translate");
        } else {
            fprintf(stderr, "hark %s: --task is transcribe or translate, not '%s'\n", cmd, v);
            rc = EXIT_USAGE;
        }
        break;
    case O_BEAM_SIZE:
        if ((rc = cli_long(cmd, "--beam-size", v, 1, 16, &l)) == 0)
            d->beam_size = (int)l;
        break;
    case O_BEST_OF:
        if ((rc = cli_long(cmd, "--best-of", v, 1, 16, &l)) == 0)
            d->best_of = (int)l;
        break;
    case O_TEMPERATURE:
        if ((rc = cli_double(cmd, "--temperature", v, 0, 2, &x)) == 0)
            d->temperature = (float)x;
        break;
    case O_TEMPERATURE_INC:
        if ((rc = cli_double(cmd, "--temperature-inc", v, 0, 1, &x)) == 0)
            d->temperature_inc = (float)x;
        break;
    case O_NO_FALLBACK:
        d->no_fallback = 1;
        break;
    case O_NO_TIMESTAMPS:
        d->no_timestamps = 1;
        break;
    case O_PROMPT:
        d->prompt = v;
        break;
    case O_MAX_CONTEXT:
        if ((rc = cli_long(cmd, "--max-context", v, -1, 100000, &l)) == 0)
            d->max_context = (int)l;
        break;
    case O_NO_CONTEXT:
        d->no_context = 1;
        break;
    case O_ENTROPY:
        if ((rc = cli_double(cmd, "--entropy-thold", v, -100, 100, &x)) == 0)
            d->entropy_thold = (float)x;
        break;
    case O_LOGPROB:
        if ((rc = cli_double(cmd, "--logprob-thold", v, -100, 100, &x)) == 0)
            d->logprob_thold = (float)x;
        break;
    case O_NO_SPEECH:
        if ((rc = cli_double(cmd, "--no-speech-thold", v, 0, 1, &x)) == 0)
            d->no_speech_thold = (float)x;
        break;
    case O_URL:
        a->url = v;
        break;
    case O_API_KEY:
        a->api_key = v;
        break;
    case O_REMOTE_MODEL:
        a->remote_model = v;
        break;
    case O_REMOTE_TIMEOUT:
        if ((rc = cli_double(cmd, "--remote-timeout", v, 0.05, 86400, &x)) == 0)
            a->remote_timeout_ms = (unsigned)(x * 1000 + 0.5);
        break;
    case O_REMOTE_RETRIES:
        if ((rc = cli_long(cmd, "--remote-retries", v, 0, 100, &l)) == 0)
            a->remote_retries = (int)l;
        break;
    case O_FALLBACK:
        a->fallback = v;
        break;
    case O_FALLBACK_BELOW:
        if ((rc = cli_double(cmd, "--fallback-below", v, 0, 1, &x)) == 0)
            a->fallback_below = (float)x;
        break;
    default:
        return 0;
    }
    return rc ? -rc : 1;
}

/* Open engine `name` with model `model` and the remote settings of `a`; prints on error. */
static int open_one(const char *cmd, const cli_engine_args *a, const char *name, const char *model,
                    hark_engine **out)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_buf id = HARK_BUF_INIT;
    int rc;
    eo.model = model;
    eo.url = a->url;
    eo.api_key = a->api_key ? a->api_key : getenv("HARK_REMOTE_API_KEY");
    eo.remote_model = a->remote_model;
    eo.timeout_ms = a->remote_timeout_ms;
    eo.retries = a->remote_retries;
    rc = hark_engine_open(out, name, &eo);
    if (rc < 0) {
        fprintf(stderr, "hark %s: %s\n", cmd, hark_error_last());
        return rc == HARK_ENOTFOUND || rc == HARK_EINVAL ? EXIT_USAGE /* unknown engine, bad url */
                                                         : cli_exit_code(rc);
    }
    /* Is the model there? (its identity is computed without loading it) */
    rc = hark_engine_identity(*out, &id);
    hark_buf_dispose(&id);
    if (rc < 0) {
        fprintf(stderr, "hark %s: %s\n", cmd, hark_error_last());
        hark_engine_free(*out);
        *out = NULL;
        return rc == HARK_ENOTFOUND || rc == HARK_EMODEL || rc == HARK_EINVAL ? EXIT_MODEL
                                                                              : cli_exit_code(rc);
    }
    return 0;
}

int cli_open_engine(const char *cmd, const cli_engine_args *a, hark_engine **out)
{
    hark_engine *fb = NULL;
    char fb_name[64];
    const char *fb_model = NULL;
    int rc, remote = (a->engine && !strcmp(a->engine, "remote"));

    *out = NULL;
    if (a->fallback) {
        const char *colon = strchr(a->fallback, ':');
        size_t len = colon ? (size_t)(colon - a->fallback) : strlen(a->fallback);
        if (len == 0 || len >= sizeof(fb_name)) {
            fprintf(stderr, "hark %s: --fallback takes ENGINE[:MODEL], not '%s'\n", cmd,
                    a->fallback);
            return EXIT_USAGE;
        }
        memcpy(fb_name, a->fallback, len);
        fb_name[len] = '\0';
        fb_model = colon && colon[1] ? colon + 1 : NULL;
        remote |= !strcmp(fb_name, "remote");
    }
    if (a->url && !remote) {
        fprintf(stderr,
                "hark %s: --url is for the remote engine: add -e remote or --fallback "
                "remote\n",
                cmd);
        return EXIT_USAGE;
    }
    if ((rc = open_one(cmd, a, a->engine, a->model, out)) != 0)
        return rc;
    if (a->fallback) {
        if ((rc = open_one(cmd, a, fb_name, fb_model, &fb)) != 0 ||
            hark_engine_set_fallback(*out, fb, a->fallback_below) < 0) {
            if (rc == 0) {
                fprintf(stderr, "hark %s: %s\n", cmd, hark_error_last());
                hark_engine_free(fb);
                rc = EXIT_USAGE;
            }
            hark_engine_free(*out);
            *out = NULL;
            return rc;
        }
    }
    if (!a->engine && !a->quiet && strcmp(hark_engine_name(*out), "pocketsphinx") == 0)
        fprintf(stderr,
                "hark: note: no Whisper model installed, using PocketSphinx: accuracy will be low "
                "(about 58%% word errors on hard speech, 32%% on clear reading).\n"
                "      Get a model with: hark models pull base.en\n");
    return 0;
}
