// The server's pure parts, without a process: A1111/OpenAI bodies -> JobSpec (defaults, the
// fields sdpp does not honour, 422 messages naming the field), Basic auth, the model catalog's
// refusal of names outside --models-dir, and the latent preview.
#include "server/a1111_request.h"
#include "server/auth.h"
#include "server/model_catalog.h"
#include "server/preview.h"

#include "common/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace sdpp;
using namespace sdpp::server;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::string& body, Endpoint e = Endpoint::Txt2Img) {
    try {
        if (e == Endpoint::OpenAIImages) parse_openai_body(body);
        else parse_a1111_body(body, e);
    } catch (const Error& err) {
        return err.what();
    }
    return "";
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(ServerRequest, Txt2ImgFields) {
    JobSpec s = parse_a1111_body(R"({"prompt":"a","negative_prompt":"b","seed":5,"steps":3,"width":64,"height":128,
        "cfg_scale":4.5,"sampler_name":"DPM++ 2M Karras","batch_size":2,"n_iter":3,"send_images":false,
        "override_settings":{"sd_model_checkpoint":"m.safetensors","CLIP_stop_at_last_layers":2},
        "override_settings_restore_afterwards":false})", Endpoint::Txt2Img);
    EXPECT_EQ(s.request.prompt, "a");
    EXPECT_EQ(s.request.negative_prompt, "b");
    EXPECT_EQ(s.request.seed, 5);
    EXPECT_EQ(s.request.steps, 3);
    EXPECT_EQ(s.request.width, 64);
    EXPECT_EQ(s.request.height, 128);
    EXPECT_FLOAT_EQ(*s.request.cfg_scale, 4.5f);
    EXPECT_EQ(s.request.batch_size, 2);
    EXPECT_EQ(s.request.batch_count, 3);
    EXPECT_EQ(s.request.clip_skip, 2);
    EXPECT_TRUE(s.clip_skip_given);
    EXPECT_FALSE(s.send_images);
    EXPECT_EQ(s.checkpoint, "m.safetensors");
    EXPECT_FALSE(s.restore_checkpoint);
    EXPECT_TRUE(s.not_honoured.empty());
    EXPECT_EQ(s.parameters["sampler_index"], "Euler");  // A1111's defaults fill the echo
}

TEST(ServerRequest, SamplerIndexWhenSamplerNameIsEmpty) {
    EXPECT_EQ(parse_a1111_body(R"({"sampler_name":"","sampler_index":"Euler a"})", Endpoint::Txt2Img).request.sampler, "Euler a");
    EXPECT_EQ(parse_a1111_body(R"({"sampler_name":null,"sampler_index":"DDIM"})", Endpoint::Txt2Img).request.sampler, "DDIM");
    EXPECT_EQ(parse_a1111_body(R"({"sampler_name":"Heun","sampler_index":"DDIM"})", Endpoint::Txt2Img).request.sampler, "Heun");
}

TEST(ServerRequest, FieldsAtTheirOffValueAreNotReported) {
    JobSpec s = parse_a1111_body(R"({"prompt":"a","restore_faces":false,"tiling":false,"styles":[],"script_args":[],
        "alwayson_scripts":{},"enable_hr":false,"hr_scale":2,"hr_upscaler":"Latent","s_noise":1,"seed_resize_from_h":-1,
        "denoising_strength":0.7,"eta":null,"do_not_save_samples":false})", Endpoint::Txt2Img);
    EXPECT_TRUE(s.not_honoured.empty()) << s.not_honoured.front();
    JobSpec t = parse_a1111_body(R"({"restore_faces":true,"tiling":true,"enable_hr":true,"hr_scale":2,"save_images":true,
        "styles":["x"],"my_extension":{"a":1},"override_settings":{"sd_vae":"x","eta_noise_seed_delta":31337}})", Endpoint::Txt2Img);
    for (const char* f : {"restore_faces", "tiling", "save_images", "styles", "my_extension",
                          "override_settings.sd_vae", "override_settings.eta_noise_seed_delta"})
        EXPECT_TRUE(has(t.not_honoured, f)) << f;
    EXPECT_FALSE(has(t.not_honoured, "hr_scale"));
    EXPECT_FALSE(has(t.not_honoured, "enable_hr"));  // the hires fix runs
}

