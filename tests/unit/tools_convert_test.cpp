// `sdpp convert` (tools/convert.h): every fixture model written back as one original-layout file
// loads as the same model (diffusers folder -> single file, and single file -> f32).
#include "common/loaded_model_checks.h"
#include "common/parity_support.h"
#include "common/temp_dir.h"
#include "tools/convert.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace sdpp {
namespace {

namespace fs = std::filesystem;
using sdpp::testing::expect_hints;
using sdpp::testing::expect_same_store;
using sdpp::testing::fixture_path;
using sdpp::testing::manifest;
using sdpp::testing::TempDir;

TEST(ToolsConvert, RoundTripsEveryFixtureModel) {
    TempDir tmp;
    for (auto& [name, spec] : manifest()["models"].items()) {
        SCOPED_TRACE(name);
        LoadedModel single = load_model(fixture_path(spec["single_file"].get<std::string>()));
        // diffusers folder -> original single file, same dtype
        LoadedModel diff = load_model(fixture_path(spec["diffusers_folder"].get<std::string>()));
        const std::string a = tmp.file(name + "-from-diffusers.safetensors");
        convert_model(diff, a, {});
        LoadedModel back = load_model(a);
        EXPECT_EQ(back.layout, single.layout);
        EXPECT_EQ(back.family, single.family);
        EXPECT_TRUE(back.unknown_keys.empty());
        expect_hints(back, spec, a);
        expect_same_store(back, single, name + " diffusers->single");
        // single file -> f32 single file (yaml copied beside it): identical values, f32 storage
        ConvertOptions o;
        o.dtype = DType::F32;
        const std::string b = tmp.file(name + "-f32.safetensors");
        convert_model(single, b, o);
        EXPECT_TRUE(fs::exists(tmp.file(name + "-f32.yaml")));
        LoadedModel wide = load_model(b);
        EXPECT_EQ(wide.dtypes.at("model.diffusion_model.out.2.weight"), DType::F32);
        expect_hints(wide, spec, b);
        EXPECT_EQ(wide.weights().names(), single.weights().names());
        for (auto& n : {std::string("model.diffusion_model.out.2.weight"), std::string("te1.text_model.final_layer_norm.weight")})
            EXPECT_EQ(wide.weights().raw(n).to_vector(), single.weights().raw(n).to_vector()) << n;
        EXPECT_THROW(convert_model(single, b, o), Error);  // no silent overwrite
    }
}

}  // namespace
}  // namespace sdpp
