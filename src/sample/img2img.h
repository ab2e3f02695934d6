// Img2img and inpainting hooks for the samplers:
//  - the schedule truncation at a denoising strength, as A1111 does it
//    (modules/sd_samplers_common.py setup_img2img_steps + sd_samplers_kdiffusion.py
//    sample_img2img: t_enc = int(min(strength, 0.999) * steps); sigmas[steps - t_enc - 1:], i.e.
//    t_enc + 1 steps) and as diffusers does it (StableDiffusionImg2ImgPipeline.get_timesteps:
//    init = min(int(steps * strength), steps); sigmas[steps - init:], i.e. init steps);
//  - the starting latent init + noise * sigmas[0];
//  - the mask blend for inpainting with ordinary (4-channel) models, per step:
//    latent = mask * x + (1 - mask) * (init + noise * sigma)   (diffusers StableDiffusionInpaintPipeline
//    for 4-channel UNets, ComfyUI KSamplerX0Inpaint), mask = 1 where the image is regenerated.
// docs/samplers.md documents both truncation rules.
#pragma once
#include "core/tensor.h"
#include "sample/denoiser.h"

#include <vector>

namespace sdpp {

// A1111: `full` = the steps+1 sigmas of the full schedule. Returns the tail starting at index
// steps - t_enc - 1 (t_enc + 1 steps). strength in [0, 1]; strength 0 still runs one step.
std::vector<float> a1111_img2img_sigmas(const std::vector<float>& full, float strength);
// diffusers: the tail starting at index steps - min(int(steps * strength), steps) (may be just [0],
// i.e. no step, for a small strength).
std::vector<float> diffusers_img2img_sigmas(const std::vector<float>& full, float strength);

// init_latent + noise * sigma (the first x of img2img).
Tensor noised_latent(const Tensor& init_latent, const Tensor& noise, float sigma);

// mask * x + (1 - mask) * (init + noise * sigma). mask is [N|1, 1|C, H, W] (values in [0, 1]),
// broadcast over batch and channels; x, init and noise are [N, C, H, W].
Tensor blend_masked_latent(const Tensor& x, const Tensor& init, const Tensor& noise, const Tensor& mask, float sigma);

// The same blend applied inside the denoiser (ComfyUI KSamplerX0Inpaint): the model sees the blended
// latent at every call and the known region of its denoised output is replaced by init, so any
// sampler inpaints without per-step hooks.
DenoiseFn make_inpaint_denoiser(DenoiseFn inner, Tensor init, Tensor noise, Tensor mask);

}  // namespace sdpp