TEST(ServerRequest, HiresFixFieldsReachTheRequest) {
    JobSpec s = parse_a1111_body(R"J({"prompt":"a","width":64,"height":64,"enable_hr":true,"hr_scale":1.5,
        "hr_upscaler":"Latent (nearest)","hr_second_pass_steps":3,"denoising_strength":0.4,
        "hr_sampler_name":"Use same sampler","hr_checkpoint_name":"Use same checkpoint","hr_scheduler":"Use same scheduler",
        "hr_prompt":"b","hr_negative_prompt":"","hr_additional_modules":["Use same choices"],"firstphase_width":0})J",
                                 Endpoint::Txt2Img);
    EXPECT_TRUE(s.not_honoured.empty()) << s.not_honoured.front();
    EXPECT_TRUE(s.request.hires);
    EXPECT_FLOAT_EQ(s.request.hires_scale, 1.5f);
    EXPECT_EQ(s.request.hires_upscaler, "Latent (nearest)");
    EXPECT_EQ(s.request.hires_steps, 3);
    EXPECT_FLOAT_EQ(s.request.hires_denoise, 0.4f);
    EXPECT_EQ(s.request.hires_sampler, "");
    EXPECT_EQ(s.request.hires_prompt, "b");
    // Without enable_hr the hr_ fields change nothing.
    JobSpec off = parse_a1111_body(R"({"prompt":"a","hr_scale":3,"hr_upscaler":"nope","denoising_strength":0.4})", Endpoint::Txt2Img);
    EXPECT_FALSE(off.request.hires);
    EXPECT_TRUE(off.not_honoured.empty());
    // Bad hires values are one-line errors; a second pass over the server's limits is refused.
    EXPECT_NE(error_of(R"({"enable_hr":true,"hr_upscaler":"ESRGAN_4x","width":64,"height":64})", Endpoint::Txt2Img)
                  .find("upscaler"), std::string::npos);
    EXPECT_NE(error_of(R"({"enable_hr":true,"hr_scale":8,"width":1024,"height":1024})", Endpoint::Txt2Img).find("hires"),
              std::string::npos);
    // Sides left to the model's default are checked at the largest default (1024): 5x is over 4096.
    EXPECT_NE(error_of(R"({"enable_hr":true,"hr_scale":5})", Endpoint::Txt2Img).find("hires"), std::string::npos);
    JobSpec other = parse_a1111_body(R"({"enable_hr":true,"hr_checkpoint_name":"other.safetensors","width":64,"height":64})",
                                     Endpoint::Txt2Img);
    EXPECT_TRUE(has(other.not_honoured, "hr_checkpoint_name"));
}

TEST(ServerRequest, Img2ImgDefaultsAndFill) {
    // 1x1 PNG, base64
    const std::string png =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC";
    const std::string init = "\"init_images\":[\"" + png + "\"],\"width\":8,\"height\":8";
    JobSpec s = parse_a1111_body("{" + init + ",\"mask\":\"" + png + "\",\"inpainting_fill\":1}", Endpoint::Img2Img);
    ASSERT_TRUE(s.request.init_image && s.request.mask);
    EXPECT_TRUE(s.request.only_masked);           // A1111's inpaint_full_res default
    EXPECT_EQ(s.request.only_masked_padding, 0);  // and its padding default
    EXPECT_TRUE(s.parameters["init_images"].is_null());
    EXPECT_EQ(s.request.inpaint_fill, InpaintFill::Original);
    // A1111's API default is 0 (fill), unlike sdpp's own.
    EXPECT_EQ(parse_a1111_body("{" + init + ",\"mask\":\"" + png + "\"}", Endpoint::Img2Img).request.inpaint_fill,
              InpaintFill::Fill);
    EXPECT_EQ(parse_a1111_body("{" + init + ",\"mask\":\"" + png + "\",\"inpainting_fill\":2}", Endpoint::Img2Img)
                  .request.inpaint_fill, InpaintFill::LatentNoise);
    EXPECT_NE(error_of("{" + init + ",\"mask\":\"" + png + "\",\"inpainting_fill\":9}", Endpoint::Img2Img).find("inpainting_fill"),
              std::string::npos);
    // Without a mask the fill mode does not matter.
    EXPECT_EQ(error_of("{" + init + ",\"inpainting_fill\":0}", Endpoint::Img2Img), "");
    // mask_blur_x / _y become mask_blur.
    JobSpec b = parse_a1111_body("{" + init + ",\"mask_blur_x\":2,\"mask_blur_y\":2}", Endpoint::Img2Img);
    EXPECT_FLOAT_EQ(b.request.mask_blur, 2.0f);
    // A txt2img body's img2img fields are named, not run.
    JobSpec t = parse_a1111_body("{" + init + "}", Endpoint::Txt2Img);
    EXPECT_FALSE(t.request.init_image);
    EXPECT_TRUE(has(t.not_honoured, "init_images"));
}

