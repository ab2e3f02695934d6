// A1111 "parameters" text: quoting, parsing the way infotext_utils.parse_generation_parameters does,
// and GenerateRequest -> text -> GenerateRequest round trips; sampler/scheduler names; request checks.
#include "pipeline/parameters.h"
#include "pipeline/seed.h"
#include "pipeline/request.h"

#include "core/error.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

using namespace sdpp;

TEST(PipelineParameters, QuoteLikeA1111) {
    EXPECT_EQ(quote_infotext_value("Euler a"), "Euler a");
    EXPECT_EQ(quote_infotext_value("a, b"), "\"a, b\"");
    EXPECT_EQ(quote_infotext_value("k: v"), "\"k: v\"");
    EXPECT_EQ(quote_infotext_value("x\ny"), "\"x\\ny\"");
    EXPECT_EQ(quote_infotext_value("say \"hi\", ok"), "\"say \\\"hi\\\", ok\"");
    EXPECT_EQ(quote_infotext_value("caf\xC3\xA9, b"), "\"caf\xC3\xA9, b\"");  // ensure_ascii=False
    EXPECT_EQ(unquote_infotext_value("\"a, b\""), "a, b");
    EXPECT_EQ(unquote_infotext_value("\"\\u00e9\\ud83d\\ude00\""), "\xC3\xA9\xF0\x9F\x98\x80");
    EXPECT_EQ(unquote_infotext_value("\"broken\\\""), "\"broken\\\"");  // invalid JSON stays as is
    EXPECT_EQ(unquote_infotext_value("plain"), "plain");
    EXPECT_EQ(format_number(7.0), "7");
    EXPECT_EQ(format_number(7.5), "7.5");
    EXPECT_EQ(format_number(0.75f), "0.75");
    EXPECT_EQ(format_number(0.1f), "0.1");
}

TEST(PipelineParameters, ParsesA1111Text) {
    // A typical A1111 1.10 infotext, with a quoted value and a multi-line prompt.
    std::string text =
        "masterpiece, a cat\non a sofa\nNegative prompt: blurry,\nlow quality\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: \"add_detail: 7c6bad76eb54, x: 1\", "
        "Version: v1.10.1";
    InfoText info = parse_infotext(text);
    EXPECT_EQ(info.prompt, "masterpiece, a cat\non a sofa");
    EXPECT_EQ(info.negative_prompt, "blurry,\nlow quality");
    ASSERT_NE(info.get("Lora hashes"), nullptr);
    EXPECT_EQ(*info.get("Lora hashes"), "add_detail: 7c6bad76eb54, x: 1");
    EXPECT_EQ(*info.get("Size"), "512x768");
    EXPECT_EQ(*info.get("Version"), "v1.10.1");
    EXPECT_EQ(info.fields.size(), 10u);

    GenerateRequest r = request_from_parameters(text);
    EXPECT_EQ(r.steps, 20);
    EXPECT_EQ(r.sampler, "dpmpp_2m");
    EXPECT_EQ(r.scheduler, "karras");
    EXPECT_FLOAT_EQ(*r.cfg_scale, 7.0f);
    EXPECT_EQ(r.seed, 1234);
    EXPECT_EQ(r.width, 512);
    EXPECT_EQ(r.height, 768);

    // Fewer than 3 fields on the last line: it is still prompt text (A1111's rule).
    InfoText p = parse_infotext("just a prompt: with a colon");
    EXPECT_EQ(p.prompt, "just a prompt: with a colon");
    EXPECT_TRUE(p.fields.empty());
    EXPECT_THROW(request_from_parameters("just a prompt"), Error);
    // Old combined sampler names.
    r = request_from_parameters("x\nSteps: 8, Sampler: DPM++ 2M Karras, CFG scale: 5.5, Seed: 1, Size: 64x64");
    EXPECT_EQ(r.sampler, "dpmpp_2m");
    EXPECT_EQ(r.scheduler, "karras");
    EXPECT_FLOAT_EQ(*r.cfg_scale, 5.5f);
    EXPECT_THROW(request_from_parameters("x\nSteps: many, Sampler: Euler, Seed: 1"), Error);
    EXPECT_THROW(request_from_parameters("x\nSteps: 2, Sampler: Nope, Seed: 1"), Error);
}

