// Key tables for every checkpoint layout (see key_map.h). The diffusers tables are the inverse of
// diffusers v0.30.3 loaders/single_file_utils.py (convert_ldm_unet_checkpoint,
// convert_ldm_vae_checkpoint, convert_open_clip_checkpoint); the open_clip renames follow
// open_clip's TextTransformer module names (v2.24.0) and transformers' CLIPTextModel.
#include "model/key_map.h"

#include "core/error.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <span>
#include <string_view>

namespace sdpp {

namespace {

bool eat(std::string_view& s, std::string_view prefix) {
    if (!s.starts_with(prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
}

// Reads "<int>." (or "<int>" at the end) from the front of s.
bool eat_index(std::string_view& s, int& out) {
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0 || n > 6) return false;
    std::from_chars(s.data(), s.data() + n, out);
    s.remove_prefix(n);
    if (!s.empty()) {
        if (s[0] != '.') return false;
        s.remove_prefix(1);
    }
    return true;
}

KeyMapping bound(std::string name, KeyOp op = KeyOp::Copy) {
    KeyMapping m;
    m.cls = KeyClass::Bound;
    m.targets.push_back({std::move(name), op});
    return m;
}
KeyMapping dropped(std::string reason) {
    KeyMapping m;
    m.cls = KeyClass::Dropped;
    m.reason = std::move(reason);
    return m;
}
KeyMapping unknown() { return KeyMapping{}; }

// LDM DDPM.register_schedule buffers (ldm/models/diffusion/ddpm.py) and SGM denoiser buffers.
constexpr std::string_view kScheduleBuffers[] = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2", "lvlb_weights", "logvar",
    "denoiser.sigmas", "denoiser.log_sigmas"};

// Keys every single-file layout may carry besides model weights.
std::optional<KeyMapping> common_non_weights(std::string_view name) {
    for (auto b : kScheduleBuffers)
        if (name == b) {
            KeyMapping m;
            m.cls = KeyClass::Extra;
            m.targets.push_back({std::string(kExtraPrefix) + std::string(name), KeyOp::Copy});
            return m;
        }
    if (name.starts_with("model_ema.")) return dropped("EMA copy / counters (the live weights are used)");
    // ComfyUI's prediction markers: read by detection from the raw names, not weights.
    if (name == "v_pred" || name == "ztsnr" || name.starts_with("edm_vpred."))
        return dropped("prediction-type marker (read by detection)");
    return std::nullopt;
}

// HF CLIPTextModel names under a text-encoder prefix. Old transformers versions had no
// "text_model." level; it is added.
KeyMapping map_hf_text(std::string_view local, const std::string& to) {
    if (local.ends_with("embeddings.position_ids")) return dropped("position_ids buffer (always 0..76)");
    if (local.starts_with("text_model.")) return bound(to + std::string(local));
    if (local.starts_with("embeddings.") || local.starts_with("encoder.") ||
        local.starts_with("final_layer_norm."))
        return bound(to + "text_model." + std::string(local));
    if (local == "text_projection.weight") return bound(to + std::string(local));
    if (local == "logit_scale") return dropped("CLIP logit_scale (contrastive training only)");
    return unknown();
}

// diffusers ResnetBlock2D -> LDM openaimodel ResBlock member names.
std::optional<std::string> unet_resnet_name(std::string_view r) {
    static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
        {"norm1.", "in_layers.0."},      {"conv1.", "in_layers.2."}, {"time_emb_proj.", "emb_layers.1."},
        {"norm2.", "out_layers.0."},     {"conv2.", "out_layers.3."},
        {"conv_shortcut.", "skip_connection."}};
    for (auto& [from, to] : kMap)
        if (r.starts_with(from)) return std::string(to) + std::string(r.substr(from.size()));
    return std::nullopt;
}

// diffusers ResnetBlock2D (VAE, no time embedding) -> LDM model.py ResnetBlock.
std::optional<std::string> vae_resnet_name(std::string_view r) {
    for (std::string_view same : {"norm1.", "conv1.", "norm2.", "conv2."})
        if (r.starts_with(same)) return std::string(r);
    if (eat(r, "conv_shortcut.")) return "nin_shortcut." + std::string(r);
    return std::nullopt;
}

// diffusers VAE mid-block Attention -> LDM AttnBlock (1x1 convs).
std::optional<KeyMapping> vae_attention(std::string_view a, const std::string& to) {
    static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
        {"group_norm.", "norm."}, {"to_q.", "q."}, {"to_k.", "k."}, {"to_v.", "v."}, {"to_out.0.", "proj_out."},
        // diffusers < 0.14 attention names
        {"query.", "q."}, {"key.", "k."}, {"value.", "v."}, {"proj_attn.", "proj_out."}};
    for (auto& [from, dst] : kMap)
        if (a.starts_with(from)) {
            std::string rest(a.substr(from.size()));
            bool conv = dst != "norm." && rest == "weight";
            return bound(to + std::string(dst) + rest, conv ? KeyOp::ToConv1x1 : KeyOp::Copy);
        }
    return std::nullopt;
}

