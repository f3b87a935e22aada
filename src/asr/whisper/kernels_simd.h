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
 * Stack use: a packed A block (MB x AST floats, 52 KB) and a B packing
 * buffer (PACK_FLOATS floats, 128 KB) per task.
 */

#define NR          (2 * VLEN)    /* columns per panel */
#define KC_BIG      256           /* k block for large m (f16 weights; f32: half) */
#define MB          48            /* rows per packed A block for large m */
#define MBT         192           /* rows per task for large m (a multiple of MB) */
#define AST         (KC_BIG + 16) /* packed A row stride (floats): a constant, padded off 4 KB */
#define PACK_FLOATS 32768         /* gemm B packing buffer (floats) */
#define BIG_M       16            /* m above which the large-m strategy is used */

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
    switch (nv * 32 + mr) {                                                                        \
    case 2 * 32 + 1:                                                                               \
        MK_CALL(1, 2, F16, 0);                                                                     \
    case 2 * 32 + 2:                                                                               \
        MK_CALL(2, 2, F16, 0);                                                                     \
    case 2 * 32 + 3:                                                                               \
        MK_CALL(3, 2, F16, 0);                                                                     \
    case 2 * 32 + 4:                                                                               \
        MK_CALL(4, 2, F16, 0);                                                                     \
    case 2 * 32 + 5:                                                                               \
        MK_CALL(5, 2, F16, 0);                                                                     \
    case 2 * 32 + 6:                                                                               \
        MK_CALL(6, 2, F16, 0);                                                                     \
    case 4 * 32 + 1:                                                                               \
        MK_CALL(1, 4, F16, 0);                                                                     \
    case 4 * 32 + 2:                                                                               \
        MK_CALL(2, 4, F16, 0);                                                                     \
        MK_CASES_SMALL(F16)                                                                        \
    case 8 * 32 + 1:                                                                               \
        MK_CALL(1, 8, F16, 0);                                                                     \
        MK_CASES_8_WIDE(F16)                                                                       \
    default:                                                                                       \
        break;                                                                                     \
    }

#define MK_PACKED(F16)                                                                             \
    switch (mr) {                                                                                  \
    case 1:                                                                                        \
        MK_CALL(1, 2, F16, 1);                                                                     \
    case 2:                                                                                        \
        MK_CALL(2, 2, F16, 1);                                                                     \
    case 3:                                                                                        \
        MK_CALL(3, 2, F16, 1);                                                                     \
    case 4:                                                                                        \
        MK_CALL(4, 2, F16, 1);                                                                     \
    case 5:                                                                                        \
        MK_CALL(5, 2, F16, 1);                                                                     \
    case 6:                                                                                        \
        MK_CALL(6, 2, F16, 1);                                                                     \
        MK_CASES_PACKED(F16)                                                                       \
    default:                                                                                       \
        break;                                                                                     \
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
        KPREFIX(run_block)
        (i0, i1, p0, p1, j->mr, j->np, kc, j->x + k0, (size_t)j->ldx, &bs, j->y, (size_t)j->ldy,
         w->rows, j->bias, &e);
    }
}

/* Split m rows x n_panels into tasks for `threads` threads. */
static void KPREFIX(plan)(int m, int n_panels, int threads, int *mblk, int *nmb, int *nnc)
{
    int want = threads > 1 ? 4 * threads : 1;
    if (m > BIG_M) {
        *mblk = MBT;
        *nmb = (m + MBT - 1) / MBT;
    } else {
        *nmb = 1;
        *mblk = m;
    }
    *nnc = 1;
    if (*nmb < want)
        *nnc = HARK_MIN(n_panels, (want + *nmb - 1) / *nmb);
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
    KPREFIX(plan)(m, j.n_panels, hark_pool_threads(pool), &j.mblk, &j.nmb, &j.nnc);
    if (m <= BIG_M)
        j.kc = w->cols;
    else
        j.kc = w->type == HARK_GGML_F16 ? KC_BIG : KC_BIG / 2;
    hark_pool_run(pool, j.nmb * j.nnc, KPREFIX(mm_task), &j);
}

/* Repack f32/f16 weights into panels (see DESIGN). */
static int KPREFIX(pack_float)(hark_wmat *w)
{
    int f16 = w->type == HARK_GGML_F16;
    size_t esz = f16 ? 2 : 4;
    int n_panels = (w->rows + NR - 1) / NR, p, k, l;
    size_t bytes = (size_t)n_panels * w->cols * NR * esz;
    const unsigned char *src = w->src;
    unsigned char *dst;

    dst = hark__calloc(1, bytes);
    if (!dst)
        return hark_error_set(HARK_ENOMEM, "out of memory packing a %d x %d %s matrix", w->rows,
                              w->cols, hark_ggml_type_name(w->type));
    for (p = 0; p < n_panels; p++)
        for (l = 0; l < NR && p * NR + l < w->rows; l++) {
            const unsigned char *row = src + (size_t)(p * NR + l) * w->cols * esz;
            unsigned char *out = dst + ((size_t)p * w->cols * NR + (size_t)l) * esz;
            for (k = 0; k < w->cols; k++)
                memcpy(out + (size_t)k * NR * esz, row + (size_t)k * esz, esz);
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
        KPREFIX(bsrc) bs = { buf, 0, NR, 0 };
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
        KPREFIX(plan)(g->m, g->n_panels, threads, &g->mblk, &g->nmb, &g->nnc);
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
