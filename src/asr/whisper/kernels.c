/*
 * kernels.c: the common part of the Whisper compute kernels: ggml type
 * tables, f16 <-> f32 conversion, dequantisation, hark_wmat lifetime and the
 * run-time choice of implementation.
 *
 * DESIGN: an implementation is a table of function pointers (kernels_impl.h).
 * The first call picks the best one the CPU supports (avx512 > avx2 >
 * scalar), or the one named by the environment variable HARK_KERNELS, and
 * hark_kernels_force() can switch later (tests, benchmarks). A hark_wmat
 * remembers which implementation packed it (w->layout), and hark_matmul
 * always runs that implementation's kernel on it, so a wmat stays valid
 * whatever is forced afterwards. All implementations give identical bits
 * (the contract in kernels_impl.h), so switching never changes results.
 *
 * INVARIANTS: hark_wmat fields are set once by hark_wmat_init and never
 * change until hark_wmat_dispose; after a successful init w->packed is NULL
 * only for the reference layout (which reads w->src).
 */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"
#include "../../util/util.h"

/* ---- ggml types ---------------------------------------------------------------------------- */

typedef struct type_info {
    int type;
    const char *name;
    int block;          /* values per block */
    size_t block_bytes; /* bytes per block */
} type_info;

static const type_info types[] = {
    { HARK_GGML_F32, "f32", 1, 4 },     { HARK_GGML_F16, "f16", 1, 2 },
    { HARK_GGML_Q4_0, "q4_0", 32, 18 }, { HARK_GGML_Q4_1, "q4_1", 32, 20 },
    { HARK_GGML_Q5_0, "q5_0", 32, 22 }, { HARK_GGML_Q5_1, "q5_1", 32, 24 },
    { HARK_GGML_Q8_0, "q8_0", 32, 34 },
};

static const type_info *type_find(int type)
{
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(types); i++)
        if (types[i].type == type)
            return &types[i];
    return NULL;
}

size_t hark_ggml_row_size(int type, int64_t n)
{
    const type_info *t = type_find(type);
    if (!t || n < 0 || n % t->block != 0)
        return 0;
    if ((uint64_t)(n / t->block) > SIZE_MAX / t->block_bytes)
        return 0;
    return (size_t)(n / t->block) * t->block_bytes;
}

int hark_ggml_block_size(int type)
{
    const type_info *t = type_find(type);
    return t ? t->block : 0;
}

const char *hark_ggml_type_name(int type)
{
    const type_info *t = type_find(type);
    return t ? t->name : "unknown";
}

size_t hark__ggml_block_bytes(int type)
{
    const type_info *t = type_find(type);
    return t && t->block == HARK_QK ? t->block_bytes : 0;
}

/* ---- f16 ----------------------------------------------------------------------------------- */

float hark_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    float f;

    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in f32 */
        f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31)
        /* inf, or NaN made quiet (as the F16C instructions do) */
        bits = sign | 0x7f800000u | (mant ? 0x00400000u | mant << 13 : 0);
    else
        bits = sign | (exp + 112) << 23 | mant << 13;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t hark_f32_to_f16(float f)
{
    uint32_t x, sign, ax;

    memcpy(&x, &f, sizeof(x));
    sign = (x >> 16) & 0x8000;
    ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, keep the top payload bits */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000u) /* >= 65520 (incl. inf) rounds to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax >= 0x38800000u) {
        /* normal half: drop 13 mantissa bits, round to nearest even; a carry
         * into the exponent is the right answer */
        uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);
        return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
    } else {
        /* subnormal half (or zero): m = round(|f| * 2^24) */
        uint32_t e = ax >> 23;
        uint32_t mf = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e, m, rem, half;
        if (e == 0 || shift > 24)
            return (uint16_t)sign;
        m = mf >> shift;
        rem = mf & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rem > half || (rem == half && (m & 1)))
            m++;
        return (uint16_t)(sign | m);
    }
}

/* ---- quantised blocks ---------------------------------------------------------------------- */

