// Network key parsing and module-name mapping (see lora_keys.h).
#include "model/lora_keys.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace sdpp {

namespace {

struct Suffix {
    std::string_view text;
    NetPart part;
};
// Longest first where one suffix ends another.
constexpr Suffix kSuffixes[] = {
    {".lora_down.weight", NetPart::LoraDown}, {".lora_up.weight", NetPart::LoraUp},
    {".lora_mid.weight", NetPart::LoraMid},   {".lora_A.weight", NetPart::LoraDown},
    {".lora_B.weight", NetPart::LoraUp},      {".alpha", NetPart::Alpha},
    {".scale", NetPart::Scale},               {".hada_w1_a", NetPart::HadaW1A},
    {".hada_w1_b", NetPart::HadaW1B},         {".hada_w2_a", NetPart::HadaW2A},
    {".hada_w2_b", NetPart::HadaW2B},         {".hada_t1", NetPart::HadaT1},
    {".hada_t2", NetPart::HadaT2},            {".lokr_w1_a", NetPart::LokrW1A},
    {".lokr_w1_b", NetPart::LokrW1B},         {".lokr_w1", NetPart::LokrW1},
    {".lokr_w2_a", NetPart::LokrW2A},         {".lokr_w2_b", NetPart::LokrW2B},
    {".lokr_w2", NetPart::LokrW2},            {".lokr_t2", NetPart::LokrT2},
    {".dora_scale", NetPart::DoraScale},
};

// Names of modules and containers that hold an underscore (joined back in dotted paths).
constexpr std::string_view kWords[] = {
    // diffusers UNet
    "down_blocks", "up_blocks", "mid_block", "transformer_blocks", "to_q", "to_k", "to_v", "to_out", "proj_in",
    "proj_out", "time_emb_proj", "conv_shortcut", "time_embedding", "linear_1", "linear_2", "conv_in", "conv_out",
    "conv_norm_out", "add_embedding",
    // SGM / LDM UNet
    "input_blocks", "middle_block", "output_blocks", "in_layers", "out_layers", "emb_layers", "skip_connection",
    "time_embed", "label_emb",
    // HF CLIPTextModel
    "text_model", "self_attn", "q_proj", "k_proj", "v_proj", "out_proj", "final_layer_norm", "layer_norm1",
    "layer_norm2", "token_embedding", "position_embedding", "text_projection",
};

bool eat(std::string_view& s, std::string_view p) {
    if (!s.starts_with(p)) return false;
    s.remove_prefix(p.size());
    return true;
}

bool parse_index(std::string_view s, int& out) {
    if (s.empty() || s.size() > 6) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    std::from_chars(s.data(), s.data() + s.size(), out);
    return true;
}

}  // namespace

const char* net_part_name(NetPart p) {
    for (const Suffix& s : kSuffixes)
        if (s.part == p) return s.text.data() + 1;
    return "?";
}

NetKey split_network_key(std::string_view key) {
    for (const Suffix& s : kSuffixes)
        if (key.size() > s.text.size() && key.ends_with(s.text))
            return {std::string(key.substr(0, key.size() - s.text.size())), s.part};
    return {std::string(key), NetPart::Unknown};
}

std::string dotted_module_path(std::string_view s) {
    std::vector<std::string_view> parts;
    while (!s.empty()) {
        size_t u = s.find('_');
        parts.push_back(s.substr(0, u));
        if (u == std::string_view::npos) break;
        s.remove_prefix(u + 1);
    }
    std::string out;
    for (size_t i = 0; i < parts.size();) {
        size_t take = 1;
        for (size_t n = 3; n >= 2; --n) {  // longest known multi-word name first
            if (i + n > parts.size()) continue;
            std::string joined(parts[i]);
            for (size_t k = 1; k < n; ++k) {
                joined += '_';
                joined += parts[i + k];
            }
            if (std::find(std::begin(kWords), std::end(kWords), joined) != std::end(kWords)) {
                take = n;
                break;
            }
        }
        if (!out.empty()) out += ".";
        for (size_t k = 0; k < take; ++k) {
            if (k) out += '_';
            out += parts[i + k];
        }
        i += take;
    }
    return out;
}

