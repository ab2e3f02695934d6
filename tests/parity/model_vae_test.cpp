// VAE parity against the fixtures' references (diffusers v0.30.3 AutoencoderKL on the tiny
// random-weight models): every "vae" entry of $SDPP_FIXTURES/manifest.json, decode and encode at every
// stored size, f32 (1e-4 relative) and bf16 (3e-2 relative), from the single file and the diffusers
// folder (both through load_model, paths from the manifest; a null one is a layout the fixture set
// lacks: skipped, counted and printed); the row-band decode against the same references. Plus the
// row-band and tiled decode (and tiled encode) against the plain path, with the peak memory of each.
#include "common/parity_support.h"
#include "core/allocator.h"
#include "io/safetensors.h"
#include "model/loader.h"
#include "model/vae.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <cstdio>
#include <random>
#include <tuple>

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

std::vector<std::string> vae_models() {
    std::vector<std::string> out;
    for (auto& [name, refs] : manifest().at("model_refs").items())
        if (refs.contains("vae")) out.push_back(name);
    return out;
}

// Image sizes ("64x64", "64x32") of a reference file: prefixes of its "<size>.decode.z" tensors.
std::vector<std::string> sizes(const SafetensorsFile& ref) {
    std::vector<std::string> out;
    for (auto& e : ref.entries())
        if (e.name.ends_with(".decode.z")) out.push_back(e.name.substr(0, e.name.size() - 9));
    return out;
}

struct Loaded {
    LoadedModel model;
    VAEConfig cfg;
};

// Through load_model, as users load models: single file or diffusers folder (VAE attention weights
// [C, C] there, mapped to the internal 1x1 convs); the scaling factor comes from the loader's hints.
Loaded load(const std::string& path) {
    Loaded l;
    l.model = load_model(path);
    l.cfg = VAEConfig::detect(l.model.weights(), l.model.hints, l.model.family);
    return l;
}

// The first VAE model of the manifest in the first layout the set has, for the tests that need one.
Loaded load_any() {
    for (const auto& name : vae_models())
        for (const ModelLayout& l : model_layouts())
            if (auto p = model_path(name, l)) return load(*p);
    throw Error("no model with VAE references and a layout in the manifest");
}

TEST(ModelVAEParity, EveryManifestCase) {
    int passed = 0, total = 0;
    testing::Skipped skipped;
    double worst[2] = {0, 0};
    for (const auto& name : vae_models()) {
        const auto& mi = manifest().at("models").at(name);
        const auto ref = SafetensorsFile::open(
            fixture_path(manifest().at("model_refs").at(name).at("vae").at("file").get<std::string>()));
        for (const ModelLayout& l : model_layouts()) {
            const std::string& layout = l.label;
            const std::optional<std::string> path = model_path(name, l);
            if (!path) {
                const int n = int(sizes(ref).size()) * 8;  // f32 and bf16 x decode, banded, encode, banded
                std::printf("  skip %s %s: %s (%d cases)\n", name.c_str(), layout.c_str(), l.missing.c_str(), n);
                skipped.add(l.missing, n);
                continue;
            }
            Loaded m;
            try {
                m = load(*path);
            } catch (const Error& e) {
                ADD_FAILURE() << name << " " << layout << ": " << e.what();
                total += int(sizes(ref).size()) * 8;
                continue;
            }
            std::printf("%s %s: %s\n", name.c_str(), layout.c_str(), m.cfg.describe().c_str());
            EXPECT_FLOAT_EQ(m.cfg.scaling_factor, mi.at("vae_config").at("scaling_factor").get<float>()) << name;
            EXPECT_EQ(m.cfg.level_channels, mi.at("vae_config").at("block_out_channels").get<std::vector<int64_t>>());
            EXPECT_EQ(m.cfg.num_res_blocks, mi.at("vae_config").at("layers_per_block").get<int>());
            for (DType dt : {DType::F32, DType::BF16}) {
                VAE vae = VAE::load(m.model.weights(), m.cfg);
                for (auto& k : m.model.weights().unused())
                    if (k.starts_with("first_stage_model.")) ADD_FAILURE() << name << ": VAE weight never bound: " << k;
                Ctx ctx;
                ctx.compute_dtype = dt;
                auto get = [&](const std::string& k) { return ref.get(k).to(DType::F32); };
                const double tol = tolerance(dt);
                double& w = worst[dt == DType::BF16];
                for (const auto& size : sizes(ref)) {
                    const std::string label = name + " " + size + " " + dtype_label(dt) + " " + layout;
                    {  // decode
                        ++total;
                        auto r = compare(vae.decode(ctx, get(size + ".decode.z")), get(size + ".decode.out"), tol, 0,
                                         label + " decode");
                        w = std::max(w, r.rel);
                        std::printf("  %s %s decode: max rel diff %.3g\n", r.ok ? "ok  " : "FAIL", label.c_str(), r.rel);
                        if (r.ok) ++passed;
                        else ADD_FAILURE() << r.report;
                    }
                    {  // decode through 8-row bands (the smallest): the same reference
                        ++total;
                        auto r = compare(vae.decode_banded(ctx, get(size + ".decode.z"), 1),
                                         get(size + ".decode.out"), tol, 0, label + " decode banded");
                        w = std::max(w, r.rel);
                        std::printf("  %s %s decode banded: max rel diff %.3g\n", r.ok ? "ok  " : "FAIL", label.c_str(),
                                    r.rel);
                        if (r.ok) ++passed;
                        else ADD_FAILURE() << r.report;
                    }
                    for (bool banded : {false, true}) {  // encode: moments, mean, logvar, std (plain, 8-row bands)
                        ++total;
                        VAEPosterior p = banded ? vae.encode_banded(ctx, get(size + ".encode.image"), 1)
                                                : vae.encode(ctx, get(size + ".encode.image"));
                        bool ok = true;
                        double rel = 0;
                        for (auto [what, t] : {std::pair<const char*, Tensor>{"moments", p.moments}, {"mean", p.mean},
                                               {"logvar", p.logvar}, {"std", p.std}}) {
                            auto r = compare(t, get(size + ".encode." + what), tol, 0, label + " encode " + what);
                            rel = std::max(rel, r.rel);
                            if (!r.ok) ADD_FAILURE() << r.report;
                            ok = ok && r.ok;
                        }
                        w = std::max(w, rel);
                        std::printf("  %s %s encode%s: max rel diff %.3g\n", ok ? "ok  " : "FAIL", label.c_str(),
                                    banded ? " banded" : "", rel);
                        if (ok) ++passed;
                    }
                }
            }
        }
    }
    std::printf("max relative error: f32 %.3g, bf16 %.3g\n", worst[0], worst[1]);
    testing::print_parity_summary("vae", passed, total, skipped);
    EXPECT_GT(total, 0);
    EXPECT_EQ(passed, total);
}

