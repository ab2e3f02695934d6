// Networks through the public APIs on the tiny SD1 fixture model: the same request with a network
// twice reuses the merged weights (no "networks" stage the second time) and gives the same latents;
// removing the network gives back exactly the latents of a run that never had it (the weights are
// rebound from the file, not un-merged); a changed multiplier merges again; the C API's lora arrays
// and the JSON "loras" field give the same as the C++ list.
#include "common/parity_support.h"

#include <sdpp/sdpp.h>
#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <algorithm>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

std::string model() { return fixture_path("models/sd1-tiny/sd1-tiny.safetensors"); }
std::string net(const std::string& n) { return fixture_path("lora/networks/" + n + ".safetensors"); }

GenerateRequest small(const std::vector<LoraSpec>& loras = {}) {
    GenerateRequest r;
    r.prompt = "a red sofa";
    r.width = r.height = 64;
    r.steps = 2;
    r.seed = 3;
    r.sampler = "euler";
    r.decode = false;
    r.loras = loras;
    return r;
}

bool has_stage(const GenerateResult& r, const std::string& s) {
    return std::any_of(r.timings.begin(), r.timings.end(), [&](const StageTiming& t) { return t.stage == s; });
}

TEST(LoraApi, ReuseRestoreAndSwitch) {
    ModelOptions mo;
    mo.model = model();
    mo.vocab = fixture_path("clip/vocab.json");
    mo.threads = 1;
    Engine e(mo);  // keep_weights: the U-Net stays bound between requests
    const LoraSpec k{net("sdpp_sd1_kohya"), 0.8f, 0.8f};
    GenerateResult plain = e.generate(small());
    GenerateResult a = e.generate(small({k}));
    GenerateResult b = e.generate(small({k}));
    EXPECT_TRUE(has_stage(a, "networks"));
    EXPECT_FALSE(has_stage(b, "networks")) << "the same set merged again";
    EXPECT_EQ(a.latents.data, b.latents.data);
    EXPECT_NE(a.latents.data, plain.latents.data);
    GenerateResult c = e.generate(small());
    EXPECT_TRUE(has_stage(c, "networks"));
    EXPECT_EQ(c.latents.data, plain.latents.data) << "removing the network did not restore the weights exactly";
    // Another multiplier, two networks, te only.
    GenerateResult d = e.generate(small({{net("sdpp_sd1_kohya"), 0.5f, 0.5f}}));
    EXPECT_NE(d.latents.data, a.latents.data);
    GenerateResult two = e.generate(small({k, {net("sdpp_sd1_loha"), 1.0f, 1.0f}}));
    EXPECT_NE(two.latents.data, a.latents.data);
    GenerateResult te_only = e.generate(small({{net("sdpp_sd1_kohya"), 1.0f, 0.0f}}));
    EXPECT_NE(te_only.latents.data, plain.latents.data);
    // The fresh-engine result of the same request equals the switched engine's.
    Engine f(mo);
    EXPECT_EQ(f.generate(small({k})).latents.data, a.latents.data);
}

TEST(LoraApi, JsonRoundTrip) {
    GenerateRequest r = small({{"x.safetensors", 0.5f, 0.25f}, {"name", 1.0f, 1.0f}});
    GenerateRequest back = request_from_json(request_to_json(r));
    ASSERT_EQ(back.loras.size(), 2u);
    EXPECT_EQ(back.loras[0].file, "x.safetensors");
    EXPECT_FLOAT_EQ(back.loras[0].te_multiplier, 0.5f);
    EXPECT_FLOAT_EQ(back.loras[0].unet_multiplier, 0.25f);
    GenerateRequest m = request_from_json(R"({"loras": [{"file": "a", "multiplier": 0.7}]})");
    ASSERT_EQ(m.loras.size(), 1u);
    EXPECT_FLOAT_EQ(m.loras[0].unet_multiplier, 0.7f);
    EXPECT_THROW(request_from_json(R"({"loras": [{"multiplier": 0.7}]})"), Error);
    EXPECT_THROW(request_from_json(R"({"loras": [{"file": "a", "te": 1}]})"), Error);
    EXPECT_THROW(request_from_json(R"({"loras": "a"})"), Error);
}

TEST(LoraApi, CApiMatchesCpp) {
    ModelOptions mo;
    mo.model = model();
    mo.vocab = fixture_path("clip/vocab.json");
    mo.threads = 1;
    Engine e(mo);
    GenerateResult want = e.generate(small({{net("sdpp_sd1_lokr"), 0.9f, 0.6f}}));

    sdpp_model_options o;
    sdpp_model_options_init(&o);
    const std::string m = model(), v = fixture_path("clip/vocab.json");
    o.model = m.c_str();
    o.vocab = v.c_str();
    o.threads = 1;
    sdpp_engine* ce = sdpp_engine_new(&o);
    ASSERT_NE(ce, nullptr) << sdpp_last_error();
    sdpp_request r;
    sdpp_request_init(&r);
    r.prompt = "a red sofa";
    r.width = r.height = 64;
    r.steps = 2;
    r.seed = 3;
    r.sampler = "euler";
    r.decode = 0;
    const std::string f = net("sdpp_sd1_lokr");
    const char* files[] = {f.c_str()};
    const float te[] = {0.9f}, unet[] = {0.6f};
    r.lora_files = files;
    r.lora_te_multipliers = te;
    r.lora_unet_multipliers = unet;
    r.n_loras = 1;
    sdpp_result* res = sdpp_generate(ce, &r, nullptr, nullptr);
    ASSERT_NE(res, nullptr) << sdpp_last_error();
    int64_t shape[4];
    const float* lat = sdpp_result_latents(res, shape);
    EXPECT_EQ(std::vector<float>(lat, lat + want.latents.data.size()), want.latents.data);
    sdpp_result_free(res);
    // A bad network is an error, not a crash.
    const char* bad[] = {"no-such-network"};
    r.lora_files = bad;
    EXPECT_EQ(sdpp_generate(ce, &r, nullptr, nullptr), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("network 'no-such-network' not found"), std::string::npos)
        << sdpp_last_error();
    sdpp_engine_free(ce);
}

}  // namespace
