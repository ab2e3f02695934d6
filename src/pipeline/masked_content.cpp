// A1111's masked-content modes (see masked_content.h): the filled init image and the filled init
// latents (the names: inpaint_fill_names.cpp).
#include "pipeline/masked_content.h"

#include "core/error.h"
#include "io/image.h"
#include "io/masked_fill.h"
#include "sample/rng_torch.h"

#include <algorithm>

namespace sdpp {

namespace pipeline {

Image fill_init_image(InpaintFill fill, const Image& image, const Image& mask) {
    if (fill == InpaintFill::Original) return image;
    return masked_fill(image, mask);
}

Tensor a1111_latent_keep_mask(const Image& mask, int64_t latent_h, int64_t latent_w) {
    // A1111: latmask = around(mask.convert('RGB').resize((w, h)) / 255) (PIL's default bicubic).
    Image small = resize_bicubic(mask, int(latent_w), int(latent_h));
    Tensor keep = Tensor::empty({1, 1, latent_h, latent_w});
    float* k = keep.data<float>();
    for (size_t i = 0; i < small.pixels.size(); ++i) k[i] = small.pixels[i] >= 128 ? 0.0f : 1.0f;
    return keep;
}

void fill_init_latents(InpaintFill fill, const Tensor& keep_mask, Tensor& init, const std::vector<int64_t>& seeds) {
    if (fill != InpaintFill::LatentNoise && fill != InpaintFill::LatentNothing) return;
    SDPP_CHECK(keep_mask.defined() && init.defined(), "masked content: no latent mask or init latent");
    const int64_t n = init.dim(0), per = init.numel() / n, hw = keep_mask.numel();
    SDPP_CHECK(int64_t(seeds.size()) == n && per % hw == 0, "masked content: ", seeds.size(), " seeds for ",
               init.shape_str());
    Tensor out = init.contiguous().clone();
    float* o = out.data<float>();
    const std::vector<float> keep = keep_mask.to_vector();
    std::vector<float> noise(size_t(per), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
        if (fill == InpaintFill::LatentNoise) {
            TorchGenerator g(uint64_t(seeds[size_t(i)]));  // the image's first draw = its sampling noise
            g.randn(noise);
        }
        for (int64_t k = 0; k < per; ++k) {
            const float m = keep[size_t(k % hw)];
            // init * mask + noise * nmask (float32 in A1111: exact, m is 0 or 1)
            o[i * per + k] = o[i * per + k] * m + noise[size_t(k)] * (1.0f - m);
        }
    }
    init = out;
}

}  // namespace pipeline
}  // namespace sdpp
