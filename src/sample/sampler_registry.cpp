// The sampler names users know: k-diffusion / ComfyUI sampler names and A1111 labels (A1111
// modules/sd_samplers_kdiffusion.py samplers_k_diffusion + sd_samplers_timesteps.py, v1.9+ where a
// label without a schedule suffix uses the sampler's default scheduler), mapped onto our samplers.
#include "sample/samplers.h"

#include <cctype>

namespace sdpp {

namespace {

std::string normalize(std::string_view s) {
    std::string r;
    for (char c : s) r += char(std::tolower(static_cast<unsigned char>(c)));
    // trim
    while (!r.empty() && r.back() == ' ') r.pop_back();
    size_t b = 0;
    while (b < r.size() && r[b] == ' ') ++b;
    return r.substr(b);
}

struct Entry {
    const char* name;  // lower case
    SamplerKind kind;
    std::optional<ScheduleKind> schedule = std::nullopt;
    bool discard_penultimate = false;
    SdeSolver solver = SdeSolver::Midpoint;
    UniPCVariant unipc_variant = UniPCVariant::BH2;
    int unipc_order = 2;
};

constexpr auto K = ScheduleKind::Karras;
constexpr auto E = ScheduleKind::Exponential;

// k-diffusion / ComfyUI names (no implied schedule), matched case-insensitively. The canonical name
// of each kind comes first (sampler_name() returns the first match).
const Entry kKdiffNames[] = {
    {"euler", SamplerKind::Euler},
    {"euler_ancestral", SamplerKind::EulerAncestral},
    {"heun", SamplerKind::Heun},
    {"dpm_2", SamplerKind::Dpm2},
    {"dpm_2_ancestral", SamplerKind::Dpm2Ancestral},
    {"lms", SamplerKind::Lms},
    {"dpmpp_2s_ancestral", SamplerKind::Dpmpp2sAncestral},
    {"dpmpp_sde", SamplerKind::DpmppSde},
    {"dpmpp_2m", SamplerKind::Dpmpp2m},
    {"dpmpp_2m_sde", SamplerKind::Dpmpp2mSde},
    {"dpmpp_3m_sde", SamplerKind::Dpmpp3mSde},
    {"ddim", SamplerKind::Ddim},
    {"plms", SamplerKind::Plms},
    {"unipc", SamplerKind::UniPC},  // diffusers UniPCMultistepScheduler defaults: bh2, order 2
    {"lcm", SamplerKind::Lcm},
    // aliases
    {"euler_a", SamplerKind::EulerAncestral},
    {"k_euler", SamplerKind::Euler},
    {"k_euler_a", SamplerKind::EulerAncestral},
    {"k_euler_ancestral", SamplerKind::EulerAncestral},
    {"k_heun", SamplerKind::Heun},
    {"dpm2", SamplerKind::Dpm2},
    {"k_dpm_2", SamplerKind::Dpm2},
    {"dpm2_a", SamplerKind::Dpm2Ancestral},
    {"dpm_2_a", SamplerKind::Dpm2Ancestral},
    {"k_dpm_2_a", SamplerKind::Dpm2Ancestral},
    {"k_lms", SamplerKind::Lms},
    {"dpmpp_2s_a", SamplerKind::Dpmpp2sAncestral},
    {"k_dpmpp_2s_a", SamplerKind::Dpmpp2sAncestral},
    {"dpmpp_sde_gpu", SamplerKind::DpmppSde},
    {"k_dpmpp_sde", SamplerKind::DpmppSde},
    {"k_dpmpp_2m", SamplerKind::Dpmpp2m},
    {"dpmpp_2m_sde_gpu", SamplerKind::Dpmpp2mSde},
    {"k_dpmpp_2m_sde", SamplerKind::Dpmpp2mSde},
    {"dpmpp_2m_sde_heun", SamplerKind::Dpmpp2mSde, {}, false, SdeSolver::Heun},
    {"dpmpp_2m_sde_heun_gpu", SamplerKind::Dpmpp2mSde, {}, false, SdeSolver::Heun},
    {"k_dpmpp_2m_sde_heun", SamplerKind::Dpmpp2mSde, {}, false, SdeSolver::Heun},
    {"dpmpp_3m_sde_gpu", SamplerKind::Dpmpp3mSde},
    {"k_dpmpp_3m_sde", SamplerKind::Dpmpp3mSde},
    {"pndm", SamplerKind::Plms},
    {"uni_pc", SamplerKind::UniPC, {}, false, SdeSolver::Midpoint, UniPCVariant::BH1, 3},      // ComfyUI
    {"uni_pc_bh2", SamplerKind::UniPC, {}, false, SdeSolver::Midpoint, UniPCVariant::BH2, 3},  // ComfyUI
};

// A1111 labels with the scheduler A1111 (v1.9+) picks for "Automatic", matched exactly first (so
// "DPM2" means A1111's DPM2 while "dpm2" is the plain alias), then case-insensitively.
const Entry kA1111Names[] = {
    {"Euler a", SamplerKind::EulerAncestral},
    {"Euler", SamplerKind::Euler},
    {"LMS", SamplerKind::Lms},
    {"LMS Karras", SamplerKind::Lms, K},
    {"Heun", SamplerKind::Heun},
    {"Heun Karras", SamplerKind::Heun, K},
    {"DPM2", SamplerKind::Dpm2, K, true},
    {"DPM2 Karras", SamplerKind::Dpm2, K, true},
    {"DPM2 a", SamplerKind::Dpm2Ancestral, K, true},
    {"DPM2 a Karras", SamplerKind::Dpm2Ancestral, K, true},
    {"DPM++ 2S a", SamplerKind::Dpmpp2sAncestral, K},
    {"DPM++ 2S a Karras", SamplerKind::Dpmpp2sAncestral, K},
    {"DPM++ 2M", SamplerKind::Dpmpp2m, K},
    {"DPM++ 2M Karras", SamplerKind::Dpmpp2m, K},
    {"DPM++ SDE", SamplerKind::DpmppSde, K},
    {"DPM++ SDE Karras", SamplerKind::DpmppSde, K},
    {"DPM++ 2M SDE", SamplerKind::Dpmpp2mSde, E},
    {"DPM++ 2M SDE Karras", SamplerKind::Dpmpp2mSde, K},
    {"DPM++ 2M SDE Exponential", SamplerKind::Dpmpp2mSde, E},
    {"DPM++ 2M SDE Heun", SamplerKind::Dpmpp2mSde, E, false, SdeSolver::Heun},
    {"DPM++ 2M SDE Heun Karras", SamplerKind::Dpmpp2mSde, K, false, SdeSolver::Heun},
    {"DPM++ 2M SDE Heun Exponential", SamplerKind::Dpmpp2mSde, E, false, SdeSolver::Heun},
    {"DPM++ 3M SDE", SamplerKind::Dpmpp3mSde, E, true},
    {"DPM++ 3M SDE Karras", SamplerKind::Dpmpp3mSde, K, true},
    {"DPM++ 3M SDE Exponential", SamplerKind::Dpmpp3mSde, E, true},
    // A1111's timestep samplers use the timesteps 1, 1+k, 1+2k, ... (k = 1000 // steps), i.e. the
    // ddim_uniform schedule (their last step lands on alphas_cumprod[0] instead of sigma 0).
    {"DDIM", SamplerKind::Ddim, ScheduleKind::DdimUniform},
    {"PLMS", SamplerKind::Plms, ScheduleKind::DdimUniform},
    {"UniPC", SamplerKind::UniPC, {}, false, SdeSolver::Midpoint, UniPCVariant::BH1, 3},
    {"LCM", SamplerKind::Lcm},
};

SamplerChoice choice_of(const Entry& e) {
    SamplerChoice c{e.kind, {}, e.schedule, e.discard_penultimate};
    c.options.sde_solver = e.solver;
    c.options.unipc_variant = e.unipc_variant;
    c.options.unipc_order = e.unipc_order;
    return c;
}

}  // namespace

SamplerChoice sampler_from_name(std::string_view name) {
    for (const Entry& e : kA1111Names)
        if (name == e.name) return choice_of(e);
    const std::string key = normalize(name);
    for (const Entry& e : kKdiffNames)
        if (key == e.name) return choice_of(e);
    for (const Entry& e : kA1111Names)
        if (key == normalize(e.name)) return choice_of(e);
    std::string valid;
    for (const auto& n : sampler_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw error("unknown sampler '", name, "'; valid samplers: ", valid);
}

const char* sampler_name(SamplerKind kind) {
    for (const Entry& e : kKdiffNames)
        if (e.kind == kind) return e.name;
    return "?";
}

std::vector<std::string> sampler_names() {
    std::vector<std::string> r;
    for (const Entry& e : kKdiffNames) r.push_back(e.name);
    for (const Entry& e : kA1111Names) r.push_back(std::string("\"") + e.name + "\"");
    return r;
}

Tensor run_sampler(SamplerKind kind, const DenoiseFn& model, Tensor x, std::span<const float> sigmas,
                   NoiseSource& noise, const SamplerOptions& opt, const StepCallback& cb) {
    switch (kind) {
        case SamplerKind::Euler: return sample_euler(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::EulerAncestral: return sample_euler_ancestral(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Heun: return sample_heun(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Dpm2: return sample_dpm_2(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Dpm2Ancestral: return sample_dpm_2_ancestral(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Lms: return sample_lms(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Dpmpp2sAncestral:
            return sample_dpmpp_2s_ancestral(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::DpmppSde: return sample_dpmpp_sde(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Dpmpp2m: return sample_dpmpp_2m(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Dpmpp2mSde: return sample_dpmpp_2m_sde(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Dpmpp3mSde: return sample_dpmpp_3m_sde(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Ddim: return sample_ddim(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Plms: return sample_plms(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::UniPC: return sample_unipc(model, std::move(x), sigmas, noise, opt, cb);
        case SamplerKind::Lcm: return sample_lcm(model, std::move(x), sigmas, noise, opt, cb);
    }
    throw error("run_sampler: unknown sampler kind");
}

std::vector<float> sigmas_for(const SamplerChoice& choice, const DiscreteSchedule& s, int steps,
                              ScheduleKind fallback) {
    const ScheduleKind kind = choice.schedule.value_or(fallback);
    if (!choice.discard_penultimate_sigma) return make_sigmas(s, kind, steps);
    // A1111: sigmas for steps+1, then drop the next-to-last one.
    std::vector<float> sig = make_sigmas(s, kind, steps + 1);
    sig.erase(sig.end() - 2);
    return sig;
}

}  // namespace sdpp
