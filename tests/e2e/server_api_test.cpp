// `sdpp serve` end to end, endpoint by endpoint: a real server process on a free loopback port with
// the tiny fixture models, and a real HTTP client. Checks A1111's field names and JSON types, that
// txt2img over HTTP gives the pixels `sdpp generate` gives, every 4xx the API promises (422 naming
// the field, 401, 404, 413), CORS, model listing and switching, png-info and the OpenAI endpoint.
#include "common/cli_run.h"
#include "common/server_process.h"
#include "io/safetensors.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace sdpp;
using namespace sdpp::testing;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string sd1() { return fixture_path("models/sd1-tiny/sd1-tiny.safetensors"); }
std::string sd2() { return fixture_path("models/sd2-tiny-v/sd2-tiny-v.safetensors"); }

Image decode_b64(const std::string& b64, std::string* params = nullptr) {
    std::vector<uint8_t> bytes = base64_decode(b64, "test image");
    return decode_image(bytes.data(), bytes.size(), params);
}

std::string png_b64(const Image& img) {
    GeneratedImage g;
    g.image = img;
    std::vector<uint8_t> png = encode_png(g);
    return base64_encode(png.data(), png.size());
}

// A model file linked into a models folder with its .yaml (the tiny models' head counts).
void link_model(const fs::path& file, const fs::path& dir) {
    fs::create_symlink(file, dir / file.filename());
    fs::path yaml = fs::path(file).replace_extension(".yaml");
    if (fs::exists(yaml)) fs::create_symlink(yaml, dir / yaml.filename());
}

// The small request every test starts from: 64x64, 2 steps.
Json small(Json extra = Json::object()) {
    Json b = {{"prompt", "a red cube"}, {"steps", 2}, {"width", 64}, {"height", 64}, {"seed", 7}};
    b.update(extra);
    return b;
}

class ServerApi : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("sdpp_server_api_" + std::to_string(::getpid()));
        fs::create_directories(dir_ / "models");
        link_model(sd1(), dir_ / "models");
        link_model(sd2(), dir_ / "models");
        make_addons();
        server_ = new ServerProcess({"--models-dir", (dir_ / "models").string(), "-m", sd1(), "--threads", "1",
                                     "--lora-dir", (dir_ / "Lora").string(), "--embeddings-dir",
                                     (dir_ / "embeddings").string()},
                                    dir_.string());
        ASSERT_TRUE(server_->running()) << server_->stderr_text();
    }
    static void TearDownTestSuite() {
        if (server_) EXPECT_EQ(server_->terminate(), 0) << server_->stderr_text();
        delete server_;
        server_ = nullptr;
        fs::remove_all(dir_);
    }
    static httplib::Client client() { return server_->client(); }
    // A random LoRA for the sd1 model, an embedding of its text width, one too wide, one broken.
    static void make_addons() {
        fs::create_directories(dir_ / "Lora");
        fs::create_directories(dir_ / "embeddings");
        CliRun l = run_shell(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " make-random-lora " + shell_quote(sd1()) +
                             " --rank 4 -o " + shell_quote((dir_ / "Lora" / "tinylora.safetensors").string()),
                             dir_.string());
        ASSERT_EQ(l.code, 0) << l.err;
        const SafetensorsFile model = SafetensorsFile::open(sd1());
        const SafetensorsEntry* tok = model.find("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
        ASSERT_TRUE(tok && tok->shape.size() == 2);
        const int64_t w = tok->shape[1];
        save_safetensors((dir_ / "embeddings" / "tinyemb.safetensors").string(), {{"emb_params", Tensor::zeros({2, w})}});
        save_safetensors((dir_ / "embeddings" / "wideemb.safetensors").string(), {{"emb_params", Tensor::zeros({1, w + 8})}});
        std::ofstream((dir_ / "embeddings" / "brokenemb.safetensors").string()) << "not a safetensors file";
    }

    static inline fs::path dir_;
    static inline ServerProcess* server_ = nullptr;
};

