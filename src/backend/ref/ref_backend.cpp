// The reference backend: naive loops with double accumulation, no SIMD, no threads. It is the
// oracle every kernel test compares the CPU backend against (llm.c's *_cpu references, ggml's
// backend conformance check); production code never uses it. Formulas follow PyTorch's
// definitions (torch.nn.functional conv2d, group_norm, layer_norm, softmax, gelu, interpolate).
#include "backend/backend.h"

#include <cmath>
#include <limits>
#include <vector>

namespace sdpp {
namespace {

double load(const View& v, int64_t i) {
    switch (v.dtype) {
        case DType::F32: return static_cast<const float*>(v.data)[i];
        case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(v.data)[i]);
        case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(v.data)[i]);
        default: throw error("ref backend: unsupported dtype ", dtype_name(v.dtype));
    }
}

// Element offset of a multi-index.
int64_t offset(const View& v, std::initializer_list<int64_t> idx) {
    int64_t o = 0;
    const int64_t* st = v.strides.data();
    for (int64_t i : idx) o += i * *st++;
    return o;
}
// Element offset of the i-th element in row-major order of v's shape.
int64_t offset_of(const View& v, int64_t i) {
    int64_t off = 0;
    for (int d = v.ndim() - 1; d >= 0; --d) {
        off += (i % v.shape[d]) * v.strides[d];
        i /= v.shape[d];
    }
    return off;
}
int64_t offset(const View& v, const std::vector<int64_t>& idx) {
    int64_t o = 0;
    for (size_t i = 0; i < idx.size(); ++i) o += idx[i] * v.strides[i];
    return o;
}

// Advances a multi-index over `shape`; false when it wraps.
bool next(std::vector<int64_t>& idx, const Shape& shape) {
    for (int i = int(shape.size()) - 1; i >= 0; --i) {
        if (++idx[i] < shape[i]) return true;
        idx[i] = 0;
    }
    return false;
}

double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

class RefBackend final : public Backend {
public:
    const char* name() const override { return "ref"; }
    bool supports(Op, DType) const override { return true; }  // computes everything in double

