// Memory-bound CPU kernels: activations (SiLU, GELU erf/tanh, quick-GELU, GEGLU as in diffusers),
// numpy-broadcasting add/sub/mul (dims collapsed like ATen's TensorIterator so the inner loop is a
// unit-stride or scalar-broadcast vector loop), scale, concat, nearest 2x upsample, bilinear resize
// (torch F.interpolate index maths), mean/std reductions. SIMD via vec.h (the 8x8 transpose and
// the 2x interleave stay 256-bit shuffles in both copies), OpenMP over rows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/kernels/isa.h"

SDPP_KERNELS_BEGIN
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/vec.h"

namespace {

constexpr int64_t kParallelMin = 1 << 15;  // elements below which threading costs more than it saves

template <class FV, class FS>
void map_parallel(const float* x, float* y, int64_t n, FV fv, FS fs) {
    constexpr int64_t chunk = 1 << 14;
    int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t c = 0; c < nchunks; ++c) {
        int64_t b = c * chunk, e = std::min(n, b + chunk);
        map_floats(x + b, y + b, e - b, fv, fs);
    }
}

}  // namespace

void unary(Unary op, const View& x, const View& y) {
    const float* in = x.f32();
    float* out = y.f32();
    int64_t n = x.numel();
#define SDPP_MAP(V, S) map_parallel(in, out, n, [](vf v) { return V(v); }, [](float s) { return S(s); })
    switch (op) {
        case Unary::SiLU: SDPP_MAP(vsilu, silu_s); break;
        case Unary::GeluErf: SDPP_MAP(vgelu_erf, gelu_erf_s); break;
        case Unary::GeluTanh: SDPP_MAP(vgelu_tanh, gelu_tanh_s); break;
        case Unary::QuickGelu: SDPP_MAP(vquick_gelu, quick_gelu_s); break;
        case Unary::ReLU:  // vmax returns its second operand for a NaN: NaN stays NaN, as in torch
            map_parallel(in, out, n, [](vf v) { return vmax(vzero(), v); }, [](float s) { return std::max(s, 0.0f); });
            break;
        case Unary::Tanh: map_parallel(in, out, n, [](vf v) { return vtanh(v); }, [](float s) { return std::tanh(s); }); break;
    }
#undef SDPP_MAP
}

void geglu(const View& x, const View& y) {
    int64_t r = y.shape[0], f = y.shape[1];
#pragma omp parallel for schedule(static) if (r * f > kParallelMin)
    for (int64_t i = 0; i < r; ++i) {
        const float* h = x.f32() + i * 2 * f;
        const float* g = h + f;
        float* o = y.f32() + i * f;
        int64_t j = 0;
        for (; j + kW <= f; j += kW) vstore(o + j, vmul(vload(h + j), vgelu_erf(vload(g + j))));
        for (; j < f; ++j) o[j] = h[j] * gelu_erf_s(g[j]);
    }
}

namespace {

// Joint dim collapsing for up to three views with y's shape: drops size-1 dims and merges
// neighbours whose strides chain in every view. Returns the collapsed shape and per-view strides.
struct Collapsed {
    Shape shape;
    std::vector<int64_t> st[3];
};

Collapsed collapse_dims(const Shape& shape, std::initializer_list<const std::vector<int64_t>*> strides) {
    Collapsed c;
    int nv = int(strides.size());
    std::vector<const std::vector<int64_t>*> sv(strides);
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;
        bool merge = !c.shape.empty();
        for (int v = 0; merge && v < nv; ++v) merge = c.st[v].back() == (*sv[v])[d] * shape[d];
        if (merge) {
            c.shape.back() *= shape[d];
            for (int v = 0; v < nv; ++v) c.st[v].back() = (*sv[v])[d];
        } else {
            c.shape.push_back(shape[d]);
            for (int v = 0; v < nv; ++v) c.st[v].push_back((*sv[v])[d]);
        }
    }
    if (c.shape.empty()) {
        c.shape.push_back(1);
        for (int v = 0; v < nv; ++v) c.st[v].push_back(1);
    }
    return c;
}

