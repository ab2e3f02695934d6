// Vocabulary loading and lookup: both file forms, clear one-line errors for missing or corrupt
// files, and the user lookup order (model tokenizer folder, --vocab, cache, error).
#include "common/parity_support.h"
#include "core/cache_root.h"
#include "text/bpe.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::text;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("sdpp_text_vocab_" + std::to_string(::getpid()) + "_" +
                                            std::to_string(std::rand()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
}

std::string slurp(const std::string& p) {
    std::ifstream is(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
}

// The error message of `f`, which must throw sdpp::Error with a single line naming `needle`.
template <class F>
std::string one_line_error(F&& f, const std::string& needle) {
    try {
        f();
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        EXPECT_NE(m.find(needle), std::string::npos) << m;
        return m;
    }
    ADD_FAILURE() << "no sdpp::Error thrown";
    return "";
}

const std::string kGz = "clip/bpe_simple_vocab_16e6.txt.gz";

}  // namespace

TEST(TextVocab, BothFormsGiveTheSameVocabulary) {
    auto gz = ClipVocab::load(sdpp::testing::fixture_path(kGz));
    auto js = ClipVocab::load(sdpp::testing::fixture_path("clip"));  // folder: prefers vocab.json + merges.txt
    ASSERT_EQ(gz->size(), js->size());
    for (size_t i = 0; i < gz->size(); ++i) {
        if (i == size_t(gz->sot_id) || i == size_t(gz->eot_id)) continue;  // spelled differently
        ASSERT_EQ(gz->decoder[i], js->decoder[i]) << "id " << i;
    }
    EXPECT_EQ(gz->merge_ranks, js->merge_ranks);
    EXPECT_EQ(gz->decoder[size_t(gz->sot_id)], "<start_of_text>");
    EXPECT_EQ(js->decoder[size_t(js->sot_id)], "<|startoftext|>");
}

TEST(TextVocab, MissingAndCorruptFilesGiveOneLineErrors) {
    TempDir t;
    one_line_error([&] { ClipVocab::load((t.path / "nope.txt.gz").string()); }, "no such file");
    one_line_error([&] { ClipVocab::load(t.path.string()); }, "neither vocab.json");

    // Truncated gzip stream.
    std::string gz = slurp(sdpp::testing::fixture_path(kGz));
    write(t.path / "trunc.gz", gz.substr(0, gz.size() / 2));
    one_line_error([&] { ClipVocab::load((t.path / "trunc.gz").string()); }, "gzip");

    // Flipped bytes inside the deflate stream: bad data or a CRC mismatch.
    std::string flipped = gz;
    for (size_t i = 1000; i < 1100; ++i) flipped[i] = char(flipped[i] ^ 0x5A);
    write(t.path / "flip.gz", flipped);
    one_line_error([&] { ClipVocab::load((t.path / "flip.gz").string()); }, "flip.gz");

    // Valid gzip of the wrong content.
    gzFile f = gzopen((t.path / "wrong.gz").c_str(), "wb");
    gzputs(f, "hello\nworld\n");
    gzclose(f);
    one_line_error([&] { ClipVocab::load((t.path / "wrong.gz").string()); }, "#version");

    // A merges file cut short.
    std::string merges = slurp(sdpp::testing::fixture_path("clip/merges.txt"));
    write(t.path / "short" / "merges.txt", merges.substr(0, 5000));
    write(t.path / "short" / "vocab.json", slurp(sdpp::testing::fixture_path("clip/vocab.json")));
    one_line_error([&] { ClipVocab::load((t.path / "short").string()); }, "truncated");

    // vocab.json that is not JSON / not an object.
    write(t.path / "badjson" / "merges.txt", merges);
    write(t.path / "badjson" / "vocab.json", "{\"a\": 0, ");
    one_line_error([&] { ClipVocab::load((t.path / "badjson" / "vocab.json").string()); }, "not valid JSON");
    write(t.path / "badjson" / "vocab.json", "{\"a\": 0, \"b\": 0}");
    one_line_error([&] { ClipVocab::load((t.path / "badjson" / "vocab.json").string()); }, "duplicate id");
    write(t.path / "lonely" / "vocab.json", "{}");
    one_line_error([&] { ClipVocab::load((t.path / "lonely" / "vocab.json").string()); }, "side by side");
}

TEST(TextVocab, LookupOrderModelFolderThenFlagThenCacheThenError) {
    TempDir t;
    std::string clip = sdpp::testing::fixture_path("clip");
    fs::path model = t.path / "model";
    write(model / "tokenizer" / "vocab.json", "{}");
    write(model / "tokenizer" / "merges.txt", "#version: 0.2\n");
    fs::path cache = t.path / "cache";
    ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
    EXPECT_EQ(cache_root(), (cache / "sdpp").string());

    // 1. the model's own tokenizer folder wins, even over --vocab
    EXPECT_EQ(find_clip_vocab(model.string(), clip), (model / "tokenizer").string());
    // 2. --vocab when the model has none (a single file)
    EXPECT_EQ(find_clip_vocab((t.path / "x.safetensors").string(), clip), clip);
    one_line_error([&] { find_clip_vocab("", (t.path / "missing.gz").string()); }, "--vocab");
    // 3. the cache folder
    one_line_error([&] { find_clip_vocab("", ""); }, "--vocab PATH");
    write(cache / "sdpp" / "clip" / "bpe_simple_vocab_16e6.txt.gz", "x");
    EXPECT_EQ(find_clip_vocab("", ""), (cache / "sdpp" / "clip" / "bpe_simple_vocab_16e6.txt.gz").string());
    write(cache / "sdpp" / "clip" / "vocab.json", "{}");
    write(cache / "sdpp" / "clip" / "merges.txt", "#version: 0.2\n");
    EXPECT_EQ(find_clip_vocab("", ""), (cache / "sdpp" / "clip").string());
    // The sdxl second tokenizer folder.
    EXPECT_EQ(find_clip_vocab(model.string(), "", "tokenizer_2"), (cache / "sdpp" / "clip").string());
    ::unsetenv("XDG_CACHE_HOME");
}
