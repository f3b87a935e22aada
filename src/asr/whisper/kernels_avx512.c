/*
 * kernels_avx512.c: the AVX-512 implementation (F, BW, DQ, VL, VNNI, with
 * FMA and F16C): 16-float vectors, 12 x 32 micro-tiles for the encoder's large
 * products and 1..3 x 128 / 4..6 x 64 tiles for the decoder's few rows (see
 * kernels_simd.h for the design). Compiled with -mavx512f -mavx512bw
 * -mavx512dq -mavx512vl -mavx512vnni -mfma -mf16c (src/CMakeLists.txt); only called after
 * avx512_supported() said yes, so the rest of the library stays runnable on
 * any x86-64.
 *
 * Packed layouts (HARK_LAYOUT_AVX512): f32 and f16 weights as panels of 32
 * rows, [k][32], in their own type: the same bytes as the file plus the
 * padding of the last panel. Quantised weights: panels of 16 rows of
 * unsigned byte codes for vpdpbusd plus f32 scales (kernels_simd.h),
 * 1.125 bytes per weight (1.25 for q4_1/q5_1). CPUs with AVX-512 but no
 * VNNI (Skylake-X) use the AVX2 implementation.
 */
#include "kernels_impl.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) &&                      \
    defined(__AVX512VL__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "../../util/util.h"

#define VLEN 16
typedef __m512 vf;
#define VZERO()           _mm512_setzero_ps()
#define VLOAD(p)          _mm512_loadu_ps(p)
#define VSTORE(p, v)      _mm512_storeu_ps(p, v)
#define VLOAD_N(p, n)     _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTORE_N(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VLOADH(p)         _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define VBCAST(p)         _mm512_set1_ps(*(p))
#define VSET1(x)          _mm512_set1_ps(x)
#define VFMA(a, b, c)     _mm512_fmadd_ps(a, b, c)
#define VSUB(a, b)        _mm512_sub_ps(a, b)
#define VMAX(a, b)        _mm512_max_ps(a, b)
#define VADD(a, b)        _mm512_add_ps(a, b)
#define VMUL(a, b)        _mm512_mul_ps(a, b)
#define MR_MAX            12
#define KPREFIX(name)     avx512_##name

/* extra micro-kernels: 3..6 rows x 4 vectors, 2 rows x 8, 7..12 rows packed */
#define MK_CASES_SMALL(F16)                                                                        \
    case 4 * 32 + 3:                                                                               \
        MK_CALL(3, 4, F16, 0);                                                                     \
    case 4 * 32 + 4:                                                                               \
        MK_CALL(4, 4, F16, 0);                                                                     \
    case 4 * 32 + 5:                                                                               \
        MK_CALL(5, 4, F16, 0);                                                                     \
    case 4 * 32 + 6:                                                                               \
        MK_CALL(6, 4, F16, 0);
#define MK_CASES_8_WIDE(F16)                                                                       \
    case 8 * 32 + 2:                                                                               \
        MK_CALL(2, 8, F16, 0);
#define MK_CASES_PACKED(F16)                                                                       \
    case 7:                                                                                        \
        MK_CALL(7, 2, F16, 1);                                                                     \
    case 8:                                                                                        \
        MK_CALL(8, 2, F16, 1);                                                                     \
    case 9:                                                                                        \
        MK_CALL(9, 2, F16, 1);                                                                     \
    case 10:                                                                                       \
        MK_CALL(10, 2, F16, 1);                                                                    \
    case 11:                                                                                       \
        MK_CALL(11, 2, F16, 1);                                                                    \
    case 12:                                                                                       \
        MK_CALL(12, 2, F16, 1);

typedef __m512i vi;
#define VI_SET1(x)         _mm512_set1_epi32(x)
#define VI_LOADU(p)        _mm512_loadu_si512((const void *)(p))
#define VI_CVT(v)          _mm512_cvtepi32_ps(v)
#define QDOT(acc, w, a)    _mm512_dpbusd_epi32(acc, w, a) /* += u8 w * s8 a, 4 per lane */
#define QDOT_S8(acc, w, a) QDOT(acc, w, a)                /* unused: q8_0 codes go + 128 */
#define QS8                0
#define QMR_MAX            6

#define QMK_CASES(HM, S8)                                                                          \
    case 1 * 16 + 3:                                                                               \
        QMK_CALL(3, 1, HM, S8);                                                                    \
    case 1 * 16 + 4:                                                                               \
        QMK_CALL(4, 1, HM, S8);                                                                    \
    case 1 * 16 + 5:                                                                               \
        QMK_CALL(5, 1, HM, S8);                                                                    \
    case 1 * 16 + 6:                                                                               \
        QMK_CALL(6, 1, HM, S8);                                                                    \
    case 2 * 16 + 3:                                                                               \
        QMK_CALL(3, 2, HM, S8);                                                                    \
    case 2 * 16 + 4:                                                                               \
        QMK_CALL(4, 2, HM, S8);                                                                    \
    case 2 * 16 + 5:                                                                               \
        QMK_CALL(5, 2, HM, S8);                                                                    \
    case 2 * 16 + 6:                                                                               \
        QMK_CALL(6, 2, HM, S8);                                                                    \
    case 4 * 16 + 2:                                                                               \
        QMK_CALL(2, 4, HM, S8);                                                                    \
    case 4 * 16 + 3:                                                                               \
        QMK_CALL(3, 4, HM, S8);

/* Quantised tiles: rows x panels of 16 (int and float accumulators both in
 * registers: 2 * rows * panels <= 24). */
static void q_strategy(int m, int *mr, int *nv)
{
    if (m > 16) {
        *mr = 6, *nv = 2;
    } else if (m <= 3) {
        *mr = m, *nv = 4;
    } else if (m <= 6) {
        *mr = m, *nv = 2;
    } else {
        int tiles = (m + 5) / 6;
        *mr = (m + tiles - 1) / tiles, *nv = 2;
    }
}

/* One 32-block of activations to q8 (the contract in kernels_impl.h). */
static void quant_block(const float *x, int8_t *q, float *dx, int32_t *qsum)
{
    __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512i ia = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(id)));
    __m512i ib = _mm512_cvtps_epi32(_mm512_mul_ps(b, _mm512_set1_ps(id)));
    _mm_storeu_si128((__m128i *)(void *)q, _mm512_cvtepi32_epi8(ia));
    _mm_storeu_si128((__m128i *)(void *)(q + 16), _mm512_cvtepi32_epi8(ib));
    *qsum = _mm512_reduce_add_epi32(_mm512_add_epi32(ia, ib));
    *dx = d;
}

