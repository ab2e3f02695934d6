// End-to-end parity: every "e2e" case of $SDPP_FIXTURES/manifest.json (txt2img for each family and
// sampler, img2img, inpaint) run through the public API (sdpp::Engine) from the fixture model files,
// compared with the reference: final latent within 1e-3 relative (max-abs diff over the reference's
// max-abs) and the 8-bit image within 2/255 per pixel. The trajectory (x at every step, from the
// progress callback's preview) is checked too, so a failure names the first step that diverges.
// Both layouts run: the single file (with the yaml beside it and the fixture vocabulary) and the
// diffusers folder (tokenizer/ inside it), at the manifest's models.<model> paths. A case whose
// model lacks a layout in the fixture set (a null path) is skipped there, counted and printed.
// The fixture PNG must decode (our PNG reader) to exactly the reference's image_uint8_hwc.
#include "common/parity_support.h"
#include "io/image.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

constexpr double kLatentRelTol = 1e-3;
constexpr int kPixelTol = 2;

FloatTensor to_float_tensor(const sdpp::Tensor& t) {
    FloatTensor f;
    f.shape = t.shape();
    f.data = t.to_vector();
    return f;
}

Tensor from_latent(const Latent& l) { return Tensor::from_vector(l.data, Shape(l.shape.begin(), l.shape.end())); }

struct CaseResult {
    bool ok = true;
    std::string report;
};

// `model_file`: the model's path in the layout under test (single file or diffusers folder).
CaseResult run_case(const std::string& name, const nlohmann::json& c, const std::string& model_file, bool diffusers) {
    CaseResult out;
    auto fail = [&](const std::string& msg) {
        out.ok = false;
        out.report += "  " + msg + "\n";
    };
    const nlohmann::json& st = c.at("settings");
    SafetensorsFile ref = SafetensorsFile::open(fixture_path(c.at("file")));

    ModelOptions mo;
    mo.model = model_file;
    if (!diffusers) mo.vocab = fixture_path("clip/vocab.json");
    mo.threads = 1;  // tiny models: threads only add overhead (and ctest runs tests side by side)
    Engine engine(mo);

    GenerateRequest r;
    r.prompt = st.at("prompt");
    r.negative_prompt = st.at("negative_prompt");
    r.cfg_scale = st.at("cfg_scale").get<float>();
    r.steps = st.at("steps");
    r.seed = st.at("seed");
    r.height = int(st.at("latent_hw")[0]) * 8;
    r.width = int(st.at("latent_hw")[1]) * 8;
    r.sampler = st.at("sampler");
    r.preview_every = 1;
    const std::string mode = st.at("mode");
    if (mode == "img2img" || mode == "inpaint") {
        r.init_pixels = to_float_tensor(ref.get("init_image"));
        r.strength = st.contains("strength") ? st.at("strength").get<float>() : 1.0f;
    }
    if (mode == "inpaint") {
        Tensor m = ref.get("mask").to(DType::F32);
        Image mask = Image::blank(int(m.dim(3)), int(m.dim(2)), 1);
        std::vector<float> mv = m.to_vector();
        for (size_t i = 0; i < mv.size(); ++i) mask.pixels[i] = mv[i] >= 0.5f ? 255 : 0;
        r.mask = mask;
        r.mask_blur = 0;             // the reference mask is used as is
        r.overlay_original = false;  // the reference (diffusers) does not paste the original back
    } else if (mode != "txt2img" && mode != "img2img") {
        fail("unknown e2e mode '" + mode + "'");
        return out;
    }

    std::vector<Latent> steps;
    GenerateResult res = engine.generate(r, [&](const Progress& p) {
        if (p.stage == "sample" && p.preview) steps.push_back(*p.preview);
        return true;
    });
    if (res.cancelled) fail("cancelled");

    // Where the run diverges first (x at the start of each step).
    Tensor traj = ref.get("trajectory").to(DType::F32);
    if (int64_t(steps.size()) != traj.dim(0) - 1) {
        fail("ran " + std::to_string(steps.size()) + " steps, reference " + std::to_string(traj.dim(0) - 1));
    } else {
        for (size_t i = 0; i < steps.size(); ++i) {
            CompareResult cr = compare(from_latent(steps[i]), traj.select(0, int64_t(i)).contiguous(), kLatentRelTol, 0,
                                       name + " x at step " + std::to_string(i));
            if (!cr.ok) {
                fail(cr.report);
                break;
            }
        }
    }
    CompareResult fl = compare(from_latent(res.latents), ref.get("final_latent"), kLatentRelTol, 0, name + " final latent");
    if (!fl.ok) fail(fl.report);

    Tensor u8 = ref.get("image_uint8_hwc");
    if (res.images.size() != 1) {
        fail("expected 1 image, got " + std::to_string(res.images.size()));
        return out;
    }
    const Image& img = res.images[0].image;
    const uint8_t* e = u8.data<uint8_t>();
    if (img.width != u8.dim(1) || img.height != u8.dim(0)) {
        fail("image size differs");
        return out;
    }
    int worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) {
        int d = std::abs(int(img.pixels[i]) - int(e[i]));
        if (d > worst) worst = d, worst_i = i;
    }
    if (worst > kPixelTol)
        fail(name + " image: max pixel diff " + std::to_string(worst) + " at " + std::to_string(worst_i));
    // The parameters chunk of the result parses back to the request.
    GenerateRequest back = request_from_parameters(res.images[0].parameters);
    if (back.seed != r.seed || back.steps != r.steps) fail("parameters text does not round-trip");
    std::printf("  %-40s %s: final latent rel %.2e, image max diff %d/255\n", name.c_str(),
                diffusers ? "diffusers" : "single   ", fl.rel, worst);
    return out;
}

