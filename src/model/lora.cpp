// Network files and module deltas (see lora.h). Sources: AUTOMATIC1111 stable-diffusion-webui
// extensions-builtin/Lora network.py (calc_scale, finalize_updown), network_lora.py, network_hada.py,
// network_lokr.py (make_kron), lyco_helpers.py; modules/hashes.py (addnet_hash_safetensors).
#include "model/lora.h"

#include "core/error.h"
#include "io/sha256.h"
#include "model/loader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace sdpp {

namespace fs = std::filesystem;

const char* net_kind_name(NetKind k) {
    switch (k) {
        case NetKind::LoRA: return "LoRA";
        case NetKind::LoHa: return "LoHa";
        case NetKind::LoKr: return "LoKr";
        case NetKind::Unsupported: return "unsupported";
    }
    return "?";
}

std::optional<int64_t> NetModule::rank() const {
    switch (kind) {
        case NetKind::LoRA: return at(NetPart::LoraDown).dim(0);
        case NetKind::LoHa: return at(NetPart::HadaW1B).dim(0);
        case NetKind::LoKr:
            if (has(NetPart::LokrW2B)) return at(NetPart::LokrW2B).dim(0);
            if (has(NetPart::LokrW1B)) return at(NetPart::LokrW1B).dim(0);
            return std::nullopt;
        case NetKind::Unsupported: return std::nullopt;
    }
    return std::nullopt;
}

std::optional<float> NetModule::alpha() const {
    if (!has(NetPart::Alpha)) return std::nullopt;
    return at(NetPart::Alpha).to(DType::F32).item();
}

float NetModule::scale() const {
    if (has(NetPart::Scale)) return at(NetPart::Scale).to(DType::F32).item();
    const auto r = rank();
    const auto a = alpha();
    if (r && a && *r > 0) return *a / float(*r);
    return 1.0f;
}

bool NetModule::conv() const {
    for (auto& [p, t] : parts)
        if (t.ndim() == 4) return true;
    if (kind == NetKind::LoHa) return false;
    return false;
}

namespace {

bool float_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

void classify(NetModule& m) {
    auto all = [&](std::initializer_list<NetPart> ps) {
        return std::all_of(ps.begin(), ps.end(), [&](NetPart p) { return m.has(p); });
    };
    if (m.has(NetPart::DoraScale)) {
        m.unsupported = "DoRA (dora_scale)";
        return;
    }
    if (all({NetPart::LoraDown, NetPart::LoraUp})) {
        if (m.has(NetPart::LoraMid)) m.unsupported = "LoCon with a Tucker mid factor (lora_mid)";
        else m.kind = NetKind::LoRA;
    } else if (all({NetPart::HadaW1A, NetPart::HadaW1B, NetPart::HadaW2A, NetPart::HadaW2B})) {
        if (m.has(NetPart::HadaT1) || m.has(NetPart::HadaT2)) m.unsupported = "LoHa with Tucker factors (hada_t1/t2)";
        else m.kind = NetKind::LoHa;
    } else if ((m.has(NetPart::LokrW1) || all({NetPart::LokrW1A, NetPart::LokrW1B})) &&
               (m.has(NetPart::LokrW2) || all({NetPart::LokrW2A, NetPart::LokrW2B}))) {
        if (m.has(NetPart::LokrT2)) m.unsupported = "LoKr with a Tucker factor (lokr_t2)";
        else m.kind = NetKind::LoKr;
    } else {
        std::string have;
        for (auto& [p, t] : m.parts) have += std::string(have.empty() ? "" : ", ") + net_part_name(p);
        m.unsupported = "incomplete module (has " + have + ")";
    }
    if (m.kind == NetKind::Unsupported) return;
    for (auto& [p, t] : m.parts) {
        const bool scalar = p == NetPart::Alpha || p == NetPart::Scale;
        if (scalar ? t.numel() != 1 : (t.ndim() != 2 && t.ndim() != 4) || t.numel() == 0)
            throw error("module '", m.name, "': ", net_part_name(p), " has shape ", t.shape_str(),
                        scalar ? ", expected a single value" : ", expected a 2-D or 4-D factor");
    }
}

// t as a [rows, numel / rows] f32 matrix.
Tensor as_matrix(const Tensor& t, int64_t rows, const std::string& what) {
    SDPP_CHECK(rows > 0 && t.numel() % rows == 0, what, " has shape ", t.shape_str(), ": not ", rows, " rows");
    return t.to(DType::F32).reshape({rows, t.numel() / rows});
}

// a [m, k] @ b [k, n], checking the inner sizes (a network made for another model has others).
Tensor mm(Ctx& ctx, const Tensor& a, const Tensor& b, const std::string& what, float alpha = 1.0f) {
    SDPP_CHECK(a.dim(1) == b.dim(0), what, ": factors ", a.shape_str(), " and ", b.shape_str(), " do not multiply");
    return matmul(ctx, a, b, false, false, alpha);
}

// torch.kron of two matrices: out[i * o2 + j, k * n2 + l] = w1[i, k] * w2[j, l].
Tensor kron2(const Tensor& w1, const Tensor& w2) {
    const int64_t o1 = w1.dim(0), n1 = w1.dim(1), o2 = w2.dim(0), n2 = w2.dim(1);
    Tensor a = w1.contiguous(), b = w2.contiguous();
    Tensor out = Tensor::empty({o1 * o2, n1 * n2});
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < o1; ++i)
        for (int64_t j = 0; j < o2; ++j) {
            float* row = po + (i * o2 + j) * n1 * n2;
            const float* brow = pb + j * n2;
            for (int64_t k = 0; k < n1; ++k) {
                const float s = pa[i * n1 + k];
                float* dst = row + k * n2;
                for (int64_t l = 0; l < n2; ++l) dst[l] = s * brow[l];
            }
        }
    return out;
}

}  // namespace

