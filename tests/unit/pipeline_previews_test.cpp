// Previews and the TAESD decode through the public API, on the tiny SD1 fixture model and the tiny
// TAESD of $SDPP_FIXTURES/a1111/taesd: Progress::preview_image arrives every preview_every steps
// (TAESD-sized with ModelOptions::taesd, latent-sized with the cheap projection, none for "none"),
// the "taesd" decode equals TAESD's decode of the returned latents (out * 2 - 1, rounded), and a
// request for TAESD without one loaded is a one-line error. The cheap projection is A1111's
// coefficient table.
#include "common/parity_support.h"
#include "io/image.h"
#include "model/taesd.h"
#include "pipeline/previews.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

namespace sdpp {
namespace {

using testing::fixture_path;

std::string taesd_file() { return fixture_path("a1111/taesd/taesd-tiny/taesd_decoder.safetensors"); }

ModelOptions options(bool with_taesd) {
    ModelOptions mo;
    mo.model = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
    mo.vocab = fixture_path("clip/vocab.json");
    mo.threads = 1;
    if (with_taesd) mo.taesd = taesd_file();
    return mo;
}

GenerateRequest request() {
    GenerateRequest r;
    r.prompt = "a cat";
    r.width = r.height = 64;
    r.steps = 3;
    r.seed = 5;
    r.sampler = "euler";
    return r;
}

struct Seen {
    int previews = 0, pictures = 0, width = 0;
};

Seen run(Engine& e, GenerateRequest r, GenerateResult* out = nullptr) {
    Seen s;
    GenerateResult res = e.generate(r, [&](const Progress& p) {
        if (p.preview) ++s.previews;
        if (p.preview_image) {
            ++s.pictures;
            s.width = p.preview_image->width;
            EXPECT_EQ(p.preview_image->pixels.size(), size_t(p.preview_image->width) * p.preview_image->height * 3);
        }
        return true;
    });
    if (out) *out = std::move(res);
    return s;
}

TEST(PipelinePreviews, PreviewImagesAndTaesdDecode) {
    Engine plain(options(false));
    GenerateRequest r = request();
    r.preview_every = 1;
    Seen cheap = run(plain, r);
    EXPECT_EQ(cheap.previews, 3);
    EXPECT_EQ(cheap.pictures, 3);
    EXPECT_EQ(cheap.width, 8);  // latent-sized
    r.preview_method = "none";
    EXPECT_EQ(run(plain, r).pictures, 0);
    r.preview_method = "taesd";
    EXPECT_THROW(run(plain, r), Error);
    r.preview_method = "auto";
    r.vae_decoder = "taesd";
    EXPECT_THROW(run(plain, r), Error);

    Engine tiny(options(true));
    r = request();
    r.preview_every = 2;  // steps 0 and 2
    Seen t = run(tiny, r);
    EXPECT_EQ(t.pictures, 2);
    EXPECT_EQ(t.width, 64);  // TAESD: image-sized
    r.preview_method = "cheap";
    EXPECT_EQ(run(tiny, r).width, 8);

    // The "taesd" decode is TAESD's decode of the final latent; the full VAE's picture differs.
    GenerateResult full, fast;
    r = request();
    run(tiny, r, &full);
    r.vae_decoder = "taesd";
    run(tiny, r, &fast);
    ASSERT_EQ(fast.images.size(), 1u);
    EXPECT_EQ(fast.latents.data, full.latents.data);
    EXPECT_NE(fast.images[0].image.pixels, full.images[0].image.pixels);
    TAESD t2 = TAESD::load(taesd_file());
    Ctx ctx;
    Tensor lat = Tensor::from_vector(fast.latents.data, Shape(fast.latents.shape.begin(), fast.latents.shape.end()));
    Image want = tensor_to_images(t2.decode_pm1(ctx, lat))[0];
    ASSERT_EQ(want.pixels.size(), fast.images[0].image.pixels.size());
    int worst = 0;
    for (size_t i = 0; i < want.pixels.size(); ++i)
        worst = std::max(worst, std::abs(int(want.pixels[i]) - int(fast.images[0].image.pixels[i])));
    EXPECT_LE(worst, 1);
}

TEST(PipelinePreviews, BadTaesdIsAOneLineError) {
    ModelOptions mo = options(false);
    mo.taesd = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");  // a checkpoint, not TAESD
    try {
        Engine e(mo);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("not a TAESD"), std::string::npos) << e.what();
    }
    mo.taesd = fixture_path("a1111/taesd/taesd-tiny/no_such_file.safetensors");
    EXPECT_THROW(Engine{mo}, Error);
}

TEST(PipelinePreviews, CheapProjectionIsA1111sTable) {
    // One latent pixel per channel set: each preview pixel is sum_l latent[l] * coeffs[l][rgb].
    Tensor x = Tensor::zeros({1, 4, 1, 4});
    float* p = x.data<float>();
    for (int l = 0; l < 4; ++l) p[l * 4 + l] = 1.0f;  // pixel l = unit latent in channel l
    const Image im = *pipeline::cheap_preview(x, false);
    const float sd[4][3] = {{0.298f, 0.207f, 0.208f}, {0.187f, 0.286f, 0.173f}, {-0.158f, 0.189f, 0.264f},
                            {-0.184f, -0.271f, -0.473f}};
    for (int l = 0; l < 4; ++l)
        for (int c = 0; c < 3; ++c) {
            const float v = std::clamp(sd[l][c] / 2 + 0.5f, 0.0f, 1.0f) * 255.0f;
            EXPECT_NEAR(im.at(l, 0, c), v, 0.51) << l << " " << c;
        }
    EXPECT_FALSE(pipeline::cheap_preview(Tensor::zeros({1, 16, 2, 2}), false).has_value());
}

}  // namespace
}  // namespace sdpp
