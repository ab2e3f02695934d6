// A1111 prompt syntax and chunking (modules/prompt_parser.py, modules/sd_hijack_clip.py):
// parse_prompt_attention against outputs of A1111's own function (exact doubles), then chunking
// with the fixture vocabulary: BREAK, weights, comma backtracking, padding per encoder, and long
// prompts (200 and 300 words) split into 77-token chunks without losing a token.
#include "common/parity_support.h"
#include "text/prompt_parser.h"

#include <gtest/gtest.h>

using namespace sdpp;
using namespace sdpp::text;

namespace {

// [prompt, expected parse] pairs produced by running A1111's parse_prompt_attention in Python.
const char* kA1111Cases = R"json([
    ["normal text", [["normal text", 1.0]]],
    ["an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]],
    ["(unbalanced", [["unbalanced", 1.1]]],
    ["\\(literal\\]", [["(literal]", 1.0]]],
    ["(unnecessary)(parens)", [["unnecessaryparens", 1.1]]],
    ["a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55], [", sun, ", 1.1], ["sky", 1.4641000000000006], [".", 1.1]]],
    ["((word))", [["word", 1.2100000000000002]]],
    ["[word]", [["word", 0.9090909090909091]]],
    ["[[word]]", [["word", 0.8264462809917354]]],
    ["(word:1.3)", [["word", 1.3]]],
    ["(word: 1.3 )", [["word", 1.3]]],
    ["a BREAK b", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]],
    ["BREAK", [["", 1.0], ["BREAK", -1], ["", 1.0]]],
    ["aBREAK b", [["aBREAK b", 1.0]]],
    ["a BREAKfast", [["a BREAKfast", 1.0]]],
    ["a\nBREAK\n(b)", [["a", 1.0], ["BREAK", -1], ["", 1.0], ["b", 1.1]]],
    ["(a BREAK b)", [["a", 1.1], ["BREAK", -1.1], ["b", 1.1]]],
    ["x BREAK BREAK y", [["x", 1.0], ["BREAK", -1], ["", 1.0], ["BREAK", -1], ["y", 1.0]]],
    ["unbalanced) close] here", [["unbalanced) close] here", 1.0]]],
    ["open [ square", [["open ", 1.0], [" square", 0.9090909090909091]]],
    ["((a) b", [["a", 1.2100000000000002], [" b", 1.1]]],
    ["a:b", [["a:b", 1.0]]],
    ["a:1.2) b", [["a:1.2) b", 1.0]]],
    ["\\\\ back \\ slash \\x", [["\\ back  slash x", 1.0]]],
    ["(a:-0.5)", [["a", -0.5]]],
    ["(a:+.5)", [["a", 0.5]]],
    ["[a:1.5]", [["a:1.5", 0.9090909090909091]]],
    ["(a [b (c:2) d] e)", [["a ", 1.1], ["b ", 1.0], ["c", 2.0], [" d", 1.0], [" e", 1.1]]],
    ["", [["", 1.0]]],
    ["()", [["", 1.0]]],
    ["(:1.2)", [["", 1.0]]],
    ["café (naïve:1.2)", [["café ", 1.0], ["naïve", 1.2]]],
    ["emoji 🐱 ((cat))", [["emoji 🐱 ", 1.0], ["cat", 1.2100000000000002]]],
    ["(a:1e2)", [["a:1e2", 1.1]]]
])json";

const ClipTokenizer& tok() {
    static const ClipTokenizer t =
        ClipTokenizer::from_path(sdpp::testing::fixture_path("clip/bpe_simple_vocab_16e6.txt.gz"));
    return t;
}

// The prompt tokens of a chunk: between the start token and the first end token.
std::vector<int32_t> content(const TokenChunk& c) {
    std::vector<int32_t> out;
    for (size_t i = 1; i < c.ids.size() && c.ids[i] != tok().eot_id(); ++i) out.push_back(c.ids[i]);
    return out;
}

std::vector<int32_t> all_content(const PromptChunks& p) {
    std::vector<int32_t> out;
    for (const TokenChunk& c : p.chunks) {
        auto v = content(c);
        out.insert(out.end(), v.begin(), v.end());
    }
    return out;
}

void expect_well_formed(const PromptChunks& p, int32_t pad) {
    for (const TokenChunk& c : p.chunks) {
        ASSERT_EQ(c.ids.size(), 77u);
        ASSERT_EQ(c.weights.size(), 77u);
        EXPECT_EQ(c.ids[0], tok().sot_id());
        size_t n = content(c).size();
        ASSERT_LE(n, 75u);
        EXPECT_EQ(c.ids[n + 1], tok().eot_id());
        for (size_t i = n + 2; i < 77; ++i) EXPECT_EQ(c.ids[i], pad) << "position " << i;
        EXPECT_EQ(c.weights[0], 1.0f);
        for (size_t i = n + 1; i < 77; ++i) EXPECT_EQ(c.weights[i], 1.0f);
    }
}

