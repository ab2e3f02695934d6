// A1111's "Model hash" (modules/hashes.py sha256 + shorthash: the first 10 hex digits of the
// checkpoint file's sha256), cached like A1111's cache.json "hashes" section: by absolute path,
// keyed on size and mtime, in hashes.json under the cache root (core/cache_root.h).
// For a diffusers folder the U-Net's weights file is hashed (model_files.h).
// Hashing a 2 GB checkpoint takes seconds; the cache makes it once per file.
#include "core/cache_root.h"
#include "core/error.h"
#include "core/log.h"
#include "io/image.h"
#include "io/sha256.h"
#include "pipeline/model_files.h"

#include <sdpp/sdpp.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace sdpp {

namespace {

namespace fs = std::filesystem;

fs::path cache_file() {
    const std::string root = cache_root();
    return root.empty() ? fs::path() : fs::path(root) / "hashes.json";
}

}  // namespace

std::string model_short_hash(const std::string& model_path) {
    // A diffusers folder is hashed by its U-Net file (A1111 has no folder models to copy from).
    const std::string path = hashed_weights_file(model_path);
    std::error_code ec;
    if (path.empty() || !fs::is_regular_file(path, ec)) return "";
    fs::path abs = fs::absolute(path, ec);
    const std::string key = abs.string();
    const auto size = static_cast<uint64_t>(fs::file_size(path, ec));
    const auto mtime = static_cast<int64_t>(fs::last_write_time(path, ec).time_since_epoch().count());

    fs::path cf = cache_file();
    nlohmann::json cache = nlohmann::json::object();
    if (!cf.empty()) {
        std::ifstream is(cf);
        if (is) {
            try {
                cache = nlohmann::json::parse(is);
                if (!cache.is_object()) cache = nlohmann::json::object();
            } catch (const std::exception&) {
                cache = nlohmann::json::object();  // a damaged cache is rebuilt, never fatal
            }
        }
        auto it = cache.find(key);
        if (it != cache.end() && it->is_object() && it->value("size", uint64_t(0)) == size &&
            it->value("mtime", int64_t(0)) == mtime) {
            std::string h = it->value("sha256", std::string());
            if (h.size() == 64) return h.substr(0, 10);
        }
    }
    log_info("hashing ", path, " for the A1111 model hash (once per file)");
    std::string h = sha256_file(path);
    if (!cf.empty()) {
        cache[key] = {{"size", size}, {"mtime", mtime}, {"sha256", h}};
        try {
            fs::create_directories(cf.parent_path(), ec);
            std::string text = cache.dump(1);
            write_file_atomic(cf.string(), text.data(), text.size(), /*overwrite=*/true);
        } catch (const Error& e) {
            log_warn("cannot update the hash cache: ", e.what());
        }
    }
    return h.substr(0, 10);
}

}  // namespace sdpp
