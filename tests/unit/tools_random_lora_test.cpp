// make-random-lora covers exactly the modules a real kohya LoRA / LoCon file trains: for each tiny
// fixture model, the weights its random network maps onto are the weights the fixture's kohya file
// (written by the oracle from sd-scripts' module list) maps onto; and the file merges cleanly.
#include "common/parity_support.h"
#include "model/loader.h"
#include "model/lora_apply.h"
#include "tools/random_lora.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

namespace sdpp {
namespace {

std::set<std::string> targets(const NetworkFile& nf, const NetworkKeyMapper& mapper) {
    std::set<std::string> out;
    for (const NetModule& m : nf.modules) {
        auto t = mapper.map(m.name);
        EXPECT_TRUE(t) << m.name;
        if (t) out.insert(t->key);
    }
    return out;
}

TEST(RandomLora, SameModulesAsKohyaFixtures) {
    std::ifstream is(testing::fixture_path("lora/manifest.json"));
    ASSERT_TRUE(is);
    const auto man = nlohmann::json::parse(is);
    int checked = 0;
    for (auto& [name, nf] : man.at("network_files").items()) {
        if (nf.at("format") != "kohya_lora") continue;
        const std::string model = testing::fixture_path("lora/" + man.at("models").at(nf.at("model").get<std::string>())
                                                                      .at("file").get<std::string>());
        const std::string out = (std::filesystem::temp_directory_path() /
                                 ("sdpp_random_lora_" + std::to_string(getpid()) + ".safetensors")).string();
        RandomLoraOptions o;
        o.rank = 4;
        o.conv_rank = 2;
        o.overwrite = true;
        RandomLoraStats st = write_random_lora(model, out, o);
        EXPECT_EQ(st.unet_modules, nf.at("unet_modules").get<int>()) << name;
        EXPECT_EQ(st.te_modules, nf.at("text_encoder_modules").get<int>()) << name;
        LoadedModel lm = load_model(model);
        NetworkKeyMapper mapper(lm.weights().names());
        auto mine = std::make_shared<const NetworkFile>(read_network_file(out));
        EXPECT_EQ(targets(*mine, mapper), targets(read_network_file(testing::fixture_path("lora/" + nf.at("file").get<std::string>())), mapper))
            << name;
        Ctx ctx;
        NetworkMerger merger;
        MergeReport r = merger.apply(ctx, *lm.store, family_name(lm.family), {NetworkUse{mine, "r", 1.0f, 1.0f}});
        EXPECT_EQ(r.modules_applied, st.unet_modules + st.te_modules);
        EXPECT_TRUE(r.unmatched.empty());
        std::filesystem::remove(out);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace sdpp
