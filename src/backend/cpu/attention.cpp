// Multi-head scaled-dot-product attention without the [Sq, Sk] score matrix: the tiled online
// softmax of FlashAttention (Dao et al. 2022, Algorithm 1; the "online normaliser" of Milakov &
// Gimelshein 2018). Work items are (batch, head, block of Bq queries); each walks the keys in
// blocks of Bk, computing S = (scale*Q) K^T with a register-blocked AVX2 micro-kernel on a packed
// K^T panel, updating the running row max m and denominator l, rescaling the output accumulator O
// and adding P V with a second micro-kernel. Memory per thread: a few tiles (~150 KB), never
// Sq x Sk. Causal masking (CLIP) skips key blocks entirely above the diagonal.
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/vec.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cmath>
#include <cstring>
#include <vector>

namespace sdpp::cpu {
namespace {

constexpr int64_t kBq = 64;   // queries per work item
constexpr int64_t kBk = 256;  // keys per block

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// C[R, 8*NV] (+)= A[R, K] @ B[K, 8*NV]; A, B, C row-major with leading dims lda, ldb, ldc.
using Kernel = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t);

#if SDPP_AVX2
template <int R, int NV, bool ACC>
void micro(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K) {
    __m256 c[R][NV];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) c[r][v] = ACC ? _mm256_loadu_ps(C + r * ldc + 8 * v) : _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        __m256 b[NV];
        for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(B + k * ldb + 8 * v);
        for (int r = 0; r < R; ++r) {
            __m256 a = _mm256_broadcast_ss(A + r * lda + k);
            for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) _mm256_storeu_ps(C + r * ldc + 8 * v, c[r][v]);
}
#else
template <int R, int NV, bool ACC>
void micro(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K) {
    for (int r = 0; r < R; ++r)
        for (int j = 0; j < 8 * NV; ++j) {
            float acc = ACC ? C[r * ldc + j] : 0.0f;
            for (int64_t k = 0; k < K; ++k) acc += A[r * lda + k] * B[k * ldb + j];
            C[r * ldc + j] = acc;
        }
}
#endif

constexpr int kMaxNV = 5;
constexpr int kRows[kMaxNV + 1] = {0, 6, 6, 4, 3, 2};  // rows per micro-tile for NV vectors: <= 12 accumulators

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

// C[M, N] (+)= A[M, K] @ B[K, N] with N a multiple of 8; column chunks of at most nv_max vectors.
template <bool ACC>
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
          int64_t ldc, int nv_max) {
    const auto& tab = ACC ? kKernelsAcc : kKernels;
    for (int64_t c0 = 0; c0 < N;) {
        int nv = int(std::min<int64_t>(nv_max, (N - c0) / 8));
        int rows = kRows[nv];
        for (int64_t r0 = 0; r0 < M; r0 += rows) {
            int r = int(std::min<int64_t>(rows, M - r0));
            tab[nv - 1][r - 1](A + r0 * lda, lda, B + c0, ldb, C + r0 * ldc + c0, ldc, K);
        }
        c0 += 8 * nv;
    }
}

// Column chunking for the P V product over Dp = 8 * nvec output columns: the widest chunk that
// divides nvec evenly (fewer tails), preferring 4 (3 rows x 4 vectors = 12 accumulators).
int pv_chunk(int64_t nvec) {
    if (nvec % 4 == 0) return 4;
    if (nvec % 5 == 0) return 5;
    if (nvec % 3 == 0) return 3;
    return nvec >= 4 ? 4 : int(nvec);
}

// Row softmax step on S[0:ncols] (already scaled): updates m, l, rescales the O row, writes P.
inline void online_row(float* s, int64_t ncols, int64_t nk, float& m, float& l, float* o, int64_t dp) {
    float mx = m;
    int64_t j = 0;
#if SDPP_AVX2
    __m256 mv = _mm256_set1_ps(mx);
    for (; j + 8 <= ncols; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + j));
    mx = hmax8(mv);
#endif
    for (; j < ncols; ++j) mx = std::max(mx, s[j]);
    float alpha = std::exp(m - mx);  // m = -inf on the first block: alpha = 0
    float sum = 0;
    j = 0;
