// LoRA / LyCORIS networks of a request (see networks.h). Mirrors A1111 extensions-builtin/Lora
// extra_networks_lora.py (activate: multipliers, "Lora hashes") and networks.py (list_available_networks:
// names by file stem and alias, load_networks).
#include "pipeline/networks.h"

#include "core/error.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "model/model_info.h"
#include "pipeline/parameters.h"
#include "text/extra_networks.h"

#include <algorithm>
#include <filesystem>

namespace sdpp::pipeline {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool is_network_file(const fs::path& p) {
    const std::string ext = lower(p.extension().string());
    return ext == ".safetensors" || ext == ".pt" || ext == ".ckpt";
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

// Every network file under the folders (recursively), sorted by path.
std::vector<fs::path> network_files(const std::vector<std::string>& dirs) {
    std::vector<fs::path> out;
    for (const std::string& d : dirs) {
        std::error_code ec;
        if (!fs::is_directory(d, ec)) continue;
        std::vector<fs::path> here;
        for (auto it = fs::recursive_directory_iterator(d, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->is_regular_file(ec) && is_network_file(it->path())) here.push_back(it->path());
        std::sort(here.begin(), here.end());
        out.insert(out.end(), here.begin(), here.end());
    }
    return out;
}

std::string network_alias(const fs::path& p) {
    if (lower(p.extension().string()) != ".safetensors") return "";
    try {
        SafetensorsFile f = SafetensorsFile::open(p.string());
        auto it = f.metadata().find("ss_output_name");
        return it == f.metadata().end() ? "" : it->second;
    } catch (const Error&) {
        return "";  // a broken file is reported when it is used by its stem
    }
}

std::string hash_alias(std::string name) {  // A1111: names without ':' and ','
    name.erase(std::remove_if(name.begin(), name.end(), [](char c) { return c == ':' || c == ','; }), name.end());
    return name;
}

}  // namespace

std::vector<std::string> NetworkSession::lora_dirs(const ModelOptions& opts) {
    if (!opts.lora_dir.empty()) return {opts.lora_dir};
    fs::path base = fs::path(opts.model).parent_path();
    if (base.empty()) base = ".";
    return {(base / "Lora").string(), (base / "loras").string()};
}

std::string NetworkSession::resolve(const std::string& name, const ModelOptions& opts, const std::string& hash) {
    const std::vector<std::string> dirs = lora_dirs(opts);
    const std::vector<fs::path> files = network_files(dirs);
    for (const fs::path& p : files)
        if (p.stem().string() == name) return p.string();
    for (const fs::path& p : files)
        if (network_alias(p) == name) return p.string();
    if (!hash.empty())
        for (const fs::path& p : files) {
            try {
                if (hash_of(*open(p.string())) == hash) {
                    log_info("network '", name, "' found by its hash ", hash, ": ", p.string());
                    return p.string();
                }
            } catch (const Error&) {
                // not a readable network: not this one
            }
        }
    std::string where;
    for (const std::string& d : dirs) where += (where.empty() ? "" : ", ") + d;
    if (files.empty()) throw error("network '", name, "' not found: no network files in ", where);
    std::vector<std::pair<size_t, std::string>> near;
    for (const fs::path& p : files) {
        const std::string stem = p.stem().string();
        near.emplace_back(edit_distance(lower(name), lower(stem)), stem);
    }
    std::sort(near.begin(), near.end());
    std::string closest;
    for (size_t i = 0; i < near.size() && i < 3; ++i) closest += (i ? ", " : "") + near[i].second;
    throw error("network '", name, "' not found in ", where, " (closest: ", closest, ")");
}

std::shared_ptr<const NetworkFile> NetworkSession::open(const std::string& path) {
    auto it = files_.find(path);
    if (it != files_.end()) return it->second;
    auto nf = std::make_shared<const NetworkFile>(read_network_file(path));
    files_.emplace(path, nf);
    return nf;
}

const std::string& NetworkSession::hash_of(const NetworkFile& f) {
    auto it = hashes_.find(f.path);
    if (it == hashes_.end()) it = hashes_.emplace(f.path, f.short_hash()).first;
    return it->second;
}

PreparedNetworks NetworkSession::prepare(Ctx& ctx, LoadedModel& model, const ModelOptions& opts,
                                         const GenerateRequest& r) {
    PreparedNetworks out;
    const text::ExtraNetworkPrompt pos = text::parse_extra_networks(r.prompt);
    const text::ExtraNetworkPrompt neg = text::parse_extra_networks(r.negative_prompt);
    out.prompt = pos.text;
    out.negative_prompt = neg.text;
    if (!text::lora_tags(neg.tags).empty()) log_warn("network tags in the negative prompt are removed, not applied");

    std::vector<NetworkUse> uses;
    auto known_hash = [&](const std::string& name) -> std::string {
        for (const auto& [n, h] : r.lora_hashes)
            if (n == hash_alias(name)) return h;
        return "";
    };
    auto add = [&](const std::string& file_or_name, const std::string& name, float te, float unet) {
        std::error_code ec;
        const std::string want = known_hash(name);
        const std::string path =
            fs::is_regular_file(file_or_name, ec) ? file_or_name : resolve(file_or_name, opts, want);
        uses.push_back(NetworkUse{open(path), name, te, unet});
        if (!want.empty() && hash_of(*uses.back().file) != want)
            log_warn("network '", name, "' (", path, ") has hash ", hash_of(*uses.back().file), ", the parameters say ", want);
    };
    for (const LoraSpec& l : r.loras) {
        if (l.file.empty()) throw Error("a LoRA with no file or name");
        std::error_code ec;
        const std::string mentioned = fs::is_regular_file(l.file, ec) ? fs::path(l.file).stem().string() : l.file;
        add(l.file, mentioned, l.te_multiplier, l.unet_multiplier);
        std::string tag = " <lora:" + mentioned + ":" + format_number(l.te_multiplier);
        if (l.unet_multiplier != l.te_multiplier) tag.append(":").append(format_number(l.unet_multiplier));
        out.lora_tags += tag + ">";
    }
    for (const text::LoraTag& t : text::lora_tags(pos.tags)) add(t.name, t.name, t.te_multiplier, t.unet_multiplier);

    std::vector<std::tuple<std::string, float, float>> wanted;
    for (const NetworkUse& u : uses) wanted.emplace_back(u.file->path, u.te_multiplier, u.unet_multiplier);
    if (wanted != applied_) {
        applied_.clear();  // a failed merge leaves the originals bound
        MergeReport rep = merger_.apply(ctx, *model.store, family_name(model.family), uses);
        applied_ = wanted;
        out.unet_changed = rep.unet_changed;
        out.merged = true;
        if (!uses.empty())
            log_debug("networks: ", rep.modules_applied, " module(s) merged into ", merger_.merged_weights(), " weight(s)");
    }
    for (const NetworkUse& u : uses) {
        const std::string& h = hash_of(*u.file);
        if (!h.empty()) out.lora_hashes += (out.lora_hashes.empty() ? "" : ", ") + hash_alias(u.name) + ": " + h;
    }
    return out;
}

}  // namespace sdpp::pipeline

namespace sdpp {

std::vector<NetworkFileInfo> list_networks(const ModelOptions& options) {
    std::vector<NetworkFileInfo> out;
    for (const std::filesystem::path& p : pipeline::network_files(pipeline::NetworkSession::lora_dirs(options)))
        out.push_back({p.stem().string(), pipeline::network_alias(p), p.string()});
    return out;
}

}  // namespace sdpp
