// What a loaded checkpoint is: family (SD1 / SD2 / SDXL / SDXL refiner), inpainting, prediction
// type, and the hyper-parameters shapes cannot tell (ModelHints), from
//   - the internal key set and shapes (after key_map.h),
//   - the LDM/SGM yaml beside a single file (A1111's "<checkpoint stem>.yaml"),
//   - a diffusers folder's config.json files,
//   - safetensors metadata (ModelSpec "modelspec.*", ComfyUI's `v_pred` marker key),
// and, where nothing tells, the families' published defaults.
// Widths and depths from shapes belong to UNetConfig/VAEConfig/CLIP config::detect.
#pragma once
#include "core/dtype.h"
#include "model/model_info.h"
#include "model/weights.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

// Family from internal names/shapes plus hints:
//   U-Net with label_emb (ADM input): SDXL when te1 and te2 are present, the refiner when only te2
//   is (or, without text encoders, when label_emb takes 2560 inputs or the context is 1280 wide);
//   otherwise SD2 when te1 came from an OpenCLIP tower (store.info["te1.source"] == "open_clip"),
//   its activation is gelu, or the context is 1024 wide; otherwise SD1. Unknown without a U-Net.
Family detect_family(const WeightStore& store, const ModelHints& hints);
// U-Net input channels == 9 (latent 4 + mask 1 + masked-image latent 4).
bool detect_inpaint(const WeightStore& store);
// U-Net input channels, or 0 without a U-Net.
int64_t unet_in_channels(const WeightStore& store);
// Cross-attention context width (in_features of any attn2.to_k), nullopt without attention.
std::optional<int64_t> unet_context_dim(const WeightStore& store);
// Largest N + 1 over the keys "<prefix>N.*" (blocks, layers, levels), 0 if none.
int count_indexed_keys(const WeightStore& store, const std::string& prefix);

// LDM / SGM yaml: model.params.{unet_config|network_config}.params.{num_heads, num_head_channels,
// channel_mult}, model.params.parameterization ("v"), SGM denoiser scaling (VScaling),
// model.params.scale_factor, the text embedder targets (FrozenCLIPEmbedder = quick_gelu,
// FrozenOpenCLIPEmbedder* = gelu) and the fixtures' `oracle_tiny_text_encoders` (heads).
// Throws sdpp::Error "<path>: ..." for unreadable yaml or wrongly typed values.
ModelHints hints_from_ldm_yaml(const std::string& path);
// Blocks of the first text tower's architecture when the yaml states them (the fixtures'
// oracle_tiny_text_encoders.text_encoder.layers; LDM yamls name a pretrained model instead).
std::optional<int> text_layers_from_ldm_yaml(const std::string& path);
// diffusers folder: unet/config.json (num_attention_heads, else attention_head_dim = heads, an int
// or one per level), scheduler/scheduler_config.json (prediction_type), vae/config.json
// (scaling_factor), text_encoder[_2]/config.json (num_attention_heads, hidden_act).
ModelHints hints_from_diffusers(const std::string& dir);
// safetensors metadata: modelspec.prediction_type ("v" / "epsilon"), modelspec.architecture
// ending in "-v", ComfyUI's `v_pred` key, and the `sdpp.hint.*` keys make-random-model writes.
ModelHints hints_from_metadata(const std::map<std::string, std::string>& metadata, bool has_v_pred_key);

// Fills every unset field of `into` from `from` (`into` wins).
void merge_hints(ModelHints& into, const ModelHints& from);
// Fills what is still unset with the family defaults: U-Net SD1 8 heads on every level, SD2/SDXL
// 64 channels per head; eps prediction; VAE scale 0.18215 (SDXL 0.13025); text encoder heads =
// width / 64; te1 quick_gelu (SD2: gelu), te2 gelu.
void apply_family_defaults(ModelHints& hints, Family family, const WeightStore& store);

// Attention heads at U-Net level `level` whose blocks are `channels` wide (the middle block uses
// the last level): per-level heads when known (a single entry means every level), else
// channels / head_channels. Throws when neither is set or the division is not exact.
int unet_heads(const ModelHints& hints, int level, int64_t channels);

}  // namespace sdpp
