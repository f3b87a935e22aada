/*
 * bench_store.c: figures of the store on a synthetic archive of 1 million
 * segments (10,000 recordings x 100 segments), through the public API only.
 *
 *   bench_store [--recordings N] [--segments N] [--queries N] [--owners N] [--jobs N]
 *               [--db PATH|URI] [--keep] [--core]
 *
 * --db postgresql://... runs the same load, queries and list pages on
 * PostgreSQL (the database must be empty; bench/bench_pg.sh starts a private
 * server and runs SQLite and PostgreSQL one after the other in one run).
 * --core stops after the insert, search, list and size figures and prints
 * them on one "result:" line as well.
 *
 * Text: English-like, ~15 words per segment (12..18), one segment per 5 s
 * (the density of real speech), words drawn with a Zipf distribution
 * (s = 1.07) over a 20,000-word vocabulary: 200 real common English words
 * for the head, syllable-built pseudo-words for the tail. Every word has
 * times and a confidence, as Whisper output does. Seeded RNG: the same
 * archive every run.
 *
 * Figures, printed next to their targets:
 *   - insert throughput, segments/s (one transaction per recording of 100)
 *   - search latency p50/p95/p99 over a fixed mix: common words, rare words,
 *     two-word phrases taken from the text, prefixes, each with and without a
 *     recording filter; very frequent words ("the") are reported apart
 *   - list page latency p50/p95/p99 (first pages and keyset cursors)
 *   - the same search mix and list pages filtered by owner: recordings
 *     belong to --owners users (default 100, round robin; 0 = no owners),
 *     as on a shared server; the unfiltered figures are the baseline
 *   - job queue (a separate store): claim + finish latency with --jobs jobs
 *     queued (default 20,000) against 100 queued, i.e. whether a claim's
 *     cost grows with the queue
 *   - database size per hour of transcript
 *   - readers vs a writer: the readers' p99 alone, then while a writer
 *     inserts, and the longest single read while writing
 * Timings on a shared machine are noisy; the readers-vs-writer figure is a
 * ratio against a baseline measured in the same run.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hark/hark.h"

#define VOCAB  20000
#define ZIPF_S 1.07
#define SEG_MS 5000

static const char *const common_words[] = {
    "the",      "and",      "to",        "of",        "a",          "in",      "that",
    "is",       "it",       "you",       "i",         "we",         "for",     "this",
    "on",       "be",       "are",       "with",      "have",       "not",     "as",
    "was",      "they",     "but",       "so",        "at",         "what",    "all",
    "can",      "do",       "there",     "our",       "will",       "one",     "from",
    "or",       "if",       "about",     "by",        "people",     "just",    "know",
    "like",     "my",       "an",        "your",      "would",      "he",      "more",
    "think",    "their",    "going",     "time",      "which",      "them",    "who",
    "very",     "out",      "when",      "get",       "up",         "because", "how",
    "some",     "been",     "these",     "now",       "also",       "make",    "has",
    "really",   "other",    "new",       "those",     "world",      "then",    "want",
    "work",     "right",    "were",      "see",       "into",       "had",     "need",
    "years",    "way",      "first",     "here",      "many",       "could",   "say",
    "said",     "country",  "good",      "much",      "well",       "over",    "only",
    "us",       "let",      "where",     "go",        "why",        "back",    "most",
    "every",    "being",    "even",      "same",      "things",     "made",    "look",
    "today",    "take",     "come",      "great",     "help",       "year",    "should",
    "life",     "together", "state",     "must",      "me",         "day",     "may",
    "never",    "long",     "still",     "system",    "government", "fellow",  "americans",
    "nation",   "freedom",  "question",  "answer",    "number",     "place",   "problem",
    "market",   "money",    "water",     "energy",    "health",     "school",  "children",
    "family",   "company",  "history",   "science",   "future",     "idea",    "power",
    "change",   "public",   "program",   "community", "president",  "america", "american",
    "security", "policy",   "data",      "model",     "research",   "war",     "peace",
    "economy",  "city",     "house",     "business",  "law",        "team",    "story",
    "point",    "week",     "important", "different", "small",      "large",   "little",
    "big",      "high",     "old",       "young",     "next",       "last",    "few",
    "own",      "part",     "case",      "fact",      "group",      "ask",     "tell",
    "give",     "find",     "call",      "try",       "feel",       "leave",   "put",
    "mean",     "keep",     "begin",     "seem",      "talk",       "turn",    "start",
    "show",     "hear",     "play",      "run",       "move",       "live",    "believe",
};

static const char *const syllables[] = {
    "ba",  "ran", "to",  "mel", "si", "kor", "da",  "ven", "lu",  "tis", "pe", "gor", "na", "fal",
    "ri",  "mon", "che", "dal", "vo", "sen", "tra", "bel", "ki",  "nor", "ma", "lek", "ot", "rin",
    "sha", "pol", "en",  "gus", "ti", "mar", "lo",  "ves", "qua", "dor", "fi", "zan",
};

static char *vocab[VOCAB];
static double zipf_cdf[VOCAB];

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static void build_vocab(void)
{
    size_t n_common = sizeof(common_words) / sizeof(common_words[0]);
    size_t n_syl = sizeof(syllables) / sizeof(syllables[0]);
    double sum = 0;
    for (size_t r = 0; r < VOCAB; r++) {
        char w[32];
        if (r < n_common) {
            snprintf(w, sizeof(w), "%s", common_words[r]);
        } else {
            /* a deterministic pseudo-word of 2..4 syllables */
            uint64_t k = (uint64_t)r * 2654435761u;
            size_t len = 0;
            int syl = 2 + (int)(r % 3);
            for (int j = 0; j < syl; j++) {
                len += (size_t)snprintf(w + len, sizeof(w) - len, "%s", syllables[k % n_syl]);
                k /= n_syl;
            }
        }
        vocab[r] = strdup(w);
        sum += 1.0 / pow((double)(r + 1), ZIPF_S);
        zipf_cdf[r] = sum;
    }
    for (size_t r = 0; r < VOCAB; r++)
        zipf_cdf[r] /= sum;
}

