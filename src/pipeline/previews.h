// Live previews during sampling (A1111 modules/sd_samplers_common.py samples_to_images_tensor with
// the "Approx cheap" and "TAESD" live-preview methods; sd_vae_approx.py cheap_approximation).
//   cheap: a fixed linear map of the 4 latent channels to RGB (A1111's coefficients per family), an
//          image the size of the latent (1/8 of the picture);
//   TAESD: the tiny decoder on the sampler's latent as it is, out * 2 - 1, a full-size picture.
// Only the first image of a batch is previewed.
#pragma once
#include "backend/ops.h"
#include "model/taesd.h"

#include <sdpp/sdpp.hpp>

#include <optional>

namespace sdpp::pipeline {

// x [N, 4, h, w] -> an RGB image h x w of the first latent; nullopt when the latent does not have
// 4 channels. `sdxl` picks A1111's SDXL coefficients.
std::optional<Image> cheap_preview(const Tensor& x, bool sdxl);

// x [N, C, h, w] -> the first latent through TAESD's decoder, 8h x 8w.
Image taesd_preview(Ctx& ctx, const TAESD& taesd, const Tensor& x);

}  // namespace sdpp::pipeline
