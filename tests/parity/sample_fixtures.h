// Shared helpers of the sampling parity tests (sample_*_test.cpp).
// sample_manifest(): testing::manifest(), or, while that parser rejects them, the same file with the
// bare non-finite JSON literals (-Infinity, Infinity, NaN; the samplers' diffusers configs contain
// "lambda_min_clipped": -Infinity) turned into strings so that nlohmann::json accepts it.
#pragma once
#include "common/parity_support.h"

#include <cmath>
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

namespace sdpp::testing {

// Stricter than compare(): every element within rel_tol * |expected| + abs_tol. Returns "" when ok,
// else a one-line description of the worst element.
inline std::string elementwise_mismatch(const std::vector<double>& actual, const std::vector<double>& expected,
                                        double rel_tol, double abs_tol) {
    if (actual.size() != expected.size())
        return "length " + std::to_string(actual.size()) + " != expected " + std::to_string(expected.size());
    double worst = 0;
    size_t wi = 0;
    bool bad = false;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double d = std::abs(actual[i] - expected[i]);
        const double excess = d - (rel_tol * std::abs(expected[i]) + abs_tol);
        if (!(excess <= 0) && (!bad || excess > worst)) {
            worst = std::isnan(excess) ? INFINITY : excess;
            wi = i;
            bad = true;
        }
    }
    if (!bad) return "";
    std::ostringstream os;
    os.precision(10);
    os << "element " << wi << ": " << actual[wi] << " vs expected " << expected[wi];
    return os.str();
}

inline std::vector<double> to_doubles(const Tensor& t) {
    std::vector<double> r;
    if (t.dtype() == DType::I64) {
        Tensor c = t.contiguous();
        const int64_t* p = c.data<int64_t>();
        for (int64_t i = 0; i < c.numel(); ++i) r.push_back(double(p[i]));
    } else {
        for (float v : t.to_vector()) r.push_back(v);
    }
    return r;
}

}  // namespace sdpp::testing
