// Hub pulls against a local mock hub on 127.0.0.1 (hub_mock_server.h) serving the sd1-tiny
// diffusers fixture: a whole diffusers pull, a single file, sharded weights, resume after a
// dropped connection (Range), a server that ignores Range, corrupted bytes, 404/401, offline,
// and the default model's first use. Nothing here touches the internet; every transfer is
// bounded by short timeouts.
#include "hub_mock_server.h"

#include "common/parity_support.h"
#include "hub/cache.h"
#include "hub/default_model.h"
#include "hub/pull.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

using namespace sdpp;
using namespace sdpp::hub;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
    std::ifstream is(p, std::ios::binary);
    std::stringstream ss;
    ss << is.rdbuf();
    return ss.str();
}

std::string fixture_model() { return sdpp::testing::fixture_path("models/sd1-tiny/diffusers"); }

// A port on 127.0.0.1 with nothing listening: bind an ephemeral port, then close it.
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

std::string pseudo_random_bytes(size_t n, uint32_t seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        s[i] = char(seed >> 24);
    }
    return s;
}

class HubPull : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::is_regular_file(fixture_model() + "/model_index.json"))
            << "fixture model missing: " << fixture_model() << " (set SDPP_FIXTURES)";
        char tmpl[] = "/tmp/sdpp-hub-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
        setenv("XDG_CACHE_HOME", tmp_.c_str(), 1);
        setenv("SDPP_HUB_ENDPOINT", hub_.endpoint().c_str(), 1);
        unsetenv("HF_TOKEN");
        cfg_ = hub_config_from_env();
        cfg_.http.connect_timeout_s = 5;
        cfg_.http.stall_timeout_s = 5;
        cfg_.retry_delay_ms = 0;
        cfg_.max_attempts = 1;
        opts_.progress = ProgressMode::Lines;
        hub_.add_dir("test/sd1-tiny", fixture_model());
    }
    void TearDown() override {
        unsetenv("XDG_CACHE_HOME");
        unsetenv("SDPP_HUB_ENDPOINT");
        std::error_code ec;
        if (!tmp_.empty()) fs::remove_all(tmp_, ec);
    }
    std::string repo_dir(const std::string& repo) { return repo_cache_dir(cfg_, repo, "main"); }
    std::vector<std::string> files_under(const std::string& dir) {
        std::vector<std::string> v;
        if (!fs::exists(dir)) return v;
        for (const auto& e : fs::recursive_directory_iterator(dir))
            if (e.is_regular_file()) v.push_back(fs::relative(e.path(), dir).generic_string());
        std::sort(v.begin(), v.end());
        return v;
    }

    sdpp::testing::MockHub hub_;
    std::string tmp_;
    HubConfig cfg_;
    PullOptions opts_;
};

const char* kUnet = "unet/diffusion_pytorch_model.safetensors";

}  // namespace

TEST_F(HubPull, FullDiffusersPullCopiesExactlyWhatSdppNeeds) {
    // Files a real repo also carries, which must not be downloaded.
    hub_.add_file("test/sd1-tiny", "README.md", "# readme");
    hub_.add_file("test/sd1-tiny", "sd1-tiny.safetensors", pseudo_random_bytes(1000, 1));
    hub_.add_file("test/sd1-tiny", "unet/diffusion_pytorch_model.bin", pseudo_random_bytes(1000, 2));
    hub_.add_file("test/sd1-tiny", "unet/diffusion_flax_model.msgpack", "flax");
    hub_.add_file("test/sd1-tiny", "vae_decoder/model.onnx", "onnx");
    hub_.add_file("test/sd1-tiny", "feature_extractor/preprocessor_config.json", "{}");
    hub_.set_page_size(4);  // the listing arrives in pages linked by `Link: rel="next"`

    PullResult r = pull(cfg_, "test/sd1-tiny", "", opts_);
    EXPECT_EQ(r.path, tmp_ + "/sdpp/models/test--sd1-tiny/main");
    EXPECT_FALSE(r.offline);

    std::vector<std::string> want;
    for (const auto& e : fs::recursive_directory_iterator(fixture_model()))
        if (e.is_regular_file()) want.push_back(fs::relative(e.path(), fixture_model()).generic_string());
    std::sort(want.begin(), want.end());
    auto got = files_under(r.path);
    got.erase(std::remove(got.begin(), got.end(), ".sdpp-pull.json"), got.end());
    EXPECT_EQ(got, want);
    int64_t total = 0;
    for (const auto& rel : want) {
        std::string src = read_all(fs::path(fixture_model()) / rel);
        EXPECT_EQ(read_all(fs::path(r.path) / rel), src) << rel << " differs from the fixture";
        total += int64_t(src.size());
    }
    EXPECT_EQ(r.bytes_downloaded, total);

    // LFS files went through the redirect to /cdn/, like the real hub.
    auto unet_gets = hub_.downloads_of(kUnet);
    ASSERT_FALSE(unet_gets.empty());
    EXPECT_EQ(unet_gets.back().path.rfind("/cdn/", 0), 0u);

    // A second pull finds everything in the cache and downloads nothing.
    hub_.clear_log();
    PullResult again = pull(cfg_, "test/sd1-tiny", "", opts_);
    EXPECT_EQ(again.path, r.path);
    EXPECT_EQ(again.bytes_downloaded, 0);
    for (const auto& l : hub_.log()) EXPECT_EQ(l.path.find("/resolve/"), std::string::npos) << l.path;
}

