// Network key mapping at real size: every module of $SDPP_FIXTURES/lora/layouts/*.kohya.json (every
// Linear / Conv2d sd-scripts trains on SD 1.5, SD 2.1 and SDXL) maps, in its kohya name and in its
// diffusers / PEFT name, onto the internal weight that the loader binds from the module's
// checkpoint_key (for OpenCLIP q/k/v: the rows [start, end) of in_proj_weight), with the listed
// weight shape. The "model" is the full-size checkpoint layout of ../layouts/<arch>.json run through
// the loader's key tables. Also: the key parser on every suffix, and the underscore-path rules.
#include "common/parity_support.h"
#include "model/key_map.h"
#include "model/lora_keys.h"

#include <gtest/gtest.h>

#include <fstream>

namespace sdpp {
namespace {

using testing::fixture_path;

nlohmann::json read_json(const std::string& rel) {
    std::ifstream is(fixture_path(rel));
    if (!is) throw Error("cannot open " + fixture_path(rel));
    return nlohmann::json::parse(is);
}

struct Bound {
    std::string checkpoint_key;
    KeyOp op;
    Shape shape;  // of the checkpoint tensor
};

void check_layout(const std::string& arch) {
    const nlohmann::json man = read_json("lora/manifest.json");
    const nlohmann::json& entry = man.at("layouts").at(arch);
    const nlohmann::json kohya = read_json("lora/" + entry.at("file").get<std::string>());
    std::string ckpt_rel = entry.at("checkpoint_layout").get<std::string>();  // "../layouts/sd15.json"
    if (ckpt_rel.starts_with("../")) ckpt_rel = ckpt_rel.substr(3);
    const nlohmann::json ckpt = read_json(ckpt_rel);

    std::vector<std::string> names;
    for (auto& [k, v] : ckpt.at("tensors").items()) names.push_back(k);
    const KeySource src = detect_single_file_source(names, arch);
    KeyMap km(src, names);
    std::map<std::string, Bound> internal;  // internal name -> where it comes from
    for (auto& [k, v] : ckpt.at("tensors").items()) {
        KeyMapping m = km.map(k);
        if (m.cls != KeyClass::Bound) continue;
        for (auto& t : m.targets) internal[t.name] = Bound{k, t.op, v.at("shape").get<Shape>()};
    }
    std::vector<std::string> model_keys;
    for (auto& [k, b] : internal) model_keys.push_back(k);
    NetworkKeyMapper mapper(model_keys);

    int ok = 0, n = 0;
    for (auto& [name, mod] : kohya.at("modules").items()) {
        ++n;
        auto a = mapper.map(name);
        auto b = mapper.map(mod.at("diffusers").get<std::string>());
        ASSERT_TRUE(a) << arch << ": " << name << " maps to no weight (unchecked: "
                       << (mapper.map_unchecked(name) ? mapper.map_unchecked(name)->key : "none") << ")";
        ASSERT_TRUE(b) << arch << ": " << mod.at("diffusers") << " maps to no weight";
        EXPECT_EQ(a->key, b->key) << arch << ": " << name;
        const Bound& src_of = internal.at(a->key);
        EXPECT_EQ(src_of.checkpoint_key, mod.at("checkpoint_key").get<std::string>()) << arch << ": " << name;
        const Shape ws = mod.at("weight_shape").get<Shape>();
        if (mod.at("rows").is_null()) {
            EXPECT_EQ(src_of.op, KeyOp::Copy) << name;
            EXPECT_EQ(numel_of(src_of.shape), numel_of(ws)) << name;
        } else {
            const int64_t start = mod.at("rows")[0], end = mod.at("rows")[1];
            const int64_t w = src_of.shape[0] / 3;
            const KeyOp want = start == 0 ? KeyOp::ChunkQ : start == w ? KeyOp::ChunkK : KeyOp::ChunkV;
            EXPECT_EQ(src_of.op, want) << name;
            EXPECT_EQ(end - start, ws[0]) << name;
            EXPECT_EQ(src_of.shape[1], ws[1]) << name;
        }
        // the factors multiply out to the weight
        const Shape down = mod.at("lora_down.weight").get<Shape>(), up = mod.at("lora_up.weight").get<Shape>();
        EXPECT_EQ(up[0] * numel_of(down) / down[0], numel_of(ws)) << name;
        const NetComponent want_c = name.starts_with("lora_unet_") ? NetComponent::UNet
                                    : name.starts_with("lora_te2_") ? NetComponent::TE2 : NetComponent::TE1;
        EXPECT_EQ(a->component, want_c) << name;
        ok += !::testing::Test::HasFailure();
    }
    EXPECT_EQ(n, entry.at("modules").get<int>());
    std::printf("layout %s: %d/%d modules map onto the checkpoint's weights\n", arch.c_str(), ok, n);
}

TEST(LoraKeys, SD15Layout) { check_layout("sd15"); }
TEST(LoraKeys, SD21Layout) { check_layout("sd21"); }
TEST(LoraKeys, SDXLLayout) { check_layout("sdxl"); }

TEST(LoraKeys, SplitsEverySuffix) {
    EXPECT_EQ(split_network_key("lora_unet_a_b.lora_down.weight").part, NetPart::LoraDown);
    EXPECT_EQ(split_network_key("lora_unet_a_b.lora_down.weight").module, "lora_unet_a_b");
    EXPECT_EQ(split_network_key("unet.x.to_q.lora_A.weight").part, NetPart::LoraDown);
    EXPECT_EQ(split_network_key("unet.x.to_q.lora_B.weight").part, NetPart::LoraUp);
    EXPECT_EQ(split_network_key("m.alpha").part, NetPart::Alpha);
    EXPECT_EQ(split_network_key("m.hada_w2_b").part, NetPart::HadaW2B);
    EXPECT_EQ(split_network_key("m.lokr_w1").part, NetPart::LokrW1);
    EXPECT_EQ(split_network_key("m.lokr_w1_a").part, NetPart::LokrW1A);
    EXPECT_EQ(split_network_key("m.lokr_w2_b").part, NetPart::LokrW2B);
    EXPECT_EQ(split_network_key("m.dora_scale").part, NetPart::DoraScale);
    EXPECT_EQ(split_network_key(".alpha").part, NetPart::Unknown);  // no module name
    EXPECT_EQ(split_network_key("something.else").part, NetPart::Unknown);
    EXPECT_EQ(split_network_key("").part, NetPart::Unknown);
}

TEST(LoraKeys, UnderscorePaths) {
    EXPECT_EQ(dotted_module_path("down_blocks_0_attentions_1_transformer_blocks_0_attn1_to_out_0"),
              "down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_out.0");
    EXPECT_EQ(dotted_module_path("mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj"),
              "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj");
    EXPECT_EQ(dotted_module_path("input_blocks_4_1_proj_in"), "input_blocks.4.1.proj_in");
    EXPECT_EQ(dotted_module_path("output_blocks_5_0_skip_connection"), "output_blocks.5.0.skip_connection");
    EXPECT_EQ(dotted_module_path("text_model_encoder_layers_11_self_attn_out_proj"),
              "text_model.encoder.layers.11.self_attn.out_proj");
    EXPECT_EQ(dotted_module_path(""), "");
    EXPECT_NO_THROW(dotted_module_path("___"));  // odd names: no crash (they map to nothing)
}

}  // namespace
}  // namespace sdpp
