// U-Net block sequence (see unet_plan.h), as openaimodel.UNetModel.__init__ builds it.
#include "model/unet_plan.h"

#include "core/error.h"

namespace sdpp {

UNetPlan plan_unet(const UNetConfig& cfg) {
    const int levels = cfg.levels();
    SDPP_CHECK(levels > 0 && cfg.num_res_blocks.size() == size_t(levels) && cfg.transformer_depth.size() == size_t(levels),
               "U-Net config has ", levels, " levels but ", cfg.num_res_blocks.size(), " res-block counts and ",
               cfg.transformer_depth.size(), " transformer depths");
    auto heads_at = [&](int l) { return size_t(l) < cfg.heads.size() ? cfg.heads[size_t(l)] : 0; };
    UNetPlan plan;
    std::vector<int64_t> skips{cfg.model_channels};  // input_block_chans: every input block's output width
    int64_t ch = cfg.model_channels;
    int k = 1;
    for (int l = 0; l < levels; ++l) {
        const int64_t c = cfg.level_channels[size_t(l)];
        for (int j = 0; j < cfg.num_res_blocks[size_t(l)]; ++j, ++k) {
            plan.input_blocks.push_back({.key = "input_blocks." + std::to_string(k), .level = l, .in_channels = ch,
                                         .out_channels = c, .transformer_depth = cfg.transformer_depth[size_t(l)],
                                         .heads = heads_at(l)});
            ch = c;
            skips.push_back(ch);
        }
        if (l + 1 < levels) {
            plan.input_blocks.push_back({.key = "input_blocks." + std::to_string(k++), .level = l, .in_channels = ch,
                                         .out_channels = ch, .down = true});
            skips.push_back(ch);
        }
    }
    plan.middle = {.key = "middle_block", .level = levels - 1, .in_channels = ch, .out_channels = ch,
                   .transformer_depth = cfg.transformer_depth_middle, .heads = cfg.heads_middle};
    k = 0;
    for (int l = levels - 1; l >= 0; --l) {
        const int64_t c = cfg.level_channels[size_t(l)];
        for (int j = 0; j <= cfg.num_res_blocks[size_t(l)]; ++j, ++k) {
            const int64_t skip = skips.back();
            skips.pop_back();
            plan.output_blocks.push_back({.key = "output_blocks." + std::to_string(k), .level = l,
                                          .in_channels = ch + skip, .out_channels = c,
                                          .transformer_depth = cfg.transformer_depth[size_t(l)], .heads = heads_at(l),
                                          .up = l > 0 && j == cfg.num_res_blocks[size_t(l)]});
            ch = c;
        }
    }
    return plan;
}

}  // namespace sdpp
