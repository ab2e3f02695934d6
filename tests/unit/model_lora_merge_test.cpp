// The merge on a small hand-made store: the result equals W + m * scale * up @ down computed here
// in double; LoKr's scale rule (full factors: 1 whatever alpha says; decomposed: alpha / rank);
// modules that match no weight are reported and the rest applied; a shape mismatch is an error that
// leaves the store's original tensors bound; restore() rebinds the very tensors the store had; a
// kohya LoRA saved as a torch .pt zip reads through the restricted unpickler.
#include "common/ckpt_writer.h"
#include "model/lora_apply.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <unistd.h>

namespace sdpp {
namespace {

const std::string kW = "model.diffusion_model.input_blocks.1.1.proj_in.weight";
const std::string kTe = "te1.text_model.encoder.layers.0.mlp.fc1.weight";

Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::F16) {
    std::mt19937_64 g(seed);
    std::normal_distribution<float> nd;
    std::vector<float> v(size_t(numel_of(s)));
    for (float& x : v) x = nd(g);
    return Tensor::from_vector(v, s).to(dt);
}

std::unique_ptr<WeightStore> make_store() {
    auto st = std::make_unique<WeightStore>();
    st->add(kW, rnd({8, 6}, 1));
    st->add(kTe, rnd({12, 4}, 2));
    return st;
}

std::shared_ptr<const NetworkFile> network(std::vector<std::pair<std::string, Tensor>> tensors) {
    auto nf = std::make_shared<NetworkFile>();
    nf->path = "mem";
    nf->modules = group_network_tensors(tensors, &nf->unknown_keys);
    return nf;
}

TEST(LoraMerge, LoraEqualsTheFormulaAndRestoreRebinds) {
    auto st = make_store();
    const Tensor w0 = st->raw(kW), t0 = st->raw(kTe);
    const Tensor down = rnd({3, 6}, 3), up = rnd({8, 3}, 4), alpha = Tensor::full({}, 1.5f).to(DType::F16);
    auto nf = network({{"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", down},
                       {"lora_unet_input_blocks_1_1_proj_in.lora_up.weight", up},
                       {"lora_unet_input_blocks_1_1_proj_in.alpha", alpha},
                       {"lora_unet_input_blocks_9_9_nothing.lora_down.weight", down},
                       {"lora_unet_input_blocks_9_9_nothing.lora_up.weight", up},
                       {"stray_tensor", down}});
    Ctx ctx;
    NetworkMerger m;
    // SGM-form U-Net names are what SDXL kohya files use: the store plays an SDXL model here.
    MergeReport r = m.apply(ctx, *st, "sdxl", {NetworkUse{nf, "n", 0.3f, 0.7f}});
    EXPECT_EQ(r.modules_applied, 1);
    ASSERT_EQ(r.unmatched.size(), 1u);
    EXPECT_NE(r.unmatched[0].find("lora_unet_input_blocks_9_9_nothing"), std::string::npos) << r.unmatched[0];
    EXPECT_NE(r.unmatched[0].find("stray_tensor (unknown tensor)"), std::string::npos) << r.unmatched[0];
    EXPECT_TRUE(r.unet_changed);
    EXPECT_FALSE(r.te_changed);
    const Tensor w = st->raw(kW);
    ASSERT_EQ(w.dtype(), DType::F32);
    const double s = 1.5 / 3 * 0.7;
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 6; ++j) {
            double d = 0;
            for (int k = 0; k < 3; ++k) d += double(up.at({i, k})) * double(down.at({k, j}));
            EXPECT_NEAR(w.at({i, j}), double(w0.at({i, j})) + s * d, 1e-5) << i << "," << j;
        }
    EXPECT_EQ(st->raw(kTe).raw(), t0.raw());
    m.restore(*st);
    EXPECT_EQ(st->raw(kW).raw(), w0.raw());
    EXPECT_EQ(st->raw(kW).dtype(), DType::F16);
}

