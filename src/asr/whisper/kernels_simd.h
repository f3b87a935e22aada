/*
 * kernels_simd.h: the f32/f16 kernels written once for any SIMD width. Not
 * a normal header: kernels_avx2.c and kernels_avx512.c each define the
 * vector macros below and include it, compiling it for their instruction
 * set.
 *
 * Required macros: VLEN (floats per vector), vf (the vector type), VZERO(),
 * VLOAD(p), VLOADH(p) (VLEN halves -> floats), VBCAST(p), VFMA(a, b, c) =
 * a*b+c fused, VADD, VMUL, VSET1(x), VLOAD_N(p, n) / VSTORE_N(p, v, n) (first
 * n lanes, 0 < n < VLEN), VSTORE(p, v), MR_MAX (rows of the large-m tile),
 * KPREFIX(name) (prefixes file-local names), MK_CASES_SMALL / _8_WIDE /
 * _PACKED (extra micro-kernel instantiations), and the functions
 * cvt_f16_to_f32_row, transpose_block (VLEN x VLEN, f32 or f16 source) and
 * small_strategy (tile shape for m <= BIG_M rows).
 *
 * DESIGN (BLIS-style). Weights are repacked at init into panels of NR =
 * 2*VLEN output columns: panel p holds rows [p*NR, p*NR + NR) of W as
 * [k][NR], zero-padded past the last row, so the inner loop loads a whole
 * vector of consecutive outputs' weights for one k. The micro-kernel keeps an
 * MR x NV tile of outputs in registers (NV vectors of VLEN columns) and for
 * each k broadcasts one input value per row and does MR*NV fmas: every output
 * is a single fma chain over k in order, the arithmetic contract of
 * kernels_impl.h. Tile shapes only change which outputs are computed
 * together, never how, so any shape, thread split or batch size gives the
 * same bits.
 *
 * Blocking: k is cut into KC-long blocks (the panel slice, KC*NR values,
 * stays in L1 while all row tiles of an m block use it; the m block's KC
 * columns of X stay in L2 while all panels use them). Partial sums wait in Y
 * between k blocks; reloading an f32 and continuing the chain is exact.
 * Large m (encoder): 12x2 (AVX-512) or 6x2 (AVX2) tiles, tasks over m blocks.
 * Small m (decoder, 1..10 rows): tiles span 2-4 panels so that enough fma
 * chains are in flight, tasks over panel ranges, no k blocking: each weight
 * is streamed from memory once per call for all m rows.
 *
 * gemm: B is read in place when it is k-major (b_trans = 0: row k holds the
 * n values) and a panel is whole; otherwise (b_trans = 1, or the last
 * partial panel) a slice of panels is packed to f32 on the stack.
 *
 * Large m with f16 weights: each KC x NR panel slice is widened to f32 once
 * per packed A block (8 row tiles) instead of in every tile's inner loop.
 *
 * Stack use per task: matmul 136 KB (a packed A block of MB x AST floats and
 * a widened panel slice), gemm 168 KB (the A block and a B packing buffer of
 * PACK_FLOATS floats), quantised matmul 44 KB.
 */

#ifndef KERNELS_FALLBACK_ONLY
#define KERNELS_FALLBACK_ONLY 0 /* 1: route every tile through mk_rows (testing) */
#endif
#define NR          (2 * VLEN)    /* columns per panel */
#define KC_BIG      256           /* k block for large m (f16 weights; f32: half) */
#define MB          96            /* rows per packed A block for large m */
#define MBT         192           /* rows per task for large m (a multiple of MB) */
#define AST         (KC_BIG + 16) /* packed A row stride (floats): a constant, padded off 4 KB */
#define PACK_FLOATS 16384         /* gemm B packing buffer (floats) */
#define BIG_M       16            /* m above which the large-m strategy is used */
#define PF_DIST     4096          /* prefetch distance (bytes) for streamed weights */

/* What to do with a finished tile. */
typedef struct KPREFIX(epi) {
    int first;         /* first k block: start from 0, else from C */
    int last;          /* last k block: apply bias / alpha */
    const float *bias; /* matmul: bias for the tile's first column, or NULL */
    float alpha;       /* gemm: scale (used when bias is NULL and is_gemm) */
    int is_gemm;
} KPREFIX(epi);

/*
 * The micro-kernel: C[mr][nv*VLEN] (+)= A[mr][kc] * B[kc][nv*VLEN].
 * A: row r at a + r*lda, or at a + r*AST when apack (a packed block: the
 * constant stride turns every broadcast into one load with an immediate
 * offset). B: f32 or (f16 != 0) f16 values; value (k, v*VLEN + l) at
 * b + (v/2)*bp + k*bk + (v%2)*VLEN + l. Only the first `ncols` columns of C
 * are loaded or stored (the panels are zero-padded).
 */