Tensor randn(const Shape& s, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> v(size_t(numel_of(s)));
    for (auto& e : v) e = nd(rng);
    return Tensor::from_vector(v, s);
}

// Mean and max |a - e| relative to mean and max |e|.
std::pair<double, double> rel_errors(const Tensor& a, const Tensor& e) {
    auto av = a.to_vector(), ev = e.to_vector();
    double sum = 0, ref = 0, mx = 0, ref_mx = 0;
    for (size_t i = 0; i < av.size(); ++i) {
        const double d = std::fabs(double(av[i]) - double(ev[i]));
        sum += d;
        mx = std::max(mx, d);
        ref += std::fabs(double(ev[i]));
        ref_mx = std::max(ref_mx, std::fabs(double(ev[i])));
    }
    return {sum / std::max(ref, 1e-30), mx / std::max(ref_mx, 1e-30)};
}

// f() and the allocator's peak bytes above what was live before it.
template <class F>
auto with_peak(F&& f, size_t& peak) {
    auto& alloc = default_allocator();
    alloc.reset_peak();
    const size_t base = alloc.stats().live_bytes;
    auto out = f();
    peak = alloc.stats().peak_bytes - base;
    return out;
}

// Tiled decode of a random 64x64 latent (3x3 tiles of 32 with overlap 8) stays close to the untiled
// decode and needs less peak memory; tiled encode of (a 384x256 crop of) that image stays close to the
// untiled encode. Not bit-equal: GroupNorm statistics are per tile; measured on the tiny random VAEs:
// mean 3-4%, max 5-8% (without the halo and the global mid block: 12% / 28%).
TEST(ModelVAETiled, MatchesUntiled) {
    Loaded m = load_any();
    VAE vae = VAE::load(m.model.weights(), m.cfg);
    Ctx ctx;
    Tensor z = randn({1, m.cfg.latent_channels, 64, 64}, 11);
    size_t peak_full = 0, peak_tiled = 0;
    Tensor full = with_peak([&] { return vae.decode(ctx, z); }, peak_full);
    const VAETiling tiling{.tile = 32, .overlap = 8, .halo = 8};
    Tensor tiled = with_peak([&] { return vae.decode_tiled(ctx, z, tiling); }, peak_tiled);
    ASSERT_EQ(tiled.shape(), full.shape());
    auto [mean_rel, max_rel] = rel_errors(tiled, full);
    std::printf("decode 64x64 latent: peak %.1f MB untiled, %.1f MB tiled (tile 32, overlap 8, halo 8); "
                "tiled vs untiled: mean rel %.3g, max rel %.3g\n",
                double(peak_full) / 1e6, double(peak_tiled) / 1e6, mean_rel, max_rel);
    EXPECT_LT(mean_rel, 0.06);
    EXPECT_LT(max_rel, 0.12);
    EXPECT_LT(peak_tiled, peak_full);

    Tensor img = full.slice(2, 64, 448).slice(3, 128, 384).contiguous();  // [1, 3, 384, 256]
    VAEPosterior pf = vae.encode(ctx, img);
    VAEPosterior pt = vae.encode_tiled(ctx, img, {.tile = 24, .overlap = 8, .halo = 8});
    ASSERT_EQ(pt.mean.shape(), pf.mean.shape());
    std::tie(mean_rel, max_rel) = rel_errors(pt.mean, pf.mean);
    std::printf("encode 384x256: tiled (tile 24, overlap 8, halo 8) vs untiled: mean rel %.3g, max rel %.3g\n",
                mean_rel, max_rel);
    EXPECT_LT(mean_rel, 0.06);
    EXPECT_LT(max_rel, 0.12);
}

