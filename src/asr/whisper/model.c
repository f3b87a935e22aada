/*
 * model.c: loads whisper.cpp's ggml model files (shared/whisper-golden/FORMAT.md).
 *
 * DESIGN
 * The file is memory-mapped read-only and parsed in one pass with a bounds-
 * checked reader: magic, 11 hyper-parameters, the mel filter bank, the
 * vocabulary, then tensor records until end of file. Every tensor the
 * hyper-parameters imply is described up front in a table (name, shape,
 * mandatory type, destination); each record must match one entry exactly,
 * once. Big matrices become hark_wmat over the mapped bytes (the kernels
 * prepare them and cope with unaligned data); the small f32 tensors (biases,
 * LayerNorm parameters, positional embeddings) are copied into one aligned
 * block. Nothing is trusted: every count and size is checked against the
 * bytes that remain before it is used, products are computed in 64 bits.
 *
 * Memory: when the kernels keep their own copy of a matrix (packed layout)
 * and for the small tensors copied at load, the file's pages are handed
 * back with madvise(MADV_DONTNEED) (clean file-backed pages: reading them
 * again would simply fault them back in), so the weights are not resident
 * twice. The token embedding stays mapped: embedding lookups read it.
 *
 * INVARIANTS
 * After a successful load the model is immutable. Errors name the file and
 * the reason ("ggml-x.bin: truncated in tensor 'decoder.blocks.3.mlp.0.weight'")
 * with HARK_EMODEL, HARK_EUNSUPPORTED for valid but unsupported files
 * (k-quants), HARK_EIO for files that cannot be read.
 */
#define _DEFAULT_SOURCE /* madvise(MADV_DONTNEED): drop the file pages the kernels copied */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "whisper.h"

#define GGML_MAGIC         0x67676d6cu
#define MAX_NAME_LEN       128
#define QNT_VERSION_FACTOR 1000

/* Bounds-checked little-endian reader over the file bytes. */
typedef struct reader {
    const uint8_t *p;
    size_t size;
    size_t off;
    const char *name; /* file name for messages */
} reader;

static int rd_need(reader *r, size_t n, const char *what)
{
    if (r->size - r->off < n)
        return hark_error_set(HARK_EMODEL, "%s: truncated in %s", r->name, what);
    return 0;
}

static int rd_i32(reader *r, int32_t *v, const char *what)
{
    uint32_t u;
    int rc = rd_need(r, 4, what);
    if (rc < 0)
        return rc;
    u = (uint32_t)r->p[r->off] | (uint32_t)r->p[r->off + 1] << 8 |
        (uint32_t)r->p[r->off + 2] << 16 | (uint32_t)r->p[r->off + 3] << 24;
    memcpy(v, &u, 4);
    r->off += 4;
    return 0;
}

/* ---- expected tensors -------------------------------------------------------------------------
 */

typedef enum tkind {
    K_VEC,  /* f32 copied into the aligned block */
    K_WMAT, /* matrix of the file's weight type */
    K_CONV, /* conv kernel: f16, or f32 in f32 files */
} tkind;

typedef struct tdesc {
    char name[64];
    int64_t ne[4];
    int type; /* mandatory ggml type */
    tkind kind;
    const float **vec; /* K_VEC destination */
    size_t vec_off;    /* K_VEC: offset in floats inside model->f32 */
    hark_wmat *mat;    /* K_WMAT / K_CONV destination */
    int rows, cols;
    int seen;
    size_t file_off, file_bytes; /* where the data lies in the file */
} tdesc;

typedef struct tlist {
    tdesc *d;
    int n, cap;
    size_t vec_floats; /* total floats of K_VEC tensors */
    int conv_type;
    int w_type;
} tlist;

