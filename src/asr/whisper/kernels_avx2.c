/*
 * kernels_avx2.c: the AVX2 + FMA + F16C implementation: 8-float vectors,
 * 6 x 16 micro-tiles for large products, 1 x 64 and 2..3 x 32 tiles for the
 * decoder's few rows (see kernels_simd.h for the design). Compiled with
 * -mavx2 -mfma -mf16c (src/CMakeLists.txt) and only called after
 * avx2_supported() said yes.
 *
 * Packed layouts (HARK_LAYOUT_AVX2): f32 and f16 weights as panels of 16
 * rows, [k][16], in their own type. Quantised weights: panels of 8 rows of
 * byte codes for vpmaddubsw plus f32 scales (kernels_simd.h), 1.125 bytes
 * per weight (1.25 for q4_1/q5_1); q8_0 codes stay signed (sign trick).
 */
#include "kernels_impl.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "../../util/util.h"

/* maskload/maskstore masks: the first n lanes are masktab[8 - n .. 16 - n) */
static const int32_t masktab[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

#define VLEN 8
typedef __m256 vf;
#define VMASK(n)          _mm256_loadu_si256((const __m256i *)(const void *)(masktab + 8 - (n)))
#define VZERO()           _mm256_setzero_ps()
#define VLOAD(p)          _mm256_loadu_ps(p)
#define VSTORE(p, v)      _mm256_storeu_ps(p, v)
#define VLOAD_N(p, n)     _mm256_maskload_ps(p, VMASK(n))
#define VSTORE_N(p, v, n) _mm256_maskstore_ps(p, VMASK(n), v)
#define VLOADH(p)         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define VBCAST(p)         _mm256_broadcast_ss(p)
#define VSET1(x)          _mm256_set1_ps(x)
#define VFMA(a, b, c)     _mm256_fmadd_ps(a, b, c)
#define VSUB(a, b)        _mm256_sub_ps(a, b)
#define VMAX(a, b)        _mm256_max_ps(a, b)
#define VADD(a, b)        _mm256_add_ps(a, b)
#define VMUL(a, b)        _mm256_mul_ps(a, b)
#define MR_MAX            6
#define KPREFIX(name)     avx2_##name

#define MK_CASES_SMALL(F16)
#define MK_CASES_8_WIDE(F16)
#define MK_CASES_PACKED(F16)

typedef __m256i vi;
#define VI_SET1(x)  _mm256_set1_epi32(x)
#define VI_LOADU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VI_CVT(v)   _mm256_cvtepi32_ps(v)
/* acc += Σ4 u8 w * s8 a: pairs to s16 (no saturation: w <= 31, |a| <= 127), then s32 */
#define QDOT(acc, w, a)                                                                            \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1)))
/* the same for signed codes: |w| * (a with the sign of w) */
#define QDOT_S8(acc, w, a)                                                                         \
    _mm256_add_epi32(                                                                              \
        acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w)),   \
                               _mm256_set1_epi16(1)))
#define QS8     1
#define QMR_MAX 2
#define QMK_CASES(HM, S8)

/* Quantised tiles within 16 registers: 1 x 4 panels of 8, or 2 x 2. */
static void q_strategy(int m, int *mr, int *nv)
{
    if (m == 1)
        *mr = 1, *nv = 4;
    else
        *mr = 2, *nv = 2;
}

