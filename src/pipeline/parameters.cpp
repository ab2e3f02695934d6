// A1111 "parameters" text: formatting, parsing, and the mapping to and from GenerateRequest.
// Mirrors AUTOMATIC1111 stable-diffusion-webui (v1.10) modules/processing.py create_infotext and
// modules/infotext_utils.py (quote, unquote, parse_generation_parameters, re_param).
#include "pipeline/parameters.h"

#include "core/error.h"
#include "pipeline/seed.h"

#include <sdpp/sdpp.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sdpp {

namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
// Python's \w on str: letters, digits, underscore; any non-ASCII byte counts as a letter here.
bool is_word(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }
bool is_key_char(unsigned char c) { return is_word(c) || c == ' ' || c == '-' || c == '/'; }

std::string strip(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && is_space(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && is_space(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t nl = s.find('\n', start);
        if (nl == std::string::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, nl - start));
        start = nl + 1;
    }
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(char(cp));
    } else if (cp < 0x800) {
        out.push_back(char(0xC0 | (cp >> 6)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(char(0xE0 | (cp >> 12)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (cp >> 18)));
        out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    }
}

// json.loads of a string literal (including surrogate pairs); false when it is not valid JSON.
bool json_unescape(const std::string& q, std::string& out) {
    if (q.size() < 2 || q.front() != '"' || q.back() != '"') return false;
    out.clear();
    for (size_t i = 1; i + 1 < q.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(q[i]);
        if (c == '"') return false;
        if (c < 0x20) return false;  // json.loads (strict) refuses raw control characters
        if (c != '\\') {
            out.push_back(char(c));
            continue;
        }
        if (++i + 1 > q.size() - 1) return false;
        char e = q[i];
        switch (e) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                auto hex4 = [&](size_t at, uint32_t& v) {
                    if (at + 4 > q.size() - 1) return false;
                    v = 0;
                    for (size_t k = at; k < at + 4; ++k) {
                        char h = q[k];
                        v <<= 4;
                        if (h >= '0' && h <= '9') v |= uint32_t(h - '0');
                        else if (h >= 'a' && h <= 'f') v |= uint32_t(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') v |= uint32_t(h - 'A' + 10);
                        else return false;
                    }
                    return true;
                };
                uint32_t cp = 0;
                if (!hex4(i + 1, cp)) return false;
                i += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < q.size() && q[i + 1] == '\\' && q[i + 2] == 'u') {
                    uint32_t lo = 0;
                    if (hex4(i + 3, lo) && lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                append_utf8(out, cp);
                break;
            }
            default: return false;
        }
    }
    return true;
}

}  // namespace

const std::string* InfoText::get(const std::string& key) const {
    for (const auto& [k, v] : fields)
        if (k == key) return &v;
    return nullptr;
}

void InfoText::set(const std::string& key, const std::string& value) {
    for (auto& [k, v] : fields)
        if (k == key) {
            v = value;
            return;
        }
    fields.emplace_back(key, value);
}

std::string quote_infotext_value(const std::string& value) {
    if (value.find_first_of(",\n:") == std::string::npos) return value;
    // json.dumps(text, ensure_ascii=False)
    std::string out = "\"";
    for (unsigned char c : value) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(char(c));
                }
        }
    }
    out.push_back('"');
    return out;
}

std::string unquote_infotext_value(const std::string& value) {
    if (value.empty() || value.front() != '"' || value.back() != '"') return value;
    std::string out;
    return json_unescape(value, out) ? out : value;
}

