// make-random-model's generator: the (name, shape) lists it derives from the architecture
// hyper-parameters must equal the real releases' lists in fixtures/layouts/*.json exactly (and
// the tiny presets the tiny fixture models' single files); written files load back as the same
// family; the weights follow the init rules; output is deterministic per seed.
#include "common/parity_support.h"
#include "common/temp_dir.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "model/loader.h"
#include "tools/random_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

namespace sdpp {
namespace {

namespace fs = std::filesystem;
using sdpp::testing::fixture_path;

const std::set<std::string> kScheduleBuffers = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"};

const char* init_name(InitKind k) {
    switch (k) {
        case InitKind::Normal: return "normal";
        case InitKind::NormalStd: return "normal_std";
        case InitKind::Ones: return "ones";
        case InitKind::Zeros: return "zeros";
        case InitKind::Arange: return "arange";
        case InitKind::Const: return "const";
        case InitKind::Schedule: return "schedule";
    }
    return "?";
}

std::string layout_file(const std::string& arch) { return arch == "sd21-v" ? "sd21" : arch; }

TEST(RandomModel, FullSizeKeyListsEqualTheRealReleases) {
    for (const std::string& arch : arch_names()) {
        SCOPED_TRACE(arch);
        std::ifstream is(fixture_path("layouts/" + layout_file(arch) + ".json"));
        ASSERT_TRUE(is) << "missing layouts/" << layout_file(arch) << ".json";
        const auto ref = nlohmann::json::parse(is);
        const auto& want = ref["tensors"];
        std::set<std::string> seen;
        int64_t params = 0;
        int mismatches = 0;
        for (const TensorSpec& t : checkpoint_tensors(arch_preset(arch))) {
            EXPECT_TRUE(seen.insert(t.name).second) << "duplicate " << t.name;
            if (kScheduleBuffers.count(t.name)) continue;  // allowed extras (real LDM files carry them)
            params += numel_of(t.shape);
            if (!want.contains(t.name)) {
                if (++mismatches < 10) ADD_FAILURE() << "not in the real file: " << t.name;
                continue;
            }
            const auto& w = want[t.name];
            const Shape shape = w["shape"].get<Shape>();
            if (shape != t.shape && ++mismatches < 10)
                ADD_FAILURE() << t.name << ": shape " << to_string(t.shape) << ", real " << to_string(shape);
            EXPECT_EQ(w["dtype"].get<std::string>(), t.int64 ? "I64" : "F16") << t.name;
            // the suggested init rule and its parameter (fan_in / std / constant)
            EXPECT_EQ(w["init"].get<std::string>(), init_name(t.init)) << t.name;
            if (!w["fan_in"].is_null()) {
                EXPECT_NEAR(w["fan_in"].get<double>(), t.param, 1e-9) << t.name;
            }
        }
        for (auto& [name, w] : want.items())
            if (!seen.count(name) && ++mismatches < 10) ADD_FAILURE() << "missing: " << name;
        EXPECT_EQ(mismatches, 0);
        EXPECT_EQ(int64_t(seen.size()) - (arch_preset(arch).schedule_buffers ? 12 : 0), ref["n_tensors"].get<int64_t>());
        EXPECT_EQ(params, ref["n_params"].get<int64_t>());
    }
}

TEST(RandomModel, TinyPresetsEqualTheTinyFixtureFiles) {
    const std::pair<const char*, const char*> pairs[] = {{"sd15", "sd1-tiny"},
                                                         {"sd15-inpaint", "sd1-inpaint-tiny"},
                                                         {"sd21-v", "sd2-tiny-v"},
                                                         {"sdxl", "sdxl-tiny"}};
    for (auto [arch, model] : pairs) {
        SCOPED_TRACE(arch);
        SafetensorsFile f = SafetensorsFile::open(fixture_path(std::string("models/") + model + "/" + model + ".safetensors"));
        std::map<std::string, Shape> want;
        for (auto& e : f.entries()) want[e.name] = e.shape;
        std::map<std::string, Shape> got;
        for (auto& t : checkpoint_tensors(arch_preset(arch, true))) got[t.name] = t.shape;
        EXPECT_EQ(got.size(), want.size());
        int bad = 0;
        for (auto& [n, s] : want)
            if ((!got.count(n) || got[n] != s) && ++bad < 10) ADD_FAILURE() << n << " " << to_string(s);
        for (auto& [n, s] : got)
            if (!want.count(n) && ++bad < 10) ADD_FAILURE() << "extra " << n;
    }
}

TEST(RandomModel, ScheduleBuffersMatchTheLDMValues) {
    SafetensorsFile f = SafetensorsFile::open(fixture_path("models/sd1-tiny/sd1-tiny.safetensors"));
    auto mine = ldm_schedule_buffers();
    EXPECT_EQ(mine.size(), kScheduleBuffers.size());
    for (auto& [name, v] : mine) {
        Tensor ref = f.get(name);
        std::vector<float> r = ref.to_vector();
        ASSERT_EQ(r.size(), v.size()) << name;
        for (size_t i = 0; i < r.size(); ++i)
            ASSERT_NEAR(v[i], r[i], 2e-6 * std::max(1.0f, std::fabs(r[i]))) << name << "[" << i << "]";
    }
}

using sdpp::testing::TempDir;

TEST(RandomModel, TinyFilesLoadBackAsTheirFamily) {
    TempDir tmp;
    const std::tuple<const char*, Family, bool, Prediction, DType> cases[] = {
        {"sd15", Family::SD1, false, Prediction::Eps, DType::F16},
        {"sd15-inpaint", Family::SD1, true, Prediction::Eps, DType::BF16},
        {"sd21", Family::SD2, false, Prediction::Eps, DType::F32},
        {"sd21-v", Family::SD2, false, Prediction::V, DType::F16},
        {"sdxl", Family::SDXL, false, Prediction::Eps, DType::F16}};
    for (auto [arch, fam, inpaint, pred, dt] : cases) {
        SCOPED_TRACE(arch);
        const std::string path = tmp.file(std::string(arch) + ".safetensors");
        RandomModelOptions o;
        o.dtype = dt;
        o.seed = 7;
        RandomModelStats st = write_random_model(arch_preset(arch, true), path, o);
        EXPECT_EQ(uint64_t(fs::file_size(path)), st.bytes);
        LoadedModel m = load_model(path);
        EXPECT_EQ(m.family, fam);
        EXPECT_EQ(m.inpaint, inpaint);
        EXPECT_EQ(m.prediction(), pred);
        EXPECT_TRUE(m.unknown_keys.empty());
        EXPECT_EQ(m.layout, fam == Family::SDXL ? "sgm" : "ldm");
        ASSERT_TRUE(m.hints.te1_heads);
        EXPECT_EQ(*m.hints.te1_heads, 2);
        EXPECT_EQ(m.dtypes.at("model.diffusion_model.out.2.weight"), dt);
    }
}

TEST(RandomModel, WeightsFollowTheInitRulesAndSeeds) {
    TempDir tmp;
    RandomModelOptions o;
    o.dtype = DType::F32;
    o.seed = 1;
    write_random_model(arch_preset("sd15", true), tmp.file("a.safetensors"), o);
    write_random_model(arch_preset("sd15", true), tmp.file("b.safetensors"), o);
    o.seed = 2;
    write_random_model(arch_preset("sd15", true), tmp.file("c.safetensors"), o);
    EXPECT_EQ(sha256_file(tmp.file("a.safetensors")), sha256_file(tmp.file("b.safetensors")));
    EXPECT_NE(sha256_file(tmp.file("a.safetensors")), sha256_file(tmp.file("c.safetensors")));

    SafetensorsFile f = SafetensorsFile::open(tmp.file("a.safetensors"));
    auto stats = [&](const std::string& name) {
        std::vector<float> v = f.get(name).to_vector();
        double s = 0, s2 = 0;
        for (float x : v) {
            EXPECT_TRUE(std::isfinite(x));
            s += x;
            s2 += double(x) * x;
        }
        const double mean = s / double(v.size());
        return std::pair{mean, std::sqrt(s2 / double(v.size()) - mean * mean)};
    };
    // token embedding: 49408 x 16 ~ N(0, 0.02)
    auto [m1, s1] = stats("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
    EXPECT_NEAR(m1, 0.0, 0.001);
    EXPECT_NEAR(s1, 0.02, 0.0005);
    // conv [64, 32, 3, 3]: fan_in 288
    auto [m2, s2] = stats("model.diffusion_model.input_blocks.7.0.in_layers.2.weight");
    EXPECT_NEAR(m2, 0.0, 0.01);
    EXPECT_NEAR(s2, 1.0 / std::sqrt(288.0), 0.1 / std::sqrt(288.0));
    EXPECT_EQ(f.get("model.diffusion_model.out.0.weight").to_vector(), std::vector<float>(32, 1.0f));
    EXPECT_EQ(f.get("model.diffusion_model.out.0.bias").to_vector(), std::vector<float>(32, 0.0f));
    Tensor ids = f.get("cond_stage_model.transformer.text_model.embeddings.position_ids");
    ASSERT_EQ(ids.dtype(), DType::I64);
    EXPECT_EQ(ids.data<int64_t>()[76], 76);
    EXPECT_EQ(f.metadata().at("sdpp.arch"), "sd15");

    // never replaces a file unless asked
    try {
        write_random_model(arch_preset("sd15", true), tmp.file("a.safetensors"), o);
        ADD_FAILURE() << "overwrote without --overwrite";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("exists"), std::string::npos) << e.what();
    }
    o.overwrite = true;
    EXPECT_NO_THROW(write_random_model(arch_preset("sd15", true), tmp.file("a.safetensors"), o));
    EXPECT_THROW(arch_preset("sd3"), Error);
}

}  // namespace
}  // namespace sdpp
