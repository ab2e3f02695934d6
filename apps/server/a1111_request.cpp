// A1111 / OpenAI request bodies -> JobSpec. The fields sdpp's own JSON reader knows
// (request_from_json: prompt, seed, sampler_name, steps, init_images, ...) go to it; this file
// handles what only the server means (send_images, override_settings, inpainting_fill, ...),
// sorts A1111's many other fields into "harmless at its default" and "not honoured", and checks
// ranges with messages that name the JSON field.
#include "server/a1111_request.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace sdpp::server {

namespace {

using Json = nlohmann::json;

// A1111 fields sdpp does not implement, with the value that means "off": a body that sends them
// at that value (most clients send every field) runs as asked; any other value is named in info.
const std::map<std::string, Json>& neutral_fields() {
    static const std::map<std::string, Json> m = {
        {"styles", Json::array()}, {"seed_resize_from_h", -1}, {"seed_resize_from_w", -1},
        {"restore_faces", false}, {"tiling", false}, {"do_not_save_samples", false},
        {"do_not_save_grid", false}, {"s_min_uncond", 0}, {"s_churn", 0}, {"s_tmax", 0},
        {"s_tmin", 0}, {"s_noise", 1}, {"refiner_checkpoint", ""}, {"refiner_switch_at", 0},
        {"disable_extra_networks", false}, {"firstpass_image", ""}, {"comments", Json::object()},
        {"script_name", ""}, {"script_args", Json::array()},
        {"alwayson_scripts", Json::object()}, {"infotext", ""}, {"include_init_images", false},
        {"initial_noise_multiplier", 1}, {"latent_mask", ""}, {"mask_round", true},
        {"image_cfg_scale", Json()},
    };
    return m;
}

// Fields that only matter with enable_hr (A1111's hires fix): ignored without it. With it, the
// ones request_from_json knows go to it, the rest must be at their "same as the first pass" value.
const std::set<std::string>& hires_fields() {
    static const std::set<std::string> s = {
        "hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y",
        "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler", "hr_prompt", "hr_negative_prompt",
        "hr_additional_modules", "firstphase_width", "firstphase_height"};
    return s;
}
bool hires_field_passed(const std::string& key) {
    static const std::set<std::string> s = {"hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_resize_x",
                                            "hr_resize_y", "hr_sampler_name", "hr_prompt", "hr_negative_prompt"};
    return s.count(key) > 0;
}
// A1111's "use the first pass's" values of the hires fields sdpp has no choice for.
bool hires_field_neutral(const std::string& key, const Json& v) {
    if (v.is_string() && (v.get<std::string>().empty() || v.get<std::string>().rfind("Use same", 0) == 0)) return true;
    if (key == "hr_additional_modules")
        return v.is_array() && (v.empty() || (v.size() == 1 && v[0].is_string() && v[0].get<std::string>() == "Use same choices"));
    if (key == "firstphase_width" || key == "firstphase_height") return v.is_number() && v.get<double>() == 0;
    return false;
}

// Fields of img2img that a txt2img body may carry (some clients share one body) without effect.
const std::set<std::string>& img2img_only_fields() {
    static const std::set<std::string> s = {
        "init_images", "mask", "mask_blur", "mask_blur_x", "mask_blur_y", "inpainting_mask_invert",
        "inpaint_full_res", "inpaint_full_res_padding", "resize_mode", "inpainting_fill"};
    return s;
}

bool same_value(const Json& a, const Json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
    throw error("\"", key, "\" ", what);
}

bool as_bool(const std::string& key, const Json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
    bad(key, std::string("must be a boolean, got ") + v.type_name());
}

int64_t as_int(const std::string& key, const Json& v) {
    if (v.is_number_integer()) {
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) bad(key, "is out of range");
        return v.get<int64_t>();
    }
    if (v.is_number_float() && std::nearbyint(v.get<double>()) == v.get<double>() && std::abs(v.get<double>()) < 9e15)
        return int64_t(v.get<double>());
    bad(key, std::string("must be an integer, got ") + v.type_name());
}

void check_range(const Json& body, const char* key, int64_t lo, int64_t hi) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return;
    if (!it->is_number()) return;  // the type error comes from request_from_json, naming the field
    const double v = it->get<double>();
    if (!(v >= double(lo) && v <= double(hi)))
        throw error("\"", key, "\" ", it->dump(), " is out of range (", lo, "..", hi, ")");
}

