// Extra-network tags (A1111 modules/extra_networks.py parse_prompt, extra_networks_lora.py): the
// tag forms, what is removed from the text, and bad tags. The fixture cases' prompts
// ($SDPP_FIXTURES/lora/manifest.json settings.prompt -> derived.prompt_after_tag_removal) too.
#include "common/parity_support.h"
#include "text/extra_networks.h"

#include <gtest/gtest.h>

#include <fstream>

namespace sdpp::text {
namespace {

TEST(ExtraNetworks, RemovesEveryTagAndKeepsSpaces) {
    auto p = parse_extra_networks("a cat <lora:foo:0.8> on a sofa <hypernet:bar:1>, red");
    EXPECT_EQ(p.text, "a cat  on a sofa , red");
    ASSERT_EQ(p.tags.size(), 2u);
    EXPECT_EQ(p.tags[0].type, "lora");
    EXPECT_EQ(p.tags[1].type, "hypernet");
    auto none = parse_extra_networks("a <b> c <:x> <lora:> d < lora:x>");
    EXPECT_EQ(none.text, "a <b> c <:x> <lora:> d < lora:x>");
    EXPECT_TRUE(none.tags.empty());
}

TEST(ExtraNetworks, LoraForms) {
    auto tags = lora_tags(parse_extra_networks("<lora:a> <lora:b:0.5> <lora:c:0.5:0.25> <lyco:d:te=0.3:unet=0.7>"
                                               " <lora:e:0.6:unet=0> <lora:f:2:te=1>")
                              .tags);
    ASSERT_EQ(tags.size(), 6u);
    EXPECT_EQ(tags[0].name, "a");
    EXPECT_FLOAT_EQ(tags[0].te_multiplier, 1.0f);
    EXPECT_FLOAT_EQ(tags[0].unet_multiplier, 1.0f);
    EXPECT_FLOAT_EQ(tags[1].te_multiplier, 0.5f);
    EXPECT_FLOAT_EQ(tags[1].unet_multiplier, 0.5f);
    EXPECT_FLOAT_EQ(tags[2].te_multiplier, 0.5f);
    EXPECT_FLOAT_EQ(tags[2].unet_multiplier, 0.25f);
    EXPECT_EQ(tags[3].name, "d");
    EXPECT_FLOAT_EQ(tags[3].te_multiplier, 0.3f);
    EXPECT_FLOAT_EQ(tags[3].unet_multiplier, 0.7f);
    EXPECT_FLOAT_EQ(tags[4].te_multiplier, 0.6f);
    EXPECT_FLOAT_EQ(tags[4].unet_multiplier, 0.0f);
    EXPECT_FLOAT_EQ(tags[5].te_multiplier, 1.0f);  // te= overrides; unet defaults to the final te (A1111)
    EXPECT_FLOAT_EQ(tags[5].unet_multiplier, 1.0f);
}

TEST(ExtraNetworks, BadTagsAreOneLineErrors) {
    EXPECT_THROW(lora_tags(parse_extra_networks("<lora:a:x>").tags), Error);
    EXPECT_THROW(lora_tags(parse_extra_networks("<lora:a:te=nan>").tags), Error);
    EXPECT_THROW(lora_tags(parse_extra_networks("<lora::1>").tags), Error);
    try {
        lora_tags(parse_extra_networks("<lora:a:0.5x>").tags);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "<lora:a:0.5x>: '0.5x' is not a number");
    }
}

TEST(ExtraNetworks, FixturePrompts) {
    std::ifstream is(sdpp::testing::fixture_path("lora/manifest.json"));
    ASSERT_TRUE(is);
    const auto m = nlohmann::json::parse(is);
    int n = 0;
    for (auto& [name, c] : m.at("lora").items()) {
        if (c.at("kind") != "e2e") continue;
        auto p = parse_extra_networks(c.at("settings").at("prompt").get<std::string>());
        EXPECT_EQ(p.text, c.at("derived").at("prompt_after_tag_removal").get<std::string>()) << name;
        auto tags = lora_tags(p.tags);
        const auto& nets = c.at("derived").at("networks");
        ASSERT_EQ(tags.size(), nets.size()) << name;
        for (size_t i = 0; i < tags.size(); ++i) {
            EXPECT_EQ(tags[i].name, nets[i].at("name").get<std::string>());
            EXPECT_FLOAT_EQ(tags[i].te_multiplier, nets[i].at("te_multiplier").get<float>());
            EXPECT_FLOAT_EQ(tags[i].unet_multiplier, nets[i].at("unet_multiplier").get<float>());
        }
        ++n;
    }
    EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace sdpp::text
