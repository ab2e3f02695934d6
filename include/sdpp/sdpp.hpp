// sdpp public C++ API: load a Stable Diffusion checkpoint once, run many generation requests.
//
//     sdpp::Engine engine({.model = "v1-5-pruned-emaonly.safetensors"});
//     sdpp::GenerateRequest req;
//     req.prompt = "a lighthouse at dusk";
//     req.seed = 42;
//     sdpp::GenerateResult res = engine.generate(req, [](const sdpp::Progress& p) {
//         std::printf("%s %d/%d\n", p.stage.c_str(), p.step, p.total);
//         return true;  // false cancels
//     });
//     sdpp::save_png("out.png", res.images[0]);  // with the A1111 "parameters" text chunk
//
// Errors throw sdpp::Error (include/sdpp/error.hpp, a std::runtime_error) with a one-line message.
// Self-contained: includes nothing from src/. Link libsdpp (CMake: find_package(sdpp) and
// sdpp::sdpp; pkg-config: sdpp); what it exports is marked SDPP_API.
#pragma once
#include <sdpp/error.hpp>
#include <sdpp/export.h>
#include <sdpp/image.hpp>
#include <sdpp/log.hpp>
#include <sdpp/version.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdpp {

// ---- model ----------------------------------------------------------------------------------
struct ModelOptions {
    std::string model;       // single file (.safetensors / .ckpt) or diffusers folder
    std::string vae;         // separate VAE file replacing the checkpoint's ("" = the model's own)
    std::string vocab;       // CLIP vocabulary (vocab.json / merges.txt / bpe .txt.gz); "" = the
                             // diffusers folder's tokenizer/ or sdpp's cache
    std::string prediction;  // "" = detect, "eps" or "v"
    std::string dtype = "f32";  // compute precision: "f32" or "bf16"
    std::string name;        // A1111 "Model" name; "" = the file stem or folder name
    int threads = 0;         // 0 = all cores
    // Keep the U-Net bound, with its prepared weights, between requests (a server). false (the CLI)
    // releases it after the last sampling step of each request, before the VAE decodes.
    // The text encoders and the VAE are always bound only while they run.
    bool keep_weights = true;
    // Memory for the backend's prepared weights (converted to f32 and reordered for the kernels),
    // in MiB: kWeightCacheAuto = keep them while they fit in half the memory available at load
    // (all of them on a machine with room), kWeightCacheAll = keep all (fastest; an f16 SD 1.5
    // U-Net prepares to 3.4 GB), 0 = convert each weight when it is used (least memory: the
    // model's file pages only; measured 0-10% slower per step), N = keep up to N MiB. Per Engine
    // (each has its own backend).
    static constexpr int64_t kWeightCacheAuto = -1, kWeightCacheAll = -2;
    int64_t weight_cache_mb = kWeightCacheAuto;
    // TAESD / TAESDXL weights (docs/cli.md --vae-decoder taesd): a diffusers AutoencoderTiny folder,
    // a folder with taesd_decoder.safetensors (taesdxl_* picked for SDXL), or the decoder file
    // itself. Loaded with the model (a bad path throws); used for previews and, with
    // GenerateRequest::vae_decoder = "taesd", for the final decode. "" = none.
    std::string taesd;
    // Textual-inversion embeddings (.pt, .bin, .safetensors; searched recursively) called by file
    // stem in prompts. "" = the folder "embeddings" beside the model file (beside a diffusers
    // folder), used when it exists; a folder given here must exist.
    std::string embeddings_dir;
    // Folder of LoRA / LyCORIS networks that <lora:NAME:...> tags name ("" = a `Lora` or `loras`
    // folder beside the model, as A1111's models/Lora). Searched recursively; NAME is a file stem
    // or a safetensors file's ss_output_name.
    std::string lora_dir;
};