void check_float_range(const Json& body, const char* key, double lo, double hi) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null() || !it->is_number()) return;
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi)) throw error("\"", key, "\" ", it->dump(), " is out of range (", lo, "..", hi, ")");
}

// override_settings: the checkpoint and the seed delta are the server's; clip skip goes on to
// request_from_json; anything else is accepted and named.
Json take_overrides(JobSpec& spec, const Json& v) {
    Json rest = Json::object();
    if (v.is_null()) return rest;
    if (!v.is_object()) bad("override_settings", std::string("must be an object, got ") + v.type_name());
    for (const auto& [key, value] : v.items()) {
        if (value.is_null()) continue;
        if (key == "sd_model_checkpoint") {
            if (!value.is_string()) bad("override_settings.sd_model_checkpoint", "must be a string");
            spec.checkpoint = value.get<std::string>();
        } else if (key == "CLIP_stop_at_last_layers") {
            rest[key] = value;
            spec.clip_skip_given = true;
        } else if (key == "eta_noise_seed_delta") {
            if (as_int("override_settings.eta_noise_seed_delta", value) != 0)
                spec.not_honoured.push_back("override_settings.eta_noise_seed_delta");
        } else {
            spec.not_honoured.push_back("override_settings." + key);
        }
    }
    return rest;
}

void check_limits(const Json& body, const GenerateRequest& r, const RequestLimits& lim) {
    check_range(body, "width", 8, lim.max_side);
    check_range(body, "height", 8, lim.max_side);
    check_range(body, "steps", 1, lim.max_steps);
    check_range(body, "batch_size", 1, lim.max_batch_size);
    check_range(body, "n_iter", 1, lim.max_n_iter);
    check_float_range(body, "cfg_scale", 0, 100);
    check_float_range(body, "denoising_strength", 0, 1);
    check_float_range(body, "subseed_strength", 0, 1);
    check_float_range(body, "mask_blur", 0, 256);
    check_float_range(body, "eta", 0, 100);
    check_range(body, "inpaint_full_res_padding", 0, lim.max_side);
    if (r.width % 8 != 0) throw error("\"width\" ", r.width, " is not a multiple of 8");
    if (r.height % 8 != 0) throw error("\"height\" ", r.height, " is not a multiple of 8");
    if (int64_t(r.width) * r.height * r.batch_size > lim.max_pixels)
        throw error("\"width\" x \"height\" x \"batch_size\" = ", int64_t(r.width) * r.height * r.batch_size,
                    " pixels is over the server's limit of ", lim.max_pixels);
    if (!r.sampler.empty()) {
        try {
            parse_sampler_name(r.sampler);
        } catch (const Error& e) {
            throw error("\"sampler_name\": ", e.what());
        }
    }
    if (!r.scheduler.empty()) {
        try {
            parse_scheduler_name(r.scheduler);
        } catch (const Error& e) {
            throw error("\"scheduler\": ", e.what());
        }
    }
    try {
        validate_request(r);
    } catch (const Error& e) {
        throw error("request: ", e.what());
    }
    if (r.hires) {  // (after validate_request: the scale is finite) the second pass's size and steps are under the same limits
        check_range(body, "hr_second_pass_steps", 0, lim.max_steps);
        GenerateRequest sized = r;  // 0 = the model's default, unknown here: check at the largest (SDXL's 1024)
        if (sized.width == 0) sized.width = 1024;
        if (sized.height == 0) sized.height = 1024;
        const std::array<int, 2> size = hires_size(sized);
        const int64_t hw = size[0], hh = size[1];
        if (hw > lim.max_side || hh > lim.max_side || hw * hh * r.batch_size > lim.max_pixels)
            throw error("hires fix: the second pass's ", hw, "x", hh, " x \"batch_size\" ", r.batch_size,
                        " is over the server's limits (sides ", lim.max_side, ", ", lim.max_pixels, " pixels)");
    }
}

