/*
 * Native float32 kernels for the wasm backend's heaviest operations (matrix products and 2D
 * convolutions), run in place on the backend's heap through Node-API. They reproduce XNNPACK's
 * results bit for bit: every output is its bias (or +0) plus the products over k added one at a
 * time in increasing k, each product and each sum rounded separately (no fused multiply-add:
 * -ffp-contract=off), then clamped as XNNPACK's wasm kernels clamp. So a machine without this
 * addon (or a CPU without AVX2) trains to the same weights, only slower.
 *
 * One register-blocked kernel (6 rows x 16 columns) over B's packed panels [K][16] and A's, [K][6];
 * convolutions read each output pixel's patch in place instead (the indirect kernel, as XNNPACK's),
 * or gather it into A's panel (no im2col matrix). Large products split their rows over threads
 * (setThreads). Also: Adam's step on the mean of a batch's shards (with a helper thread's share),
 * bias additions and bias sums.
 */
#define NAPI_VERSION 8
#include <pthread.h>
#include <node_api.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16

typedef float v8 __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) v8 load8(const float* p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void store8(float* p, v8 v) { memcpy(p, &v, sizeof v); }

/*
 * tile[MR][NR] = init[MR][NR] + sum over k of ap[k][r] * bp[k*ldb + c], k in order. Two builds of the same
 * operations: AVX2 intrinsics, and portable vectors for any other CPU (same bits, slower).
 */
#define TILE_INIT(V, LOAD)                                                                                    \
  V c00 = LOAD(init + 0 * NR), c01 = LOAD(init + 0 * NR + 8), c10 = LOAD(init + 1 * NR), c11 = LOAD(init + 1 * NR + 8); \
  V c20 = LOAD(init + 2 * NR), c21 = LOAD(init + 2 * NR + 8), c30 = LOAD(init + 3 * NR), c31 = LOAD(init + 3 * NR + 8); \
  V c40 = LOAD(init + 4 * NR), c41 = LOAD(init + 4 * NR + 8), c50 = LOAD(init + 5 * NR), c51 = LOAD(init + 5 * NR + 8);
/* one k: row r's value at *Ar times B's row at BP */
#define TILE_STEP(V, LOAD, SPLAT, MUL, ADD, BP, A0, A1, A2, A3, A4, A5)                                      \
  {                                                                                                           \
    const V b0 = LOAD(BP), b1 = LOAD((BP) + 8);                                                               \
    V a = SPLAT(A0); c00 = ADD(c00, MUL(a, b0)); c01 = ADD(c01, MUL(a, b1));                                  \
    a = SPLAT(A1); c10 = ADD(c10, MUL(a, b0)); c11 = ADD(c11, MUL(a, b1));                                    \
    a = SPLAT(A2); c20 = ADD(c20, MUL(a, b0)); c21 = ADD(c21, MUL(a, b1));                                    \
    a = SPLAT(A3); c30 = ADD(c30, MUL(a, b0)); c31 = ADD(c31, MUL(a, b1));                                    \
    a = SPLAT(A4); c40 = ADD(c40, MUL(a, b0)); c41 = ADD(c41, MUL(a, b1));                                    \
    a = SPLAT(A5); c50 = ADD(c50, MUL(a, b0)); c51 = ADD(c51, MUL(a, b1));                                    \
  }
#define TILE_STORE(STORE)                                                                                     \
  STORE(tile + 0 * NR, c00); STORE(tile + 0 * NR + 8, c01);                                                   \
  STORE(tile + 1 * NR, c10); STORE(tile + 1 * NR + 8, c11);                                                   \
  STORE(tile + 2 * NR, c20); STORE(tile + 2 * NR + 8, c21);                                                   \
  STORE(tile + 3 * NR, c30); STORE(tile + 3 * NR + 8, c31);                                                   \
  STORE(tile + 4 * NR, c40); STORE(tile + 4 * NR + 8, c41);                                                   \
  STORE(tile + 5 * NR, c50); STORE(tile + 5 * NR + 8, c51);

/* A packed: ap[k][r]. */
#define UKERNEL_BODY(V, LOAD, STORE, SPLAT, MUL, ADD)                                                         \
  TILE_INIT(V, LOAD)                                                                                          \
  for (size_t k = 0; k < K; k++, ap += MR, bp += ldb) TILE_STEP(V, LOAD, SPLAT, MUL, ADD, bp, ap, ap + 1, ap + 2, ap + 3, ap + 4, ap + 5) \
  TILE_STORE(STORE)

/*
 * A read in place, as XNNPACK's indirect convolutions read it: for each of `taps` kernel taps, the
 * 6 rows' pointers (a pixel's inC channels, or zeros where the tap reads padding), k = (tap, ci).
 */
#define UKERNEL_INDIRECT_BODY(V, LOAD, STORE, SPLAT, MUL, ADD)                                                \
  TILE_INIT(V, LOAD)                                                                                          \
  for (size_t t = 0; t < taps; t++, ptrs += MR) {                                                             \
    const float *a0 = ptrs[0], *a1 = ptrs[1], *a2 = ptrs[2], *a3 = ptrs[3], *a4 = ptrs[4], *a5 = ptrs[5];      \
    for (size_t ci = 0; ci < inC; ci++, bp += ldb) TILE_STEP(V, LOAD, SPLAT, MUL, ADD, bp, a0 + ci, a1 + ci, a2 + ci, a3 + ci, a4 + ci, a5 + ci) \
  }                                                                                                           \
  TILE_STORE(STORE)

typedef void ukernel_indirect_fn(size_t taps, size_t inC, const float* const* ptrs, const float* restrict bp, size_t ldb,
                                 const float* restrict init, float* restrict tile);

typedef void ukernel_fn(size_t K, const float* restrict ap, const float* restrict bp, size_t ldb,
                        const float* restrict init, float* restrict tile);

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2")))
static void ukernel_avx2(size_t K, const float* restrict ap, const float* restrict bp, size_t ldb,
                         const float* restrict init, float* restrict tile) {
  UKERNEL_BODY(__m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_broadcast_ss, _mm256_mul_ps, _mm256_add_ps)
}
#endif

#define V_SPLAT(p) ((v8){*(p), *(p), *(p), *(p), *(p), *(p), *(p), *(p)})
#define V_MUL(a, b) ((a) * (b))
#define V_ADD(a, b) ((a) + (b))
static void ukernel_portable(size_t K, const float* restrict ap, const float* restrict bp, size_t ldb,
                             const float* restrict init, float* restrict tile) {
  UKERNEL_BODY(v8, load8, store8, V_SPLAT, V_MUL, V_ADD)
}

static ukernel_fn* ukernel = ukernel_portable;

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void ukernel_indirect_avx2(size_t taps, size_t inC, const float* const* ptrs, const float* restrict bp, size_t ldb,
                                  const float* restrict init, float* restrict tile) {
  UKERNEL_INDIRECT_BODY(__m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_broadcast_ss, _mm256_mul_ps, _mm256_add_ps)
}
#endif

static void ukernel_indirect_portable(size_t taps, size_t inC, const float* const* ptrs, const float* restrict bp, size_t ldb,
                                      const float* restrict init, float* restrict tile) {
  UKERNEL_INDIRECT_BODY(v8, load8, store8, V_SPLAT, V_MUL, V_ADD)
}

static ukernel_indirect_fn* ukernel_indirect = ukernel_indirect_portable;

typedef void adam_fn(size_t n, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                     const float* const* g, const float* scale, int shards, const float* s);
static void adam_portable(size_t n, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                          const float* const* g, const float* scale, int shards, const float* s);
#if defined(__x86_64__)
static void adam_avx2(size_t n, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                      const float* const* g, const float* scale, int shards, const float* s);
#endif
static adam_fn* adam_update = adam_portable;

typedef void rows_fn(size_t rows, size_t channels, const float* x, const float* bias, float* out);
static void rows_portable(size_t rows, size_t channels, const float* x, const float* bias, float* out);
#if defined(__x86_64__)
static void rows_avx2(size_t rows, size_t channels, const float* x, const float* bias, float* out);
#endif
static rows_fn* rows_pass = rows_portable;

/* Takes the AVX2 build when the CPU has AVX2 and `portable` is 0; returns the build taken. */
static const char* pick_ukernel(int portable) {
  ukernel = ukernel_portable;
  ukernel_indirect = ukernel_indirect_portable;
  adam_update = adam_portable;
  rows_pass = rows_portable;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!portable && __builtin_cpu_supports("avx2")) {
    ukernel = ukernel_avx2;
    ukernel_indirect = ukernel_indirect_avx2;
    adam_update = adam_avx2;
    rows_pass = rows_avx2;
    return "avx2";
  }
#endif
  return "portable";
}