// What was loaded, and the defaults requests get from it (the references' defaults per family).
struct ModelDescription {
    std::string path;
    std::string name;            // file stem (A1111 "Model")
    std::string hash;            // A1111 "Model hash" (10 hex digits of the sha256); "" for folders
    std::string family;          // "sd1", "sd2", "sdxl", "sdxl-refiner"
    std::string prediction;      // "eps" or "v"
    bool inpaint = false;        // 9-channel inpainting U-Net
    bool distilled = false;      // Turbo / LCM detected from the file name or metadata
    int default_width = 512;     // SD1 512, SD2-v 768, SDXL 1024
    int default_height = 512;
    int default_steps = 20;      // Turbo/LCM: 4
    float default_cfg = 7.0f;    // Turbo/LCM: 1
    std::string default_sampler = "euler_a";  // Turbo: euler_a, LCM: lcm
    std::vector<int64_t> text_widths;  // token-embedding widths of the text encoders (SD1 768, SD2 1024, SDXL 768 + 1280)
};

// A float tensor crossing the API: latents [N, C, h, w], or float images [1, 3, H, W] in [-1, 1].
struct FloatTensor {
    std::vector<int64_t> shape;
    std::vector<float> data;     // row-major
};
using Latent = FloatTensor;

// A1111 "Masked content" (inpainting_fill): what the masked area of the init image starts as when
// inpainting. Fill: the image's colours blurred into the mask (masking.fill); Original: the image
// as it is; LatentNoise: the masked latent replaced by the seed's noise; LatentNothing: zeroed
// (the last two blur-fill the image first, as A1111 does).
enum class InpaintFill : int { Fill = 0, Original = 1, LatentNoise = 2, LatentNothing = 3 };
// "fill", "original", "latent-noise" / "latent noise", "latent-nothing" / "latent nothing", or
// "0".."3"; throws a one-line sdpp::Error for anything else.
SDPP_API InpaintFill parse_inpaint_fill(const std::string& name);
SDPP_API const char* inpaint_fill_name(InpaintFill fill);  // A1111's label: "fill", "latent noise", ...

// ---- one request ----------------------------------------------------------------------------
// A LoRA / LyCORIS network for one request (docs/cli.md "Networks"): merged into the weights as
// W + m * scale * delta, the text encoders with te_multiplier, the U-Net with unet_multiplier.
struct LoraSpec {
    std::string file;              // a network file, or a NAME looked up in ModelOptions::lora_dir
    float te_multiplier = 1.0f;
    float unet_multiplier = 1.0f;
};

struct GenerateRequest {
    std::string prompt;
    std::string negative_prompt;
    int width = 0;                    // 0 = family default (or the init image's size)
    int height = 0;
    int steps = 0;                    // 0 = family default
    std::optional<float> cfg_scale;   // unset = family default; 1 skips the unconditional pass
    std::string sampler;              // "" = family default; sdpp names (euler_a, dpmpp_2m, ...) or
                                      // A1111 names ("Euler a", "DPM++ 2M Karras", ...)
    std::string scheduler;            // "" or "automatic" = the sampler's default (A1111 "Automatic")
    int64_t seed = -1;                // -1 = random; image i of a run uses seed + i
    // A1111 variation seed: each image's starting noise slerped from its seed's toward its
    // subseed's by subseed_strength (0 = off). With a strength, every image keeps `seed` and image i
    // uses subseed + i (A1111). subseed -1 = random.
    int64_t subseed = -1;
    float subseed_strength = 0.0f;
    int batch_size = 1;               // images per forward pass
    int batch_count = 1;              // sequential batches
    int clip_skip = 0;                // 0/1 = last layer, 2 = penultimate (A1111)
    float eta = 1.0f;                 // noise multiplier of ancestral/SDE samplers (and DDIM's eta)

    // img2img: set init_image (any size; fitted with resize_mode)
    std::optional<Image> init_image;
    // Or the init image as floats [1, 3, H, W] in [-1, 1] (exact: no 8-bit rounding). Used instead of
    // init_image's pixels; it must have the target size (no resize, outpaint, only-masked or overlay).
    std::optional<FloatTensor> init_pixels;
    float strength = 0.75f;           // A1111 "Denoising strength"
    ResizeMode resize_mode = ResizeMode::Just;
    // The init image's latent: false = VAE posterior MEAN (deterministic; what the parity fixtures
    // and diffusers' "argmax" do), true = a posterior sample drawn from the seed (A1111).
    bool sample_posterior = false;

