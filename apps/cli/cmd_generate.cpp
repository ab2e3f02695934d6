// `sdpp generate` (aliases `txt2img`, `img2img`): prompt (+ init image, mask) -> PNG files with A1111's
// "parameters" chunk. Everything that can be checked without the model is checked before loading
// it: a bad flag, image, mask, model file or output path exits 2 with one line and writes nothing.
// Batches run one engine call each, so every batch's images are on disk as soon as they exist.
// Flags follow A1111 / stable-diffusion.cpp; docs/cli.md documents each.
#include "cli/command.h"
#include "cli/memory_report.h"
#include "cli/output_files.h"
#include "cli/preview_options.h"
#include "cli/weight_cache_option.h"

#include <sdpp/error.hpp>
#include <sdpp/sdpp.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace sdpp::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

struct Args {
    std::string model, vae, vocab, prediction, dtype = "f32", weight_cache = "auto";
    int threads = 0;
    std::string prompt, negative;
    int steps = 0, width = 0, height = 0, batch_size = 1, batch_count = 1, clip_skip = 0;
    float cfg = 7.0f, strength = 0.75f, mask_blur = 4.0f, eta = 1.0f;
    std::string sampler, scheduler, resize_mode = "just";
    std::string seed = "-1", subseed = "-1";  // text: any integer, taken modulo 2^64 (seed.h)
    float subseed_strength = 0.0f;
    std::string init_image, mask, outpaint, output = "sdpp-{seed}-{index}.png", save_latent, from_png;
    bool invert_mask = false, only_masked = false, no_overlay = false, sample_posterior = false;
    int only_masked_padding = 32;
    std::vector<std::string> loras;  // --lora FILE[:MULT[:UNET_MULT]]
    std::string lora_dir;
    bool overwrite = false, json = false, quiet = false;
    int verbose = 0;  // -v, -vv
    PreviewArgs pv;   // --vae-decoder, --taesd, --preview*, --inpaint-fill (cli/preview_options.h)
    // hires fix (A1111 enable_hr)
    bool hires = false;
    float hires_scale = 2.0f, hires_denoise = 0.7f;
    int hires_width = 0, hires_height = 0, hires_steps = 0;
    std::string hires_upscaler = "Latent", hires_sampler, hires_prompt, hires_negative;
    std::string embeddings_dir;  // textual-inversion embeddings ("" = "embeddings" beside the model)
    // which options were given (CLI11 options, for --from-png overrides)
    std::map<std::string, CLI::Option*> opt;
    bool given(const std::string& name) const {
        auto it = opt.find(name);
        return it != opt.end() && it->second->count() > 0;
    }
};

std::array<int, 4> parse_outpaint(const std::string& s) {
    std::array<int, 4> v{};
    std::stringstream ss(s);
    std::string part;
    int n = 0;
    while (std::getline(ss, part, ',')) {
        if (n == 4) throw error("--outpaint '", s, "': expected L,T,R,B (4 numbers)");
        try {
            size_t used = 0;
            v[size_t(n)] = std::stoi(part, &used);
            if (used != part.size()) throw std::invalid_argument(part);
        } catch (const std::exception&) {
            throw error("--outpaint '", s, "': '", part, "' is not a number");
        }
        ++n;
    }
    if (n == 1) v = {v[0], v[0], v[0], v[0]};  // one number: every side
    else if (n != 4) throw error("--outpaint '", s, "': expected L,T,R,B (4 numbers) or one number");
    return v;
}

