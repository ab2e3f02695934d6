// POST /sdapi/v1/txt2img, /sdapi/v1/img2img, /v1/images/generations; /sdapi/v1/progress,
// /interrupt, /skip.
#include "server/routes.h"

#include <chrono>

namespace sdpp::server {

namespace {

using Json = nlohmann::json;

// Decrements the in-flight count when a handler is done, however it ends.
struct InFlight {
    std::atomic<int>& n;
    explicit InFlight(std::atomic<int>& c) : n(c) { ++n; }
    ~InFlight() { --n; }
};

JobOutcome run_job(ServerContext& ctx, JobSpec spec) {
    std::future<JobOutcome> f = ctx.worker.submit_generation(std::move(spec));
    JobOutcome out = f.get();  // accepted: it ends with images or with an error that says why
    if (out.status != 200) throw HttpError(out.status, out.error);
    return out;
}

std::vector<std::string> encode_images(const JobOutcome& out) {
    std::vector<std::string> b64;
    for (const GeneratedImage& g : out.images) {
        std::vector<uint8_t> png = encode_png(g);
        b64.push_back(base64_encode(png.data(), png.size()));
    }
    return b64;
}

// The JSON A1111 returns as "info" (processing.py Processed.js()), plus what sdpp did not honour.
Json info_json(const JobSpec& spec, const JobOutcome& out) {
    const GenerateRequest& r = out.resolved;
    const size_t n = out.seeds.size();
    Json all_seeds = Json::array(), all_subseeds = Json::array(), infotexts = Json::array();
    for (size_t i = 0; i < n; ++i) {
        all_seeds.push_back(uint64_t(out.seeds[i]));
        all_subseeds.push_back(out.subseeds[i] == -1 ? Json(-1) : Json(uint64_t(out.subseeds[i])));
    }
    for (const GeneratedImage& g : out.images) infotexts.push_back(g.parameters);
    const bool img2img = spec.endpoint == Endpoint::Img2Img;
    Json extra = Json::object();
    extra["Schedule type"] = scheduler_display_name(r.scheduler);
    Json info = {
        {"prompt", r.prompt},
        {"all_prompts", Json::array()},
        {"negative_prompt", r.negative_prompt},
        {"all_negative_prompts", Json::array()},
        {"seed", uint64_t(r.seed)},
        {"all_seeds", all_seeds},
        {"subseed", r.subseed == -1 ? Json(-1) : Json(uint64_t(r.subseed))},
        {"all_subseeds", all_subseeds},
        {"subseed_strength", r.subseed_strength},
        {"width", r.width},
        {"height", r.height},
        {"sampler_name", sampler_display_name(r.sampler)},
        {"cfg_scale", r.cfg_scale ? *r.cfg_scale : 0.0f},
        {"steps", r.steps},
        {"batch_size", r.batch_size},
        {"restore_faces", false},
        {"face_restoration_model", nullptr},
        {"sd_model_name", out.model.name},
        {"sd_model_hash", out.model.hash.empty() ? Json() : Json(out.model.hash)},
        {"sd_vae_name", nullptr},
        {"sd_vae_hash", nullptr},
        {"seed_resize_from_w", -1},
        {"seed_resize_from_h", -1},
        {"denoising_strength", img2img ? Json(r.strength) : Json()},
        {"extra_generation_params", extra},
        {"index_of_first_image", 0},
        {"infotexts", infotexts},
        {"styles", Json::array()},
        {"job_timestamp", out.job_timestamp},
        {"clip_skip", std::max(1, r.clip_skip)},
        {"is_using_inpainting_conditioning", out.model.inpaint},
        {"version", std::string("sdpp ") + version()},
        {"interrupted", out.interrupted},
        {"not_honoured", spec.not_honoured},
    };
    for (int b = 0; b < r.batch_count; ++b)
        for (int i = 0; i < r.batch_size; ++i) {
            info["all_prompts"].push_back(r.prompt);
            info["all_negative_prompts"].push_back(r.negative_prompt);
        }
    return info;
}

void a1111_generation(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    InFlight guard(ctx.in_flight);
    JobSpec spec = parse_a1111_body(req.body, endpoint, ctx.options.limits);
    const JobSpec kept = [&] {
        JobSpec k;  // what the answer needs, without the images
        k.endpoint = spec.endpoint;
        k.not_honoured = spec.not_honoured;
        k.send_images = spec.send_images;
        k.parameters = spec.parameters;
        return k;
    }();
    const JobOutcome out = run_job(ctx, std::move(spec));
    Json params = kept.parameters;
    // What sdpp filled in for the fields left to the model's defaults.
    const GenerateRequest& r = out.resolved;
    if (params.value("steps", Json()).is_null()) params["steps"] = r.steps;
    if (params.value("cfg_scale", Json()).is_null()) params["cfg_scale"] = r.cfg_scale ? *r.cfg_scale : 0.0f;
    if (params.value("width", Json()).is_null()) params["width"] = r.width;
    if (params.value("height", Json()).is_null()) params["height"] = r.height;
    if (params.value("sampler_name", Json()).is_null()) params["sampler_name"] = sampler_display_name(r.sampler);
    if (params.value("scheduler", Json()).is_null()) params["scheduler"] = scheduler_display_name(r.scheduler);
    Json body = {{"images", kept.send_images ? Json(encode_images(out)) : Json::array()},
                 {"parameters", params},
                 {"info", info_json(kept, out).dump(-1, ' ', false, Json::error_handler_t::replace)}};
    write_json(res, body);
}

void openai_generation(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    InFlight guard(ctx.in_flight);
    JobSpec spec = parse_openai_body(req.body, ctx.options.limits);
    const JobOutcome out = run_job(ctx, std::move(spec));
    Json data = Json::array();
    for (const std::string& b64 : encode_images(out)) data.push_back({{"b64_json", b64}, {"revised_prompt", out.resolved.prompt}});
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    write_json(res, {{"created", std::chrono::duration_cast<std::chrono::seconds>(now).count()}, {"data", data}});
}

}  // namespace

void add_generation_routes(httplib::Server& svr, ServerContext& ctx) {
    svr.Post("/sdapi/v1/txt2img", [&ctx](const httplib::Request& req, httplib::Response& res) {
        reply(res, [&] { a1111_generation(ctx, req, res, Endpoint::Txt2Img); });
    });
    svr.Post("/sdapi/v1/img2img", [&ctx](const httplib::Request& req, httplib::Response& res) {
        reply(res, [&] { a1111_generation(ctx, req, res, Endpoint::Img2Img); });
    });
    svr.Post("/v1/images/generations", [&ctx](const httplib::Request& req, httplib::Response& res) {
        reply(res, [&] { openai_generation(ctx, req, res); });
    });
    svr.Get("/sdapi/v1/progress", [&ctx](const httplib::Request& req, httplib::Response& res) {
        reply(res, [&] {
            const std::string skip = req.get_param_value("skip_current_image");
            const bool with_image = !(skip == "true" || skip == "True" || skip == "1");
            const ProgressSnapshot s = ctx.worker.progress(with_image);
            Json state = {{"skipped", s.skipped},
                          {"interrupted", s.interrupted},
                          {"stopping_generation", false},
                          {"job", s.job},
                          {"job_count", s.job_count},
                          {"job_timestamp", s.job_timestamp.empty() ? "0" : s.job_timestamp},
                          {"job_no", s.job_no},
                          {"sampling_step", s.sampling_step},
                          {"sampling_steps", s.sampling_steps},
                          {"queued", s.queued}};
            write_json(res, {{"progress", s.progress},
                             {"eta_relative", s.eta_relative},
                             {"state", state},
                             {"current_image", s.current_image.empty() ? Json() : Json(s.current_image)},
                             {"textinfo", nullptr},
                             {"current_task", nullptr}});
        });
    });
    svr.Post("/sdapi/v1/interrupt", [&ctx](const httplib::Request&, httplib::Response& res) {
        reply(res, [&] {
            ctx.worker.interrupt();
            write_json(res, nullptr);
        });
    });
    svr.Post("/sdapi/v1/skip", [&ctx](const httplib::Request&, httplib::Response& res) {
        reply(res, [&] {
            ctx.worker.skip();
            write_json(res, nullptr);
        });
    });
}

}  // namespace sdpp::server