    void conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act, DType,
                const View& y) override {
        int64_t n = x.shape[0], ci = x.shape[1], h = x.shape[2], wd = x.shape[3];
        int64_t co = w.shape[0], kh = w.shape[2], kw = w.shape[3], ho = y.shape[2], wo = y.shape[3];
        float* out = y.f32();
        for (int64_t b = 0; b < n; ++b)
            for (int64_t o = 0; o < co; ++o)
                for (int64_t oy = 0; oy < ho; ++oy)
                    for (int64_t ox = 0; ox < wo; ++ox) {
                        double acc = bias.defined() ? load(bias, o) : 0.0;
                        for (int64_t c = 0; c < ci; ++c)
                            for (int64_t ky = 0; ky < kh; ++ky) {
                                int64_t iy = oy * stride - pad.top + ky;
                                if (iy < 0 || iy >= h) continue;
                                for (int64_t kx = 0; kx < kw; ++kx) {
                                    int64_t ix = ox * stride - pad.left + kx;
                                    if (ix < 0 || ix >= wd) continue;
                                    acc += load(x, offset(x, {b, c, iy, ix})) * load(w, offset(w, {o, c, ky, kx}));
                                }
                            }
                        if (act == Act::SiLU) acc *= sigmoid(acc);
                        if (act == Act::ReLU) acc = std::max(acc, 0.0);
                        if (act == Act::SumReLU) acc = std::max(acc + double(out[offset(y, {b, o, oy, ox})]), 0.0);
                        out[offset(y, {b, o, oy, ox})] = float(acc);
                    }
    }

    void linear(const View& x, const View& w, const View& bias, DType, const View& y) override {
        int64_t m = x.shape[0], k = x.shape[1], n = w.shape[0];
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double acc = bias.defined() ? load(bias, j) : 0.0;
                for (int64_t p = 0; p < k; ++p) acc += load(x, offset(x, {i, p})) * load(w, offset(w, {j, p}));
                y.f32()[i * n + j] = float(acc);
            }
    }

    void matmul(const View& a, const View& b, float alpha, DType, const View& y) override {
        int64_t bs = y.shape[0], m = y.shape[1], n = y.shape[2], k = a.shape[2];
        for (int64_t bi = 0; bi < bs; ++bi)
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j) {
                    double acc = 0;
                    for (int64_t p = 0; p < k; ++p)
                        acc += load(a, offset(a, {bi, i, p})) * load(b, offset(b, {bi, p, j}));
                    y.f32()[(bi * m + i) * n + j] = float(alpha * acc);
                }
    }

    void group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                    const View& y) override {
        int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2], cg = c / groups;
        const float* in = x.f32();
        for (int64_t b = 0; b < n; ++b)
            for (int g = 0; g < groups; ++g) {
                const float* p = in + (b * c + g * cg) * s;
                double sum = 0, sq = 0;
                for (int64_t i = 0; i < cg * s; ++i) sum += p[i];
                double mu = sum / double(cg * s);
                for (int64_t i = 0; i < cg * s; ++i) sq += (p[i] - mu) * (p[i] - mu);
                double rstd = 1.0 / std::sqrt(sq / double(cg * s) + eps);
                for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch)
                    for (int64_t i = 0; i < s; ++i) {
                        int64_t o = (b * c + ch) * s + i;
                        double v = (in[o] - mu) * rstd;
                        if (gamma.defined()) v *= load(gamma, ch);
                        if (beta.defined()) v += load(beta, ch);
                        if (silu) v *= sigmoid(v);
                        y.f32()[o] = float(v);
                    }
            }
    }

    void group_norm_stats(const View& x, int groups, float eps, const View& stats) override {
        const int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2], len = c / groups * s;
        for (int64_t t = 0; t < n * groups; ++t) {
            const float* p = x.f32() + t * len;
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < len; ++i) sum += p[i];
            const double mu = sum / double(len);
            for (int64_t i = 0; i < len; ++i) sq += (p[i] - mu) * (p[i] - mu);
            stats.f32()[2 * t] = float(mu);
            stats.f32()[2 * t + 1] = float(1.0 / std::sqrt(sq / double(len) + eps));
        }
    }

    void group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                          const View& y) override {
        const int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2], groups = stats.shape[1], cg = c / groups;
        for (int64_t b = 0; b < n; ++b)
            for (int64_t ch = 0; ch < c; ++ch) {
                const int64_t t = b * groups + ch / cg;
                const double mu = stats.f32()[2 * t], rstd = stats.f32()[2 * t + 1];
                for (int64_t i = 0; i < s; ++i) {
                    double v = (x.f32()[offset(x, {b, ch, i})] - mu) * rstd;
                    if (gamma.defined()) v *= load(gamma, ch);
                    if (beta.defined()) v += load(beta, ch);
                    if (silu) v *= sigmoid(v);
                    y.f32()[(b * c + ch) * s + i] = float(v);
                }
            }
    }

    void layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y) override {
        int64_t r = x.shape[0], c = x.shape[1];
        for (int64_t i = 0; i < r; ++i) {
            const float* p = x.f32() + i * c;
            double sum = 0, sq = 0;
            for (int64_t j = 0; j < c; ++j) sum += p[j];
            double mu = sum / double(c);
            for (int64_t j = 0; j < c; ++j) sq += (p[j] - mu) * (p[j] - mu);
            double rstd = 1.0 / std::sqrt(sq / double(c) + eps);
            for (int64_t j = 0; j < c; ++j) {
                double v = (p[j] - mu) * rstd;
                if (gamma.defined()) v *= load(gamma, j);
                if (beta.defined()) v += load(beta, j);
                y.f32()[i * c + j] = float(v);
            }
        }
    }

    void softmax(const View& x, const View& y) override {
        int64_t r = x.shape[0], c = x.shape[1];
        for (int64_t i = 0; i < r; ++i) {
            const float* p = x.f32() + i * c;
            double mx = -std::numeric_limits<double>::infinity(), sum = 0;
            for (int64_t j = 0; j < c; ++j) mx = std::max(mx, double(p[j]));
            for (int64_t j = 0; j < c; ++j) sum += std::exp(p[j] - mx);
            for (int64_t j = 0; j < c; ++j) y.f32()[i * c + j] = float(std::exp(p[j] - mx) / sum);
        }
    }

    void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType,
                   const View& y) override {
        int64_t bs = q.shape[0], sq = q.shape[1], sk = k.shape[1], d = q.shape[2] / heads;
        std::vector<double> s(size_t(sk), 0.0);
        for (int64_t b = 0; b < bs; ++b)
            for (int h = 0; h < heads; ++h)
                for (int64_t i = 0; i < sq; ++i) {
                    double mx = -std::numeric_limits<double>::infinity();
                    int64_t nk = causal ? std::min(sk, i + 1) : sk;
                    for (int64_t j = 0; j < nk; ++j) {
                        double acc = 0;
                        for (int64_t e = 0; e < d; ++e)
                            acc += load(q, offset(q, {b, i, h * d + e})) * load(k, offset(k, {b, j, h * d + e}));
                        s[j] = acc * scale;
                        mx = std::max(mx, s[j]);
                    }
                    double sum = 0;
                    for (int64_t j = 0; j < nk; ++j) sum += (s[j] = std::exp(s[j] - mx));
                    for (int64_t e = 0; e < d; ++e) {
                        double acc = 0;
                        for (int64_t j = 0; j < nk; ++j) acc += s[j] * load(v, offset(v, {b, j, h * d + e}));
                        y.f32()[(b * sq + i) * q.shape[2] + h * d + e] = float(acc / sum);
                    }
                }
    }

    void unary(Unary op, const View& x, const View& y) override {
        int64_t n = x.numel();
        for (int64_t i = 0; i < n; ++i) {
            double v = x.f32()[i], r = 0;
            switch (op) {
                case Unary::SiLU: r = v * sigmoid(v); break;
                case Unary::GeluErf: r = gelu_erf(v); break;
                case Unary::GeluTanh:
                    r = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
                    break;
                case Unary::QuickGelu: r = v * sigmoid(1.702 * v); break;
                case Unary::ReLU: r = std::max(v, 0.0); break;
                case Unary::Tanh: r = std::tanh(v); break;
            }
            y.f32()[i] = float(r);
        }
    }

    void geglu(const View& x, const View& y) override {
        int64_t r = y.shape[0], f = y.shape[1];
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < f; ++j)
                y.f32()[i * f + j] = float(double(x.f32()[i * 2 * f + j]) * gelu_erf(x.f32()[i * 2 * f + f + j]));
    }

    void binary(Binary op, const View& a, const View& b, const View& y) override {
        std::vector<int64_t> idx(size_t(y.ndim()), 0);
        do {
            double va = load(a, offset(a, idx)), vb = load(b, offset(b, idx));
            double r = op == Binary::Add ? va + vb : op == Binary::Sub ? va - vb : va * vb;
            y.f32()[offset(y, idx)] = float(r);
        } while (next(idx, y.shape));
    }

    void scale(const View& x, float a, float b, const View& y) override {
        for (int64_t i = 0; i < x.numel(); ++i) y.f32()[i] = float(double(a) * x.f32()[i] + b);
    }

    void copy(const View& x, const View& y) override {
        const int64_t n = y.numel();
        for (int64_t i = 0; i < n; ++i) {
            int64_t off = 0, rem = i;
            for (int d = y.ndim() - 1; d >= 0; --d) {
                off += (rem % x.shape[d]) * x.strides[d];
                rem /= x.shape[d];
            }
            y.f32()[offset_of(y, i)] = x.f32()[off];
        }
    }
    void concat(std::span<const View> xs, int dim, const View& y) override {
        std::vector<int64_t> idx(size_t(y.ndim()), 0);
        int64_t i = 0;
        do {
            int64_t pos = idx[dim];
            size_t t = 0;
            while (pos >= xs[t].shape[dim]) pos -= xs[t++].shape[dim];
            std::vector<int64_t> src = idx;
            src[dim] = pos;
            y.f32()[i++] = float(load(xs[t], offset(xs[t], src)));
        } while (next(idx, y.shape));
    }

    void upsample_nearest2x(const View& x, const View& y) override {
        int64_t nc = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
        for (int64_t p = 0; p < nc; ++p)
            for (int64_t i = 0; i < 2 * h; ++i)
                for (int64_t j = 0; j < 2 * w; ++j)
                    y.f32()[(p * 2 * h + i) * 2 * w + j] = x.f32()[(p * h + i / 2) * w + j / 2];
    }

    void resize_bilinear(const View& x, bool align, const View& y) override {
        int64_t nc = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], ho = y.shape[2], wo = y.shape[3];
        // torch: align_corners maps corners onto corners; otherwise half-pixel centres, clamped at 0.
        auto src = [&](int64_t o, int64_t in, int64_t out, int64_t& i0, int64_t& i1, double& f) {
            double s;
            if (align)
                s = out > 1 ? double(o) * double(in - 1) / double(out - 1) : 0.0;
            else
                s = std::max(0.0, (double(o) + 0.5) * double(in) / double(out) - 0.5);
            i0 = std::min<int64_t>(int64_t(std::floor(s)), in - 1);
            i1 = std::min<int64_t>(i0 + 1, in - 1);
            f = s - double(i0);
        };
        for (int64_t p = 0; p < nc; ++p)
            for (int64_t i = 0; i < ho; ++i) {
                int64_t y0, y1;
                double fy;
                src(i, h, ho, y0, y1, fy);
                for (int64_t j = 0; j < wo; ++j) {
                    int64_t x0, x1;
                    double fx;
                    src(j, w, wo, x0, x1, fx);
                    const float* b = x.f32() + p * h * w;
                    double top = b[y0 * w + x0] * (1 - fx) + b[y0 * w + x1] * fx;
                    double bot = b[y1 * w + x0] * (1 - fx) + b[y1 * w + x1] * fx;
                    y.f32()[(p * ho + i) * wo + j] = float(top * (1 - fy) + bot * fy);
                }
            }
    }

    void reduce(Reduce op, const View& x, bool unbiased, const View& y) override {
        int64_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2];
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                double sum = 0, sq = 0;
                for (int64_t j = 0; j < n; ++j) sum += x.f32()[(o * n + j) * inner + i];
                double mu = sum / double(n);
                if (op == Reduce::Mean) {
                    y.f32()[o * inner + i] = float(mu);
                    continue;
                }
                for (int64_t j = 0; j < n; ++j) {
                    double dv = x.f32()[(o * n + j) * inner + i] - mu;
                    sq += dv * dv;
                }
                double den = unbiased ? double(n - 1) : double(n);
                y.f32()[o * inner + i] = float(den > 0 ? std::sqrt(sq / den) : std::numeric_limits<double>::quiet_NaN());
            }
    }
};

}  // namespace

Backend& ref_backend() {
    static RefBackend be;
    return be;
}

}  // namespace sdpp