TEST(PipelineParameters, FormatMatchesA1111Layout) {
    GenerateRequest r;
    r.prompt = "a photo of a cat sitting on a red sofa";
    r.negative_prompt = "blurry, low quality";
    r.steps = 20;
    r.sampler = "euler_a";
    r.cfg_scale = 7;
    r.width = 512;
    r.height = 512;
    ModelDescription m;
    m.name = "sd1-tiny";
    m.hash = "0123456789";
    std::string t = format_parameters(r, m, 42, 0);
    EXPECT_EQ(t,
              "a photo of a cat sitting on a red sofa\nNegative prompt: blurry, low quality\n"
              "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 512x512, "
              "Model hash: 0123456789, Model: sd1-tiny");
    // No negative prompt: no "Negative prompt:" line.
    r.negative_prompt.clear();
    EXPECT_EQ(format_parameters(r, m, 1, 0).find("Negative prompt"), std::string::npos);
}

TEST(PipelineParameters, RoundTrip) {
    GenerateRequest r;
    r.prompt = "line one, with: colon\nline two";
    r.negative_prompt = "bad \"quotes\", worse";
    r.steps = 13;
    r.sampler = "dpmpp_2m_sde";
    r.scheduler = "exponential";
    r.cfg_scale = 4.5f;
    r.width = 640;
    r.height = 448;
    r.clip_skip = 2;
    r.eta = 0.5f;
    r.init_image = Image::blank(8, 8);
    r.strength = 0.35f;
    r.mask = Image::blank(8, 8, 1);
    r.mask_blur = 3;
    r.only_masked = true;
    r.only_masked_padding = 24;
    ModelDescription m;
    m.name = "model, with comma";
    std::string text = format_parameters(r, m, 4294967295LL, 0);
    EXPECT_NE(text.find("Model: \"model, with comma\""), std::string::npos) << text;
    GenerateRequest b = request_from_parameters(text);
    EXPECT_EQ(b.prompt, r.prompt);
    EXPECT_EQ(b.negative_prompt, r.negative_prompt);
    EXPECT_EQ(b.steps, 13);
    EXPECT_EQ(b.sampler, "dpmpp_2m_sde");
    EXPECT_EQ(b.scheduler, "exponential");
    EXPECT_FLOAT_EQ(*b.cfg_scale, 4.5f);
    EXPECT_EQ(b.seed, 4294967295LL);
    EXPECT_EQ(b.width, 640);
    EXPECT_EQ(b.height, 448);
    EXPECT_EQ(b.clip_skip, 2);
    EXPECT_FLOAT_EQ(b.eta, 0.5f);
    EXPECT_FLOAT_EQ(b.strength, 0.35f);
    EXPECT_FLOAT_EQ(b.mask_blur, 3.0f);
    EXPECT_TRUE(b.only_masked);
    EXPECT_EQ(b.only_masked_padding, 24);
    // Every sampler and scheduler survives the display-name round trip.
    for (const std::string& s : known_samplers())
        for (const std::string& sch : known_schedulers()) {
            GenerateRequest q;
            q.steps = 5;
            q.sampler = s;
            q.scheduler = sch;
            q.cfg_scale = 1;
            q.width = q.height = 64;
            GenerateRequest back = request_from_parameters(format_parameters(q, m, 7, 0));
            EXPECT_EQ(back.sampler, s);
            EXPECT_EQ(back.scheduler, sch);
        }
}

TEST(PipelineParameters, SamplerNames) {
    EXPECT_EQ(parse_sampler_name("Euler a").sampler, "euler_a");
    EXPECT_EQ(parse_sampler_name("euler_ancestral").sampler, "euler_a");
    EXPECT_EQ(parse_sampler_name("DPM++ 2M").sampler, "dpmpp_2m");
    EXPECT_EQ(parse_sampler_name("dpmpp_2m_karras").scheduler, "karras");
    EXPECT_EQ(parse_sampler_name("DPM++ SDE Karras").sampler, "dpmpp_sde");
    EXPECT_EQ(parse_sampler_name("DPM++ 2M SDE Exponential").sampler, "dpmpp_2m_sde");
    EXPECT_EQ(parse_sampler_name("DPM2 a").sampler, "dpm2_a_discard");
    EXPECT_EQ(parse_sampler_name("dpm2_a").sampler, "dpm2_a");
    EXPECT_EQ(parse_sampler_name("k_lms").sampler, "lms");
    EXPECT_THROW(parse_sampler_name("warp_drive"), Error);
    EXPECT_EQ(parse_scheduler_name("Automatic"), "");
    EXPECT_EQ(parse_scheduler_name("SGM Uniform"), "sgm_uniform");
    EXPECT_EQ(parse_scheduler_name("Uniform"), "normal");
    EXPECT_THROW(parse_scheduler_name("cosine-ish"), Error);
    EXPECT_EQ(default_scheduler("dpmpp_2m"), "normal");  // ComfyUI name: normal
    EXPECT_EQ(default_scheduler("DPM++ 2M"), "karras");  // A1111 label: A1111's Automatic
    EXPECT_EQ(default_scheduler("euler_a"), "normal");
    EXPECT_EQ(default_scheduler("dpmpp_3m_sde"), "normal");
    EXPECT_EQ(default_scheduler("DPM++ 3M SDE"), "exponential");
    EXPECT_EQ(sampler_display_name("dpmpp_2s_a"), "DPM++ 2S a");
}