// Progress on stderr: a bar with it/s and ETA on a terminal, one line per finished stage otherwise.
// The command runs one engine call per batch and says which batch it is.
class ProgressPrinter {
public:
    ProgressPrinter(bool quiet, int batches) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1), batches_(batches) {}
    int batch = 0;

    bool operator()(const Progress& p) {
        if (g_interrupted) return false;
        if (quiet_) return true;
        const std::string tag = batches_ > 1 ? " [" + std::to_string(batch + 1) + "/" + std::to_string(batches_) + "]" : "";
        const bool sampling = p.stage == "sample" || p.stage == "hires";  // hires: the hires fix's second pass
        if (sampling && tty_) {
            if (p.step == 0 && p.elapsed == 0) return true;
            const double rate = p.elapsed > 0 ? p.step / p.elapsed : 0;
            const double eta = rate > 0 ? (p.total - p.step) / rate : 0;
            const int width = 30;
            const int filled = p.total > 0 ? p.step * width / p.total : width;
            std::fprintf(stderr, "\r%s%s [%s%s] %d/%d  %.2f it/s  ETA %.1fs ", p.stage.c_str(), tag.c_str(),
                         std::string(size_t(filled), '#').c_str(), std::string(size_t(width - filled), '.').c_str(), p.step,
                         p.total, rate, eta);
            if (p.step == p.total) std::fprintf(stderr, "\n");
            std::fflush(stderr);
            return true;
        }
        if (p.step == p.total && p.total > 0) {  // stage finished
            if (sampling)
                std::fprintf(stderr, "%s%s: %d steps in %.2fs (%.2f it/s)\n", p.stage.c_str(), tag.c_str(), p.total, p.elapsed,
                             p.elapsed > 0 ? p.total / p.elapsed : 0.0);
            else
                std::fprintf(stderr, "%s%s: %.2fs\n", p.stage.c_str(), tag.c_str(), p.elapsed);
        }
        return true;
    }

private:
    bool quiet_, tty_;
    int batches_;
};

// --hires* flags onto the request (any of --hires, --hires-scale, --hires-width/-height turns it on).
void apply_hires_flags(const Args& a, GenerateRequest& r) {
    const bool on = a.given("hires") || a.given("hires-scale") || a.given("hires-width") || a.given("hires-height");
    if (on) r.hires = true;
    for (const char* f : {"hires-steps", "hires-denoise", "hires-upscaler", "hires-sampler", "hires-prompt",
                          "hires-negative-prompt"})
        if (a.given(f) && !r.hires) throw error("--", f, " needs --hires, --hires-scale or --hires-width/--hires-height");
    if (a.given("hires-width") && a.hires_width == 0) throw Error("--hires-width 0 is out of range (8..16384)");
    if (a.given("hires-height") && a.hires_height == 0) throw Error("--hires-height 0 is out of range (8..16384)");
    if (a.given("hires-scale")) r.hires_scale = a.hires_scale;
    if (a.given("hires-width") || a.given("hires-height")) {
        r.hires_width = a.hires_width;
        r.hires_height = a.hires_height;
    }
    if (a.given("hires-steps")) r.hires_steps = a.hires_steps;
    if (a.given("hires-denoise")) r.hires_denoise = a.hires_denoise;
    if (a.given("hires-upscaler")) r.hires_upscaler = a.hires_upscaler;
    if (a.given("hires-sampler")) r.hires_sampler = a.hires_sampler;
    if (a.given("hires-prompt")) r.hires_prompt = a.hires_prompt;
    if (a.given("hires-negative-prompt")) r.hires_negative_prompt = a.hires_negative;
}

// --lora FILE[:MULT[:UNET_MULT]]: MULT sets both multipliers (default 1), UNET_MULT the U-Net's.
LoraSpec parse_lora_flag(const std::string& s) {
    LoraSpec l;
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t p; (p = s.find(':', start)) != std::string::npos; start = p + 1) parts.push_back(s.substr(start, p - start));
    parts.push_back(s.substr(start));
    // Trailing numbers are multipliers; everything before them is the file (which may hold ':').
    std::vector<float> nums;
    while (parts.size() > 1 && nums.size() < 2) {
        const std::string& t = parts.back();
        char* end = nullptr;
        const double v = std::strtod(t.c_str(), &end);
        if (t.empty() || *end != '\0' || !std::isfinite(v)) break;
        nums.insert(nums.begin(), float(v));
        parts.pop_back();
    }
    for (size_t i = 0; i < parts.size(); ++i) l.file += (i ? ":" : "") + parts[i];
    if (l.file.empty()) throw error("--lora '", s, "': no file or name (FILE[:MULT[:UNET_MULT]])");
    if (!nums.empty()) l.te_multiplier = l.unet_multiplier = nums[0];
    if (nums.size() > 1) l.unet_multiplier = nums[1];
    return l;
}

