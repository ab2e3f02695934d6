// Network file summary (see network_summary.h).
#include "tools/network_summary.h"

#include "io/safetensors.h"
#include "model/loader.h"
#include "model/lora.h"

#include <filesystem>
#include <map>
#include <sstream>

namespace sdpp {

bool is_network_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    std::vector<std::string> names;
    if (std::filesystem::path(path).extension() == ".safetensors") {
        try {
            const SafetensorsFile f = SafetensorsFile::open(path);
            for (const auto& e : f.entries()) names.push_back(e.name);
        } catch (const Error&) {
            return false;  // the model loader reports it
        }
    } else {
        return false;  // .pt / .ckpt networks: inspect them by giving --network (below)
    }
    for (const auto& n : names)
        if (split_network_key(n).part != NetPart::Unknown && split_network_key(n).part != NetPart::Alpha) return true;
    return false;
}

nlohmann::ordered_json network_summary(const std::string& path) {
    const NetworkFile nf = read_network_file(path);
    nlohmann::ordered_json j;
    j["path"] = path;
    j["kind"] = nf.kind();
    j["family"] = nf.family().empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(nf.family());
    j["hash"] = nf.short_hash();
    std::map<std::string, int> per_component, per_kind;
    std::map<std::string, int> ranks, alphas;  // value -> modules
    std::vector<std::string> unsupported;
    for (const NetModule& m : nf.modules) {
        if (m.kind == NetKind::Unsupported) {
            unsupported.push_back(m.name + ": " + m.unsupported);
            continue;
        }
        const std::string& n = m.name;
        std::string comp = n.starts_with("lora_unet_") || n.starts_with("unet.") ? "unet"
                           : n.starts_with("lora_te2_") || n.starts_with("text_encoder_2.") ? "te2"
                           : n.starts_with("lora_te") || n.starts_with("text_encoder.") ? "te1"
                                                                                          : "other";
        per_component[comp]++;
        per_kind[m.kind == NetKind::LoRA && m.conv() ? "LoCon" : net_kind_name(m.kind)]++;
        if (auto r = m.rank()) ranks[std::to_string(*r)]++;
        std::ostringstream a;
        if (auto al = m.alpha()) a << *al;
        else a << "none";
        alphas[a.str()]++;
    }
    for (auto& [k, v] : per_component) j["modules"][k] = v;
    for (auto& [k, v] : per_kind) j["module_kinds"][k] = v;
    j["ranks"] = ranks;
    j["alphas"] = alphas;
    j["unsupported"] = unsupported;
    j["unknown_keys"] = nf.unknown_keys;
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const char* k : {"ss_base_model_version", "ss_network_module", "ss_network_dim", "ss_network_alpha",
                          "ss_network_args", "ss_output_name", "ss_sd_model_name"})
        if (auto it = nf.metadata.find(k); it != nf.metadata.end()) meta[k] = it->second;
    j["metadata"] = meta;
    return j;
}

std::string network_summary_text(const nlohmann::ordered_json& j) {
    std::ostringstream os;
    auto list = [](const nlohmann::ordered_json& m) {
        std::string s;
        for (auto& [k, v] : m.items()) s += (s.empty() ? "" : ", ") + k + " x" + std::to_string(v.get<int>());
        return s.empty() ? std::string("-") : s;
    };
    int total = 0;
    for (auto& [k, v] : j["modules"].items()) total += v.get<int>();
    os << "path        " << j["path"].get<std::string>() << "\n";
    os << "kind        " << j["kind"].get<std::string>() << " (network)\n";
    os << "family      " << (j["family"].is_null() ? std::string("unknown (no metadata; shapes do not tell)") : j["family"].get<std::string>()) << "\n";
    os << "hash        " << j["hash"].get<std::string>() << "  (A1111 Lora hashes)\n";
    os << "modules: " << total << "  (" << list(j["modules"]) << ")\n";
    os << "kinds       " << list(j["module_kinds"]) << "\n";
    os << "rank        " << list(j["ranks"]) << "\n";
    os << "alpha       " << list(j["alphas"]) << "\n";
    for (auto& [k, v] : j["metadata"].items()) os << "  " << k << ": " << v.get<std::string>() << "\n";
    os << "unsupported: " << j["unsupported"].size() << "\n";
    for (auto& u : j["unsupported"]) os << "  " << u.get<std::string>() << "\n";
    os << "unknown keys: " << j["unknown_keys"].size() << "\n";
    for (auto& u : j["unknown_keys"]) os << "  " << u.get<std::string>() << "\n";
    return os.str();
}

}  // namespace sdpp
