// `sdpp inspect`, `sdpp make-random-model` and `sdpp convert` end to end: runs the sdpp binary on
// every fixture model (both layouts), on hostile files (one "error:" line, exit code 2), and on
// the random models and conversions it writes.
#include "common/cli_run.h"
#include "common/ckpt_writer.h"
#include "common/parity_support.h"
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using sdpp::testing::fixture_path;

namespace {

using sdpp::testing::CliRun;
using sdpp::testing::read_file;
using sdpp::testing::run_shell;

const nlohmann::json& models() { return sdpp::testing::manifest()["models"]; }

class ModelCli : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::is_regular_file(sdpp_)) << "sdpp binary missing: " << sdpp_;
        char tmpl[] = "/tmp/sdpp-model-cli-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        if (!tmp_.empty()) fs::remove_all(tmp_, ec);
    }
    CliRun sdpp(const std::string& args) {
        return run_shell("timeout 120 '" + sdpp_ + "' " + args, tmp_);
    }
    nlohmann::json inspect_json(const std::string& path) {
        CliRun r = sdpp("inspect --json '" + path + "'");
        EXPECT_EQ(r.code, 0) << path << ": " << r.err;
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << r.out;
        return j;
    }
    void expect_one_line_error(const std::string& args) {
        CliRun r = sdpp(args);
        EXPECT_EQ(r.code, 2) << args << ": " << r.err;
        EXPECT_EQ(r.out, "") << args;
        EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << args << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    }
    std::string file(const std::string& name) const { return tmp_ + "/" + name; }

    std::string sdpp_ = std::string(SDPP_BINARY_DIR) + "/sdpp";
    std::string tmp_;
};

std::string family_of_kind(const std::string& kind) { return kind; }  // manifest kinds are sdpp family names

TEST_F(ModelCli, InspectEveryFixtureModelInBothLayouts) {
    int n = 0;
    const nlohmann::json& all = models();
    for (auto& [name, spec] : all.items()) {
        for (const char* key : {"single_file", "diffusers_folder"}) {
            SCOPED_TRACE(name + " " + key);
            auto j = inspect_json(fixture_path(spec[key].get<std::string>()));
            EXPECT_EQ(j["family"], family_of_kind(spec["kind"].get<std::string>()));
            EXPECT_EQ(j["inpaint"], spec["unet_config"]["in_channels"] == 9);
            EXPECT_EQ(j["prediction"], spec["prediction_type"] == "v_prediction" ? "v" : "eps");
            EXPECT_EQ(j["unknown_keys"].size(), 0u);
            const auto& unet = j["components"]["unet"]["arch"];
            const auto& cfg = spec["unet_config"];
            EXPECT_EQ(unet["in_channels"], std::to_string(cfg["in_channels"].get<int>()));
            EXPECT_EQ(unet["model_channels"], std::to_string(cfg["block_out_channels"][0].get<int>()));
            EXPECT_EQ(unet["context_dim"], std::to_string(cfg["cross_attention_dim"].get<int>()));
            EXPECT_EQ(unet["proj_in/out"], cfg["use_linear_projection"].get<bool>() ? "linear" : "conv 1x1");
            EXPECT_EQ(j["components"]["vae"]["arch"]["ch"],
                      std::to_string(spec["vae_config"]["block_out_channels"][0].get<int>()));
            ++n;
        }
        CliRun text = sdpp("inspect '" + fixture_path(spec["single_file"].get<std::string>()) + "'");
        EXPECT_EQ(text.code, 0) << text.err;
        EXPECT_NE(text.out.find("family      " + spec["kind"].get<std::string>()), std::string::npos) << text.out;
    }
    EXPECT_GE(n, 8);
}