/* Patches of an NHWC image: row p = output pixel (b, oy, ox), column k = (ky, kx, ci). */
typedef struct {
  int batch, inH, inW, inC, outH, outW, kh, kw, sh, sw, dh, dw, pt, pl;
} geometry;

/* An operand of a product: element (i, k) of a strided matrix, or of an image's patches. */
typedef struct {
  const float* base;
  ptrdiff_t rs, cs;
  const geometry* patches; /* non-NULL: the patches of base */
  int transposed;          /* patches only: element (i, k) is patch (k, i) */
} operand;

/* The pixel a patch row reads at tap (ky, kx), or NULL where it reads padding. */
static inline const float* patch_src(const geometry* g, const float* x, int b, int oy, int ox, int ky, int kx) {
  const int iy = oy * g->sh + ky * g->dh - g->pt, ix = ox * g->sw + kx * g->dw - g->pl;
  if (iy < 0 || iy >= g->inH || ix < 0 || ix >= g->inW) return NULL;
  return x + (((ptrdiff_t)b * g->inH + iy) * g->inW + ix) * g->inC;
}

/* An output pixel (b, oy, ox) of the patches, stepped through in row order (no division per pixel). */
typedef struct {
  int b, oy, ox;
} pixel;

static inline pixel pixel_at(const geometry* g, size_t p) {
  const size_t pixels = (size_t)g->outH * g->outW;
  return (pixel){(int)(p / pixels), (int)((p % pixels) / (size_t)g->outW), (int)(p % (size_t)g->outW)};
}

static inline void next_pixel(const geometry* g, pixel* px) {
  if (++px->ox == g->outW) {
    px->ox = 0;
    if (++px->oy == g->outH) { px->oy = 0; px->b++; }
  }
}

/* ap[k][r] = A(i0 + r, k0 + k) for r < mr and k < kn, else 0. */
static void pack_a(const operand* A, size_t i0, int mr, size_t k0, size_t kn, float* ap) {
  if (mr < MR) memset(ap, 0, sizeof(float) * kn * MR);
  if (A->patches && A->transposed) {
    /* rows are columns (ky, kx, ci) of the patches, k their output pixels */
    const geometry* g = A->patches;
    int ky[MR], kx[MR], ci[MR];
    for (int r = 0; r < mr; r++) {
      const int col = (int)i0 + r, tap = col / g->inC;
      ky[r] = tap / g->kw;
      kx[r] = tap % g->kw;
      ci[r] = col % g->inC;
    }
    pixel px = pixel_at(g, k0);
    for (size_t k = 0; k < kn; k++, ap += MR) {
      for (int r = 0; r < mr; r++) {
        const float* src = patch_src(g, A->base, px.b, px.oy, px.ox, ky[r], kx[r]);
        ap[r] = src ? src[ci[r]] : 0.0f;
      }
      next_pixel(g, &px);
    }
    return;
  }
  if (A->patches) {
    /* rows are output pixels, columns (ky, kx, ci) */
    const geometry* g = A->patches;
    for (int r = 0; r < mr; r++) {
      const pixel px = pixel_at(g, i0 + (size_t)r);
      int tap = (int)(k0 / g->inC), ci = (int)(k0 % g->inC);
      const float* src = patch_src(g, A->base, px.b, px.oy, px.ox, tap / g->kw, tap % g->kw);
      float* dst = ap + r;
      for (size_t k = 0; k < kn; k++, dst += MR) {
        *dst = src ? src[ci] : 0.0f;
        if (++ci == g->inC && k + 1 < kn) {
          ci = 0;
          tap++;
          src = patch_src(g, A->base, px.b, px.oy, px.ox, tap / g->kw, tap % g->kw);
        }
      }
    }
    return;
  }
  const float* base = A->base + (ptrdiff_t)i0 * A->rs + (ptrdiff_t)k0 * A->cs;
  if (A->rs == 1) {
    /* a transposed operand (dyᵀ, xᵀ): a panel row is mr consecutive floats, read in one pass */
    for (size_t k = 0; k < kn; k++) memcpy(ap + k * MR, base + (ptrdiff_t)k * A->cs, sizeof(float) * mr);
    return;
  }
  for (int r = 0; r < mr; r++) {
    const float* src = base + (ptrdiff_t)r * A->rs;
    for (size_t k = 0; k < kn; k++) ap[k * MR + r] = src[(ptrdiff_t)k * A->cs];
  }
}

/* bp[k][c] = B(k0 + k, j0 + c) for c < nr, else 0, k < kn; B a strided matrix (patches: patch_panels). */
static void pack_b(const operand* B, size_t k0, size_t kn, size_t j0, int nr, float* bp) {
  if (nr < NR) memset(bp, 0, sizeof(float) * kn * NR);
  const float* base = B->base + (ptrdiff_t)k0 * B->rs + (ptrdiff_t)j0 * B->cs;
  if (B->cs == 1) {
    for (size_t k = 0; k < kn; k++) memcpy(bp + k * NR, base + (ptrdiff_t)k * B->rs, sizeof(float) * nr);
    return;
  }
  for (int c = 0; c < nr; c++) {
    const float* src = base + (ptrdiff_t)c * B->cs;
    for (size_t k = 0; k < kn; k++) bp[k * NR + c] = src[(ptrdiff_t)k * B->rs];
  }
}

/*
 * XNNPACK's wasm clamp: max(lo, v) as "lo < v ? v : lo", then min(hi, v) as "v < hi ? v : hi"
 * (NaN becomes lo). Its convolutions' relu (lo 0, hi inf, `intRelu`) is instead an integer max
 * with 0 on the float's bits: NaNs with the sign bit set, -0 and negatives become +0, other NaNs
 * stay.
 */
static inline float clamp_like_xnnpack(float v, float lo, float hi, int intRelu) {
  if (intRelu) {
    int32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits < 0 ? 0.0f : v;
  }
  v = lo < v ? v : lo;
  return v < hi ? v : hi;
}

/*
 * How an output in [lo, hi] is clamped: not at all when unbounded (XNNPACK runs such an output
 * through its linear kernels, which leave NaN as it is), and a convolution's relu on the bits.
 */
static inline void clamp_mode(float lo, float hi, int convolution, int* clamp, int* intRelu) {
  *clamp = !(lo == -__builtin_inff() && hi == __builtin_inff());
  *intRelu = convolution && lo == 0.0f && hi == __builtin_inff();
}

/*
 * b_panels of patches (rows output pixels, columns (ky, kx, ci)), every panel packed: pixel by
 * pixel, each tap's source found once for all the panels that read it (columns go in order); a
 * panel within one tap is one copy, any other gathered column by column.
 */