void run_all(const ModelLayout& layout) {
    const bool diffusers = layout.key == "diffusers_folder";
    const nlohmann::json& cases = manifest().at("e2e");
    int passed = 0, total = 0;
    Skipped skipped;
    for (const auto& [name, c] : cases.items()) {
        const std::string model = c.at("settings").at("model");
        const std::optional<std::string> path = model_path(model, layout);
        if (!path) {
            std::printf("  skip %-40s %s: %s\n", name.c_str(), layout.label.c_str(), layout.missing.c_str());
            skipped.add(layout.missing);
            continue;
        }
        ++total;
        CaseResult r;
        try {
            r = run_case(name, c, *path, diffusers);
        } catch (const std::exception& ex) {
            r.ok = false;
            r.report = std::string("  exception: ") + ex.what() + "\n";
        }
        if (r.ok) ++passed;
        else ADD_FAILURE() << name << (diffusers ? " (diffusers folder)" : " (single file)") << ":\n" << r.report;
    }
    print_parity_summary(diffusers ? "e2e_diffusers" : "e2e", passed, total, skipped);
    EXPECT_GT(total + skipped.count(), 0) << "the manifest has no e2e cases";
}

}  // namespace

TEST(PipelineE2E, FixturePngsDecodeToTheReferencePixels) {
    int checked = 0;
    for (const auto& [name, c] : manifest().at("e2e").items()) {
        if (!c.contains("png") || c.at("png").is_null()) continue;
        ++checked;
        Image im = read_image(fixture_path(c.at("png")));
        Tensor u8 = SafetensorsFile::open(fixture_path(c.at("file"))).get("image_uint8_hwc");
        ASSERT_EQ(im.height, u8.dim(0)) << name;
        ASSERT_EQ(im.width, u8.dim(1)) << name;
        EXPECT_EQ(0, std::memcmp(im.pixels.data(), u8.data<uint8_t>(), im.pixels.size())) << name;
    }
    std::printf("parity e2e_png: %d/%d passed\n", checked, checked);
    if (checked == 0) GTEST_SKIP() << "no e2e case of this fixture set has a png";
}

// The layout with `key` ("single_file" / "diffusers_folder") of testing::model_layouts().
const ModelLayout& layout_of(const std::string& key) {
    for (const ModelLayout& l : model_layouts())
        if (l.key == key) return l;
    throw Error("no model layout '" + key + "'");
}

TEST(PipelineE2E, EveryCaseSingleFile) { run_all(layout_of("single_file")); }
TEST(PipelineE2E, EveryCaseDiffusersFolder) { run_all(layout_of("diffusers_folder")); }