    // inpainting: a mask (white = repaint) with the init image's size
    std::optional<Image> mask;
    bool invert_mask = false;
    float mask_blur = 4.0f;           // Gaussian sigma in pixels (A1111 "Mask blur"); 0 = none
    bool only_masked = false;         // A1111 "Inpaint area: Only masked": work on the mask's box
    int only_masked_padding = 32;     // A1111 "Only masked padding, pixels"
    bool overlay_original = true;     // paste the unmasked original back over the result (A1111)
    // outpainting: grow the init image by left, top, right, bottom pixels and repaint the new area
    std::array<int, 4> outpaint = {0, 0, 0, 0};

    // SDXL size conditioning ("" = A1111/diffusers defaults: original = target = image size,
    // crop 0,0). Sizes are width, height; crop is top, left.
    std::optional<std::array<int, 2>> original_size;
    std::optional<std::array<int, 2>> target_size;
    std::array<int, 2> crop_coords = {0, 0};

    bool decode = true;               // false: latents only, no images
    int preview_every = 0;            // > 0: Progress::preview holds x every N sampling steps

    InpaintFill inpaint_fill = InpaintFill::Original;  // A1111 "Masked content" (with a mask)
    // The final decode: "" or "full" = the model's VAE, "taesd" = ModelOptions::taesd (fast, rougher).
    std::string vae_decoder;
    // Progress::preview_image with preview_every: "auto" = TAESD when the engine has one, else
    // "cheap" (A1111's "Approx cheap": a fixed linear latent -> RGB map, latent-sized); "taesd";
    // "none" (latents only).
    std::string preview_method = "auto";
    // Hires fix (txt2img; A1111 enable_hr): generate at width x height, upscale, then refine with a
    // second img2img pass at the larger size (docs/cli.md). Infotext "Size" stays the first pass's.
    bool hires = false;
    float hires_scale = 2.0f;         // hr_scale, used when hires_width and hires_height are 0
    int hires_width = 0;              // hr_resize_x / hr_resize_y (0 = from the other, or the scale)
    int hires_height = 0;
    int hires_steps = 0;              // hr_second_pass_steps: 0 = steps
    float hires_denoise = 0.7f;       // the second pass's denoising strength (0, 1]
    std::string hires_upscaler = "Latent";  // Latent, Latent (antialiased|bicubic|bicubic antialiased|nearest|nearest-exact), Lanczos, Nearest
    std::string hires_sampler;        // "" = the first pass's sampler
    std::string hires_prompt;         // "" = the prompt
    std::string hires_negative_prompt;  // "" = the negative prompt
    // A1111 "TI hashes": "name: <12 hex of the file's sha256>, ..." of the textual-inversion
    // embeddings the prompts used. The engine writes it (GenerateResult::request, the infotext);
    // given (e.g. read from a PNG), an embedding whose file hash differs from it is a warning.
    std::string ti_hashes;
    // Networks applied before the prompt's <lora:NAME:...> / <lyco:...> tags (which are removed
    // from the text that is encoded; the infotext keeps them). Several networks add up, in order.
    std::vector<LoraSpec> loras;
    // A1111 "Lora hashes" of an infotext (--from-png): NAME -> 12-hex short hash. A tag NAME not
    // found by name is looked up by this hash among the LoRA folder's files (A1111 does the same
    // when pasting infotext); a NAME found whose file has another hash gets a warning.
    std::vector<std::pair<std::string, std::string>> lora_hashes;
};

// ---- progress -------------------------------------------------------------------------------
struct Progress {
    std::string stage;               // "text", "encode", "sample", "decode"
    int step = 0;                    // steps done in this stage (sample: sampler steps finished)
    int total = 0;
    int batch = 0;                   // 0-based index of the batch (batch_count)
    int batches = 1;
    double elapsed = 0;              // seconds since this stage began
    const Latent* preview = nullptr; // x at the start of sampler step `step` (every preview_every steps)
    // The same as a picture (GenerateRequest::preview_method): TAESD's decode of x (image size),
    // or the cheap linear projection (latent size). Null when there is no preview this step.
    const Image* preview_image = nullptr;
};
// Called at the start and end of every stage and after every sampler step; return false to cancel
// (generate() then returns what is finished with `cancelled` set).
using ProgressCallback = std::function<bool(const Progress&)>;

