// `sdpp bench`: the whole-model speed hook of issues 5 and 8. Loads a checkpoint (normally a
// full-size random one from `sdpp make-random-model`), measures the machine's matmul peak in the same
// run (oneDNN's plain matmul through the backend's `matmul` op, f32 and bf16 compute), then times one
// U-Net forward at the CFG batch and one VAE decode: median of N runs after a warm-up run, min-max,
// the analytic FLOPs (model/flops.h), the limit FLOPs / peak and the fraction median / limit, the
// allocator's peak bytes per stage and the process max RSS. --json prints the same as one object.
#include "cli/command.h"
#include "cli/memory_report.h"
#include "cli/weight_cache_option.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/ops.h"
#include "backend/profiling_backend.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/threads.h"
#include "tools/flops.h"
#include "model/loader.h"
#include "model/unet.h"
#include "model/vae.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <time.h>

namespace sdpp::cli {
namespace {

struct Args {
    std::string model, size, vae_size, dtype = "f32", weight_cache = "all", vae_decode = "banded", conv_layout = "auto";
    int runs = 5, threads = 0, batch = 2, peak_size = 4096;
    bool no_vae = false, no_unet = false, json = false, profile = false;
};

using Clock = std::chrono::steady_clock;

double med(std::vector<double> s) {
    std::sort(s.begin(), s.end());
    const size_t n = s.size();
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Timing {
    std::vector<double> runs;  // wall seconds of each timed run, in run order
    // Process CPU seconds / threads of each run: what the run would take on an idle machine if the
    // threads were never descheduled (robust when other jobs share the cores; counts spin-waits).
    std::vector<double> cpu;
    double first = 0;          // the warm-up run (weight preparation, primitive creation, page faults)
    double cpu_median() const { return med(cpu); }
    double median() const {
        std::vector<double> s = runs;
        std::sort(s.begin(), s.end());
        const size_t n = s.size();
        return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }
    double min() const { return *std::min_element(runs.begin(), runs.end()); }
    double max() const { return *std::max_element(runs.begin(), runs.end()); }
};

// One warm-up run, then `runs` timed ones; after_warmup (if any) runs in between.
Timing time_runs(int runs, const std::function<void()>& f, const std::function<void()>& after_warmup = {}) {
    Timing t;
    auto t0 = Clock::now();
    f();
    t.first = std::chrono::duration<double>(Clock::now() - t0).count();
    if (after_warmup) after_warmup();
    for (int i = 0; i < runs; ++i) {
        t0 = Clock::now();
        const double c0 = cpu_seconds();
        f();
        t.runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        t.cpu.push_back((cpu_seconds() - c0) / num_threads());
    }
    return t;
}

double load_average() {
    double l = -1;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf", &l) != 1) l = -1;
        std::fclose(f);
    }
    return l;
}

// "512x512" -> {width, height}; both positive multiples of 8.
std::pair<int64_t, int64_t> parse_size(const std::string& s, const char* flag) {
    const size_t x = s.find('x');
    try {
        if (x == std::string::npos) throw std::invalid_argument(s);
        size_t a = 0, b = 0;
        const long w = std::stol(s.substr(0, x), &a), h = std::stol(s.substr(x + 1), &b);
        if (a != x || b != s.size() - x - 1 || w <= 0 || h <= 0) throw std::invalid_argument(s);
        if (w % 8 || h % 8) throw error(flag, " '", s, "': width and height must be multiples of 8");
        return {w, h};
    } catch (const std::logic_error&) {
        throw error(flag, " '", s, "': expected WIDTHxHEIGHT, e.g. 512x512");
    }
}

Tensor randn(const Shape& shape, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(size_t(numel_of(shape)));
    for (float& x : v) x = d(rng);
    return Tensor::from_vector(v, shape);
}

struct StageResult {
    std::string name;
    Timing t;
    FlopCount flops;
    double limit_s = 0;     // flops / peak of the compute dtype, the mean of the peaks measured
                            // just before and just after the stage (the VM's speed drifts)
    double limit_cpu_s = 0; // the same with both measured in process CPU time / threads
    double peak_before = 0, peak_after = 0;  // FLOP/s of the compute dtype around the stage
    size_t alloc_peak = 0;  // allocator peak during the stage (warm-up and timed runs)
    std::string shape;      // what ran, in words
    std::vector<OpProfile> profile;  // --profile: backend time per op over the timed runs
};

nlohmann::json stage_json(const StageResult& r) {
    nlohmann::json j;
    j["what"] = r.shape;
    j["runs"] = r.t.runs.size();
    j["times_s"] = r.t.runs;
    j["first_s"] = r.t.first;
    j["cpu_times_s"] = r.t.cpu;
    j["cpu_median_s"] = r.t.cpu_median();
    j["cpu_limit_s"] = r.limit_cpu_s;
    j["cpu_fraction_of_limit"] = r.t.cpu_median() / r.limit_cpu_s;
    j["median_s"] = r.t.median();
    j["min_s"] = r.t.min();
    j["max_s"] = r.t.max();
    j["flops"] = r.flops.total();
    j["flops_conv"] = r.flops.conv;
    j["flops_linear"] = r.flops.linear;
    j["flops_attention"] = r.flops.attention;
    j["limit_s"] = r.limit_s;
    j["peak_gflops"] = (r.peak_before + r.peak_after) / 2e9;
    j["peak_gflops_before"] = r.peak_before / 1e9;
    j["peak_gflops_after"] = r.peak_after / 1e9;
    j["fraction_of_limit"] = r.t.median() / r.limit_s;
    j["gflops_per_s"] = r.flops.total() / r.t.median() / 1e9;
    j["allocator_peak_bytes"] = r.alloc_peak;
    if (!r.profile.empty()) {
        const double n = double(r.t.runs.size());
        nlohmann::json p = nlohmann::json::array();
        for (const OpProfile& o : r.profile)
            p.push_back({{"op", o.op}, {"calls_per_run", double(o.calls) / n}, {"seconds_per_run", o.seconds / n}});
        j["profile"] = p;
    }
    return j;
}

void print_stage(const StageResult& r, const char* dtype) {
    std::printf("%s: %s\n", r.name.c_str(), r.shape.c_str());
    std::printf("  median %.3f s (min %.3f, max %.3f) over %zu runs; warm-up run %.3f s\n", r.t.median(), r.t.min(),
                r.t.max(), r.t.runs.size(), r.t.first);
    std::printf("  process CPU time / threads: median %.3f s; limit %.3f s at the CPU-time peak; %.2fx\n",
                r.t.cpu_median(), r.limit_cpu_s, r.t.cpu_median() / r.limit_cpu_s);
    std::printf("  FLOPs %.3f TFLOP (conv %.3f, linear %.3f, attention %.3f); %.1f GFLOP/s\n", r.flops.total() / 1e12,
                r.flops.conv / 1e12, r.flops.linear / 1e12, r.flops.attention / 1e12,
                r.flops.total() / r.t.median() / 1e9);
    std::printf("  limit %.3f s at the %s peak of %.1f GFLOP/s (mean of %.1f before and %.1f after the stage); "
                "median = %.2fx the limit\n",
                r.limit_s, dtype, (r.peak_before + r.peak_after) / 2e9, r.peak_before / 1e9, r.peak_after / 1e9,
                r.t.median() / r.limit_s);
    std::printf("  allocator peak %s\n", human_bytes(double(r.alloc_peak)).c_str());
    if (!r.profile.empty()) {
        const double n = double(r.t.runs.size());
        double total = 0;
        for (const OpProfile& o : r.profile) total += o.seconds / n;
        std::printf("  backend time per run by op (%.3f s of the %.3f s median; the rest is outside the backend):\n",
                    total, r.t.median());
        for (const OpProfile& o : r.profile)
            std::printf("    %-20s %8.3f s %5.1f%%  %7.0f calls\n", o.op.c_str(), o.seconds / n,
                        100.0 * o.seconds / n / r.t.median(), double(o.calls) / n);
    }
    std::fflush(stdout);
}

void check_args(const Args& a) {
    namespace fs = std::filesystem;
    if (a.model.empty()) throw Error("no model given (pass --model FILE)");
    if (!fs::exists(a.model)) throw error(a.model, ": no such file or folder");
    if (a.runs < 1) throw error("--runs ", a.runs, ": need at least 1");
    if (a.batch < 1) throw error("--batch ", a.batch, ": need at least 1");
    if (a.peak_size < 64) throw error("--peak-size ", a.peak_size, ": need at least 64");
}

cpu::ConvLayoutChoice conv_layout_of(const std::string& s) {
    return s == "blocked" ? cpu::ConvLayoutChoice::Blocked
           : s == "plain" ? cpu::ConvLayoutChoice::Plain
                          : cpu::ConvLayoutChoice::Auto;
}

// One bench run: the model mapped, its own backend, the machine peaks measured around each stage.
struct Bench {
    const Args& a;
    const DType dtype;
    const bool text;
    LoadedModel m;
    UNetConfig ucfg;
    VAEConfig vcfg;
    double load_s = 0;
    std::unique_ptr<Backend> backend;
    std::optional<ProfilingBackend> profiler;
    Ctx ctx;
    double peak[2] = {0, 0}, peak_cpu[2] = {0, 0};  // f32, bf16: wall and CPU-time FLOP/s
    double my_peak = 0, my_peak_cpu = 0;           // the compute dtype's, as last measured

