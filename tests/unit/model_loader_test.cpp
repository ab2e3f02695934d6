// load_model on every tiny fixture model: the single file (LDM / SGM) and the diffusers folder
// must give the same internal key set with identical values (this proves the key tables), the
// right family / inpainting / prediction, and the hints of the yaml and config.json files.
// Also: VAE override, SGM variants (SD-Turbo-style, refiner-style), error cases, sha256.
#include "common/ckpt_writer.h"
#include "common/loaded_model_checks.h"
#include "common/parity_support.h"
#include "common/temp_dir.h"
#include "io/safetensors.h"
#include "model/detect.h"
#include "model/key_map.h"
#include "model/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace sdpp {
namespace {

namespace fs = std::filesystem;
using sdpp::testing::fixture_path;

using sdpp::testing::manifest;

Family family_of_kind(const std::string& kind) {
    if (kind == "sd1") return Family::SD1;
    if (kind == "sd2") return Family::SD2;
    if (kind == "sdxl") return Family::SDXL;
    if (kind == "sdxl-refiner") return Family::SDXLRefiner;
    throw Error("manifest model kind '" + kind + "' unknown to this test");
}

using sdpp::testing::TempDir;

using sdpp::testing::expect_hints;
using sdpp::testing::expect_same_store;

TEST(ModelLoader, EveryFixtureModelLoadsIdenticallyFromBothLayouts) {
    int models = 0;
    for (auto& [name, spec] : manifest()["models"].items()) {
        SCOPED_TRACE(name);
        const Family fam = family_of_kind(spec["kind"].get<std::string>());
        const bool inpaint = spec["unet_config"]["in_channels"].get<int>() == 9;

        LoadedModel single = load_model(fixture_path(spec["single_file"].get<std::string>()));
        LoadedModel diff = load_model(fixture_path(spec["diffusers_folder"].get<std::string>()));
        EXPECT_EQ(single.layout, fam == Family::SDXL ? "sgm" : "ldm");
        EXPECT_EQ(diff.layout, "diffusers");
        for (const LoadedModel* m : {&single, &diff}) {
            EXPECT_EQ(m->family, fam) << m->path;
            EXPECT_EQ(m->inpaint, inpaint) << m->path;
            EXPECT_TRUE(m->unknown_keys.empty()) << m->path << ": " << m->unknown_keys.size() << " unknown, e.g. "
                                                 << (m->unknown_keys.empty() ? "" : m->unknown_keys[0]);
            expect_hints(*m, spec, m->path);
        }
        EXPECT_TRUE(single.config_file.has_value());
        EXPECT_TRUE(diff.tokenizer_dir.has_value());
        // Every tensor of the single file is bound, kept as an extra buffer, or dropped for a reason.
        SafetensorsFile f = SafetensorsFile::open(fixture_path(spec["single_file"].get<std::string>()));
        size_t extras = single.weights().names_with_prefix(kExtraPrefix).size();
        size_t open_clip_splits = 0;  // each fused in_proj weight/bias becomes three tensors
        for (auto& e : f.entries()) open_clip_splits += e.name.find(".attn.in_proj_") != std::string::npos;
        // in_proj tensors of dropped blocks are counted in dropped_keys, not split: count them back.
        size_t dropped_in_proj = 0;
        for (auto& [k, r] : single.dropped_keys) dropped_in_proj += k.find(".attn.in_proj_") != std::string::npos;
        EXPECT_EQ(single.weights().size() - extras - 2 * (open_clip_splits - dropped_in_proj) +
                      single.dropped_keys.size(),
                  f.entries().size() - extras);
        expect_same_store(single, diff, name);
        ++models;
    }
    EXPECT_EQ(models, int(manifest()["models"].size()));
    EXPECT_GE(models, 4);
}

TEST(ModelLoader, SD2TextTowerIsSplitAndTrimmedLikeDiffusers) {
    LoadedModel m = load_model(fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"));
    SafetensorsFile f = SafetensorsFile::open(fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"));
    Tensor in_proj = f.get("cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight");  // [48, 16]
    const int64_t C = in_proj.dim(1);
    const char* parts[] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; ++i) {
        Tensor t = m.weights().raw(std::string("te1.text_model.encoder.layers.1.self_attn.") + parts[i] + ".weight");
        EXPECT_EQ(t.to_vector(), in_proj.slice(0, i * C, (i + 1) * C).to_vector()) << parts[i];
    }
    EXPECT_EQ(m.weights().info.at("te1.source"), "open_clip");
    // the last of the 3 blocks and the projection are dropped, as diffusers does for SD 2.x
    EXPECT_FALSE(m.weights().contains("te1.text_model.encoder.layers.2.mlp.fc1.weight"));
    EXPECT_FALSE(m.weights().contains("te1.text_projection.weight"));
    EXPECT_TRUE(m.weights().contains("te1.text_model.final_layer_norm.weight"));
    EXPECT_EQ(m.hint_sources.at("prediction"), "yaml " + fixture_path("models/sd2-tiny-v/sd2-tiny-v.yaml"));
    ASSERT_TRUE(m.hints.unet_head_channels);
    EXPECT_EQ(*m.hints.unet_head_channels, 16);
}

TEST(ModelLoader, SDXLProjectionIsTransposed) {
    LoadedModel m = load_model(fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors"));
    SafetensorsFile f = SafetensorsFile::open(fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors"));
    Tensor p = f.get("conditioner.embedders.1.model.text_projection");  // [W, E], used as x @ P
    Tensor w = m.weights().raw("te2.text_projection.weight");            // [E, W], nn.Linear
    EXPECT_EQ(w.to_vector(), p.transpose(0, 1).contiguous().to_vector());
    EXPECT_EQ(m.weights().info.at("te1.source"), "hf");
    EXPECT_EQ(m.weights().info.at("te2.source"), "open_clip");
}

TEST(ModelLoader, PredictionFlagWinsAndDefaultsApply) {
    LoadOptions o;
    o.prediction = Prediction::Eps;
    LoadedModel m = load_model(fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"), o);
    EXPECT_EQ(m.prediction(), Prediction::Eps);
    EXPECT_EQ(m.hint_sources.at("prediction"), "flag");
    o.prediction = Prediction::V;
    EXPECT_EQ(load_model(fixture_path("models/sd1-tiny/diffusers"), o).prediction(), Prediction::V);

    // Without a yaml the family defaults apply: copy the single file somewhere else.
    TempDir tmp;
    fs::copy_file(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), tmp.file("plain.safetensors"));
    LoadedModel p = load_model(tmp.file("plain.safetensors"));
    EXPECT_EQ(p.family, Family::SD1);
    EXPECT_FALSE(p.config_file);
    EXPECT_EQ(unet_heads(p.hints, 0, 320), 8);
    EXPECT_EQ(p.hint_sources.at("unet_heads"), "default");
    EXPECT_EQ(p.prediction(), Prediction::Eps);
    EXPECT_FALSE(p.hints.te1_heads);  // 16 wide: width / 64 does not apply
}

// Single files rewritten into other layouts real files use.
std::vector<std::pair<std::string, Tensor>> renamed(const std::string& file,
                                                    const std::vector<std::pair<std::string, std::string>>& from_to,
                                                    const std::vector<std::string>& drop = {}) {
    SafetensorsFile f = SafetensorsFile::open(file);
    std::vector<std::pair<std::string, Tensor>> out;
    for (auto& e : f.entries()) {
        std::string n = e.name;
        bool skip = false;
        for (auto& d : drop) skip = skip || n.starts_with(d);
        if (skip) continue;
        for (auto& [a, b] : from_to)
            if (n.starts_with(a)) {
                n = b + n.substr(a.size());
                break;
            }
        out.emplace_back(n, f.get(e));
    }
    return out;
}

TEST(ModelLoader, SGMFileWithSD2ArchitectureLoadsAsSD2) {
    // SD-Turbo style: the OpenCLIP tower under conditioner.embedders.0.model., no schedule buffers.
    TempDir tmp;
    auto t = renamed(fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"),
                     {{"cond_stage_model.model.", "conditioner.embedders.0.model."}});
    std::erase_if(t, [](auto& p) { return p.first.find('.') == std::string::npos; });
    save_safetensors(tmp.file("turbo.safetensors"), t);
    LoadedModel sgm = load_model(tmp.file("turbo.safetensors"));
    LoadedModel ldm = load_model(fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"));
    EXPECT_EQ(sgm.layout, "sgm");
    EXPECT_EQ(sgm.family, Family::SD2);
    EXPECT_TRUE(sgm.unknown_keys.empty());
    expect_same_store(sgm, ldm, "sgm-sd2 vs ldm-sd2");
}

TEST(ModelLoader, RefinerStyleFileMapsItsOnlyTowerToTe2) {
    TempDir tmp;
    auto t = renamed(fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors"),
                     {{"conditioner.embedders.1.model.", "conditioner.embedders.0.model."}},
                     {"conditioner.embedders.0.transformer."});
    save_safetensors(tmp.file("refiner.safetensors"), t);
    LoadedModel m = load_model(tmp.file("refiner.safetensors"));
    EXPECT_EQ(m.family, Family::SDXLRefiner);
    EXPECT_TRUE(m.weights().names_with_prefix("te1.").empty());
    EXPECT_EQ(count_indexed_keys(m.weights(), "te2.text_model.encoder.layers."), 12);  // nothing trimmed
    EXPECT_TRUE(m.weights().contains("te2.text_projection.weight"));
}

TEST(ModelLoader, VAEOverrideReplacesTheVAE) {
    const std::string sdxl_file = fixture_path("models/sdxl-tiny/sdxl-tiny.safetensors");
    LoadedModel sdxl = load_model(sdxl_file);
    auto vae_keys = sdxl.weights().names_with_prefix("first_stage_model.");
    auto check = [&](const LoadedModel& m, const std::string& what) {
        EXPECT_EQ(m.weights().names_with_prefix("first_stage_model."), vae_keys) << what;
        for (auto& k : vae_keys)
            if (m.weights().raw(k).to_vector() != sdxl.weights().raw(k).to_vector()) {
                ADD_FAILURE() << what << ": " << k;
                break;
            }
        EXPECT_EQ(m.family, Family::SD1) << what;
        EXPECT_TRUE(m.unknown_keys.empty()) << what;
    };
    LoadOptions o;
    o.vae_path = fixture_path("models/sdxl-tiny/diffusers/vae");  // diffusers folder
    check(load_model(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), o), "diffusers vae folder");
    o.vae_path = fixture_path("models/sdxl-tiny/diffusers/vae/diffusion_pytorch_model.safetensors");
    check(load_model(fixture_path("models/sd1-tiny/diffusers"), o), "diffusers vae file");
    // LDM VAE file with bare encoder./decoder. names (vae-ft-mse-840000 style)
    TempDir tmp;
    auto bare = renamed(sdxl_file, {{"first_stage_model.", ""}},
                        {"model.", "conditioner.", "cond_stage_model."});
    save_safetensors(tmp.file("vae.safetensors"), bare);
    o.vae_path = tmp.file("vae.safetensors");
    check(load_model(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), o), "bare ldm vae file");
    // a whole checkpoint as the VAE file: only its first_stage_model is taken
    o.vae_path = sdxl_file;
    check(load_model(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), o), "checkpoint as vae");
}

TEST(ModelLoader, UnknownKeysAreReportedNotBound) {
    TempDir tmp;
    auto t = renamed(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), {});
    t.emplace_back("cond_stage_model.something_new.weight", Tensor::zeros({2}));
    t.emplace_back("totally.unknown", Tensor::zeros({3}));
    save_safetensors(tmp.file("odd.safetensors"), t);
    LoadedModel m = load_model(tmp.file("odd.safetensors"));
    EXPECT_EQ(m.unknown_keys, (std::vector<std::string>{"cond_stage_model.something_new.weight", "totally.unknown"}));
    for (auto& n : m.weights().names()) EXPECT_EQ(n.find("unknown"), std::string::npos) << n;
}

TEST(ModelLoader, CkptCheckpointLoadsLikeItsSafetensors) {
    // A torch.save zip holding sd1-tiny's state dict under "state_dict", plus EMA counters.
    const std::string st = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
    SafetensorsFile f = SafetensorsFile::open(st);
    sdpp::testing::CkptSpec spec;
    spec.nesting = "state_dict";
    int key = 0;
    auto add = [&](const std::string& name, const Tensor& t) {
        sdpp::testing::CkptTensor c;
        c.name = name;
        c.dtype = t.dtype();
        c.storage_key = std::to_string(key++);
        c.storage_numel = t.numel();
        c.size = t.shape();
        spec.storages[c.storage_key] = std::string(static_cast<const char*>(t.raw()), t.nbytes());
        spec.tensors.push_back(c);
    };
    for (auto& e : f.entries()) add(e.name, f.get(e));
    add("model_ema.decay", Tensor::full({}, 0.9999f));
    TempDir tmp;
    sdpp::testing::write_ckpt(tmp.file("sd1.ckpt"), spec);
    LoadedModel c = load_model(tmp.file("sd1.ckpt"));
    EXPECT_EQ(c.layout, "ldm");
    EXPECT_EQ(c.family, Family::SD1);
    EXPECT_TRUE(c.unknown_keys.empty());
    EXPECT_TRUE(std::any_of(c.dropped_keys.begin(), c.dropped_keys.end(),
                            [](auto& d) { return d.first == "model_ema.decay"; }));
    expect_same_store(c, load_model(st), "ckpt vs safetensors");
}

TEST(ModelLoader, SD2FileConvertedFromDiffusersLosesNoFurtherBlock) {
    // diffusers-converted SD 2.x files already lack the last text block and the projection; the
    // yaml (or OpenCLIP-H's known 24 blocks) says how many the architecture has.
    TempDir tmp;
    auto t = renamed(fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"), {},
                     {"cond_stage_model.model.transformer.resblocks.2.", "cond_stage_model.model.text_projection"});
    save_safetensors(tmp.file("trimmed.safetensors"), t);
    fs::copy_file(fixture_path("models/sd2-tiny-v/sd2-tiny-v.yaml"), tmp.file("trimmed.yaml"));
    LoadedModel m = load_model(tmp.file("trimmed.safetensors"));
    EXPECT_EQ(count_indexed_keys(m.weights(), "te1.text_model.encoder.layers."), 2);
    expect_same_store(m, load_model(fixture_path("models/sd2-tiny-v/diffusers")), "trimmed sd2");
}

std::string load_error(const std::string& path, const LoadOptions& o = {}) {
    try {
        load_model(path, o);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(ModelLoader, UnusableInputsGetOneLineErrors) {
    TempDir tmp;
    auto expect_error = [&](const std::string& path, const std::string& needle, const LoadOptions& o = {}) {
        std::string e = load_error(path, o);
        EXPECT_NE(e.find(needle), std::string::npos) << path << " -> '" << e << "'";
        EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    };
    expect_error(tmp.file("missing.safetensors"), "no such file");
    expect_error(tmp.dir.string(), "no unet/");
    { std::ofstream(tmp.file("old.ckpt")) << "PK\x03\x04 not really"; }
    expect_error(tmp.file("old.ckpt"), "old.ckpt");
    save_safetensors(tmp.file("lora.safetensors"),
                     {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", Tensor::zeros({4, 4})}});
    expect_error(tmp.file("lora.safetensors"), "LoRA");
    save_safetensors(tmp.file("random.safetensors"), {{"foo", Tensor::zeros({4})}});
    expect_error(tmp.file("random.safetensors"), "no Stable Diffusion weights");
    { std::ofstream(tmp.file("garbage.safetensors")) << "definitely not safetensors"; }
    expect_error(tmp.file("garbage.safetensors"), "garbage.safetensors");
    // two source keys landing on one internal name
    save_safetensors(tmp.file("dup.safetensors"),
                     {{"cond_stage_model.transformer.text_model.final_layer_norm.weight", Tensor::zeros({4})},
                      {"cond_stage_model.transformer.final_layer_norm.weight", Tensor::zeros({4})}});
    expect_error(tmp.file("dup.safetensors"), "both map to 'te1.text_model.final_layer_norm.weight'");
    // a broken yaml beside the file
    fs::copy_file(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), tmp.file("m.safetensors"));
    { std::ofstream(tmp.file("m.yaml")) << "model: [unclosed\n"; }
    expect_error(tmp.file("m.safetensors"), "m.yaml");
    LoadOptions o;
    o.vae_path = tmp.file("random.safetensors");
    expect_error(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"), "no VAE weights", o);
}

TEST(ModelLoader, FileSha256MatchesTheManifest) {
    const std::string rel = "models/sd1-tiny/sd1-tiny.safetensors";
    LoadedModel m = load_model(fixture_path(rel));
    EXPECT_EQ(m.file_sha256(), manifest()["files"][rel]["sha256"].get<std::string>());
    EXPECT_FALSE(load_model(fixture_path("models/sd1-tiny/diffusers")).file_sha256());  // a folder has no one file
}

TEST(WeightStore, MatricesKeepTheFileDtypeWithTheirOwnOwner) {
    WeightStore s;
    Tensor h = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}).to(DType::F16);
    s.add("m.weight", h);
    s.add("i.weight", Tensor::zeros({2, 2}, DType::I64));
    Tensor a = s.matrix("m.weight", {2, -1}), b = s.matrix("m.weight");
    EXPECT_EQ(a.dtype(), DType::F16);  // no model-side f32 copy: the backend converts
    EXPECT_EQ(a.raw(), h.raw());       // zero copy
    EXPECT_EQ(a.to_vector(), h.to_vector());
    // Distinct owners: the backend's prepared copy lives as long as the binding, not the file.
    EXPECT_TRUE(a.storage().owner_before(b.storage()) || b.storage().owner_before(a.storage()));
    EXPECT_EQ(s.matrix("i.weight").dtype(), DType::F32);  // non-float data is converted
    EXPECT_THROW(s.matrix("m.weight", {3, 2}), Error);
    // Only file mappings give pages back; a heap tensor is left alone.
    EXPECT_EQ(s.release_pages("m."), 0u);
}

}  // namespace
}  // namespace sdpp