// The request from --from-png, then the flags given (which override it), with the images loaded.
GenerateRequest build_request(const Args& a) {
    GenerateRequest r;
    if (!a.from_png.empty()) {
        std::string params;
        load_image(a.from_png, &params);
        if (params.empty()) throw error(a.from_png, ": no \"parameters\" text chunk (not an A1111/sdpp PNG?)");
        if (parameters_are_img2img(params) && a.init_image.empty())
            throw error("--from-png ", a.from_png, " is an img2img image (it has a denoising strength): pass its --init-image");
        r = request_from_parameters(params);
    }
    auto take = [&](const char* name, auto& field, const auto& value) {
        if (a.from_png.empty() || a.given(name)) field = value;
    };
    take("prompt", r.prompt, a.prompt);
    take("negative", r.negative_prompt, a.negative);
    take("steps", r.steps, a.steps);
    if (a.given("cfg")) r.cfg_scale = a.cfg;  // else the model's default (or the PNG's)
    take("sampler", r.sampler, a.sampler);
    take("scheduler", r.scheduler, a.scheduler);
    if (a.from_png.empty() || a.given("seed")) r.seed = seed_from_text(a.seed);
    if (a.from_png.empty() || a.given("subseed")) r.subseed = seed_from_text(a.subseed);
    take("subseed-strength", r.subseed_strength, a.subseed_strength);
    take("width", r.width, a.width);
    take("height", r.height, a.height);
    take("clip-skip", r.clip_skip, a.clip_skip);
    take("eta", r.eta, a.eta);
    take("strength", r.strength, a.strength);
    take("mask-blur", r.mask_blur, a.mask_blur);
    if (a.given("only-masked")) r.only_masked = true;
    take("only-masked-padding", r.only_masked_padding, a.only_masked_padding);
    r.batch_size = a.batch_size;
    r.batch_count = a.batch_count;
    r.invert_mask = a.invert_mask;
    r.overlay_original = !a.no_overlay;
    r.sample_posterior = a.sample_posterior;
    r.resize_mode = parse_resize_mode(a.resize_mode);
    if (!a.outpaint.empty()) r.outpaint = parse_outpaint(a.outpaint);
    for (const std::string& l : a.loras) r.loras.push_back(parse_lora_flag(l));
    if (!a.from_png.empty() && !a.given("outpaint")) r.outpaint = {0, 0, 0, 0};  // needs --init-image anyway
    if (!a.init_image.empty()) r.init_image = load_image(a.init_image);
    if (!a.mask.empty()) {
        if (a.init_image.empty()) throw Error("--mask needs --init-image");
        r.mask = load_image(a.mask);
    }
    if (r.outpaint != std::array<int, 4>{0, 0, 0, 0} && a.init_image.empty()) throw Error("--outpaint needs --init-image");
    if (a.given("strength") && a.init_image.empty()) throw Error("--strength needs --init-image");
    a.pv.apply(r, !a.from_png.empty());
    apply_hires_flags(a, r);
    return r;
}

// What validate_request cannot tell: a 0 the user typed (the request reads 0 as "default"), the
// thread count, and the model files themselves.
void check_flags(const Args& a) {
    if (a.given("steps") && a.steps < 1) throw error("--steps ", a.steps, " is out of range (1..10000)");
    if (a.given("width") && a.width == 0) throw error("width 0 is out of range (8..16384)");
    if (a.given("height") && a.height == 0) throw error("height 0 is out of range (8..16384)");
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    if (a.threads < 0 || a.threads > cores)
        throw error("--threads ", a.threads, " is out of range (0..", cores, "; 0 = all ", cores, " hardware threads)");
    std::error_code ec;
    if (!a.model.empty() && !fs::exists(a.model, ec)) throw error("model ", a.model, ": no such file or folder");
    if (!a.vae.empty() && !fs::exists(a.vae, ec)) throw error("--vae ", a.vae, ": no such file or folder");
    if (!a.vocab.empty() && !fs::exists(a.vocab, ec)) throw error("--vocab ", a.vocab, ": no such file or folder");
    if (!a.embeddings_dir.empty() && !fs::is_directory(a.embeddings_dir, ec))
        throw error("--embeddings-dir ", a.embeddings_dir, ": no such folder");
    if (!a.lora_dir.empty() && !fs::is_directory(a.lora_dir, ec)) throw error("--lora-dir ", a.lora_dir, ": no such folder");
    if (!a.model.empty()) check_model_file(a.model, "model");
    if (!a.vae.empty()) check_model_file(a.vae, "--vae");
    a.pv.check(a.overwrite, !a.mask.empty() || !a.outpaint.empty());
}

