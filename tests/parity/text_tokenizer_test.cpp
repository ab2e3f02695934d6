// Tokenizer parity: every case of $SDPP_FIXTURES/tokenizer_cases.json (open_clip v2.24
// SimpleTokenizer + ftfy 6.3.1) must match exactly: cleaned text, ids, ids with start/end, token
// strings and both 77-padded forms, with the vocabulary loaded from the .gz and from
// vocab.json + merges.txt.
#include "common/parity_support.h"
#include "io/safetensors.h"
#include "text/bpe.h"
#include "text/prompt_parser.h"
#include "text/text_clean.h"
#include "text/unicode.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace sdpp;
using namespace sdpp::text;

namespace {

nlohmann::json load_manifest() { return sdpp::testing::manifest(); }

const nlohmann::json& cases_file() {
    static const nlohmann::json j = [] {
        std::string path = sdpp::testing::fixture_path(load_manifest()["tokenizer"]["file"].get<std::string>());
        std::ifstream is(path);
        if (!is) throw Error("cannot open " + path);
        return nlohmann::json::parse(is);
    }();
    return j;
}

std::vector<int32_t> ints(const nlohmann::json& a) { return a.get<std::vector<int32_t>>(); }

}  // namespace

TEST(TextTokenizerParity, EveryCaseMatchesOpenClip) {
    const nlohmann::json& file = cases_file();
    const nlohmann::json& cases = file["cases"];
    ASSERT_GT(cases.size(), 0u);
    ClipTokenizer gz = ClipTokenizer::from_path(sdpp::testing::fixture_path("clip/bpe_simple_vocab_16e6.txt.gz"));
    ClipTokenizer hf = ClipTokenizer::from_path(sdpp::testing::fixture_path("clip/vocab.json"));
    ASSERT_EQ(gz.sot_id(), file["sot_id"].get<int32_t>());
    ASSERT_EQ(gz.eot_id(), file["eot_id"].get<int32_t>());
    ASSERT_EQ(hf.sot_id(), gz.sot_id());
    ASSERT_EQ(hf.eot_id(), gz.eot_id());
    ASSERT_EQ(gz.vocab().size(), 49408u);
    ASSERT_EQ(hf.vocab().size(), 49408u);

    int passed = 0, total = 0;
    for (const auto& c : cases) {
        ++total;
        std::string text = c["text"].get<std::string>();
        bool ok = true;
        auto fail = [&](const std::string& what) {
            ok = false;
            ADD_FAILURE() << "case " << total - 1 << " " << nlohmann::json(text).dump() << ": " << what;
        };
        std::string cleaned = utf8_encode(clip_clean_text(text));
        if (cleaned != c["cleaned"].get<std::string>())
            fail("cleaned " + nlohmann::json(cleaned).dump() + " != " + c["cleaned"].dump());
        std::vector<int32_t> ids = gz.encode(text);
        if (ids != ints(c["ids"])) fail("ids " + nlohmann::json(ids).dump() + " != " + c["ids"].dump());
        if (hf.encode(text) != ids) fail("vocab.json + merges.txt ids differ from the .gz ids");
        std::vector<int32_t> with_special = {gz.sot_id()};
        with_special.insert(with_special.end(), ids.begin(), ids.end());
        with_special.push_back(gz.eot_id());
        if (with_special != ints(c["ids_with_special"])) fail("ids_with_special");
        std::vector<std::string> toks;
        for (int32_t id : ids) toks.push_back(gz.token_string(id));
        if (toks != c["tokens"].get<std::vector<std::string>>()) fail("token strings");
        if (gz.encode_padded(text, 77, 0) != ints(c["padded77_pad0"])) fail("padded77_pad0");
        if (gz.encode_padded(text, 77, gz.eot_id()) != ints(c["padded77_pad49407"])) fail("padded77_pad49407");
        if (hf.encode_padded(text, 77, hf.eot_id()) != ints(c["padded77_pad49407"])) fail("hf padded77_pad49407");
        if (ok) ++passed;
    }
    sdpp::testing::print_parity_summary("tokenizer", passed, total);
    EXPECT_EQ(passed, total);
}

