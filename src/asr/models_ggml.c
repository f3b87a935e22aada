/*
 * models_ggml.c: structural check of whisper.cpp ggml model files without
 * loading them (hark_model_inspect, and the last check of every download).
 *
 * Layout (whisper.cpp whisper_model_load; /work/shared/whisper-golden/FORMAT.md):
 *   u32 magic 0x67676d6c | i32 hparams[11] | i32 n_mel, i32 n_fft, f32 filters[n_mel*n_fft]
 *   | i32 n_tokens, n_tokens x (u32 len, u8 bytes[len])
 *   | tensor records to EOF: i32 n_dims, i32 name_len, i32 type, i32 ne[n_dims],
 *     u8 name[name_len], data (ne product / block size * block bytes)
 * Everything little-endian, no padding. A file is "complete" when the
 * records end exactly at EOF and their number is the one the
 * hyper-parameters imply (11 + 15 per encoder layer + 24 per decoder layer):
 * a download cut at any byte fails one of the two.
 *
 * Design: the input is untrusted (a download, any file in the models
 * directory). It is read sequentially through one 64 KiB window from a
 * random-access reader; tensor data is skipped, not read, and after a skip
 * only 512 bytes are fetched for the next record header, so a 3 GB model
 * costs about 1 MB of reads (bench/bench_models.c). The memory used never
 * depends on what the file claims. Every count and size is range-checked before use,
 * and all arithmetic on file offsets is done in uint64_t with overflow
 * checks. The reader abstraction lets the fuzz target run the same code on a
 * memory buffer.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models.h"
#include "../util/util.h"

#define GGML_MAGIC  0x67676d6cu
#define WINDOW      (64u * 1024u)
#define RECORD_READ 512u /* bytes read at a tensor record after skipping the data before it */
#define MAX_TENSORS (1u << 20)
#define MAX_NAME    1024u

typedef struct scan {
    hark__model_read_fn read;
    void *ctx;
    const char *what; /* prefix of every message: the file name */
    uint64_t size;    /* file size, bytes */
    uint64_t pos;     /* offset of the next byte to consume, bytes */
    uint64_t win_off; /* file offset of win[0], bytes */
    size_t win_len;   /* valid bytes in win */
    uint8_t *win;     /* WINDOW bytes */
} scan;

/* One ggml tensor type: elements per block and bytes per block. */
typedef struct ggml_type {
    int32_t id;
    uint32_t block;
    uint32_t bytes;
    const char *name;
} ggml_type;

/* ggml/include/ggml.h enum ggml_type and the block structs of ggml-common.h. */
static const ggml_type types[] = {
    { 0, 1, 4, "f32" },       { 1, 1, 2, "f16" },       { 2, 32, 18, "q4_0" },
    { 3, 32, 20, "q4_1" },    { 6, 32, 22, "q5_0" },    { 7, 32, 24, "q5_1" },
    { 8, 32, 34, "q8_0" },    { 9, 32, 36, "q8_1" },    { 10, 256, 84, "q2_k" },
    { 11, 256, 110, "q3_k" }, { 12, 256, 144, "q4_k" }, { 13, 256, 176, "q5_k" },
    { 14, 256, 210, "q6_k" }, { 15, 256, 292, "q8_k" }, { 30, 1, 2, "bf16" },
};

/* ggml_ftype (hparams ftype % 1000) -> name; whisper.cpp rejects the others. */
static const char *ftype_name(int32_t ftype)
{
    switch (ftype % 1000) {
    case 0:
        return "f32";
    case 1:
        return "f16";
    case 2:
        return "q4_0";
    case 3:
        return "q4_1";
    case 7:
        return "q8_0";
    case 8:
        return "q5_0";
    case 9:
        return "q5_1";
    case 10:
        return "q2_k";
    case 11:
        return "q3_k";
    case 12:
        return "q4_k";
    case 13:
        return "q5_k";
    case 14:
        return "q6_k";
    default:
        return "unknown";
    }
}

/* OpenAI's sizes: encoder layers and width identify the model. */
static const char *model_type(const hark_model_header *h)
{
    static const struct {
        int32_t layers, state;
        const char *name;
    } sizes[] = {
        { 4, 384, "tiny" },     { 6, 512, "base" },    { 12, 768, "small" },
        { 24, 1024, "medium" }, { 32, 1280, "large" },
    };
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(sizes); i++) {
        if (h->n_audio_layer != sizes[i].layers || h->n_audio_state != sizes[i].state)
            continue;
        if (h->n_text_layer == h->n_audio_layer)
            return h->n_audio_layer == 32 && h->n_vocab == 51866 ? "large-v3" : sizes[i].name;
        if (h->n_audio_layer == 32 && h->n_text_layer == 4)
            return "large-v3-turbo";
    }
    return "custom";
}