    explicit Bench(const Args& args)
        : a(args), dtype(args.dtype == "bf16" ? DType::BF16 : DType::F32), text(!args.json) {}

    bool xl() const { return m.family == Family::SDXL || m.family == Family::SDXLRefiner; }
    std::pair<int64_t, int64_t> size(const std::string& given, const char* flag) const {
        return parse_size(given.empty() ? (xl() ? "1024x1024" : "512x512") : given, flag);
    }

    void load(int64_t cache_mb) {
        auto t0 = Clock::now();
        m = load_model(a.model);
        if (m.family == Family::Unknown) throw error(a.model, ": no U-Net found (not a Stable Diffusion checkpoint?)");
        ucfg = UNetConfig::detect(m.weights(), m.hints);
        vcfg = VAEConfig::detect(m.weights(), m.hints, m.family);
        load_s = std::chrono::duration<double>(Clock::now() - t0).count();
        backend = cpu::make_cpu_backend({.conv_layout = conv_layout_of(a.conv_layout)});
        profiler.emplace(*backend);
        ctx.backend = a.profile ? &*profiler : backend.get();
        ctx.compute_dtype = dtype;
        ctx.be().set_prepared_weight_limit(cache_mb == ModelOptions::kWeightCacheAll ? SIZE_MAX : size_t(cache_mb) << 20);
    }

