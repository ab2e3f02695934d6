// --weight-cache, shared by generate and bench: how much memory the backend may keep for prepared
// (converted + reordered) weights: "auto" (half the available memory), "all" (fastest), "none"
// (convert on every use: least memory) or a size in MiB. Maps to ModelOptions::weight_cache_mb.
#pragma once
#include <sdpp/error.hpp>
#include <sdpp/sdpp.hpp>

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace sdpp::cli {

inline int64_t parse_weight_cache(const std::string& v) {
    if (v == "auto") return ModelOptions::kWeightCacheAuto;
    if (v == "all") return ModelOptions::kWeightCacheAll;
    if (v == "none") return 0;
    size_t used = 0;
    long long mb = -1;
    try {
        mb = std::stoll(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != v.size() || mb < 0) throw error("--weight-cache '", v, "': expected auto, all, none or a size in MiB");
    return mb;
}

inline void add_weight_cache_option(CLI::App& app, std::string& value) {
    app.add_option("--weight-cache", value,
                   "Memory for prepared weights: auto (half the available memory), all (fastest), none (least "
                   "memory: convert each weight when used) or MiB")
        ->capture_default_str();
}

}  // namespace sdpp::cli
