// fixture_variant DST: writes to DST a fixture set that lacks some model layouts, made from the
// fixtures the tests use ($SDPP_FIXTURES, see common/parity_support.h): DESIGN.md's promise that
// the parity tests skip (count and print) a layout whose manifest entry is null, and never fail on it.
//
// Models are taken in manifest order (sorted by name). Every odd-numbered model loses its diffusers
// folder; model 0 loses its single file (and the yaml beside it). Their entries become null in
// DST/manifest.json and their files leave its "files" list; everything else is a symbolic link to
// the source set, so building the variant copies nothing but the manifest. A removed path is absent
// from DST, so a test that builds a path itself instead of reading the manifest fails on it.
#include "common/parity_support.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace fs = std::filesystem;
using sdpp::testing::fixtures_dir;

namespace {

// Mirrors `src/rel` into `dst/rel` with links, leaving out every path in `removed` (relative to the
// set); a folder holding a removed path is made, its other entries linked.
void mirror(const fs::path& src, const fs::path& dst, const fs::path& rel, const std::set<fs::path>& removed) {
    fs::create_directories(dst / rel);
    for (const auto& e : fs::directory_iterator(src / rel)) {
        const fs::path r = rel / e.path().filename();
        if (removed.count(r)) continue;
        bool holds_removed = false;
        for (const fs::path& x : removed) {
            auto [a, b] = std::mismatch(r.begin(), r.end(), x.begin(), x.end());
            holds_removed = holds_removed || (a == r.end() && b != x.end());
        }
        if (holds_removed) mirror(src, dst, r, removed);
        else fs::create_symlink(fs::absolute(e.path()), dst / r);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fixture_variant DST (the source set is $SDPP_FIXTURES)\n");
        return 2;
    }
    try {
        const fs::path src = fs::absolute(fixtures_dir()), dst = fs::absolute(argv[1]);
        nlohmann::json m = sdpp::testing::manifest();
        std::set<fs::path> removed;
        auto drop = [&](const std::string& model, const std::string& key) {
            nlohmann::json& entry = m.at("models").at(model).at(key);
            if (entry.is_null()) return;
            const std::string rel = entry.get<std::string>();
            removed.insert(fs::path(rel));
            entry = nullptr;
            std::printf("fixture_variant: %s %s = null (was %s)\n", model.c_str(), key.c_str(), rel.c_str());
            if (!m.contains("files")) return;
            nlohmann::json kept = nlohmann::json::object();
            for (const auto& [file, info] : m.at("files").items())
                if (file != rel && !file.starts_with(rel + "/")) kept[file] = info;
            m["files"] = kept;
        };
        int index = 0;
        const nlohmann::json models = m.at("models");  // a copy: drop() edits m
        for (const auto& [name, info] : models.items()) {
            if (index % 2 == 1) drop(name, "diffusers_folder");
            if (index == 0) {
                drop(name, "single_file");
                if (info.contains("original_config")) drop(name, "original_config");
            }
            ++index;
        }
        if (index < 2) throw sdpp::Error("the manifest lists " + std::to_string(index) + " models; 2 or more are needed");
        fs::remove_all(dst);
        mirror(src, dst, "", removed);
        fs::remove(dst / "manifest.json");
        std::ofstream os(dst / "manifest.json");
        os << m.dump(1) << "\n";
        if (!os) throw sdpp::Error("cannot write " + (dst / "manifest.json").string());
        std::printf("fixture_variant: %s (from %s)\n", dst.c_str(), src.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fixture_variant: %s\n", e.what());
        return 1;
    }
}
