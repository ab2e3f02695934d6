// The SD VAE (AutoencoderKL): encoder to the posterior moments, decoder back to RGB, bound from the
// original LDM single-file keys `first_stage_model.*` (mid-block attention q/k/v/proj_out are 1x1 convs).
// Mirrors ldm.modules.diffusionmodules.model.Encoder / Decoder / ResnetBlock / AttnBlock and
// ldm.models.autoencoder.AutoencoderKL + DiagonalGaussianDistribution
// (https://github.com/Stability-AI/stablediffusion/blob/main/ldm/modules/diffusionmodules/model.py);
// numerics as diffusers v0.30.3 AutoencoderKL (the parity reference). Tiled encode/decode follow
// diffusers' AutoencoderKL.tiled_decode idea (overlapping tiles, linear blending).
#pragma once
#include "model/layers.h"
#include "model/model_info.h"

#include <optional>
#include <string>
#include <vector>

namespace sdpp {

// From shapes, except the scaling factor (hints, else by family). diffusers vae/config.json names.
struct VAEConfig {
    int64_t in_channels = 3;               // in_channels
    int64_t out_channels = 3;              // out_channels
    int64_t z_channels = 4;                // LDM ddconfig.z_channels (encoder emits 2*z: mean, logvar)
    int64_t latent_channels = 4;           // latent_channels (LDM embed_dim; quant_conv width / 2)
    std::vector<int64_t> level_channels;   // block_out_channels
    int num_res_blocks = 2;                // layers_per_block (decoder levels have one more)
    bool mid_attention = true;             // mid_block_add_attention
    bool quant_conv = true;                // use_quant_conv
    bool post_quant_conv = true;           // use_post_quant_conv
    float scaling_factor = 0.18215f;       // scaling_factor: 0.18215 SD1/SD2, 0.13025 SDXL

    int levels() const { return int(level_channels.size()); }
    int64_t downscale() const { return int64_t(1) << (levels() - 1); }  // 8 for SD
    std::string describe() const;

    // `family` picks the scaling factor when hints have none (Unknown: SDXL if the store holds an SDXL
    // U-Net's label_emb, else 0.18215).
    static VAEConfig detect(const WeightStore& store, const ModelHints& hints, Family family = Family::Unknown);
};

// ResnetBlock without time embedding: GroupNorm (eps 1e-6) + SiLU + conv, twice, plus the shortcut.
struct VAEResBlock {
    GroupNorm norm1;                     // norm1
    Conv2d conv1;                        // conv1
    GroupNorm norm2;                     // norm2
    Conv2d conv2;                        // conv2
    std::optional<Conv2d> nin_shortcut;  // nin_shortcut (1x1, present iff C_in != C_out)

    static VAEResBlock load(const WeightScope& w, int64_t cin, int64_t cout);
    Tensor forward(Ctx& ctx, const Tensor& x) const;  // [N, Cin, H, W] -> [N, Cout, H, W]
    // The same over row bands of about `band_bytes` (vae_banded.cpp): only x, the conv1 output and
    // the result live whole.
    Tensor forward_banded(Ctx& ctx, const Tensor& x, int64_t band_bytes) const;
};

// AttnBlock: single-head self-attention over the H*W positions, residual.
struct VAEAttention {
    GroupNorm norm;  // norm
    Linear qkv;      // q|k|v 1x1 convs packed into one [3C, C] matrix (+ [3C] bias)
    Linear proj_out; // proj_out ([C, C, 1, 1] viewed as [C, C])

    static VAEAttention load(const WeightScope& w);
    Tensor forward(Ctx& ctx, const Tensor& x) const;  // [N, C, H, W] -> [N, C, H, W]
};

struct VAEMid {
    VAEResBlock block_1;                 // mid.block_1
    std::optional<VAEAttention> attn_1;  // mid.attn_1
    VAEResBlock block_2;                 // mid.block_2

    static VAEMid load(const WeightScope& w, int64_t channels, bool attention);
    Tensor forward(Ctx& ctx, const Tensor& x) const;
};

struct VAEEncoder {
    struct Level {
        std::vector<VAEResBlock> blocks;  // down.i.block.j
        std::optional<Conv2d> downsample; // down.i.downsample.conv (pad right/bottom by 1, stride 2)
    };
    Conv2d conv_in;             // conv_in
    std::vector<Level> down;    // down.i
    VAEMid mid;                 // mid
    GroupNorm norm_out;         // norm_out
    Conv2d conv_out;            // conv_out -> 2 * z_channels

    static VAEEncoder load(const WeightScope& w, const VAEConfig& cfg);
    Tensor forward(Ctx& ctx, const Tensor& image) const;  // [N, 3, H, W] -> [N, 2z, H/8, W/8]
    // The two halves of forward (tiled encode runs the first per tile, the second on the whole map):
    Tensor forward_down(Ctx& ctx, const Tensor& image) const;  // conv_in + levels -> [N, C_last, H/8, W/8]
    Tensor forward_mid(Ctx& ctx, const Tensor& h) const;       // mid + norm_out + conv_out -> [N, 2z, h, w]
    // forward_down over row bands (vae_banded.cpp): the same result in less memory.
    Tensor forward_down_banded(Ctx& ctx, const Tensor& image, int64_t band_bytes) const;
};

struct VAEDecoder {
    struct Level {
        std::vector<VAEResBlock> blocks;  // up.i.block.j
        std::optional<Conv2d> upsample;   // up.i.upsample.conv (after nearest 2x)
    };
    Conv2d conv_in;           // conv_in
    VAEMid mid;               // mid
    std::vector<Level> up;    // up.i: LDM numbers them shallowest first and runs them deepest first
    GroupNorm norm_out;       // norm_out
    Conv2d conv_out;          // conv_out

