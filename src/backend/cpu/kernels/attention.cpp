// Multi-head scaled-dot-product attention without the [Sq, Sk] score matrix: the tiled online
// softmax of FlashAttention (Dao et al. 2022, Algorithm 1; the "online normaliser" of Milakov &
// Gimelshein 2018). Work items are (batch, head, block of Bq queries); each walks the keys in
// blocks of Bk, computing S = (scale*Q) K^T with a register-blocked SIMD micro-kernel (vec.h) on a packed
// K^T panel, updating the running row max m and denominator l, rescaling the output accumulator O
// and adding P V with a second micro-kernel. Memory per thread: a few tiles (~150 KB), never
// Sq x Sk. Causal masking (CLIP) skips key blocks entirely above the diagonal.
#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/kernel_set.h"
#include "backend/cpu/kernels/isa.h"

SDPP_KERNELS_BEGIN
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/vec.h"
#include "backend/cpu/kernels/attention_tasks.h"

namespace {

constexpr int64_t kBk = 128;  // keys per block (multiple of 16); V block of 128 x kW*NV floats stays in L1

// C[R, kW*NV] (+)= A[R, K] @ B[K, kW*NV]; A, B, C row-major with leading dims lda, ldb, ldc.
using Kernel = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t);

// Accumulators are named variables, not an array: GCC keeps an array of vectors in memory and
// stores it every iteration (measured: 2x slower); with names every one lives in a register.
#define SDPP_FOR_V(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3) M(r, 4)
#define SDPP_FOR_RV(M) SDPP_FOR_V(M, 0) SDPP_FOR_V(M, 1) SDPP_FOR_V(M, 2) SDPP_FOR_V(M, 3) SDPP_FOR_V(M, 4) SDPP_FOR_V(M, 5)
#define SDPP_DECL(r, v) \
    vf c##r##v = vzero(); \
    if constexpr (ACC && R > r && NV > v) c##r##v = vload(C + r * ldc + kW * v);
#define SDPP_LOADB(v) \
    if constexpr (NV > v) b##v = vload(Bk + kW * v);
#define SDPP_FMA(r, v) \
    if constexpr (NV > v) c##r##v = vfmadd(a, b##v, c##r##v);
#define SDPP_ROW(r)                                         \
    if constexpr (R > r) {                                  \
        vf a = vset1(A[r * lda + k]);                       \
        SDPP_FOR_V(SDPP_FMA, r)                             \
    }
#define SDPP_STORE(r, v) \
    if constexpr (R > r && NV > v) vstore(C + r * ldc + kW * v, c##r##v);

template <int R, int NV, bool ACC>
void micro(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K) {
    static_assert(R >= 1 && R <= 6 && NV >= 1 && NV <= 5);
    SDPP_FOR_RV(SDPP_DECL)
    for (int64_t k = 0; k < K; ++k) {
        const float* Bk = B + k * ldb;
        vf b0, b1, b2, b3, b4;
        SDPP_LOADB(0) SDPP_LOADB(1) SDPP_LOADB(2) SDPP_LOADB(3) SDPP_LOADB(4)
        SDPP_ROW(0) SDPP_ROW(1) SDPP_ROW(2) SDPP_ROW(3) SDPP_ROW(4) SDPP_ROW(5)
    }
    SDPP_FOR_RV(SDPP_STORE)
}
#undef SDPP_FOR_V
#undef SDPP_FOR_RV
#undef SDPP_DECL
#undef SDPP_LOADB
#undef SDPP_FMA
#undef SDPP_ROW
#undef SDPP_STORE

constexpr int kMaxNV = 5;
constexpr int kRows[kMaxNV + 1] = {0, 6, 6, 4, 3, 2};  // rows per micro-tile for NV vectors: <= 12 accumulators
// (AVX2's 16 registers; AVX-512's 32 would allow more, not needed at these shapes yet)

template <bool ACC, int NV, int... Rs>
constexpr auto row_table(std::integer_sequence<int, Rs...>) {
    return std::array<Kernel, sizeof...(Rs)>{&micro<Rs + 1, NV, ACC>...};
}
template <bool ACC, int... NVs>
constexpr auto kernel_table(std::integer_sequence<int, NVs...>) {
    return std::array<std::array<Kernel, 6>, sizeof...(NVs)>{row_table<ACC, NVs + 1>(std::make_integer_sequence<int, 6>{})...};
}
constexpr auto kKernels = kernel_table<false>(std::make_integer_sequence<int, kMaxNV>{});
constexpr auto kKernelsAcc = kernel_table<true>(std::make_integer_sequence<int, kMaxNV>{});

// C[M, N] (+)= A[M, K] @ B[K, N] with N a multiple of kW; column chunks of at most nv_max vectors.
template <bool ACC>
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
          int64_t ldc, int nv_max) {
    const auto& tab = ACC ? kKernelsAcc : kKernels;
    for (int64_t c0 = 0; c0 < N;) {
        int nv = int(std::min<int64_t>(nv_max, (N - c0) / kW));
        int rows = kRows[nv];
        for (int64_t r0 = 0; r0 < M; r0 += rows) {
            int r = int(std::min<int64_t>(rows, M - r0));
            tab[nv - 1][r - 1](A + r0 * lda, lda, B + c0, ldb, C + r0 * ldc + c0, ldc, K);
        }
        c0 += kW * nv;
    }
}

