#include "server/preview.h"

#include <algorithm>
#include <cmath>

namespace sdpp::server {

namespace {

// latent channel -> RGB contribution, fitted by the community to the SD VAEs' decoders
// (the factors A1111's "Approx cheap" preview and ComfyUI's latent previews use).
constexpr float kSd1[4][3] = {{0.3512f, 0.2297f, 0.3227f},
                              {0.3250f, 0.4974f, 0.2350f},
                              {-0.2829f, 0.1762f, 0.2721f},
                              {-0.2120f, -0.2616f, -0.7177f}};
constexpr float kSdxl[4][3] = {{0.3651f, 0.4232f, 0.4341f},
                               {-0.2533f, -0.0042f, 0.1068f},
                               {0.1076f, 0.1111f, -0.0362f},
                               {-0.3165f, -0.2492f, -0.2188f}};
constexpr float kSdxlBias[3] = {0.1084f, -0.0175f, -0.0011f};

}  // namespace

Image latent_preview(const Latent& latent, const std::string& family) {
    if (latent.shape.size() != 4 || latent.shape[1] != 4 || latent.shape[0] < 1) return {};
    const int64_t h = latent.shape[2], w = latent.shape[3];
    if (h <= 0 || w <= 0 || latent.data.size() < size_t(4 * h * w)) return {};
    const bool xl = family.rfind("sdxl", 0) == 0;
    const auto& f = xl ? kSdxl : kSd1;
    Image img = Image::blank(int(w), int(h), 3);
    const size_t plane = size_t(h * w);
    for (size_t i = 0; i < plane; ++i) {
        for (int c = 0; c < 3; ++c) {
            float v = xl ? kSdxlBias[c] : 0.0f;
            for (int k = 0; k < 4; ++k) v += latent.data[size_t(k) * plane + i] * f[k][c];
            const float u = std::clamp((v + 1.0f) * 127.5f, 0.0f, 255.0f);
            img.pixels[i * 3 + size_t(c)] = uint8_t(std::lround(u));
        }
    }
    return img;
}

}  // namespace sdpp::server
