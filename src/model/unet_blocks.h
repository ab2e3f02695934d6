// The building blocks of the SD U-Net, bound by their original LDM/SGM key names:
//   ldm.modules.diffusionmodules.openaimodel (ResBlock, Downsample, Upsample, TimestepEmbedSequential)
//   ldm.modules.attention (SpatialTransformer, BasicTransformerBlock, CrossAttention, FeedForward/GEGLU)
// https://github.com/Stability-AI/stablediffusion/blob/main/ldm/modules/diffusionmodules/openaimodel.py
// https://github.com/Stability-AI/stablediffusion/blob/main/ldm/modules/attention.py
// Numerics follow diffusers v0.30.3 (ResnetBlock2D, Transformer2DModel, BasicTransformerBlock), the
// reference the parity fixtures were produced with.
#pragma once
#include "model/layers.h"

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace sdpp {

// Concatenates tensors of equal trailing shape and dtype along dim 0 into a new contiguous tensor (the
// VAE's mid-block attention packs its q/k/v into one matrix at load).
Tensor stack_rows(const std::vector<Tensor>& ms);

// ResBlock with time-embedding injection (GroupNorm eps 1e-5, 32 groups).
struct ResBlock {
    GroupNorm in_norm;           // in_layers.0
    Conv2d in_conv;              // in_layers.2
    Linear emb_proj;             // emb_layers.1
    GroupNorm out_norm;          // out_layers.0
    Conv2d out_conv;             // out_layers.3
    std::optional<Conv2d> skip;  // skip_connection (1x1, present iff C_in != C_out)

    static ResBlock load(const WeightScope& w, int64_t cin, int64_t cout, int64_t emb_dim);
    int64_t out_channels() const { return out_conv.out_channels(); }
    // x [N, Cin, H, W], emb_act = silu(emb) [N, E] (computed once per forward) -> [N, Cout, H, W]
    Tensor forward(Ctx& ctx, const Tensor& x, const Tensor& emb_act) const;
};

// CrossAttention with heads over H*D packed channels. to_q, to_k and to_v stay three matrices,
// views of the file: packing them into one [3*inner, C] matrix saved no measurable time and kept
// a packed f16 copy resident beside the backend's prepared one for the life of the model (1.3 GB
// for SDXL), whereas a file view's pages are given back once the weight is prepared.
struct Attention {
    Linear q, k, v;  // to_q, to_k, to_v (no bias); k and v read the context in cross-attention
    Linear out;      // to_out.0
    int n_heads = 1;
    bool self_attn = true;
    // Cross-attention's K and V of the text context: the context is the same at every step of a
    // generation, so they are computed once and reused while the context's values, shape and the
    // compute precision stay the same (weights never change under a bound U-Net: networks rebind it).
    struct ContextKV {
        std::mutex mu;
        std::vector<std::byte> context;  // the bytes they were computed from
        Shape shape;
        DType compute = DType::F32;
        Tensor k, v;                     // [B, Sk, inner]
    };
    std::shared_ptr<ContextKV> context_kv = std::make_shared<ContextKV>();

    static Attention load(const WeightScope& w, int n_heads, bool self_attn);
    int64_t inner_dim() const { return out.in_features(); }
    // x [B, S, C], context [B, Sk, Cctx] (ignored for self-attention) -> [B, S, C]
    Tensor forward(Ctx& ctx, const Tensor& x, const Tensor& context) const;
    // Cross-attention: to_k and to_v of context [B, Sk, Cctx] -> [B, Sk, inner] each, from context_kv
    // when it matches.
    std::pair<Tensor, Tensor> context_keys_values(Ctx& ctx, const Tensor& context) const;
};

// BasicTransformerBlock: LN + self-attn, LN + cross-attn, LN + GEGLU feed-forward, each residual.
struct TransformerBlock {
    LayerNorm norm1;   // norm1
    Attention attn1;   // attn1
    LayerNorm norm2;   // norm2
    Attention attn2;   // attn2
    LayerNorm norm3;   // norm3
    Linear ff_in;      // ff.net.0.proj [2F, C] (GEGLU: value half, gate half)
    Linear ff_out;     // ff.net.2 [C, F]

    static TransformerBlock load(const WeightScope& w, int n_heads);
    // h [B, S, C], context [B, Sk, Cctx] -> [B, S, C]
    Tensor forward(Ctx& ctx, const Tensor& h, const Tensor& context) const;
    // norm3 -> GEGLU feed-forward -> residual, over row chunks of h [B, S, C].
    Tensor feed_forward(Ctx& ctx, const Tensor& h) const;
};

// SpatialTransformer: GroupNorm (eps 1e-6), proj_in, transformer blocks, proj_out, residual.
// proj_in/proj_out are 1x1 convs (SD1) or linears (SD2/SDXL); a 1x1 conv is applied as the linear it
// is, on the [N, H*W, C] view, so both forms share one path.
struct SpatialTransformer {
    GroupNorm norm;                       // norm
    Linear proj_in;                       // proj_in  ([inner, C] or [inner, C, 1, 1] viewed as [inner, C])
    std::vector<TransformerBlock> blocks; // transformer_blocks.N
    Linear proj_out;                      // proj_out

    static SpatialTransformer load(const WeightScope& w, int depth, int n_heads);
    // x [N, C, H, W], context [N, Sk, Cctx] -> [N, C, H, W]
    Tensor forward(Ctx& ctx, const Tensor& x, const Tensor& context) const;
};

// One entry of input_blocks / output_blocks (an LDM TimestepEmbedSequential): a ResBlock, an optional
// SpatialTransformer, or a Downsample (op: conv 3x3 stride 2 pad 1) / Upsample (nearest 2x + conv).
struct UNetBlock {
    std::optional<ResBlock> res;            // .0 (ResBlock)
    std::optional<SpatialTransformer> attn; // .1 (after a ResBlock)
    std::optional<Conv2d> down;             // .0.op (a block of its own)
    std::optional<Conv2d> up;               // .1.conv or .2.conv (last entry of an output block)

    // x [N, C, H, W] (taken by value: pass it moved and its buffer is freed after the ResBlock);
    // `up_size` {H, W} is the size the Upsample must produce (the next skip's size: nearest 2x, cropped
    // when the skip has an odd size, exactly what nearest-to-size gives).
    Tensor forward(Ctx& ctx, Tensor x, const Tensor& emb_act, const Tensor& context,
                   const Shape& up_size = {}) const;
};

}  // namespace sdpp
