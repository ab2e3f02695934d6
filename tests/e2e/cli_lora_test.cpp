// `sdpp generate` with LoRA networks, end to end on the tiny SD1 fixture model and the networks of
// $SDPP_FIXTURES/lora/networks: --lora FILE:MULT and a <lora:NAME:MULT> tag (resolved in --lora-dir)
// give the same pixels; the infotext keeps the tags and has A1111's "Lora hashes"; --from-png re-runs
// it; a model with a network and without it differ. Every bad input exits 2 with one "error:" line
// and writes nothing: an unknown NAME (the folders searched and the closest names), a network for
// another family, a truncated file, a pickle that runs code, a file that is not a network, a bad
// multiplier, a missing --lora-dir. `sdpp inspect NETWORK` prints kind, family, rank/alpha, hash.
#include "common/ckpt_writer.h"
#include "common/cli_run.h"
#include "common/parity_support.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace sdpp;
using namespace sdpp::testing;
namespace fs = std::filesystem;

namespace {

class CliLora : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sdpp_cli_lora_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "out");
    }
    void TearDown() override { fs::remove_all(dir_); }

    static std::string nets() { return fixture_path("lora/networks"); }
    static std::string net(const std::string& n) { return nets() + "/" + n + ".safetensors"; }
    std::string out(const std::string& n) const { return (dir_ / "out" / n).string(); }

    CliRun gen(const std::string& args) const {
        std::string cmd = shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate -m " +
                          shell_quote(fixture_path("models/sd1-tiny/sd1-tiny.safetensors")) + " --vocab " +
                          shell_quote(fixture_path("clip/vocab.json")) + " -W 64 -H 64 --steps 2 --threads 1 --seed 7 -q " + args;
        return run_shell(cmd, dir_.string());
    }
    // One "error: ..." line naming every needle, exit 2, no output file.
    void expect_error(const CliRun& r, const std::vector<std::string>& needles) const {
        EXPECT_EQ(r.code, 2) << r.err;
        EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "lacks '" << n << "': " << r.err;
        EXPECT_TRUE(fs::is_empty(dir_ / "out")) << "an output was written";
    }
    Image pixels(const std::string& path, std::string* params = nullptr) const { return load_image(path, params); }

    fs::path dir_;
};

TEST_F(CliLora, FlagAndTagGiveTheSameImageWithHashes) {
    auto a = gen("-p 'a cat' --lora " + shell_quote(net("sdpp_sd1_kohya") + ":0.8") + " -o " + shell_quote(out("a.png")));
    ASSERT_EQ(a.code, 0) << a.err;
    auto b = gen("-p 'a cat <lora:sdpp_sd1_kohya:0.8>' --lora-dir " + shell_quote(nets()) + " -o " + shell_quote(out("b.png")));
    ASSERT_EQ(b.code, 0) << b.err;
    auto c = gen("-p 'a cat' -o " + shell_quote(out("c.png")));
    ASSERT_EQ(c.code, 0) << c.err;
    std::string pa, pb;
    Image ia = pixels(out("a.png"), &pa), ib = pixels(out("b.png"), &pb), ic = pixels(out("c.png"));
    EXPECT_EQ(ia.pixels, ib.pixels);
    EXPECT_NE(ia.pixels, ic.pixels) << "the network changed nothing";
    EXPECT_NE(pa.find("a cat <lora:sdpp_sd1_kohya:0.8>\n"), std::string::npos) << pa;
    EXPECT_NE(pb.find("a cat <lora:sdpp_sd1_kohya:0.8>\n"), std::string::npos) << pb;
    for (const std::string& p : {pa, pb})
        EXPECT_NE(p.find("Lora hashes: \"sdpp_sd1_kohya: 80d86cfa2579\""), std::string::npos) << p;

    // --from-png re-runs the tag (and checks the hash).
    auto d = gen("--from-png " + shell_quote(out("b.png")) + " --lora-dir " + shell_quote(nets()) + " -o " + shell_quote(out("d.png")));
    ASSERT_EQ(d.code, 0) << d.err;
    EXPECT_EQ(pixels(out("d.png")).pixels, ib.pixels);
}

TEST_F(CliLora, NameFoundByHashFromPng) {
    // The PNG names the network "sdpp_sd1_peft"; the folder has the file (no ss_output_name alias)
    // as "renamed": --from-png finds it by the "Lora hashes" entry; a plain tag does not.
    auto b = gen("-p 'a cat <lora:sdpp_sd1_peft:1>' --lora-dir " + shell_quote(nets()) + " -o " + shell_quote(out("b.png")));
    ASSERT_EQ(b.code, 0) << b.err;
    fs::create_directories(dir_ / "Lora");
    fs::copy_file(net("sdpp_sd1_peft"), dir_ / "Lora" / "renamed.safetensors");
    const std::string lora = (dir_ / "Lora").string();
    auto c = gen("--from-png " + shell_quote(out("b.png")) + " --lora-dir " + shell_quote(lora) + " -o " + shell_quote(out("c.png")));
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(pixels(out("c.png")).pixels, pixels(out("b.png")).pixels);
    fs::remove(out("b.png"));
    fs::remove(out("c.png"));
    auto d = gen("-p 'a cat <lora:sdpp_sd1_peft:1>' --lora-dir " + shell_quote(lora) + " -o " + shell_quote(out("d.png")));
    expect_error(d, {"network 'sdpp_sd1_peft' not found in " + lora, "closest: renamed"});
}

