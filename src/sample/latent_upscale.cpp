// Latent resizing for the hires fix (see latent_upscale.h): per axis, each output index gets its
// source taps and weights as ATen computes them; the 2-D result is the separable sum.
#include "sample/latent_upscale.h"

#include "core/error.h"
#include "sample/latent_math.h"

#include <algorithm>
#include <cmath>

namespace sdpp {

namespace {

struct Taps {
    std::vector<int64_t> src;
    std::vector<double> w;
};

double cubic1(double x, double a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
double cubic2(double x, double a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

std::vector<Taps> axis_taps(int64_t in, int64_t out, const LatentUpscaler& how) {
    std::vector<Taps> taps(static_cast<size_t>(out));
    const float scale = float(in) / float(out);  // ATen: area_pixel_compute_scale, float for f32
    for (int64_t i = 0; i < out; ++i) {
        Taps& t = taps[size_t(i)];
        if (how.antialias && (how.mode == LatentUpscaleMode::Bilinear || how.mode == LatentUpscaleMode::Bicubic)) {
            // _compute_indices_min_size_weights_aa (PIL's convention).
            const bool cubic = how.mode == LatentUpscaleMode::Bicubic;
            const double interp = cubic ? 4.0 : 2.0;
            const double sc = scale;
            const double support = sc >= 1.0 ? interp * 0.5 * sc : interp * 0.5;
            const double center = sc * (double(i) + 0.5);
            const double inv = sc >= 1.0 ? 1.0 / sc : 1.0;
            const int64_t xmin = std::max<int64_t>(int64_t(center - support + 0.5), 0);
            const int64_t xmax = std::min<int64_t>(int64_t(center + support + 0.5), in);
            double total = 0;
            for (int64_t j = xmin; j < xmax; ++j) {
                const double x = std::fabs((double(j) - center + 0.5) * inv);
                double w;
                if (cubic) w = x < 1 ? cubic1(x, -0.5) : x < 2 ? cubic2(x, -0.5) : 0.0;
                else w = std::max(0.0, 1.0 - x);
                t.src.push_back(j);
                t.w.push_back(w);
                total += w;
            }
            if (total != 0)
                for (double& w : t.w) w /= total;
            continue;
        }
        switch (how.mode) {
            case LatentUpscaleMode::Nearest: {
                int64_t s = in == out ? i : out == 2 * in ? i >> 1 : int64_t(std::floor(float(i) * scale));
                t.src = {std::min(s, in - 1)};
                t.w = {1.0};
                break;
            }
            case LatentUpscaleMode::NearestExact: {
                int64_t s = in == out ? i : int64_t(std::floor((float(i) + 0.5f) * scale));
                t.src = {std::min(s, in - 1)};
                t.w = {1.0};
                break;
            }
            case LatentUpscaleMode::Bilinear: {
                float real = scale * (float(i) + 0.5f) - 0.5f;
                if (real < 0) real = 0;
                const int64_t i0 = int64_t(real);
                const int64_t off = i0 < in - 1 ? 1 : 0;
                const float l1 = std::clamp(real - float(i0), 0.0f, 1.0f);
                t.src = {i0, i0 + off};
                t.w = {double(1.0f - l1), double(l1)};
                break;
            }
            case LatentUpscaleMode::Bicubic: {
                const float real = scale * (float(i) + 0.5f) - 0.5f;
                const int64_t ix = int64_t(std::floor(real));
                const double f = double(real - float(ix));
                const double a = -0.75;
                const double c[4] = {cubic2(f + 1, a), cubic1(f, a), cubic1(1 - f, a), cubic2(2 - f, a)};
                for (int k = 0; k < 4; ++k) {
                    t.src.push_back(std::clamp<int64_t>(ix - 1 + k, 0, in - 1));
                    t.w.push_back(c[k]);
                }
                break;
            }
        }
    }
    return taps;
}

}  // namespace

bool latent_upscaler_from_name(const std::string& name, LatentUpscaler& out) {
    using M = LatentUpscaleMode;
    if (name == "Latent") out = {M::Bilinear, false};
    else if (name == "Latent (antialiased)") out = {M::Bilinear, true};
    else if (name == "Latent (bicubic)") out = {M::Bicubic, false};
    else if (name == "Latent (bicubic antialiased)") out = {M::Bicubic, true};
    else if (name == "Latent (nearest)") out = {M::Nearest, false};
    else if (name == "Latent (nearest-exact)") out = {M::NearestExact, false};
    else return false;
    return true;
}

std::vector<std::string> latent_upscaler_names() {
    return {"Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)", "Latent (nearest)",
            "Latent (nearest-exact)"};
}

Tensor upscale_latent(const Tensor& x_in, int64_t out_h, int64_t out_w, const LatentUpscaler& how) {
    SDPP_CHECK(x_in.ndim() == 4 && out_h > 0 && out_w > 0, "upscale_latent: expected [N, C, H, W] and a positive size, got ",
               x_in.shape_str(), " -> ", out_h, "x", out_w);
    const Tensor x = as_f32(x_in);
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const std::vector<Taps> th = axis_taps(H, out_h, how), tw = axis_taps(W, out_w, how);
    Tensor out = Tensor::empty({N, C, out_h, out_w});
    const float* p = x.data<float>();
    float* o = out.data<float>();
    for (int64_t nc = 0; nc < N * C; ++nc) {
        const float* src = p + nc * H * W;
        float* dst = o + nc * out_h * out_w;
        for (int64_t i = 0; i < out_h; ++i) {
            const Taps& a = th[size_t(i)];
            for (int64_t j = 0; j < out_w; ++j) {
                const Taps& b = tw[size_t(j)];
                double acc = 0;
                for (size_t u = 0; u < a.src.size(); ++u) {
                    double row = 0;
                    for (size_t v = 0; v < b.src.size(); ++v) row += b.w[v] * double(src[a.src[u] * W + b.src[v]]);
                    acc += a.w[u] * row;
                }
                dst[i * out_w + j] = float(acc);
            }
        }
    }
    return out;
}

}  // namespace sdpp