static size_t zipf_rank(uint64_t *s)
{
    double u = rng_unit(s);
    size_t lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The transcript of one recording: n segments of 12..18 Zipf words, 5 s each. */
static hark_transcript *make_transcript(uint64_t *rng, int n)
{
    hark_transcript *t = NULL;
    if (hark_transcript_new(&t) < 0)
        exit(1);
    for (int i = 0; i < n; i++) {
        hark_word words[18];
        char text[18 * 24], *p = text;
        int nw = 12 + (int)(rng_next(rng) % 7);
        int64_t start = (int64_t)i * SEG_MS * 16, step = (int64_t)SEG_MS * 16 / nw;
        hark_segment seg;
        for (int w = 0; w < nw; w++) {
            const char *word = vocab[zipf_rank(rng)];
            size_t len = strlen(word);
            if (w)
                *p++ = ' ';
            memcpy(p, word, len);
            words[w].text = word;
            words[w].start = start + w * step;
            words[w].end = start + (w + 1) * step - 800;
            words[w].p = 0.5f + (float)rng_unit(rng) * 0.5f;
            p += len;
        }
        *p = '\0';
        memset(&seg, 0, sizeof(seg));
        seg.start = start;
        seg.end = start + (int64_t)SEG_MS * 16 - 1600;
        seg.text = text;
        seg.confidence = 0.7f + (float)rng_unit(rng) * 0.3f;
        seg.n_words = (uint32_t)nw;
        seg.words = words;
        if (hark_transcript_add(t, &seg) < 0)
            exit(1);
    }
    return t;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of the whole process (all threads), ms */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of the calling thread, ms */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct lat {
    double *v;
    size_t n, cap;
} lat;

static void lat_add(lat *l, double ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(double));
        if (!l->v)
            exit(1);
    }
    l->v[l->n++] = ms;
}

static double pct(lat *l, double p)
{
    size_t i;
    if (!l->n)
        return 0;
    qsort(l->v, l->n, sizeof(double), cmp_double);
    i = (size_t)ceil(p / 100.0 * (double)l->n);
    return l->v[i ? i - 1 : 0];
}

static void die(const char *what)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, hark_error_last());
    exit(1);
}

static int64_t n_recordings_total;

/* ---- the query mix --------------------------------------------------------------------------- */

#define N_CLASSES 5
static const char *const class_names[N_CLASSES] = {
    "common word", "rare word", "phrase", "prefix", "very frequent word",
};

typedef struct query {
    char text[96];
    int cls;
} query;