void expect_type(const Json& obj, const char* key, Json::value_t t, bool nullable = false) {
    ASSERT_TRUE(obj.contains(key)) << key << " missing in " << obj.dump().substr(0, 300);
    const Json& v = obj[key];
    if (nullable && v.is_null()) return;
    const bool ok = v.type() == t || (t == Json::value_t::number_float && v.is_number()) ||
                    (t == Json::value_t::number_integer && v.is_number_integer());
    EXPECT_TRUE(ok) << key << " is " << v.type_name();
}

TEST_F(ServerApi, Txt2ImgHasA1111FieldsAndTypes) {
    auto c = client();
    JsonReply r = post_json(c, "/sdapi/v1/txt2img", small({{"batch_size", 2}, {"sampler_name", "DPM++ 2M"}}));
    ASSERT_EQ(r.status, 200) << r.raw;
    expect_type(r.body, "images", Json::value_t::array);
    expect_type(r.body, "parameters", Json::value_t::object);
    expect_type(r.body, "info", Json::value_t::string);
    ASSERT_EQ(r.body["images"].size(), 2u);
    const Json info = Json::parse(r.body["info"].get<std::string>());
    using T = Json::value_t;
    for (const char* k : {"prompt", "negative_prompt", "sampler_name", "sd_model_name", "job_timestamp", "version"})
        expect_type(info, k, T::string);
    for (const char* k : {"seed", "subseed", "width", "height", "steps", "batch_size", "index_of_first_image", "clip_skip"})
        expect_type(info, k, T::number_integer);
    for (const char* k : {"all_prompts", "all_negative_prompts", "all_seeds", "all_subseeds", "infotexts", "styles"})
        expect_type(info, k, T::array);
    expect_type(info, "cfg_scale", T::number_float);
    expect_type(info, "subseed_strength", T::number_float);
    expect_type(info, "restore_faces", T::boolean);
    expect_type(info, "is_using_inpainting_conditioning", T::boolean);
    expect_type(info, "extra_generation_params", T::object);
    expect_type(info, "sd_model_hash", T::string, true);
    expect_type(info, "denoising_strength", T::number_float, true);
    EXPECT_EQ(info["seed"], 7);
    EXPECT_EQ(info["all_seeds"], Json::array({7, 8}));
    EXPECT_EQ(info["sampler_name"], "DPM++ 2M");
    EXPECT_EQ(info["sd_model_name"], "sd1-tiny");
    // Each PNG carries its infotext in the "parameters" chunk.
    for (int i = 0; i < 2; ++i) {
        std::string params;
        Image img = decode_b64(r.body["images"][i], &params);
        EXPECT_EQ(img.width, 64);
        EXPECT_EQ(params, info["infotexts"][i].get<std::string>());
    }
    EXPECT_EQ(r.body["parameters"]["prompt"], "a red cube");
    EXPECT_EQ(r.body["parameters"]["steps"], 2);
    // send_images=false: no images, the rest as usual.
    JsonReply none = post_json(c, "/sdapi/v1/txt2img", small({{"send_images", false}}));
    ASSERT_EQ(none.status, 200) << none.raw;
    EXPECT_TRUE(none.body["images"].empty());
    // Fields left out get A1111's API defaults: 50 steps, CFG 7, Euler.
    JsonReply defaults = post_json(c, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"width", 64}, {"height", 64}});
    ASSERT_EQ(defaults.status, 200) << defaults.raw;
    const Json dinfo = Json::parse(defaults.body["info"].get<std::string>());
    EXPECT_EQ(dinfo["steps"], 50);
    EXPECT_EQ(dinfo["cfg_scale"], 7.0);
    EXPECT_EQ(dinfo["sampler_name"], "Euler");
    EXPECT_EQ(defaults.body["parameters"]["steps"], 50);
}