std::string format_number(double v) {
    char buf[64];
    float f = float(v);
    if (double(f) == v || std::fabs(double(f) - v) <= 1e-7 * std::fabs(v)) {
        auto r = std::to_chars(buf, buf + sizeof buf, f);
        return std::string(buf, r.ptr);
    }
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string format_infotext(const InfoText& info) {
    std::string params;
    for (const auto& [k, v] : info.fields) {
        if (!params.empty()) params += ", ";
        // A1111 writes a bare key when key == value (flags such as "Tiling").
        params += (k == v) ? k : k + ": " + quote_infotext_value(v);
    }
    std::string neg = info.negative_prompt.empty() ? "" : "\nNegative prompt: " + info.negative_prompt;
    return strip(info.prompt + neg + "\n" + params);
}

std::vector<std::pair<std::string, std::string>> parse_infotext_fields(const std::string& line) {
    // re_param = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', applied with findall.
    std::vector<std::pair<std::string, std::string>> out;
    const size_t n = line.size();
    size_t pos = 0;
    while (pos < n) {
        bool matched = false;
        for (size_t start = pos; start < n && !matched; ++start) {
            size_t p = start;
            while (p < n && is_space(static_cast<unsigned char>(line[p]))) ++p;
            if (p >= n || !is_word(static_cast<unsigned char>(line[p]))) continue;
            size_t k0 = p++;
            while (p < n && is_key_char(static_cast<unsigned char>(line[p]))) ++p;
            if (p - k0 < 2 || p >= n || line[p] != ':') continue;
            std::string key = line.substr(k0, p - k0);
            ++p;
            while (p < n && is_space(static_cast<unsigned char>(line[p]))) ++p;
            std::string value;
            size_t end = std::string::npos;
            if (p < n && line[p] == '"') {  // "(?:\\.|[^\\"])+" followed by , or end
                size_t q = p + 1;
                bool ok = false;
                while (q < n) {
                    if (line[q] == '\\') {
                        if (q + 1 >= n) break;
                        q += 2;
                    } else if (line[q] == '"') {
                        ok = q > p + 1;
                        break;
                    } else {
                        ++q;
                    }
                }
                if (ok && q < n && (q + 1 == n || line[q + 1] == ',')) {
                    value = line.substr(p, q + 1 - p);
                    end = q + 1 < n ? q + 2 : n;
                }
            }
            if (end == std::string::npos) {  // [^,]* followed by , or end
                size_t c = line.find(',', p);
                value = line.substr(p, (c == std::string::npos ? n : c) - p);
                end = c == std::string::npos ? n : c + 1;
            }
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = unquote_infotext_value(value);
            out.emplace_back(std::move(key), std::move(value));
            pos = end;
            matched = true;
        }
        if (!matched) break;
    }
    return out;
}

InfoText parse_infotext(const std::string& text) {
    InfoText info;
    std::vector<std::string> lines = split_lines(strip(text));
    std::string last = lines.back();
    lines.pop_back();
    std::vector<std::pair<std::string, std::string>> fields = parse_infotext_fields(last);
    if (fields.size() < 3) {
        lines.push_back(last);
        fields.clear();
    }
    bool done_with_prompt = false;
    for (std::string line : lines) {
        line = strip(line);
        if (line.rfind("Negative prompt:", 0) == 0) {
            done_with_prompt = true;
            line = strip(line.substr(16));
        }
        std::string& dst = done_with_prompt ? info.negative_prompt : info.prompt;
        dst += (dst.empty() ? "" : "\n") + line;
    }
    info.fields = std::move(fields);
    return info;
}

// ---- GenerateRequest <-> parameters ------------------------------------------------------------
namespace {

int64_t parse_int(const std::string& key, const std::string& v) {
    int64_t out = 0;
    std::string s = strip(v);
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) throw error("parameters: '", key, ": ", v, "' is not an integer");
    return out;
}

float parse_float(const std::string& key, const std::string& v) {
    std::string s = strip(v);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d))
        throw error("parameters: '", key, ": ", v, "' is not a number");
    return float(d);
}

}  // namespace

std::string format_parameters(const GenerateRequest& r, const ModelDescription& model, int64_t seed,
                              int index_in_batch) {
    (void)index_in_batch;
    return format_parameters(r, model, InfotextExtras{}, seed);
}

