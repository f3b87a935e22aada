/*
 * bench_models.c: what model management costs.
 *
 * 1. hark_model_inspect on a large-v3-shaped file (1259 tensors, 3.1 GB,
 *    written sparse so it takes no disk space): time and bytes read. The
 *    structural check runs on every `hark models list` and after every pull,
 *    so it must not read the weights.
 * 2. Hashing throughput: SHA-256 alone (what a pull of a catalog model and
 *    `list --verify` compute) against SHA-1 + SHA-256 in one pass, measured
 *    in the same run (ratio), and the implied time to verify large-v3.
 *
 *   ./build/bench/bench_models [dir]     (default: $TMPDIR or /tmp)
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hark/hark.h"
#include "asr/models.h"
#include "util/util.h"

static int put_i32(int fd, int32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    return write(fd, b, 4) == 4 ? 0 : -1;
}

static int tensor(int fd, const char *name, int type, int n_dims, int32_t ne0, int32_t ne1,
                  int32_t ne2)
{
    int32_t ne[3] = { ne0, ne1, ne2 };
    uint64_t n = 1;
    int d, rc = 0;
    for (d = 0; d < n_dims; d++)
        n *= (uint64_t)ne[d];
    rc |= put_i32(fd, n_dims);
    rc |= put_i32(fd, (int32_t)strlen(name));
    rc |= put_i32(fd, type);
    for (d = 0; d < n_dims; d++)
        rc |= put_i32(fd, ne[d]);
    rc |= write(fd, name, strlen(name)) == (ssize_t)strlen(name) ? 0 : -1;
    /* skip the data: a hole */
    return rc || lseek(fd, (off_t)(n * (type == 0 ? 4u : 2u)), SEEK_CUR) < 0 ? -1 : 0;
}

/* large-v3 geometry: S 1280, 32 + 32 layers, 128 mels, 51866 tokens, f16 */
static int write_large(const char *path)
{
    const int32_t S = 1280, A = 1500, T = 448, M = 128, V = 51866, L = 32;
    static const char *const enc[] = { "attn.query.weight", "attn.key.weight", "attn.value.weight",
                                       "attn.out.weight" };
    char name[128];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = 0, l, k, i;
    if (fd < 0)
        return -1;
    rc |= put_i32(fd, 0x67676d6c);
    {
        int32_t hp[11] = { V, A, S, 20, L, T, S, 20, L, M, 1 };
        for (i = 0; i < 11; i++)
            rc |= put_i32(fd, hp[i]);
    }
    rc |= put_i32(fd, M);
    rc |= put_i32(fd, 201);
    rc |= lseek(fd, (off_t)M * 201 * 4, SEEK_CUR) < 0;
    rc |= put_i32(fd, 50257);
    for (i = 0; i < 50257; i++) {
        int n = snprintf(name, sizeof(name), "tok%d", i);
        rc |= put_i32(fd, n);
        rc |= write(fd, name, (size_t)n) != n;
    }
    rc |= tensor(fd, "encoder.positional_embedding", 0, 2, S, A, 1);
    rc |= tensor(fd, "encoder.conv1.weight", 1, 3, 3, M, S);
    rc |= tensor(fd, "encoder.conv1.bias", 0, 2, 1, S, 1);
    rc |= tensor(fd, "encoder.conv2.weight", 1, 3, 3, S, S);
    rc |= tensor(fd, "encoder.conv2.bias", 0, 2, 1, S, 1);
    for (l = 0; l < 2 * L; l++) {
        const char *pfx = l < L ? "encoder" : "decoder";
        int blocks = l < L ? 1 : 2; /* decoder blocks also have cross attention */
        for (k = 0; k < blocks; k++) {
            for (i = 0; i < 4; i++) {
                snprintf(name, sizeof(name), "%s.blocks.%d.%s%s", pfx, l % L, k ? "cross_" : "",
                         enc[i]);
                rc |= tensor(fd, name, 1, 2, S, S, 1);
            }
            for (i = 0; i < 5; i++) { /* query/value/out biases, ln weight/bias */
                snprintf(name, sizeof(name), "%s.blocks.%d.%sbias%d", pfx, l % L, k ? "x" : "", i);
                rc |= tensor(fd, name, 0, 1, S, 1, 1);
            }
        }
        snprintf(name, sizeof(name), "%s.blocks.%d.mlp.0.weight", pfx, l % L);
        rc |= tensor(fd, name, 1, 2, S, 4 * S, 1);
        snprintf(name, sizeof(name), "%s.blocks.%d.mlp.2.weight", pfx, l % L);
        rc |= tensor(fd, name, 1, 2, 4 * S, S, 1);
        snprintf(name, sizeof(name), "%s.blocks.%d.mlp.0.bias", pfx, l % L);
        rc |= tensor(fd, name, 0, 1, 4 * S, 1, 1);
        for (i = 0; i < 3; i++) {
            snprintf(name, sizeof(name), "%s.blocks.%d.mlp.b%d", pfx, l % L, i);
            rc |= tensor(fd, name, 0, 1, S, 1, 1);
        }
    }
    rc |= tensor(fd, "encoder.ln_post.weight", 0, 1, S, 1, 1);
    rc |= tensor(fd, "encoder.ln_post.bias", 0, 1, S, 1, 1);
    rc |= tensor(fd, "decoder.positional_embedding", 0, 2, S, T, 1);
    rc |= tensor(fd, "decoder.token_embedding.weight", 1, 2, S, V, 1);
    rc |= tensor(fd, "decoder.ln.weight", 0, 1, S, 1, 1);
    rc |= tensor(fd, "decoder.ln.bias", 0, 1, S, 1, 1);
    /* the file ends after the last tensor's data: extend over the final hole */
    rc |= ftruncate(fd, lseek(fd, 0, SEEK_CUR)) != 0;
    close(fd);
    return rc ? -1 : 0;
}