void hark__qblock_decode(int type, const unsigned char *blk, int8_t wq[HARK_QK], float *d, float *m)
{
    int j;
    uint32_t qh;

    *d = hark_f16_to_f32(hark__rd16(blk));
    *m = 0.0f;
    switch (type) {
    case HARK_GGML_Q4_0:
        for (j = 0; j < 16; j++) {
            wq[j] = (int8_t)((blk[2 + j] & 0x0f) - 8);
            wq[j + 16] = (int8_t)((blk[2 + j] >> 4) - 8);
        }
        break;
    case HARK_GGML_Q4_1:
        *m = hark_f16_to_f32(hark__rd16(blk + 2));
        for (j = 0; j < 16; j++) {
            wq[j] = (int8_t)(blk[4 + j] & 0x0f);
            wq[j + 16] = (int8_t)(blk[4 + j] >> 4);
        }
        break;
    case HARK_GGML_Q5_0:
        qh = hark__rd32(blk + 2);
        for (j = 0; j < 16; j++) {
            wq[j] = (int8_t)(((blk[6 + j] & 0x0f) | ((qh >> j) & 1) << 4) - 16);
            wq[j + 16] = (int8_t)(((blk[6 + j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16);
        }
        break;
    case HARK_GGML_Q5_1:
        *m = hark_f16_to_f32(hark__rd16(blk + 2));
        qh = hark__rd32(blk + 4);
        for (j = 0; j < 16; j++) {
            wq[j] = (int8_t)((blk[8 + j] & 0x0f) | ((qh >> j) & 1) << 4);
            wq[j + 16] = (int8_t)((blk[8 + j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
        }
        break;
    case HARK_GGML_Q8_0:
        for (j = 0; j < HARK_QK; j++)
            wq[j] = (int8_t)blk[2 + j];
        break;
    default:
        memset(wq, 0, HARK_QK);
        break;
    }
}

void hark_dequantize_row(int type, const void *src, float *dst, int64_t n)
{
    const unsigned char *s = src;
    int64_t i, b;
    int j;

    switch (type) {
    case HARK_GGML_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case HARK_GGML_F16:
        for (i = 0; i < n; i++)
            dst[i] = hark_f16_to_f32(hark__rd16(s + 2 * i));
        return;
    default:
        break;
    }
    if (!hark__type_is_quant(type) || n % HARK_QK != 0)
        return;
    for (b = 0; b < n / HARK_QK; b++) {
        int8_t wq[HARK_QK];
        float d, m;
        hark__qblock_decode(type, s + (size_t)b * hark__ggml_block_bytes(type), wq, &d, &m);
        /* value = code * d (+ m): two roundings at most, as ggml does */
        for (j = 0; j < HARK_QK; j++)
            dst[b * HARK_QK + j] =
                hark__type_has_min(type) ? (float)wq[j] * d + m : (float)wq[j] * d;
    }
}

void hark__quantize_q8_ref(const float *x, int nblocks, int8_t *q, float *dx, int32_t *qsum)
{
    int b, j;
    for (b = 0; b < nblocks; b++) {
        const float *xb = x + (size_t)b * HARK_QK;
        float amax = 0.0f, d, id;
        int32_t s = 0;
        for (j = 0; j < HARK_QK; j++) {
            float a = xb[j] < 0 ? -xb[j] : xb[j];
            amax = a > amax ? a : amax;
        }
        d = amax / 127.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        for (j = 0; j < HARK_QK; j++) {
            long v = lrintf(xb[j] * id);
            q[b * HARK_QK + j] = (int8_t)v;
            s += (int32_t)v;
        }
        dx[b] = d;
        qsum[b] = s;
    }
}

/* ---- CPU features -----------------------------------------------------------------------------
 */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, f = 0;
    uint64_t xcr0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    /* OSXSAVE (27), AVX (28): the OS must save the vector registers */
    if (!(c & (1u << 27)) || !(c & (1u << 28)))
        return 0;
    xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) /* SSE and AVX state */
        return 0;
    if (c & (1u << 29))
        f |= HARK_CPU_F16C;
    {
        int fma = (c & (1u << 12)) != 0, f16c = (c & (1u << 29)) != 0;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
            return f;
        if ((b & (1u << 5)) && fma && f16c)
            f |= HARK_CPU_AVX2;
        /* F (16), DQ (17), BW (30), VL (31), and opmask + ZMM state saved */
        if ((f & HARK_CPU_AVX2) && (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) &&
            (b & (1u << 31)) && (xcr0 & 0xe0) == 0xe0) {
            f |= HARK_CPU_AVX512;
            if (c & (1u << 11))
                f |= HARK_CPU_AVX512VNNI;
        }
    }
    return f;
}
#else
static unsigned detect(void)
{
    return 0;
}
#endif

static unsigned cpu_features;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void detect_once(void)
{
    cpu_features = detect();
}

unsigned hark__cpu_features(void)
{
    pthread_once(&cpu_once, detect_once);
    return cpu_features;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* In order of preference. */
static const hark__kimpl *const impls[] = {
    &hark__kernels_avx512,
    &hark__kernels_avx2,
    &hark__kernels_ref,
};

static _Atomic(const hark__kimpl *) current;
static pthread_once_t pick_once = PTHREAD_ONCE_INIT;

static const hark__kimpl *impl_by_name(const char *name)
{
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(impls); i++)
        if (strcmp(impls[i]->name, name) == 0 && impls[i]->supported())
            return impls[i];
    return NULL;
}

static void pick(void)
{
    const char *env = getenv("HARK_KERNELS");
    const hark__kimpl *k = env && *env ? impl_by_name(env) : NULL;
    size_t i;
    for (i = 0; !k && i < HARK_ARRAY_SIZE(impls); i++)
        if (impls[i]->supported())
            k = impls[i];
    atomic_store(&current, k);
}

static const hark__kimpl *impl(void)
{
    pthread_once(&pick_once, pick);
    return atomic_load_explicit(&current, memory_order_relaxed);
}

static const hark__kimpl *impl_for_layout(int layout)
{
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(impls); i++)
        if (impls[i]->layout == layout)
            return impls[i];
    return &hark__kernels_ref;
}

const char *hark_kernels_name(void)
{
    return impl()->name;
}

int hark_kernels_force(const char *name)
{
    const hark__kimpl *k;
    pthread_once(&pick_once, pick);
    k = name ? impl_by_name(name) : NULL;
    if (!k)
        return -1;
    atomic_store(&current, k);
    return 0;
}

/* ---- weights ------------------------------------------------------------------------------- */

int hark_wmat_init(hark_wmat *w, int type, int rows, int cols, const void *src)
{
    const hark__kimpl *k = impl();
    int rc;

    memset(w, 0, sizeof(*w));
    if (!type_find(type))
        return hark_error_set(HARK_EINVAL, "unsupported ggml tensor type %d", type);
    if (rows <= 0 || cols <= 0 || !src)
        return hark_error_set(HARK_EINVAL, "bad %s matrix %d x %d", hark_ggml_type_name(type), rows,
                              cols);
    if (hark_ggml_row_size(type, cols) == 0)
        return hark_error_set(HARK_EINVAL, "%s matrix: %d columns is not a multiple of %d",
                              hark_ggml_type_name(type), cols, hark_ggml_block_size(type));
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->src = src;
    w->layout = HARK_LAYOUT_NONE;
    rc = k->pack(w);
    if (rc < 0) {
        hark__free(w->packed);
        memset(w, 0, sizeof(*w));
        return rc;
    }
    if (w->packed)
        w->layout = k->layout;
    return 0;
}

void hark_wmat_dispose(hark_wmat *w)
{
    if (!w)
        return;
    hark__free(w->packed);
    memset(w, 0, sizeof(*w));
}

int hark_wmat_needs_src(const hark_wmat *w)
{
    return w->packed == NULL;
}

size_t hark_wmat_packed_bytes(const hark_wmat *w)
{
    if (!w->packed)
        return 0;
    return impl_for_layout(w->layout)->packed_bytes(w->type, w->rows, w->cols);
}

void hark_matmul(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                 const float *bias, float *y, int ldy)
{
    if (m <= 0)
        return;
    /* programming errors (debug builds): an uninitialised wmat, short rows */
    assert(w && w->rows > 0 && x && y);
    assert(m == 1 || (ldx >= w->cols && ldy >= w->rows));
    impl_for_layout(w->layout)->matmul(pool, w, x, m, ldx, bias, y, ldy);
}

void hark_gemm_f32(hark_pool *pool, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, int b_trans, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    assert(a && b && c && k >= 0 && (m == 1 || (lda >= k && ldc >= n)));
    assert(b_trans ? (n == 1 || ldb >= k) : (k <= 1 || ldb >= n));
    impl()->gemm_f32(pool, m, n, k, alpha, a, lda, b, ldb, b_trans, c, ldc);
}

void hark_gemm_f16b(hark_pool *pool, int m, int n, int k, float alpha, const float *a, int lda,
                    const uint16_t *b, int ldb, int b_trans, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    assert(a && b && c && k >= 0 && (m == 1 || (lda >= k && ldc >= n)));
    assert(b_trans ? (n == 1 || ldb >= k) : (k <= 1 || ldb >= n));
    impl()->gemm_f16b(pool, m, n, k, alpha, a, lda, b, ldb, b_trans, c, ldc);
}

void hark_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    if (n > 0)
        impl()->f32_to_f16_row(src, dst, n);
}

void hark_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    if (n > 0)
        impl()->f16_to_f32_row(src, dst, n);
}

void hark_softmax_row(float *x, int n, float scale)
{
    if (n > 0)
        impl()->softmax_row(x, n, scale);
}

void hark_f32_to_f16_transposed(const float *src, int rows, int cols, int lds, uint16_t *dst,
                                int ldd)
{
    /* 32 x 32 tiles: transpose into a small buffer, then convert its rows */
    enum { T = 32 };
    float tile[T * T];
    const hark__kimpl *k = impl();
    int r0, c0, r, c;
    if (rows == 1) {
        /* one new key (a KV cache column): plain strided stores */
        for (c = 0; c < cols; c++)
            dst[(size_t)c * ldd] = hark_f32_to_f16(src[c]);
        return;
    }
    for (r0 = 0; r0 < rows; r0 += T)
        for (c0 = 0; c0 < cols; c0 += T) {
            int nr = HARK_MIN(T, rows - r0), nc = HARK_MIN(T, cols - c0);
            for (r = 0; r < nr; r++)
                for (c = 0; c < nc; c++)
                    tile[c * T + r] = src[(size_t)(r0 + r) * lds + (size_t)(c0 + c)];
            for (c = 0; c < nc; c++)
                k->f32_to_f16_row(tile + c * T, dst + (size_t)(c0 + c) * ldd + (size_t)r0, nr);
        }
}