static int tl_add(tlist *tl, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, tkind kind,
                  const float **vec, hark_wmat *mat)
{
    tdesc *d;
    if (tl->n == tl->cap) {
        int cap = tl->cap ? tl->cap * 2 : 256;
        tdesc *nd = hark__reallocarray(tl->d, (size_t)cap, sizeof(*nd));
        if (!nd)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        tl->d = nd;
        tl->cap = cap;
    }
    d = &tl->d[tl->n++];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->ne[0] = ne0;
    d->ne[1] = ne1;
    d->ne[2] = ne2;
    d->ne[3] = 1;
    d->kind = kind;
    d->vec = vec;
    d->mat = mat;
    if (kind == K_VEC) {
        d->type = HARK_GGML_F32;
        d->vec_off = tl->vec_floats;
        /* keep every vector 64-byte aligned inside the block */
        tl->vec_floats += ((size_t)(ne0 * ne1 * ne2) + 15) & ~(size_t)15;
    } else if (kind == K_CONV) {
        d->type = tl->conv_type;
        d->rows = (int)ne2;
        d->cols = (int)(ne0 * ne1);
    } else {
        d->type = tl->w_type;
        d->rows = (int)ne1;
        d->cols = (int)ne0;
    }
    return 0;
}

static int add_attn(tlist *tl, const char *prefix, int64_t S, hark_whisper_attn *a)
{
    char nm[64];
    int rc = 0;
#define ADD(suffix, n0, n1, kind, vec, mat)                                                        \
    do {                                                                                           \
        snprintf(nm, sizeof(nm), "%s.%s", prefix, suffix);                                         \
        if ((rc = tl_add(tl, nm, n0, n1, 1, kind, vec, mat)) < 0)                                  \
            return rc;                                                                             \
    } while (0)
    ADD("query.weight", S, S, K_WMAT, NULL, &a->q);
    ADD("query.bias", S, 1, K_VEC, &a->q_b, NULL);
    ADD("key.weight", S, S, K_WMAT, NULL, &a->k);
    ADD("value.weight", S, S, K_WMAT, NULL, &a->v);
    ADD("value.bias", S, 1, K_VEC, &a->v_b, NULL);
    ADD("out.weight", S, S, K_WMAT, NULL, &a->o);
    ADD("out.bias", S, 1, K_VEC, &a->o_b, NULL);
#undef ADD
    return rc;
}

static int add_layer(tlist *tl, const char *prefix, int64_t S, hark_whisper_layer *l, int cross)
{
    char nm[64];
    int rc;
#define ADDV(suffix, n0, dst)                                                                      \
    do {                                                                                           \
        snprintf(nm, sizeof(nm), "%s.%s", prefix, suffix);                                         \
        if ((rc = tl_add(tl, nm, n0, 1, 1, K_VEC, dst, NULL)) < 0)                                 \
            return rc;                                                                             \
    } while (0)
    snprintf(nm, sizeof(nm), "%s.attn", prefix);
    if ((rc = add_attn(tl, nm, S, &l->attn)) < 0)
        return rc;
    ADDV("attn_ln.weight", S, &l->attn_ln_w);
    ADDV("attn_ln.bias", S, &l->attn_ln_b);
    if (cross) {
        snprintf(nm, sizeof(nm), "%s.cross_attn", prefix);
        if ((rc = add_attn(tl, nm, S, &l->cross)) < 0)
            return rc;
        ADDV("cross_attn_ln.weight", S, &l->cross_ln_w);
        ADDV("cross_attn_ln.bias", S, &l->cross_ln_b);
    }
    snprintf(nm, sizeof(nm), "%s.mlp.0.weight", prefix);
    if ((rc = tl_add(tl, nm, S, 4 * S, 1, K_WMAT, NULL, &l->mlp0)) < 0)
        return rc;
    ADDV("mlp.0.bias", 4 * S, &l->mlp0_b);
    snprintf(nm, sizeof(nm), "%s.mlp.2.weight", prefix);
    if ((rc = tl_add(tl, nm, 4 * S, S, 1, K_WMAT, NULL, &l->mlp1)) < 0)
        return rc;
    ADDV("mlp.2.bias", S, &l->mlp1_b);
    ADDV("mlp_ln.weight", S, &l->mlp_ln_w);
    ADDV("mlp_ln.bias", S, &l->mlp_ln_b);
#undef ADDV
    return 0;
}

