/*
 * library.c: the commands over stored transcripts:
 *   hark list [--limit N] [--after ID] [--json]
 *   hark show ID [-f FMT]
 *   hark search QUERY [--limit N] [--offset N] [--recording ID] [--since DATE] [--until DATE]
 *   hark rm ID...
 *   hark cache stats | clear
 *   hark gc --older-than AGE [--dry-run]
 *
 * Stored titles, snippets and query echoes reach the terminal through
 * cli_put_safe (control characters escaped), and so does a transcript that
 * `hark show` prints to a terminal; --json output is escaped JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

enum {
    O_HELP = 1,
    O_LIMIT,
    O_AFTER,
    O_JSON,
    O_FORMAT,
    O_OFFSET,
    O_RECORDING,
    O_SINCE,
    O_UNTIL,
    O_OLDER,
    O_DRY_RUN,
};

typedef struct lib_args {
    cli_store_args db;
    int help, json, dry_run;
    long limit, offset;
    long long after, recording;
    int64_t since_ms, until_ms, older_ms;
    hark_format format;
    const char *words[64];
    int n_words;
    const char *cmd;
} lib_args;

static int on_opt(void *ctx, int id, const char *v)
{
    lib_args *a = ctx;
    long l;
    int rc;
    if (cli_store_option(&a->db, id, v))
        return 0;
    switch (id) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_LIMIT:
        return cli_long(a->cmd, "--limit", v, 1, 1000, &a->limit);
    case O_OFFSET:
        return cli_long(a->cmd, "--offset", v, 0, 1000000, &a->offset);
    case O_AFTER:
        if ((rc = cli_long(a->cmd, "--after", v, 0, 0x7fffffffL, &l)) == 0)
            a->after = l;
        return rc;
    case O_RECORDING:
        if ((rc = cli_long(a->cmd, "--recording", v, 1, 0x7fffffffL, &l)) == 0)
            a->recording = l;
        return rc;
    case O_JSON:
        a->json = 1;
        return 0;
    case O_DRY_RUN:
        a->dry_run = 1;
        return 0;
    case O_FORMAT:
        if (hark_format_parse(&a->format, v) < 0) {
            fprintf(stderr, "hark %s: %s\n", a->cmd, hark_error_last());
            return EXIT_USAGE;
        }
        return 0;
    case O_SINCE:
    case O_UNTIL: {
        struct tm tm;
        char *end;
        time_t t;
        memset(&tm, 0, sizeof(tm));
        errno = 0;
        tm.tm_year = (int)strtol(v, &end, 10) - 1900;
        if (*end == '-')
            tm.tm_mon = (int)strtol(end + 1, &end, 10) - 1;
        if (*end == '-')
            tm.tm_mday = (int)strtol(end + 1, &end, 10);
        tm.tm_isdst = -1;
        if (*end || tm.tm_mday < 1 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
            (t = mktime(&tm)) == (time_t)-1) {
            fprintf(stderr, "hark %s: dates are YYYY-MM-DD, not '%s'\n", a->cmd, v);
            return EXIT_USAGE;
        }
        if (id == O_SINCE)
            a->since_ms = (int64_t)t * 1000;
        else
            a->until_ms = ((int64_t)t + 86400) * 1000; /* the whole day */
        return 0;
    }
    case O_OLDER: {
        char *end;
        double n = strtod(v, &end);
        double unit = 0;
        if (end == v || n < 0)
            unit = 0;
        else if (strcmp(end, "d") == 0)
            unit = 86400;
        else if (strcmp(end, "w") == 0)
            unit = 7 * 86400;
        else if (strcmp(end, "h") == 0)
            unit = 3600;
        else if (strcmp(end, "m") == 0)
            unit = 60;
        else if (strcmp(end, "s") == 0 || *end == '\0')
            unit = 1;
        if (unit == 0) {
            fprintf(stderr, "hark %s: --older-than takes an age like 90d, 12h, 2w, not '%s'\n",
                    a->cmd, v);
            return EXIT_USAGE;
        }
        a->older_ms = (int64_t)(n * unit * 1000);
        return 0;
    }
    }
    return EXIT_USAGE;
}

static int on_arg(void *ctx, const char *arg)
{
    lib_args *a = ctx;
    if (a->n_words == 64) {
        fprintf(stderr, "hark %s: too many arguments\n", a->cmd);
        return EXIT_USAGE;
    }
    a->words[a->n_words++] = arg;
    return 0;
}

