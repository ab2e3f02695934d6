// LoRA / LyCORIS network files: tensor keys -> (module, part), and module names -> the internal weight
// keys of model/weights.h. Module names come in the forms real files use:
//   kohya / A1111   lora_unet_<diffusers path with _>      lora_unet_down_blocks_0_attentions_0_..._to_q
//                   lora_unet_<SGM path with _> (SDXL)      lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q
//                   lora_te_ / lora_te1_ / lora_te2_ + HF CLIPTextModel path   lora_te1_text_model_encoder_layers_0_mlp_fc1
//   diffusers/PEFT  unet.<diffusers path>, text_encoder.<HF path>, text_encoder_2.<HF path>
// The underscore forms are turned back into dotted paths with the multi-word names these modules
// have (transformer_blocks, to_q, self_attn, in_layers, ...), as diffusers v0.30.3's
// _convert_non_diffusers_lora_to_diffusers does; diffusers U-Net paths then go through the loader's
// own diffusers table (key_map.h), so a network module lands on exactly the tensor the checkpoint
// bound there. Text-encoder q/k/v of OpenCLIP towers need nothing special: the store already holds
// them as the rows [0, W), [W, 2W), [2W, 3W) of in_proj_weight under HF names.
// Mirrors A1111 extensions-builtin/Lora/networks.py (convert_diffusers_name_to_compvis,
// assign_network_names_to_compvis_modules) in effect.
#pragma once
#include "model/key_map.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

// The parts a network module stores (one tensor each).
enum class NetPart : uint8_t {
    LoraDown, LoraUp, LoraMid, Alpha, Scale,   // .lora_down.weight / lora_A, .lora_up.weight / lora_B, .lora_mid.weight, .alpha, .scale
    HadaW1A, HadaW1B, HadaW2A, HadaW2B, HadaT1, HadaT2,  // LoHa
    LokrW1, LokrW1A, LokrW1B, LokrW2, LokrW2A, LokrW2B, LokrT2,  // LoKr
    DoraScale,                                   // DoRA (not supported: reported)
    Unknown,
};
const char* net_part_name(NetPart p);

struct NetKey {
    std::string module;  // everything before the part suffix
    NetPart part = NetPart::Unknown;
};
// Splits a tensor key of a network file. Unknown suffixes give part Unknown (module = the key).
NetKey split_network_key(std::string_view key);

enum class NetComponent : uint8_t { UNet, TE1, TE2 };

struct NetTarget {
    std::string key;  // internal weight key ("model.diffusion_model....weight", "te1.text_model....weight")
    NetComponent component = NetComponent::UNet;
};

// kohya underscore path -> dotted path ("down_blocks_0_attentions_0_proj_in" -> "down_blocks.0.attentions.0.proj_in").
std::string dotted_module_path(std::string_view underscored);

// Maps module names onto the weights of one model, given its internal key names.
class NetworkKeyMapper {
public:
    explicit NetworkKeyMapper(const std::vector<std::string>& model_keys);
    // The target, or nullopt when the name has no known form or the model has no such weight.
    std::optional<NetTarget> map(const std::string& module) const;
    // The same without checking the model (the internal key the name would have).
    std::optional<NetTarget> map_unchecked(const std::string& module) const;

private:
    std::optional<std::string> unet_diffusers(const std::string& dotted) const;
    KeyMap unet_map_;
    std::vector<std::string> keys_;  // sorted
};

}  // namespace sdpp
