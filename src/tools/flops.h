// Analytic FLOP counts of one U-Net forward and one VAE decode, from the detected configs and the
// latent size: the work the machine-limit figures of `sdpp bench` (issue 8) divide by the matmul peak.
// Counted: convolutions (2 * N * Ho * Wo * Cout * Cin * kh * kw), linears (2 * rows * in * out),
// attention's two products (Q K^T and P V: 2 * B * Sq * Sk * inner each). Not counted: biases,
// norms, activations, softmax, adds, resampling (memory-bound, a few percent of the time at most).
// Structure as ldm openaimodel.UNetModel / ldm model.Decoder (the U-Net's blocks from
// model/unet_plan.h, the list the loader binds): transformer inner width = the block's channels,
// GEGLU feed-forward 4x wide, context length given.
#pragma once
#include "model/unet.h"
#include "model/vae.h"

#include <cstdint>
#include <string>

namespace sdpp {

struct FlopCount {
    double conv = 0;       // every 2D convolution (including 1x1 skips and proj_in/out as convs)
    double linear = 0;     // linears: projections, feed-forward, time/label embeddings
    double attention = 0;  // Q K^T + P V of every attention
    double total() const { return conv + linear + attention; }
    FlopCount& operator+=(const FlopCount& o) {
        conv += o.conv;
        linear += o.linear;
        attention += o.attention;
        return *this;
    }
};

// One U-Net forward on `batch` latents of latent_h x latent_w with `context_len` context tokens
// (77 for SD; 0 is allowed and drops the cross-attention products but keeps its projections).
FlopCount unet_flops(const UNetConfig& cfg, int64_t batch, int64_t latent_h, int64_t latent_w,
                     int64_t context_len = 77);

// One VAE decode (post_quant_conv + decoder) of `batch` latents of latent_h x latent_w.
FlopCount vae_decode_flops(const VAEConfig& cfg, int64_t batch, int64_t latent_h, int64_t latent_w);

}  // namespace sdpp
