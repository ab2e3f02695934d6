// A1111 masked-content parity against $SDPP_FIXTURES/a1111/ (manifest.json "inpaint": every case of
// kind "inpaint_masked_content_e2e"): inpainting with an ordinary (4-channel) model in each
// inpainting_fill mode. Checked per case: the blur-filled init image (masking.fill, byte for byte),
// the latent mask, the encoded and the filled init latents (1e-4 relative to max(1, max|ref|)), the
// sampler's starting x and every later x (through the progress previews), the final latent, and the
// final picture (A1111's overlay applied) within 2/255. Prints "parity inpaint_fill: P/T passed".
#include "common/parity_support.h"
#include "io/image.h"
#include "io/masked_fill.h"
#include "model/loader.h"
#include "pipeline/masked_content.h"
#include "pipeline/pipeline.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

namespace sdpp {
namespace {

using testing::fixture_path;

std::string a1111_path(const std::string& rel) { return fixture_path("a1111/" + rel); }

const nlohmann::json& a1111_manifest() {
    static const nlohmann::json m = [] {
        std::ifstream is(a1111_path("manifest.json"));
        if (!is) throw Error("cannot open " + a1111_path("manifest.json") + " (set SDPP_FIXTURES)");
        return nlohmann::json::parse(is);
    }();
    return m;
}

// |a - b| <= 1e-4 * max(1, max|b|) (the fixtures' rule).
testing::CompareResult check(const Tensor& a, const Tensor& ref, const std::string& what, double tol = 1e-4) {
    double m = 0;
    for (float v : ref.to_vector()) m = std::max(m, double(std::fabs(v)));
    return testing::compare(a, ref, tol * std::max(1.0, m) / std::max(m, 1e-12), 0, what);
}

Image image_of(const Tensor& u8) {  // [H, W, C] or [H, W] uint8
    Image im = Image::blank(int(u8.dim(1)), int(u8.dim(0)), u8.ndim() == 3 ? int(u8.dim(2)) : 1);
    std::memcpy(im.pixels.data(), u8.contiguous().data<uint8_t>(), im.pixels.size());
    return im;
}

int max_pixel_diff(const Image& a, const Image& b) {
    if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 256;
    int worst = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
    return worst;
}

// The case's model in the first layout the fixture set has (single file with the fixture vocabulary).
std::pair<std::string, bool> model_file(const std::string& model) {
    for (const testing::ModelLayout& l : testing::model_layouts())
        if (auto p = testing::model_path(model, l)) return {*p, l.key == "diffusers_folder"};
    throw Error("model " + model + ": no layout in the fixture set");
}

Tensor from_latent(const Latent& l) { return Tensor::from_vector(l.data, Shape(l.shape.begin(), l.shape.end())); }

bool run_case(const std::string& name, const nlohmann::json& c) {
    bool ok = true;
    auto expect = [&](const testing::CompareResult& r, const std::string& what) {
        std::printf("    %s %s: max rel diff %.3g\n", r.ok ? "ok  " : "FAIL", what.c_str(), r.rel);
        if (!r.ok) {
            ADD_FAILURE() << r.report;
            ok = false;
        }
    };
    const nlohmann::json& st = c.at("settings");
    const SafetensorsFile ref = SafetensorsFile::open(a1111_path(c.at("file")));
    const Image init = image_of(ref.get("init_image_uint8_hwc"));
    const Image mask = image_of(ref.get("mask_uint8_hw"));
    const InpaintFill fill = InpaintFill(st.at("inpainting_fill").get<int>());
    std::printf("  %s (%s)\n", name.c_str(), inpaint_fill_name(fill));

    // 1. the filled image (A1111 masking.fill), byte for byte
    const Image filled = pipeline::fill_init_image(fill, init, mask);
    const int fd = max_pixel_diff(filled, image_of(ref.get("filled_image_uint8_hwc")));
    std::printf("    %s filled image: max pixel diff %d\n", fd == 0 ? "ok  " : "FAIL", fd);
    if (fd != 0) {
        ADD_FAILURE() << name << ": filled image differs by up to " << fd;
        ok = false;
    }

    // 2. latent mask, encoded and filled init latents (the engine's own pieces)
    const auto [path, diffusers] = model_file(st.at("model"));
    LoadedModel m = load_model(path);
    VAEConfig vcfg = VAEConfig::detect(m.weights(), m.hints, m.family);
    VAE vae = VAE::load(m.weights(), vcfg);
    Ctx ctx;
    Tensor mean, sd;
    pipeline::encode_image(ctx, vae, image_to_tensor(filled), mean, sd);
    expect(check(mean, ref.get("encoded_latent"), name + " encoded latent"), "encoded latent");
    const Tensor want_mask = ref.get("mask");  // [1, C, h, w], 1 = keep
    const Tensor keep = pipeline::a1111_latent_keep_mask(mask, want_mask.dim(2), want_mask.dim(3));
    expect(check(keep, want_mask.slice(1, 0, 1).contiguous(), name + " latent mask"), "latent mask");
    Tensor init_latent = mean;
    pipeline::fill_init_latents(fill, keep, init_latent, {st.at("seed").get<int64_t>()});
    expect(check(init_latent, ref.get("init_latent"), name + " init latent"), "init latent");

    // 3. the whole run through the public API
    ModelOptions mo;
    mo.model = path;
    if (!diffusers) mo.vocab = fixture_path("clip/vocab.json");
    mo.threads = 1;
    Engine engine(mo);
    GenerateRequest r;
    r.prompt = st.at("prompt");
    r.negative_prompt = st.at("negative_prompt");
    r.cfg_scale = st.at("cfg_scale").get<float>();
    r.steps = st.at("steps");
    r.seed = st.at("seed");
    r.sampler = st.at("sampler");
    r.width = st.at("width");
    r.height = st.at("height");
    r.strength = st.at("denoising_strength").get<float>();
    r.init_image = init;
    r.mask = mask;
    r.mask_blur = st.at("mask_blur").get<float>();
    r.invert_mask = st.at("inpainting_mask_invert").get<int>() != 0;
    r.only_masked = st.at("inpaint_full_res").get<bool>();
    r.overlay_original = st.value("overlay_inpaint", true);
    r.inpaint_fill = fill;
    r.preview_every = 1;
    std::vector<Latent> xs;
    GenerateResult res = engine.generate(r, [&](const Progress& p) {
        if (p.stage == "sample" && p.preview) xs.push_back(*p.preview);
        return true;
    });
    const Tensor traj = ref.get("trajectory");
    if (int64_t(xs.size()) != traj.dim(0) - 1) {
        ADD_FAILURE() << name << ": ran " << xs.size() << " steps, reference " << traj.dim(0) - 1;
        return false;
    }
    expect(check(from_latent(xs[0]), ref.get("x_init"), name + " x_init"), "x_init");
    for (size_t i = 1; i < xs.size(); ++i) {
        auto cr = check(from_latent(xs[i]), traj.select(0, int64_t(i)).contiguous(), name + " x at step " + std::to_string(i));
        if (!cr.ok) {
            expect(cr, "x at step " + std::to_string(i));
            break;
        }
    }
    expect(check(from_latent(res.latents), ref.get("final_latent"), name + " final latent"), "final latent");
    if (res.images.size() != 1) {
        ADD_FAILURE() << name << ": " << res.images.size() << " images";
        return false;
    }
    const int pd = max_pixel_diff(res.images[0].image, image_of(ref.get("final_uint8_hwc")));
    std::printf("    %s final image: max pixel diff %d/255\n", pd <= 2 ? "ok  " : "FAIL", pd);
    if (pd > 2) {
        ADD_FAILURE() << name << ": final image differs by up to " << pd << "/255";
        ok = false;
    }
    // The infotext names the mode as A1111 does and reads back.
    const nlohmann::json& fields = c.at("infotext").at("fields");
    const std::string& params = res.images[0].parameters;
    if (fields.contains("Masked content"))
        EXPECT_NE(params.find("Masked content: " + fields.at("Masked content").get<std::string>()), std::string::npos)
            << params;
    else
        EXPECT_EQ(params.find("Masked content"), std::string::npos) << params;
    EXPECT_EQ(request_from_parameters(params).inpaint_fill, fill);
    return ok;
}

TEST(PipelineInpaintFill, EveryManifestCase) {
    int passed = 0, total = 0;
    for (const auto& [name, c] : a1111_manifest().at("inpaint").items()) {
        if (!c.is_object() || c.value("kind", "") != "inpaint_masked_content_e2e") continue;
        ++total;
        bool ok = false;
        try {
            ok = run_case(name, c);
        } catch (const std::exception& e) {
            ADD_FAILURE() << name << ": " << e.what();
        }
        if (ok) ++passed;
    }
    testing::print_parity_summary("inpaint_fill", passed, total);
    EXPECT_GT(total, 0) << "the a1111 manifest has no inpaint cases";
}

TEST(PipelineInpaintFill, NamesParse) {
    EXPECT_EQ(parse_inpaint_fill("fill"), InpaintFill::Fill);
    EXPECT_EQ(parse_inpaint_fill("latent noise"), InpaintFill::LatentNoise);
    EXPECT_EQ(parse_inpaint_fill("latent-nothing"), InpaintFill::LatentNothing);
    EXPECT_EQ(parse_inpaint_fill("1"), InpaintFill::Original);
    EXPECT_THROW(parse_inpaint_fill("blur"), Error);
    EXPECT_THROW(parse_inpaint_fill("4"), Error);
    GenerateRequest r = request_from_json(R"({"inpainting_fill": 2})");
    EXPECT_EQ(r.inpaint_fill, InpaintFill::LatentNoise);
    EXPECT_EQ(request_from_json(request_to_json(r)).inpaint_fill, InpaintFill::LatentNoise);
    EXPECT_THROW(request_from_json(R"({"inpainting_fill": 7})"), Error);
}

}  // namespace
}  // namespace sdpp
