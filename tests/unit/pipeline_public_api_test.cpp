// Public API additions for embedders: PNG in memory with the infotext, the log callback, the
// version from CMake, and sdpp::Error as one type shared with the internal SDPP_CHECK.
#include "core/error.h"
#include "core/log.h"
#include "io/image.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

TEST(PipelinePublicApi, PngInMemoryMatchesTheFileAndKeepsParameters) {
    sdpp::GeneratedImage g;
    g.image = sdpp::Image::blank(16, 8, 3);
    for (size_t i = 0; i < g.image.pixels.size(); ++i) g.image.pixels[i] = uint8_t(i * 7);
    g.parameters = "a lighthouse ✓\nSteps: 3, Sampler: Euler a, Seed: 5";
    std::vector<uint8_t> png = sdpp::encode_png(g);

    fs::path file = fs::temp_directory_path() / ("sdpp_public_api_" + std::to_string(::getpid()) + ".png");
    fs::remove(file);
    sdpp::save_png(file.string(), g);
    std::ifstream in(file, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fs::remove(file);
    EXPECT_EQ(png, bytes);  // the same bytes save_png writes

    std::string parameters;
    sdpp::Image back = sdpp::decode_image(png.data(), png.size(), &parameters);
    EXPECT_EQ(back.width, 16);
    EXPECT_EQ(back.height, 8);
    EXPECT_EQ(back.pixels, g.image.pixels);
    EXPECT_EQ(parameters, g.parameters);

    g.parameters.clear();
    png = sdpp::encode_png(g);
    parameters = "stale";
    sdpp::decode_image(png.data(), png.size(), &parameters);
    EXPECT_EQ(parameters, "");

    std::vector<uint8_t> jpeg = sdpp::encode_jpeg(g.image, 90);
    back = sdpp::decode_image(jpeg.data(), jpeg.size());
    EXPECT_EQ(back.width, 16);

    const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    EXPECT_THROW(sdpp::decode_image(junk, sizeof junk), sdpp::Error);
    EXPECT_THROW(sdpp::decode_image(png.data(), png.size() / 2), sdpp::Error);  // truncated
    EXPECT_THROW(sdpp::decode_image(nullptr, 0), sdpp::Error);
}

TEST(PipelinePublicApi, LogCallbackReceivesLevelAndMessage) {
    std::vector<std::pair<sdpp::LogLevel, std::string>> seen;
    sdpp::set_verbosity(1);  // info
    sdpp::set_log_callback([&](sdpp::LogLevel l, const std::string& m) { seen.emplace_back(l, m); });
    sdpp::log_info("loaded ", 3, " parts");
    sdpp::log_warn("careful");
    sdpp::log_debug("hidden at verbosity 1");
    sdpp::set_log_callback({});  // back to stderr
    sdpp::log_info("to stderr");
    sdpp::set_verbosity(0);
    sdpp::set_log_level(sdpp::LogLevel::Warn);  // the library's default
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].first, sdpp::LogLevel::Info);
    EXPECT_EQ(seen[0].second, "loaded 3 parts");
    EXPECT_EQ(seen[1].first, sdpp::LogLevel::Warn);
    EXPECT_EQ(seen[1].second, "careful");
}

TEST(PipelinePublicApi, VersionComesFromCMake) {
    EXPECT_STREQ(sdpp::version(), SDPP_VERSION_STRING);
    EXPECT_EQ(std::string(SDPP_VERSION_STRING),
              std::to_string(SDPP_VERSION_MAJOR) + "." + std::to_string(SDPP_VERSION_MINOR) + "." +
                  std::to_string(SDPP_VERSION_PATCH));
}

TEST(PipelinePublicApi, InternalChecksThrowThePublicError) {
    // SDPP_CHECK (src/core/error.h) throws the type embedders catch from include/sdpp/error.hpp.
    try {
        SDPP_CHECK(1 + 1 == 3, "arithmetic ", 42);
        FAIL() << "no throw";
    } catch (const sdpp::Error& e) {
        EXPECT_STREQ(e.what(), "arithmetic 42");
    }
    static_assert(std::is_base_of_v<std::runtime_error, sdpp::Error>);
}