static void patch_panels(const operand* B, size_t N, size_t k0, size_t kn, size_t kc, float* bp, const float** bpanel, size_t* ldb) {
  const geometry* g = B->patches;
  const size_t panels = (N + NR - 1) / NR;
  for (size_t jb = 0; jb < panels; jb++) {
    bpanel[jb] = bp + jb * kc * NR;
    ldb[jb] = NR;
  }
  pixel px = pixel_at(g, k0);
  for (size_t k = 0; k < kn; k++) {
    /* the columns in order: tap t, channel ci */
    int t = 0, ci = 0;
    const float* src = patch_src(g, B->base, px.b, px.oy, px.ox, 0, 0);
    for (size_t jb = 0; jb < panels; jb++) {
      const int nr = (int)(N - jb * NR < NR ? N - jb * NR : NR);
      float* dst = bp + jb * kc * NR + k * NR;
      for (int c = 0; c < nr;) {
        /* the rest of this panel's columns within this tap: one copy (a whole panel's, inlined) */
        const int run = nr - c < g->inC - ci ? nr - c : g->inC - ci;
        if (!src) memset(dst + c, 0, sizeof(float) * run);
        else if (run == NR) memcpy(dst, src + ci, sizeof(float) * NR);
        else memcpy(dst + c, src + ci, sizeof(float) * run);
        c += run;
        if ((ci += run) == g->inC && ++t < g->kh * g->kw) {
          ci = 0;
          src = patch_src(g, B->base, px.b, px.oy, px.ox, t / g->kw, t % g->kw);
        }
      }
      if (nr < NR) memset(dst + nr, 0, sizeof(float) * (NR - nr));
    }
    next_pixel(g, &px);
  }
}

/*
 * B's panels for k in [k0, k0 + kn), N columns: a full panel read in place where B's rows are
 * contiguous, any other packed into bp (kc * NR floats a panel); panel jb at bpanel[jb], its row
 * stride ldb[jb].
 */
static void b_panels(const operand* B, size_t N, size_t k0, size_t kn, size_t kc, float* bp, const float** bpanel, size_t* ldb) {
  if (B->patches) {
    patch_panels(B, N, k0, kn, kc, bp, bpanel, ldb);
    return;
  }
  const int inPlace = B->cs == 1;
  for (size_t jb = 0, panels = (N + NR - 1) / NR; jb < panels; jb++) {
    const size_t j0 = jb * NR;
    const int nr = (int)(N - j0 < NR ? N - j0 : NR);
    if (inPlace && nr == NR) {
      bpanel[jb] = B->base + (ptrdiff_t)k0 * B->rs + j0;
      ldb[jb] = (size_t)B->rs;
    } else {
      pack_b(B, k0, kn, j0, nr, bp + jb * kc * NR);
      bpanel[jb] = bp + jb * kc * NR;
      ldb[jb] = NR;
    }
  }
}

/* A tile's starting sums: the bias of its nr columns (from column j0), else +0. */
static inline void bias_tile(float* init, const float* bias, size_t j0, int nr) {
  for (int r = 0; r < MR; r++) {
    for (int col = 0; col < NR; col++) init[r * NR + col] = bias && col < nr ? bias[j0 + col] : 0.0f;
  }
}

/* The first mr rows and nr columns of a tile into C (row stride crs, column stride ccs), clamped. */
static inline void store_tile(const float* tile, int mr, int nr, float* c, ptrdiff_t crs, ptrdiff_t ccs, int clamp,
                              float lo, float hi, int intRelu) {
  for (int r = 0; r < mr; r++) {
    float* out = c + (ptrdiff_t)r * crs;
    const float* v = tile + r * NR;
    if (!clamp && ccs == 1) {
      memcpy(out, v, sizeof(float) * nr);
      continue;
    }
    for (int col = 0; col < nr; col++) out[col * ccs] = clamp ? clamp_like_xnnpack(v[col], lo, hi, intRelu) : v[col];
  }
}

/*
 * The OS threads one call may split its output rows over: set per calling thread (setThreads),
 * 1 unless asked. Rows are split in whole tiles and each output is computed as on one thread,
 * so the bits do not depend on the count.
 */
static _Thread_local int call_threads = 1;
#define MAX_THREADS 8
/* Fewer multiply-adds per thread than this (about 20 us of work): a thread costs more than it saves. */
#define MIN_WORK_PER_THREAD (1u << 20)

/* Computes rows [i0, i1) of a product; 0, or -1 when out of memory. */
typedef int rows_task(void* ctx, size_t i0, size_t i1);
typedef struct {
  rows_task* fn;
  void* ctx;
  size_t i0, i1;
  int rc;
} rows_part;

static void* rows_thread(void* arg) {
  rows_part* part = arg;
  part->rc = part->fn(part->ctx, part->i0, part->i1);
  return NULL;
}

