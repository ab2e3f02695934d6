// `sdpp make-random-lora`: a kohya-style LoRA / LoCon file with random factors for a given model,
// covering every module sd-scripts' networks/lora.py trains with conv_dim set (attention q/k/v/out,
// feed-forward, proj_in/out, resnet convs, time-embedding projections, shortcuts, down/upsample
// convs; text encoders' q/k/v/out, fc1, fc2), at the real sizes of that model. For benchmarks
// (docs/performance.md) and tests; names in the SGM form for the U-Net (lora_unet_input_blocks_...)
// and lora_te_ / lora_te1_ / lora_te2_ for the text encoders.
#pragma once
#include <cstdint>
#include <string>

namespace sdpp {

struct RandomLoraOptions {
    int rank = 32;
    float alpha = 16.0f;
    int conv_rank = 16;   // 3x3 convolutions (kohya conv_dim)
    float conv_alpha = 8.0f;
    uint64_t seed = 0;
    bool overwrite = false;
};

struct RandomLoraStats {
    int unet_modules = 0;
    int te_modules = 0;
    int64_t params = 0;
};

RandomLoraStats write_random_lora(const std::string& model_path, const std::string& out_path, const RandomLoraOptions& o);

}  // namespace sdpp
