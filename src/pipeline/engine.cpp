// sdpp::Engine (include/sdpp/sdpp.hpp): load a checkpoint once, run many requests. One request:
//   text     prompts -> contexts (text encoders bound for the call, then released)
//   encode   init image / masks -> VAE latents (img2img, inpainting; the VAE is bound for the call)
//   sample   per batch: seeds -> noise -> sigmas -> sampler over the CFG denoiser -> final latents
//   hires    (hires fix) upscale the latents, then an img2img pass at the larger size (hires.cpp)
//   decode   latents / scaling -> VAE decoder -> 8-bit images (diffusers rounding) -> overlay
// Memory (issue 8): weights are mmap views of the file; the backend keeps prepared (f32, reordered)
// copies within ModelOptions::weight_cache_mb and converts the rest on each use. The U-Net stays
// bound between requests when keep_weights is set (the server); the CLI clears it so its prepared
// copies go before the VAE decodes. Each stage's file pages are released when it is done.
// Orchestration only; the stage pieces live in prompt_encode / txt2img / img2img / inpaint / sampling.
#include "pipeline/pipeline.h"
#include "pipeline/masked_content.h"
#include "pipeline/previews.h"
#include "pipeline/model_files.h"
#include "pipeline/networks.h"
#include "text/extra_networks.h"
#include "pipeline/parameters.h"
#include "pipeline/request.h"
#include "pipeline/seed.h"

#include "backend/backend.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "model/detect.h"
#include "sample/img2img.h"
#include "sample/latent_math.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

namespace sdpp {

using namespace pipeline;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Cancelled {};

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

ModelDescription describe(const LoadedModel& m, const std::string& path, const std::string& name) {
    ModelDescription d;
    d.path = path;
    d.name = !name.empty() ? name : model_display_name(path);
    d.family = family_name(m.family);
    d.prediction = prediction_name(m.prediction());
    d.inpaint = m.inpaint;
    for (const char* te : {"te1.", "te2."})
        if (auto s = m.weights().peek_shape(std::string(te) + "text_model.embeddings.token_embedding.weight"); s && s->size() == 2)
            d.text_widths.push_back((*s)[1]);
    switch (m.family) {
        case Family::SD2:
            d.default_width = d.default_height = m.prediction() == Prediction::V ? 768 : 512;
            break;
        case Family::SDXL:
        case Family::SDXLRefiner: d.default_width = d.default_height = 1024; break;
        default: d.default_width = d.default_height = 512;
    }
    // Distilled models (name or ModelSpec title): few steps, no CFG, as their model cards say.
    std::string tag = lower(d.name);
    for (const char* k : {"modelspec.title", "modelspec.architecture"})
        if (auto it = m.metadata.find(k); it != m.metadata.end()) tag += " " + lower(it->second);
    if (tag.find("turbo") != std::string::npos) {
        d.distilled = true;
        d.default_steps = 1;  // sd-turbo / sdxl-turbo model cards: 1 step (up to 4)
        d.default_cfg = 1.0f;
        d.default_sampler = "euler_a";
        d.default_width = d.default_height = 512;  // both Turbos are trained at 512x512
    } else if (tag.find("lcm") != std::string::npos) {
        d.distilled = true;
        d.default_steps = 4;
        d.default_cfg = 1.0f;
        d.default_sampler = "lcm";
    }
    return d;
}

// ModelOptions::weight_cache_mb -> bytes. Auto: half of MemAvailable at load, so a machine with
// room keeps every prepared weight and a small one converts what does not fit on each use.
size_t weight_budget(int64_t mb) {
    if (mb == ModelOptions::kWeightCacheAll) return SIZE_MAX;
    if (mb >= 0) return size_t(mb) << 20;
    if (mb != ModelOptions::kWeightCacheAuto)
        throw error("weight cache must be auto (", ModelOptions::kWeightCacheAuto, "), all (",
                    ModelOptions::kWeightCacheAll, "), 0 or a size in MiB; got ", mb);
    std::ifstream f("/proc/meminfo");
    std::string key, unit;
    size_t kb = 0;
    while (f >> key >> kb >> unit)
        if (key == "MemAvailable:") return kb * 1024 / 2;
    return SIZE_MAX;
}

Latent to_latent(const Tensor& t) {
    Latent l;
    l.shape = t.shape();
    l.data = t.to_vector();
    return l;
}

}  // namespace

