// Textual-inversion parity: every case of $SDPP_FIXTURES/lora/manifest.json "embeddings", in f32
// (1e-4 relative) and with bf16 compute (3e-2 relative).
//   embedding_conditioning  per prompt: the encoders' input ids (with the 0 slots) and the fixes
//                           (offset, name, N) exactly, inputs_embeds (token rows after the
//                           replacement), the context and SDXL's pooled text embeds
//   e2e                     a generation through sdpp::Engine with --embeddings-dir: cond / uncond
//                           context (and SDXL text_embeds), the final latent, the 8-bit image
//                           (within 2) and the infotext's "TI hashes" (exact)
// The embeddings folder is the manifest's directories.embeddings; model files, prompts and
// settings all come from the manifest. Prints "parity embeddings: <passed>/<total> passed".
#include "common/parity_support.h"
#include "model/conditioning.h"
#include "model/embedding_fixes.h"
#include "model/loader.h"
#include "model/unet.h"
#include "pipeline/parameters.h"
#include "pipeline/pipeline.h"
#include "text/embeddings.h"
#include "text/prompt_parser.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

const nlohmann::json& lora_manifest() {
    static const nlohmann::json m = [] {
        std::ifstream f(fixture_path("lora/manifest.json"));
        if (!f) throw Error("no lora/manifest.json under " + fixtures_dir());
        return nlohmann::json::parse(f);
    }();
    return m;
}

std::string lora_path(const std::string& rel) { return fixture_path("lora/" + rel); }
std::string embeddings_dir() { return lora_path(lora_manifest().at("directories").at("embeddings").get<std::string>()); }
std::string model_file(const std::string& model) {
    return lora_path(lora_manifest().at("models").at(model).at("file").get<std::string>());
}
std::string vocab_file() { return fixture_path("clip/vocab.json"); }

struct Check {
    bool ok = true;
    std::string report;
    double worst_rel = 0;
    void fail(const std::string& m) {
        ok = false;
        report += "  " + m + "\n";
    }
    void tensor(const Tensor& a, const Tensor& e, double tol, const std::string& what) {
        CompareResult r = compare(a, e, tol, 0, what);
        worst_rel = std::max(worst_rel, r.rel);
        if (!r.ok) fail(r.report);
    }
};

std::vector<int64_t> row_ids(const Tensor& ids, int64_t row) {
    Tensor r = ids.select(0, row).contiguous();
    const int64_t* p = r.data<int64_t>();
    return std::vector<int64_t>(p, p + r.numel());
}

// One embedding_conditioning case: each prompt tokenised and encoded on its own.
void run_conditioning(Check& ck, const nlohmann::json& c, bool bf16) {
    const double tol = bf16 ? 3e-2 : 1e-4;
    LoadedModel m = load_model(model_file(c.at("model")));
    const bool xl = m.family == Family::SDXL;
    text::ClipTokenizer tok = text::ClipTokenizer::from_path(vocab_file());
    // A folder with exactly the case's embeddings (manifest "embeddings" -> embedding_files.*.file).
    const std::filesystem::path folder = std::filesystem::temp_directory_path() /
                                         ("sdpp_parity_emb_" + std::to_string(::getpid()));
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    for (const auto& name : c.at("embeddings")) {
        const std::string file = lora_path(lora_manifest().at("embedding_files").at(name.get<std::string>()).at("file"));
        std::filesystem::copy_file(file, folder / std::filesystem::path(file).filename());
    }
    text::EmbeddingLibrary lib(folder.string());
    lib.scan(tok);
    for (size_t k = 0; k < lib.size(); ++k) lib.load(k);  // read now: the folder goes at the end of this scope
    struct Cleanup {
        std::filesystem::path p;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(p, ec);
        }
    } cleanup{folder};
    TextEncoders enc = TextEncoders::load(m.weights(), m.family, m.hints);
    const text::TextEncoderWidths widths{enc.te1 ? enc.te1->config.width : 0, enc.te2 ? enc.te2->config.width : 0};
    SafetensorsFile ref = SafetensorsFile::open(lora_path(c.at("file")));
    Ctx ctx;
    ctx.compute_dtype = bf16 ? DType::BF16 : DType::F32;
    const int32_t pad1 = m.family == Family::SD2 ? 0 : tok.eot_id();
    const auto& prompts = c.at("prompts");
    for (size_t i = 0; i < prompts.size(); ++i) {
        const std::string prompt = prompts[i];
        const std::string what = c.at("model").get<std::string>() + " \"" + prompt + "\"" + (bf16 ? " bf16" : " f32");
        text::EmbeddingMatcher m1(lib, widths, 1), m2(lib, widths, 2);
        text::ChunkOptions o1, o2;
        o1.embeddings = &m1;
        o2.embeddings = &m2;
        std::vector<TokenChunk> c1, c2;
        if (enc.te1) c1 = text::tokenize_prompt(tok, prompt, pad1, o1).chunks;
        if (enc.te2) c2 = text::tokenize_prompt(tok, prompt, 0, o2).chunks;
        struct Enc {
            const char* prefix;
            const ClipTextModel* te;
            const std::vector<TokenChunk>* chunks;
        };
        std::vector<Enc> encs;
        if (xl) encs = {{"te_l.", &*enc.te1, &c1}, {"te_g.", &*enc.te2, &c2}};
        else encs = {{"te.", &*enc.te1, &c1}};
        for (const Enc& e : encs) {
            const std::vector<TokenChunk>& ch = *e.chunks;
            if (ch.size() != 1) {
                ck.fail(what + ": " + std::to_string(ch.size()) + " chunks, the references have 1");
                continue;
            }
            std::vector<int64_t> want = row_ids(ref.get(std::string(e.prefix) + "input_ids"), int64_t(i));
            std::vector<int64_t> got(ch[0].ids.begin(), ch[0].ids.end());
            if (got != want) ck.fail(what + " " + e.prefix + "input_ids differ");
            // Fixes: offset, name and vector count as the manifest lists them.
            const auto& fx = c.at("fixes")[i];
            bool same = fx.size() == ch[0].fixes.size();
            for (size_t k = 0; same && k < fx.size(); ++k)
                same = fx[k].at("offset").get<int>() == ch[0].fixes[k].offset &&
                       fx[k].at("name").get<std::string>() == ch[0].fixes[k].name &&
                       fx[k].at("vectors").get<int64_t>() == ch[0].fixes[k].vectors.dim(0);
            if (!same) ck.fail(what + " " + e.prefix + " fixes differ from the manifest's");
            std::vector<int32_t> ids(ch[0].ids.begin(), ch[0].ids.end());
            Tensor embeds = e.te->embed_tokens(ids, 1);
            apply_embedding_fixes(embeds, ch);
            ck.tensor(embeds, ref.get(std::string(e.prefix) + "inputs_embeds").slice(0, int64_t(i), int64_t(i) + 1), 1e-4,
                      what + " " + e.prefix + "inputs_embeds");
        }
        Conditioning cond = encode_chunks(ctx, enc, c1, c2);
        ck.tensor(cond.context, ref.get("context").slice(0, int64_t(i), int64_t(i) + 1), tol, what + " context");
        if (xl) ck.tensor(cond.pooled, ref.get("pooled").slice(0, int64_t(i), int64_t(i) + 1), tol, what + " pooled");
    }
}