// ---- results --------------------------------------------------------------------------------
struct GeneratedImage {
    Image image;
    int64_t seed = 0;
    int index = 0;               // 0-based across the whole run (batch * batch_size + position)
    std::string parameters;      // A1111 "parameters" text of this image
};

struct StageTiming {
    std::string stage;           // "text", "encode", "bind" (U-Net weights), "sample", "decode", "networks" (LoRA read + merge, only when the set changed)
    double seconds = 0;
};

struct GenerateResult {
    std::vector<GeneratedImage> images;
    Latent latents;                    // final latents of every image, [N, C, h, w] (before decoding)
    GenerateRequest request;           // the request as run: defaults filled in, the seed chosen
    std::vector<StageTiming> timings;  // summed over batches
    size_t peak_bytes = 0;             // tensor allocator high-water mark during this run
    bool cancelled = false;
};

// What an Engine holds right now, from its own accounting (separate Engines count apart).
struct EngineMemory {
    size_t prepared_weight_bytes = 0;  // weights its backend keeps converted for the kernels
    size_t tensor_live_bytes = 0;      // tensors alive now
    size_t tensor_cached_bytes = 0;    // freed tensor blocks kept for reuse
};

// ---- engine ---------------------------------------------------------------------------------
// One request at a time per Engine (generate() is not reentrant); separate Engines are independent:
// each has its own backend (prepared weights and their budget) and tensor allocator, so two can
// run at the same time on two threads.
class SDPP_API Engine {
public:
    // Loads the model (weights memory-mapped; heavy parts bound on first use). Throws sdpp::Error.
    explicit Engine(const ModelOptions& options);
    ~Engine();
    Engine(Engine&&) noexcept;
    Engine& operator=(Engine&&) noexcept;
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const ModelDescription& model() const;
    EngineMemory memory() const;
    // The request with the model's defaults filled in and everything checked (throws sdpp::Error).
    GenerateRequest resolve(const GenerateRequest& request) const;
    GenerateResult generate(const GenerateRequest& request, const ProgressCallback& progress = {});
    // Seconds spent in the constructor (for --verbose).
    double load_seconds() const;

private:
    struct Impl;  // defined in the library only
    std::unique_ptr<Impl> impl_;
};

// ---- helpers that need no model (the CLI validates with them before loading) ---------------
// A random seed as A1111 draws one: uniform in [0, 4294967294).
SDPP_API int64_t random_seed();

// Seeds as A1111 and torch take them: any integer, reduced modulo 2^64 (torch's manual_seed wraps
// negative seeds the same way), -1 = random. GenerateRequest::seed (int64) holds the 64-bit
// pattern, so a seed above 2^63-1 is stored negative and shown unsigned.
// Decimal integer text -> seed (mod 2^64); "-1" -> -1 (random). Throws sdpp::Error for text that
// is not an integer, or that is 2^64-1 modulo 2^64 without being "-1" (it would read as random).
SDPP_API int64_t seed_from_text(const std::string& text);
// The seed as A1111 writes it: the unsigned 64-bit value.
SDPP_API std::string seed_text(int64_t seed);
// Image i of a run: seed + i, modulo 2^64.
inline int64_t seed_plus(int64_t seed, int64_t i) { return int64_t(uint64_t(seed) + uint64_t(i)); }
// Image i's seed (A1111 processing.py): seeds count up, except with a variation strength, where
// every image keeps the main seed and only the subseeds (seed_plus(subseed, i)) count up.
inline int64_t image_seed(int64_t seed, float subseed_strength, int64_t i) {
    return subseed_strength != 0.0f ? seed : seed_plus(seed, i);
}

