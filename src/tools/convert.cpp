// Single-file export in the original layout (see convert.h). The open_clip names are those of
// open_clip's TextTransformer (v2.24.0); the HF names those of transformers' CLIPTextModel.
#include "tools/convert.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "model/detect.h"
#include "model/key_map.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string_view>

namespace sdpp {

namespace fs = std::filesystem;

namespace {

bool eat(std::string_view& s, std::string_view p) {
    if (!s.starts_with(p)) return false;
    s.remove_prefix(p.size());
    return true;
}

// HF CLIPTextModel tensors under `te` (e.g. "te2.") -> open_clip names under `to`.
void to_open_clip(const WeightStore& w, const std::string& te, const std::string& to,
                  std::vector<std::pair<std::string, Tensor>>& out) {
    static constexpr std::pair<std::string_view, std::string_view> kLayer[] = {
        {"layer_norm1.", "ln_1."}, {"layer_norm2.", "ln_2."}, {"mlp.fc1.", "mlp.c_fc."},
        {"mlp.fc2.", "mlp.c_proj."}, {"self_attn.out_proj.", "attn.out_proj."}};
    for (const std::string& name : w.names_with_prefix(te)) {
        std::string_view s = std::string_view(name).substr(te.size());
        Tensor t = w.raw(name);
        if (s == "text_model.embeddings.token_embedding.weight") out.emplace_back(to + "token_embedding.weight", t);
        else if (s == "text_model.embeddings.position_embedding.weight") out.emplace_back(to + "positional_embedding", t);
        else if (eat(s, "text_model.final_layer_norm.")) out.emplace_back(to + "ln_final." + std::string(s), t);
        else if (s == "text_projection.weight") out.emplace_back(to + "text_projection", t.transpose(0, 1).contiguous());
        else if (eat(s, "text_model.encoder.layers.")) {
            const size_t dot = s.find('.');
            const std::string block(s.substr(0, dot));
            std::string_view rest = s.substr(dot + 1);
            const std::string dst = to + "transformer.resblocks." + block + ".";
            bool done = false;
            for (auto& [a, b] : kLayer)
                if (rest.starts_with(a)) {
                    out.emplace_back(dst + std::string(b) + std::string(rest.substr(a.size())), t);
                    done = true;
                }
            if (done) continue;
            std::string_view r = rest;
            if (eat(r, "self_attn.q_proj.")) {  // join q, k, v into the fused in_proj
                const std::string kind(r);
                const std::string src = te + "text_model.encoder.layers." + block + ".self_attn.";
                Tensor q = t, k = w.raw(src + "k_proj." + kind), v = w.raw(src + "v_proj." + kind);
                Shape shape = q.shape();
                shape[0] *= 3;
                Tensor fused = Tensor::empty(shape, q.dtype());  // [3C, C] or [3C]
                fused.slice(0, 0, q.dim(0)).copy_from(q);
                fused.slice(0, q.dim(0), 2 * q.dim(0)).copy_from(k);
                fused.slice(0, 2 * q.dim(0), 3 * q.dim(0)).copy_from(v);
                out.emplace_back(dst + "attn.in_proj_" + kind, fused);
            } else if (!rest.starts_with("self_attn.k_proj.") && !rest.starts_with("self_attn.v_proj.")) {
                throw error("convert: no open_clip name for '", name, "'");
            }
        } else {
            throw error("convert: no open_clip name for '", name, "'");
        }
    }
}

// HF tensors under `te` -> `to` (the CLIP-L towers stay in HF names), plus the position_ids
// buffer real files carry.
void to_hf(const WeightStore& w, const std::string& te, const std::string& to,
           std::vector<std::pair<std::string, Tensor>>& out) {
    for (const std::string& name : w.names_with_prefix(te)) out.emplace_back(to + name.substr(te.size()), w.raw(name));
    if (auto pos = w.peek_shape(te + "text_model.embeddings.position_embedding.weight")) {
        const int64_t n = (*pos)[0];
        Tensor ids = Tensor::empty({1, n}, DType::I64);
        for (int64_t i = 0; i < n; ++i) ids.data<int64_t>()[i] = i;
        out.emplace_back(to + "text_model.embeddings.position_ids", ids);
    }
}

std::string hint_list(const std::vector<int>& v) {
    std::ostringstream os;
    for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
    return os.str();
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

std::vector<std::pair<std::string, Tensor>> original_layout_tensors(const LoadedModel& m) {
    const WeightStore& w = m.weights();
    std::vector<std::pair<std::string, Tensor>> out;
    for (const char* p : {"model.diffusion_model.", "first_stage_model."})
        for (const auto& n : w.names_with_prefix(p)) out.emplace_back(n, w.raw(n));
    switch (m.family) {
        case Family::SD1: to_hf(w, "te1.", "cond_stage_model.transformer.", out); break;
        case Family::SD2: to_open_clip(w, "te1.", "cond_stage_model.model.", out); break;
        case Family::SDXL:
            to_hf(w, "te1.", "conditioner.embedders.0.transformer.", out);
            to_open_clip(w, "te2.", "conditioner.embedders.1.model.", out);
            break;
        case Family::SDXLRefiner: to_open_clip(w, "te2.", "conditioner.embedders.0.model.", out); break;
        case Family::Unknown:
            if (!w.names_with_prefix("te1.").empty() || !w.names_with_prefix("te2.").empty())
                throw error(m.path, ": cannot convert text encoders of an unknown model family");
    }
    for (const auto& n : w.names_with_prefix(kExtraPrefix)) out.emplace_back(n.substr(6), w.raw(n));
    return out;
}

std::map<std::string, std::string> original_layout_metadata(const LoadedModel& m) {
    std::map<std::string, std::string> md = {
        {"format", "pt"}, {"modelspec.prediction_type", m.prediction() == Prediction::V ? "v" : "epsilon"}};
    auto given = [&](const char* field) {
        auto it = m.hint_sources.find(field);
        return it != m.hint_sources.end() && it->second != "default";
    };
    const ModelHints& h = m.hints;
    if (given("unet_heads")) {
        if (h.unet_head_channels) md["sdpp.hint.unet_head_channels"] = std::to_string(*h.unet_head_channels);
        else if (h.unet_heads_per_level) md["sdpp.hint.unet_heads"] = hint_list(*h.unet_heads_per_level);
    }
    if (given("te1_heads") && h.te1_heads) md["sdpp.hint.te1_heads"] = std::to_string(*h.te1_heads);
    if (given("te2_heads") && h.te2_heads) md["sdpp.hint.te2_heads"] = std::to_string(*h.te2_heads);
    if (given("te1_activation") && h.te1_activation) md["sdpp.hint.te1_activation"] = *h.te1_activation;
    if (given("te2_activation") && h.te2_activation) md["sdpp.hint.te2_activation"] = *h.te2_activation;
    // SD 2.x: te1 holds the blocks SD 2.x runs; the architecture has one more (see KeyMap).
    if (m.family == Family::SD2)
        md["sdpp.hint.te1_layers"] = std::to_string(count_indexed_keys(m.weights(), "te1.text_model.encoder.layers.") + 1);
    return md;
}

ConvertStats convert_model(const LoadedModel& m, const std::string& out, const ConvertOptions& opts) {
    if (opts.dtype)
        SDPP_CHECK(*opts.dtype == DType::F16 || *opts.dtype == DType::F32 || *opts.dtype == DType::BF16,
                   "convert: dtype must be f16, f32 or bf16");
    if (!opts.overwrite && fs::exists(out)) throw error(out, ": file exists (pass --overwrite to replace it)");
    const std::string yaml_out = fs::path(out).replace_extension(".yaml").string();
    if (m.config_file && !opts.overwrite && fs::exists(yaml_out))
        throw error(yaml_out, ": file exists (pass --overwrite to replace it)");
    const auto tensors = original_layout_tensors(m);
    auto out_dtype = [&](const std::string& name, const Tensor& t) {
        const bool weight = is_float(t.dtype()) && !m.weights().contains(std::string(kExtraPrefix) + name);
        return weight && opts.dtype ? *opts.dtype : t.dtype();
    };

    nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
    hdr["__metadata__"] = original_layout_metadata(m);
    ConvertStats st;
    for (auto& [name, t] : tensors) {
        const DType dt = out_dtype(name, t);
        const uint64_t nb = uint64_t(t.numel()) * dtype_size(dt);
        hdr[name] = {{"dtype", dtype_to_safetensors(dt)}, {"shape", t.shape()}, {"data_offsets", {st.bytes, st.bytes + nb}}};
        st.bytes += nb;
        ++st.n_tensors;
    }
    std::string h = hdr.dump();
    while ((8 + h.size()) % 8) h.push_back(' ');

    const std::string tmp = out + ".tmp";
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
    if (!f) throw error(out, ": cannot write");
    auto put = [&](const void* p, size_t n) {
        if (std::fwrite(p, 1, n, f.get()) != n) {
            f.reset();
            std::remove(tmp.c_str());
            throw error(out, ": write failed (disk full?)");
        }
    };
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(h.size()) >> (8 * i)) & 0xff);
    put(len, 8);
    put(h.data(), h.size());
    for (auto& [name, t] : tensors) {
        Tensor c = t.to(out_dtype(name, t));  // one tensor in memory at a time
        put(c.raw(), c.nbytes());
    }
    if (std::fflush(f.get()) != 0) {
        f.reset();
        std::remove(tmp.c_str());
        throw error(out, ": write failed (disk full?)");
    }
    f.reset();
    std::error_code ec;
    fs::rename(tmp, out, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw error(out, ": cannot rename the temporary file: ", ec.message());
    }
    if (m.config_file) fs::copy_file(*m.config_file, yaml_out, fs::copy_options::overwrite_existing);
    st.bytes += 8 + h.size();
    return st;
}

}  // namespace sdpp