enum class Tower : uint8_t { UNet, VAE, HFText, OpenCLIP, OpenCLIPSD2 };
struct PrefixRule {
    std::string_view from;
    std::string_view to;
    Tower tower;
};

// LDM (CompVis) single-file table.
constexpr PrefixRule kLdmTable[] = {
    {"model.diffusion_model.", "model.diffusion_model.", Tower::UNet},
    {"first_stage_model.", "first_stage_model.", Tower::VAE},
    {"cond_stage_model.transformer.", "te1.", Tower::HFText},    // SD 1.x: FrozenCLIPEmbedder
    {"cond_stage_model.model.", "te1.", Tower::OpenCLIPSD2},     // SD 2.x: FrozenOpenCLIPEmbedder
};

// SGM (generative-models) single-file table.
constexpr PrefixRule kSgmTable[] = {
    {"model.diffusion_model.", "model.diffusion_model.", Tower::UNet},
    {"first_stage_model.", "first_stage_model.", Tower::VAE},
    {"conditioner.embedders.0.transformer.", "te1.", Tower::HFText},  // SDXL CLIP-L
    {"conditioner.embedders.1.model.", "te2.", Tower::OpenCLIP},      // SDXL OpenCLIP-bigG
    // SD-Turbo (SD 2.1 architecture) keeps its OpenCLIP-H here; the SDXL refiner its bigG (-> te2,
    // decided in KeyMap::map_ldm_sgm from the key set).
    {"conditioner.embedders.0.model.", "te1.", Tower::OpenCLIPSD2},
};

bool any_prefix(const std::vector<std::string>& names, std::string_view p) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return n.starts_with(p); });
}

}  // namespace

const char* key_source_name(KeySource s) {
    switch (s) {
        case KeySource::LDM: return "ldm";
        case KeySource::SGM: return "sgm";
        case KeySource::DiffusersUNet: return "diffusers-unet";
        case KeySource::DiffusersVAE: return "diffusers-vae";
        case KeySource::DiffusersTextEncoder: return "diffusers-text_encoder";
        case KeySource::DiffusersTextEncoder2: return "diffusers-text_encoder_2";
        case KeySource::VAEFile: return "vae";
    }
    return "?";
}

Tensor apply_key_op(const Tensor& t, KeyOp op, const std::string& origin) {
    switch (op) {
        case KeyOp::Copy: return t;
        case KeyOp::ChunkQ:
        case KeyOp::ChunkK:
        case KeyOp::ChunkV: {
            SDPP_CHECK(t.ndim() >= 1 && t.dim(0) % 3 == 0, "'", origin, "' has shape ", t.shape_str(),
                       ": a fused q/k/v projection needs a first dimension divisible by 3");
            int64_t c = t.dim(0) / 3, i = op == KeyOp::ChunkQ ? 0 : op == KeyOp::ChunkK ? 1 : 2;
            return t.slice(0, i * c, (i + 1) * c);
        }
        case KeyOp::Transpose:
            SDPP_CHECK(t.ndim() == 2, "'", origin, "' has shape ", t.shape_str(), ", expected a matrix");
            return t.transpose(0, 1).contiguous();  // [W, E] -> [E, W]
        case KeyOp::ToConv1x1:
            if (t.ndim() == 4) return t;
            SDPP_CHECK(t.ndim() == 2, "'", origin, "' has shape ", t.shape_str(),
                       ", expected [C, C] or [C, C, 1, 1]");
            return t.reshape({t.dim(0), t.dim(1), 1, 1});
    }
    return t;
}

