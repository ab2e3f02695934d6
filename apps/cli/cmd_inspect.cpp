// `sdpp inspect FILE_OR_DIR [--vae F] [--config YAML] [--prediction v|eps] [--hash] [--json]`:
// what a checkpoint is (family, layout, prediction and where each hint came from), each
// component's architecture as read from its shapes, parameter counts, dtypes, and the keys that
// were dropped or not recognised. An unusable file is one "error: ..." line and exit code 2.
#include "cli/command.h"
#include "cli/inspect_embedding.h"
#include "core/error.h"
#include "model/detect.h"
#include "model/loader.h"
#include "tools/network_summary.h"
#include "tools/summary.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <sstream>

namespace sdpp::cli {
namespace {

struct Args {
    std::string path, vae, config, prediction;
    bool hash = false, json = false, network = false;
    int list = 10;
};

std::string grouped(int64_t n) {  // 1066235384 -> 1,066,235,384
    std::string s = std::to_string(n), out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(s[i]);
    }
    return out;
}

std::string hints_text(const LoadedModel& m, const std::string& field, const std::string& value) {
    auto it = m.hint_sources.find(field);
    return value + (it == m.hint_sources.end() ? "" : "  (" + it->second + ")");
}

std::string join_ints(const std::vector<int>& v) {
    std::ostringstream os;
    for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
    return os.str();
}

nlohmann::ordered_json to_json(const LoadedModel& m, const std::vector<ComponentSummary>& comps, const Args& a) {
    nlohmann::ordered_json j;
    j["path"] = m.path;
    j["layout"] = m.layout;
    j["family"] = family_name(m.family);
    j["inpaint"] = m.inpaint;
    j["prediction"] = prediction_name(m.prediction());
    j["config"] = m.config_file ? nlohmann::ordered_json(*m.config_file) : nlohmann::ordered_json();
    j["vae_override"] = m.vae_file ? nlohmann::ordered_json(*m.vae_file) : nlohmann::ordered_json();
    if (a.hash) j["sha256"] = m.file_sha256() ? nlohmann::ordered_json(*m.file_sha256()) : nlohmann::ordered_json();
    auto& h = j["hints"];
    if (m.hints.unet_heads_per_level) h["unet_heads_per_level"] = *m.hints.unet_heads_per_level;
    if (m.hints.unet_head_channels) h["unet_head_channels"] = *m.hints.unet_head_channels;
    if (m.hints.vae_scaling_factor) h["vae_scaling_factor"] = *m.hints.vae_scaling_factor;
    if (m.hints.te1_heads) h["te1_heads"] = *m.hints.te1_heads;
    if (m.hints.te2_heads) h["te2_heads"] = *m.hints.te2_heads;
    if (m.hints.te1_activation) h["te1_activation"] = *m.hints.te1_activation;
    if (m.hints.te2_activation) h["te2_activation"] = *m.hints.te2_activation;
    j["hint_sources"] = m.hint_sources;
    for (const auto& c : comps) {
        auto& cj = j["components"][c.name];
        cj["prefix"] = c.prefix;
        cj["tensors"] = c.n_tensors;
        cj["params"] = c.n_params;
        cj["dtypes"] = c.dtypes;
        for (auto& [k, v] : c.arch) cj["arch"][k] = v;
    }
    j["metadata"] = m.metadata;
    j["unknown_keys"] = m.unknown_keys;
    for (auto& [k, r] : m.dropped_keys) j["dropped_keys"][k] = r;
    return j;
}

void print_text(const LoadedModel& m, const std::vector<ComponentSummary>& comps, const Args& a) {
    std::printf("path        %s\n", m.path.c_str());
    std::printf("layout      %s\n", m.layout.c_str());
    std::printf("family      %s%s\n", family_name(m.family), m.inpaint ? " (inpainting)" : "");
    std::printf("prediction  %s\n", hints_text(m, "prediction", prediction_name(m.prediction())).c_str());
    std::printf("config      %s\n", m.config_file ? m.config_file->c_str() : "none");
    if (m.vae_file) std::printf("vae         %s (override)\n", m.vae_file->c_str());
    if (a.hash) {
        auto h = m.file_sha256();
        std::printf("sha256      %s\n", h ? h->c_str() : "n/a (folder)");
        if (h) std::printf("model hash  %s\n", h->substr(0, 10).c_str());
    }
    int64_t total = 0;
    for (const auto& c : comps) {
        std::string dt;
        for (auto& [d, n] : c.dtypes) dt += (dt.empty() ? "" : ", ") + d + " x" + std::to_string(n);
        std::printf("\n%-5s %-24s %6lld tensors %16s params   %s\n", c.name.c_str(), c.prefix.c_str(),
                    static_cast<long long>(c.n_tensors), grouped(c.n_params).c_str(), dt.c_str());
        for (auto& [k, v] : c.arch) std::printf("      %-26s %s\n", k.c_str(), v.c_str());
        if (c.name != "extra") total += c.n_params;
    }
    std::printf("\ntotal params %s\n", grouped(total).c_str());
    std::printf("\nhints\n");
    const ModelHints& h = m.hints;
    if (h.unet_heads_per_level)
        std::printf("  unet heads per level      %s\n",
                    hints_text(m, "unet_heads", join_ints(*h.unet_heads_per_level)).c_str());
    if (h.unet_head_channels)
        std::printf("  unet channels per head    %s\n",
                    hints_text(m, "unet_heads", std::to_string(*h.unet_head_channels)).c_str());
    if (h.vae_scaling_factor) {
        std::ostringstream os;
        os << *h.vae_scaling_factor;
        std::printf("  vae scaling factor        %s\n", hints_text(m, "vae_scaling_factor", os.str()).c_str());
    }
    for (auto [te, heads, act] : {std::tuple{"te1", h.te1_heads, h.te1_activation}, std::tuple{"te2", h.te2_heads, h.te2_activation}}) {
        if (heads) std::printf("  %s heads                 %s\n", te, hints_text(m, std::string(te) + "_heads", std::to_string(*heads)).c_str());
        if (act) std::printf("  %s activation            %s\n", te, hints_text(m, std::string(te) + "_activation", *act).c_str());
    }
    if (!m.dropped_keys.empty()) {
        std::map<std::string, int> by_reason;
        for (auto& [k, r] : m.dropped_keys) by_reason[r]++;
        std::printf("\ndropped (known, not used): %zu\n", m.dropped_keys.size());
        for (auto& [r, n] : by_reason) std::printf("  %4d  %s\n", n, r.c_str());
    }
    std::printf("\nunrecognised: %zu\n", m.unknown_keys.size());
    for (size_t i = 0; i < m.unknown_keys.size() && int(i) < a.list; ++i) std::printf("  %s\n", m.unknown_keys[i].c_str());
    if (int(m.unknown_keys.size()) > a.list) std::printf("  ... (%zu more; --list N shows more)\n", m.unknown_keys.size() - size_t(a.list));
}

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<Args>();
    app.add_option("model", a->path, "Checkpoint file (.safetensors, .ckpt), diffusers folder, or LoRA / LyCORIS network")->required();
    app.add_option("--vae", a->vae, "Separate VAE file or diffusers vae/ folder to use instead of the model's");
    app.add_option("--config", a->config, "LDM/SGM yaml to read instead of <checkpoint>.yaml");
    app.add_option("--prediction", a->prediction, "Override the prediction type")->check(CLI::IsMember({"v", "eps"}));
    app.add_flag("--hash", a->hash, "Compute the file's sha256 (A1111 'Model hash' = first 10 digits; slow for GB files)");
    app.add_flag("--json", a->json, "Print JSON instead of text");
    app.add_option("--list", a->list, "How many unrecognised keys to list")->capture_default_str();
    app.add_flag("--network", a->network, "The file is a LoRA / LyCORIS network (.pt / .ckpt; .safetensors networks are recognised)");
    return [a] {
        if (a->network || is_network_file(a->path)) {  // LoRA / LyCORIS: kind, family, rank, hash
            const auto s = network_summary(a->path);
            if (a->json) std::printf("%s\n", s.dump(2).c_str());
            else std::printf("%s", network_summary_text(s).c_str());
            return kExitOk;
        }
        if (inspect_embedding(a->path, a->json)) return kExitOk;  // a textual-inversion embedding
        LoadOptions o;
        if (!a->vae.empty()) o.vae_path = a->vae;
        if (!a->config.empty()) o.config_path = a->config;
        if (!a->prediction.empty()) o.prediction = a->prediction == "v" ? Prediction::V : Prediction::Eps;
        LoadedModel m = load_model(a->path, o);
        const auto comps = summarize_components(m.weights(), m.hints, m.dtypes);
        if (a->json) std::printf("%s\n", to_json(m, comps, *a).dump(2).c_str());
        else print_text(m, comps, *a);
        return kExitOk;
    };
}

const bool registered =
    register_command({"inspect", "Show what a checkpoint, diffusers folder or network is: family, layout, architecture", setup});

}  // namespace
}  // namespace sdpp::cli
