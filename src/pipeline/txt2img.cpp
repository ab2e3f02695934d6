// txt2img pieces: the per-image torch generators (A1111 modules/rng.py ImageRNG: one CPU generator
// per image seeded with seed + i; first() draws each image's starting noise, next() continues the
// same streams for ancestral/SDE noise), and the sigmas of the resolved sampler (its schedule, and
// A1111's discard_next_to_last_sigma where the sampler is A1111's). The starting latent is
// noise * sigmas[0] (k-diffusion).
#include "pipeline/pipeline.h"
#include "core/assert.h"

#include "core/error.h"

#include <algorithm>
#include <cstring>

namespace sdpp::pipeline {

BatchNoise::BatchNoise(const std::vector<int64_t>& seeds, const std::vector<int64_t>& subseeds, float subseed_strength)
    : subseeds_(subseeds), subseed_strength_(subseed_strength) {
    SDPP_ASSERT(subseed_strength == 0.0f || subseeds.size() == seeds.size(), "BatchNoise: ", subseeds.size(),
               " subseeds for ", seeds.size(), " seeds");
    gens_.reserve(seeds.size());
    for (int64_t s : seeds) gens_.emplace_back(uint64_t(s));
}

Tensor BatchNoise::first(const Shape& shape) {
    Tensor out = next(shape, 0, 0);
    if (subseed_strength_ == 0.0f) return out;
    const Shape item(shape.begin() + 1, shape.end());
    const int64_t per = numel_of(item);
    for (size_t i = 0; i < gens_.size(); ++i) {
        Tensor own = Tensor::from_vector(std::span<const float>(out.data<float>() + int64_t(i) * per, size_t(per)), item);
        Tensor mixed = slerp_a1111(subseed_strength_, own, torch_randn(item, uint64_t(subseeds_[i])));
        std::copy_n(mixed.data<float>(), per, out.data<float>() + int64_t(i) * per);
    }
    return out;
}

Tensor BatchNoise::next(const Shape& shape, float, float) {
    SDPP_ASSERT(!shape.empty() && shape[0] == int64_t(gens_.size()), "BatchNoise: noise of shape ", to_string(shape),
               " for ", gens_.size(), " images");
    Tensor out = Tensor::empty(shape);
    const int64_t per = out.numel() / shape[0];
    float* p = out.data<float>();
    for (size_t i = 0; i < gens_.size(); ++i) gens_[i].randn(std::span<float>(p + int64_t(i) * per, size_t(per)));
    return out;
}

std::vector<float> full_sigmas(const SamplerChoice& sampler, int steps, const DiscreteSchedule& schedule) {
    SDPP_ASSERT(sampler.spec && sampler.schedule, "full_sigmas: the sampler is not resolved");
    return sigmas_for(sampler, schedule, steps);
}

}  // namespace sdpp::pipeline