// Hidden: a nested class of the exported Engine would be exported with it.
struct SDPP_LOCAL Engine::Impl {
    // This engine's own memory and backend (declared first: destroyed after every tensor and
    // weight that uses them). Two Engines share neither caches nor accounting.
    Allocator allocator;
    std::unique_ptr<Backend> backend = make_cpu_backend();
    ModelOptions opts;
    LoadedModel model;
    ModelDescription desc;
    DType dtype = DType::F32;
    std::unique_ptr<text::ClipTokenizer> tokenizer;
    UNetConfig unet_cfg;
    VAEConfig vae_cfg;
    std::optional<UNet> unet;
    DiscreteSchedule schedule = DiscreteSchedule::ldm();
    double load_s = 0;
    bool hash_done = false;
    InfotextExtras infotext;  // the --vae override's name and hash
    size_t weight_budget = SIZE_MAX;  // bytes of prepared weights the backend may keep
    std::optional<TAESD> taesd;       // ModelOptions::taesd: previews and the "taesd" decode
    // The preview picture of x (GenerateRequest::preview_method), nullopt for "none".
    std::optional<Image> preview_image(const GenerateRequest& r, const Tensor& x) {
        if (r.preview_method == "none") return std::nullopt;
        if (taesd && r.preview_method != "cheap") {
            Ctx c = make_ctx(dtype);
            return taesd_preview(c, *taesd, x);
        }
        return cheap_preview(x, model.family == Family::SDXL || model.family == Family::SDXLRefiner);
    }
    std::unique_ptr<text::EmbeddingLibrary> embeddings;  // textual inversion, rescanned per request
    NetworkSession networks;          // LoRA / LyCORIS merged into the weights (pipeline/networks.h)

    // True when every U-Net matrix stays prepared (f32) within the budget.
    bool unet_fits_budget() const {
        if (weight_budget == SIZE_MAX) return true;
        size_t f32 = 0;
        for (const std::string& n : model.weights().names_with_prefix("model.diffusion_model.")) {
            Tensor t = model.weights().raw(n);
            if (t.ndim() >= 2) f32 += size_t(t.numel()) * 4;
        }
        return f32 <= weight_budget;
    }

    // Progress plumbing for one request.
    const ProgressCallback* progress = nullptr;
    int batch = 0, batches = 1;
    std::map<std::string, double> timings;
    std::vector<std::string> stage_order;

    void emit(const std::string& stage, int step, int total, double elapsed, const Latent* preview = nullptr,
              const Image* preview_image = nullptr) {
        if (!progress || !*progress) return;
        Progress p{stage, step, total, batch, batches, elapsed, preview, preview_image};
        if (!(*progress)(p)) throw Cancelled{};
    }
    void add_time(const std::string& stage, double s) {
        if (!timings.count(stage)) stage_order.push_back(stage);
        timings[stage] += s;
    }
    const UNet& bound_unet() {
        if (!unet) {
            auto t0 = Clock::now();
            unet.emplace(UNet::load(model.weights(), unet_cfg));
            add_time("bind", seconds_since(t0));
        }
        return *unet;
    }
    VAE bind_vae() { return VAE::load(model.weights(), vae_cfg); }
    Ctx make_ctx(DType compute) {
        Ctx c;
        c.backend = backend.get();
        c.allocator = &allocator;
        c.compute_dtype = compute;
        return c;
    }
    void log_allocator(const char* stage) const {
        AllocatorStats a = allocator.stats();
        log_debug("after ", stage, ": tensors live ", a.live_bytes >> 20, " MiB, peak ", a.peak_bytes >> 20,
                  " MiB, cached ", a.cached_bytes >> 20, " MiB; ", a.n_allocs, " system allocations, ", a.n_reuses,
                  " reuses");
    }
    // A stage's file pages leave the process's resident set when it is done (issue 8's memory
    // budget); the mapping stays, so a later request faults them back in from the page cache.
    void release_pages(const std::string& prefix) {
        size_t n = model.weights().release_pages(prefix);
        if (n) log_debug("released ", n >> 20, " MiB of ", prefix, "* file pages");
    }