TEST_F(HubPull, SingleFile) {
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(r.path, repo_dir("test/sd1-tiny") + "/" + kUnet);
    EXPECT_EQ(read_all(r.path), read_all(fixture_model() + "/" + kUnet));
    auto got = files_under(repo_dir("test/sd1-tiny"));
    EXPECT_EQ(got, (std::vector<std::string>{".sdpp-pull.json", kUnet}));

    try {
        pull(cfg_, "test/sd1-tiny", "unet/nope.safetensors", opts_);
        FAIL() << "a missing file must be an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'unet/nope.safetensors' is not in repo 'test/sd1-tiny'"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(HubPull, NonDiffusersRepoPullsItsOnlyCheckpoint) {
    std::string ckpt = read_all(sdpp::testing::fixture_path("models/sd1-tiny/sd1-tiny.safetensors"));
    hub_.add_file("test/single", "README.md", "hi");
    hub_.add_file("test/single", "sd1-tiny.safetensors", ckpt);
    PullResult r = pull(cfg_, "test/single", "", opts_);
    EXPECT_EQ(r.path, repo_dir("test/single") + "/sd1-tiny.safetensors");
    EXPECT_EQ(read_all(r.path), ckpt);
}

TEST_F(HubPull, ShardedWeightsAndFp16Variant) {
    std::string s1 = pseudo_random_bytes(70000, 3), s2 = pseudo_random_bytes(50000, 4);
    hub_.add_file("test/sharded", "model_index.json", "{}");
    hub_.add_file("test/sharded", "unet/config.json", "{}");
    hub_.add_file("test/sharded", "unet/diffusion_pytorch_model.safetensors", pseudo_random_bytes(9000, 5));
    hub_.add_file("test/sharded", "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                  R"({"weight_map":{"a":"diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                                    "b":"diffusion_pytorch_model.fp16-00002-of-00002.safetensors"}})");
    hub_.add_file("test/sharded", "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors", s1);
    hub_.add_file("test/sharded", "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors", s2);
    PullResult r = pull(cfg_, "test/sharded", "", opts_);
    EXPECT_EQ(files_under(r.path),
              (std::vector<std::string>{".sdpp-pull.json", "model_index.json", "unet/config.json",
                                        "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                                        "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
                                        "unet/diffusion_pytorch_model.safetensors.index.fp16.json"}));
    EXPECT_EQ(read_all(r.path + "/unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"), s2);

    // Full precision is a different pull of the same revision folder.
    opts_.variant = "";
    r = pull(cfg_, "test/sharded", "", opts_);
    EXPECT_TRUE(fs::exists(r.path + "/unet/diffusion_pytorch_model.safetensors"));
}

TEST_F(HubPull, InterruptedDownloadResumesWithRange) {
    const std::string src = read_all(fixture_model() + "/" + kUnet);
    const size_t cut = src.size() / 2;
    hub_.drop_after(kUnet, cut);
    const std::string dest = repo_dir("test/sd1-tiny") + "/" + kUnet;

    EXPECT_THROW(pull(cfg_, "test/sd1-tiny", kUnet, opts_), Error);
    EXPECT_FALSE(fs::exists(dest));
    ASSERT_TRUE(fs::exists(dest + ".part"));
    EXPECT_EQ(fs::file_size(dest + ".part"), cut);
    EXPECT_EQ(read_all(dest + ".part"), src.substr(0, cut));

    hub_.clear_log();
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(read_all(r.path), src);
    EXPECT_FALSE(fs::exists(dest + ".part"));
    auto gets = hub_.downloads_of(kUnet);
    ASSERT_FALSE(gets.empty());
    EXPECT_EQ(gets.back().range, "bytes=" + std::to_string(cut) + "-");
    EXPECT_EQ(r.bytes_downloaded, int64_t(src.size() - cut));
}

TEST_F(HubPull, RetriesResumeWithinOnePull) {
    const std::string src = read_all(fixture_model() + "/" + kUnet);
    hub_.drop_after(kUnet, 100000, 2);  // two drops, the third attempt completes
    cfg_.max_attempts = 3;
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(read_all(r.path), src);
    auto gets = hub_.downloads_of(kUnet);
    std::vector<std::string> ranges;
    for (const auto& g : gets)
        if (g.path.rfind("/cdn/", 0) == 0) ranges.push_back(g.range);
    EXPECT_EQ(ranges, (std::vector<std::string>{"", "bytes=100000-", "bytes=100000-"}));
}

TEST_F(HubPull, ServerIgnoringRangeRestartsCleanly) {
    const std::string src = read_all(fixture_model() + "/" + kUnet);
    const std::string dest = repo_dir("test/sd1-tiny") + "/" + kUnet;
    hub_.drop_after(kUnet, 12345);
    EXPECT_THROW(pull(cfg_, "test/sd1-tiny", kUnet, opts_), Error);
    ASSERT_EQ(fs::file_size(dest + ".part"), 12345u);
    hub_.ignore_range(kUnet);
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(read_all(r.path), src);
    EXPECT_EQ(r.bytes_downloaded, int64_t(src.size()));
}

TEST_F(HubPull, CorruptedDownloadIsRejectedAndLeavesNoFile) {
    hub_.corrupt(kUnet);
    const std::string dest = repo_dir("test/sd1-tiny") + "/" + kUnet;
    try {
        pull(cfg_, "test/sd1-tiny", "", opts_);
        FAIL() << "a corrupted download must be rejected";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("rejected: sha256"), std::string::npos) << m;
        EXPECT_NE(m.find(kUnet), std::string::npos) << m;
    }
    EXPECT_FALSE(fs::exists(dest));
    EXPECT_FALSE(fs::exists(dest + ".part"));
}

TEST_F(HubPull, CorruptedPartialFileIsRejectedThenRedownloaded) {
    // A .part whose bytes are not a prefix of the file: the resumed result cannot match the sha256.
    const std::string src = read_all(fixture_model() + "/" + kUnet);
    const std::string dest = repo_dir("test/sd1-tiny") + "/" + kUnet;
    make_dirs(fs::path(dest).parent_path().string());
    {
        std::ofstream os(dest + ".part", std::ios::binary);
        os << pseudo_random_bytes(1000, 9);
    }
    EXPECT_THROW(pull(cfg_, "test/sd1-tiny", kUnet, opts_), Error);
    EXPECT_FALSE(fs::exists(dest));
    EXPECT_FALSE(fs::exists(dest + ".part"));
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(read_all(r.path), src);
}

TEST_F(HubPull, StaleCachedFileIsReplaced) {
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    std::string src = read_all(r.path);
    {  // damage the cached copy, keeping its size, and forget the ledger's record
        std::fstream f(r.path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f.put(char(src[100] ^ 1));
    }
    fs::remove(repo_dir("test/sd1-tiny") + "/.sdpp-pull.json");
    PullResult again = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(again.bytes_downloaded, int64_t(src.size()));
    EXPECT_EQ(read_all(again.path), src);
}

TEST_F(HubPull, MissingRepoIsAClearError) {
    try {
        pull(cfg_, "nobody/missing", "", opts_);
        FAIL() << "expected an error";
    } catch (const Unreachable& e) {
        FAIL() << "a 404 is not 'offline': " << e.what();
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("nobody/missing"), std::string::npos) << m;
        EXPECT_NE(m.find("HTTP 404 (Repository not found)"), std::string::npos) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
    EXPECT_FALSE(fs::exists(repo_dir("nobody/missing")));
}

TEST_F(HubPull, PrivateRepoNeedsToken) {
    hub_.add_dir("me/private", fixture_model());
    hub_.make_private("me/private", "s3cret");
    try {
        pull(cfg_, "me/private", kUnet, opts_);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
    }
    setenv("HF_TOKEN", "s3cret", 1);
    HubConfig cfg = hub_config_from_env();
    cfg.max_attempts = 1;
    unsetenv("HF_TOKEN");
    hub_.clear_log();
    PullResult r = pull(cfg, "me/private", kUnet, opts_);
    EXPECT_EQ(read_all(r.path), read_all(fixture_model() + "/" + kUnet));
    for (const auto& l : hub_.log()) {
        if (l.path.rfind("/cdn/", 0) != 0) {
            EXPECT_EQ(l.authorization, "Bearer s3cret") << l.path;
        }
    }
}

TEST_F(HubPull, OfflineIsAClearError) {
    cfg_.endpoint = "http://127.0.0.1:" + std::to_string(dead_port());
    auto t0 = std::chrono::steady_clock::now();
    try {
        pull(cfg_, "test/sd1-tiny", "", opts_);
        FAIL() << "expected an error";
    } catch (const Unreachable& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("cannot reach the hub at " + cfg_.endpoint), std::string::npos) << m;
        EXPECT_NE(m.find("not in the cache"), std::string::npos) << m;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST_F(HubPull, OfflineUsesACompleteEarlierPull) {
    PullResult r = pull(cfg_, "test/sd1-tiny", "", opts_);
    cfg_.endpoint = "http://127.0.0.1:" + std::to_string(dead_port());
    PullResult off = pull(cfg_, "test/sd1-tiny", "", opts_);
    EXPECT_TRUE(off.offline);
    EXPECT_EQ(off.path, r.path);
    // An incomplete copy is not used: remove one file.
    fs::remove(r.path + "/vae/config.json");
    EXPECT_THROW(pull(cfg_, "test/sd1-tiny", "", opts_), Unreachable);
}

TEST_F(HubPull, DefaultModelIsPulledOnFirstUseThenWorksOffline) {
    hub_.add_dir(kDefaultModel.repo, fixture_model());
    std::string dir = ensure_default_model(cfg_, ProgressMode::None);
    EXPECT_EQ(dir, repo_dir(kDefaultModel.repo));
    EXPECT_EQ(read_all(dir + "/" + kUnet), read_all(fixture_model() + "/" + kUnet));

    // Second use: no network at all.
    hub_.clear_log();
    cfg_.endpoint = "http://127.0.0.1:" + std::to_string(dead_port());
    EXPECT_EQ(ensure_default_model(cfg_, ProgressMode::None), dir);
    EXPECT_TRUE(hub_.log().empty());

    // The env-driven overload reads SDPP_HUB_ENDPOINT / XDG_CACHE_HOME.
    EXPECT_EQ(ensure_default_model(), dir);
}

TEST_F(HubPull, DefaultModelOfflineWithEmptyCacheSaysHowToGetOne) {
    cfg_.endpoint = "http://127.0.0.1:" + std::to_string(dead_port());
    try {
        ensure_default_model(cfg_, ProgressMode::None);
        FAIL() << "expected an error";
    } catch (const Unreachable&) {
        FAIL() << "ensure_default_model must turn 'offline' into the how-to message";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("sdpp pull stabilityai/sd-turbo"), std::string::npos) << m;
        EXPECT_NE(m.find("-m FILE"), std::string::npos) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
}

TEST_F(HubPull, ConcurrentDownloadOfTheSameFileIsRefused) {
    const std::string dest = repo_dir("test/sd1-tiny") + "/" + kUnet;
    make_dirs(fs::path(dest).parent_path().string());
    int fd = ::open((dest + ".part").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // another process is downloading it
    try {
        pull(cfg_, "test/sd1-tiny", kUnet, opts_);
        ADD_FAILURE() << "a locked .part must not be written";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("another process is downloading"), std::string::npos) << e.what();
    }
    ::close(fd);
    PullResult r = pull(cfg_, "test/sd1-tiny", kUnet, opts_);
    EXPECT_EQ(read_all(r.path), read_all(fixture_model() + "/" + kUnet));
}
