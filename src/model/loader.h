// load_model: opens what users download (a single-file .safetensors or .ckpt checkpoint in the LDM
// or SGM layout, or a diffusers folder) and gives every tensor under the internal naming of
// model/weights.h, with the family, inpainting flag, prediction type and ModelHints detected.
// Tensors stay zero-copy views of the memory-mapped files (WeightStore::get converts on demand).
//
// Mirrors what A1111 (modules/sd_models.py: load_model + find_checkpoint_config) and diffusers
// (from_single_file / from_pretrained) do on load, with the key tables in key_map.h.
#pragma once
#include "core/dtype.h"
#include "model/model_info.h"
#include "model/weights.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

struct LoadOptions {
    // Separate VAE replacing the checkpoint's (the "vae-ft-mse-840000" style override): a file in
    // LDM names (first_stage_model.* or bare encoder./decoder.) or diffusers-VAE names, or a
    // diffusers vae/ folder.
    std::optional<std::string> vae_path;
    // User flag (--prediction v|eps): wins over every file hint.
    std::optional<Prediction> prediction;
    // LDM/SGM yaml to read instead of "<checkpoint stem>.yaml" beside the file.
    std::optional<std::string> config_path;
};

struct LoadedModel {
    // Every tensor under the internal naming (WeightStore is not movable, hence the pointer).
    std::unique_ptr<WeightStore> store;
    Family family = Family::Unknown;
    bool inpaint = false;
    ModelHints hints;    // yaml/config/metadata/flag, then family defaults: every field set that applies
    std::string layout;  // "ldm", "sgm", "diffusers"
    std::string path;    // the file or folder given

    // Stored dtype of each internal name (the store converts on get()).
    std::map<std::string, DType> dtypes;
    // Source keys not recognised by the layout's table: reported (log warning), never bound.
    std::vector<std::string> unknown_keys;
    // Known source keys deliberately not bound: (key, reason) (position_ids, logit_scale, EMA, ...).
    std::vector<std::pair<std::string, std::string>> dropped_keys;
    // Internal prefixes model code may leave unused: pass to WeightStore::unused().
    std::vector<std::string> ignorable_prefixes;
    // safetensors __metadata__ of the single file (diffusers: of unet/).
    std::map<std::string, std::string> metadata;
    // Where each hint came from: field -> "flag", "yaml <path>", "config.json", "metadata", "default".
    std::map<std::string, std::string> hint_sources;
    std::optional<std::string> config_file;      // the yaml read, if any
    std::optional<std::string> vae_file;         // the VAE override used, if any
    std::optional<std::string> tokenizer_dir;    // diffusers tokenizer/ (vocab.json, merges.txt)
    std::optional<std::string> tokenizer_2_dir;  // diffusers tokenizer_2/

    const WeightStore& weights() const { return *store; }
    Prediction prediction() const { return hints.prediction.value_or(Prediction::Eps); }

    // sha256 of the checkpoint file (hex), computed on first call (GBs: seconds); nullopt for a
    // diffusers folder. Not thread-safe on the first call.
    std::optional<std::string> file_sha256() const;

private:
    mutable std::optional<std::string> sha256_;
};

// Throws sdpp::Error with one line naming the file and the problem (unreadable, not a checkpoint,
// a LoRA, conflicting keys, unsupported format).
LoadedModel load_model(const std::string& path_or_dir, const LoadOptions& opts = {});

// The raw tensors of one weights file, in file order, with its metadata: .safetensors (mmap), or
// a torch.save zip (.ckpt/.pt/.pth/.bin or any "PK" file) through io/ckpt.h's restricted
// unpickler. Used by load_model and `sdpp convert`.
struct TensorFile {
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::map<std::string, std::string> metadata;
};
TensorFile read_tensor_file(const std::string& path);

}  // namespace sdpp
