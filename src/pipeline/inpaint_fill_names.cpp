// A1111's masked-content mode names (inpainting_fill 0-3), both ways. Apart from
// masked_content.cpp so the request checks link without the image code (the request fuzzer).
#include "core/error.h"

#include <sdpp/sdpp.hpp>

#include <cctype>

namespace sdpp {

InpaintFill parse_inpaint_fill(const std::string& name) {
    std::string s;
    for (char c : name) s += c == '_' || c == ' ' ? '-' : char(std::tolower(static_cast<unsigned char>(c)));
    if (s == "fill" || s == "0") return InpaintFill::Fill;
    if (s == "original" || s == "1") return InpaintFill::Original;
    if (s == "latent-noise" || s == "2") return InpaintFill::LatentNoise;
    if (s == "latent-nothing" || s == "3") return InpaintFill::LatentNothing;
    throw error("unknown masked content '", name, "' (fill, original, latent-noise or latent-nothing)");
}

const char* inpaint_fill_name(InpaintFill fill) {
    switch (fill) {
        case InpaintFill::Fill: return "fill";
        case InpaintFill::Original: return "original";
        case InpaintFill::LatentNoise: return "latent noise";
        case InpaintFill::LatentNothing: return "latent nothing";
    }
    return "original";
}

}  // namespace sdpp
