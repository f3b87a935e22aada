/*
 * listen.c: `hark listen`: live transcription of a microphone.
 *
 * Local mode: capture.c fills a lock-free ring from its own thread; this
 * (main) thread drains it every <=100 ms and feeds hark_live, which cuts
 * utterances with the VAD and transcribes them on the scheduler's workers
 * (include/hark/live.h). Its callbacks, on worker threads, go to one "sink"
 * under a mutex: a partial is drawn in place on a terminal (\r, clear line,
 * the tail of the text that fits the width), a final replaces it with a
 * line (txt), subtitle cues (srt) or one JSON object per utterance (json:
 * JSON Lines, shaped like the protocol's `final` message), written and
 * flushed at once, so what is final is never lost, and stored as segments
 * of the session's recording (source "mic", created at the start, marked
 * done at the end with its duration). Partials are drawn only on a
 * terminal: on stdout when the finals go there, else on stderr when it is
 * one, else not at all.
 *
 * Ctrl-C (SIGINT, or SIGTERM) ends the session gracefully: the capture stops,
 * what it captured is fed, the last utterance is finalised, and the process
 * waits for its final; a second Ctrl-C kills it. Overruns (audio dropped
 * because this thread fell behind the capture) are reported live on stderr
 * and in the summary.
 *
 * Server mode (--server URL): the same capture and sink, but the audio goes
 * to `hark serve` over the live protocol (live_client.c) and the server
 * stores the recording.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "live_client.h"
#include "hark/live.h"
#include "../util/util.h"

#define CMD "listen"

enum {
    O_HELP = 1,
    O_DEVICE,
    O_LIST,
    O_FORMAT,
    O_OUTPUT,
    O_TITLE,
    O_NO_STORE,
    O_SERVER,
    O_KEY,
    O_BUFFER,
    O_ENDPOINT,
    O_PARTIAL,
    O_MAX_UTT
};

static const cli_opt own_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--device", 1, O_DEVICE, "NAME", "audio source (default: the sound server's default)" },
    { "--list-devices", 0, O_LIST, "", "list the audio sources and exit" },
    { "-f|--format", 1, O_FORMAT, "FMT",
      "txt (default: a line per utterance), srt, json (a JSON object per line)" },
    { "-o|--output", 1, O_OUTPUT, "FILE", "write the finals to FILE instead of stdout" },
    { "--title", 1, O_TITLE, "TEXT", "title of the stored recording" },
    { "--no-store", 0, O_NO_STORE, "", "do not keep the transcript in the database" },
    { "--server", 1, O_SERVER, "URL", "stream to `hark serve` at URL (ws://host:port)" },
    { "--key", 1, O_KEY, "KEY", "API key for --server (default: $HARK_API_KEY)" },
    { "--buffer", 1, O_BUFFER, "SEC", "capture buffer (default 30): audio beyond it is dropped" },
    { "--endpoint", 1, O_ENDPOINT, "MS", "silence that ends an utterance (default 500)" },
    { "--partial", 1, O_PARTIAL, "MS", "audio between partial results, 0 = none (default 500)" },
    { "--max-utterance", 1, O_MAX_UTT, "SEC", "utterances are cut at this length (default 15)" },
};

typedef struct args {
    cli_engine_args eng;
    cli_store_args db;
    hark_format fmt;
    const char *device, *output, *title, *server, *key;
    int list, no_store, help;
    long buffer_s, endpoint_ms, partial_ms, max_utt_s;
} args;

/* Where finals and partials go; shared with the worker threads (see the file comment). */
typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    FILE *out;        /* finals */
    hark_format fmt;  /* txt, srt or json */
    FILE *tty;        /* partials, or NULL */
    int shown;        /* a partial is drawn on tty's current line */
    int64_t next_utt; /* utterances below are final: their partials are stale */
    int64_t cues;     /* srt cues written */
    int64_t utterances, segments, errors;
    int out_failed;    /* writing the finals failed (reported once) */
    hark_store *store; /* local mode: the recording's store, or NULL */
    int64_t rec;
    int64_t seq;      /* next segment number */
    int store_failed; /* reported once */
    int last;         /* the final with `last` has come */
} sink;

