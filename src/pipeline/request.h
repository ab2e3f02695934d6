// Internal helpers around GenerateRequest (include/sdpp/sdpp.hpp).
#pragma once
#include <sdpp/sdpp.hpp>

#include <cstdint>

namespace sdpp {

// The request with the model's defaults filled in (sampler canonical, steps, CFG, size, seed,
// SDXL size conditioning); validates first. Scheduler "" = the sampler's automatic default.
GenerateRequest resolve_request(const GenerateRequest& request, const ModelDescription& model);

}  // namespace sdpp
