// The C API (include/sdpp/sdpp.h) over the tiny fixture models: a generation with progress,
// cancellation from the callback, the PNG it saves, errors as NULL + sdpp_last_error(), SDXL size
// conditioning and init_pixels (each the same as the C++ API given the same request), and logging.
#include "common/parity_support.h"
#include "core/log.h"
#include "io/image.h"

#include <sdpp/sdpp.h>
#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

struct Seen {
    int sample_calls = 0;
    int cancel_at = -1;  // cancel when this many sample callbacks happened
    bool preview_ok = true;
    int preview_images = 0;  // progress calls carrying a preview picture (cheap: latent-sized)
};

int on_progress(const sdpp_progress* p, void* user) {
    auto* s = static_cast<Seen*>(user);
    if (std::string(p->stage) == "sample") {
        ++s->sample_calls;
        if (p->preview && (p->preview_shape[1] != 4 || p->preview_shape[2] != 8)) s->preview_ok = false;
        if (p->preview_image.pixels) {
            ++s->preview_images;
            if (p->preview_image.width != 8 || p->preview_image.channels != 3) s->preview_ok = false;
        }
        if (s->cancel_at >= 0 && s->sample_calls >= s->cancel_at) return 0;
    }
    return 1;
}

sdpp_engine* open_engine(const std::string& model, const std::string& vocab) {
    sdpp_model_options mo;
    sdpp_model_options_init(&mo);
    mo.model = model.c_str();
    mo.vocab = vocab.c_str();
    mo.threads = 1;
    return sdpp_engine_new(&mo);
}

sdpp::Engine open_cpp_engine(const std::string& model, const std::string& vocab) {
    sdpp::ModelOptions mo;
    mo.model = model;
    mo.vocab = vocab;
    mo.threads = 1;
    return sdpp::Engine(mo);
}