std::vector<NetModule> group_network_tensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                             std::vector<std::string>* unknown_keys) {
    std::vector<NetModule> mods;
    std::map<std::string, size_t> index;
    for (const auto& [key, t] : tensors) {
        NetKey k = split_network_key(key);
        if (k.part == NetPart::Unknown) {
            if (unknown_keys) unknown_keys->push_back(key);
            continue;
        }
        if (!float_dtype(t.dtype()))
            throw error("tensor '", key, "' has dtype ", dtype_name(t.dtype()), ", expected a float type");
        auto [it, fresh] = index.emplace(k.module, mods.size());
        if (fresh) {
            NetModule nm;
            nm.name = k.module;
            mods.push_back(std::move(nm));
        }
        NetModule& m = mods[it->second];
        if (m.parts.count(k.part)) throw error("module '", k.module, "' has two ", net_part_name(k.part), " tensors");
        m.parts[k.part] = t;
    }
    for (NetModule& m : mods) classify(m);
    return mods;
}

NetworkFile read_network_file(const std::string& path) {
    TensorFile tf = read_tensor_file(path);
    NetworkFile nf;
    nf.path = path;
    nf.name = fs::path(path).stem().string();
    nf.metadata = tf.metadata;
    try {
        nf.modules = group_network_tensors(tf.tensors, &nf.unknown_keys);
    } catch (const Error& e) {
        throw error(path, ": ", e.what());
    }
    bool any = std::any_of(nf.modules.begin(), nf.modules.end(), [](auto& m) { return m.kind != NetKind::Unsupported; });
    if (!any) {
        for (auto& [n, t] : tf.tensors) {
            if (n.starts_with("string_to_param") || n == "emb_params" || n == "clip_l" || n == "clip_g")
                throw error(path, ": a textual-inversion embedding (key '", n, "'), not a LoRA network");
            if (n.starts_with("model.diffusion_model.") || n.starts_with("first_stage_model."))
                throw error(path, ": a checkpoint (key '", n, "'), not a LoRA network");
        }
        if (!nf.modules.empty())
            throw error(path, ": no supported network module (", nf.modules[0].name, ": ", nf.modules[0].unsupported, ")");
        throw error(path, ": not a LoRA / LyCORIS network (no lora_down/lora_up, lora_A/lora_B, hada_ or lokr_ keys",
                    tf.tensors.empty() ? "" : "; first key '" + tf.tensors[0].first + "'", ")");
    }
    return nf;
}

std::string NetworkFile::kind() const {
    std::set<std::string> kinds;
    for (const NetModule& m : modules) {
        if (m.kind == NetKind::Unsupported) continue;
        kinds.insert(m.kind == NetKind::LoRA && m.conv() ? "LoCon" : net_kind_name(m.kind));
    }
    if (kinds.count("LoCon") && kinds.count("LoRA")) kinds.erase("LoRA");  // kohya LoRA with conv_dim = LoCon
    if (kinds.size() == 1) return *kinds.begin();
    std::string s;
    for (auto& k : kinds) s += (s.empty() ? "" : ", ") + k;
    return "mixed (" + s + ")";
}

