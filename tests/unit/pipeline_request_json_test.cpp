// The JSON form of GenerateRequest (request_from_json / request_to_json): A1111 body field names,
// a lossless round trip of every field, unknown fields reported, bad input as a one-line sdpp::Error.
#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

sdpp::Image pattern(int w, int h, int channels) {
    sdpp::Image im = sdpp::Image::blank(w, h, channels);
    for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = uint8_t(i * 37 % 251);
    return im;
}

// The one-line message request_from_json throws for `json`.
std::string error_of(const std::string& json) {
    try {
        sdpp::request_from_json(json);
    } catch (const sdpp::Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST(PipelineRequestJson, ReadsAnA1111Txt2ImgBody) {
    std::vector<std::string> unknown;
    sdpp::GenerateRequest r = sdpp::request_from_json(R"({
        "prompt": "a lighthouse", "negative_prompt": "blurry", "seed": 1234, "sampler_name": "DPM++ 2M",
        "scheduler": "Karras", "steps": 25, "cfg_scale": 6.5, "width": 640, "height": 448,
        "batch_size": 2, "n_iter": 3, "eta": 0.5, "denoising_strength": 0.6,
        "override_settings": {"CLIP_stop_at_last_layers": 2, "sd_model_checkpoint": "x"},
        "restore_faces": false, "send_images": true, "styles": [], "subseed": 77, "subseed_strength": 0.25
    })", &unknown);
    EXPECT_EQ(r.prompt, "a lighthouse");
    EXPECT_EQ(r.negative_prompt, "blurry");
    EXPECT_EQ(r.seed, 1234);
    EXPECT_EQ(r.sampler, "DPM++ 2M");
    EXPECT_EQ(r.scheduler, "Karras");
    EXPECT_EQ(r.steps, 25);
    ASSERT_TRUE(r.cfg_scale);
    EXPECT_EQ(*r.cfg_scale, 6.5f);
    EXPECT_EQ(r.width, 640);
    EXPECT_EQ(r.height, 448);
    EXPECT_EQ(r.batch_size, 2);
    EXPECT_EQ(r.batch_count, 3);
    EXPECT_EQ(r.eta, 0.5f);
    EXPECT_EQ(r.strength, 0.6f);
    EXPECT_EQ(r.clip_skip, 2);
    EXPECT_EQ(r.subseed, 77);
    EXPECT_EQ(r.subseed_strength, 0.25f);
    EXPECT_EQ(unknown, (std::vector<std::string>{"override_settings.sd_model_checkpoint", "restore_faces",
                                                 "send_images", "styles"}));
}

TEST(PipelineRequestJson, NullAndAbsentFieldsKeepTheDefaults) {
    sdpp::GenerateRequest r = sdpp::request_from_json(R"({"prompt": "x", "cfg_scale": null, "sampler_name": null})");
    const sdpp::GenerateRequest d;
    EXPECT_FALSE(r.cfg_scale);
    EXPECT_EQ(r.sampler, d.sampler);
    EXPECT_EQ(r.steps, d.steps);
    EXPECT_EQ(r.seed, d.seed);
    EXPECT_EQ(r.strength, d.strength);
    EXPECT_EQ(sdpp::request_to_json(r), sdpp::request_to_json(sdpp::request_from_json(R"({"prompt": "x"})")));
}

TEST(PipelineRequestJson, Img2ImgFieldsAndImagesAsBase64) {
    sdpp::GenerateRequest r;
    r.prompt = "an old photo, \"quoted\"\nsecond line";
    r.negative_prompt = "ünïcode ✓";
    r.seed = 9007199254740993;  // above 2^53: must survive as an integer
    r.sampler = "euler_a";
    r.scheduler = "karras";
    r.steps = 7;
    r.cfg_scale = 0.1f;  // not exact in binary: printed short, read back as the same float
    r.width = 72;
    r.height = 56;
    r.batch_size = 2;
    r.batch_count = 4;
    r.clip_skip = 2;
    r.eta = 0.3f;
    r.init_image = pattern(9, 7, 3);
    r.strength = 0.45f;
    r.resize_mode = sdpp::ResizeMode::ResizeAndFill;
    r.sample_posterior = true;
    r.mask = pattern(9, 7, 1);
    r.invert_mask = true;
    r.mask_blur = 2.5f;
    r.only_masked = true;
    r.only_masked_padding = 12;
    r.overlay_original = false;
    r.outpaint = {1, 2, 3, 4};
    r.original_size = std::array<int, 2>{1024, 768};
    r.target_size = std::array<int, 2>{512, 384};
    r.crop_coords = {16, 8};
    r.decode = false;
    r.preview_every = 3;

    const std::string json = sdpp::request_to_json(r);
    EXPECT_NE(json.find("\"cfg_scale\": 0.1,"), std::string::npos) << json;
    EXPECT_NE(json.find("\"n_iter\": 4"), std::string::npos);
    EXPECT_NE(json.find("\"denoising_strength\": 0.45"), std::string::npos);
    EXPECT_NE(json.find("\"inpainting_mask_invert\": 1"), std::string::npos);
    EXPECT_NE(json.find("\"CLIP_stop_at_last_layers\": 2"), std::string::npos);

    sdpp::GenerateRequest b = sdpp::request_from_json(json);
    EXPECT_EQ(b.prompt, r.prompt);
    EXPECT_EQ(b.negative_prompt, r.negative_prompt);
    EXPECT_EQ(b.seed, r.seed);
    EXPECT_EQ(b.sampler, r.sampler);
    EXPECT_EQ(b.scheduler, r.scheduler);
    EXPECT_EQ(b.steps, r.steps);
    EXPECT_EQ(b.cfg_scale, r.cfg_scale);
    EXPECT_EQ(b.width, r.width);
    EXPECT_EQ(b.height, r.height);
    EXPECT_EQ(b.batch_size, r.batch_size);
    EXPECT_EQ(b.batch_count, r.batch_count);
    EXPECT_EQ(b.clip_skip, r.clip_skip);
    EXPECT_EQ(b.eta, r.eta);
    ASSERT_TRUE(b.init_image);
    EXPECT_EQ(b.init_image->width, 9);
    EXPECT_EQ(b.init_image->pixels, r.init_image->pixels);
    EXPECT_EQ(b.strength, r.strength);
    EXPECT_EQ(b.resize_mode, r.resize_mode);
    EXPECT_EQ(b.sample_posterior, r.sample_posterior);
    ASSERT_TRUE(b.mask);
    // Decoded images are RGB (as load_image gives them); the gray mask comes back as equal channels.
    ASSERT_EQ(b.mask->pixels.size(), r.mask->pixels.size() * 3);
    for (size_t i = 0; i < r.mask->pixels.size(); ++i) EXPECT_EQ(b.mask->pixels[i * 3], r.mask->pixels[i]);
    EXPECT_EQ(b.invert_mask, r.invert_mask);
    EXPECT_EQ(b.mask_blur, r.mask_blur);
    EXPECT_EQ(b.only_masked, r.only_masked);
    EXPECT_EQ(b.only_masked_padding, r.only_masked_padding);
    EXPECT_EQ(b.overlay_original, r.overlay_original);
    EXPECT_EQ(b.outpaint, r.outpaint);
    EXPECT_EQ(b.original_size, r.original_size);
    EXPECT_EQ(b.target_size, r.target_size);
    EXPECT_EQ(b.crop_coords, r.crop_coords);
    EXPECT_EQ(b.decode, r.decode);
    EXPECT_EQ(b.preview_every, r.preview_every);
    EXPECT_EQ(sdpp::request_to_json(b), sdpp::request_to_json(sdpp::request_from_json(sdpp::request_to_json(b))));
}

TEST(PipelineRequestJson, A1111SpellingsOfImg2ImgFields) {
    sdpp::GenerateRequest d;
    d.init_image = pattern(4, 4, 3);
    std::string png = sdpp::request_to_json(d);
    size_t at = png.find("\"init_images\": [");
    ASSERT_NE(at, std::string::npos);
    size_t q0 = png.find('"', png.find('[', at)) + 1;
    std::string b64 = png.substr(q0, png.find('"', q0) - q0);

    sdpp::GenerateRequest r = sdpp::request_from_json(
        R"({"init_images": ["data:image/png;base64,)" + b64 + R"("], "resize_mode": 1, "inpaint_full_res": 1,
            "inpainting_mask_invert": false, "mask_blur": 4, "sampler_index": "Euler a", "steps": 20.0})");
    ASSERT_TRUE(r.init_image);
    EXPECT_EQ(r.init_image->pixels, d.init_image->pixels);
    EXPECT_EQ(r.resize_mode, sdpp::ResizeMode::CropAndResize);
    EXPECT_TRUE(r.only_masked);
    EXPECT_FALSE(r.invert_mask);
    EXPECT_EQ(r.mask_blur, 4.0f);
    EXPECT_EQ(r.sampler, "Euler a");
    EXPECT_EQ(r.steps, 20);
    EXPECT_EQ(sdpp::request_from_json(R"({"resize_mode": "crop"})").resize_mode, sdpp::ResizeMode::CropAndResize);
}