static query *make_queries(uint64_t *rng, int per_class, hark_store *s)
{
    query *q = calloc((size_t)per_class * N_CLASSES, sizeof(*q));
    int n = 0;
    for (int i = 0; i < per_class; i++) {
        /* common: ranks 20..200 (real words, each in 0.5..10% of segments) */
        snprintf(q[n].text, sizeof(q[n].text), "%s", vocab[20 + rng_next(rng) % 180]);
        q[n++].cls = 0;
        /* rare: ranks 5,000..20,000 */
        snprintf(q[n].text, sizeof(q[n].text), "%s", vocab[5000 + rng_next(rng) % 15000]);
        q[n++].cls = 1;
        /* a phrase: two adjacent words of a stored segment */
        {
            hark_search_result *r = NULL;
            hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
            o.limit = 1;
            o.recording = 1 + (int64_t)(rng_next(rng) % (uint64_t)n_recordings_total);
            if (hark_store_search(s, vocab[200 + rng_next(rng) % 800], &o, &r) == 0 && r->n) {
                char buf[512], *a, *b, *save = NULL;
                snprintf(buf, sizeof(buf), "%s", r->hits[0].text);
                a = strtok_r(buf, " ", &save);
                b = strtok_r(NULL, " ", &save);
                snprintf(q[n].text, sizeof(q[n].text), "\"%s %s\"", a ? a : "the",
                         b ? b : "people");
            } else {
                snprintf(q[n].text, sizeof(q[n].text), "\"fellow americans\"");
            }
            hark_search_result_free(r);
            q[n++].cls = 2;
        }
        /* prefix: the first 4 letters of a mid-frequency word */
        snprintf(q[n].text, sizeof(q[n].text), "%.4s*", vocab[100 + rng_next(rng) % 2000]);
        q[n++].cls = 3;
        /* very frequent: ranks 0..9 */
        snprintf(q[n].text, sizeof(q[n].text), "%s", vocab[rng_next(rng) % 10]);
        q[n++].cls = 4;
    }
    return q;
}

/* ---- readers vs writer ----------------------------------------------------------------------- */

typedef struct rw {
    hark_store *s;
    query *queries;
    int n_queries;
    volatile int stop;
    int seed;
    lat lat;    /* wall ms per read */
    lat cpu;    /* CPU ms per read */
    int errors; /* reads that failed */
    int slept;  /* reads during which the thread blocked (voluntary context switch) */
} rw;

static long voluntary_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void *reader(void *arg)
{
    rw *r = arg;
    uint64_t rng = (uint64_t)r->seed;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        double t0 = now_ms(), c0 = thread_cpu_ms();
        long v0 = voluntary_switches();
        int rc;
        if (rng_next(&rng) % 4 == 0) {
            hark_recording_list *l = NULL;
            hark_list_options o = HARK_LIST_OPTIONS_INIT;
            o.after = 1 + (int64_t)(rng_next(&rng) % (uint64_t)n_recordings_total);
            rc = hark_store_recording_list(r->s, &o, &l);
            hark_recording_list_free(l);
        } else {
            hark_search_result *res = NULL;
            const query *q = &r->queries[rng_next(&rng) % (uint64_t)r->n_queries];
            rc = q->cls == 4 ? 0 : hark_store_search(r->s, q->text, NULL, &res);
            hark_search_result_free(res);
            if (q->cls == 4)
                continue;
        }
        if (rc < 0)
            r->errors++;
        lat_add(&r->lat, now_ms() - t0);
        lat_add(&r->cpu, thread_cpu_ms() - c0);
        if (voluntary_switches() != v0)
            r->slept++;
    }
    return NULL;
}

typedef struct writer_arg {
    hark_store *s;
    volatile int stop;
    int batches;
    double busy_ms;
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *w = arg;
    uint64_t rng = 0xabcdef;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        hark_recording rec = HARK_RECORDING_INIT;
        hark_transcript *t = make_transcript(&rng, 100);
        int64_t id;
        double t0 = now_ms();
        rec.title = "written during reads";
        if (hark_store_recording_create(w->s, &rec, &id) < 0 ||
            hark_store_segments_put(w->s, id, t, 0, 100, 0) < 0)
            die("writer");
        w->busy_ms += now_ms() - t0;
        w->batches++;
        hark_transcript_free(t);
    }
    return NULL;
}

static void run_readers(hark_store *s, query *q, int nq, int n_readers, double seconds,
                        int with_writer, lat *all, lat *all_cpu, int *errors, int *slept,
                        writer_arg *wa)
{
    pthread_t th[8], wt;
    rw r[8];
    for (int i = 0; i < n_readers; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].s = s;
        r[i].queries = q;
        r[i].n_queries = nq;
        r[i].seed = 1000 + i;
        pthread_create(&th[i], NULL, reader, &r[i]);
    }
    if (with_writer) {
        wa->s = s;
        pthread_create(&wt, NULL, writer, wa);
    }
    usleep((useconds_t)(seconds * 1e6));
    for (int i = 0; i < n_readers; i++)
        __atomic_store_n(&r[i].stop, 1, __ATOMIC_RELEASE);
    if (with_writer)
        __atomic_store_n(&wa->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < n_readers; i++) {
        pthread_join(th[i], NULL);
        for (size_t k = 0; k < r[i].lat.n; k++) {
            lat_add(all, r[i].lat.v[k]);
            lat_add(all_cpu, r[i].cpu.v[k]);
        }
        *errors += r[i].errors;
        *slept += r[i].slept;
        free(r[i].lat.v);
        free(r[i].cpu.v);
    }
    if (with_writer)
        pthread_join(wt, NULL);
}

