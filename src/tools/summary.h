// Per-component summary of a loaded checkpoint for `sdpp inspect`: tensor and parameter counts,
// dtypes, and the architecture read from shapes and hints.
#pragma once
#include "core/dtype.h"
#include "model/model_info.h"
#include "model/weights.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

// One component of a checkpoint as `sdpp inspect` shows it.
struct ComponentSummary {
    std::string name;    // "unet", "vae", "te1", "te2", "extra"
    std::string prefix;  // internal prefix
    int64_t n_tensors = 0;
    int64_t n_params = 0;                    // elements, buffers included
    std::map<std::string, int64_t> dtypes;   // dtype name -> tensor count
    std::vector<std::pair<std::string, std::string>> arch;  // facts read from shapes and hints
};
// `dtypes`: stored dtype per internal name (LoadedModel::dtypes; the store itself converts on get).
// Reads shapes only; marks nothing used.
std::vector<ComponentSummary> summarize_components(const WeightStore& store, const ModelHints& hints,
                                                   const std::map<std::string, DType>& dtypes);

}  // namespace sdpp