std::string format_parameters(const GenerateRequest& r, const ModelDescription& model, const InfotextExtras& extras,
                              int64_t seed, int64_t subseed) {
    InfoText info;
    info.prompt = r.prompt + extras.lora_tags;
    info.negative_prompt = r.negative_prompt;
    info.set("Steps", std::to_string(r.steps));
    info.set("Sampler", sampler_display_name(r.sampler));
    info.set("Schedule type", scheduler_display_name(r.scheduler));
    info.set("CFG scale", format_number(r.cfg_scale.value_or(model.default_cfg)));
    info.set("Seed", seed_text(seed));
    info.set("Size", std::to_string(r.width) + "x" + std::to_string(r.height));
    if (!model.hash.empty()) info.set("Model hash", model.hash);
    if (!model.name.empty()) info.set("Model", model.name);
    if (!extras.vae_hash.empty()) info.set("VAE hash", extras.vae_hash);
    if (!extras.vae_name.empty()) info.set("VAE", extras.vae_name);
    if (r.subseed_strength != 0.0f) {  // A1111 writes these right after the VAE
        info.set("Variation seed", seed_text(subseed));
        info.set("Variation seed strength", format_number(r.subseed_strength));
    }
    const bool img2img = r.init_image || r.init_pixels;
    if (img2img) info.set("Denoising strength", format_number(r.strength));
    else if (r.hires) info.set("Denoising strength", format_number(r.hires_denoise));
    if (r.clip_skip > 1) info.set("Clip skip", std::to_string(r.clip_skip));
    if (r.eta != 1.0f) info.set("Eta", format_number(r.eta));
    if (img2img && r.mask) {
        info.set("Mask blur", format_number(r.mask_blur));
        if (r.only_masked) {
            info.set("Inpaint area", "Only masked");
            info.set("Masked area padding", std::to_string(r.only_masked_padding));
        }
        if (r.inpaint_fill != InpaintFill::Original) info.set("Masked content", inpaint_fill_name(r.inpaint_fill));
    }
    if (r.outpaint != std::array<int, 4>{0, 0, 0, 0})
        info.set("Outpaint", std::to_string(r.outpaint[0]) + "," + std::to_string(r.outpaint[1]) + "," +
                                 std::to_string(r.outpaint[2]) + "," + std::to_string(r.outpaint[3]));
    if (r.hires && !img2img) {  // A1111 StableDiffusionProcessingTxt2Img.init's extra_generation_params
        if (!r.hires_sampler.empty() && r.hires_sampler != r.sampler)
            info.set("Hires sampler", sampler_display_name(parse_sampler_name(r.hires_sampler).sampler));
        if (!r.hires_prompt.empty() && r.hires_prompt != r.prompt) info.set("Hires prompt", r.hires_prompt);
        if (!r.hires_negative_prompt.empty() && r.hires_negative_prompt != r.negative_prompt)
            info.set("Hires negative prompt", r.hires_negative_prompt);
        if (r.hires_width == 0 && r.hires_height == 0) info.set("Hires upscale", format_number(r.hires_scale));
        else info.set("Hires resize", std::to_string(r.hires_width) + "x" + std::to_string(r.hires_height));
        if (r.hires_steps > 0) info.set("Hires steps", std::to_string(r.hires_steps));
        info.set("Hires upscaler", r.hires_upscaler);
    }
    if (!r.ti_hashes.empty()) info.set("TI hashes", r.ti_hashes);  // A1111: an extra_generation_param
    if (!extras.lora_hashes.empty()) info.set("Lora hashes", extras.lora_hashes);  // A1111 extra_generation_params
    return format_infotext(info);
}