/* fn over rows [0, M) of perRow multiply-adds each, split over up to call_threads threads (this one among them). */
static int split_rows(rows_task* fn, void* ctx, size_t M, size_t perRow) {
  size_t n = (size_t)(call_threads < MAX_THREADS ? call_threads : MAX_THREADS);
  while (n > 1 && (M / n < MR || (M / n) * perRow < MIN_WORK_PER_THREAD)) n--;
  if (n <= 1) return fn(ctx, 0, M);
  const size_t per = (M / n + MR - 1) / MR * MR;
  rows_part parts[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (size_t t = 0; t < n; t++) {
    const size_t i0 = t * per < M ? t * per : M, i1 = (t + 1) * per < M && t + 1 < n ? (t + 1) * per : M;
    parts[t] = (rows_part){fn, ctx, i0, i1, 0};
  }
  for (size_t t = 1; t < n; t++) started[t] = pthread_create(&ids[t], NULL, rows_thread, &parts[t]) == 0;
  parts[0].rc = fn(ctx, parts[0].i0, parts[0].i1);
  int rc = parts[0].rc;
  for (size_t t = 1; t < n; t++) {
    /* a thread that could not start: its rows here */
    if (started[t]) pthread_join(ids[t], NULL);
    else parts[t].rc = fn(ctx, parts[t].i0, parts[t].i1);
    if (parts[t].rc) rc = parts[t].rc;
  }
  return rc;
}

/* Floats of B packed per block of k: about 512 KB, so that a block's panels stay in L2. */
#define B_BLOCK_FLOATS 131072

/*
 * C(i, j) = clamp(bias[j] + sum over k of A(i, k) * B(k, j)), C at c + i*crs + j*ccs; no clamp
 * for (-inf, inf); a `convolution`'s relu as XNNPACK's (clamp_like_xnnpack). k runs in blocks (B's panels for a block fit in L2); between blocks the running sums wait in
 * `partial` as floats, which changes no bits. Returns 0, or -1 when out of memory.
 */
/* What gemm's rows share within one block of k. */
typedef struct {
  const operand* A;
  size_t N, npad, panels, k0, kn;
  int kb, blocks, clamp, intRelu;
  const float* const* bpanel;
  const size_t* ldb;
  float* partial;
  float* c;
  ptrdiff_t crs, ccs;
  const float* bias;
  float lo, hi;
} gemm_block;

static int gemm_rows(void* arg, size_t r0, size_t r1) {
  const gemm_block* g = arg;
  float* ap = malloc(sizeof(float) * (g->kn * MR + 2 * MR * NR));
  if (!ap) return -1;
  float* init = ap + g->kn * MR;
  float* tile = init + MR * NR;
  for (size_t i0 = r0; i0 < r1; i0 += MR) {
    const int mr = (int)(r1 - i0 < MR ? r1 - i0 : MR);
    pack_a(g->A, i0, mr, g->k0, g->kn, ap);
    for (size_t jb = 0; jb < g->panels; jb++) {
      const size_t j0 = jb * NR;
      const int nr = (int)(g->N - j0 < NR ? g->N - j0 : NR);
      bias_tile(init, g->bias, j0, nr);
      if (g->kb > 0) {
        for (int r = 0; r < mr; r++) memcpy(init + r * NR, g->partial + (i0 + r) * g->npad + j0, sizeof(float) * NR);
      }
      ukernel(g->kn, ap, g->bpanel[jb], g->ldb[jb], init, tile);
      if (g->kb + 1 < g->blocks) {
        for (int r = 0; r < mr; r++) memcpy(g->partial + (i0 + r) * g->npad + j0, tile + r * NR, sizeof(float) * NR);
        continue;
      }
      store_tile(tile, mr, nr, g->c + (ptrdiff_t)i0 * g->crs + (ptrdiff_t)j0 * g->ccs, g->crs, g->ccs, g->clamp, g->lo, g->hi, g->intRelu);
    }
  }
  free(ap);
  return 0;
}

static int gemm(size_t M, size_t N, size_t K, const operand* A, const operand* B, float* c, ptrdiff_t crs,
                ptrdiff_t ccs, const float* bias, float lo, float hi, int convolution) {
  const size_t panels = (N + NR - 1) / NR, npad = panels * NR;
  size_t kc = B_BLOCK_FLOATS / npad;
  if (kc < 64) kc = 64;
  if (kc > K) kc = K;
  const int blocks = (int)((K + kc - 1) / kc);
  float* bp = malloc(sizeof(float) * kc * npad);
  float* partial = blocks > 1 ? malloc(sizeof(float) * M * npad) : NULL;
  const float** bpanel = malloc(sizeof(float*) * panels);
  size_t* ldb = malloc(sizeof(size_t) * panels);
  if (!bp || (blocks > 1 && !partial) || !bpanel || !ldb) {
    free(bp); free(partial); free(bpanel); free(ldb);
    return -1;
  }
  gemm_block g = {A, N, npad, panels, 0, 0, 0, blocks, 0, 0, bpanel, ldb, partial, c, crs, ccs, bias, lo, hi};
  clamp_mode(lo, hi, convolution, &g.clamp, &g.intRelu);
  int rc = 0;
  for (int kb = 0; kb < blocks && rc == 0; kb++) {
    const size_t k0 = (size_t)kb * kc, kn = K - k0 < kc ? K - k0 : kc;
    b_panels(B, N, k0, kn, kc, bp, bpanel, ldb);
    g.kb = kb;
    g.k0 = k0;
    g.kn = kn;
    rc = split_rows(gemm_rows, &g, M, kn * npad);
  }
  free(bp); free(partial); free(bpanel); free(ldb);
  return rc;
}

/*
 * One Adam step of one variable on the mean of its shards' gradients, as tfjs computes it with
 * the trainer's ops (trainer.ts applyShards, then pipeline/ml/adam.ts): every operation in float32,
 * rounded, in this order (sqrt and division are IEEE, so every build gives the same bits):
 *   g  = g[0]*scale[0] + g[1]*scale[1] + ...            (left to right)
 *   m2 = m*beta1 + g*rest1;  v2 = v*beta2 + (g*g)*rest2
 *   w2 = ((m2/bias1) / (sqrt(v2/bias2) + epsilon)) * step + w
 * s: beta1, rest1, beta2, rest2, bias1, bias2, epsilon, step.
 */
#define MAX_SHARDS 8

static inline float adam_one(size_t i, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                             const float* const* g, const float* scale, int shards, const float* s) {
  float gi = g[0][i] * scale[0];
  for (int j = 1; j < shards; j++) gi = gi + g[j][i] * scale[j];
  const float mi = m[i] * s[0] + gi * s[1];
  const float vi = v[i] * s[2] + (gi * gi) * s[3];
  m2[i] = mi;
  v2[i] = vi;
  return ((mi / s[4]) / (__builtin_sqrtf(vi / s[5]) + s[6])) * s[7] + w[i];
}

static void adam_portable(size_t n, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                          const float* const* g, const float* scale, int shards, const float* s) {
  for (size_t i = 0; i < n; i++) w2[i] = adam_one(i, m, v, w, m2, v2, w2, g, scale, shards, s);
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void adam_avx2(size_t n, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                      const float* const* g, const float* scale, int shards, const float* s) {
  __m256 sc[MAX_SHARDS];
  for (int j = 0; j < shards; j++) sc[j] = _mm256_set1_ps(scale[j]);
  const __m256 beta1 = _mm256_set1_ps(s[0]), rest1 = _mm256_set1_ps(s[1]), beta2 = _mm256_set1_ps(s[2]),
               rest2 = _mm256_set1_ps(s[3]), bias1 = _mm256_set1_ps(s[4]), bias2 = _mm256_set1_ps(s[5]),
               epsilon = _mm256_set1_ps(s[6]), step = _mm256_set1_ps(s[7]);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g[0] + i), sc[0]);
    for (int j = 1; j < shards; j++) gi = _mm256_add_ps(gi, _mm256_mul_ps(_mm256_loadu_ps(g[j] + i), sc[j]));
    const __m256 mi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), beta1), _mm256_mul_ps(gi, rest1));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), beta2), _mm256_mul_ps(_mm256_mul_ps(gi, gi), rest2));
    _mm256_storeu_ps(m2 + i, mi);
    _mm256_storeu_ps(v2 + i, vi);
    const __m256 denom = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vi, bias2)), epsilon);
    _mm256_storeu_ps(w2 + i, _mm256_add_ps(_mm256_mul_ps(_mm256_div_ps(_mm256_div_ps(mi, bias1), denom), step), _mm256_loadu_ps(w + i)));
  }
  for (; i < n; i++) w2[i] = adam_one(i, m, v, w, m2, v2, w2, g, scale, shards, s);
}
#endif

/*
 * Row-wise passes over a [rows][channels] array, 8 channels at a time (the portable build in
 * vectors of the same width, so the same operations): out = x + bias per row, and the sum of the
 * rows per channel from +0 in row order, rounded after every addition, as
 * wasm-kernels/sum.ts's loop.
 */
#define ROWS_BODY(V, LOAD, STORE, ADD, ZERO)                                                  \
  size_t c = 0;                                                                             \
  for (; c + 8 <= channels; c += 8) {                                                       \
    if (bias) {                                                                             \
      const V b = LOAD(bias + c);                                                           \
      for (size_t r = 0; r < rows; r++) STORE(out + r * channels + c, ADD(LOAD(x + r * channels + c), b)); \
    } else {                                                                                \
      V s = ZERO;                                                                           \
      for (size_t r = 0; r < rows; r++) s = ADD(s, LOAD(x + r * channels + c));            \
      STORE(out + c, s);                                                                    \
    }                                                                                       \
  }                                                                                         \
  for (; c < channels; c++) {                                                               \
    if (bias) {                                                                             \
      for (size_t r = 0; r < rows; r++) out[r * channels + c] = x[r * channels + c] + bias[c]; \
    } else {                                                                                \
      float s = 0.0f;                                                                       \
      for (size_t r = 0; r < rows; r++) s = s + x[r * channels + c];                        \
      out[c] = s;                                                                           \
    }                                                                                       \
  }

/* bias non-NULL: out[r][c] = x[r][c] + bias[c]; NULL: out[c] = sum over r of x[r][c]. */
typedef void rows_fn(size_t rows, size_t channels, const float* x, const float* bias, float* out);

