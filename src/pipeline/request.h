// Internal helpers around GenerateRequest (include/sdpp/sdpp.hpp).
#pragma once
#include "sample/sampler_registry.h"

#include <sdpp/sdpp.hpp>

#include <cstdint>

namespace sdpp {

// A request with the model's defaults filled in (steps, CFG, size, seed, SDXL size conditioning)
// and its sampler resolved once: `request` carries the sampler's canonical id and the schedule's
// name (never "automatic"), `sampler` is what runs. Resolving a resolved request changes nothing.
struct ResolvedRequest {
    GenerateRequest request;
    SamplerChoice sampler;  // schedule always set
};
ResolvedRequest resolve_request(const GenerateRequest& request, const ModelDescription& model);

}  // namespace sdpp