TEST(PipelineParameters, ValidationAndDefaults) {
    GenerateRequest r;
    EXPECT_NO_THROW(validate_request(r));
    auto bad = [](auto edit, const std::string& needle) {
        GenerateRequest q;
        edit(q);
        try {
            validate_request(q);
            ADD_FAILURE() << "expected an error mentioning " << needle;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        }
    };
    bad([](GenerateRequest& q) { q.width = 500; }, "multiple of 8");
    bad([](GenerateRequest& q) { q.height = -8; }, "height");
    bad([](GenerateRequest& q) { q.steps = -1; }, "steps");
    bad([](GenerateRequest& q) { q.sampler = "nope"; }, "unknown sampler");
    bad([](GenerateRequest& q) { q.scheduler = "nope"; }, "unknown scheduler");
    bad([](GenerateRequest& q) { q.strength = 1.5f; }, "strength");
    bad([](GenerateRequest& q) { q.cfg_scale = -1.0f; }, "cfg");
    bad([](GenerateRequest& q) { q.batch_size = 0; }, "batch size");
    bad([](GenerateRequest& q) { q.mask = Image::blank(8, 8, 1); }, "init image");
    bad(
        [](GenerateRequest& q) {
            q.init_image = Image::blank(64, 64);
            q.mask = Image::blank(32, 64, 1);
        },
        "mask is 32x64");
    bad([](GenerateRequest& q) { q.outpaint = {8, 0, 0, 0}; }, "init image");

    ModelDescription sdxl;
    sdxl.family = "sdxl";
    sdxl.default_width = sdxl.default_height = 1024;
    GenerateRequest q;
    q.seed = -1;
    GenerateRequest res = resolve_request(q, sdxl).request;
    EXPECT_EQ(res.width, 1024);
    EXPECT_EQ(res.steps, 20);
    EXPECT_FLOAT_EQ(*res.cfg_scale, 7.0f);
    EXPECT_EQ(res.sampler, "euler_a");
    EXPECT_GE(res.seed, 0);
    EXPECT_LT(res.seed, 4294967294LL);
    ASSERT_TRUE(res.original_size.has_value());
    EXPECT_EQ((*res.original_size)[0], 1024);
    // init image decides the size, rounded down to a multiple of 8, outpaint included
    q.init_image = Image::blank(100, 60);
    q.outpaint = {8, 0, 8, 4};
    res = resolve_request(q, sdxl).request;
    EXPECT_EQ(res.width, 112);
    EXPECT_EQ(res.height, 64);
}

TEST(PipelineParameters, Img2ImgTextsNeedTheirInitImage) {
    EXPECT_TRUE(parameters_are_img2img("cat\nSteps: 20, Sampler: Euler, Seed: 1, Denoising strength: 0.5"));
    EXPECT_FALSE(parameters_are_img2img("cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 64x64"));
    // txt2img with hires fix writes a denoising strength too
    EXPECT_FALSE(parameters_are_img2img("cat\nSteps: 20, Sampler: Euler, Denoising strength: 0.7, Hires upscale: 2"));
}

TEST(PipelineParameters, SeedsModulo2To64) {
    EXPECT_EQ(seed_from_text("42"), 42);
    EXPECT_EQ(seed_from_text("-1"), -1);
    EXPECT_EQ(seed_from_text("18446744073709551621"), 5);  // 2^64 + 5
    EXPECT_EQ(seed_text(seed_from_text("9223372036854775813")), "9223372036854775813");
    EXPECT_EQ(seed_text(seed_from_text("-5")), "18446744073709551611");  // torch.manual_seed(-5)
    EXPECT_THROW(seed_from_text("18446744073709551615"), Error);
    EXPECT_THROW(seed_from_text("1e5"), Error);
    EXPECT_THROW(seed_from_text(""), Error);
    EXPECT_EQ(seed_plus(seed_from_text("18446744073709551614"), 3), 1);
}
