// `sdpp generate` as a new user meets it (issue 18, item 6): every value is checked before the
// model loads (exit 2, one line, nothing written), the first line of a failing run is its error,
// seeds are taken modulo 2^64, GGUF files and unknown subcommands get their own message, -v is
// readable, diffusers folders and --vae are named and hashed in the infotext, batches are written
// as they finish, and --from-png of an img2img image needs its init image.
#include "common/cli_run.h"
#include "common/parity_support.h"
#include "io/image.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

class CliFindings : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sdpp_cli_findings_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_ / "out");
    }
    void TearDown() override { fs::remove_all(dir_); }

    static std::string sdpp() { return shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp"); }
    static std::string model() { return fixture_path("models/sd1-tiny/sd1-tiny.safetensors"); }
    static std::string vocab() { return fixture_path("clip/vocab.json"); }

    // sdpp generate on the tiny model, 64x64, 2 steps, one thread, plus `args`.
    CliRun gen(const std::string& args) const {
        return sh(sdpp() + " generate -m " + shell_quote(model()) + " --vocab " + shell_quote(vocab()) +
                  " -W 64 -H 64 --steps 2 --threads 1 " + args);
    }
    CliRun sh(const std::string& cmd) const { return run_shell(cmd, dir_.string()); }
    std::string out(const std::string& name) const { return shell_quote((dir_ / "out" / name).string()); }
    std::string params(const std::string& name) const {
        return read_image_file((dir_ / "out" / name).string()).text.at("parameters");
    }
    size_t outputs() const { return size_t(std::distance(fs::directory_iterator(dir_ / "out"), {})); }

    fs::path dir_;
};

// Exit 2, and stderr is exactly one line: the error.
void expect_one_line_error(const CliRun& r, const std::string& needle, const std::string& what) {
    EXPECT_EQ(r.code, 2) << what << "\nstderr: " << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << what << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << ": more than one line:\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << what << ": '" << needle << "' not in: " << r.err;
}

}  // namespace

TEST_F(CliFindings, ValuesAreCheckedBeforeTheModelLoads) {
    struct Case {
        std::string args, needle;
    };
    const std::vector<Case> cases = {
        {"--steps 0", "--steps 0"},
        {"-W 0", "width 0"},
        {"-H 0", "height 0"},
        {"--threads -1", "--threads -1"},
        {"--threads 100000", "--threads 100000"},
        {"--seed 12x", "seed '12x'"},
        {"--seed 18446744073709551615", "random"},  // 2^64 - 1 is -1 modulo 2^64
        {"-o /proc/sdpp-test.png", "cannot write"},
        {"--subseed-strength 1.5", "subseed strength 1.5"},
        {"--subseed 1x --subseed-strength 0.5", "seed '1x'"},
    };
    for (const Case& c : cases) {
        std::string args = "-p x " + c.args;
        if (c.args.find(" -o ") == std::string::npos && c.args.rfind("-o ", 0) != 0) args += " -o " + out("x.png");
        expect_one_line_error(gen(args), c.needle, c.args);
    }
    EXPECT_EQ(outputs(), 0u);
}

TEST_F(CliFindings, ModelFileErrorsComeFirst) {
    {
        std::ofstream(dir_ / "broken.safetensors") << "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all";
        std::ofstream(dir_ / "model.gguf", std::ios::binary) << std::string("GGUF\x03\0\0\0", 8) << "rest of a file";
    }
    CliRun broken = sh(sdpp() + " generate -m " + shell_quote((dir_ / "broken.safetensors").string()) + " --vocab " +
                       shell_quote(vocab()) + " -p x -o " + out("b.png"));
    expect_one_line_error(broken, "broken.safetensors", "broken model");
    CliRun gguf = sh(sdpp() + " generate -m " + shell_quote((dir_ / "model.gguf").string()) + " -p x -o " + out("g.png"));
    expect_one_line_error(gguf, "GGUF is not supported (yet)", "gguf model");
    CliRun gguf_vae = gen("-p x --vae " + shell_quote((dir_ / "model.gguf").string()) + " -o " + out("v.png"));
    expect_one_line_error(gguf_vae, "GGUF is not supported (yet)", "gguf vae");
    EXPECT_EQ(outputs(), 0u);
}

