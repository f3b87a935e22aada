/*
 * The chunker on real speech from the shared corpus (skipped when absent):
 * a 20.6-minute LibriSpeech chapter cut with PocketSphinx-like and
 * Whisper-like lengths, and the single-chunk rule on every short recording.
 */
#include <dirent.h>

#include "harness.h"
#include "pipeline/chunker.h"
#include "util/util.h"
#include "vad/vad.h"

#define RATE 16000

/* A plain 44-byte-header 16-bit PCM 16 kHz mono WAV file, as floats. */
/* The whole file, decoded by libhark (16 kHz mono). */
static float *read_wav(const char *path, size_t *n)
{
    float *pcm = NULL;
    ASSERT_OK(hark_audio_load(&pcm, n, path));
    ASSERT_MSG(pcm != NULL, "%s: no samples", path);
    return pcm; /* free with hark_free */
}

typedef struct span {
    int64_t start, end; /* samples */
} span;

/* <id>.segments.tsv: utt_id, start_s, end_s, reference; one header row. */
static span *read_segments(const char *path, size_t *n)
{
    char *text = harness_read_file(path, NULL), *line, *save = NULL;
    span *s = NULL;
    size_t cap = 0;
    ASSERT(text != NULL);
    *n = 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        double a, b;
        char *tab = strchr(line, '\t');
        if (!tab || sscanf(tab + 1, "%lf\t%lf", &a, &b) != 2)
            continue; /* the header */
        if (*n == cap) {
            cap = cap ? 2 * cap : 128;
            s = realloc(s, cap * sizeof(*s));
            ASSERT(s != NULL);
        }
        s[*n].start = (int64_t)(a * RATE + 0.5);
        s[*n].end = (int64_t)(b * RATE + 0.5);
        (*n)++;
    }
    free(text);
    ASSERT(*n > 10);
    return s;
}

typedef struct decisions {
    uint8_t *speech; /* per frame */
    size_t n;
} decisions;

static int on_frame(void *payload, const hark_vad_frame *f)
{
    decisions *d = payload;
    d->speech[f->index] = f->speech;
    d->n++;
    return 0;
}

typedef struct chunks {
    hark_chunk *c;
    size_t n, cap;
} chunks;

static int on_chunk(void *payload, hark_chunk *ch)
{
    chunks *g = payload;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->c = realloc(g->c, g->cap * sizeof(*g->c));
        ASSERT(g->c != NULL);
    }
    hark__free(ch->pcm);
    ch->pcm = NULL;
    g->c[g->n++] = *ch;
    return 0;
}

static chunks run(const float *x, size_t n, double min_s, double max_s, hark_chunker_stats *st)
{
    hark_chunker_config cfg = { (int64_t)(min_s * RATE), (int64_t)(max_s * RATE), 0, 0.5f,
                                2 * RATE };
    hark__chunker *c = NULL;
    chunks g = { 0 };
    size_t pos;
    ASSERT_OK(hark__chunker_new(&c, &cfg));
    for (pos = 0; pos < n; pos += 4096) /* the decoder's block size, more or less */
        ASSERT_OK(hark__chunker_push(c, x + pos, n - pos < 4096 ? n - pos : 4096, on_chunk, &g));
    ASSERT_OK(hark__chunker_finish(c, on_chunk, &g));
    hark__chunker_stats(c, st);
    hark__chunker_free(c);
    return g;
}

/* The length of the VAD silence run around frame f, frames (0 if f is speech). */
static size_t silence_around(const decisions *d, size_t f)
{
    size_t a = f, b = f;
    if (d->speech[f])
        return 0;
    while (a > 0 && !d->speech[a - 1])
        a--;
    while (b + 1 < d->n && !d->speech[b + 1])
        b++;
    return b - a + 1;
}

