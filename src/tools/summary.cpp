// Per-component summary of a loaded checkpoint for `sdpp inspect` (see summary.h): tensor
// and parameter counts, dtypes, and the architecture read from shapes (the names follow the LDM
// yaml / CLIPTextConfig fields: model_channels, channel_mult, num_res_blocks, transformer_depth,
// context_dim, ch, z_channels, hidden_size, ...). Reads shapes only, so nothing is marked used.
#include "tools/summary.h"

#include "model/detect.h"
#include "model/key_map.h"

#include <sstream>

namespace sdpp {

namespace {

std::string join(const std::vector<int64_t>& v) {
    std::ostringstream os;
    for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
    return os.str();
}

std::optional<int64_t> dim_of(const WeightStore& s, const std::string& key, int d) {
    auto sh = s.peek_shape(key);
    if (!sh || int(sh->size()) <= d) return std::nullopt;
    return (*sh)[size_t(d)];
}

void fact(ComponentSummary& c, const std::string& k, const std::string& v) { c.arch.emplace_back(k, v); }
void fact(ComponentSummary& c, const std::string& k, std::optional<int64_t> v) {
    if (v) c.arch.emplace_back(k, std::to_string(*v));
}

void unet_arch(ComponentSummary& c, const WeightStore& s, const ModelHints& h) {
    const std::string P = "model.diffusion_model.";
    auto mc = dim_of(s, P + "input_blocks.0.0.weight", 0);
    if (!mc) return;
    fact(c, "in_channels", dim_of(s, P + "input_blocks.0.0.weight", 1));
    fact(c, "out_channels", dim_of(s, P + "out.2.weight", 0));
    fact(c, "model_channels", mc);
    // Walk input_blocks: res blocks (optionally followed by a transformer) and downsamplers.
    std::vector<int64_t> widths, res, depth;
    int level = 0;
    const int n_in = count_indexed_keys(s, P + "input_blocks.");
    bool linear = false;
    for (int i = 1; i < n_in; ++i) {
        const std::string b = P + "input_blocks." + std::to_string(i) + ".";
        if (s.peek_shape(b + "0.op.weight")) {
            ++level;
            continue;
        }
        auto w = dim_of(s, b + "0.out_layers.3.weight", 0);
        if (!w) continue;
        if (int(widths.size()) <= level) {
            widths.resize(size_t(level) + 1, 0);
            res.resize(size_t(level) + 1, 0);
            depth.resize(size_t(level) + 1, 0);
        }
        widths[size_t(level)] = *w;
        res[size_t(level)] += 1;
        int d = count_indexed_keys(s, b + "1.transformer_blocks.");
        depth[size_t(level)] = std::max<int64_t>(depth[size_t(level)], d);
        if (auto pi = s.peek_shape(b + "1.proj_in.weight")) linear = pi->size() == 2;
    }
    std::vector<int64_t> mult;
    for (auto w : widths) mult.push_back(w / *mc);
    fact(c, "channel_mult", join(mult));
    fact(c, "num_res_blocks", join(res));
    fact(c, "transformer_depth", join(depth));
    fact(c, "transformer_depth_middle", int64_t(count_indexed_keys(s, P + "middle_block.1.transformer_blocks.")));
    fact(c, "context_dim", unet_context_dim(s));
    fact(c, "proj_in/out", linear ? "linear" : "conv 1x1");
    std::ostringstream heads;
    for (size_t l = 0; l < widths.size(); ++l) {
        if (l) heads << ",";
        if (!depth[l]) {
            heads << "-";
            continue;
        }
        try {
            heads << unet_heads(h, int(l), widths[l]);
        } catch (const Error&) {
            heads << "?";
        }
    }
    fact(c, "heads", heads.str());
    fact(c, "adm_in_channels", dim_of(s, P + "label_emb.0.0.weight", 1));
}

void vae_arch(ComponentSummary& c, const WeightStore& s, const ModelHints& h) {
    const std::string F = "first_stage_model.";
    auto ch = dim_of(s, F + "encoder.conv_in.weight", 0);
    if (ch) {
        fact(c, "ch", ch);
        std::vector<int64_t> mult;
        const int levels = count_indexed_keys(s, F + "encoder.down.");
        for (int i = 0; i < levels; ++i)
            if (auto w = dim_of(s, F + "encoder.down." + std::to_string(i) + ".block.0.conv2.weight", 0))
                mult.push_back(*w / *ch);
        fact(c, "ch_mult", join(mult));
        fact(c, "num_res_blocks", int64_t(count_indexed_keys(s, F + "encoder.down.0.block.")));
    } else {
        fact(c, "encoder", "absent");
    }
    fact(c, "z_channels", dim_of(s, F + "decoder.conv_in.weight", 1));
    fact(c, "embed_dim", dim_of(s, F + "post_quant_conv.weight", 1));
    if (h.vae_scaling_factor) {
        std::ostringstream os;
        os << *h.vae_scaling_factor;
        fact(c, "scale_factor", os.str());
    }
}

void te_arch(ComponentSummary& c, const WeightStore& s, const std::string& te, std::optional<int> heads,
             const std::optional<std::string>& act) {
    const std::string T = te + "text_model.";
    fact(c, "hidden_size", dim_of(s, T + "embeddings.token_embedding.weight", 1));
    fact(c, "vocab_size", dim_of(s, T + "embeddings.token_embedding.weight", 0));
    fact(c, "max_position_embeddings", dim_of(s, T + "embeddings.position_embedding.weight", 0));
    fact(c, "num_hidden_layers", int64_t(count_indexed_keys(s, T + "encoder.layers.")));
    fact(c, "intermediate_size", dim_of(s, T + "encoder.layers.0.mlp.fc1.weight", 0));
    if (heads) fact(c, "num_attention_heads", int64_t(*heads));
    if (act) fact(c, "hidden_act", *act);
    fact(c, "final_layer_norm", s.peek_shape(T + "final_layer_norm.weight") ? "yes" : "no");
    fact(c, "projection_dim", dim_of(s, te + "text_projection.weight", 0));
}

}  // namespace

std::vector<ComponentSummary> summarize_components(const WeightStore& store, const ModelHints& hints,
                                                   const std::map<std::string, DType>& dtypes) {
    struct Def {
        const char* name;
        const char* prefix;
    };
    const Def defs[] = {{"unet", "model.diffusion_model."}, {"vae", "first_stage_model."},
                        {"te1", "te1."}, {"te2", "te2."}, {"extra", kExtraPrefix}};
    std::vector<ComponentSummary> out;
    for (const Def& d : defs) {
        auto names = store.names_with_prefix(d.prefix);
        if (names.empty()) continue;
        ComponentSummary c;
        c.name = d.name;
        c.prefix = d.prefix;
        for (const auto& n : names) {
            ++c.n_tensors;
            c.n_params += numel_of(*store.peek_shape(n));
            auto it = dtypes.find(n);
            c.dtypes[it == dtypes.end() ? "?" : std::string(dtype_name(it->second))] += 1;
        }
        const std::string name = d.name;
        if (name == "unet") unet_arch(c, store, hints);
        else if (name == "vae") vae_arch(c, store, hints);
        else if (name == "te1") te_arch(c, store, "te1.", hints.te1_heads, hints.te1_activation);
        else if (name == "te2") te_arch(c, store, "te2.", hints.te2_heads, hints.te2_activation);
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace sdpp