TEST_F(ServerApi, Txt2ImgGivesTheSamePixelsAsGenerate) {
    auto c = client();
    const Json body = small({{"seed", 1234}, {"steps", 3}, {"cfg_scale", 5.5}, {"sampler_name", "Euler a"},
                             {"negative_prompt", "blurry"}, {"n_iter", 2}});
    JsonReply r = post_json(c, "/sdapi/v1/txt2img", body);
    ASSERT_EQ(r.status, 200) << r.raw;
    ASSERT_EQ(r.body["images"].size(), 2u);
    const std::string out = (dir_ / "gen-{index}.png").string();
    CliRun g = run_shell(shell_quote(std::string(SDPP_BINARY_DIR) + "/sdpp") + " generate -m " + shell_quote(sd1()) + " --vocab " +
                             shell_quote(fixture_path("clip/vocab.json")) +
                             " --threads 1 -p 'a red cube' -n blurry -W 64 -H 64 --steps 3 --cfg-scale 5.5"
                             " --sampler 'Euler a' --seed 1234 --batch-count 2 -q --overwrite -o " + shell_quote(out),
                         dir_.string());
    ASSERT_EQ(g.code, 0) << g.err;
    for (int i = 0; i < 2; ++i) {
        Image http = decode_b64(r.body["images"][i]);
        Image cli = load_image((dir_ / ("gen-" + std::to_string(i) + ".png")).string());
        ASSERT_EQ(http.width, cli.width);
        EXPECT_EQ(http.pixels, cli.pixels) << "image " << i;
    }
}

TEST_F(ServerApi, Img2ImgAndInpaint) {
    auto c = client();
    const std::string init = png_b64(Image::blank(64, 64, 3, 128));
    Image mask = Image::blank(64, 64, 1, 0);
    for (int y = 16; y < 48; ++y)
        for (int x = 16; x < 48; ++x) mask.at(x, y) = 255;
    JsonReply r = post_json(c, "/sdapi/v1/img2img",
                            small({{"init_images", {init}}, {"denoising_strength", 0.5}}));
    ASSERT_EQ(r.status, 200) << r.raw;
    ASSERT_EQ(r.body["images"].size(), 1u);
    EXPECT_TRUE(r.body["parameters"]["init_images"].is_null());  // A1111 leaves them out of the echo
    const Json info = Json::parse(r.body["info"].get<std::string>());
    EXPECT_FLOAT_EQ(info["denoising_strength"].get<float>(), 0.5f);
    JsonReply in = post_json(c, "/sdapi/v1/img2img",
                             small({{"init_images", {init}}, {"mask", png_b64(mask)}, {"inpainting_fill", 1},
                                    {"inpaint_full_res", false}, {"mask_blur", 2}}));
    ASSERT_EQ(in.status, 200) << in.raw;
    // Outside the mask the original is pasted back.
    Image out = decode_b64(in.body["images"][0]);
    EXPECT_EQ(out.at(2, 2, 0), 128);
    // Every masked-content mode runs (A1111's inpainting_fill 0-3); a mode that is not one is a 422.
    for (int mode : {0, 2, 3}) {
        JsonReply m = post_json(c, "/sdapi/v1/img2img",
                                small({{"init_images", {init}}, {"mask", png_b64(mask)}, {"inpainting_fill", mode}}));
        ASSERT_EQ(m.status, 200) << m.raw;
        EXPECT_EQ(m.body["images"].size(), 1u);
    }
    JsonReply bad = post_json(c, "/sdapi/v1/img2img",
                              small({{"init_images", {init}}, {"mask", png_b64(mask)}, {"inpainting_fill", 7}}));
    EXPECT_EQ(bad.status, 422) << bad.raw;
    EXPECT_NE(bad.raw.find("inpainting_fill"), std::string::npos) << bad.raw;
    JsonReply missing = post_json(c, "/sdapi/v1/img2img", small());
    EXPECT_EQ(missing.status, 422);
    EXPECT_NE(missing.raw.find("init_images"), std::string::npos) << missing.raw;
}

