// serve(): the model, the worker, the HTTP server with its auth / CORS / size limits, and the
// shutdown on SIGTERM or SIGINT (refuse new work, cancel the running job, answer everyone, exit 0).
#include "server/server.h"

#include "server/auth.h"
#include "server/routes.h"
#include "server/web_assets.h"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include <pthread.h>

namespace sdpp::server {

namespace fs = std::filesystem;
using Json = nlohmann::json;

void write_json(httplib::Response& res, const Json& body, int status) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void write_error(httplib::Response& res, int status, const std::string& detail, int retry_after) {
    if (retry_after > 0) res.set_header("Retry-After", std::to_string(retry_after));
    write_json(res, {{"detail", detail}}, status);
}

void reply(httplib::Response& res, const std::function<void()>& fn) {
    try {
        fn();
    } catch (const HttpError& e) {
        write_error(res, e.status, e.what(), e.retry_after);
    } catch (const Error& e) {
        write_error(res, 422, e.what());
    } catch (const std::bad_alloc&) {
        write_error(res, 500, "out of memory");
    } catch (const std::exception& e) {
        std::string detail = "internal error: ";
        detail += e.what();
        write_error(res, 500, detail);
    }
}

void add_web_routes(httplib::Server& svr) {
    for (size_t i = 0; i < kWebAssetCount; ++i) {
        const WebAsset* a = &kWebAssets[i];
        auto handler = [a](const httplib::Request&, httplib::Response& res) {
            res.set_content(reinterpret_cast<const char*>(a->data), a->size, a->mime);
            res.set_header("Cache-Control", "no-cache");
        };
        std::string path = "/";
        path += a->name;
        svr.Get(path, handler);
        if (std::string(a->name) == "index.html") svr.Get("/", handler);
    }
}

namespace {

const char* status_text(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Not authenticated";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request body too large";
    case 414: return "URI Too Long";
    default: return "error";
    }
}

bool origin_allowed(const std::string& list, const std::string& origin) {
    if (list == "*") return true;
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        std::string item = list.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.erase(0, 1);
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (!item.empty() && item == origin) return true;
        start = comma + 1;
    }
    return false;
}

// The model served first: -m, else the first checkpoint in --models-dir, else the default model.
CatalogEntry first_model(const ServeOptions& o, ModelCatalog& catalog, std::string& default_path) {
    if (!o.model.empty()) {
        for (const CatalogEntry& e : catalog.entries()) {
            std::error_code ec;
            if (e.path == fs::absolute(o.model).string() || fs::equivalent(e.path, o.model, ec)) return e;
        }
    }
    const std::vector<CatalogEntry> all = catalog.entries();
    if (!all.empty()) return all.front();
    default_path = ensure_default_model();
    return {default_path, fs::path(kDefaultModel.repo).filename().string(), fs::path(kDefaultModel.repo).filename().string()};
}

}  // namespace

int serve(const ServeOptions& o) {
    std::error_code ec;
    if (!o.models_dir.empty() && !fs::is_directory(o.models_dir, ec))
        throw error("--models-dir ", o.models_dir, ": no such folder");
    if (!o.model.empty()) {
        if (!fs::exists(o.model, ec)) throw error("model ", o.model, ": no such file or folder");
        check_model_file(o.model, "model");
    }
    const BasicAuth auth(o.api_auth);

    // SIGTERM / SIGINT are taken by one thread (sigwait); every other thread has them blocked,
    // including the worker's and the HTTP pool's, which inherit this mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    WorkerOptions wo;
    wo.model = o.model_options;
    wo.model.keep_weights = true;
    wo.max_queue = o.max_queue;
    wo.taesd_preview_every = o.taesd_preview_every;
    std::optional<ModelCatalog> scanned;
    scanned.emplace(o.models_dir, o.model);
    CatalogEntry first = first_model(o, *scanned, wo.default_model);
    if (!wo.default_model.empty()) scanned.emplace(o.models_dir, wo.default_model);  // list it too
    ModelCatalog& catalog = *scanned;
    Worker worker(wo, catalog);
    std::fprintf(stderr, "sdpp serve: loading %s\n", first.path.c_str());
    worker.start(first);

    httplib::Server svr;
    ServerContext ctx(o, worker, catalog);
    const int pool = o.http_threads > 0 ? o.http_threads : int(o.max_queue) + 16;
    svr.new_task_queue = [pool] { return new httplib::ThreadPool(size_t(pool)); };
    svr.set_payload_max_length(o.max_body_bytes);
    svr.set_keep_alive_max_count(1000);

    svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        const bool cors = !o.cors_allow_origins.empty() && req.has_header("Origin") &&
                          origin_allowed(o.cors_allow_origins, req.get_header_value("Origin"));
        if (cors) {
            res.set_header("Access-Control-Allow-Origin", req.get_header_value("Origin"));
            res.set_header("Vary", "Origin");
            res.set_header("Access-Control-Allow-Credentials", "true");
        }
        if (req.method == "OPTIONS") {  // CORS preflight: browsers send it without credentials
            if (cors) {
                res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                res.set_header("Access-Control-Allow-Headers",
                               req.has_header("Access-Control-Request-Headers")
                                   ? req.get_header_value("Access-Control-Request-Headers")
                                   : "Authorization, Content-Type");
                res.set_header("Access-Control-Max-Age", "600");
            }
            res.status = 204;
            return httplib::Server::HandlerResponse::Handled;
        }
        if (auth.enabled() && !auth.accepts(req.get_header_value("Authorization"))) {
            res.set_header("WWW-Authenticate", "Basic realm=\"sdpp\"");
            write_error(res, 401, "Incorrect username or password");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // Statuses httplib answers itself (404, 413, ...) get the same JSON body as the routes' errors.
    svr.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request&, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            write_error(res, res.status, status_text(res.status));
            return httplib::Server::HandlerResponse::Handled;
        }));
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        reply(res, [&] { std::rethrow_exception(ep); });
    });
    if (o.verbose)
        svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
            std::fprintf(stderr, "%s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
        });

    add_generation_routes(svr, ctx);
    add_info_routes(svr, ctx);
    add_web_routes(svr);

    int port = o.port;
    if (port == 0) {
        port = svr.bind_to_any_port(o.host);
        if (port < 0) throw error("cannot listen on ", o.host, " (any port)");
    } else if (!svr.bind_to_port(o.host, port)) {
        throw error("cannot listen on ", o.host, ":", port, " (in use, or not an address of this machine)");
    }
    std::printf("sdpp serve: listening on http://%s:%d\n", o.host.c_str(), port);
    std::fflush(stdout);

    std::atomic<bool> listening_done{false};
    std::thread signals([&] {
        int sig = 0;
        sigwait(&sigs, &sig);
        if (listening_done) return;  // woken by ourselves: the server already stopped
        std::fprintf(stderr, "sdpp serve: %s: finishing\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        worker.shutdown();  // cancels the running job, answers the waiting ones
        // Let the handlers write their answers before the sockets close.
        for (int i = 0; i < 500 && ctx.in_flight > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        svr.stop();
    });
    const bool ok = svr.listen_after_bind();
    listening_done = true;
    pthread_kill(signals.native_handle(), SIGTERM);  // no-op when the thread already returned
    signals.join();
    worker.shutdown();
    std::fprintf(stderr, "sdpp serve: stopped\n");
    return ok ? 0 : 1;
}

}  // namespace sdpp::server
