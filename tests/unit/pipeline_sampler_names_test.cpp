// Every sampler name docs/samplers.md documents, run through sdpp::Engine on the tiny SD1 fixture
// model (32x32, 3 steps): the resolved request names the expected sampler and schedule, the
// infotext says them the way A1111 reads them and parses back to the same run, and the final
// latent is bit-identical to a run of the expected sampler function, options and sigmas, built
// here from the test's own table (not the registry's), so a name that runs anything else fails.
#include "common/parity_support.h"
#include "model/loader.h"
#include "model/unet.h"
#include "pipeline/pipeline.h"
#include "pipeline/request.h"
#include "sample/schedule.h"
#include "text/bpe.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <map>

using namespace sdpp;
using namespace sdpp::pipeline;

namespace {

constexpr int kSteps = 3;
constexpr int64_t kSeed = 5;

// What a documented name must run.
struct Expect {
    const char* name;
    const char* id;        // canonical id in the resolved request
    SamplerKind kind;
    ScheduleKind schedule; // with no --scheduler
    bool discard = false;  // A1111's penultimate-sigma discard
    const char* label;     // infotext "Sampler:"
    SdeSolver solver = SdeSolver::Midpoint;
    UniPCVariant unipc = UniPCVariant::BH2;
    int unipc_order = 2;
};

using SK = SamplerKind;
constexpr auto N = ScheduleKind::Normal, KA = ScheduleKind::Karras, EX = ScheduleKind::Exponential,
               DU = ScheduleKind::DdimUniform;
constexpr auto BH1 = UniPCVariant::BH1, BH2 = UniPCVariant::BH2;
constexpr auto MID = SdeSolver::Midpoint, HEUN = SdeSolver::Heun;

const Expect kNames[] = {
    {"euler", "euler", SK::Euler, N, false, "Euler"},
    {"k_euler", "euler", SK::Euler, N, false, "Euler"},
    {"Euler", "euler", SK::Euler, N, false, "Euler"},
    {"euler_ancestral", "euler_a", SK::EulerAncestral, N, false, "Euler a"},
    {"euler_a", "euler_a", SK::EulerAncestral, N, false, "Euler a"},
    {"k_euler_a", "euler_a", SK::EulerAncestral, N, false, "Euler a"},
    {"Euler a", "euler_a", SK::EulerAncestral, N, false, "Euler a"},
    {"heun", "heun", SK::Heun, N, false, "Heun"},
    {"k_heun", "heun", SK::Heun, N, false, "Heun"},
    {"Heun", "heun", SK::Heun, N, false, "Heun"},
    {"Heun Karras", "heun", SK::Heun, KA, false, "Heun"},
    {"dpm_2", "dpm2", SK::Dpm2, N, false, "dpm2"},
    {"dpm2", "dpm2", SK::Dpm2, N, false, "dpm2"},
    {"k_dpm_2", "dpm2", SK::Dpm2, N, false, "dpm2"},
    {"DPM2", "dpm2_discard", SK::Dpm2, KA, true, "DPM2"},
    {"dpm_2_ancestral", "dpm2_a", SK::Dpm2Ancestral, N, false, "dpm2_a"},
    {"dpm2_a", "dpm2_a", SK::Dpm2Ancestral, N, false, "dpm2_a"},
    {"k_dpm_2_a", "dpm2_a", SK::Dpm2Ancestral, N, false, "dpm2_a"},
    {"DPM2 a", "dpm2_a_discard", SK::Dpm2Ancestral, KA, true, "DPM2 a"},
    {"lms", "lms", SK::Lms, N, false, "LMS"},
    {"k_lms", "lms", SK::Lms, N, false, "LMS"},
    {"LMS", "lms", SK::Lms, N, false, "LMS"},
    {"LMS Karras", "lms", SK::Lms, KA, false, "LMS"},
    {"dpmpp_2s_ancestral", "dpmpp_2s_a", SK::Dpmpp2sAncestral, N, false, "DPM++ 2S a"},
    {"dpmpp_2s_a", "dpmpp_2s_a", SK::Dpmpp2sAncestral, N, false, "DPM++ 2S a"},
    {"DPM++ 2S a", "dpmpp_2s_a", SK::Dpmpp2sAncestral, KA, false, "DPM++ 2S a"},
    {"dpmpp_sde", "dpmpp_sde", SK::DpmppSde, N, false, "DPM++ SDE"},
    {"dpmpp_sde_gpu", "dpmpp_sde", SK::DpmppSde, N, false, "DPM++ SDE"},
    {"DPM++ SDE", "dpmpp_sde", SK::DpmppSde, KA, false, "DPM++ SDE"},
    {"dpmpp_2m", "dpmpp_2m", SK::Dpmpp2m, N, false, "DPM++ 2M"},
    {"k_dpmpp_2m", "dpmpp_2m", SK::Dpmpp2m, N, false, "DPM++ 2M"},
    {"dpmpp_2m_karras", "dpmpp_2m", SK::Dpmpp2m, KA, false, "DPM++ 2M"},
    {"DPM++ 2M", "dpmpp_2m", SK::Dpmpp2m, KA, false, "DPM++ 2M"},
    {"DPM++ 2M Karras", "dpmpp_2m", SK::Dpmpp2m, KA, false, "DPM++ 2M"},
    {"dpmpp_2m_sde", "dpmpp_2m_sde", SK::Dpmpp2mSde, N, false, "DPM++ 2M SDE", MID},
    {"dpmpp_2m_sde_gpu", "dpmpp_2m_sde", SK::Dpmpp2mSde, N, false, "DPM++ 2M SDE", MID},
    {"dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun", SK::Dpmpp2mSde, N, false, "DPM++ 2M SDE Heun", HEUN},
    {"DPM++ 2M SDE", "dpmpp_2m_sde", SK::Dpmpp2mSde, EX, false, "DPM++ 2M SDE", MID},
    {"DPM++ 2M SDE Karras", "dpmpp_2m_sde", SK::Dpmpp2mSde, KA, false, "DPM++ 2M SDE", MID},
    {"DPM++ 2M SDE Heun", "dpmpp_2m_sde_heun", SK::Dpmpp2mSde, EX, false, "DPM++ 2M SDE Heun", HEUN},
    {"dpmpp_3m_sde", "dpmpp_3m_sde", SK::Dpmpp3mSde, N, false, "dpmpp_3m_sde"},
    {"dpmpp_3m_sde_gpu", "dpmpp_3m_sde", SK::Dpmpp3mSde, N, false, "dpmpp_3m_sde"},
    {"DPM++ 3M SDE", "dpmpp_3m_sde_discard", SK::Dpmpp3mSde, EX, true, "DPM++ 3M SDE"},
    {"DPM++ 3M SDE Karras", "dpmpp_3m_sde_discard", SK::Dpmpp3mSde, KA, true, "DPM++ 3M SDE"},
    {"ddim", "ddim", SK::Ddim, N, false, "DDIM"},
    {"DDIM", "ddim", SK::Ddim, DU, false, "DDIM"},
    {"plms", "plms", SK::Plms, N, false, "PLMS"},
    {"pndm", "plms", SK::Plms, N, false, "PLMS"},
    {"PLMS", "plms", SK::Plms, DU, false, "PLMS"},
    {"unipc", "unipc", SK::UniPC, N, false, "unipc", MID, BH2, 2},
    {"uni_pc", "uni_pc", SK::UniPC, N, false, "UniPC", MID, BH1, 3},
    {"uni_pc_bh2", "uni_pc_bh2", SK::UniPC, N, false, "uni_pc_bh2", MID, BH2, 3},
    {"UniPC", "uni_pc", SK::UniPC, N, false, "UniPC", MID, BH1, 3},
    {"lcm", "lcm", SK::Lcm, N, false, "LCM"},
    {"LCM", "lcm", SK::Lcm, N, false, "LCM"},
};

// The tiny model, loaded once, with what the reference run needs.
struct Reference {
    LoadedModel model;
    std::unique_ptr<text::ClipTokenizer> tokenizer;
    UNetConfig unet_cfg;
    std::optional<UNet> unet;
    DiscreteSchedule schedule = DiscreteSchedule::ldm();