static inline __attribute__((always_inline)) void
KPREFIX(mk)(const int mr, const int nv, const int f16, const int apack, int kc, const float *a,
            size_t lda, const void *b, size_t bk, size_t bp, float *c, size_t ldc, int ncols,
            const KPREFIX(epi) * e)
{
    vf acc[MR_MAX][8];
    int r, v, k;

    if (apack)
        lda = AST;
#pragma GCC unroll 16
    for (r = 0; r < mr; r++) {
#pragma GCC unroll 8
        for (v = 0; v < nv; v++) {
            int n = ncols - v * VLEN;
            if (e->first || n <= 0)
                acc[r][v] = VZERO();
            else if (n >= VLEN)
                acc[r][v] = VLOAD(c + r * ldc + v * VLEN);
            else
                acc[r][v] = VLOAD_N(c + r * ldc + v * VLEN, n);
        }
    }
    for (k = 0; k < kc; k++) {
        vf bv[8];
        if (!apack) {
            /* few rows (decoder): B streams from memory, one line per panel
             * per k (or per 2 k); fetch PF_DIST bytes ahead of each stream */
            const size_t kb = NR * (f16 ? 2 : 4); /* bytes of one k in a panel */
            if (kb >= 64 || (k & 1) == 0) {
#pragma GCC unroll 8
                for (v = 0; v < nv; v += 2) {
                    const char *pp =
                        (const char *)b + ((size_t)(v / 2) * bp + (size_t)k * bk) * (f16 ? 2 : 4);
                    _mm_prefetch(pp + PF_DIST, _MM_HINT_T0);
                    if (kb >= 128)
                        _mm_prefetch(pp + PF_DIST + 64, _MM_HINT_T0);
                }
            }
        }
#pragma GCC unroll 8
        for (v = 0; v < nv; v++) {
            size_t off = (size_t)(v / 2) * bp + (size_t)k * bk + (size_t)(v % 2) * VLEN;
            if (f16)
                bv[v] = VLOADH((const uint16_t *)b + off);
            else
                bv[v] = VLOAD((const float *)b + off);
        }
#pragma GCC unroll 16
        for (r = 0; r < mr; r++) {
            vf av = VBCAST(a + r * lda + k);
#pragma GCC unroll 8
            for (v = 0; v < nv; v++)
                acc[r][v] = VFMA(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (r = 0; r < mr; r++) {
#pragma GCC unroll 8
        for (v = 0; v < nv; v++) {
            int n = ncols - v * VLEN;
            vf t = acc[r][v];
            if (n <= 0)
                continue;
            if (e->last) {
                if (e->bias)
                    t = VADD(t, n >= VLEN ? VLOAD(e->bias + v * VLEN)
                                          : VLOAD_N(e->bias + v * VLEN, n));
                else if (e->is_gemm)
                    t = VMUL(VSET1(e->alpha), t);
            }
            if (n >= VLEN)
                VSTORE(c + r * ldc + v * VLEN, t);
            else
                VSTORE_N(c + r * ldc + v * VLEN, t, n);
        }
    }
}

/*
 * Instantiate the micro-kernel for the shapes the drivers use: with a packed
 * A, MR_MAX x 2 vectors and its row tails; without (few rows), the shapes of
 * small_strategy: up to 6 rows x 2 vectors, 2 x 4 and 1 x 8, plus the ISA's
 * MK_CASES_SMALL / MK_CASES_8_WIDE.
 */
#define MK_CALL(MR, NV, F16, AP)                                                                   \
    KPREFIX(mk)(MR, NV, F16, AP, kc, a, lda, b, bk, bp, c, ldc, ncols, e);                         \
    return

#define MK_SMALL(F16)                                                                              \
    if (!KERNELS_FALLBACK_ONLY)                                                                    \
        switch (nv * 32 + mr) {                                                                    \
        case 2 * 32 + 1:                                                                           \
            MK_CALL(1, 2, F16, 0);                                                                 \
        case 2 * 32 + 2:                                                                           \
            MK_CALL(2, 2, F16, 0);                                                                 \
        case 2 * 32 + 3:                                                                           \
            MK_CALL(3, 2, F16, 0);                                                                 \
        case 2 * 32 + 4:                                                                           \
            MK_CALL(4, 2, F16, 0);                                                                 \
        case 2 * 32 + 5:                                                                           \
            MK_CALL(5, 2, F16, 0);                                                                 \
        case 2 * 32 + 6:                                                                           \
            MK_CALL(6, 2, F16, 0);                                                                 \
        case 4 * 32 + 1:                                                                           \
            MK_CALL(1, 4, F16, 0);                                                                 \
        case 4 * 32 + 2:                                                                           \
            MK_CALL(2, 4, F16, 0);                                                                 \
            MK_CASES_SMALL(F16)                                                                    \
        case 8 * 32 + 1:                                                                           \
            MK_CALL(1, 8, F16, 0);                                                                 \
            MK_CASES_8_WIDE(F16)                                                                   \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    KPREFIX(mk_rows)(mr, nv, F16, 0, kc, a, lda, b, bk, bp, c, ldc, ncols, e);

#define MK_PACKED(F16)                                                                             \
    if (!KERNELS_FALLBACK_ONLY)                                                                    \
        switch (mr) {                                                                              \
        case 1:                                                                                    \
            MK_CALL(1, 2, F16, 1);                                                                 \
        case 2:                                                                                    \
            MK_CALL(2, 2, F16, 1);                                                                 \
        case 3:                                                                                    \
            MK_CALL(3, 2, F16, 1);                                                                 \
        case 4:                                                                                    \
            MK_CALL(4, 2, F16, 1);                                                                 \
        case 5:                                                                                    \
            MK_CALL(5, 2, F16, 1);                                                                 \
        case 6:                                                                                    \
            MK_CALL(6, 2, F16, 1);                                                                 \
            MK_CASES_PACKED(F16)                                                                   \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    KPREFIX(mk_rows)(mr, nv, F16, 1, kc, a, lda, b, bk, bp, c, ldc, ncols, e);

/* Any other shape (none is planned): one row and one panel at a time. Same
 * arithmetic per output, so the same bits. */
static void KPREFIX(mk_rows)(int mr, int nv, int f16, int apack, int kc, const float *a, size_t lda,
                             const void *b, size_t bk, size_t bp, float *c, size_t ldc, int ncols,
                             const KPREFIX(epi) * e)
{
    size_t ars = apack ? AST : lda, esz = f16 ? 2 : 4;
    int r, v;
    for (r = 0; r < mr; r++)
        for (v = 0; v < nv && v * VLEN < ncols; v += 2) {
            KPREFIX(epi) ev = *e;
            const char *bv = (const char *)b + (size_t)(v / 2) * bp * esz;
            if (ev.bias)
                ev.bias += v * VLEN;
            if (f16)
                KPREFIX(mk)
            (1, 2, 1, apack, kc, a + r * ars, lda, bv, bk, bp, c + r * ldc + v * VLEN, ldc,
             ncols - v * VLEN, &ev);
            else KPREFIX(mk)(1, 2, 0, apack, kc, a + r * ars, lda, bv, bk, bp,
                             c + r * ldc + v * VLEN, ldc, ncols - v * VLEN, &ev);
        }
}

static void KPREFIX(mk_any)(int mr, int nv, int f16, int apack, int kc, const float *a, size_t lda,
                            const void *b, size_t bk, size_t bp, float *c, size_t ldc, int ncols,
                            const KPREFIX(epi) * e)
{
    if (apack) {
        if (f16) {
            MK_PACKED(1)
        } else {
            MK_PACKED(0)
        }
    } else {
        if (f16) {
            MK_SMALL(1)
        } else {
            MK_SMALL(0)
        }
    }
}

/* Tile strategy for m rows: rows per tile and panels per tile. */
static void KPREFIX(strategy)(int m, int *mr, int *np)
{
    if (m > BIG_M) {
        *mr = MR_MAX;
        *np = 1;
    } else {
        small_strategy(m, mr, np);
    }
}

/* Where a tile's B comes from: panel p at base + (p - p0) * bp, k stride bk. */
typedef struct KPREFIX(bsrc) {
    const void *base; /* panel p0 at this k block */
    int f16;
    size_t bk, bp; /* k stride, panel stride (elements) */
    float *conv;   /* KC_BIG x NR floats of scratch to widen f16 slices, or NULL */
} KPREFIX(bsrc);

/*
 * Tiles for rows [i0, i1) of C over panels [p0, p1), one k block of kc.
 * a: row i0 of A at this k block; packed (apack: rows AST apart, i0 first)
 * or with leading dimension lda.
 */
static void KPREFIX(run_tiles)(int i0, int i1, int p0, int p1, int mr, int np, int kc,
                               const float *a, size_t lda, int apack, const KPREFIX(bsrc) * bs,
                               float *c, size_t ldc, int n, const float *bias, KPREFIX(epi) e)
{
    size_t ars = apack ? AST : lda;
    int p, i;
    for (p = p0; p < p1;) {
        int npp = HARK_MIN(np, p1 - p);
        int nv, ncols;
        const char *bb;
        if (npp == 3)
            npp = 2;
        nv = 2 * npp;
        ncols = HARK_MIN(nv * VLEN, n - p * NR);
        bb = (const char *)bs->base +
             (size_t)(p - p0) * bs->bp * (bs->f16 ? sizeof(uint16_t) : sizeof(float));
        e.bias = bias ? bias + (size_t)p * NR : NULL;
        if (apack && bs->f16 && bs->conv && nv == 2 && kc <= KC_BIG) {
            /* large m: widen the f16 panel slice once for all row tiles */
            float *bconv = bs->conv;
            int kk;
            for (kk = 0; kk < kc; kk++) {
                const uint16_t *h = (const uint16_t *)(const void *)bb + (size_t)kk * bs->bk;
                VSTORE(bconv + kk * NR, VLOADH(h));
                VSTORE(bconv + kk * NR + VLEN, VLOADH(h + VLEN));
            }
            for (i = i0; i < i1; i += mr) {
                int m = HARK_MIN(mr, i1 - i);
                KPREFIX(mk_any)
                (m, nv, 0, apack, kc, a + (size_t)(i - i0) * ars, lda, bconv, NR, 0,
                 c + (size_t)i * ldc + (size_t)p * NR, ldc, ncols, &e);
            }
            p += npp;
            continue;
        }
        for (i = i0; i < i1; i += mr) {
            int m = HARK_MIN(mr, i1 - i);
            KPREFIX(mk_any)
            (m, nv, bs->f16, apack, kc, a + (size_t)(i - i0) * ars, lda, bb, bs->bk, bs->bp,
             c + (size_t)i * ldc + (size_t)p * NR, ldc, ncols, &e);
        }
        p += npp;
    }
}

/* Copy rows [0, rows) x [0, kc) of A (leading dimension lda) to buf, rows AST apart. */
static void KPREFIX(pack_a)(const float *a, size_t lda, int rows, int kc, float *buf)
{
    int r;
    for (r = 0; r < rows; r++)
        memcpy(buf + (size_t)r * AST, a + (size_t)r * lda, (size_t)kc * sizeof(float));
}

/*
 * Rows [i0, i1) of C over panels [p0, p1) for one k block: large m goes
 * through packed A blocks of MB rows, few rows read A in place.
 */
static void KPREFIX(run_block)(int i0, int i1, int p0, int p1, int mr, int np, int kc,
                               const float *a, size_t lda, const KPREFIX(bsrc) * bs, float *c,
                               size_t ldc, int n, const float *bias, const KPREFIX(epi) * e)
{
    float abuf[MB * AST] __attribute__((aligned(64)));
    int ib;
    if (mr < MR_MAX || kc > KC_BIG) {
        KPREFIX(run_tiles)
        (i0, i1, p0, p1, mr, np, kc, a + (size_t)i0 * lda, lda, 0, bs, c, ldc, n, bias, *e);
        return;
    }
    for (ib = i0; ib < i1; ib += MB) {
        int ie = HARK_MIN(i1, ib + MB);
        KPREFIX(pack_a)(a + (size_t)ib * lda, lda, ie - ib, kc, abuf);
        KPREFIX(run_tiles)(ib, ie, p0, p1, mr, np, kc, abuf, AST, 1, bs, c, ldc, n, bias, *e);
    }
}

/* ---- matmul on packed f32 / f16 weights ------------------------------------------------------ */

typedef struct KPREFIX(mm_job) {
    const hark_wmat *w;
    const float *x;
    int m, ldx;
    const float *bias;
    float *y;
    int ldy;
    int mr, np;    /* tile strategy */
    int mblk, nmb; /* rows per m block, number of m blocks */
    int nnc;       /* panel ranges per m block */
    int n_panels;
    int kc; /* k block */
} KPREFIX(mm_job);

static void KPREFIX(mm_task)(void *payload, int task, int worker)
{
    const KPREFIX(mm_job) *j = payload;
    const hark_wmat *w = j->w;
    int mb = task / j->nnc, nc = task % j->nnc;
    int i0 = mb * j->mblk, i1 = HARK_MIN(j->m, i0 + j->mblk);
    int p0, p1, k0;
    int f16 = w->type == HARK_GGML_F16;
    size_t esz = f16 ? sizeof(uint16_t) : sizeof(float);
    size_t pstride = (size_t)w->cols * NR; /* elements per panel */
    float bconv[KC_BIG * NR] __attribute__((aligned(64)));
    HARK_UNUSED(worker);

    hark__split(j->n_panels, j->nnc, nc, &p0, &p1);
    for (k0 = 0; k0 < w->cols; k0 += j->kc) {
        int kc = HARK_MIN(j->kc, w->cols - k0);
        KPREFIX(epi) e = { k0 == 0, k0 + kc == w->cols, NULL, 1.0f, 0 };
        KPREFIX(bsrc) bs;
        bs.base = (const char *)w->packed + ((size_t)p0 * pstride + (size_t)k0 * NR) * esz;
        bs.f16 = f16;
        bs.bk = NR;
        bs.bp = pstride;
        bs.conv = f16 ? bconv : NULL;
        KPREFIX(run_block)
        (i0, i1, p0, p1, j->mr, j->np, kc, j->x + k0, (size_t)j->ldx, &bs, j->y, (size_t)j->ldy,
         w->rows, j->bias, &e);
    }
}

/* Split m rows x n_panels into tasks for `threads` threads. */
static void KPREFIX(plan)(int m, int n_panels, int np, int threads, int *mblk, int *nmb, int *nnc)
{
    int want = threads > 1 ? 4 * threads : 1;
    if (m > BIG_M) {
        *mblk = MBT;
        *nmb = (m + MBT - 1) / MBT;
        *nnc = *nmb < want ? HARK_MIN(n_panels, (want + *nmb - 1) / *nmb) : 1;
    } else {
        /* few rows: split the panels, but keep whole tiles (np panels) per
         * task, and a multiple of the thread count when tasks are few */
        int tiles = HARK_MAX(1, n_panels / np);
        *nmb = 1;
        *mblk = m;
        *nnc = HARK_MIN(want, tiles);
        if (*nnc > threads)
            *nnc -= *nnc % threads;
    }
}

static void KPREFIX(matmul)(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                            const float *bias, float *y, int ldy)
{
    KPREFIX(mm_job) j;
    j.w = w;
    j.x = x;
    j.m = m;
    j.ldx = ldx;
    j.bias = bias;
    j.y = y;
    j.ldy = ldy;
    j.n_panels = (w->rows + NR - 1) / NR;
    KPREFIX(strategy)(m, &j.mr, &j.np);
    KPREFIX(plan)(m, j.n_panels, j.np, hark_pool_threads(pool), &j.mblk, &j.nmb, &j.nnc);
    if (m <= BIG_M)
        j.kc = w->cols;
    else
        j.kc = w->type == HARK_GGML_F16 ? KC_BIG : KC_BIG / 2;
    hark_pool_run(pool, j.nmb * j.nnc, KPREFIX(mm_task), &j);
}

/* Bytes of the packed copy (both kinds of packing). */
static size_t KPREFIX(qblk_bytes)(int type);
static size_t KPREFIX(packed_bytes)(int type, int rows, int cols)
{
    if (type == HARK_GGML_F32 || type == HARK_GGML_F16)
        return (size_t)((rows + NR - 1) / NR) * cols * NR * (type == HARK_GGML_F16 ? 2 : 4);
    return (size_t)((rows + VLEN - 1) / VLEN) * (cols / HARK_QK) * KPREFIX(qblk_bytes)(type);
}

/* Repack f32/f16 weights into panels (see DESIGN): out[k][l] = row (p*NR + l), column k. */
static int KPREFIX(pack_float)(hark_wmat *w)
{
    int f16 = w->type == HARK_GGML_F16;
    size_t esz = f16 ? 2 : 4;
    int n_panels = (w->rows + NR - 1) / NR, p, k, l;
    size_t bytes = KPREFIX(packed_bytes)(w->type, w->rows, w->cols);
    const unsigned char *src = w->src;
    unsigned char *dst;

    dst = hark__calloc(1, bytes);
    if (!dst)
        return hark_error_set(HARK_ENOMEM, "out of memory packing a %d x %d %s matrix", w->rows,
                              w->cols, hark_ggml_type_name(w->type));
    for (p = 0; p < n_panels; p++) {
        int nl = HARK_MIN(NR, w->rows - p * NR);
        const unsigned char *rows = src + (size_t)p * NR * w->cols * esz;
        size_t rb = (size_t)w->cols * esz; /* bytes per source row */
        if (f16) {
            uint16_t *out = (uint16_t *)(void *)(dst + (size_t)p * w->cols * NR * 2);
            for (k = 0; k < w->cols; k++)
                for (l = 0; l < nl; l++)
                    memcpy(&out[(size_t)k * NR + l], rows + l * rb + (size_t)k * 2, 2);
        } else {
            float *out = (float *)(void *)(dst + (size_t)p * w->cols * NR * 4);
            for (k = 0; k < w->cols; k++)
                for (l = 0; l < nl; l++)
                    memcpy(&out[(size_t)k * NR + l], rows + l * rb + (size_t)k * 4, 4);
        }
    }
    w->packed = dst;
    return 0;
}

/* ---- gemm ---------------------------------------------------------------------------------- */

typedef struct KPREFIX(gemm_job) {
    int m, n, k;
    float alpha;
    const float *a;
    int lda;
    const void *b; /* f32 or f16 */
    int f16;
    int ldb, b_trans;
    float *c;
    int ldc;
    int mr, np, mblk, nmb, nnc, n_panels, kc;
} KPREFIX(gemm_job);

/* Pack panels [p0, p1) of B, k rows [k0, k0 + kc), as f32 [panel][kc][NR]. */
static void KPREFIX(pack_b)(const KPREFIX(gemm_job) * g, int p0, int p1, int k0, int kc, float *buf)
{
    int p, kk, l;
    for (p = p0; p < p1; p++) {
        float *out = buf + (size_t)(p - p0) * kc * NR;
        int ncol = HARK_MIN(NR, g->n - p * NR);
        if (!g->b_trans) {
            for (kk = 0; kk < kc; kk++) {
                size_t at = (size_t)(k0 + kk) * g->ldb + (size_t)p * NR;
                float *o = out + (size_t)kk * NR;
                if (g->f16)
                    cvt_f16_to_f32_row((const uint16_t *)g->b + at, o, ncol);
                else
                    memcpy(o, (const float *)g->b + at, (size_t)ncol * sizeof(float));
                for (l = ncol; l < NR; l++)
                    o[l] = 0.0f;
            }
            continue;
        }
        /* B[j][k] -> out[k][j]: VLEN x VLEN blocks transposed in registers */
        for (l = 0; l < NR; l += VLEN) {
            int kt = 0, li;
            size_t at = (size_t)(p * NR + l) * g->ldb + (size_t)k0;
            if (l + VLEN <= ncol)
                for (; kt + VLEN <= kc; kt += VLEN)
                    transpose_block((const char *)g->b + (at + (size_t)kt) * (g->f16 ? 2 : 4),
                                    (size_t)g->ldb, g->f16, out + (size_t)kt * NR + l, NR);
            for (li = l; li < l + VLEN; li++) {
                size_t rat = (size_t)(p * NR + li) * g->ldb + (size_t)k0;
                for (kk = kt; kk < kc; kk++) {
                    float v = 0.0f;
                    if (li < ncol)
                        v = g->f16 ? hark_f16_to_f32(((const uint16_t *)g->b)[rat + kk])
                                   : ((const float *)g->b)[rat + kk];
                    out[(size_t)kk * NR + li] = v;
                }
            }
        }
    }
}

static void KPREFIX(gemm_task)(void *payload, int task, int worker)
{
    const KPREFIX(gemm_job) *g = payload;
    int mb = task / g->nnc, nc = task % g->nnc;
    int i0 = mb * g->mblk, i1 = HARK_MIN(g->m, i0 + g->mblk);
    int p0, p1, k0, q0, q1;
    float buf[PACK_FLOATS] __attribute__((aligned(64)));
    HARK_UNUSED(worker);

    hark__split(g->n_panels, g->nnc, nc, &p0, &p1);
    if (g->k == 0) {
        /* empty sum: C = alpha * 0 */
        KPREFIX(epi) e = { 1, 1, NULL, g->alpha, 1 };
        KPREFIX(bsrc) bs = { buf, 0, NR, 0, NULL };
        KPREFIX(run_tiles)
        (i0, i1, p0, p1, HARK_MIN(g->mr, 6), 1, 0, g->a, (size_t)g->lda, 0, &bs, g->c,
         (size_t)g->ldc, g->n, NULL, e);
        return;
    }
    for (k0 = 0; k0 < g->k; k0 += g->kc) {
        int kc = HARK_MIN(g->kc, g->k - k0);
        KPREFIX(epi) e = { k0 == 0, k0 + kc == g->k, NULL, g->alpha, 1 };
        /* whole panels of a k-major B are read in place */
        int direct_end = g->b_trans ? p0 : HARK_MIN(p1, g->n / NR);
        if (direct_end > p0) {
            KPREFIX(bsrc) bs;
            size_t esz = g->f16 ? sizeof(uint16_t) : sizeof(float);
            bs.base = (const char *)g->b + ((size_t)k0 * g->ldb + (size_t)p0 * NR) * esz;
            bs.f16 = g->f16;
            bs.bk = (size_t)g->ldb;
            bs.bp = NR;
            bs.conv = NULL;
            KPREFIX(run_block)
            (i0, i1, p0, direct_end, g->mr, g->np, kc, g->a + k0, (size_t)g->lda, &bs, g->c,
             (size_t)g->ldc, g->n, NULL, &e);
        }
        /* the rest through the packing buffer, as many panels at a time as fit */
        for (q0 = HARK_MAX(p0, direct_end); q0 < p1; q0 = q1) {
            KPREFIX(bsrc) bs;
            q1 = HARK_MIN(p1, q0 + HARK_MAX(1, PACK_FLOATS / (kc * NR)));
            KPREFIX(pack_b)(g, q0, q1, k0, kc, buf);
            bs.base = buf;
            bs.f16 = 0;
            bs.bk = NR;
            bs.bp = (size_t)kc * NR;
            bs.conv = NULL;
            KPREFIX(run_block)
            (i0, i1, q0, q1, g->mr, g->np, kc, g->a + k0, (size_t)g->lda, &bs, g->c, (size_t)g->ldc,
             g->n, NULL, &e);
        }
    }
}

static void KPREFIX(gemm)(hark_pool *pool, KPREFIX(gemm_job) * g)
{
    int threads = hark_pool_threads(pool);
    g->n_panels = (g->n + NR - 1) / NR;
    KPREFIX(strategy)(g->m, &g->mr, &g->np);
    /* k block: the packing buffer holds at least one panel slice; packed A
     * blocks hold KC_BIG columns */
    g->kc = HARK_MIN(g->k, PACK_FLOATS / NR);
    if (g->m > BIG_M && g->kc > KC_BIG)
        g->kc = KC_BIG;
    if (g->b_trans && g->m > BIG_M) {
        /* packing B is the expensive part: pack each panel once, for all rows */
        g->nmb = 1;
        g->mblk = g->m;
        g->nnc = HARK_MIN(g->n_panels, threads > 1 ? 4 * threads : 1);
    } else {
        KPREFIX(plan)(g->m, g->n_panels, g->np, threads, &g->mblk, &g->nmb, &g->nnc);
    }
    hark_pool_run(pool, g->nmb * g->nnc, KPREFIX(gemm_task), g);
}

static void KPREFIX(gemm_f32)(hark_pool *pool, int m, int n, int k, float alpha, const float *a,
                              int lda, const float *b, int ldb, int b_trans, float *c, int ldc)
{
    KPREFIX(gemm_job) g;
    memset(&g, 0, sizeof(g));
    g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.a = a, g.lda = lda, g.b = b, g.f16 = 0;
    g.ldb = ldb, g.b_trans = b_trans, g.c = c, g.ldc = ldc;
    KPREFIX(gemm)(pool, &g);
}

static void KPREFIX(gemm_f16b)(hark_pool *pool, int m, int n, int k, float alpha, const float *a,
                               int lda, const uint16_t *b, int ldb, int b_trans, float *c, int ldc)
{
    KPREFIX(gemm_job) g;
    memset(&g, 0, sizeof(g));
    g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.a = a, g.lda = lda, g.b = b, g.f16 = 1;
    g.ldb = ldb, g.b_trans = b_trans, g.c = c, g.ldc = ldc;
    KPREFIX(gemm)(pool, &g);
}

/* ---- quantised weights ------------------------------------------------------------------------
 */

/*
 * DESIGN. Quantised weights are repacked at init into panels of VLEN output
 * rows; per 32-block a panel holds the 32 x VLEN integer codes as unsigned
 * bytes (code + QOFF(type), so that the unsigned x signed byte products of
 * vpdpbusd / vpmaddubsw apply), interleaved so that one vector load gives,
 * for each of the VLEN rows, 4 consecutive k: [g = k/4][row][k%4]. Then the
 * VLEN scales d and (q4_1/q5_1) minimums m, as f32. Bytes per 32 x VLEN
 * block: 36 VLEN (40 VLEN with minimums), i.e. 1.125 (1.25) bytes per weight.
 *
 * The activations are quantised per 32-block to int8 as in the contract
 * (kernels_impl.h) and the micro-kernel broadcasts 4 of them at a time
 * against the interleaved codes: per block and output, isum = Σ code*q -
 * QOFF*Σq exactly in int32, then acc = fma((float)isum, d*dx, acc) (+
 * fma(m, dx*Σq, acc)), the reference's operations in the reference's order.
 * With QS8 (AVX2 without VNNI), q8_0 codes are kept signed and multiplied
 * with the sign trick (|w| * sign(q, w)) since code + 128 could saturate
 * vpmaddubsw.
 */

#define QKCB_BIG   8  /* 32-blocks per k block for large m */
#define QKCB_SMALL 64 /* 32-blocks per k block for few rows */
#define QMB        48 /* rows quantised at a time (>= BIG_M) */
#define QBUF_BLKS                                                                                  \
    1024 /* row-blocks of the activation buffer (>= QMB*QKCB_BIG, BIG_M*QKCB_SMALL)                \
          */

static int KPREFIX(qoff)(int type)
{
    switch (type) {
    case HARK_GGML_Q4_0:
        return 8;
    case HARK_GGML_Q5_0:
        return 16;
    case HARK_GGML_Q8_0:
        return QS8 ? 0 : 128;
    default:
        return 0;
    }
}

static size_t KPREFIX(qblk_bytes)(int type)
{
    return (size_t)VLEN * (32 + 4) + (hark__type_has_min(type) ? (size_t)VLEN * 4 : 0);
}

static int KPREFIX(pack_quant)(hark_wmat *w)
{
    int nb = w->cols / HARK_QK, n_panels = (w->rows + VLEN - 1) / VLEN;
    int off = KPREFIX(qoff)(w->type), p, b, l, j;
    size_t qb = KPREFIX(qblk_bytes)(w->type), sbb = hark__ggml_block_bytes(w->type);
    size_t row_bytes = hark_ggml_row_size(w->type, w->cols);
    const unsigned char *src = w->src;
    unsigned char *dst = hark__calloc((size_t)n_panels * nb, qb);

    if (!dst)
        return hark_error_set(HARK_ENOMEM, "out of memory packing a %d x %d %s matrix", w->rows,
                              w->cols, hark_ggml_type_name(w->type));
    for (p = 0; p < n_panels; p++)
        for (b = 0; b < nb; b++) {
            unsigned char *o = dst + ((size_t)p * nb + b) * qb;
            for (l = 0; l < VLEN && p * VLEN + l < w->rows; l++) {
                int8_t wq[HARK_QK];
                float d, m;
                hark__qblock_decode(w->type, src + (size_t)(p * VLEN + l) * row_bytes + b * sbb, wq,
                                    &d, &m);
                for (j = 0; j < HARK_QK; j++)
                    o[(j / 4) * VLEN * 4 + l * 4 + j % 4] = (unsigned char)(wq[j] + off);
                memcpy(o + VLEN * 32 + l * 4, &d, 4);
                if (hark__type_has_min(w->type))
                    memcpy(o + VLEN * 36 + l * 4, &m, 4);
            }
        }
    w->packed = dst;
    return 0;
}

/* Quantised activations: row r, block b (of the current k block) at
 * q + r*qst + 32*b; its scale, correction (QOFF*Σq) and dx*Σq at [r*sst + b]. */
typedef struct KPREFIX(qact) {
    const int8_t *q;
    const float *dx;
    const int32_t *corr;
    const float *sx;
    size_t qst, sst;
} KPREFIX(qact);

static inline __attribute__((always_inline)) void
KPREFIX(qmk)(const int mr, const int nv, const int has_min, const int s8w, int nb,
             const KPREFIX(qact) * qa, const unsigned char *w, size_t wpanel, size_t wblk, float *c,
             size_t ldc, int ncols, const KPREFIX(epi) * e)
{
    vf acc[QMR_MAX][4];
    int r, v, b, g;

#pragma GCC unroll 8
    for (r = 0; r < mr; r++) {
#pragma GCC unroll 4
        for (v = 0; v < nv; v++) {
            int n = ncols - v * VLEN;
            if (e->first || n <= 0)
                acc[r][v] = VZERO();
            else if (n >= VLEN)
                acc[r][v] = VLOAD(c + r * ldc + v * VLEN);
            else
                acc[r][v] = VLOAD_N(c + r * ldc + v * VLEN, n);
        }
    }
    for (b = 0; b < nb; b++) {
        vi is[QMR_MAX][4];
        const unsigned char *wb = w + (size_t)b * wblk;
        if (mr <= 3) {
            /* few rows (decoder): the weights stream from memory */
#pragma GCC unroll 4
            for (v = 0; v < nv; v++)
                for (g = 0; g < (int)wblk; g += 64)
                    _mm_prefetch((const char *)wb + (size_t)v * wpanel + g + PF_DIST, _MM_HINT_T0);
        }
#pragma GCC unroll 8
        for (r = 0; r < mr; r++) {
            vi c0 = VI_SET1(-qa->corr[r * qa->sst + b]);
#pragma GCC unroll 4
            for (v = 0; v < nv; v++)
                is[r][v] = c0;
        }
#pragma GCC unroll 8
        for (g = 0; g < 8; g++) {
            vi wv[4];
#pragma GCC unroll 4
            for (v = 0; v < nv; v++)
                wv[v] = VI_LOADU(wb + (size_t)v * wpanel + (size_t)g * VLEN * 4);
#pragma GCC unroll 8
            for (r = 0; r < mr; r++) {
                int32_t a4;
                vi av;
                memcpy(&a4, qa->q + r * qa->qst + 32 * b + 4 * g, 4);
                av = VI_SET1(a4);
#pragma GCC unroll 4
                for (v = 0; v < nv; v++)
                    is[r][v] = s8w ? QDOT_S8(is[r][v], wv[v], av) : QDOT(is[r][v], wv[v], av);
            }
        }
#pragma GCC unroll 8
        for (r = 0; r < mr; r++) {
            vf dxr = VSET1(qa->dx[r * qa->sst + b]);
#pragma GCC unroll 4
            for (v = 0; v < nv; v++) {
                vf dv = VLOAD((const float *)(const void *)(wb + (size_t)v * wpanel + VLEN * 32));
                acc[r][v] = VFMA(VI_CVT(is[r][v]), VMUL(dv, dxr), acc[r][v]);
            }
            if (has_min) {
                vf sxr = VSET1(qa->sx[r * qa->sst + b]);
#pragma GCC unroll 4
                for (v = 0; v < nv; v++) {
                    vf mv =
                        VLOAD((const float *)(const void *)(wb + (size_t)v * wpanel + VLEN * 36));
                    acc[r][v] = VFMA(mv, sxr, acc[r][v]);
                }
            }
        }
    }
#pragma GCC unroll 8
    for (r = 0; r < mr; r++) {
#pragma GCC unroll 4
        for (v = 0; v < nv; v++) {
            int n = ncols - v * VLEN;
            vf t = acc[r][v];
            if (n <= 0)
                continue;
            if (e->last && e->bias)
                t = VADD(t, n >= VLEN ? VLOAD(e->bias + v * VLEN) : VLOAD_N(e->bias + v * VLEN, n));
            if (n >= VLEN)
                VSTORE(c + r * ldc + v * VLEN, t);
            else
                VSTORE_N(c + r * ldc + v * VLEN, t, n);
        }
    }
}

#define QMK_CALL(MR, NV, HM, S8)                                                                   \
    KPREFIX(qmk)(MR, NV, HM, S8, nb, qa, w, wpanel, wblk, c, ldc, ncols, e);                       \
    return

#define QMK_SWITCH(HM, S8)                                                                         \
    if (!KERNELS_FALLBACK_ONLY)                                                                    \
        switch (nv * 16 + mr) {                                                                    \
        case 1 * 16 + 1:                                                                           \
            QMK_CALL(1, 1, HM, S8);                                                                \
        case 1 * 16 + 2:                                                                           \
            QMK_CALL(2, 1, HM, S8);                                                                \
        case 2 * 16 + 1:                                                                           \
            QMK_CALL(1, 2, HM, S8);                                                                \
        case 2 * 16 + 2:                                                                           \
            QMK_CALL(2, 2, HM, S8);                                                                \
        case 4 * 16 + 1:                                                                           \
            QMK_CALL(1, 4, HM, S8);                                                                \
            QMK_CASES(HM, S8)                                                                      \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    KPREFIX(qmk_rows)(mr, nv, HM, S8, nb, qa, w, wpanel, wblk, c, ldc, ncols, e);

/* Any other shape (none is planned): one row and one panel at a time. */
static void KPREFIX(qmk_rows)(int mr, int nv, int has_min, int s8w, int nb,
                              const KPREFIX(qact) * qa, const unsigned char *w, size_t wpanel,
                              size_t wblk, float *c, size_t ldc, int ncols, const KPREFIX(epi) * e)
{
    int r, v;
    for (r = 0; r < mr; r++)
        for (v = 0; v < nv && v * VLEN < ncols; v++) {
            KPREFIX(qact) q1 = *qa;
            KPREFIX(epi) ev = *e;
            q1.q += r * qa->qst;
            q1.dx += r * qa->sst;
            q1.corr += r * qa->sst;
            q1.sx += r * qa->sst;
            if (ev.bias)
                ev.bias += v * VLEN;
            if (has_min)
                KPREFIX(qmk)
            (1, 1, 1, 0, nb, &q1, w + v * wpanel, wpanel, wblk, c + r * ldc + v * VLEN, ldc,
             ncols - v * VLEN, &ev);
            else if (s8w) KPREFIX(qmk)(1, 1, 0, 1, nb, &q1, w + v * wpanel, wpanel, wblk,
                                       c + r * ldc + v * VLEN, ldc, ncols - v * VLEN, &ev);
            else KPREFIX(qmk)(1, 1, 0, 0, nb, &q1, w + v * wpanel, wpanel, wblk,
                              c + r * ldc + v * VLEN, ldc, ncols - v * VLEN, &ev);
        }
}

static void KPREFIX(qmk_any)(int mr, int nv, int has_min, int s8w, int nb, const KPREFIX(qact) * qa,
                             const unsigned char *w, size_t wpanel, size_t wblk, float *c,
                             size_t ldc, int ncols, const KPREFIX(epi) * e)
{
    if (has_min) {
        QMK_SWITCH(1, 0)
    } else if (s8w) {
        QMK_SWITCH(0, 1)
    } else {
        QMK_SWITCH(0, 0)
    }
}

typedef struct KPREFIX(qmm_job) {
    const hark_wmat *w;
    const float *x;
    int m, ldx;
    const float *bias;
    float *y;
    int ldy;
    int mr, nv;         /* tile: rows, panels (vectors) */
    int mblk, nmb, nnc; /* tasks: m blocks x panel ranges */
    int n_panels, kcb;  /* panels, 32-blocks per k block */
} KPREFIX(qmm_job);

static void KPREFIX(qmm_task)(void *payload, int task, int worker)
{
    const KPREFIX(qmm_job) *j = payload;
    const hark_wmat *w = j->w;
    int mb = task / j->nnc, nc = task % j->nnc;
    int i0 = mb * j->mblk, i1 = HARK_MIN(j->m, i0 + j->mblk);
    int nb = w->cols / HARK_QK, has_min = hark__type_has_min(w->type);
    int s8w = QS8 && w->type == HARK_GGML_Q8_0, off = KPREFIX(qoff)(w->type);
    size_t wblk = KPREFIX(qblk_bytes)(w->type), wpanel = (size_t)nb * wblk;
    int p0, p1, kb0, ib, i, p, r, b;
    int8_t qbuf[QBUF_BLKS * HARK_QK] __attribute__((aligned(64)));
    float dxb[QBUF_BLKS], sxb[QBUF_BLKS];
    int32_t corrb[QBUF_BLKS];
    HARK_UNUSED(worker);

    hark__split(j->n_panels, j->nnc, nc, &p0, &p1);
    for (kb0 = 0; kb0 < nb; kb0 += j->kcb) {
        int nbk = HARK_MIN(j->kcb, nb - kb0);
        KPREFIX(epi) e = { kb0 == 0, kb0 + nbk == nb, NULL, 1.0f, 0 };
        for (ib = i0; ib < i1; ib += QMB) {
            int ie = HARK_MIN(i1, ib + QMB);
            KPREFIX(qact) qa;
            /* quantise rows [ib, ie) x blocks [kb0, kb0 + nbk) */
            for (r = 0; r < ie - ib; r++)
                for (b = 0; b < nbk; b++) {
                    int32_t qs;
                    size_t at = (size_t)r * nbk + b;
                    quant_block(j->x + (size_t)(ib + r) * j->ldx + (size_t)(kb0 + b) * HARK_QK,
                                qbuf + at * HARK_QK, &dxb[at], &qs);
                    corrb[at] = off * qs;
                    sxb[at] = dxb[at] * (float)qs;
                }
            for (p = p0; p < p1;) {
                int nv = HARK_MIN(j->nv, p1 - p), ncols;
                if (nv == 3)
                    nv = 2;
                ncols = HARK_MIN(nv * VLEN, w->rows - p * VLEN);
                e.bias = j->bias ? j->bias + (size_t)p * VLEN : NULL;
                for (i = ib; i < ie; i += j->mr) {
                    int mr = HARK_MIN(j->mr, ie - i);
                    qa.q = qbuf + (size_t)(i - ib) * nbk * HARK_QK;
                    qa.dx = dxb + (size_t)(i - ib) * nbk;
                    qa.corr = corrb + (size_t)(i - ib) * nbk;
                    qa.sx = sxb + (size_t)(i - ib) * nbk;
                    qa.qst = (size_t)nbk * HARK_QK;
                    qa.sst = (size_t)nbk;
                    KPREFIX(qmk_any)
                    (mr, nv, has_min, s8w, nbk, &qa,
                     (const unsigned char *)w->packed + (size_t)p * wpanel + (size_t)kb0 * wblk,
                     wpanel, wblk, j->y + (size_t)i * j->ldy + (size_t)p * VLEN, (size_t)j->ldy,
                     ncols, &e);
                }
                p += nv;
            }
        }
    }
}

static void KPREFIX(qmatmul)(hark_pool *pool, const hark_wmat *w, const float *x, int m, int ldx,
                             const float *bias, float *y, int ldy)
{
    KPREFIX(qmm_job) j;
    int threads = hark_pool_threads(pool), want = threads > 1 ? 4 * threads : 1;
    j.w = w;
    j.x = x;
    j.m = m;
    j.ldx = ldx;
    j.bias = bias;
    j.y = y;
    j.ldy = ldy;
    j.n_panels = (w->rows + VLEN - 1) / VLEN;
    q_strategy(m, &j.mr, &j.nv);
    if (m > BIG_M) {
        j.mblk = MBT;
        j.nmb = (m + MBT - 1) / MBT;
        j.kcb = QKCB_BIG;
    } else {
        j.mblk = m;
        j.nmb = 1;
        j.kcb = QKCB_SMALL;
    }
    if (m > BIG_M) {
        j.nnc = j.nmb < want ? HARK_MIN(j.n_panels, (want + j.nmb - 1) / j.nmb) : 1;
    } else {
        int tiles = HARK_MAX(1, j.n_panels / j.nv);
        j.nnc = HARK_MIN(want, tiles);
        if (j.nnc > threads)
            j.nnc -= j.nnc % threads;
    }
    hark_pool_run(pool, j.nmb * j.nnc, KPREFIX(qmm_task), &j);
}

/* ---- softmax ------------------------------------------------------------------------------------
 */

/* See hark_softmax_row and hark__expf: the same operations, VLEN lanes at a
 * time; the 16 partial sums are 16 / VLEN vectors. */
static void KPREFIX(softmax_row)(float *x, int n, float scale)
{
    enum { NACC = 16 / VLEN };
    float acc[16], lanes[VLEN], mx = -INFINITY, inv;
    vf vs = VSET1(scale), vmx = VSET1(-INFINITY), va[NACC], vm, vinv;
    int i, j, n16 = n & ~15;

    for (i = 0; i < n16; i += VLEN) {
        vf v = VMUL(VLOAD(x + i), vs);
        VSTORE(x + i, v);
        vmx = VMAX(v, vmx); /* v > vmx ? v : vmx, like the scalar loop */
    }
    VSTORE(lanes, vmx);
    for (j = 0; j < VLEN; j++)
        mx = lanes[j] > mx ? lanes[j] : mx;
    for (i = n16; i < n; i++) {
        x[i] = x[i] * scale;
        mx = x[i] > mx ? x[i] : mx;
    }
    vm = VSET1(mx);
    for (j = 0; j < NACC; j++)
        va[j] = VZERO();
    for (i = 0; i < n16; i += 16)
        for (j = 0; j < NACC; j++) {
            vf e = vexp(VSUB(VLOAD(x + i + j * VLEN), vm));
            VSTORE(x + i + j * VLEN, e);
            va[j] = VADD(va[j], e);
        }
    for (j = 0; j < NACC; j++)
        VSTORE(acc + j * VLEN, va[j]);
    for (i = n16; i < n; i++) {
        x[i] = hark__expf(x[i] - mx);
        acc[i % 16] = acc[i % 16] + x[i];
    }
    inv = 1.0f / hark__sum16(acc);
    vinv = VSET1(inv);
    for (i = 0; i + VLEN <= n; i += VLEN)
        VSTORE(x + i, VMUL(VLOAD(x + i), vinv));
    for (; i < n; i++)
        x[i] = x[i] * inv;
}
