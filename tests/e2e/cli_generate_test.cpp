// `sdpp generate` end to end: runs the built binary (SDPP_BINARY_DIR/sdpp) on the tiny SD1 fixture
// model. A run writes a PNG whose "parameters" chunk parses back to the request; --json, --save-latent,
// --from-png (same pixels again), batches (image i of a batch = a single run with seed + i) and the
// overwrite rules work; every bad input exits 2 with a one-line "error: ..." and writes no file.
#include "common/cli_run.h"
#include "common/parity_support.h"
#include "io/image.h"
#include "io/safetensors.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

using sdpp::testing::CliRun;
using sdpp::testing::read_file;
using sdpp::testing::run_shell;

class CliGenerate : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("sdpp_cli_generate_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    static void TearDownTestSuite() { fs::remove_all(dir_); }

    static std::string model() { return fixture_path("models/sd1-tiny/sd1-tiny.safetensors"); }
    static std::string vocab() { return fixture_path("clip/vocab.json"); }

    // sdpp generate with the tiny model, 64x64, 2 steps, plus `args`.
    static CliRun gen(const std::string& args, bool with_model = true, const std::string& env = "") {
        std::string base = env + shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate ";
        if (with_model) base += "-m " + shell_quote(model()) + " --vocab " + shell_quote(vocab()) + " ";
        base += "-W 64 -H 64 --steps 2 --threads 1 ";
        return sh(base + args);
    }

    static CliRun sh(const std::string& cmd) { return run_shell(cmd, dir_.string()); }

    static std::vector<std::string> files_in(const fs::path& d) {
        std::vector<std::string> v;
        for (auto& e : fs::directory_iterator(d)) v.push_back(e.path().filename().string());
        return v;
    }

    static fs::path dir_;
};
fs::path CliGenerate::dir_;

void expect_usage_error(const CliRun& r, const std::string& needle, const std::string& what) {
    EXPECT_EQ(r.code, 2) << what << "\nstderr: " << r.err;
    ASSERT_FALSE(r.err.empty()) << what;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << what << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << ": more than one line:\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << what << ": '" << needle << "' not in: " << r.err;
}

}  // namespace

TEST_F(CliGenerate, WritesPngWithParsableParameters) {
    fs::path out = dir_ / "cat.png";
    CliRun r = gen("-p 'a photo of a cat, on a sofa' -n 'blurry' --seed 42 --sampler 'Euler a' -o " + shell_quote(out.string()));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("seed: 42"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find(out.string()), std::string::npos);
    ImageFile f = read_image_file(out.string());
    EXPECT_EQ(f.image.width, 64);
    EXPECT_EQ(f.image.height, 64);
    ASSERT_TRUE(f.text.count("parameters"));
    const std::string& params = f.text.at("parameters");
    EXPECT_NE(params.find("Sampler: Euler a"), std::string::npos) << params;
    EXPECT_NE(params.find("Model: sd1-tiny"), std::string::npos) << params;
    EXPECT_NE(params.find("Model hash: "), std::string::npos) << params;
    GenerateRequest back = request_from_parameters(params);
    EXPECT_EQ(back.prompt, "a photo of a cat, on a sofa");
    EXPECT_EQ(back.negative_prompt, "blurry");
    EXPECT_EQ(back.seed, 42);
    EXPECT_EQ(back.steps, 2);
    EXPECT_EQ(back.sampler, "euler_a");
    EXPECT_EQ(back.width, 64);

    // --from-png reproduces the same pixels.
    fs::path again = dir_ / "again.png";
    CliRun r2 = sh(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate -m " + shell_quote(model()) + " --vocab " +
                shell_quote(vocab()) + " --threads 1 --from-png " + shell_quote(out.string()) + " -o " + shell_quote(again.string()) + " -q");
    ASSERT_EQ(r2.code, 0) << r2.err;
    EXPECT_EQ(read_image(again.string()).pixels, f.image.pixels);

    // Existing output: exit 2, file untouched; --overwrite replaces it.
    auto before = read_file(out.string());
    CliRun r3 = gen("-p x --seed 1 -o " + shell_quote(out.string()));
    expect_usage_error(r3, "exists", "existing output");
    EXPECT_EQ(read_file(out.string()), before);
    CliRun r4 = gen("-p x --seed 1 --overwrite -q -o " + shell_quote(out.string()));
    ASSERT_EQ(r4.code, 0) << r4.err;
    EXPECT_NE(read_file(out.string()), before);
    EXPECT_EQ(request_from_parameters(read_image_file(out.string()).text.at("parameters")).seed, 1);
}

