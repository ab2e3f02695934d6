// Attention in bf16 on CPUs with AVX-512 BF16 (Zen 4/5, Cooper Lake, Sapphire Rapids): the same
// tiled online softmax as attention.cpp, with both products on vdpbf16ps, which multiplies pairs
// of bf16 and accumulates each pair's sum into an f32 lane. Operands are therefore laid out in
// pairs along the reduction dimension:
//   S = (scale*Q) K^T   reduces over the head dim: Q rows as bf16 (a row's pair e is one 32-bit
//                       word, broadcast), K as panels of 16 keys [d/2][16 keys][2];
//   O += P V            reduces over keys: P rows as bf16 (pair j = keys 2j, 2j+1), V as
//                       [keys/2][columns][2].
// The softmax itself (row max, exp, sum, rescaling O) stays in f32; only the products' inputs are
// rounded to bf16, as oneDNN's bf16 matmuls do. Only the AVX-512 copy of the kernels has this
// file's code; attention.cpp calls it for bf16 compute when cpuid reports avx512_bf16.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "backend/cpu/kernels/isa.h"

#if defined(SDPP_KERNEL_ISA_AVX512)
SDPP_KERNELS_BEGIN
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/vec.h"
#include "backend/cpu/kernels/attention_tasks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")

namespace {

constexpr int64_t kBk = 128;  // keys per block (multiple of 32)

inline __m512bh as_bh(__m512i x) { return (__m512bh)x; }

// 16 floats (lanes >= n read as 0) to 16 bf16, round to nearest even.
inline __m256i to_bf16(const float* src, int n, float scale) {
    const __m512 x = _mm512_maskz_loadu_ps(__mmask16(n >= 16 ? 0xffffu : (1u << n) - 1u), src);
    return (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(x, _mm512_set1_ps(scale)));
}

// C[R, 16*NV] (+)= A B over K pairs: A row r's pair k is the word A[r*lda + k] (two bf16), B's
// pair k for column vector v is 32 bf16 (16 columns x 2) at B + k*ldb + v*ldv. Accumulators are
// named variables (see attention.cpp: GCC spills an array of vectors).
#define SDPP_FOR_V(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define SDPP_FOR_RV(M) \
    SDPP_FOR_V(M, 0) SDPP_FOR_V(M, 1) SDPP_FOR_V(M, 2) SDPP_FOR_V(M, 3) SDPP_FOR_V(M, 4) SDPP_FOR_V(M, 5) SDPP_FOR_V(M, 6) SDPP_FOR_V(M, 7)
#define SDPP_DECL(r, v)                \
    __m512 c##r##v = _mm512_setzero_ps(); \
    if constexpr (ACC && R > r && NV > v) c##r##v = _mm512_loadu_ps(C + r * ldc + 16 * v);
#define SDPP_LOADB(v) \
    if constexpr (NV > v) b##v = as_bh(_mm512_loadu_si512(Bk + v * ldv));
#define SDPP_DP(r, v) \
    if constexpr (NV > v) c##r##v = _mm512_dpbf16_ps(c##r##v, a, b##v);
#define SDPP_ROW(r)                                                  \
    if constexpr (R > r) {                                           \
        const __m512bh a = as_bh(_mm512_set1_epi32(int(A[r * lda + k]))); \
        SDPP_FOR_V(SDPP_DP, r)                                       \
    }
#define SDPP_STORE(r, v) \
    if constexpr (R > r && NV > v) _mm512_storeu_ps(C + r * ldc + 16 * v, c##r##v);

template <int R, int NV, bool ACC>
void micro(const uint32_t* A, int64_t lda, const uint16_t* B, int64_t ldb, int64_t ldv, float* C, int64_t ldc,
           int64_t K) {
    static_assert(R >= 1 && R <= 8 && NV >= 1 && NV <= 4);
    SDPP_FOR_RV(SDPP_DECL)
    for (int64_t k = 0; k < K; ++k) {
        const uint16_t* Bk = B + k * ldb;
        __m512bh b0, b1, b2, b3;
        SDPP_LOADB(0) SDPP_LOADB(1) SDPP_LOADB(2) SDPP_LOADB(3)
        SDPP_ROW(0) SDPP_ROW(1) SDPP_ROW(2) SDPP_ROW(3) SDPP_ROW(4) SDPP_ROW(5) SDPP_ROW(6) SDPP_ROW(7)
    }
    SDPP_FOR_RV(SDPP_STORE)
}
#undef SDPP_FOR_V
#undef SDPP_FOR_RV
#undef SDPP_DECL
#undef SDPP_LOADB
#undef SDPP_DP
#undef SDPP_ROW
#undef SDPP_STORE

using Kernel = void (*)(const uint32_t*, int64_t, const uint16_t*, int64_t, int64_t, float*, int64_t, int64_t);
constexpr int kMaxNV = 4;
constexpr int kRows[kMaxNV + 1] = {0, 8, 8, 8, 6};  // rows per tile: <= 24 accumulators of 32 registers

template <bool ACC, int NV, int... Rs>
constexpr auto row_table(std::integer_sequence<int, Rs...>) {
    return std::array<Kernel, sizeof...(Rs)>{&micro<Rs + 1, NV, ACC>...};
}
template <bool ACC, int... NVs>
constexpr auto kernel_table(std::integer_sequence<int, NVs...>) {
    return std::array<std::array<Kernel, 8>, sizeof...(NVs)>{row_table<ACC, NVs + 1>(std::make_integer_sequence<int, 8>{})...};
}
constexpr auto kKernels = kernel_table<false>(std::make_integer_sequence<int, kMaxNV>{});
constexpr auto kKernelsAcc = kernel_table<true>(std::make_integer_sequence<int, kMaxNV>{});

// C[M, 16*nvec] (+)= A B in column chunks of at most 4 vectors, split evenly (5 -> 3 + 2, not 4 + 1:
// a 1-vector tile is all broadcasts).
template <bool ACC>
void gemm_pairs(int64_t M, int64_t nvec, int64_t K, const uint32_t* A, int64_t lda, const uint16_t* B, int64_t ldb,
                int64_t ldv, float* C, int64_t ldc) {
    const auto& tab = ACC ? kKernelsAcc : kKernels;
    const int64_t nchunks = (nvec + kMaxNV - 1) / kMaxNV, per = (nvec + nchunks - 1) / nchunks;
    for (int64_t v0 = 0; v0 < nvec; v0 += per) {
        const int nv = int(std::min(per, nvec - v0)), rows = kRows[nv];
        for (int64_t r0 = 0; r0 < M; r0 += rows) {
            const int r = int(std::min<int64_t>(rows, M - r0));
            tab[nv - 1][r - 1](A + r0 * lda, lda, B + v0 * ldv, ldb, ldv, C + r0 * ldc + 16 * v0, ldc, K);
        }
    }
}

// Per-thread buffers from the caller's allocator (its peak counter sees them).
struct Workspace {
    Tensor buf;
    uint16_t *kt, *v, *q, *p;
    float *s, *o, *m, *l;
    Workspace(Allocator& alloc, int64_t skp, int64_t dq, int64_t dqs, int64_t dp, int64_t slots) {
        // bytes, each rounded to 64; `slots` heads' packed K and V
        const int64_t bytes[8] = {slots * skp * dq * 2, slots * skp * dp * 2, kBq * dqs * 2, kBq * kBk * 2,
                                  kBq * kBk * 4, kBq * dp * 4, kBq * 4, kBq * 4};
        int64_t total = 0;
        for (int64_t b : bytes) total += round_up(b, 64);
        buf = Tensor::empty({total / 4}, DType::F32, alloc);
        char* at = reinterpret_cast<char*>(buf.data<float>());
        void** ptrs[8] = {(void**)&kt, (void**)&v, (void**)&q, (void**)&p, (void**)&s, (void**)&o, (void**)&m, (void**)&l};
        for (int i = 0; i < 8; ++i) {
            *ptrs[i] = at;
            at += round_up(bytes[i], 64);
        }
    }
};

// K as panels of 16 keys [dq/2][16][2] (the S kernel's B), V as [skp/2][dp][2] (the PV kernel's B);
// zero past sk and d. `row` is scratch for 16 converted key rows (16 x dqs bf16).
void pack_head(const float* K, int64_t ldk, const float* V, int64_t ldv, int64_t sk, int64_t d, int64_t dq,
               int64_t dqs, int64_t dp, uint16_t* kt, uint16_t* v, uint16_t* row) {
    const int64_t skp = round_up(sk, 16), pairs = dq / 2, words = dqs / 2;
    for (int64_t p0 = 0; p0 < skp; p0 += 16) {
        for (int64_t jj = 0; jj < 16; ++jj) {
            uint16_t* dst = row + jj * dqs;
            if (p0 + jj >= sk) {
                std::memset(dst, 0, size_t(dqs) * 2);
                continue;
            }
            const float* src = K + (p0 + jj) * ldk;
            for (int64_t e = 0; e < dqs; e += 16)
                _mm256_storeu_si256((__m256i*)(dst + e), to_bf16(src + e, int(std::min<int64_t>(16, d - e)), 1.0f));
        }
        // Transpose the 16 x pairs matrix of 32-bit words into [pairs][16].
        const uint32_t* rw = reinterpret_cast<const uint32_t*>(row);
        uint32_t* panel = reinterpret_cast<uint32_t*>(kt + p0 * dq);
        for (int64_t e = 0; e < pairs; ++e)
            for (int64_t jj = 0; jj < 16; ++jj) panel[e * 16 + jj] = rw[jj * words + e];
    }
    // V: rows 2j and 2j+1 interleaved per column.
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                                6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t j = 0; j < skp; j += 2) {
        uint16_t* dst = v + j * dp;
        for (int64_t c = 0; c < dp; c += 16) {
            const __mmask16 cols = __mmask16(d - c >= 16 ? 0xffffu : (1u << (d - c)) - 1u);
            const __m512 lo = j < sk ? _mm512_maskz_loadu_ps(cols, V + j * ldv + c) : _mm512_setzero_ps();
            const __m512 hi = j + 1 < sk ? _mm512_maskz_loadu_ps(cols, V + (j + 1) * ldv + c) : _mm512_setzero_ps();
            const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // lo in bf16 0..15, hi in 16..31
            _mm512_storeu_si512(dst + 2 * c, _mm512_permutexvar_epi16(interleave, both));
        }
    }
}

// 2^x for x <= 0 (finite): 2^floor(x) (vscalefps) times a cubic for 2^f on [0, 1) (least-squares
// fit, relative error < 9e-5: P is rounded to bf16, 2^-9, right after).
inline __m512 exp2_neg(__m512 x) {
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_fmadd_ps(f, _mm512_set1_ps(0.0770597519f), _mm512_set1_ps(0.227643722f));
    p = _mm512_fmadd_ps(f, p, _mm512_set1_ps(0.695123312f));
    p = _mm512_fmadd_ps(f, p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// Online-softmax step on the f32 scores S[0:ncols] (in log2 units: Q carries log2(e)): updates m and l, rescales the O row, and
// writes P = 2^(S - m) as bf16 into p[0 : round_up(nk, 16)], zero past ncols.
inline void online_row(const float* s, int64_t ncols, int64_t nk, float& m, float& l, float* o, int64_t dp, uint16_t* p) {
    const int64_t nfull = ncols / 16 * 16;
    const int rem = int(ncols - nfull);
    __m512 mv = _mm512_set1_ps(m);
    for (int64_t j = 0; j < nfull; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + j));
    if (rem) mv = _mm512_mask_max_ps(mv, __mmask16((1u << rem) - 1u), mv, _mm512_loadu_ps(s + nfull));
    const float mx = _mm512_reduce_max_ps(mv);
    const __m512 mxv = _mm512_set1_ps(mx);
    __m512 acc = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j < nfull; j += 16) {
        const __m512 e = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(s + j), mxv));
        acc = _mm512_add_ps(acc, e);
        _mm256_storeu_si256((__m256i*)(p + j), (__m256i)_mm512_cvtneps_pbh(e));
    }
    if (rem) {
        const __m512 e = _mm512_maskz_mov_ps(__mmask16((1u << rem) - 1u), exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(s + j), mxv)));
        acc = _mm512_add_ps(acc, e);
        _mm256_storeu_si256((__m256i*)(p + j), (__m256i)_mm512_cvtneps_pbh(e));
        j += 16;
    }
    for (; j < nk; j += 16) _mm256_storeu_si256((__m256i*)(p + j), _mm256_setzero_si256());
    // (The first block finds O zero: nothing to rescale.)
    const float alpha = m == -INFINITY ? 0.0f : _mm512_reduce_max_ps(exp2_neg(_mm512_set1_ps(m - mx)));
    if (alpha != 1.0f && m != -INFINITY) {
        const __m512 av = _mm512_set1_ps(alpha);
        for (int64_t d = 0; d < dp; d += 16) _mm512_storeu_ps(o + d, _mm512_mul_ps(av, _mm512_loadu_ps(o + d)));
    }
    l = l * alpha + _mm512_reduce_add_ps(acc);
    m = mx;
}

