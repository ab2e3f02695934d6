// The Stable Diffusion U-Net (SD 1.x, SD 2.x, SDXL, inpainting), bound from the original LDM/SGM
// single-file keys `model.diffusion_model.*`.
// Mirrors ldm.modules.diffusionmodules.openaimodel.UNetModel (Stability-AI/stablediffusion) and
// sgm.modules.diffusionmodules.openaimodel.UNetModel (Stability-AI/generative-models); numerics as
// diffusers v0.30.3 UNet2DConditionModel (the parity reference).
#pragma once
#include "model/model_info.h"
#include "model/unet_blocks.h"

#include <functional>
#include <span>
#include <string>
#include <vector>

namespace sdpp {

// Optional hook for bisecting against reference activations. Names follow diffusers' modules, as the
// fixtures' "8x8.debug.*" tensors do: "time_embedding", "add_embedding", "conv_in", "down_blocks.L",
// "mid_block", "up_blocks.L"; plus "input_blocks.K" / "output_blocks.K" for every LDM block.
using ActivationTrace = std::function<void(const std::string& name, const Tensor& value)>;

// Every field comes from tensor shapes except the heads (shapes cannot tell them; see ModelHints).
// The diffusers config.json field each mirrors is named in the comment.
struct UNetConfig {
    int64_t in_channels = 4;                 // in_channels (9 = inpainting, 8 = instruct-pix2pix)
    int64_t out_channels = 4;                // out_channels
    int64_t model_channels = 320;            // block_out_channels[0] (LDM model_channels)
    std::vector<int64_t> level_channels;     // block_out_channels
    std::vector<int> num_res_blocks;         // layers_per_block, per level
    std::vector<int> transformer_depth;      // transformer_layers_per_block per level (0 = no attention)
    int transformer_depth_middle = 1;        // mid-block transformer depth (0 = no mid attention)
    std::vector<int> heads;                  // attention heads per level (attention_head_dim list)
    int heads_middle = 8;                    // heads of the mid-block transformer
    int64_t context_dim = 768;               // cross_attention_dim
    bool linear_projection = false;          // use_linear_projection (proj_in/out linear vs 1x1 conv)
    int64_t time_embed_dim = 1280;           // time embedding width (4 * model_channels)
    int64_t adm_in_channels = 0;             // projection_class_embeddings_input_dim (SDXL y); 0 = none

    int levels() const { return int(level_channels.size()); }
    // Latent sizes must be multiples of this for the plain 2x path (others work through size matching).
    int64_t downscale() const { return int64_t(1) << (levels() - 1); }
    std::string describe() const;

    // Heads: hints.unet_heads_per_level (per level; the mid block uses the last), else
    // hints.unet_head_channels (channels per head), else SD1-style (1x1-conv projections, context
    // 768) 8 heads and SD2/SDXL-style (linear projections) 64 channels per head.
    static UNetConfig detect(const WeightStore& store, const ModelHints& hints);
};

struct UNet {
    UNetConfig cfg;
    Linear time_embed_0;                  // time_embed.0  [E, model_channels]
    Linear time_embed_2;                  // time_embed.2  [E, E]
    std::optional<Linear> label_emb_0;    // label_emb.0.0 [E, adm_in]   (SDXL)
    std::optional<Linear> label_emb_2;    // label_emb.0.2 [E, E]
    Conv2d conv_in;                       // input_blocks.0.0
    std::vector<UNetBlock> input_blocks;  // input_blocks.1 .. (ResBlock [+ SpatialTransformer] or Downsample)
    ResBlock mid_res1;                    // middle_block.0
    std::optional<SpatialTransformer> mid_attn;  // middle_block.1
    ResBlock mid_res2;                    // middle_block.2 (middle_block.1 when there is no attention)
    std::vector<UNetBlock> output_blocks; // output_blocks.0 .. (ResBlock [+ SpatialTransformer] [+ Upsample])
    GroupNorm out_norm;                   // out.0
    Conv2d out_conv;                      // out.2

    // Binds every `model.diffusion_model.*` tensor; matrices stay in the file's dtype (the backend
    // converts them for the compute dtype the Ctx asks for).
    static UNet load(const WeightStore& store, const UNetConfig& cfg);

    // x [N, Cin, H, W]; t [N] or [1] timesteps (floats, continuous allowed); context [N, S, context_dim];
    // y [N, adm_in_channels] when cfg.adm_in_channels > 0 (SDXL), else undefined -> [N, Cout, H, W].
    // Any H, W >= 1 works: odd sizes halve to ceil(S/2) and the up path matches each skip's size.
    Tensor forward(Ctx& ctx, const Tensor& x, const Tensor& t, const Tensor& context, const Tensor& y = Tensor(),
                   const ActivationTrace* trace = nullptr) const;
};

// ldm.modules.diffusionmodules.util.timestep_embedding (cos half first; diffusers Timesteps with
// flip_sin_to_cos=True, freq_shift=0), computed in float32 as the reference: [N, dim].
Tensor timestep_embedding(std::span<const float> t, int64_t dim, float max_period = 10000.0f);

// SDXL's adm vector y = cat(pooled [N, P], timestep_embedding(id, D) for each of the K ids) [N, P + K*D]
// (sgm ConcatTimestepEmbedderND; diffusers add_time_proj). time_ids [N, K] are
// (orig_h, orig_w, crop_top, crop_left, target_h, target_w) for the base model (K = 6) and
// (orig_h, orig_w, crop_top, crop_left, aesthetic_score) for the refiner (K = 5).
// D = (adm_in_channels - P) / K (256 for the real models).
Tensor sdxl_adm_vector(const Tensor& pooled, const Tensor& time_ids, int64_t adm_in_channels);

}  // namespace sdpp