TEST_F(CliGenerate, JsonBatchesAndLatents) {
    fs::path sub = dir_ / "batch";
    fs::create_directories(sub);
    CliRun r = gen("-p 'a red sofa' --seed 7 --batch-size 2 --batch-count 2 --json --save-latent " +
                shell_quote((sub / "lat.safetensors").string()) + " -o " + shell_quote((sub / "img-{seed}-{index}.png").string()));
    ASSERT_EQ(r.code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["images"].size(), 4u);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(j["images"][i]["seed"], 7 + i);
        std::string p = j["images"][i]["path"];
        EXPECT_EQ(fs::path(p).filename().string(), "img-" + std::to_string(7 + i) + "-" + std::to_string(i) + ".png");
        EXPECT_TRUE(fs::exists(p));
    }
    EXPECT_TRUE(j["timings"].contains("sample"));
    EXPECT_GT(j["max_rss_bytes"].get<double>(), 0);
    SafetensorsFile lat = SafetensorsFile::open((sub / "lat.safetensors").string());
    EXPECT_EQ(lat.get("latent").shape(), (Shape{4, 4, 8, 8}));

    // Image 1 of the first batch equals a single run with seed 8 (per-image torch generators), up to
    // the rounding a different U-Net batch size brings (GEMM blocking).
    fs::path single = dir_ / "single8.png";
    CliRun r2 = gen("-p 'a red sofa' --seed 8 -q -o " + shell_quote(single.string()));
    ASSERT_EQ(r2.code, 0) << r2.err;
    Image a = read_image(single.string()), b = read_image(j["images"][1]["path"].get<std::string>());
    Image c = read_image(j["images"][0]["path"].get<std::string>());
    ASSERT_EQ(a.pixels.size(), b.pixels.size());
    int worst = 0, differs_from_seed7 = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) {
        worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
        differs_from_seed7 += std::abs(int(a.pixels[i]) - int(c.pixels[i])) > 2;
    }
    EXPECT_LE(worst, 2);
    EXPECT_GT(differs_from_seed7, 100);  // and the seeds really differ
}

TEST_F(CliGenerate, WeightCacheModesGiveTheSameImage) {
    // Converting each weight when used (none), a cap that keeps some, and keeping all of them run
    // the same kernels on the same f32 values: identical pixels.
    std::vector<std::vector<uint8_t>> pixels;
    for (const char* mode : {"all", "none", "1", "auto"}) {
        fs::path out = dir_ / (std::string("wc-") + mode + ".png");
        CliRun r = gen(std::string("-p 'a red sofa' --seed 3 -q --weight-cache ") + mode + " -o " + shell_quote(out.string()));
        ASSERT_EQ(r.code, 0) << mode << ": " << r.err;
        pixels.push_back(read_image(out.string()).pixels);
    }
    EXPECT_EQ(pixels[1], pixels[0]);
    EXPECT_EQ(pixels[2], pixels[0]);
    EXPECT_EQ(pixels[3], pixels[0]);
}

TEST_F(CliGenerate, Img2ImgInpaintOutpaint) {
    fs::path sub = dir_ / "i2i";
    fs::create_directories(sub);
    Image init = Image::blank(64, 64);
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) init.at(x, y, 0) = uint8_t(x * 4), init.at(x, y, 1) = uint8_t(y * 4);
    write_png((sub / "init.png").string(), init);
    Image mask = Image::blank(64, 64, 1);
    for (int y = 16; y < 48; ++y)
        for (int x = 8; x < 40; ++x) mask.at(x, y) = 255;
    write_png((sub / "mask.png").string(), mask);
    CliRun r = gen("-p cat --seed 3 --init-image " + shell_quote((sub / "init.png").string()) + " --strength 0.6 --mask " +
                shell_quote((sub / "mask.png").string()) + " -q -o " + shell_quote((sub / "inpaint.png").string()));
    ASSERT_EQ(r.code, 0) << r.err;
    ImageFile f = read_image_file((sub / "inpaint.png").string());
    EXPECT_NE(f.text.at("parameters").find("Denoising strength: 0.6"), std::string::npos);
    EXPECT_NE(f.text.at("parameters").find("Mask blur: 4"), std::string::npos);
    // Far from the mask the original is pasted back exactly (A1111 overlay).
    EXPECT_EQ(f.image.at(60, 2, 0), init.at(60, 2, 0));
    EXPECT_EQ(f.image.at(60, 2, 1), init.at(60, 2, 1));

    // Outpainting grows the canvas; the output takes the canvas size.
    CliRun o = sh(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " img2img -m " + shell_quote(model()) + " --vocab " +
               shell_quote(vocab()) + " --steps 2 --threads 1 -p cat --seed 3 --init-image " + shell_quote((sub / "init.png").string()) +
               " --outpaint 16,0,16,8 -q -o " + shell_quote((sub / "outpaint.png").string()));
    ASSERT_EQ(o.code, 0) << o.err;
    Image op = read_image((sub / "outpaint.png").string());
    EXPECT_EQ(op.width, 96);
    EXPECT_EQ(op.height, 72);
}