    static VAEDecoder load(const WeightScope& w, const VAEConfig& cfg);
    Tensor forward(Ctx& ctx, const Tensor& z) const;  // [N, z, h, w] -> [N, 3, 8h, 8w]
    // The two halves of forward (tiled decode runs the first on the whole map, the second per tile):
    Tensor forward_mid(Ctx& ctx, const Tensor& z) const;  // conv_in + mid -> [N, C_last, h, w]
    Tensor forward_up(Ctx& ctx, const Tensor& h) const;   // levels + norm_out + conv_out -> [N, 3, 8h, 8w]
    // forward_up over row bands (vae_banded.cpp): the same result in less memory.
    Tensor forward_up_banded(Ctx& ctx, const Tensor& h, int64_t band_bytes) const;
};

// DiagonalGaussianDistribution of the encoder: moments = cat(mean, logvar); logvar clamped to [-30, 20].
struct VAEPosterior {
    Tensor moments;  // [N, 2C, h, w]
    Tensor mean;     // [N, C, h, w]
    Tensor logvar;   // [N, C, h, w]
    Tensor std;      // exp(0.5 * logvar)
};

// Row bands: the decoder's full-resolution path runs layer by layer over bands of rows, each conv on
// its band plus the rows of context its kernel needs (writing its output rows in place), each
// GroupNorm with statistics taken over the whole map first. The result is the untiled decode's
// (same ops, same statistics; only the conv calls are split), and no more than a layer's input, its
// output and the conv1 output of a ResBlock live whole at once, against five or more
// full-resolution maps for the plain forward (docs/performance.md: 4388 -> 2404 MiB of tensors at
// 1024x1024).
constexpr int64_t kVAEBandBytes = int64_t(64) << 20;  // one band of a layer's input
// The pipelines decode (and encode) images up to this size through row bands and tile larger ones
// (whose memory stays bounded). At 1536x1536 the banded decode's peak is about the plain decode's at
// 1024x1024.
constexpr int64_t kVAEBandedMaxPixels = int64_t(1536) * 1536;

// Tiles in latent pixels (the encoder's image tiles are `downscale` times larger). Tiles overlap by
// `overlap` and are blended with linear ramps across the overlap, so no seams show. Each tile is run
// with `halo` extra latent pixels of context on every side that has them (cropped off before blending),
// so the zero padding at tile borders does not reach the blended pixels (the decoder's receptive field
// spans about 13 latent pixels).
// The mid block (whose attention sees every position) runs once on the whole latent-resolution map
// when `global_mid` is set: decode runs conv_in + mid on the whole latent and tiles only the up path,
// encode tiles the down path, blends its features and runs mid + conv_out on the whole map. What is
// left differs from the untiled result through per-tile GroupNorm statistics (a few percent on the
// tiny random fixtures; less on trained VAEs). Without global_mid each tile runs the whole network
// (diffusers' tiled decode): cheaper for huge images, as the mid attention is quadratic in h*w.
struct VAETiling {
    int64_t tile = 64;        // 64 latent = 512 pixels
    int64_t overlap = 16;     // 16 latent = 128 pixels
    int64_t halo = 8;         // context around each tile, latent pixels
    bool global_mid = true;
};

struct VAE {
    VAEConfig cfg;
    VAEEncoder encoder;
    VAEDecoder decoder;
    std::optional<Conv2d> quant_conv;       // quant_conv [2C, 2z, 1, 1]
    std::optional<Conv2d> post_quant_conv;  // post_quant_conv [z, C, 1, 1]

    // Binds every `first_stage_model.*` tensor; matrices stay in the file's dtype.
    static VAE load(const WeightStore& store, const VAEConfig& cfg);

    // image [N, 3, H, W] in [-1, 1] -> posterior (the latent to sample is mean (+ std * noise), then
    // times cfg.scaling_factor).
    VAEPosterior encode(Ctx& ctx, const Tensor& image) const;
    // The same result through row bands (see kVAEBandBytes): what the pipelines use.
    VAEPosterior encode_banded(Ctx& ctx, const Tensor& image, int64_t band_bytes = kVAEBandBytes) const;
    // z [N, C, h, w] unscaled (latent / scaling_factor) -> image [N, 3, 8h, 8w], about [-1, 1].
    Tensor decode(Ctx& ctx, const Tensor& z) const;
    // The same result through row bands (see kVAEBandBytes): what the pipelines use.
    Tensor decode_banded(Ctx& ctx, const Tensor& z, int64_t band_bytes = kVAEBandBytes) const;

    // The same through overlapping tiles; fall back to the untiled path when one tile covers the input.
    // Image sizes for tiled encode must be multiples of cfg.downscale().
    VAEPosterior encode_tiled(Ctx& ctx, const Tensor& image, const VAETiling& tiling = {}) const;
    Tensor decode_tiled(Ctx& ctx, const Tensor& z, const VAETiling& tiling = {}) const;
};

// mean / logvar (clamped to [-30, 20]) / std from the moments, as DiagonalGaussianDistribution.
VAEPosterior posterior_from_moments(const Tensor& moments);

}  // namespace sdpp
