// `sdpp serve` under concurrency: interrupt and skip, the bounded queue (503 + Retry-After, no
// accepted request lost), a client that hangs up mid-generation, SIGTERM with work queued, and a
// bounded load test (8 clients x 25 small generations while two more poll /progress) that checks
// every request completes and the RSS stays put, and prints p50/p99 latency for docs/server.md.
#include "common/server_process.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

using namespace sdpp;
using namespace sdpp::testing;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string sd1() { return fixture_path("models/sd1-tiny/sd1-tiny.safetensors"); }

Json request(int steps, int n_iter = 1, int side = 64) {
    return {{"prompt", "a lighthouse"}, {"steps", steps}, {"width", side}, {"height", side}, {"seed", 5}, {"n_iter", n_iter}};
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

class ServerLoad : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sdpp_server_load_" + std::to_string(::getpid()) + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::unique_ptr<ServerProcess> start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"-m", sd1(), "--threads", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto s = std::make_unique<ServerProcess>(args, dir_.string());
        EXPECT_TRUE(s->running()) << s->stderr_text();
        return s;
    }

    // Polls /progress until `pred` holds (or 60 s pass).
    static Json wait_progress(const ServerProcess& s, const std::function<bool(const Json&)>& pred,
                              bool with_image = false) {
        auto c = s.client();
        const auto t0 = Clock::now();
        Json last;
        while (seconds_since(t0) < 60) {
            JsonReply p = get_json(c, with_image ? "/sdapi/v1/progress" : "/sdapi/v1/progress?skip_current_image=true");
            last = p.body;
            if (p.status == 200 && pred(p.body)) return p.body;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "progress never reached the state; last " << last.dump();
        return last;
    }

    fs::path dir_;
};

std::future<JsonReply> post_async(const ServerProcess& s, const Json& body, const char* path = "/sdapi/v1/txt2img") {
    return std::async(std::launch::async, [&s, body, path] {
        auto c = s.client();
        return post_json(c, path, body);
    });
}

TEST_F(ServerLoad, ProgressPreviewAndInterrupt) {
    auto s = start();
    auto job = post_async(*s, request(150, 3));
    // In the second batch, with a preview of the current latent.
    Json p = wait_progress(*s, [](const Json& j) {
        return j["state"]["job_no"] == 1 && j["state"]["sampling_step"].get<int>() >= 2 && j["current_image"].is_string();
    }, true);
    EXPECT_EQ(p["state"]["job_count"], 3);
    EXPECT_EQ(p["state"]["sampling_steps"], 150);
    EXPECT_GT(p["progress"].get<double>(), 0.33);
    EXPECT_LT(p["progress"].get<double>(), 0.67);
    std::vector<uint8_t> png = base64_decode(p["current_image"].get<std::string>(), "preview");
    Image preview = decode_image(png.data(), png.size());
    EXPECT_EQ(preview.width, 8);  // latent resolution of 64x64
    Json skipped = wait_progress(*s, [](const Json&) { return true; });
    EXPECT_TRUE(skipped["current_image"].is_null());
    // Interrupt: the job ends within a sampler step, with the finished first image.
    auto c = s->client();
    const auto t0 = Clock::now();
    ASSERT_EQ(post_json(c, "/sdapi/v1/interrupt", Json::object()).status, 200);
    JsonReply r = job.get();
    EXPECT_LT(seconds_since(t0), 5.0);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["images"].size(), 1u);
    EXPECT_TRUE(Json::parse(r.body["info"].get<std::string>())["interrupted"].get<bool>());
    // Idle again; the next job runs in full.
    EXPECT_EQ(get_json(c, "/sdapi/v1/progress").body["state"]["job_count"], 0);
    JsonReply next = post_json(c, "/sdapi/v1/txt2img", request(2, 2));
    ASSERT_EQ(next.status, 200);
    EXPECT_EQ(next.body["images"].size(), 2u);
    EXPECT_EQ(s->terminate(), 0);
}

