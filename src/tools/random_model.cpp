// Random-weight checkpoints from architecture definitions (see random_model.h). The U-Net follows
// the loader's block plan (model/unet_plan.h: openaimodel.py UNetModel.__init__), each block as
// ResBlock (skip_connection when channels change), SpatialTransformer (proj_in/out, GEGLU inner dim
// 4*C projected to 8*C); ldm/modules/diffusionmodules/model.py Encoder/Decoder, transformers'
// CLIPTextModel and open_clip's TextTransformer, and the published configs of SD 1.5
// (v1-inference.yaml), SD 2.1 (v2-inference-v.yaml) and SDXL base (sd_xl_base.yaml).
#include "tools/random_model.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "model/unet_plan.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace sdpp {

namespace {

// Appends tensors under a prefix.
struct Emitter {
    std::vector<TensorSpec>& out;
    std::string prefix;

    Emitter sub(const std::string& name) const { return Emitter{out, prefix + name + "."}; }
    Emitter sub(int i) const { return sub(std::to_string(i)); }
    void add(const std::string& name, Shape shape, InitKind init, double param = 0, bool int64 = false) const {
        out.push_back(TensorSpec{prefix + name, std::move(shape), int64, init, param});
    }
    // nn.Linear(in, out[, bias])
    void linear(const std::string& name, int64_t in, int64_t outf, bool bias = true) const {
        add(name + ".weight", {outf, in}, InitKind::Normal, double(in));
        if (bias) add(name + ".bias", {outf}, InitKind::Zeros);
    }
    // nn.Conv2d(in, out, k)
    void conv(const std::string& name, int64_t in, int64_t outc, int64_t k) const {
        add(name + ".weight", {outc, in, k, k}, InitKind::Normal, double(in * k * k));
        add(name + ".bias", {outc}, InitKind::Zeros);
    }
    // GroupNorm / LayerNorm affine parameters
    void norm(const std::string& name, int64_t c) const {
        add(name + ".weight", {c}, InitKind::Ones);
        add(name + ".bias", {c}, InitKind::Zeros);
    }
};

// openaimodel.ResBlock(cin -> cout) with the time-embedding projection.
void res_block(const Emitter& e, int64_t cin, int64_t cout, int64_t emb) {
    e.norm("in_layers.0", cin);
    e.conv("in_layers.2", cin, cout, 3);
    e.linear("emb_layers.1", emb, cout);
    e.norm("out_layers.0", cout);
    e.conv("out_layers.3", cout, cout, 3);
    if (cin != cout) e.conv("skip_connection", cin, cout, 1);
}

// attention.SpatialTransformer(C, depth, context_dim) with BasicTransformerBlocks.
void spatial_transformer(const Emitter& e, int64_t c, int depth, int64_t ctx, bool linear) {
    e.norm("norm", c);
    auto proj = [&](const std::string& n) {
        if (linear) e.linear(n, c, c);
        else e.conv(n, c, c, 1);
    };
    proj("proj_in");
    for (int d = 0; d < depth; ++d) {
        Emitter b = e.sub("transformer_blocks").sub(d);
        for (const char* attn : {"attn1", "attn2"}) {
            const int64_t kv_in = std::string(attn) == "attn1" ? c : ctx;
            Emitter a = b.sub(attn);
            a.linear("to_q", c, c, false);
            a.linear("to_k", kv_in, c, false);
            a.linear("to_v", kv_in, c, false);
            a.linear("to_out.0", c, c);
        }
        b.linear("ff.net.0.proj", c, 8 * c);  // GEGLU: value and gate, inner dim 4C
        b.linear("ff.net.2", 4 * c, c);
        b.norm("norm1", c);
        b.norm("norm2", c);
        b.norm("norm3", c);
    }
    proj("proj_out");
}

// The yaml hyper-parameters as the UNetConfig the loader would detect (heads do not shape weights).
UNetConfig unet_config(const UNetArch& a) {
    const int levels = int(a.channel_mult.size());
    SDPP_CHECK(int(a.transformer_depth.size()) == levels, "UNetArch: transformer_depth needs one entry per level");
    UNetConfig c;
    c.in_channels = a.in_channels;
    c.out_channels = a.out_channels;
    c.model_channels = a.model_channels;
    for (int m : a.channel_mult) c.level_channels.push_back(int64_t(a.model_channels) * m);
    c.num_res_blocks.assign(size_t(levels), a.num_res_blocks);
    c.transformer_depth = a.transformer_depth;
    c.transformer_depth_middle = a.transformer_depth_middle;
    c.context_dim = a.context_dim;
    c.linear_projection = a.linear_proj;
    c.time_embed_dim = 4 * int64_t(a.model_channels);
    c.adm_in_channels = a.adm_in_channels;
    return c;
}

// One input/middle/output block of the plan: ResBlock, SpatialTransformer, Downsample/Upsample.
void unet_block(const Emitter& b, const UNetBlockPlan& p, const UNetConfig& c) {
    if (p.down) {
        b.sub(0).conv("op", p.in_channels, p.out_channels, 3);
        return;
    }
    res_block(b.sub(0), p.in_channels, p.out_channels, c.time_embed_dim);
    if (p.transformer_depth > 0)
        spatial_transformer(b.sub(1), p.out_channels, p.transformer_depth, c.context_dim, c.linear_projection);
    if (p.up) b.sub(p.tail_index()).conv("conv", p.out_channels, p.out_channels, 3);
}

void unet(const Emitter& e, const UNetArch& a) {
    const UNetConfig c = unet_config(a);
    const UNetPlan plan = plan_unet(c);
    const int64_t mc = c.model_channels, emb = c.time_embed_dim;
    e.linear("time_embed.0", mc, emb);
    e.linear("time_embed.2", emb, emb);
    if (c.adm_in_channels > 0) {
        e.linear("label_emb.0.0", c.adm_in_channels, emb);
        e.linear("label_emb.0.2", emb, emb);
    }
    e.sub("input_blocks").sub(0).conv("0", c.in_channels, mc, 3);
    for (const UNetBlockPlan& p : plan.input_blocks) unet_block(e.sub(p.key), p, c);
    const UNetBlockPlan& m = plan.middle;
    unet_block(e.sub(m.key), m, c);
    res_block(e.sub(m.key).sub(m.tail_index()), m.out_channels, m.out_channels, emb);  // the second ResBlock
    for (const UNetBlockPlan& p : plan.output_blocks) unet_block(e.sub(p.key), p, c);
    e.norm("out.0", mc);
    e.conv("out.2", mc, c.out_channels, 3);
}

// model.py ResnetBlock (no time embedding in the autoencoder).
void vae_resnet(const Emitter& e, int64_t cin, int64_t cout) {
    e.norm("norm1", cin);
    e.conv("conv1", cin, cout, 3);
    e.norm("norm2", cout);
    e.conv("conv2", cout, cout, 3);
    if (cin != cout) e.conv("nin_shortcut", cin, cout, 1);
}

void vae_mid(const Emitter& e, int64_t c) {
    vae_resnet(e.sub("block_1"), c, c);
    Emitter at = e.sub("attn_1");
    at.norm("norm", c);
    for (const char* n : {"q", "k", "v", "proj_out"}) at.conv(n, c, c, 1);
    vae_resnet(e.sub("block_2"), c, c);
}

void vae(const Emitter& e, const VAEArch& a) {
    const int levels = int(a.ch_mult.size());
    Emitter enc = e.sub("encoder"), dec = e.sub("decoder");
    enc.conv("conv_in", a.in_channels, a.ch, 3);
    int64_t block_in = a.ch;
    for (int i = 0; i < levels; ++i) {
        const int64_t block_out = int64_t(a.ch) * a.ch_mult[size_t(i)];
        for (int j = 0; j < a.num_res_blocks; ++j) {
            vae_resnet(enc.sub("down").sub(i).sub("block").sub(j), block_in, block_out);
            block_in = block_out;
        }
        if (i != levels - 1) enc.sub("down").sub(i).conv("downsample.conv", block_in, block_in, 3);
    }
    vae_mid(enc.sub("mid"), block_in);
    enc.norm("norm_out", block_in);
    enc.conv("conv_out", block_in, 2 * a.z_channels, 3);

    block_in = int64_t(a.ch) * a.ch_mult.back();
    dec.conv("conv_in", a.z_channels, block_in, 3);
    vae_mid(dec.sub("mid"), block_in);
    for (int i = levels - 1; i >= 0; --i) {
        const int64_t block_out = int64_t(a.ch) * a.ch_mult[size_t(i)];
        for (int j = 0; j <= a.num_res_blocks; ++j) {
            vae_resnet(dec.sub("up").sub(i).sub("block").sub(j), block_in, block_out);
            block_in = block_out;
        }
        if (i != 0) dec.sub("up").sub(i).conv("upsample.conv", block_in, block_in, 3);
    }
    dec.norm("norm_out", block_in);
    dec.conv("conv_out", block_in, a.out_ch, 3);
    e.conv("quant_conv", 2 * a.z_channels, 2 * a.embed_dim, 1);
    e.conv("post_quant_conv", a.embed_dim, a.z_channels, 1);
}

// transformers CLIPTextModel (as FrozenCLIPEmbedder stores it under "<prefix>text_model.").
void clip_hf(const Emitter& e, const TextArch& t) {
    Emitter m = e.sub("text_model");
    m.add("embeddings.token_embedding.weight", {t.vocab, t.width}, InitKind::NormalStd, 0.02);
    m.add("embeddings.position_embedding.weight", {t.positions, t.width}, InitKind::NormalStd, 0.01);
    m.add("embeddings.position_ids", {1, t.positions}, InitKind::Arange, 0, true);
    for (int l = 0; l < t.layers; ++l) {
        Emitter b = m.sub("encoder.layers").sub(l);
        for (const char* p : {"k_proj", "v_proj", "q_proj", "out_proj"}) b.sub("self_attn").linear(p, t.width, t.width);
        b.norm("layer_norm1", t.width);
        b.linear("mlp.fc1", t.width, t.mlp);
        b.linear("mlp.fc2", t.mlp, t.width);
        b.norm("layer_norm2", t.width);
    }
    m.norm("final_layer_norm", t.width);
}

// open_clip CLIP with the visual tower deleted (FrozenOpenCLIPEmbedder[2].model).
void clip_open(const Emitter& e, const TextArch& t) {
    e.add("positional_embedding", {t.positions, t.width}, InitKind::NormalStd, 0.01);
    e.add("text_projection", {t.width, t.proj_dim}, InitKind::Normal, double(t.width));
    e.add("logit_scale", {}, InitKind::Const, std::log(1.0 / 0.07));
    e.add("token_embedding.weight", {t.vocab, t.width}, InitKind::NormalStd, 0.02);
    for (int l = 0; l < t.layers; ++l) {
        Emitter b = e.sub("transformer.resblocks").sub(l);
        b.norm("ln_1", t.width);
        b.add("attn.in_proj_weight", {3 * int64_t(t.width), t.width}, InitKind::Normal, double(t.width));
        b.add("attn.in_proj_bias", {3 * int64_t(t.width)}, InitKind::Zeros);
        b.linear("attn.out_proj", t.width, t.width);
        b.norm("ln_2", t.width);
        b.linear("mlp.c_fc", t.width, t.mlp);
        b.linear("mlp.c_proj", t.mlp, t.width);
    }
    e.norm("ln_final", t.width);
}

constexpr const char* kScheduleNames[] = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"};

}  // namespace