std::string words(int n, const char* sep = " ") {
    static const char* vocab[] = {"masterpiece", "meadow", "bokeh", "intricate", "distant", "texture", "dramatic",
                                  "calm", "ducks", "soft", "cinematic", "hair", "reflections", "wildflowers",
                                  "portrait", "golden", "lens", "volumetric", "fog", "clouds"};
    std::string s;
    for (int i = 0; i < n; ++i) {
        if (i) s += sep;
        s += vocab[i % 20];
    }
    return s;
}

}  // namespace

TEST(TextPromptParser, MatchesA1111ParsePromptAttention) {
    auto cases = nlohmann::json::parse(kA1111Cases);
    for (const auto& c : cases) {
        std::string prompt = c[0].get<std::string>();
        std::vector<WeightedText> expected;
        for (const auto& f : c[1]) expected.push_back({f[0].get<std::string>(), f[1].get<double>()});
        EXPECT_EQ(parse_prompt_attention(prompt), expected) << "prompt: " << prompt;
    }
}

TEST(TextPromptParser, NestingEscapesAndUnbalancedBrackets) {
    using V = std::vector<WeightedText>;
    EXPECT_EQ(parse_prompt_attention("(((a)))"), (V{{"a", 1.1 * 1.1 * 1.1}}));
    EXPECT_EQ(parse_prompt_attention("((a:1.5))"), (V{{"a", 1.5 * 1.1}}));
    EXPECT_EQ(parse_prompt_attention("\\(not weighted\\)"), (V{{"(not weighted)", 1.0}}));
    EXPECT_EQ(parse_prompt_attention("\\[x\\] \\\\"), (V{{"[x] \\", 1.0}}));
    // Unmatched closers are text; unmatched openers apply to the rest of the prompt.
    EXPECT_EQ(parse_prompt_attention("a) b] c"), (V{{"a) b] c", 1.0}}));
    EXPECT_EQ(parse_prompt_attention("a (b [c"), (V{{"a ", 1.0}, {"b ", 1.1}, {"c", 1.1 / 1.1}}));
    // A weight Python's float() rejects crashes A1111; here the ":..)" stays text.
    EXPECT_EQ(parse_prompt_attention("(a:1.2.3) b"), (V{{"a:1.2.3) b", 1.1}}));
}

TEST(TextPromptChunks, ShortPromptMatchesTheReferencePadding) {
    // tokenizer_cases.json: "a photo of a cat" padded the SD1 way and the open_clip way.
    PromptChunks sd1 = tokenize_prompt(tok(), "a photo of a cat", tok().eot_id());
    PromptChunks sd2 = tokenize_prompt(tok(), "a photo of a cat", 0);
    ASSERT_EQ(sd1.chunks.size(), 1u);
    EXPECT_EQ(sd1.chunks[0].ids, tok().encode_padded("a photo of a cat", 77, tok().eot_id()));
    EXPECT_EQ(sd2.chunks[0].ids, tok().encode_padded("a photo of a cat", 77, 0));
    EXPECT_EQ(sd1.token_count, 5);
    for (float w : sd1.chunks[0].weights) EXPECT_EQ(w, 1.0f);
    expect_well_formed(sd2, 0);

    PromptChunks empty = tokenize_prompt(tok(), "", 0);
    ASSERT_EQ(empty.chunks.size(), 1u);
    EXPECT_EQ(empty.chunks[0].ids, empty_chunk(tok(), 0).ids);
    EXPECT_EQ(empty.token_count, 0);
}

TEST(TextPromptChunks, WeightsFollowTheirTokens) {
    PromptChunks p = tokenize_prompt(tok(), "a (red:1.5) [cat]", tok().eot_id());
    ASSERT_EQ(p.chunks.size(), 1u);
    const TokenChunk& c = p.chunks[0];
    EXPECT_EQ(content(c), tok().encode("a red cat"));
    EXPECT_EQ(c.weights[1], 1.0f);
    EXPECT_EQ(c.weights[2], 1.5f);
    EXPECT_EQ(c.weights[3], float(1 / 1.1));
    EXPECT_EQ(c.weights[4], 1.0f);  // end token

    // Emphasis off: brackets are ordinary text.
    PromptChunks raw = tokenize_prompt(tok(), "a (red:1.5)", tok().eot_id(), {.emphasis = false});
    EXPECT_EQ(content(raw.chunks[0]), tok().encode("a (red:1.5)"));
}