static void rows_portable(size_t rows, size_t channels, const float* x, const float* bias, float* out) {
  ROWS_BODY(v8, load8, store8, V_ADD, ((v8){0}))
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void rows_avx2(size_t rows, size_t channels, const float* x, const float* bias, float* out) {
  ROWS_BODY(__m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_setzero_ps())
}
#endif

/*
 * y = clamp(bias + x ⊛ filter) with A read in place (ukernel_indirect): the same products in the
 * same order as gemm over the patches, without gathering them (which costs as much as the
 * products where there are few output channels). For a filter whose k fits one block; returns 1
 * (having done nothing) otherwise, 0 when done, -1 when out of memory.
 */
/* What conv_indirect's rows share. */
typedef struct {
  const geometry* g;
  const float* x;
  const float* zeros;
  size_t outC, panels, taps;
  const float* const* bpanel;
  const size_t* ldb;
  float* y;
  const float* bias;
  float lo, hi;
  int clamp, intRelu;
} conv_rows_ctx;

static int conv_rows(void* arg, size_t r0, size_t r1) {
  const conv_rows_ctx* cx = arg;
  const geometry* g = cx->g;
  const float** ptrs = malloc(sizeof(float*) * cx->taps * MR);
  if (!ptrs) return -1;
  float init[MR * NR], tile[MR * NR];
  for (size_t i0 = r0; i0 < r1; i0 += MR) {
    const int mr = (int)(r1 - i0 < MR ? r1 - i0 : MR);
    for (int r = 0; r < MR; r++) {
      const pixel px = pixel_at(g, i0 + (size_t)(r < mr ? r : 0));
      for (size_t t = 0; t < cx->taps; t++) {
        const float* src = r < mr ? patch_src(g, cx->x, px.b, px.oy, px.ox, (int)t / g->kw, (int)t % g->kw) : NULL;
        ptrs[t * MR + r] = src ? src : cx->zeros;
      }
    }
    for (size_t jb = 0; jb < cx->panels; jb++) {
      const size_t j0 = jb * NR;
      const int nr = (int)(cx->outC - j0 < NR ? cx->outC - j0 : NR);
      bias_tile(init, cx->bias, j0, nr);
      ukernel_indirect(cx->taps, (size_t)g->inC, ptrs, cx->bpanel[jb], cx->ldb[jb], init, tile);
      store_tile(tile, mr, nr, cx->y + i0 * cx->outC + j0, (ptrdiff_t)cx->outC, 1, cx->clamp, cx->lo, cx->hi, cx->intRelu);
    }
  }
  free(ptrs);
  return 0;
}

static int conv_indirect(const geometry* g, const float* x, const float* filter, size_t outC, float* y,
                         const float* bias, float lo, float hi) {
  const size_t taps = (size_t)g->kh * g->kw, K = taps * g->inC, M = (size_t)g->batch * g->outH * g->outW;
  const size_t panels = (outC + NR - 1) / NR, npad = panels * NR;
  if (K > B_BLOCK_FLOATS / npad && K > 64) return 1;
  /* a few channels per tap: the pointers would cost more than the gathered panels */
  if (g->inC < 8) return 1;
  const operand B = {filter, (ptrdiff_t)outC, 1, NULL, 0};
  float* bp = malloc(sizeof(float) * K * npad);
  float* zeros = calloc((size_t)g->inC, sizeof(float));
  const float** bpanel = malloc(sizeof(float*) * panels);
  size_t* ldb = malloc(sizeof(size_t) * panels);
  if (!bp || !zeros || !bpanel || !ldb) {
    free(bp); free(zeros); free(bpanel); free(ldb);
    return -1;
  }
  b_panels(&B, outC, 0, K, K, bp, bpanel, ldb);
  conv_rows_ctx cx = {g, x, zeros, outC, panels, taps, bpanel, ldb, y, bias, lo, hi, 0, 0};
  clamp_mode(lo, hi, 1, &cx.clamp, &cx.intRelu);
  const int rc = split_rows(conv_rows, &cx, M, K * npad);
  free(bp); free(zeros); free(bpanel); free(ldb);
  return rc;
}

/* ---- Node-API ---- */

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "native kernels: bad arguments"); return NULL; } } while (0)

/* A typed array argument's data and length: 0 when it is of type `want`, else -1 (nothing thrown). */
static int typed_data(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  bool is;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is || napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok ||
      type != want)
    return -1;
  return 0;
}

/* A Float32Array argument's data and length, or NULL with a TypeError naming it when it is anything else. */
static float* f32(napi_env env, napi_value v, size_t* length, const char* name) {
  void* data;
  if (typed_data(env, v, napi_float32_array, &data, length)) {
    char msg[160];
    snprintf(msg, sizeof msg, "native kernels: %s must be a Float32Array", name);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return data;
}

/* The same for an argument that may be null: *data NULL then. Returns 0, or -1 having thrown. */
static int optional_f32(napi_env env, napi_value v, size_t* length, const char* name, const float** data) {
  napi_valuetype t;
  *data = NULL;
  *length = 0;
  if (napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined)) return 0;
  *data = f32(env, v, length, name);
  return *data ? 0 : -1;
}

/* The call's arguments into argv; -1, having thrown, when there are not exactly `count`. */
static int get_args(napi_env env, napi_callback_info info, size_t count, napi_value* argv, const char* fn) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == count) return 0;
  char msg[120];
  snprintf(msg, sizeof msg, "native kernels: %s takes %zu arguments", fn, count);
  napi_throw_error(env, NULL, msg);
  return -1;
}

static int too_short(napi_env env, size_t have, size_t need, const char* name) {
  if (have >= need) return 0;
  char msg[200];
  snprintf(msg, sizeof msg, "native kernels: %s holds %zu floats, needs %zu", name, have, need);
  napi_throw_range_error(env, NULL, msg);
  return 1;
}

static napi_value fail_oom(napi_env env) {
  napi_throw_error(env, NULL, "native kernels: out of memory");
  return NULL;
}

/*
 * matMul(a, b, c, bias | null, M, N, K, transposeA, transposeB, lo, hi): c[M][N] = op(a)·op(b)
 * with a [M][K] (or [K][M] transposed), b [K][N] (or [N][K]), bias [N].
 */
static napi_value mat_mul(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (get_args(env, info, 11, argv, "matMul")) return NULL;
  size_t la, lb, lc, lbias;
  const float *a, *b, *bias;
  float* c;
  if (!(a = f32(env, argv[0], &la, "a")) || !(b = f32(env, argv[1], &lb, "b")) || !(c = f32(env, argv[2], &lc, "c")) ||
      optional_f32(env, argv[3], &lbias, "bias", &bias)) return NULL;
  int32_t M, N, K;
  bool ta, tb;
  double lo, hi;
  CHECK(napi_get_value_int32(env, argv[4], &M));
  CHECK(napi_get_value_int32(env, argv[5], &N));
  CHECK(napi_get_value_int32(env, argv[6], &K));
  CHECK(napi_get_value_bool(env, argv[7], &ta));
  CHECK(napi_get_value_bool(env, argv[8], &tb));
  CHECK(napi_get_value_double(env, argv[9], &lo));
  CHECK(napi_get_value_double(env, argv[10], &hi));
  if (M <= 0 || N <= 0 || K <= 0) { napi_throw_range_error(env, NULL, "native kernels: matMul sizes must be positive"); return NULL; }
  if (too_short(env, la, (size_t)M * K, "a") || too_short(env, lb, (size_t)K * N, "b") ||
      too_short(env, lc, (size_t)M * N, "c") || (bias && too_short(env, lbias, (size_t)N, "bias"))) return NULL;
  const operand A = {a, ta ? 1 : K, ta ? M : 1, NULL, 0};
  const operand B = {b, tb ? 1 : N, tb ? K : 1, NULL, 0};
  if (gemm(M, N, K, &A, &B, c, N, 1, bias, (float)lo, (float)hi, 0)) return fail_oom(env);
  return NULL;
}

/* The 14 numbers of a convolution's geometry, from an Int32Array. */
static int read_geometry(napi_env env, napi_value v, geometry* g) {
  size_t length;
  void* data;
  if (typed_data(env, v, napi_int32_array, &data, &length) || length != 14) {
    napi_throw_type_error(env, NULL, "native kernels: geometry must be an Int32Array of 14");
    return -1;
  }
  const int32_t* n = data;
  *g = (geometry){n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[11], n[12], n[13]};
  for (int i = 0; i < 12; i++) {
    if (n[i] <= 0) { napi_throw_range_error(env, NULL, "native kernels: geometry sizes must be positive"); return -1; }
  }
  return 0;
}

