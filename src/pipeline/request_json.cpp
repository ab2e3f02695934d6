// The JSON form of GenerateRequest (include/sdpp/sdpp.hpp), the body the HTTP server takes.
// Field names mirror A1111's API bodies (modules/api/models.py: StableDiffusionTxt2ImgProcessingAPI
// and ...Img2ImgProcessingAPI, i.e. processing.py's StableDiffusionProcessing fields) where one
// exists; the rest are sdpp's own. One table maps each field both ways.
#include "core/error.h"
#include "io/base64.h"
#include "io/image.h"

#include <sdpp/sdpp.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace sdpp {

namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void bad_type(const std::string& key, const char* want, const Json& v) {
    throw error("request JSON: \"", key, "\" must be ", want, ", got ", v.type_name());
}

int64_t as_int64(const std::string& key, const Json& v) {
    if (v.is_number_integer()) {
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
            throw error("request JSON: \"", key, "\" is out of range");
        return v.get<int64_t>();
    }
    // 20.0 is an integer too (JavaScript clients send numbers without a kind).
    if (v.is_number_float() && std::nearbyint(v.get<double>()) == v.get<double>() &&
        std::abs(v.get<double>()) < 9e15)
        return int64_t(v.get<double>());
    bad_type(key, "an integer", v);
}

int as_int(const std::string& key, const Json& v) {
    int64_t x = as_int64(key, v);
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
        throw error("request JSON: \"", key, "\" is out of range");
    return int(x);
}

float as_float(const std::string& key, const Json& v) {
    if (!v.is_number()) bad_type(key, "a number", v);
    return float(v.get<double>());
}

// A1111 mixes bools and 0/1 integers for flags (inpainting_mask_invert is an int).
bool as_bool(const std::string& key, const Json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
    bad_type(key, "a boolean", v);
}

std::string as_string(const std::string& key, const Json& v) {
    if (!v.is_string()) bad_type(key, "a string", v);
    return v.get<std::string>();
}

template <size_t N>
std::array<int, N> as_ints(const std::string& key, const Json& v) {
    if (!v.is_array() || v.size() != N) bad_type(key, N == 2 ? "an array of 2 integers" : "an array of 4 integers", v);
    std::array<int, N> out{};
    for (size_t i = 0; i < N; ++i) out[i] = as_int(key, v[i]);
    return out;
}

// A base64 PNG or JPEG, optionally as a data URL ("data:image/png;base64,...").
Image as_image(const std::string& key, const Json& v) {
    std::string s = as_string(key, v);
    if (s.rfind("data:", 0) == 0) {
        size_t comma = s.find(',');
        if (comma == std::string::npos) throw error("request JSON: \"", key, "\" is a data URL without data");
        s.erase(0, comma + 1);
    }
    std::vector<uint8_t> bytes = base64_decode(s, "request JSON: \"" + key + "\"");
    return decode_image_bytes(bytes.data(), bytes.size(), "request JSON: \"" + key + "\"").image;
}

Json image_json(const Image& image) {
    std::vector<uint8_t> png = encode_png(image);
    return base64_encode(png.data(), png.size());
}

// A float as the shortest decimal that reads back as the same float (0.1f prints as 0.1).
Json float_json(float f) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, f);
    return std::strtod(std::string(buf, res.ptr).c_str(), nullptr);
}

ResizeMode as_resize_mode(const std::string& key, const Json& v) {
    if (v.is_string()) return parse_resize_mode(v.get<std::string>());
    int m = as_int(key, v);
    // A1111: 0 just resize, 1 crop and resize, 2 resize and fill, 3 just resize (latent upscale)
    if (m < 0 || m > 2) throw error("request JSON: \"", key, "\" ", m, " is not supported (0, 1 or 2)");
    return ResizeMode(m);
}

// A1111 inpainting_fill: 0 fill, 1 original, 2 latent noise, 3 latent nothing (or one of those names).
InpaintFill as_inpaint_fill(const std::string& key, const Json& v) {
    if (v.is_string()) {
        try {
            return parse_inpaint_fill(v.get<std::string>());
        } catch (const Error& e) {
            throw error("request JSON: \"", key, "\": ", e.what());
        }
    }
    const int m = as_int(key, v);
    if (m < 0 || m > 3) throw error("request JSON: \"", key, "\" ", m, " is out of range (0..3)");
    return InpaintFill(m);
}