TEST_F(ServerApi, UnimplementedFieldsAreAcceptedAndNamed) {
    auto c = client();
    JsonReply r = post_json(c, "/sdapi/v1/txt2img",
                            small({{"restore_faces", true}, {"enable_hr", true}, {"hr_scale", 2}, {"tiling", false},
                                   {"styles", Json::array()}, {"save_images", true}, {"some_extension_field", 1},
                                   {"override_settings", {{"eta_noise_seed_delta", 31337}, {"CLIP_stop_at_last_layers", 2}}}}));
    ASSERT_EQ(r.status, 200) << r.raw;
    const Json info = Json::parse(r.body["info"].get<std::string>());
    const Json nh = info["not_honoured"];
    for (const char* f : {"restore_faces", "save_images", "some_extension_field",
                          "override_settings.eta_noise_seed_delta"})
        EXPECT_NE(std::find(nh.begin(), nh.end(), Json(f)), nh.end()) << f << " in " << nh.dump();
    // enable_hr runs A1111's hires fix: the picture is twice the size and the infotext says so.
    EXPECT_NE(info["infotexts"][0].get<std::string>().find("Hires upscale: 2"), std::string::npos) << info.dump();
    const Image hi = decode_b64(r.body["images"][0]);
    EXPECT_EQ(hi.width, 2 * info["width"].get<int>());
    for (const char* f : {"tiling", "styles", "hr_scale", "enable_hr"})  // at their "off" value, or honoured
        EXPECT_EQ(std::find(nh.begin(), nh.end(), Json(f)), nh.end()) << f << " in " << nh.dump();
    EXPECT_EQ(info["clip_skip"], 2);
}

TEST_F(ServerApi, LoraTagsAndEmbeddingsInPromptsAreApplied) {
    auto c = client();
    JsonReply plain = post_json(c, "/sdapi/v1/txt2img", small());
    JsonReply r = post_json(c, "/sdapi/v1/txt2img", small({{"prompt", "a red cube tinyemb <lora:tinylora:0.7>"}}));
    ASSERT_EQ(r.status, 200) << r.raw;
    const std::string it = Json::parse(r.body["info"].get<std::string>())["infotexts"][0].get<std::string>();
    EXPECT_NE(it.find("<lora:tinylora:0.7>"), std::string::npos) << it;  // the infotext keeps the tag
    EXPECT_NE(it.find("Lora hashes: \"tinylora: "), std::string::npos) << it;
    EXPECT_NE(it.find("TI hashes: \"tinyemb: "), std::string::npos) << it;
    EXPECT_NE(r.body["images"][0], plain.body["images"][0]);
    JsonReply missing = post_json(c, "/sdapi/v1/txt2img", small({{"prompt", "a <lora:nosuchlora:1>"}}));
    EXPECT_EQ(missing.status, 422) << missing.raw;
    EXPECT_NE(missing.raw.find("nosuchlora"), std::string::npos) << missing.raw;
}