/* conv2d(x, filter, y, bias | null, geometry, outC, lo, hi): y = clamp(bias + x ⊛ filter), NHWC, filter [kh][kw][inC][outC]. */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (get_args(env, info, 8, argv, "conv2d")) return NULL;
  size_t lx, lf, ly, lbias;
  const float *x, *f, *bias;
  float* y;
  if (!(x = f32(env, argv[0], &lx, "x")) || !(f = f32(env, argv[1], &lf, "filter")) || !(y = f32(env, argv[2], &ly, "y")) ||
      optional_f32(env, argv[3], &lbias, "bias", &bias)) return NULL;
  geometry g;
  if (read_geometry(env, argv[4], &g)) return NULL;
  int32_t outC;
  double lo, hi;
  CHECK(napi_get_value_int32(env, argv[5], &outC));
  CHECK(napi_get_value_double(env, argv[6], &lo));
  CHECK(napi_get_value_double(env, argv[7], &hi));
  const size_t M = (size_t)g.batch * g.outH * g.outW, K = (size_t)g.kh * g.kw * g.inC;
  if (outC <= 0 || too_short(env, lx, (size_t)g.batch * g.inH * g.inW * g.inC, "x") || too_short(env, lf, K * outC, "filter") ||
      too_short(env, ly, M * outC, "y") || (bias && too_short(env, lbias, outC, "bias"))) return NULL;
  const int done = conv_indirect(&g, x, f, (size_t)outC, y, bias, (float)lo, (float)hi);
  if (done < 0) return fail_oom(env);
  if (done == 0) return NULL;
  const operand A = {x, 0, 0, &g, 0};
  const operand B = {f, outC, 1, NULL, 0};
  if (gemm(M, outC, K, &A, &B, y, outC, 1, bias, (float)lo, (float)hi, 1)) return fail_oom(env);
  return NULL;
}

/*
 * conv2dFilterGrad(x, dy, dw, geometry, outC): dw[ky][kx][ci][co] = sum over pixels p (b, oy, ox
 * in order) of patch(p, ky, kx, ci) * dy[p][co]. Computed as dwᵀ = dyᵀ · patches, so that B's
 * panels are 16 consecutive channels of one pixel (one copy each); where the patches have fewer
 * columns than a panel (the first layer's 9), as dw = patchesᵀ · dy instead, dy read in place and
 * no panel mostly padding. Either way each sum runs over the pixels in order: the same bits.
 */
static napi_value conv2d_filter_grad(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (get_args(env, info, 5, argv, "conv2dFilterGrad")) return NULL;
  size_t lx, ldy, ldw;
  const float *x, *dy;
  float* dw;
  if (!(x = f32(env, argv[0], &lx, "x")) || !(dy = f32(env, argv[1], &ldy, "dy")) || !(dw = f32(env, argv[2], &ldw, "dw"))) return NULL;
  geometry g;
  if (read_geometry(env, argv[3], &g)) return NULL;
  int32_t outC;
  CHECK(napi_get_value_int32(env, argv[4], &outC));
  const size_t P = (size_t)g.batch * g.outH * g.outW, K = (size_t)g.kh * g.kw * g.inC;
  if (outC <= 0 || too_short(env, lx, (size_t)g.batch * g.inH * g.inW * g.inC, "x") || too_short(env, ldy, P * outC, "dy") ||
      too_short(env, ldw, K * outC, "dw")) return NULL;
  const float inf = __builtin_inff();
  if (K < NR) {
    const operand A = {x, 0, 0, &g, 1};       /* patchesᵀ: [K][P] */
    const operand B = {dy, outC, 1, NULL, 0}; /* dy: [P][outC] */
    if (gemm(K, outC, P, &A, &B, dw, outC, 1, NULL, -inf, inf, 0)) return fail_oom(env);
    return NULL;
  }
  const operand A = {dy, 1, outC, NULL, 0}; /* dyᵀ: [outC][P] */
  const operand B = {x, 0, 0, &g, 0};       /* patches: [P][K] */
  if (gemm(outC, K, P, &A, &B, dw, 1, outC, NULL, -inf, inf, 0)) return fail_oom(env);
  return NULL;
}

/*
 * A helper for Adam's step, across threads: a training thread that has handed in its shard's
 * gradients waits (adamHelperServe) while the thread holding Adam's state steps each variable
 * (adam with a helper index), taking the upper part of the variable's elements and writing the
 * new weights into its own copy too, so that it needs no copy of them afterwards. Elementwise:
 * each element is computed as on one thread, the same bits.
 *
 * They meet on a board in memory both threads share (a SharedArrayBuffer of the trainer's,
 * adamHelperBoardBytes() long, zeroed): one board per trainer, one helper per board. The stepping
 * thread opens a step on it (adamHelperOpen: for its own adam calls only) and closes it
 * (adamHelperRelease); a helper serves the step it registered for, until then.
 */
#define HELPER_MAX_VARS 64
/* variables smaller than this are stepped by the calling thread alone: a hand-off costs more */
#define HELPER_MIN_SPLIT 4096

enum { HELPER_IDLE, HELPER_WAITING, HELPER_JOB, HELPER_END };

typedef struct {
  atomic_int state;
  /* variables whose copy has been written since the helper registered */
  atomic_int written;
  /* the step closed last (0: none; steps count from 1): a helper registering for it afterwards does not wait */
  atomic_int closed;
  /* the registered helper's step, and its watch (ctrl[slot] stays `task` while the step lasts) */
  int32_t task;
  const atomic_int* watch;
  /* the helper's copies of the variables' new weights */
  size_t nvars;
  float* copy[HELPER_MAX_VARS];
  size_t length[HELPER_MAX_VARS];
  /* the variable the helper steps: its elements [from, n) */
  size_t from, n;
  const float *m, *v, *w;
  float *m2, *v2, *w2, *out;
  const float* g[MAX_SHARDS];
  float scale[MAX_SHARDS], scalars[8];
  int shards;
} helper_board;

/* the step this thread has opened (board NULL: none) */
static _Thread_local helper_board* open_board;
static _Thread_local int32_t open_task;

static inline void cpu_relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * Waiting for the other thread: spin a while, then sleep until woken or for at most 1 ms.
 * Spinning on wastes a core that a busy machine's other processes (or this trainer's other
 * thread) need: beside two other busy processes, waits that only spun made a 2-thread step
 * about 20% slower than without the helper. The helper spins HELPER_SPIN_MS for the next part;
 * the stepping thread, whose wait is the helper's part of a variable (under a millisecond),
 * STEP_SPIN_MS.
 */
#define HELPER_SPIN_MS 0.2
#define STEP_SPIN_MS 1.0

/* Sleeps while *state is still `expected`, at most 1 ms (where there is no futex: gives the core up once). */
static void sleep_while(atomic_int* state, int expected) {
#if defined(__linux__)
  const struct timespec ms = {0, 1000000};
  syscall(SYS_futex, (int*)state, FUTEX_WAIT_PRIVATE, expected, &ms, NULL, 0);
#else
  (void)state;
  (void)expected;
  sched_yield();
#endif
}