// "loras": [{"file": "x.safetensors" or a NAME, "te_multiplier": 1, "unet_multiplier": 1}, ...]
// ("multiplier" sets both).
void read_loras(GenerateRequest& r, const std::string& k, const Json& v) {
    if (!v.is_array()) bad_type(k, "an array of {\"file\", \"te_multiplier\", \"unet_multiplier\"} objects", v);
    r.loras.clear();
    for (const Json& e : v) {
        if (!e.is_object()) bad_type(k, "an array of objects", e);
        LoraSpec l;
        for (const auto& [f, x] : e.items()) {
            const std::string fk = k + "." + f;
            if (f == "file") l.file = as_string(fk, x);
            else if (f == "multiplier") l.te_multiplier = l.unet_multiplier = as_float(fk, x);
            else if (f == "te_multiplier") l.te_multiplier = as_float(fk, x);
            else if (f == "unet_multiplier") l.unet_multiplier = as_float(fk, x);
            else throw error("request JSON: unknown field \"", fk, "\"");
        }
        if (l.file.empty()) throw error("request JSON: \"", k, "\" entry without a \"file\"");
        r.loras.push_back(std::move(l));
    }
}
void write_loras(const GenerateRequest& r, Json& o) {
    if (r.loras.empty()) return;
    Json a = Json::array();
    for (const LoraSpec& l : r.loras)
        a.push_back({{"file", l.file}, {"te_multiplier", float_json(l.te_multiplier)},
                     {"unet_multiplier", float_json(l.unet_multiplier)}});
    o["loras"] = a;
}

struct Field {
    const char* key;
    void (*read)(GenerateRequest& r, const std::string& key, const Json& v);
    // Writes the field into `out`, or leaves it out (unset optionals, absent images).
    void (*write)(const GenerateRequest& r, Json& out);
};