// The body's fields with A1111's defaults for the ones it left out: the "parameters" echo.
Json echo_parameters(const Json& body, Endpoint endpoint) {
    Json p = {{"prompt", ""}, {"negative_prompt", ""}, {"styles", nullptr}, {"seed", -1}, {"subseed", -1},
              {"subseed_strength", 0}, {"seed_resize_from_h", -1}, {"seed_resize_from_w", -1},
              {"sampler_name", nullptr}, {"scheduler", nullptr}, {"batch_size", 1}, {"n_iter", 1},
              {"steps", nullptr}, {"cfg_scale", nullptr}, {"width", nullptr}, {"height", nullptr},
              {"restore_faces", nullptr}, {"tiling", nullptr}, {"do_not_save_samples", false},
              {"do_not_save_grid", false}, {"eta", nullptr}, {"denoising_strength", nullptr},
              {"override_settings", nullptr}, {"override_settings_restore_afterwards", true},
              {"sampler_index", "Euler"}, {"script_name", nullptr}, {"script_args", Json::array()},
              {"send_images", true}, {"save_images", false}, {"alwayson_scripts", Json::object()}};
    if (endpoint == Endpoint::Txt2Img) {
        p.update({{"enable_hr", false}, {"firstphase_width", 0}, {"firstphase_height", 0}, {"hr_scale", 2.0},
                  {"hr_upscaler", nullptr}, {"hr_second_pass_steps", 0}, {"hr_resize_x", 0}, {"hr_resize_y", 0},
                  {"hr_prompt", ""}, {"hr_negative_prompt", ""}});
    } else {
        p.update({{"init_images", nullptr}, {"resize_mode", 0}, {"mask", nullptr}, {"mask_blur_x", 4},
                  {"mask_blur_y", 4}, {"mask_blur", nullptr}, {"inpainting_fill", 0}, {"inpaint_full_res", true},
                  {"inpaint_full_res_padding", 0}, {"inpainting_mask_invert", 0}, {"include_init_images", false},
                  {"denoising_strength", 0.75}});
    }
    for (const auto& [key, value] : body.items()) p[key] = value;
    if (p.contains("init_images")) p["init_images"] = nullptr;  // A1111 leaves the images out
    if (p.contains("mask")) p["mask"] = nullptr;
    return p;
}

}  // namespace

nlohmann::json parse_json_object(const std::string& body) {
    Json j;
    try {
        j = Json::parse(body);
    } catch (const Json::parse_error& e) {
        throw error("body: not valid JSON (at byte ", e.byte, ")");
    } catch (const Json::exception&) {  // e.g. a number too large for a double (1e999)
        throw Error("body: not valid JSON (a number is out of range)");
    }
    if (!j.is_object()) throw error("body: must be a JSON object, got ", j.type_name());
    return j;
}