std::vector<float> c_latents(const sdpp_result* res) {
    int64_t shape[4];
    const float* p = sdpp_result_latents(res, shape);
    if (!p) return {};
    return std::vector<float>(p, p + shape[0] * shape[1] * shape[2] * shape[3]);
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
    EXPECT_EQ(r.inpaint_fill, 1);  // A1111 "original"
    EXPECT_EQ(r.vae_decoder, nullptr);
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
    EXPECT_EQ(seen.preview_images, 3);

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

TEST(PipelineCApi, SdxlSizeConditioningMatchesTheCppApi) {
    const std::string model = fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors");
    const std::string vocab = fixture_path("clip/vocab.json");
    sdpp_engine* e = open_engine(model, vocab);
    ASSERT_NE(e, nullptr) << sdpp_last_error();
    ASSERT_STREQ(sdpp_engine_family(e), "sdxl");

    sdpp_request r;
    sdpp_request_init(&r);
    EXPECT_EQ(r.original_size[0], 0);  // 0, 0: the default (the image size)
    EXPECT_EQ(r.crop_coords[1], 0);
    r.prompt = "a lighthouse";
    r.width = r.height = 64;
    r.steps = 2;
    r.seed = 11;
    r.decode = 0;
    sdpp_result* plain = sdpp_generate(e, &r, nullptr, nullptr);
    ASSERT_NE(plain, nullptr) << sdpp_last_error();
    r.original_size[0] = 1024;
    r.original_size[1] = 768;
    r.target_size[0] = 512;
    r.target_size[1] = 384;
    r.crop_coords[0] = 16;
    r.crop_coords[1] = 8;
    sdpp_result* sized = sdpp_generate(e, &r, nullptr, nullptr);
    ASSERT_NE(sized, nullptr) << sdpp_last_error();

    sdpp::GenerateRequest q;
    q.prompt = r.prompt;
    q.width = q.height = 64;
    q.steps = 2;
    q.seed = 11;
    q.decode = false;
    q.original_size = std::array<int, 2>{1024, 768};
    q.target_size = std::array<int, 2>{512, 384};
    q.crop_coords = {16, 8};
    sdpp::Engine cpp = open_cpp_engine(model, vocab);
    sdpp::GenerateResult want = cpp.generate(q);
    EXPECT_EQ(c_latents(sized), want.latents.data);
    EXPECT_NE(c_latents(sized), c_latents(plain));  // the conditioning reached the U-Net
    sdpp_result_free(plain);
    sdpp_result_free(sized);

    r.original_size[1] = -5;
    EXPECT_EQ(sdpp_generate(e, &r, nullptr, nullptr), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("size conditioning"), std::string::npos);
    sdpp_engine_free(e);
}

TEST(PipelineCApi, InitPixelsRunImg2ImgLikeTheCppApi) {
    const std::string model = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
    const std::string vocab = fixture_path("clip/vocab.json");
    sdpp_engine* e = open_engine(model, vocab);
    ASSERT_NE(e, nullptr) << sdpp_last_error();

    const int w = 64, h = 48;
    std::vector<float> pixels(size_t(3) * w * h);  // [1, 3, h, w] in [-1, 1]
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float(int(i * 29 % 200) - 100) / 100.0f;

    sdpp_request r;
    sdpp_request_init(&r);
    EXPECT_EQ(r.init_pixels, nullptr);
    r.prompt = "a photo of a cat";
    r.steps = 4;
    r.seed = 3;
    r.strength = 0.5f;
    r.init_pixels = pixels.data();
    r.init_pixels_width = w;
    r.init_pixels_height = h;
    sdpp_result* res = sdpp_generate(e, &r, nullptr, nullptr);
    ASSERT_NE(res, nullptr) << sdpp_last_error();
    ASSERT_EQ(sdpp_result_count(res), 1);
    EXPECT_EQ(sdpp_result_image(res, 0).width, w);  // the size comes from the pixels
    EXPECT_EQ(sdpp_result_image(res, 0).height, h);
    EXPECT_NE(std::string(sdpp_result_parameters(res, 0)).find("Denoising strength: 0.5"), std::string::npos);

    sdpp::GenerateRequest q;
    q.prompt = r.prompt;
    q.steps = 4;
    q.seed = 3;
    q.strength = 0.5f;
    q.init_pixels = sdpp::FloatTensor{{1, 3, h, w}, pixels};
    sdpp::Engine cpp = open_cpp_engine(model, vocab);
    sdpp::GenerateResult want = cpp.generate(q);
    EXPECT_EQ(c_latents(res), want.latents.data);
    sdpp_image im = sdpp_result_image(res, 0);
    EXPECT_EQ(std::vector<uint8_t>(im.pixels, im.pixels + size_t(w) * h * 3), want.images[0].image.pixels);
    sdpp_result_free(res);

    r.init_pixels_height = 0;  // pixels without their size
    EXPECT_EQ(sdpp_generate(e, &r, nullptr, nullptr), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("init_pixels"), std::string::npos);
    r.init_pixels_height = h;
    r.width = 128;  // pixels are not resized
    EXPECT_EQ(sdpp_generate(e, &r, nullptr, nullptr), nullptr);
    EXPECT_NE(std::string(sdpp_last_error()).find("init pixels are 64x48"), std::string::npos);
    sdpp_engine_free(e);
}

TEST(PipelineCApi, LogCallbackAndVersion) {
    std::vector<std::pair<int, std::string>> seen;
    sdpp_set_verbosity(1);
    sdpp_set_log_callback(
        [](int level, const char* message, void* user) {
            static_cast<std::vector<std::pair<int, std::string>>*>(user)->emplace_back(level, message);
        },
        &seen);
    sdpp::log_warn("from the library");
    sdpp_set_log_callback(nullptr, nullptr);
    sdpp::log_warn("to stderr again");
    sdpp_set_verbosity(0);
    sdpp::set_log_level(sdpp::LogLevel::Warn);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].first, 2);  // warning
    EXPECT_EQ(seen[0].second, "from the library");
    EXPECT_STREQ(sdpp_version(), SDPP_VERSION_STRING);
}