// clang-format off
const Field kFields[] = {
    {"prompt", [](GenerateRequest& r, const std::string& k, const Json& v) { r.prompt = as_string(k, v); },
               [](const GenerateRequest& r, Json& o) { o["prompt"] = r.prompt; }},
    {"negative_prompt", [](GenerateRequest& r, const std::string& k, const Json& v) { r.negative_prompt = as_string(k, v); },
                        [](const GenerateRequest& r, Json& o) { o["negative_prompt"] = r.negative_prompt; }},
    {"seed", [](GenerateRequest& r, const std::string& k, const Json& v) { r.seed = as_int64(k, v); },
             [](const GenerateRequest& r, Json& o) { o["seed"] = r.seed; }},
    {"subseed", [](GenerateRequest& r, const std::string& k, const Json& v) { r.subseed = as_int64(k, v); },
                [](const GenerateRequest& r, Json& o) { o["subseed"] = r.subseed; }},
    {"subseed_strength", [](GenerateRequest& r, const std::string& k, const Json& v) { r.subseed_strength = as_float(k, v); },
                         [](const GenerateRequest& r, Json& o) { o["subseed_strength"] = float_json(r.subseed_strength); }},
    {"sampler_name", [](GenerateRequest& r, const std::string& k, const Json& v) { r.sampler = as_string(k, v); },
                     [](const GenerateRequest& r, Json& o) { o["sampler_name"] = r.sampler; }},
    {"scheduler", [](GenerateRequest& r, const std::string& k, const Json& v) { r.scheduler = as_string(k, v); },
                  [](const GenerateRequest& r, Json& o) { o["scheduler"] = r.scheduler; }},
    {"steps", [](GenerateRequest& r, const std::string& k, const Json& v) { r.steps = as_int(k, v); },
              [](const GenerateRequest& r, Json& o) { o["steps"] = r.steps; }},
    {"cfg_scale", [](GenerateRequest& r, const std::string& k, const Json& v) { r.cfg_scale = as_float(k, v); },
                  [](const GenerateRequest& r, Json& o) { if (r.cfg_scale) o["cfg_scale"] = float_json(*r.cfg_scale); }},
    {"width", [](GenerateRequest& r, const std::string& k, const Json& v) { r.width = as_int(k, v); },
              [](const GenerateRequest& r, Json& o) { o["width"] = r.width; }},
    {"height", [](GenerateRequest& r, const std::string& k, const Json& v) { r.height = as_int(k, v); },
               [](const GenerateRequest& r, Json& o) { o["height"] = r.height; }},
    {"batch_size", [](GenerateRequest& r, const std::string& k, const Json& v) { r.batch_size = as_int(k, v); },
                   [](const GenerateRequest& r, Json& o) { o["batch_size"] = r.batch_size; }},
    {"n_iter", [](GenerateRequest& r, const std::string& k, const Json& v) { r.batch_count = as_int(k, v); },
               [](const GenerateRequest& r, Json& o) { o["n_iter"] = r.batch_count; }},
    {"eta", [](GenerateRequest& r, const std::string& k, const Json& v) { r.eta = as_float(k, v); },
            [](const GenerateRequest& r, Json& o) { o["eta"] = float_json(r.eta); }},
    {"init_images", [](GenerateRequest& r, const std::string& k, const Json& v) {
                        if (!v.is_array()) bad_type(k, "an array of base64 images", v);
                        if (v.size() > 1) throw error("request JSON: \"", k, "\" has ", v.size(), " images; sdpp takes one");
                        if (v.size() == 1) r.init_image = as_image(k, v[0]);
                    },
                    [](const GenerateRequest& r, Json& o) { if (r.init_image) o["init_images"] = Json::array({image_json(*r.init_image)}); }},
    {"denoising_strength", [](GenerateRequest& r, const std::string& k, const Json& v) { r.strength = as_float(k, v); },
                           [](const GenerateRequest& r, Json& o) { o["denoising_strength"] = float_json(r.strength); }},
    {"resize_mode", [](GenerateRequest& r, const std::string& k, const Json& v) { r.resize_mode = as_resize_mode(k, v); },
                    [](const GenerateRequest& r, Json& o) { o["resize_mode"] = int(r.resize_mode); }},
    {"sample_posterior", [](GenerateRequest& r, const std::string& k, const Json& v) { r.sample_posterior = as_bool(k, v); },
                         [](const GenerateRequest& r, Json& o) { o["sample_posterior"] = r.sample_posterior; }},
    {"mask", [](GenerateRequest& r, const std::string& k, const Json& v) { r.mask = as_image(k, v); },
             [](const GenerateRequest& r, Json& o) { if (r.mask) o["mask"] = image_json(*r.mask); }},
    {"inpainting_mask_invert", [](GenerateRequest& r, const std::string& k, const Json& v) { r.invert_mask = as_bool(k, v); },
                               [](const GenerateRequest& r, Json& o) { o["inpainting_mask_invert"] = r.invert_mask ? 1 : 0; }},
    {"mask_blur", [](GenerateRequest& r, const std::string& k, const Json& v) { r.mask_blur = as_float(k, v); },
                  [](const GenerateRequest& r, Json& o) { o["mask_blur"] = float_json(r.mask_blur); }},
    {"inpaint_full_res", [](GenerateRequest& r, const std::string& k, const Json& v) { r.only_masked = as_bool(k, v); },
                         [](const GenerateRequest& r, Json& o) { o["inpaint_full_res"] = r.only_masked; }},
    {"inpaint_full_res_padding", [](GenerateRequest& r, const std::string& k, const Json& v) { r.only_masked_padding = as_int(k, v); },
                                 [](const GenerateRequest& r, Json& o) { o["inpaint_full_res_padding"] = r.only_masked_padding; }},
    {"overlay_original", [](GenerateRequest& r, const std::string& k, const Json& v) { r.overlay_original = as_bool(k, v); },
                         [](const GenerateRequest& r, Json& o) { o["overlay_original"] = r.overlay_original; }},
    {"outpaint", [](GenerateRequest& r, const std::string& k, const Json& v) { r.outpaint = as_ints<4>(k, v); },
                 [](const GenerateRequest& r, Json& o) { o["outpaint"] = r.outpaint; }},
    {"original_size", [](GenerateRequest& r, const std::string& k, const Json& v) { r.original_size = as_ints<2>(k, v); },
                      [](const GenerateRequest& r, Json& o) { if (r.original_size) o["original_size"] = *r.original_size; }},
    {"target_size", [](GenerateRequest& r, const std::string& k, const Json& v) { r.target_size = as_ints<2>(k, v); },
                    [](const GenerateRequest& r, Json& o) { if (r.target_size) o["target_size"] = *r.target_size; }},
    {"crop_coords", [](GenerateRequest& r, const std::string& k, const Json& v) { r.crop_coords = as_ints<2>(k, v); },
                    [](const GenerateRequest& r, Json& o) { o["crop_coords"] = r.crop_coords; }},
    {"decode", [](GenerateRequest& r, const std::string& k, const Json& v) { r.decode = as_bool(k, v); },
               [](const GenerateRequest& r, Json& o) { o["decode"] = r.decode; }},
    {"preview_every", [](GenerateRequest& r, const std::string& k, const Json& v) { r.preview_every = as_int(k, v); },
                      [](const GenerateRequest& r, Json& o) { o["preview_every"] = r.preview_every; }},
    {"inpainting_fill", [](GenerateRequest& r, const std::string& k, const Json& v) { r.inpaint_fill = as_inpaint_fill(k, v); },
                        [](const GenerateRequest& r, Json& o) { o["inpainting_fill"] = int(r.inpaint_fill); }},
    {"vae_decoder", [](GenerateRequest& r, const std::string& k, const Json& v) { r.vae_decoder = as_string(k, v); },
                    [](const GenerateRequest& r, Json& o) { o["vae_decoder"] = r.vae_decoder; }},
    {"preview_method", [](GenerateRequest& r, const std::string& k, const Json& v) { r.preview_method = as_string(k, v); },
                       [](const GenerateRequest& r, Json& o) { o["preview_method"] = r.preview_method; }},
    // Hires fix (A1111 /sdapi/v1/txt2img); with enable_hr, denoising_strength is the second pass's.
    {"enable_hr", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires = as_bool(k, v); },
                  [](const GenerateRequest& r, Json& o) {
                      o["enable_hr"] = r.hires;
                      if (r.hires && !r.init_image) o["denoising_strength"] = float_json(r.hires_denoise);
                  }},
    {"hr_scale", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_scale = as_float(k, v); },
                 [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_scale"] = float_json(r.hires_scale); }},
    {"hr_upscaler", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_upscaler = as_string(k, v); },
                    [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_upscaler"] = r.hires_upscaler; }},
    {"hr_second_pass_steps", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_steps = as_int(k, v); },
                             [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_second_pass_steps"] = r.hires_steps; }},
    {"hr_resize_x", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_width = as_int(k, v); },
                    [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_resize_x"] = r.hires_width; }},
    {"hr_resize_y", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_height = as_int(k, v); },
                    [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_resize_y"] = r.hires_height; }},
    {"hr_sampler_name", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_sampler = as_string(k, v); },
                        [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_sampler_name"] = r.hires_sampler; }},
    {"hr_prompt", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_prompt = as_string(k, v); },
                  [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_prompt"] = r.hires_prompt; }},
    {"hr_negative_prompt", [](GenerateRequest& r, const std::string& k, const Json& v) { r.hires_negative_prompt = as_string(k, v); },
                           [](const GenerateRequest& r, Json& o) { if (r.hires) o["hr_negative_prompt"] = r.hires_negative_prompt; }},
    {"ti_hashes", [](GenerateRequest& r, const std::string& k, const Json& v) { r.ti_hashes = as_string(k, v); },
                  [](const GenerateRequest& r, Json& o) { if (!r.ti_hashes.empty()) o["ti_hashes"] = r.ti_hashes; }},
    {"loras", read_loras, write_loras},
};
// clang-format on

const Field* find_field(const std::string& key) {
    for (const Field& f : kFields)
        if (key == f.key) return &f;
    return nullptr;
}

// A1111 puts clip skip in override_settings; every other setting there is unknown to sdpp.
void read_overrides(GenerateRequest& r, const Json& v, std::vector<std::string>& unknown) {
    if (!v.is_object()) bad_type("override_settings", "an object", v);
    for (const auto& [key, value] : v.items()) {
        if (key == "CLIP_stop_at_last_layers" && !value.is_null())
            r.clip_skip = as_int("override_settings.CLIP_stop_at_last_layers", value);
        else if (key != "CLIP_stop_at_last_layers")
            unknown.push_back("override_settings." + key);
    }
}

}  // namespace

GenerateRequest request_from_json(const std::string& text, std::vector<std::string>* unknown_fields) {
    Json j;
    try {
        j = Json::parse(text);
    } catch (const Json::parse_error& e) {
        throw error("request JSON: not valid JSON (at byte ", e.byte, ")");
    } catch (const Json::exception&) {  // a number too large for a double (1e999): found by fuzzing
        throw Error("request JSON: not valid JSON (a number is out of range)");
    }
    if (!j.is_object()) throw error("request JSON: must be an object, got ", j.type_name());
    GenerateRequest r;
    std::vector<std::string> unknown;
    for (const auto& [key, value] : j.items()) {
        if (value.is_null()) continue;  // A1111 clients send null for "default"
        if (const Field* f = find_field(key))
            f->read(r, key, value);
        else if (key == "sampler_index" && !j.contains("sampler_name"))  // A1111's older name
            r.sampler = as_string(key, value);
        else if (key == "override_settings")
            read_overrides(r, value, unknown);
        else
            unknown.push_back(key);
    }
    if (r.hires && !r.init_image && j.contains("denoising_strength") && !j.at("denoising_strength").is_null()) {
        r.hires_denoise = r.strength;  // A1111 txt2img: the hires pass's strength
        r.strength = GenerateRequest{}.strength;
    }
    if (unknown_fields)
        unknown_fields->insert(unknown_fields->end(), unknown.begin(), unknown.end());
    else if (!unknown.empty())
        throw error("request JSON: unknown field \"", unknown.front(), "\"");
    return r;
}

std::string request_to_json(const GenerateRequest& r) {
    Json o = Json::object();
    for (const Field& f : kFields) f.write(r, o);
    if (r.clip_skip != 0) o["override_settings"] = {{"CLIP_stop_at_last_layers", r.clip_skip}};
    // Invalid UTF-8 in a prompt becomes U+FFFD rather than an exception.
    return o.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace sdpp