static const ggml_type *find_type(int32_t id)
{
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(types); i++)
        if (types[i].id == id)
            return &types[i];
    return NULL;
}

static int truncated(const scan *s, uint64_t need, const char *field)
{
    return hark_error_set(HARK_EMODEL,
                          "%s: truncated: %s needs %llu bytes at offset %llu, the file ends %llu "
                          "bytes later",
                          s->what, field, (unsigned long long)need, (unsigned long long)s->pos,
                          (unsigned long long)(s->size - s->pos));
}

static int take(scan *s, void *dst, size_t n, const char *field)
{
    uint8_t *out = dst;
    int rc;
    if (n > s->size - s->pos)
        return truncated(s, n, field);
    while (n > 0) {
        size_t k;
        if (s->pos < s->win_off || s->pos >= s->win_off + s->win_len) {
            /* reading on: a full window; after jumping over tensor data: just a record header */
            uint64_t end = s->win_off + s->win_len;
            uint64_t want = s->pos >= end && s->pos - end < RECORD_READ ? WINDOW : RECORD_READ;
            size_t len = (size_t)HARK_MIN(HARK_MAX(want, (uint64_t)n), s->size - s->pos);
            len = HARK_MIN(len, (size_t)WINDOW);
            if ((rc = s->read(s->ctx, s->pos, s->win, len)) < 0)
                return rc;
            s->win_off = s->pos;
            s->win_len = len;
        }
        k = (size_t)HARK_MIN((uint64_t)n, s->win_off + s->win_len - s->pos);
        memcpy(out, s->win + (s->pos - s->win_off), k);
        out += k;
        n -= k;
        s->pos += k;
    }
    return 0;
}

static int skip(scan *s, uint64_t n, const char *field)
{
    if (n > s->size - s->pos)
        return truncated(s, n, field);
    s->pos += n;
    return 0;
}

static int get_i32(scan *s, int32_t *v, const char *field)
{
    uint8_t b[4];
    int rc = take(s, b, 4, field);
    *v = 0;
    if (rc == 0)
        *v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                       (uint32_t)b[3] << 24);
    return rc;
}

static int bad(const scan *s, const char *fmt, ...) HARK_PRINTF(2, 3);

static int bad(const scan *s, const char *fmt, ...)
{
    hark_buf msg = HARK_BUF_INIT;
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = hark_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    rc = rc < 0 ? rc : hark_error_set(HARK_EMODEL, "%s: %s", s->what, msg.ptr);
    hark_buf_dispose(&msg);
    return rc;
}

static int in_range(int32_t v, int32_t lo, int32_t hi)
{
    return v >= lo && v <= hi;
}