TEST(TextPromptChunks, BreakStartsANewChunk) {
    PromptChunks p = tokenize_prompt(tok(), "a painting of a lighthouse BREAK a cat", 0);
    ASSERT_EQ(p.chunks.size(), 2u);
    expect_well_formed(p, 0);
    EXPECT_EQ(content(p.chunks[0]), tok().encode("a painting of a lighthouse"));
    EXPECT_EQ(content(p.chunks[1]), tok().encode("a cat"));
    EXPECT_EQ(p.token_count, 75 + 2);
    // Lower-case "break" and BREAK inside a word are text.
    EXPECT_EQ(tokenize_prompt(tok(), "a break b BREAKfast", 0).chunks.size(), 1u);
    // A BREAK right at the start gives an empty first chunk, as A1111 does.
    PromptChunks lead = tokenize_prompt(tok(), "BREAK cat", 0);
    ASSERT_EQ(lead.chunks.size(), 2u);
    EXPECT_TRUE(content(lead.chunks[0]).empty());
}

TEST(TextPromptChunks, LongPromptsAreChunkedWithoutTruncation) {
    for (int n : {200, 300}) {
        std::string prompt = words(n);
        std::vector<int32_t> ids = tok().encode(prompt);
        PromptChunks p = tokenize_prompt(tok(), prompt, tok().eot_id());
        expect_well_formed(p, tok().eot_id());
        EXPECT_EQ(all_content(p), ids) << n << " words";
        EXPECT_EQ(p.chunks.size(), (ids.size() + 74) / 75) << n << " words";
        EXPECT_EQ(p.token_count, int(ids.size()));
        for (size_t i = 0; i + 1 < p.chunks.size(); ++i) EXPECT_EQ(content(p.chunks[i]).size(), 75u);
    }
    // 300 words with commas: text after a late comma moves to the next chunk, nothing is lost.
    std::string prompt = words(300, ", ");
    PromptChunks p = tokenize_prompt(tok(), prompt, 0);
    expect_well_formed(p, 0);
    EXPECT_EQ(all_content(p), tok().encode(prompt));
    // Each chunk ends at a comma: either it was moved back to one, or the comma itself overflowed
    // into the next chunk (A1111 only backtracks for a non-comma token).
    for (size_t i = 0; i + 1 < p.chunks.size(); ++i)
        EXPECT_TRUE(content(p.chunks[i]).back() == tok().comma_id() || content(p.chunks[i + 1]).front() == tok().comma_id())
            << "chunk " << i;
    EXPECT_GE(p.chunks.size(), (tok().encode(prompt).size() + 74) / 75);
}

TEST(TextPromptChunks, CommaBacktrackWithinTwentyTokens) {
    // 70 one-token words, a comma, then 10 more words: the chunk fills at 75 tokens with the comma
    // 5 tokens back, so those 4 words move into chunk 2.
    std::string prompt = words(0);
    for (int i = 0; i < 70; ++i) prompt += "cat ";
    prompt += ", ";
    for (int i = 0; i < 10; ++i) prompt += "dog ";
    ASSERT_EQ(tok().encode(prompt).size(), 81u);
    PromptChunks p = tokenize_prompt(tok(), prompt, tok().eot_id());
    ASSERT_EQ(p.chunks.size(), 2u);
    EXPECT_EQ(content(p.chunks[0]).size(), 71u);
    EXPECT_EQ(content(p.chunks[0]).back(), tok().comma_id());
    EXPECT_EQ(content(p.chunks[1]).size(), 10u);
    // With backtracking off, or the comma more than 20 tokens back, the split is at 75.
    EXPECT_EQ(content(tokenize_prompt(tok(), prompt, 0, {.comma_backtrack = 0}).chunks[0]).size(), 75u);
    std::string far;
    for (int i = 0; i < 50; ++i) far += "cat ";
    far += ", ";
    for (int i = 0; i < 40; ++i) far += "dog ";
    EXPECT_EQ(content(tokenize_prompt(tok(), far, 0).chunks[0]).size(), 75u);
}

TEST(TextPromptChunks, PositiveAndNegativeGetTheSameChunkCount) {
    PromptChunks pos = tokenize_prompt(tok(), words(200), tok().eot_id());
    PromptChunks neg = tokenize_prompt(tok(), "blurry, low quality", tok().eot_id());
    equalize_chunk_counts(pos, neg, tok(), tok().eot_id(), tok().eot_id());
    ASSERT_EQ(pos.chunks.size(), neg.chunks.size());
    EXPECT_GT(neg.chunks.size(), 1u);
    for (size_t i = 1; i < neg.chunks.size(); ++i)
        EXPECT_EQ(neg.chunks[i].ids, tokenize_prompt(tok(), "", tok().eot_id()).chunks[0].ids);
}
