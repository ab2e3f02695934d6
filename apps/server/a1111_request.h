// A1111 (v1.10) and OpenAI request bodies -> the job the worker runs. Pure functions over the
// body text (no HTTP, no model): the libFuzzer target in tests/fuzz runs them on arbitrary bytes.
// Every problem with the body throws sdpp::Error whose message names the field; routes answer 422.
#pragma once
#include <sdpp/sdpp.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sdpp::server {

enum class Endpoint { Txt2Img, Img2Img, OpenAIImages };

// Server-side limits a request must stay inside (on top of validate_request's).
struct RequestLimits {
    int max_side = 4096;        // width and height
    int max_batch_size = 16;
    int max_n_iter = 100;
    int max_steps = 1000;
    int64_t max_pixels = int64_t(4096) * 4096;  // width * height * batch_size
};

struct JobSpec {
    Endpoint endpoint = Endpoint::Txt2Img;
    GenerateRequest request;
    // Fields the body set that sdpp accepts but does not act on (A1111 names, e.g. "restore_faces",
    // "override_settings.eta_noise_seed_delta"); the response's info names them.
    std::vector<std::string> not_honoured;
    bool send_images = true;
    bool save_images = false;
    std::string checkpoint;          // override_settings.sd_model_checkpoint ("" = the loaded model)
    bool restore_checkpoint = true;  // override_settings_restore_afterwards
    bool clip_skip_given = false;    // override_settings.CLIP_stop_at_last_layers was set
    // Fields left out get A1111's API defaults (50 steps, CFG 7, 512x512, Euler) instead of the
    // model's; the worker keeps the model's for distilled (Turbo/LCM) models, which those break.
    bool a1111_defaults = false;
    nlohmann::json parameters;       // the body's fields, echoed back as A1111's "parameters"
};

// POST /sdapi/v1/txt2img and /sdapi/v1/img2img bodies.
JobSpec parse_a1111_body(const std::string& body, Endpoint endpoint, const RequestLimits& limits = {});
// POST /v1/images/generations (OpenAI): prompt, n, size "WxH", response_format "b64_json".
JobSpec parse_openai_body(const std::string& body, const RequestLimits& limits = {});

// A request body that must be a JSON object; anything else throws sdpp::Error ("body: ...").
nlohmann::json parse_json_object(const std::string& body);

}  // namespace sdpp::server
