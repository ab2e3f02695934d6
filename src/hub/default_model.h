// The model `sdpp generate` uses when no --model is given. kDefaultModel (SD-Turbo and its
// settings) and ensure_default_model() are public API (include/sdpp/sdpp.hpp); this header adds the
// form with an explicit hub configuration and progress mode, which the tests use.
// It is pulled as a diffusers folder (fp16 weights, about 2.6 GB) into the cache on first use.
#pragma once
#include "hub/hub_api.h"
#include "hub/progress.h"

#include <sdpp/sdpp.hpp>

#include <string>

namespace sdpp::hub {

// Returns the local diffusers folder of the default model. Uses the cache without any network
// access when an earlier pull completed; otherwise pulls it (progress on stderr). With no cached
// copy and no hub in reach, throws sdpp::Error with one line saying how to get a model
// (`sdpp pull stabilityai/sd-turbo` when online, or `-m FILE`).
std::string ensure_default_model(const HubConfig& cfg, ProgressMode progress);

}  // namespace sdpp::hub
