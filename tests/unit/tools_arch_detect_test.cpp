// UNetConfig::detect / VAEConfig::detect on the full-size SD 1.5, SD 1.5 inpainting, SD 2.1 and SDXL
// architectures (key names and shapes from random_model's architecture presets), checked against the
// published configs (diffusers unet/config.json and vae/config.json of the real releases). Detection
// reads shapes only, so the tensors here are shape-only views of one shared dummy byte.
#include "model/model_info.h"
#include "tools/random_model.h"
#include "model/unet.h"
#include "model/vae.h"

#include <gtest/gtest.h>

#include <memory>

namespace sdpp {
namespace {

std::unique_ptr<WeightStore> shape_only_store(const std::string& arch) {
    static const auto dummy = std::make_shared<std::byte>();
    auto store = std::make_unique<WeightStore>();
    for (const auto& t : checkpoint_tensors(arch_preset(arch)))
        if (t.name.starts_with("model.diffusion_model.") || t.name.starts_with("first_stage_model."))
            store->add(t.name, Tensor::borrow(dummy, dummy.get(), t.shape, DType::F16));
    return store;
}

struct Expected {
    const char* arch;
    int64_t in_channels;
    std::vector<int64_t> channels;
    std::vector<int> depth;
    int depth_mid;
    std::vector<int> heads;
    int heads_mid;
    int64_t context;
    bool linear;
    int64_t adm;
    float vae_scale;
};

TEST(ModelUNetArch, DetectsTheReleasedArchitectures) {
    // Heads from the family defaults (no hints): SD1 8 heads; SD2/SDXL 64 channels per head.
    const std::vector<Expected> cases = {
        {"sd15", 4, {320, 640, 1280, 1280}, {1, 1, 1, 0}, 1, {8, 8, 8, 0}, 8, 768, false, 0, 0.18215f},
        {"sd15-inpaint", 9, {320, 640, 1280, 1280}, {1, 1, 1, 0}, 1, {8, 8, 8, 0}, 8, 768, false, 0, 0.18215f},
        {"sd21", 4, {320, 640, 1280, 1280}, {1, 1, 1, 0}, 1, {5, 10, 20, 0}, 20, 1024, true, 0, 0.18215f},
        {"sdxl", 4, {320, 640, 1280}, {0, 2, 10}, 10, {0, 10, 20}, 20, 2048, true, 2816, 0.13025f},
    };
    for (const auto& e : cases) {
        SCOPED_TRACE(e.arch);
        auto store = shape_only_store(e.arch);
        UNetConfig c = UNetConfig::detect(*store, {});
        EXPECT_EQ(c.in_channels, e.in_channels);
        EXPECT_EQ(c.out_channels, 4);
        EXPECT_EQ(c.model_channels, 320);
        EXPECT_EQ(c.level_channels, e.channels);
        EXPECT_EQ(c.num_res_blocks, std::vector<int>(e.channels.size(), 2));
        EXPECT_EQ(c.transformer_depth, e.depth);
        EXPECT_EQ(c.transformer_depth_middle, e.depth_mid);
        EXPECT_EQ(c.heads, e.heads);
        EXPECT_EQ(c.heads_middle, e.heads_mid);
        EXPECT_EQ(c.context_dim, e.context);
        EXPECT_EQ(c.linear_projection, e.linear);
        EXPECT_EQ(c.time_embed_dim, 1280);
        EXPECT_EQ(c.adm_in_channels, e.adm);

        VAEConfig v = VAEConfig::detect(*store, {});
        EXPECT_EQ(v.level_channels, (std::vector<int64_t>{128, 256, 512, 512}));
        EXPECT_EQ(v.num_res_blocks, 2);
        EXPECT_EQ(v.z_channels, 4);
        EXPECT_EQ(v.latent_channels, 4);
        EXPECT_TRUE(v.mid_attention);
        EXPECT_EQ(v.downscale(), 8);
        EXPECT_FLOAT_EQ(v.scaling_factor, e.vae_scale);
    }
}

// Hints override the defaults: diffusers' per-level head list, LDM channels per head.
TEST(ModelUNetArch, HeadsFromHints) {
    auto store = shape_only_store("sd21");
    ModelHints h;
    h.unet_heads_per_level = std::vector<int>{5, 10, 20, 20};
    EXPECT_EQ(UNetConfig::detect(*store, h).heads, (std::vector<int>{5, 10, 20, 0}));
    h = {};
    h.unet_head_channels = 32;
    UNetConfig c = UNetConfig::detect(*store, h);
    EXPECT_EQ(c.heads, (std::vector<int>{10, 20, 40, 0}));
    EXPECT_EQ(c.heads_middle, 40);
    h.unet_head_channels = 48;  // 320 does not split into heads of 48
    EXPECT_THROW(UNetConfig::detect(*store, h), Error);
}

}  // namespace
}  // namespace sdpp
