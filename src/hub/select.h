// Which files of a hub repo sdpp downloads. For a diffusers folder (model_index.json at the root)
// only what the loader reads, as diffusers' own `DiffusionPipeline.download` filters a repo:
//   model_index.json, <folder>/config.json, scheduler/scheduler_config.json, tokenizer*/ files,
//   and for each of unet, vae, text_encoder, text_encoder_2 ONE weights set, the first present of
//     1. the variant's safetensors  (<stem>.<variant>.safetensors, or <stem>.safetensors.index.<variant>.json + shards)
//     2. full safetensors           (<stem>.safetensors,           or <stem>.safetensors.index.json + shards)
//     3. the variant's .bin, 4. .bin (PyTorch pickles; only when a component has no safetensors)
//   never ONNX, Flax/msgpack, .ckpt, or root-level single-file checkpoints.
// The default variant is "fp16": half the download, and sdpp converts weights to its compute
// dtype at load anyway. Shards are added after their index file is downloaded (shards_from_index).
#pragma once
#include "hub/hub_api.h"

#include <string>
#include <vector>

namespace sdpp::hub {

// The components whose weights sdpp loads from a diffusers folder.
inline constexpr const char* kWeightComponents[] = {"unet", "vae", "text_encoder", "text_encoder_2"};

bool is_diffusers_listing(const std::vector<RepoFile>& files);

// The files to pull from a diffusers repo (see above), in listing order. `variant` "" means full
// precision only. Notes (one line each) say which fallbacks were taken. Throws when a weight
// component folder has no usable weights.
std::vector<RepoFile> select_diffusers_files(const std::vector<RepoFile>& files, const std::string& variant,
                                             std::vector<std::string>* notes = nullptr);

// For a repo that is not a diffusers folder and no file was named: the single checkpoint at its
// root (.safetensors preferred over .ckpt/.pt/.pth/.bin). Throws, listing candidates, when there
// is none or more than one.
RepoFile select_single_checkpoint(const std::vector<RepoFile>& files, const std::string& repo);

// The shard file names a sharded-weights index lists (its weight_map values, sorted, unique),
// relative to the index's folder. Throws on a malformed index or an unsafe name.
std::vector<std::string> shards_from_index(const std::string& json_text, const std::string& what);

// True for "<stem>.safetensors.index.json", "<stem>.bin.index.fp16.json" and the like.
bool is_shard_index(const std::string& name);

}  // namespace sdpp::hub
