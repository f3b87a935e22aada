/*
 * types.c: ggml type tables, f16 conversion and dequantisation of blocks
 * built by hand from ggml's format definitions.
 */
#include <immintrin.h>
#include <string.h>

#include "kt.h"
#include "asr/whisper/kernels_impl.h"

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

TEST(type_tables)
{
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_F32, 10), 40);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_F16, 10), 20);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_Q4_0, 64), 36);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_Q4_1, 64), 40);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_Q5_0, 64), 44);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_Q5_1, 64), 48);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_Q8_0, 64), 68);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_Q8_0, 33), 0); /* not whole blocks */
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_F32, -1), 0);
    ASSERT_EQ(hark_ggml_row_size(4, 32), 0); /* q4_2: removed from ggml */
    ASSERT_EQ(hark_ggml_row_size(99, 32), 0);
    ASSERT_EQ(hark_ggml_row_size(HARK_GGML_F32, 0), 0 * 4);
    ASSERT_EQ(hark_ggml_block_size(HARK_GGML_F16), 1);
    ASSERT_EQ(hark_ggml_block_size(HARK_GGML_Q5_1), 32);
    ASSERT_EQ(hark_ggml_block_size(12), 0);
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_F32), "f32");
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_F16), "f16");
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_Q4_0), "q4_0");
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_Q4_1), "q4_1");
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_Q5_0), "q5_0");
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_Q5_1), "q5_1");
    ASSERT_STREQ(hark_ggml_type_name(HARK_GGML_Q8_0), "q8_0");
    ASSERT_STREQ(hark_ggml_type_name(-3), "unknown");
}

TEST(f16_to_f32_known_values)
{
    ASSERT_EQ(fbits(hark_f16_to_f32(0x0000)), 0x00000000);
    ASSERT_EQ(fbits(hark_f16_to_f32(0x8000)), 0x80000000); /* -0 keeps its sign */
    ASSERT(hark_f16_to_f32(0x0001) == 0x1p-24f);           /* smallest subnormal */
    ASSERT(hark_f16_to_f32(0x8001) == -0x1p-24f);
    ASSERT(hark_f16_to_f32(0x03ff) == 1023 * 0x1p-24f); /* largest subnormal */
    ASSERT(hark_f16_to_f32(0x0400) == 0x1p-14f);        /* smallest normal */
    ASSERT(hark_f16_to_f32(0x3c00) == 1.0f);
    ASSERT(hark_f16_to_f32(0x3c01) == 1.0f + 0x1p-10f);
    ASSERT(hark_f16_to_f32(0xc000) == -2.0f);
    ASSERT(hark_f16_to_f32(0x3555) == 0x1.554p-2f); /* ~1/3 */
    ASSERT(hark_f16_to_f32(0x7bff) == 65504.0f);
    ASSERT(hark_f16_to_f32(0x7c00) == INFINITY);
    ASSERT(hark_f16_to_f32(0xfc00) == -INFINITY);
    ASSERT(isnan(hark_f16_to_f32(0x7e00)));
    ASSERT(isnan(hark_f16_to_f32(0xfe00)));
    /* a signalling NaN comes back quiet, payload kept (like vcvtph2ps) */
    ASSERT_EQ(fbits(hark_f16_to_f32(0x7c01)), 0x7fc02000);
    ASSERT_EQ(fbits(hark_f16_to_f32(0xfd55)), 0xffc00000u | (0x155u << 13));
}

