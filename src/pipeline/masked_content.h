// A1111's "Masked content" modes (inpainting_fill) for inpainting, as
// modules/processing.py StableDiffusionProcessingImg2Img.init prepares the init latent:
//   0 fill            the init image is blur-filled under the mask (masking.fill) before encoding
//   1 original        the init image as it is
//   2 latent noise    blur-filled, encoded, then init_latent * mask + randn(seed) * nmask
//   3 latent nothing  blur-filled, encoded, then init_latent * mask
// with nmask = round(PIL bicubic resize of the mask to latent size / 255) (1 = repaint) and
// mask = 1 - nmask. randn(seed) is the image's first torch CPU draw: the same tensor as its
// sampling noise (A1111's create_random_tensors over the batch's seeds, without variation seeds).
#pragma once
#include "core/tensor.h"

#include <sdpp/sdpp.hpp>

#include <vector>

namespace sdpp::pipeline {

// The pixel side: the image A1111 encodes for `fill` (masked_fill for 0, 2, 3; `image` for 1).
Image fill_init_image(InpaintFill fill, const Image& image, const Image& mask);

// A1111's latent mask of the inpainting mask: [1, 1, h, w], 1 = keep the original (mask), computed
// as 1 - round(bicubic(mask, w, h) / 255).
Tensor a1111_latent_keep_mask(const Image& mask, int64_t latent_h, int64_t latent_w);

// The latent side, in place on a batch's init latents [N, C, h, w] (image i drawn from seeds[i]).
void fill_init_latents(InpaintFill fill, const Tensor& keep_mask, Tensor& init_latents,
                       const std::vector<int64_t>& seeds);

}  // namespace sdpp::pipeline