// Every output path of the run, checked writable before anything is generated.
std::vector<std::string> plan_outputs(const Args& a, const GenerateRequest& r) {
    const int count = r.batch_size * r.batch_count;
    std::vector<std::string> paths;
    for (int i = 0; i < count; ++i) {
        paths.push_back(output_path(a.output, image_seed(r.seed, r.subseed_strength, i), i, count));
        if (fs::path(paths.back()).extension() != ".png" && fs::path(paths.back()).extension() != ".PNG")
            throw error("output ", paths.back(), ": only .png is written");
        check_writable(paths.back(), a.overwrite, "output");
        for (int j = 0; j < i; ++j)
            if (paths[size_t(j)] == paths.back()) throw error("output pattern ", a.output, " names two images ", paths.back());
    }
    if (!a.save_latent.empty()) check_writable(a.save_latent, a.overwrite, "--save-latent");
    return paths;
}

// No --model: the default model (docs/hub.md), from the cache or pulled on first use, with the
// settings it is made for unless flags say otherwise. Returns the name the infotext gives it.
std::string use_default_model(Args& a, GenerateRequest& r) {
    if (!a.model.empty()) return "";
    const DefaultModel& d = kDefaultModel;
    a.model = ensure_default_model();
    if (r.steps == 0) r.steps = d.steps;
    if (!r.cfg_scale) r.cfg_scale = d.cfg_scale;
    if (r.sampler.empty()) r.sampler = d.sampler;
    if (r.width == 0 && !r.init_image) r.width = d.width;
    if (r.height == 0 && !r.init_image) r.height = d.height;
    return fs::path(d.repo).filename().string();
}

ModelOptions model_options(const Args& a, int64_t weight_cache_mb, const std::string& name) {
    ModelOptions mo;
    mo.model = a.model;
    mo.vae = a.vae;
    mo.vocab = a.vocab;
    mo.prediction = a.prediction;
    mo.dtype = a.dtype;
    mo.threads = a.threads;
    mo.weight_cache_mb = weight_cache_mb;
    mo.keep_weights = false;  // release the U-Net before each decode (peak = the larger stage)
    mo.name = name;
    mo.taesd = a.pv.taesd_path();
    mo.embeddings_dir = a.embeddings_dir;
    mo.lora_dir = a.lora_dir;
    return mo;
}

void print_settings(const Args& a, const Engine& engine, const GenerateRequest& resolved) {
    const ModelDescription& md = engine.model();
    if (!a.json && !a.quiet) {
        std::fprintf(stderr, "seed: %s\n", seed_text(resolved.seed).c_str());
        std::fprintf(stderr, "load: %.2fs (%s, %s%s)\n", engine.load_seconds(), md.family.c_str(), md.prediction.c_str(),
                     md.inpaint ? ", inpainting" : "");
    }
    if (a.verbose && !a.quiet)
        std::fprintf(stderr, "%dx%d, %d steps, %s (%s), CFG %g, %d x %d image(s)\n", resolved.width, resolved.height,
                     resolved.steps, resolved.sampler.c_str(), resolved.scheduler.c_str(), double(*resolved.cfg_scale),
                     resolved.batch_count, resolved.batch_size);
    if (a.verbose && !a.quiet && std::getenv("SDPP_WAIT_POLICY_CHOSEN"))
        std::fprintf(stderr, "OpenMP: passive waiting (another task was busy at start; cli/wait_policy.cpp)\n");
}

// What the batches produced, summed over them.
struct RunTotals {
    nlohmann::json images = nlohmann::json::array();
    std::map<std::string, double> timings;
    std::vector<std::string> stage_order;
    Latent latents;
    size_t peak_bytes = 0;
    size_t written = 0;
    bool cancelled = false;

    void add(const GenerateResult& res) {
        if (!res.latents.data.empty()) {
            if (latents.shape.empty()) latents.shape = res.latents.shape;
            else latents.shape[0] += res.latents.shape[0];
            latents.data.insert(latents.data.end(), res.latents.data.begin(), res.latents.data.end());
        }
        for (const StageTiming& t : res.timings) {
            if (!timings.count(t.stage)) stage_order.push_back(t.stage);
            timings[t.stage] += t.seconds;
        }
        peak_bytes = std::max(peak_bytes, res.peak_bytes);
        cancelled = res.cancelled;
    }
};