TEST_F(ServerApi, BadInputGets422NamingTheField) {
    auto c = client();
    const std::string not_image = base64_encode(reinterpret_cast<const uint8_t*>("hello world"), 11);
    const std::string init = png_b64(Image::blank(64, 64, 3, 128));
    struct Case {
        const char* path;
        std::string body;
        const char* names;
    };
    const std::vector<Case> cases = {
        {"/sdapi/v1/txt2img", "{\"prompt\": \"x\",", "JSON"},
        {"/sdapi/v1/txt2img", "[1, 2]", "object"},
        {"/sdapi/v1/txt2img", small({{"steps", "many"}}).dump(), "steps"},
        {"/sdapi/v1/txt2img", small({{"steps", 0}}).dump(), "steps"},
        {"/sdapi/v1/txt2img", small({{"steps", 100000}}).dump(), "steps"},
        {"/sdapi/v1/txt2img", small({{"width", 4}}).dump(), "width"},
        {"/sdapi/v1/txt2img", small({{"width", 100}}).dump(), "width"},
        {"/sdapi/v1/txt2img", small({{"height", 99999}}).dump(), "height"},
        {"/sdapi/v1/txt2img", small({{"batch_size", 1000}}).dump(), "batch_size"},
        {"/sdapi/v1/txt2img", small({{"n_iter", 0}}).dump(), "n_iter"},
        {"/sdapi/v1/txt2img", small({{"cfg_scale", 1000}}).dump(), "cfg_scale"},
        {"/sdapi/v1/txt2img", small({{"seed", "abc"}}).dump(), "seed"},
        {"/sdapi/v1/txt2img", small({{"prompt", 5}}).dump(), "prompt"},
        {"/sdapi/v1/txt2img", small({{"sampler_name", "Nonexistent Sampler"}}).dump(), "sampler_name"},
        {"/sdapi/v1/txt2img", small({{"scheduler", "wobbly"}}).dump(), "scheduler"},
        {"/sdapi/v1/txt2img", small({{"send_images", "yes"}}).dump(), "send_images"},
        {"/sdapi/v1/txt2img", small({{"override_settings", {{"sd_model_checkpoint", "../../etc/passwd"}}}}).dump(),
         "sd_model_checkpoint"},
        {"/sdapi/v1/img2img", small({{"init_images", {"!!!not base64!!!"}}}).dump(), "init_images"},
        {"/sdapi/v1/img2img", small({{"init_images", {not_image}}}).dump(), "init_images"},
        {"/sdapi/v1/img2img", small({{"init_images", init}}).dump(), "init_images"},
        {"/sdapi/v1/img2img", small({{"init_images", {init}}, {"mask", not_image}}).dump(), "mask"},
        {"/sdapi/v1/img2img", small({{"init_images", {init}}, {"denoising_strength", 2}}).dump(), "denoising_strength"},
        {"/v1/images/generations", Json{{"prompt", "x"}, {"size", "64by64"}}.dump(), "size"},
        {"/v1/images/generations", Json{{"prompt", "x"}, {"n", 0}}.dump(), "n"},
        {"/v1/images/generations", Json{{"n", 1}}.dump(), "prompt"},
        {"/v1/images/generations", Json{{"prompt", "x"}, {"response_format", "url"}}.dump(), "response_format"},
        {"/sdapi/v1/options", Json{{"sd_model_checkpoint", "../sd1-tiny"}}.dump(), "sd_model_checkpoint"},
        {"/sdapi/v1/options", Json{{"sd_model_checkpoint", "/etc/passwd"}}.dump(), "sd_model_checkpoint"},
        {"/sdapi/v1/options", Json{{"CLIP_stop_at_last_layers", 99}}.dump(), "CLIP_stop_at_last_layers"},
        {"/sdapi/v1/png-info", Json{{"image", "%%%"}}.dump(), "image"},
        {"/sdapi/v1/png-info", Json{{"image", not_image}}.dump(), "image"},
        {"/sdapi/v1/png-info", Json{{"picture", "x"}}.dump(), "image"},
    };
    for (const Case& k : cases) {
        JsonReply r = post_raw(c, k.path, k.body);
        EXPECT_EQ(r.status, 422) << k.path << " " << k.body.substr(0, 120) << " -> " << r.raw;
        ASSERT_TRUE(r.body.is_object() && r.body.contains("detail")) << r.raw;
        EXPECT_NE(r.body["detail"].get<std::string>().find(k.names), std::string::npos)
            << k.body.substr(0, 120) << " -> " << r.raw;
    }
    // The server is still fine.
    EXPECT_EQ(post_json(c, "/sdapi/v1/txt2img", small()).status, 200);
    JsonReply nf = get_json(c, "/sdapi/v1/no-such-route");
    EXPECT_EQ(nf.status, 404);
    EXPECT_TRUE(nf.body.contains("detail")) << nf.raw;
}

TEST_F(ServerApi, ProgressShape) {
    auto c = client();
    JsonReply p = get_json(c, "/sdapi/v1/progress");
    ASSERT_EQ(p.status, 200) << p.raw;
    using T = Json::value_t;
    expect_type(p.body, "progress", T::number_float);
    expect_type(p.body, "eta_relative", T::number_float);
    expect_type(p.body, "state", T::object);
    expect_type(p.body, "current_image", T::string, true);
    const Json& s = p.body["state"];
    for (const char* k : {"skipped", "interrupted"}) expect_type(s, k, T::boolean);
    for (const char* k : {"job", "job_timestamp"}) expect_type(s, k, T::string);
    for (const char* k : {"job_count", "job_no", "sampling_step", "sampling_steps"}) expect_type(s, k, T::number_integer);
}