std::string NetworkFile::family() const {
    auto meta = [&](const char* k) -> std::string {
        auto it = metadata.find(k);
        return it == metadata.end() ? "" : it->second;
    };
    const std::string base = meta("ss_base_model_version");
    if (base.starts_with("sdxl")) return "sdxl";
    if (base.starts_with("sd_v2") || meta("ss_v2") == "True") return "sd2";
    if (base.starts_with("sd_v1")) return "sd1";
    for (const NetModule& m : modules) {
        const std::string& n = m.name;
        if (n.starts_with("lora_te1_") || n.starts_with("lora_te2_") || n.starts_with("text_encoder_2.") ||
            n.starts_with("lora_unet_input_blocks_") || n.starts_with("lora_unet_middle_block_") ||
            n.starts_with("lora_unet_output_blocks_"))
            return "sdxl";
    }
    // The real models' widths: text encoder 768 (SD1) / 1024 (SD2); cross-attention context 768 /
    // 1024 / 2048 (SDXL).
    for (const NetModule& m : modules) {
        if (m.kind != NetKind::LoRA) continue;
        const int64_t in = m.at(NetPart::LoraDown).dim(1);
        const bool te_q = m.name.find("q_proj") != std::string::npos &&
                          (m.name.starts_with("lora_te_") || m.name.starts_with("text_encoder."));
        const bool ctx = m.name.find("attn2") != std::string::npos &&
                         (m.name.ends_with("to_k") || m.name.ends_with("to_v"));
        if (te_q && in == 768) return "sd1";
        if (te_q && in == 1024) return "sd2";
        if (ctx && in == 768) return "sd1";
        if (ctx && in == 1024) return "sd2";
        if (ctx && in == 2048) return "sdxl";
    }
    return "";
}

std::string NetworkFile::short_hash() const {
    if (auto it = metadata.find("sshs_model_hash"); it != metadata.end() && it->second.size() >= 12)
        return it->second.substr(0, 12);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw error(path, ": cannot read for hashing");
    unsigned char len8[8] = {};
    uint64_t skip = 0;
    const bool pickle = fs::path(path).extension() != ".safetensors";
    if (!pickle) {
        f.read(reinterpret_cast<char*>(len8), 8);
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | len8[i];
        skip = 8 + n;
    }
    f.clear();
    f.seekg(std::streamoff(skip));
    Sha256 h;
    std::vector<char> buf(1 << 20);
    while (f) {
        f.read(buf.data(), std::streamsize(buf.size()));
        if (f.gcount() > 0) h.update(buf.data(), size_t(f.gcount()));
    }
    return h.hex_digest().substr(0, 12);
}

Tensor network_delta(Ctx& ctx, const NetModule& m, const Shape& ws, float factor) {
    const int64_t out = ws.at(0), numel = numel_of(ws);
    const std::string what = "module '" + m.name + "'";
    const float s = m.scale() * factor;
    bool scaled = false;  // s already applied (LoRA: the matmul's alpha)
    Tensor updown;
    switch (m.kind) {
        case NetKind::LoRA: {
            const Tensor& down = m.at(NetPart::LoraDown);
            const int64_t rank = down.dim(0);
            updown = mm(ctx, as_matrix(m.at(NetPart::LoraUp), out, what + " lora_up"),
                        as_matrix(down, rank, what + " lora_down"), what, s);
            scaled = true;
            break;
        }
        case NetKind::LoHa: {
            const Tensor& w1b = m.at(NetPart::HadaW1B);
            const Tensor& w2b = m.at(NetPart::HadaW2B);
            Tensor w1 = mm(ctx, as_matrix(m.at(NetPart::HadaW1A), out, what + " hada_w1_a"),
                           as_matrix(w1b, w1b.dim(0), what + " hada_w1_b"), what);
            Tensor w2 = mm(ctx, as_matrix(m.at(NetPart::HadaW2A), out, what + " hada_w2_a"),
                           as_matrix(w2b, w2b.dim(0), what + " hada_w2_b"), what);
            SDPP_CHECK(w1.shape() == w2.shape(), what, ": hada_w1 ", w1.shape_str(), " and hada_w2 ", w2.shape_str(),
                       " differ");
            updown = mul(ctx, w1, w2);
            break;
        }
        case NetKind::LoKr: {
            auto factor = [&](NetPart full, NetPart a, NetPart b, const char* name) {
                if (m.has(full)) {
                    const Tensor& t = m.at(full);
                    return as_matrix(t, t.dim(0), what + " " + name);
                }
                const Tensor& tb = m.at(b);
                const Tensor& ta = m.at(a);
                return mm(ctx, as_matrix(ta, ta.dim(0), what + " " + name + "_a"),
                          as_matrix(tb, tb.dim(0), what + " " + name + "_b"), what);
            };
            updown = kron2(factor(NetPart::LokrW1, NetPart::LokrW1A, NetPart::LokrW1B, "lokr_w1"),
                           factor(NetPart::LokrW2, NetPart::LokrW2A, NetPart::LokrW2B, "lokr_w2"));
            SDPP_CHECK(updown.dim(0) == out, what, ": kron(w1, w2) has ", updown.dim(0), " rows, the weight ", out);
            break;
        }
        case NetKind::Unsupported: throw error(what, ": ", m.unsupported);
    }
    if (updown.numel() != numel)
        throw error(what, " makes a ", updown.shape_str(), " delta for a weight of shape ", to_string(ws));
    updown = updown.contiguous().view(ws);
    if (!scaled && s != 1.0f) {  // in place: updown is a fresh product
        float* p = updown.data<float>();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < numel; ++i) p[i] *= s;
    }
    return updown;
}

}  // namespace sdpp