TEST_F(CliFindings, UnknownSubcommandIsNamed) {
    CliRun r = sh(sdpp() + " frobnicate");
    expect_one_line_error(r, "unknown subcommand 'frobnicate'", "frobnicate");
    CliRun ok = sh(sdpp() + " txt2img --help");  // aliases are still subcommands
    EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST_F(CliFindings, SeedsAreTakenModulo2To64) {
    ASSERT_EQ(gen("-p cat --seed 5 -q -o " + out("s5.png")).code, 0);
    CliRun wrapped = gen("-p cat --seed 18446744073709551621 -q -o " + out("wrapped.png"));  // 2^64 + 5
    ASSERT_EQ(wrapped.code, 0) << wrapped.err;
    EXPECT_NE(params("wrapped.png").find("Seed: 5,"), std::string::npos) << params("wrapped.png");
    CliRun big = gen("-p cat --seed 9223372036854775813 -q -o " + out("big.png"));  // 2^63 + 5: kept
    ASSERT_EQ(big.code, 0) << big.err;
    EXPECT_NE(params("big.png").find("Seed: 9223372036854775813,"), std::string::npos) << params("big.png");
    // torch seeds its mt19937 with the low 32 bits, so all three draw the same noise.
    const auto pixels = [&](const char* n) { return read_image((dir_ / "out" / n).string()).pixels; };
    EXPECT_EQ(pixels("wrapped.png"), pixels("s5.png"));
    EXPECT_EQ(pixels("big.png"), pixels("s5.png"));
    // --from-png reads the big seed back.
    CliRun again = sh(sdpp() + " generate -m " + shell_quote(model()) + " --vocab " + shell_quote(vocab()) +
                      " --threads 1 -q --from-png " + out("big.png") + " -o " + out("again.png"));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(params("again.png").find("Seed: 9223372036854775813,"), std::string::npos);
}

TEST_F(CliFindings, VerboseLeavesKernelDetailToTheMostVerbose) {
    CliRun v = gen("-p cat --seed 1 -v -o " + out("v.png"));
    ASSERT_EQ(v.code, 0) << v.err;
    EXPECT_EQ(v.err.find("oneDNN"), std::string::npos) << v.err;
    EXPECT_NE(v.err.find("timings:"), std::string::npos) << v.err;
    CliRun vv = gen("-p cat --seed 1 -vv -o " + out("vv.png"));
    ASSERT_EQ(vv.code, 0) << vv.err;
    EXPECT_EQ(vv.err.find("oneDNN"), std::string::npos) << vv.err;  // per-primitive lines are -vvv's
    EXPECT_GT(vv.err.size(), v.err.size());                           // but -vv says more than -v
    CliRun vvv = gen("-p cat --seed 1 -vvv -o " + out("vvv.png"));
    ASSERT_EQ(vvv.code, 0) << vvv.err;
    EXPECT_NE(vvv.err.find("oneDNN"), std::string::npos) << vvv.err;
}

TEST_F(CliFindings, DiffusersFolderAndVaeAreNamedAndHashed) {
    const std::string folder = fixture_path("models/sd1-tiny/diffusers");
    CliRun r = sh(sdpp() + " generate -m " + shell_quote(folder) + " -W 64 -H 64 --steps 2 --threads 1 -q -p cat -o " +
                  out("d.png"));
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string p = params("d.png");
    EXPECT_NE(p.find("Model: sd1-tiny"), std::string::npos) << p;
    EXPECT_TRUE(std::regex_search(p, std::regex("Model hash: [0-9a-f]{10},"))) << p;

    const std::string vae = folder + "/vae/diffusion_pytorch_model.safetensors";
    CliRun s = sh("sha256sum " + shell_quote(vae));
    ASSERT_EQ(s.code, 0);
    CliRun v = gen("-p cat -q --vae " + shell_quote(vae) + " -o " + out("vae.png"));
    ASSERT_EQ(v.code, 0) << v.err;
    const std::string pv = params("vae.png");
    EXPECT_NE(pv.find("VAE hash: " + s.out.substr(0, 10) + ", VAE: diffusion_pytorch_model.safetensors"),
              std::string::npos)
        << pv;
    EXPECT_EQ(params("d.png").find("VAE"), std::string::npos);  // no --vae, no VAE field
}

TEST_F(CliFindings, EachBatchIsWrittenWhenItIsDone) {
    // Interrupt a long run as soon as its first image exists: it was written before the run ended,
    // and the command reports how many of them are on disk.
    const fs::path first = dir_ / "out" / "b-0.png";
    const std::string cmd = "( " + sdpp() + " generate -m " + shell_quote(model()) + " --vocab " + shell_quote(vocab()) +
                            " -W 64 -H 64 --steps 2 --threads 1 -p cat --seed 3 --batch-count 200 -o " +
                            out("b-{index}.png") + " & pid=$!; for i in $(seq 600); do [ -s " + shell_quote(first.string()) +
                            " ] && break; sleep 0.05; done; kill -INT $pid; wait $pid )";
    CliRun r = sh(cmd);
    EXPECT_EQ(r.code, 130) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex("cancelled \\((\\d+) of 200 images written\\)"))) << r.err;
    const size_t written = std::stoul(m[1]);
    EXPECT_GE(written, 1u);
    EXPECT_LT(written, 200u);
    EXPECT_EQ(outputs(), written);
    EXPECT_NE(params("b-0.png").find("Seed: 3,"), std::string::npos);
}