static int parse(lib_args *a, const char *cmd, int argc, char **argv, const cli_opt *opts,
                 size_t n_opts)
{
    cli_opt all[32];
    size_t n = 0, k;
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    for (k = 0; k < n_opts; k++)
        all[n++] = opts[k];
    for (k = 0; k < cli_n_store_opts; k++)
        all[n++] = cli_store_opts[k];
    return cli_parse(cmd, argc, argv, all, n, on_opt, on_arg, a);
}

static void help(FILE *f, const char *usage, const cli_opt *opts, size_t n_opts)
{
    fputs(usage, f);
    fputc('\n', f);
    cli_print_options(f, opts, n_opts);
    cli_print_options(f, cli_store_opts, cli_n_store_opts);
}

static int parse_id(const char *cmd, const char *s, int64_t *id)
{
    long l;
    int rc = cli_long(cmd, "a recording id", s, 1, 0x7fffffffL, &l);
    *id = l;
    return rc;
}

static int store_fail(const char *cmd, int rc)
{
    fprintf(stderr, "hark %s: %s\n", cmd, hark_error_last());
    return cli_exit_code(rc) == EXIT_FAIL ? EXIT_STORE : cli_exit_code(rc);
}

static void local_time(char *out, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M", &tm);
}

static void clock_str(char *out, size_t n, int64_t ms)
{
    long long s = ms / 1000;
    if (s >= 3600)
        snprintf(out, n, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, n, "%02lld:%02lld.%01lld", s / 60, s % 60, (long long)(ms % 1000) / 100);
}

/* ---- list --------------------------------------------------------------------------------- */

static const cli_opt list_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--limit", 1, O_LIMIT, "N", "recordings per page (default 20)" },
    { "--after", 1, O_AFTER, "ID",
      "the page after recording ID (as printed at the end of a page)" },
    { "--json", 0, O_JSON, "", "JSON output" },
};

int cmd_list(int argc, char **argv)
{
    lib_args a;
    cli_store st;
    hark_list_options lo = HARK_LIST_OPTIONS_INIT;
    hark_recording_list *list = NULL;
    size_t i;
    int rc;

    if ((rc = parse(&a, "list", argc, argv, list_opts, HARK_ARRAY_SIZE(list_opts))) != 0)
        return rc;
    if (a.help) {
        help(stdout,
             "usage: hark list [--limit N] [--after ID] [--json]\n\nStored recordings, newest "
             "first.",
             list_opts, HARK_ARRAY_SIZE(list_opts));
        return 0;
    }
    if ((rc = cli_store_open("list", &a.db, &st, 1, 0, 0)) != 0)
        return rc;
    lo.limit = a.limit ? (size_t)a.limit : 20;
    lo.after = a.after;
    if ((rc = hark_store_recording_list(st.store, &lo, &list)) < 0) {
        rc = store_fail("list", rc);
        goto out;
    }
    if (a.json) {
        hark_buf b = HARK_BUF_INIT;
        if ((rc = hark_render_recording_list(&b, list, HARK_RENDER_PRETTY | HARK_RENDER_LOCAL)) < 0)
            rc = store_fail("list", rc);
        else
            fputs(b.ptr, stdout);
        hark_buf_dispose(&b);
        goto out;
    }
    if (list->n)
        printf("%6s  %-16s  %9s  %-8s  %5s  %s\n", "id", "created", "duration", "status", "segs",
               "title");
    for (i = 0; i < list->n; i++) {
        const hark_recording *r = &list->items[i];
        char when[32], dur[32];
        local_time(when, sizeof(when), r->created_ms);
        clock_str(dur, sizeof(dur), r->duration_ms);
        printf("%6lld  %-16s  %9s  %-8s  %5lld  ", (long long)r->id, when, dur,
               hark_recording_status_name(r->status), (long long)r->n_segments);
        cli_put_safe(stdout, r->title, 0, NULL);
        putchar('\n');
    }
    if (list->n == 0 && !a.after)
        printf("no recordings yet: 'hark transcribe FILE' stores one\n");
    if (list->more && list->n)
        printf("more: hark list --after %lld\n", (long long)list->items[list->n - 1].id);
out:
    hark_recording_list_free(list);
    cli_store_close(&st);
    return rc;
}

/* ---- show --------------------------------------------------------------------------------- */

static const cli_opt show_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "-f|--format", 1, O_FORMAT, "FMT", "txt (default), srt, vtt, json, tsv" },
};