TEST_F(CliGenerate, BadInputsExit2WithOneLineAndWriteNothing) {
    fs::path sub = dir_ / "bad";
    fs::create_directories(sub);
    Image init = Image::blank(64, 64);
    write_png((sub / "init.png").string(), init);
    write_png((sub / "mask32.png").string(), Image::blank(32, 64, 1));
    {
        std::ofstream(sub / "notimage.png") << "this is not a png";
    }
    const std::string out = " -o " + shell_quote((sub / "out-{seed}.png").string());
    const auto before = files_in(sub);
    struct Case {
        std::string args, needle, what;
        bool with_model = true;
    };
    std::vector<Case> cases = {
        {"-m " + shell_quote((sub / "missing.safetensors").string()) + " -p x", "no such file", "missing model", false},
        // No --model: the default model, not cached (empty cache) and the hub unreachable (closed port).
        {"-p x --env-offline", "no --model given", "no model, offline", false},
        {"-p x --init-image " + shell_quote((sub / "notimage.png").string()), "notimage.png", "unreadable image"},
        {"-p x --init-image " + shell_quote((sub / "nope.png").string()), "nope.png", "missing image"},
        {"-p x --init-image " + shell_quote((sub / "init.png").string()) + " --mask " + shell_quote((sub / "mask32.png").string()),
         "mask is 32x64", "mask of another size"},
        {"-p x -W 60", "multiple of 8", "width not a multiple of 8"},
        {"-p x --sampler warp_drive", "unknown sampler", "unknown sampler"},
        {"-p x --scheduler wobbly", "unknown scheduler", "unknown scheduler"},
        {"-p x --steps -3", "steps", "negative steps"},
        {"-p x --init-image " + shell_quote((sub / "init.png").string()) + " --strength 1.5", "strength", "bad strength"},
        {"-p x --strength 0.5", "--init-image", "strength without an init image"},
        {"-p x --outpaint 1,2", "L,T,R,B", "bad outpaint"},
        {"-p x --batch-size 0", "batch size", "bad batch size"},
        {"-p x --cfg-scale -2", "cfg", "negative cfg"},
        {"-p x -o " + shell_quote((sub / "no_dir" / "x.png").string()), "does not exist", "output folder missing"},
        {"-p x -o " + shell_quote((sub / "x.jpg").string()), ".png", "not a png"},
        {"-p x --vocab " + shell_quote((sub / "novocab.json").string()), "novocab.json", "missing vocab"},
        {"--from-png " + shell_quote((sub / "init.png").string()), "parameters", "png without parameters"},
        {"-p x --weight-cache lots", "--weight-cache", "bad weight cache"},
        {"-p x --weight-cache -5", "--weight-cache", "negative weight cache"},
    };
    for (const Case& c : cases) {
        std::string args = c.args;
        std::string env;
        if (size_t at = args.find(" --env-offline"); at != std::string::npos) {
            args.erase(at, std::strlen(" --env-offline"));
            env = "env SDPP_HUB_ENDPOINT=http://127.0.0.1:9 XDG_CACHE_HOME=" + shell_quote((sub / "cache").string()) + " ";
        }
        CliRun r = c.with_model ? gen(args + (args.find(" -o ") == std::string::npos ? out : ""))
                             : gen(args + out, false, env);
        expect_usage_error(r, c.needle, c.what);
    }
    fs::remove_all(sub / "cache");  // the offline case may create the (empty) cache folder
    EXPECT_EQ(files_in(sub), before) << "a failed run left a file behind";
}