    GenerateResult run(const GenerateRequest& request);
    // One request, in the steps below (each one stage of the progress report).
    void run_resolved(GenerateResult& res, const SamplerChoice& sampler);
    void hash_files_once();
    PromptConditioning encode_text(Ctx& ctx, const GenerateRequest& r, const PromptTexts& texts);
    LatentInputs encode_inputs(Ctx& vctx, const GenerateRequest& r, const ImageInputs& images, int64_t lh, int64_t lw);
    struct BatchStart {
        std::vector<int64_t> seeds, subseeds;  // per image; subseeds only with a variation strength
        BatchNoise noise;                      // the images' torch generators (first draw already taken)
        Tensor init_latent;                    // img2img: the batch's init latents
        Tensor x;                              // the starting latent
    };
    BatchStart start_batch(const GenerateRequest& r, const LatentInputs& lat, const std::vector<float>& sigmas,
                           bool from_noise, int64_t lh, int64_t lw);
    Tensor sample_batch(Ctx& ctx, const GenerateRequest& r, const SamplerChoice& sampler, const PromptConditioning& cond,
                        const LatentInputs& lat, BatchStart& b, const std::vector<float>& sigmas,
                        const std::string& stage = "sample");
    // Hires fix: the second pass's plan, sampler, sigmas and conditioning, and the pass itself.
    struct HiresRun {
        HiresPlan plan;
        SamplerChoice sampler;
        std::vector<float> sigmas;
        PromptConditioning cond;
    };
    HiresRun prepare_hires(Ctx& ctx, const GenerateRequest& r, const SamplerChoice& first_sampler);
    Tensor hires_pass(Ctx& ctx, Ctx& vctx, const GenerateRequest& r, const HiresRun& h, const Tensor& first,
                      const BatchStart& b);
    void decode_batch(Ctx& vctx, VAE* decoder, const Tensor& out, const GenerateRequest& r, const ImageInputs& images,
                      const BatchStart& b, GenerateResult& res);
};