const std::vector<std::string>& arch_names() {
    static const std::vector<std::string> n{"sd15", "sd15-inpaint", "sd21", "sd21-v", "sdxl"};
    return n;
}

ArchSpec arch_preset(const std::string& arch, bool tiny) {
    ArchSpec s;
    s.name = arch;
    if (arch == "sd15" || arch == "sd15-inpaint") {
        s.layout = "ldm";
        s.schedule_buffers = true;
        s.unet.in_channels = arch == "sd15-inpaint" ? 9 : 4;
        s.text.push_back(TextArch{.prefix = "cond_stage_model.transformer."});
        if (tiny) {
            s.unet.model_channels = 32;
            s.unet.channel_mult = {1, 1, 2, 2};
            s.unet.context_dim = 16;
            s.vae.ch = 32;
            s.vae.ch_mult = {1, 1, 1, 1};
            s.text[0].width = 16;
            s.text[0].layers = 3;
            s.text[0].mlp = 64;
            s.hints = {{"te1_heads", "2"}};
        }
    } else if (arch == "sd21" || arch == "sd21-v") {
        s.layout = "ldm";
        s.schedule_buffers = true;
        s.prediction = arch == "sd21-v" ? Prediction::V : Prediction::Eps;
        s.unet.context_dim = 1024;
        s.unet.linear_proj = true;
        s.text.push_back(TextArch{.prefix = "cond_stage_model.model.", .open_clip = true, .width = 1024,
                                  .layers = 24, .mlp = 4096, .proj_dim = 1024});
        if (tiny) {
            s.unet.model_channels = 32;
            s.unet.channel_mult = {1, 1, 2, 2};
            s.unet.context_dim = 16;
            s.vae.ch = 32;
            s.vae.ch_mult = {1, 1, 1, 1};
            s.text[0] = TextArch{.prefix = "cond_stage_model.model.", .open_clip = true, .width = 16, .layers = 3,
                                 .mlp = 64, .proj_dim = 24};
            s.hints = {{"unet_head_channels", "16"}, {"te1_heads", "2"}, {"te1_layers", "3"}};
        }
    } else if (arch == "sdxl") {
        s.layout = "sgm";
        s.unet.channel_mult = {1, 2, 4};
        s.unet.transformer_depth = {0, 2, 10};
        s.unet.transformer_depth_middle = 10;
        s.unet.context_dim = 2048;
        s.unet.linear_proj = true;
        s.unet.adm_in_channels = 2816;  // pooled 1280 + 6 size/crop numbers x 256
        s.text.push_back(TextArch{.prefix = "conditioner.embedders.0.transformer."});
        s.text.push_back(TextArch{.prefix = "conditioner.embedders.1.model.", .open_clip = true, .width = 1280,
                                  .layers = 32, .mlp = 5120, .proj_dim = 1280});
        if (tiny) {
            s.unet.model_channels = 32;
            s.unet.channel_mult = {1, 1, 2};
            s.unet.transformer_depth = {0, 1, 2};
            s.unet.transformer_depth_middle = 2;
            s.unet.context_dim = 48;
            s.unet.adm_in_channels = 128;  // 32 + 6 x 16
            s.vae.ch = 32;
            s.vae.ch_mult = {1, 1, 2, 2};
            s.text[0].width = 16;
            s.text[0].layers = 3;
            s.text[0].mlp = 64;
            s.text[1] = TextArch{.prefix = "conditioner.embedders.1.model.", .open_clip = true, .width = 32,
                                 .layers = 12, .mlp = 128, .proj_dim = 32};
            s.hints = {{"unet_head_channels", "16"}, {"te1_heads", "2"}, {"te2_heads", "2"}};
        }
    } else {
        throw error("unknown architecture '", arch, "' (expected sd15, sd15-inpaint, sd21, sd21-v or sdxl)");
    }
    return s;
}

