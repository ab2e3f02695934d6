// What a checkpoint is: family, variant, prediction type, and the hyper-parameters that tensor
// shapes cannot tell (attention heads, v-prediction), gathered from the yaml beside a single file,
// a diffusers config.json, safetensors metadata or user flags.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace sdpp {

enum class Family { SD1, SD2, SDXL, SDXLRefiner, Unknown };
enum class Prediction { Eps, V };

const char* family_name(Family f);          // "sd1", "sd2", "sdxl", "sdxl-refiner", "unknown"
const char* prediction_name(Prediction p);  // "eps", "v"

struct ModelHints {
    // U-Net attention heads: per level (diffusers attention_head_dim list / num_heads), or channels
    // per head (LDM num_head_channels). When neither is known: SD1 8 heads, SD2/SDXL 64 ch/head.
    std::optional<std::vector<int>> unet_heads_per_level;
    std::optional<int> unet_head_channels;
    std::optional<Prediction> prediction;
    std::optional<float> vae_scaling_factor;
    // Text encoder heads (shapes cannot tell). Defaults: width / 64.
    std::optional<int> te1_heads;
    std::optional<int> te2_heads;
    std::optional<std::string> te1_activation;  // "quick_gelu" | "gelu"
    std::optional<std::string> te2_activation;
};

}  // namespace sdpp