KeySource detect_single_file_source(const std::vector<std::string>& names, const std::string& what) {
    if (names.empty()) throw error(what, ": holds no tensors");
    if (any_prefix(names, "conditioner.") || any_prefix(names, "model.diffusion_model.label_emb."))
        return KeySource::SGM;
    if (any_prefix(names, "model.diffusion_model.") || any_prefix(names, "cond_stage_model.") ||
        any_prefix(names, "first_stage_model."))
        return KeySource::LDM;
    for (auto& n : names) {
        if (n.starts_with("lora_") || n.find(".lora_down.") != std::string::npos ||
            n.find(".lora_A.") != std::string::npos)
            throw error(what, ": a LoRA file (key '", n, "'), not a checkpoint");
        if (n.starts_with("string_to_param") || n == "emb_params" || n == "clip_l" || n == "clip_g")
            throw error(what, ": a textual-inversion embedding (key '", n, "'), not a checkpoint");
    }
    if (any_prefix(names, "encoder.down_blocks.") || any_prefix(names, "decoder.up_blocks."))
        return KeySource::DiffusersVAE;
    if (any_prefix(names, "encoder.down.") || any_prefix(names, "decoder.up.")) return KeySource::VAEFile;
    if (any_prefix(names, "down_blocks.") || any_prefix(names, "conv_in."))
        throw error(what, ": a diffusers-format UNet file; open the diffusers folder (with model_index.json) instead");
    if (any_prefix(names, "text_model."))
        throw error(what, ": a lone text encoder (HF CLIPTextModel names), not a checkpoint");
    throw error(what, ": no Stable Diffusion weights recognised (first key '", names.front(), "')");
}

KeySource detect_vae_file_source(const std::vector<std::string>& names, const std::string& what) {
    if (any_prefix(names, "encoder.down_blocks.") || any_prefix(names, "decoder.up_blocks.") ||
        any_prefix(names, "decoder.mid_block."))
        return KeySource::DiffusersVAE;
    if (any_prefix(names, "first_stage_model.") || any_prefix(names, "encoder.") || any_prefix(names, "decoder."))
        return KeySource::VAEFile;
    throw error(what, ": no VAE weights recognised (expected first_stage_model.*, encoder.*/decoder.* keys)");
}

KeyMap::KeyMap(KeySource source, const std::vector<std::string>& names) : source_(source) {
    for (const auto& n : names) {
        std::string_view s = n;
        int i = 0;
        // open_clip towers: count resblocks per prefix.
        for (std::string_view p : {"cond_stage_model.model.", "conditioner.embedders.0.model.",
                                   "conditioner.embedders.1.model."}) {
            std::string_view r = s;
            if (eat(r, p) && eat(r, "transformer.resblocks.") && eat_index(r, i)) {
                int& c = open_clip_blocks_[std::string(p)];
                c = std::max(c, i + 1);
            }
        }
        if (std::string_view r = s; eat(r, "down_blocks.0.resnets.") && eat_index(r, i))
            unet_layers_per_block_ = std::max(unet_layers_per_block_, i + 1);
        if (std::string_view r = s; eat(r, "up_blocks.") && eat_index(r, i) && r.starts_with("attentions."))
            unet_up_with_attn_.insert(i);
        if (std::string_view r = s; eat(r, "decoder.up_blocks.") && eat_index(r, i))
            vae_up_blocks_ = std::max(vae_up_blocks_, i + 1);
    }
    bool has_label_emb = any_prefix(names, "model.diffusion_model.label_emb.");
    sgm_embedder0_model_is_te2_ = has_label_emb && !any_prefix(names, "conditioner.embedders.1.");
}

