// The live preview /sdapi/v1/progress returns as current_image: the sampler's latent projected to
// RGB by a fixed linear map per model family (A1111's "Approx cheap"), at latent resolution.
// Costs a few microseconds per pixel; a TAESD decode can replace it once sdpp has TAESD.
#pragma once
#include <sdpp/sdpp.hpp>

#include <string>

namespace sdpp::server {

// The first image of `latent` [N, 4, h, w] as RGB; empty when the shape is not 4-channel.
Image latent_preview(const Latent& latent, const std::string& family);

}  // namespace sdpp::server