static int is_uri(const char *db)
{
    return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

/* Remove the database file and its -wal and -shm companions (unless `keep` or a server URI). */
static void remove_db(const char *db, int keep)
{
    char side[4200];
    if (keep || is_uri(db))
        return;
    unlink(db);
    snprintf(side, sizeof(side), "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", db);
    unlink(side);
}

/* ---- main ------------------------------------------------------------------------------------ */

static void row(const char *name, double value, const char *unit, const char *target, int ok)
{
    printf("  %-44s %12.2f %-10s %-16s %s\n", name, value, unit, target,
           ok < 0 ? ""
           : ok   ? "ok"
                  : "MISSED");
}

/* ---- job queue ------------------------------------------------------------------------------- */

/* Claim + finish `n` jobs one at a time; their latencies (ms) into `l`. */
static void claim_finish(hark_store *s, int n, lat *l)
{
    for (int i = 0; i < n; i++) {
        hark_job *j = NULL;
        double t0 = now_ms();
        if (hark_store_job_claim(s, "bench", 600000, HARK_PRIORITY_MAINTENANCE, &j, NULL) < 0 ||
            hark_store_job_end(s, j->id, "bench", HARK_JOB_DONE, 0, 0, NULL) < 0)
            die("claim");
        lat_add(l, now_ms() - t0);
        hark_job_free(j);
    }
}

/*
 * A store with `n_jobs` queued jobs (4 priorities, a quarter of them backed
 * off into the future, so a claim has to skip them): claim + finish latency
 * at that depth, then at a depth of 100, in the same store.
 */
static void bench_queue(const char *db, int n_jobs)
{
    char path[4200];
    hark_store *s = NULL;
    lat deep, shallow;
    double t0, submit_ms;
    int64_t future = 4102444800000; /* 2100-01-01 */
    hark_job_counts counts;
    uint64_t queued = 0;

    memset(&deep, 0, sizeof(deep));
    memset(&shallow, 0, sizeof(shallow));
    snprintf(path, sizeof(path), "%s.queue", db);
    remove_db(path, 0);
    if (hark_store_open(&s, path) < 0)
        die("open queue");
    t0 = now_ms();
    for (int i = 0; i < n_jobs; i++) {
        hark_recording rec = HARK_RECORDING_INIT;
        hark_job job = HARK_JOB_INIT;
        hark_job_submitted sub;
        char hash[65];
        snprintf(hash, sizeof(hash), "%064x", i);
        rec.content_hash = hash;
        rec.owner = 1 + i % 100;
        job.priority = (hark_priority)(i % HARK_PRIORITY_COUNT);
        job.not_before_ms = i / 4 % 4 == 3 ? future : 0;
        if (hark_store_job_submit(s, &rec, &job, &sub) < 0)
            die("submit");
    }
    submit_ms = now_ms() - t0;
    claim_finish(s, 500, &deep);
    /* drain to 600 claimable jobs (plus the backed-off quarter), then measure again */
    if (hark_store_job_counts(s, &counts) < 0)
        die("counts");
    for (int p = 0; p < HARK_PRIORITY_COUNT; p++)
        queued += counts.n[HARK_JOB_QUEUED][p];
    {
        lat drain;
        int claimable = (int)queued - n_jobs / 4;
        memset(&drain, 0, sizeof(drain));
        claim_finish(s, claimable > 600 ? claimable - 600 : 0, &drain);
        free(drain.v);
    }
    claim_finish(s, 500, &shallow);
    printf("\njob queue (%d jobs submitted, a quarter backed off; claim + finish, one at a time)\n",
           n_jobs);
    row("submit (recording + job, dedup check)", n_jobs / (submit_ms / 1e3), "jobs/s", "", -1);
    row("claim + finish p50, deep queue", pct(&deep, 50), "ms", "", -1);
    row("claim + finish p95, deep queue", pct(&deep, 95), "ms", "", -1);
    row("claim + finish p50, 600 -> 100 claimable", pct(&shallow, 50), "ms", "", -1);
    row("claim + finish p95, 600 -> 100 claimable", pct(&shallow, 95), "ms", "", -1);
    row("  ratio deep / shallow (p50)", pct(&deep, 50) / pct(&shallow, 50), "x", "~1", -1);
    hark_store_free(s);
    remove_db(path, 0);
    free(deep.v);
    free(shallow.v);
}

int main(int argc, char **argv)
{
    int n_rec = 10000, per = 100, per_class = 200, n_owners = 100, n_jobs = 20000;
    const char *db = NULL;
    int keep = 0, insert_only = 0, reuse = 0, core_only = 0;
    char path[4096];
    hark_store *s = NULL;
    hark_store_stats st;
    uint64_t rng = 42;
    double t0, insert_ms = 0, put_ms = 0, cpu0, insert_cpu_ms = 0, put_cpu_ms = 0, c1;
    query *queries;
    lat by_class[N_CLASSES], by_class_rec[N_CLASSES], mix, mix_rec, list_lat, mix_cpu, mix_rec_cpu;
    lat mix_own, mix_own_cpu, list_own, freq_own;
    lat cpu_class[N_CLASSES], cpu_class_rec[N_CLASSES];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--recordings") && i + 1 < argc)
            n_rec = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--segments") && i + 1 < argc)
            per = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            per_class = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--owners") && i + 1 < argc)
            n_owners = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
            n_jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--insert-only"))
            insert_only = 1;
        else if (!strcmp(argv[i], "--core"))
            core_only = 1;
        else if (!strcmp(argv[i], "--reuse"))
            reuse = keep = 1; /* skip the load: an archive left by --keep --db PATH */
        else {
            fprintf(stderr, "usage: bench_store [--recordings N] [--segments N] [--queries N] "
                            "[--owners N] [--jobs N] [--db PATH|URI] [--keep] [--core]\n");
            return 2;
        }
    }
    if (!db) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof(path), "%s/hark-bench-store-%d.db", tmp && *tmp ? tmp : "/tmp",
                 (int)getpid());
        db = path;
    }
    if (!reuse && !is_uri(db)) {
        char side[4200];
        unlink(db);
        snprintf(side, sizeof(side), "%s-wal", db);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", db);
        unlink(side);
    }
    build_vocab();
    printf("bench_store: %d recordings x %d segments = %d segments, %d owners, %s\n", n_rec, per,
           n_rec * per, n_owners, db);
    if (hark_store_open(&s, db) < 0)
        die("open");

    /* ---- insert ---- */
    t0 = now_ms();
    cpu0 = cpu_ms();
    for (int i = 0; i < n_rec && !reuse; i++) {
        hark_recording rec = HARK_RECORDING_INIT;
        hark_transcript *t = make_transcript(&rng, per);
        char title[64], hash[65];
        int64_t id;
        double t1;
        snprintf(title, sizeof(title), "Recording %d", i);
        snprintf(hash, sizeof(hash), "%064x", i);
        rec.title = title;
        rec.content_hash = hash;
        rec.engine = "whisper";
        rec.model = "base.en";
        rec.status = HARK_STATUS_DONE;
        rec.duration_ms = (int64_t)per * SEG_MS;
        rec.created_ms = 1700000000000 + (int64_t)i * 60000;
        rec.owner = n_owners > 0 ? 1 + i % n_owners : 0;
        t1 = now_ms();
        c1 = cpu_ms();
        if (hark_store_recording_create(s, &rec, &id) < 0)
            die("create");
        if (hark_store_segments_put(s, id, t, 0, (size_t)per, 0) < 0)
            die("put");
        put_ms += now_ms() - t1;
        put_cpu_ms += cpu_ms() - c1; /* the store's work only, not making the test data */
        hark_transcript_free(t);
        if (i && i % 1000 == 0) {
            printf("  ... %d recordings, %.0f segments/s\n", i, (double)i * per / (put_ms / 1e3));
            fflush(stdout);
        }
    }
    insert_ms = now_ms() - t0;
    insert_cpu_ms = cpu_ms() - cpu0;
    n_recordings_total = n_rec;
    if (insert_only) {
        printf("insert (store calls): %.0f segments/s wall, %.0f segments/s per CPU second\n"
               "whole loop incl. making the synthetic transcripts: %.0f segments/s wall, %.0f per "
               "CPU second\n",
               (double)n_rec * per / (put_ms / 1e3), (double)n_rec * per / (put_cpu_ms / 1e3),
               (double)n_rec * per / (insert_ms / 1e3),
               (double)n_rec * per / (insert_cpu_ms / 1e3));
        hark_store_free(s);
        remove_db(db, keep);
        return 0;
    }
    if (hark_store_stats_get(s, &st) < 0)
        die("stats");

    /* ---- search ---- */
    queries = make_queries(&rng, per_class, s);
    memset(by_class, 0, sizeof(by_class));
    memset(by_class_rec, 0, sizeof(by_class_rec));
    memset(cpu_class, 0, sizeof(cpu_class));
    memset(cpu_class_rec, 0, sizeof(cpu_class_rec));
    memset(&mix, 0, sizeof(mix));
    memset(&mix_rec, 0, sizeof(mix_rec));
    memset(&list_lat, 0, sizeof(list_lat));
    memset(&mix_cpu, 0, sizeof(mix_cpu));
    memset(&mix_rec_cpu, 0, sizeof(mix_rec_cpu));
    memset(&mix_own, 0, sizeof(mix_own));
    memset(&mix_own_cpu, 0, sizeof(mix_own_cpu));
    memset(&list_own, 0, sizeof(list_own));
    memset(&freq_own, 0, sizeof(freq_own));
    {
        size_t total_hits = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < per_class * N_CLASSES; i++) {
                hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
                hark_search_result *r = NULL;
                double ms, cpu, c0;
                if (pass)
                    o.recording = 1 + (int64_t)(rng_next(&rng) % (uint64_t)n_rec);
                t0 = now_ms();
                c0 = thread_cpu_ms();
                if (hark_store_search(s, queries[i].text, &o, &r) < 0)
                    die(queries[i].text);
                ms = now_ms() - t0;
                cpu = thread_cpu_ms() - c0;
                total_hits += r->n;
                hark_search_result_free(r);
                lat_add(pass ? &by_class_rec[queries[i].cls] : &by_class[queries[i].cls], ms);
                lat_add(pass ? &cpu_class_rec[queries[i].cls] : &cpu_class[queries[i].cls], cpu);
                if (queries[i].cls != 4) {
                    lat_add(pass ? &mix_rec : &mix, ms);
                    lat_add(pass ? &mix_rec_cpu : &mix_cpu, cpu);
                }
            }
        }
        printf("  (search mix returned %zu hits in all)\n", total_hits);
    }
    /* ---- the same mix, each query filtered by a random owner ---- */
    if (n_owners > 0) {
        size_t total_hits = 0;
        for (int i = 0; i < per_class * N_CLASSES; i++) {
            hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
            hark_search_result *r = NULL;
            double ms, c0;
            o.owner = 1 + (int64_t)(rng_next(&rng) % (uint64_t)n_owners);
            t0 = now_ms();
            c0 = thread_cpu_ms();
            if (hark_store_search(s, queries[i].text, &o, &r) < 0)
                die(queries[i].text);
            ms = now_ms() - t0;
            total_hits += r->n;
            hark_search_result_free(r);
            if (queries[i].cls == 4) {
                lat_add(&freq_own, ms);
            } else {
                lat_add(&mix_own, ms);
                lat_add(&mix_own_cpu, thread_cpu_ms() - c0);
            }
        }
        printf("  (owner-filtered search mix returned %zu hits in all)\n", total_hits);
    }

    /* ---- list pages ---- */
    for (int i = 0; i < 2000; i++) {
        hark_list_options o = HARK_LIST_OPTIONS_INIT;
        hark_recording_list *l = NULL;
        o.after = i % 10 == 0 ? 0 : 1 + (int64_t)(rng_next(&rng) % (uint64_t)n_rec);
        t0 = now_ms();
        if (hark_store_recording_list(s, &o, &l) < 0)
            die("list");
        lat_add(&list_lat, now_ms() - t0);
        hark_recording_list_free(l);
    }
    for (int i = 0; n_owners > 0 && i < 2000; i++) {
        hark_list_options o = HARK_LIST_OPTIONS_INIT;
        hark_recording_list *l = NULL;
        o.owner = 1 + (int64_t)(rng_next(&rng) % (uint64_t)n_owners);
        o.after = i % 10 == 0 ? 0 : 1 + (int64_t)(rng_next(&rng) % (uint64_t)n_rec);
        t0 = now_ms();
        if (hark_store_recording_list(s, &o, &l) < 0)
            die("list by owner");
        lat_add(&list_own, now_ms() - t0);
        hark_recording_list_free(l);
    }

    /* ---- report ---- */
    {
        double seg_per_s = (double)n_rec * per / (put_ms / 1e3);
        double hours = (double)st.segments * SEG_MS / 3.6e6;
        double p95 = pct(&mix, 95), p95r = pct(&mix_rec, 95);
        printf("\nfigure                                                value unit       "
               "target           verdict\n");
        row("insert, segments/s (create + put per recording)", seg_per_s, "seg/s", ">= 100000",
            seg_per_s >= 100000);
        row("insert, segments/s per CPU second (store calls)",
            (double)n_rec * per / (put_cpu_ms / 1e3), "seg/s", ">= 100000",
            (double)n_rec * per / (put_cpu_ms / 1e3) >= 100000);
        row("insert, wall time of the whole load", insert_ms / 1e3, "s", "", -1);
        row("search mix p50 (no filter)", pct(&mix, 50), "ms", "", -1);
        row("search mix p95 (no filter)", p95, "ms", "< 20", p95 < 20);
        row("search mix p99 (no filter)", pct(&mix, 99), "ms", "", -1);
        row("search mix p50 / p95 CPU time (no filter)", pct(&mix_cpu, 50), "ms", "", -1);
        row("  (p95 CPU time)", pct(&mix_cpu, 95), "ms", "< 20", pct(&mix_cpu, 95) < 20);
        row("search mix p50 (recording filter)", pct(&mix_rec, 50), "ms", "", -1);
        row("search mix p95 (recording filter)", p95r, "ms", "< 20", p95r < 20);
        row("search mix p99 (recording filter)", pct(&mix_rec, 99), "ms", "", -1);
        row("search mix p95 CPU time (recording filter)", pct(&mix_rec_cpu, 95), "ms", "< 20",
            pct(&mix_rec_cpu, 95) < 20);
        printf("  %-44s %25s %s\n", "by query class, ms: wall p50 / p95", "CPU p50 / p95",
               "(recording filter: wall p95, CPU p95)");
        for (int c = 0; c < N_CLASSES; c++)
            printf("    %-42s %8.2f / %-8.2f %7.2f / %-7.2f (%.2f, %.2f)\n", class_names[c],
                   pct(&by_class[c], 50), pct(&by_class[c], 95), pct(&cpu_class[c], 50),
                   pct(&cpu_class[c], 95), pct(&by_class_rec[c], 95), pct(&cpu_class_rec[c], 95));
        row("list page p50 (20 per page)", pct(&list_lat, 50), "ms", "", -1);
        row("list page p95", pct(&list_lat, 95), "ms", "< 5", pct(&list_lat, 95) < 5);
        row("list page p99", pct(&list_lat, 99), "ms", "", -1);
        if (n_owners > 0) {
            double p95o = pct(&mix_own, 95);
            printf("  owner filter (%d owners, each with %d recordings):\n", n_owners,
                   n_rec / n_owners);
            row("search mix p50 (owner filter)", pct(&mix_own, 50), "ms", "", -1);
            row("search mix p95 (owner filter)", p95o, "ms", "< 20", p95o < 20);
            row("search mix p99 (owner filter)", pct(&mix_own, 99), "ms", "", -1);
            row("search mix p95 CPU time (owner filter)", pct(&mix_own_cpu, 95), "ms", "< 20",
                pct(&mix_own_cpu, 95) < 20);
            row("  ratio to the unfiltered p95", p95o / p95, "x", "", -1);
            row("very frequent word p95 (owner filter)", pct(&freq_own, 95), "ms", "", -1);
            row("list page p50 (owner filter)", pct(&list_own, 50), "ms", "", -1);
            row("list page p95 (owner filter)", pct(&list_own, 95), "ms", "< 5",
                pct(&list_own, 95) < 5);
        }
        row("database size", (double)st.db_bytes / 1048576.0, "MiB", "", -1);
        row("database size per hour of transcript", (double)st.db_bytes / hours / 1024.0, "KiB/h",
            "", -1);
        printf("  (%.0f hours of transcript: %llu segments of %d s, ~15 words each, with "
               "per-word times)\n",
               hours, (unsigned long long)st.segments, SEG_MS / 1000);
    }

    if (core_only) {
        printf("result: backend=%s segments=%llu insert_seg_s=%.0f insert_seg_cpu_s=%.0f "
               "search_p50_ms=%.3f search_p95_ms=%.3f search_rec_p95_ms=%.3f "
               "search_owner_p95_ms=%.3f list_p95_ms=%.3f list_owner_p95_ms=%.3f "
               "db_bytes=%llu\n",
               is_uri(db) ? "postgresql" : "sqlite", (unsigned long long)st.segments,
               (double)n_rec * per / (put_ms / 1e3), (double)n_rec * per / (put_cpu_ms / 1e3),
               pct(&mix, 50), pct(&mix, 95), pct(&mix_rec, 95),
               n_owners > 0 ? pct(&mix_own, 95) : 0.0, pct(&list_lat, 95),
               n_owners > 0 ? pct(&list_own, 95) : 0.0, (unsigned long long)st.db_bytes);
        n_jobs = 0;
        goto done;
    }

    /* ---- readers vs writer ---- */
    {
        lat alone, busy, alone_cpu, busy_cpu;
        int err_alone = 0, err_busy = 0, slept_alone = 0, slept_busy = 0;
        writer_arg wa;
        memset(&alone, 0, sizeof(alone));
        memset(&busy, 0, sizeof(busy));
        memset(&alone_cpu, 0, sizeof(alone_cpu));
        memset(&busy_cpu, 0, sizeof(busy_cpu));
        memset(&wa, 0, sizeof(wa));
        run_readers(s, queries, per_class * N_CLASSES, 2, 4.0, 0, &alone, &alone_cpu, &err_alone,
                    &slept_alone, NULL);
        run_readers(s, queries, per_class * N_CLASSES, 2, 4.0, 1, &busy, &busy_cpu, &err_busy,
                    &slept_busy, &wa);
        printf("\nreaders vs writer (2 reader threads, search + list; one handle)\n");
        row("readers p99 alone", pct(&alone, 99), "ms", "", -1);
        row("readers p99 while a writer inserts", pct(&busy, 99), "ms", "", -1);
        row("readers p99 ratio (writing / alone)", pct(&busy, 99) / pct(&alone, 99), "x", "", -1);
        row("readers p99 CPU time alone", pct(&alone_cpu, 99), "ms", "", -1);
        row("readers p99 CPU time while writing", pct(&busy_cpu, 99), "ms", "", -1);
        row("longest read while writing", pct(&busy, 100), "ms", "", -1);
        row("reads that failed (busy or other)", (double)(err_alone + err_busy), "", "0",
            err_alone + err_busy == 0);
        row("reads that blocked, alone", 100.0 * slept_alone / (double)(alone.n ? alone.n : 1), "%",
            "", -1);
        row("reads that blocked, while writing", 100.0 * slept_busy / (double)(busy.n ? busy.n : 1),
            "%", "", -1);
        row("writer: segments/s while readers run",
            wa.busy_ms > 0 ? wa.batches * 100.0 / (wa.busy_ms / 1e3) : 0, "seg/s", "", -1);
        printf("  (%zu reads alone, %zu reads while %d batches of 100 were written; a read\n"
               "   \"blocked\" if its thread made a voluntary context switch: a lock wait,\n"
               "   I/O or a busy-handler sleep; waiting for a CPU does not count)\n",
               alone.n, busy.n, wa.batches);
        free(alone.v);
        free(busy.v);
        free(alone_cpu.v);
        free(busy_cpu.v);
    }

    /* ---- insert throughput by transaction size ---- */
    {
        static const int batches[] = { 10, 100, 1000 };
        printf("\ninsert throughput by transaction size (20,000 segments into an empty store)\n");
        for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
            char tmp[4200], side[4300];
            hark_store *t = NULL;
            uint64_t r2 = 7;
            double w0, c0, wall, cpu;
            int per_batch = batches[b], n_batches = 20000 / per_batch;
            snprintf(tmp, sizeof(tmp), "%s.batch%d", db, per_batch);
            unlink(tmp);
            if (hark_store_open(&t, tmp) < 0)
                die("open");
            w0 = now_ms();
            c0 = cpu_ms();
            for (int i = 0; i < n_batches; i++) {
                hark_recording rec = HARK_RECORDING_INIT;
                hark_transcript *tr = make_transcript(&r2, per_batch);
                int64_t id;
                if (hark_store_recording_create(t, &rec, &id) < 0 ||
                    hark_store_segments_put(t, id, tr, 0, (size_t)per_batch, 0) < 0)
                    die("put");
                hark_transcript_free(tr);
            }
            wall = now_ms() - w0;
            cpu = cpu_ms() - c0;
            hark_store_free(t);
            unlink(tmp);
            snprintf(side, sizeof(side), "%s-wal", tmp);
            unlink(side);
            snprintf(side, sizeof(side), "%s-shm", tmp);
            unlink(side);
            printf("  %5d segments per put: %9.0f seg/s wall, %9.0f seg/s per CPU second\n",
                   per_batch, 20000 / (wall / 1e3), 20000 / (cpu / 1e3));
        }
    }

    if (n_jobs > 0)
        bench_queue(db, n_jobs);

done:
    hark_store_free(s);
    remove_db(db, keep);
    free(queries);
    free(mix_own.v);
    free(mix_own_cpu.v);
    free(list_own.v);
    free(freq_own.v);
    for (int c = 0; c < N_CLASSES; c++) {
        free(by_class[c].v);
        free(by_class_rec[c].v);
        free(cpu_class[c].v);
        free(cpu_class_rec[c].v);
    }
    free(mix.v);
    free(mix_rec.v);
    free(mix_cpu.v);
    free(mix_rec_cpu.v);
    free(list_lat.v);
    for (size_t r = 0; r < VOCAB; r++)
        free(vocab[r]);
    return 0;
}