// Row-band decode and encode are the plain ones with the conv calls split: equal up to float
// summation order inside oneDNN, for every band size (8-row bands, a few bands, one band), odd
// heights (bands that do not divide the map, band edges on odd rows, stride-2 bands) and a batch
// of 2; and their peak memory is lower.
TEST(ModelVAEBanded, MatchesPlainDecodeAndEncodeInLessMemory) {
    Loaded m = load_any();
    VAE vae = VAE::load(m.model.weights(), m.cfg);
    Ctx ctx;
    Tensor z = randn({2, m.cfg.latent_channels, 37, 24}, 12);
    size_t peak_full = 0, peak = 0;
    Tensor full = with_peak([&] { return vae.decode(ctx, z); }, peak_full);
    for (int64_t bytes : {int64_t(1), int64_t(256) << 10, int64_t(1) << 40}) {
        Tensor banded = with_peak([&] { return vae.decode_banded(ctx, z, bytes); }, peak);
        ASSERT_EQ(banded.shape(), full.shape());
        auto [mean_rel, max_rel] = rel_errors(banded, full);
        std::printf("decode 2x37x24 latent, bands of %lld bytes: peak %.1f MB (plain %.1f MB); mean rel %.3g, "
                    "max rel %.3g\n",
                    (long long)bytes, double(peak) / 1e6, double(peak_full) / 1e6, mean_rel, max_rel);
        EXPECT_LT(max_rel, 1e-5) << bytes;
        if (bytes < (int64_t(1) << 30)) {
            EXPECT_LT(peak, peak_full * 3 / 4) << bytes;
        }
    }
    EXPECT_THROW(vae.decode_banded(ctx, z, 0), Error);

    // encode: an odd-sized batch of 2 (bands that do not divide the map, odd heights at every level)
    Tensor img = scale(ctx, randn({2, 3, 77, 53}, 13), 0.5f);
    size_t peak_enc = 0;
    VAEPosterior pf = with_peak([&] { return vae.encode(ctx, img); }, peak_enc);
    for (int64_t bytes : {int64_t(1), int64_t(64) << 10}) {
        VAEPosterior pb = with_peak([&] { return vae.encode_banded(ctx, img, bytes); }, peak);
        ASSERT_EQ(pb.moments.shape(), pf.moments.shape());
        auto [mean_rel, max_rel] = rel_errors(pb.moments, pf.moments);
        std::printf("encode 2x3x77x53, bands of %lld bytes: peak %.1f MB (plain %.1f MB); moments mean rel %.3g, "
                    "max rel %.3g\n",
                    (long long)bytes, double(peak) / 1e6, double(peak_enc) / 1e6, mean_rel, max_rel);
        EXPECT_LT(max_rel, 1e-5) << bytes;
        EXPECT_LT(peak, peak_enc) << bytes;
    }
    EXPECT_THROW(vae.encode_banded(ctx, img, 0), Error);
    EXPECT_THROW(vae.encode_banded(ctx, Tensor::zeros({1, 4, 16, 16})), Error);
    EXPECT_THROW(vae.decode_banded(ctx, Tensor::zeros({1, m.cfg.latent_channels + 1, 8, 8})), Error);
}

TEST(ModelVAEErrors, RejectsWrongShapes) {
    Loaded m = load_any();
    VAE vae = VAE::load(m.model.weights(), m.cfg);
    Ctx ctx;
    EXPECT_THROW(vae.decode(ctx, Tensor::zeros({1, m.cfg.latent_channels + 1, 8, 8})), Error);
    EXPECT_THROW(vae.encode(ctx, Tensor::zeros({1, 4, 64, 64})), Error);
    EXPECT_THROW(vae.decode_tiled(ctx, Tensor::zeros({1, m.cfg.latent_channels, 8, 8}), {.tile = 4, .overlap = 0}), Error);
    EXPECT_THROW(vae.encode_tiled(ctx, Tensor::zeros({1, 3, 260, 260}), {.tile = 16, .overlap = 4}), Error);
    WeightStore empty;
    EXPECT_THROW(VAEConfig::detect(empty, {}), Error);
}

}  // namespace
}  // namespace sdpp