namespace {

// The diffusers-UNet names the loader's table needs to place resnets and upsamplers (layers per
// block, up blocks with attention), made from the model's internal (LDM) keys.
std::vector<std::string> diffusers_shape_names(const std::vector<std::string>& keys) {
    const std::string P = "model.diffusion_model.";
    int first_op = -1, max_input = 0;
    for (const auto& k : keys) {
        std::string_view s = k;
        if (!eat(s, P) || !eat(s, "input_blocks.")) continue;
        size_t dot = s.find('.');
        int i = 0;
        if (!parse_index(s.substr(0, dot), i)) continue;
        max_input = std::max(max_input, i);
        if (s.substr(dot + 1).starts_with("0.op.") && (first_op < 0 || i < first_op)) first_op = i;
    }
    const int n = first_op > 0 ? first_op - 1 : max_input;
    std::vector<std::string> out;
    for (int j = 0; j < n; ++j) out.push_back("down_blocks.0.resnets." + std::to_string(j) + ".conv1.weight");
    for (int level = 0; level < 16; ++level) {
        const std::string pre = P + "output_blocks." + std::to_string(level * (n + 1)) + ".1.norm.";
        auto it = std::lower_bound(keys.begin(), keys.end(), pre);
        if (it != keys.end() && it->starts_with(pre))
            out.push_back("up_blocks." + std::to_string(level) + ".attentions.0.norm.weight");
    }
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

NetworkKeyMapper::NetworkKeyMapper(const std::vector<std::string>& model_keys)
    : unet_map_(KeySource::DiffusersUNet, diffusers_shape_names(sorted(model_keys))), keys_(sorted(model_keys)) {}

std::optional<std::string> NetworkKeyMapper::unet_diffusers(const std::string& dotted) const {
    const KeyMapping m = unet_map_.map(dotted + ".weight");
    if (m.cls != KeyClass::Bound || m.targets.size() != 1) return std::nullopt;
    return m.targets[0].name;
}

std::optional<NetTarget> NetworkKeyMapper::map_unchecked(const std::string& module) const {
    std::string_view s = module;
    const std::string P = "model.diffusion_model.";
    auto unet_from_dotted = [&](const std::string& d) -> std::optional<NetTarget> {
        if (d.starts_with("input_blocks.") || d.starts_with("middle_block.") || d.starts_with("output_blocks."))
            return NetTarget{P + d + ".weight", NetComponent::UNet};
        if (auto k = unet_diffusers(d)) return NetTarget{*k, NetComponent::UNet};
        return std::nullopt;
    };
    auto te = [&](NetComponent c, const std::string& d) -> std::optional<NetTarget> {
        if (!d.starts_with("text_model.")) return std::nullopt;
        return NetTarget{(c == NetComponent::TE2 ? "te2." : "te1.") + d + ".weight", c};
    };
    // kohya / A1111 / LyCORIS
    if (eat(s, "lora_unet_")) return unet_from_dotted(dotted_module_path(s));
    if (eat(s, "lora_te1_")) return te(NetComponent::TE1, dotted_module_path(s));
    if (eat(s, "lora_te2_")) return te(NetComponent::TE2, dotted_module_path(s));
    if (eat(s, "lora_te_")) return te(NetComponent::TE1, dotted_module_path(s));
    // diffusers / PEFT
    if (eat(s, "unet.")) return unet_from_dotted(std::string(s));
    if (eat(s, "text_encoder_2.")) return te(NetComponent::TE2, std::string(s));
    if (eat(s, "text_encoder.")) return te(NetComponent::TE1, std::string(s));
    return std::nullopt;
}

std::optional<NetTarget> NetworkKeyMapper::map(const std::string& module) const {
    auto t = map_unchecked(module);
    if (!t || !std::binary_search(keys_.begin(), keys_.end(), t->key)) return std::nullopt;
    return t;
}

}  // namespace sdpp
