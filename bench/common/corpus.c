/*
 * corpus.c: reading the shared corpus's manifest, naming the CPU (corpus.h).
 */
#include "corpus.h"

#define _DEFAULT_SOURCE /* popen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HARK_SHARED_DIR
#define HARK_SHARED_DIR "../shared"
#endif

const char *bench_corpus_dir(const char *dir, char *buf, size_t size)
{
    const char *shared = getenv("HARK_SHARED_DIR");
    if (dir)
        return dir;
    snprintf(buf, size, "%s/corpus/en", shared ? shared : HARK_SHARED_DIR);
    return buf;
}

long bench_corpus_read(const char *dir, size_t max, bench_entry **out)
{
    char path[1024], line[8192];
    bench_entry *v = NULL;
    size_t n = 0, cap = 0;
    FILE *f;

    *out = NULL;
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    if (!(f = fopen(path, "r"))) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    while ((!max || n < max) && fgets(line, sizeof(line), f)) {
        char *field[8], *p = line;
        int k;
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, "id\t", 3))
            continue;
        for (k = 0; k < 8; k++) {
            field[k] = p;
            p = p ? strchr(p, '\t') : NULL;
            if (p)
                *p++ = '\0';
        }
        if (!field[7])
            continue;
        if (n == cap) {
            bench_entry *w = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));
            if (!w)
                break;
            v = w;
        }
        snprintf(v[n].id, sizeof(v[n].id), "%s", field[0]);
        snprintf(v[n].file, sizeof(v[n].file), "%s/%s", dir, field[1]);
        v[n].duration = strtod(field[2], NULL);
        if (!(v[n].reference = strdup(field[7])))
            break;
        n++;
    }
    fclose(f);
    *out = v;
    return (long)n;
}

void bench_corpus_free(bench_entry *e, size_t n)
{
    size_t i;
    for (i = 0; e && i < n; i++)
        free(e[i].reference);
    free(e);
}

void bench_cpu_name(char *buf, size_t size)
{
    FILE *f = popen("lscpu | grep 'Model name' | sed 's/.*: *//'", "r");
    snprintf(buf, size, "?");
    if (f) {
        if (fgets(buf, (int)size, f))
            buf[strcspn(buf, "\n")] = '\0';
        pclose(f);
    }
}
