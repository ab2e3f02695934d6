// Noise schedules in sigma space (variance-exploding form x = x0 + sigma * eps).
// Mirrors:
//  - LDM ldm/modules/diffusionmodules/util.py make_beta_schedule("linear") + DDPM.register_schedule:
//    betas = linspace(sqrt(0.00085), sqrt(0.012), 1000, float64)^2, alphas_cumprod = cumprod(1 - betas)
//    in float64, stored as float32 (the buffers in SD1/SD2 checkpoints).
//  - k-diffusion (crowsonkb, k_diffusion/external.py DiscreteSchedule): sigmas = sqrt((1-ac)/ac) in
//    float32, log_sigmas, sigma_to_t (log-linear interpolation, or nearest when quantised),
//    t_to_sigma, get_sigmas(n) = append_zero(t_to_sigma(linspace(999, 0, n)));
//    k_diffusion/sampling.py get_sigmas_karras / get_sigmas_exponential / get_sigmas_polyexponential
//    (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models", eq. 5).
//  - ComfyUI comfy/samplers.py schedulers simple_scheduler, ddim_scheduler ("ddim_uniform"),
//    normal_scheduler(sgm=True) ("sgm_uniform").
// Every schedule returns n+1 descending sigmas ending with 0 (n = steps).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

// LDM DDPM alphas_cumprod ("scaled linear" betas), float64 math rounded to float32 at the end.
std::vector<float> ldm_alphas_cumprod(int n_train = 1000, double beta_start = 0.00085, double beta_end = 0.012);

// k-diffusion DiscreteSchedule over a model's alphas_cumprod (CompVisDenoiser, quantize=False).
class DiscreteSchedule {
public:
    explicit DiscreteSchedule(std::vector<float> alphas_cumprod);
    static DiscreteSchedule ldm() { return DiscreteSchedule(ldm_alphas_cumprod()); }

    int size() const { return int(sigmas_.size()); }
    const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
    const std::vector<float>& sigmas() const { return sigmas_; }          // ascending in t, float32
    const std::vector<float>& log_sigmas() const { return log_sigmas_; }  // float32
    float sigma_min() const { return sigmas_.front(); }
    float sigma_max() const { return sigmas_.back(); }

    // Continuous timestep of a sigma: linear interpolation of t in log-sigma between the two
    // neighbouring discrete sigmas, clamped to [0, size-1].
    double sigma_to_t(double sigma) const;
    // Nearest discrete timestep in log-sigma (k-diffusion quantize=True, ComfyUI timestep()).
    int64_t sigma_to_t_quantized(double sigma) const;
    // sigma(t) by log-linear interpolation between floor(t) and ceil(t); t in [0, size-1].
    double t_to_sigma(double t) const;

    // k-diffusion get_sigmas(n): n sigmas at t = linspace(size-1, 0, n), then 0.
    std::vector<float> get_sigmas(int n) const;

private:
    std::vector<float> alphas_cumprod_, sigmas_, log_sigmas_;
};

// k-diffusion schedules (n >= 1 steps, sigma_min < sigma_max, result has n+1 entries).
std::vector<float> karras_sigmas(int n, double sigma_min, double sigma_max, double rho = 7.0);
std::vector<float> exponential_sigmas(int n, double sigma_min, double sigma_max);
std::vector<float> polyexponential_sigmas(int n, double sigma_min, double sigma_max, double rho = 1.0);

// ComfyUI schedules over a discrete schedule.
std::vector<float> sgm_uniform_sigmas(const DiscreteSchedule& s, int n);
std::vector<float> simple_sigmas(const DiscreteSchedule& s, int n);
std::vector<float> ddim_uniform_sigmas(const DiscreteSchedule& s, int n);

// The schedules by name.
enum class ScheduleKind { Normal, Karras, Exponential, PolyExponential, SgmUniform, Simple, DdimUniform };

// Accepts ComfyUI names (normal, karras, exponential, sgm_uniform, simple, ddim_uniform), k-diffusion
// names (discrete, polyexponential) and A1111 labels ("Uniform", "Karras", "SGM Uniform", "DDIM", ...),
// case-insensitively. Unknown names throw sdpp::Error listing the valid ones. A1111's "Automatic"
// is not a schedule but the sampler's default: resolve_sampler (sampler_registry.h) handles it.
ScheduleKind schedule_from_name(std::string_view name);
const char* schedule_name(ScheduleKind k);   // canonical ComfyUI-style name
const char* schedule_label(ScheduleKind k);  // A1111 "Schedule type" label ("Uniform" for normal)
std::vector<std::string> schedule_names();  // canonical names

// n steps of the given kind for a model's discrete schedule; karras/exponential/polyexponential use
// the schedule's sigma_min/sigma_max (as A1111 does). Throws on n < 1.
std::vector<float> make_sigmas(const DiscreteSchedule& s, ScheduleKind kind, int n);

}  // namespace sdpp
