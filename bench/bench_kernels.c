/*
 * bench_kernels.c: speed and accuracy of the Whisper compute kernels on the
 * shapes of the tiny (384 wide, 4 layers, 6 heads) and base (512 wide, 6
 * layers, 8 heads) models.
 *
 *   bench_kernels [--quick] [--impls avx512,avx2,scalar] [--threads 1,2]
 *                 [--types f16,f32,q8_0,q5_0,q4_0,q4_1,q5_1] [--accuracy]
 *                 [--no-encoder] [--no-decoder] [--min] [--cpu]
 *
 * For each implementation and thread count it times (median of several
 * runs, or the fastest with --min) the encoder's products (m = 1500 frames: the four attention
 * projections, the two MLP layers, the convolutions as im2col products, and
 * per head Q·Kᵀ, softmax (one thread; heads split over threads) and P·V), the decoder's (m = 1 and
 * m = 5 rows: projections, MLP, the vocabulary projection, attention against a 1500-frame cross
 * cache), prints GFLOP/s, and sums them into an estimate of one encoder
 * window and of one decoded token, with the ratio to whisper.cpp v1.7.5 on
 * this machine (encoder 658 / 1397 ms, decode 2.63 / 7.24 ms per token one at
 * a time, 1.54 / 3.04 ms per token five at a time). Ratios between
 * implementations are measured in the same run, so they are meaningful on a
 * noisy shared machine even when the absolute times are not.
 *
 * --accuracy compares each path with a float64 product on realistic shapes
 * and prints the max |error| and the relative RMS error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asr/whisper/kernels.h"
#include "util/pool.h"
#include "util/util.h"

#define MAX_LIST 8

static int quick;

/* ---- data ------------------------------------------------------------------------------------ */

static uint64_t rng = 0x1234567;

