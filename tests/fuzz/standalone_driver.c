/*
 * standalone_driver.c: run a fuzz target over every file of a corpus folder
 * (or over the files named on the command line), so each target's corpus is
 * replayed as an ordinary test in every build, sanitizers included.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long size;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    free(buf);
    return 0;
}

static int run_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "no such corpus: %s\n", path);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        struct dirent **names;
        int n = scandir(path, &names, NULL, alphasort), i, rc = 0;
        for (i = 0; i < n; i++) {
            char sub[4096];
            if (names[i]->d_name[0] != '.') {
                snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
                rc |= run_path(sub, count);
            }
            free(names[i]);
        }
        free(names);
        return rc;
    }
    (*count)++;
    return run_file(path);
}

int main(int argc, char **argv)
{
    int i, rc = 0, count = 0;
    for (i = 1; i < argc; i++)
        rc |= run_path(argv[i], &count);
    printf("replayed %d inputs\n", count);
    return rc;
}