static void usage(FILE *f)
{
    fprintf(f, "usage: hark listen [options]\n\n"
               "Transcribe a microphone live: partial text while someone speaks (on a terminal),\n"
               "a final line per utterance. Ctrl-C ends the session (the last utterance is\n"
               "finished first). The session is stored as a recording (source \"mic\").\n\n");
    cli_print_options(f, own_opts, HARK_ARRAY_SIZE(own_opts));
    cli_print_options(f, cli_store_opts, cli_n_store_opts);
    cli_print_options(f, cli_engine_opts, cli_n_engine_opts);
    fprintf(f, "\nExit codes: 0 ok (also when ended with Ctrl-C), 1 failed, 2 usage, 3 no sound\n"
               "server or no such audio source, 6 model missing, 7 database error, 8 network\n"
               "error (--server).\n");
}

static int on_opt(void *ctx, int id, const char *v)
{
    args *a = ctx;
    int rc = cli_engine_option(CMD, &a->eng, id, v);
    if (rc)
        return rc < 0 ? -rc : 0;
    if ((rc = cli_store_option(&a->db, id, v)) != 0)
        return rc < 0 ? -rc : 0;
    switch (id) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_DEVICE:
        a->device = v;
        return 0;
    case O_LIST:
        a->list = 1;
        return 0;
    case O_FORMAT:
        if (hark_format_parse(&a->fmt, v) < 0 ||
            (a->fmt != HARK_FORMAT_TXT && a->fmt != HARK_FORMAT_SRT &&
             a->fmt != HARK_FORMAT_JSON)) {
            fprintf(stderr, "hark " CMD ": --format: '%s' is not txt, srt or json\n", v);
            return EXIT_USAGE;
        }
        return 0;
    case O_OUTPUT:
        a->output = v;
        return 0;
    case O_TITLE:
        a->title = v;
        return 0;
    case O_NO_STORE:
        a->no_store = 1;
        return 0;
    case O_SERVER:
        a->server = v;
        return 0;
    case O_KEY:
        a->key = v;
        return 0;
    case O_BUFFER:
        return cli_long(CMD, "--buffer", v, 1, 3600, &a->buffer_s);
    case O_ENDPOINT:
        return cli_long(CMD, "--endpoint", v, 50, 10000, &a->endpoint_ms);
    case O_PARTIAL:
        return cli_long(CMD, "--partial", v, 0, 60000, &a->partial_ms);
    case O_MAX_UTT:
        return cli_long(CMD, "--max-utterance", v, 1, 120, &a->max_utt_s);
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    (void)ctx;
    fprintf(stderr, "hark " CMD ": unexpected argument '%s' (see hark " CMD " --help)\n", arg);
    return EXIT_USAGE;
}

/* ---- the sink ------------------------------------------------------------------------- */

static int term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

/* Erase the partial drawn on the terminal, if any. Under the mutex. */
static void clear_partial(sink *s)
{
    if (s->tty && s->shown) {
        fputs("\r\033[K", s->tty);
        fflush(s->tty);
        s->shown = 0;
    }
}

/* Draw `text` (the tail that fits on one line, whole UTF-8 characters) in place. */
static void draw_partial(sink *s, const char *text)
{
    size_t len, chars = 0, i, start = 0;
    int width = term_width(s->tty) - 4; /* "... " */
    while (*text == ' ')
        text++;
    len = strlen(text);
    for (i = len; i > 0; i--) { /* walk back over whole characters */
        if (((unsigned char)text[i - 1] & 0xC0) != 0x80)
            chars++;
        if (chars > (size_t)width)
            break;
        start = i - 1;
    }
    if (len == 0)
        start = 0;
    fputs("\r\033[K\033[2m", s->tty); /* dim: not final yet */
    if (start > 0)
        fputs("... ", s->tty);
    cli_put_safe(s->tty, text + start, 0, NULL);
    fputs("\033[0m", s->tty);
    fflush(s->tty);
    s->shown = 1;
}

/* A line for the user on stderr, not mixed into a partial. */
static void sink_notice(sink *s, const char *fmt, ...) HARK_PRINTF(2, 3);
static void sink_notice(sink *s, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&s->mu);
    clear_partial(s);
    va_start(ap, fmt);
    fputs("hark " CMD ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    pthread_mutex_unlock(&s->mu);
}

static void sink_partial(sink *s, int64_t utt, const char *text)
{
    pthread_mutex_lock(&s->mu);
    if (s->tty && utt >= s->next_utt && text)
        draw_partial(s, text);
    pthread_mutex_unlock(&s->mu);
}

static int64_t ms_of(int64_t samples)
{
    return (samples + HARK_SAMPLE_RATE / 2000) / (HARK_SAMPLE_RATE / 1000);
}

