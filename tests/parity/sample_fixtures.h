// Shared helpers of the sampling parity tests (sample_*_test.cpp).
// sample_manifest(): testing::manifest(), or, while that parser rejects them, the same file with the
// bare non-finite JSON literals (-Infinity, Infinity, NaN; the samplers' diffusers configs contain
// "lambda_min_clipped": -Infinity) turned into strings so that nlohmann::json accepts it.
#pragma once
#include "common/fixtures.h"

#include <fstream>
#include <sstream>
#include <string>

namespace sdpp::testing {

inline std::string quote_nonfinite_json_literals(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 64);
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) out += text[++i];
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
            continue;
        }
        bool replaced = false;
        for (const char* lit : {"-Infinity", "Infinity", "NaN"}) {
            std::string l(lit);
            if (text.compare(i, l.size(), l) == 0) {
                out += '"' + l + '"';
                i += l.size() - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced) out += c;
    }
    return out;
}

inline const nlohmann::json& sample_manifest() {
    static const nlohmann::json m = [] {
        try {
            return manifest();
        } catch (const nlohmann::json::parse_error&) {
            std::ifstream is(fixture_path("manifest.json"));
            if (!is) throw Error("cannot open " + fixture_path("manifest.json") + " (set SDPP_FIXTURES)");
            std::stringstream ss;
            ss << is.rdbuf();
            return nlohmann::json::parse(quote_nonfinite_json_literals(ss.str()));
        }
    }();
    return m;
}

}  // namespace sdpp::testing
