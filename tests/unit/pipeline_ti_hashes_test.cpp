// "TI hashes" through the request's text forms: the A1111 parameters text (written quoted, read
// back by --from-png's request_from_parameters), the JSON body, and the engine's check of hashes a
// request brings along against the files found (a warning, not an error).
#include "core/log.h"
#include "pipeline/parameters.h"
#include "pipeline/pipeline.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

using namespace sdpp;

TEST(TiHashes, ParametersTextRoundTrip) {
    GenerateRequest r;
    r.prompt = "a photo of mychar";
    r.negative_prompt = "EasyNegative";
    r.steps = 20;
    r.sampler = "euler_a";
    r.width = r.height = 512;
    r.ti_hashes = "mychar: 0123456789ab, EasyNegative: c74b4e810b03";
    ModelDescription md;
    const std::string text = format_parameters(r, md, 42, 0);
    EXPECT_NE(text.find(", TI hashes: \"mychar: 0123456789ab, EasyNegative: c74b4e810b03\""), std::string::npos) << text;
    EXPECT_EQ(request_from_parameters(text).ti_hashes, r.ti_hashes);
    r.ti_hashes.clear();
    EXPECT_EQ(format_parameters(r, md, 42, 0).find("TI hashes"), std::string::npos);
}

TEST(TiHashes, JsonRoundTrip) {
    GenerateRequest r = request_from_json(R"({"prompt": "x", "ti_hashes": "a: 0123456789ab"})");
    EXPECT_EQ(r.ti_hashes, "a: 0123456789ab");
    EXPECT_EQ(request_from_json(request_to_json(r)).ti_hashes, r.ti_hashes);
    EXPECT_EQ(request_to_json(GenerateRequest{}).find("ti_hashes"), std::string::npos);
    EXPECT_THROW(request_from_json(R"({"ti_hashes": 5})"), Error);
}

TEST(TiHashes, RunHashesWarnOnAnotherVersion) {
    std::vector<std::string> warnings;
    set_log_callback([&](LogLevel l, const std::string& m) {
        if (l == LogLevel::Warn) warnings.push_back(m);
    });
    const std::vector<text::UsedEmbedding> used = {{"a", "/e/a.pt", "0123456789ab", 2}, {"b", "/e/b.pt", "ba9876543210", 1}};
    EXPECT_EQ(pipeline::run_ti_hashes("", used), "a: 0123456789ab, b: ba9876543210");
    EXPECT_TRUE(warnings.empty());
    EXPECT_EQ(pipeline::run_ti_hashes("a: 0123456789ab, b: ffffffffffff", used), "a: 0123456789ab, b: ba9876543210");
    set_log_callback({});
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("'b'"), std::string::npos) << warnings[0];
}