// One e2e case through the public Engine, plus the conditioning through the pipeline's own
// encode_prompts (the Engine does not hand contexts out).
void run_e2e(Check& ck, const std::string& name, const nlohmann::json& c, bool bf16) {
    const double tol = bf16 ? 3e-2 : 1e-4;
    const nlohmann::json& st = c.at("settings");
    SafetensorsFile ref = SafetensorsFile::open(lora_path(c.at("file")));
    GenerateRequest r;
    r.prompt = st.at("prompt");
    r.negative_prompt = st.at("negative_prompt");
    r.cfg_scale = st.at("cfg_scale").get<float>();
    r.steps = st.at("steps");
    r.seed = st.at("seed");
    r.height = int(st.at("latent_hw")[0]) * 8;
    r.width = int(st.at("latent_hw")[1]) * 8;
    r.sampler = st.at("sampler");
    if (st.at("mode") != "txt2img") {
        ck.fail("unknown e2e mode " + st.at("mode").get<std::string>());
        return;
    }
    const std::string what = name + (bf16 ? " bf16" : " f32");

    // Conditioning.
    {
        LoadedModel m = load_model(model_file(c.at("model")));
        text::ClipTokenizer tok = text::ClipTokenizer::from_path(vocab_file());
        text::EmbeddingLibrary lib(embeddings_dir());
        lib.scan(tok);
        UNetConfig ucfg = UNetConfig::detect(m.weights(), m.hints);
        pipeline::TextSetup ts{&m, &tok, ucfg.adm_in_channels, &lib};
        Ctx ctx;
        ctx.compute_dtype = bf16 ? DType::BF16 : DType::F32;
        pipeline::PromptConditioning pc = pipeline::encode_prompts(ctx, ts, r);
        ck.tensor(pc.cond, ref.get("cond.context"), tol, what + " cond.context");
        ck.tensor(pc.uncond, ref.get("uncond.context"), tol, what + " uncond.context");
        if (ref.find("cond.text_embeds")) {
            const int64_t w = ref.get("cond.text_embeds").dim(1);
            ck.tensor(pc.cond_y.slice(1, 0, w), ref.get("cond.text_embeds"), tol, what + " cond.text_embeds");
            ck.tensor(pc.uncond_y.slice(1, 0, w), ref.get("uncond.text_embeds"), tol, what + " uncond.text_embeds");
        }
        // The embeddings used: name and count as the manifest lists them.
        const auto& used = c.at("derived").at("embeddings_used");
        bool same = used.size() == pc.embeddings_used.size();
        for (size_t k = 0; same && k < used.size(); ++k)
            same = used[k].at("name") == pc.embeddings_used[k].name &&
                   used[k].at("vectors").get<int64_t>() == pc.embeddings_used[k].n_vectors;
        if (!same) ck.fail(what + ": the embeddings used differ from the manifest's");
    }

    ModelOptions mo;
    mo.model = model_file(c.at("model"));
    mo.vocab = vocab_file();
    mo.threads = 1;
    mo.dtype = bf16 ? "bf16" : "f32";
    mo.embeddings_dir = embeddings_dir();
    Engine engine(mo);
    GenerateResult res = engine.generate(r);
    if (res.images.size() != 1) {
        ck.fail(what + ": expected 1 image");
        return;
    }
    Tensor latent = Tensor::from_vector(res.latents.data, Shape(res.latents.shape.begin(), res.latents.shape.end()));
    ck.tensor(latent, ref.get("final_latent"), bf16 ? 3e-2 : 1e-4, what + " final latent");
    if (!bf16) {
        Tensor u8 = ref.get("image_uint8_hwc");
        const Image& img = res.images[0].image;
        int worst = 0;
        if (int64_t(img.pixels.size()) != u8.numel()) ck.fail(what + ": image size differs");
        else
            for (size_t k = 0; k < img.pixels.size(); ++k)
                worst = std::max(worst, std::abs(int(img.pixels[k]) - int(u8.data<uint8_t>()[k])));
        if (worst > 2) ck.fail(what + ": image max pixel diff " + std::to_string(worst));
    }
    // Infotext: the TI hashes as A1111 writes them, and read back.
    const InfoText info = parse_infotext(res.images[0].parameters);
    for (const auto& [key, value] : c.at("derived").at("infotext").items()) {
        const std::string* got = info.get(key);
        if (!got || *got != value.get<std::string>())
            ck.fail(what + ": infotext '" + key + "' is '" + (got ? *got : "(missing)") + "', expected '" +
                    value.get<std::string>() + "'");
    }
    if (request_from_parameters(res.images[0].parameters).ti_hashes != res.request.ti_hashes)
        ck.fail(what + ": TI hashes do not read back");
}

