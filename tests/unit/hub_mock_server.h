// A stand-in for the Hugging Face hub on 127.0.0.1 (ephemeral port, own thread) for the hub
// tests: the tree API (with optional pagination), /resolve/ (302 to a /cdn/ path for LFS files,
// like the real hub), byte ranges, and injected faults (dropped connections, corrupted bytes, a
// server that ignores Range, 401 for private repos). Every request is logged for assertions.
#pragma once
#include "io/sha256.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sdpp::testing {

class MockHub {
public:
    struct Logged {
        std::string path, range, authorization;
    };

    MockHub() {
        install_routes();
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("mock hub: cannot bind 127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i)  // up to 5 s
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ~MockHub() { stop(); }
    void stop() {
        server_.stop();
        if (thread_.joinable()) thread_.join();
    }

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // Files are LFS (sha256 in the listing, served through /cdn/) when they end in .safetensors
    // or .bin, like on the hub.
    void add_file(const std::string& repo, const std::string& path, std::string content) {
        std::lock_guard<std::mutex> g(mu_);
        repos_[repo][path] = std::move(content);
    }
    void add_dir(const std::string& repo, const std::string& dir) {
        for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
            if (!e.is_regular_file()) continue;
            std::ifstream is(e.path(), std::ios::binary);
            std::stringstream ss;
            ss << is.rdbuf();
            add_file(repo, std::filesystem::relative(e.path(), dir).generic_string(), ss.str());
        }
    }
    void make_private(const std::string& repo, const std::string& token) {
        std::lock_guard<std::mutex> g(mu_);
        private_[repo] = token;
    }
    // The next `times` downloads of `path` close the connection after `bytes` bytes of the body.
    void drop_after(const std::string& path, size_t bytes, int times = 1) {
        std::lock_guard<std::mutex> g(mu_);
        drops_[path] = {bytes, times};
    }
    // Serves `path` with one byte flipped (same size, so only the sha256 can tell).
    void corrupt(const std::string& path) {
        std::lock_guard<std::mutex> g(mu_);
        corrupt_.insert({path, true});
    }
    // Answers every download of `path` with 200 and the whole body, ignoring Range.
    void ignore_range(const std::string& path) {
        std::lock_guard<std::mutex> g(mu_);
        ignore_range_.insert({path, true});
    }
    void set_page_size(size_t n) { page_size_ = n; }

    std::vector<Logged> log() const {
        std::lock_guard<std::mutex> g(mu_);
        return log_;
    }
    void clear_log() {
        std::lock_guard<std::mutex> g(mu_);
        log_.clear();
    }
    // Requests for file bytes (the /cdn/ path or a direct /resolve/ answer) of `path`.
    std::vector<Logged> downloads_of(const std::string& path) const {
        std::vector<Logged> out;
        for (const Logged& l : log()) {
            const std::string& p = l.path;
            if (p.size() > path.size() && p.compare(p.size() - path.size(), path.size(), path) == 0 &&
                p[p.size() - path.size() - 1] == '/' &&
                (p.rfind("/cdn/", 0) == 0 || p.find("/resolve/") != std::string::npos))
                out.push_back(l);
        }
        return out;
    }

private:
    static bool is_lfs(const std::string& path) {
        auto ends = [&](const char* s) {
            std::string suf = s;
            return path.size() >= suf.size() && path.compare(path.size() - suf.size(), suf.size(), suf) == 0;
        };
        return ends(".safetensors") || ends(".bin");
    }

    // Returns false (and fills res) when the repo is missing or needs a token.
    bool repo_ok(const httplib::Request& req, httplib::Response& res, const std::string& repo) {
        std::lock_guard<std::mutex> g(mu_);
        auto p = private_.find(repo);
        bool missing = !repos_.count(repo);
        bool denied = p != private_.end() && req.get_header_value("Authorization") != "Bearer " + p->second;
        if (missing || denied) {
            res.status = denied ? 401 : 404;
            res.set_header("X-Error-Code", "RepoNotFound");
            res.set_content(R"({"error":"Repository not found"})", "application/json");
            return false;
        }
        return true;
    }

    void record(const httplib::Request& req) {
        std::lock_guard<std::mutex> g(mu_);
        log_.push_back({req.path, req.get_header_value("Range"), req.get_header_value("Authorization")});
    }

    void install_routes() {
        server_.Get(R"(/api/models/([^/]+/[^/]+)/tree/([^/]+))",
                    [this](const httplib::Request& req, httplib::Response& res) {
                        record(req);
                        std::string repo = req.matches[1];
                        if (!repo_ok(req, res, repo)) return;
                        if (req.matches[2] != "main") {
                            res.status = 404;
                            res.set_content(R"({"error":"Revision not found"})", "application/json");
                            return;
                        }
                        tree(req, res, repo);
                    });
        server_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            record(req);
            std::string repo = req.matches[1], path = req.matches[3];
            if (!repo_ok(req, res, repo)) return;
            if (!has_file(repo, path)) {
                res.status = 404;
                res.set_header("X-Error-Code", "EntryNotFound");
                res.set_content(R"({"error":"Entry not found"})", "application/json");
                return;
            }
            if (is_lfs(path)) {  // the hub sends LFS files to its CDN
                res.set_redirect("/cdn/" + repo + "/" + path, 302);
                return;
            }
            serve(req, res, repo, path);
        });
        server_.Get(R"(/cdn/([^/]+/[^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            record(req);
            std::string repo = req.matches[1], path = req.matches[2];
            if (!has_file(repo, path)) {
                res.status = 404;
                return;
            }
            serve(req, res, repo, path);
        });
    }

    bool has_file(const std::string& repo, const std::string& path) {
        std::lock_guard<std::mutex> g(mu_);
        auto r = repos_.find(repo);
        return r != repos_.end() && r->second.count(path);
    }

    void tree(const httplib::Request& req, httplib::Response& res, const std::string& repo) {
        nlohmann::json all = nlohmann::json::array();
        {
            std::lock_guard<std::mutex> g(mu_);
            std::map<std::string, bool> dirs;
            for (const auto& [path, content] : repos_[repo]) {
                for (size_t s = path.find('/'); s != std::string::npos; s = path.find('/', s + 1))
                    dirs[path.substr(0, s)] = true;
                nlohmann::json e = {{"type", "file"},
                                    {"oid", "0123456789abcdef0123456789abcdef01234567"},
                                    {"size", is_lfs(path) ? 134 : content.size()},
                                    {"path", path}};
                if (is_lfs(path)) {
                    e["size"] = content.size();
                    e["lfs"] = {{"oid", sha256_hex(content.data(), content.size())},
                                {"size", content.size()},
                                {"pointerSize", 134}};
                }
                all.push_back(e);
            }
            for (const auto& [d, _] : dirs)
                all.push_back({{"type", "directory"}, {"oid", "fedcba9876543210fedcba9876543210fedcba98"}, {"size", 0},
                               {"path", d}});
        }
        size_t start = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor")) : 0;
        size_t n = page_size_ ? page_size_ : all.size();
        nlohmann::json page = nlohmann::json::array();
        for (size_t i = start; i < all.size() && i < start + n; ++i) page.push_back(all[i]);
        if (start + n < all.size())
            res.set_header("Link", "<" + endpoint() + req.path + "?recursive=true&cursor=" + std::to_string(start + n) +
                                       ">; rel=\"next\"");
        res.set_content(page.dump(), "application/json");
    }

    void serve(const httplib::Request& req, httplib::Response& res, const std::string& repo, const std::string& path) {
        std::string content;
        size_t drop = std::string::npos;
        bool ignore = false;
        {
            std::lock_guard<std::mutex> g(mu_);
            content = repos_[repo][path];
            if (corrupt_.count(path) && !content.empty()) content[content.size() / 2] ^= 0x5a;
            auto d = drops_.find(path);
            if (d != drops_.end() && d->second.second > 0) {
                drop = d->second.first;
                d->second.second--;
            }
            ignore = ignore_range_.count(path) > 0;
        }
        if (ignore) {
            const_cast<httplib::Request&>(req).ranges.clear();  // httplib would apply the range itself
            res.status = 200;
        }
        auto body = std::make_shared<std::string>(std::move(content));
        res.set_content_provider(body->size(), "application/octet-stream",
                                 [body, drop](size_t off, size_t len, httplib::DataSink& sink) {
                                     if (drop != std::string::npos && off >= drop) return false;  // hang up
                                     size_t n = std::min<size_t>(len, 16384);
                                     if (drop != std::string::npos) n = std::min(n, drop - off);
                                     sink.write(body->data() + off, n);
                                     return true;
                                 });
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    mutable std::mutex mu_;
    std::map<std::string, std::map<std::string, std::string>> repos_;
    std::map<std::string, std::string> private_;
    std::map<std::string, std::pair<size_t, int>> drops_;
    std::map<std::string, bool> corrupt_, ignore_range_;
    size_t page_size_ = 0;
    std::vector<Logged> log_;
};

}  // namespace sdpp::testing
