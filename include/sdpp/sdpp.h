/* sdpp C API: a thin layer over the C++ API (sdpp.hpp) for bindings (Python ctypes/cffi, Go, ...).
 *
 *     sdpp_model_options mo;  sdpp_model_options_init(&mo);  mo.model = "model.safetensors";
 *     sdpp_engine* e = sdpp_engine_new(&mo);
 *     if (!e) { fprintf(stderr, "%s\n", sdpp_last_error()); return 2; }
 *     sdpp_request r;  sdpp_request_init(&r);  r.prompt = "a lighthouse";  r.seed = 42;
 *     sdpp_result* res = sdpp_generate(e, &r, NULL, NULL);
 *     if (res) { sdpp_save_png("out.png", res, 0, 0); sdpp_result_free(res); }
 *     sdpp_engine_free(e);
 *
 * Functions that can fail return NULL or a non-zero int and leave a one-line message in
 * sdpp_last_error() (per thread). Strings are UTF-8; the library copies what it needs from the
 * structs passed in. Everything a result hands out lives until sdpp_result_free. */
#ifndef SDPP_H
#define SDPP_H

#include <sdpp/export.h>
#include <sdpp/version.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdpp_engine sdpp_engine;
typedef struct sdpp_result sdpp_result;

typedef struct {
    const char* model;       /* checkpoint file or diffusers folder (required) */
    const char* vae;         /* NULL = the model's own VAE */
    const char* vocab;       /* CLIP vocabulary; NULL = diffusers tokenizer/ or the cache */
    const char* prediction;  /* NULL = detect, "eps" or "v" */
    const char* dtype;       /* "f32" (default) or "bf16" */
    int threads;             /* 0 = all cores */
    int keep_weights;        /* 1 (default): keep the U-Net bound between requests */
    long long weight_cache_mb; /* prepared-weight memory: -1 (default) auto, -2 all, 0 none, N MiB */
    const char* taesd;       /* TAESD weights (previews, vae_decoder "taesd"); NULL = none */
    const char* embeddings_dir; /* textual-inversion embeddings; NULL = "embeddings" beside the model */
    const char* lora_dir;    /* folder <lora:NAME> tags name; NULL = Lora or loras beside the model */
} sdpp_model_options;

typedef struct {
    int width, height, channels; /* channels: 3 (RGB) or 1 (gray) */
    const uint8_t* pixels;       /* row-major, interleaved, width * height * channels bytes */
} sdpp_image;

enum { SDPP_RESIZE_JUST = 0, SDPP_RESIZE_CROP = 1, SDPP_RESIZE_FILL = 2 };

/* Every option of sdpp::GenerateRequest; sdpp_request_init sets the defaults (0 / NULL = model default). */
typedef struct {
    const char* prompt;
    const char* negative_prompt;
    int width, height, steps;      /* 0 = model default */
    float cfg_scale;               /* NaN = model default */
    const char* sampler;           /* NULL = model default; sdpp or A1111 names */
    const char* scheduler;         /* NULL = automatic */
    int64_t seed;                  /* -1 = random */
    int batch_size, batch_count, clip_skip;
    float eta;
    const sdpp_image* init_image;  /* NULL = txt2img */
    float strength;
    int resize_mode;               /* SDPP_RESIZE_* */
    int sample_posterior;
    const sdpp_image* mask;        /* white = repaint; the init image's size */
    int invert_mask;
    float mask_blur;
    int only_masked, only_masked_padding, overlay_original;
    int outpaint[4];               /* left, top, right, bottom pixels */
    int decode;                    /* 0: latents only */
    int preview_every;             /* > 0: progress carries x every N steps */
    /* SDXL size conditioning; {0, 0} = the default (original = target = image size, crop 0, 0) */
    int original_size[2];          /* width, height */
    int target_size[2];            /* width, height */
    int crop_coords[2];            /* top, left */
    /* img2img from float pixels [1, 3, height, width] in [-1, 1] (exact: no 8-bit rounding), used
       instead of init_image; they must have the target size (no resize, outpaint or only-masked) */
    const float* init_pixels;
    int init_pixels_width, init_pixels_height;
    int inpaint_fill;              /* A1111 masked content: 0 fill, 1 original (default), 2 latent noise, 3 latent nothing */
    const char* vae_decoder;       /* NULL / "full" = the model's VAE, "taesd" = the engine's TAESD */
    const char* preview_method;    /* NULL / "auto", "taesd", "cheap", "none" (preview_image) */
    /* hires fix (txt2img, A1111 enable_hr): 0 = off */
    int hires;
    float hires_scale;             /* used when hires_width and hires_height are 0 */
    int hires_width, hires_height; /* 0 = from the other side, or the scale */
    int hires_steps;               /* 0 = steps */
    float hires_denoise;           /* second pass's denoising strength, (0, 1] */
    const char* hires_upscaler;    /* NULL = "Latent" */
    const char* hires_sampler;     /* NULL = the first pass's */
    const char* hires_prompt;      /* NULL = prompt */
    const char* hires_negative_prompt; /* NULL = negative_prompt */
    /* LoRA / LyCORIS networks applied before the prompt's <lora:...> tags: n_loras files (or NAMEs
       in lora_dir) with their text-encoder and U-Net multipliers (NULL arrays = 1 each) */
    const char* const* lora_files;
    const float* lora_te_multipliers;
    const float* lora_unet_multipliers;
    int n_loras;
} sdpp_request;

