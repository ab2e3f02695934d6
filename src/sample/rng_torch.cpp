// torch CPU randn, bit for bit (see rng_torch.h for the algorithm and the ATen files it mirrors).
#include "sample/rng_torch.h"

#include "sample/float_exact.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>
#include <vector>

namespace sdpp {

void TorchGenerator::manual_seed(uint64_t seed) {
    seed_ = seed;
    // at::mt19937(uint64_t seed) keeps only seed & 0xffffffff and runs the standard init_genrand
    // recurrence, which is exactly std::mt19937's seeding.
    engine_.seed(static_cast<std::mt19937::result_type>(seed & 0xffffffffu));
    next_double_normal_.reset();
}

uint32_t TorchGenerator::random() { return static_cast<uint32_t>(engine_()); }

uint64_t TorchGenerator::random64() {
    uint64_t hi = random();
    uint64_t lo = random();
    return (hi << 32) | lo;
}

// transformation::uniform_real: keep `digits` low bits of the draw, scale by 2^-digits.
float TorchGenerator::uniform_float() {
    constexpr uint32_t mask = (1u << 24) - 1;
    constexpr float scale = 1.0f / float(1u << 24);
    return float(random() & mask) * scale;
}

double TorchGenerator::uniform_double() {
    constexpr uint64_t mask = (uint64_t(1) << 53) - 1;
    constexpr double scale = 1.0 / double(uint64_t(1) << 53);
    return double(random64() & mask) * scale;
}

// at::normal_distribution<double>: Box-Muller on (u1, u2), returns r*cos and caches r*sin.
double TorchGenerator::normal_double() {
    if (next_double_normal_) {
        double v = *next_double_normal_;
        next_double_normal_.reset();
        return v;
    }
    const double u1 = uniform_double();
    const double u2 = uniform_double();
    const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
    const double theta = 2.0 * std::numbers::pi * u1;
    next_double_normal_ = r * std::sin(theta);
    return r * std::cos(theta);
}

namespace {

// The reference is torch's AVX2 kernel (normal_fill_16_AVX2), whose log and sin/cos are the Cephes
// polynomials of avx_mathfun.h (log256_ps, sincos256_ps), compiled by GCC with -mfma, which fuses
// each multiply whose only use is an add into an FMA. We evaluate the same operations one lane at a
// time: std::fma where torch's build fused, rounded() where a product is rounded on its own.
// Verified bit for bit against torch 1.13 on 81920 draws (tests/parity/sample_rng_test.cpp).

inline uint32_t float_bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float bits_float(uint32_t u) { return std::bit_cast<float>(u); }

// log256_ps for one positive normal float: x = m * 2^e with m in [0.5, 1), shifted to
// [sqrt(1/2), sqrt(2)), then log(1+x) ~ x - x^2/2 + x^3 P(x) and e*log(2) split in two constants.
float cephes_logf(float x) {
    const uint32_t u = float_bits(x);
    float e = rounded(float(int(u >> 23) - 0x7f) + 1.0f);
    x = bits_float((u & ~0x7f800000u) | float_bits(0.5f));
    const bool below = x < 0.707106781186547524f;  // SQRTHF
    const float tmp = below ? x : 0.0f;
    x = rounded(x - 1.0f);
    if (below) e = rounded(e - 1.0f);
    x = rounded(x + tmp);
    const float z = rounded(x * x);
    static constexpr float p[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                                   -1.2420140846E-1f, 1.4249322787E-1f,  -1.6668057665E-1f,
                                   2.0000714765E-1f,  -2.4999993993E-1f, 3.3333331174E-1f};
    float y = p[0];
    for (int i = 1; i < 9; ++i) y = std::fma(y, x, p[i]);
    y = rounded(y * x);
    y = std::fma(y, z, rounded(e * -2.12194440e-4f));  // + e * log2 (low part)
    y = std::fma(-z, 0.5f, y);                          // - z/2
    return std::fma(e, 0.693359375f, rounded(x + y));   // + e * log2 (high part)
}

// sincos256_ps for one float: reduce by the octant j of |x| * 4/pi (Cody-Waite with three
// constants), evaluate the sine and cosine polynomials and pick/sign them by octant.
void cephes_sincosf(float x, float* s, float* c) {
    uint32_t sign_sin = float_bits(x) & 0x80000000u;
    x = bits_float(float_bits(x) & 0x7fffffffu);
    int j = int(rounded(x * 1.27323954473516f));  // 4/pi, truncated toward zero
    j = (j + 1) & ~1;
    const float y = float(j);
    const uint32_t swap_sign_sin = uint32_t(j & 4) << 29;
    const bool sin_is_poly2 = (j & 2) == 0;
    x = std::fma(y, -0.78515625f, x);
    x = std::fma(y, -2.4187564849853515625e-4f, x);
    x = std::fma(y, -3.77489497744594108e-8f, x);
    const uint32_t sign_cos = uint32_t(~(j - 2) & 4) << 29;
    sign_sin ^= swap_sign_sin;
    const float z = rounded(x * x);
    // cos polynomial on [-pi/4, pi/4]
    float yc = 2.443315711809948E-005f;
    yc = std::fma(yc, z, -1.388731625493765E-003f);
    yc = std::fma(yc, z, 4.166664568298827E-002f);
    yc = rounded(yc * z);
    yc = std::fma(yc, z, -rounded(z * 0.5f));
    yc = rounded(yc + 1.0f);
    // sin polynomial on [-pi/4, pi/4]
    float ys = -1.9515295891E-4f;
    ys = std::fma(ys, z, 8.3321608736E-3f);
    ys = std::fma(ys, z, -1.6666654611E-1f);
    ys = rounded(ys * z);
    ys = std::fma(ys, x, x);
    const float sv = sin_is_poly2 ? ys : yc;
    const float cv = sin_is_poly2 ? yc : ys;
    *s = bits_float(float_bits(sv) ^ sign_sin);
    *c = bits_float(float_bits(cv) ^ sign_cos);
}

// normal_fill_16: Box-Muller on the 8 pairs (data[j], data[j+8]), j < 8, in place.
void normal_fill_16(float* data) {
    const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
    for (int j = 0; j < 8; ++j) {
        const float u1 = rounded(1.0f - data[j]);  // [0,1) -> (0,1] for log
        const float u2 = data[j + 8];
        const float radius = std::sqrt(rounded(-2.0f * cephes_logf(u1)));
        const float theta = rounded(two_pi * u2);
        float s, c;
        cephes_sincosf(theta, &s, &c);
        data[j] = rounded(radius * c);  // * std + mean with std = 1, mean = 0: exact
        data[j + 8] = rounded(radius * s);
    }
}

}  // namespace

void TorchGenerator::randn(std::span<float> out) {
    const size_t n = out.size();
    if (n < 16) {
        // normal_kernel's serial path: one at::normal_distribution<double> sample per element.
        for (float& v : out) v = static_cast<float>(normal_double());
        return;
    }
    // normal_fill: all uniforms first, then Box-Muller per block of 16.
    float* data = out.data();
    for (size_t i = 0; i < n; ++i) data[i] = uniform_float();
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(data + i);
    if (n % 16 != 0) {
        // Tail: fresh uniforms for the last 16 slots (overwriting finished values), transformed again.
        float* tail = data + n - 16;
        for (int i = 0; i < 16; ++i) tail[i] = uniform_float();
        normal_fill_16(tail);
    }
}

Tensor TorchGenerator::randn(const Shape& shape) {
    Tensor t = Tensor::empty(shape, DType::F32);
    randn(std::span<float>(t.data<float>(), size_t(t.numel())));
    return t;
}

Tensor torch_randn(const Shape& shape, uint64_t seed) {
    TorchGenerator g(seed);
    return g.randn(shape);
}

// modules/processing.py slerp(val, low, high) on [C,H,W]: torch.norm(dim=1, keepdim=True) normalises
// over H for every (c, w); dot is [C, W]; omega = acos(dot) per (c, w).
Tensor slerp_a1111(float val, const Tensor& low_in, const Tensor& high_in) {
    SDPP_CHECK(low_in.ndim() == 3 && low_in.shape() == high_in.shape(),
               "slerp: expected two [C,H,W] noise tensors of one shape, got ", low_in.shape_str(), " and ",
               high_in.shape_str());
    Tensor low = low_in.to(DType::F32), high = high_in.to(DType::F32);
    const int64_t C = low.dim(0), H = low.dim(1), W = low.dim(2);
    const float* lo = low.data<float>();
    const float* hi = high.data<float>();
    auto at = [&](int64_t c, int64_t h, int64_t w) { return (c * H + h) * W + w; };

    std::vector<float> dot(size_t(C * W));
    double dot_sum = 0;
    for (int64_t c = 0; c < C; ++c)
        for (int64_t w = 0; w < W; ++w) {
            double nl = 0, nh = 0;
            for (int64_t h = 0; h < H; ++h) {
                nl += double(lo[at(c, h, w)]) * lo[at(c, h, w)];
                nh += double(hi[at(c, h, w)]) * hi[at(c, h, w)];
            }
            nl = std::sqrt(nl);
            nh = std::sqrt(nh);
            double d = 0;
            for (int64_t h = 0; h < H; ++h) d += (lo[at(c, h, w)] / nl) * (hi[at(c, h, w)] / nh);
            dot[size_t(c * W + w)] = float(d);
            dot_sum += d;
        }
    Tensor out = Tensor::empty(low.shape());
    float* o = out.data<float>();
    if (dot_sum / double(C * W) > 0.9995) {
        // A1111's fallback (note the swapped weights, kept for identical results).
        for (int64_t i = 0; i < low.numel(); ++i) o[i] = lo[i] * val + hi[i] * (1.0f - val);
        return out;
    }
    for (int64_t c = 0; c < C; ++c)
        for (int64_t w = 0; w < W; ++w) {
            const double omega = std::acos(double(dot[size_t(c * W + w)]));
            const double so = std::sin(omega);
            const double a = std::sin((1.0 - val) * omega) / so;
            const double b = std::sin(double(val) * omega) / so;
            for (int64_t h = 0; h < H; ++h) {
                const int64_t i = at(c, h, w);
                o[i] = float(a * lo[i] + b * hi[i]);
            }
        }
    return out;
}

Tensor torch_randn_variation(const Shape& shape, uint64_t seed, uint64_t subseed, float strength) {
    SDPP_CHECK(shape.size() == 3 || shape.size() == 4, "noise variation: expected [N,C,H,W] or [C,H,W], got ",
               to_string(shape));
    SDPP_CHECK(strength >= 0.0f && strength <= 1.0f, "noise variation: subseed strength ", strength,
               " is outside [0, 1]");
    const bool batched = shape.size() == 4;
    const int64_t n = batched ? shape[0] : 1;
    const Shape item = batched ? Shape{shape[1], shape[2], shape[3]} : shape;
    Tensor out = Tensor::empty(shape);
    const int64_t item_numel = numel_of(item);
    for (int64_t i = 0; i < n; ++i) {
        // A1111: with a variation strength every image keeps the main seed and subseeds count up;
        // without one, seeds count up.
        const uint64_t s = strength != 0.0f ? seed : seed + uint64_t(i);
        Tensor noise = torch_randn(item, s);
        if (strength != 0.0f) noise = slerp_a1111(strength, noise, torch_randn(item, subseed + uint64_t(i)));
        std::copy_n(noise.data<float>(), item_numel, out.data<float>() + i * item_numel);
    }
    return out;
}

}  // namespace sdpp