#if SDPP_AVX2
    __m256 mxv = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
    for (; j + 8 <= ncols; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mxv));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    sum = hsum8(acc);
#endif
    for (; j < ncols; ++j) sum += (s[j] = std::exp(s[j] - mx));
    for (j = ncols; j < nk; ++j) s[j] = 0.0f;
    if (alpha != 1.0f) {
        int64_t d = 0;
#if SDPP_AVX2
        __m256 av = _mm256_set1_ps(alpha);
        for (; d + 8 <= dp; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(av, _mm256_loadu_ps(o + d)));
#endif
        for (; d < dp; ++d) o[d] *= alpha;
    }
    l = l * alpha + sum;
    m = mx;
}

// Per-thread tiles, taken from the caching allocator so its peak counter sees them.
struct Workspace {
    Tensor buf;
    float *q, *kt, *v, *s, *o, *m, *l;
    Workspace(int64_t d, int64_t dp) {
        int64_t sizes[7] = {kBq * dp, d * kBk, kBk * dp, kBq * kBk, kBq * dp, kBq, kBq}, total = 0;
        for (int64_t& n : sizes) total += n = round_up(n, 16);
        buf = Tensor::empty({total});
        float* p = buf.data<float>();
        float** ptrs[7] = {&q, &kt, &v, &s, &o, &m, &l};
        for (int i = 0; i < 7; ++i) {
            *ptrs[i] = p;
            p += sizes[i];
        }
    }
};

}  // namespace

void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType,
               const View& y) {
    const int64_t bs = q.shape[0], sq = q.shape[1], sk = k.shape[1], hd = q.shape[2], d = hd / heads;
    const int64_t dp = round_up(d, 8), nvec = dp / 8;
    const bool pack_v = dp != d;
    const int nv_pv = pv_chunk(nvec);
    const int64_t nqb = (sq + kBq - 1) / kBq, ntask = bs * heads * nqb;
    const float* Q = q.f32();
    const float* K = k.f32();
    const float* V = v.f32();
    float* Y = y.f32();
    int nthr = int(std::min<int64_t>(ntask, omp_get_max_threads()));

#pragma omp parallel num_threads(nthr)
    {
        Workspace ws(d, dp);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntask; ++t) {
            const int64_t b = t / (heads * nqb), h = (t / nqb) % heads, q0 = (t % nqb) * kBq;
            const int64_t nq = std::min(kBq, sq - q0);
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
                const int64_t nk = std::min(kBk, kend - k0), nkp = round_up(nk, 8);
                // K^T panel [d, nkp], zero-padded columns.
                for (int64_t j = 0; j < nk; ++j) {
                    const float* src = K + b * k.strides[0] + (k0 + j) * k.strides[1] + h * d;
                    for (int64_t e = 0; e < d; ++e) ws.kt[e * nkp + j] = src[e];
                }
                for (int64_t e = 0; e < d; ++e)
                    for (int64_t j = nk; j < nkp; ++j) ws.kt[e * nkp + j] = 0.0f;
                gemm<false>(nq, nkp, d, ws.q, dp, ws.kt, nkp, ws.s, nkp, 2);
                for (int64_t i = 0; i < nq; ++i) {
                    int64_t ncols = causal ? std::clamp<int64_t>(q0 + i - k0 + 1, 0, nk) : nk;
                    online_row(ws.s + i * nkp, ncols, nk, ws.m[i], ws.l[i], ws.o + i * dp, dp);
                }
                const float* vb = V + b * v.strides[0] + k0 * v.strides[1] + h * d;
                int64_t ldv = v.strides[1];
                if (pack_v) {
                    for (int64_t j = 0; j < nk; ++j) {
                        float* dst = ws.v + j * dp;
                        std::memcpy(dst, vb + j * ldv, size_t(d) * sizeof(float));
                        for (int64_t e = d; e < dp; ++e) dst[e] = 0.0f;
                    }
                    vb = ws.v;
                    ldv = dp;
                }
                gemm<true>(nq, dp, nk, ws.s, nkp, vb, ldv, ws.o, dp, nv_pv);
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

}  // namespace sdpp::cpu
