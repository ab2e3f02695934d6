// Bit-exact reproduction of torch's CPU generator for randn:
//   torch.randn(shape, generator=torch.Generator().manual_seed(seed))   (float32, CPU)
// Mirrors ATen (torch 1.13): CPUGeneratorImpl (mt19937 seeded with the low 32 bits of the seed,
// random() = one 32-bit draw, random64() = two draws hi<<32|lo, a cached second Box-Muller sample
// for double normals), at::uniform_real_distribution / at::normal_distribution
// (ATen/core/DistributionsHelper.h, TransformationHelper.h) and the CPU normal_ kernel
// (ATen/native/cpu/DistributionKernels.cpp: normal_fill / normal_fill_16_AVX2, the kernel torch
// runs on AVX2 machines, with log256_ps / sincos256_ps from ATen/native/cpu/avx_mathfun.h).
//
// randn of a float tensor with numel >= 16 ("vectorised" path): draw numel float uniforms
// u = (r & 0xFFFFFF) * 2^-24 from 32-bit draws, Box-Muller each block of 16 in place (u1 = 1-u[j],
// u2 = u[j+8], j < 8; float Cephes log/sin/cos as the AVX2 kernel computes them, FMAs where
// torch's GCC build fuses), then, when numel % 16 != 0, draw 16 fresh uniforms into the last 16 slots
// and transform them again. numel < 16 ("scalar" path): one double normal per element
// (53-bit uniforms from 64-bit draws, Box-Muller with the sine cached in the generator).
//
// Also A1111's subseed variation (modules/processing.py create_random_tensors + slerp).
#pragma once
#include "core/tensor.h"

#include <cstdint>
#include <optional>
#include <random>
#include <span>

namespace sdpp {

// torch's default seed for a fresh Generator() (c10::default_rng_seed_val).
inline constexpr uint64_t kTorchDefaultSeed = 67280421310721ull;

class TorchGenerator {
public:
    explicit TorchGenerator(uint64_t seed = kTorchDefaultSeed) { manual_seed(seed); }

    // Generator.manual_seed(seed): mt19937 re-seeded with the low 32 bits, cached normals dropped.
    void manual_seed(uint64_t seed);
    uint64_t initial_seed() const { return seed_; }

    uint32_t random();    // one mt19937 draw
    uint64_t random64();  // (first << 32) | second

    // at::uniform_real_distribution<float>(0,1) and <double>(0,1).
    float uniform_float();
    double uniform_double();
    // at::normal_distribution<double>(0,1): returns the cached sine sample when present.
    double normal_double();

    // Fills `out` exactly as torch.randn fills a contiguous float32 tensor of out.size() elements,
    // continuing this generator's stream (successive calls = successive randn/randn_like calls).
    void randn(std::span<float> out);
    Tensor randn(const Shape& shape);

private:
    std::mt19937 engine_;
    uint64_t seed_ = 0;
    std::optional<double> next_double_normal_;
};

// torch.randn(shape, generator=torch.Generator().manual_seed(seed)).
Tensor torch_randn(const Shape& shape, uint64_t seed);

// A1111 subseed variation: noise(seed) slerped towards noise(subseed) by `strength` (0 = seed's
// noise unchanged, 1 = subseed's noise). Mirrors modules/processing.py: for each batch item the
// noise has shape [C,H,W], norms are taken over dim 1 (H) and, as in A1111, when the mean cosine
// exceeds 0.9995 the fallback is the linear mix low*strength + high*(1-strength).
// `shape` is [N,C,H,W] or [C,H,W]; item i uses seed+i and subseed+i (A1111's batch convention).
Tensor torch_randn_variation(const Shape& shape, uint64_t seed, uint64_t subseed, float strength);

// A1111's slerp(val, low, high) on one [C,H,W] noise pair (exposed for tests).
Tensor slerp_a1111(float val, const Tensor& low, const Tensor& high);

}  // namespace sdpp
