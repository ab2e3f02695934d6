// Normalisation kernels: GroupNorm with the SiLU fused into the affine pass (the fusion ggml and
// diffusers' fused kernels use), LayerNorm over the last dim, and row softmax. Statistics are
// two-pass (mean, then centred sum of squares) with per-channel f32 vector sums folded into
// doubles, so long groups (VAE: 16 channels x 512x512) keep full precision.
#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels/isa.h"

SDPP_KERNELS_BEGIN
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/vec.h"

namespace {

double sum_f(const float* p, int64_t n) {
    int64_t i = 0;
    vf a0 = vzero(), a1 = vzero();
    for (; i + 2 * kW <= n; i += 2 * kW) {
        a0 = vadd(a0, vload(p + i));
        a1 = vadd(a1, vload(p + i + kW));
    }
    double s = vhsum(vadd(a0, a1));
    for (; i < n; ++i) s += p[i];
    return s;
}

double sum_sq_centered(const float* p, int64_t n, float mu) {
    int64_t i = 0;
    vf m = vset1(mu), a0 = vzero(), a1 = vzero();
    for (; i + 2 * kW <= n; i += 2 * kW) {
        vf d0 = vsub(vload(p + i), m), d1 = vsub(vload(p + i + kW), m);
        a0 = vfmadd(d0, d0, a0);
        a1 = vfmadd(d1, d1, a1);
    }
    double s = vhsum(vadd(a0, a1));
    for (; i < n; ++i) s += double(p[i] - mu) * double(p[i] - mu);
    return s;
}

// y = x * a + b, optionally followed by SiLU.
void affine(const float* x, float* y, int64_t n, float a, float b, bool silu) {
    int64_t i = 0;
    vf av = vset1(a), bv = vset1(b);
    auto body = [&](const float* in, float* out) {
        const vf v = vfmadd(vload(in), av, bv);
        vstore(out, silu ? vsilu(v) : v);
    };
    for (; i + kW <= n; i += kW) body(x + i, y + i);
    if (i < n) {  // the tail through the same vector code, so any slice of a row gives the same values
        alignas(64) float in[kW] = {}, out[kW];
        std::copy(x + i, x + n, in);
        body(in, out);
        std::copy(out, out + (n - i), y + i);
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
        vf m = vset1(mu), rs = vset1(rstd);
        for (; j + kW <= c; j += kW) {
            vf v = vmul(vsub(vload(px + j), m), rs);
            if (g) v = vmul(v, vload(g + j));
            if (bt) v = vadd(v, vload(bt + j));
            vstore(py + j, v);
        }
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
        vf mv = vset1(-INFINITY);
        for (; j + kW <= c; j += kW) mv = vmax(mv, vload(px + j));
        mx = vhmax(mv);
        for (; j < c; ++j) mx = std::max(mx, px[j]);
        if (std::isinf(mx) && mx < 0) mx = 0;  // an all -inf row gives 0/0 = NaN, as in torch
        double sum = 0;
        j = 0;
        vf m = vset1(mx), acc = vzero();
        for (; j + kW <= c; j += kW) {
            vf e = vexp(vsub(vload(px + j), m));
            vstore(py + j, e);
            acc = vadd(acc, e);
        }
        sum = vhsum(acc);
        for (; j < c; ++j) sum += (py[j] = std::exp(px[j] - mx));
        float inv = float(1.0 / sum);
        for (j = 0; j < c; ++j) py[j] *= inv;
    }
}

SDPP_KERNELS_END