static void srt_time(hark_buf *b, int64_t samples)
{
    int64_t ms = ms_of(samples);
    hark_buf_printf(b, "%02lld:%02lld:%02lld,%03lld", (long long)(ms / 3600000),
                    (long long)(ms / 60000 % 60), (long long)(ms / 1000 % 60),
                    (long long)(ms % 1000));
}

/* Render segments [first, first + count) of t: the bytes of one final. */
static int render_final(sink *s, int64_t utt, const hark_transcript *t, size_t first, size_t count,
                        hark_buf *b)
{
    size_t i, k;
    if (s->fmt == HARK_FORMAT_JSON) {
        hark_jsonw w;
        hark_buf text = HARK_BUF_INIT;
        int rc;
        for (i = first; i < first + count; i++) {
            const hark_segment *sg = hark_transcript_segment(t, i);
            size_t n = strlen(sg->text);
            const char *p = hark__trim(sg->text, &n);
            if (n && text.len)
                hark_buf_putc(&text, ' ');
            hark_buf_put(&text, p, n);
        }
        hark_jsonw_init(&w, b, 0);
        hark_jsonw_object(&w);
        hark_jsonw_key(&w, "utterance");
        hark_jsonw_int(&w, utt);
        hark_jsonw_key(&w, "start_ms");
        hark_jsonw_int(&w, ms_of(hark_transcript_segment(t, first)->start));
        hark_jsonw_key(&w, "end_ms");
        hark_jsonw_int(&w, ms_of(hark_transcript_segment(t, first + count - 1)->end));
        hark_jsonw_key(&w, "text");
        hark_jsonw_strn(&w, text.ptr ? text.ptr : "", text.len);
        hark_jsonw_key(&w, "segments");
        hark_jsonw_array(&w);
        for (i = first; i < first + count; i++) {
            const hark_segment *sg = hark_transcript_segment(t, i);
            size_t n = strlen(sg->text);
            const char *p = hark__trim(sg->text, &n);
            hark_jsonw_object(&w);
            hark_jsonw_key(&w, "start_ms");
            hark_jsonw_int(&w, ms_of(sg->start));
            hark_jsonw_key(&w, "end_ms");
            hark_jsonw_int(&w, ms_of(sg->end));
            hark_jsonw_key(&w, "text");
            hark_jsonw_strn(&w, p, n);
            hark_jsonw_key(&w, "words");
            hark_jsonw_array(&w);
            for (k = 0; k < sg->n_words; k++) {
                hark_jsonw_object(&w);
                hark_jsonw_key(&w, "word");
                hark_jsonw_str(&w, sg->words[k].text);
                hark_jsonw_key(&w, "start_ms");
                hark_jsonw_int(&w, ms_of(sg->words[k].start));
                hark_jsonw_key(&w, "end_ms");
                hark_jsonw_int(&w, ms_of(sg->words[k].end));
                hark_jsonw_key(&w, "p");
                hark_jsonw_fixed(&w, sg->words[k].p, 3);
                hark_jsonw_close(&w);
            }
            hark_jsonw_close(&w);
            hark_jsonw_close(&w);
        }
        hark_jsonw_close(&w);
        hark_jsonw_close(&w);
        rc = hark_jsonw_end(&w);
        hark_buf_dispose(&text);
        return rc < 0 ? rc : hark_buf_putc(b, '\n');
    }
    for (i = first; i < first + count; i++) {
        const hark_segment *sg = hark_transcript_segment(t, i);
        size_t n = strlen(sg->text);
        const char *p = hark__trim(sg->text, &n);
        if (n == 0)
            continue;
        if (s->fmt == HARK_FORMAT_SRT) {
            hark_buf_printf(b, "%lld\n", (long long)++s->cues);
            srt_time(b, sg->start);
            hark_buf_puts(b, " --> ");
            srt_time(b, sg->end);
            hark_buf_putc(b, '\n');
            hark_buf_put(b, p, n);
            hark_buf_puts(b, "\n\n");
        } else {
            if (b->len)
                hark_buf_putc(b, ' ');
            hark_buf_put(b, p, n);
        }
    }
    if (s->fmt == HARK_FORMAT_TXT && b->len)
        return hark_buf_putc(b, '\n');
    return 0;
}

