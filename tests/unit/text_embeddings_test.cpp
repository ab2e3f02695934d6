// Textual-inversion embeddings: the file reader (io/embedding_file.h) on every accepted form and on
// bad, truncated and hostile files; the folder library and the matching in tokenize_prompt
// (text/embeddings.h, A1111 tokenize_line): slots, weights, longest name first, chunk overflow,
// the fit rule; and the "TI hashes" text.
#include "common/ckpt_writer.h"
#include "common/parity_support.h"
#include "common/temp_dir.h"
#include "io/embedding_file.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "text/embeddings.h"
#include "text/prompt_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

Tensor ramp(int64_t n, int64_t w, float base = 0.0f) {
    std::vector<float> v(size_t(n * w));
    for (size_t i = 0; i < v.size(); ++i) v[i] = base + 0.01f * float(i);
    return Tensor::from_vector(v, {n, w});
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// An A1111-style .pt: {'string_to_param': {'*': [n, w]}} in torch.save's zip format.
void write_pt(const std::string& path, int64_t n, int64_t w, const std::string& nesting = "string_to_param",
              int terms = 1) {
    CkptSpec s;
    s.nesting = nesting;
    for (int t = 0; t < terms; ++t) {
        CkptTensor ct;
        ct.name = t == 0 ? "*" : "*" + std::to_string(t);
        ct.storage_key = std::to_string(t);
        ct.storage_numel = n * w;
        ct.size = {n, w};
        ct.parameter = true;
        s.tensors.push_back(ct);
        s.storages[ct.storage_key] = storage_bytes(ramp(n, w).to_vector(), DType::F32);
    }
    write_ckpt(path, s);
}

std::string expect_error(const std::string& path) {
    try {
        read_embedding_file(path);
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        EXPECT_NE(m.find(path), std::string::npos) << m;
        return m;
    }
    ADD_FAILURE() << path << " was accepted";
    return "";
}

const text::ClipTokenizer& tokenizer() {
    static const text::ClipTokenizer tok = text::ClipTokenizer::from_path(fixture_path("clip/vocab.json"));
    return tok;
}

}  // namespace

TEST(EmbeddingFile, ReadsEveryForm) {
    TempDir d;
    write_pt(d.file("a.pt"), 2, 8);
    EmbeddingData a = read_embedding_file(d.file("a.pt"));
    EXPECT_EQ(a.format, "a1111_pt");
    EXPECT_EQ(a.vectors.shape(), (Shape{2, 8}));
    EXPECT_FLOAT_EQ(a.vectors.at({1, 3}), 0.01f * 11);

    save_safetensors(d.file("b.safetensors"), {{"emb_params", ramp(3, 8).to(DType::F16)}});
    EmbeddingData b = read_embedding_file(d.file("b.safetensors"));
    EXPECT_EQ(b.format, "single_tensor");
    EXPECT_EQ(b.vectors.dtype(), DType::F32);
    EXPECT_EQ(b.n_vectors, 3);

    // diffusers learned_embeds: one 1-D tensor under the token name = one vector
    save_safetensors(d.file("c.safetensors"), {{"<cat-toy>", Tensor::from_vector(std::vector<float>(8, 0.5f), {8})}});
    EXPECT_EQ(read_embedding_file(d.file("c.safetensors")).vectors.shape(), (Shape{1, 8}));
    write_pt(d.file("c.bin"), 1, 8, "");  // {'*': tensor} at the top level
    EXPECT_EQ(read_embedding_file(d.file("c.bin")).format, "single_tensor");

    save_safetensors(d.file("x.safetensors"), {{"clip_g", ramp(2, 12)}, {"clip_l", ramp(2, 8)}});
    EmbeddingData x = read_embedding_file(d.file("x.safetensors"));
    EXPECT_EQ(x.format, "sdxl");
    EXPECT_EQ(x.clip_l.shape(), (Shape{2, 8}));
    EXPECT_EQ(x.clip_g.shape(), (Shape{2, 12}));
}

