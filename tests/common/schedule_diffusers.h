// diffusers (v0.30.3) scheduler timesteps and sigmas, for parity with diffusers pipelines:
//  - alphas_cumprod of the "scaled_linear" beta schedule computed in float32 as diffusers does
//    (schedulers/scheduling_*.py __init__: betas = linspace(sqrt(b0), sqrt(b1), T, float32)**2,
//    alphas_cumprod = cumprod(1 - betas)),
//  - set_timesteps() of DDIMScheduler, PNDMScheduler (PLMS, skip_prk_steps), EulerDiscreteScheduler,
//    EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler and
//    LCMScheduler with the timestep spacings "leading", "trailing" and "linspace"
//    (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", table 2).
// Timesteps and sigmas are returned in the order the scheduler visits them.
// Test code: the parity tests replay diffusers' schedulers; the engine's schedules are A1111's and
// k-diffusion's (src/sample/schedule.h).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace sdpp {

enum class TimestepSpacing { Leading, Trailing, Linspace };
TimestepSpacing timestep_spacing_from_name(std::string_view name);  // throws sdpp::Error

struct DiffusersScheduleConfig {
    int num_train_timesteps = 1000;
    double beta_start = 0.00085;
    double beta_end = 0.012;
    int steps_offset = 1;
    TimestepSpacing spacing = TimestepSpacing::Leading;
};

// float32 alphas_cumprod exactly as diffusers builds it for beta_schedule="scaled_linear".
std::vector<float> diffusers_alphas_cumprod(const DiffusersScheduleConfig& cfg);

// sigma = sqrt((1 - ac) / ac) per training timestep, in float32.
std::vector<float> diffusers_train_sigmas(const std::vector<float>& alphas_cumprod);

// Timesteps a scheduler visits plus, for sigma-based schedulers, the sigmas (with the appended last
// one: 0 for "zero" final sigmas).
struct DiffusersTimesteps {
    std::vector<double> timesteps;  // integers for DDIM/PNDM/DPM/UniPC/LCM, fractional for Euler karras
    std::vector<float> sigmas;      // empty for DDIM / PNDM / LCM
};

// DDIMScheduler.set_timesteps.
std::vector<int64_t> ddim_timesteps(int n, const DiffusersScheduleConfig& cfg);
// PNDMScheduler.set_timesteps with skip_prk_steps=True (PLMS): n+1 entries for n > 1 (the second
// timestep repeats: the first PLMS step is a two-evaluation improved Euler step).
std::vector<int64_t> pndm_plms_timesteps(int n, const DiffusersScheduleConfig& cfg);
// EulerDiscreteScheduler (use_karras_sigmas optional) and EulerAncestralDiscreteScheduler (no karras):
// float timesteps, sigmas interpolated in t, final sigma 0.
DiffusersTimesteps euler_timesteps(int n, const DiffusersScheduleConfig& cfg, bool karras);
// DPMSolverMultistepScheduler / UniPCMultistepScheduler (final_sigmas_type="zero", no lambda clipping).
DiffusersTimesteps dpm_multistep_timesteps(int n, const DiffusersScheduleConfig& cfg, bool karras);
// LCMScheduler.set_timesteps (spacing ignored, as diffusers does): n of the original_steps
// distillation timesteps k-1, 2k-1, ... (k = T / original_steps), evenly picked from the top.
std::vector<int64_t> lcm_timesteps(int n, const DiffusersScheduleConfig& cfg, int original_steps = 50);
// LCMScheduler.get_scalings_for_boundary_condition_discrete at (integer) timestep t: the denoised
// estimate is c_out * x0 + c_skip * x_in, with scaled t = t * timestep_scaling and sigma_data = 0.5.
void lcm_scalings(double t, double timestep_scaling, double* c_skip, double* c_out);

// numpy helpers with numpy's exact semantics (exposed for tests).
double np_round_half_even(double x);
std::vector<double> np_linspace(double start, double stop, int num);
std::vector<double> np_arange(double start, double stop, double step);

}  // namespace sdpp