// One engine call per batch, each batch's images written as soon as they exist (an interrupted
// run keeps what is finished).
RunTotals run_batches(const Args& a, Engine& engine, const GenerateRequest& resolved,
                      const std::vector<std::string>& paths) {
    RunTotals tot;
    std::signal(SIGINT, on_sigint);
    ProgressPrinter printer(a.quiet || a.json, resolved.batch_count);
    for (int b = 0; b < resolved.batch_count && !tot.cancelled; ++b) {
        GenerateRequest one = resolved;
        one.batch_count = 1;
        one.seed = image_seed(resolved.seed, resolved.subseed_strength, int64_t(b) * resolved.batch_size);
        if (resolved.subseed_strength != 0.0f) one.subseed = seed_plus(resolved.subseed, int64_t(b) * resolved.batch_size);
        printer.batch = b;
        GenerateResult res = engine.generate(one, [&](const Progress& p) {
            a.pv.write_preview(p);
            return printer(p);
        });
        for (GeneratedImage& g : res.images) {
            g.index += b * resolved.batch_size;
            const std::string& path = paths[size_t(g.index)];
            save_png(path, g, a.overwrite);
            ++tot.written;
            tot.images.push_back({{"path", path}, {"seed", uint64_t(g.seed)}, {"index", g.index}, {"parameters", g.parameters}});
            if (!a.json) std::printf("%s\n", path.c_str());
            std::fflush(stdout);
        }
        tot.add(res);
    }
    std::signal(SIGINT, SIG_DFL);
    return tot;
}

nlohmann::json result_json(const Engine& engine, const GenerateRequest& resolved, const RunTotals& tot, double total) {
    const ModelDescription& md = engine.model();
    nlohmann::json out;
    out["images"] = tot.images;
    out["seed"] = uint64_t(resolved.seed);
    out["width"] = resolved.width;
    out["height"] = resolved.height;
    out["steps"] = resolved.steps;
    out["sampler"] = resolved.sampler;
    out["scheduler"] = resolved.scheduler;
    out["cfg_scale"] = *resolved.cfg_scale;
    out["model"] = {{"path", md.path}, {"name", md.name}, {"family", md.family}, {"prediction", md.prediction},
                    {"inpaint", md.inpaint}, {"hash", md.hash}};
    out["timings"] = nlohmann::json::object();
    out["timings"]["load"] = engine.load_seconds();
    for (const std::string& st : tot.stage_order) out["timings"][st] = tot.timings.at(st);
    out["timings"]["total"] = total;
    out["peak_tensor_bytes"] = tot.peak_bytes;
    out["max_rss_bytes"] = max_rss_bytes();
    out["cancelled"] = tot.cancelled;
    return out;
}

void print_timings(const Engine& engine, const RunTotals& tot, double total) {
    std::fprintf(stderr, "timings: load %.2fs", engine.load_seconds());
    for (const std::string& st : tot.stage_order) std::fprintf(stderr, ", %s %.2fs", st.c_str(), tot.timings.at(st));
    std::fprintf(stderr, ", total %.2fs\n", total);
    std::fprintf(stderr, "memory: tensor allocator peak %s, max RSS %s\n", human_bytes(double(tot.peak_bytes)).c_str(),
                 human_bytes(double(max_rss_bytes())).c_str());
}

