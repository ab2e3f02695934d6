// `sdpp generate` with the issue-17 flags of this file's part, end to end on the tiny SD1 fixture
// model and the tiny TAESD of $SDPP_FIXTURES/a1111/taesd: --vae-decoder taesd PATH decodes through
// TAESD (a different picture from the full VAE's, same size), --preview FILE --preview-every N
// writes a preview PNG (TAESD-sized with --taesd, latent-sized with the cheap projection),
// --inpaint-fill writes A1111's "Masked content" and reads back with --from-png; every bad value
// (a missing or non-TAESD file, an unknown fill mode or decoder, a bad --preview-every) exits 2
// with a one-line "error: ..." and writes nothing.
#include "common/cli_run.h"
#include "common/parity_support.h"
#include "io/image.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

class CliTAESD : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("sdpp_cli_taesd_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        // A 64x64 init image and a mask (white square = repaint) for the inpainting runs.
        Image init = Image::blank(64, 64, 3);
        for (int y = 0; y < 64; ++y)
            for (int x = 0; x < 64; ++x)
                for (int c = 0; c < 3; ++c) init.at(x, y, c) = uint8_t((x * 4 + y * 2 + c * 60) % 256);
        Image mask = Image::blank(64, 64, 1);
        for (int y = 16; y < 48; ++y)
            for (int x = 8; x < 40; ++x) mask.at(x, y) = 255;
        write_png((dir_ / "init.png").string(), init);
        write_png((dir_ / "mask.png").string(), mask);
    }
    static void TearDownTestSuite() { fs::remove_all(dir_); }

    static std::string taesd() { return fixture_path("a1111/taesd/taesd-tiny/taesd_decoder.safetensors"); }
    static std::string file(const std::string& n) { return (dir_ / n).string(); }

    static CliRun gen(const std::string& args) {
        std::string cmd = shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate -m " +
                          shell_quote(fixture_path("models/sd1-tiny/sd1-tiny.safetensors")) + " --vocab " +
                          shell_quote(fixture_path("clip/vocab.json")) + " -W 64 -H 64 --steps 2 --threads 1 --seed 7 -q " +
                          "-p 'a cat' ";
        return run_shell(cmd + args, dir_.string());
    }
    static fs::path dir_;
};
fs::path CliTAESD::dir_;

void expect_usage_error(const CliRun& r, const std::string& needle, const std::string& what) {
    EXPECT_EQ(r.code, 2) << what << "\nstderr: " << r.err;
    ASSERT_FALSE(r.err.empty()) << what;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << what << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << ": more than one line:\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << what << ": '" << needle << "' not in: " << r.err;
}

}  // namespace

TEST_F(CliTAESD, VaeDecoderTaesdDecodesThroughTaesd) {
    CliRun full = gen("-o " + shell_quote(file("full.png")));
    ASSERT_EQ(full.code, 0) << full.err;
    CliRun tiny = gen("--vae-decoder taesd " + shell_quote(taesd()) + " -o " + shell_quote(file("taesd.png")));
    ASSERT_EQ(tiny.code, 0) << tiny.err;
    Image a = read_image(file("full.png")), b = read_image(file("taesd.png"));
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.height, b.height);
    EXPECT_NE(a.pixels, b.pixels);  // a different decoder, the same latent
    // The diffusers folder gives the same picture.
    CliRun folder = gen("--vae-decoder taesd " + shell_quote(fixture_path("a1111/taesd/taesd-tiny/diffusers")) + " -o " +
                        shell_quote(file("taesd_folder.png")));
    ASSERT_EQ(folder.code, 0) << folder.err;
    EXPECT_EQ(read_image(file("taesd_folder.png")).pixels, b.pixels);
    // --vae-decoder full is the default decode.
    CliRun again = gen("--vae-decoder full -o " + shell_quote(file("full2.png")));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(read_image(file("full2.png")).pixels, a.pixels);
}