KeyMapping KeyMap::map(const std::string& name) const {
    switch (source_) {
        case KeySource::LDM:
        case KeySource::SGM: return map_ldm_sgm(name);
        case KeySource::DiffusersUNet: return map_unet_diffusers(name);
        case KeySource::DiffusersVAE: return map_vae_diffusers(name);
        case KeySource::DiffusersTextEncoder: return map_hf_text(name, "te1.");
        case KeySource::DiffusersTextEncoder2: return map_hf_text(name, "te2.");
        case KeySource::VAEFile: {
            std::string_view s = name;
            if (eat(s, "first_stage_model.")) return map_vae_ldm(std::string(s));
            if (s.starts_with("encoder.") || s.starts_with("decoder.") || s.starts_with("quant_conv.") ||
                s.starts_with("post_quant_conv.") || s.starts_with("loss."))
                return map_vae_ldm(name);
            if (auto m = common_non_weights(name)) return *m;
            if (s.starts_with("model.diffusion_model.") || s.starts_with("cond_stage_model.") ||
                s.starts_with("conditioner."))
                return dropped("not a VAE weight (only the VAE of this file is used)");
            return unknown();
        }
    }
    return unknown();
}

KeyMapping KeyMap::map_ldm_sgm(const std::string& name) const {
    std::string_view s = name;
    if (auto m = common_non_weights(s)) return *m;
    const bool sgm = source_ == KeySource::SGM;
    const auto table = sgm ? std::span<const PrefixRule>(kSgmTable) : std::span<const PrefixRule>(kLdmTable);
    for (const PrefixRule& rule : table) {
        std::string_view local = s;
        if (!eat(local, rule.from)) continue;
        std::string to(rule.to);
        switch (rule.tower) {
            case Tower::UNet: return bound(to + std::string(local));
            case Tower::VAE: return map_vae_ldm(std::string(local));
            case Tower::HFText: return map_hf_text(local, to);
            case Tower::OpenCLIP: return map_open_clip(std::string(local), std::string(rule.from), to, false);
            case Tower::OpenCLIPSD2:
                if (sgm && sgm_embedder0_model_is_te2_)
                    return map_open_clip(std::string(local), std::string(rule.from), "te2.", false);
                return map_open_clip(std::string(local), std::string(rule.from), to, true);
        }
    }
    // SGM timestep embedders (embedders.2..4) have no parameters; anything else under a known
    // top-level prefix that no rule took is unknown.
    return unknown();
}

// open_clip TextTransformer (visual tower deleted) -> HF CLIPTextModel names under `to`.
// sd2: the SD 2.x tower, which runs all but its last block and never uses text_projection; both
// are dropped, exactly as diffusers' convert_open_clip_checkpoint does, so a single file and a
// diffusers folder give the same te1 (context = final_layer_norm(last_hidden_state)).
KeyMapping KeyMap::map_open_clip(const std::string& local_str, const std::string& from, const std::string& to,
                                 bool sd2) const {
    std::string_view local = local_str;
    if (local == "token_embedding.weight") return bound(to + "text_model.embeddings.token_embedding.weight");
    if (local == "positional_embedding") return bound(to + "text_model.embeddings.position_embedding.weight");
    if (local == "ln_final.weight" || local == "ln_final.bias")
        return bound(to + "text_model.final_layer_norm." + std::string(local.substr(9)));
    if (local == "text_projection") {
        if (sd2) return dropped("SD 2.x text projection (unused; diffusers drops it too)");
        return bound(to + "text_projection.weight", KeyOp::Transpose);
    }
    if (local == "logit_scale") return dropped("CLIP logit_scale (contrastive training only)");
    if (local == "attn_mask") return dropped("causal mask buffer (rebuilt at run time)");
    if (local.starts_with("visual.")) return dropped("CLIP image tower (not used)");
    std::string_view r = local;
    int block = 0;
    if (!eat(r, "transformer.resblocks.") || !eat_index(r, block)) return unknown();
    if (sd2) {
        auto it = open_clip_blocks_.find(from);
        const int layers = sd2_text_layers_ > 0 ? sd2_text_layers_ : it == open_clip_blocks_.end() ? 0 : it->second;
        if (block == layers - 1) return dropped("SD 2.x never runs the last text block (diffusers drops it too)");
    }
    const std::string layer = to + "text_model.encoder.layers." + std::to_string(block) + ".";
    static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
        {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"mlp.c_fc.", "mlp.fc1."},
        {"mlp.c_proj.", "mlp.fc2."}, {"attn.out_proj.", "self_attn.out_proj."}};
    for (auto& [from, dst] : kMap)
        if (r.starts_with(from)) return bound(layer + std::string(dst) + std::string(r.substr(from.size())));
    if (r == "attn.in_proj_weight" || r == "attn.in_proj_bias") {
        const std::string kind = r.ends_with("weight") ? "weight" : "bias";
        KeyMapping m;
        m.cls = KeyClass::Bound;
        m.targets = {{layer + "self_attn.q_proj." + kind, KeyOp::ChunkQ},
                     {layer + "self_attn.k_proj." + kind, KeyOp::ChunkK},
                     {layer + "self_attn.v_proj." + kind, KeyOp::ChunkV}};
        return m;
    }
    return unknown();
}

