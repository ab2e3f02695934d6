// `sdpp serve` as a child process for the server's end-to-end tests: started on a free loopback
// port (--port 0; the port is read from its "listening on" line), talked to with httplib::Client,
// stopped with SIGTERM (the test can check that it exits 0). Header-only: only the server tests,
// which link httplib through sdpp_server, include it.
#pragma once
#include "common/parity_support.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sdpp::testing {

class ServerProcess {
public:
    // `args` follow `sdpp serve`; --port 0 and --vocab (the fixture vocabulary) are added.
    explicit ServerProcess(std::vector<std::string> args, const std::string& log_dir) {
        log_ = log_dir + "/serve-" + std::to_string(counter()++) + ".out";
        err_ = log_ + ".err";
        args.insert(args.begin(), {std::string(SDPP_BINARY_DIR) + "/sdpp", "serve", "--port", "0", "--vocab",
                                   fixture_path("clip/vocab.json")});
        pid_ = fork();
        if (pid_ == 0) {
            int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(out, 1);
            dup2(err, 2);
            std::vector<char*> argv;
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        // Wait for "sdpp serve: listening on http://127.0.0.1:PORT".
        for (int i = 0; i < 600 && port_ == 0; ++i) {
            std::ifstream f(log_);
            std::string line;
            while (std::getline(f, line))
                if (auto at = line.rfind(':'); line.find("listening on") != std::string::npos && at != std::string::npos)
                    port_ = std::atoi(line.c_str() + at + 1);
            if (port_ == 0) {
                int status = 0;
                if (waitpid(pid_, &status, WNOHANG) == pid_) {
                    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                    pid_ = -1;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
    }
    ~ServerProcess() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    int port() const { return port_; }
    bool running() const { return pid_ > 0 && port_ > 0; }
    pid_t pid() const { return pid_; }
    std::string stderr_text() const { return slurp(err_); }

    httplib::Client client(double read_timeout_s = 120) const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(std::chrono::milliseconds(int64_t(read_timeout_s * 1000)));
        c.set_connection_timeout(std::chrono::seconds(5));
        return c;
    }

    // Sends SIGTERM and waits (up to `timeout_s`) for the exit; the exit code, -1 on a timeout or
    // a death by signal.
    int terminate(double timeout_s = 60) {
        if (pid_ <= 0) return exit_code_;
        kill(pid_, SIGTERM);
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(timeout_s * 1000));
        while (std::chrono::steady_clock::now() < end) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    static std::string slurp(const std::string& path) {
        std::ifstream f(path);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    std::string log_, err_;
    pid_t pid_ = -1;
    int port_ = 0;
    int exit_code_ = -1;
};

// A JSON body POSTed, the answer parsed (null when the body is not JSON).
struct JsonReply {
    int status = -1;
    nlohmann::json body;
    std::string raw;
    httplib::Headers headers;
};

inline JsonReply to_reply(const httplib::Result& r) {
    JsonReply out;
    if (!r) return out;
    out.status = r->status;
    out.raw = r->body;
    out.headers = r->headers;
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
    return out;
}

inline JsonReply post_json(httplib::Client& c, const std::string& path, const nlohmann::json& body) {
    return to_reply(c.Post(path.c_str(), body.dump(), "application/json"));
}
inline JsonReply post_raw(httplib::Client& c, const std::string& path, const std::string& body) {
    return to_reply(c.Post(path.c_str(), body, "application/json"));
}
inline JsonReply get_json(httplib::Client& c, const std::string& path) { return to_reply(c.Get(path.c_str())); }

}  // namespace sdpp::testing
