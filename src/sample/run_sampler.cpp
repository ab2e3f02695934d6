// run_sampler: one switch from SamplerKind to the sampler functions of samplers_kdiff.cpp and
// samplers_multistep.cpp (k-diffusion's sampler lookup by function name).
#include "sample/samplers.h"

#include "core/error.h"

namespace sdpp {

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

}  // namespace sdpp