// The ids of every text-encoder reference (model_refs.*.text_encoder): the first A1111 chunk of
// each prompt, padded the way that encoder is, with the vocabulary found the way each layout of the
// model finds it: the model's own diffusers tokenizer folder (the manifest's diffusers_folder) and,
// for the single file, the fixtures' clip/vocab.json (as the e2e tests pass it). A model without a
// diffusers folder (a null path) skips those cases, counted and printed. (The long prompt's
// reference is truncated to 77 with the end token forced last, which is exactly the first chunk.)
TEST(TextTokenizerParity, TextEncoderReferenceIds) {
    const nlohmann::json m = load_manifest();
    int passed = 0, total = 0;
    sdpp::testing::Skipped skipped;
    for (const auto& [name, refs] : m.at("model_refs").items()) {
        const auto& spec = refs.at("text_encoder");
        const std::string kind = m.at("models").at(name).at("kind").get<std::string>();
        SafetensorsFile file = SafetensorsFile::open(sdpp::testing::fixture_path(spec.at("file").get<std::string>()));
        struct Enc { std::string prefix, tokenizer; bool pad_zero; };
        std::vector<Enc> encs = kind == "sdxl" ? std::vector<Enc>{{"te_l.", "tokenizer", false}, {"te_g.", "tokenizer_2", true}}
                                               : std::vector<Enc>{{"te.", "tokenizer", kind == "sd2"}};
        const size_t n_prompts = spec.at("prompts").size();
        for (const sdpp::testing::ModelLayout& layout : sdpp::testing::model_layouts()) {
            const bool diffusers = layout.key == "diffusers_folder";
            const std::optional<std::string> path = sdpp::testing::model_path(name, layout);
            if (!path) {
                const int n = int(encs.size() * n_prompts);
                std::printf("  skip %s %s: %s (%d cases)\n", name.c_str(), layout.label.c_str(), layout.missing.c_str(), n);
                skipped.add(layout.missing, n);
                continue;
            }
            for (const Enc& e : encs) {
                const std::string vocab = diffusers ? find_clip_vocab(*path, "", e.tokenizer)
                                                    : sdpp::testing::fixture_path("clip/vocab.json");
                ClipTokenizer tok = ClipTokenizer::from_path(vocab);
                Tensor ids = file.get(e.prefix + "input_ids");
                const int32_t pad = e.pad_zero ? 0 : tok.eot_id();
                for (size_t i = 0; i < n_prompts; ++i) {
                    ++total;
                    std::string prompt = spec.at("prompts")[i].get<std::string>();
                    PromptChunks pc = tokenize_prompt(tok, prompt, pad);
                    Tensor row = ids.select(0, int64_t(i)).contiguous();
                    std::vector<int32_t> expected;
                    for (int64_t k = 0; k < row.numel(); ++k) expected.push_back(int32_t(row.data<int64_t>()[k]));
                    if (pc.chunks[0].ids == expected) ++passed;
                    else ADD_FAILURE() << name << " " << layout.label << " " << e.prefix << " prompt " << i
                                       << ": first chunk differs";
                }
            }
        }
    }
    sdpp::testing::print_parity_summary("text_encoder_ids", passed, total, skipped);
    EXPECT_GT(total, 0);
    EXPECT_EQ(passed, total);
}

TEST(TextTokenizerParity, DecodeRoundTripsCleanText) {
    ClipTokenizer tok = ClipTokenizer::from_path(sdpp::testing::fixture_path("clip/bpe_simple_vocab_16e6.txt.gz"));
    EXPECT_EQ(tok.decode(tok.encode("A photo of a CAT, sitting!")), "a photo of a cat , sitting ! ");
    EXPECT_EQ(tok.comma_id(), 267);
}