// LDM AutoencoderKL names (local = without first_stage_model.).
KeyMapping KeyMap::map_vae_ldm(const std::string& local) const {
    std::string_view s = local;
    if (s.starts_with("loss.")) return dropped("training loss / discriminator weights");
    if (!(s.starts_with("encoder.") || s.starts_with("decoder.") || s.starts_with("quant_conv.") ||
          s.starts_with("post_quant_conv.")))
        return unknown();
    // Some converted files store the mid attention as [C, C] linears: make them 1x1 convs.
    const bool attn_matrix = s.find(".mid.attn_1.") != std::string_view::npos && s.ends_with(".weight") &&
                             !s.ends_with("norm.weight");
    return bound("first_stage_model." + local, attn_matrix ? KeyOp::ToConv1x1 : KeyOp::Copy);
}

// diffusers UNet2DConditionModel -> LDM/SGM openaimodel UNetModel (inverse of
// convert_ldm_unet_checkpoint). With N = layers_per_block: down block i's resnet/attention j is
// input_blocks[1 + i*(N+1) + j].{0,1}, its downsampler input_blocks[(i+1)*(N+1)].0.op; up block
// i's resnet/attention j (N+1 of them) is output_blocks[i*(N+1) + j].{0,1}, its upsampler the
// last module of output_blocks[i*(N+1) + N] (index 2 if that block has attention, else 1).
KeyMapping KeyMap::map_unet_diffusers(const std::string& name) const {
    const std::string P = "model.diffusion_model.";
    const int N = unet_layers_per_block_;
    std::string_view s = name;
    int i = 0, j = 0;
    static constexpr std::pair<std::string_view, std::string_view> kTop[] = {
        {"conv_in.", "input_blocks.0.0."},          {"time_embedding.linear_1.", "time_embed.0."},
        {"time_embedding.linear_2.", "time_embed.2."}, {"add_embedding.linear_1.", "label_emb.0.0."},
        {"add_embedding.linear_2.", "label_emb.0.2."}, {"conv_norm_out.", "out.0."},
        {"conv_out.", "out.2."}};
    for (auto& [from, to] : kTop)
        if (s.starts_with(from)) return bound(P + std::string(to) + std::string(s.substr(from.size())));

    if (eat(s, "down_blocks.") && eat_index(s, i)) {
        if (eat(s, "resnets.") && eat_index(s, j)) {
            if (auto r = unet_resnet_name(s))
                return bound(P + "input_blocks." + std::to_string(1 + i * (N + 1) + j) + ".0." + *r);
        } else if (eat(s, "attentions.") && eat_index(s, j)) {
            return bound(P + "input_blocks." + std::to_string(1 + i * (N + 1) + j) + ".1." + std::string(s));
        } else if (eat(s, "downsamplers.0.conv.")) {
            return bound(P + "input_blocks." + std::to_string((i + 1) * (N + 1)) + ".0.op." + std::string(s));
        }
        return unknown();
    }
    if (eat(s, "mid_block.")) {
        if (eat(s, "resnets.") && eat_index(s, j) && j <= 1) {
            if (auto r = unet_resnet_name(s)) return bound(P + "middle_block." + std::to_string(2 * j) + "." + *r);
        } else if (eat(s, "attentions.0.")) {
            return bound(P + "middle_block.1." + std::string(s));
        }
        return unknown();
    }
    if (eat(s, "up_blocks.") && eat_index(s, i)) {
        if (eat(s, "resnets.") && eat_index(s, j)) {
            if (auto r = unet_resnet_name(s))
                return bound(P + "output_blocks." + std::to_string(i * (N + 1) + j) + ".0." + *r);
        } else if (eat(s, "attentions.") && eat_index(s, j)) {
            return bound(P + "output_blocks." + std::to_string(i * (N + 1) + j) + ".1." + std::string(s));
        } else if (eat(s, "upsamplers.0.conv.")) {
            int pos = unet_up_with_attn_.count(i) ? 2 : 1;
            return bound(P + "output_blocks." + std::to_string(i * (N + 1) + N) + "." + std::to_string(pos) +
                         ".conv." + std::string(s));
        }
        return unknown();
    }
    return unknown();
}