// Throws a one-line sdpp::Error for a model file sdpp cannot read at all, before anything is
// loaded: a GGUF file (magic "GGUF", stable-diffusion.cpp's quantised format) is "not supported
// (yet)". `what` names the option in the message ("model", "--vae"). The Engine checks the same.
SDPP_API void check_model_file(const std::string& path, const char* what);

// Checks what can be checked without a model: sizes multiple of 8, steps, strength, CFG, sampler
// and scheduler names, the mask's size against the init image's. Throws a one-line sdpp::Error.
SDPP_API void validate_request(const GenerateRequest& request);
// The hires fix's second-pass picture size {width, height} for a valid request with `hires` (the
// first pass's size otherwise), as the engine will run it (a latent of 1/8 the size).
SDPP_API std::array<int, 2> hires_size(const GenerateRequest& request);

// Sampler / schedule names: sdpp's (euler, euler_a, heun, dpm2, dpm2_a, lms, dpmpp_2s_a, dpmpp_2m,
// dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde, ddim, lcm, unipc; schedules normal, karras, exponential,
// sgm_uniform, simple, ddim_uniform) and A1111's display names ("DPM++ 2M Karras" names both).
struct SamplerSelection {
    std::string sampler;    // sdpp name
    std::string scheduler;  // sdpp name, "" = the sampler's default
};
SDPP_API SamplerSelection parse_sampler_name(const std::string& name);   // throws for unknown names
SDPP_API std::string parse_scheduler_name(const std::string& name);   // "" for automatic; throws if unknown
SDPP_API std::string sampler_display_name(const std::string& sampler);      // "euler_a" -> "Euler a"
SDPP_API std::string scheduler_display_name(const std::string& scheduler);  // "karras" -> "Karras", "" -> "Automatic"
SDPP_API std::string default_scheduler(const std::string& sampler);         // A1111's "Automatic" choice
SDPP_API std::vector<std::string> known_samplers();
SDPP_API std::vector<std::string> known_schedulers();

// A1111 "parameters" text for one image, and the request such a text describes (for --from-png).
SDPP_API std::string format_parameters(const GenerateRequest& resolved, const ModelDescription& model, int64_t seed,
                              int index_in_batch);
SDPP_API GenerateRequest request_from_parameters(const std::string& parameters);
// True when the text describes an img2img run (A1111's "Denoising strength" without hires fix):
// re-running it needs the init image again.
SDPP_API bool parameters_are_img2img(const std::string& parameters);

// Writes `image` as PNG with its parameters as a "parameters" text chunk. Never replaces an
// existing file unless `overwrite` (temporary file + rename).
SDPP_API void save_png(const std::string& path, const GeneratedImage& image, bool overwrite = false);
// Reads a PNG or JPEG as 8-bit RGB; `parameters` receives the PNG "parameters" chunk if present.
SDPP_API Image load_image(const std::string& path, std::string* parameters = nullptr);
// The same in memory (a server): the PNG bytes save_png would write, and a PNG or JPEG decoded from
// bytes. Bad data throws a one-line sdpp::Error.
SDPP_API std::vector<uint8_t> encode_png(const GeneratedImage& image);
SDPP_API Image decode_image(const uint8_t* data, size_t size, std::string* parameters = nullptr);

// Base64 (RFC 4648, '=' padding), as A1111's HTTP API carries images. Decoding accepts missing
// padding and ignores whitespace; any other character outside the alphabet throws a one-line
// sdpp::Error naming `what`.
SDPP_API std::string base64_encode(const uint8_t* data, size_t size);
SDPP_API std::vector<uint8_t> base64_decode(std::string_view text, const std::string& what);

// Writes latents as a safetensors file (tensor "latent", f32; `parameters` goes in its metadata).
SDPP_API void save_latent(const std::string& path, const Latent& latent, const std::string& parameters = "",
                          bool overwrite = false);

// Short model hash as A1111 shows it ("Model hash"): first 10 hex digits of the file's sha256.
// Cached by path, size and mtime in $XDG_CACHE_HOME/sdpp/hashes.json; "" for folders.
SDPP_API std::string model_short_hash(const std::string& path);

