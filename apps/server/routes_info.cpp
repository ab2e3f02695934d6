// The informational and settings routes: sd-models, refresh-checkpoints, options, samplers,
// schedulers, upscalers, embeddings, loras, memory, cmd-flags, png-info (A1111 v1.10 shapes).
#include "server/routes.h"

#include <fstream>
#include <sstream>

#include <unistd.h>

namespace sdpp::server {

namespace {

using Json = nlohmann::json;

Json sd_models(ServerContext& ctx) {
    Json list = Json::array();
    for (const CatalogEntry& e : ctx.catalog.entries()) {
        const std::string h = ctx.catalog.hash(e.path);
        list.push_back({{"title", ctx.catalog.title(e)},
                        {"model_name", e.model_name},
                        {"hash", h.empty() ? Json() : Json(h)},
                        {"sha256", nullptr},
                        {"filename", e.path},
                        {"config", nullptr}});
    }
    return list;
}

Json options_json(ServerContext& ctx) {
    Json o;
    {
        std::lock_guard lock(ctx.options_mu);
        o = ctx.stored_options;
    }
    const CatalogEntry sel = ctx.worker.selected();
    const LoadedModel lm = ctx.worker.loaded();
    o["sd_model_checkpoint"] = sel.path.empty() ? Json() : Json(ctx.catalog.title(sel));
    o["sd_checkpoint_hash"] = lm.loaded && !lm.description.hash.empty() ? Json(lm.description.hash) : Json();
    o["CLIP_stop_at_last_layers"] = ctx.worker.clip_skip();
    if (!o.contains("eta_noise_seed_delta")) o["eta_noise_seed_delta"] = 0;
    o["samples_format"] = "png";
    o["sd_vae"] = "Automatic";
    return o;
}

void set_options(ServerContext& ctx, const std::string& body) {
    const Json j = parse_json_object(body);
    std::optional<CatalogEntry> switch_to;
    std::optional<int> clip_skip;
    // Check everything first, so a bad body changes nothing.
    for (const auto& [key, value] : j.items()) {
        if (key == "sd_model_checkpoint" && !value.is_null()) {
            if (!value.is_string()) throw HttpError(422, "\"sd_model_checkpoint\" must be a string");
            switch_to = ctx.catalog.find(value.get<std::string>());
            if (!switch_to)
                throw HttpError(422, "\"sd_model_checkpoint\": no model named \"" + value.get<std::string>() +
                                         "\" in the models folder (see /sdapi/v1/sd-models)");
        } else if (key == "CLIP_stop_at_last_layers" && !value.is_null()) {
            if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 12)
                throw HttpError(422, "\"CLIP_stop_at_last_layers\" must be an integer in 1..12");
            clip_skip = int(value.get<int64_t>());
        }
    }
    for (const auto& [key, value] : j.items()) {
        if (key == "sd_model_checkpoint" || key == "CLIP_stop_at_last_layers") continue;
        std::lock_guard lock(ctx.options_mu);
        ctx.stored_options[key] = value;
    }
    if (clip_skip) ctx.worker.set_clip_skip(*clip_skip);
    if (switch_to) {
        // Waits for the running and the waiting jobs, then loads (freeing the old model first).
        JobOutcome out = ctx.worker.submit_switch(*switch_to).get();
        if (out.status != 200) throw HttpError(out.status, out.error);
    }
}

Json samplers() {
    Json list = Json::array();
    for (const std::string& s : known_samplers())
        list.push_back({{"name", sampler_display_name(s)}, {"aliases", Json::array({s})}, {"options", Json::object()}});
    return list;
}

Json schedulers() {
    Json list = Json::array();
    list.push_back({{"name", "automatic"}, {"label", "Automatic"}, {"aliases", nullptr}, {"default_rho", -1},
                    {"need_inner_model", false}});
    for (const std::string& s : known_schedulers())
        list.push_back({{"name", s}, {"label", scheduler_display_name(s)}, {"aliases", nullptr}, {"default_rho", -1},
                        {"need_inner_model", false}});
    return list;
}

// /proc/meminfo's MemTotal / MemAvailable, and this process's resident set, in bytes.
Json memory(ServerContext& ctx) {
    int64_t total = 0, available = 0, rss = 0;
    std::ifstream mi("/proc/meminfo");
    std::string key;
    int64_t kb = 0;
    std::string unit;
    while (mi >> key >> kb) {
        std::getline(mi, unit);
        if (key == "MemTotal:") total = kb * 1024;
        if (key == "MemAvailable:") available = kb * 1024;
    }
    std::ifstream statm("/proc/self/statm");
    int64_t pages = 0, resident = 0;
    if (statm >> pages >> resident) rss = resident * int64_t(sysconf(_SC_PAGESIZE));
    const EngineMemory em = ctx.worker.loaded().memory;
    return {{"ram", {{"free", available}, {"used", total - available}, {"total", total}}},
            {"cuda", {{"error", "sdpp runs on the CPU in this build"}}},
            {"sdpp", {{"rss", rss},
                      {"prepared_weight_bytes", em.prepared_weight_bytes},
                      {"tensor_live_bytes", em.tensor_live_bytes},
                      {"tensor_cached_bytes", em.tensor_cached_bytes}}}};
}

Json cmd_flags(ServerContext& ctx) {
    const ServeOptions& o = ctx.options;
    return {{"api", true},
            {"nowebui", false},
            {"listen", o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1"},
            {"server_name", o.host},
            {"port", o.port},
            {"ckpt", o.model.empty() ? Json() : Json(o.model)},
            {"ckpt_dir", o.models_dir.empty() ? Json() : Json(o.models_dir)},
            {"api_auth", o.api_auth.empty() ? Json() : Json("(set)")},  // never the passwords
            {"cors_allow_origins", o.cors_allow_origins.empty() ? Json() : Json(o.cors_allow_origins)},
            {"max_queue", o.max_queue},
            {"max_body_bytes", o.max_body_bytes},
            {"threads", o.model_options.threads},
            {"dtype", o.model_options.dtype}};
}

// POST /sdapi/v1/png-info {"image": base64} -> the PNG's parameters text and its fields.
Json png_info(const std::string& body) {
    const Json j = parse_json_object(body);
    if (!j.contains("image") || !j["image"].is_string())
        throw HttpError(422, "\"image\" must be a base64 PNG or JPEG string");
    std::string s = j["image"].get<std::string>();
    if (s.rfind("data:", 0) == 0) s.erase(0, s.find(',') == std::string::npos ? s.size() : s.find(',') + 1);
    std::vector<uint8_t> bytes = base64_decode(s, "\"image\"");
    std::string params;
    try {
        decode_image(bytes.data(), bytes.size(), &params);
    } catch (const Error& e) {
        throw HttpError(422, std::string("\"image\": ") + e.what());
    }
    Json fields = Json::object();
    if (!params.empty()) {
        try {
            const GenerateRequest r = request_from_parameters(params);
            fields = {{"Prompt", r.prompt},
                      {"Negative prompt", r.negative_prompt},
                      {"Steps", r.steps},
                      {"Sampler", sampler_display_name(r.sampler)},
                      {"Schedule type", scheduler_display_name(r.scheduler)},
                      {"CFG scale", r.cfg_scale ? *r.cfg_scale : 7.0f},
                      {"Seed", uint64_t(r.seed)},
                      {"Size-1", r.width},
                      {"Size-2", r.height},
                      {"Clip skip", std::max(1, r.clip_skip)}};
        } catch (const Error&) {
            // text that is not an A1111 infotext: the raw text is still returned
        }
    }
    return {{"info", params}, {"items", params.empty() ? Json::object() : Json{{"parameters", params}}},
            {"parameters", fields}};
}

// The options the served model's add-on folders follow (lora_dir, embeddings_dir beside it).
ModelOptions selected_model_options(ServerContext& ctx) {
    ModelOptions mo = ctx.options.model_options;
    mo.model = ctx.worker.selected().path;
    return mo;
}

// A1111 /sdapi/v1/loras: [{name, alias, path, metadata}] (sdpp leaves metadata empty: inspect has it).
Json loras(ServerContext& ctx) {
    Json list = Json::array();
    for (const NetworkFileInfo& n : list_networks(selected_model_options(ctx)))
        list.push_back({{"name", n.name}, {"alias", n.alias.empty() ? n.name : n.alias}, {"path", n.path},
                        {"metadata", Json::object()}});
    return list;
}

// A1111 /sdapi/v1/embeddings: {"loaded": {name: {...}}, "skipped": {name: {...}}}; an embedding is
// skipped when its vectors do not fit the loaded model's text encoder (or its file is unreadable).
Json embeddings(ServerContext& ctx) {
    const LoadedModel lm = ctx.worker.loaded();
    const std::vector<int64_t> widths = lm.loaded ? lm.description.text_widths : std::vector<int64_t>{};
    Json loaded = Json::object(), skipped = Json::object();
    for (const EmbeddingFileInfo& e : list_embeddings(selected_model_options(ctx))) {
        Json item = {{"step", nullptr}, {"sd_checkpoint", nullptr}, {"sd_checkpoint_name", nullptr},
                     {"shape", e.sdxl || e.width == 0 ? Json() : Json(e.width)}, {"vectors", e.vectors}};
        bool fits = e.error.empty();
        if (fits && widths.size() == 1) fits = !e.sdxl && e.width == widths[0];
        if (fits && widths.size() == 2) fits = e.sdxl;  // SDXL takes clip_l + clip_g files only, as A1111
        (fits ? loaded : skipped)[e.name] = std::move(item);
    }
    return {{"loaded", loaded}, {"skipped", skipped}};
}

// The hires fix's upscalers (hr_upscaler): A1111's latent modes, and the pixel ones sdpp has.
Json latent_upscale_modes() {
    Json list = Json::array();
    for (const char* n : {"Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                          "Latent (nearest)", "Latent (nearest-exact)"})
        list.push_back({{"name", n}});
    return list;
}

Json upscalers() {
    Json list = Json::array();
    for (const char* n : {"Lanczos", "Nearest"})
        list.push_back({{"name", n}, {"model_name", nullptr}, {"model_path", nullptr}, {"model_url", nullptr}, {"scale", 4}});
    return list;
}

}  // namespace

void add_info_routes(httplib::Server& svr, ServerContext& ctx) {
    using Req = const httplib::Request&;
    using Res = httplib::Response&;
    svr.Get("/sdapi/v1/sd-models", [&ctx](Req, Res res) { reply(res, [&] { write_json(res, sd_models(ctx)); }); });
    svr.Post("/sdapi/v1/refresh-checkpoints", [&ctx](Req, Res res) {
        reply(res, [&] {
            ctx.catalog.refresh();
            write_json(res, nullptr);
        });
    });
    svr.Get("/sdapi/v1/options", [&ctx](Req, Res res) { reply(res, [&] { write_json(res, options_json(ctx)); }); });
    svr.Post("/sdapi/v1/options", [&ctx](Req req, Res res) {
        reply(res, [&] {
            set_options(ctx, req.body);
            write_json(res, nullptr);
        });
    });
    svr.Get("/sdapi/v1/samplers", [](Req, Res res) { reply(res, [&] { write_json(res, samplers()); }); });
    svr.Get("/sdapi/v1/schedulers", [](Req, Res res) { reply(res, [&] { write_json(res, schedulers()); }); });
    svr.Get("/sdapi/v1/upscalers", [](Req, Res res) { write_json(res, upscalers()); });
    svr.Get("/sdapi/v1/sd-vae", [](Req, Res res) { write_json(res, Json::array()); });
    // Both folders are read on every call, so the refresh routes have nothing to do.
    svr.Get("/sdapi/v1/embeddings", [&ctx](Req, Res res) { reply(res, [&] { write_json(res, embeddings(ctx)); }); });
    svr.Get("/sdapi/v1/loras", [&ctx](Req, Res res) { reply(res, [&] { write_json(res, loras(ctx)); }); });
    // Lists of features sdpp does not have: empty, so clients that read them at start work.
    svr.Get("/sdapi/v1/latent-upscale-modes", [](Req, Res res) { write_json(res, latent_upscale_modes()); });
    for (const char* path : {"/sdapi/v1/prompt-styles", "/sdapi/v1/face-restorers",
                             "/sdapi/v1/hypernetworks", "/sdapi/v1/realesrgan-models", "/sdapi/v1/extensions",
                             "/sdapi/v1/sd-modules", "/sdapi/v1/script-info"})
        svr.Get(path, [](Req, Res res) { write_json(res, Json::array()); });
    svr.Get("/sdapi/v1/scripts", [](Req, Res res) {
        write_json(res, {{"txt2img", Json::array()}, {"img2img", Json::array()}});
    });
    svr.Get("/internal/ping", [](Req, Res res) { write_json(res, Json::object()); });
    svr.Post("/sdapi/v1/refresh-loras", [](Req, Res res) { write_json(res, nullptr); });
    svr.Post("/sdapi/v1/refresh-embeddings", [](Req, Res res) { write_json(res, nullptr); });
    svr.Get("/sdapi/v1/memory", [&ctx](Req, Res res) { reply(res, [&] { write_json(res, memory(ctx)); }); });
    svr.Get("/sdapi/v1/cmd-flags", [&ctx](Req, Res res) { reply(res, [&] { write_json(res, cmd_flags(ctx)); }); });
    svr.Post("/sdapi/v1/png-info", [](Req req, Res res) { reply(res, [&] { write_json(res, png_info(req.body)); }); });
}

}  // namespace sdpp::server