JobSpec parse_a1111_body(const std::string& body, Endpoint endpoint, const RequestLimits& limits) {
    const Json j = parse_json_object(body);
    JobSpec spec;
    spec.endpoint = endpoint;
    spec.a1111_defaults = true;
    const bool hires = j.contains("enable_hr") && !j["enable_hr"].is_null() && as_bool("enable_hr", j["enable_hr"]);
    const bool img2img = endpoint == Endpoint::Img2Img;
    Json pass = Json::object();  // what request_from_json reads
    bool fill_given = false;
    bool mask_given = false, full_res_given = false, padding_given = false;
    for (const auto& [key, value] : j.items()) {
        if (value.is_null()) continue;
        if (key == "sampler_name" && value.is_string() && value.get<std::string>().empty()) continue;  // A1111: sampler_index then
        if (key == "send_images") {
            spec.send_images = as_bool(key, value);
        } else if (key == "save_images") {
            spec.save_images = as_bool(key, value);
            if (spec.save_images) spec.not_honoured.push_back("save_images");
        } else if (key == "override_settings") {
            Json rest = take_overrides(spec, value);
            if (!rest.empty()) pass["override_settings"] = rest;
        } else if (key == "override_settings_restore_afterwards") {
            spec.restore_checkpoint = as_bool(key, value);
        } else if (key == "force_task_id") {
            // A1111's id for its task queue; sdpp's /progress is not per task
        } else if (key == "enable_hr") {
            if (hires && img2img) spec.not_honoured.push_back(key);  // A1111's img2img has no hires fix
            else if (hires) pass[key] = true;
        } else if (hires_fields().count(key) || (key == "denoising_strength" && !img2img)) {
            if (!hires || img2img) continue;  // only read with enable_hr, as A1111
            if (key == "hr_sampler_name" && value.is_string() && value.get<std::string>().rfind("Use same", 0) == 0) continue;
            if (hires_field_passed(key) || key == "denoising_strength") pass[key] = value;
            else if (!hires_field_neutral(key, value)) spec.not_honoured.push_back(key);
        } else if (!img2img && img2img_only_fields().count(key)) {
            spec.not_honoured.push_back(key);
        } else if (key == "inpainting_fill") {
            fill_given = true;
            pass[key] = value;  // request_from_json reads 0-3 or a name
        } else if (key == "mask_blur_x" || key == "mask_blur_y") {
            // A1111 blurs x and y apart; sdpp blurs both with mask_blur (which wins when given)
            if (!j.contains("mask_blur") || j["mask_blur"].is_null()) {
                if (!value.is_number()) bad(key, "must be a number");
                const Json other = j.value(key == "mask_blur_x" ? "mask_blur_y" : "mask_blur_x", Json(4));
                if (other.is_number() && other.get<double>() != value.get<double>())
                    spec.not_honoured.push_back("mask_blur_x != mask_blur_y");
                pass["mask_blur"] = value;
            }
        } else if (auto it = neutral_fields().find(key); it != neutral_fields().end()) {
            if (!same_value(value, it->second) && !(value.is_array() && value.empty()) &&
                !(value.is_object() && value.empty()) && !(value.is_string() && value.get<std::string>().empty()))
                spec.not_honoured.push_back(key);
        } else {
            if (key == "mask") mask_given = true;
            if (key == "inpaint_full_res") full_res_given = true;
            if (key == "inpaint_full_res_padding") padding_given = true;
            pass[key] = value;
        }
    }
    // A1111's img2img defaults where they differ from sdpp's: "Only masked" on, no padding, and
    // masked content "fill" (0; sdpp's own default is "original").
    if (img2img && mask_given) {
        if (!full_res_given) pass["inpaint_full_res"] = true;
        if (!padding_given) pass["inpaint_full_res_padding"] = 0;
        if (!fill_given) pass["inpainting_fill"] = 0;
    }
    std::vector<std::string> unknown;
    spec.request = request_from_json(pass.dump(), &unknown);
    for (const std::string& u : unknown) spec.not_honoured.push_back(u);
    if (img2img) {
        if (!spec.request.init_image) throw Error("\"init_images\" must hold one base64 image for img2img");
    }
    check_limits(j, spec.request, limits);
    spec.parameters = echo_parameters(j, endpoint);
    return spec;
}

JobSpec parse_openai_body(const std::string& body, const RequestLimits& limits) {
    const Json j = parse_json_object(body);
    JobSpec spec;
    spec.endpoint = Endpoint::OpenAIImages;
    GenerateRequest& r = spec.request;
    auto prompt = j.find("prompt");
    if (prompt == j.end() || !prompt->is_string()) throw Error("\"prompt\" must be a string");
    r.prompt = prompt->get<std::string>();
    if (auto n = j.find("n"); n != j.end() && !n->is_null()) {
        const int64_t v = as_int("n", *n);
        if (v < 1 || v > limits.max_batch_size) throw error("\"n\" ", v, " is out of range (1..", limits.max_batch_size, ")");
        r.batch_size = int(v);
    }
    if (auto size = j.find("size"); size != j.end() && !size->is_null()) {
        if (!size->is_string()) bad("size", "must be a string like \"512x512\"");
        const std::string s = size->get<std::string>();
        int w = 0, h = 0;
        char x = 0, extra = 0;
        if (std::sscanf(s.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || x != 'x')
            throw error("\"size\" \"", s, "\" is not WIDTHxHEIGHT");
        if (w < 8 || h < 8 || w > limits.max_side || h > limits.max_side || w % 8 || h % 8)
            throw error("\"size\" \"", s, "\": sides must be multiples of 8 in 8..", limits.max_side);
        r.width = w;
        r.height = h;
    }
    if (auto f = j.find("response_format"); f != j.end() && !f->is_null()) {
        if (!f->is_string() || f->get<std::string>() != "b64_json")
            throw Error("\"response_format\": only \"b64_json\" is supported (sdpp keeps no image URLs)");
    }
    for (const auto& [key, value] : j.items())
        if (key != "prompt" && key != "n" && key != "size" && key != "response_format" && key != "model" &&
            key != "user" && !value.is_null())
            spec.not_honoured.push_back(key);
    if (int64_t(r.width) * r.height * r.batch_size > limits.max_pixels)
        throw error("\"size\" x \"n\" is over the server's limit of ", limits.max_pixels, " pixels");
    spec.parameters = j;
    return spec;
}

}  // namespace sdpp::server