TEST_F(CliLora, UnknownNameNamesFoldersAndClosest) {
    auto r = gen("-p 'a <lora:sdpp_sd1_kohyaa:1>' --lora-dir " + shell_quote(nets()) + " -o " + shell_quote(out("x.png")));
    expect_error(r, {"network 'sdpp_sd1_kohyaa' not found in " + nets(), "closest: sdpp_sd1_kohya"});
    // Default folders: Lora / loras beside the model.
    auto d = gen("-p 'a <lora:nothere:1>' -o " + shell_quote(out("x.png")));
    expect_error(d, {"network 'nothere' not found", "/Lora", "/loras"});
}

TEST_F(CliLora, NetworkForAnotherFamily) {
    auto r = gen("-p a --lora " + shell_quote(net("sdpp_sdxl_kohya")) + " -o " + shell_quote(out("x.png")));
    expect_error(r, {"network 'sdpp_sdxl_kohya'", "is for SDXL; the model is SD1"});
}

TEST_F(CliLora, TruncatedHostileAndWrongFiles) {
    // truncated safetensors
    const std::string full = read_file(net("sdpp_sd1_kohya"));
    const std::string trunc = (dir_ / "trunc.safetensors").string();
    std::ofstream(trunc, std::ios::binary).write(full.data(), std::streamsize(full.size() / 2));
    expect_error(gen("-p a --lora " + shell_quote(trunc) + " -o " + shell_quote(out("x.png"))), {trunc});
    // header cut inside
    const std::string cut = (dir_ / "cut.safetensors").string();
    std::ofstream(cut, std::ios::binary).write(full.data(), 100);
    expect_error(gen("-p a --lora " + shell_quote(cut) + " -o " + shell_quote(out("x.png"))), {cut});
    // a pickle that runs code
    const std::string marker = (dir_ / "pwned").string();
    PickleWriter w;
    w.proto(2).global("os", "system").str("touch " + marker).tuple(1).op('R').stop();
    const std::string pt = (dir_ / "evil.pt").string();
    write_zip(pt, {{"archive/data.pkl", w.bytes()}, {"archive/version", "3\n"}});
    expect_error(gen("-p a --lora " + shell_quote(pt) + " -o " + shell_quote(out("x.png"))), {pt, "tries to run code"});
    EXPECT_FALSE(fs::exists(marker));
    // an embedding is not a network; neither is a checkpoint
    expect_error(gen("-p a --lora " + shell_quote(fixture_path("lora/embeddings/sdppstyle.safetensors")) + " -o " +
                     shell_quote(out("x.png"))),
                 {"textual-inversion embedding"});
    expect_error(gen("-p a --lora " + shell_quote(fixture_path("models/sd1-tiny/sd1-tiny.safetensors")) + " -o " +
                     shell_quote(out("x.png"))),
                 {"a checkpoint"});
}

TEST_F(CliLora, BadTagsAndFlags) {
    expect_error(gen("-p 'a <lora:sdpp_sd1_kohya:lots>' --lora-dir " + shell_quote(nets()) + " -o " + shell_quote(out("x.png"))),
                 {"'lots' is not a number"});
    expect_error(gen("-p a --lora-dir " + shell_quote((dir_ / "nope").string()) + " -o " + shell_quote(out("x.png"))),
                 {"--lora-dir", "no such folder"});
    expect_error(gen("-p a --lora ':0.5' -o " + shell_quote(out("x.png"))), {"--lora"});
}

TEST_F(CliLora, InspectNetwork) {
    auto r = run_shell(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " inspect " + shell_quote(net("sdpp_sd1_lokr")),
                       dir_.string());
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* s : {"LoKr", "sd1", "139037be57fe", "modules: 8"}) EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
    auto x = run_shell(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " inspect --json " + shell_quote(net("sdpp_sdxl_kohya")),
                       dir_.string());
    ASSERT_EQ(x.code, 0) << x.err;
    auto j = nlohmann::json::parse(x.out);
    EXPECT_EQ(j.at("kind"), "LoCon");
    EXPECT_EQ(j.at("family"), "sdxl");
    EXPECT_EQ(j.at("hash"), "78d508c7c187");
    EXPECT_EQ(j.at("modules").at("unet"), 257);
    EXPECT_EQ(j.at("modules").at("te2"), 72);
}

}  // namespace