typedef struct {
    const char* stage;             /* "text", "encode", "sample", "decode" */
    int step, total, batch, batches;
    double elapsed;                /* seconds in this stage */
    const float* preview;          /* x during sampling (preview_every), else NULL */
    int64_t preview_shape[4];
    sdpp_image preview_image;      /* x as a picture (TAESD or cheap); pixels NULL when none */
} sdpp_progress;

/* Return 0 to cancel (sdpp_generate then returns what is finished, with cancelled set). */
typedef int (*sdpp_progress_fn)(const sdpp_progress* progress, void* user);

SDPP_API void sdpp_model_options_init(sdpp_model_options* options);
SDPP_API void sdpp_request_init(sdpp_request* request);

SDPP_API sdpp_engine* sdpp_engine_new(const sdpp_model_options* options);
SDPP_API void sdpp_engine_free(sdpp_engine* engine);
/* The loaded model: family ("sd1", "sd2", "sdxl"), prediction ("eps", "v"), file stem. */
SDPP_API const char* sdpp_engine_family(const sdpp_engine* engine);
SDPP_API const char* sdpp_engine_prediction(const sdpp_engine* engine);
SDPP_API const char* sdpp_engine_name(const sdpp_engine* engine);

SDPP_API sdpp_result* sdpp_generate(sdpp_engine* engine, const sdpp_request* request, sdpp_progress_fn progress, void* user);
SDPP_API int sdpp_result_count(const sdpp_result* result);
SDPP_API sdpp_image sdpp_result_image(const sdpp_result* result, int index);
SDPP_API int64_t sdpp_result_seed(const sdpp_result* result, int index);
SDPP_API const char* sdpp_result_parameters(const sdpp_result* result, int index);  /* A1111 "parameters" text */
SDPP_API int sdpp_result_cancelled(const sdpp_result* result);
/* Final latents [N, C, h, w]; shape receives the 4 sizes. */
SDPP_API const float* sdpp_result_latents(const sdpp_result* result, int64_t shape[4]);
/* PNG with the parameters chunk; never replaces a file unless overwrite. 0 = ok. */
SDPP_API int sdpp_save_png(const char* path, const sdpp_result* result, int index, int overwrite);
SDPP_API void sdpp_result_free(sdpp_result* result);

SDPP_API const char* sdpp_last_error(void);
SDPP_API const char* sdpp_version(void); /* the library's SDPP_VERSION_STRING */

/* Log lines (level: 1 error, 2 warning, 3 info, 4 debug; no trailing newline) go to `fn` instead of
   stderr; NULL restores stderr. Process-wide; called on the logging thread, one call at a time. */
typedef void (*sdpp_log_fn)(int level, const char* message, void* user);
SDPP_API void sdpp_set_log_callback(sdpp_log_fn fn, void* user);
/* 0 = errors only, 1 = normal, 2 = debug detail */
SDPP_API void sdpp_set_verbosity(int level);

#ifdef __cplusplus
}
#endif

#endif /* SDPP_H */