TEST(ServerRequest, ErrorsNameTheField) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{", "JSON"},
        {"3", "object"},
        {R"({"steps":1e999})", "JSON"},  // nlohmann's out_of_range, not parse_error (found by fuzzing)
        {R"({"steps":"a"})", "steps"},
        {R"({"steps":-1})", "steps"},
        {R"({"width":12})", "width"},
        {R"({"width":65536})", "width"},
        {R"({"batch_size":0})", "batch_size"},
        {R"({"n_iter":1e9})", "n_iter"},
        {R"({"cfg_scale":-1})", "cfg_scale"},
        {R"({"seed":1.5})", "seed"},
        {R"({"sampler_name":"nope"})", "sampler_name"},
        {R"({"scheduler":"nope"})", "scheduler"},
        {R"({"send_images":2})", "send_images"},
        {R"({"override_settings":[1]})", "override_settings"},
        {R"({"override_settings":{"sd_model_checkpoint":5}})", "sd_model_checkpoint"},
        {R"({"width":4096,"height":4096,"batch_size":16})", "pixels"},
    };
    for (const auto& [body, field] : cases) {
        const std::string e = error_of(body);
        EXPECT_NE(e.find(field), std::string::npos) << body << " -> '" << e << "'";
    }
    EXPECT_NE(error_of(R"({"prompt":"x","size":"1x"})", Endpoint::OpenAIImages).find("size"), std::string::npos);
    EXPECT_NE(error_of(R"({"prompt":"x","response_format":"url"})", Endpoint::OpenAIImages).find("response_format"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"init_images":["@@@"]})", Endpoint::Img2Img).find("init_images"), std::string::npos);
    EXPECT_NE(error_of(R"({"prompt":"x"})", Endpoint::Img2Img).find("init_images"), std::string::npos);
}

TEST(ServerRequest, OpenAI) {
    JobSpec s = parse_openai_body(R"({"prompt":"p","n":3,"size":"256x128","response_format":"b64_json","model":"x","quality":"hd"})");
    EXPECT_EQ(s.request.batch_size, 3);
    EXPECT_EQ(s.request.width, 256);
    EXPECT_EQ(s.request.height, 128);
    EXPECT_TRUE(has(s.not_honoured, "quality"));
}

TEST(ServerAuth, BasicCredentials) {
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    BasicAuth none("");
    EXPECT_FALSE(none.enabled());
    BasicAuth a("u:p,admin:s3cr:et");
    EXPECT_TRUE(a.accepts("Basic dTpw"));                  // u:p
    EXPECT_TRUE(a.accepts("Basic YWRtaW46czNjcjpldA=="));  // admin:s3cr:et (the password may hold ':')
    EXPECT_FALSE(a.accepts("Basic dTpx"));
    EXPECT_FALSE(a.accepts(""));
    EXPECT_FALSE(a.accepts("Bearer dTpw"));
    EXPECT_THROW(BasicAuth("nocolon"), Error);
    EXPECT_THROW(BasicAuth(":p"), Error);
}

TEST(ServerCatalog, NamesResolveOnlyInsideTheFolder) {
    sdpp::testing::TempDir t;
    fs::create_directories(t.dir / "models" / "sub");
    fs::create_directories(t.dir / "models" / "diff");
    std::ofstream(t.dir / "models" / "a.safetensors") << "x";
    std::ofstream(t.dir / "models" / "sub" / "b.ckpt") << "x";
    std::ofstream(t.dir / "models" / "diff" / "model_index.json") << "{}";
    std::ofstream(t.dir / "models" / "notes.txt") << "x";
    std::ofstream(t.dir / "outside.safetensors") << "x";
    ModelCatalog c((t.dir / "models").string(), "");
    ASSERT_EQ(c.entries().size(), 3u);
    EXPECT_TRUE(c.find("a"));
    EXPECT_TRUE(c.find("a.safetensors"));
    EXPECT_TRUE(c.find("a.safetensors [0123456789]"));  // a title from another server
    EXPECT_TRUE(c.find("sub/b"));
    EXPECT_TRUE(c.find("diff"));
    for (const char* bad : {"../outside", "../outside.safetensors", "sub/../../outside.safetensors",
                            "/etc/passwd", "notes.txt", "", "..", "sub/../a.safetensors"})
        EXPECT_FALSE(c.find(bad)) << bad;
    EXPECT_FALSE(c.find((t.dir / "outside.safetensors").string()));
    c.set_hash(c.find("a")->path, "abcdef0123");
    EXPECT_EQ(c.title(*c.find("a")), "a.safetensors [abcdef0123]");
}

TEST(ServerPreview, LinearProjection) {
    Latent l;
    l.shape = {1, 4, 2, 3};
    l.data.assign(24, 0.0f);
    Image img = latent_preview(l, "sd1");
    ASSERT_EQ(img.width, 3);
    ASSERT_EQ(img.height, 2);
    EXPECT_EQ(img.at(0, 0, 0), 128);  // zero latent -> mid grey
    l.data[0] = 2.0f;                 // channel 0 raises every colour at pixel 0
    Image lit = latent_preview(l, "sd1");
    EXPECT_GT(lit.at(0, 0, 0), 128);
    EXPECT_GT(lit.at(0, 0, 1), 128);
    EXPECT_EQ(lit.at(1, 0, 0), 128);
    l.shape = {1, 16, 1, 1};
    EXPECT_TRUE(latent_preview(l, "sd1").empty());
}

}  // namespace
