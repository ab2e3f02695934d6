// Internal pieces of one generation, shared by engine.cpp (the request loop) and the stage files:
//   prompt_encode.cpp  prompts -> contexts (+ SDXL adm vectors)
//   txt2img.cpp        seeds -> per-image torch generators, starting noise, sigmas
//   img2img.cpp        init image -> fitted canvas -> VAE latent, strength-truncated sigmas
//   inpaint.cpp        masks (blur, only-masked crop, latent masks, 9-channel conditioning), overlay
//   sampling.cpp       the denoiser (CFG batch, inpaint concat, mask blend) and the sampler run
// Orchestration only: the math lives in src/sample, src/model and src/backend.
// The path is A1111's (modules/processing.py, sd_samplers_kdiffusion.py, sd_samplers_cfg_denoiser.py)
// as the fixtures document it (k-diffusion CompVisDenoiser / CompVisVDenoiser, continuous t).
#pragma once
#include "backend/ops.h"
#include "io/image.h"
#include "model/conditioning.h"
#include "model/loader.h"
#include "model/unet.h"
#include "model/vae.h"
#include "sample/noise.h"
#include "sample/rng_torch.h"
#include "sample/sampler_registry.h"
#include "sample/schedule.h"
#include "text/bpe.h"
#include "text/embeddings.h"
#include "text/prompt_schedule.h"

#include <sdpp/sdpp.hpp>

#include <algorithm>

#include <functional>
#include <optional>
#include <vector>

namespace sdpp::pipeline {

// ---- prompt_encode.cpp --------------------------------------------------------------------------
// One entry of a prompt schedule: denoiser calls up to end_at_step use entries[index].
struct CondRef {
    int end_at_step = 0;
    int index = 0;
};

struct PromptConditioning {
    Tensor cond;     // [1, S, C]
    Tensor uncond;   // [1, S, C] (same S: the shorter prompt is padded with empty chunks)
    Tensor cond_y;   // SDXL adm vectors [1, adm_in] (undefined for SD1/SD2)
    Tensor uncond_y;

