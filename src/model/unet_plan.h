// The U-Net's block sequence computed once from a UNetConfig, in the order and under the keys of
// ldm/sgm openaimodel.UNetModel.__init__ (input_blocks with input_block_chans, middle_block,
// output_blocks concatenating the skips in reverse). The loader (unet.cpp), the FLOP counter
// (tools/flops.cpp) and the random-model writer (tools/random_model.cpp) all walk this list, so the
// structure is written in one place.
#pragma once
#include "model/unet.h"

#include <string>
#include <vector>

namespace sdpp {

// One TimestepEmbedSequential: a Downsample alone, or a ResBlock with an optional SpatialTransformer
// after it and, closing an output level, an Upsample.
struct UNetBlockPlan {
    std::string key;             // scope under model.diffusion_model.: "input_blocks.4", "output_blocks.2"
    int level = 0;               // resolution level the block runs at (0 = the latent size)
    int64_t in_channels = 0;     // ResBlock input; an output block's includes the skip it concatenates
    int64_t out_channels = 0;
    int transformer_depth = 0;   // SpatialTransformer at <key>.1 (0 = none)
    int heads = 0;               // its attention heads
    bool down = false;           // Downsample only: <key>.0.op, conv 3x3 stride 2 to level + 1
    bool up = false;             // closes with an Upsample: <key>.<tail_index()>.conv

    // Index of the module after the ResBlock and its transformer: an output block's Upsample, the
    // middle block's second ResBlock.
    int tail_index() const { return transformer_depth > 0 ? 2 : 1; }
};

struct UNetPlan {
    std::vector<UNetBlockPlan> input_blocks;   // input_blocks.1 .. (input_blocks.0 is conv_in)
    // middle_block: ResBlock .0, SpatialTransformer .1 when transformer_depth > 0, ResBlock .<tail_index()>.
    UNetBlockPlan middle;
    std::vector<UNetBlockPlan> output_blocks;  // output_blocks.0 .., deepest level first
};

// Throws sdpp::Error when the per-level lists do not have one entry per level.
UNetPlan plan_unet(const UNetConfig& cfg);

}  // namespace sdpp