TEST_F(ServerApi, InformationRoutes) {
    auto c = client();
    using T = Json::value_t;
    JsonReply models = get_json(c, "/sdapi/v1/sd-models");
    ASSERT_EQ(models.status, 200);
    ASSERT_EQ(models.body.size(), 2u) << models.raw;
    for (const Json& m : models.body) {
        for (const char* k : {"title", "model_name", "filename"}) expect_type(m, k, T::string);
        expect_type(m, "hash", T::string, true);
        expect_type(m, "sha256", T::string, true);
        EXPECT_TRUE(m.contains("config"));
    }
    JsonReply samplers = get_json(c, "/sdapi/v1/samplers");
    ASSERT_EQ(samplers.status, 200);
    bool has_dpm = false;
    for (const Json& s : samplers.body) {
        expect_type(s, "name", T::string);
        expect_type(s, "aliases", T::array);
        expect_type(s, "options", T::object);
        has_dpm = has_dpm || s["name"] == "DPM++ 2M";
    }
    EXPECT_TRUE(has_dpm) << samplers.raw;
    JsonReply sched = get_json(c, "/sdapi/v1/schedulers");
    ASSERT_EQ(sched.status, 200);
    for (const Json& s : sched.body) {
        expect_type(s, "name", T::string);
        expect_type(s, "label", T::string);
    }
    EXPECT_TRUE(get_json(c, "/sdapi/v1/upscalers").body.is_array());
    JsonReply loras = get_json(c, "/sdapi/v1/loras");
    ASSERT_EQ(loras.body.size(), 1u) << loras.raw;
    EXPECT_EQ(loras.body[0]["name"], "tinylora");
    expect_type(loras.body[0], "alias", T::string);
    expect_type(loras.body[0], "path", T::string);
    JsonReply emb = get_json(c, "/sdapi/v1/embeddings");
    expect_type(emb.body, "loaded", T::object);
    expect_type(emb.body, "skipped", T::object);
    ASSERT_TRUE(emb.body["loaded"].contains("tinyemb")) << emb.raw;
    EXPECT_EQ(emb.body["loaded"]["tinyemb"]["vectors"], 2);
    EXPECT_TRUE(emb.body["skipped"].contains("wideemb")) << emb.raw;
    EXPECT_TRUE(emb.body["skipped"].contains("brokenemb")) << emb.raw;
    EXPECT_EQ(get_json(c, "/sdapi/v1/latent-upscale-modes").body.size(), 6u);
    JsonReply mem = get_json(c, "/sdapi/v1/memory");
    expect_type(mem.body, "ram", T::object);
    for (const char* k : {"free", "used", "total"}) expect_type(mem.body["ram"], k, T::number_integer);
    expect_type(mem.body, "cuda", T::object);
    JsonReply flags = get_json(c, "/sdapi/v1/cmd-flags");
    expect_type(flags.body, "port", T::number_integer);
    expect_type(flags.body, "api", T::boolean);
    JsonReply opts = get_json(c, "/sdapi/v1/options");
    expect_type(opts.body, "sd_model_checkpoint", T::string);
    expect_type(opts.body, "CLIP_stop_at_last_layers", T::number_integer);
    EXPECT_TRUE(get_json(c, "/sdapi/v1/sd-vae").body.is_array());
    for (const char* path : {"/sdapi/v1/prompt-styles", "/sdapi/v1/face-restorers",
                             "/sdapi/v1/hypernetworks", "/sdapi/v1/realesrgan-models", "/sdapi/v1/extensions",
                             "/sdapi/v1/sd-modules", "/sdapi/v1/script-info"})
        EXPECT_TRUE(get_json(c, path).body.is_array()) << path;
    EXPECT_TRUE(get_json(c, "/sdapi/v1/scripts").body["txt2img"].is_array());
    EXPECT_EQ(get_json(c, "/internal/ping").status, 200);
    for (const char* path : {"/sdapi/v1/refresh-checkpoints", "/sdapi/v1/refresh-loras", "/sdapi/v1/refresh-embeddings"})
        EXPECT_EQ(post_json(c, path, Json::object()).status, 200) << path;
    // The page is served at /.
    auto page = c.Get("/");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(page->body.find("<html"), std::string::npos);
}

