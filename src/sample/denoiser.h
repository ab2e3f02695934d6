// Denoisers: turn a network that predicts eps or v into denoised(x, sigma) = an estimate of x0, the
// function every sampler calls. Mirrors k-diffusion (crowsonkb) k_diffusion/external.py
// DiscreteEpsDDPMDenoiser / CompVisDenoiser (eps: c_skip = 1, c_out = -sigma,
// c_in = 1/sqrt(sigma^2 + 1)) and DiscreteVDDPMDenoiser / CompVisVDenoiser (v, sigma_data = 1:
// c_skip = 1/(sigma^2+1), c_out = -sigma/sqrt(sigma^2+1), c_in = 1/sqrt(sigma^2+1)); Karras et al.
// 2022, table 1. The network sees x * c_in and the continuous timestep sigma_to_t(sigma).
// Classifier-free guidance (Ho & Salimans 2022): out = uncond + s * (cond - uncond), with the
// optional guidance rescale of Lin et al. 2023 §3.4 (diffusers rescale_noise_cfg).
// No model types here: the network is a callback.
#pragma once
#include "core/tensor.h"
#include "sample/schedule.h"

#include <functional>

namespace sdpp {

// What the network predicts (the pipeline maps the model's Prediction onto this).
enum class ModelOutput { Eps, V };

// The network: input x * c_in and continuous timestep t -> eps or v of x's shape.
using ModelFn = std::function<Tensor(const Tensor& x_in, float t)>;
// What samplers call: denoised(x, sigma) -> x0 estimate of x's shape.
using DenoiseFn = std::function<Tensor(const Tensor& x, float sigma)>;

struct Scalings {
    double c_skip, c_out, c_in;
};
Scalings eps_scalings(double sigma);
Scalings v_scalings(double sigma);
Scalings scalings_for(ModelOutput kind, double sigma);

// x * c_in: what the network is fed at this sigma (same for eps and v).
Tensor scale_model_input(const Tensor& x, double sigma);
// x * c_skip + out * c_out.
Tensor denoised_from_output(ModelOutput kind, const Tensor& x, double sigma, const Tensor& model_out);

struct DenoiserConfig {
    ModelOutput output = ModelOutput::Eps;
    bool quantize_t = false;  // k-diffusion quantize=True: the nearest discrete timestep
};

// k-diffusion CompVis(V)Denoiser over `model` with the model's discrete schedule.
DenoiseFn make_denoiser(ModelFn model, const DiscreteSchedule& schedule, DenoiserConfig cfg = {});

// Classifier-free guidance.
struct CondUncond {
    Tensor cond, uncond;
};
// The network run for the positive and negative prompt on one input (the pipeline batches them).
using GuidedModelFn = std::function<CondUncond(const Tensor& x_in, float t)>;

struct Guidance {
    float scale = 7.0f;    // s in uncond + s * (cond - uncond)
    float rescale = 0.0f;  // phi of Lin et al. 2023 (0 = off); diffusers guidance_rescale
};

// uncond + scale * (cond - uncond).
Tensor cfg_combine(const Tensor& cond, const Tensor& uncond, float scale);
// diffusers rescale_noise_cfg: per batch item, mix guided * std(cond)/std(guided) with guided
// by phi (std over all non-batch dims, unbiased).
Tensor rescale_guidance(const Tensor& guided, const Tensor& cond, float phi);
// A ModelFn whose output is the guided (and optionally rescaled) prediction.
ModelFn make_guided_model(GuidedModelFn model, Guidance g);

}  // namespace sdpp
