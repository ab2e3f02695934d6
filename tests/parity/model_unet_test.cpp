// U-Net parity against the fixtures' references (diffusers v0.30.3 UNet2DConditionModel on the tiny
// random-weight models): every "unet" entry of $SDPP_FIXTURES/manifest.json, every latent size in its
// reference file, f32 (1e-4 relative) and bf16 (3e-2 relative) compute, from the single file and from
// the diffusers folder (both through load_model, paths from the manifest; a null one is a layout the
// fixture set lacks: skipped, counted and printed). On a failure the per-block debug activations
// ("<size>.debug.*") show where the computation first diverges.
#include "common/parity_support.h"
#include "io/safetensors.h"
#include "model/loader.h"
#include "model/unet.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <cstdio>
#include <random>
#include <set>

namespace sdpp {
namespace {

using testing::compare;
using testing::fixture_path;
using testing::manifest;
using testing::model_layouts;
using testing::model_path;
using testing::ModelLayout;

const char* dtype_label(DType t) { return t == DType::BF16 ? "bf16" : "f32"; }
double tolerance(DType t) { return t == DType::BF16 ? 3e-2 : 1e-4; }

// Latent sizes ("8x8", "16x8") of a reference file: the prefixes of its "<size>.out" tensors.
std::vector<std::string> case_prefixes(const SafetensorsFile& ref) {
    std::vector<std::string> out;
    for (auto& e : ref.entries())
        if (e.name.size() > 4 && e.name.ends_with(".out") && e.name.find(".debug.") == std::string::npos)
            out.push_back(e.name.substr(0, e.name.size() - 4));
    return out;
}

std::vector<std::string> unet_models() {
    std::vector<std::string> out;
    for (auto& [name, refs] : manifest().at("model_refs").items())
        if (refs.contains("unet")) out.push_back(name);
    return out;
}

// Every model comes in the forms of testing::model_layouts(): the single file (LDM/SGM keys, heads
// from the yaml beside it) and the diffusers folder (keys mapped by the loader, heads from
// unet/config.json). any_layout: the first the fixture set has, for tests that need one form.
std::optional<std::string> any_layout(const std::string& name) {
    for (const ModelLayout& l : model_layouts())
        if (auto p = model_path(name, l)) return p;
    return std::nullopt;
}

// Every model of the manifest with U-Net references and a layout the set has.
std::vector<std::string> loadable_unet_models() {
    std::vector<std::string> out;
    for (const auto& name : unet_models())
        if (any_layout(name)) out.push_back(name);
    return out;
}

// Runs one reference case; returns true when the output matches. Prints one line per case and, on a
// failure, the first debug activation that diverges.
bool run_case(const UNet& unet, const SafetensorsFile& ref, const std::string& prefix, DType dt,
              const std::string& label, double* rel_out) {
    Ctx ctx;
    ctx.compute_dtype = dt;
    auto get = [&](const std::string& k) { return ref.get(prefix + "." + k).to(DType::F32); };
    Tensor y = ref.contains(prefix + ".y") ? get("y") : Tensor();
    std::vector<std::pair<std::string, Tensor>> acts;
    ActivationTrace trace = [&](const std::string& n, const Tensor& v) {
        if (ref.contains(prefix + ".debug." + n)) acts.emplace_back(n, v);
    };
    Tensor out;
    try {
        out = unet.forward(ctx, get("x"), get("timesteps"), get("context"), y, &trace);
    } catch (const Error& e) {
        std::printf("  FAIL %s: %s\n", label.c_str(), e.what());
        return false;
    }
    auto r = compare(out, get("out"), tolerance(dt), 0, label);
    *rel_out = r.rel;
    std::printf("  %s %s: max rel diff %.3g\n", r.ok ? "ok  " : "FAIL", label.c_str(), r.rel);
    if (!r.ok) {
        std::printf("%s\n", r.report.c_str());
        bool found = false;
        for (auto& [n, v] : acts) {
            auto d = compare(v, get("debug." + n), tolerance(dt), 0, prefix + ".debug." + n);
            if (!d.ok) {
                std::printf("  first divergence at '%s' (rel %.3g):\n%s\n", n.c_str(), d.rel, d.report.c_str());
                found = true;
                break;
            }
            std::printf("    '%s' matches (rel %.3g)\n", n.c_str(), d.rel);
        }
        if (!found) std::printf("  %s\n", acts.empty() ? "no debug activations for this size"
                                                        : "every debug activation matches: the divergence is after the last one");
    }
    return r.ok;
}

TEST(ModelUNetParity, EveryManifestCase) {
    int passed = 0, total = 0;
    testing::Skipped skipped;
    double worst[2] = {0, 0};
    for (const auto& name : unet_models()) {
        const auto ref = SafetensorsFile::open(
            fixture_path(manifest().at("model_refs").at(name).at("unet").at("file").get<std::string>()));
        const auto prefixes = case_prefixes(ref);
        for (const ModelLayout& l : model_layouts()) {
            const std::string& layout = l.label;
            const std::optional<std::string> path = model_path(name, l);
            if (!path) {
                const int n = int(prefixes.size()) * 2;  // f32 and bf16
                std::printf("  skip %s %s: %s (%d cases)\n", name.c_str(), layout.c_str(), l.missing.c_str(), n);
                skipped.add(l.missing, n);
                continue;
            }
            UNetConfig cfg;
            LoadedModel m;
            try {
                m = load_model(*path);
                cfg = UNetConfig::detect(m.weights(), m.hints);
            } catch (const Error& e) {
                ADD_FAILURE() << name << " " << layout << ": " << e.what();
                total += int(prefixes.size()) * 2;
                continue;
            }
            std::printf("%s %s: %s\n", name.c_str(), layout.c_str(), cfg.describe().c_str());
            for (DType dt : {DType::F32, DType::BF16}) {
                UNet unet = UNet::load(m.weights(), cfg);
                for (auto& k : m.weights().unused())
                    if (k.starts_with("model.diffusion_model.")) ADD_FAILURE() << name << ": U-Net weight never bound: " << k;
                for (const auto& prefix : prefixes) {
                    ++total;
                    double rel = 0;
                    const std::string label = name + " " + prefix + " " + dtype_label(dt) + " " + layout;
                    if (run_case(unet, ref, prefix, dt, label, &rel)) ++passed;
                    else ADD_FAILURE() << label << " does not match the reference";
                    worst[dt == DType::BF16] = std::max(worst[dt == DType::BF16], rel);
                }
            }
        }
    }
    std::printf("max relative error: f32 %.3g, bf16 %.3g\n", worst[0], worst[1]);
    testing::print_parity_summary("unet", passed, total, skipped);
    EXPECT_GT(total, 0);
    EXPECT_EQ(passed, total);
}

// The detected architecture equals the diffusers config the fixtures were made from.
TEST(ModelUNetDetect, MatchesDiffusersConfig) {
    for (const auto& name : unet_models())
    for (const ModelLayout& l : model_layouts()) {
        const std::optional<std::string> path = model_path(name, l);
        if (!path) {
            std::printf("  skip %s %s: %s\n", name.c_str(), l.label.c_str(), l.missing.c_str());
            continue;
        }
        SCOPED_TRACE(name + " " + l.label);
        LoadedModel m = load_model(*path);
        const auto& uc = manifest().at("models").at(name).at("unet_config");
        UNetConfig c = UNetConfig::detect(m.weights(), m.hints);
        EXPECT_EQ(c.in_channels, uc.at("in_channels").get<int64_t>());
        EXPECT_EQ(c.out_channels, uc.at("out_channels").get<int64_t>());
        EXPECT_EQ(c.level_channels, uc.at("block_out_channels").get<std::vector<int64_t>>());
        EXPECT_EQ(c.context_dim, uc.at("cross_attention_dim").get<int64_t>());
        EXPECT_EQ(c.linear_projection, uc.at("use_linear_projection").get<bool>());
        for (int l = 0; l < c.levels(); ++l) {
            EXPECT_EQ(c.num_res_blocks[size_t(l)], uc.at("layers_per_block").get<int>());
            const bool attn = uc.at("down_block_types")[size_t(l)].get<std::string>().starts_with("CrossAttn");
            const auto& tl = uc.at("transformer_layers_per_block");
            const int depth = attn ? (tl.is_array() ? tl[size_t(l)].get<int>() : tl.get<int>()) : 0;
            EXPECT_EQ(c.transformer_depth[size_t(l)], depth) << "level " << l;
            // diffusers' attention_head_dim holds the head count (an int or one per level).
            const auto& hd = uc.at("attention_head_dim");
            if (attn) {
                EXPECT_EQ(c.heads[size_t(l)], hd.is_array() ? hd[size_t(l)].get<int>() : hd.get<int>()) << "level " << l;
            }
        }
        const bool xl = uc.at("addition_embed_type").is_string();
        EXPECT_EQ(c.adm_in_channels, xl ? uc.at("projection_class_embeddings_input_dim").get<int64_t>() : 0);
    }
}

// SDXL's y = cat(text_embeds, Fourier features of the 6 size/crop ids) equals the stored y.
TEST(ModelUNetSDXL, AdmVectorMatchesReference) {
    int checked = 0;
    for (const auto& name : unet_models()) {
        const auto ref = SafetensorsFile::open(
            fixture_path(manifest().at("model_refs").at(name).at("unet").at("file").get<std::string>()));
        for (const auto& prefix : case_prefixes(ref)) {
            if (!ref.contains(prefix + ".y")) continue;
            Tensor y = ref.get(prefix + ".y").to(DType::F32);
            Tensor got = sdxl_adm_vector(ref.get(prefix + ".text_embeds").to(DType::F32),
                                         ref.get(prefix + ".time_ids").to(DType::F32), y.dim(1));
            auto r = compare(got, y, 1e-6, 1e-6, name + " " + prefix + ".y");
            EXPECT_TRUE(r.ok) << r.report;
            ++checked;
        }
    }
    EXPECT_GT(checked, 0) << "no SDXL reference with y in the manifest";
}

// Odd and non-square latents (12x10 halves to 6x5, 3x3, 2x2: the up path must crop to each skip) and
// batch > 1: each batch item's output equals the same item run alone.
TEST(ModelUNetShapes, OddSizesAndBatchConsistency) {
    for (const auto& name : loadable_unet_models()) {
        SCOPED_TRACE(name);
        LoadedModel m = load_model(*any_layout(name));
        UNetConfig cfg = UNetConfig::detect(m.weights(), m.hints);
        UNet unet = UNet::load(m.weights(), cfg);
        std::mt19937 rng(7);
        std::normal_distribution<float> nd;
        auto randn = [&](const Shape& s) {
            std::vector<float> v(size_t(numel_of(s)));
            for (auto& e : v) e = nd(rng);
            return Tensor::from_vector(v, s);
        };
        for (auto hw : {std::pair<int64_t, int64_t>{12, 10}, {8, 16}, {5, 7}}) {
            Ctx ctx;
            Tensor x = randn({2, cfg.in_channels, hw.first, hw.second});
            Tensor c = randn({2, 7, cfg.context_dim});
            std::vector<float> tv{999.0f, 321.5f};
            Tensor t = Tensor::from_vector(tv, {2});
            Tensor y = cfg.adm_in_channels ? randn({2, cfg.adm_in_channels}) : Tensor();
            Tensor out = unet.forward(ctx, x, t, c, y);
            ASSERT_EQ(out.shape(), (Shape{2, cfg.out_channels, hw.first, hw.second}));
            for (float v : out.to_vector()) ASSERT_TRUE(std::isfinite(v));
            // item 1 alone
            std::vector<float> t1{tv[1]};
            Tensor one = unet.forward(ctx, x.slice(0, 1, 2), Tensor::from_vector(t1, {1}), c.slice(0, 1, 2),
                                      y.defined() ? y.slice(0, 1, 2) : Tensor());
            auto r = compare(one, out.slice(0, 1, 2).contiguous(), 1e-5, 0, "batch item 1 alone");
            EXPECT_TRUE(r.ok) << hw.first << "x" << hw.second << ": " << r.report;
        }
    }
}

// Bad inputs give an Error naming the problem, not a crash.
TEST(ModelUNetErrors, RejectsWrongShapes) {
    const std::vector<std::string> models = loadable_unet_models();
    ASSERT_FALSE(models.empty()) << "no model with U-Net references and a layout in the manifest";
    LoadedModel m = load_model(*any_layout(models.front()));
    UNetConfig cfg = UNetConfig::detect(m.weights(), m.hints);
    UNet unet = UNet::load(m.weights(), cfg);
    Ctx ctx;
    Tensor x = Tensor::zeros({1, cfg.in_channels + 1, 8, 8});
    Tensor t = Tensor::zeros({1});
    Tensor c = Tensor::zeros({1, 77, cfg.context_dim});
    EXPECT_THROW(unet.forward(ctx, x, t, c), Error);
    x = Tensor::zeros({1, cfg.in_channels, 8, 8});
    EXPECT_THROW(unet.forward(ctx, x, t, Tensor::zeros({1, 77, cfg.context_dim + 1})), Error);
    EXPECT_THROW(unet.forward(ctx, x, Tensor::zeros({3}), c), Error);
    WeightStore empty;
    EXPECT_THROW(UNetConfig::detect(empty, {}), Error);
}

}  // namespace
}  // namespace sdpp
