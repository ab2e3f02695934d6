// `sdpp serve`: an HTTP server speaking Automatic1111's API (/sdapi/v1/...), OpenAI's image
// endpoint, and serving the web page. docs/server.md documents every endpoint.
#pragma once
#include "server/a1111_request.h"

#include <sdpp/sdpp.hpp>

#include <cstddef>
#include <string>

namespace sdpp::server {

struct ServeOptions {
    std::string model;               // -m: a file or folder ("" = the first in models_dir, else the default model)
    std::string models_dir;          // where sd-models lists and sd_model_checkpoint looks
    std::string host = "127.0.0.1";  // A1111's default: loopback only
    int port = 7860;                 // 0 = any free port (printed)
    std::string api_auth;            // "user:pass[,user:pass...]" ("" = no auth)
    std::string cors_allow_origins;  // "*" or "http://a,http://b" ("" = no CORS headers)
    size_t max_queue = 16;
    size_t max_body_bytes = size_t(64) << 20;
    int http_threads = 0;            // 0 = max_queue + 16
    ModelOptions model_options;      // dtype, threads, vocab, vae, weight cache, taesd, lora_dir, embeddings_dir
    int taesd_preview_every = 4;     // with model_options.taesd: live previews through TAESD every N steps
    RequestLimits limits;
    bool verbose = false;            // one line per request on stderr
};

// Loads the model, listens, and serves until SIGTERM or SIGINT; returns the exit code (0 after a
// clean shutdown). A bad option or model throws sdpp::Error before listening.
int serve(const ServeOptions& options);

}  // namespace sdpp::server
