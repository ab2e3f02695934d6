// The networks of one request, for the Engine: the prompt's <lora:...> / <lyco:...> tags are
// removed from the text to encode (text/extra_networks.h), the names resolved in the LoRA folder
// (ModelOptions::lora_dir, else `Lora` or `loras` beside the model; by file stem, then by the
// safetensors metadata's ss_output_name), the files read once per Engine, and the set merged into
// the weights (model/lora_apply.h). The next request with the same set (same files, same
// multipliers, same order) reuses the merged weights; another set first rebinds the originals.
#pragma once
#include "backend/ops.h"
#include "model/loader.h"
#include "model/lora_apply.h"

#include <sdpp/sdpp.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace sdpp::pipeline {

struct PreparedNetworks {
    std::string prompt;           // without extra-network tags
    std::string negative_prompt;  // without extra-network tags (tags there are not applied)
    std::string lora_hashes;      // A1111 infotext "Lora hashes" value ("" without networks)
    std::string lora_tags;        // " <lora:NAME:MULT>" for GenerateRequest::loras (infotext prompt)
    bool unet_changed = false;    // the U-Net's weights changed: bind it again
    bool merged = false;          // the set changed: weights were rebound / merged in this call
};

class NetworkSession {
public:
    PreparedNetworks prepare(Ctx& ctx, LoadedModel& model, const ModelOptions& opts, const GenerateRequest& r);
    // The folders a NAME is looked up in, in order.
    static std::vector<std::string> lora_dirs(const ModelOptions& opts);
    // NAME -> file (stem, then ss_output_name); throws naming the folders searched and the closest names.
    // With `hash` (an infotext's "Lora hashes"), a NAME not found is looked up by its short hash.
    std::string resolve(const std::string& name, const ModelOptions& opts, const std::string& hash = "");

private:
    std::shared_ptr<const NetworkFile> open(const std::string& path);
    const std::string& hash_of(const NetworkFile& f);
    std::map<std::string, std::shared_ptr<const NetworkFile>> files_;
    std::map<std::string, std::string> hashes_;  // path -> short hash
    std::vector<std::tuple<std::string, float, float>> applied_;
    NetworkMerger merger_;
};

}  // namespace sdpp::pipeline