TEST_F(ServerApi, ModelSwitchAndOverride) {
    auto c = client();
    // Switch through options; the old model is freed and the new one runs.
    JsonReply set = post_json(c, "/sdapi/v1/options", {{"sd_model_checkpoint", "sd2-tiny-v"}});
    ASSERT_EQ(set.status, 200) << set.raw;
    EXPECT_EQ(get_json(c, "/sdapi/v1/options").body["sd_model_checkpoint"].get<std::string>().rfind("sd2-tiny-v.safetensors", 0), 0u);
    JsonReply r = post_json(c, "/sdapi/v1/txt2img", small());
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(Json::parse(r.body["info"].get<std::string>())["sd_model_name"], "sd2-tiny-v");
    // A per-request override, by title; afterwards the selected model is back.
    JsonReply o = post_json(c, "/sdapi/v1/txt2img", small({{"override_settings", {{"sd_model_checkpoint", "sd1-tiny.safetensors"}}}}));
    ASSERT_EQ(o.status, 200) << o.raw;
    EXPECT_EQ(Json::parse(o.body["info"].get<std::string>())["sd_model_name"], "sd1-tiny");
    JsonReply after = post_json(c, "/sdapi/v1/txt2img", small());
    EXPECT_EQ(Json::parse(after.body["info"].get<std::string>())["sd_model_name"], "sd2-tiny-v");
    // A model added to the folder appears after refresh-checkpoints.
    fs::create_symlink(sd1(), dir_ / "models" / "copy.safetensors");
    fs::create_symlink(fs::path(sd1()).replace_extension(".yaml"), dir_ / "models" / "copy.yaml");
    ASSERT_EQ(post_json(c, "/sdapi/v1/refresh-checkpoints", Json::object()).status, 200);
    EXPECT_EQ(get_json(c, "/sdapi/v1/sd-models").body.size(), 3u);
    fs::remove(dir_ / "models" / "copy.safetensors");
    fs::remove(dir_ / "models" / "copy.yaml");
    post_json(c, "/sdapi/v1/refresh-checkpoints", Json::object());
    ASSERT_EQ(post_json(c, "/sdapi/v1/options", {{"sd_model_checkpoint", "sd1-tiny"}}).status, 200);
}

TEST_F(ServerApi, PngInfoReadsTheParameters) {
    auto c = client();
    JsonReply r = post_json(c, "/sdapi/v1/txt2img", small({{"seed", 99}}));
    ASSERT_EQ(r.status, 200);
    JsonReply info = post_json(c, "/sdapi/v1/png-info", {{"image", r.body["images"][0]}});
    ASSERT_EQ(info.status, 200) << info.raw;
    EXPECT_EQ(info.body["info"], Json::parse(r.body["info"].get<std::string>())["infotexts"][0]);
    EXPECT_EQ(info.body["items"]["parameters"], info.body["info"]);
    EXPECT_EQ(info.body["parameters"]["Seed"], 99);
    EXPECT_EQ(info.body["parameters"]["Steps"], 2);
}

