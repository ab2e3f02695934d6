// `sdpp inspect`'s per-component summary (tools/summary.h) reads the tiny fixtures' architecture.
#include "common/parity_support.h"
#include "model/loader.h"
#include "tools/summary.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace sdpp {
namespace {

using sdpp::testing::fixture_path;

TEST(ToolsSummary, ReadsTheArchitecture) {
    auto facts = [](const LoadedModel& m, const std::string& comp) {
        std::map<std::string, std::string> out;
        for (auto& c : summarize_components(m.weights(), m.hints, m.dtypes))
            if (c.name == comp) {
                for (auto& [k, v] : c.arch) out[k] = v;
                out["#dtypes"] = std::to_string(c.dtypes.size()) + c.dtypes.begin()->first;
            }
        return out;
    };
    LoadedModel sd1 = load_model(fixture_path("models/sd1-tiny/diffusers"));
    auto u = facts(sd1, "unet");
    EXPECT_EQ(u["channel_mult"], "1,1,2,2");
    EXPECT_EQ(u["num_res_blocks"], "2,2,2,2");
    EXPECT_EQ(u["transformer_depth"], "1,1,1,0");
    EXPECT_EQ(u["heads"], "8,8,8,-");
    EXPECT_EQ(u["context_dim"], "16");
    EXPECT_EQ(u["proj_in/out"], "conv 1x1");
    EXPECT_EQ(u["#dtypes"], "1f16");
    LoadedModel xl = load_model(fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors"));
    u = facts(xl, "unet");
    EXPECT_EQ(u["transformer_depth"], "0,1,2");
    EXPECT_EQ(u["transformer_depth_middle"], "2");
    EXPECT_EQ(u["heads"], "-,2,4");
    EXPECT_EQ(u["adm_in_channels"], "128");
    EXPECT_EQ(u["proj_in/out"], "linear");
    auto v = facts(xl, "vae");
    EXPECT_EQ(v["ch_mult"], "1,1,2,2");
    EXPECT_EQ(v["z_channels"], "4");
    auto t2 = facts(xl, "te2");
    EXPECT_EQ(t2["num_hidden_layers"], "12");
    EXPECT_EQ(t2["hidden_size"], "32");
    EXPECT_EQ(t2["projection_dim"], "32");
    EXPECT_EQ(t2["num_attention_heads"], "2");
}

}  // namespace
}  // namespace sdpp