    void print_header(double load_start) const {
        std::printf("sdpp bench: %s (%s, %s layout), %d threads, %s compute, weight cache %s, load average %.2f at start\n",
                    a.model.c_str(), family_name(m.family), m.layout.c_str(), num_threads(), a.dtype.c_str(),
                    a.weight_cache.c_str(), load_start);
        std::printf("backend %s\n", backend->describe().c_str());
        std::printf("%s\nVAE %s\nloaded (mapped) in %.2f s\n", ucfg.describe().c_str(), vcfg.describe().c_str(), load_s);
        std::fflush(stdout);
    }

    // Machine peak: a plain n^3 matmul through the backend's op, median of 3 after a warm-up
    // ({wall, CPU-time} FLOP/s).
    std::pair<double, double> measure_peak(DType dt) const {
        const int64_t pn = a.peak_size;
        const Tensor px = randn({pn, pn}, 1), py = randn({pn, pn}, 2);  // not kept: stages measure their own peak memory
        Ctx pctx;
        pctx.backend = backend.get();
        pctx.compute_dtype = dt;
        Timing t = time_runs(3, [&] { matmul(pctx, px, py); });
        const double flop = 2.0 * double(pn) * double(pn) * double(pn);
        return {flop / t.median(), flop / t.cpu_median()};
    }

    // Both dtypes first; then the compute dtype again after each stage (set_limit).
    void measure_peaks() {
        for (int i = 0; i < 2; ++i) std::tie(peak[i], peak_cpu[i]) = measure_peak(i ? DType::BF16 : DType::F32);
        my_peak = peak[dtype == DType::BF16];
        my_peak_cpu = peak_cpu[dtype == DType::BF16];
        if (!text) return;
        std::printf("machine peak (oneDNN matmul %lld^3, median of 3): f32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n",
                    (long long)a.peak_size, peak[0] / 1e9, peak[1] / 1e9);
        std::printf("  by process CPU time / threads: f32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n", peak_cpu[0] / 1e9,
                    peak_cpu[1] / 1e9);
        std::fflush(stdout);
    }