std::vector<TensorSpec> checkpoint_tensors(const ArchSpec& s) {
    std::vector<TensorSpec> out;
    Emitter root{out, ""};
    unet(Emitter{out, "model.diffusion_model."}, s.unet);
    vae(Emitter{out, "first_stage_model."}, s.vae);
    for (const TextArch& t : s.text) {
        if (t.open_clip) clip_open(Emitter{out, t.prefix}, t);
        else clip_hf(Emitter{out, t.prefix}, t);
    }
    if (s.schedule_buffers)
        for (const char* n : kScheduleNames) root.add(n, {1000}, InitKind::Schedule);
    return out;
}

std::map<std::string, std::vector<float>> ldm_schedule_buffers() {
    const int T = 1000;
    const double start = std::sqrt(0.00085), end = std::sqrt(0.012);
    std::vector<double> betas(T), ac(T), ac_prev(T);
    double prod = 1;
    for (int i = 0; i < T; ++i) {
        double b = start + (end - start) * i / (T - 1);  // torch.linspace(sqrt(start), sqrt(end)) ** 2
        betas[size_t(i)] = b * b;
        ac_prev[size_t(i)] = prod;
        prod *= 1 - betas[size_t(i)];
        ac[size_t(i)] = prod;
    }
    std::map<std::string, std::vector<float>> out;
    auto put = [&](const char* name, auto fn) {
        std::vector<float>& v = out[name];
        v.resize(T);
        for (int i = 0; i < T; ++i) v[size_t(i)] = float(fn(size_t(i)));
    };
    put("betas", [&](size_t i) { return betas[i]; });
    put("alphas_cumprod", [&](size_t i) { return ac[i]; });
    put("alphas_cumprod_prev", [&](size_t i) { return ac_prev[i]; });
    put("sqrt_alphas_cumprod", [&](size_t i) { return std::sqrt(ac[i]); });
    put("sqrt_one_minus_alphas_cumprod", [&](size_t i) { return std::sqrt(1 - ac[i]); });
    put("log_one_minus_alphas_cumprod", [&](size_t i) { return std::log(1 - ac[i]); });
    put("sqrt_recip_alphas_cumprod", [&](size_t i) { return std::sqrt(1 / ac[i]); });
    put("sqrt_recipm1_alphas_cumprod", [&](size_t i) { return std::sqrt(1 / ac[i] - 1); });
    auto post_var = [&](size_t i) { return betas[i] * (1 - ac_prev[i]) / (1 - ac[i]); };
    put("posterior_variance", post_var);
    put("posterior_log_variance_clipped", [&](size_t i) { return std::log(std::max(post_var(i), 1e-20)); });
    put("posterior_mean_coef1", [&](size_t i) { return betas[i] * std::sqrt(ac_prev[i]) / (1 - ac[i]); });
    put("posterior_mean_coef2",
        [&](size_t i) { return (1 - ac_prev[i]) * std::sqrt(1 - betas[i]) / (1 - ac[i]); });
    return out;
}

