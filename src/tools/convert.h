// `sdpp convert`: any loadable model (diffusers folder, .ckpt, .safetensors in any layout) written
// back as ONE single-file .safetensors in its family's original layout (LDM for SD 1.x/2.x, SGM for
// SDXL), optionally in another dtype. The reverse of key_map.h for the text towers, as diffusers'
// scripts/convert_diffusers_to_original_stable_diffusion.py / _sdxl.py do: HF CLIP-L names under
// cond_stage_model.transformer. / conditioner.embedders.0.transformer.; OpenCLIP towers back in
// open_clip names (q/k/v joined into in_proj, text_projection transposed back).
// Hints that are not family defaults travel as `sdpp.hint.*` metadata and ModelSpec's
// modelspec.prediction_type, so the converted file loads back the same.
#pragma once
#include "core/dtype.h"
#include "core/tensor.h"
#include "model/loader.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

// The tensors of `m` under the original single-file names (views or small copies).
std::vector<std::pair<std::string, Tensor>> original_layout_tensors(const LoadedModel& m);
// The metadata a converted file carries (format, prediction type, non-default hints).
std::map<std::string, std::string> original_layout_metadata(const LoadedModel& m);

struct ConvertOptions {
    std::optional<DType> dtype;  // floating-point weights; unset = keep each tensor's dtype
    bool overwrite = false;
};

struct ConvertStats {
    int64_t n_tensors = 0;
    uint64_t bytes = 0;
};

// Writes the file tensor by tensor (memory bounded by the largest tensor), through "<out>.tmp".
// Copies the source's LDM/SGM yaml beside the output as "<out stem>.yaml" when there was one.
ConvertStats convert_model(const LoadedModel& m, const std::string& out, const ConvertOptions& opts);

}  // namespace sdpp
