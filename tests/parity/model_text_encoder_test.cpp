// Text-encoder parity: every model and prompt of manifest.json model_refs.*.text_encoder (open_clip
// v2.24 towers, float32): all hidden states, last / penultimate (with and without the final LN),
// pooled, text_embeds and the family's context (+ SDXL pooled), from the single file and from the
// diffusers folder, in f32 (1e-4 relative) and with bf16 compute (2e-2 relative).
//
// The weights are bound by a small test-only mapping (HF names by prefix; open_clip towers renamed
// here with their fused in_proj split), so this test checks clip_text/conditioning on their own;
// the loader's tables (model/key_map.cpp) have their own tests. The SD 2.x single file keeps its
// last block here (te1.dropped_blocks = 0), so last_hidden_state and pooled are checked too.
// The head counts and activations (shapes cannot tell them) are the loader's own hints for that
// layout: load_model reads the yaml beside a single file, config.json in a diffusers folder.
// Paths come from the manifest (models.<name>.single_file / diffusers_folder); a null one is a
// layout the fixture set lacks: its cases are skipped, counted and printed, never failed.
#include "common/parity_support.h"
#include "io/safetensors.h"
#include "model/conditioning.h"
#include "model/loader.h"

#include <gtest/gtest.h>

#include <cstdio>

using namespace sdpp;