TEST_F(CliFindings, FromPngOfAnImg2ImgImageNeedsItsInitImage) {
    Image init = Image::blank(64, 64);
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) init.at(x, y, 0) = uint8_t(x * 4);
    write_png((dir_ / "init.png").string(), init);
    ASSERT_EQ(gen("-p cat -q --init-image " + shell_quote((dir_ / "init.png").string()) + " --strength 0.5 -o " + out("i2i.png"))
                  .code,
              0);
    const std::string rerun = sdpp() + " generate -m " + shell_quote(model()) + " --vocab " + shell_quote(vocab()) +
                              " --threads 1 -q --from-png " + out("i2i.png");
    expect_one_line_error(sh(rerun + " -o " + out("again.png")), "--init-image", "img2img png without init image");
    EXPECT_FALSE(fs::exists(dir_ / "out" / "again.png"));
    CliRun ok = sh(rerun + " --init-image " + shell_quote((dir_ / "init.png").string()) + " -o " + out("again.png"));
    ASSERT_EQ(ok.code, 0) << ok.err;
    EXPECT_NE(params("again.png").find("Denoising strength: 0.5"), std::string::npos);
}

// A1111's variation seeds: --subseed/--subseed-strength, written to and read back from the PNG;
// with a strength every image keeps the main seed and the subseeds count up.
TEST_F(CliFindings, VariationSeedsAsA1111) {
    ASSERT_EQ(gen("-p cat -q --seed 3 --subseed 40 --subseed-strength 0.5 --batch-size 2 -o " + out("v-{index}.png")).code, 0);
    const std::string p0 = params("v-0.png"), p1 = params("v-1.png");
    EXPECT_NE(p0.find("Seed: 3, "), std::string::npos) << p0;
    EXPECT_NE(p1.find("Seed: 3, "), std::string::npos) << p1;
    EXPECT_NE(p0.find("Variation seed: 40, Variation seed strength: 0.5"), std::string::npos) << p0;
    EXPECT_NE(p1.find("Variation seed: 41, Variation seed strength: 0.5"), std::string::npos) << p1;
    // The second image alone, from its own parameters, is the same picture (to rounding: oneDNN may
    // sum in another order for another batch size).
    ASSERT_EQ(sh(sdpp() + " generate --from-png " + out("v-1.png") + " -m " + shell_quote(model()) + " --vocab " + shell_quote(vocab()) +
                 " --threads 1 -q -o " + out("again.png")).code, 0);
    const auto again = read_image_file((dir_ / "out" / "again.png").string()).image.pixels;
    const auto v1 = read_image_file((dir_ / "out" / "v-1.png").string()).image.pixels;
    ASSERT_EQ(again.size(), v1.size());
    int worst = 0;
    for (size_t i = 0; i < v1.size(); ++i) worst = std::max(worst, std::abs(int(again[i]) - int(v1[i])));
    EXPECT_LE(worst, 2);
    // Without a strength nothing changes and nothing is written.
    ASSERT_EQ(gen("-p cat -q --seed 3 -o " + out("plain.png")).code, 0);
    ASSERT_EQ(gen("-p cat -q --seed 3 --subseed 40 -o " + out("zero.png")).code, 0);
    EXPECT_EQ(params("zero.png").find("Variation"), std::string::npos);
    EXPECT_EQ(read_image_file((dir_ / "out" / "zero.png").string()).image.pixels,
              read_image_file((dir_ / "out" / "plain.png").string()).image.pixels);
    EXPECT_NE(read_image_file((dir_ / "out" / "v-0.png").string()).image.pixels,
              read_image_file((dir_ / "out" / "plain.png").string()).image.pixels);
}