    // Prompt editing, alternation and AND (A1111 reconstruct_cond_batch /
    // reconstruct_multicond_batch). cond / uncond above are the first entries; a plain prompt has
    // one positive part with one entry and one negative entry.
    struct Entry {
        Tensor context;  // [1, S, C], one S for all entries
        Tensor y;        // SDXL adm vector [1, adm_in]
    };
    std::vector<Entry> entries;  // every distinct (text, positive/negative) encoded once
    struct Part {
        float weight = 1.0f;            // AND weight
        std::vector<CondRef> schedule;  // by end step
    };
    std::vector<Part> positive;      // AND parts
    std::vector<CondRef> negative;   // empty when CFG is off
    // True when some call uses other entries than the first or there are several AND parts.
    bool scheduled() const {
        if (positive.size() > 1 || negative.size() > 1) return true;
        return !positive.empty() && (positive[0].schedule.size() > 1 || positive[0].weight != 1.0f);
    }
    // Textual-inversion embeddings the prompts used (positive first), for "TI hashes".
    std::vector<text::UsedEmbedding> embeddings_used;
};
// Appends the embeddings of `more` that `to` does not hold yet (by file), in order.
inline void add_embeddings_used(std::vector<text::UsedEmbedding>& to, const std::vector<text::UsedEmbedding>& more) {
    for (const text::UsedEmbedding& u : more)
        if (std::none_of(to.begin(), to.end(), [&](const text::UsedEmbedding& o) { return o.path == u.path; }))
            to.push_back(u);
}
// The entry denoiser call `call` (0-based) uses: the first with call <= end_at_step, else the first.
inline int cond_index_at(const std::vector<CondRef>& s, int call) {
    for (const CondRef& c : s)
        if (call <= c.end_at_step) return c.index;
    return s.empty() ? 0 : s[0].index;
}

// What one pass encodes: the prompts and the schedule's steps (the pass's denoiser calls; the
// hires pass's calls with the first pass's in `schedule.steps`), and the size SDXL is conditioned on.
struct PromptTexts {
    std::string prompt, negative_prompt;
    text::ScheduleOptions schedule;
    int width = 0, height = 0;
};

struct TextSetup {
    const LoadedModel* model = nullptr;
    const text::ClipTokenizer* tokenizer = nullptr;
    int64_t adm_in_channels = 0;  // U-Net label_emb input width (SDXL), 0 otherwise
    text::EmbeddingLibrary* embeddings = nullptr;  // scanned folder of embeddings; nullptr = none
};

// Tokenises and encodes both prompts, binding the text encoders for the call only (they are
// released before returning, which keeps the peak low while the U-Net runs).
PromptConditioning encode_prompts(Ctx& ctx, const TextSetup& setup, const GenerateRequest& r);
// The same for explicit texts and schedule (prompt_encode.cpp; hires passes, prompt editing).
PromptConditioning encode_prompts(Ctx& ctx, const TextSetup& setup, const GenerateRequest& r, const PromptTexts& t);

// ---- embeddings_setup.cpp ------------------------------------------------------------------------
// ModelOptions::embeddings_dir: the option's folder (which must exist), else "embeddings" beside
// the model file or diffusers folder (which may be absent: no embeddings then).
std::string embeddings_folder(const std::string& model_path, const std::string& option);
// The run's "TI hashes" from the embeddings used; a hash in `requested` (a PNG's) that differs
// from the file found is a warning.
std::string run_ti_hashes(const std::string& requested, const std::vector<text::UsedEmbedding>& used);

// ---- txt2img.cpp --------------------------------------------------------------------------------
// A1111's ImageRNG: one torch CPU generator per image, seeded with that image's seed. The first draw
// of each is its starting noise ([C, h, w]); later draws (ancestral / SDE samplers) continue the same
// per-image streams, so image i of a batch equals a single run with seed + i.
// With a variation strength (subseeds given), the first draw is slerped toward a draw of each
// image's subseed (A1111 ImageRNG.first); later draws still continue the seeds' streams.
class BatchNoise final : public NoiseSource {
public:
    explicit BatchNoise(const std::vector<int64_t>& seeds, const std::vector<int64_t>& subseeds = {},
                        float subseed_strength = 0.0f);
    // [N, C, h, w] with N = number of seeds.
    Tensor next(const Shape& shape, float sigma, float sigma_next) override;
    Tensor first(const Shape& shape);

private:
    std::vector<TorchGenerator> gens_;
    std::vector<int64_t> subseeds_;
    float subseed_strength_ = 0.0f;
};

// Sigmas of a resolved sampler choice for `steps` (steps + 1 values, ending in 0).
std::vector<float> full_sigmas(const SamplerChoice& sampler, int steps, const DiscreteSchedule& schedule);

// ---- img2img.cpp / inpaint.cpp --------------------------------------------------------------------
// The pixel-side inputs of one request, fitted to width x height.
struct ImageInputs {
    Image init;                 // RGB, width x height (empty for init_pixels)
    Tensor init_tensor;         // [1, 3, H, W] in [-1, 1]: what the VAE encodes (undefined for txt2img)
    std::optional<Image> mask;  // gray, width x height, blurred (white = repaint)
    // A1111 apply_overlay: the canvas the result goes back into (only masked) or is composited
    // over (overlay_original), and the mask to composite with (none: paste only).
    std::optional<Image> overlay_base;
    std::optional<Image> overlay_mask;
    std::optional<Box> paste_region;  // only-masked mode: where the result goes back on the canvas
};
ImageInputs prepare_images(const GenerateRequest& r);
// generated (width x height) -> the final picture (pasted back and overlaid) when ImageInputs says so.
Image apply_overlay(const Image& generated, const ImageInputs& in);

// VAE posterior of the init image (and the inpainting conditioning inputs).
struct LatentInputs {
    Tensor init_mean;   // [1, C, h, w] posterior mean * scaling factor (undefined for txt2img)
    Tensor init_std;    // [1, C, h, w] posterior std * scaling factor
    Tensor keep_mask;   // [1, 1, h, w]: 1 keeps the original latent (ordinary models with a mask)
    Tensor c_concat;    // [1, 1 + C, h, w]: mask + masked-image latent (9-channel inpainting models)
};

// img2img.cpp: encode an image [1, 3, H, W] in [-1, 1] to the posterior (mean, std) times the
// scaling factor.
void encode_image(Ctx& ctx, const VAE& vae, const Tensor& image, Tensor& mean, Tensor& std);
// inpaint.cpp: latent masks and the 9-channel conditioning (needs the VAE for the masked image).
void prepare_mask_latents(Ctx& ctx, const VAE& vae, const ImageInputs& in, bool inpaint_model,
                          int64_t latent_h, int64_t latent_w, LatentInputs& out);

// The init latents of one batch [N, C, h, w]: the posterior mean for every image, or (sample_posterior)
// mean + std * eps with eps from a torch generator seeded with the image's seed ^ kPosteriorSeedXor
// (a stream apart from the image's sampling noise).
inline constexpr uint64_t kPosteriorSeedXor = 0x5DEECE66Dull;
Tensor batch_init_latents(const LatentInputs& lat, const std::vector<int64_t>& seeds, bool sample_posterior);
// [1, ...] -> [n, ...] by copying (the U-Net gets contiguous batches).
Tensor repeat_batch(Ctx& ctx, const Tensor& t, int64_t n);

// ---- hires_plan.cpp (sizes, steps, checks) and hires.cpp (the tensors) ---------------------------
// A float the user typed, as the double Python holds it (0.7f -> 0.7): A1111's arithmetic on it.
double typed_decimal(float v);
// A1111 SamplerData.total_steps: the denoiser calls of `steps` (2x for second-order samplers);
// what prompt schedules count in.
int schedule_calls(SamplerKind kind, int steps);
// Hires-fix request checks (validate_request calls it).
void validate_hires(const GenerateRequest& r);

struct HiresPlan {
    int upscale_w = 0, upscale_h = 0;    // A1111 hr_upscale_to_x / _y
    int truncate_x = 0, truncate_y = 0;  // latent columns / rows cropped after upscaling (hr_resize_x and _y)
    int64_t latent_w = 0, latent_h = 0;  // the second pass's latent size
    int steps = 0;                       // hr_second_pass_steps or steps
    bool pixel = false;                  // Lanczos / Nearest: decode, resize, encode
    std::string upscaler;
};
HiresPlan plan_hires(const GenerateRequest& r, int downscale);
// The second pass's sigmas (hr_steps + 1 values): setup_img2img_steps with explicit steps.
std::vector<float> hires_sigmas(const SamplerChoice& sampler, int hr_steps, float denoise, const DiscreteSchedule& schedule);
// Latent upscalers: first-pass latent -> upscaled and cropped latent.
Tensor hires_latent(const Tensor& first, const HiresPlan& p, int downscale);
Tensor crop_hires_latent(const Tensor& upscaled, const HiresPlan& p);
// Pixel upscalers: the first pass's uint8 image -> upscale_w x upscale_h.
Image hires_image(const Image& lowres, const HiresPlan& p);
// A decoded [1, 3, H, W] image in [-1, 1] -> uint8 as A1111's hires pass makes it (truncation).
Image decoded_to_uint8_truncated(const Tensor& decoded);

// ---- sampling.cpp -------------------------------------------------------------------------------
struct DenoiseSetup {
    const UNet* unet = nullptr;
    const DiscreteSchedule* schedule = nullptr;
    Prediction prediction = Prediction::Eps;
    float cfg_scale = 7.0f;
    const PromptConditioning* cond = nullptr;
    const LatentInputs* latents = nullptr;  // c_concat / keep_mask / init latents (may be null)
    Tensor init_latent;                      // [N, C, h, w] blend target when keep_mask is set
};

struct StepReport {
    int step;   // steps finished before this one (0-based index of the running step)
    int total;
    const Tensor& x;  // x at the start of step `step`
};
using StepReporter = std::function<void(const StepReport&)>;

// sampling_multicond.cpp: the U-Net on x_in [N, ...] with contexts / adm vectors [N, ...].
using UNetCallFn = std::function<Tensor(const Tensor& x_in, float t, const Tensor& context, const Tensor& y)>;
// The guided denoiser for prompt schedules and AND parts (A1111 CFGDenoiser + combine_denoised):
// each call picks its entries by a call counter that starts at 0 with the denoiser.
DenoiseFn make_scheduled_denoiser(Ctx& ctx, const DenoiseSetup& s, int64_t batch, UNetCallFn unet_call);

// Runs the resolved sampler (with the request's eta) from x over sigmas; returns the final latent.
Tensor run_sampling(Ctx& ctx, const DenoiseSetup& setup, const SamplerChoice& sampler, float eta, Tensor x,
                    const std::vector<float>& sigmas, NoiseSource& noise, const StepReporter& report);

}  // namespace sdpp::pipeline