namespace {

nlohmann::json load_manifest() { return sdpp::testing::manifest(); }

Family family_of(const std::string& kind) {
    if (kind == "sd1") return Family::SD1;
    if (kind == "sd2") return Family::SD2;
    if (kind == "sdxl") return Family::SDXL;
    throw Error("unknown model kind " + kind);
}

// Every tensor of `file` whose key starts with `from`, added under `to` + rest.
void add_prefixed(WeightStore& store, const SafetensorsFile& file, const std::string& from, const std::string& to) {
    for (const auto& e : file.entries())
        if (e.name.starts_with(from)) store.add(to + e.name.substr(from.size()), file.get(e), e.name);
}

// open_clip TextTransformer keys under `from` -> HF CLIPTextModel names under `to` (all blocks).
void add_open_clip(WeightStore& store, const SafetensorsFile& file, const std::string& from, const std::string& to) {
    for (const auto& e : file.entries()) {
        if (!e.name.starts_with(from)) continue;
        std::string k = e.name.substr(from.size());
        Tensor t = file.get(e);
        auto add = [&](const std::string& name, const Tensor& v) { store.add(to + name, v, e.name); };
        if (k == "token_embedding.weight") add("text_model.embeddings.token_embedding.weight", t);
        else if (k == "positional_embedding") add("text_model.embeddings.position_embedding.weight", t);
        else if (k == "ln_final.weight") add("text_model.final_layer_norm.weight", t);
        else if (k == "ln_final.bias") add("text_model.final_layer_norm.bias", t);
        else if (k == "text_projection") add("text_projection.weight", t.transpose(0, 1).contiguous());
        else if (k == "logit_scale") continue;
        else {
            const std::string pre = "transformer.resblocks.";
            ASSERT_TRUE(k.starts_with(pre)) << e.name;
            size_t dot = k.find('.', pre.size());
            std::string layer = "text_model.encoder.layers." + k.substr(pre.size(), dot - pre.size()) + ".";
            std::string rest = k.substr(dot + 1);
            static const std::pair<const char*, const char*> kMap[] = {
                {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"mlp.c_fc.", "mlp.fc1."},
                {"mlp.c_proj.", "mlp.fc2."}, {"attn.out_proj.", "self_attn.out_proj."}};
            bool done = false;
            for (auto [a, b] : kMap)
                if (rest.starts_with(a)) {
                    add(layer + b + rest.substr(std::string(a).size()), t);
                    done = true;
                }
            if (done) continue;
            ASSERT_TRUE(rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") << e.name;
            std::string kind = rest.ends_with("weight") ? "weight" : "bias";
            int64_t w = t.dim(0) / 3;
            add(layer + "self_attn.q_proj." + kind, t.slice(0, 0, w));
            add(layer + "self_attn.k_proj." + kind, t.slice(0, w, 2 * w));
            add(layer + "self_attn.v_proj." + kind, t.slice(0, 2 * w, 3 * w));
        }
    }
}

struct Layout {
    std::string name;  // "single" / "diffusers"
    std::unique_ptr<WeightStore> store;
    std::vector<SafetensorsFile> files;  // keep the mappings alive
};

// `path`: the manifest's models.<name>.single_file.
Layout single_file(const std::string& path, Family f) {
    Layout l{"single", std::make_unique<WeightStore>(), {}};
    l.files.push_back(SafetensorsFile::open(path));
    const SafetensorsFile& file = l.files.back();
    if (f == Family::SD1) {
        add_prefixed(*l.store, file, "cond_stage_model.transformer.", "te1.");
    } else if (f == Family::SD2) {
        add_open_clip(*l.store, file, "cond_stage_model.model.", "te1.");
        l.store->info["te1.dropped_blocks"] = "0";  // all blocks kept here
    } else {
        add_prefixed(*l.store, file, "conditioner.embedders.0.transformer.", "te1.");
        add_open_clip(*l.store, file, "conditioner.embedders.1.model.", "te2.");
    }
    return l;
}

// `path`: the manifest's models.<name>.diffusers_folder.
Layout diffusers(const std::string& path, Family f) {
    Layout l{"diffusers", std::make_unique<WeightStore>(), {}};
    const std::string dir = path + "/";
    l.files.push_back(SafetensorsFile::open(dir + "text_encoder/model.safetensors"));
    add_prefixed(*l.store, l.files.back(), "", "te1.");
    if (f == Family::SDXL) {
        l.files.push_back(SafetensorsFile::open(dir + "text_encoder_2/model.safetensors"));
        add_prefixed(*l.store, l.files.back(), "", "te2.");
    }
    return l;  // SD2: the diffusers text_encoder has its last block removed (te1_dropped_blocks 1)
}

struct Tally {
    int passed = 0, total = 0;
    double worst_rel = 0;
    sdpp::testing::Skipped skipped;
    void check(const Tensor& actual, const Tensor& expected, double tol, const std::string& what) {
        ++total;
        auto r = sdpp::testing::compare(actual, expected, tol, 0, what);
        worst_rel = std::max(worst_rel, r.rel);
        if (r.ok) ++passed;
        else ADD_FAILURE() << r.report;
    }
};

std::vector<int32_t> ids_of(const Tensor& t) {
    const int64_t* p = t.contiguous().data<int64_t>();
    return std::vector<int32_t>(p, p + t.numel());
}

// Row `row` of the [B, len] ids (len = the references' token length).
TokenChunk chunk_of(const std::vector<int32_t>& ids, int64_t row, int64_t len) {
    TokenChunk c;
    c.ids.assign(ids.begin() + row * len, ids.begin() + (row + 1) * len);
    c.weights.assign(size_t(len), 1.0f);
    return c;
}

// One encoder's reference tensors (prefix "te." / "te_l." / "te_g.") against the model's outputs.
void check_encoder(Tally& t, Ctx& ctx, const ClipTextModel& m, const SafetensorsFile& ref, const std::string& p,
                   int dropped, double tol, const std::string& what) {
    std::vector<int32_t> ids = ids_of(ref.get(p + "input_ids"));
    const int64_t batch = ref.get(p + "input_ids").dim(0);
    Tensor hs = ref.get(p + "hidden_states");  // [L + 1, B, 77, W] of the full tower
    const int L = int(m.config.n_layers), full = int(hs.dim(0)) - 1;
    ASSERT_EQ(L + dropped, full) << what;
    ClipTextOutput o = m.forward(ctx, ids, batch);
    for (int i = 0; i <= L; ++i)
        t.check(o.hidden_states[size_t(i)], hs.select(0, i), tol, what + " hidden_states[" + std::to_string(i) + "]");
    // penultimate of the full tower = hidden_states[full - 1]
    t.check(o.hidden_states[size_t(full - 1)], ref.get(p + "penultimate_hidden_state"), tol, what + " penultimate");
    ClipTextOutput pen = m.forward(ctx, ids, batch, full - 1);
    t.check(pen.last_hidden_state, ref.get(p + "penultimate_hidden_state_final_ln"), tol, what + " penultimate_final_ln");
    if (dropped == 0) {
        t.check(o.last_hidden_state, ref.get(p + "last_hidden_state"), tol, what + " last_hidden_state");
        t.check(o.pooled, ref.get(p + "pooled_output"), tol, what + " pooled_output");
        if (m.text_projection) t.check(o.text_embeds, ref.get(p + "text_embeds"), tol, what + " text_embeds");
    }
}

void run_model(Tally& t, const std::string& model, const nlohmann::json& spec, const nlohmann::json& info, bool bf16) {
    const Family f = family_of(info.at("kind").get<std::string>());
    const double tol = bf16 ? 2e-2 : 1e-4;
    SafetensorsFile ref = SafetensorsFile::open(sdpp::testing::fixture_path(spec.at("file").get<std::string>()));
    const size_t n_prompts = spec.at("prompts").size();
    Ctx ctx;
    ctx.compute_dtype = bf16 ? DType::BF16 : DType::F32;
    for (const auto& layout : sdpp::testing::model_layouts()) {
        const std::optional<std::string> path = sdpp::testing::model_path(model, layout);
        if (!path) {  // counted per layout: how many checks it holds depends on its weights
            std::printf("  skip %s %s: %s\n", model.c_str(), layout.label.c_str(), layout.missing.c_str());
            t.skipped.add(layout.missing + " (whole layouts)");
            continue;
        }
        Layout l = layout.key == "single_file" ? single_file(*path, f) : diffusers(*path, f);
        const std::string what = model + " " + l.name + (bf16 ? " bf16" : " f32");
        // Heads and activations as the loader finds them for this layout (yaml / config.json).
        const ModelHints hints = load_model(*path).hints;
        TextEncoders enc = TextEncoders::load(*l.store, f, hints);
        EXPECT_TRUE(l.store->unused().empty()) << what << ": unused weight " << l.store->unused()[0];
        if (f == Family::SDXL) {
            check_encoder(t, ctx, *enc.te1, ref, "te_l.", 0, tol, what + " te_l");
            check_encoder(t, ctx, *enc.te2, ref, "te_g.", 0, tol, what + " te_g");
        } else {
            check_encoder(t, ctx, *enc.te1, ref, "te.", enc.te1_dropped_blocks, tol, what + " te");
        }
        // The family's context (and SDXL pooled), one prompt at a time through encode_chunks.
        const std::string p1 = f == Family::SDXL ? "te_l." : "te.";
        std::vector<int32_t> ids1 = ids_of(ref.get(p1 + "input_ids"));
        std::vector<int32_t> ids2 = f == Family::SDXL ? ids_of(ref.get("te_g.input_ids")) : std::vector<int32_t>{};
        const int64_t len = ref.get(p1 + "input_ids").dim(1);
        ASSERT_EQ(ids1.size(), n_prompts * size_t(len)) << what;
        Tensor ctx_ref = ref.get("context");
        for (size_t i = 0; i < n_prompts; ++i) {
            std::vector<TokenChunk> c1{chunk_of(ids1, int64_t(i), len)}, c2;
            if (f == Family::SDXL) c2.push_back(chunk_of(ids2, int64_t(i), len));
            Conditioning c = encode_chunks(ctx, enc, c1, c2);
            std::string w = what + " prompt " + std::to_string(i);
            t.check(c.context, ctx_ref.slice(0, int64_t(i), int64_t(i) + 1), tol, w + " context");
            if (f == Family::SDXL) t.check(c.pooled, ref.get("pooled").slice(0, int64_t(i), int64_t(i) + 1), tol, w + " pooled");
        }
    }
}

void run_all(bool bf16) {
    const nlohmann::json m = load_manifest();
    Tally t;
    int models = 0;
    for (const auto& [name, refs] : m.at("model_refs").items()) {
        ASSERT_TRUE(refs.contains("text_encoder")) << name;
        run_model(t, name, refs.at("text_encoder"), m.at("models").at(name), bf16);
        ++models;
    }
    EXPECT_GT(models, 0) << "the manifest has no model_refs";
    std::printf("text_encoder %s: worst relative error %.3g over %d checks\n", bf16 ? "bf16" : "f32", t.worst_rel,
                t.total);
    sdpp::testing::print_parity_summary(bf16 ? "text_encoder_bf16" : "text_encoder", t.passed, t.total, t.skipped);
    EXPECT_GT(t.total, 0);
    EXPECT_EQ(t.passed, t.total);
}

// Context (+ SDXL pooled) of every prompt with the weights as the loader binds them (its key
// tables, its SD 2.x block dropping, its hints from yaml / config.json).
void run_loader() {
    const nlohmann::json m = load_manifest();
    Tally t;
    for (const auto& [name, refs] : m.at("model_refs").items()) {
        const auto& spec = refs.at("text_encoder");
        const auto& info = m.at("models").at(name);
        SafetensorsFile ref = SafetensorsFile::open(sdpp::testing::fixture_path(spec.at("file").get<std::string>()));
        const bool xl = info.at("kind").get<std::string>() == "sdxl";
        const Tensor ids1_t = ref.get(xl ? "te_l.input_ids" : "te.input_ids");
        const int64_t len = ids1_t.dim(1);
        std::vector<int32_t> ids1 = ids_of(ids1_t);
        std::vector<int32_t> ids2 = xl ? ids_of(ref.get("te_g.input_ids")) : std::vector<int32_t>{};
        for (const auto& layout : sdpp::testing::model_layouts()) {
            const std::optional<std::string> path = sdpp::testing::model_path(name, layout);
            const int cases = int(spec.at("prompts").size()) * (xl ? 2 : 1);
            if (!path) {
                std::printf("  skip %s %s: %s (%d checks)\n", name.c_str(), layout.label.c_str(),
                            layout.missing.c_str(), cases);
                t.skipped.add(layout.missing, cases);
                continue;
            }
            const std::string& key = layout.label;
            LoadedModel lm = load_model(*path);
            EXPECT_EQ(lm.family, family_of(info.at("kind").get<std::string>())) << name;
            Ctx ctx;
            TextEncoders enc = TextEncoders::load(lm.weights(), lm.family, lm.hints);
            for (const std::string& u : lm.weights().unused(lm.ignorable_prefixes))
                EXPECT_FALSE(u.starts_with("te1.") || u.starts_with("te2.")) << name << " " << key << ": unused " << u;
            for (size_t i = 0; i < spec.at("prompts").size(); ++i) {
                std::vector<TokenChunk> c1{chunk_of(ids1, int64_t(i), len)}, c2;
                if (xl) c2.push_back(chunk_of(ids2, int64_t(i), len));
                Conditioning c = encode_chunks(ctx, enc, c1, c2);
                std::string w = name + " " + key + " prompt " + std::to_string(i);
                t.check(c.context, ref.get("context").slice(0, int64_t(i), int64_t(i) + 1), 1e-4, w + " context");
                if (xl) t.check(c.pooled, ref.get("pooled").slice(0, int64_t(i), int64_t(i) + 1), 1e-4, w + " pooled");
            }
        }
    }
    sdpp::testing::print_parity_summary("text_encoder_loader", t.passed, t.total, t.skipped);
    EXPECT_GT(t.total, 0);
    EXPECT_EQ(t.passed, t.total);
}

}  // namespace

TEST(ModelTextEncoderParity, F32MatchesReferences) { run_all(false); }

TEST(ModelTextEncoderParity, LoaderLayoutsGiveTheReferenceContext) { run_loader(); }

TEST(ModelTextEncoderParity, BF16ComputeStaysClose) { run_all(true); }

TEST(ModelTextEncoder, EmphasisRestoresTheMean) {
    Ctx ctx;
    std::vector<float> v(2 * 3);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) - 1.5f;
    Tensor z = Tensor::from_vector(v, {1, 2, 3});
    std::vector<float> w{1.5f, 0.5f};
    Tensor e = apply_emphasis(ctx, z, w);
    double before = 0, after = 0;
    for (float x : z.to_vector()) before += x;
    for (float x : e.to_vector()) after += x;
    EXPECT_NEAR(before, after, 1e-5);
    // Token 0 scaled 3x relative to token 1 (before the common mean factor).
    float k = e.at({0, 0, 0}) / (1.5f * z.at({0, 0, 0}));
    EXPECT_NEAR(e.at({0, 1, 2}), k * 0.5f * z.at({0, 1, 2}), 1e-5);
    std::vector<float> ones{1.f, 1.f};
    EXPECT_EQ(apply_emphasis(ctx, z, ones).to_vector(), z.to_vector());
}

TEST(ModelTextEncoder, ContextsPaddedWithTheEmptyPrompt) {
    Ctx ctx;
    Tensor a = Tensor::full({1, 154, 4}, 1.f), b = Tensor::full({1, 77, 4}, 2.f), e = Tensor::full({1, 77, 4}, 3.f);
    equalize_context_lengths(ctx, a, b, e);
    ASSERT_EQ(b.shape(), (Shape{1, 154, 4}));
    EXPECT_EQ(b.at({0, 76, 3}), 2.f);
    EXPECT_EQ(b.at({0, 77, 0}), 3.f);
    EXPECT_EQ(a.shape(), (Shape{1, 154, 4}));
}
