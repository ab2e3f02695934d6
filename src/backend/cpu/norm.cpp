// Normalisation kernels: GroupNorm with the SiLU fused into the affine pass (the fusion ggml and
// diffusers' fused kernels use), LayerNorm over the last dim, and row softmax. Statistics are
// two-pass (mean, then centred sum of squares) with per-channel f32 vector sums folded into
// doubles, so long groups (VAE: 16 channels x 512x512) keep full precision.
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/vec.h"

#include <algorithm>
#include <cmath>

namespace sdpp::cpu {
namespace {

double sum_f(const float* p, int64_t n) {
    int64_t i = 0;
    double s = 0;
#if SDPP_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    }
    s = hsum8(_mm256_add_ps(a0, a1));
#endif
    for (; i < n; ++i) s += p[i];
    return s;
}

double sum_sq_centered(const float* p, int64_t n, float mu) {
    int64_t i = 0;
    double s = 0;
#if SDPP_AVX2
    __m256 m = _mm256_set1_ps(mu), a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p + i), m), d1 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 8), m);
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    s = hsum8(_mm256_add_ps(a0, a1));
#endif
    for (; i < n; ++i) s += double(p[i] - mu) * double(p[i] - mu);
    return s;
}

// y = x * a + b, optionally followed by SiLU.
void affine(const float* x, float* y, int64_t n, float a, float b, bool silu) {
    int64_t i = 0;
#if SDPP_AVX2
    __m256 av = _mm256_set1_ps(a), bv = _mm256_set1_ps(b);
    auto body = [&](const float* in, float* out) {
        const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(in), av, bv);
        _mm256_storeu_ps(out, silu ? silu8(v) : v);
    };
    for (; i + 8 <= n; i += 8) body(x + i, y + i);
    if (i < n) {  // the tail through the same vector code, so any slice of a row gives the same values
        alignas(32) float in[8] = {}, out[8];
        std::copy(x + i, x + n, in);
        body(in, out);
        std::copy(out, out + (n - i), y + i);
        i = n;
    }
#endif
    for (; i < n; ++i) {
        float v = x[i] * a + b;
        y[i] = silu ? silu_s(v) : v;
    }
}

// Sums in chunks of 4096 so each f32 partial stays short; the chunks add up in double.
double chunked_sum(const float* p, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i += 4096) s += sum_f(p + i, std::min<int64_t>(4096, n - i));
    return s;
}
double chunked_sq(const float* p, int64_t n, float mu) {
    double s = 0;
    for (int64_t i = 0; i < n; i += 4096) s += sum_sq_centered(p + i, std::min<int64_t>(4096, n - i), mu);
    return s;
}

}  // namespace

namespace {
// Mean and 1/sqrt(var + eps) of one group's `len` contiguous values (two-pass, double partials).
void group_stats(const float* px, int64_t len, float eps, float& mu, float& rstd) {
    mu = float(chunked_sum(px, len) / double(len));
    const double var = chunked_sq(px, len, mu) / double(len);
    rstd = float(1.0 / std::sqrt(var + eps));
}

// The affine (+SiLU) of channels [c0, c0 + cg) over `s` values each, channel stride `sc` in x.
void group_affine(const float* px, int64_t sc, float* py, int64_t cg, int64_t s, int64_t c0, float mu, float rstd,
                  const float* g, const float* bt, bool silu) {
    for (int64_t ch = 0; ch < cg; ++ch) {
        const int64_t cc = c0 + ch;
        const float a = rstd * (g ? g[cc] : 1.0f);
        const float b = (bt ? bt[cc] : 0.0f) - mu * a;
        affine(px + ch * sc, py + ch * s, s, a, b, silu);
    }
}
}  // namespace

void group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                const View& y) {
    int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2], cg = c / groups, len = cg * s;
    const float* g = gamma.defined() ? gamma.f32() : nullptr;
    const float* bt = beta.defined() ? beta.f32() : nullptr;
