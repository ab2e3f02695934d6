// Inpainting and outpainting inputs, the way A1111 prepares them
// (stable-diffusion-webui modules/processing.py StableDiffusionProcessingImg2Img.init,
// inpainting_image_conditioning, apply_overlay; modules/masking.py get_crop_region_v2 /
// expand_crop_region):
//   - the mask (white = repaint) is inverted if asked, blurred (Gaussian, sigma = mask blur);
//   - outpainting grows the canvas (new area filled from the nearest edge pixels, masked white);
//   - "only masked": the mask's bounding box plus padding, widened to the target aspect ratio, is
//     cropped from image and mask and scaled to the target size ("resize and fill"); the result is
//     scaled back and pasted into the canvas;
//   - ordinary models: latent mask = round(bicubic downscale of the mask), A1111 blends the
//     denoised prediction with the init latent outside it every step and once more at the end;
//   - 9-channel inpainting models: masked image = image * (round(mask) == 0), its VAE latent and the
//     nearest-downsampled binary mask go in front of the U-Net input (diffusers
//     StableDiffusionInpaintPipeline / LDM "hybrid" c_concat); txt2img uses an all-ones mask and a
//     zero (gray) image;
//   - the original is composited back over the result with the mask (doubled and clipped outside
//     "only masked"), unless overlay_original is off.
#include "pipeline/pipeline.h"
#include "pipeline/masked_content.h"

#include "core/error.h"
#include "core/log.h"

#include <algorithm>