    // A stage's limit uses the mean of the peaks measured on either side of it (the VM drifts).
    void set_limit(StageResult& r) {
        const auto [after, after_cpu] = measure_peak(dtype);
        r.peak_before = my_peak;
        r.peak_after = after;
        r.limit_s = r.flops.total() / ((my_peak + after) / 2);
        r.limit_cpu_s = r.flops.total() / ((my_peak_cpu + after_cpu) / 2);
        my_peak = after;
        my_peak_cpu = after_cpu;
    }

    // Times `body` a.runs times (after a warm-up) with the op profile, and the allocator peak since
    // the stage began (reset before it bound its weights).
    void time_stage(StageResult& r, const std::function<void()>& body) {
        r.t = time_runs(a.runs, body, [&] { profiler->reset(); });
        r.alloc_peak = default_allocator().stats().peak_bytes;
        if (a.profile) r.profile = profiler->report();
    }

    // Closes a stage: weights and cached blocks released, its limit, its report.
    StageResult finish_stage(StageResult r) {
        release_prepared_weights(ctx);
        default_allocator().trim();
        set_limit(r);
        if (text) print_stage(r, a.dtype.c_str());
        return r;
    }

    StageResult unet_stage() {
        const auto [w, h] = size(a.size, "--size");
        const int64_t lh = h / 8, lw = w / 8, n = a.batch, ctx_len = 77;
        StageResult r;
        r.name = "U-Net forward";
        char what[160];
        std::snprintf(what, sizeof what, "batch %d, %lldx%lld (latent %lldx%lld), context %lldx%lld", a.batch,
                      (long long)w, (long long)h, (long long)lw, (long long)lh, (long long)ctx_len,
                      (long long)ucfg.context_dim);
        r.shape = what;
        r.flops = unet_flops(ucfg, n, lh, lw, ctx_len);
        {
            default_allocator().reset_peak();
            UNet unet = UNet::load(m.weights(), ucfg);
            Tensor x = randn({n, ucfg.in_channels, lh, lw}, 3);
            Tensor t = Tensor::full({n}, 500.0f);
            Tensor c = ucfg.context_dim > 0 ? randn({n, ctx_len, ucfg.context_dim}, 4) : Tensor();
            Tensor y = ucfg.adm_in_channels > 0 ? randn({n, ucfg.adm_in_channels}, 5) : Tensor();
            time_stage(r, [&] { unet.forward(ctx, x, t, c, y); });
        }
        m.weights().release_pages("model.diffusion_model.");
        return finish_stage(std::move(r));
    }

    StageResult vae_stage() {
        const auto [vw, vh] = size(a.vae_size, "--vae-size");
        const int64_t lh = vh / vcfg.downscale(), lw = vw / vcfg.downscale();
        StageResult r;
        r.name = a.vae_decode == "banded" ? "VAE decode" : "VAE decode (" + a.vae_decode + ")";
        char what[160];
        std::snprintf(what, sizeof what, "batch 1, %lldx%lld (latent %lldx%lld)%s", (long long)vw, (long long)vh,
                      (long long)lw, (long long)lh,
                      a.vae_decode == "tiled"    ? ", tiles of 64 latent pixels"
                      : a.vae_decode == "banded" ? ", row bands"
                                                 : ", whole maps");
        r.shape = what;
        r.flops = vae_decode_flops(vcfg, 1, lh, lw);
        {
            default_allocator().reset_peak();
            VAE vae = VAE::load(m.weights(), vcfg);
            Tensor z = randn({1, vcfg.latent_channels, lh, lw}, 6);
            time_stage(r, [&] {
                if (a.vae_decode == "tiled") vae.decode_tiled(ctx, z);
                else if (a.vae_decode == "plain") vae.decode(ctx, z);
                else vae.decode_banded(ctx, z);
            });
        }
        return finish_stage(std::move(r));
    }

