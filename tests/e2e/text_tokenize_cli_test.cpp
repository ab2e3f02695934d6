// `sdpp tokenize`: ids as a JSON array (a 300-word prompt comes out whole), --weights chunks, and
// a one-line error with exit code 2 when no vocabulary can be found.
#include "common/cli_run.h"
#include "common/parity_support.h"
#include "text/bpe.h"
#include "text/prompt_parser.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <sys/wait.h>

using namespace sdpp;
using namespace sdpp::text;
using sdpp::testing::shell_quote;

namespace {

struct Result {
    int code = -1;
    std::string out;  // stdout + stderr
};

Result run(const std::string& args, const std::string& env = "") {
    std::string cmd = env + " " + shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " tokenize " + args + " 2>&1";
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    int st = pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string long_prompt(int words) {
    static const char* w[] = {"masterpiece", "meadow", "bokeh", "intricate", "distant", "texture", "greg",
                              "dramatic", "calm", "ducks", "detailed", "cinematic"};
    std::string s;
    for (int i = 0; i < words; ++i) s += std::string(i ? " " : "") + w[i % 12];
    return s;
}

}  // namespace

TEST(TextTokenizeCli, PrintsAllIdsOfA300WordPrompt) {
    const std::string vocab = sdpp::testing::fixture_path("clip/bpe_simple_vocab_16e6.txt.gz");
    ClipTokenizer tok = ClipTokenizer::from_path(vocab);
    std::string prompt = long_prompt(300);
    Result r = run("--vocab " + shell_quote(vocab) + " " + shell_quote(prompt));
    ASSERT_EQ(r.code, 0) << r.out;
    auto ids = nlohmann::json::parse(r.out).get<std::vector<int32_t>>();
    EXPECT_EQ(ids, tok.encode(prompt));
    EXPECT_GT(ids.size(), 225u);  // well past 3 chunks: nothing was cut at 77

    Result w = run("--weights --vocab " + shell_quote(vocab) + " " + shell_quote("(" + prompt + ":1.2) BREAK [cat]"));
    ASSERT_EQ(w.code, 0) << w.out;
    auto j = nlohmann::json::parse(w.out);
    PromptChunks pc = tokenize_prompt(tok, "(" + prompt + ":1.2) BREAK [cat]", tok.eot_id());
    ASSERT_EQ(j["chunks"].size(), pc.chunks.size());
    EXPECT_EQ(j["chunks"].back()["ids"].get<std::vector<int32_t>>(), pc.chunks.back().ids);
    EXPECT_EQ(j["fragments"][0][1].get<double>(), 1.2);
    EXPECT_EQ(j["chunks"][0]["weights"][1].get<double>(), 1.2);
    EXPECT_EQ(j["token_count"].get<int>(), pc.token_count);
}

TEST(TextTokenizeCli, MissingVocabularyIsAOneLineError) {
    Result r = run("--vocab /nonexistent/vocab.gz hello");
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.out, "error: --vocab /nonexistent/vocab.gz: no such file or folder\n");
    Result none = run("hello", "HOME=/nonexistent XDG_CACHE_HOME=");
    EXPECT_EQ(none.code, 2);
    EXPECT_EQ(std::count(none.out.begin(), none.out.end(), '\n'), 1) << none.out;
    EXPECT_NE(none.out.find("--vocab PATH"), std::string::npos) << none.out;
}