namespace sdpp::pipeline {

namespace {

// masking.expand_crop_region: grow the box to the target aspect ratio, inside the image.
Box expand_crop_region(Box b, int proc_w, int proc_h, int img_w, int img_h) {
    int x1 = b.x0, y1 = b.y0, x2 = b.x1, y2 = b.y1;
    const double ratio_crop = double(x2 - x1) / (y2 - y1);
    const double ratio_proc = double(proc_w) / proc_h;
    if (ratio_crop > ratio_proc) {
        const double desired_h = (x2 - x1) / ratio_proc;
        const int diff = int(desired_h - (y2 - y1));
        y1 -= diff / 2;
        y2 += diff - diff / 2;
        if (y2 >= img_h) {
            const int d = y2 - img_h;
            y2 -= d;
            y1 -= d;
        }
        if (y1 < 0) {
            y2 -= y1;
            y1 = 0;
        }
        if (y2 >= img_h) y2 = img_h;
    } else {
        const double desired_w = (y2 - y1) * ratio_proc;
        const int diff = int(desired_w - (x2 - x1));
        x1 -= diff / 2;
        x2 += diff - diff / 2;
        if (x2 >= img_w) {
            const int d = x2 - img_w;
            x2 -= d;
            x1 -= d;
        }
        if (x1 < 0) {
            x2 -= x1;
            x1 = 0;
        }
        if (x2 >= img_w) x2 = img_w;
    }
    return Box{x1, y1, x2, y2};
}

Image fit(const Image& im, int w, int h, ResizeMode mode) {
    if (im.width == w && im.height == h) return im;
    return resize_image(im, w, h, mode);
}

ImageInputs prepare_pixels(const GenerateRequest& r);

}  // namespace

ImageInputs prepare_images(const GenerateRequest& r) {
    ImageInputs out = prepare_pixels(r);
    if (!out.init.empty()) out.init_tensor = image_to_tensor(out.init);
    if (r.init_pixels) {
        const FloatTensor& f = *r.init_pixels;
        out.init_tensor = Tensor::from_vector(f.data, Shape(f.shape.begin(), f.shape.end()));
    }
    return out;
}

namespace {
ImageInputs prepare_pixels(const GenerateRequest& r) {
    ImageInputs out;
    if (r.init_pixels) {  // exact float input: only the mask needs preparing (same size, no resize)
        if (r.mask) {
            Image m = to_gray(*r.mask);
            if (r.invert_mask) m = invert(m);
            out.mask = r.mask_blur > 0 ? gaussian_blur(m, r.mask_blur, r.mask_blur) : m;
        }
        return out;
    }
    if (!r.init_image) return out;
    Image src = to_rgb(*r.init_image);
    std::optional<Image> mask;
    if (r.mask) {
        mask = to_gray(*r.mask);
        if (r.invert_mask) mask = invert(*mask);
    }
    const auto& op = r.outpaint;
    if (op != std::array<int, 4>{0, 0, 0, 0}) {
        PaddedCanvas canvas = pad_canvas(src, op[0], op[1], op[2], op[3]);
        if (mask) {  // the user's mask inside, the new area repainted
            Image m = canvas.mask;
            paste(m, *mask, op[0], op[1]);
            canvas.mask = std::move(m);
        }
        src = std::move(canvas.image);
        mask = std::move(canvas.mask);
    }
    if (!mask) {
        out.init = fit(src, r.width, r.height, r.resize_mode);
        return out;
    }
    Image blurred = r.mask_blur > 0 ? gaussian_blur(*mask, r.mask_blur, r.mask_blur) : *mask;
    if (r.only_masked) {
        Box box = mask_bounding_box(blurred);
        if (box.empty()) {
            log_warn("the mask is empty: \"only masked\" falls back to img2img of the whole image");
            out.init = fit(src, r.width, r.height, r.resize_mode);
            return out;
        }
        const int pad = r.only_masked_padding;
        box = Box{std::max(box.x0 - pad, 0), std::max(box.y0 - pad, 0), std::min(box.x1 + pad, blurred.width),
                  std::min(box.y1 + pad, blurred.height)};
        box = expand_crop_region(box, r.width, r.height, blurred.width, blurred.height);
        out.mask = fit(crop(blurred, box.x0, box.y0, box.width(), box.height()), r.width, r.height,
                       ResizeMode::ResizeAndFill);
        out.init = fit(crop(src, box.x0, box.y0, box.width(), box.height()), r.width, r.height,
                       ResizeMode::ResizeAndFill);
        out.init = fill_init_image(r.inpaint_fill, out.init, *out.mask);  // A1111 masked content
        out.overlay_base = src;  // the canvas the region is pasted back into
        if (r.overlay_original) out.overlay_mask = blurred;
        out.paste_region = box;
        return out;
    }
    out.mask = fit(blurred, r.width, r.height, r.resize_mode);
    out.init = fit(src, r.width, r.height, r.resize_mode);
    if (r.overlay_original) {
        Image m = *out.mask;  // A1111: np.clip(mask * 2, 0, 255) for the overlay
        for (uint8_t& v : m.pixels) v = uint8_t(std::min(255, int(v) * 2));
        out.overlay_base = out.init;
        out.overlay_mask = std::move(m);
    }
    out.init = fill_init_image(r.inpaint_fill, out.init, *out.mask);  // A1111 masked content (after the overlay copy)
    return out;
}

}  // namespace

Image apply_overlay(const Image& generated, const ImageInputs& in) {
    if (!in.overlay_base) return generated;
    Image placed;
    if (in.paste_region) {  // only masked: the region goes back into the canvas
        const Box& b = *in.paste_region;
        placed = *in.overlay_base;
        paste(placed, fit(generated, b.width(), b.height(), ResizeMode::CropAndResize), b.x0, b.y0);
    } else {
        placed = generated;
    }
    if (!in.overlay_mask) return placed;
    Image out = *in.overlay_base;
    composite(out, placed, *in.overlay_mask);  // original * (1 - mask) + result * mask
    return out;
}

void prepare_mask_latents(Ctx& ctx, const VAE& vae, const ImageInputs& in, bool inpaint_model, int64_t latent_h,
                          int64_t latent_w, LatentInputs& out) {
    if (inpaint_model) {
        // Binary pixel mask (A1111 rounds the blurred mask; 1 = repaint); txt2img: everything.
        const bool have_init = in.init_tensor.defined();
        const int H = have_init ? int(in.init_tensor.dim(2)) : int(latent_h * vae.cfg.downscale());
        const int W = have_init ? int(in.init_tensor.dim(3)) : int(latent_w * vae.cfg.downscale());
        std::vector<float> bin(size_t(H) * W, 1.0f);
        if (in.mask)
            for (size_t i = 0; i < bin.size(); ++i) bin[i] = in.mask->pixels[i] >= 128 ? 1.0f : 0.0f;
        Tensor image = have_init ? in.init_tensor : Tensor::zeros({1, 3, H, W});
        Tensor keep = Tensor::empty({1, 1, H, W});
        float* k = keep.data<float>();
        for (size_t i = 0; i < bin.size(); ++i) k[i] = 1.0f - bin[i];
        Tensor masked = mul(ctx, image, keep);  // [1, 3, H, W], masked area 0 (gray)
        VAEPosterior post = int64_t(W) * H > kVAEBandedMaxPixels ? vae.encode_tiled(ctx, masked)
                                                                 : vae.encode_banded(ctx, masked);
        Tensor masked_latent = scale(ctx, post.mean, vae.cfg.scaling_factor);  // [1, C, h, w]
        // F.interpolate(mask, size=(h, w)) nearest: source index floor(dst * in / out).
        Tensor ml = Tensor::empty({1, 1, latent_h, latent_w});
        float* m = ml.data<float>();
        const float sy = float(H) / float(latent_h), sx = float(W) / float(latent_w);
        for (int64_t y = 0; y < latent_h; ++y)
            for (int64_t x = 0; x < latent_w; ++x) {
                const int64_t py = std::min<int64_t>(int64_t(float(y) * sy), H - 1);
                const int64_t px = std::min<int64_t>(int64_t(float(x) * sx), W - 1);
                m[y * latent_w + x] = bin[size_t(py * W + px)];
            }
        std::vector<Tensor> parts = {ml, masked_latent};
        out.c_concat = concat(ctx, parts, 1);  // [1, 1 + C, h, w]
        return;
    }
    if (!in.mask) return;
    out.keep_mask = a1111_latent_keep_mask(*in.mask, latent_h, latent_w);  // 1 - round(bicubic(mask) / 255)
}

}  // namespace sdpp::pipeline
