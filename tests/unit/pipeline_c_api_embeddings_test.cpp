// The C API's embeddings folder (sdpp_model_options.embeddings_dir): an embedding name in the
// prompt gives the same latents as the C++ API with ModelOptions::embeddings_dir and writes
// "TI hashes"; a folder that does not exist is NULL + a one-line sdpp_last_error().
#include "common/parity_support.h"

#include <sdpp/sdpp.h>
#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

using namespace sdpp::testing;

namespace {

// The first single-encoder embedding of lora/manifest.json and its model (nothing hard-coded).
struct Pick {
    std::string name, hash, model, folder;
};
Pick pick() {
    std::ifstream f(fixture_path("lora/manifest.json"));
    const nlohmann::json m = nlohmann::json::parse(f);
    for (const auto& [name, e] : m.at("embedding_files").items()) {
        const std::string model = e.at("model");
        if (m.at("models").at(model).at("family") == "sdxl") continue;
        return {name, e.at("a1111_shorthash"), fixture_path("lora/" + m.at("models").at(model).at("file").get<std::string>()),
                fixture_path("lora/" + m.at("directories").at("embeddings").get<std::string>())};
    }
    throw sdpp::Error("lora/manifest.json has no SD 1.x / 2.x embedding");
}
std::string vocab() { return fixture_path("clip/vocab.json"); }

}  // namespace

TEST(CApiEmbeddings, FolderOptionMatchesTheCppApi) {
    sdpp_model_options mo;
    sdpp_model_options_init(&mo);
    EXPECT_EQ(mo.embeddings_dir, nullptr);
    const Pick p = pick();
    const std::string m = p.model, v = vocab(), e = p.folder, prompt = "a photo of " + p.name;
    mo.model = m.c_str();
    mo.vocab = v.c_str();
    mo.threads = 1;
    mo.embeddings_dir = e.c_str();
    sdpp_engine* eng = sdpp_engine_new(&mo);
    ASSERT_NE(eng, nullptr) << sdpp_last_error();
    sdpp_request r;
    sdpp_request_init(&r);
    r.prompt = prompt.c_str();
    r.width = r.height = 64;
    r.steps = 2;
    r.seed = 3;
    r.sampler = "euler";
    sdpp_result* res = sdpp_generate(eng, &r, nullptr, nullptr);
    ASSERT_NE(res, nullptr) << sdpp_last_error();
    EXPECT_NE(std::string(sdpp_result_parameters(res, 0)).find("TI hashes: \"" + p.name + ": " + p.hash + "\""),
              std::string::npos)
        << sdpp_result_parameters(res, 0);
    int64_t shape[4];
    const float* lat = sdpp_result_latents(res, shape);
    std::vector<float> c(lat, lat + shape[0] * shape[1] * shape[2] * shape[3]);

    sdpp::ModelOptions cm;
    cm.model = m;
    cm.vocab = v;
    cm.threads = 1;
    cm.embeddings_dir = e;
    sdpp::Engine cpp(cm);
    sdpp::GenerateRequest q;
    q.prompt = r.prompt;
    q.width = q.height = 64;
    q.steps = 2;
    q.seed = 3;
    q.sampler = "euler";
    sdpp::GenerateResult cr = cpp.generate(q);
    EXPECT_EQ(cr.latents.data, c);
    EXPECT_EQ(cr.request.ti_hashes, p.name + ": " + p.hash);
    sdpp_result_free(res);
    sdpp_engine_free(eng);
}

TEST(CApiEmbeddings, MissingFolderIsAnError) {
    sdpp_model_options mo;
    sdpp_model_options_init(&mo);
    const std::string m = pick().model, v = vocab();
    mo.model = m.c_str();
    mo.vocab = v.c_str();
    mo.embeddings_dir = "/nonexistent/embeddings";
    EXPECT_EQ(sdpp_engine_new(&mo), nullptr);
    const std::string err = sdpp_last_error();
    EXPECT_NE(err.find("/nonexistent/embeddings"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
}