/* An utterance is final: written out and stored. Under the mutex. */
static void sink_final_locked(sink *s, int64_t utt, const hark_transcript *t, size_t first,
                              size_t count)
{
    hark_buf b = HARK_BUF_INIT;
    if (utt + 1 > s->next_utt)
        s->next_utt = utt + 1;
    clear_partial(s);
    if (count == 0)
        return;
    s->utterances++;
    s->segments += (int64_t)count;
    if (s->store && !s->store_failed) {
        if (hark_store_segments_put(s->store, s->rec, t, first, count, s->seq) < 0) {
            fprintf(stderr, "hark " CMD ": database: %s (the transcript goes on, unstored)\n",
                    hark_error_last());
            s->store_failed = 1;
        }
        s->seq += (int64_t)count;
    }
    if (render_final(s, utt, t, first, count, &b) < 0) {
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
    } else if (b.len && !s->out_failed) {
        errno = 0;
        if (fwrite(b.ptr, 1, b.len, s->out) != b.len || fflush(s->out) != 0) {
            fprintf(stderr, "hark " CMD ": writing the transcript: %s\n",
                    errno ? strerror(errno) : "write error");
            s->out_failed = 1;
        }
    }
    hark_buf_dispose(&b);
}

/* hark_live callbacks (worker threads). */
static void on_live_partial(uint32_t utt, const char *text, void *payload)
{
    sink_partial(payload, utt, text);
}