int run(Args& a) {
    // -v: settings, timings and memory; -vv the library's debug detail; -vvv each oneDNN primitive.
    set_verbosity(a.quiet ? 0 : std::min(a.verbose, 3));
    const auto t_start = std::chrono::steady_clock::now();
    const int64_t weight_cache_mb = parse_weight_cache(a.weight_cache);

    // ---- checks before anything heavy ----
    check_flags(a);
    GenerateRequest r = build_request(a);
    validate_request(r);
    if (r.seed == -1) r.seed = random_seed();
    const std::vector<std::string> paths = plan_outputs(a, r);
    const std::string model_name = use_default_model(a, r);

    // ---- load, run, report ----
    Engine engine(model_options(a, weight_cache_mb, model_name));
    const GenerateRequest resolved = engine.resolve(r);
    print_settings(a, engine, resolved);
    RunTotals tot = run_batches(a, engine, resolved, paths);
    nlohmann::json latent_path;
    if (!a.save_latent.empty() && !tot.latents.data.empty()) {
        save_latent(a.save_latent, tot.latents,
                    tot.images.empty() ? "" : tot.images[0]["parameters"].get<std::string>(), a.overwrite);
        latent_path = a.save_latent;
    }
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (a.json) {
        nlohmann::json out = result_json(engine, resolved, tot, total);
        if (!latent_path.is_null()) out["latent"] = latent_path;
        std::printf("%s\n", out.dump(2).c_str());
    }
    if (a.verbose && !a.json && !a.quiet) print_timings(engine, tot, total);
    if (tot.cancelled) {
        std::fprintf(stderr, "cancelled (%zu of %zu images written)\n", tot.written, paths.size());
        return 130;
    }
    return kExitOk;
}

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<Args>();
    auto& o = a->opt;
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // the last flag wins
    app.add_option("-m,--model", a->model,
                   "Checkpoint (.safetensors/.ckpt) or diffusers folder (default: SD-Turbo from the cache, pulled on first use)");
    app.add_option("--vae", a->vae, "VAE file or folder replacing the checkpoint's");
    app.add_option("--vocab", a->vocab, "CLIP vocabulary (vocab.json, merges.txt, bpe_simple_vocab_16e6.txt.gz or folder)");
    app.add_option("--embeddings-dir", a->embeddings_dir,
                   "Textual-inversion embeddings folder (default: 'embeddings' beside the model); use them by file stem in a prompt");
    o["prompt"] = app.add_option("-p,--prompt", a->prompt, "Prompt (A1111 syntax: (word:1.2), [word], BREAK)");
    o["negative"] = app.add_option("-n,--negative-prompt", a->negative, "Negative prompt");
    o["steps"] = app.add_option("--steps", a->steps, "Sampling steps (default: 20; Turbo 1, LCM 4)");
    o["cfg"] = app.add_option("--cfg-scale", a->cfg, "Classifier-free guidance scale (default 7; Turbo/LCM 1)");
    o["sampler"] = app.add_option("--sampler", a->sampler, "Sampler: euler_a (default), euler, dpmpp_2m, ... or \"DPM++ 2M Karras\"");
    o["scheduler"] = app.add_option("--scheduler", a->scheduler, "Schedule: automatic (default), normal, karras, exponential, ...");
    o["seed"] = app.add_option("--seed", a->seed, "Seed (-1 = random; printed; taken modulo 2^64)");
    o["subseed"] = app.add_option("--subseed", a->subseed,
                                  "Variation seed (A1111): the noise is slerped toward this seed's (-1 = random)");
    o["subseed-strength"] = app.add_option("--subseed-strength", a->subseed_strength,
                                           "Variation strength 0..1 (0 = off; with it every image keeps --seed and "
                                           "the subseeds count up)");
    o["width"] = app.add_option("-W,--width", a->width, "Width in pixels, multiple of 8 (default per model)");
    o["height"] = app.add_option("-H,--height", a->height, "Height in pixels, multiple of 8 (default per model)");
    app.add_option("--batch-size", a->batch_size, "Images per forward pass")->capture_default_str();
    app.add_option("--batch-count", a->batch_count, "Batches run one after another")->capture_default_str();
    app.add_option("--init-image", a->init_image, "Init image (PNG/JPEG) for img2img / inpainting / outpainting");
    o["strength"] = app.add_option("--strength", a->strength, "Denoising strength for img2img (0..1)")->capture_default_str();
    app.add_option("--resize-mode", a->resize_mode, "Init image fit: just, crop, fill")->capture_default_str();
    app.add_option("--mask", a->mask, "Inpainting mask (white = repaint), same size as the init image");
    app.add_flag("--invert-mask", a->invert_mask, "Repaint the black part of the mask instead");
    o["mask-blur"] = app.add_option("--mask-blur", a->mask_blur, "Mask blur (Gaussian sigma, pixels)")->capture_default_str();
    o["only-masked"] = app.add_flag("--only-masked", a->only_masked, "Inpaint only the masked region at full resolution");
    o["only-masked-padding"] =
        app.add_option("--only-masked-padding", a->only_masked_padding, "Padding around the region (pixels)")->capture_default_str();
    app.add_flag("--no-overlay", a->no_overlay, "Do not paste the unmasked original back over the result");
    o["outpaint"] = app.add_option("--outpaint", a->outpaint, "Outpaint: grow the canvas by L,T,R,B pixels (or one number)");
    app.add_flag("--sample-posterior", a->sample_posterior, "Sample the VAE posterior for the init latent (A1111) instead of its mean");
    o["clip-skip"] = app.add_option("--clip-skip", a->clip_skip, "CLIP skip (A1111; 2 = penultimate layer)");
    o["eta"] = app.add_option("--eta", a->eta, "Noise multiplier of ancestral/SDE samplers")->capture_default_str();
    o["hires"] = app.add_flag("--hires", a->hires, "Hires fix (A1111): generate, upscale (default x2), refine in a second pass");
    o["hires-scale"] = app.add_option("--hires-scale", a->hires_scale, "Hires fix: upscale factor (1..8; turns hires fix on)");
    o["hires-width"] = app.add_option("--hires-width", a->hires_width, "Hires fix: target width (multiple of 8; 0 = from the height)");
    o["hires-height"] = app.add_option("--hires-height", a->hires_height, "Hires fix: target height (multiple of 8; 0 = from the width)");
    o["hires-steps"] = app.add_option("--hires-steps", a->hires_steps, "Hires fix: second-pass steps (0 = --steps)");
    o["hires-denoise"] = app.add_option("--hires-denoise", a->hires_denoise, "Hires fix: denoising strength of the second pass")->capture_default_str();
    o["hires-upscaler"] = app.add_option("--hires-upscaler", a->hires_upscaler,
                                         "Hires fix upscaler: Latent, \"Latent (antialiased)\", \"Latent (bicubic)\", "
                                         "\"Latent (bicubic antialiased)\", \"Latent (nearest)\", \"Latent (nearest-exact)\", "
                                         "Lanczos, Nearest")->capture_default_str();
    o["hires-sampler"] = app.add_option("--hires-sampler", a->hires_sampler, "Hires fix: second-pass sampler (default: --sampler)");
    o["hires-prompt"] = app.add_option("--hires-prompt", a->hires_prompt, "Hires fix: second-pass prompt (default: --prompt)");
    o["hires-negative-prompt"] = app.add_option("--hires-negative-prompt", a->hires_negative,
                                                "Hires fix: second-pass negative prompt (default: --negative-prompt)");
    app.add_option("--prediction", a->prediction, "Override the prediction type: eps or v")->check(CLI::IsMember({"eps", "v"}));
    app.add_option("--dtype", a->dtype, "Compute precision: f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
    app.add_option("--threads", a->threads, "CPU threads (0 = all cores)");
    add_weight_cache_option(app, a->weight_cache);
    app.add_option("-o,--output", a->output, "Output PNG path or pattern with {seed}, {index}")->capture_default_str();
    app.add_flag("--overwrite", a->overwrite, "Replace existing output files");
    app.add_option("--save-latent", a->save_latent, "Also write the final latents to this .safetensors file");
    app.add_option("--lora", a->loras,
                   "LoRA / LyCORIS network FILE[:MULT[:UNET_MULT]] (or a NAME in --lora-dir); repeatable. "
                   "Prompts take <lora:NAME:MULT> tags too")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--lora-dir", a->lora_dir, "Folder of networks that <lora:NAME> tags name (default: Lora or loras beside the model)");
    app.add_option("--from-png", a->from_png, "Re-run the parameters stored in a PNG (flags given override them)");
    app.add_flag("--json", a->json, "Print a JSON result on stdout (paths, seeds, parameters, timings)");
    app.add_flag("-q,--quiet", a->quiet, "No progress output");
    a->pv.add(app);
    app.add_flag("-v,--verbose", a->verbose, "Settings, per-stage timings and peak memory; -vv adds the library's debug detail, -vvv each oneDNN primitive");
    return [a] { return run(*a); };
}

const bool registered = register_command(
    {"generate", "Generate images (txt2img, img2img, inpainting, outpainting)", setup, {"txt2img", "img2img"}});

}  // namespace
}  // namespace sdpp::cli