static uint64_t read_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "rchar: %llu", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[1024];
    hark_model_header h;
    double t0, t_inspect, t_both, t_256;
    uint64_t r0, rd;
    size_t len = 256u << 20, i;
    uint8_t *data, d[32];
    char s1[41], s2[65];
    hark__models_digest dg = HARK__MODELS_DIGEST_INIT;
    hark_sha256 sh;
    int rep, reps = 5;

    snprintf(path, sizeof(path), "%s/bench-ggml-large-v3.bin", base);
    if (write_large(path) < 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    r0 = read_bytes();
    t0 = hark__now_ms();
    for (rep = 0; rep < reps; rep++)
        if (hark_model_inspect(&h, path) < 0) {
            fprintf(stderr, "inspect: %s\n", hark_error_last());
            return 1;
        }
    t_inspect = (hark__now_ms() - t0) / reps;
    rd = (read_bytes() - r0) / (uint64_t)reps;
    unlink(path);
    printf("inspect large-v3 shape: %u tensors, %.2f GB file: %.1f ms, %.2f MB read (%.4f%% of "
           "the file)\n",
           h.n_tensors, (double)h.file_size / 1e9, t_inspect, (double)rd / 1e6,
           100.0 * (double)rd / (double)h.file_size);

    data = malloc(len);
    if (!data)
        return 1;
    for (i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    t0 = hark__now_ms();
    for (rep = 0; rep < 3; rep++) {
        if (hark_sha256_init(&sh) < 0 || hark_sha256_update(&sh, data, len) < 0 ||
            hark_sha256_final(&sh, d) < 0)
            return 1;
    }
    t_256 = (hark__now_ms() - t0) / 3;
    t0 = hark__now_ms();
    for (rep = 0; rep < 3; rep++) {
        if (hark__models_digest_init(&dg, 1) < 0 ||
            hark__models_digest_update(&dg, data, len) < 0 ||
            hark__models_digest_final(&dg, s1, s2) < 0)
            return 1;
    }
    t_both = (hark__now_ms() - t0) / 3;
    printf("hash 256 MiB: SHA-256 alone %.0f ms (%.0f MB/s); SHA-1 + SHA-256 %.0f ms (%.0f "
           "MB/s), ratio %.2f; verifying large-v3 (3.1 GB, SHA-256) ~ %.1f s\n",
           t_256, (double)len / 1e3 / t_256, t_both, (double)len / 1e3 / t_both, t_both / t_256,
           t_256 / 1e3 * 3095033483.0 / (double)len);
    free(data);
    return 0;
}