    explicit Reference(const std::string& path, const std::string& vocab) {
        model = load_model(path);
        tokenizer = std::make_unique<text::ClipTokenizer>(text::ClipVocab::load(vocab));
        unet_cfg = UNetConfig::detect(model.weights(), model.hints);
        unet.emplace(UNet::load(model.weights(), unet_cfg));
    }

    // The final latent of `e`'s sampler, options and sigmas, on the resolved request `r`.
    std::vector<float> run(const Expect& e, const GenerateRequest& r) {
        SamplerSpec spec{e.id, "", e.kind, {}, e.discard};
        spec.options.sde_solver = e.solver;
        spec.options.unipc_variant = e.unipc;
        spec.options.unipc_order = e.unipc_order;
        std::vector<float> sigmas = make_sigmas(schedule, e.schedule, kSteps + (e.discard ? 1 : 0));
        if (e.discard) sigmas.erase(sigmas.end() - 2);
        Ctx ctx;
        TextSetup ts{&model, tokenizer.get(), unet_cfg.adm_in_channels};
        PromptConditioning cond = encode_prompts(ctx, ts, r);
        BatchNoise noise({r.seed});
        Tensor n0 = noise.first({1, unet_cfg.out_channels, r.height / 8, r.width / 8});
        Tensor x = scale(ctx, n0, sigmas[0]);
        DenoiseSetup ds;
        ds.unet = &*unet;
        ds.schedule = &schedule;
        ds.prediction = model.prediction();
        ds.cfg_scale = *r.cfg_scale;
        ds.cond = &cond;
        SamplerChoice choice{&spec, e.schedule};
        return run_sampling(ctx, ds, choice, r.eta, x, sigmas, noise, {}).to_vector();
    }
};

}  // namespace

