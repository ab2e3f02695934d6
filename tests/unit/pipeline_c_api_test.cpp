// The C API (include/sdpp/sdpp.h) over the tiny SD1 fixture model: a generation with progress,
// cancellation from the callback, the PNG it saves, and errors as NULL + sdpp_last_error().
#include "common/parity_support.h"
#include "io/image.h"

#include <sdpp/sdpp.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

struct Seen {
    int sample_calls = 0;
    int cancel_at = -1;  // cancel when this many sample callbacks happened
    bool preview_ok = true;
};

int on_progress(const sdpp_progress* p, void* user) {
    auto* s = static_cast<Seen*>(user);
    if (std::string(p->stage) == "sample") {
        ++s->sample_calls;
        if (p->preview && (p->preview_shape[1] != 4 || p->preview_shape[2] != 8)) s->preview_ok = false;
        if (s->cancel_at >= 0 && s->sample_calls >= s->cancel_at) return 0;
    }
    return 1;
}

}  // namespace

TEST(PipelineCApi, GenerateCancelAndErrors) {
    const std::string model = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
    const std::string vocab = fixture_path("clip/vocab.json");
    sdpp_model_options mo;
    sdpp_model_options_init(&mo);
    mo.model = model.c_str();
    mo.vocab = vocab.c_str();
    mo.threads = 1;
    sdpp_engine* e = sdpp_engine_new(&mo);
    ASSERT_NE(e, nullptr) << sdpp_last_error();
    EXPECT_STREQ(sdpp_engine_family(e), "sd1");
    EXPECT_STREQ(sdpp_engine_prediction(e), "eps");
    EXPECT_STREQ(sdpp_engine_name(e), "sd1-tiny");

    sdpp_request r;
    sdpp_request_init(&r);
    EXPECT_TRUE(std::isnan(r.cfg_scale));
    r.prompt = "a photo of a cat";
    r.negative_prompt = "blurry";
    r.width = r.height = 64;
    r.steps = 3;
    r.seed = 5;
    r.sampler = "DPM++ 2M";
    r.preview_every = 1;
    Seen seen;
    sdpp_result* res = sdpp_generate(e, &r, on_progress, &seen);
    ASSERT_NE(res, nullptr) << sdpp_last_error();
    EXPECT_EQ(sdpp_result_cancelled(res), 0);
    ASSERT_EQ(sdpp_result_count(res), 1);
    sdpp_image im = sdpp_result_image(res, 0);
    EXPECT_EQ(im.width, 64);
    EXPECT_EQ(im.channels, 3);
    EXPECT_EQ(sdpp_result_seed(res, 0), 5);
    EXPECT_NE(std::string(sdpp_result_parameters(res, 0)).find("Sampler: DPM++ 2M"), std::string::npos);
    int64_t shape[4];
    ASSERT_NE(sdpp_result_latents(res, shape), nullptr);
    EXPECT_EQ(shape[0], 1);
    EXPECT_EQ(shape[1], 4);
    EXPECT_GE(seen.sample_calls, 3);
    EXPECT_TRUE(seen.preview_ok);

    fs::path png = fs::temp_directory_path() / ("sdpp_c_api_" + std::to_string(::getpid()) + ".png");
    fs::remove(png);
    EXPECT_EQ(sdpp_save_png(png.string().c_str(), res, 0, 0), 0) << sdpp_last_error();
    EXPECT_NE(sdpp_save_png(png.string().c_str(), res, 0, 0), 0);  // exists, no overwrite
    EXPECT_NE(std::string(sdpp_last_error()).find("exists"), std::string::npos);
    sdpp::ImageFile f = sdpp::read_image_file(png.string());
    EXPECT_EQ(f.image.pixels, std::vector<uint8_t>(im.pixels, im.pixels + 64 * 64 * 3));
    EXPECT_EQ(f.text.at("parameters"), sdpp_result_parameters(res, 0));
    fs::remove(png);
    sdpp_result_free(res);

    // Cancel in the middle of sampling: no image, cancelled set.
    Seen cancel;
    cancel.cancel_at = 2;
    res = sdpp_generate(e, &r, on_progress, &cancel);
    ASSERT_NE(res, nullptr) << sdpp_last_error();
    EXPECT_EQ(sdpp_result_cancelled(res), 1);
    EXPECT_EQ(sdpp_result_count(res), 0);
    sdpp_result_free(res);

    // Bad request: NULL and a one-line message.
    r.width = 60;
    EXPECT_EQ(sdpp_generate(e, &r, nullptr, nullptr), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("multiple of 8"), std::string::npos);
    sdpp_engine_free(e);

    mo.model = "/nonexistent/model.safetensors";
    EXPECT_EQ(sdpp_engine_new(&mo), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("/nonexistent/model.safetensors"), std::string::npos);

    mo.model = model.c_str();
    EXPECT_EQ(mo.weight_cache_mb, -1);  // auto
    mo.weight_cache_mb = -7;
    EXPECT_EQ(sdpp_engine_new(&mo), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("weight cache"), std::string::npos);
}