/* Wakes the threads sleeping on *state. */
static void wake(atomic_int* state) {
#if defined(__linux__)
  syscall(SYS_futex, (int*)state, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
  (void)state;
#endif
}

/* Sets *state and wakes the threads sleeping on it. */
static void set_and_wake(atomic_int* state, int value) {
  atomic_store(state, value);
  wake(state);
}

/* Waits while *state is `value`: spins spin_ms first, then sleeps in steps of at most 1 ms. */
static void wait_while(atomic_int* state, int value, double spin_ms) {
  const double spin_until = now_ms() + spin_ms;
  for (unsigned spins = 1; atomic_load(state) == value; spins++) {
    if ((spins & 255) == 0 && now_ms() > spin_until) sleep_while(state, value);
    else cpu_relax();
  }
}

/* Elements [from, n) of one variable's step, the new weights also into `copy` when there is one. */
static void adam_range(size_t from, size_t n, const float* m, const float* v, const float* w, float* m2, float* v2, float* w2,
                       const float* const* g, const float* scale, int shards, const float* s, float* copy) {
  const float* gs[MAX_SHARDS];
  for (int j = 0; j < shards; j++) gs[j] = g[j] + from;
  adam_update(n - from, m + from, v + from, w + from, m2 + from, v2 + from, w2 + from, gs, scale, shards, s);
  if (copy) memcpy(copy + from, w2 + from, (n - from) * sizeof(float));
}

/*
 * The adam call's step, with the helper's share when this thread has opened a step, its helper
 * waits, and the helper's variable `index` has this length: 1 then (the helper's copy written),
 * else 0 (the whole step here).
 */
static int adam_with_helper(int index, size_t n, float* const* t, const float* const* g, const float* scale, int shards, const float* s) {
  helper_board* b = open_board;
  if (index < 0 || b == NULL || atomic_load(&b->state) != HELPER_WAITING || b->task != open_task || (size_t)index >= b->nvars ||
      b->length[index] != n) {
    adam_update(n, t[0], t[1], t[2], t[3], t[4], t[5], g, scale, shards, s);
    return 0;
  }
  float* copy = b->copy[index];
  /* a multiple of 8: the helper's part starts where a vector of the one-thread pass would */
  const size_t from = n < HELPER_MIN_SPLIT ? n : (n / 2) & ~(size_t)7;
  if (from < n) {
    b->from = from;
    b->n = n;
    b->m = t[0]; b->v = t[1]; b->w = t[2];
    b->m2 = t[3]; b->v2 = t[4]; b->w2 = t[5];
    b->out = copy;
    for (int j = 0; j < shards; j++) { b->g[j] = g[j]; b->scale[j] = scale[j]; }
    memcpy(b->scalars, s, sizeof b->scalars);
    b->shards = shards;
    set_and_wake(&b->state, HELPER_JOB);
  }
  adam_range(0, from, t[0], t[1], t[2], t[3], t[4], t[5], g, scale, shards, s, copy);
  if (from < n) wait_while(&b->state, HELPER_JOB, STEP_SPIN_MS);
  atomic_fetch_add(&b->written, 1);
  return 1;
}

/* A board argument: an Int32Array over shared memory of at least sizeof(helper_board) bytes. NULL, having thrown, when not. */
static helper_board* get_board(napi_env env, napi_value v, const char* fn) {
  size_t len;
  void* data;
  if (typed_data(env, v, napi_int32_array, &data, &len) || len * sizeof(int32_t) < sizeof(helper_board) || ((uintptr_t)data & 7) != 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "native kernels: %s takes a board: an Int32Array of adamHelperBoardBytes() bytes, 8-aligned", fn);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return data;
}

/* adamHelperBoardBytes(): the bytes of a board (zeroed shared memory: the helper and the stepping thread meet there). */
static napi_value adam_helper_board_bytes(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_uint32(env, (uint32_t)sizeof(helper_board), &out));
  return out;
}

/*
 * adamHelperRegister(board, copies: Float32Array[], ctrl: Int32Array, slot, task): this thread
 * is the board's helper for step `task` while ctrl[slot] stays `task`; its new weights go into
 * `copies`, one array per variable in the stepping thread's order. Returns false, registering
 * nothing, for a model of more than HELPER_MAX_VARS variables.
 */
static napi_value adam_helper_register(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (get_args(env, info, 5, argv, "adamHelperRegister")) return NULL;
  helper_board* b = get_board(env, argv[0], "adamHelperRegister");
  if (!b) return NULL;
  uint32_t count;
  bool isArray;
  CHECK(napi_is_array(env, argv[1], &isArray));
  if (!isArray || napi_get_array_length(env, argv[1], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "native kernels: adamHelperRegister takes an array of Float32Arrays");
    return NULL;
  }
  size_t len;
  void* ctrl;
  int32_t slot, task;
  if (typed_data(env, argv[2], napi_int32_array, &ctrl, &len) || napi_get_value_int32(env, argv[3], &slot) != napi_ok || slot < 0 || (size_t)slot >= len ||
      napi_get_value_int32(env, argv[4], &task) != napi_ok || task < 1) {
    napi_throw_type_error(env, NULL, "native kernels: adamHelperRegister takes a control Int32Array, a slot in it and a task number from 1");
    return NULL;
  }
  napi_value registered;
  if (count > HELPER_MAX_VARS) {
    CHECK(napi_get_boolean(env, false, &registered));
    return registered;
  }
  if (atomic_load(&b->state) != HELPER_IDLE) {
    napi_throw_error(env, NULL, "native kernels: this board has a helper already");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value e;
    CHECK(napi_get_element(env, argv[1], i, &e));
    if (!(b->copy[i] = f32(env, e, &b->length[i], "a weights copy"))) return NULL;
  }
  b->nvars = count;
  b->task = task;
  b->watch = (const atomic_int*)ctrl + slot;
  atomic_store(&b->written, 0);
  atomic_store(&b->state, HELPER_WAITING);
  CHECK(napi_get_boolean(env, true, &registered));
  return registered;
}

/*
 * adamHelperServe(board, timeoutMs): the board's registered helper steps the parts of variables
 * it is handed until adamHelperRelease, until its watch no longer reads its task (the trainer
 * moved on or stops), or timeoutMs; at once when its step was closed before it registered (the
 * stepping thread failed first). Returns how many variables' copies were written, -1 when it was
 * not released by the stepping thread.
 */
static napi_value adam_helper_serve(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  double timeout;
  if (get_args(env, info, 2, argv, "adamHelperServe")) return NULL;
  helper_board* b = get_board(env, argv[0], "adamHelperServe");
  if (!b) return NULL;
  CHECK(napi_get_value_double(env, argv[1], &timeout));
  const double deadline = now_ms() + timeout;
  double spin_until = now_ms() + HELPER_SPIN_MS;
  int result = -1;
  for (unsigned spins = 0;; spins++) {
    const int state = atomic_load(&b->state);
    if (state == HELPER_JOB) {
      adam_range(b->from, b->n, b->m, b->v, b->w, b->m2, b->v2, b->w2, b->g, b->scale, b->shards, b->scalars, b->out);
      set_and_wake(&b->state, HELPER_WAITING);
      /* the next variable's part usually follows within the spin */
      spin_until = now_ms() + HELPER_SPIN_MS;
      continue;
    }
    if (state == HELPER_END) {
      result = atomic_load(&b->written);
      atomic_store(&b->state, HELPER_IDLE);
      break;
    }
    if (state != HELPER_WAITING) break; /* not registered */
    if ((spins & 255) == 0) {
      const double now = now_ms();
      if (atomic_load(&b->closed) == b->task || atomic_load(b->watch) != b->task || now > deadline) {
        int expected = HELPER_WAITING;
        if (atomic_compare_exchange_strong(&b->state, &expected, HELPER_IDLE)) break;
        continue; /* a job or the end came in meanwhile */
      }
      /* woken by a job or the end; the watch and the closed step are looked at again within 1 ms */
      if (now > spin_until) {
        sleep_while(&b->state, HELPER_WAITING);
        continue;
      }
    }
    cpu_relax();
  }
  napi_value out;
  CHECK(napi_create_int32(env, result, &out));
  return out;
}

/*
 * adamHelperOpen(board, task): this thread's adam calls with a helper index may use the board's
 * helper for step `task` (registered now or later: open the step before its helper registers).
 */
static napi_value adam_helper_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t task;
  if (get_args(env, info, 2, argv, "adamHelperOpen")) return NULL;
  helper_board* b = get_board(env, argv[0], "adamHelperOpen");
  if (!b) return NULL;
  if (napi_get_value_int32(env, argv[1], &task) != napi_ok || task < 1) {
    napi_throw_type_error(env, NULL, "native kernels: adamHelperOpen takes a task number from 1");
    return NULL;
  }
  open_board = b;
  open_task = task;
  return NULL;
}