TEST(EmbeddingFile, RefusesBadFilesInOneLine) {
    TempDir d;
    write_bytes(d.file("empty.pt"), "");
    expect_error(d.file("empty.pt"));
    write_bytes(d.file("text.pt"), "hello, not an embedding");
    EXPECT_NE(expect_error(d.file("text.pt")).find("not an embedding file"), std::string::npos);

    // truncated safetensors and truncated zip
    save_safetensors(d.file("ok.safetensors"), {{"emb_params", ramp(2, 8)}});
    std::string st = read_bytes(d.file("ok.safetensors"));
    write_bytes(d.file("cut.safetensors"), st.substr(0, st.size() - 9));
    expect_error(d.file("cut.safetensors"));
    write_pt(d.file("ok.pt"), 2, 8);
    std::string pt = read_bytes(d.file("ok.pt"));
    write_bytes(d.file("cut.pt"), pt.substr(0, pt.size() / 2));
    expect_error(d.file("cut.pt"));

    // several terms, several unrelated tensors, a wrong rank, too many vectors, ints, NaN
    write_pt(d.file("two.pt"), 2, 8, "string_to_param", 2);
    EXPECT_NE(expect_error(d.file("two.pt")).find("2 tensors"), std::string::npos);
    save_safetensors(d.file("many.safetensors"), {{"a", ramp(1, 8)}, {"b", ramp(1, 8)}});
    expect_error(d.file("many.safetensors"));
    save_safetensors(d.file("rank3.safetensors"), {{"emb_params", ramp(4, 8).reshape({2, 2, 8})}});
    EXPECT_NE(expect_error(d.file("rank3.safetensors")).find("[vectors, width]"), std::string::npos);
    save_safetensors(d.file("long.safetensors"), {{"emb_params", ramp(76, 4)}});
    EXPECT_NE(expect_error(d.file("long.safetensors")).find("76 vectors"), std::string::npos);
    save_safetensors(d.file("int.safetensors"), {{"emb_params", ramp(2, 4).to(DType::I32)}});
    expect_error(d.file("int.safetensors"));
    Tensor nan = ramp(2, 4);
    nan.data<float>()[3] = NAN;
    save_safetensors(d.file("nan.safetensors"), {{"emb_params", nan}});
    EXPECT_NE(expect_error(d.file("nan.safetensors")).find("non-finite"), std::string::npos);
    save_safetensors(d.file("xl.safetensors"), {{"clip_g", ramp(3, 12)}, {"clip_l", ramp(2, 8)}});
    expect_error(d.file("xl.safetensors"));
}

TEST(EmbeddingFile, RefusesPickledCode) {
    TempDir d;
    // {'string_to_param': os.system('echo pwned')}: a global the unpickler does not allow.
    PickleWriter w;
    w.proto().op('}').str("string_to_param").global("os", "system").str("echo pwned").tuple(1).op('R').op('s').stop();
    write_zip(d.file("evil.pt"), {{"archive/data.pkl", w.bytes()}, {"archive/version", "3\n"}});
    EXPECT_NE(expect_error(d.file("evil.pt")).find("tries to run code"), std::string::npos);
}

TEST(Embeddings, TiHashesText) {
    std::vector<text::UsedEmbedding> used = {{"easy:neg,x", "p", "0123456789ab", 2}, {"b", "q", "ba9876543210", 1}};
    EXPECT_EQ(text::ti_hashes_text(used), "easynegx: 0123456789ab, b: ba9876543210");  // A1111 drops : and ,
    auto back = text::parse_ti_hashes("easyneg x: 0123456789ab, b: ba9876543210");
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0], (std::pair<std::string, std::string>{"easyneg x", "0123456789ab"}));
    EXPECT_EQ(back[1].first, "b");
    EXPECT_TRUE(text::parse_ti_hashes("").empty());
}