TEST(chunker_real_chapter_cuts_between_utterances)
{
    static const double ranges[2][2] = { { 5, 20 }, { 30, 120 } };
    const char *wav = harness_shared_file("corpus/long/4088-158077.wav");
    const char *tsv = harness_shared_file("corpus/long/4088-158077.segments.tsv");
    size_t n, n_utt, r;
    float *x = read_wav(wav, &n);
    span *utt = read_segments(tsv, &n_utt);
    decisions d = { 0 };
    hark__vad *v = NULL;

    harness_timeout(600); /* 20 minutes of audio, three times; slow under sanitizers */

    /* the VAD's own view of the whole file */
    d.speech = calloc(n / HARK_VAD_FRAME + 1, 1);
    ASSERT(d.speech != NULL);
    ASSERT_OK(hark__vad_new(&v, 0.5f, HARK_VAD_LOOKAHEAD));
    ASSERT_OK(hark__vad_push(v, x, n, on_frame, &d));
    ASSERT_OK(hark__vad_finish(v, on_frame, &d));
    hark__vad_free(v);
    ASSERT_EQ(d.n, (n + HARK_VAD_FRAME - 1) / HARK_VAD_FRAME);

    for (r = 0; r < 2; r++) {
        hark_chunker_stats st;
        chunks g = run(x, n, ranges[r][0], ranges[r][1], &st);
        size_t i, between = 0, inside = 0, shortest = SIZE_MAX, longest = 0;
        double min_pause = 1e9;
        int64_t emitted = 0;
        for (i = 0; i < g.n; i++) {
            int64_t end = g.c[i].start + (int64_t)g.c[i].n, cut = end;
            size_t u, sil;
            emitted += (int64_t)g.c[i].n;
            shortest = g.c[i].n < shortest ? g.c[i].n : shortest;
            longest = g.c[i].n > longest ? g.c[i].n : longest;
            ASSERT((int64_t)g.c[i].n <= (int64_t)(ranges[r][1] * RATE));
            if (i + 1 == g.n)
                break;
            ASSERT(g.c[i + 1].start >= end);
            if (g.c[i + 1].start == end)
                ASSERT((int64_t)g.c[i].n >= (int64_t)(ranges[r][0] * RATE));
            /* the samples on both sides of the cut are in frames the VAD calls silence */
            ASSERT_MSG(!d.speech[(cut - 1) / HARK_VAD_FRAME] && !d.speech[cut / HARK_VAD_FRAME],
                       "cut at %.2f s is in speech", (double)cut / RATE);
            sil = silence_around(&d, (size_t)cut / HARK_VAD_FRAME);
            /* between utterances: within 0.5 s of a joint (utterances keep some silence) */
            for (u = 0; u < n_utt && !(cut >= utt[u].start && cut < utt[u].end); u++)
                ;
            if (u == n_utt || cut - utt[u].start <= RATE / 2 || utt[u].end - cut <= RATE / 2) {
                between++;
            } else {
                inside++;
                min_pause = (double)sil / 100.0 < min_pause ? (double)sil / 100.0 : min_pause;
                /* inside an utterance only at a real pause */
                ASSERT_MSG(sil >= 15, "cut at %.2f s in a %.2f s pause", (double)cut / RATE,
                           (double)sil / 100.0);
            }
        }
        printf("  [%g s, %g s]: %zu chunks (%.1f-%.1f s), cuts %zu between utterances, %zu "
               "inside (shortest pause %.2f s); speech %.1f s, skipped %.1f s of %.1f s\n",
               ranges[r][0], ranges[r][1], g.n, (double)shortest / RATE, (double)longest / RATE,
               between, inside, inside ? min_pause : 0.0, (double)st.speech / RATE,
               (double)st.skipped / RATE, (double)st.total / RATE);
        ASSERT_EQ(st.total, (int64_t)n);
        ASSERT_EQ(st.chunks, g.n);
        ASSERT_EQ(st.skipped + emitted, (int64_t)n);
        ASSERT(g.n >= n / (size_t)(ranges[r][1] * RATE));
        ASSERT(st.speech > (int64_t)n * 7 / 10); /* read speech, pauses are short */
        free(g.c);
    }
    free(d.speech);
    free(utt);
    hark_free(x);
}

TEST(chunker_real_short_recordings_are_one_chunk)
{
    /* every recording of corpus/en (<= 35 s) reaches a Whisper-like engine untouched */
    const char *dir = harness_shared_file("corpus/en/jfk.wav");
    char path[4096];
    struct dirent *e;
    DIR *dp;
    int files = 0;
    snprintf(path, sizeof(path), "%s", dir);
    *strrchr(path, '/') = '\0';
    dp = opendir(path);
    ASSERT(dp != NULL);
    while ((e = readdir(dp)) != NULL) {
        char file[4400];
        size_t n;
        float *x;
        chunks g;
        hark_chunker_stats st;
        if (!strstr(e->d_name, ".wav"))
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        x = read_wav(file, &n);
        g = run(x, n, 30, 120, &st);
        ASSERT_MSG(g.n == 1 && g.c[0].start == 0 && g.c[0].n == n, "%s: %zu chunks", e->d_name,
                   g.n);
        free(g.c);
        hark_free(x);
        files++;
    }
    closedir(dp);
    ASSERT(files >= 10);
}
