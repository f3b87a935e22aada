/*
 * corpus.h: the shared speech corpus for benchmarks (../shared/corpus/LANG:
 * manifest.tsv with id, file, duration_s, speaker, source_repo, source_path,
 * license, reference; 16 kHz WAV files beside it).
 */
#ifndef HARK_BENCH_CORPUS_H
#define HARK_BENCH_CORPUS_H

#include <stddef.h>

typedef struct bench_entry {
    char id[128];
    char file[1280]; /* path of the WAV */
    double duration; /* seconds, from the manifest */
    char *reference; /* official transcript (owned) */
} bench_entry;

/*
 * The corpus folder: `dir` when not NULL, else $HARK_SHARED_DIR/corpus/en
 * (the build's shared folder when the variable is unset). Fills `buf`.
 */
const char *bench_corpus_dir(const char *dir, char *buf, size_t size);

/*
 * Read the first `max` entries (0 = all) of DIR/manifest.tsv into a new
 * array (*out, free with bench_corpus_free). Returns the count, -1 when the
 * manifest cannot be read (message on stderr).
 */
long bench_corpus_read(const char *dir, size_t max, bench_entry **out);

void bench_corpus_free(bench_entry *e, size_t n);

/* The CPU's model name (lscpu's "Model name"), "?" when unknown: every figure names it. */
void bench_cpu_name(char *buf, size_t size);

#endif