// ---- add-on folders (what a front end lists) -------------------------------------------------
// The LoRA / LyCORIS files <lora:NAME> can name for a model (ModelOptions::model and lora_dir), as
// A1111's /sdapi/v1/loras lists them. Files are not read beyond a safetensors header.
struct NetworkFileInfo {
    std::string name;   // file stem: what <lora:NAME> uses
    std::string alias;  // ss_output_name from the metadata ("" when absent)
    std::string path;
};
SDPP_API std::vector<NetworkFileInfo> list_networks(const ModelOptions& options);

// The textual-inversion embeddings of ModelOptions::embeddings_dir (or the folder beside the
// model), each read to tell its size; a file that cannot be used carries the reason in `error`.
struct EmbeddingFileInfo {
    std::string name;  // file stem: the word a prompt uses
    std::string path;
    int64_t vectors = 0;
    int64_t width = 0;        // vector width (768 SD 1.x, 1024 SD 2.x); 0 for SDXL files
    bool sdxl = false;        // clip_l + clip_g vectors
    std::string error;        // why it cannot be used ("" = readable)
};
SDPP_API std::vector<EmbeddingFileInfo> list_embeddings(const ModelOptions& options);

// ---- the default model ----------------------------------------------------------------------
// The model `sdpp generate` uses when no model is given (docs/hub.md): SD-Turbo
// (stabilityai/sd-turbo), an adversarially distilled SD 2.1 that makes a 512x512 image in 1-4
// steps without classifier-free guidance, which suits CPUs; and the settings it is made for.
struct DefaultModel {
    const char* repo;
    const char* revision;
    int steps;          // SD-Turbo: 1 (1-4 work; more steps do not help)
    float cfg_scale;    // 1 = no classifier-free guidance (no negative-prompt pass)
    int width, height;  // its training size
    const char* sampler;
};
inline constexpr DefaultModel kDefaultModel{"stabilityai/sd-turbo", "main", 1, 1.0f, 512, 512, "euler_a"};

// The local diffusers folder of the default model, pulled into sdpp's cache on first use (progress
// on stderr: a bar on a terminal, lines otherwise; hub and token from SDPP_HUB_ENDPOINT and
// HF_TOKEN, docs/hub.md). Uses the cache without any network access when an earlier pull completed. With no
// cached copy and no hub in reach, throws sdpp::Error with one line saying how to get a model.
SDPP_API std::string ensure_default_model();

// ---- JSON form of a request (the server's body) ----------------------------------------------
// Field names are A1111's /sdapi/v1/txt2img and img2img ones where they exist (prompt, seed,
// sampler_name, steps, cfg_scale, n_iter, denoising_strength, init_images, mask, resize_mode,
// inpainting_mask_invert, inpaint_full_res, override_settings.CLIP_stop_at_last_layers, ...),
// sdpp's own names otherwise (sample_posterior, outpaint, original_size, ...); docs/architecture.md
// lists them. Images are base64 PNG/JPEG strings (a "data:image/...;base64," prefix is accepted).
// init_pixels has no JSON form. A field of the wrong type or bad JSON throws a one-line sdpp::Error.
// Fields sdpp does not know (A1111's restore_faces, send_images, ...) are appended to
// `unknown_fields`; without that list they are an error.
SDPP_API GenerateRequest request_from_json(const std::string& json,
                                           std::vector<std::string>* unknown_fields = nullptr);
// Every field of `request` (unset cfg_scale and SDXL sizes left out); request_from_json reads it back.
SDPP_API std::string request_to_json(const GenerateRequest& request);

// The library's version, e.g. "0.1.0" (SDPP_VERSION_STRING of the headers it was built with).
SDPP_API const char* version();
// Threads a request runs on when ModelOptions::threads is 0 (all cores, or OMP_NUM_THREADS).
SDPP_API int default_threads();
// The CPU backend and what it runs on, one line: its kernels, oneDNN's ISA, the CPU's features.
SDPP_API std::string backend_description();

}  // namespace sdpp
