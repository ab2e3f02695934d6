// Samplers: pure functions of (denoised(x, sigma), x, sigmas, noise source, options, step callback).
// x starts at noise * sigmas[0] (txt2img) or at a noised image latent (img2img); sigmas descend
// and normally end with 0. No model or backend types here (k-diffusion's design).
// Each sampler's comment (samplers_*.cpp) cites its paper and the k-diffusion / diffusers
// function it mirrors; docs/samplers.md lists them with the names users know.
#pragma once
#include "core/tensor.h"
#include "sample/denoiser.h"
#include "sample/noise.h"
#include "sample/schedule.h"

#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

// What a step callback sees (k-diffusion's callback dict).
struct StepInfo {
    int i;              // step index
    float sigma;        // sigmas[i]
    float sigma_hat;    // sigma after churn (== sigma without churn)
    const Tensor& x;    // x at the start of the step (after churn noise)
    const Tensor& denoised;
};
using StepCallback = std::function<void(const StepInfo&)>;

enum class SdeSolver { Midpoint, Heun };   // dpmpp_2m_sde
enum class UniPCVariant { BH1, BH2 };       // B(h) = h or expm1(h)

struct SamplerOptions {
    float eta = 1.0f;       // ancestral / SDE noise scale (0 = deterministic); ddim uses its own
    float ddim_eta = 0.0f;  // ddim's eta (diffusers DDIMScheduler.step eta, A1111 "Eta (DDIM)")
    float s_noise = 1.0f;
    float s_churn = 0.0f;   // euler / heun / dpm_2 churn (Karras et al. 2022, Alg. 2)
    float s_tmin = 0.0f;
    float s_tmax = std::numeric_limits<float>::infinity();
    int lms_order = 4;
    float sde_r = 0.5f;     // dpmpp_sde intermediate step ratio
    SdeSolver sde_solver = SdeSolver::Midpoint;
    UniPCVariant unipc_variant = UniPCVariant::BH2;
    int unipc_order = 2;    // 1..3
};

Tensor sample_euler(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                    const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_euler_ancestral(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                              const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_heun(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                   const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpm_2(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                    const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpm_2_ancestral(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                              const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_lms(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                  const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpmpp_2s_ancestral(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                                 const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpmpp_sde(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                        const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpmpp_2m(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                       const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpmpp_2m_sde(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                           const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_dpmpp_3m_sde(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                           const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_ddim(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                   const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_plms(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                   const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_unipc(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                    const SamplerOptions& opt = {}, const StepCallback& cb = {});
Tensor sample_lcm(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                  const SamplerOptions& opt = {}, const StepCallback& cb = {});

// k-diffusion get_ancestral_step: split the step to sigma_to into a deterministic part down to
// sigma_down and fresh noise of std sigma_up, sigma_down^2 + sigma_up^2 = sigma_to^2.
struct AncestralStep {
    double sigma_down, sigma_up;
};
AncestralStep get_ancestral_step(double sigma_from, double sigma_to, double eta = 1.0);

// The samplers themselves; sampler_registry.h maps the names users type onto them.
enum class SamplerKind {
    Euler, EulerAncestral, Heun, Dpm2, Dpm2Ancestral, Lms, Dpmpp2sAncestral, DpmppSde, Dpmpp2m,
    Dpmpp2mSde, Dpmpp3mSde, Ddim, Plms, UniPC, Lcm
};

Tensor run_sampler(SamplerKind kind, const DenoiseFn& model, Tensor x, std::span<const float> sigmas,
                   NoiseSource& noise, const SamplerOptions& opt = {}, const StepCallback& cb = {});

}  // namespace sdpp