/* One 32-block of activations to q8 (the contract in kernels_impl.h). */
static void quant_block(const float *x, int8_t *q, float *dx, int32_t *qsum)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 mx =
        _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                      _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    __m256 vid;
    __m256i i0, i1, i2, i3, p;
    __m128i s4;
    float amax, d, id;
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    amax = _mm_cvtss_f32(m4);
    d = amax / 127.0f;
    id = d != 0.0f ? 1.0f / d : 0.0f;
    vid = _mm256_set1_ps(id);
    i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid));
    i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
    i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid));
    i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
    /* 32 x int32 -> 32 x int8 in order (the packs work within 128-bit lanes) */
    p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, p);
    i0 = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    s4 = _mm_add_epi32(_mm256_castsi256_si128(i0), _mm256_extracti128_si256(i0, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    *qsum = _mm_cvtsi128_si32(s4);
    *dx = d;
}

/* Tiles for m <= 16 rows within 16 registers: 1 x 64 columns, 2 x 32, or up
 * to 6 x 16. */
static void small_strategy(int m, int *mr, int *np)
{
    if (m == 1) {
        *mr = 1, *np = 4;
    } else if (m == 2) {
        *mr = 2, *np = 2;
    } else if (m <= 6) {
        *mr = m, *np = 1;
    } else if (m <= 12) {
        *mr = (m + 1) / 2, *np = 1;
    } else {
        *mr = 6, *np = 1;
    }
}

/* Transpose an 8 x 8 block: row i of src (f32, or f16 when f16) holds 8
 * values at src + i*lds elements; dst row c (ldd floats apart) gets column c. */
static void transpose_block(const void *src, size_t lds, int f16, float *dst, size_t ldd)
{
    __m256 r[8], t[8];
    int i, c;
    for (i = 0; i < 8; i++)
        r[i] = f16 ? VLOADH((const uint16_t *)src + (size_t)i * lds)
                   : _mm256_loadu_ps((const float *)src + (size_t)i * lds);
    for (i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 2; i++) {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    /* r[4g + c], 128-bit lane L: rows 4g..4g+3 of column c + 4L */
    for (c = 0; c < 4; c++) {
        _mm256_storeu_ps(dst + (size_t)c * ldd, _mm256_permute2f128_ps(r[c], r[4 + c], 0x20));
        _mm256_storeu_ps(dst + (size_t)(c + 4) * ldd, _mm256_permute2f128_ps(r[c], r[4 + c], 0x31));
    }
}

static void cvt_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = hark_f32_to_f16(src[i]);
}

static void cvt_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, VLOADH(src + i));
    for (; i < n; i++)
        dst[i] = hark_f16_to_f32(src[i]);
}

/* exp for softmax: hark__expf's operations on 8 lanes. */
static inline __m256 vexp(__m256 x)
{
    __m256 xc = _mm256_min_ps(x, _mm256_set1_ps(HARK_EXP_MAX)), t, r, p, res;
    __m256i e;
    t = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(HARK_LOG2E)),
                      _mm256_set1_ps(HARK_EXP_MAGIC));
    t = _mm256_sub_ps(t, _mm256_set1_ps(HARK_EXP_MAGIC));
    r = _mm256_fmadd_ps(t, _mm256_set1_ps(-HARK_LN2_HI), xc);
    r = _mm256_fmadd_ps(t, _mm256_set1_ps(-HARK_LN2_LO), r);
    p = _mm256_fmadd_ps(_mm256_set1_ps(HARK_EXP_C7), r, _mm256_set1_ps(HARK_EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(HARK_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(HARK_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(HARK_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(HARK_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(127)), 23);
    res = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    res = _mm256_and_ps(res, _mm256_cmp_ps(x, _mm256_set1_ps(HARK_EXP_MIN), _CMP_GE_OQ));
    return _mm256_blendv_ps(res, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

#include "kernels_simd.h"

static int avx2_supported(void)
{
    return (hark__cpu_features() & HARK_CPU_AVX2) != 0;
}

static int avx2_pack(hark_wmat *w)
{
    if (w->type == HARK_GGML_F32 || w->type == HARK_GGML_F16)
        return avx2_pack_float(w);
    return avx2_pack_quant(w);
}

static void avx2_matmul_any(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                            const float *bias, float *y, int ldy)
{
    if (hark__type_is_quant(w->type))
        avx2_qmatmul(pool, w, x, m, ldx, bias, y, ldy);
    else
        avx2_matmul(pool, w, x, m, ldx, bias, y, ldy);
}

const hark__kimpl hark__kernels_avx2 = {
    .name = "avx2",
    .layout = HARK_LAYOUT_AVX2,
    .supported = avx2_supported,
    .pack = avx2_pack,
    .packed_bytes = avx2_packed_bytes,
    .matmul = avx2_matmul_any,
    .gemm_f32 = avx2_gemm_f32,
    .gemm_f16b = avx2_gemm_f16b,
    .f32_to_f16_row = cvt_f32_to_f16_row,
    .f16_to_f32_row = cvt_f16_to_f32_row,
    .softmax_row = avx2_softmax_row,
};

#else /* built without the AVX2 flags (another architecture): never selected */

static int avx2_supported(void)
{
    return 0;
}

const hark__kimpl hark__kernels_avx2 = {
    .name = "avx2",
    .layout = HARK_LAYOUT_AVX2,
    .supported = avx2_supported,
};

#endif