TEST_F(CliTAESD, PreviewFilesAreWritten) {
    CliRun cheap = gen("--preview " + shell_quote(file("cheap_preview.png")) + " -o " + shell_quote(file("p1.png")));
    ASSERT_EQ(cheap.code, 0) << cheap.err;
    Image pc = read_image(file("cheap_preview.png"));
    EXPECT_EQ(pc.width, 8);  // latent-sized
    CliRun tiny = gen("--taesd " + shell_quote(taesd()) + " --preview " + shell_quote(file("taesd_preview.png")) +
                      " --preview-every 1 -o " + shell_quote(file("p2.png")));
    ASSERT_EQ(tiny.code, 0) << tiny.err;
    Image pt = read_image(file("taesd_preview.png"));
    EXPECT_EQ(pt.width, 64);
    EXPECT_EQ(pt.height, 64);
    // The final picture is the full VAE's either way.
    EXPECT_EQ(read_image(file("p1.png")).pixels, read_image(file("p2.png")).pixels);
}

TEST_F(CliTAESD, InpaintFillModesRunAndReadBack) {
    for (const char* mode : {"fill", "latent-noise", "latent-nothing", "original"}) {
        const std::string out = file(std::string("fill_") + mode + ".png");
        CliRun r = gen("--init-image " + shell_quote(file("init.png")) + " --mask " + shell_quote(file("mask.png")) +
                       " --mask-blur 0 --inpaint-fill " + mode + " -o " + shell_quote(out));
        ASSERT_EQ(r.code, 0) << mode << ": " << r.err;
        std::string params;
        ImageFile f = read_image_file(out);
        params = f.text["parameters"];
        if (std::string(mode) == "original") EXPECT_EQ(params.find("Masked content"), std::string::npos) << params;
        else EXPECT_NE(params.find("Masked content: "), std::string::npos) << params;
    }
    // --from-png keeps the masked content.
    CliRun again = gen("--from-png " + shell_quote(file("fill_latent-noise.png")) + " --init-image " + shell_quote(file("init.png")) +
                       " --mask " + shell_quote(file("mask.png")) + " -o " + shell_quote(file("again.png")));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(read_image(file("again.png")).pixels, read_image(file("fill_latent-noise.png")).pixels);
}

TEST_F(CliTAESD, BadValuesExitTwoWithOneLine) {
    const std::string inp = " --init-image " + shell_quote(file("init.png")) + " --mask " + shell_quote(file("mask.png"));
    expect_usage_error(gen("--vae-decoder taesd " + shell_quote(file("missing.safetensors")) + " -o " + shell_quote(file("x1.png"))),
                       "no such file", "missing TAESD file");
    expect_usage_error(gen("--vae-decoder taesd " + shell_quote(fixture_path("models/sd1-tiny/sd1-tiny.safetensors")) +
                           " -o " + shell_quote(file("x2.png"))),
                       "not a TAESD", "a checkpoint as TAESD");
    expect_usage_error(gen("--vae-decoder taesd -o " + shell_quote(file("x3.png"))), "needs the TAESD weights",
                       "taesd without a path");
    expect_usage_error(gen("--vae-decoder tiny x -o " + shell_quote(file("x4.png"))), "unknown VAE decoder", "unknown decoder");
    expect_usage_error(gen("--taesd " + shell_quote(file("nope")) + " -o " + shell_quote(file("x5.png"))), "no such file",
                       "missing --taesd");
    expect_usage_error(gen(inp + " --inpaint-fill blur -o " + shell_quote(file("x6.png"))), "unknown masked content",
                       "unknown fill mode");
    expect_usage_error(gen("--inpaint-fill fill -o " + shell_quote(file("x7.png"))), "needs --mask", "fill without a mask");
    expect_usage_error(gen("--preview " + shell_quote(file("pv.png")) + " --preview-every 0 -o " + shell_quote(file("x8.png"))),
                       "--preview-every 0", "preview-every 0");
    expect_usage_error(gen("--preview " + shell_quote(file("pv.png")) + " --preview-every -3 -o " + shell_quote(file("x9.png"))),
                       "--preview-every", "negative preview-every");
    expect_usage_error(gen("--preview-every 2 -o " + shell_quote(file("x10.png"))), "needs --preview", "every without file");
    expect_usage_error(gen("--preview " + shell_quote(file("pv.jpg")) + " -o " + shell_quote(file("x11.png"))), "only .png",
                       "preview not png");
    expect_usage_error(gen("--preview " + shell_quote(file("pv.png")) + " --preview-method taesd -o " + shell_quote(file("x12.png"))),
                       "needs --taesd", "taesd previews without TAESD");
    for (int i = 1; i <= 12; ++i) EXPECT_FALSE(fs::exists(file("x" + std::to_string(i) + ".png"))) << i;
    EXPECT_FALSE(fs::exists(file("pv.png")));
}