/*
 * adamHelperRelease(): closes this thread's open step and ends its helper's service; returns the
 * variables whose copy was written, -1 when no helper of the step waits (one that registers for
 * it later leaves at once) or no step is open.
 */
static napi_value adam_helper_release(napi_env env, napi_callback_info info) {
  (void)info;
  helper_board* b = open_board;
  int released = 0;
  if (b != NULL) {
    if (atomic_load(&b->state) == HELPER_WAITING && b->task == open_task) {
      int expected = HELPER_WAITING;
      released = atomic_compare_exchange_strong(&b->state, &expected, HELPER_END);
      /* wake only: the helper may have seen the end and gone idle already */
      if (released) wake(&b->state);
    }
    /* after the end: a helper that sees its step closed while it still waits was never released */
    atomic_store(&b->closed, open_task);
  }
  open_board = NULL;
  napi_value out;
  CHECK(napi_create_int32(env, released ? atomic_load(&b->written) : -1, &out));
  return out;
}

/*
 * adam(m, v, w, m2, v2, w2, grads: Float32Array[], scales: Float32Array, scalars: Float32Array(8)
 * [, helperIndex]): one Adam step of one variable on the scaled sum of its shards' gradients
 * (adam_one); with helperIndex, shared with the helper of the step this thread opened
 * (adam_with_helper). Returns whether the helper's copy was written.
 */
static napi_value adam(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  size_t argc = 10;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9 && argc != 10) { napi_throw_error(env, NULL, "native kernels: adam takes 9 or 10 arguments"); return NULL; }
  int32_t index = -1;
  if (argc == 10 && napi_get_value_int32(env, argv[9], &index) != napi_ok) {
    napi_throw_type_error(env, NULL, "native kernels: adam's helper index must be a number");
    return NULL;
  }
  static const char* names[] = {"m", "v", "w", "m2", "v2", "w2"};
  float* t[6];
  size_t n = 0;
  for (int i = 0; i < 6; i++) {
    size_t len;
    if (!(t[i] = f32(env, argv[i], &len, names[i]))) return NULL;
    if (i == 0) n = len;
    else if (len != n) { napi_throw_range_error(env, NULL, "native kernels: adam's arrays differ in length"); return NULL; }
  }
  uint32_t shards;
  bool isArray;
  CHECK(napi_is_array(env, argv[6], &isArray));
  if (!isArray || napi_get_array_length(env, argv[6], &shards) != napi_ok || shards < 1 || shards > MAX_SHARDS) {
    napi_throw_range_error(env, NULL, "native kernels: adam takes 1 to 8 gradients");
    return NULL;
  }
  const float* g[MAX_SHARDS];
  for (uint32_t j = 0; j < shards; j++) {
    napi_value e;
    size_t len;
    CHECK(napi_get_element(env, argv[6], j, &e));
    if (!(g[j] = f32(env, e, &len, "a gradient"))) return NULL;
    if (len != n) { napi_throw_range_error(env, NULL, "native kernels: a gradient differs in length from its variable"); return NULL; }
  }
  size_t ls, lsc;
  const float *scale, *scalars;
  if (!(scale = f32(env, argv[7], &ls, "scales")) || !(scalars = f32(env, argv[8], &lsc, "scalars"))) return NULL;
  if (ls != shards || lsc != 8) { napi_throw_range_error(env, NULL, "native kernels: adam takes one scale per gradient and 8 scalars"); return NULL; }
  napi_value out;
  CHECK(napi_get_boolean(env, adam_with_helper(index, n, t, g, scale, (int)shards, scalars) == 1, &out));
  return out;
}

/* biasAdd(x, bias, out, channels): out = x + bias along the last axis; x's length a multiple of channels. */
static napi_value bias_add(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv, "biasAdd")) return NULL;
  size_t lx, lb, lo;
  const float *x, *bias;
  float* out;
  if (!(x = f32(env, argv[0], &lx, "x")) || !(bias = f32(env, argv[1], &lb, "bias")) || !(out = f32(env, argv[2], &lo, "out"))) return NULL;
  int32_t channels;
  CHECK(napi_get_value_int32(env, argv[3], &channels));
  if (channels <= 0 || lx % (size_t)channels != 0 || lb != (size_t)channels || lo != lx) {
    napi_throw_range_error(env, NULL, "native kernels: biasAdd takes x [rows][channels], bias [channels] and out like x");
    return NULL;
  }
  rows_pass(lx / (size_t)channels, (size_t)channels, x, bias, out);
  return NULL;
}

/* sumRows(x, out, channels): out[c] = the sum over rows of x[r][c], in row order. */
static napi_value sum_rows(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv, "sumRows")) return NULL;
  size_t lx, lo;
  const float* x;
  float* out;
  if (!(x = f32(env, argv[0], &lx, "x")) || !(out = f32(env, argv[1], &lo, "out"))) return NULL;
  int32_t channels;
  CHECK(napi_get_value_int32(env, argv[2], &channels));
  if (channels <= 0 || lx % (size_t)channels != 0 || lo != (size_t)channels) {
    napi_throw_range_error(env, NULL, "native kernels: sumRows takes x [rows][channels] and out [channels]");
    return NULL;
  }
  rows_pass(lx / (size_t)channels, (size_t)channels, x, NULL, out);
  return NULL;
}

/* setThreads(n): the OS threads this thread's later calls may split their rows over (1 to 8). */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t n;
  if (get_args(env, info, 1, argv, "setThreads")) return NULL;
  if (napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1 || n > MAX_THREADS) {
    napi_throw_range_error(env, NULL, "native kernels: setThreads takes a whole number from 1 to 8");
    return NULL;
  }
  call_threads = n;
  return NULL;
}

/*
 * useIsa(name): "avx2" (the default, where the CPU has it) or "portable"; returns the build now
 * running. One build for the whole process: tests compare the two.
 */
static napi_value use_isa(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[16] = "";
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok ||
      (strcmp(name, "avx2") != 0 && strcmp(name, "portable") != 0)) {
    napi_throw_type_error(env, NULL, "native kernels: useIsa takes \"avx2\" or \"portable\"");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_string_utf8(env, pick_ukernel(strcmp(name, "portable") == 0), NAPI_AUTO_LENGTH, &out));
  return out;
}

NAPI_MODULE_INIT() {
  pick_ukernel(0);
  napi_property_descriptor props[] = {
    {"useIsa", NULL, use_isa, NULL, NULL, NULL, napi_default, NULL},
    {"adam", NULL, adam, NULL, NULL, NULL, napi_default, NULL},
    {"adamHelperBoardBytes", NULL, adam_helper_board_bytes, NULL, NULL, NULL, napi_default, NULL},
    {"adamHelperRegister", NULL, adam_helper_register, NULL, NULL, NULL, napi_default, NULL},
    {"adamHelperServe", NULL, adam_helper_serve, NULL, NULL, NULL, napi_default, NULL},
    {"adamHelperOpen", NULL, adam_helper_open, NULL, NULL, NULL, napi_default, NULL},
    {"adamHelperRelease", NULL, adam_helper_release, NULL, NULL, NULL, napi_default, NULL},
    {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
    {"biasAdd", NULL, bias_add, NULL, NULL, NULL, napi_default, NULL},
    {"sumRows", NULL, sum_rows, NULL, NULL, NULL, napi_default, NULL},
    {"matMul", NULL, mat_mul, NULL, NULL, NULL, napi_default, NULL},
    {"conv2d", NULL, conv2d, NULL, NULL, NULL, napi_default, NULL},
    {"conv2dFilterGrad", NULL, conv2d_filter_grad, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
