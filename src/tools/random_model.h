// Full-size random-weight checkpoints with the exact key names and shapes of the real releases,
// generated from the architecture hyper-parameters (not from any key list):
//   U-Net: ldm/sgm openaimodel.UNetModel (ResBlock, SpatialTransformer with GEGLU feed-forward,
//          Downsample/Upsample, SDXL label_emb),
//   VAE:   ldm/sgm autoencoder Encoder/Decoder (ResnetBlock, AttnBlock as 1x1 convs),
//   text:  transformers CLIPTextModel names (CLIP-L) or open_clip TextTransformer names (OpenCLIP),
// laid out as the LDM (SD 1.x/2.x) or SGM (SDXL) single file stores them, plus the 12 LDM
// schedule buffers of ldm.models.diffusion.ddpm.DDPM.register_schedule for LDM files.
// Weights: N(0, 1/sqrt(fan_in)) for matrices and convolutions, ones/zeros for norm scales/biases
// and biases, token/position embeddings N(0, 0.02)/N(0, 0.01), position_ids 0..76, logit_scale
// ln(1/0.07), so activations stay finite. Written streaming: header first, then tensor by tensor.
#pragma once
#include "core/dtype.h"
#include "core/tensor.h"
#include "model/model_info.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sdpp {

enum class InitKind : uint8_t { Normal, NormalStd, Ones, Zeros, Arange, Const, Schedule };

struct TensorSpec {
    std::string name;
    Shape shape;
    bool int64 = false;  // position_ids; everything else is floating point (f32 for schedules)
    InitKind init = InitKind::Zeros;
    double param = 0;    // Normal: fan_in; NormalStd: std; Const: the value
};

// ldm openaimodel.UNetModel hyper-parameters (the yaml's unet_config/network_config params).
struct UNetArch {
    int in_channels = 4, out_channels = 4, model_channels = 320;
    std::vector<int> channel_mult{1, 2, 4, 4};
    int num_res_blocks = 2;
    std::vector<int> transformer_depth{1, 1, 1, 0};  // per level; 0 = no attention at that level
    int transformer_depth_middle = 1;
    int context_dim = 768;
    bool linear_proj = false;  // use_linear_in_transformer
    int adm_in_channels = 0;   // SDXL label_emb input (0 = none)
};

// ldm autoencoder ddconfig (attn_resolutions empty, as in every SD release).
struct VAEArch {
    int ch = 128;
    std::vector<int> ch_mult{1, 2, 4, 4};
    int num_res_blocks = 2, z_channels = 4, embed_dim = 4, in_channels = 3, out_ch = 3;
};

struct TextArch {
    std::string prefix;  // e.g. "cond_stage_model.transformer." or "conditioner.embedders.1.model."
    bool open_clip = false;
    int width = 768, layers = 12, mlp = 3072, vocab = 49408, positions = 77;
    int proj_dim = 0;  // open_clip text_projection [width, proj_dim]
};

struct ArchSpec {
    std::string name;  // "sd15", ...
    std::string layout;  // "ldm" | "sgm"
    UNetArch unet;
    VAEArch vae;
    std::vector<TextArch> text;
    bool schedule_buffers = false;  // LDM files carry them
    Prediction prediction = Prediction::Eps;
    // Hints written as `sdpp.hint.*` metadata (needed only where family defaults do not fit).
    std::map<std::string, std::string> hints;
};

// "sd15", "sd15-inpaint", "sd21", "sd21-v", "sdxl". tiny: the same structure at the sizes of the
// test fixtures' tiny models (sd1-tiny, sd1-inpaint-tiny, sd2-tiny-v, sdxl-tiny).
ArchSpec arch_preset(const std::string& arch, bool tiny = false);
const std::vector<std::string>& arch_names();

// Every tensor of the checkpoint, in a fixed order.
std::vector<TensorSpec> checkpoint_tensors(const ArchSpec& spec);

// LDM register_schedule buffers (linear_start 0.00085, linear_end 0.012, 1000 steps, v_posterior 0)
// by name: betas, alphas_cumprod, ..., posterior_mean_coef2 (float64 math, stored f32).
std::map<std::string, std::vector<float>> ldm_schedule_buffers();

struct RandomModelOptions {
    DType dtype = DType::F16;  // floating-point weights (schedule buffers stay f32, position_ids i64)
    uint64_t seed = 0;
    bool overwrite = false;
};

struct RandomModelStats {
    int64_t n_tensors = 0, n_params = 0;
    uint64_t bytes = 0;
};

// Writes the checkpoint as safetensors to `path` (through "<path>.tmp", renamed at the end).
// Refuses to replace an existing file unless opts.overwrite. Deterministic in (spec, seed, dtype),
// whatever the thread count.
RandomModelStats write_random_model(const ArchSpec& spec, const std::string& path, const RandomModelOptions& opts);

}  // namespace sdpp