// Matching on token ids with a real vocabulary: names become N slots (id 0) with the fragment's
// weight, longest name first, a name glued to other letters only where BPE keeps its ids.
TEST(Embeddings, TokenizeExpandsNamesIntoSlots) {
    TempDir d;
    const text::ClipTokenizer& tok = tokenizer();
    save_safetensors(d.file("sdppstyle.safetensors"), {{"emb_params", ramp(3, 8)}});
    save_safetensors(d.file("sdpp.safetensors"), {{"emb_params", ramp(1, 8, 5.0f)}});
    save_safetensors(d.file("sdpp cat.safetensors"), {{"emb_params", ramp(2, 8, 7.0f)}});  // ids start as sdpp's
    std::filesystem::create_directories(d.dir / "sub");
    write_pt(d.file("sub/sdpptok.pt"), 2, 8);
    write_bytes(d.file(".hidden.pt"), "junk");
    write_bytes(d.file("broken.safetensors"), "junk that is never read");
    text::EmbeddingLibrary lib(d.dir.string());
    lib.scan(tok);
    EXPECT_EQ(lib.names(), (std::vector<std::string>{"broken", "sdpp", "sdpp cat", "sdppstyle", "sdpptok"}));

    text::EmbeddingMatcher m(lib, {8, 0}, 1);
    text::ChunkOptions o;
    o.embeddings = &m;
    const int32_t eot = tok.eot_id();
    text::PromptChunks p = text::tokenize_prompt(tok, "a (sdppstyle:1.5) and sdpptok, sdpp", eot, o);
    ASSERT_EQ(p.chunks.size(), 1u);
    const TokenChunk& c = p.chunks[0];
    std::vector<int32_t> a = tok.encode("a"), andw = tok.encode("and"), comma = tok.encode(",");
    // [sot] a [0 0 0] and [0 0] , [0] [eot]
    std::vector<int32_t> want = {tok.sot_id(), a[0], 0, 0, 0, andw[0], 0, 0, comma[0], 0, eot};
    EXPECT_EQ(std::vector<int32_t>(c.ids.begin(), c.ids.begin() + 11), want);
    EXPECT_FLOAT_EQ(c.weights[2], 1.5f);
    EXPECT_FLOAT_EQ(c.weights[4], 1.5f);
    EXPECT_FLOAT_EQ(c.weights[5], 1.0f);
    ASSERT_EQ(c.fixes.size(), 3u);
    EXPECT_EQ(c.fixes[0].name, "sdppstyle");
    EXPECT_EQ(c.fixes[0].offset, 1);
    EXPECT_EQ(c.fixes[1].name, "sdpptok");
    EXPECT_EQ(c.fixes[1].offset, 5);
    EXPECT_EQ(c.fixes[2].name, "sdpp");
    EXPECT_EQ(c.fixes[2].offset, 8);
    EXPECT_EQ(p.token_count, 9);  // slots count toward the chunk
    ASSERT_EQ(m.used().size(), 3u);
    EXPECT_EQ(m.used()[0].shorthash, sha256_file(d.file("sdppstyle.safetensors")).substr(0, 12));

    // Longest name first: "sdpp cat" wins over "sdpp" where both match.
    text::EmbeddingMatcher ml(lib, {8, 0}, 1);
    o.embeddings = &ml;
    text::PromptChunks l = text::tokenize_prompt(tok, "sdpp cat, sdpp dog", eot, o);
    ASSERT_EQ(l.chunks[0].fixes.size(), 2u);
    EXPECT_EQ(l.chunks[0].fixes[0].name, "sdpp cat");
    EXPECT_EQ(l.chunks[0].fixes[1].name, "sdpp");
    EXPECT_EQ(l.chunks[0].fixes[1].offset, 3);  // 2 slots + ","

    // A name glued to other letters is text unless BPE gives its own ids.
    text::EmbeddingMatcher m2(lib, {8, 0}, 1);
    o.embeddings = &m2;
    text::PromptChunks q = text::tokenize_prompt(tok, "xsdppstylex", eot, o);
    EXPECT_TRUE(q.chunks[0].fixes.empty());
    EXPECT_TRUE(m2.used().empty());
}

TEST(Embeddings, SlotsThatDoNotFitStartTheNextChunk) {
    TempDir d;
    const text::ClipTokenizer& tok = tokenizer();
    save_safetensors(d.file("sdppstyle.safetensors"), {{"emb_params", ramp(3, 8)}});
    text::EmbeddingLibrary lib(d.dir.string());
    lib.scan(tok);
    text::EmbeddingMatcher m(lib, {8, 0}, 1);
    text::ChunkOptions o;
    o.embeddings = &m;
    o.comma_backtrack = 0;
    std::string prompt;
    for (int i = 0; i < 73; ++i) prompt += "cat ";
    prompt += "sdppstyle";
    text::PromptChunks p = text::tokenize_prompt(tok, prompt, tok.eot_id(), o);
    ASSERT_EQ(p.chunks.size(), 2u);  // 73 + 3 > 75: the 3 slots open chunk 2
    EXPECT_TRUE(p.chunks[0].fixes.empty());
    ASSERT_EQ(p.chunks[1].fixes.size(), 1u);
    EXPECT_EQ(p.chunks[1].fixes[0].offset, 0);
    EXPECT_EQ(p.chunks[1].ids[1], 0);
}