TEST(LoraMerge, LokrScaleRule) {
    auto st = make_store();
    const Tensor w0 = st->raw(kTe).to(DType::F32);
    const Tensor w1 = rnd({3, 2}, 5), w2 = rnd({4, 2}, 6);
    const Tensor alpha = Tensor::full({}, 7.0f).to(DType::F16);
    auto full = network({{"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w1", w1},
                         {"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w2", w2},
                         {"lora_te_text_model_encoder_layers_0_mlp_fc1.alpha", alpha}});
    EXPECT_FLOAT_EQ(full->modules[0].scale(), 1.0f);  // alpha ignored with two full factors
    Ctx ctx;
    Tensor d = network_delta(ctx, full->modules[0], {12, 4});
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 4; ++b)
            for (int c = 0; c < 2; ++c)
                for (int e = 0; e < 2; ++e)
                    EXPECT_FLOAT_EQ(d.at({a * 4 + b, c * 2 + e}), w1.at({a, c}) * w2.at({b, e}));
    const Tensor w2a = rnd({4, 1}, 7), w2b = rnd({1, 2}, 8);
    auto dec = network({{"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w1", w1},
                        {"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w2_a", w2a},
                        {"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w2_b", w2b},
                        {"lora_te_text_model_encoder_layers_0_mlp_fc1.alpha", alpha}});
    EXPECT_FLOAT_EQ(dec->modules[0].scale(), 7.0f);  // alpha / rank 1
    NetworkMerger m;
    MergeReport r = m.apply(ctx, *st, "sd1", {NetworkUse{dec, "k", 0.5f, 1.0f}});
    EXPECT_TRUE(r.te_changed);
    Tensor dd = network_delta(ctx, dec->modules[0], {12, 4}, 0.5f);
    EXPECT_NEAR(st->raw(kTe).at({5, 3}), w0.at({5, 3}) + dd.at({5, 3}), 1e-5);
}

TEST(LoraMerge, ShapeMismatchIsAnErrorAndLeavesTheOriginals) {
    auto st = make_store();
    const Tensor w0 = st->raw(kW);
    auto bad = network({{"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", rnd({3, 7}, 1)},
                        {"lora_unet_input_blocks_1_1_proj_in.lora_up.weight", rnd({8, 3}, 2)}});
    Ctx ctx;
    NetworkMerger m;
    try {
        m.apply(ctx, *st, "sdxl", {NetworkUse{bad, "bad", 1.0f, 1.0f}});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("network 'bad' does not fit this SDXL model"), std::string::npos) << e.what();
    }
    EXPECT_EQ(st->raw(kW).raw(), w0.raw());
    auto none = network({{"lora_unet_x.lora_down.weight", rnd({3, 7}, 1)}, {"lora_unet_x.lora_up.weight", rnd({8, 3}, 2)}});
    EXPECT_THROW(m.apply(ctx, *st, "sdxl", {NetworkUse{none, "none", 1.0f, 1.0f}}), Error);
    EXPECT_THROW(group_network_tensors({{"m.lora_down.weight", Tensor::zeros({2, 2}, DType::I64)}}, nullptr), Error);
}

TEST(LoraMerge, PickledLoraReadsThroughTheRestrictedUnpickler) {
    using namespace sdpp::testing;
    CkptSpec spec;
    const std::vector<float> d(3 * 6, 0.25f), u(8 * 3, 0.5f);
    spec.tensors = {{"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", DType::F16, "0", 18, 0, {3, 6}},
                    {"lora_unet_input_blocks_1_1_proj_in.lora_up.weight", DType::F16, "1", 24, 0, {8, 3}}};
    spec.storages = {{"0", storage_bytes(d, DType::F16)}, {"1", storage_bytes(u, DType::F16)}};
    const std::string path = (std::filesystem::temp_directory_path() / ("sdpp_lora_" + std::to_string(getpid()) + ".pt")).string();
    write_ckpt(path, spec);
    NetworkFile nf = read_network_file(path);
    std::filesystem::remove(path);
    ASSERT_EQ(nf.modules.size(), 1u);
    EXPECT_EQ(nf.modules[0].kind, NetKind::LoRA);
    EXPECT_EQ(nf.kind(), "LoRA");
    Ctx ctx;
    Tensor delta = network_delta(ctx, nf.modules[0], {8, 6});
    EXPECT_FLOAT_EQ(delta.at({2, 4}), 3 * 0.25f * 0.5f);  // no alpha: scale 1
}

}  // namespace
}  // namespace sdpp