Engine::Engine(const ModelOptions& options) : impl_(std::make_unique<Impl>()) {
    auto t0 = Clock::now();
    Impl& s = *impl_;
    s.opts = options;
    if (options.model.empty()) throw Error("no model given (pass -m FILE: a .safetensors/.ckpt checkpoint or a diffusers folder)");
    if (!std::filesystem::exists(options.model)) throw error(options.model, ": no such file or folder");
    check_model_file(options.model, "model");
    if (!options.vae.empty()) check_model_file(options.vae, "--vae");
    if (options.threads < 0) throw error("threads ", options.threads, " must be >= 0 (0 = all cores)");
    if (options.dtype == "f32") s.dtype = DType::F32;
    else if (options.dtype == "bf16") s.dtype = DType::BF16;
    else throw error("unknown dtype '", options.dtype, "' (f32 or bf16)");
    if (options.threads > 0) set_num_threads(options.threads);
    s.weight_budget = weight_budget(options.weight_cache_mb);
    s.backend->set_prepared_weight_limit(s.weight_budget);
    LoadOptions lo;
    if (!options.vae.empty()) lo.vae_path = options.vae;
    if (options.prediction == "v") lo.prediction = Prediction::V;
    else if (options.prediction == "eps") lo.prediction = Prediction::Eps;
    else if (!options.prediction.empty()) throw error("unknown prediction '", options.prediction, "' (eps or v)");
    s.model = load_model(options.model, lo);
    if (s.model.family == Family::Unknown) throw error(options.model, ": no U-Net found (not a Stable Diffusion checkpoint?)");
    s.desc = describe(s.model, options.model, options.name);
    s.unet_cfg = UNetConfig::detect(s.model.weights(), s.model.hints);
    s.vae_cfg = VAEConfig::detect(s.model.weights(), s.model.hints, s.model.family);
    if (!options.taesd.empty()) {
        s.taesd = TAESD::load(options.taesd, s.desc.family);
        if (!s.taesd->decoder) throw error("TAESD ", options.taesd, ": no decoder weights (taesd_decoder.safetensors)");
        if (s.taesd->latent_channels() != s.unet_cfg.out_channels)
            throw error("TAESD ", options.taesd, " takes ", s.taesd->latent_channels(), "-channel latents; the model makes ",
                        s.unet_cfg.out_channels);
    }
    std::string vocab = text::find_clip_vocab(options.model, options.vocab);
    s.tokenizer = std::make_unique<text::ClipTokenizer>(text::ClipVocab::load(vocab));
    s.embeddings = std::make_unique<text::EmbeddingLibrary>(embeddings_folder(options.model, options.embeddings_dir));
    s.load_s = seconds_since(t0);
    if (s.weight_budget != SIZE_MAX) log_debug("prepared-weight budget ", s.weight_budget >> 20, " MiB");
    log_debug("model ", s.desc.name, ": ", s.desc.family, ", ", s.desc.prediction, s.desc.inpaint ? ", inpainting" : "",
              "; U-Net ", s.unet_cfg.describe(), "; VAE ", s.vae_cfg.describe());
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

const ModelDescription& Engine::model() const { return impl_->desc; }
double Engine::load_seconds() const { return impl_->load_s; }

EngineMemory Engine::memory() const {
    const AllocatorStats a = impl_->allocator.stats();
    return {impl_->backend->prepared_weight_bytes(), a.live_bytes, a.cached_bytes};
}

GenerateRequest Engine::resolve(const GenerateRequest& request) const {
    return resolve_request(request, impl_->desc).request;
}

GenerateResult Engine::generate(const GenerateRequest& request, const ProgressCallback& progress) {
    Impl& s = *impl_;
    AllocatorScope scope(s.allocator);  // tensors made without a Ctx (noise, images) count here too
    if (s.opts.threads > 0) set_num_threads(s.opts.threads);  // OpenMP's count is per calling thread
    s.progress = &progress;
    s.timings.clear();
    s.stage_order.clear();
    s.batch = 0;
    GenerateResult res = s.run(request);
    if (!s.opts.keep_weights) s.unet.reset();
    for (const std::string& st : s.stage_order) res.timings.push_back({st, s.timings[st]});
    res.peak_bytes = s.allocator.stats().peak_bytes;
    s.progress = nullptr;
    return res;
}

GenerateResult Engine::Impl::run(const GenerateRequest& request) {
    GenerateResult res;
    ResolvedRequest resolved = resolve_request(request, desc);
    res.request = std::move(resolved.request);
    try {
        run_resolved(res, resolved.sampler);
    } catch (const Cancelled&) {
        res.cancelled = true;
    }
    return res;
}

// A1111's "Model hash" and, with --vae, "VAE hash" / "VAE" (cached per file after the first time).
void Engine::Impl::hash_files_once() {
    if (hash_done) return;
    auto th = Clock::now();
    desc.hash = model_short_hash(desc.path);
    if (!opts.vae.empty()) {  // A1111: "VAE hash: <10 hex>, VAE: <file name>"
        infotext.vae_name = std::filesystem::path(opts.vae).filename().string();
        if (infotext.vae_name.empty()) infotext.vae_name = model_display_name(opts.vae);
        infotext.vae_hash = model_short_hash(opts.vae);
    }
    hash_done = true;
    add_time("hash", seconds_since(th));
}

// Both prompts through the text encoders, whose file pages go back afterwards (refetched if needed).
PromptConditioning Engine::Impl::encode_text(Ctx& ctx, const GenerateRequest& r, const PromptTexts& texts) {
    auto t0 = Clock::now();
    emit("text", 0, 1, 0);
    TextSetup ts{&model, tokenizer.get(), unet_cfg.adm_in_channels};
    embeddings->scan(*tokenizer);
    ts.embeddings = embeddings.get();
    PromptConditioning cond = encode_prompts(ctx, ts, r, texts);
    add_time("text", seconds_since(t0));
    release_pages("te1.");
    release_pages("te2.");
    emit("text", 1, 1, seconds_since(t0));
    return cond;
}

// img2img / inpainting: the init image's latent and the mask at latent size, through the encoder.
LatentInputs Engine::Impl::encode_inputs(Ctx& vctx, const GenerateRequest& r, const ImageInputs& images, int64_t lh,
                                         int64_t lw) {
    LatentInputs lat;
    const bool img2img = r.init_image.has_value() || r.init_pixels.has_value();
    if (!img2img && !model.inpaint) return lat;
    auto t0 = Clock::now();
    emit("encode", 0, 1, 0);
    VAE vae = bind_vae();
    if (img2img) encode_image(vctx, vae, images.init_tensor, lat.init_mean, lat.init_std);
    prepare_mask_latents(vctx, vae, images, model.inpaint, lh, lw, lat);
    release_pages("first_stage_model.encoder.");
    add_time("encode", seconds_since(t0));
    emit("encode", 1, 1, seconds_since(t0));
    return lat;
}

// One batch's seeds, subseeds, noise streams and starting latent (pure noise, or the init latent
// noised to the first sigma).
Engine::Impl::BatchStart Engine::Impl::start_batch(const GenerateRequest& r, const LatentInputs& lat,
                                                   const std::vector<float>& sigmas, bool from_noise, int64_t lh,
                                                   int64_t lw) {
    const int B = r.batch_size;
    std::vector<int64_t> seeds, subseeds;
    for (int i = 0; i < B; ++i) {
        seeds.push_back(image_seed(r.seed, r.subseed_strength, int64_t(batch) * B + i));
        if (r.subseed_strength != 0.0f) subseeds.push_back(seed_plus(r.subseed, int64_t(batch) * B + i));
    }
    BatchStart b{seeds, subseeds, BatchNoise(seeds, subseeds, r.subseed_strength), {}, {}};
    Tensor n0 = b.noise.first({B, unet_cfg.out_channels, lh, lw});
    const bool img2img = r.init_image.has_value() || r.init_pixels.has_value();
    if (img2img) b.init_latent = batch_init_latents(lat, seeds, r.sample_posterior);
    if (img2img && lat.keep_mask.defined())  // A1111 masked content: latent noise / latent nothing
        fill_init_latents(r.inpaint_fill, lat.keep_mask, b.init_latent, seeds);
    b.x = from_noise ? lincomb({{double(sigmas[0]), n0}}) : noised_latent(b.init_latent, n0, sigmas[0]);
    return b;
}

// The sampler loop over one batch, with progress (and previews) per step.
Tensor Engine::Impl::sample_batch(Ctx& ctx, const GenerateRequest& r, const SamplerChoice& sampler,
                                  const PromptConditioning& cond, const LatentInputs& lat, BatchStart& b,
                                  const std::vector<float>& sigmas, const std::string& stage) {
    auto t0 = Clock::now();
    const int total = int(sigmas.size()) - 1;
    emit(stage, 0, total, 0);
    DenoiseSetup ds;
    ds.unet = &bound_unet();
    ds.schedule = &schedule;
    ds.prediction = model.prediction();
    ds.cfg_scale = *r.cfg_scale;
    ds.cond = &cond;
    ds.latents = &lat;
    ds.init_latent = b.init_latent;
    StepReporter report = [&](const StepReport& sr) {
        // Every matrix is prepared after the first step when the cache is unlimited: the
        // f16 file pages are no longer read, so they need not stay resident.
        if (sr.step == 1 && unet_fits_budget()) release_pages("model.diffusion_model.");
        std::optional<Latent> preview;
        std::optional<Image> picture;
        if (r.preview_every > 0 && sr.step % r.preview_every == 0 && progress && *progress) {
            preview = to_latent(sr.x);
            picture = preview_image(r, sr.x);
        }
        emit(stage, sr.step, sr.total, seconds_since(t0), preview ? &*preview : nullptr, picture ? &*picture : nullptr);
    };
    Tensor out = run_sampling(ctx, ds, sampler, r.eta, b.x, sigmas, b.noise, report);
    add_time(stage, seconds_since(t0));
    log_allocator(stage.c_str());
    emit(stage, total, total, seconds_since(t0));
    return out;
}

// The hires pass's conditioning is encoded with the first pass's: the prompt schedule on the hires
// timeline (first-pass calls, hires calls), SDXL conditioned on the hires size.
Engine::Impl::HiresRun Engine::Impl::prepare_hires(Ctx& ctx, const GenerateRequest& r, const SamplerChoice& first) {
    if (model.inpaint) throw Error("hires fix with an inpainting (9-channel) model is not supported yet");
    HiresRun h;
    h.plan = plan_hires(r, vae_cfg.downscale());
    h.sampler = r.hires_sampler.empty() ? first : resolve_sampler(r.hires_sampler, r.scheduler);
    h.sigmas = hires_sigmas(h.sampler, h.plan.steps, r.hires_denoise, schedule);
    PromptTexts t;
    t.prompt = r.hires_prompt.empty() ? r.prompt : r.hires_prompt;
    t.negative_prompt = r.hires_negative_prompt.empty() ? r.negative_prompt : r.hires_negative_prompt;
    t.schedule = {schedule_calls(first.kind(), r.steps), schedule_calls(h.sampler.kind(), h.plan.steps), false};
    t.width = int(h.plan.latent_w * vae_cfg.downscale());
    t.height = int(h.plan.latent_h * vae_cfg.downscale());
    GenerateRequest hr = r;
    hr.original_size.reset();
    hr.target_size.reset();
    h.cond = encode_text(ctx, hr, t);
    return h;
}

// Upscale the first pass (in latent space, or decode -> resize -> encode), then img2img at the
// new size from the seeds' fresh noise, with its own call counter.
Tensor Engine::Impl::hires_pass(Ctx& ctx, Ctx& vctx, const GenerateRequest& r, const HiresRun& h, const Tensor& first,
                                const BatchStart& b) {
    const int ds = vae_cfg.downscale();
    Tensor up;
    if (!h.plan.pixel) {
        up = hires_latent(first, h.plan, ds);
    } else {
        auto t0 = Clock::now();
        emit("upscale", 0, 1, 0);
        VAE vae = bind_vae();
        std::vector<Tensor> parts;
        for (int64_t i = 0; i < first.dim(0); ++i) {
            Tensor z = scale(vctx, first.slice(0, i, i + 1), 1.0f / vae_cfg.scaling_factor);
            const bool tiled = z.dim(2) * z.dim(3) * ds * ds > kVAEBandedMaxPixels;
            Tensor img = tiled ? vae.decode_tiled(vctx, z) : vae.decode_banded(vctx, z);
            Image hi = hires_image(decoded_to_uint8_truncated(img), h.plan);
            Tensor mean, sd;
            encode_image(vctx, vae, image_to_tensor(hi), mean, sd);
            parts.push_back(crop_hires_latent(mean, h.plan));
        }
        up = parts.size() == 1 ? parts[0] : concat(vctx, parts, 0);
        add_time("upscale", seconds_since(t0));
        emit("upscale", 1, 1, seconds_since(t0));
    }
    allocator.trim();  // the first pass's cached activation blocks go before the larger second pass
    BatchStart b2{b.seeds, b.subseeds, BatchNoise(b.seeds, b.subseeds, r.subseed_strength), {}, {}};
    Tensor n0 = b2.noise.first(up.shape());
    b2.init_latent = up;
    b2.x = noised_latent(up, n0, h.sigmas[0]);
    LatentInputs none;
    return sample_batch(ctx, r, h.sampler, h.cond, none, b2, h.sigmas, "hires");
}

// One batch's latents to pictures (one image at a time through row bands: exact, about half the
// plain decode's memory; past kVAEBandedMaxPixels through tiles, whose memory does not grow with
// the image), pasted back where the request says, each with its infotext.
void Engine::Impl::decode_batch(Ctx& vctx, VAE* decoder, const Tensor& out, const GenerateRequest& r,
                                const ImageInputs& images, const BatchStart& b, GenerateResult& res) {
    auto t0 = Clock::now();
    emit("decode", 0, 1, 0);
    Tensor z = scale(vctx, out, 1.0f / vae_cfg.scaling_factor);
    const int64_t ds = vae_cfg.downscale();
    const bool tiled = z.dim(2) * z.dim(3) * ds * ds > kVAEBandedMaxPixels;
    std::vector<Image> pics;
    Ctx tctx = make_ctx(dtype);  // TAESD runs at the model's compute precision
    for (int64_t i = 0; i < z.dim(0); ++i) {
        Tensor zi = z.slice(0, i, i + 1);
        // TAESD decodes the sampler's latent as it is (its scaling factor is 1), out * 2 - 1.
        Tensor img = !decoder ? taesd->decode_pm1(tctx, out.slice(0, i, i + 1).contiguous())
                     : tiled  ? decoder->decode_tiled(vctx, zi)
                              : decoder->decode_banded(vctx, zi);
        for (Image& p : tensor_to_images(img)) pics.push_back(std::move(p));
    }
    for (int i = 0; i < r.batch_size; ++i) {
        GeneratedImage g;
        g.image = apply_overlay(pics[size_t(i)], images);
        g.seed = b.seeds[size_t(i)];
        g.index = batch * r.batch_size + i;
        g.parameters = format_parameters(r, desc, infotext, g.seed, b.subseeds.empty() ? 0 : b.subseeds[size_t(i)]);
        res.images.push_back(std::move(g));
    }
    add_time("decode", seconds_since(t0));
    log_allocator("decode");
    emit("decode", 1, 1, seconds_since(t0));
}

void Engine::Impl::run_resolved(GenerateResult& res, const SamplerChoice& sampler) {
    const GenerateRequest& r = res.request;
    const bool taesd_decode = r.vae_decoder == "taesd";
    if (taesd_decode && !taesd) throw Error("VAE decoder taesd: no TAESD loaded (ModelOptions::taesd / --vae-decoder taesd PATH)");
    if (r.preview_method == "taesd" && !taesd) throw Error("preview method taesd: no TAESD loaded (ModelOptions::taesd)");
    allocator.reset_peak();
    hash_files_once();
    batches = r.batch_count;
    Ctx ctx = make_ctx(dtype);
    Ctx vctx = make_ctx(DType::F32);  // the VAE runs in f32 whatever the U-Net's precision

    // Networks: tags out of the prompts, the set merged (or the last one reused); a changed U-Net
    // is bound again (its merged weights are new tensors).
    PreparedNetworks nets;
    const auto tn = Clock::now();
    try {
        nets = networks.prepare(ctx, model, opts, r);
    } catch (...) {
        unet.reset();
        throw;
    }
    if (nets.unet_changed) unet.reset();
    if (nets.merged) add_time("networks", seconds_since(tn));  // read + merge (or rebind); absent when reused
    infotext.lora_hashes = nets.lora_hashes;
    infotext.lora_tags = nets.lora_tags;
    // The text encoders see the prompts without their tags (the hires prompts' tags go too: the
    // networks of the first pass stay for the second, as in A1111).
    GenerateRequest text_request = r;
    text_request.prompt = nets.prompt;
    text_request.negative_prompt = nets.negative_prompt;
    if (!r.hires_prompt.empty()) text_request.hires_prompt = text::parse_extra_networks(r.hires_prompt).text;
    if (!r.hires_negative_prompt.empty())
        text_request.hires_negative_prompt = text::parse_extra_networks(r.hires_negative_prompt).text;

    PromptTexts texts;
    texts.prompt = text_request.prompt;
    texts.negative_prompt = text_request.negative_prompt;
    texts.schedule.steps = schedule_calls(sampler.kind(), r.steps);
    texts.width = r.width;
    texts.height = r.height;
    const PromptConditioning cond = encode_text(ctx, text_request, texts);
    std::optional<HiresRun> hires;
    if (r.hires) hires = prepare_hires(ctx, text_request, sampler);
    std::vector<text::UsedEmbedding> used = cond.embeddings_used;
    if (hires) add_embeddings_used(used, hires->cond.embeddings_used);
    res.request.ti_hashes = run_ti_hashes(r.ti_hashes, used);  // `r` is res.request
    const int64_t lh = r.height / vae_cfg.downscale(), lw = r.width / vae_cfg.downscale();
    const ImageInputs images = prepare_images(r);
    const LatentInputs lat = encode_inputs(vctx, r, images, lh, lw);

    bound_unet();
    std::vector<float> sigmas = full_sigmas(sampler, r.steps, schedule);
    // Inpainting models at full strength start from pure noise (diffusers, the fixtures); everything
    // else with an init image follows A1111's truncated schedule from init + noise * sigma.
    const bool img2img = r.init_image.has_value() || r.init_pixels.has_value();
    const bool from_noise = !img2img || (model.inpaint && r.strength >= 1.0f);
    if (!from_noise) sigmas = a1111_img2img_sigmas(sigmas, r.strength);

    std::vector<Tensor> finals;
    std::optional<VAE> decoder;
    try {
        for (batch = 0; batch < r.batch_count; ++batch) {
            BatchStart b = start_batch(r, lat, sigmas, from_noise, lh, lw);
            Tensor out = sample_batch(ctx, r, sampler, cond, lat, b, sigmas);
            if (hires) out = hires_pass(ctx, vctx, r, *hires, out, b);
            finals.push_back(out);
            const bool last = batch + 1 == r.batch_count;
            if (last) {
                if (!opts.keep_weights) unet.reset();
                release_pages("model.diffusion_model.");
                allocator.trim();  // the U-Net's cached activation blocks, before the VAE's
            }
            if (!r.decode) continue;
            if (!decoder && !taesd_decode) decoder.emplace(bind_vae());
            decode_batch(vctx, decoder ? &*decoder : nullptr, out, r, images, b, res);
            if (last) {
                if (!opts.keep_weights) decoder.reset();
                release_pages("first_stage_model.");
            }
        }
    } catch (const Cancelled&) {
        res.cancelled = true;  // keep what is finished
    }
    if (!finals.empty()) res.latents = to_latent(finals.size() == 1 ? finals[0] : concat(ctx, finals, 0));
}

}  // namespace sdpp