// With --taesd the preview is the TAESD decode (picture-sized) every --preview-every steps.
TEST_F(ServerLoad, TaesdPreviewIsPictureSized) {
    auto s = start({"--taesd", fixture_path("a1111/taesd/taesd-tiny/taesd_decoder.safetensors"), "--preview-every", "2"});
    auto job = post_async(*s, request(150, 1));
    Json p = wait_progress(*s, [](const Json& j) {
        return j["state"]["sampling_step"].get<int>() >= 2 && j["current_image"].is_string();
    }, true);
    std::vector<uint8_t> png = base64_decode(p["current_image"].get<std::string>(), "preview");
    Image preview = decode_image(png.data(), png.size());
    EXPECT_EQ(preview.width, 64);  // TAESD decodes to the picture's size (the cheap one is 8)
    EXPECT_EQ(preview.height, 64);
    auto c = s->client();
    ASSERT_EQ(post_json(c, "/sdapi/v1/interrupt", Json::object()).status, 200);
    EXPECT_EQ(job.get().status, 200);
    EXPECT_EQ(s->terminate(), 0);
}

TEST_F(ServerLoad, SkipMovesToTheNextBatch) {
    auto s = start();
    auto job = post_async(*s, request(150, 2));
    wait_progress(*s, [](const Json& j) { return j["state"]["job_no"] == 0 && j["state"]["sampling_step"].get<int>() >= 2; });
    auto c = s->client();
    ASSERT_EQ(post_json(c, "/sdapi/v1/skip", Json::object()).status, 200);
    JsonReply r = job.get();
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["images"].size(), 1u);  // the second batch's image
    std::string params;
    std::vector<uint8_t> png = base64_decode(r.body["images"][0].get<std::string>(), "image");
    decode_image(png.data(), png.size(), &params);
    EXPECT_NE(params.find("Seed: 6"), std::string::npos) << params;
    EXPECT_EQ(s->terminate(), 0);
}

TEST_F(ServerLoad, FullQueueGets503AndAcceptedRequestsComplete) {
    auto s = start({"--max-queue", "1"});
    auto running = post_async(*s, request(400));
    wait_progress(*s, [](const Json& j) { return j["state"]["sampling_step"].get<int>() >= 1; });
    auto waiting = post_async(*s, request(2));
    wait_progress(*s, [](const Json& j) { return j["state"]["queued"] == 1; });
    auto c = s->client();
    auto full = c.Post("/sdapi/v1/txt2img", request(2).dump(), "application/json");
    ASSERT_TRUE(full);
    EXPECT_EQ(full->status, 503) << full->body;
    EXPECT_TRUE(full->has_header("Retry-After"));
    EXPECT_GE(std::atoi(full->get_header_value("Retry-After").c_str()), 1);
    EXPECT_NE(full->body.find("detail"), std::string::npos);
    post_json(c, "/sdapi/v1/interrupt", Json::object());
    EXPECT_EQ(running.get().status, 200);
    JsonReply w = waiting.get();
    EXPECT_EQ(w.status, 200);
    EXPECT_EQ(w.body["images"].size(), 1u);
    EXPECT_EQ(s->terminate(), 0);
}

TEST_F(ServerLoad, ClientHangingUpDoesNotDisturbTheQueue) {
    auto s = start();
    {
        auto quitter = s->client(0.3);  // gives up long before its 100-step job ends
        auto r = quitter.Post("/sdapi/v1/txt2img", request(100).dump(), "application/json");
        EXPECT_FALSE(r);
    }
    auto c = s->client();
    JsonReply p = get_json(c, "/sdapi/v1/progress");
    EXPECT_EQ(p.status, 200);
    JsonReply next = post_json(c, "/sdapi/v1/txt2img", request(2));  // queued behind the orphan job
    ASSERT_EQ(next.status, 200) << next.raw;
    EXPECT_EQ(next.body["images"].size(), 1u);
    EXPECT_EQ(s->terminate(), 0);
}

