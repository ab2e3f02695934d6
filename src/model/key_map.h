// Checkpoint key layouts -> the internal naming of model/weights.h, one table per layout:
//   LDM   (CompVis single files: SD 1.x `cond_stage_model.transformer.*`, SD 2.x `cond_stage_model.model.*`)
//   SGM   (Stability generative-models single files: SDXL `conditioner.embedders.{0,1}.*`, SD-Turbo)
//   diffusers folders (unet/, vae/, text_encoder/, text_encoder_2/), the reverse of diffusers'
//         loaders/single_file_utils.py convert_ldm_unet_checkpoint / convert_ldm_vae_checkpoint /
//         convert_open_clip_checkpoint (diffusers v0.30.3)
//   VAE override files (LDM `first_stage_model.*`, bare `encoder.`/`decoder.`, or diffusers-VAE names).
// open_clip text towers are renamed to HF CLIPTextModel names (fused in_proj split into q/k/v,
// text_projection [W, E] transposed into an nn.Linear weight [E, W]).
#pragma once
#include "core/tensor.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace sdpp {

// What happens to a source tensor on its way to one internal name.
enum class KeyOp : uint8_t {
    Copy,       // unchanged (a zero-copy view of the mapped file)
    ChunkQ,     // rows [0, C) of a fused open_clip in_proj [3C, ...]   (zero-copy slice)
    ChunkK,     // rows [C, 2C)
    ChunkV,     // rows [2C, 3C)
    Transpose,  // [W, E] -> [E, W]: open_clip text_projection (x @ P) as an nn.Linear weight
    ToConv1x1,  // [C, C] linear -> [C, C, 1, 1] 1x1 conv (diffusers VAE mid attention); 4-D kept as is
};

struct KeyTarget {
    std::string name;  // internal name
    KeyOp op = KeyOp::Copy;
};

enum class KeyClass : uint8_t {
    Bound,    // model weight: bound under targets[*].name
    Extra,    // known non-weight buffer kept under "extra." (LDM schedule buffers): ignorable
    Dropped,  // known and deliberately discarded (position_ids, logit_scale, model_ema.*, ...)
    Unknown,  // not recognised: reported, never bound
};

struct KeyMapping {
    KeyClass cls = KeyClass::Unknown;
    std::vector<KeyTarget> targets;  // Bound / Extra
    std::string reason;              // Dropped: why (shown by `sdpp inspect`)
};

// Prefix of the kept-but-ignorable buffers (schedule buffers): model code never reads them.
inline constexpr const char* kExtraPrefix = "extra.";

// Applies `op` to a source tensor; `origin` names it in errors (bad shapes for the op).
Tensor apply_key_op(const Tensor& t, KeyOp op, const std::string& origin);

// Which table a tensor set needs.
enum class KeySource : uint8_t {
    LDM,                   // CompVis single file
    SGM,                   // generative-models single file
    DiffusersUNet,         // diffusers unet/ weights
    DiffusersVAE,          // diffusers vae/ weights (also a diffusers-named VAE override file)
    DiffusersTextEncoder,  // text_encoder/   -> te1
    DiffusersTextEncoder2, // text_encoder_2/ -> te2
    VAEFile,               // VAE override file in LDM names (with or without first_stage_model.)
};
const char* key_source_name(KeySource s);

// Single-file layout from the key names: SGM when `conditioner.` keys or an ADM `label_emb` are
// present, LDM otherwise. Diffusers-named single files (down_blocks.* at top level) and LoRA files
// are rejected with a one-line error naming `what` (the file).
KeySource detect_single_file_source(const std::vector<std::string>& names, const std::string& what);

// Kind of a stand-alone VAE file: DiffusersVAE (encoder.down_blocks...) or VAEFile (LDM names).
KeySource detect_vae_file_source(const std::vector<std::string>& names, const std::string& what);

// One layout's table, specialised with the counts some rules need (res blocks per level, blocks of
// the open_clip tower, up levels of the VAE decoder, ...), read from the whole key list.
class KeyMap {
public:
    KeyMap(KeySource source, const std::vector<std::string>& names);
    KeyMapping map(const std::string& name) const;
    KeySource source() const { return source_; }
    // Blocks of the SD 2.x OpenCLIP tower's architecture (24 for OpenCLIP-H): block n - 1, which
    // SD 2.x never runs, is dropped when present. Unset: the last block present is dropped.
    // (Files converted from diffusers already lack it and must not lose another.)
    void set_sd2_text_layers(int n) { sd2_text_layers_ = n; }

private:
    KeyMapping map_ldm_sgm(const std::string& name) const;
    KeyMapping map_unet_diffusers(const std::string& name) const;
    KeyMapping map_vae_diffusers(const std::string& name) const;
    KeyMapping map_vae_ldm(const std::string& local) const;
    KeyMapping map_open_clip(const std::string& local, const std::string& from, const std::string& to,
                             bool sd2) const;

    KeySource source_;
    // SGM: conditioner.embedders.0.model is the refiner's OpenCLIP-bigG (-> te2) when the UNet has
    // label_emb and there is no second embedder; otherwise an SD2-architecture tower (-> te1).
    bool sgm_embedder0_model_is_te2_ = false;
    // open_clip prefix -> number of resblocks (SD2 drops the last, which it never runs).
    std::map<std::string, int> open_clip_blocks_;
    int sd2_text_layers_ = 0;
    // diffusers UNet: resnets per down block, and which up blocks have attentions.
    int unet_layers_per_block_ = 0;
    std::set<int> unet_up_with_attn_;
    // diffusers VAE: number of decoder up blocks (they run in reverse order of LDM's up.N).
    int vae_up_blocks_ = 0;
};

}  // namespace sdpp
