/*
 * kernels_avx2.c: the AVX2 + FMA + F16C implementation: 8-float vectors,
 * 6 x 16 micro-tiles for large products, 1 x 64 and 2..3 x 32 tiles for the
 * decoder's few rows (see kernels_simd.h for the design). Compiled with
 * -mavx2 -mfma -mf16c (src/CMakeLists.txt) and only called after
 * avx2_supported() said yes.
 *
 * Packed layouts (HARK_LAYOUT_AVX2): f32 and f16 weights as panels of 16
 * rows, [k][16], in their own type. Quantised weights are not packed yet
 * (the reference reads them in place).
 */
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"
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
#define VADD(a, b)        _mm256_add_ps(a, b)
#define VMUL(a, b)        _mm256_mul_ps(a, b)
#define MR_MAX            6
#define KPREFIX(name)     avx2_##name

#define MK_CASES_SMALL(F16)
#define MK_CASES_8_WIDE(F16)
#define MK_CASES_PACKED(F16)

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

#include "kernels_simd.h"

static int avx2_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

static int avx2_pack(hark_wmat *w)
{
    if (w->type == HARK_GGML_F32 || w->type == HARK_GGML_F16)
        return avx2_pack_float(w);
    return 0;
}

const hark__kimpl hark__kernels_avx2 = {
    .name = "avx2",
    .layout = HARK_LAYOUT_AVX2,
    .supported = avx2_supported,
    .pack = avx2_pack,
    .matmul = avx2_matmul,
    .gemm_f32 = avx2_gemm_f32,
    .gemm_f16b = avx2_gemm_f16b,
    .f32_to_f16_row = cvt_f32_to_f16_row,
    .f16_to_f32_row = cvt_f16_to_f32_row,
};