/* Every tensor the hyper-parameters imply, in the converter's order. */
static int build_tensor_list(hark_whisper_model *m, tlist *tl)
{
    const hark_whisper_hparams *hp = &m->hp;
    const int64_t S = hp->n_audio_state, M = hp->n_mels;
    char nm[64];
    int rc, i;

    m->enc = hark__calloc((size_t)hp->n_audio_layer, sizeof(*m->enc));
    m->dec = hark__calloc((size_t)hp->n_text_layer, sizeof(*m->dec));
    if (!m->enc || !m->dec)
        return hark_error_set(HARK_ENOMEM, "out of memory");

    if ((rc = tl_add(tl, "encoder.positional_embedding", S, hp->n_audio_ctx, 1, K_VEC, &m->e_pe,
                     NULL)) < 0 ||
        (rc = tl_add(tl, "encoder.conv1.weight", 3, M, S, K_CONV, NULL, &m->conv1)) < 0 ||
        (rc = tl_add(tl, "encoder.conv1.bias", 1, S, 1, K_VEC, &m->conv1_b, NULL)) < 0 ||
        (rc = tl_add(tl, "encoder.conv2.weight", 3, S, S, K_CONV, NULL, &m->conv2)) < 0 ||
        (rc = tl_add(tl, "encoder.conv2.bias", 1, S, 1, K_VEC, &m->conv2_b, NULL)) < 0)
        return rc;
    for (i = 0; i < hp->n_audio_layer; i++) {
        snprintf(nm, sizeof(nm), "encoder.blocks.%d", i);
        if ((rc = add_layer(tl, nm, S, &m->enc[i], 0)) < 0)
            return rc;
    }
    if ((rc = tl_add(tl, "encoder.ln_post.weight", S, 1, 1, K_VEC, &m->e_ln_w, NULL)) < 0 ||
        (rc = tl_add(tl, "encoder.ln_post.bias", S, 1, 1, K_VEC, &m->e_ln_b, NULL)) < 0 ||
        (rc = tl_add(tl, "decoder.positional_embedding", S, hp->n_text_ctx, 1, K_VEC, &m->d_pe,
                     NULL)) < 0 ||
        (rc = tl_add(tl, "decoder.token_embedding.weight", S, hp->n_vocab, 1, K_WMAT, NULL,
                     &m->d_te)) < 0)
        return rc;
    for (i = 0; i < hp->n_text_layer; i++) {
        snprintf(nm, sizeof(nm), "decoder.blocks.%d", i);
        if ((rc = add_layer(tl, nm, S, &m->dec[i], 1)) < 0)
            return rc;
    }
    if ((rc = tl_add(tl, "decoder.ln.weight", S, 1, 1, K_VEC, &m->d_ln_w, NULL)) < 0 ||
        (rc = tl_add(tl, "decoder.ln.bias", S, 1, 1, K_VEC, &m->d_ln_b, NULL)) < 0)
        return rc;
    return 0;
}

/* FNV-1a over the name, for the tensor lookup table. */
static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- hyper-parameters -------------------------------------------------------------------------
 */