static int scan_hparams(scan *s, hark_model_header *h)
{
    static const char *const names[11] = {
        "n_vocab",       "n_audio_ctx", "n_audio_state", "n_audio_head",
        "n_audio_layer", "n_text_ctx",  "n_text_state",  "n_text_head",
        "n_text_layer",  "n_mels",      "ftype",
    };
    int32_t v[11];
    uint8_t magic[4];
    int rc, i;

    if ((rc = take(s, magic, 4, "the magic number")) < 0)
        return rc;
    if (((uint32_t)magic[0] | (uint32_t)magic[1] << 8 | (uint32_t)magic[2] << 16 |
         (uint32_t)magic[3] << 24) != GGML_MAGIC)
        return bad(s, "not a ggml Whisper model (bad magic %02x %02x %02x %02x)", magic[0],
                   magic[1], magic[2], magic[3]);
    for (i = 0; i < 11; i++)
        if ((rc = get_i32(s, &v[i], names[i])) < 0)
            return rc;
    h->n_vocab = v[0];
    h->n_audio_ctx = v[1];
    h->n_audio_state = v[2];
    h->n_audio_head = v[3];
    h->n_audio_layer = v[4];
    h->n_text_ctx = v[5];
    h->n_text_state = v[6];
    h->n_text_head = v[7];
    h->n_text_layer = v[8];
    h->n_mels = v[9];
    h->ftype = v[10];
    h->multilingual = h->n_vocab >= 51865;
    h->type = model_type(h);
    h->quant = ftype_name(h->ftype < 0 ? 999 : h->ftype);

    if (!in_range(h->n_vocab, 1, 1 << 20) || !in_range(h->n_audio_ctx, 1, 1 << 16) ||
        !in_range(h->n_text_ctx, 1, 1 << 16) || !in_range(h->n_audio_state, 1, 1 << 16) ||
        !in_range(h->n_text_state, 1, 1 << 16) || !in_range(h->n_audio_head, 1, 4096) ||
        !in_range(h->n_text_head, 1, 4096) || !in_range(h->n_audio_layer, 0, 1024) ||
        !in_range(h->n_text_layer, 0, 1024) || !in_range(h->n_mels, 1, 1024))
        return bad(s,
                   "implausible hyper-parameters (vocab %d, audio ctx/state/head/layer "
                   "%d/%d/%d/%d, text ctx/state/head/layer %d/%d/%d/%d, mels %d)",
                   h->n_vocab, h->n_audio_ctx, h->n_audio_state, h->n_audio_head, h->n_audio_layer,
                   h->n_text_ctx, h->n_text_state, h->n_text_head, h->n_text_layer, h->n_mels);
    if (h->n_audio_state % h->n_audio_head || h->n_text_state % h->n_text_head)
        return bad(s, "width %d/%d is not a multiple of the head count %d/%d", h->n_audio_state,
                   h->n_text_state, h->n_audio_head, h->n_text_head);
    if (h->ftype < 0 || strcmp(h->quant, "unknown") == 0)
        return bad(s, "unsupported weight type (ftype %d)", h->ftype);
    h->n_tensors_expected =
        11u + 15u * (uint32_t)h->n_audio_layer + 24u * (uint32_t)h->n_text_layer;
    return 0;
}

static int scan_filters_vocab(scan *s, hark_model_header *h)
{
    int32_t n_mel, n_fft, n_tokens;
    uint32_t i;
    int rc;

    if ((rc = get_i32(s, &n_mel, "the mel filter count")) < 0 ||
        (rc = get_i32(s, &n_fft, "the mel filter size")) < 0)
        return rc;
    if (n_mel != h->n_mels || !in_range(n_fft, 1, 1 << 16))
        return bad(s, "bad mel filter bank %d x %d (the model has %d mel bands)", n_mel, n_fft,
                   h->n_mels);
    if ((rc = skip(s, (uint64_t)n_mel * (uint64_t)n_fft * 4u, "the mel filters")) < 0)
        return rc;
    if ((rc = get_i32(s, &n_tokens, "the vocabulary size")) < 0)
        return rc;
    if (!in_range(n_tokens, 0, h->n_vocab))
        return bad(s, "vocabulary of %d tokens for a model of %d", n_tokens, h->n_vocab);
    h->n_tokens = (uint32_t)n_tokens;
    for (i = 0; i < h->n_tokens; i++) {
        uint8_t b[4];
        uint32_t len;
        if ((rc = take(s, b, 4, "a vocabulary entry")) < 0)
            return rc;
        len = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        if (len > 65536)
            return bad(s, "vocabulary entry %u is %u bytes long", i, len);
        if ((rc = skip(s, len, "a vocabulary entry")) < 0)
            return rc;
    }
    return 0;
}

/* One tensor record; *name_out gets its (possibly shortened) name for messages. */
static int scan_tensor(scan *s, hark_model_header *h, char name[MAX_NAME + 1])
{
    int32_t hdr[3], ne;
    uint64_t elements = 1, bytes;
    const ggml_type *t;
    int rc, d;

    for (d = 0; d < 3; d++)
        if ((rc = get_i32(s, &hdr[d], "a tensor header")) < 0)
            return rc;
    if (!in_range(hdr[0], 1, 4) || !in_range(hdr[1], 1, (int32_t)MAX_NAME) ||
        !(t = find_type(hdr[2])))
        return bad(s, "bad tensor record %u at offset %llu (dims %d, name length %d, type %d)",
                   h->n_tensors, (unsigned long long)(s->pos - 12), hdr[0], hdr[1], hdr[2]);
    for (d = 0; d < hdr[0]; d++) {
        if ((rc = get_i32(s, &ne, "a tensor shape")) < 0)
            return rc;
        if (ne < 1 || elements > (UINT64_C(1) << 48) / (uint64_t)ne)
            return bad(s, "tensor record %u has a bad shape (dimension %d = %d)", h->n_tensors, d,
                       ne);
        elements *= (uint64_t)ne;
    }
    if ((rc = take(s, name, (size_t)hdr[1], "a tensor name")) < 0)
        return rc;
    name[hdr[1]] = '\0';
    if (elements % t->block)
        return bad(s, "tensor '%s': %llu elements is not a whole number of %s blocks", name,
                   (unsigned long long)elements, t->name);
    bytes = elements / t->block * t->bytes;
    if (bytes > s->size - s->pos)
        return bad(s,
                   "truncated: tensor '%s' needs %llu bytes at offset %llu, the file ends %llu "
                   "bytes later",
                   name, (unsigned long long)bytes, (unsigned long long)s->pos,
                   (unsigned long long)(s->size - s->pos));
    s->pos += bytes;
    h->n_params += elements;
    h->n_tensors++;
    return 0;
}