int cmd_show(int argc, char **argv)
{
    lib_args a;
    cli_store st;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_buf b = HARK_BUF_INIT;
    int64_t id;
    int rc;

    if ((rc = parse(&a, "show", argc, argv, show_opts, HARK_ARRAY_SIZE(show_opts))) != 0)
        return rc;
    if (a.help) {
        help(stdout, "usage: hark show ID [-f FMT]\n\nA stored transcript in any output format.",
             show_opts, HARK_ARRAY_SIZE(show_opts));
        return 0;
    }
    if (a.n_words != 1) {
        fprintf(stderr, "hark show: give one recording id (see hark list)\n");
        return EXIT_USAGE;
    }
    if ((rc = parse_id("show", a.words[0], &id)) != 0)
        return rc;
    if ((rc = cli_store_open("show", &a.db, &st, 1, 0, 0)) != 0)
        return rc;
    if ((rc = hark_store_recording_get(st.store, id, &rec)) < 0 ||
        (rc = hark_store_transcript_get(st.store, id, &t)) < 0) {
        if (rc == HARK_ENOTFOUND)
            fprintf(stderr, "hark show: no recording %lld (see hark list)\n", (long long)id);
        rc = rc == HARK_ENOTFOUND ? EXIT_NOINPUT : store_fail("show", rc);
        goto out;
    }
    hark_transcript_set_meta(t, "source", rec->source);
    hark_transcript_set_meta(t, "engine", rec->engine);
    hark_transcript_set_meta(t, "model", rec->model);
    hark_transcript_set_meta(t, "language", rec->language);
    if (rec->options)
        hark_transcript_set_meta(t, "options", rec->options);
    hark_transcript_set_duration(t, rec->duration_ms * (HARK_SAMPLE_RATE / 1000));
    if ((rc = hark_transcript_write(t, a.format, &b)) < 0) {
        rc = store_fail("show", rc);
        goto out;
    }
    if (b.len && isatty(1))
        cli_put_safe(stdout, b.ptr, 1, NULL); /* stored text must not drive the terminal */
    else if (b.len)
        fwrite(b.ptr, 1, b.len, stdout);
    if (rec->status != HARK_STATUS_DONE)
        fprintf(stderr, "hark show: note: recording %lld is %s: the transcript may be partial\n",
                (long long)id, hark_recording_status_name(rec->status));
out:
    hark_buf_dispose(&b);
    hark_transcript_free(t);
    hark_recording_free(rec);
    cli_store_close(&st);
    return rc;
}

/* ---- search ------------------------------------------------------------------------------- */

static const cli_opt search_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--limit", 1, O_LIMIT, "N", "hits per page (default 20)" },
    { "--offset", 1, O_OFFSET, "N", "skip the first N hits (next pages)" },
    { "--recording", 1, O_RECORDING, "ID", "only this recording" },
    { "--since", 1, O_SINCE, "DATE", "only recordings created on or after YYYY-MM-DD" },
    { "--until", 1, O_UNTIL, "DATE", "only recordings created on or before YYYY-MM-DD" },
    { "--json", 0, O_JSON, "", "JSON output" },
};