static int check_hparams(hark_whisper_model *m, const char *name, int32_t raw_ftype)
{
    const hark_whisper_hparams *hp = &m->hp;
    int ft = raw_ftype % QNT_VERSION_FACTOR;

#define RANGE(field, lo, hi)                                                                       \
    do {                                                                                           \
        if (hp->field < (lo) || hp->field > (hi))                                                  \
            return hark_error_set(HARK_EMODEL, "%s: %s = %d is out of range [%d, %d]", name,       \
                                  #field, hp->field, (lo), (hi));                                  \
    } while (0)
    if (hp->n_vocab != 51864 && hp->n_vocab != 51865 && hp->n_vocab != 51866)
        return hark_error_set(
            HARK_EMODEL, "%s: n_vocab = %d is not a Whisper vocabulary (51864, 51865 or 51866)",
            name, hp->n_vocab);
    RANGE(n_audio_ctx, 1, 1500);
    RANGE(n_audio_state, 1, 8192);
    RANGE(n_audio_head, 1, 256);
    RANGE(n_audio_layer, 1, 128);
    RANGE(n_text_ctx, 16, 4096);
    RANGE(n_text_state, 1, 8192);
    RANGE(n_text_head, 1, 256);
    RANGE(n_text_layer, 1, 128);
    RANGE(n_mels, 1, 256);
#undef RANGE
    if (hp->n_text_state != hp->n_audio_state)
        return hark_error_set(HARK_EMODEL, "%s: n_text_state %d differs from n_audio_state %d",
                              name, hp->n_text_state, hp->n_audio_state);
    if (hp->n_audio_state % hp->n_audio_head || hp->n_text_state % hp->n_text_head)
        return hark_error_set(HARK_EMODEL, "%s: the width is not a multiple of the head count",
                              name);
    if (raw_ftype < 0)
        return hark_error_set(HARK_EMODEL, "%s: bad ftype %d", name, raw_ftype);
    m->qntvr = raw_ftype / QNT_VERSION_FACTOR;
    switch (ft) {
    case 0:
        m->wtype = HARK_GGML_F32;
        break;
    case 1:
        m->wtype = HARK_GGML_F16;
        break;
    case 2:
        m->wtype = HARK_GGML_Q4_0;
        break;
    case 3:
        m->wtype = HARK_GGML_Q4_1;
        break;
    case 7:
        m->wtype = HARK_GGML_Q8_0;
        break;
    case 8:
        m->wtype = HARK_GGML_Q5_0;
        break;
    case 9:
        m->wtype = HARK_GGML_Q5_1;
        break;
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
        return hark_error_set(HARK_EUNSUPPORTED,
                              "%s: k-quant files (ftype %d, Q%d_K) are not supported; use f16, "
                              "q8_0, q5_1, q5_0, q4_1 or q4_0",
                              name, ft, ft - 8);
    default:
        return hark_error_set(HARK_EMODEL, "%s: unknown ftype %d", name, ft);
    }
    if (m->wtype >= HARK_GGML_Q4_0 && m->qntvr != 2)
        return hark_error_set(HARK_EUNSUPPORTED,
                              "%s: quantisation version %d is not supported (expected 2)", name,
                              m->qntvr);
    m->hp.ftype = ft;
    return 0;
}

/* ---- the whole file -----------------------------------------------------------------------------
 */

static int init_wmat(hark_whisper_model *m, hark_wmat *w, int type, int rows, int cols,
                     const void *src)
{
    int rc = hark_wmat_init(w, type, rows, cols, src);
    if (rc < 0)
        return rc == HARK_ENOMEM ? hark_error_set(HARK_ENOMEM, "out of memory")
                                 : hark_error_set(rc, "%s: cannot prepare a %dx%d %s matrix",
                                                  m->path, rows, cols, hark_ggml_type_name(type));
    m->wmats[m->n_wmats++] = w;
    return 0;
}

static int parse(hark_whisper_model *m, const uint8_t *data, size_t size)
{
    reader r = { data, size, 0, m->path };
    tlist tl = { 0 };
    int32_t *slots = NULL;
    uint32_t n_slots = 0, mask;
    int32_t magic, n_mel, n_fft, n_vocab_file, raw_ftype;
    int32_t *hpf[11];
    size_t vocab_start;
    int rc = 0, i, n_loaded = 0;

    hpf[0] = &m->hp.n_vocab;
    hpf[1] = &m->hp.n_audio_ctx;
    hpf[2] = &m->hp.n_audio_state;
    hpf[3] = &m->hp.n_audio_head;
    hpf[4] = &m->hp.n_audio_layer;
    hpf[5] = &m->hp.n_text_ctx;
    hpf[6] = &m->hp.n_text_state;
    hpf[7] = &m->hp.n_text_head;
    hpf[8] = &m->hp.n_text_layer;
    hpf[9] = &m->hp.n_mels;
    hpf[10] = &raw_ftype;

    if ((rc = rd_i32(&r, &magic, "the header")) < 0)
        goto out;
    if ((uint32_t)magic != GGML_MAGIC) {
        rc = hark_error_set(HARK_EMODEL, "%s: not a ggml Whisper model (bad magic 0x%08x)", m->path,
                            (unsigned)magic);
        goto out;
    }
    for (i = 0; i < 11; i++)
        if ((rc = rd_i32(&r, hpf[i], "the header")) < 0)
            goto out;
    if ((rc = check_hparams(m, m->path, raw_ftype)) < 0)
        goto out;

    /* mel filters */
    if ((rc = rd_i32(&r, &n_mel, "the mel filters")) < 0 ||
        (rc = rd_i32(&r, &n_fft, "the mel filters")) < 0)
        goto out;
    if (n_mel != m->hp.n_mels) {
        rc = hark_error_set(HARK_EMODEL, "%s: the mel filter bank has %d bands but n_mels is %d",
                            m->path, n_mel, m->hp.n_mels);
        goto out;
    }
    if (n_fft != HARK_WHISPER_N_FFT / 2 + 1) {
        rc = hark_error_set(HARK_EMODEL, "%s: the mel filters have %d frequency bins, expected %d",
                            m->path, n_fft, HARK_WHISPER_N_FFT / 2 + 1);
        goto out;
    }
    if ((rc = rd_need(&r, (size_t)n_mel * (size_t)n_fft * 4, "the mel filters")) < 0)
        goto out;
    m->n_fft_bins = n_fft;
    m->filters = hark__malloc((size_t)n_mel * (size_t)n_fft * sizeof(float));
    HARK_ALLOC_CHECK(m->filters, rc, out);
    memcpy(m->filters, r.p + r.off, (size_t)n_mel * (size_t)n_fft * 4);
    r.off += (size_t)n_mel * (size_t)n_fft * 4;
    for (i = 0; i < n_mel * n_fft; i++)
        if (!(m->filters[i] >= 0.0f && m->filters[i] < 1e6f)) {
            rc = hark_error_set(HARK_EMODEL,
                                "%s: mel filter value %d is not a small non-negative "
                                "number",
                                m->path, i);
            goto out;
        }

    /* vocabulary: walk it once for validation, the vocabulary module builds the tables */
    if ((rc = rd_i32(&r, &n_vocab_file, "the vocabulary")) < 0)
        goto out;
    if (n_vocab_file < 0 || n_vocab_file > m->hp.n_vocab) {
        rc = hark_error_set(HARK_EMODEL, "%s: the vocabulary has %d tokens, more than n_vocab %d",
                            m->path, n_vocab_file, m->hp.n_vocab);
        goto out;
    }
    vocab_start = r.off;
    for (i = 0; i < n_vocab_file; i++) {
        int32_t len;
        if ((rc = rd_i32(&r, &len, "the vocabulary")) < 0)
            goto out;
        if (len < 0 || (size_t)len > r.size - r.off) {
            rc = hark_error_set(HARK_EMODEL,
                                "%s: token %d is %u bytes long, past the end of the "
                                "file",
                                m->path, i, (unsigned)len);
            goto out;
        }
        if (len > 1024) {
            rc = hark_error_set(HARK_EMODEL, "%s: token %d is implausibly long (%d bytes)", m->path,
                                i, len);
            goto out;
        }
        r.off += (size_t)len;
    }
    m->n_vocab_file = n_vocab_file;
    if ((rc = hark__whisper_vocab_init(m, r.p + vocab_start, r.off - vocab_start, n_vocab_file)) <
        0)
        goto out;

    /* tensors */
    tl.conv_type = m->wtype == HARK_GGML_F32 ? HARK_GGML_F32 : HARK_GGML_F16;
    tl.w_type = m->wtype;
    if ((rc = build_tensor_list(m, &tl)) < 0)
        goto out;
    m->wmats = hark__calloc((size_t)tl.n, sizeof(*m->wmats));
    /* The f32 tensors are stored in the file: a file too short to hold them is
     * truncated, and the block is not allocated (the records below then fail
     * with a precise message). This bounds every allocation by the file size. */
    if (tl.vec_floats * 4 <= r.size - r.off)
        m->f32 = hark__calloc(tl.vec_floats + 16, sizeof(float));
    for (n_slots = 1; n_slots < 2u * (uint32_t)tl.n; n_slots <<= 1)
        ;
    mask = n_slots - 1;
    slots = hark__malloc(n_slots * sizeof(*slots));
    if (!m->wmats || (!m->f32 && tl.vec_floats * 4 <= r.size - r.off) || !slots) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    memset(slots, 0xff, n_slots * sizeof(*slots));
    for (i = 0; i < tl.n; i++) {
        uint32_t h = name_hash(tl.d[i].name, strlen(tl.d[i].name)) & mask;
        while (slots[h] >= 0)
            h = (h + 1) & mask;
        slots[h] = i;
    }

    while (r.off < r.size) {
        int32_t n_dims, name_len, type, ne[4] = { 1, 1, 1, 1 };
        char tname[MAX_NAME_LEN + 1];
        const char *what = "a tensor header";
        uint64_t nelem = 1;
        size_t nbytes;
        tdesc *d = NULL;
        uint32_t h;
        int k;

        if ((rc = rd_i32(&r, &n_dims, what)) < 0 || (rc = rd_i32(&r, &name_len, what)) < 0 ||
            (rc = rd_i32(&r, &type, what)) < 0)
            goto out;
        if (n_dims < 1 || n_dims > 4) {
            rc = hark_error_set(HARK_EMODEL, "%s: tensor record %d has %d dimensions", m->path,
                                n_loaded, n_dims);
            goto out;
        }
        if (name_len < 1 || name_len > MAX_NAME_LEN) {
            rc = hark_error_set(HARK_EMODEL, "%s: tensor record %d has a name of %d bytes", m->path,
                                n_loaded, name_len);
            goto out;
        }
        for (k = 0; k < n_dims; k++) {
            if ((rc = rd_i32(&r, &ne[k], what)) < 0)
                goto out;
            if (ne[k] < 1) {
                rc = hark_error_set(HARK_EMODEL, "%s: tensor record %d has dimension %d = %d",
                                    m->path, n_loaded, k, ne[k]);
                goto out;
            }
            nelem *= (uint64_t)ne[k];
        }
        if ((rc = rd_need(&r, (size_t)name_len, what)) < 0)
            goto out;
        memcpy(tname, r.p + r.off, (size_t)name_len);
        tname[name_len] = '\0';
        r.off += (size_t)name_len;
        for (k = 0; k < name_len; k++)
            if ((unsigned char)tname[k] < 0x21 || (unsigned char)tname[k] > 0x7e)
                tname[k] = '?';

        h = name_hash(tname, (size_t)name_len) & mask;
        while (slots[h] >= 0) {
            if (strcmp(tl.d[slots[h]].name, tname) == 0) {
                d = &tl.d[slots[h]];
                break;
            }
            h = (h + 1) & mask;
        }
        if (!d) {
            rc = hark_error_set(HARK_EMODEL, "%s: unknown tensor '%s'", m->path, tname);
            goto out;
        }
        if (d->seen) {
            rc = hark_error_set(HARK_EMODEL, "%s: duplicate tensor '%s'", m->path, tname);
            goto out;
        }
        for (k = 0; k < 4; k++)
            if (ne[k] != d->ne[k]) {
                rc = hark_error_set(HARK_EMODEL,
                                    "%s: tensor '%s' has shape [%d, %d, %d, %d], expected "
                                    "[%lld, %lld, %lld, %lld]",
                                    m->path, tname, ne[0], ne[1], ne[2], ne[3], (long long)d->ne[0],
                                    (long long)d->ne[1], (long long)d->ne[2], (long long)d->ne[3]);
                goto out;
            }
        if (type != d->type) {
            const char *tn = hark_ggml_type_name(type);
            if (type >= 10 && type <= 14)
                rc = hark_error_set(HARK_EUNSUPPORTED, "%s: tensor '%s' uses a k-quant type (%d)",
                                    m->path, tname, type);
            else
                rc =
                    hark_error_set(HARK_EMODEL, "%s: tensor '%s' has type %s, expected %s", m->path,
                                   tname, tn && *tn ? tn : "unknown", hark_ggml_type_name(d->type));
            goto out;
        }
        nbytes = hark_ggml_row_size(type, (int64_t)ne[0]);
        if (nbytes == 0) {
            rc =
                hark_error_set(HARK_EMODEL, "%s: tensor '%s': rows of %d values do not fit type %s",
                               m->path, tname, ne[0], hark_ggml_type_name(type));
            goto out;
        }
        nbytes *= (size_t)(nelem / (uint64_t)ne[0]);
        if (nbytes > r.size - r.off) {
            rc = hark_error_set(HARK_EMODEL, "%s: truncated in tensor '%s'", m->path, tname);
            goto out;
        }
        if (d->kind == K_VEC) {
            if (m->f32) {
                memcpy(m->f32 + d->vec_off, r.p + r.off, nbytes);
                *d->vec = m->f32 + d->vec_off;
            }
        } else if ((rc = init_wmat(m, d->mat, type, d->rows, d->cols, r.p + r.off)) < 0) {
            goto out;
        }
        m->n_params += nelem;
        d->file_off = r.off;
        d->file_bytes = nbytes;
        r.off += nbytes;
        d->seen = 1;
        n_loaded++;
    }
    if (n_loaded == 0) {
        rc = hark_error_set(HARK_EMODEL,
                            "%s: the file has no tensors (a vocabulary-only test file?)", m->path);
        goto out;
    }
    for (i = 0; i < tl.n; i++)
        if (!tl.d[i].seen) {
            rc = hark_error_set(HARK_EMODEL, "%s: missing tensor '%s' (%d of %d present)", m->path,
                                tl.d[i].name, n_loaded, tl.n);
            goto out;
        }
    if (!m->f32) { /* unreachable: a short file fails above */
        rc = hark_error_set(HARK_EMODEL, "%s: truncated", m->path);
        goto out;
    }
    /* every f32 value we compute with must be finite */
    for (i = 0; i < tl.n; i++) {
        const tdesc *d = &tl.d[i];
        size_t k, cnt = (size_t)(d->ne[0] * d->ne[1] * d->ne[2]);
        if (d->kind != K_VEC)
            continue;
        for (k = 0; k < cnt; k++)
            if (!(m->f32[d->vec_off + k] == m->f32[d->vec_off + k]) ||
                m->f32[d->vec_off + k] > 1e30f || m->f32[d->vec_off + k] < -1e30f) {
                rc = hark_error_set(HARK_EMODEL, "%s: tensor '%s' holds a non-finite value",
                                    m->path, d->name);
                goto out;
            }
    }
    if (m->map) {
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        for (i = 0; i < tl.n; i++) {
            const tdesc *d = &tl.d[i];
            size_t a = (d->file_off + page - 1) / page * page, b = d->file_off + d->file_bytes;
            b = b / page * page;
            if (d->mat == &m->d_te || (d->mat && hark_wmat_needs_src(d->mat)) || b <= a)
                continue;
            madvise((char *)m->map + a, b - a, MADV_DONTNEED); /* advisory: failure is harmless */
        }
    }
out:
    hark__free(slots);
    hark__free(tl.d);
    return rc;
}

static int model_new(hark_whisper_model **out, const char *name)
{
    hark_whisper_model *m = hark__calloc(1, sizeof(*m));
    *out = NULL;
    if (!m || !(m->path = hark__strdup(name ? name : "(model)"))) {
        hark__free(m);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

int hark__whisper_model_load(hark_whisper_model **out, const char *path)
{
    hark_whisper_model *m = NULL;
    struct stat st;
    int fd = -1, rc;
    void *map;

    HARK_ASSERT_ARG(out && path);
    *out = NULL;
    if ((rc = model_new(&m, path)) < 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = hark_error_set(errno == ENOENT ? HARK_ENOTFOUND : HARK_EIO, "%s: %s", path,
                            strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = hark_error_set(HARK_EIO, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size < 4) {
        rc = hark_error_set(HARK_EMODEL, "%s: truncated in the header (%lld bytes)", path,
                            (long long)st.st_size);
        goto out;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = hark_error_set(HARK_EIO, "%s: cannot map the file: %s", path, strerror(errno));
        goto out;
    }
    m->map = map;
    m->map_size = (size_t)st.st_size;
    m->file_size = (uint64_t)st.st_size;
    rc = parse(m, map, m->map_size);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        hark__whisper_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int hark__whisper_model_load_buffer(hark_whisper_model **out, const void *data, size_t size,
                                    const char *name)
{
    hark_whisper_model *m = NULL;
    int rc;
    HARK_ASSERT_ARG(out && (data || !size));
    *out = NULL;
    if ((rc = model_new(&m, name)) < 0)
        return rc;
    m->owned = hark__malloc(size ? size : 1);
    if (!m->owned) {
        hark__whisper_model_free(m);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    if (size)
        memcpy(m->owned, data, size);
    m->file_size = size;
    rc = parse(m, m->owned, size);
    if (rc < 0) {
        hark__whisper_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void hark__whisper_model_free(hark_whisper_model *m)
{
    int i;
    if (!m)
        return;
    for (i = 0; i < m->n_wmats; i++)
        hark_wmat_dispose(m->wmats[i]);
    hark__free(m->wmats);
    hark__free(m->enc);
    hark__free(m->dec);
    hark__free(m->f32);
    hark__free(m->filters);
    hark__free(m->tok_blob);
    hark__free(m->tok_off);
    hark__free(m->tok_len);
    hark__free(m->hash);
    if (m->map)
        munmap(m->map, m->map_size);
    hark__free(m->owned);
    hark__free(m->path);
    hark__free(m);
}

static const char *size_name(int n_audio_layer)
{
    switch (n_audio_layer) {
    case 4:
        return "tiny";
    case 6:
        return "base";
    case 12:
        return "small";
    case 24:
        return "medium";
    case 32:
        return "large";
    default:
        return NULL;
    }
}

int hark__whisper_model_describe(const hark_whisper_model *m, hark_buf *out)
{
    const hark_whisper_hparams *hp = &m->hp;
    const char *sz = size_name(hp->n_audio_layer);
    const char *ft = hark_ggml_type_name(m->wtype);
    double mp = (double)m->n_params / 1e6;
    int rc;
    if (sz)
        rc = hark_buf_printf(out, "%s%s%s", sz,
                             hp->n_vocab == 51866 && hp->n_audio_layer == 32 ? "-v3" : "",
                             m->sp.multilingual ? "" : ".en");
    else
        rc = hark_buf_printf(out, "whisper-%dx%d%s", hp->n_audio_layer, hp->n_audio_state,
                             m->sp.multilingual ? "" : ".en");
    if (rc < 0)
        return rc;
    if (m->sp.multilingual)
        return hark_buf_printf(out, " (%s, %.*fM params, %d mels, multilingual: %d languages)", ft,
                               mp < 10 ? 1 : 0, mp, hp->n_mels, m->sp.n_langs);
    return hark_buf_printf(out, " (%s, %.*fM params, %d mels, English)", ft, mp < 10 ? 1 : 0, mp,
                           hp->n_mels);
}
