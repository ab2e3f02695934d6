// Hub client pieces that need no server: file selection for diffusers repos, the tree and Link
// parsers, path/repo validation, cache layout.
#include "hub/cache.h"
#include "hub/hub_api.h"
#include "hub/select.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace sdpp;
using namespace sdpp::hub;

namespace {

std::vector<RepoFile> listing(std::initializer_list<const char*> paths) {
    std::vector<RepoFile> v;
    for (const char* p : paths) v.push_back({p, 10, ""});
    return v;
}
std::vector<std::string> paths_of(const std::vector<RepoFile>& files) {
    std::vector<std::string> v;
    for (const auto& f : files) v.push_back(f.path);
    std::sort(v.begin(), v.end());
    return v;
}

// The layout of a typical SD repo on the hub (sd-turbo/SD 2.1 style), with every kind of file
// sdpp must leave alone.
std::vector<RepoFile> sd_repo() {
    return listing({"model_index.json", "README.md", ".gitattributes", "sd_turbo.safetensors", "image.png",
                    "feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json",
                    "text_encoder/config.json", "text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors",
                    "text_encoder/pytorch_model.bin", "text_encoder/flax_model.msgpack",
                    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json",
                    "tokenizer/vocab.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                    "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin",
                    "unet/diffusion_flax_model.msgpack", "unet/model.onnx", "vae/config.json",
                    "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors",
                    "vae_decoder/model.onnx", "safety_checker/config.json", "safety_checker/model.safetensors"});
}

}  // namespace

TEST(HubSelect, Fp16VariantPreferred) {
    auto got = paths_of(select_diffusers_files(sd_repo(), "fp16"));
    std::vector<std::string> want = {"model_index.json",
                                     "safety_checker/config.json",
                                     "scheduler/scheduler_config.json",
                                     "text_encoder/config.json",
                                     "text_encoder/model.fp16.safetensors",
                                     "tokenizer/merges.txt",
                                     "tokenizer/special_tokens_map.json",
                                     "tokenizer/tokenizer_config.json",
                                     "tokenizer/vocab.json",
                                     "unet/config.json",
                                     "unet/diffusion_pytorch_model.fp16.safetensors",
                                     "vae/config.json",
                                     "vae/diffusion_pytorch_model.fp16.safetensors"};
    EXPECT_EQ(got, want);
}

TEST(HubSelect, FullPrecisionWhenNoVariant) {
    auto got = paths_of(select_diffusers_files(sd_repo(), ""));
    EXPECT_TRUE(std::count(got.begin(), got.end(), "unet/diffusion_pytorch_model.safetensors"));
    EXPECT_TRUE(std::count(got.begin(), got.end(), "text_encoder/model.safetensors"));
    for (const auto& p : got) EXPECT_EQ(p.find("fp16"), std::string::npos) << p;
}

TEST(HubSelect, FallsBackToFullThenBin) {
    auto files = listing({"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                          "text_encoder/config.json", "text_encoder/pytorch_model.bin",
                          "text_encoder/flax_model.msgpack"});
    std::vector<std::string> notes;
    auto got = paths_of(select_diffusers_files(files, "fp16", &notes));
    EXPECT_TRUE(std::count(got.begin(), got.end(), "unet/diffusion_pytorch_model.safetensors"));
    EXPECT_TRUE(std::count(got.begin(), got.end(), "text_encoder/pytorch_model.bin"));
    EXPECT_FALSE(std::count(got.begin(), got.end(), "text_encoder/flax_model.msgpack"));
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_NE(notes[0].find("text_encoder"), std::string::npos) << notes[0];
}

TEST(HubSelect, ShardedIndexIsSelectedNotLooseShards) {
    auto files = listing({"model_index.json", "unet/config.json",
                          "unet/diffusion_pytorch_model.safetensors.index.json",
                          "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                          "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                          "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                          "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                          "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"});
    auto got = paths_of(select_diffusers_files(files, "fp16"));
    EXPECT_EQ(got, (std::vector<std::string>{"model_index.json", "unet/config.json",
                                             "unet/diffusion_pytorch_model.safetensors.index.fp16.json"}));
    got = paths_of(select_diffusers_files(files, ""));
    EXPECT_EQ(got, (std::vector<std::string>{"model_index.json", "unet/config.json",
                                             "unet/diffusion_pytorch_model.safetensors.index.json"}));
    EXPECT_TRUE(is_shard_index("model.safetensors.index.fp16.json"));
    EXPECT_FALSE(is_shard_index("model_index.json"));
}

TEST(HubSelect, ComponentWithoutWeightsIsAnError) {
    auto files = listing({"model_index.json", "unet/config.json", "unet/model.onnx"});
    EXPECT_THROW(select_diffusers_files(files, "fp16"), Error);
    EXPECT_THROW(select_diffusers_files(listing({"unet/config.json"}), "fp16"), Error);  // no model_index.json
    EXPECT_THROW(select_diffusers_files(listing({"model_index.json"}), "fp/16"), Error);
}

TEST(HubSelect, SingleCheckpoint) {
    EXPECT_EQ(select_single_checkpoint(listing({"README.md", "m.ckpt", "m.safetensors", "sub/x.safetensors"}), "a/b").path,
              "m.safetensors");
    EXPECT_EQ(select_single_checkpoint(listing({"README.md", "m.ckpt"}), "a/b").path, "m.ckpt");
    try {
        select_single_checkpoint(listing({"a.safetensors", "b.safetensors"}), "o/r");
        FAIL() << "two checkpoints must be ambiguous";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("sdpp pull o/r FILE"), std::string::npos) << m;
        EXPECT_NE(m.find("a.safetensors, b.safetensors"), std::string::npos) << m;
    }
    EXPECT_THROW(select_single_checkpoint(listing({"README.md"}), "o/r"), Error);
}