// A collapsed view whose last two dims are transposed in memory: [.., R, C] with strides
// [.., 1, sc] (e.g. [N,HW,C] data viewed as [N,C,HW]). Walking its rows reads one float per cache
// line; copying it in 8x8 register-transposed tiles reads and writes whole lines instead.
bool transposed_tail(const Collapsed& c, int v) {
    int nd = int(c.shape.size());
    return nd >= 2 && c.st[v][nd - 1] > 1 && c.st[v][nd - 2] == 1;
}

// dst (contiguous, c.shape) = view v of c at base src.
void transpose_copy(const Collapsed& c, int v, const float* src, float* dst) {
    int nd = int(c.shape.size());
    const int64_t R = c.shape[nd - 2], C = c.shape[nd - 1], sc = c.st[v][nd - 1];
    const int64_t outer = numel_of(c.shape) / (R * C), rb = (R + 7) / 8;
#pragma omp parallel for schedule(static) if (outer * R * C > kParallelMin)
    for (int64_t t = 0; t < outer * rb; ++t) {
        int64_t o = t / rb, r0 = (t % rb) * 8, off = 0, rem = o;
        for (int d = nd - 3; d >= 0; --d) {
            off += (rem % c.shape[d]) * c.st[v][d];
            rem /= c.shape[d];
        }
        const float* s = src + off;
        float* d = dst + o * R * C;
        int64_t c0 = 0;
        if (r0 + 8 <= R)
            for (; c0 + 8 <= C; c0 += 8) {
                __m256 x[8], t8[8], u[8];
                for (int k = 0; k < 8; ++k) x[k] = _mm256_loadu_ps(s + (c0 + k) * sc + r0);  // column c0+k, rows r0..+8
                for (int k = 0; k < 8; k += 2) {
                    t8[k] = _mm256_unpacklo_ps(x[k], x[k + 1]);
                    t8[k + 1] = _mm256_unpackhi_ps(x[k], x[k + 1]);
                }
                for (int k = 0; k < 8; k += 4) {
                    u[k] = _mm256_shuffle_ps(t8[k], t8[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
                    u[k + 1] = _mm256_shuffle_ps(t8[k], t8[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
                    u[k + 2] = _mm256_shuffle_ps(t8[k + 1], t8[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
                    u[k + 3] = _mm256_shuffle_ps(t8[k + 1], t8[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
                }
                for (int k = 0; k < 4; ++k) {
                    _mm256_storeu_ps(d + (r0 + k) * C + c0, _mm256_permute2f128_ps(u[k], u[k + 4], 0x20));
                    _mm256_storeu_ps(d + (r0 + k + 4) * C + c0, _mm256_permute2f128_ps(u[k], u[k + 4], 0x31));
                }
            }
        for (int64_t r = r0; r < std::min(R, r0 + 8); ++r)
            for (int64_t cc = c0; cc < C; ++cc) d[r * C + cc] = s[cc * sc + r];
    }
}

template <Binary op>
inline float bin_s(float a, float b) {
    return op == Binary::Add ? a + b : op == Binary::Sub ? a - b : a * b;
}
template <Binary op>
inline vf bin_v(vf a, vf b) {
    return op == Binary::Add ? vadd(a, b) : op == Binary::Sub ? vsub(a, b) : vmul(a, b);
}

template <Binary op>
void binary_row(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
    int64_t i = 0;
    if (sa == 1 && sb == 1) {
        for (; i + kW <= n; i += kW) vstore(y + i, bin_v<op>(vload(a + i), vload(b + i)));
        for (; i < n; ++i) y[i] = bin_s<op>(a[i], b[i]);
    } else if (sa == 1 && sb == 0) {
        vf bv = vset1(*b);
        for (; i + kW <= n; i += kW) vstore(y + i, bin_v<op>(vload(a + i), bv));
        for (; i < n; ++i) y[i] = bin_s<op>(a[i], *b);
    } else if (sa == 0 && sb == 1) {
        vf av = vset1(*a);
        for (; i + kW <= n; i += kW) vstore(y + i, bin_v<op>(av, vload(b + i)));
        for (; i < n; ++i) y[i] = bin_s<op>(*a, b[i]);
    } else {
        for (; i < n; ++i) y[i] = bin_s<op>(a[i * sa], b[i * sb]);
    }
}

template <Binary op>
void binary_impl(const View& a, const View& b, const View& y) {
    Collapsed c = collapse_dims(y.shape, {&a.strides, &b.strides, &y.strides});
    if (c.st[2].back() != 1) {  // a destination without unit inner stride: through a contiguous copy
        Tensor tmp = Tensor::empty(y.shape);
        View t = y;
        t.data = tmp.raw();
        t.strides = tmp.strides();
        binary_impl<op>(a, b, t);
        copy_strided(t, y);
        return;
    }
    int nd = int(c.shape.size());
    int64_t inner = c.shape.back(), rows = numel_of(c.shape) / inner;
    const float* pa = a.f32();
    const float* pb = b.f32();
    // An operand stored transposed (the permuted residual add of a transformer block): copy it
    // contiguous in tiles first, then run the unit-stride loop.
    Tensor tmp;
    for (int v = 0; v < 2; ++v)
        if (transposed_tail(c, v) && c.st[1 - v].back() <= 1) {
            tmp = Tensor::empty(c.shape);
            transpose_copy(c, v, v == 0 ? pa : pb, tmp.data<float>());
            std::vector<int64_t> st(static_cast<size_t>(nd));
            int64_t acc = 1;
            for (int d = nd - 1; d >= 0; --d) {
                st[d] = acc;
                acc *= c.shape[d];
            }
            c.st[v] = st;
            (v == 0 ? pa : pb) = tmp.data<float>();
            break;
        }
    float* py = y.f32();
    // Tasks are (row, chunk of the row) so one long collapsed row still spreads over threads.
    constexpr int64_t chunk = 1 << 14;
    int64_t nchunks = (inner + chunk - 1) / chunk, sa = c.st[0].back(), sb = c.st[1].back();
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin)
    for (int64_t t = 0; t < rows * nchunks; ++t) {
        int64_t r = t / nchunks, b0 = (t % nchunks) * chunk, len = std::min(chunk, inner - b0);
        int64_t oa = 0, ob = 0, oy = 0, rem = r;
        for (int d = nd - 2; d >= 0; --d) {
            int64_t i = rem % c.shape[d];
            rem /= c.shape[d];
            oa += i * c.st[0][d];
            ob += i * c.st[1][d];
            oy += i * c.st[2][d];
        }
        binary_row<op>(pa + oa + b0 * sa, sa, pb + ob + b0 * sb, sb, py + oy + b0, len);
    }
}

}  // namespace

void binary(Binary op, const View& a, const View& b, const View& y) {
    switch (op) {
        case Binary::Add: binary_impl<Binary::Add>(a, b, y); break;
        case Binary::Sub: binary_impl<Binary::Sub>(a, b, y); break;
        case Binary::Mul: binary_impl<Binary::Mul>(a, b, y); break;
    }
}

void scale(const View& x, float a, float b, const View& y) {
    vf av = vset1(a), bv = vset1(b);
    map_parallel(x.f32(), y.f32(), x.numel(), [=](vf v) { return vfmadd(v, av, bv); },
                 [=](float s) { return a * s + b; });
}

void bias_act_rows(float* y, int64_t rows, int64_t len, const float* bias, int64_t channels, Act act) {
#pragma omp parallel for schedule(static) if (rows * len > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
        float b = bias ? bias[r % channels] : 0.0f;
        float* p = y + r * len;
        int64_t i = 0;
        vf bv = vset1(b);
        if (act == Act::SiLU)
            for (; i + kW <= len; i += kW) vstore(p + i, vsilu(vadd(vload(p + i), bv)));
        else if (act == Act::ReLU)
            for (; i + kW <= len; i += kW) vstore(p + i, vmax(vzero(), vadd(vload(p + i), bv)));
        else
            for (; i + kW <= len; i += kW) vstore(p + i, vadd(vload(p + i), bv));
        for (; i < len; ++i)
            p[i] = act == Act::SiLU ? silu_s(p[i] + b) : act == Act::ReLU ? std::max(p[i] + b, 0.0f) : p[i] + b;
    }
}

void copy_to_contiguous(const View& src, float* dst) {
    Collapsed c = collapse_dims(src.shape, {&src.strides});
    if (transposed_tail(c, 0)) {
        transpose_copy(c, 0, src.f32(), dst);
        return;
    }
    int nd = int(c.shape.size());
    int64_t inner = c.shape.back(), rows = numel_of(c.shape) / inner, si = c.st[0].back();
    const float* ps = src.f32();
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
        int64_t o = 0, rem = r;
        for (int d = nd - 2; d >= 0; --d) {
            o += (rem % c.shape[d]) * c.st[0][d];
            rem /= c.shape[d];
        }
        const float* s = ps + o;
        float* d = dst + r * inner;
        if (si == 1)
            std::memcpy(d, s, size_t(inner) * sizeof(float));
        else
            for (int64_t i = 0; i < inner; ++i) d[i] = s[i * si];
    }
}

void copy_strided(const View& src, const View& dst) {
    Collapsed c = collapse_dims(dst.shape, {&src.strides, &dst.strides});
    const int nd = int(c.shape.size());
    const int64_t inner = c.shape.back(), rows = numel_of(c.shape) / inner;
    const int64_t si = c.st[0].back(), di = c.st[1].back();
    const float* ps = src.f32();
    float* pd = dst.f32();
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
        int64_t os = 0, od = 0, rem = r;
        for (int d = nd - 2; d >= 0; --d) {
            const int64_t i = rem % c.shape[d];
            os += i * c.st[0][d];
            od += i * c.st[1][d];
            rem /= c.shape[d];
        }
        const float* s = ps + os;
        float* d = pd + od;
        if (si == 1 && di == 1)
            std::memcpy(d, s, size_t(inner) * sizeof(float));
        else
            for (int64_t i = 0; i < inner; ++i) d[i * di] = s[i * si];
    }
}

void concat(std::span<const View> xs, int dim, const View& y) {
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < dim; ++i) outer *= y.shape[i];
    for (int i = dim + 1; i < y.ndim(); ++i) inner *= y.shape[i];
    int64_t ystep = y.shape[dim] * inner, pos = 0;
    for (const View& x : xs) {
        int64_t blk = x.shape[dim] * inner;
        if (x.is_contiguous()) {
            const float* s = x.f32();
            float* d = y.f32() + pos;
#pragma omp parallel for schedule(static) if (outer * blk > kParallelMin && outer > 1)
            for (int64_t o = 0; o < outer; ++o)
                std::memcpy(d + o * ystep, s + o * blk, size_t(blk) * sizeof(float));
        } else {
            // Strided input: view y's slab for this input as a strided destination by copying
            // through a contiguous buffer per outer index.
            std::vector<float> tmp(static_cast<size_t>(x.numel()));
            copy_to_contiguous(x, tmp.data());
            for (int64_t o = 0; o < outer; ++o)
                std::memcpy(y.f32() + pos + o * ystep, tmp.data() + o * blk, size_t(blk) * sizeof(float));
        }
        pos += blk;
    }
}

void upsample_nearest2x(const View& x, const View& y) {
    int64_t nc = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
#pragma omp parallel for schedule(static) if (nc * h * w > kParallelMin / 4)
    for (int64_t r = 0; r < nc * h; ++r) {
        const float* s = x.f32() + r * w;
        float* d0 = y.f32() + r * 4 * w;
        float* d1 = d0 + 2 * w;
        int64_t j = 0;
        for (; j + 8 <= w; j += 8) {
            __m256 v = _mm256_loadu_ps(s + j);
            __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);  // per 128-bit lane
            __m256 a = _mm256_permute2f128_ps(lo, hi, 0x20), b = _mm256_permute2f128_ps(lo, hi, 0x31);
            _mm256_storeu_ps(d0 + 2 * j, a);
            _mm256_storeu_ps(d0 + 2 * j + 8, b);
        }
        for (; j < w; ++j) d0[2 * j] = d0[2 * j + 1] = s[j];
        std::memcpy(d1, d0, size_t(2 * w) * sizeof(float));
    }
}

namespace {
// torch's area_pixel_compute_source_index for linear modes.
void bilinear_index(int64_t o, int64_t in, int64_t out, bool align, int64_t& i0, int64_t& i1, float& f) {
    float s;
    if (align)
        s = out > 1 ? float(double(o) * double(in - 1) / double(out - 1)) : 0.0f;
    else
        s = std::max(0.0f, float((double(o) + 0.5) * double(in) / double(out) - 0.5));
    i0 = std::min<int64_t>(int64_t(s), in - 1);
    i1 = std::min<int64_t>(i0 + 1, in - 1);
    f = s - float(i0);
}
}  // namespace

void resize_bilinear(const View& x, bool align, const View& y) {
    int64_t nc = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], ho = y.shape[2], wo = y.shape[3];
    std::vector<int64_t> x0(static_cast<size_t>(wo)), x1(static_cast<size_t>(wo));
    std::vector<float> fx(static_cast<size_t>(wo));
    for (int64_t j = 0; j < wo; ++j) bilinear_index(j, w, wo, align, x0[j], x1[j], fx[j]);
#pragma omp parallel for schedule(static) if (nc * ho * wo > kParallelMin)
    for (int64_t r = 0; r < nc * ho; ++r) {
        int64_t p = r / ho, i = r % ho, y0, y1;
        float fy;
        bilinear_index(i, h, ho, align, y0, y1, fy);
        const float* t = x.f32() + (p * h + y0) * w;
        const float* b = x.f32() + (p * h + y1) * w;
        float* d = y.f32() + r * wo;
        for (int64_t j = 0; j < wo; ++j) {
            float top = t[x0[j]] + (t[x1[j]] - t[x0[j]]) * fx[j];
            float bot = b[x0[j]] + (b[x1[j]] - b[x0[j]]) * fx[j];
            d[j] = top + (bot - top) * fy;
        }
    }
}

