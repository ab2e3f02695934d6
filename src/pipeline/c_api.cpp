// The C API (include/sdpp/sdpp.h) over the C++ API (include/sdpp/sdpp.hpp): opaque handles,
// plain structs, errors as NULL / non-zero plus a per-thread message. No exception crosses it.
#include <sdpp/sdpp.h>
#include <sdpp/sdpp.hpp>

#include <cmath>
#include <exception>
#include <new>
#include <string>
#include <utility>

struct sdpp_engine {
    sdpp::Engine engine;
};

struct sdpp_result {
    sdpp::GenerateResult result;
};

namespace {

thread_local std::string g_last_error;

void set_error(const char* what) { g_last_error = what ? what : "unknown error"; }

template <class F>
auto guarded(F&& f, decltype(f()) on_error) noexcept -> decltype(f()) {
    try {
        return f();
    } catch (const std::bad_alloc&) {
        set_error("out of memory");
    } catch (const std::exception& e) {
        set_error(e.what());
    } catch (...) {
        set_error("unknown error");
    }
    return on_error;
}

std::string str(const char* s) { return s ? s : ""; }

sdpp::Image to_image(const sdpp_image& im) {
    if (im.width <= 0 || im.height <= 0 || (im.channels != 1 && im.channels != 3) || !im.pixels)
        throw std::invalid_argument("sdpp_image: bad size, channel count or pixels");
    sdpp::Image out;
    out.width = im.width;
    out.height = im.height;
    out.channels = im.channels;
    out.pixels.assign(im.pixels, im.pixels + size_t(im.width) * im.height * im.channels);
    return out;
}

std::optional<std::array<int, 2>> pair_or_default(const int v[2]) {
    if (v[0] == 0 && v[1] == 0) return std::nullopt;
    return std::array<int, 2>{v[0], v[1]};
}

// init_pixels as the C++ request's FloatTensor [1, 3, H, W].
sdpp::FloatTensor to_pixels(const float* data, int width, int height) {
    if (width <= 0 || height <= 0)
        throw std::invalid_argument("sdpp_request: init_pixels needs init_pixels_width and init_pixels_height");
    sdpp::FloatTensor t;
    t.shape = {1, 3, height, width};
    t.data.assign(data, data + size_t(3) * size_t(width) * size_t(height));
    return t;
}

}  // namespace

