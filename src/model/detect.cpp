// Family, inpainting, prediction type and ModelHints (see detect.h). The yaml fields are those of
// CompVis ldm configs (v1-inference.yaml, v2-inference-v.yaml) and Stability sgm configs
// (sd_xl_base.yaml, sd_xl_refiner.yaml); the diffusers fields those of UNet2DConditionModel /
// AutoencoderKL / CLIPTextConfig / *Scheduler config.json files (diffusers v0.30.3, transformers).
#include "model/detect.h"

#include "core/error.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

namespace sdpp {

namespace {

std::optional<Prediction> parse_prediction(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s == "v" || s == "v_prediction" || s == "v-prediction" || s == "vpred" || s == "v_pred") return Prediction::V;
    if (s == "eps" || s == "epsilon") return Prediction::Eps;
    return std::nullopt;
}

// Descends a yaml map; nullopt when any level is missing or not a map. (YAML::Node's operator=
// assigns through to the node it refers to, so the cursor moves with reset().)
std::optional<YAML::Node> yaml_at(const YAML::Node& start, std::initializer_list<const char*> path) {
    YAML::Node n;
    n.reset(start);
    for (const char* key : path) {
        if (!n.IsMap()) return std::nullopt;
        const YAML::Node& cn = n;
        YAML::Node c = cn[key];  // const lookup: never inserts
        if (!c.IsDefined() || c.IsNull()) return std::nullopt;
        n.reset(c);
    }
    return n;
}

template <class T>
std::optional<T> yaml_get(const YAML::Node& n, std::initializer_list<const char*> path) {
    auto v = yaml_at(n, path);
    if (!v || !v->IsScalar()) return std::nullopt;
    return v->as<T>();
}

std::optional<nlohmann::json> read_json(const std::string& path) {
    if (!std::filesystem::is_regular_file(path)) return std::nullopt;
    std::ifstream is(path);
    auto j = nlohmann::json::parse(is, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) throw error(path, ": not a valid JSON object");
    return j;
}

std::optional<int> json_int(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<int>();
}

std::optional<std::string> json_str(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

// Largest N + 1 over keys "<prefix>N.<anything>".
int count_indexed(const WeightStore& store, const std::string& prefix) {
    int n = 0;
    for (const auto& k : store.names_with_prefix(prefix)) {
        size_t p = prefix.size(), q = p;
        while (q < k.size() && std::isdigit(static_cast<unsigned char>(k[q]))) ++q;
        if (q > p && q - p < 7) n = std::max(n, std::stoi(k.substr(p, q - p)) + 1);
    }
    return n;
}

// Context (cross-attention input) width: in_features of any attn2.to_k.
std::optional<int64_t> context_dim(const WeightStore& store) {
    for (const auto& k : store.names_with_prefix("model.diffusion_model."))
        if (k.ends_with(".attn2.to_k.weight")) return store.peek_shape(k)->back();
    return std::nullopt;
}

}  // namespace

int64_t unet_in_channels(const WeightStore& store) {
    auto s = store.peek_shape("model.diffusion_model.input_blocks.0.0.weight");
    return s && s->size() == 4 ? (*s)[1] : 0;
}

bool detect_inpaint(const WeightStore& store) { return unet_in_channels(store) == 9; }

Family detect_family(const WeightStore& store, const ModelHints& hints) {
    if (!store.peek_shape("model.diffusion_model.input_blocks.0.0.weight")) return Family::Unknown;
    const bool te1 = !store.names_with_prefix("te1.").empty(), te2 = !store.names_with_prefix("te2.").empty();
    const auto ctx = context_dim(store);
    if (auto adm = store.peek_shape("model.diffusion_model.label_emb.0.0.weight")) {
        if (te1 && te2) return Family::SDXL;
        if (te2) return Family::SDXLRefiner;
        if ((adm->size() == 2 && (*adm)[1] == 2560) || ctx == 1280) return Family::SDXLRefiner;
        return Family::SDXL;
    }
    auto src = store.info.find("te1.source");
    if (src != store.info.end() && src->second == "open_clip") return Family::SD2;
    if (hints.te1_activation == "gelu") return Family::SD2;
    if (ctx == 1024) return Family::SD2;
    return Family::SD1;
}

ModelHints hints_from_ldm_yaml(const std::string& path) {
    ModelHints h;
    try {
        YAML::Node root = YAML::LoadFile(path);
        auto params = yaml_at(root, {"model", "params"});
        if (!params) throw error(path, ": not an LDM/SGM model config (no model.params)");
        auto unet = yaml_at(*params, {"unet_config", "params"});
        if (!unet) unet = yaml_at(*params, {"network_config", "params"});
        if (unet) {
            int levels = 0;
            if (auto cm = yaml_at(*unet, {"channel_mult"}); cm && cm->IsSequence()) levels = int(cm->size());
            auto heads = yaml_get<int>(*unet, {"num_heads"});
            auto head_ch = yaml_get<int>(*unet, {"num_head_channels"});
            // ldm openaimodel: num_head_channels (when not -1) wins over num_heads.
            if (head_ch && *head_ch > 0) h.unet_head_channels = *head_ch;
            else if (heads && *heads > 0) h.unet_heads_per_level = std::vector<int>(std::max(levels, 1), *heads);
        }
        if (auto p = yaml_get<std::string>(*params, {"parameterization"})) {
            h.prediction = parse_prediction(*p);
            if (!h.prediction) throw error(path, ": unsupported parameterization '", *p, "'");
        }
        if (auto t = yaml_get<std::string>(*params, {"denoiser_config", "params", "scaling_config", "target"})) {
            if (t->find("VScaling") != std::string::npos) h.prediction = Prediction::V;
            else if (t->find("EpsScaling") != std::string::npos) h.prediction = Prediction::Eps;
        }
        if (auto s = yaml_get<float>(*params, {"scale_factor"})) h.vae_scaling_factor = *s;
        auto act_of = [](const std::string& target) -> std::optional<std::string> {
            if (target.find("OpenCLIP") != std::string::npos) return "gelu";
            if (target.find("FrozenCLIPEmbedder") != std::string::npos) return "quick_gelu";
            return std::nullopt;
        };
        if (auto t = yaml_get<std::string>(*params, {"cond_stage_config", "target"})) h.te1_activation = act_of(*t);
        if (auto emb = yaml_at(*params, {"conditioner_config", "params", "emb_models"}); emb && emb->IsSequence()) {
            // SDXL base: [CLIP-L, OpenCLIP-bigG, ...]; refiner: [OpenCLIP-bigG, ...] (-> te2)
            std::vector<std::string> text;
            for (const auto& m : *emb)
                if (auto t = yaml_get<std::string>(m, {"target"}); t && act_of(*t)) text.push_back(*t);
            if (text.size() >= 2) {
                h.te1_activation = act_of(text[0]);
                h.te2_activation = act_of(text[1]);
            } else if (text.size() == 1) {
                (text[0].find("OpenCLIPEmbedder2") != std::string::npos ? h.te2_activation : h.te1_activation) =
                    act_of(text[0]);
            }
        }
        // Tiny fixture models record their text-encoder sizes here (not part of the LDM schema).
        if (auto tiny = yaml_at(root, {"oracle_tiny_text_encoders"})) {
            for (auto [key, heads, act] : {std::tuple{"text_encoder", &h.te1_heads, &h.te1_activation},
                                           std::tuple{"text_encoder_2", &h.te2_heads, &h.te2_activation}}) {
                if (auto n = yaml_get<int>(*tiny, {key, "heads"})) *heads = *n;
                if (auto q = yaml_get<bool>(*tiny, {key, "quick_gelu"})) *act = *q ? "quick_gelu" : "gelu";
            }
        }
    } catch (const YAML::Exception& e) {
        throw error(path, ": cannot read the model config: ", e.what());
    }
    return h;
}

std::optional<int> text_layers_from_ldm_yaml(const std::string& path) {
    try {
        return yaml_get<int>(YAML::LoadFile(path), {"oracle_tiny_text_encoders", "text_encoder", "layers"});
    } catch (const YAML::Exception& e) {
        throw error(path, ": cannot read the model config: ", e.what());
    }
}

ModelHints hints_from_diffusers(const std::string& dir) {
    ModelHints h;
    if (auto unet = read_json(dir + "/unet/config.json")) {
        int levels = 1;
        if (auto b = unet->find("block_out_channels"); b != unet->end() && b->is_array()) levels = int(b->size());
        auto heads = unet->find("num_attention_heads");
        if (heads == unet->end() || heads->is_null()) heads = unet->find("attention_head_dim");
        if (heads != unet->end()) {
            if (heads->is_number_integer()) {
                h.unet_heads_per_level = std::vector<int>(std::max(levels, 1), heads->get<int>());
            } else if (heads->is_array()) {
                std::vector<int> v;
                for (auto& x : *heads) {
                    if (!x.is_number_integer()) throw error(dir, "/unet/config.json: attention heads must be integers");
                    v.push_back(x.get<int>());
                }
                if (!v.empty()) h.unet_heads_per_level = v;
            }
        }
    }
    if (auto sch = read_json(dir + "/scheduler/scheduler_config.json")) {
        if (auto p = json_str(*sch, "prediction_type")) {
            h.prediction = parse_prediction(*p);
            if (!h.prediction) throw error(dir, "/scheduler/scheduler_config.json: unsupported prediction_type '", *p, "'");
        }
    }
    if (auto vae = read_json(dir + "/vae/config.json")) {
        if (auto it = vae->find("scaling_factor"); it != vae->end() && it->is_number())
            h.vae_scaling_factor = it->get<float>();
    }
    for (auto [sub, heads, act] : {std::tuple{"text_encoder", &h.te1_heads, &h.te1_activation},
                                   std::tuple{"text_encoder_2", &h.te2_heads, &h.te2_activation}}) {
        if (auto te = read_json(dir + "/" + sub + "/config.json")) {
            if (auto n = json_int(*te, "num_attention_heads")) *heads = *n;
            if (auto a = json_str(*te, "hidden_act")) *act = *a;
        }
    }
    return h;
}

ModelHints hints_from_metadata(const std::map<std::string, std::string>& md, bool has_v_pred_key) {
    ModelHints h;
    auto get = [&](const char* k) -> std::optional<std::string> {
        auto it = md.find(k);
        return it == md.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    if (auto p = get("modelspec.prediction_type")) h.prediction = parse_prediction(*p);
    if (!h.prediction)
        if (auto a = get("modelspec.architecture"); a && a->ends_with("-v")) h.prediction = Prediction::V;
    if (!h.prediction && has_v_pred_key) h.prediction = Prediction::V;
    auto get_int = [&](const char* k) -> std::optional<int> {
        auto s = get(k);
        if (!s) return std::nullopt;
        try {
            return std::stoi(*s);
        } catch (const std::exception&) {
            throw error("metadata '", k, "' is not an integer: '", *s, "'");
        }
    };
    if (auto n = get_int("sdpp.hint.unet_head_channels")) h.unet_head_channels = *n;
    if (auto s = get("sdpp.hint.unet_heads")) {  // "8" or one per level "2,2,4,4"
        std::vector<int> v;
        std::stringstream ss(*s);
        for (std::string item; std::getline(ss, item, ',');) {
            try {
                v.push_back(std::stoi(item));
            } catch (const std::exception&) {
                throw error("metadata 'sdpp.hint.unet_heads' is not a list of integers: '", *s, "'");
            }
        }
        if (!v.empty()) h.unet_heads_per_level = v;
    }
    if (auto n = get_int("sdpp.hint.te1_heads")) h.te1_heads = *n;
    if (auto n = get_int("sdpp.hint.te2_heads")) h.te2_heads = *n;
    // (sdpp.hint.te1_layers is read by the loader: it steers the SD 2.x key map, not a hint)
    if (auto a = get("sdpp.hint.te1_activation")) h.te1_activation = *a;
    if (auto a = get("sdpp.hint.te2_activation")) h.te2_activation = *a;
    return h;
}

void merge_hints(ModelHints& into, const ModelHints& from) {
    // U-Net heads: one description (per level or per channel count) is taken as a whole.
    if (!into.unet_heads_per_level && !into.unet_head_channels) {
        into.unet_heads_per_level = from.unet_heads_per_level;
        into.unet_head_channels = from.unet_head_channels;
    }
    if (!into.prediction) into.prediction = from.prediction;
    if (!into.vae_scaling_factor) into.vae_scaling_factor = from.vae_scaling_factor;
    if (!into.te1_heads) into.te1_heads = from.te1_heads;
    if (!into.te2_heads) into.te2_heads = from.te2_heads;
    if (!into.te1_activation) into.te1_activation = from.te1_activation;
    if (!into.te2_activation) into.te2_activation = from.te2_activation;
}

void apply_family_defaults(ModelHints& h, Family f, const WeightStore& store) {
    if (!h.unet_heads_per_level && !h.unet_head_channels) {
        if (f == Family::SD1) h.unet_heads_per_level = std::vector<int>{8};
        else if (f != Family::Unknown) h.unet_head_channels = 64;
    }
    if (!h.prediction) h.prediction = Prediction::Eps;
    if (!h.vae_scaling_factor)
        h.vae_scaling_factor = (f == Family::SDXL || f == Family::SDXLRefiner) ? 0.13025f : 0.18215f;
    auto width_heads = [&](const std::string& te) -> std::optional<int> {
        auto s = store.peek_shape(te + "text_model.embeddings.token_embedding.weight");
        if (!s || s->size() != 2 || (*s)[1] < 64 || (*s)[1] % 64) return std::nullopt;
        return int((*s)[1] / 64);
    };
    if (!h.te1_heads) h.te1_heads = width_heads("te1.");
    if (!h.te2_heads) h.te2_heads = width_heads("te2.");
    if (!h.te1_activation && !store.names_with_prefix("te1.").empty())
        h.te1_activation = f == Family::SD2 ? "gelu" : "quick_gelu";
    if (!h.te2_activation && !store.names_with_prefix("te2.").empty()) h.te2_activation = "gelu";
}

int unet_heads(const ModelHints& h, int level, int64_t channels) {
    if (h.unet_heads_per_level && !h.unet_heads_per_level->empty()) {
        const auto& v = *h.unet_heads_per_level;
        int n = v[size_t(std::clamp(level, 0, int(v.size()) - 1))];
        SDPP_CHECK(n > 0 && channels % n == 0, "U-Net level ", level, ": ", channels,
                   " channels do not split into ", n, " attention heads");
        return n;
    }
    SDPP_CHECK(h.unet_head_channels && *h.unet_head_channels > 0,
               "U-Net attention heads unknown (no config and no family default)");
    SDPP_CHECK(channels % *h.unet_head_channels == 0, "U-Net level ", level, ": ", channels,
               " channels are not a multiple of ", *h.unet_head_channels, " channels per head");
    return int(channels / *h.unet_head_channels);
}

int count_indexed_keys(const WeightStore& store, const std::string& prefix) { return count_indexed(store, prefix); }
std::optional<int64_t> unet_context_dim(const WeightStore& store) { return context_dim(store); }

}  // namespace sdpp