TEST_F(ServerLoad, SigtermCancelsAnswersAndExits0) {
    auto s = start({"--max-queue", "4"});
    auto running = post_async(*s, request(1000));
    wait_progress(*s, [](const Json& j) { return j["state"]["sampling_step"].get<int>() >= 1; });
    auto waiting = post_async(*s, request(2));
    wait_progress(*s, [](const Json& j) { return j["state"]["queued"] == 1; });
    const auto t0 = Clock::now();
    EXPECT_EQ(s->terminate(), 0) << s->stderr_text();
    EXPECT_LT(seconds_since(t0), 10.0);
    JsonReply r = running.get();
    EXPECT_EQ(r.status, 200) << r.raw;  // cancelled: answered with what was finished (nothing)
    JsonReply w = waiting.get();
    EXPECT_EQ(w.status, 503) << w.raw;  // answered, not dropped
    EXPECT_NE(w.raw.find("shutting down"), std::string::npos);
}

int64_t rss(httplib::Client& c) { return get_json(c, "/sdapi/v1/memory").body["sdpp"]["rss"].get<int64_t>(); }

TEST_F(ServerLoad, EightClientsTwentyFiveEachWhileOthersPoll) {
    constexpr int kClients = 8, kEach = 25;
    auto s = start({"--max-queue", "16"});
    auto c = s->client();
    const Json body = {{"prompt", "a tiny house"}, {"steps", 1}, {"width", 32}, {"height", 32}, {"cfg_scale", 1}, {"seed", 1}};
    for (int i = 0; i < 5; ++i) ASSERT_EQ(post_json(c, "/sdapi/v1/txt2img", body).status, 200);  // warm-up
    const int64_t rss_warm = rss(c);

    std::atomic<bool> done{false};
    std::atomic<int> polls{0}, poll_errors{0};
    std::vector<std::thread> pollers;
    for (int i = 0; i < 2; ++i)
        pollers.emplace_back([&] {
            auto pc = s->client();
            while (!done) {
                JsonReply p = get_json(pc, "/sdapi/v1/progress");
                ++polls;
                if (p.status != 200) ++poll_errors;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });
    std::vector<std::vector<double>> latencies(kClients);
    std::vector<int> failures(kClients, 0);
    std::vector<std::thread> clients;
    const auto t0 = Clock::now();
    for (int k = 0; k < kClients; ++k)
        clients.emplace_back([&, k] {
            auto cc = s->client();
            for (int i = 0; i < kEach; ++i) {
                Json b = body;
                b["seed"] = k * 100 + i;
                const auto t = Clock::now();
                JsonReply r = post_json(cc, "/sdapi/v1/txt2img", b);
                latencies[size_t(k)].push_back(seconds_since(t));
                if (r.status != 200 || r.body["images"].size() != 1) ++failures[size_t(k)];
            }
        });
    for (auto& t : clients) t.join();
    const double wall = seconds_since(t0);
    done = true;
    for (auto& t : pollers) t.join();

    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    int failed = 0;
    for (int f : failures) failed += f;
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(all.size(), size_t(kClients * kEach));
    EXPECT_EQ(poll_errors, 0);
    const int64_t rss_after = rss(c);
    const double p50 = all[all.size() / 2], p99 = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    std::printf("load: %d clients x %d txt2img 32x32 1 step on sd1-tiny, %d /progress polls: %.2f s wall, "
                "%.1f req/s, latency p50 %.3f s p99 %.3f s; RSS after warm-up %.1f MiB, after %.1f MiB\n",
                kClients, kEach, polls.load(), wall, all.size() / wall, p50, p99, rss_warm / 1048576.0,
                rss_after / 1048576.0);
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed memory resident on purpose
    EXPECT_LT(double(rss_after), double(rss_warm) * 1.10) << "RSS grew under load";
#endif
    EXPECT_EQ(s->terminate(), 0);
}

}  // namespace