static double randn(void)
{
    double u1, u2;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    u1 = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    u2 = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static float *rand_floats(size_t n, double sd)
{
    float *x = malloc(n * sizeof(float));
    size_t i;
    if (!x)
        abort();
    for (i = 0; i < n; i++)
        x[i] = (float)(randn() * sd);
    return x;
}

/* Weights of a type, by quantising N(0, 1/cols) values ggml's way (amax). */
static void *rand_weights(int type, int rows, int cols)
{
    size_t rb = hark_ggml_row_size(type, cols);
    unsigned char *out = malloc(rb * (size_t)rows);
    float *row = rand_floats((size_t)cols, 1.0 / sqrt((double)cols));
    int r, b, j;
    if (!out)
        abort();
    for (r = 0; r < rows; r++) {
        unsigned char *o = out + rb * (size_t)r;
        for (j = 0; j < cols; j++)
            row[j] = (float)(randn() / sqrt((double)cols));
        if (type == HARK_GGML_F32) {
            memcpy(o, row, (size_t)cols * 4);
            continue;
        }
        if (type == HARK_GGML_F16) {
            for (j = 0; j < cols; j++) {
                uint16_t h = hark_f32_to_f16(row[j]);
                memcpy(o + 2 * j, &h, 2);
            }
            continue;
        }
        for (b = 0; b < cols / 32; b++) {
            const float *x = row + 32 * b;
            float amax = 0, mn = x[0], mx = x[0], d;
            uint16_t h;
            unsigned char *blk = o + (size_t)b * (rb / (size_t)(cols / 32));
            int q[32];
            uint32_t qh = 0;
            for (j = 0; j < 32; j++) {
                amax = fmaxf(amax, fabsf(x[j]));
                mn = fminf(mn, x[j]);
                mx = fmaxf(mx, x[j]);
            }
            switch (type) {
            case HARK_GGML_Q8_0:
                d = amax / 127;
                h = hark_f32_to_f16(d);
                memcpy(blk, &h, 2);
                for (j = 0; j < 32; j++)
                    blk[2 + j] = (unsigned char)(int8_t)lrintf(d != 0.0f ? x[j] / d : 0);
                break;
            case HARK_GGML_Q4_0:
            case HARK_GGML_Q5_0: {
                int lv = type == HARK_GGML_Q4_0 ? 8 : 16;
                int off = type == HARK_GGML_Q4_0 ? 2 : 6;
                d = amax / (float)(lv - 1);
                h = hark_f32_to_f16(d);
                memcpy(blk, &h, 2);
                for (j = 0; j < 32; j++) {
                    int v = (int)lrintf(d != 0.0f ? x[j] / d : 0) + lv;
                    q[j] = v < 0 ? 0 : v > 2 * lv - 1 ? 2 * lv - 1 : v;
                    qh |= (uint32_t)(q[j] >> 4 & 1) << j;
                }
                if (type == HARK_GGML_Q5_0)
                    memcpy(blk + 2, &qh, 4);
                for (j = 0; j < 16; j++)
                    blk[off + j] = (unsigned char)((q[j] & 15) | (q[j + 16] & 15) << 4);
                break;
            }
            default: { /* q4_1, q5_1 */
                int lv = type == HARK_GGML_Q4_1 ? 15 : 31;
                int off = type == HARK_GGML_Q4_1 ? 4 : 8;
                d = (mx - mn) / (float)lv;
                h = hark_f32_to_f16(d);
                memcpy(blk, &h, 2);
                h = hark_f32_to_f16(mn);
                memcpy(blk + 2, &h, 2);
                for (j = 0; j < 32; j++) {
                    int v = (int)lrintf(d != 0.0f ? (x[j] - mn) / d : 0);
                    q[j] = v < 0 ? 0 : v > lv ? lv : v;
                    qh |= (uint32_t)(q[j] >> 4 & 1) << j;
                }
                if (type == HARK_GGML_Q5_1)
                    memcpy(blk + 4, &qh, 4);
                for (j = 0; j < 16; j++)
                    blk[off + j] = (unsigned char)((q[j] & 15) | (q[j + 16] & 15) << 4);
                break;
            }
            }
        }
    }
    free(row);
    return out;
}

/* ---- timing ------------------------------------------------------------------------------------
 */

typedef void (*bench_fn)(void *ctx);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Wall time of fn in ms (one warm-up run): the median of the runs, or their
 * minimum with --min (on a shared machine interference only adds time, so
 * the minimum is the better estimate of the kernel's own speed). */
static int use_min, use_cpu;

static int cpu_threads = 1;

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* With --cpu a single-threaded run is timed with the thread's CPU time,
 * which leaves out the time other processes held the core. Runs with more
 * threads are always timed by the wall clock (CPU time says nothing about
 * how well the threads overlapped). */
static double time_ms(bench_fn fn, void *ctx)
{
    double t[64], total = 0;
    int n = 0, min_runs = quick ? 3 : 5;
    double min_total = quick ? 150.0 : 400.0;
    fn(ctx);
    while (n < 64 && (n < min_runs || total < min_total)) {
        int cpu = use_cpu && cpu_threads == 1;
        double t0 = cpu ? cpu_ms() : hark__now_ms();
        fn(ctx);
        t[n] = (cpu ? cpu_ms() : hark__now_ms()) - t0;
        total += t[n++];
        if (total > 4 * min_total && n >= 3)
            break;
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return use_min ? t[0] : t[n / 2];
}

/* ---- matmul cases ------------------------------------------------------------------------------
 */

typedef struct mm_ctx {
    hark_pool *pool;
    hark_wmat w;
    float *x, *bias, *y;
    int m;
} mm_ctx;

static void run_mm(void *p)
{
    mm_ctx *c = p;
    hark_matmul(c->pool, &c->w, c->x, c->m, c->w.cols, c->bias, c->y, c->w.rows);
}

/* Time Y[m][n] = X[m][k] · W[n][k]ᵀ for a weight type. */
static double bench_matmul(hark_pool *pool, int type, int m, int n, int k)
{
    mm_ctx c;
    void *wb = rand_weights(type, n, k);
    double ms;
    c.pool = pool;
    c.m = m;
    c.x = rand_floats((size_t)m * k, 1.0);
    c.bias = rand_floats((size_t)n, 0.1);
    c.y = malloc((size_t)m * n * sizeof(float));
    if (hark_wmat_init(&c.w, type, n, k, wb) < 0) {
        fprintf(stderr, "wmat_init: %s\n", hark_error_last());
        exit(1);
    }
    ms = time_ms(run_mm, &c);
    hark_wmat_dispose(&c.w);
    free(wb);
    free(c.x);
    free(c.bias);
    free(c.y);
    return ms;
}

typedef struct gemm_ctx {
    hark_pool *pool;
    int m, n, k, trans, f16;
    float *a, *b, *c;
    uint16_t *bh;
} gemm_ctx;

static void run_gemm(void *p)
{
    gemm_ctx *g = p;
    int ldb = g->trans ? g->k : g->n;
    if (g->f16)
        hark_gemm_f16b(g->pool, g->m, g->n, g->k, 0.125f, g->a, g->k, g->bh, ldb, g->trans, g->c,
                       g->n);
    else
        hark_gemm_f32(g->pool, g->m, g->n, g->k, 0.125f, g->a, g->k, g->b, ldb, g->trans, g->c,
                      g->n);
}

static double bench_gemm(hark_pool *pool, int f16, int m, int n, int k, int trans)
{
    gemm_ctx g;
    double ms;
    g.pool = pool;
    g.m = m, g.n = n, g.k = k, g.trans = trans, g.f16 = f16;
    g.a = rand_floats((size_t)m * k, 1.0);
    g.b = rand_floats((size_t)n * k, 1.0);
    g.bh = malloc((size_t)n * k * sizeof(uint16_t));
    g.c = malloc((size_t)m * n * sizeof(float));
    hark_f32_to_f16_row(g.b, g.bh, (int64_t)n * k);
    ms = time_ms(run_gemm, &g);
    free(g.a);
    free(g.b);
    free(g.bh);
    free(g.c);
    return ms;
}

/* ---- softmax ----------------------------------------------------------------------------------
 */

typedef struct sm_ctx {
    float *x;
    int rows, n, naive;
} sm_ctx;

static void run_softmax(void *p)
{
    sm_ctx *c = p;
    int r, i;
    for (r = 0; r < c->rows; r++) {
        float *x = c->x + (size_t)r * c->n;
        if (!c->naive) {
            hark_softmax_row(x, c->n, 0.125f);
        } else {
            /* what a plain loop with libm's expf costs */
            float mx = -INFINITY, sum = 0;
            for (i = 0; i < c->n; i++)
                mx = fmaxf(mx, x[i] * 0.125f);
            for (i = 0; i < c->n; i++)
                sum += x[i] = expf(x[i] * 0.125f - mx);
            for (i = 0; i < c->n; i++)
                x[i] /= sum;
        }
    }
}

/* One head's softmax over rows x n scores (the scores are refreshed only by
 * the first run: later runs see probabilities, which costs the same). */
static double bench_softmax(int rows, int n, int naive)
{
    sm_ctx c;
    double ms;
    c.x = rand_floats((size_t)rows * n, 4.0);
    c.rows = rows;
    c.n = n;
    c.naive = naive;
    ms = time_ms(run_softmax, &c);
    free(c.x);
    return ms;
}

/* ---- model shapes ------------------------------------------------------------------------------
 */

typedef struct model {
    const char *name;
    int d, layers, heads;
    double wcpp_enc_ms, wcpp_dec1_ms, wcpp_dec5_ms; /* whisper.cpp on this machine */
} model;

static const model models[] = {
    { "tiny", 384, 4, 6, 658, 2.63, 1.54 },
    { "base", 512, 6, 8, 1397, 7.24, 3.04 },
};

#define N_VOCAB 51865

static double gflops(double m, double n, double k, double ms)
{
    return 2 * m * n * k / (ms * 1e6);
}

static void line(const char *what, const char *type, const char *impl, int threads, int m, int n,
                 int k, double ms, double mult)
{
    printf("  %-22s %-5s %-7s %dT  m=%-5d n=%-5d k=%-5d %9.3f ms %7.1f GFLOP/s\n", what, type, impl,
           threads, m, n, k, ms, gflops(m, n, k, ms) * mult);
}

/* One encoder window: returns the estimated ms. */
static double encoder(const model *md, int type, const char *impl, hark_pool *pool)
{
    int threads = hark_pool_threads(pool), d = md->d, T = 1500;
    const char *tn = hark_ggml_type_name(type);
    double t_conv1, t_conv2, t_proj, t_fc1, t_fc2, t_qk, t_pv, t_sm, total;

    /* conv weights stay f16 in quantised models */
    t_conv1 = bench_matmul(pool, HARK_GGML_F16, 2 * T, d, 80 * 3);
    line("conv1 (im2col)", "f16", impl, threads, 2 * T, d, 240, t_conv1, 1);
    t_conv2 = bench_matmul(pool, HARK_GGML_F16, T, d, 3 * d);
    line("conv2 (im2col)", "f16", impl, threads, T, d, 3 * d, t_conv2, 1);
    t_proj = bench_matmul(pool, type, T, d, d);
    line("attn projection", tn, impl, threads, T, d, d, t_proj, 1);
    t_fc1 = bench_matmul(pool, type, T, 4 * d, d);
    line("mlp fc1", tn, impl, threads, T, 4 * d, d, t_fc1, 1);
    t_fc2 = bench_matmul(pool, type, T, d, 4 * d);
    line("mlp fc2", tn, impl, threads, T, d, 4 * d, t_fc2, 1);
    t_qk = bench_gemm(pool, 0, T, T, 64, 1);
    line("Q.K^T per head", "f32", impl, threads, T, T, 64, t_qk, 1);
    t_pv = bench_gemm(pool, 0, T, 64, T, 0);
    line("P.V per head", "f32", impl, threads, T, 64, T, t_pv, 1);
    t_sm = bench_softmax(T, T, 0);
    printf("  %-22s %-5s %-7s 1T  %d rows of %d       %9.3f ms   (libm expf loop: %.3f ms)\n",
           "softmax per head", "f32", impl, T, T, t_sm, bench_softmax(T, T, 1));
    /* heads' softmaxes run in parallel, one per thread */
    total = t_conv1 + t_conv2 +
            md->layers * (4 * t_proj + t_fc1 + t_fc2 + md->heads * (t_qk + t_pv + t_sm / threads));
    {
        double flop =
            2.0 * (2 * T * d * 240.0 + T * d * 3.0 * d +
                   md->layers * (4.0 * T * d * d + 8.0 * T * d * d + md->heads * 2.0 * T * T * 64));
        printf("  => %s encoder (%s, %s, %dT): %.0f ms for the products and softmax "
               "(%.1f GFLOP/s), %.2fx whisper.cpp's %.0f ms\n",
               md->name, tn, impl, threads, total, flop / (total * 1e6), total / md->wcpp_enc_ms,
               md->wcpp_enc_ms);
    }
    return total;
}

/* One decoded token per row for m rows: returns the estimated ms per token. */
static double decoder(const model *md, int type, const char *impl, hark_pool *pool, int m)
{
    int threads = hark_pool_threads(pool), d = md->d;
    const char *tn = hark_ggml_type_name(type);
    double t_proj, t_fc1, t_fc2, t_vocab, t_qk, t_pv, t_sqk, t_spv, total, per_tok;

    t_proj = bench_matmul(pool, type, m, d, d);
    line("proj", tn, impl, threads, m, d, d, t_proj, 1);
    t_fc1 = bench_matmul(pool, type, m, 4 * d, d);
    line("mlp fc1", tn, impl, threads, m, 4 * d, d, t_fc1, 1);
    t_fc2 = bench_matmul(pool, type, m, d, 4 * d);
    line("mlp fc2", tn, impl, threads, m, d, 4 * d, t_fc2, 1);
    t_vocab = bench_matmul(pool, type, m, N_VOCAB, d);
    line("vocab logits", tn, impl, threads, m, N_VOCAB, d, t_vocab, 1);
    /* cross attention against 1500 encoder frames with f16 caches: keys
     * stored transposed (state x frames, hark_f32_to_f16_transposed) so that
     * B is k-major; keys stored as rows (b_trans = 1) shown for comparison */
    t_qk = bench_gemm(pool, 1, m, 1500, 64, 1);
    line("cross Q.K^T, K rows", "f16", impl, threads, m, 1500, 64, t_qk, 1);
    t_qk = bench_gemm(pool, 1, m, 1500, 64, 0);
    line("cross Q.K^T, K^T", "f16", impl, threads, m, 1500, 64, t_qk, 1);
    t_pv = bench_gemm(pool, 1, m, 64, 1500, 0);
    line("cross P.V per head", "f16", impl, threads, m, 64, 1500, t_pv, 1);
    /* self attention over ~100 earlier tokens */
    t_sqk = bench_gemm(pool, 1, m, 100, 64, 0);
    t_spv = bench_gemm(pool, 1, m, 64, 100, 0);
    /* per layer: self q,k,v,out + cross q,out = 6 projections (cross k/v once per window) */
    total = md->layers * (6 * t_proj + t_fc1 + t_fc2 + md->heads * (t_qk + t_pv + t_sqk + t_spv)) +
            t_vocab;
    per_tok = total / m;
    printf("  => %s decoder (%s, %s, %dT, %d row%s): %.3f ms per step, %.3f ms per token, "
           "%.2fx whisper.cpp's %.2f ms/token\n",
           md->name, tn, impl, threads, m, m > 1 ? "s" : "", total, per_tok,
           per_tok / (m == 1 ? md->wcpp_dec1_ms : md->wcpp_dec5_ms),
           m == 1 ? md->wcpp_dec1_ms : md->wcpp_dec5_ms);
    return per_tok;
}

/* ---- accuracy
 * ------------------------------------------------------------------------------------ */

static void accuracy(const char *impl, int type, int m, int n, int k)
{
    void *wb = rand_weights(type, n, k);
    float *x = rand_floats((size_t)m * k, 1.0), *y = malloc((size_t)m * n * sizeof(float));
    float *wrow = malloc((size_t)k * sizeof(float));
    double *wd = malloc((size_t)n * k * sizeof(double));
    double maxabs = 0, se = 0, sr = 0, maxref = 0;
    hark_wmat w;
    int i, r, kk;
    size_t rb = hark_ggml_row_size(type, k);

    for (r = 0; r < n; r++) {
        hark_dequantize_row(type, (unsigned char *)wb + rb * (size_t)r, wrow, k);
        for (kk = 0; kk < k; kk++)
            wd[(size_t)r * k + kk] = wrow[kk];
    }
    if (hark_wmat_init(&w, type, n, k, wb) < 0)
        exit(1);
    hark_matmul(NULL, &w, x, m, k, NULL, y, n);
    for (i = 0; i < m; i++)
        for (r = 0; r < n; r++) {
            double acc = 0, e;
            for (kk = 0; kk < k; kk++)
                acc += wd[(size_t)r * k + kk] * x[(size_t)i * k + kk];
            e = y[(size_t)i * n + r] - acc;
            maxabs = fmax(maxabs, fabs(e));
            maxref = fmax(maxref, fabs(acc));
            se += e * e;
            sr += acc * acc;
        }
    printf("  %-7s %-5s m=%-4d n=%-4d k=%-4d  max|err| %.3g (max|y| %.3g)  rel RMS %.3g\n", impl,
           hark_ggml_type_name(type), m, n, k, maxabs, maxref, sqrt(se / sr));
    hark_wmat_dispose(&w);
    free(wb);
    free(x);
    free(y);
    free(wrow);
    free(wd);
}

/* Round to bfloat16 (8-bit significand), ties to even. */
static float to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/*
 * What other arithmetic would cost in accuracy, emulated in scalar code on
 * the same f16 weights: bf16 activations and weights (vdpbf16ps), f16
 * activations (ggml's f16 x f16 dot products without AMX); f32 accumulation.
 */
static void accuracy_alternatives(int m, int n, int k)
{
    void *wb = rand_weights(HARK_GGML_F16, n, k);
    float *x = rand_floats((size_t)m * k, 1.0), *w = malloc((size_t)n * k * sizeof(float));
    double se[2] = { 0, 0 }, sr = 0, mx[2] = { 0, 0 };
    int i, r, kk, v;
    hark_dequantize_row(HARK_GGML_F16, wb, w, (int64_t)n * k);
    for (i = 0; i < m; i++)
        for (r = 0; r < n; r++) {
            double exact = 0;
            float acc[2] = { 0, 0 };
            for (kk = 0; kk < k; kk++) {
                float xv = x[(size_t)i * k + kk], wv = w[(size_t)r * k + kk];
                exact += (double)xv * wv;
                acc[0] = fmaf(to_bf16(xv), to_bf16(wv), acc[0]);
                acc[1] = fmaf(hark_f16_to_f32(hark_f32_to_f16(xv)), wv, acc[1]);
            }
            for (v = 0; v < 2; v++) {
                se[v] += (acc[v] - exact) * (acc[v] - exact);
                mx[v] = fmax(mx[v], fabs(acc[v] - exact));
            }
            sr += exact * exact;
        }
    printf("  emulated bf16 x bf16     m=%-4d n=%-4d k=%-4d  max|err| %.3g  rel RMS %.3g\n", m, n,
           k, mx[0], sqrt(se[0] / sr));
    printf("  emulated f16 activations m=%-4d n=%-4d k=%-4d  max|err| %.3g  rel RMS %.3g\n", m, n,
           k, mx[1], sqrt(se[1] / sr));
    free(wb);
    free(x);
    free(w);
}

/* ---- memory
 * --------------------------------------------------------------------------------------- */

static void memory_cost(const char *impl, int type)
{
    int rows = 51865, cols = 512; /* base's token embedding: the largest matrix */
    void *wb = rand_weights(type, rows, cols);
    size_t file = hark_ggml_row_size(type, cols) * (size_t)rows, packed;
    hark_wmat w;
    double t0 = hark__now_ms(), ms;
    if (hark_wmat_init(&w, type, rows, cols, wb) < 0)
        exit(1);
    ms = hark__now_ms() - t0;
    packed = hark_wmat_packed_bytes(&w);
    printf("  %-7s %-5s file %6.2f MB (%.3f B/weight)  packed %6.2f MB (%.3f B/weight, %.2fx), "
           "init %.1f ms, file pages %s\n",
           impl, hark_ggml_type_name(type), (double)file / 1e6, (double)file / rows / cols,
           (double)packed / 1e6, (double)packed / rows / cols, (double)packed / (double)file, ms,
           hark_wmat_needs_src(&w) ? "still read" : "no longer read");
    hark_wmat_dispose(&w);
    free(wb);
}

/* ---- main
 * ------------------------------------------------------------------------------------------ */

static int split_list(char *s, char **out)
{
    int n = 0;
    char *tok, *save = NULL;
    for (tok = strtok_r(s, ",", &save); tok && n < MAX_LIST; tok = strtok_r(NULL, ",", &save))
        out[n++] = tok;
    return n;
}

static int type_by_name(const char *s)
{
    static const int all[] = { HARK_GGML_F32,  HARK_GGML_F16,  HARK_GGML_Q4_0, HARK_GGML_Q4_1,
                               HARK_GGML_Q5_0, HARK_GGML_Q5_1, HARK_GGML_Q8_0 };
    size_t i;
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(hark_ggml_type_name(all[i]), s) == 0)
            return all[i];
    fprintf(stderr, "unknown type %s\n", s);
    exit(2);
}

int main(int argc, char **argv)
{
    char impl_buf[256] = "avx512,avx2", thr_buf[64] = "1,2", type_buf[256] = "f16";
    char *impls[MAX_LIST], *thrs[MAX_LIST], *tnames[MAX_LIST];
    int n_impls, n_thr, n_types, a, ii, ti, ty, mi, do_acc = 0, do_enc = 1, do_dec = 1;
    const char *best = hark_kernels_name();

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--quick"))
            quick = 1;
        else if (!strcmp(argv[a], "--min"))
            use_min = 1;
        else if (!strcmp(argv[a], "--cpu"))
            use_cpu = 1;
        else if (!strcmp(argv[a], "--accuracy"))
            do_acc = 1;
        else if (!strcmp(argv[a], "--no-encoder"))
            do_enc = 0;
        else if (!strcmp(argv[a], "--no-decoder"))
            do_dec = 0;
        else if (!strcmp(argv[a], "--impls") && a + 1 < argc)
            snprintf(impl_buf, sizeof(impl_buf), "%s", argv[++a]);
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc)
            snprintf(thr_buf, sizeof(thr_buf), "%s", argv[++a]);
        else if (!strcmp(argv[a], "--types") && a + 1 < argc)
            snprintf(type_buf, sizeof(type_buf), "%s", argv[++a]);
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--impls a,b] [--threads 1,2] [--types f16,q8_0] "
                    "[--accuracy] [--no-encoder] [--no-decoder] [--min] [--cpu]\n",
                    argv[0]);
            return 2;
        }
    }
    n_impls = split_list(impl_buf, impls);
    n_thr = split_list(thr_buf, thrs);
    n_types = split_list(type_buf, tnames);
    printf("bench_kernels: default implementation on this CPU: %s\n", best);

    printf("\nmemory of the packed weights (51865 x 512 matrix)\n");
    for (ii = 0; ii < n_impls; ii++) {
        if (hark_kernels_force(impls[ii]) != 0)
            continue;
        for (ty = 0; ty < n_types; ty++)
            memory_cost(impls[ii], type_by_name(tnames[ty]));
    }

    if (do_acc) {
        printf("\naccuracy vs float64 (weights: the values the file holds)\n");
        for (ii = 0; ii < n_impls; ii++) {
            if (hark_kernels_force(impls[ii]) != 0)
                continue;
            for (ty = 0; ty < n_types; ty++) {
                int type = type_by_name(tnames[ty]);
                accuracy(impls[ii], type, 300, 384, 384);
                accuracy(impls[ii], type, 100, 512, 2048);
                accuracy(impls[ii], type, 1, 1536, 384);
            }
        }
        printf("\nalternatives not used (f16 weights; for comparison)\n");
        accuracy_alternatives(300, 384, 384);
        accuracy_alternatives(100, 512, 2048);
    }

    for (ii = 0; ii < n_impls; ii++) {
        if (hark_kernels_force(impls[ii]) != 0) {
            printf("\n%s: not supported on this CPU, skipped\n", impls[ii]);
            continue;
        }
        for (ti = 0; ti < n_thr; ti++) {
            int threads = atoi(thrs[ti]);
            hark_pool *pool = NULL;
            cpu_threads = threads;
            if (hark_pool_new(&pool, threads) < 0)
                return 1;
            for (ty = 0; ty < n_types; ty++) {
                int type = type_by_name(tnames[ty]);
                for (mi = 0; mi < 2; mi++) {
                    const model *md = &models[mi];
                    if (do_enc) {
                        printf("\n%s encoder window, %s weights, %s, %d thread%s\n", md->name,
                               tnames[ty], impls[ii], threads, threads > 1 ? "s" : "");
                        encoder(md, type, impls[ii], pool);
                    }
                    if (do_dec) {
                        printf("\n%s decoder step, %s weights, %s, %d thread%s\n", md->name,
                               tnames[ty], impls[ii], threads, threads > 1 ? "s" : "");
                        decoder(md, type, impls[ii], pool, 1);
                        decoder(md, type, impls[ii], pool, 5);
                    }
                }
            }
            hark_pool_free(pool);
        }
    }
    return 0;
}
