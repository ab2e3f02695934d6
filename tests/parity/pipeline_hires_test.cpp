// Hires-fix parity: every "hires" case of $SDPP_FIXTURES/a1111/manifest.json (A1111
// StableDiffusionProcessingTxt2Img.sample + sample_hr_pass on a tiny model) run through
// sdpp::Engine: the first pass's x at every step and its final latent (a run without hires fix),
// the latent upscaler on the reference first-pass latent, the second pass's sigmas, its x at every
// step (the starting x = upscaled + noise * sigma checks the noise), the final latent (1e-4
// relative), the PNG (2/255: A1111 truncates to uint8, we round) and the infotext's hires fields.
// Prints "parity hires: P/T passed".
#include "common/parity_support.h"
#include "io/image.h"
#include "pipeline/pipeline.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

using namespace sdpp;
using namespace sdpp::testing;
using nlohmann::json;

namespace {

constexpr double kRelTol = 1e-4;  // |a - b| <= 1e-4 * max(1, max|b|)
constexpr int kPixelTol = 2;

Tensor from_latent(const Latent& l) { return Tensor::from_vector(l.data, Shape(l.shape.begin(), l.shape.end())); }

CompareResult close(const Tensor& a, const Tensor& e, const std::string& what) {
    Tensor ef = e.to(DType::F32).contiguous();
    double m = 0;
    for (float v : ef.to_vector()) m = std::max(m, double(std::fabs(v)));
    return compare(a, ef, 0, kRelTol * std::max(1.0, m), what);
}

std::string model_file(const std::string& model, bool& diffusers) {
    for (const ModelLayout& l : model_layouts())
        if (std::optional<std::string> p = model_path(model, l)) {
            diffusers = l.key == "diffusers_folder";
            return *p;
        }
    return "";
}

GenerateRequest request_of(const json& st) {
    GenerateRequest r;
    r.prompt = st.at("prompt");
    r.negative_prompt = st.at("negative_prompt");
    r.cfg_scale = st.at("cfg_scale").get<float>();
    r.steps = st.at("steps");
    r.seed = st.at("seed");
    r.sampler = st.at("sampler");
    r.width = st.at("width");
    r.height = st.at("height");
    r.preview_every = 1;
    return r;
}

std::string run_case(const std::string& name, const json& c) {
    std::string fails;
    auto fail = [&](const std::string& m) { fails += "  " + m + "\n"; };
    const json& st = c.at("settings");
    SafetensorsFile ref = SafetensorsFile::open(fixture_path("a1111/" + c.at("file").get<std::string>()));
    bool diffusers = false;
    const std::string path = model_file(st.at("model"), diffusers);
    if (path.empty()) return "  no model file for " + st.at("model").get<std::string>() + "\n";
    ModelOptions mo;
    mo.model = path;
    if (!diffusers) mo.vocab = fixture_path("clip/vocab.json");
    mo.threads = 1;
    Engine engine(mo);

    // First pass alone (A1111's first pass is a plain txt2img).
    GenerateRequest r1 = request_of(st);
    r1.decode = false;
    std::vector<Latent> first_steps;
    GenerateResult g1 = engine.generate(r1, [&](const Progress& p) {
        if (p.stage == "sample" && p.preview) first_steps.push_back(*p.preview);
        return true;
    });
    Tensor t1 = ref.get("first_pass.trajectory");
    for (size_t i = 0; i < first_steps.size() && int64_t(i) < t1.dim(0); ++i) {
        CompareResult cr = close(from_latent(first_steps[i]), t1.select(0, int64_t(i)).contiguous(),
                                 name + " first pass x at step " + std::to_string(i));
        if (!cr.ok) {
            fail(cr.report);
            break;
        }
    }
    CompareResult fp = close(from_latent(g1.latents), ref.get("first_pass.latent"), name + " first-pass latent");
    if (!fp.ok) fail(fp.report);

    // Upscaler and second-pass sigmas on the reference inputs.
    GenerateRequest r = request_of(st);
    r.hires = true;
    r.hires_scale = st.at("hr_scale").get<float>();
    r.hires_upscaler = st.at("hr_upscaler");
    r.hires_denoise = st.at("denoising_strength").get<float>();
    r.hires_steps = st.value("hr_second_pass_steps", 0);
    r.hires_width = st.value("hr_resize_x", 0);  // optional fields of other fixture sets
    r.hires_height = st.value("hr_resize_y", 0);
    if (st.contains("hr_sampler_name") && st.at("hr_sampler_name").is_string()) r.hires_sampler = st.at("hr_sampler_name");
    if (st.contains("hr_prompt") && st.at("hr_prompt").is_string()) r.hires_prompt = st.at("hr_prompt");
    if (st.contains("hr_negative_prompt") && st.at("hr_negative_prompt").is_string())
        r.hires_negative_prompt = st.at("hr_negative_prompt");
    const pipeline::HiresPlan plan = pipeline::plan_hires(engine.resolve(r), 8);
    if (!plan.pixel) {
        CompareResult up = close(pipeline::hires_latent(ref.get("first_pass.latent").to(DType::F32), plan, 8),
                                 ref.get("upscaled_latent"), name + " upscaled latent");
        if (!up.ok) fail(up.report);
    }
    const GenerateRequest resolved = engine.resolve(r);
    const SamplerChoice sampler =
        resolve_sampler(r.hires_sampler.empty() ? resolved.sampler : r.hires_sampler, resolved.scheduler);
    std::vector<float> sig = pipeline::hires_sigmas(sampler, plan.steps, r.hires_denoise, DiscreteSchedule::ldm());
    CompareResult cs = close(Tensor::from_vector(sig, {int64_t(sig.size())}), ref.get("second_pass.sigmas"), name + " second-pass sigmas");
    if (!cs.ok) fail(cs.report);

    // The whole hires run.
    std::vector<Latent> hr_steps;
    GenerateResult res = engine.generate(r, [&](const Progress& p) {
        if (p.stage == "hires" && p.preview) hr_steps.push_back(*p.preview);
        return true;
    });
    Tensor t2 = ref.get("second_pass.trajectory");
    if (int64_t(hr_steps.size()) != t2.dim(0) - 1) fail("second pass ran " + std::to_string(hr_steps.size()) + " steps");
    for (size_t i = 0; i < hr_steps.size() && int64_t(i) < t2.dim(0); ++i) {
        CompareResult cr = close(from_latent(hr_steps[i]), t2.select(0, int64_t(i)).contiguous(),
                                 name + " second pass x at step " + std::to_string(i));
        if (!cr.ok) {
            fail(cr.report);
            break;
        }
    }
    CompareResult fl = close(from_latent(res.latents), ref.get("final_latent"), name + " final latent");
    if (!fl.ok) fail(fl.report);

    Image png = read_image(fixture_path("a1111/" + c.at("png").get<std::string>()));
    int worst = 0;
    if (res.images.size() != 1 || res.images[0].image.width != png.width || res.images[0].image.height != png.height) {
        fail("image missing or of another size");
    } else {
        const Image& im = res.images[0].image;
        for (size_t i = 0; i < im.pixels.size(); ++i) worst = std::max(worst, std::abs(int(im.pixels[i]) - int(png.pixels[i])));
        if (worst > kPixelTol) fail(name + " image: max pixel diff " + std::to_string(worst));
        // Infotext: the hires fields and the denoising strength (numbers compared as numbers).
        const std::string& text = res.images[0].parameters;
        for (const auto& [k, v] : c.at("infotext").at("fields").items()) {
            if (k.rfind("Hires ", 0) != 0 && k != "Denoising strength") continue;
            const size_t at = text.find(k + ": ");
            if (at == std::string::npos) {
                fail("infotext lacks '" + k + "': " + text);
                continue;
            }
            const size_t b = at + k.size() + 2, e = text.find(", ", b);
            const std::string got = text.substr(b, e == std::string::npos ? std::string::npos : e - b);
            const bool same = v.is_number() ? std::fabs(std::stod(got) - v.get<double>()) < 1e-9 : got == v.get<std::string>();
            if (!same) fail("infotext '" + k + "': " + got + ", expected " + v.dump());
        }
        GenerateRequest back = request_from_parameters(text);
        if (!back.hires || back.hires_upscaler != r.hires_upscaler || back.hires_steps != r.hires_steps ||
            std::fabs(back.hires_denoise - r.hires_denoise) > 1e-6f || std::fabs(back.hires_scale - r.hires_scale) > 1e-6f)
            fail("the infotext does not read back to the hires settings: " + text);
    }
    std::printf("  %-40s first pass rel %.2e, final latent rel %.2e, image max diff %d/255\n", name.c_str(), fp.rel,
                fl.rel, worst);
    return fails;
}

}  // namespace

TEST(HiresParity, EveryCase) {
    std::ifstream f(fixture_path("a1111/manifest.json"));
    ASSERT_TRUE(f) << "no a1111/manifest.json under " << fixtures_dir();
    const json manifest = json::parse(f);
    int passed = 0, total = 0;
    for (const auto& [name, c] : manifest.at("hires").items()) {
        if (c.value("kind", "") != "hires_fix_e2e") continue;
        ++total;
        std::string report;
        try {
            report = run_case(name, c);
        } catch (const std::exception& ex) {
            report = std::string("  exception: ") + ex.what() + "\n";
        }
        if (report.empty()) ++passed;
        else ADD_FAILURE() << name << ":\n" << report;
    }
    print_parity_summary("hires", passed, total);
    EXPECT_GT(total, 0);
}
