// File selection for hub pulls; see select.h. Mirrors the allow-list idea of diffusers'
// pipeline_loading_utils (variant_compatible_siblings / _get_ignore_patterns), restricted to the
// components sdpp uses.
#include "hub/select.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

namespace sdpp::hub {
namespace {

struct Split {
    std::string dir;   // "" at the root
    std::string name;
};
Split split(const std::string& path) {
    size_t s = path.rfind('/');
    if (s == std::string::npos) return {"", path};
    return {path.substr(0, s), path.substr(s + 1)};
}
bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool has_shard_suffix(const std::string& stem) {  // "...-00001-of-00002"
    if (stem.size() < 15) return false;
    std::string t = stem.substr(stem.size() - 15);
    for (int i : {1, 2, 3, 4, 5, 10, 11, 12, 13, 14})
        if (!std::isdigit((unsigned char)t[size_t(i)])) return false;
    return t[0] == '-' && t.compare(6, 4, "-of-") == 0;
}

// The stem of `name` if it is "<stem><suffix>" with a plain stem (no '.', not a shard).
std::optional<std::string> plain_stem(const std::string& name, const std::string& suffix) {
    if (!ends_with(name, suffix) || name.size() == suffix.size()) return std::nullopt;
    std::string stem = name.substr(0, name.size() - suffix.size());
    if (stem.find('.') != std::string::npos || has_shard_suffix(stem)) return std::nullopt;
    return stem;
}

int stem_rank(const std::string& stem) {
    if (stem == "diffusion_pytorch_model") return 0;
    if (stem == "model") return 1;
    if (stem == "pytorch_model") return 2;
    return 3;
}

// Picks the weights of one component folder from its direct children (indices into `files`).
std::optional<size_t> pick_weights(const std::vector<RepoFile>& files, const std::vector<size_t>& children,
                                   const std::string& variant, const std::string& comp,
                                   std::vector<std::string>* notes) {
    struct Tier {
        std::string single, index, label;
    };
    std::vector<Tier> tiers;
    for (const char* fmt : {"safetensors", "bin"}) {
        std::string f = fmt;
        if (!variant.empty())
            tiers.push_back({"." + variant + "." + f, "." + f + ".index." + variant + ".json", variant + " ." + f});
        tiers.push_back({"." + f, "." + f + ".index.json", "." + f});
    }
    for (size_t t = 0; t < tiers.size(); ++t) {
        std::optional<size_t> best;
        std::string best_stem;
        for (const std::string* suffix : {&tiers[t].single, &tiers[t].index}) {
            for (size_t i : children) {
                auto stem = plain_stem(split(files[i].path).name, *suffix);
                if (!stem) continue;
                if (!best || stem_rank(*stem) < stem_rank(best_stem) ||
                    (stem_rank(*stem) == stem_rank(best_stem) && *stem < best_stem)) {
                    best = i;
                    best_stem = *stem;
                }
            }
            if (best) break;  // a single file beats an index in the same tier
        }
        if (!best) continue;
        // Falling back from the variant to full precision is routine; a pickle fallback is worth a note.
        if (notes && tiers[t].single.find(".bin") != std::string::npos)
            notes->push_back(comp + ": no .safetensors weights; using the PyTorch pickle " + split(files[*best].path).name);
        return best;
    }
    return std::nullopt;
}

}  // namespace

bool is_shard_index(const std::string& name) {
    return ends_with(name, ".json") &&
           (name.find(".safetensors.index") != std::string::npos || name.find(".bin.index") != std::string::npos);
}

bool is_diffusers_listing(const std::vector<RepoFile>& files) {
    return std::any_of(files.begin(), files.end(), [](const RepoFile& f) { return f.path == "model_index.json"; });
}

std::vector<RepoFile> select_diffusers_files(const std::vector<RepoFile>& files, const std::string& variant,
                                             std::vector<std::string>* notes) {
    for (char c : variant)
        SDPP_CHECK(std::isalnum((unsigned char)c) || c == '_', "invalid weights variant '", variant, "'");
    SDPP_CHECK(is_diffusers_listing(files), "not a diffusers repo (no model_index.json at its root)");
    std::set<size_t> chosen;
    std::map<std::string, std::vector<size_t>> children;  // top-level folder -> direct children
    for (size_t i = 0; i < files.size(); ++i) {
        const std::string& p = files[i].path;
        Split s = split(p);
        if (p == "model_index.json") chosen.insert(i);
        if (s.dir.empty() || s.dir.find('/') != std::string::npos) continue;  // only depth-1 files below
        children[s.dir].push_back(i);
        if (s.name == "config.json") chosen.insert(i);
        if (s.dir == "scheduler" && s.name == "scheduler_config.json") chosen.insert(i);
        if (s.dir.rfind("tokenizer", 0) == 0) chosen.insert(i);
    }
    for (const char* comp : kWeightComponents) {
        auto it = children.find(comp);
        if (it == children.end()) continue;
        auto pick = pick_weights(files, it->second, variant, comp, notes);
        if (!pick)
            throw error("the repo's ", comp, "/ folder has no .safetensors or .bin weights sdpp can load "
                        "(ONNX and Flax weights are not supported)");
        chosen.insert(*pick);
    }
    std::vector<RepoFile> out;
    for (size_t i : chosen) out.push_back(files[i]);
    return out;
}

RepoFile select_single_checkpoint(const std::vector<RepoFile>& files, const std::string& repo) {
    for (const char* group : {"safetensors", "pickle"}) {
        std::vector<const RepoFile*> found;
        for (const RepoFile& f : files) {
            if (f.path.find('/') != std::string::npos) continue;
            bool st = ends_with(f.path, ".safetensors");
            bool pk = ends_with(f.path, ".ckpt") || ends_with(f.path, ".pt") || ends_with(f.path, ".pth") ||
                      ends_with(f.path, ".bin");
            if (std::string(group) == "safetensors" ? st : pk) found.push_back(&f);
        }
        if (found.size() == 1) return *found[0];
        if (found.size() > 1) {
            std::string names;
            for (size_t i = 0; i < found.size() && i < 8; ++i) names += (i ? ", " : "") + found[i]->path;
            if (found.size() > 8) names += ", ...";
            throw error("repo '", repo, "' is not a diffusers folder and has ", found.size(),
                        " checkpoints; name one: sdpp pull ", repo, " FILE (", names, ")");
        }
    }
    throw error("repo '", repo, "' has neither model_index.json (diffusers) nor a checkpoint file at its root; "
                "name the file to pull: sdpp pull ", repo, " FILE");
}

std::vector<std::string> shards_from_index(const std::string& json_text, const std::string& what) {
    nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
    SDPP_CHECK(!j.is_discarded() && j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
               what, ": not a sharded-weights index (no weight_map object)");
    std::set<std::string> names;
    for (const auto& [key, v] : j["weight_map"].items()) {
        SDPP_CHECK(v.is_string(), what, ": weight_map['", key, "'] is not a file name");
        std::string n = v.get<std::string>();
        SDPP_CHECK(!n.empty() && n.find('/') == std::string::npos, what, ": unsafe shard name '", n, "'");
        check_repo_path(n);
        names.insert(n);
    }
    SDPP_CHECK(!names.empty(), what, ": weight_map is empty");
    return {names.begin(), names.end()};
}

}  // namespace sdpp::hub
