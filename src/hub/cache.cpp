// Cache layout and the pull ledger; see cache.h.
#include "hub/cache.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace sdpp::hub {

namespace fs = std::filesystem;
static constexpr const char* kLedgerName = ".sdpp-pull.json";

std::string repo_cache_dir(const HubConfig& cfg, const std::string& repo, const std::string& revision) {
    check_repo_id(repo);
    check_revision(revision);
    std::string flat_repo = repo, flat_rev = revision;
    for (std::string* s : {&flat_repo, &flat_rev}) {
        std::string out;
        for (char c : *s) out += c == '/' ? std::string("--") : std::string(1, c);
        *s = out;
    }
    return cfg.cache_dir + "/models/" + flat_repo + "/" + flat_rev;
}

void make_dirs(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    SDPP_CHECK(!ec && fs::is_directory(dir), "cannot create folder ", dir, ": ", ec ? ec.message() : "not a folder");
}

int64_t file_size(const std::string& path) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (ec || !fs::is_regular_file(st)) return -1;
    auto n = fs::file_size(path, ec);
    return ec ? -1 : int64_t(n);
}

Ledger Ledger::load(const std::string& dir) {
    Ledger l;
    l.dir_ = dir;
    std::ifstream is(dir + "/" + kLedgerName);
    if (!is) return l;
    std::stringstream ss;
    ss << is.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return l;  // a damaged ledger only costs re-checks
    if (j.contains("files") && j["files"].is_object())
        for (const auto& [path, e] : j["files"].items()) {
            if (!e.is_object()) continue;
            LedgerEntry le;
            if (e.contains("size") && e["size"].is_number_integer()) le.size = e["size"].get<int64_t>();
            if (e.contains("sha256") && e["sha256"].is_string()) le.sha256 = e["sha256"].get<std::string>();
            l.files_[path] = le;
        }
    if (j.contains("pulls") && j["pulls"].is_object())
        for (const auto& [key, v] : j["pulls"].items()) {
            if (!v.is_array()) continue;
            std::vector<std::string> paths;
            for (const auto& p : v)
                if (p.is_string()) paths.push_back(p.get<std::string>());
            l.pulls_[key] = paths;
        }
    return l;
}

void Ledger::save() const {
    nlohmann::json j;
    j["files"] = nlohmann::json::object();
    for (const auto& [path, e] : files_) j["files"][path] = {{"size", e.size}, {"sha256", e.sha256}};
    j["pulls"] = nlohmann::json::object();
    for (const auto& [key, paths] : pulls_) j["pulls"][key] = paths;
    make_dirs(dir_);
    std::string final_path = dir_ + "/" + kLedgerName;
    std::string tmp = final_path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream os(tmp, std::ios::trunc);
        os << j.dump(1) << "\n";
        SDPP_CHECK(os.good(), "cannot write ", tmp);
    }
    std::error_code ec;
    fs::rename(tmp, final_path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw error("cannot write ", final_path);
    }
}

const LedgerEntry* Ledger::find(const std::string& path) const {
    auto it = files_.find(path);
    return it == files_.end() ? nullptr : &it->second;
}

const std::vector<std::string>* Ledger::pull(const std::string& key) const {
    auto it = pulls_.find(key);
    return it == pulls_.end() ? nullptr : &it->second;
}

bool Ledger::pull_intact(const std::string& key) const {
    const auto* paths = pull(key);
    if (!paths || paths->empty()) return false;
    for (const std::string& p : *paths) {
        const LedgerEntry* e = find(p);
        if (!e || file_size(dir_ + "/" + p) != e->size) return false;
    }
    return true;
}

}  // namespace sdpp::hub
