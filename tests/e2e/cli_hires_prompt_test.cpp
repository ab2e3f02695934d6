// `sdpp generate` with the hires fix and A1111 prompt editing / alternation / AND, end to end on the
// tiny SD1 fixture model: every --hires* flag works (the PNG is at the hires size, its parameters
// carry the Hires fields and --from-png reproduces the pixels), prompts with edits, alternation, AND
// and weights run, and bad values exit 2 with a one-line error. Prompt text that A1111's parser
// cannot read (unbalanced brackets, a stray '|') is not an error: it is used literally, as A1111
// does; an edit outside the steps is not one either (A1111 keeps it; -v warns).
#include "common/cli_run.h"
#include "common/parity_support.h"
#include "io/image.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

class CliHiresPrompt : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("sdpp_cli_hires_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    static void TearDownTestSuite() { fs::remove_all(dir_); }

    static CliRun gen(const std::string& args) {
        std::string cmd = shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate -m " +
                          shell_quote(fixture_path("models/sd1-tiny/sd1-tiny.safetensors")) + " --vocab " +
                          shell_quote(fixture_path("clip/vocab.json")) + " -W 64 -H 64 --steps 2 --threads 1 --seed 5 ";
        return run_shell(cmd + args, dir_.string());
    }
    static std::string out(const std::string& name) { return (dir_ / name).string(); }

    static void expect_usage_error(const std::string& args, const std::string& needle) {
        const std::string png = out("bad.png");
        CliRun r = gen(args + " -o " + shell_quote(png));
        EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
        EXPECT_FALSE(fs::exists(png)) << args;
    }

    static inline fs::path dir_;
};

TEST_F(CliHiresPrompt, EveryHiresFlagRunsAndReadsBack) {
    const std::string png = out("hr.png");
    CliRun r = gen("-p 'a [cat:dog:0.5] on a sofa' -n blurry --sampler Euler --hires-scale 1.5 --hires-steps 2 "
                   "--hires-denoise 0.6 --hires-upscaler 'Latent (bicubic antialiased)' --hires-sampler euler_a "
                   "--hires-prompt 'a [cat|dog]' --hires-negative-prompt 'ugly' -o " + shell_quote(png));
    ASSERT_EQ(r.code, 0) << r.err;
    std::string params;
    Image im = load_image(png, &params);
    EXPECT_EQ(im.width, 96);
    EXPECT_EQ(im.height, 96);
    for (const char* k : {"Size: 64x64", "Denoising strength: 0.6", "Hires upscale: 1.5", "Hires steps: 2",
                          "Hires upscaler: Latent (bicubic antialiased)", "Hires sampler: Euler a", "Hires prompt: ",
                          "Hires negative prompt: ugly"})
        EXPECT_NE(params.find(k), std::string::npos) << k << " missing from " << params;
    const std::string again = out("hr2.png");
    CliRun r2 = run_shell(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate -m " +
                              shell_quote(fixture_path("models/sd1-tiny/sd1-tiny.safetensors")) + " --vocab " +
                              shell_quote(fixture_path("clip/vocab.json")) + " --threads 1 --from-png " + shell_quote(png) + " -o " +
                              shell_quote(again),
                          dir_.string());
    ASSERT_EQ(r2.code, 0) << r2.err;
    Image im2 = load_image(again);
    EXPECT_EQ(im.pixels, im2.pixels) << "--from-png did not reproduce the hires image";
}

TEST_F(CliHiresPrompt, SizeAndPixelUpscalers) {
    for (const char* up : {"Lanczos", "Nearest", "Latent (nearest)", "Latent (antialiased)", "Latent (bicubic)"}) {
        const std::string png = out("px.png");
        CliRun r = gen(std::string("-p x --hires-width 128 --hires-height 96 --hires-upscaler ") + shell_quote(up) +
                       " --overwrite -o " + shell_quote(png));
        ASSERT_EQ(r.code, 0) << up << "\n" << r.err;
        std::string params;
        Image im = load_image(png, &params);
        EXPECT_EQ(im.width, 128) << up;
        EXPECT_EQ(im.height, 96) << up;
        EXPECT_NE(params.find("Hires resize: 128x96"), std::string::npos) << params;
    }
}

TEST_F(CliHiresPrompt, PromptSyntaxRuns) {
    for (const char* p : {"[cat|dog|] AND a sofa :0.7", "a dog:0.5", "[(red:1.2):blue:1] car BREAK [snow::0.5]",
                          "a [unbalanced", "a [b|c d", "a [b:c:25] d", "\\[not:an:edit\\]"}) {
        CliRun r = gen(std::string("-p ") + shell_quote(p) + " --overwrite -o " + shell_quote(out("p.png")));
        EXPECT_EQ(r.code, 0) << p << "\n" << r.err;
    }
    CliRun w = gen("-v -p 'a [b:c:25] d' --overwrite -o " + shell_quote(out("p.png")));
    EXPECT_NE(w.err.find("never switches"), std::string::npos) << w.err;
    CliRun w2 = gen("-v -p 'a [b|c d' --overwrite -o " + shell_quote(out("p.png")));
    EXPECT_NE(w2.err.find("literally"), std::string::npos) << w2.err;
}

TEST_F(CliHiresPrompt, BadValuesExit2) {
    expect_usage_error("-p x --hires --hires-upscaler Bogus", "unknown hires upscaler 'Bogus'");
    expect_usage_error("-p x --hires-width 100", "hires width 100 is not a multiple of 8");
    expect_usage_error("-p x --hires-height 60", "hires height 60 is not a multiple of 8");
    expect_usage_error("-p x --hires-width 0", "--hires-width 0 is out of range");
    expect_usage_error("-p x --hires-scale 0.5", "hires scale 0.5 is out of range");
    expect_usage_error("-p x --hires --hires-denoise 0", "hires denoising strength 0 is out of range");
    expect_usage_error("-p x --hires --hires-denoise 1.5", "hires denoising strength 1.5 is out of range");
    expect_usage_error("-p x --hires --hires-steps -1", "hires steps -1 is out of range");
    expect_usage_error("-p x --hires --hires-sampler nope", "nope");
    expect_usage_error("-p x --hires-steps 4", "--hires-steps needs --hires");
    expect_usage_error("-p x --hires-prompt y", "--hires-prompt needs --hires");
}

}  // namespace