// diffusers AutoencoderKL -> LDM AutoencoderKL (inverse of convert_ldm_vae_checkpoint). The
// decoder's up_blocks run from the deepest level: up_blocks.i is LDM up.(L-1-i).
KeyMapping KeyMap::map_vae_diffusers(const std::string& name) const {
    const std::string P = "first_stage_model.";
    std::string_view s = name;
    if (s.starts_with("quant_conv.") || s.starts_with("post_quant_conv.")) return bound(P + name);
    std::string coder;
    if (eat(s, "encoder.")) coder = "encoder.";
    else if (eat(s, "decoder.")) coder = "decoder.";
    else return unknown();
    const std::string C = P + coder;
    for (std::string_view same : {"conv_in.", "conv_out."})
        if (s.starts_with(same)) return bound(C + std::string(s));
    if (eat(s, "conv_norm_out.")) return bound(C + "norm_out." + std::string(s));
    int i = 0, j = 0;
    if (eat(s, "mid_block.")) {
        if (eat(s, "resnets.") && eat_index(s, j) && j <= 1) {
            if (auto r = vae_resnet_name(s)) return bound(C + "mid.block_" + std::to_string(j + 1) + "." + *r);
        } else if (eat(s, "attentions.0.")) {
            if (auto m = vae_attention(s, C + "mid.attn_1.")) return *m;
        }
        return unknown();
    }
    if (coder == "encoder." && eat(s, "down_blocks.") && eat_index(s, i)) {
        const std::string level = C + "down." + std::to_string(i) + ".";
        if (eat(s, "resnets.") && eat_index(s, j)) {
            if (auto r = vae_resnet_name(s)) return bound(level + "block." + std::to_string(j) + "." + *r);
        } else if (eat(s, "downsamplers.0.conv.")) {
            return bound(level + "downsample.conv." + std::string(s));
        }
        return unknown();
    }
    if (coder == "decoder." && eat(s, "up_blocks.") && eat_index(s, i) && i < vae_up_blocks_) {
        const std::string level = C + "up." + std::to_string(vae_up_blocks_ - 1 - i) + ".";
        if (eat(s, "resnets.") && eat_index(s, j)) {
            if (auto r = vae_resnet_name(s)) return bound(level + "block." + std::to_string(j) + "." + *r);
        } else if (eat(s, "upsamplers.0.conv.")) {
            return bound(level + "upsample.conv." + std::string(s));
        }
        return unknown();
    }
    return unknown();
}

}  // namespace sdpp