TEST_F(ServerApi, OpenAIImages) {
    auto c = client();
    JsonReply r = post_json(c, "/v1/images/generations",
                            {{"prompt", "a blue sphere"}, {"n", 2}, {"size", "64x64"}, {"response_format", "b64_json"},
                             {"model", "whatever"}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_TRUE(r.body["created"].is_number_integer());
    ASSERT_EQ(r.body["data"].size(), 2u);
    Image img = decode_b64(r.body["data"][0]["b64_json"]);
    EXPECT_EQ(img.width, 64);
}

// Servers with other options: one each.
class ServerOptions : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sdpp_server_opt_" + std::to_string(::getpid()) + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(ServerOptions, BasicAuthOnEveryRoute) {
    ServerProcess s({"-m", sd1(), "--threads", "1", "--api-auth", "alice:secret,bob:hunter2"}, dir_.string());
    ASSERT_TRUE(s.running()) << s.stderr_text();
    auto c = s.client();
    for (const char* path : {"/", "/sdapi/v1/options", "/sdapi/v1/progress", "/sdapi/v1/sd-models"}) {
        auto r = c.Get(path);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401) << path;
        EXPECT_NE(r->get_header_value("WWW-Authenticate").find("Basic"), std::string::npos);
    }
    EXPECT_EQ(post_json(c, "/sdapi/v1/txt2img", small()).status, 401);
    c.set_basic_auth("alice", "wrong");
    EXPECT_EQ(get_json(c, "/sdapi/v1/options").status, 401);
    c.set_basic_auth("alice", "secre");
    EXPECT_EQ(get_json(c, "/sdapi/v1/options").status, 401);
    c.set_basic_auth("alice", "secret");
    EXPECT_EQ(get_json(c, "/sdapi/v1/options").status, 200);
    EXPECT_EQ(post_json(c, "/sdapi/v1/txt2img", small()).status, 200);
    c.set_basic_auth("bob", "hunter2");
    EXPECT_EQ(c.Get("/")->status, 200);
    EXPECT_EQ(get_json(c, "/sdapi/v1/cmd-flags").raw.find("secret"), std::string::npos);  // never shown
    EXPECT_EQ(s.terminate(), 0);
    // The same from $SDPP_API_AUTH.
    setenv("SDPP_API_AUTH", "carol:pw", 1);
    ServerProcess e({"-m", sd1(), "--threads", "1"}, dir_.string());
    unsetenv("SDPP_API_AUTH");
    ASSERT_TRUE(e.running()) << e.stderr_text();
    auto ce = e.client();
    EXPECT_EQ(get_json(ce, "/sdapi/v1/options").status, 401);
    ce.set_basic_auth("carol", "pw");
    EXPECT_EQ(get_json(ce, "/sdapi/v1/options").status, 200);
    EXPECT_EQ(e.terminate(), 0);
}

TEST_F(ServerOptions, CorsAndBodyLimit) {
    ServerProcess s({"-m", sd1(), "--threads", "1", "--cors-allow-origins", "http://allowed.example",
                     "--max-body-mb", "1"},
                    dir_.string());
    ASSERT_TRUE(s.running()) << s.stderr_text();
    auto c = s.client();
    auto pre = c.Options("/sdapi/v1/txt2img", {{"Origin", "http://allowed.example"},
                                               {"Access-Control-Request-Method", "POST"},
                                               {"Access-Control-Request-Headers", "content-type"}});
    ASSERT_TRUE(pre);
    EXPECT_EQ(pre->status, 204);
    EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://allowed.example");
    EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
    auto ok = c.Get("/sdapi/v1/options", {{"Origin", "http://allowed.example"}});
    EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "http://allowed.example");
    auto other = c.Get("/sdapi/v1/options", {{"Origin", "http://evil.example"}});
    EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
    // A body over --max-body-mb: 413, and the server goes on.
    const std::string big = "{\"prompt\": \"" + std::string(2 << 20, 'a') + "\"}";
    auto r = c.Post("/sdapi/v1/txt2img", big, "application/json");
    if (r) EXPECT_EQ(r->status, 413);  // (the server may close before the client finished sending)
    auto c2 = s.client();
    EXPECT_EQ(post_json(c2, "/sdapi/v1/txt2img", small()).status, 200);
    EXPECT_EQ(s.terminate(), 0);
}

TEST_F(ServerOptions, BadStartOptionsExit2) {
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"-m", (dir_ / "missing.safetensors").string()},
             {"--models-dir", (dir_ / "no-such-dir").string()},
             {"-m", sd1(), "--api-auth", "nocolon"},
             {"-m", sd1(), "--max-queue", "-1"}}) {
        ServerProcess s(args, dir_.string());
        EXPECT_FALSE(s.running());
        EXPECT_EQ(s.terminate(), 2) << s.stderr_text();
        EXPECT_NE(s.stderr_text().find("error:"), std::string::npos) << s.stderr_text();
    }
}

}  // namespace