TEST_F(ModelCli, HostileAndUnusableFilesExit2WithOneLine) {
    const std::string good = read_file(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"));
    auto write = [&](const std::string& name, const std::string& bytes) {
        std::ofstream(file(name), std::ios::binary) << bytes;
        return file(name);
    };
    auto header = [](const std::string& json) {
        std::string s(8, '\0');
        uint64_t n = json.size();
        for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
        return s + json;
    };
    std::vector<std::string> bad = {
        write("truncated.safetensors", good.substr(0, good.size() / 2)),
        write("short.safetensors", "abc"),
        write("huge-header.safetensors", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}"),
        write("not-json.safetensors", header("{not json")),
        write("overlap.safetensors",
              header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})") +
                  std::string(12, '\0')),
        write("giant-dims.safetensors",
              header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})") + std::string(8, '\0')),
        write("garbage.ckpt", "PK\x03\x04 this is not a zip archive"),
        write("lora.safetensors", header(R"({"lora_unet_x.lora_down.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})") +
                                      std::string(4, '\0')),
        write("empty.safetensors", header("{}")),
        file("missing.safetensors"),
        tmp_,  // a folder that is not a diffusers pipeline
    };
    // A pickle that names os.system: rejected without running anything.
    sdpp::testing::PickleWriter w;
    w.proto(2).global("os", "system").str("touch " + file("pwned")).tuple(1).op('R').stop();
    sdpp::testing::write_zip(file("evil.ckpt"), {{"archive/data.pkl", w.bytes()}, {"archive/version", "3\n"}});
    bad.push_back(file("evil.ckpt"));
    for (const auto& p : bad) expect_one_line_error("inspect '" + p + "'");
    EXPECT_FALSE(fs::exists(file("pwned")));
    expect_one_line_error("inspect '" + fixture_path("models/sd1-tiny/sd1-tiny.safetensors") + "' --vae '" + file("empty.safetensors") + "'");
}

TEST_F(ModelCli, MakeRandomModelThenInspectAndConvert) {
    for (const char* arch : {"sd15-inpaint", "sd21-v", "sdxl"}) {
        SCOPED_TRACE(arch);
        const std::string out = file(std::string(arch) + ".safetensors");
        CliRun r = sdpp(std::string("make-random-model --tiny --arch ") + arch + " --seed 5 --dtype bf16 -o '" + out + "'");
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
        auto j = inspect_json(out);
        EXPECT_EQ(j["family"], std::string(arch).starts_with("sd15") ? "sd1" : std::string(arch).starts_with("sd21") ? "sd2" : "sdxl");
        EXPECT_EQ(j["inpaint"], std::string(arch) == "sd15-inpaint");
        EXPECT_EQ(j["prediction"], std::string(arch) == "sd21-v" ? "v" : "eps");
        EXPECT_EQ(j["components"]["unet"]["dtypes"]["bf16"].get<int>(), j["components"]["unet"]["tensors"].get<int>());
        // the same command again must not replace the file
        expect_one_line_error(std::string("make-random-model --tiny --arch ") + arch + " -o '" + out + "'");
        // convert to f16 and back: the same architecture
        const std::string conv = file(std::string(arch) + "-f16.safetensors");
        r = sdpp("convert '" + out + "' '" + conv + "' --dtype f16");
        ASSERT_EQ(r.code, 0) << r.err;
        auto c = inspect_json(conv);
        EXPECT_EQ(c["family"], j["family"]);
        EXPECT_EQ(c["prediction"], j["prediction"]);
        EXPECT_EQ(c["components"]["unet"]["arch"], j["components"]["unet"]["arch"]);
        EXPECT_EQ(c["components"]["unet"]["dtypes"]["f16"].get<int>(), j["components"]["unet"]["tensors"].get<int>());
    }
    CliRun bad = sdpp("make-random-model --arch sd3 -o '" + file("x.safetensors") + "'");  // usage error
    EXPECT_EQ(bad.code, 2);
    EXPECT_EQ(bad.err.rfind("error: ", 0), 0u) << bad.err;
    EXPECT_FALSE(fs::exists(file("x.safetensors")));
}

TEST_F(ModelCli, ConvertDiffusersFolderToSingleFile) {
    const std::string out = file("sdxl.safetensors");
    CliRun r = sdpp("convert '" + fixture_path("models/sdxl-tiny/diffusers") + "' '" + out + "'");
    ASSERT_EQ(r.code, 0) << r.err;
    // same names and shapes as the original SGM single file
    auto a = sdpp::SafetensorsFile::open(out);
    auto b = sdpp::SafetensorsFile::open(fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors"));
    std::map<std::string, sdpp::Shape> sa, sb;
    for (auto& e : a.entries()) sa[e.name] = e.shape;
    for (auto& e : b.entries())
        if (e.name != "conditioner.embedders.1.model.logit_scale") sb[e.name] = e.shape;
    EXPECT_EQ(sa, sb);
}

}  // namespace