extern "C" {

void sdpp_model_options_init(sdpp_model_options* o) {
    if (!o) return;
    *o = sdpp_model_options{};
    o->dtype = "f32";
    o->keep_weights = 1;
    o->weight_cache_mb = sdpp::ModelOptions::kWeightCacheAuto;
}

void sdpp_request_init(sdpp_request* r) {
    if (!r) return;
    const sdpp::GenerateRequest d;
    *r = sdpp_request{};
    r->cfg_scale = NAN;
    r->seed = d.seed;
    r->batch_size = d.batch_size;
    r->batch_count = d.batch_count;
    r->eta = d.eta;
    r->strength = d.strength;
    r->resize_mode = SDPP_RESIZE_JUST;
    r->mask_blur = d.mask_blur;
    r->only_masked_padding = d.only_masked_padding;
    r->overlay_original = d.overlay_original ? 1 : 0;
    r->decode = 1;
    r->inpaint_fill = int(d.inpaint_fill);
    r->hires_scale = d.hires_scale;
    r->hires_denoise = d.hires_denoise;
}

sdpp_engine* sdpp_engine_new(const sdpp_model_options* o) {
    return guarded(
        [&]() -> sdpp_engine* {
            if (!o) throw std::invalid_argument("sdpp_engine_new: no options");
            sdpp::ModelOptions mo;
            mo.model = str(o->model);
            mo.vae = str(o->vae);
            mo.vocab = str(o->vocab);
            mo.prediction = str(o->prediction);
            mo.dtype = o->dtype ? o->dtype : "f32";
            mo.threads = o->threads;
            mo.keep_weights = o->keep_weights != 0;
            mo.weight_cache_mb = o->weight_cache_mb;
            mo.taesd = str(o->taesd);
            mo.embeddings_dir = str(o->embeddings_dir);
            mo.lora_dir = str(o->lora_dir);
            return new sdpp_engine{sdpp::Engine(mo)};
        },
        nullptr);
}

void sdpp_engine_free(sdpp_engine* e) { delete e; }

const char* sdpp_engine_family(const sdpp_engine* e) { return e ? e->engine.model().family.c_str() : ""; }
const char* sdpp_engine_prediction(const sdpp_engine* e) { return e ? e->engine.model().prediction.c_str() : ""; }
const char* sdpp_engine_name(const sdpp_engine* e) { return e ? e->engine.model().name.c_str() : ""; }

sdpp_result* sdpp_generate(sdpp_engine* e, const sdpp_request* r, sdpp_progress_fn progress, void* user) {
    return guarded(
        [&]() -> sdpp_result* {
            if (!e || !r) throw std::invalid_argument("sdpp_generate: no engine or request");
            sdpp::GenerateRequest q;
            q.prompt = str(r->prompt);
            q.negative_prompt = str(r->negative_prompt);
            q.width = r->width;
            q.height = r->height;
            q.steps = r->steps;
            if (!std::isnan(r->cfg_scale)) q.cfg_scale = r->cfg_scale;
            q.sampler = str(r->sampler);
            q.scheduler = str(r->scheduler);
            q.seed = r->seed;
            q.batch_size = r->batch_size;
            q.batch_count = r->batch_count;
            q.clip_skip = r->clip_skip;
            q.eta = r->eta;
            if (r->init_image) q.init_image = to_image(*r->init_image);
            q.strength = r->strength;
            if (r->resize_mode < SDPP_RESIZE_JUST || r->resize_mode > SDPP_RESIZE_FILL)
                throw std::invalid_argument("sdpp_request: bad resize_mode");
            q.resize_mode = static_cast<sdpp::ResizeMode>(r->resize_mode);
            q.sample_posterior = r->sample_posterior != 0;
            if (r->mask) q.mask = to_image(*r->mask);
            q.invert_mask = r->invert_mask != 0;
            q.mask_blur = r->mask_blur;
            q.only_masked = r->only_masked != 0;
            q.only_masked_padding = r->only_masked_padding;
            q.overlay_original = r->overlay_original != 0;
            for (int i = 0; i < 4; ++i) q.outpaint[size_t(i)] = r->outpaint[i];
            q.decode = r->decode != 0;
            q.preview_every = r->preview_every;
            q.original_size = pair_or_default(r->original_size);
            q.target_size = pair_or_default(r->target_size);
            q.crop_coords = {r->crop_coords[0], r->crop_coords[1]};
            if (r->init_pixels) q.init_pixels = to_pixels(r->init_pixels, r->init_pixels_width, r->init_pixels_height);
            if (r->inpaint_fill < 0 || r->inpaint_fill > 3) throw std::invalid_argument("sdpp_request: bad inpaint_fill");
            q.inpaint_fill = static_cast<sdpp::InpaintFill>(r->inpaint_fill);
            q.vae_decoder = str(r->vae_decoder);
            if (r->preview_method) q.preview_method = r->preview_method;
            q.hires = r->hires != 0;
            q.hires_scale = r->hires_scale;
            q.hires_width = r->hires_width;
            q.hires_height = r->hires_height;
            q.hires_steps = r->hires_steps;
            q.hires_denoise = r->hires_denoise;
            if (r->hires_upscaler) q.hires_upscaler = r->hires_upscaler;
            q.hires_sampler = str(r->hires_sampler);
            q.hires_prompt = str(r->hires_prompt);
            q.hires_negative_prompt = str(r->hires_negative_prompt);
            if (r->n_loras < 0 || (r->n_loras > 0 && !r->lora_files))
                throw std::invalid_argument("sdpp_request: n_loras without lora_files");
            for (int i = 0; i < r->n_loras; ++i) {
                sdpp::LoraSpec l;
                l.file = str(r->lora_files[i]);
                if (r->lora_te_multipliers) l.te_multiplier = r->lora_te_multipliers[i];
                if (r->lora_unet_multipliers) l.unet_multiplier = r->lora_unet_multipliers[i];
                q.loras.push_back(std::move(l));
            }
            sdpp::ProgressCallback cb;
            if (progress)
                cb = [progress, user](const sdpp::Progress& p) {
                    sdpp_progress cp{};
                    cp.stage = p.stage.c_str();
                    cp.step = p.step;
                    cp.total = p.total;
                    cp.batch = p.batch;
                    cp.batches = p.batches;
                    cp.elapsed = p.elapsed;
                    if (p.preview) {
                        cp.preview = p.preview->data.data();
                        for (size_t i = 0; i < 4 && i < p.preview->shape.size(); ++i) cp.preview_shape[i] = p.preview->shape[i];
                    }
                    if (p.preview_image) {
                        cp.preview_image.width = p.preview_image->width;
                        cp.preview_image.height = p.preview_image->height;
                        cp.preview_image.channels = p.preview_image->channels;
                        cp.preview_image.pixels = p.preview_image->pixels.data();
                    }
                    return progress(&cp, user) != 0;
                };
            return new sdpp_result{e->engine.generate(q, cb)};
        },
        nullptr);
}

int sdpp_result_count(const sdpp_result* r) { return r ? int(r->result.images.size()) : 0; }

sdpp_image sdpp_result_image(const sdpp_result* r, int i) {
    sdpp_image out{};
    if (!r || i < 0 || i >= int(r->result.images.size())) return out;
    const sdpp::Image& im = r->result.images[size_t(i)].image;
    out.width = im.width;
    out.height = im.height;
    out.channels = im.channels;
    out.pixels = im.pixels.data();
    return out;
}

int64_t sdpp_result_seed(const sdpp_result* r, int i) {
    if (!r || i < 0 || i >= int(r->result.images.size())) return -1;
    return r->result.images[size_t(i)].seed;
}

const char* sdpp_result_parameters(const sdpp_result* r, int i) {
    if (!r || i < 0 || i >= int(r->result.images.size())) return "";
    return r->result.images[size_t(i)].parameters.c_str();
}

int sdpp_result_cancelled(const sdpp_result* r) { return r && r->result.cancelled ? 1 : 0; }

const float* sdpp_result_latents(const sdpp_result* r, int64_t shape[4]) {
    if (!r || r->result.latents.data.empty()) return nullptr;
    for (size_t i = 0; i < 4; ++i) shape[i] = i < r->result.latents.shape.size() ? r->result.latents.shape[i] : 1;
    return r->result.latents.data.data();
}

int sdpp_save_png(const char* path, const sdpp_result* r, int i, int overwrite) {
    return guarded(
        [&]() -> int {
            if (!path || !r || i < 0 || i >= int(r->result.images.size()))
                throw std::invalid_argument("sdpp_save_png: no path, result or image index out of range");
            sdpp::save_png(path, r->result.images[size_t(i)], overwrite != 0);
            return 0;
        },
        1);
}

void sdpp_result_free(sdpp_result* r) { delete r; }

const char* sdpp_last_error(void) { return g_last_error.c_str(); }
const char* sdpp_version(void) { return SDPP_VERSION_STRING; }

void sdpp_set_log_callback(sdpp_log_fn fn, void* user) {
    if (!fn) return sdpp::set_log_callback({});
    sdpp::set_log_callback([fn, user](sdpp::LogLevel level, const std::string& message) {
        fn(int(level), message.c_str(), user);
    });
}

void sdpp_set_verbosity(int level) { sdpp::set_verbosity(level); }

}  // extern "C"