void run(const View& q, const View& k, const View& v, int heads, bool causal, float scale, const View& y) {
    const int64_t bs = q.shape[0], sq = q.shape[1], sk = k.shape[1], hd = q.shape[2], d = hd / heads;
    // dq: head dim rounded to pairs (the S reduction); dqs: Q / key row stride, whole vectors;
    // dp: output columns in whole vectors (the PV kernel's width).
    const int64_t dq = round_up(d, 2), dqs = round_up(d, 16), dp = round_up(d, 16), skp = round_up(sk, 16);
    const int64_t nqb = (sq + kBq - 1) / kBq, ntask = bs * heads * nqb;
    const float* Q = q.f32();
    const float* K = k.f32();
    const float* V = v.f32();
    float* Y = y.f32();
    const int nthr = int(std::min<int64_t>(ntask, omp_get_max_threads()));
    const bool head_inner = heads_innermost(sk, dp);  // the task order (attention_tasks.h)
    // Short key sequences: every head's packed K/V is kept (a few hundred KB), so a thread packs each
    // (batch, head) once although its tasks cycle through the heads.
    const int64_t slots = head_inner ? heads : 1;
    const float qscale = scale * 1.44269504088896341f;  // log2(e): the softmax runs on 2^x
    Allocator& alloc = current_allocator();
#pragma omp parallel num_threads(nthr)
    {
        Workspace ws(alloc, skp, dq, dqs, dp, slots);
        std::vector<int64_t> packed(size_t(slots), -1);  // (b * heads + h) in each slot
#pragma omp for schedule(static)
        for (int64_t t = 0; t < ntask; ++t) {
            const auto [b, h, qb] = attention_item(t, head_inner, heads, nqb);
            const int64_t bh = b * heads + h, q0 = qb * kBq, nq = std::min(kBq, sq - q0);
            const int64_t slot = head_inner ? h : 0;
            uint16_t* kt = ws.kt + slot * skp * dq;
            uint16_t* vp = ws.v + slot * skp * dp;
            if (packed[size_t(slot)] != bh) {
                // The P tile doubles as the 16-row scratch of the K transpose (16 * dqs <= kBq * kBk).
                pack_head(K + b * k.strides[0] + h * d, k.strides[1], V + b * v.strides[0] + h * d, v.strides[1], sk, d,
                          dq, dqs, dp, kt, vp, ws.p);
                packed[size_t(slot)] = bh;
            }
            for (int64_t i = 0; i < nq; ++i) {
                const float* src = Q + b * q.strides[0] + (q0 + i) * q.strides[1] + h * d;
                for (int64_t e = 0; e < dqs; e += 16)
                    _mm256_storeu_si256((__m256i*)(ws.q + i * dqs + e), to_bf16(src + e, int(std::min<int64_t>(16, d - e)), qscale));
            }
            std::fill_n(ws.o, nq * dp, 0.0f);
            std::fill_n(ws.m, nq, -INFINITY);
            std::fill_n(ws.l, nq, 0.0f);
            const uint32_t* qw = reinterpret_cast<const uint32_t*>(ws.q);
            const uint32_t* pw = reinterpret_cast<const uint32_t*>(ws.p);
            const int64_t kend = causal ? std::min(sk, q0 + nq) : sk;
            for (int64_t k0 = 0; k0 < kend; k0 += kBk) {
                const int64_t nk = std::min(kBk, kend - k0);
                gemm_pairs<false>(nq, (nk + 15) / 16, dq / 2, qw, dqs / 2, kt + k0 * dq, 32, 16 * dq, ws.s, kBk);
                for (int64_t i = 0; i < nq; ++i) {
                    const int64_t ncols = causal ? std::clamp<int64_t>(q0 + i - k0 + 1, 0, nk) : nk;
                    online_row(ws.s + i * kBk, ncols, nk, ws.m[i], ws.l[i], ws.o + i * dp, dp, ws.p + i * kBk);
                }
                gemm_pairs<true>(nq, dp / 16, (nk + 1) / 2, pw, kBk / 2, vp + k0 * dp, 2 * dp, 32, ws.o, dp);
            }
            for (int64_t i = 0; i < nq; ++i) {
                const __m512 inv = _mm512_set1_ps(1.0f / ws.l[i]);
                float* dst = Y + (b * sq + q0 + i) * hd + h * d;
                const float* o = ws.o + i * dp;
                for (int64_t e = 0; e < d; e += 16)
                    _mm512_mask_storeu_ps(dst + e, __mmask16(d - e >= 16 ? 0xffffu : (1u << (d - e)) - 1u),
                                          _mm512_mul_ps(inv, _mm512_loadu_ps(o + e)));
            }
        }
    }
}

}  // namespace
#pragma GCC pop_options

// Under the file's plain AVX-512 target, as kernels.h declares it (C++ would read a definition
// under another target as a new version of the function).
void attention_bf16(const View& q, const View& k, const View& v, int heads, bool causal, float scale, const View& y) {
    run(q, k, v, heads, causal, scale, y);
}

SDPP_KERNELS_END
#endif
