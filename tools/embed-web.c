/*
 * embed-web.c: a build-time tool that turns the web UI's files (web/) into a
 * C source file, so `hark serve` is one self-contained binary.
 *
 *   embed-web OUT.c WEBDIR FILE...      (FILEs relative to WEBDIR)
 *
 * For every file it writes its bytes, a gzip copy when that is smaller (text
 * types only), and a strong ETag (the first 16 hex digits of the SHA-256 of
 * the bytes served). The version of the whole set, the first 10 hex digits
 * of the SHA-256 over every name and content, replaces "{{v}}" in .html
 * files: pages name their assets /static/{{v}}/NAME, so an asset's URL
 * changes whenever any file does and assets can be cached for good.
 *
 * The output is deterministic (sorted names, gzip with no name and time 0),
 * so unchanged inputs give the same binary. The table's type is srv_asset
 * in src/server/server.h; src/server/static.c serves it.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct file {
    const char *name;
    unsigned char *data;
    size_t len;
    unsigned char *gz;
    size_t gz_len;
    char etag[20];
} file;

static void die(const char *what, const char *name)
{
    fprintf(stderr, "embed-web: %s: %s\n", what, name);
    exit(1);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, r;
    if (!f)
        die("cannot open", path);
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            if (!(buf = realloc(buf, cap)))
                die("out of memory", path);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    if (ferror(f))
        die("cannot read", path);
    fclose(f);
    *len = n;
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int compressible(const char *name)
{
    static const char *const exts[] = { ".html", ".css", ".js",          ".mjs", ".json",
                                        ".svg",  ".txt", ".webmanifest", ".map", NULL };
    size_t i;
    for (i = 0; exts[i]; i++)
        if (ends_with(name, exts[i]))
            return 1;
    return 0;
}

/* Replace every "{{v}}" in f->data by `version`. */
static void put_version(file *f, const char *version)
{
    size_t vl = strlen(version), i, n = 0;
    unsigned char *out = malloc(f->len * 2 + 16);
    if (!out)
        die("out of memory", f->name);
    for (i = 0; i < f->len;) {
        if (i + 5 <= f->len && !memcmp(f->data + i, "{{v}}", 5)) {
            memcpy(out + n, version, vl);
            n += vl;
            i += 5;
        } else {
            out[n++] = f->data[i++];
        }
    }
    free(f->data);
    f->data = out;
    f->len = n;
}

static void gzip(file *f)
{
    z_stream z;
    size_t cap = compressBound((uLong)f->len) + 64;
    memset(&z, 0, sizeof(z));
    if (!(f->gz = malloc(cap)))
        die("out of memory", f->name);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2 failed", f->name);
    z.next_in = f->data;
    z.avail_in = (uInt)f->len;
    z.next_out = f->gz;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        die("deflate failed", f->name);
    f->gz_len = z.total_out;
    deflateEnd(&z);
    if (f->gz_len >= f->len) { /* not worth it */
        free(f->gz);
        f->gz = NULL;
        f->gz_len = 0;
    }
}

static void hex(char *out, const unsigned char *d, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void array(FILE *o, const char *id, size_t k, const unsigned char *d, size_t n)
{
    size_t i;
    fprintf(o, "static const unsigned char %s%zu[%zu] = {", id, k, n ? n : 1);
    for (i = 0; i < n; i++)
        fprintf(o, "%s%u,", i % 24 ? "" : "\n", d[i]);
    fprintf(o, "%s};\n", n ? "\n" : "0");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const file *)a)->name, ((const file *)b)->name);
}

int main(int argc, char **argv)
{
    file *files;
    size_t n, i;
    EVP_MD_CTX *all = EVP_MD_CTX_new();
    unsigned char d[32];
    char version[11], path[4096];
    FILE *o;
    if (argc < 3) {
        fprintf(stderr, "usage: embed-web OUT.c WEBDIR FILE...\n");
        return 2;
    }
    n = (size_t)argc - 3;
    if (!(files = calloc(n + 1, sizeof(*files))))
        die("out of memory", "files");
    for (i = 0; i < n; i++) {
        files[i].name = argv[3 + i];
        if (strspn(files[i].name,
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") !=
                strlen(files[i].name) ||
            strstr(files[i].name, ".."))
            die("unexpected characters in a file name", files[i].name);
        if (snprintf(path, sizeof(path), "%s/%s", argv[2], files[i].name) >= (int)sizeof(path))
            die("path too long", files[i].name);
        files[i].data = slurp(path, &files[i].len);
    }
    qsort(files, n, sizeof(*files), by_name);

    if (!all || !EVP_DigestInit_ex(all, EVP_sha256(), NULL))
        die("SHA-256 failed", "init");
    for (i = 0; i < n; i++) {
        EVP_DigestUpdate(all, files[i].name, strlen(files[i].name) + 1);
        EVP_DigestUpdate(all, files[i].data, files[i].len);
    }
    EVP_DigestFinal_ex(all, d, NULL);
    EVP_MD_CTX_free(all);
    hex(version, d, 5);

    for (i = 0; i < n; i++) {
        if (ends_with(files[i].name, ".html"))
            put_version(&files[i], version);
        if (!EVP_Digest(files[i].data, files[i].len, d, NULL, EVP_sha256(), NULL))
            die("SHA-256 failed", files[i].name);
        hex(files[i].etag, d, 8);
        if (compressible(files[i].name))
            gzip(&files[i]);
    }

    if (!(o = fopen(argv[1], "w")))
        die("cannot write", argv[1]);
    fprintf(o,
            "/* Generated by tools/embed-web.c from web/: do not edit. */\n"
            "#include \"server/server.h\"\n\n"
            "const char srv_assets_version[] = \"%s\";\n",
            version);
    for (i = 0; i < n; i++) {
        array(o, "d", i, files[i].data, files[i].len);
        if (files[i].gz)
            array(o, "z", i, files[i].gz, files[i].gz_len);
    }
    fprintf(o, "const srv_asset srv_assets[] = {\n");
    for (i = 0; i < n; i++) {
        fprintf(o, "    { \"%s\", d%zu, %zu, ", files[i].name, i, files[i].len);
        if (files[i].gz)
            fprintf(o, "z%zu, %zu, ", i, files[i].gz_len);
        else
            fprintf(o, "NULL, 0, ");
        fprintf(o, "\"\\\"%s\\\"\" },\n", files[i].etag);
    }
    fprintf(o,
            "    { NULL, NULL, 0, NULL, 0, NULL }\n};\n"
            "const size_t srv_n_assets = %zu;\n",
            n);
    if (fclose(o) != 0)
        die("cannot write", argv[1]);
    for (i = 0; i < n; i++) {
        free(files[i].data);
        free(files[i].gz);
    }
    free(files);
    return 0;
}
