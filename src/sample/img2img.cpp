// Img2img schedule truncation (A1111 / diffusers) and inpainting mask blends (see img2img.h).
#include "sample/img2img.h"

#include "sample/latent_math.h"

#include <algorithm>
#include <cmath>

namespace sdpp {

namespace {

int steps_of(const std::vector<float>& full, const char* what) {
    SDPP_CHECK(full.size() >= 2, what, ": need a schedule of at least one step");
    return int(full.size()) - 1;
}

void check_strength(float strength, const char* what) {
    SDPP_CHECK(std::isfinite(strength) && strength >= 0.0f && strength <= 1.0f, what, ": denoising strength ",
               strength, " is outside [0, 1]");
}

}  // namespace

std::vector<float> a1111_img2img_sigmas(const std::vector<float>& full, float strength) {
    const int steps = steps_of(full, "img2img");
    check_strength(strength, "img2img");
    // python: int(min(strength, 0.999) * steps), strength a float64 there
    const int t_enc = int(std::min(double(strength), 0.999) * steps);
    return std::vector<float>(full.begin() + (steps - t_enc - 1), full.end());
}

std::vector<float> diffusers_img2img_sigmas(const std::vector<float>& full, float strength) {
    const int steps = steps_of(full, "img2img");
    check_strength(strength, "img2img");
    const int init = std::min(int(double(steps) * double(strength)), steps);
    const int start = std::max(steps - init, 0);
    return std::vector<float>(full.begin() + start, full.end());
}

Tensor noised_latent(const Tensor& init_latent, const Tensor& noise, float sigma) {
    SDPP_CHECK(init_latent.shape() == noise.shape(), "img2img: noise ", noise.shape_str(), " does not match latent ",
               init_latent.shape_str());
    return lincomb({{1.0, init_latent}, {double(sigma), noise}});
}

Tensor blend_masked_latent(const Tensor& x_in, const Tensor& init_in, const Tensor& noise_in, const Tensor& mask_in,
                           float sigma) {
    SDPP_CHECK(x_in.ndim() == 4 && init_in.shape() == x_in.shape() && noise_in.shape() == x_in.shape(),
               "inpaint blend: x ", x_in.shape_str(), ", init ", init_in.shape_str(), " and noise ",
               noise_in.shape_str(), " must be one [N,C,H,W] shape");
    const int64_t N = x_in.dim(0), C = x_in.dim(1), H = x_in.dim(2), W = x_in.dim(3);
    SDPP_CHECK(mask_in.ndim() == 4 && (mask_in.dim(0) == N || mask_in.dim(0) == 1) &&
                   (mask_in.dim(1) == C || mask_in.dim(1) == 1) && mask_in.dim(2) == H && mask_in.dim(3) == W,
               "inpaint blend: mask ", mask_in.shape_str(), " does not broadcast to the latent ", x_in.shape_str());
    const Tensor x = as_f32(x_in), init = as_f32(init_in), noise = as_f32(noise_in), mask = as_f32(mask_in);
    Tensor out = Tensor::empty(x.shape());
    const float *px = x.data<float>(), *pi = init.data<float>(), *pn = noise.data<float>(), *pm = mask.data<float>();
    float* po = out.data<float>();
    const int64_t mN = mask.dim(0), mC = mask.dim(1), HW = H * W;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const float* m = pm + ((mN == 1 ? 0 : n) * mC + (mC == 1 ? 0 : c)) * HW;
            const int64_t base = (n * C + c) * HW;
            for (int64_t k = 0; k < HW; ++k) {
                const double w = m[k];
                const double known = double(pi[base + k]) + double(sigma) * double(pn[base + k]);
                po[base + k] = float(w * px[base + k] + (1.0 - w) * known);
            }
        }
    return out;
}

DenoiseFn make_inpaint_denoiser(DenoiseFn inner, Tensor init, Tensor noise, Tensor mask) {
    SDPP_CHECK(inner != nullptr, "inpaint: no denoiser");
    // Validate the shapes once with sigma 0.
    (void)blend_masked_latent(init, init, noise, mask, 0.0f);
    return [inner = std::move(inner), init, noise, mask](const Tensor& x, float sigma) -> Tensor {
        const Tensor xb = blend_masked_latent(x, init, noise, mask, sigma);
        const Tensor den = inner(xb, sigma);
        return blend_masked_latent(den, init, noise, mask, 0.0f);
    };
}

}  // namespace sdpp