TEST(PipelineSamplerNames, EveryDocumentedNameRunsWhatItSays) {
    const std::string path = sdpp::testing::fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
    const std::string vocab = sdpp::testing::fixture_path("clip/vocab.json");
    ModelOptions mo;
    mo.model = path;
    mo.vocab = vocab;
    mo.threads = 1;
    Engine engine(mo);
    Reference ref(path, vocab);
    std::map<std::string, std::vector<float>> by_id;  // latents of the plain names, to see they differ

    for (const Expect& e : kNames) {
        SCOPED_TRACE(e.name);
        GenerateRequest r;
        r.prompt = "a cat";
        r.negative_prompt = "blurry";
        r.width = r.height = 32;
        r.steps = kSteps;
        r.cfg_scale = 2.0f;
        r.seed = kSeed;
        r.sampler = e.name;
        GenerateResult res = engine.generate(r);
        ASSERT_EQ(res.images.size(), 1u);
        EXPECT_EQ(res.request.sampler, e.id);
        EXPECT_EQ(res.request.scheduler, schedule_name(e.schedule));

        // What ran: the same latent, bit for bit, as the expected sampler on the expected sigmas.
        const std::vector<float> expect = ref.run(e, res.request);
        EXPECT_EQ(res.latents.data, expect) << "the engine ran something else for '" << e.name << "'";
        by_id.emplace(std::string(e.id) + "/" + schedule_name(e.schedule), res.latents.data);

        // The infotext says it in A1111's words and reads back to the same run.
        const std::string& params = res.images[0].parameters;
        const std::string said =
            std::string("Sampler: ") + e.label + ", Schedule type: " + schedule_label(e.schedule) + ",";
        EXPECT_NE(params.find(said), std::string::npos) << params;
        GenerateRequest back = request_from_parameters(params);
        ResolvedRequest again = resolve_request(back, engine.model());
        EXPECT_EQ(again.request.sampler, e.id) << params;
        EXPECT_EQ(again.request.scheduler, schedule_name(e.schedule)) << params;
    }
    // The check above can tell the variants apart: they give different latents.
    EXPECT_NE(by_id.at("dpm2/normal"), by_id.at("dpm2_discard/karras"));
    EXPECT_NE(by_id.at("unipc/normal"), by_id.at("uni_pc/normal"));
    EXPECT_NE(by_id.at("uni_pc/normal"), by_id.at("uni_pc_bh2/normal"));
    EXPECT_NE(by_id.at("dpmpp_2m_sde/normal"), by_id.at("dpmpp_2m_sde_heun/normal"));
    EXPECT_NE(by_id.at("dpmpp_3m_sde/normal"), by_id.at("dpmpp_3m_sde_discard/exponential"));
    EXPECT_NE(by_id.at("dpmpp_2m/normal"), by_id.at("dpmpp_2m/karras"));
}