int hark__model_scan(hark_model_header *out, const char *what, hark__model_read_fn read, void *ctx,
                     uint64_t size)
{
    scan s = { read, ctx, what ? what : "model", size, 0, 0, 0, NULL };
    char *name = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->file_size = size;
    out->type = "custom";
    out->quant = "unknown";
    s.win = hark__malloc(WINDOW);
    name = hark__malloc(MAX_NAME + 1);
    HARK_ALLOC_CHECK(s.win, rc, out);
    HARK_ALLOC_CHECK(name, rc, out);
    if (size == 0) {
        rc = bad(&s, "empty file");
        goto out;
    }
    if ((rc = scan_hparams(&s, out)) < 0 || (rc = scan_filters_vocab(&s, out)) < 0)
        goto out;
    while (s.pos < s.size) {
        if (out->n_tensors >= MAX_TENSORS) {
            rc = bad(&s, "more than %u tensors", MAX_TENSORS);
            goto out;
        }
        if ((rc = scan_tensor(&s, out, name)) < 0)
            goto out;
    }
    if (out->n_tensors != out->n_tensors_expected) {
        rc = out->n_tensors == 0
                 ? bad(&s,
                       "no weights (header and vocabulary only, like whisper.cpp's "
                       "for-tests files); %u tensors expected",
                       out->n_tensors_expected)
                 : bad(&s, "incomplete: %u tensors, a model with these hyper-parameters has %u",
                       out->n_tensors, out->n_tensors_expected);
        goto out;
    }
    rc = 0;
out:
    hark__free(name);
    hark__free(s.win);
    return rc;
}

static int read_fd(void *ctx, uint64_t off, void *dst, size_t len)
{
    int fd = *(int *)ctx;
    uint8_t *p = dst;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return hark_error_set(HARK_EIO, "read error: %s", strerror(errno));
        if (n == 0)
            return hark_error_set(HARK_EIO, "the file shrank while it was being read");
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int hark__model_scan_fd(hark_model_header *out, const char *what, int fd, uint64_t size)
{
    return hark__model_scan(out, what, read_fd, &fd, size);
}

typedef struct mem_src {
    const uint8_t *data;
    size_t len;
} mem_src;

static int read_mem(void *ctx, uint64_t off, void *dst, size_t len)
{
    const mem_src *m = ctx;
    if (off > m->len || len > m->len - off)
        return hark_error_set(HARK_EIO, "read past the end of the buffer");
    memcpy(dst, m->data + off, len);
    return 0;
}

int hark__model_scan_mem(hark_model_header *out, const char *what, const void *data, size_t len)
{
    mem_src m = { data, len };
    return hark__model_scan(out, what, read_mem, &m, len);
}

int hark_model_inspect(hark_model_header *out, const char *path)
{
    struct stat st;
    int fd = -1, rc;

    HARK_ASSERT_ARG(out && path);
    memset(out, 0, sizeof(*out));
    out->type = "custom";
    out->quant = "unknown";
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT
                 ? hark_error_set(HARK_ENOTFOUND, "model file %s not found", path)
                 : hark_error_set(HARK_EIO, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = hark_error_set(HARK_EMODEL, "%s: not a regular file", path);
        goto out;
    }
    rc = hark__model_scan_fd(out, path, fd, (uint64_t)st.st_size);
    if (rc == HARK_EIO)
        rc = hark_error_prefix("%s", path);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