static void on_live_final(uint32_t utt, const hark_transcript *t, size_t first, size_t count,
                          const char *error, int last, void *payload)
{
    sink *s = payload;
    pthread_mutex_lock(&s->mu);
    if (error) {
        clear_partial(s);
        fprintf(stderr, "hark " CMD ": utterance %u could not be transcribed: %s\n", utt, error);
        s->errors++;
        if (utt + 1 > s->next_utt)
            s->next_utt = (int64_t)utt + 1;
    } else {
        sink_final_locked(s, utt, t, first, count);
    }
    if (last) {
        s->last = 1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- the audio ------------------------------------------------------------------------ */

typedef struct source {
    cli_capture *cap;
    sink *sink;
    uint64_t overruns_told; /* overruns reported so far */
    int stopped;            /* the capture was stopped (Ctrl-C) */
} source;

static void tell_overruns(source *src)
{
    uint64_t n = cli_capture_overruns(src->cap);
    if (n != src->overruns_told) {
        sink_notice(src->sink,
                    "audio overrun: %llu ms dropped so far (%llu blocks): this process fell "
                    "behind the microphone",
                    (unsigned long long)(cli_capture_dropped(src->cap) * 1000 / HARK_SAMPLE_RATE),
                    (unsigned long long)n);
        src->overruns_told = n;
    }
}

/* Audio for the client or the local loop: until Ctrl-C, then what the capture still holds. */
static long source_read(float *dst, size_t max, unsigned timeout_ms, void *payload)
{
    source *src = payload;
    long n;
    if (!src->stopped && cli_interrupted()) {
        cli_capture_stop(src->cap); /* within one block; what it has is still read below */
        src->stopped = 1;
    }
    n = cli_capture_read(src->cap, dst, max, src->stopped ? 0 : timeout_ms);
    tell_overruns(src);
    return n;
}

/* live_client callbacks (this thread). */
static void on_client_partial(int64_t utt, const char *text, void *payload)
{
    sink_partial(((source *)payload)->sink, utt, text);
}

static void on_client_final(int64_t utt, const hark_transcript *t, void *payload)
{
    sink *s = ((source *)payload)->sink;
    pthread_mutex_lock(&s->mu);
    sink_final_locked(s, utt, t, 0, hark_transcript_count(t));
    pthread_mutex_unlock(&s->mu);
}

static void on_client_notice(const char *msg, void *payload)
{
    sink_notice(((source *)payload)->sink, "%s", msg);
}

/* ---- local mode ----------------------------------------------------------------------- */

static int run_local(const args *a, source *src, sink *s, hark_engine *engine,
                     hark_scheduler *sched, int64_t *fed_out)
{
    hark_live *live = NULL;
    hark_live_options lo;
    static float buf[4096];
    int rc = EXIT_OK, r;
    long n;

    hark_live_options_default(&lo);
    lo.scheduler = sched;
    lo.decode = a->eng.pipeline.decode;
    if (a->eng.pipeline.chunk.vad_threshold > 0)
        lo.vad_threshold = a->eng.pipeline.chunk.vad_threshold;
    if (a->endpoint_ms)
        lo.endpoint_ms = (unsigned)a->endpoint_ms;
    if (a->partial_ms >= 0)
        lo.partial_ms = (unsigned)a->partial_ms;
    if (a->max_utt_s)
        lo.max_utterance_ms = (unsigned)a->max_utt_s * 1000u;
    lo.partial = s->tty ? on_live_partial : NULL;
    lo.final = on_live_final;
    lo.payload = s;
    if ((r = hark_live_begin(&live, engine, &lo)) < 0) {
        fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
        rc = cli_exit_code(r);
        goto out;
    }
    while ((n = source_read(buf, HARK_ARRAY_SIZE(buf), 100, src)) >= 0) {
        if (n > 0 && (r = hark_live_feed(live, buf, (size_t)n)) < 0) {
            sink_notice(s, "%s", hark_error_last());
            rc = cli_exit_code(r);
            break;
        }
    }
    if (cli_capture_error(src->cap)) {
        sink_notice(s, "%s: ending the session", cli_capture_error(src->cap));
        rc = EXIT_FAIL;
    }
    hark_live_end(live);
    pthread_mutex_lock(&s->mu);
    while (!s->last)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
out:
    *fed_out = live ? hark_live_samples(live) : 0;
    hark_live_free(live);
    return rc;
}

static int create_recording(const args *a, hark_engine *engine, hark_store *st, int64_t *id)
{
    hark_recording rec = HARK_RECORDING_INIT;
    hark_buf model = HARK_BUF_INIT;
    char title[128];
    time_t now = time(NULL);
    struct tm tm;
    int rc;
    localtime_r(&now, &tm);
    strftime(title, sizeof(title), "Microphone %Y-%m-%d %H:%M", &tm);
    rec.title = a->title ? a->title : title;
    rec.source = "mic";
    rec.engine = hark_engine_name(engine);
    if (hark_engine_identity(engine, &model) == 0)
        rec.model = model.ptr;
    rec.language = a->eng.pipeline.decode.language;
    rec.status = HARK_STATUS_RUNNING;
    rc = hark_store_recording_create(st, &rec, id);
    hark_buf_dispose(&model);
    return rc;
}

static int finish_recording(hark_store *st, int64_t id, int64_t samples, int ok)
{
    hark_recording *rec = NULL;
    int rc = hark_store_recording_get(st, id, &rec);
    if (rc == 0) {
        rec->duration_ms = samples / (HARK_SAMPLE_RATE / 1000);
        rec->status = ok ? HARK_STATUS_DONE : HARK_STATUS_FAILED;
        rc = hark_store_recording_update(st, rec);
    }
    hark_recording_free(rec);
    return rc;
}

int cmd_listen(int argc, char **argv)
{
    args a;
    sink s;
    source src;
    cli_store st;
    hark_engine *engine = NULL;
    hark_scheduler *sched = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    FILE *outf = NULL;
    int64_t fed = 0;
    int rc, sink_ok = 0;

    memset(&a, 0, sizeof(a));
    memset(&s, 0, sizeof(s));
    memset(&src, 0, sizeof(src));
    memset(&st, 0, sizeof(st));
    cli_engine_args_init(&a.eng);
    a.fmt = HARK_FORMAT_TXT;
    a.buffer_s = 30;
    a.partial_ms = -1;
    {
        cli_opt all[80];
        size_t n = 0, k;
        for (k = 0; k < HARK_ARRAY_SIZE(own_opts); k++)
            all[n++] = own_opts[k];
        for (k = 0; k < cli_n_engine_opts; k++)
            all[n++] = cli_engine_opts[k];
        for (k = 0; k < cli_n_store_opts; k++)
            all[n++] = cli_store_opts[k];
        rc = cli_parse(CMD, argc, argv, all, n, on_opt, on_arg, &a);
    }
    if (rc)
        goto out;
    if (a.help) {
        usage(stdout);
        goto out;
    }
    if (a.list) {
        rc = cli_capture_list(CMD, stdout);
        goto out;
    }
    if (!a.key)
        a.key = getenv("HARK_API_KEY");
    if (a.output && strcmp(a.output, "-") != 0) {
        outf = fopen(a.output, "w");
        if (!outf) {
            fprintf(stderr, "hark " CMD ": cannot write %s: %s\n", a.output, strerror(errno));
            rc = EXIT_FAIL;
            goto out;
        }
    }
    if (pthread_mutex_init(&s.mu, NULL) != 0 || pthread_cond_init(&s.cv, NULL) != 0) {
        rc = EXIT_FAIL;
        goto out;
    }
    sink_ok = 1;
    s.out = outf ? outf : stdout;
    s.fmt = a.fmt;
    /* partials: in place on the terminal the finals go to, else on stderr if it is one */
    if (!a.eng.quiet && a.partial_ms != 0) {
        if (!outf && a.fmt == HARK_FORMAT_TXT && isatty(STDOUT_FILENO))
            s.tty = stdout;
        else if (isatty(STDERR_FILENO))
            s.tty = stderr;
    }
    cli_signals_install();
    if (!a.server) {
        if ((rc = cli_open_engine(CMD, &a.eng, &engine)) != 0)
            goto out;
        if ((rc = cli_store_open(CMD, &a.db, &st, !a.no_store, 0, 0)) != 0)
            goto out;
        so.n_workers = a.eng.pipeline.n_workers;
        if (hark_scheduler_new(&sched, &so) < 0) {
            fprintf(stderr, "hark " CMD ": %s\n", hark_error_last());
            rc = EXIT_FAIL;
            goto out;
        }
    }
    if ((rc = cli_capture_start(&src.cap, CMD, a.device, (unsigned)a.buffer_s * 1000u)) != 0)
        goto out;
    src.sink = &s;
    if (!a.server && st.store) {
        if (create_recording(&a, engine, st.store, &s.rec) < 0) {
            fprintf(stderr, "hark " CMD ": database: %s\n", hark_error_last());
            rc = EXIT_STORE;
            goto out;
        }
        s.store = st.store;
    }
    if (!a.eng.quiet)
        fprintf(stderr, "hark " CMD ": listening to %s%s%s (Ctrl-C ends)\n",
                a.device ? a.device : "the default source", a.server ? ", streaming to " : "",
                a.server ? a.server : "");
    if (a.server) {
        cli_live_client_options co;
        cli_live_client_result res;
        memset(&co, 0, sizeof(co));
        co.url = a.server;
        co.key = a.key;
        co.title = a.title;
        co.language = a.eng.pipeline.decode.language;
        co.read = source_read;
        co.partial = s.tty ? on_client_partial : NULL;
        co.final = on_client_final;
        co.notice = a.eng.quiet ? NULL : on_client_notice;
        co.payload = &src; /* the callbacks reach the sink through it */
        rc = cli_live_client_run(CMD, &co, &res);
        if (!a.eng.quiet && res.recording)
            fprintf(stderr,
                    "hark " CMD ": server recording %lld: %lld utterances, %u reconnections, "
                    "%llu frames resent\n",
                    (long long)res.recording, (long long)res.utterances, res.reconnects,
                    (unsigned long long)res.resent);
    } else {
        rc = run_local(&a, &src, &s, engine, sched, &fed);
        if (s.store && finish_recording(s.store, s.rec, fed, rc == EXIT_OK) < 0) {
            fprintf(stderr, "hark " CMD ": database: %s\n", hark_error_last());
            if (rc == EXIT_OK)
                rc = EXIT_STORE;
        }
        if (!a.eng.quiet)
            fprintf(stderr, "hark " CMD ": %.1f s of audio, %lld utterances, %s %lld\n",
                    (double)fed / HARK_SAMPLE_RATE, (long long)s.utterances,
                    s.store ? "recording" : "not stored:", s.store ? (long long)s.rec : 0LL);
    }
    cli_capture_stop(src.cap); /* stopped already, unless the session ended otherwise */
    if (!a.eng.quiet) {
        double p50, p95, max;
        uint64_t n = cli_capture_latency(src.cap, &p50, &p95, &max);
        if (n)
            fprintf(stderr,
                    "hark " CMD ": capture to ring: p50 %.1f ms, p95 %.1f ms, max %.1f ms "
                    "(newest sample of each 50 ms block, %llu blocks)\n",
                    p50, p95, max, (unsigned long long)n);
    }
    if (cli_capture_overruns(src.cap))
        fprintf(stderr, "hark " CMD ": %llu ms of audio were dropped (%llu overruns)\n",
                (unsigned long long)(cli_capture_dropped(src.cap) * 1000 / HARK_SAMPLE_RATE),
                (unsigned long long)cli_capture_overruns(src.cap));
    if (rc == EXIT_OK && s.out_failed)
        rc = EXIT_FAIL;
out:
    cli_capture_free(src.cap);
    if (outf && fclose(outf) != 0 && rc == EXIT_OK) {
        fprintf(stderr, "hark " CMD ": %s: %s\n", a.output, strerror(errno));
        rc = EXIT_FAIL;
    }
    hark_scheduler_free(sched);
    cli_store_close(&st);
    hark_engine_free(engine);
    if (sink_ok) {
        pthread_mutex_destroy(&s.mu);
        pthread_cond_destroy(&s.cv);
    }
    return rc;
}