int cmd_search(int argc, char **argv)
{
    lib_args a;
    cli_store st;
    hark_search_options so = HARK_SEARCH_OPTIONS_INIT;
    hark_search_result *res = NULL;
    hark_buf q = HARK_BUF_INIT;
    cli_marks marks;
    int tty = isatty(1);
    size_t i;
    int rc, k;

    if ((rc = parse(&a, "search", argc, argv, search_opts, HARK_ARRAY_SIZE(search_opts))) != 0)
        return rc;
    if (a.help) {
        help(stdout,
             "usage: hark search QUERY [options]\n\n"
             "Ranked hits in stored transcripts, with the time offset of each. Words match\n"
             "all of them; \"a phrase\" in quotes; prefix*; OR, NOT and parentheses.",
             search_opts, HARK_ARRAY_SIZE(search_opts));
        return 0;
    }
    if (a.n_words == 0) {
        fprintf(stderr,
                "hark search: what should I look for? (hark search \"fellow americans\")\n");
        return EXIT_USAGE;
    }
    for (k = 0; k < a.n_words; k++) {
        if (k)
            hark_buf_putc(&q, ' ');
        hark_buf_puts(&q, a.words[k]);
    }
    if ((rc = cli_store_open("search", &a.db, &st, 1, 0, 0)) != 0)
        goto done;
    so.limit = a.limit ? (size_t)a.limit : 20;
    so.offset = (size_t)a.offset;
    so.recording = a.recording;
    so.created_from = a.since_ms;
    so.created_to = a.until_ms;
    cli_marks_init(&marks, tty ? "\x1b[1;33m" : "[", tty ? "\x1b[0m" : "]");
    so.hl_open = a.json ? "[" : marks.in_open;
    so.hl_close = a.json ? "]" : marks.in_close;
    if ((rc = hark_store_search(st.store, q.ptr, &so, &res)) < 0) {
        if (rc == HARK_ESYNTAX || rc == HARK_ETOOBIG) { /* a query over the limits is malformed */
            const char *m = hark_error_last();
            fputs("hark ", stderr);
            if (strncmp(m, "search: ", 8) != 0) /* the store's message names the command */
                fputs("search: ", stderr);
            cli_put_safe(stderr, m, 0, NULL); /* it quotes the query */
            fputc('\n', stderr);
            rc = EXIT_USAGE;
        } else {
            rc = store_fail("search", rc);
        }
        goto out;
    }
    if (a.json) {
        hark_buf b = HARK_BUF_INIT;
        if ((rc = hark_render_search(&b, res, HARK_RENDER_PRETTY | HARK_RENDER_LOCAL)) < 0)
            rc = store_fail("search", rc);
        else
            fputs(b.ptr, stdout);
        hark_buf_dispose(&b);
        goto out;
    }
    for (i = 0; i < res->n; i++) {
        const hark_search_hit *h = &res->hits[i];
        char at[32];
        clock_str(at, sizeof(at), h->start_ms);
        printf("#%-5lld %9s  ", (long long)h->recording, at);
        cli_put_safe(stdout, h->title, 0, NULL);
        fputs("\n         ", stdout);
        cli_put_safe(stdout, h->snippet, 0, &marks);
        putchar('\n');
    }
    if (res->n == 0) {
        fputs("no matches for ", stdout);
        cli_put_safe(stdout, q.ptr, 0, NULL);
        putchar('\n');
    }
    if (res->more)
        printf("more: add --offset %zu\n", so.offset + res->n);
out:
    hark_search_result_free(res);
    cli_store_close(&st);
done:
    hark_buf_dispose(&q);
    return rc;
}

/* ---- rm ------------------------------------------------------------------------------------- */

static const cli_opt rm_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
};

int cmd_rm(int argc, char **argv)
{
    lib_args a;
    cli_store st;
    int k, rc, worst = 0;

    if ((rc = parse(&a, "rm", argc, argv, rm_opts, HARK_ARRAY_SIZE(rm_opts))) != 0)
        return rc;
    if (a.help) {
        help(stdout,
             "usage: hark rm ID...\n\nRemove recordings: their segments, cached results and "
             "archived audio.",
             rm_opts, HARK_ARRAY_SIZE(rm_opts));
        return 0;
    }
    if (a.n_words == 0) {
        fprintf(stderr, "hark rm: which recording? (see hark list)\n");
        return EXIT_USAGE;
    }
    if ((rc = cli_store_open("rm", &a.db, &st, 1, 1, 0)) != 0)
        return rc;
    for (k = 0; k < a.n_words; k++) {
        hark_recording *gone = NULL;
        uint64_t dropped = 0;
        int64_t id;
        if ((rc = parse_id("rm", a.words[k], &id)) != 0) {
            worst = worst ? worst : rc;
            continue;
        }
        if ((rc = hark_store_recording_delete(st.store, id, &gone)) < 0) {
            if (rc == HARK_ENOTFOUND)
                fprintf(stderr, "hark rm: no recording %lld\n", (long long)id);
            else
                fprintf(stderr, "hark rm: %s\n", hark_error_last());
            worst = worst ? worst : (rc == HARK_ENOTFOUND ? EXIT_NOINPUT : EXIT_STORE);
            continue;
        }
        if (gone->audio_path && unlink(gone->audio_path) != 0 && errno != ENOENT)
            fprintf(stderr, "hark rm: cannot remove %s: %s\n", gone->audio_path, strerror(errno));
        if (gone->content_hash && st.cache &&
            hark_cache_drop_group(st.cache, gone->content_hash, &dropped) < 0)
            fprintf(stderr, "hark rm: cache: %s\n", hark_error_last());
        printf("removed recording %lld (%lld segments, %llu cached results%s)\n", (long long)id,
               (long long)gone->n_segments, (unsigned long long)dropped,
               gone->audio_path ? ", archived audio" : "");
        hark_recording_free(gone);
    }
    cli_store_close(&st);
    return worst;
}

/* ---- cache ---------------------------------------------------------------------------------- */

static const cli_opt cache_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--json", 0, O_JSON, "", "JSON output (stats)" },
};