// Column chunking for the P V product: 2-vector chunks (6 rows x 2 vectors = 12 accumulators,
// 2 loads + 6 broadcasts per 12 FMAs: the register budget of AVX2's 16 ymm registers). Wider
// chunks (3x4, 2x5) make GCC fold the B loads into the FMAs, loading each B vector once per row:
// measured 1024x1024x80 at 53% -> 88% of the matmul peak when switching to 16-column chunks (AVX2).
int pv_chunk(int64_t nvec) { return nvec >= 2 ? 2 : 1; }

// Row softmax step on S[0:ncols] (already scaled): updates m, l, rescales the O row, writes P into
// S[0:nk] (zeros past ncols). S rows are readable up to round_up(nk, 16) (>= kW), so the last partial
// vector is processed whole with its invalid lanes masked (scalar expf tails cost ~25% at Sk = 77).
inline void online_row(float* s, int64_t ncols, int64_t nk, float& m, float& l, float* o, int64_t dp) {
    const int64_t nfull = ncols / kW * kW;
    const int rem = int(ncols - nfull);
    vf mv = vset1(m);
    for (int64_t j = 0; j < nfull; j += kW) mv = vmax(mv, vload(s + j));
    if (rem) mv = vmax(mv, vkeep_first(vload(s + nfull), rem, -INFINITY));
    float mx = vhmax(mv);
    vf mxv = vset1(mx), acc = vzero();
    for (int64_t j = 0; j < nfull; j += kW) {
        vf e = vexp(vsub(vload(s + j), mxv));
        vstore(s + j, e);
        acc = vadd(acc, e);
    }
    if (rem) {
        vf e = vkeep_first(vexp(vsub(vload(s + nfull), mxv)), rem, 0.0f);
        vstore(s + nfull, e);
        acc = vadd(acc, e);
    }
    float sum = vhsum(acc);
    for (int64_t j = round_up(ncols, kW); j < nk; ++j) s[j] = 0.0f;
    float alpha = m == -INFINITY ? 0.0f : vhmax(vexp(vset1(m - mx)));  // the vector exp, as for s
    if (alpha != 1.0f) {
        vf av = vset1(alpha);
        int64_t d = 0;
        for (; d + kW <= dp; d += kW) vstore(o + d, vmul(av, vload(o + d)));
        for (; d < dp; ++d) o[d] *= alpha;
    }
    l = l * alpha + sum;
    m = mx;
}

// Per-thread buffers, taken from the caller's allocator so its peak counter sees them: the packed
// K^T and V of the head being worked on (reused by every query block of that head the thread
// takes) and the query-block tiles.
struct Workspace {
    Tensor buf;
    float *kt, *v, *q, *s, *o, *m, *l;
    Workspace(Allocator& alloc, int64_t skp, int64_t d, int64_t dp) {
        int64_t sizes[7] = {skp * d, skp * dp, kBq * dp, kBq * kBk, kBq * dp, kBq, kBq}, total = 0;
        for (int64_t& n : sizes) total += n = round_up(n, 16);
        buf = Tensor::empty({total}, DType::F32, alloc);
        float* p = buf.data<float>();
        float** ptrs[7] = {&kt, &v, &q, &s, &o, &m, &l};
        for (int i = 0; i < 7; ++i) {
            *ptrs[i] = p;
            p += sizes[i];
        }
    }
};

// K^T as panels of 16 keys, each [d][16] contiguous (what the S micro-kernel streams), and V as
// contiguous rows of dp floats; keys past sk and columns past d are zero.
void pack_head(const float* K, int64_t ldk, const float* V, int64_t ldv, int64_t sk, int64_t d, int64_t dp,
               float* kt, float* v) {
    int64_t skp = round_up(sk, 16);
    for (int64_t p = 0; p < skp; p += 16) {
        float* panel = kt + p * d;
        int64_t nj = std::min<int64_t>(16, sk - p);
        for (int64_t jj = 0; jj < nj; ++jj) {
            const float* src = K + (p + jj) * ldk;
            for (int64_t e = 0; e < d; ++e) panel[e * 16 + jj] = src[e];
        }
        for (int64_t jj = nj; jj < 16; ++jj)
            for (int64_t e = 0; e < d; ++e) panel[e * 16 + jj] = 0.0f;
    }
    for (int64_t j = 0; j < sk; ++j) {
        std::memcpy(v + j * dp, V + j * ldv, size_t(d) * sizeof(float));
        for (int64_t e = d; e < dp; ++e) v[j * dp + e] = 0.0f;
    }
}

