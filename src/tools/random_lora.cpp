// Random LoRA / LoCon files for a model (see random_lora.h). Module choice mirrors sd-scripts
// networks/lora.py (UNET_TARGET_REPLACE_MODULE Transformer2DModel + conv_dim's ResnetBlock2D,
// Downsample2D, Upsample2D; TEXT_ENCODER_TARGET_REPLACE_MODULE CLIPAttention, CLIPMLP).
#include "tools/random_lora.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "model/loader.h"
#include "model/model_info.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace sdpp {

namespace {

constexpr const char* kUNetLeaves[] = {
    ".attn1.to_q.weight", ".attn1.to_k.weight", ".attn1.to_v.weight", ".attn1.to_out.0.weight",
    ".attn2.to_q.weight", ".attn2.to_k.weight", ".attn2.to_v.weight", ".attn2.to_out.0.weight",
    ".ff.net.0.proj.weight", ".ff.net.2.weight", ".proj_in.weight", ".proj_out.weight",
    ".in_layers.2.weight", ".out_layers.3.weight", ".emb_layers.1.weight", ".skip_connection.weight",
    ".op.weight", ".conv.weight"};
constexpr const char* kTextLeaves[] = {".self_attn.q_proj.weight", ".self_attn.k_proj.weight",
                                       ".self_attn.v_proj.weight", ".self_attn.out_proj.weight",
                                       ".mlp.fc1.weight", ".mlp.fc2.weight"};

bool ends_with_any(const std::string& s, const auto& leaves) {
    for (const char* l : leaves)
        if (s.ends_with(l)) return true;
    return false;
}

std::string underscored(std::string s) {
    for (char& c : s)
        if (c == '.') c = '_';
    return s;
}

Tensor random_normal(std::mt19937_64& rng, const Shape& shape, float std) {
    Tensor t = Tensor::empty(shape);
    std::normal_distribution<float> nd(0.0f, std);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = nd(rng);
    return t.to(DType::F16);
}

}  // namespace

RandomLoraStats write_random_lora(const std::string& model_path, const std::string& out_path, const RandomLoraOptions& o) {
    if (o.rank < 1 || o.conv_rank < 1) throw error("rank must be >= 1");
    LoadedModel m = load_model(model_path);
    const WeightStore& w = m.weights();
    const bool two_te = !w.names_with_prefix("te2.").empty() && !w.names_with_prefix("te1.").empty();
    std::mt19937_64 rng(o.seed);
    std::vector<std::pair<std::string, Tensor>> out;
    RandomLoraStats st;
    auto add = [&](const std::string& module, const Shape& ws) {
        const bool conv3 = ws.size() == 4 && (ws[2] > 1 || ws[3] > 1);
        const int64_t in = numel_of(ws) / ws[0];
        const int64_t r = std::min<int64_t>({int64_t(conv3 ? o.conv_rank : o.rank), ws[0], in});
        Shape down = ws.size() == 4 ? Shape{r, ws[1], ws[2], ws[3]} : Shape{r, ws[1]};
        Shape up = ws.size() == 4 ? Shape{ws[0], r, 1, 1} : Shape{ws[0], r};
        out.emplace_back(module + ".lora_down.weight", random_normal(rng, down, 1.0f / std::sqrt(float(in))));
        out.emplace_back(module + ".lora_up.weight", random_normal(rng, up, 0.01f));
        out.emplace_back(module + ".alpha", Tensor::full({}, conv3 ? o.conv_alpha : o.alpha).to(DType::F16));
        st.params += numel_of(down) + numel_of(up);
    };
    const std::string P = "model.diffusion_model.";
    for (const std::string& k : w.names_with_prefix(P)) {
        auto s = w.peek_shape(k);
        if (!s || (s->size() != 2 && s->size() != 4) || !ends_with_any(k, kUNetLeaves)) continue;
        const std::string local = k.substr(P.size(), k.size() - P.size() - 7);
        add("lora_unet_" + underscored(local), *s);
        ++st.unet_modules;
    }
    for (const char* te : {"te1.", "te2."})
        for (const std::string& k : w.names_with_prefix(te)) {
            auto s = w.peek_shape(k);
            if (!s || s->size() != 2 || !ends_with_any(k, kTextLeaves)) continue;
            const std::string prefix = !two_te ? "lora_te_" : std::string(te) == "te1." ? "lora_te1_" : "lora_te2_";
            add(prefix + underscored(k.substr(4, k.size() - 4 - 7)), *s);
            ++st.te_modules;
        }
    const Family f = m.family;
    std::map<std::string, std::string> meta = {
        {"ss_network_module", "networks.lora"},
        {"ss_network_dim", std::to_string(o.rank)},
        {"ss_network_alpha", std::to_string(o.alpha)},
        {"ss_network_args", "{\"conv_dim\": \"" + std::to_string(o.conv_rank) + "\", \"conv_alpha\": \"" +
                                std::to_string(o.conv_alpha) + "\"}"},
        {"ss_base_model_version", f == Family::SDXL ? "sdxl_base_v1-0" : f == Family::SD2 ? "sd_v2" : "sd_v1"},
        {"ss_training_comment", "sdpp make-random-lora: random values, not trained"}};
    save_safetensors(out_path, out, meta, o.overwrite);
    return st;
}

}  // namespace sdpp