TEST(Embeddings, WrongWidthStaysTextAndBadUsedFileIsAnError) {
    TempDir d;
    const text::ClipTokenizer& tok = tokenizer();
    save_safetensors(d.file("sdppstyle.safetensors"), {{"emb_params", ramp(3, 8)}});
    write_bytes(d.file("sdppbad.pt"), "PK\x03\x04 truncated");
    text::EmbeddingLibrary lib(d.dir.string());
    lib.scan(tok);
    text::ChunkOptions o;
    text::EmbeddingMatcher wide(lib, {16, 0}, 1);  // a model of width 16: width 8 does not fit
    o.embeddings = &wide;
    text::PromptChunks p = text::tokenize_prompt(tok, "sdppstyle", tok.eot_id(), o);
    EXPECT_TRUE(p.chunks[0].fixes.empty());
    EXPECT_EQ(std::vector<int32_t>(p.chunks[0].ids.begin() + 1, p.chunks[0].ids.begin() + 4),
              tok.encode("sdppstyle"));
    text::EmbeddingMatcher xl(lib, {8, 12}, 1);  // SDXL: a single-tensor file does not fit
    o.embeddings = &xl;
    EXPECT_TRUE(text::tokenize_prompt(tok, "sdppstyle", tok.eot_id(), o).chunks[0].fixes.empty());

    text::EmbeddingMatcher m(lib, {8, 0}, 1);
    o.embeddings = &m;
    try {
        text::tokenize_prompt(tok, "a sdppbad cat", tok.eot_id(), o);
        ADD_FAILURE() << "a broken embedding in the prompt was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("embedding 'sdppbad'"), std::string::npos) << e.what();
    }
    // Unused, it is never read.
    EXPECT_NO_THROW(text::tokenize_prompt(tok, "a cat", tok.eot_id(), o));
}

TEST(Embeddings, SameNameTwiceIsAmbiguousWhenUsed) {
    TempDir d;
    const text::ClipTokenizer& tok = tokenizer();
    save_safetensors(d.file("sdppstyle.safetensors"), {{"emb_params", ramp(3, 8)}});
    std::filesystem::create_directories(d.dir / "old");
    save_safetensors(d.file("old/sdppstyle.safetensors"), {{"emb_params", ramp(2, 8)}});
    text::EmbeddingLibrary lib(d.dir.string());
    lib.scan(tok);
    text::EmbeddingMatcher m(lib, {8, 0}, 1);
    text::ChunkOptions o;
    o.embeddings = &m;
    EXPECT_THROW(text::tokenize_prompt(tok, "sdppstyle", tok.eot_id(), o), Error);
    EXPECT_NO_THROW(text::tokenize_prompt(tok, "a cat", tok.eot_id(), o));
}

// A1111's comma backtrack moves the slots of an embedding into the next chunk but leaves its fix
// with the chunk it was made in (tokenize_line relocates tokens and multipliers only): replicated.
TEST(Embeddings, CommaBacktrackMovesSlotsButNotTheFixAsA1111) {
    TempDir d;
    const text::ClipTokenizer& tok = tokenizer();
    save_safetensors(d.file("sdppstyle.safetensors"), {{"emb_params", ramp(3, 8)}});
    text::EmbeddingLibrary lib(d.dir.string());
    lib.scan(tok);
    text::EmbeddingMatcher m(lib, {8, 0}, 1);
    text::ChunkOptions o;
    o.embeddings = &m;
    std::string prompt;
    for (int i = 0; i < 60; ++i) prompt += "cat ";
    prompt += ", ";
    for (int i = 0; i < 11; ++i) prompt += "cat ";
    prompt += "sdppstyle dog";  // 72 tokens + 3 slots = 75; "dog" then moves everything after the comma
    text::PromptChunks p = text::tokenize_prompt(tok, prompt, tok.eot_id(), o);
    ASSERT_EQ(p.chunks.size(), 2u);
    ASSERT_EQ(p.chunks[0].fixes.size(), 1u);
    EXPECT_EQ(p.chunks[0].fixes[0].offset, 72);
    EXPECT_EQ(p.chunks[0].ids[62], tok.eot_id());  // chunk 1 ends after the comma
    EXPECT_TRUE(p.chunks[1].fixes.empty());
    EXPECT_EQ(std::vector<int32_t>(p.chunks[1].ids.begin() + 12, p.chunks[1].ids.begin() + 15),
              (std::vector<int32_t>{0, 0, 0}));
}