namespace {

// splitmix64 (Steele, Lea, Flood 2014): a fast, well-mixed 64-bit stream; one per 64K elements,
// seeded from (seed, tensor name, block index) so the output never depends on the thread count.
inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

constexpr int64_t kBlock = int64_t(1) << 16;  // elements per RNG stream
constexpr int64_t kChunk = int64_t(1) << 22;  // elements generated and written at a time

// N(0, std) by Box-Muller on 24-bit uniforms, elements [first, first + n) of the tensor.
void fill_normal(float* dst, int64_t first, int64_t n, uint64_t tensor_seed, float std) {
    const int64_t b0 = first / kBlock, b1 = (first + n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (b1 - b0 >= 16)  // small tensors: no thread wake-ups
    for (int64_t b = b0; b < b1; ++b) {
        uint64_t state = tensor_seed ^ (uint64_t(b) * 0xd1b54a32d192ed03ull);
        const int64_t lo = std::max(b * kBlock, first), hi = std::min((b + 1) * kBlock, first + n);
        // every stream starts at its block's first element, so skip nothing: pairs from b*kBlock
        for (int64_t i = b * kBlock; i < hi; i += 2) {
            const uint64_t u = splitmix64(state);
            const float u1 = float((u >> 40) + 1) * (1.0f / 16777216.0f);  // (0, 1]
            const float u2 = float(u & 0xffffff) * (1.0f / 16777216.0f);   // [0, 1)
            const float r = std::sqrt(-2.0f * std::log(u1)) * std;
            const float a = 6.28318530717958647692f * u2;
            if (i >= lo) dst[i - first] = r * std::cos(a);
            if (i + 1 >= lo && i + 1 < hi) dst[i + 1 - first] = r * std::sin(a);
        }
    }
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

RandomModelStats write_random_model(const ArchSpec& spec, const std::string& path, const RandomModelOptions& opts) {
    namespace fs = std::filesystem;
    SDPP_CHECK(opts.dtype == DType::F16 || opts.dtype == DType::F32 || opts.dtype == DType::BF16,
               "make-random-model: dtype must be f16, f32 or bf16");
    if (!opts.overwrite && fs::exists(path)) throw error(path, ": file exists (pass --overwrite to replace it)");
    const std::vector<TensorSpec> tensors = checkpoint_tensors(spec);
    auto stored = [&](const TensorSpec& t) {
        return t.int64 ? DType::I64 : t.init == InitKind::Schedule ? DType::F32 : opts.dtype;
    };

    nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
    std::map<std::string, std::string> md = {
        {"format", "pt"},
        {"sdpp.generator", "sdpp make-random-model"},
        {"sdpp.arch", spec.name},
        {"sdpp.seed", std::to_string(opts.seed)},
        {"modelspec.prediction_type", spec.prediction == Prediction::V ? "v" : "epsilon"}};
    for (auto& [k, v] : spec.hints) md["sdpp.hint." + k] = v;
    hdr["__metadata__"] = md;
    RandomModelStats st;
    for (const TensorSpec& t : tensors) {
        const uint64_t nb = uint64_t(numel_of(t.shape)) * dtype_size(stored(t));
        hdr[t.name] = {{"dtype", dtype_to_safetensors(stored(t))},
                       {"shape", t.shape},
                       {"data_offsets", {st.bytes, st.bytes + nb}}};
        st.bytes += nb;
        st.n_params += numel_of(t.shape);
        ++st.n_tensors;
    }
    std::string h = hdr.dump();
    while ((8 + h.size()) % 8) h.push_back(' ');

    const std::string tmp = path + ".tmp";
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
    if (!f) throw error(path, ": cannot write");
    auto fail = [&](const char* what) {
        f.reset();
        std::remove(tmp.c_str());
        return error(path, ": ", what);
    };
    std::vector<char> iobuf(size_t(8) << 20);
    std::setvbuf(f.get(), iobuf.data(), _IOFBF, iobuf.size());
    auto put = [&](const void* p, size_t n) {
        if (std::fwrite(p, 1, n, f.get()) != n) throw fail("write failed (disk full?)");
    };
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(h.size()) >> (8 * i)) & 0xff);
    put(len, 8);
    put(h.data(), h.size());

    const auto schedules = spec.schedule_buffers ? ldm_schedule_buffers() : std::map<std::string, std::vector<float>>{};
    std::vector<float> buf;
    std::vector<std::byte> conv;
    for (const TensorSpec& t : tensors) {
        const int64_t n = numel_of(t.shape);
        if (t.int64) {
            std::vector<int64_t> v(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i % t.shape.back();
            put(v.data(), v.size() * sizeof(int64_t));
            continue;
        }
        if (t.init == InitKind::Schedule) {
            const auto& v = schedules.at(t.name);
            put(v.data(), v.size() * sizeof(float));
            continue;
        }
        const uint64_t tseed = fnv1a(t.name) ^ (opts.seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
        for (int64_t first = 0; first < n; first += kChunk) {
            const int64_t m = std::min(kChunk, n - first);
            buf.resize(size_t(m));
            switch (t.init) {
                case InitKind::Normal: fill_normal(buf.data(), first, m, tseed, float(1.0 / std::sqrt(t.param))); break;
                case InitKind::NormalStd: fill_normal(buf.data(), first, m, tseed, float(t.param)); break;
                case InitKind::Ones: std::fill(buf.begin(), buf.end(), 1.0f); break;
                case InitKind::Const: std::fill(buf.begin(), buf.end(), float(t.param)); break;
                default: std::fill(buf.begin(), buf.end(), 0.0f); break;
            }
            conv.resize(size_t(m) * dtype_size(opts.dtype));
            convert(buf.data(), DType::F32, conv.data(), opts.dtype, size_t(m));
            put(conv.data(), conv.size());
        }
    }
    if (std::fflush(f.get()) != 0) throw fail("write failed (disk full?)");
    f.reset();
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw error(path, ": cannot rename the temporary file: ", ec.message());
    }
    st.bytes += 8 + h.size();
    return st;
}

}  // namespace sdpp
