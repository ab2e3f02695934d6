// `sdpp pull` end to end: runs the sdpp binary against the mock hub on 127.0.0.1
// (tests/unit/hub_mock_server.h) serving the sd1-tiny diffusers fixture, with XDG_CACHE_HOME in a
// temporary folder. Checks stdout (the path only), exit codes and one-line errors.
#include "common/cli_run.h"
#include "../unit/hub_mock_server.h"

#include "common/parity_support.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

using sdpp::testing::CliRun;
using sdpp::testing::read_file;
using sdpp::testing::run_shell;

int dead_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

class HubCli : public ::testing::Test {
protected:
    void SetUp() override {
        model_ = sdpp::testing::fixture_path("models/sd1-tiny/diffusers");
        ASSERT_TRUE(fs::is_regular_file(model_ + "/model_index.json")) << "fixture missing: " << model_;
        ASSERT_TRUE(fs::is_regular_file(sdpp_)) << "sdpp binary missing: " << sdpp_;
        char tmpl[] = "/tmp/sdpp-hub-cli-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
        setenv("XDG_CACHE_HOME", (tmp_ + "/cache").c_str(), 1);
        setenv("SDPP_HUB_ENDPOINT", hub_.endpoint().c_str(), 1);
        unsetenv("HF_TOKEN");
        hub_.add_dir("test/sd1-tiny", model_);
    }
    void TearDown() override {
        unsetenv("XDG_CACHE_HOME");
        unsetenv("SDPP_HUB_ENDPOINT");
        std::error_code ec;
        if (!tmp_.empty()) fs::remove_all(tmp_, ec);
    }
    CliRun sdpp(const std::string& args) {
        return run_shell("timeout 60 '" + sdpp_ + "' " + args, tmp_);
    }

    sdpp::testing::MockHub hub_;
    std::string sdpp_ = std::string(SDPP_BINARY_DIR) + "/sdpp";
    std::string model_, tmp_;
};

}  // namespace

TEST_F(HubCli, PullDiffusersPrintsThePath) {
    CliRun r = sdpp("pull test/sd1-tiny");
    ASSERT_EQ(r.code, 0) << r.err;
    std::string dir = tmp_ + "/cache/sdpp/models/test--sd1-tiny/main";
    EXPECT_EQ(r.out, dir + "\n");
    EXPECT_NE(r.err.find("pulled unet/diffusion_pytorch_model.safetensors"), std::string::npos) << r.err;
    for (const char* rel : {"model_index.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
                            "text_encoder/model.safetensors", "tokenizer/vocab.json"})
        EXPECT_EQ(read_file(dir + "/" + rel), read_file(model_ + "/" + rel)) << rel;
}

TEST_F(HubCli, PullOneFileQuietly) {
    CliRun r = sdpp("pull test/sd1-tiny vae/diffusion_pytorch_model.safetensors --revision main -q");
    ASSERT_EQ(r.code, 0) << r.err;
    std::string file = tmp_ + "/cache/sdpp/models/test--sd1-tiny/main/vae/diffusion_pytorch_model.safetensors";
    EXPECT_EQ(r.out, file + "\n");
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(read_file(file), read_file(model_ + "/vae/diffusion_pytorch_model.safetensors"));
}

TEST_F(HubCli, ErrorsAreOneLineWithExitCode2) {
    for (const char* args : {"pull nobody/missing", "pull test/sd1-tiny nope.json", "pull ../etc",
                             "pull test/sd1-tiny --revision ../x"}) {
        CliRun r = sdpp(args);
        EXPECT_EQ(r.code, 2) << args << ": " << r.err;
        EXPECT_EQ(r.out, "") << args;
        EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << args << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    }
    EXPECT_NE(sdpp("pull nobody/missing").err.find("HTTP 404"), std::string::npos);
}

TEST_F(HubCli, OfflineSaysSo) {
    setenv("SDPP_HUB_ENDPOINT", ("http://127.0.0.1:" + std::to_string(dead_port())).c_str(), 1);
    CliRun r = sdpp("pull test/sd1-tiny");
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("error: cannot reach the hub at http://127.0.0.1:"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp_ + "/cache/sdpp/models/test--sd1-tiny/main/model_index.json"));
}