    nlohmann::json to_json(const std::vector<StageResult>& stages, size_t alloc_peak, double load_start,
                           double load_end) const {
        const auto [w, h] = size(a.size, "--size");
        nlohmann::json j;
        j["model"] = a.model;
        j["family"] = family_name(m.family);
        j["threads"] = num_threads();
        j["backend"] = backend->describe();
        j["dtype"] = a.dtype;
        j["weight_cache"] = a.weight_cache;
        j["batch"] = a.batch;
        j["width"] = w;
        j["height"] = h;
        j["load_s"] = load_s;
        j["load_average_start"] = load_start;
        j["load_average_end"] = load_end;
        j["peak_matmul_n"] = a.peak_size;
        j["peak_gflops"] = {{"f32", peak[0] / 1e9}, {"bf16", peak[1] / 1e9}};
        j["peak_gflops_cpu_time"] = {{"f32", peak_cpu[0] / 1e9}, {"bf16", peak_cpu[1] / 1e9}};
        for (auto& s : stages) j[s.name.rfind("U-Net", 0) == 0 ? "unet" : "vae"] = stage_json(s);
        j["allocator_peak_bytes"] = alloc_peak;
        j["max_rss_bytes"] = max_rss_bytes();
        return j;
    }
};

int run(const Args& a) {
    check_args(a);
    if (a.threads > 0) set_num_threads(a.threads);
    const int64_t cache_mb = parse_weight_cache(a.weight_cache);
    if (cache_mb == ModelOptions::kWeightCacheAuto) throw Error("--weight-cache auto: bench takes all, none or a size in MiB");
    const double load_start = load_average();

    Bench b(a);
    b.load(cache_mb);
    b.size(a.size, "--size");  // bad sizes fail before anything is timed
    b.size(a.vae_size, "--vae-size");
    if (b.text) b.print_header(load_start);
    b.measure_peaks();
    std::vector<StageResult> stages;
    if (!a.no_unet) stages.push_back(b.unet_stage());
    if (!a.no_vae) stages.push_back(b.vae_stage());

    size_t alloc_peak = 0;
    for (auto& s : stages) alloc_peak = std::max(alloc_peak, s.alloc_peak);
    const double load_end = load_average();
    if (b.text) {
        std::printf("memory: allocator peak %s, max RSS %s\n", human_bytes(double(alloc_peak)).c_str(),
                    human_bytes(double(max_rss_bytes())).c_str());
        std::printf("load average %.2f at the end\n", load_end);
    } else {
        std::printf("%s\n", b.to_json(stages, alloc_peak, load_start, load_end).dump(2).c_str());
    }
    return kExitOk;
}

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<Args>();
    app.add_option("-m,--model", a->model, "Checkpoint (.safetensors/.ckpt) or diffusers folder")->required();
    app.add_option("--size", a->size, "Image size of the U-Net step, WxH (default 512x512; SDXL 1024x1024)");
    app.add_option("--runs", a->runs, "Timed runs after one warm-up run (median reported)")->capture_default_str();
    app.add_option("--threads", a->threads, "CPU threads (0 = all cores)");
    app.add_option("--dtype", a->dtype, "Compute precision: f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
    app.add_option("--batch", a->batch, "U-Net batch (2 = the CFG batch of one image)")->capture_default_str();
    app.add_option("--vae-size", a->vae_size, "Image size of the VAE decode, WxH (default 512x512; SDXL 1024x1024)");
    app.add_option("--vae-decode", a->vae_decode,
                   "VAE decode path: banded (row bands, what generate uses up to 1536x1536), plain (whole maps) "
                   "or tiled (overlapping 512-pixel tiles, generate's path past that)")
        ->check(CLI::IsMember({"banded", "plain", "tiled"}))
        ->capture_default_str();
    app.add_flag("--no-vae", a->no_vae, "Skip the VAE decode");
    app.add_flag("--no-unet", a->no_unet, "Skip the U-Net step");
    app.add_option("--conv-layout", a->conv_layout,
                   "Activation layout of convolutions: auto (per shape), blocked or plain (experiments)")
        ->check(CLI::IsMember({"auto", "blocked", "plain"}))
        ->capture_default_str();
    app.add_option("--peak-size", a->peak_size, "Matrix size n of the n^3 peak matmul")->capture_default_str();
    add_weight_cache_option(app, a->weight_cache);
    app.add_flag("--profile", a->profile, "Also report the backend's time per op (conv2d 3x3, attention, ...) per run");
    app.add_flag("--json", a->json, "Print one JSON object instead of text");
    return [a] { return run(*a); };
}

const bool registered = register_command(
    {"bench", "Time one U-Net step and one VAE decode against the machine's matmul peak", setup});

}  // namespace
}  // namespace sdpp::cli
