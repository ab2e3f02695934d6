// img2img pieces: the init image -> VAE posterior (A1111 processing.py
// StableDiffusionProcessingImg2Img.init -> images_tensor_to_samples; diffusers
// retrieve_latents), times the VAE scaling factor. The fixtures (and diffusers'
// sample_mode="argmax") use the posterior MEAN, which is deterministic and our default; A1111 samples
// the posterior (GenerateRequest::sample_posterior, with a seeded stream, see pipeline.h).
// The strength truncation and the first x = init + noise * sigmas[0] are src/sample/img2img.h's
// (A1111 sd_samplers_kdiffusion.py sample_img2img).
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "sample/rng_torch.h"

namespace sdpp::pipeline {

// Through row bands (exact, less memory) up to kVAEBandedMaxPixels, through tiles past it.
void encode_image(Ctx& ctx, const VAE& vae, const Tensor& x, Tensor& mean, Tensor& std) {
    const bool tiled = x.dim(2) * x.dim(3) > kVAEBandedMaxPixels;
    VAEPosterior post = tiled ? vae.encode_tiled(ctx, x) : vae.encode_banded(ctx, x);
    const float s = vae.cfg.scaling_factor;
    mean = scale(ctx, post.mean, s);
    std = scale(ctx, post.std, s);
}

Tensor repeat_batch(Ctx& ctx, const Tensor& t, int64_t n) {
    if (n == 1) return t.contiguous();
    std::vector<Tensor> parts(size_t(n), t);
    return concat(ctx, parts, 0);
}

Tensor batch_init_latents(const LatentInputs& lat, const std::vector<int64_t>& seeds, bool sample_posterior) {
    SDPP_CHECK(lat.init_mean.defined(), "img2img: no init latent");
    const Shape one = lat.init_mean.shape();  // [1, C, h, w]
    const int64_t n = int64_t(seeds.size());
    Tensor out = Tensor::empty({n, one[1], one[2], one[3]});
    const int64_t per = lat.init_mean.numel();
    std::vector<float> mean = lat.init_mean.to_vector();
    std::vector<float> sd = sample_posterior ? lat.init_std.to_vector() : std::vector<float>();
    float* o = out.data<float>();
    std::vector<float> eps(static_cast<size_t>(per));
    for (int64_t i = 0; i < n; ++i) {
        if (sample_posterior) {
            TorchGenerator g(uint64_t(seeds[size_t(i)]) ^ kPosteriorSeedXor);
            g.randn(eps);
        }
        for (int64_t k = 0; k < per; ++k)
            o[i * per + k] = sample_posterior ? mean[size_t(k)] + sd[size_t(k)] * eps[size_t(k)] : mean[size_t(k)];
    }
    return out;
}

}  // namespace sdpp::pipeline