// S[nq, 16*np] = Q[nq, d] @ (K^T panels); ldq = dp, lds = row stride of S.
void scores(int64_t nq, int64_t np, int64_t d, const float* Qt, int64_t ldq, const float* kt, float* S, int64_t lds) {
    for (int64_t p = 0; p < np; ++p) {
        const float* B = kt + p * 16 * d;
        int64_t r0 = 0;
        constexpr int nv = 16 / kW;  // one panel of 16 keys in vectors
        for (; r0 + 6 <= nq; r0 += 6) kKernels[nv - 1][5](Qt + r0 * ldq, ldq, B, 16, S + r0 * lds + p * 16, lds, d);
        if (r0 < nq) kKernels[nv - 1][nq - r0 - 1](Qt + r0 * ldq, ldq, B, 16, S + r0 * lds + p * 16, lds, d);
    }
}

}  // namespace

void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType compute,
               const View& y) {
    const int64_t bs = q.shape[0], sq = q.shape[1], sk = k.shape[1], hd = q.shape[2], d = hd / heads;
#if defined(SDPP_KERNEL_ISA_AVX512)
    if (compute == DType::BF16 && d <= 256 && cpu_features().avx512_bf16)
        return attention_bf16(q, k, v, heads, causal, scale, y);
#else
    (void)compute;  // AVX2 has no bf16 dot product: bf16 compute runs this f32 kernel
#endif
    const int64_t dp = round_up(d, kW), nvec = dp / kW, skp = round_up(sk, 16);
    const int nv_pv = pv_chunk(nvec);
    const int64_t nqb = (sq + kBq - 1) / kBq, ntask = bs * heads * nqb;
    const float* Q = q.f32();
    const float* K = k.f32();
    const float* V = v.f32();
    float* Y = y.f32();
    int nthr = int(std::min<int64_t>(ntask, omp_get_max_threads()));

    const bool head_inner = heads_innermost(sk, dp);  // the task order (attention_tasks.h)
    Allocator& alloc = current_allocator();  // worker threads have none of their own
#pragma omp parallel num_threads(nthr)
    {
        Workspace ws(alloc, skp, d, dp);
        int64_t packed = -1;  // (b * heads + h) currently in ws.kt / ws.v
#pragma omp for schedule(static)
        for (int64_t t = 0; t < ntask; ++t) {
            const auto [b, h, qb] = attention_item(t, head_inner, heads, nqb);
            const int64_t bh = b * heads + h, q0 = qb * kBq;
            const int64_t nq = std::min(kBq, sq - q0);
            if (packed != bh) {
                pack_head(K + b * k.strides[0] + h * d, k.strides[1], V + b * v.strides[0] + h * d, v.strides[1], sk, d,
                          dp, ws.kt, ws.v);
                packed = bh;
            }
            // Q tile, scaled, zero-padded to dp columns.
            for (int64_t i = 0; i < nq; ++i) {
                const float* src = Q + b * q.strides[0] + (q0 + i) * q.strides[1] + h * d;
                float* dst = ws.q + i * dp;
                for (int64_t e = 0; e < d; ++e) dst[e] = src[e] * scale;
                for (int64_t e = d; e < dp; ++e) dst[e] = 0.0f;
            }
            std::fill_n(ws.o, nq * dp, 0.0f);
            std::fill_n(ws.m, nq, -INFINITY);
            std::fill_n(ws.l, nq, 0.0f);
            const int64_t kend = causal ? std::min(sk, q0 + nq) : sk;  // keys past the last query's diagonal
            for (int64_t k0 = 0; k0 < kend; k0 += kBk) {
                const int64_t nk = std::min(kBk, kend - k0), np = (nk + 15) / 16, lds = kBk;
                scores(nq, np, d, ws.q, dp, ws.kt + k0 * d, ws.s, lds);
                for (int64_t i = 0; i < nq; ++i) {
                    int64_t ncols = causal ? std::clamp<int64_t>(q0 + i - k0 + 1, 0, nk) : nk;
                    online_row(ws.s + i * lds, ncols, nk, ws.m[i], ws.l[i], ws.o + i * dp, dp);
                }
                gemm<true>(nq, dp, nk, ws.s, lds, ws.v + k0 * dp, dp, ws.o, dp, nv_pv);
            }
            for (int64_t i = 0; i < nq; ++i) {
                float inv = 1.0f / ws.l[i];
                float* dst = Y + (b * sq + q0 + i) * hd + h * d;
                const float* o = ws.o + i * dp;
                for (int64_t e = 0; e < d; ++e) dst[e] = o[e] * inv;
            }
        }
    }
}

SDPP_KERNELS_END
