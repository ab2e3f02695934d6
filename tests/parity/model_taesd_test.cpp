// TAESD parity against $SDPP_FIXTURES/a1111/ (its manifest.json "taesd" section): every
// "taesd_model" entry in both layouts (the original taesd_encoder / taesd_decoder files and the
// diffusers AutoencoderTiny folder), every decode and encode reference of taesd_refs.safetensors,
// in f32 (1e-4 relative to max(1, max|ref|), the fixtures' rule) and bf16 (3e-2). Prints
// "parity taesd: P/T passed". Plus the real 64-wide key layout (taesd_fullsize_layout.json): every
// key binds with its shape in both layouts, and the diffusers key map agrees with the fixture's.
#include "common/parity_support.h"
#include "common/temp_dir.h"
#include "io/safetensors.h"
#include "model/taesd.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace sdpp {
namespace {

namespace fs = std::filesystem;
using testing::compare;
using testing::fixture_path;

std::string a1111_path(const std::string& rel) { return fixture_path("a1111/" + rel); }

const nlohmann::json& a1111_manifest() {
    static const nlohmann::json m = [] {
        std::ifstream is(a1111_path("manifest.json"));
        if (!is) throw Error("cannot open " + a1111_path("manifest.json") + " (set SDPP_FIXTURES)");
        return nlohmann::json::parse(is);
    }();
    return m;
}

// The fixtures' tolerance: |a - b| <= tol * max(1, max|b|).
testing::CompareResult check(const Tensor& a, const Tensor& ref, double tol, const std::string& what) {
    double m = 0;
    for (float v : ref.to_vector()) m = std::max(m, double(std::fabs(v)));
    return compare(a, ref, tol * std::max(1.0, m) / std::max(m, 1e-12), 0, what);
}

struct Layout {
    std::string label;
    std::string path;  // what TAESD::load gets
};

// The layouts of one manifest entry: the original decoder file (its encoder sibling loads with it)
// and the diffusers folder, from the entry's file list.
std::vector<Layout> layouts(const nlohmann::json& entry) {
    std::vector<Layout> out;
    std::string decoder, diffusers;
    for (const auto& [rel, info] : entry.at("files").items()) {
        const fs::path p(rel);
        if (p.filename() == "config.json") diffusers = a1111_path(p.parent_path().string());
        else if (p.stem().string().ends_with("_decoder")) decoder = a1111_path(rel);
    }
    if (!decoder.empty()) out.push_back({"original", decoder});
    if (!diffusers.empty()) out.push_back({"diffusers", diffusers});
    return out;
}

struct Case {
    std::string label, input, expected;
    bool encode = false;
};

// The decode and encode references of one model in taesd_refs: "<name>.decode.<in>.out01" from
// "<name>.decode.<in>" (or "<name>.sd_vae.latent_scaled" for "sd_vae_latent_scaled"), and
// "<name>.encode.latent" from "<name>.encode.image_pm1" (given to the encoder as (x + 1) / 2).
std::vector<Case> cases(const SafetensorsFile& refs, const std::string& name) {
    std::vector<Case> out;
    const std::string dec = name + ".decode.";
    for (const auto& e : refs.entries()) {
        if (!e.name.starts_with(dec) || !e.name.ends_with(".out01")) continue;
        const std::string in = e.name.substr(dec.size(), e.name.size() - dec.size() - 6);
        std::string input = dec + in;
        if (!refs.contains(input) && in.starts_with("sd_vae_")) input = name + ".sd_vae." + in.substr(7);
        if (!refs.contains(input)) throw Error("taesd_refs: no input for " + e.name);
        out.push_back({"decode " + in, input, e.name, false});
    }
    if (refs.contains(name + ".encode.latent"))
        out.push_back({"encode", name + ".encode.image_pm1", name + ".encode.latent", true});
    return out;
}

TEST(ModelTAESDParity, EveryManifestCase) {
    const nlohmann::json& m = a1111_manifest();
    const SafetensorsFile refs = SafetensorsFile::open(a1111_path(m.at("taesd").at("taesd_refs").at("file")));
    int passed = 0, total = 0;
    for (const auto& [name, entry] : m.at("taesd").items()) {
        if (!entry.is_object() || entry.value("kind", "") != "taesd_model") continue;
        const std::vector<Case> cs = cases(refs, name);
        EXPECT_FALSE(cs.empty()) << name << ": no references";
        for (const Layout& l : layouts(entry)) {
            TAESD t;
            try {
                t = TAESD::load(l.path, entry.value("family", ""));
            } catch (const Error& e) {
                ADD_FAILURE() << name << " " << l.label << ": " << e.what();
                total += int(cs.size()) * 2;
                continue;
            }
            ASSERT_TRUE(t.encoder && t.decoder) << name << " " << l.label;
            EXPECT_EQ(t.latent_channels(), entry.at("latent_channels").get<int64_t>());
            EXPECT_EQ(t.decoder->conv_in.out_channels(), entry.at("width").get<int64_t>());
            EXPECT_EQ(t.decoder->upscale(), 8);
            for (DType dt : {DType::F32, DType::BF16}) {
                Ctx ctx;
                ctx.compute_dtype = dt;
                const double tol = dt == DType::BF16 ? 3e-2 : 1e-4;
                for (const Case& c : cs) {
                    ++total;
                    const std::string label = name + " " + l.label + " " + (dt == DType::BF16 ? "bf16 " : "f32 ") + c.label;
                    Tensor in = refs.get(c.input).to(DType::F32).contiguous();
                    Tensor out;
                    if (c.encode) out = t.encode(ctx, scale(ctx, in, 0.5f, 0.5f));  // [-1, 1] -> [0, 1]
                    else out = t.decode(ctx, in);
                    auto r = check(out, refs.get(c.expected).to(DType::F32), tol, label);
                    std::printf("  %s %s: max rel diff %.3g\n", r.ok ? "ok  " : "FAIL", label.c_str(), r.rel);
                    if (r.ok) ++passed;
                    else ADD_FAILURE() << r.report;
                    if (!c.encode && dt == DType::F32) {  // A1111's mapping to [-1, 1]
                        Tensor pm1 = t.decode_pm1(ctx, in);
                        Tensor want = scale(ctx, refs.get(c.expected).to(DType::F32), 2.0f, -1.0f);
                        EXPECT_TRUE(check(pm1, want, 1e-4, label + " *2-1").ok);
                    }
                }
            }
        }
    }
    testing::print_parity_summary("taesd", passed, total);
    EXPECT_GT(total, 0) << "the a1111 manifest has no taesd cases";
}

// The real TAESD's names and shapes (64 wide): both layouts bind every key with its shape, and the
// diffusers rule agrees with the fixture's key map.
TEST(ModelTAESDParity, FullSizeKeyLayout) {
    const nlohmann::json& m = a1111_manifest();
    std::ifstream is(a1111_path(m.at("taesd").at("taesd_fullsize_layout").at("file")));
    ASSERT_TRUE(is) << "taesd_fullsize_layout.json";
    const nlohmann::json lay = nlohmann::json::parse(is);
    auto store = std::make_shared<WeightStore>();
    auto diff = std::make_shared<WeightStore>();
    int mapped = 0;
    for (const char* part : {"encoder", "decoder"}) {
        for (const auto& [k, shape] : lay.at(std::string("taesd_") + part).items()) {
            const Shape s = shape.get<std::vector<int64_t>>();
            const std::string name = taesd_internal_key(k, part);
            ASSERT_FALSE(name.empty()) << k;
            store->add(name, Tensor::zeros(s));
            const std::string dk = lay.at("original_to_diffusers").at(std::string("taesd_") + part + ":" + k);
            EXPECT_EQ(taesd_internal_key(dk, ""), name) << dk;
            ++mapped;
        }
    }
    for (const auto& [k, shape] : lay.at("diffusers").items()) {
        const std::string name = taesd_internal_key(k, "");
        ASSERT_FALSE(name.empty()) << k;
        diff->add(name, Tensor::zeros(shape.get<std::vector<int64_t>>()));
    }
    EXPECT_EQ(mapped, lay.at("counts").at("taesd_encoder").get<int>() + lay.at("counts").at("taesd_decoder").get<int>());
    for (auto* s : {&store, &diff}) {
        TAESD t = TAESD::from_store(*s, "fullsize");  // throws on a key it does not bind
        ASSERT_TRUE(t.encoder && t.decoder);
        EXPECT_EQ(t.latent_channels(), 4);
        EXPECT_EQ(t.decoder->conv_in.out_channels(), 64);
        EXPECT_EQ(t.decoder->upscale(), 8);
        EXPECT_EQ(t.encoder->stages.size(), 4u);
        size_t blocks = 0;
        for (auto& st : t.decoder->stages) blocks += st.blocks.size();
        EXPECT_EQ(blocks, 10u);  // num_decoder_blocks 3, 3, 3, 1
        Ctx ctx;
        Tensor img = t.decoder->forward(ctx, Tensor::zeros({1, 4, 2, 3}));
        EXPECT_EQ(img.shape(), (Shape{1, 3, 16, 24}));
        EXPECT_EQ(t.encoder->forward(ctx, Tensor::zeros({1, 3, 16, 24})).shape(), (Shape{1, 4, 2, 3}));
    }
}

TEST(ModelTAESD, BadFilesGiveOneLineErrors) {
    testing::TempDir tmp;
    auto one_line = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
            return msg;
        }
        ADD_FAILURE() << "no error";
        return std::string();
    };
    EXPECT_NE(one_line([&] { TAESD::load(tmp.file("missing.safetensors")); }).find("no such file"), std::string::npos);
    save_safetensors(tmp.file("other.safetensors"), {{"model.diffusion_model.x.weight", Tensor::zeros({2, 2})}});
    EXPECT_NE(one_line([&] { TAESD::load(tmp.file("other.safetensors")); }).find("not a TAESD"), std::string::npos);
    // A decoder with a block missing its second conv.
    save_safetensors(tmp.file("broken_decoder.safetensors"),
                     {{"1.weight", Tensor::zeros({8, 4, 3, 3})}, {"1.bias", Tensor::zeros({8})},
                      {"3.conv.0.weight", Tensor::zeros({8, 8, 3, 3})}, {"3.conv.0.bias", Tensor::zeros({8})},
                      {"4.weight", Tensor::zeros({3, 8, 3, 3})}, {"4.bias", Tensor::zeros({3})}});
    EXPECT_FALSE(one_line([&] { TAESD::load(tmp.file("broken_decoder.safetensors")); }).empty());
    std::ofstream(tmp.file("garbage.safetensors")) << "not a safetensors file";
    EXPECT_FALSE(one_line([&] { TAESD::load(tmp.file("garbage.safetensors")); }).empty());
    fs::create_directories(tmp.file("empty_dir"));
    EXPECT_FALSE(one_line([&] { TAESD::load(tmp.file("empty_dir")); }).empty());
}

}  // namespace
}  // namespace sdpp
