// The server's routes, registered on a httplib::Server. Each handler reads the request, talks to
// the Worker or the catalog, and writes JSON; errors are thrown as HttpError / sdpp::Error and
// turned into {"detail": ...} answers by reply().
#pragma once
#include "server/http_error.h"
#include "server/model_catalog.h"
#include "server/server.h"
#include "server/worker.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>

namespace sdpp::server {

struct ServerContext {
    const ServeOptions& options;
    Worker& worker;
    ModelCatalog& catalog;
    std::atomic<int> in_flight{0};      // generation handlers still answering (shutdown waits on them)
    std::mutex options_mu;
    nlohmann::json stored_options = nlohmann::json::object();  // POSTed options sdpp only stores
    ServerContext(const ServeOptions& o, Worker& w, ModelCatalog& c) : options(o), worker(w), catalog(c) {}
};

void write_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void write_error(httplib::Response& res, int status, const std::string& detail, int retry_after = 0);
// Runs `fn`, answering HttpError with its status, sdpp::Error with 422 and anything else with 500.
void reply(httplib::Response& res, const std::function<void()>& fn);

void add_generation_routes(httplib::Server& svr, ServerContext& ctx);
void add_info_routes(httplib::Server& svr, ServerContext& ctx);
void add_web_routes(httplib::Server& svr);

}  // namespace sdpp::server
