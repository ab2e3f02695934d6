// Live previews (see previews.h). The coefficients are A1111's sd_vae_approx.cheap_approximation
// (after https://discuss.huggingface.co/t/decoding-latents-to-rgb-without-upscaling/23204/2):
// rgb[r] = sum_l latent[l] * coeffs[l][r], an image in about [-1, 1].
#include "pipeline/previews.h"

#include "io/image.h"

namespace sdpp::pipeline {

namespace {

constexpr float kSD[4][3] = {
    {0.298f, 0.207f, 0.208f}, {0.187f, 0.286f, 0.173f}, {-0.158f, 0.189f, 0.264f}, {-0.184f, -0.271f, -0.473f}};
constexpr float kSDXL[4][3] = {
    {0.3448f, 0.4168f, 0.4395f}, {-0.1953f, -0.0290f, 0.0250f}, {0.1074f, 0.0886f, -0.0163f}, {-0.3730f, -0.2499f, -0.2088f}};

}  // namespace

std::optional<Image> cheap_preview(const Tensor& x, bool sdxl) {
    if (x.ndim() != 4 || x.dim(1) != 4) return std::nullopt;
    const int64_t h = x.dim(2), w = x.dim(3), hw = h * w;
    const Tensor first = x.slice(0, 0, 1).to(DType::F32).contiguous();
    const float* p = first.data<float>();
    const auto& k = sdxl ? kSDXL : kSD;
    Tensor rgb = Tensor::empty({1, 3, h, w});
    float* o = rgb.data<float>();
    for (int r = 0; r < 3; ++r)
        for (int64_t i = 0; i < hw; ++i) {
            float acc = 0;
            for (int l = 0; l < 4; ++l) acc += p[l * hw + i] * k[l][r];
            o[r * hw + i] = acc;
        }
    return tensor_to_images(rgb)[0];
}

Image taesd_preview(Ctx& ctx, const TAESD& taesd, const Tensor& x) {
    return tensor_to_images(taesd.decode_pm1(ctx, x.slice(0, 0, 1).contiguous()))[0];
}

}  // namespace sdpp::pipeline