TEST(f32_to_f16_rounding_and_edges)
{
    ASSERT_EQ(hark_f32_to_f16(0.0f), 0x0000);
    ASSERT_EQ(hark_f32_to_f16(-0.0f), 0x8000);
    ASSERT_EQ(hark_f32_to_f16(1.0f), 0x3c00);
    ASSERT_EQ(hark_f32_to_f16(-2.0f), 0xc000);
    ASSERT_EQ(hark_f32_to_f16(65504.0f), 0x7bff);
    ASSERT_EQ(hark_f32_to_f16(65519.996f), 0x7bff); /* just under the halfway point */
    ASSERT_EQ(hark_f32_to_f16(65520.0f), 0x7c00);   /* tie: rounds to even = inf */
    ASSERT_EQ(hark_f32_to_f16(1e10f), 0x7c00);
    ASSERT_EQ(hark_f32_to_f16(-1e10f), 0xfc00);
    ASSERT_EQ(hark_f32_to_f16(INFINITY), 0x7c00);
    ASSERT_EQ(hark_f32_to_f16(-INFINITY), 0xfc00);
    ASSERT_EQ(hark_f32_to_f16(bitsf(0x7fc00000)), 0x7e00);
    ASSERT_EQ(hark_f32_to_f16(bitsf(0xffc00000)), 0xfe00);
    ASSERT_EQ(hark_f32_to_f16(bitsf(0x7f800001)), 0x7e00); /* sNaN with a low payload stays NaN */
    ASSERT_EQ(hark_f32_to_f16(bitsf(0x7fffffff)), 0x7fff);
    /* ties to even among normals */
    ASSERT_EQ(hark_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ASSERT_EQ(hark_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    ASSERT_EQ(hark_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    ASSERT_EQ(hark_f32_to_f16(2047.0f + 0.5f), 0x6800); /* carry into the exponent: 2048 */
    /* subnormals */
    ASSERT_EQ(hark_f32_to_f16(0x1p-24f), 0x0001);
    ASSERT_EQ(hark_f32_to_f16(0x1p-25f), 0x0000); /* tie between 0 and 1: even */
    ASSERT_EQ(hark_f32_to_f16(0x1.000002p-25f), 0x0001);
    ASSERT_EQ(hark_f32_to_f16(-0x1p-25f), 0x8000);
    ASSERT_EQ(hark_f32_to_f16(3 * 0x1p-25f), 0x0002);       /* tie between 1 and 2 */
    ASSERT_EQ(hark_f32_to_f16(5 * 0x1p-25f), 0x0002);       /* tie between 2 and 3 */
    ASSERT_EQ(hark_f32_to_f16(1023.5f * 0x1p-24f), 0x0400); /* rounds up to the first normal */
    ASSERT_EQ(hark_f32_to_f16(0x1p-14f), 0x0400);
    ASSERT_EQ(hark_f32_to_f16(1e-30f), 0x0000);
    ASSERT_EQ(hark_f32_to_f16(bitsf(0x00000001)), 0x0000); /* f32 subnormal */
    ASSERT_EQ(hark_f32_to_f16(-1e-30f), 0x8000);
}

/* Every finite half survives the round trip, and every midpoint between two
 * neighbouring halves rounds to the even one (just below / above it to the
 * nearer one). That covers every rounding decision of the conversion. */
TEST(f16_roundtrip_and_all_midpoints)
{
    unsigned h;
    for (h = 0; h < 0x10000; h++) {
        unsigned e = (h >> 10) & 0x1f;
        float f = hark_f16_to_f32((uint16_t)h);
        if (e == 31 && (h & 0x3ff))
            continue;
        ASSERT_EQ(hark_f32_to_f16(f), h);
        if ((h & 0x7fff) < 0x7bff) {
            float g = hark_f16_to_f32((uint16_t)(h + 1)); /* next away from zero */
            float mid = (float)(((double)f + (double)g) / 2);
            unsigned even = (h & 1) ? h + 1 : h;
            ASSERT((double)mid == ((double)f + (double)g) / 2); /* exact in f32 */
            ASSERT_EQ(hark_f32_to_f16(mid), even);
            ASSERT_EQ(hark_f32_to_f16(nextafterf(mid, 0.0f)), h);
            ASSERT_EQ(hark_f32_to_f16(nextafterf(mid, signbit(f) ? -INFINITY : INFINITY)), h + 1);
        }
    }
}

__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* The scalar conversions agree bit for bit with the F16C instructions, which
 * the SIMD kernels use, on a sweep of all f32 classes. */
TEST(f16_matches_f16c_hardware)
{
    uint64_t u;
    unsigned h;
    if (!(hark__cpu_features() & HARK_CPU_F16C))
        SKIP("no F16C on this CPU");
    for (h = 0; h < 0x10000; h++)
        ASSERT_EQ(fbits(hark_f16_to_f32((uint16_t)h)), fbits(hw_f16_to_f32((uint16_t)h)));
    for (u = 0; u < 0x100000000ull; u += 997) {
        float f = bitsf((uint32_t)u);
        ASSERT_MSG(hark_f32_to_f16(f) == hw_f32_to_f16(f), "0x%08x: 0x%04x vs 0x%04x", (unsigned)u,
                   hark_f32_to_f16(f), hw_f32_to_f16(f));
    }
}

TEST(f16_rows_match_scalar)
{
    float src[77], back[77];
    uint16_t h[77];
    int i;
    for (i = 0; i < 77; i++)
        src[i] = (float)(i - 38) * 1.37e-3f * (float)(i * i);
    src[3] = INFINITY;
    src[4] = 1e-7f;
    hark_f32_to_f16_row(src, h, 77);
    hark_f16_to_f32_row(h, back, 77);
    for (i = 0; i < 77; i++) {
        ASSERT_EQ(h[i], hark_f32_to_f16(src[i]));
        ASSERT_EQ(fbits(back[i]), fbits(hark_f16_to_f32(h[i])));
    }
}

/* ---- dequantisation of hand-built blocks ---------------------------------------------------- */

TEST(dequantize_q4_0_known_block)
{
    /* d = 0.5 (f16 0x3800); byte j holds value j (low nibble) and value j+16
     * (high nibble): low = j, high = 15 - j. */
    unsigned char blk[1 + 18];
    float out[32];
    int j;
    blk[1] = 0x00;
    blk[2] = 0x38;
    for (j = 0; j < 16; j++)
        blk[3 + j] = (unsigned char)(j | (15 - j) << 4);
    hark_dequantize_row(HARK_GGML_Q4_0, blk + 1, out, 32); /* odd address on purpose */
    ASSERT(out[0] == -4.0f);                               /* (0 - 8) * 0.5 */
    ASSERT(out[8] == 0.0f);                                /* (8 - 8) * 0.5 */
    ASSERT(out[15] == 3.5f);                               /* (15 - 8) * 0.5 */
    ASSERT(out[16] == 3.5f);                               /* high nibble of byte 0: 15 */
    ASSERT(out[31] == -4.0f);                              /* high nibble of byte 15: 0 */
    for (j = 0; j < 16; j++) {
        ASSERT(out[j] == (float)(j - 8) * 0.5f);
        ASSERT(out[j + 16] == (float)(15 - j - 8) * 0.5f);
    }
}

TEST(dequantize_q4_1_known_block)
{
    /* d = 0.25 (0x3400), m = -1 (0xbc00), nibbles: low = j, high = j ^ 5 */
    unsigned char blk[20];
    float out[32];
    int j;
    blk[0] = 0x00;
    blk[1] = 0x34;
    blk[2] = 0x00;
    blk[3] = 0xbc;
    for (j = 0; j < 16; j++)
        blk[4 + j] = (unsigned char)(j | (j ^ 5) << 4);
    hark_dequantize_row(HARK_GGML_Q4_1, blk, out, 32);
    ASSERT(out[0] == -1.0f);
    ASSERT(out[15] == 2.75f);
    ASSERT(out[16] == 0.25f); /* 5 * 0.25 - 1 */
    for (j = 0; j < 16; j++) {
        ASSERT(out[j] == (float)j * 0.25f - 1.0f);
        ASSERT(out[j + 16] == (float)(j ^ 5) * 0.25f - 1.0f);
    }
}

TEST(dequantize_q5_0_known_block)
{
    /* d = 2 (0x4000); qh bit j = high bit of value j: set for odd j and for
     * j = 16; nibbles low = j, high = 15 - j. */
    unsigned char blk[22];
    float out[32];
    uint32_t qh = 0xaaaaaaaau | 1u << 16;
    int j;
    blk[0] = 0x00;
    blk[1] = 0x40;
    for (j = 0; j < 4; j++)
        blk[2 + j] = (unsigned char)(qh >> (8 * j));
    for (j = 0; j < 16; j++)
        blk[6 + j] = (unsigned char)(j | (15 - j) << 4);
    hark_dequantize_row(HARK_GGML_Q5_0, blk, out, 32);
    ASSERT(out[0] == -32.0f);            /* (0 - 16) * 2 */
    ASSERT(out[1] == 2.0f);              /* (1 + 16 - 16) * 2 */
    ASSERT(out[16] == 30.0f);            /* (15 + 16 - 16) * 2 */
    ASSERT(out[17] == 28.0f);            /* (14 + 16 - 16) * 2: bit 17 set */
    ASSERT(out[18] == (13 - 16) * 2.0f); /* bit 18 clear */
    for (j = 0; j < 32; j++) {
        int nib = j < 16 ? j : 15 - (j - 16);
        int hi = (qh >> j) & 1;
        ASSERT(out[j] == (float)((nib | hi << 4) - 16) * 2.0f);
    }
}

TEST(dequantize_q5_1_known_block)
{
    /* d = 0.125 (0x3000), m = 0.5 (0x3800), qh = 0xffff0000: the high half
     * has bit 4 set */
    unsigned char blk[24];
    float out[32];
    uint32_t qh = 0xffff0000u;
    int j;
    blk[0] = 0x00;
    blk[1] = 0x30;
    blk[2] = 0x00;
    blk[3] = 0x38;
    for (j = 0; j < 4; j++)
        blk[4 + j] = (unsigned char)(qh >> (8 * j));
    for (j = 0; j < 16; j++)
        blk[8 + j] = (unsigned char)(j | j << 4);
    hark_dequantize_row(HARK_GGML_Q5_1, blk, out, 32);
    ASSERT(out[0] == 0.5f);
    ASSERT(out[15] == 15 * 0.125f + 0.5f);
    ASSERT(out[16] == 16 * 0.125f + 0.5f);
    ASSERT(out[31] == 31 * 0.125f + 0.5f);
}

TEST(dequantize_q8_0_known_block_and_rows)
{
    /* two blocks: d = 1/16 (0x2c00) then d = -3 (0xc200) */
    unsigned char row[68];
    float out[64];
    int j;
    row[0] = 0x00;
    row[1] = 0x2c;
    row[34] = 0x00;
    row[35] = 0xc2;
    for (j = 0; j < 32; j++) {
        row[2 + j] = (unsigned char)(int8_t)(j * 8 - 128);
        row[36 + j] = (unsigned char)(int8_t)(j - 16);
    }
    hark_dequantize_row(HARK_GGML_Q8_0, row, out, 64);
    ASSERT(out[0] == -8.0f);
    ASSERT(out[31] == (31 * 8 - 128) / 16.0f);
    ASSERT(out[32] == 48.0f);
    for (j = 0; j < 32; j++)
        ASSERT(out[32 + j] == (float)(j - 16) * -3.0f);
}

TEST(dequantize_f16_f32_any_alignment)
{
    unsigned char buf[1 + 8];
    float out[2], v[2] = { 1.5f, -0.1f };
    buf[1] = 0x00;
    buf[2] = 0x3e; /* 1.5 */
    buf[3] = 0x01;
    buf[4] = 0x80; /* -2^-24 */
    hark_dequantize_row(HARK_GGML_F16, buf + 1, out, 2);
    ASSERT(out[0] == 1.5f);
    ASSERT(out[1] == -0x1p-24f);
    memcpy(buf + 1, v, 8);
    hark_dequantize_row(HARK_GGML_F32, buf + 1, out, 2);
    ASSERT(out[0] == 1.5f && out[1] == -0.1f);
}

/* Random matrices of every type: the library's dequantisation equals the
 * exact values of the test's own encoder. */
TEST(dequantize_matches_independent_encoder)
{
    size_t t;
    for (t = 0; t < 7; t++) {
        tmat m;
        int r, c;
        float *row = malloc(96 * sizeof(float));
        tmat_random(&m, kt_all_types[t], 5, 96, 3);
        for (r = 0; r < 5; r++) {
            hark_dequantize_row(m.type, m.bytes + hark_ggml_row_size(m.type, 96) * r, row, 96);
            for (c = 0; c < 96; c++) {
                double want = m.wd[r * 96 + c];
                /* q4_1/q5_1 round code*d + m once in f32, as ggml does */
                ASSERT_MSG(fabs(row[c] - want) <= fabs(want) * 0x1p-24, "%s [%d][%d]: %.9g vs %.9g",
                           hark_ggml_type_name(m.type), r, c, row[c], want);
            }
        }
        free(row);
        tmat_free(&m);
    }
}

TEST(q8_activation_quantisation)
{
    /* block 0: amax = 127 -> d = 1, values round half to even; block 1: all
     * zero -> d = 0, q = 0 */
    float x[64];
    int8_t q[64];
    float dx[2];
    int32_t qs[2];
    int j;
    for (j = 0; j < 32; j++)
        x[j] = (float)j - 0.5f;
    x[31] = -127.0f;
    for (j = 32; j < 64; j++)
        x[j] = 0.0f;
    hark__quantize_q8_ref(x, 2, q, dx, qs);
    ASSERT(dx[0] == 1.0f);
    ASSERT_EQ(q[0], 0); /* -0.5 -> -0 (even) */
    ASSERT_EQ(q[1], 0); /* 0.5 -> 0 */
    ASSERT_EQ(q[2], 2); /* 1.5 -> 2 */
    ASSERT_EQ(q[3], 2); /* 2.5 -> 2 */
    ASSERT_EQ(q[31], -127);
    ASSERT(dx[1] == 0.0f);
    for (j = 32; j < 64; j++)
        ASSERT_EQ(q[j], 0);
    ASSERT_EQ(qs[1], 0);
    {
        int32_t s = 0;
        for (j = 0; j < 32; j++)
            s += q[j];
        ASSERT_EQ(qs[0], s);
    }
}

TEST(wmat_init_rejects_bad_arguments)
{
    hark_wmat w;
    unsigned char bytes[4096] = { 0 };
    ASSERT_ERR(hark_wmat_init(&w, 4, 2, 32, bytes), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "type 4");
    ASSERT_ERR(hark_wmat_init(&w, HARK_GGML_Q4_0, 2, 48, bytes), HARK_EINVAL);
    ASSERT_CONTAINS(hark_error_last(), "multiple of 32");
    ASSERT_ERR(hark_wmat_init(&w, HARK_GGML_F16, 0, 32, bytes), HARK_EINVAL);
    ASSERT_ERR(hark_wmat_init(&w, HARK_GGML_F16, 3, -1, bytes), HARK_EINVAL);
    ASSERT_ERR(hark_wmat_init(&w, HARK_GGML_F16, 3, 3, NULL), HARK_EINVAL);
    hark_wmat_dispose(&w); /* zeroed by the failed init: harmless */
    ASSERT_OK(hark_wmat_init(&w, HARK_GGML_Q8_0, 2, 64, bytes));
    hark_wmat_dispose(&w);
    hark_wmat_dispose(&w);
    hark_wmat_dispose(NULL);
}

TEST(kernels_force_and_name)
{
    const char *best = hark_kernels_name();
    ASSERT(best != NULL);
    ASSERT_EQ(hark_kernels_force("no-such-kernels"), -1);
    ASSERT_STREQ(hark_kernels_name(), best);
    ASSERT_EQ(hark_kernels_force("scalar"), 0);
    ASSERT_STREQ(hark_kernels_name(), "scalar");
    ASSERT_EQ(hark_kernels_force(best), 0);
    ASSERT_STREQ(hark_kernels_name(), best);
}

TEST(f32_to_f16_transposed_any_shape)
{
    static const int shapes[][2] = { { 1, 1 }, { 1, 64 }, { 45, 70 }, { 64, 33 }, { 100, 3 } };
    size_t s;
    for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int rows = shapes[s][0], cols = shapes[s][1], lds = cols + 3, ldd = rows + 5, r, c;
        float *src = rand_floats((size_t)rows * lds, s);
        uint16_t *dst = malloc((size_t)cols * ldd * sizeof(uint16_t));
        for (r = 0; r < cols * ldd; r++)
            dst[r] = 0x1234;
        hark_f32_to_f16_transposed(src, rows, cols, lds, dst, ldd);
        for (c = 0; c < cols; c++)
            for (r = 0; r < ldd; r++)
                ASSERT_EQ(dst[c * ldd + r], r < rows ? hark_f32_to_f16(src[r * lds + c]) : 0x1234);
        free(src);
        free(dst);
    }
}
