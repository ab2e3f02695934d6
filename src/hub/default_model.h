// The model `sdpp generate` uses when no --model is given: SD-Turbo (stabilityai/sd-turbo), an
// adversarially distilled SD 2.1 (ADD, Sauer et al. 2023, "Adversarial Diffusion Distillation")
// that makes a 512x512 image in 1-4 steps without classifier-free guidance, which suits CPUs.
// It is pulled as a diffusers folder (fp16 weights, about 2.6 GB) into the cache on first use.
#pragma once
#include "hub/hub_api.h"
#include "hub/progress.h"

#include <string>

namespace sdpp::hub {

struct DefaultModel {
    const char* repo;
    const char* revision;
    int steps;          // SD-Turbo: 1 (1-4 work; more steps do not help)
    float cfg_scale;    // 1 = no classifier-free guidance (no negative-prompt pass)
    int width, height;  // its training size
    const char* sampler;
};

inline constexpr DefaultModel kDefaultModel{"stabilityai/sd-turbo", "main", 1, 1.0f, 512, 512, "euler_a"};

// Returns the local diffusers folder of the default model. Uses the cache without any network
// access when an earlier pull completed; otherwise pulls it (progress on stderr). With no cached
// copy and no hub in reach, throws sdpp::Error with one line saying how to get a model
// (`sdpp pull stabilityai/sd-turbo` when online, or `-m FILE`).
std::string ensure_default_model();
std::string ensure_default_model(const HubConfig& cfg, ProgressMode progress);

}  // namespace sdpp::hub
