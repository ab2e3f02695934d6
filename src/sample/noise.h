// Where ancestral and SDE samplers get their fresh Gaussian noise. k-diffusion samplers take a
// noise_sampler(sigma, sigma_next) or call torch.randn_like(x); here every draw goes through a
// NoiseSource so that tests can inject the reference's noise and users get seeded torch noise.
#pragma once
#include "core/tensor.h"
#include "sample/rng_torch.h"

#include <cstdint>
#include <vector>

namespace sdpp {

class NoiseSource {
public:
    virtual ~NoiseSource() = default;
    // Standard normal noise of `shape` for the step from sigma to sigma_next.
    virtual Tensor next(const Shape& shape, float sigma, float sigma_next) = 0;
};

// torch.randn_like(x) from one torch CPU generator seeded once: successive draws continue the same
// mt19937 stream, as successive randn_like calls on a seeded generator do.
// (dpmpp_sde / dpmpp_2m_sde / dpmpp_3m_sde use this plain noise too, not k-diffusion's default
// Brownian-tree noise; see docs/samplers.md.)
class SeededNoise final : public NoiseSource {
public:
    explicit SeededNoise(uint64_t seed) : gen_(seed) {}
    Tensor next(const Shape& shape, float sigma, float sigma_next) override;
    TorchGenerator& generator() { return gen_; }

private:
    TorchGenerator gen_;
};

// A fixed list of noise tensors handed out in order (tests inject the reference's draws). Running
// out of noise, or a shape mismatch, throws sdpp::Error.
class NoiseList final : public NoiseSource {
public:
    explicit NoiseList(std::vector<Tensor> list) : list_(std::move(list)) {}
    // The K slices of a [K, ...] tensor, each of shape [...].
    static NoiseList from_stacked(const Tensor& stacked);
    Tensor next(const Shape& shape, float sigma, float sigma_next) override;
    size_t used() const { return next_; }
    size_t size() const { return list_.size(); }

private:
    std::vector<Tensor> list_;
    size_t next_ = 0;
};

}  // namespace sdpp