GenerateRequest request_from_parameters(const std::string& text) {
    InfoText info = parse_infotext(text);
    if (info.fields.empty()) throw Error("parameters: no 'Steps: ..., Sampler: ...' line found");
    GenerateRequest r;
    r.prompt = info.prompt;
    r.negative_prompt = info.negative_prompt;
    for (const auto& [k, v] : info.fields) {
        if (k == "Steps") {
            r.steps = int(parse_int(k, v));
        } else if (k == "Sampler") {
            SamplerSelection c = parse_sampler_name(v);
            r.sampler = c.sampler;
            if (!c.scheduler.empty()) r.scheduler = c.scheduler;
        } else if (k == "Schedule type") {
            std::string s = parse_scheduler_name(v);
            if (!s.empty()) r.scheduler = s;
        } else if (k == "CFG scale") {
            r.cfg_scale = parse_float(k, v);
        } else if (k == "Seed") {
            r.seed = seed_from_text(strip(v));
        } else if (k == "Variation seed") {
            r.subseed = seed_from_text(strip(v));
        } else if (k == "Variation seed strength") {
            r.subseed_strength = parse_float(k, v);
        } else if (k == "Size") {
            size_t x = v.find('x');
            if (x == std::string::npos) throw error("parameters: 'Size: ", v, "' is not WxH");
            r.width = int(parse_int(k, v.substr(0, x)));
            r.height = int(parse_int(k, v.substr(x + 1)));
        } else if (k == "Denoising strength") {
            r.strength = parse_float(k, v);
        } else if (k == "Clip skip") {
            r.clip_skip = int(parse_int(k, v));
        } else if (k == "Eta") {
            r.eta = parse_float(k, v);
        } else if (k == "Mask blur") {
            r.mask_blur = parse_float(k, v);
        } else if (k == "Inpaint area") {
            r.only_masked = v == "Only masked";
        } else if (k == "Masked content") {
            r.inpaint_fill = parse_inpaint_fill(v);
        } else if (k == "Masked area padding") {
            r.only_masked_padding = int(parse_int(k, v));
        } else if (k == "Outpaint") {
            int l = 0, t = 0, rr = 0, b = 0;
            if (std::sscanf(v.c_str(), "%d,%d,%d,%d", &l, &t, &rr, &b) != 4)
                throw error("parameters: 'Outpaint: ", v, "' is not L,T,R,B");
            r.outpaint = {l, t, rr, b};
        } else if (k == "Hires upscale") {
            r.hires = true;
            r.hires_scale = parse_float(k, v);
        } else if (k == "Hires resize") {
            r.hires = true;
            if (std::sscanf(v.c_str(), "%dx%d", &r.hires_width, &r.hires_height) != 2)
                throw error("parameters: 'Hires resize: ", v, "' is not WxH");
        } else if (k == "Hires steps") {
            r.hires = true;
            r.hires_steps = int(parse_int(k, v));
        } else if (k == "Hires upscaler") {
            r.hires = true;
            r.hires_upscaler = v;
        } else if (k == "Hires sampler") {
            r.hires_sampler = parse_sampler_name(v).sampler;
        } else if (k == "Hires prompt") {
            r.hires_prompt = v;
        } else if (k == "Hires negative prompt") {
            r.hires_negative_prompt = v;
        } else if (k == "TI hashes") {
            r.ti_hashes = v;
        } else if (k == "Lora hashes") {
            r.lora_hashes = parse_lora_hashes(v);
        }
        // Other fields (Model, Model hash, VAE, Version, extensions' keys) do not change the request.
    }
    if (r.hires) {  // txt2img with hires fix: "Denoising strength" is the second pass's
        if (info.get("Denoising strength")) r.hires_denoise = r.strength;
        r.strength = GenerateRequest{}.strength;
    }
    return r;
}

std::vector<std::pair<std::string, std::string>> parse_lora_hashes(const std::string& value) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t start = 0;
    while (start <= value.size()) {
        size_t comma = value.find(',', start);
        const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const size_t colon = item.rfind(':');
        if (colon != std::string::npos) {
            std::string name = strip(item.substr(0, colon)), hash = strip(item.substr(colon + 1));
            if (!name.empty() && !hash.empty()) out.emplace_back(std::move(name), std::move(hash));
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

bool parameters_are_img2img(const std::string& text) {
    const InfoText info = parse_infotext(text);
    // A1111 writes "Denoising strength" for img2img, and for txt2img with hires fix next to its
    // "Hires ..." fields.
    bool hires = false;
    for (const auto& [k, v] : info.fields) hires = hires || k.rfind("Hires ", 0) == 0;
    return info.get("Denoising strength") && !hires;
}

}  // namespace sdpp
