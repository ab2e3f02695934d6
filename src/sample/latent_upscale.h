// Latent resizing for the hires fix, as A1111 does it (modules/shared.py latent_upscale_modes ->
// torch.nn.functional.interpolate(samples, size, mode, antialias), align_corners unset):
//   Latent                        bilinear
//   Latent (antialiased)          bilinear, antialias=True
//   Latent (bicubic)              bicubic (a = -0.75, edge indices clamped)
//   Latent (bicubic antialiased)  bicubic, antialias=True (a = -0.5, taps normalised inside the image)
//   Latent (nearest)              nearest (src = floor(dst * in / out))
//   Latent (nearest-exact)        nearest-exact (src = floor((dst + 0.5) * in / out))
// Index math follows ATen's UpSample.h / UpSampleKernel.cpp (area_pixel_compute_source_index with
// the float scale in / out; the antialiased path of _upsample_bilinear2d_aa / _bicubic2d_aa).
// Latents are small: plain loops, accumulated in double.
#pragma once
#include "core/tensor.h"

#include <string>
#include <vector>

namespace sdpp {

enum class LatentUpscaleMode { Bilinear, Bicubic, Nearest, NearestExact };

struct LatentUpscaler {
    LatentUpscaleMode mode = LatentUpscaleMode::Bilinear;
    bool antialias = false;
};

// A1111's name ("Latent", "Latent (nearest-exact)", ...; case-sensitive as A1111) -> the mode;
// false for names that are not latent upscalers.
bool latent_upscaler_from_name(const std::string& name, LatentUpscaler& out);
// Every latent upscaler name A1111 has.
std::vector<std::string> latent_upscaler_names();

// [N, C, H, W] -> [N, C, out_h, out_w] (float32).
Tensor upscale_latent(const Tensor& x, int64_t out_h, int64_t out_w, const LatentUpscaler& how);

}  // namespace sdpp
