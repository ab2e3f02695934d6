// Merging networks into a model's weights for a run: for every module of every network, in order,
// W <- W + (updown * scale) * m (m = the text-encoder or the U-Net multiplier), in f32, into new
// tensors that replace the weights in the WeightStore (A1111 networks.py network_apply_weights,
// the "merge" path). The originals (zero-copy views of the model file) are kept, and restore()
// rebinds them: removing a network gives back the file's exact weights, never W' - delta.
//
// Why merge rather than apply on the fly (y = Wx + m * up(down(x))): after the merge a step costs
// what it costs without networks (the backend prepares the merged f32 weights like any other), and
// the merge is paid once per change of the network set; on the fly would add two thin matmuls per
// adapted layer to every step. docs/performance.md has the numbers.
//
// A merged weight is a new tensor (new storage): the backend's prepared-weight cache, keyed by
// storage and owner, cannot hand out the original's prepared copy for it; model code must rebind
// (bind the U-Net again) after apply() or restore() changes the U-Net.
#pragma once
#include "model/lora.h"
#include "model/weights.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sdpp {

struct NetworkUse {
    std::shared_ptr<const NetworkFile> file;
    std::string name;          // as mentioned (tag name or file stem): messages and infotext
    float te_multiplier = 1.0f;
    float unet_multiplier = 1.0f;
};

struct MergeReport {
    int modules_applied = 0;
    // Per network: modules that match nothing in the model (or that sdpp cannot apply), with why.
    std::vector<std::string> unmatched;
    bool unet_changed = false;  // U-Net weights differ from before the call
    bool te_changed = false;
};

class NetworkMerger {
public:
    // Restores the previous set, then merges `uses` into `store`. `model_family`: family_name() of
    // the model ("sd1", "sd2", "sdxl", ...); a network made for another family is an error naming
    // both. On an error the store holds the original weights.
    MergeReport apply(Ctx& ctx, WeightStore& store, const std::string& model_family, const std::vector<NetworkUse>& uses);
    // Rebinds every original weight; returns which components changed.
    MergeReport restore(WeightStore& store);
    bool empty() const { return originals_.empty(); }
    size_t merged_weights() const { return originals_.size(); }

private:
    struct Original {
        Tensor tensor;
        std::string origin;
    };
    std::map<std::string, Original> originals_;
};

}  // namespace sdpp