int cmd_cache(int argc, char **argv)
{
    lib_args a;
    cli_store st;
    hark_cache_statistics s;
    int rc;

    if ((rc = parse(&a, "cache", argc, argv, cache_opts, HARK_ARRAY_SIZE(cache_opts))) != 0)
        return rc;
    if (a.help || a.n_words != 1 ||
        (strcmp(a.words[0], "stats") != 0 && strcmp(a.words[0], "clear") != 0)) {
        help(a.help ? stdout : stderr,
             "usage: hark cache stats | clear\n\nThe result cache: entries, size and hit rate, or "
             "empty it.",
             cache_opts, HARK_ARRAY_SIZE(cache_opts));
        return a.help ? 0 : EXIT_USAGE;
    }
    if ((rc = cli_store_open("cache", &a.db, &st, 0, 1, 0)) != 0)
        return rc;
    if (strcmp(a.words[0], "clear") == 0) {
        if ((rc = hark_cache_clear(st.cache)) < 0)
            rc = store_fail("cache", rc);
        else
            printf("cache cleared\n");
        goto out;
    }
    if ((rc = hark_cache_stats(st.cache, &s)) < 0) {
        rc = store_fail("cache", rc);
        goto out;
    }
    if (a.json)
        printf("{\"entries\": %llu, \"bytes\": %llu, \"hits\": %llu, \"misses\": %llu, "
               "\"hit_rate\": %.4f}\n",
               (unsigned long long)s.entries, (unsigned long long)s.bytes,
               (unsigned long long)s.hits, (unsigned long long)s.misses, s.hit_rate);
    else
        printf("entries   %llu\nbytes     %llu (%.1f MiB)\nhits      %llu\nmisses    %llu\n"
               "hit rate  %.1f%%\n",
               (unsigned long long)s.entries, (unsigned long long)s.bytes,
               (double)s.bytes / (1024.0 * 1024.0), (unsigned long long)s.hits,
               (unsigned long long)s.misses, 100 * s.hit_rate);
out:
    cli_store_close(&st);
    return rc;
}

/* ---- gc ------------------------------------------------------------------------------------- */

static const cli_opt gc_opts[] = {
    { "-h|--help", 0, O_HELP, "", "show this help" },
    { "--older-than", 1, O_OLDER, "AGE", "remove what is older than AGE: 90d, 12h, 2w, 30m" },
    { "--dry-run", 0, O_DRY_RUN, "", "only count what would go" },
};

static int unlink_audio(const char *path, void *payload)
{
    uint64_t *n = payload;
    if (unlink(path) == 0)
        (*n)++;
    else if (errno != ENOENT)
        fprintf(stderr, "hark gc: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

int cmd_gc(int argc, char **argv)
{
    lib_args a;
    cli_store st;
    hark_gc_options go = HARK_GC_OPTIONS_INIT;
    hark_gc_result res;
    uint64_t files = 0, cache_removed = 0;
    struct timespec now;
    int rc;

    if ((rc = parse(&a, "gc", argc, argv, gc_opts, HARK_ARRAY_SIZE(gc_opts))) != 0)
        return rc;
    if (a.help) {
        help(stdout,
             "usage: hark gc --older-than AGE [--dry-run]\n\nRetention: remove recordings "
             "(segments, archived audio) and cached results older than AGE.",
             gc_opts, HARK_ARRAY_SIZE(gc_opts));
        return 0;
    }
    if (!a.older_ms) {
        fprintf(stderr, "hark gc: say how old, e.g. --older-than 90d\n");
        return EXIT_USAGE;
    }
    if ((rc = cli_store_open("gc", &a.db, &st, 1, 1, 0)) != 0)
        return rc;
    clock_gettime(CLOCK_REALTIME, &now);
    go.older_than_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - a.older_ms;
    go.dry_run = a.dry_run;
    go.audio = unlink_audio;
    go.payload = &files;
    memset(&res, 0, sizeof(res));
    if ((rc = hark_store_gc(st.store, &go, &res)) < 0) {
        rc = store_fail("gc", rc);
        goto out;
    }
    if (!a.dry_run && (rc = hark_cache_gc(st.cache, go.older_than_ms, &cache_removed)) < 0) {
        rc = store_fail("gc", rc);
        goto out;
    }
    printf("%s %llu recordings (%llu segments, %llu audio files), %llu cached results\n",
           a.dry_run ? "would remove" : "removed", (unsigned long long)res.recordings,
           (unsigned long long)res.segments, (unsigned long long)files,
           (unsigned long long)(cache_removed + res.cache_entries));
out:
    cli_store_close(&st);
    return rc;
}