TEST(HubSelect, ShardsFromIndex) {
    std::string idx = R"({"metadata":{"total_size":10},"weight_map":{"a":"m-00002-of-00002.safetensors",
                          "b":"m-00001-of-00002.safetensors","c":"m-00001-of-00002.safetensors"}})";
    EXPECT_EQ(shards_from_index(idx, "i"),
              (std::vector<std::string>{"m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors"}));
    EXPECT_THROW(shards_from_index(R"({"weight_map":{"a":"../evil.safetensors"}})", "i"), Error);
    EXPECT_THROW(shards_from_index(R"({"weight_map":{"a":"sub/x.safetensors"}})", "i"), Error);
    EXPECT_THROW(shards_from_index(R"({"weight_map":{}})", "i"), Error);
    EXPECT_THROW(shards_from_index("not json", "i"), Error);
}

TEST(HubApi, ParseTreePage) {
    std::string sha(64, 'A');
    std::string page = R"([{"type":"directory","oid":"x","size":0,"path":"unet"},
        {"type":"file","oid":"abc","size":12,"path":"unet/config.json"},
        {"type":"file","oid":"def","size":5000,"path":"unet/w.safetensors",
         "lfs":{"oid":")" + sha + R"(","size":5000,"pointerSize":134},"xetHash":"zz"}])";
    auto files = parse_tree_page(page);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].path, "unet/config.json");
    EXPECT_EQ(files[0].size, 12);
    EXPECT_EQ(files[0].sha256, "");
    EXPECT_EQ(files[1].size, 5000);
    EXPECT_EQ(files[1].sha256, std::string(64, 'a'));
    EXPECT_THROW(parse_tree_page(R"({"error":"x"})"), Error);
    EXPECT_THROW(parse_tree_page(R"([{"type":"file","path":"a","lfs":{"oid":"123"}}])"), Error);
}

TEST(HubApi, NextLink) {
    EXPECT_EQ(next_link(R"(<https://h/api/models/a/b/tree/main?cursor=xyz>; rel="next")"),
              "https://h/api/models/a/b/tree/main?cursor=xyz");
    EXPECT_EQ(next_link(R"(<https://h/p1>; rel="prev", <https://h/p3>; rel="next")"), "https://h/p3");
    EXPECT_EQ(next_link(R"(<https://h/p1>; rel="prev")"), "");
    EXPECT_EQ(next_link(""), "");
}

TEST(HubApi, Validation) {
    EXPECT_NO_THROW(check_repo_id("stabilityai/sd-turbo"));
    EXPECT_NO_THROW(check_repo_id("gpt2"));
    for (const char* bad : {"", "a/b/c", "../x", "a/..", "a b/c", "a/b?x", "/b", "a/", "a--b/c"})
        EXPECT_THROW(check_repo_id(bad), Error) << bad;
    EXPECT_NO_THROW(check_repo_path("unet/diffusion_pytorch_model.safetensors"));
    for (const char* bad : {"", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b", "a/"})
        EXPECT_THROW(check_repo_path(bad), Error) << bad;
    EXPECT_NO_THROW(check_revision("refs/pr/1"));
    EXPECT_THROW(check_revision("../main"), Error);
}

TEST(HubApi, Urls) {
    HubConfig cfg;
    cfg.endpoint = "http://127.0.0.1:9";
    EXPECT_EQ(tree_url(cfg, "a/b", "refs/pr/1"), "http://127.0.0.1:9/api/models/a/b/tree/refs%2Fpr%2F1?recursive=true");
    EXPECT_EQ(resolve_url(cfg, "a/b", "main", "unet/x y.safetensors"),
              "http://127.0.0.1:9/a/b/resolve/main/unet/x%20y.safetensors");
    cfg.cache_dir = "/c";
    EXPECT_EQ(repo_cache_dir(cfg, "stabilityai/sd-turbo", "main"), "/c/models/stabilityai--sd-turbo/main");
    EXPECT_EQ(repo_cache_dir(cfg, "a/b", "refs/pr/1"), "/c/models/a--b/refs--pr--1");
}

TEST(HubApi, ConfigFromEnv) {
    setenv("SDPP_HUB_ENDPOINT", "http://127.0.0.1:1234/", 1);
    setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
    setenv("HF_TOKEN", "tok", 1);
    HubConfig cfg = hub_config_from_env();
    EXPECT_EQ(cfg.endpoint, "http://127.0.0.1:1234");
    EXPECT_EQ(cfg.cache_dir, "/tmp/xdg-test/sdpp");
    EXPECT_EQ(cfg.http.token, "tok");
    unsetenv("SDPP_HUB_ENDPOINT");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HF_TOKEN");
    setenv("HOME", "/home/x", 1);
    cfg = hub_config_from_env();
    EXPECT_EQ(cfg.endpoint, "https://huggingface.co");
    EXPECT_EQ(cfg.cache_dir, "/home/x/.cache/sdpp");
    setenv("SDPP_HUB_ENDPOINT", "ftp://x", 1);
    EXPECT_THROW(hub_config_from_env(), Error);
    unsetenv("SDPP_HUB_ENDPOINT");
}