TEST(PipelineRequestJson, BadInputIsOneLineError) {
    struct Case {
        const char* json;
        const char* message;
    };
    const Case cases[] = {
        {R"({"steps": "20"})", "\"steps\" must be an integer, got string"},
        {R"({"steps": 2.5})", "\"steps\" must be an integer, got number"},
        {R"({"seed": 18446744073709551615})", "\"seed\" is out of range"},
        {R"({"width": 99999999999})", "\"width\" is out of range"},
        {R"({"cfg_scale": "7"})", "\"cfg_scale\" must be a number, got string"},
        {R"({"prompt": 5})", "\"prompt\" must be a string, got number"},
        {R"({"inpaint_full_res": 2})", "\"inpaint_full_res\" must be a boolean, got number"},
        {R"({"outpaint": [1, 2]})", "\"outpaint\" must be an array of 4 integers, got array"},
        {R"({"original_size": {"w": 1}})", "\"original_size\" must be an array of 2 integers, got object"},
        {R"({"init_images": "abc"})", "\"init_images\" must be an array of base64 images, got string"},
        {R"({"init_images": ["not base64!"]})", "\"init_images\": not valid base64"},
        {R"({"mask": "AAAA"})", "\"mask\": not a PNG or JPEG image"},
        {R"({"resize_mode": 3})", "\"resize_mode\" 3 is not supported"},
        {R"({"override_settings": 1})", "\"override_settings\" must be an object, got number"},
        {R"({"prompt": "x", "bogus": 1})", "unknown field \"bogus\""},
        {R"({"prompt": )", "not valid JSON"},
        {R"([1, 2])", "must be an object, got array"},
    };
    for (const Case& c : cases) {
        std::string msg = error_of(c.json);
        EXPECT_NE(msg.find(c.message), std::string::npos) << c.json << " -> " << msg;
        EXPECT_EQ(msg.rfind("request JSON: ", 0), 0u) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
}
