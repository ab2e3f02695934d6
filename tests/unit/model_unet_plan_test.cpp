// plan_unet: the SD 1.5 U-Net's blocks as openaimodel.UNetModel builds them (keys, channels with the
// concatenated skips, attention levels, resampling positions).
#include "core/error.h"
#include "model/unet_plan.h"

#include <gtest/gtest.h>

namespace sdpp {
namespace {

UNetConfig sd15() {
    UNetConfig c;
    c.level_channels = {320, 640, 1280, 1280};
    c.num_res_blocks = {2, 2, 2, 2};
    c.transformer_depth = {1, 1, 1, 0};
    c.heads = {8, 8, 8, 0};
    return c;
}

TEST(ModelUNetPlan, Sd15Blocks) {
    const UNetPlan p = plan_unet(sd15());
    ASSERT_EQ(p.input_blocks.size(), 11u);  // input_blocks.1 .. 11
    EXPECT_EQ(p.input_blocks[0].key, "input_blocks.1");
    EXPECT_EQ(p.input_blocks[2].key, "input_blocks.3");
    EXPECT_TRUE(p.input_blocks[2].down);
    EXPECT_EQ(p.input_blocks[3].in_channels, 320);   // input_blocks.4: 320 -> 640 (skip_connection)
    EXPECT_EQ(p.input_blocks[3].out_channels, 640);
    EXPECT_EQ(p.input_blocks[3].level, 1);
    EXPECT_EQ(p.input_blocks[10].transformer_depth, 0);  // the last level has no attention
    EXPECT_EQ(p.middle.key, "middle_block");
    EXPECT_EQ(p.middle.in_channels, 1280);
    EXPECT_EQ(p.middle.tail_index(), 2);
    ASSERT_EQ(p.output_blocks.size(), 12u);
    EXPECT_EQ(p.output_blocks[0].in_channels, 2560);  // 1280 + the skip of input_blocks.11
    EXPECT_EQ(p.output_blocks[2].in_channels, 1280 + 1280);
    EXPECT_TRUE(p.output_blocks[2].up);
    EXPECT_EQ(p.output_blocks[2].tail_index(), 1);     // no attention at that level: output_blocks.2.1.conv
    EXPECT_EQ(p.output_blocks[5].tail_index(), 2);     // output_blocks.5.2.conv
    EXPECT_EQ(p.output_blocks[11].in_channels, 320 + 320);
    EXPECT_EQ(p.output_blocks[11].heads, 8);
    EXPECT_FALSE(p.output_blocks[11].up);
}

TEST(ModelUNetPlan, ListsNeedOneEntryPerLevel) {
    UNetConfig c = sd15();
    c.transformer_depth.pop_back();
    EXPECT_THROW(plan_unet(c), Error);
}

}  // namespace
}  // namespace sdpp
