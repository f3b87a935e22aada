/*
 * progress.c: the progress line on stderr while transcribing:
 *
 *   talk.mp3  [#########.........]  47%  05:12/11:03  12.3x  ETA 00:29
 *
 * Drawn only when stderr is a terminal and -q is not given, at most 10 times
 * a second, erased when done. Speed is audio time per wall time.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

void cli_progress_init(cli_progress *p, int enabled, const char *label)
{
    memset(p, 0, sizeof(*p));
    p->enabled = enabled && isatty(2);
    p->label = label;
}

static void clock_str(char *out, size_t n, double sec)
{
    long s = sec < 0 ? 0 : (long)(sec + 0.5);
    if (s >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, n, "%02ld:%02ld", s / 60, s % 60);
}

void cli_progress_cb(const hark_progress *pr, void *payload)
{
    cli_progress *p = payload;
    double now = hark__now_ms(), frac, done_s, total_s, speed, eta;
    char bar[21], done[48], total[48], etas[48];
    int i, fill;

    if (!p->enabled ||
        (now - p->last_draw < 100 && !(pr->decoding_done && pr->chunks_done == pr->chunks_total)))
        return;
    p->last_draw = now;
    done_s = (double)pr->samples_done / HARK_SAMPLE_RATE;
    total_s = (double)pr->samples_total / HARK_SAMPLE_RATE;
    frac = total_s > 0 ? done_s / total_s : 0;
    if (frac > 1)
        frac = 1;
    fill = (int)(frac * 20);
    for (i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    speed = pr->elapsed_ms > 0 ? done_s / (pr->elapsed_ms / 1000) : 0;
    eta = speed > 0 && total_s > 0 ? (total_s - done_s) / speed : -1;
    clock_str(done, sizeof(done), done_s);
    clock_str(total, sizeof(total), total_s);
    if (eta >= 0)
        clock_str(etas, sizeof(etas), eta);
    else
        snprintf(etas, sizeof(etas), "--:--");
    fprintf(stderr, "\r\x1b[K%.30s  [%s] %3d%%  %s/%s  %.1fx  ETA %s", p->label ? p->label : "",
            bar, (int)(frac * 100), done, total_s > 0 ? total : "?", speed, etas);
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_done(cli_progress *p)
{
    if (p->drawn) {
        fprintf(stderr, "\r\x1b[K");
        fflush(stderr);
    }
    p->drawn = 0;
}
