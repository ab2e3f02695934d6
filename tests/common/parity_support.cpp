#include "common/parity_support.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sdpp::testing {

std::string fixtures_dir() {
    if (const char* e = std::getenv("SDPP_FIXTURES"); e && *e) return e;
    return std::string(SDPP_SOURCE_DIR) + "/../shared/fixtures";
}

std::string fixture_path(const std::string& rel) { return fixtures_dir() + "/" + rel; }

namespace {
// Python's json writes bare NaN / Infinity / -Infinity, which strict JSON parsers refuse: turn
// them into the strings "NaN", "Infinity", "-Infinity" (only outside string literals).
std::string quote_nonfinite(const std::string& in) {
    std::string out;
    out.reserve(in.size() + 64);
    bool in_str = false;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (in_str) {
            out += c;
            if (c == '\\' && i + 1 < in.size()) out += in[++i];
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') { in_str = true; out += c; continue; }
        for (const char* tok : {"-Infinity", "Infinity", "NaN"}) {
            size_t n = std::char_traits<char>::length(tok);
            if (in.compare(i, n, tok) == 0) {
                out += '"';
                out += tok;
                out += '"';
                i += n - 1;
                c = 0;
                break;
            }
        }
        if (c) out += c;
    }
    return out;
}
}  // namespace

const nlohmann::json& manifest() {
    static const nlohmann::json m = [] {
        std::ifstream is(fixture_path("manifest.json"));
        if (!is) throw Error("cannot open " + fixture_path("manifest.json") + " (set SDPP_FIXTURES)");
        std::string text((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
        return nlohmann::json::parse(quote_nonfinite(text));
    }();
    return m;
}

std::optional<std::string> manifest_path(const nlohmann::json& object, const std::string& key) {
    if (!object.contains(key)) throw Error("manifest: no '" + key + "' in " + object.dump().substr(0, 80));
    const nlohmann::json& v = object.at(key);
    if (v.is_null()) return std::nullopt;
    if (!v.is_string()) throw Error("manifest: '" + key + "' is neither a path nor null: " + v.dump());
    return fixture_path(v.get<std::string>());
}

const std::vector<ModelLayout>& model_layouts() {
    static const std::vector<ModelLayout> layouts = {{"single_file", "single-file", "no single file"},
                                                     {"diffusers_folder", "diffusers", "no diffusers folder"}};
    return layouts;
}

std::optional<std::string> model_path(const std::string& model, const ModelLayout& layout) {
    const nlohmann::json& models = manifest().at("models");
    if (!models.contains(model)) throw Error("manifest: model '" + model + "' is not under 'models'");
    return manifest_path(models.at(model), layout.key);
}

int Skipped::count() const {
    int n = 0;
    for (const auto& [reason, k] : by_reason) n += k;
    return n;
}

CompareResult compare(const Tensor& actual, const Tensor& expected, double rel_tol, double abs_tol,
                      const std::string& what) {
    CompareResult r;
    std::ostringstream os;
    if (actual.shape() != expected.shape()) {
        r.ok = false;
        os << what << ": shape " << actual.shape_str() << " != expected " << expected.shape_str();
        r.report = os.str();
        return r;
    }
    std::vector<float> a = actual.to_vector(), e = expected.to_vector();
    for (size_t i = 0; i < a.size(); ++i) {
        double d = std::fabs(double(a[i]) - double(e[i]));
        if (!(d <= r.max_abs_diff) || std::isnan(a[i])) {  // NaN counts as worst
            if (std::isnan(d)) d = INFINITY;
            if (d > r.max_abs_diff || r.worst_index < 0) { r.max_abs_diff = d; r.worst_index = int64_t(i); }
        }
        r.ref_max_abs = std::max(r.ref_max_abs, std::fabs(double(e[i])));
    }
    r.rel = r.max_abs_diff / std::max(r.ref_max_abs, 1e-12);
    r.ok = r.max_abs_diff <= rel_tol * r.ref_max_abs + abs_tol;
    if (!r.ok) {
        os << what << ": max abs diff " << r.max_abs_diff << " at index " << r.worst_index << " (rel " << r.rel
           << ", tol " << rel_tol << ", ref max abs " << r.ref_max_abs << ")\n";
        os << "  first values (actual | expected):";
        for (size_t i = 0; i < std::min<size_t>(5, a.size()); ++i) os << "  " << a[i] << " | " << e[i];
        if (r.worst_index >= 0)
            os << "\n  at worst index: " << a[size_t(r.worst_index)] << " | " << e[size_t(r.worst_index)];
        r.report = os.str();
    }
    return r;
}

void print_parity_summary(const std::string& kind, int passed, int total, const Skipped& skipped) {
    std::string skips;
    for (const auto& [reason, n] : skipped.by_reason) skips += ", skipped " + std::to_string(n) + ": " + reason;
    std::printf("parity %s: %d/%d passed%s\n", kind.c_str(), passed, total, skips.c_str());
    std::fflush(stdout);
}

}  // namespace sdpp::testing
