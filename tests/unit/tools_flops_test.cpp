// model/flops.h: the analytic U-Net / VAE-decoder FLOP counts `sdpp bench` divides by the matmul peak.
// A tiny U-Net and a tiny VAE counted by hand (every product written out below), batch linearity,
// odd latent sizes, and the full-size SD 1.5 figures issue 8 quotes (0.80 TFLOP per U-Net image at a
// 64x64 latent, 2.5 TFLOP for the 512x512 decode).
#include "tools/flops.h"

#include <gtest/gtest.h>

namespace sdpp {
namespace {

// 2 levels (8, 16 channels), one ResBlock per level, attention (depth 1) on level 0 only, no mid
// attention, context 4 wide, time embedding 32.
UNetConfig tiny_unet() {
    UNetConfig c;
    c.in_channels = 4;
    c.out_channels = 4;
    c.model_channels = 8;
    c.level_channels = {8, 16};
    c.num_res_blocks = {1, 1};
    c.transformer_depth = {1, 0};
    c.transformer_depth_middle = 0;
    c.heads = {2, 0};
    c.heads_middle = 0;
    c.context_dim = 4;
    c.time_embed_dim = 32;
    return c;
}

TEST(ModelFlops, TinyUNetByHand) {
    // Batch 1, latent 4x4, 2 context tokens. FLOPs = 2 * multiply-adds.
    //  time_embed: 2*8*32 + 2*32*32                                     = 2560 linear
    //  conv_in 4->8 @4x4: 2*16*8*4*9                                    = 9216
    //  L0 res 8->8 @4x4: 2 convs 2*16*8*8*9 = 36864; emb 2*32*8 = 512
    //  transformer c=8, S=16 (x3 in all: L0 down, L0 up x2), each:
    //    linear: proj_in, attn1.out, attn2.q, attn2.out, proj_out 5*2*16*8*8 = 10240,
    //            qkv 2*16*8*24 = 6144, kv 2*2*4*16 = 256, ff 2*16*8*64 + 2*16*32*8 = 24576 -> 41216
    //    attention: self 4*16*16*8 = 8192, cross 4*16*2*8 = 1024 -> 9216
    //  down 8->8 @2x2: 2*4*8*8*9                                        = 4608
    //  L1 res 8->16 @2x2: 2*4*16*8*9 + 2*4*16*16*9 + skip 2*4*8*16      = 28672; emb 1024
    //  mid 2 res 16->16 @2x2: 4 * 18432 = 73728; emb 2*1024
    //  up L1 j0 (skip 16): res 32->16: 36864 + 18432 + 4096             = 59392; emb 1024
    //  up L1 j1 (skip 8):  res 24->16: 27648 + 18432 + 3072             = 49152; emb 1024
    //  upsample conv 16->16 @4x4: 2*16*16*16*9                          = 73728
    //  up L0 j0 (skip 8): res 24->8 @4x4: 55296 + 18432 + 6144          = 79872; emb 512
    //  up L0 j1 (skip 8): res 16->8: 36864 + 18432 + 4096               = 59392; emb 512
    //  out 8->4 @4x4: 2*16*4*8*9                                        = 9216
    FlopCount f = unet_flops(tiny_unet(), 1, 4, 4, 2);
    EXPECT_DOUBLE_EQ(f.conv, 9216 + 36864 + 4608 + 28672 + 73728 + 59392 + 49152 + 73728 + 79872 + 59392 + 9216);
    EXPECT_DOUBLE_EQ(f.linear, 2560 + 512 + 1024 + 2 * 1024 + 1024 + 1024 + 512 + 512 + 3 * 41216);
    EXPECT_DOUBLE_EQ(f.attention, 3 * 9216);
    EXPECT_DOUBLE_EQ(f.total(), 644352);  // the hand counts above: 483840 conv + 132864 linear + 27648 attention
}

TEST(ModelFlops, SdxlLabelEmbeddingAndMidAttentionCount) {
    UNetConfig c = tiny_unet();
    FlopCount base = unet_flops(c, 1, 4, 4, 2);
    c.adm_in_channels = 10;  // label_emb: 2*10*32 + 2*32*32
    EXPECT_DOUBLE_EQ(unet_flops(c, 1, 4, 4, 2).linear - base.linear, 2 * 10 * 32 + 2 * 32 * 32);
    c.adm_in_channels = 0;
    c.transformer_depth_middle = 1;  // mid transformer c=16 at 2x2 (S=4)
    FlopCount mid = unet_flops(c, 1, 4, 4, 2);
    // linear: 5*2*4*16*16 + 2*4*16*48 + 2*2*4*32 + 2*4*16*128 + 2*4*64*16 = 10240+6144+512+16384+8192
    EXPECT_DOUBLE_EQ(mid.linear - base.linear, 41472);
    // attention: 4*4*4*16 + 4*4*2*16
    EXPECT_DOUBLE_EQ(mid.attention - base.attention, 1024 + 512);
    EXPECT_DOUBLE_EQ(mid.conv, base.conv);
}

TEST(ModelFlops, LinearInBatchAndOddSizesWork) {
    UNetConfig c = tiny_unet();
    FlopCount one = unet_flops(c, 1, 6, 10, 77), two = unet_flops(c, 2, 6, 10, 77);
    EXPECT_DOUBLE_EQ(two.total(), 2 * one.total());
    // Odd latent (5x3): downsample to 3x2, upsample back to the skip's 5x3; more work than 4x2 (8 vs 15 positions).
    FlopCount odd = unet_flops(c, 1, 5, 3, 2), even = unet_flops(c, 1, 4, 2, 2);
    EXPECT_GT(odd.conv, even.conv);
    EXPECT_GT(odd.total(), 0);
    EXPECT_THROW(unet_flops(c, 0, 4, 4), Error);
    c.num_res_blocks.pop_back();
    EXPECT_THROW(unet_flops(c, 1, 4, 4), Error);
}

TEST(ModelFlops, TinyVaeDecodeByHand) {
    VAEConfig c;
    c.level_channels = {8, 16};
    c.num_res_blocks = 1;
    c.z_channels = 4;
    c.latent_channels = 4;
    // Batch 1, latent 2x2:
    //  post_quant_conv 1x1 4->4: 2*4*4*4 = 128;  conv_in 4->16: 2*4*16*4*9 = 4608
    //  mid: 2 res 16->16 = 4 * 18432 = 73728; attn q|k|v 2*4*16*48 = 6144, proj 2*4*16*16 = 2048,
    //       products 4*4*4*16 = 1024 (attention)
    //  level 1: 2 res 16->16 @2x2 = 73728; upsample conv @4x4 2*16*16*16*9 = 73728
    //  level 0: res 16->8 @4x4: 36864 + 18432 + nin 4096 = 59392; res 8->8: 2 * 18432
    //  conv_out 8->3: 2*16*3*8*9 = 6912
    FlopCount f = vae_decode_flops(c, 1, 2, 2);
    EXPECT_DOUBLE_EQ(f.conv, 128 + 4608 + 73728 + 6144 + 2048 + 73728 + 73728 + 59392 + 36864 + 6912);
    EXPECT_DOUBLE_EQ(f.attention, 1024);
    EXPECT_DOUBLE_EQ(f.linear, 0);
    c.mid_attention = false;
    c.post_quant_conv = false;
    EXPECT_DOUBLE_EQ(vae_decode_flops(c, 1, 2, 2).total(), f.total() - 128 - 6144 - 2048 - 1024);
}

TEST(ModelFlops, FullSizeSd15MatchesIssueFigures) {
    UNetConfig u;  // SD 1.5: 320 * [1, 2, 4, 4], 2 res blocks, attention on the first three levels
    u.level_channels = {320, 640, 1280, 1280};
    u.num_res_blocks = {2, 2, 2, 2};
    u.transformer_depth = {1, 1, 1, 0};
    u.heads = {8, 8, 8, 0};
    const double per_image = unet_flops(u, 1, 64, 64).total();
    EXPECT_NEAR(per_image / 1e12, 0.80, 0.03);  // issue 8: 0.80 TFLOP per image per step
    EXPECT_DOUBLE_EQ(unet_flops(u, 2, 64, 64).total(), 2 * per_image);

    VAEConfig v;  // SD VAE: 128 * [1, 2, 4, 4]
    v.level_channels = {128, 256, 512, 512};
    const double dec = vae_decode_flops(v, 1, 64, 64).total();
    EXPECT_NEAR(dec / 1e12, 2.5, 0.1);  // issue 8: 2.5 TFLOP for the 512x512 decode
}

}  // namespace
}  // namespace sdpp