void run_all(bool bf16, int& passed, int& total) {
    for (const auto& [name, c] : lora_manifest().at("embeddings").items()) {
        ++total;
        Check ck;
        try {
            const std::string kind = c.at("kind");
            if (kind == "embedding_conditioning") run_conditioning(ck, c, bf16);
            else if (kind == "e2e") run_e2e(ck, name, c, bf16);
            else ck.fail("unknown case kind '" + kind + "'");
        } catch (const std::exception& e) {
            ck.fail(std::string("exception: ") + e.what());
        }
        std::printf("  %-28s %s: %s (worst rel %.2e)\n", name.c_str(), bf16 ? "bf16" : "f32 ", ck.ok ? "ok" : "FAIL",
                    ck.worst_rel);
        if (ck.ok) ++passed;
        else ADD_FAILURE() << name << (bf16 ? " (bf16)" : " (f32)") << ":\n" << ck.report;
    }
}

}  // namespace

TEST(Embeddings, EveryCaseF32AndBf16) {
    int passed = 0, total = 0;
    run_all(false, passed, total);
    run_all(true, passed, total);
    print_parity_summary("embeddings", passed, total);
    EXPECT_GT(total, 0) << "lora/manifest.json has no embeddings cases";
}

// The embedding files of the manifest load in their documented format with the documented shapes.
TEST(Embeddings, FilesLoadAsDocumented) {
    for (const auto& [name, f] : lora_manifest().at("embedding_files").items()) {
        EmbeddingData d = read_embedding_file(lora_path(f.at("file")));
        EXPECT_EQ(d.n_vectors, f.at("vectors").get<int64_t>()) << name;
        const std::string fmt = f.at("format");
        if (fmt == "sdxl_safetensors") {
            EXPECT_EQ(d.format, "sdxl") << name;
            EXPECT_EQ(d.clip_l.shape(), Shape(f.at("shapes").at("clip_l").get<std::vector<int64_t>>())) << name;
            EXPECT_EQ(d.clip_g.shape(), Shape(f.at("shapes").at("clip_g").get<std::vector<int64_t>>())) << name;
        } else {
            EXPECT_EQ(d.format, fmt == "a1111_pt" ? "a1111_pt" : "single_tensor") << name;
            EXPECT_EQ(d.vectors.shape(), Shape(f.at("shapes").get<std::vector<int64_t>>())) << name;
        }
        text::ClipTokenizer tok = text::ClipTokenizer::from_path(vocab_file());
        EXPECT_EQ(tok.encode(name), f.at("name_token_ids").get<std::vector<int32_t>>()) << name;
        text::EmbeddingLibrary lib(embeddings_dir());
        lib.scan(tok);
        bool found = false;
        for (size_t i = 0; i < lib.entries().size(); ++i)
            if (lib.entries()[i].name == name) {
                found = true;
                EXPECT_EQ(lib.load(i).shorthash, f.at("a1111_shorthash").get<std::string>()) << name;
            }
        EXPECT_TRUE(found) << name;
    }
}
