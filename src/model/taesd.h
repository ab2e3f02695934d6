// TAESD / TAESDXL: the tiny autoencoder (madebyollin/taesd taesd.py Encoder / Decoder; A1111
// modules/sd_vae_taesd.py; diffusers AutoencoderTiny = EncoderTiny / DecoderTiny in
// models/autoencoders/vae.py, v0.30.3) used for live previews and near-instant decodes.
//
//   Encoder: conv(3, C), Block, [conv(C, C, stride 2, no bias), Block x3] x3, conv(C, latent)
//   Decoder: Clamp = tanh(x / 3) * 3, conv(latent, C), ReLU, Block x3,
//            [Upsample 2x, conv(C, C, no bias), Block x3] x2, Upsample 2x, conv(C, C, no bias), Block,
//            conv(C, 3)
//   Block(n_in, n_out) = ReLU(conv(ReLU(conv(ReLU(conv(x))))) + skip(x)), skip a 1x1 conv without bias
//   when n_in != n_out, else the identity.
//
// Semantics (the fixtures' README): the decoder takes the sampler's latent as it is (TAESD's own
// scaling factor is 1: no division by the SD VAE's 0.18215 / 0.13025) and returns an image of about
// [0, 1], not clamped (A1111 maps it with * 2 - 1; diffusers' AutoencoderTiny.decode does the
// same). The encoder takes an image in [0, 1] and returns the sampler-scale latent.
//
// Layouts (one key map, taesd_internal_key in taesd.cpp): the original files, keys of the
// nn.Sequential (`taesd_encoder.safetensors`: `0.weight`, `1.conv.0.weight`, ...;
// `taesd_decoder.safetensors`: `1.weight`, `3.conv.0.weight`, ..., index 0 being the parameter-free
// Clamp), and the diffusers AutoencoderTiny folder (`encoder.layers.<i>.*` with the same i,
// `decoder.layers.<i - 1>.*`). Internal names: `taesd.encoder.<i>.*` / `taesd.decoder.<i>.*` with the
// original indices. Widths and block counts come from the weights (the fixtures' width-16 models
// and the real 64-wide ones load alike).
#pragma once
#include "model/layers.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdpp {

// taesd.py Block.
struct TAESDBlock {
    Conv2d conv0;                // conv.0 (ReLU after)
    Conv2d conv2;                // conv.2 (ReLU after)
    Conv2d conv4;                // conv.4
    std::optional<Conv2d> skip;  // skip (1x1, no bias), present iff n_in != n_out

    static TAESDBlock load(const WeightScope& w);
    Tensor forward(Ctx& ctx, const Tensor& x) const;  // [N, Cin, H, W] -> [N, Cout, H, W]
};

// taesd.py Encoder: image [N, 3, H, W] in [0, 1] -> latent [N, latent, H/8, W/8].
struct TAESDEncoder {
    struct Stage {
        std::optional<Conv2d> down;     // the stride-2 conv without bias opening every stage but the first
        std::vector<TAESDBlock> blocks;
    };
    Conv2d conv_in;              // 0
    std::vector<Stage> stages;   // 1 .. n-2
    Conv2d conv_out;             // n-1

    static TAESDEncoder load(const WeightScope& w);  // w = "taesd.encoder."
    Tensor forward(Ctx& ctx, const Tensor& image01) const;
    int64_t latent_channels() const { return conv_out.out_channels(); }
};

// taesd.py Decoder: latent [N, latent, h, w] -> image [N, 3, 8h, 8w], about [0, 1].
struct TAESDDecoder {
    struct Stage {
        std::optional<Conv2d> up_conv;  // after nearest 2x upsampling (every stage but the first)
        std::vector<TAESDBlock> blocks;
    };
    Conv2d conv_in;              // 1 (0 is the Clamp; ReLU after)
    std::vector<Stage> stages;
    Conv2d conv_out;             // the last index

    static TAESDDecoder load(const WeightScope& w);  // w = "taesd.decoder."
    Tensor forward(Ctx& ctx, const Tensor& latent) const;
    int64_t latent_channels() const { return conv_in.in_channels(); }
    int upscale() const { return 1 << (int(stages.size()) - 1); }  // 8 for TAESD
};

struct TAESD {
    std::shared_ptr<const WeightStore> store;  // the weights the members borrow
    std::optional<TAESDEncoder> encoder;       // absent when only a decoder file was given
    std::optional<TAESDDecoder> decoder;       // absent when only an encoder file was given
    std::string path;                          // as given (messages)

    // A diffusers AutoencoderTiny folder (config.json + diffusion_pytorch_model.safetensors), a folder
    // with the original files (taesd_decoder.safetensors / .pth, taesdxl_*, ...; `family` "sdxl"
    // picks taesdxl_* where both are present), one original file (its *_encoder / *_decoder sibling
    // is loaded too when it exists) or a diffusers weights file. Throws a one-line sdpp::Error for a
    // missing path or a file that is not TAESD.
    static TAESD load(const std::string& path, const std::string& family = "");
    // From tensors already under the internal names (tests, tools).
    static TAESD from_store(std::shared_ptr<const WeightStore> store, const std::string& path = "");

    int64_t latent_channels() const;
    // latent [N, C, h, w] as the sampler has it -> [N, 3, 8h, 8w], about [0, 1] (taesd.py / A1111).
    Tensor decode(Ctx& ctx, const Tensor& latent) const;
    // The same mapped to [-1, 1] (out * 2 - 1): what the SD VAE's decode returns.
    Tensor decode_pm1(Ctx& ctx, const Tensor& latent) const;
    // image [N, 3, H, W] in [0, 1] -> latent [N, C, H/8, W/8] at the sampler's scale.
    Tensor encode(Ctx& ctx, const Tensor& image01) const;
};

// The one key map: a key of an original taesd_encoder / taesd_decoder file (`part` "encoder" /
// "decoder") or of a diffusers AutoencoderTiny file (`part` ""), to the internal name; "" when the
// key is not a TAESD key.
std::string taesd_internal_key(const std::string& key, const std::string& part);

}  // namespace sdpp