#pragma omp parallel for schedule(dynamic, 1) if (n * c * s > 4096)
    for (int64_t t = 0; t < n * groups; ++t) {
        float mu, rstd;
        group_stats(x.f32() + t * len, len, eps, mu, rstd);
        group_affine(x.f32() + t * len, s, y.f32() + t * len, cg, s, (t % groups) * cg, mu, rstd, g, bt, silu);
    }
}

void group_norm_stats(const View& x, int groups, float eps, const View& stats) {
    int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2], len = c / groups * s;
    float* st = stats.f32();
#pragma omp parallel for schedule(dynamic, 1) if (n * c * s > 4096)
    for (int64_t t = 0; t < n * groups; ++t) group_stats(x.f32() + t * len, len, eps, st[2 * t], st[2 * t + 1]);
}

void group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                      const View& y) {
    const int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2], groups = stats.shape[1], cg = c / groups;
    const float* g = gamma.defined() ? gamma.f32() : nullptr;
    const float* bt = beta.defined() ? beta.f32() : nullptr;
    const float* st = stats.f32();
#pragma omp parallel for schedule(dynamic, 1) if (n * c * s > 4096)
    for (int64_t t = 0; t < n * groups; ++t) {
        const int64_t b = t / groups, gi = t % groups;
        const float* px = x.f32() + b * x.strides[0] + gi * cg * x.strides[1];
        group_affine(px, x.strides[1], y.f32() + t * cg * s, cg, s, gi * cg, st[2 * t], st[2 * t + 1], g, bt, silu);
    }
}

void layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y) {
    int64_t r = x.shape[0], c = x.shape[1];
    const float* g = gamma.defined() ? gamma.f32() : nullptr;
    const float* bt = beta.defined() ? beta.f32() : nullptr;
#pragma omp parallel for schedule(static) if (r * c > 16384)
    for (int64_t i = 0; i < r; ++i) {
        const float* px = x.f32() + i * c;
        float* py = y.f32() + i * c;
        float mu = float(chunked_sum(px, c) / double(c));
        float rstd = float(1.0 / std::sqrt(chunked_sq(px, c, mu) / double(c) + eps));
        int64_t j = 0;
#if SDPP_AVX2
        __m256 m = _mm256_set1_ps(mu), rs = _mm256_set1_ps(rstd);
        for (; j + 8 <= c; j += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + j), m), rs);
            if (g) v = _mm256_mul_ps(v, _mm256_loadu_ps(g + j));
            if (bt) v = _mm256_add_ps(v, _mm256_loadu_ps(bt + j));
            _mm256_storeu_ps(py + j, v);
        }
#endif
        for (; j < c; ++j) {
            float v = (px[j] - mu) * rstd;
            if (g) v *= g[j];
            if (bt) v += bt[j];
            py[j] = v;
        }
    }
}

void softmax(const View& x, const View& y) {
    int64_t r = x.shape[0], c = x.shape[1];
#pragma omp parallel for schedule(static) if (r * c > 16384)
    for (int64_t i = 0; i < r; ++i) {
        const float* px = x.f32() + i * c;
        float* py = y.f32() + i * c;
        float mx = -INFINITY;
        int64_t j = 0;
#if SDPP_AVX2
        __m256 mv = _mm256_set1_ps(-INFINITY);
        for (; j + 8 <= c; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(px + j));
        mx = hmax8(mv);
#endif
        for (; j < c; ++j) mx = std::max(mx, px[j]);
        if (std::isinf(mx) && mx < 0) mx = 0;  // an all -inf row gives 0/0 = NaN, as in torch
        double sum = 0;
        j = 0;
#if SDPP_AVX2
        __m256 m = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
        for (; j + 8 <= c; j += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(px + j), m));
            _mm256_storeu_ps(py + j, e);
            acc = _mm256_add_ps(acc, e);
        }
        sum = hsum8(acc);
#endif
        for (; j < c; ++j) sum += (py[j] = std::exp(px[j] - mx));
        float inv = float(1.0 / sum);
        for (j = 0; j < c; ++j) py[j] *= inv;
    }
}

}  // namespace sdpp::cpu