void reduce(Reduce op, const View& x, bool unbiased, const View& y) {
    int64_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2];
    double den = op == Reduce::Mean ? double(n) : (unbiased ? double(n - 1) : double(n));
#pragma omp parallel if (outer * n * inner > kParallelMin)
    {
        std::vector<double> sum(static_cast<size_t>(inner)), sq(static_cast<size_t>(inner));
#pragma omp for schedule(static)
        for (int64_t o = 0; o < outer; ++o) {
            const float* base = x.f32() + o * n * inner;
            std::fill(sum.begin(), sum.end(), 0.0);
            for (int64_t j = 0; j < n; ++j)
                for (int64_t i = 0; i < inner; ++i) sum[i] += base[j * inner + i];
            float* out = y.f32() + o * inner;
            if (op == Reduce::Mean) {
                for (int64_t i = 0; i < inner; ++i) out[i] = float(sum[i] / den);
                continue;
            }
            std::fill(sq.begin(), sq.end(), 0.0);
            for (int64_t j = 0; j < n; ++j)
                for (int64_t i = 0; i < inner; ++i) {
                    double dv = base[j * inner + i] - sum[i] / double(n);
                    sq[i] += dv * dv;
                }
            for (int64_t i = 0; i < inner; ++i)
                out[i] = den > 0 ? float(std::sqrt(sq[i] / den)) : std::numeric_limits<float>::quiet_NaN();
        }
    }
}

SDPP_KERNELS_END