/* Tiles for m <= 16 rows: enough independent fma chains (16-24 accumulators)
 * with every weight vector loaded once per tile. */
static void small_strategy(int m, int *mr, int *np)
{
    if (m <= 2) {
        *mr = m, *np = 4; /* m x 128 columns */
    } else if (m <= 6) {
        *mr = m, *np = 2; /* m x 64 */
    } else if (m <= 12) {
        *mr = (m + 1) / 2, *np = 2;
    } else {
        *mr = 6, *np = 2;
    }
}

/* Transpose a 16 x 16 block: row i of src (f32, or f16 when f16) holds 16
 * values at src + i*lds elements; dst row c (ldd floats apart) gets column c. */
static void transpose_block(const void *src, size_t lds, int f16, float *dst, size_t ldd)
{
    __m512 r[16], t[16];
    int i, c;
    for (i = 0; i < 16; i++)
        r[i] = f16 ? VLOADH((const uint16_t *)src + (size_t)i * lds)
                   : _mm512_loadu_ps((const float *)src + (size_t)i * lds);
    for (i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    /* r[4g + c], 128-bit lane L: rows 4g..4g+3 of column c + 4L */
    for (c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    }
    for (c = 0; c < 4; c++) {
        _mm512_storeu_ps(dst + (size_t)c * ldd, _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88));
        _mm512_storeu_ps(dst + (size_t)(c + 8) * ldd, _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd));
        _mm512_storeu_ps(dst + (size_t)(c + 4) * ldd,
                         _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88));
        _mm512_storeu_ps(dst + (size_t)(c + 12) * ldd,
                         _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd));
    }
}

static void cvt_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = hark_f32_to_f16(src[i]);
}

static void cvt_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, VLOADH(src + i));
    for (; i < n; i++)
        dst[i] = hark_f16_to_f32(src[i]);
}

/* exp for softmax: hark__expf's operations on 16 lanes. */
static inline __m512 vexp(__m512 x)
{
    __m512 xc = _mm512_min_ps(x, _mm512_set1_ps(HARK_EXP_MAX)), t, r, p, res;
    __m512i e;
    t = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(HARK_LOG2E)),
                      _mm512_set1_ps(HARK_EXP_MAGIC));
    t = _mm512_sub_ps(t, _mm512_set1_ps(HARK_EXP_MAGIC));
    r = _mm512_fmadd_ps(t, _mm512_set1_ps(-HARK_LN2_HI), xc);
    r = _mm512_fmadd_ps(t, _mm512_set1_ps(-HARK_LN2_LO), r);
    p = _mm512_fmadd_ps(_mm512_set1_ps(HARK_EXP_C7), r, _mm512_set1_ps(HARK_EXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(HARK_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(HARK_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(HARK_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(HARK_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(127)), 23);
    res = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    res = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(HARK_EXP_MIN), _CMP_GE_OQ), res);
    return _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

#include "kernels_simd.h"

static int avx512_supported(void)
{
    unsigned need = HARK_CPU_AVX2 | HARK_CPU_AVX512 | HARK_CPU_AVX512VNNI;
    return (hark__cpu_features() & need) == need;
}

static int avx512_pack(hark_wmat *w)
{
    if (w->type == HARK_GGML_F32 || w->type == HARK_GGML_F16)
        return avx512_pack_float(w);
    return avx512_pack_quant(w);
}

static void avx512_matmul_any(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                              const float *bias, float *y, int ldy)
{
    if (hark__type_is_quant(w->type))
        avx512_qmatmul(pool, w, x, m, ldx, bias, y, ldy);
    else
        avx512_matmul(pool, w, x, m, ldx, bias, y, ldy);
}

const hark__kimpl hark__kernels_avx512 = {
    .name = "avx512",
    .layout = HARK_LAYOUT_AVX512,
    .supported = avx512_supported,
    .pack = avx512_pack,
    .packed_bytes = avx512_packed_bytes,
    .matmul = avx512_matmul_any,
    .gemm_f32 = avx512_gemm_f32,
    .gemm_f16b = avx512_gemm_f16b,
    .f32_to_f16_row = cvt_f32_to_f16_row,
    .f16_to_f32_row = cvt_f16_to_f32_row,
    .softmax_row = avx512_softmax_row,
};

#else /* built without the AVX-512 flags (another architecture): never selected */

static int avx512_supported(void)
{
    return 0;
}

const hark__kimpl hark__kernels_avx512 = {
    .name = "avx512",
    .layout = HARK_LAYOUT_AVX512,
    .supported = avx512_supported,
};

#endif
