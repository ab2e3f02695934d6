// Hub API calls and URL/path rules; see hub_api.h. The tree format follows the hub's
// /api/models/{repo}/tree/{revision} answer as huggingface_hub's RepoFile parses it:
// {"type": "file"|"directory", "path", "size", "oid", "lfs": {"oid": sha256, "size", ...}}.
#include "hub/hub_api.h"

#include "core/cache_root.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>

namespace sdpp::hub {
namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

bool plain_name_char(char c) {
    return std::isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

}  // namespace

HubConfig hub_config_from_env() {
    HubConfig cfg;
    if (std::string e = env("SDPP_HUB_ENDPOINT"); !e.empty()) cfg.endpoint = e;
    while (!cfg.endpoint.empty() && cfg.endpoint.back() == '/') cfg.endpoint.pop_back();
    SDPP_CHECK(cfg.endpoint.rfind("http://", 0) == 0 || cfg.endpoint.rfind("https://", 0) == 0,
               "SDPP_HUB_ENDPOINT must start with http:// or https:// (got '", cfg.endpoint, "')");
    cfg.http.token = env("HF_TOKEN");
    cfg.cache_dir = cache_root();
    if (cfg.cache_dir.empty()) throw Error("cannot place the model cache: neither XDG_CACHE_HOME nor HOME is set");
    return cfg;
}

void check_repo_id(const std::string& repo) {
    auto bad = [&](const char* why) { return error("invalid repo id '", repo, "': ", why, " (expected owner/name)"); };
    if (repo.empty() || repo.size() > 200) throw bad("empty or too long");
    size_t slash = repo.find('/');
    if (slash != std::string::npos && repo.find('/', slash + 1) != std::string::npos) throw bad("more than one '/'");
    for (char c : repo)
        if (c != '/' && !plain_name_char(c)) throw bad("only letters, digits, '-', '_', '.' are allowed");
    std::string owner = slash == std::string::npos ? "" : repo.substr(0, slash);
    std::string name = slash == std::string::npos ? repo : repo.substr(slash + 1);
    if (name.empty() || (slash != std::string::npos && owner.empty())) throw bad("empty owner or name");
    if (owner == "." || name == "." || repo.find("..") != std::string::npos || repo.find("--") != std::string::npos)
        throw bad("'.', '..' and '--' are not allowed");
}

void check_repo_path(const std::string& path) {
    auto bad = [&](const char* why) { return error("unsafe file path '", path, "' in the repo: ", why); };
    if (path.empty() || path.size() > 1000) throw bad("empty or too long");
    if (path[0] == '/') throw bad("absolute path");
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        std::string part = path.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") throw bad("empty, '.' or '..' component");
        start = end + 1;
    }
    for (char c : path)
        if ((unsigned char)c < 0x20 || c == '\\' || c == 0x7f) throw bad("backslash or control character");
}

void check_revision(const std::string& revision) {
    SDPP_CHECK(!revision.empty() && revision.size() <= 200, "invalid revision '", revision, "'");
    for (char c : revision)
        SDPP_CHECK(plain_name_char(c) || c == '/', "invalid revision '", revision,
                   "': only letters, digits, '-', '_', '.', '/' are allowed");
    SDPP_CHECK(revision.find("..") == std::string::npos && revision.find("--") == std::string::npos &&
                   revision.front() != '/' && revision.back() != '/',
               "invalid revision '", revision, "'");
}

std::string url_encode(const std::string& s, bool keep_slash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            out.push_back(char(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string tree_url(const HubConfig& cfg, const std::string& repo, const std::string& revision) {
    return cfg.endpoint + "/api/models/" + repo + "/tree/" + url_encode(revision, false) + "?recursive=true";
}

std::string resolve_url(const HubConfig& cfg, const std::string& repo, const std::string& revision,
                        const std::string& path) {
    return cfg.endpoint + "/" + repo + "/resolve/" + url_encode(revision, false) + "/" + url_encode(path, true);
}

std::vector<RepoFile> parse_tree_page(const std::string& json_text) {
    nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
    SDPP_CHECK(!j.is_discarded() && j.is_array(), "hub tree listing is not a JSON array");
    std::vector<RepoFile> files;
    for (const auto& e : j) {
        SDPP_CHECK(e.is_object() && e.contains("path") && e["path"].is_string(), "hub tree entry without a path");
        if (e.value("type", std::string("file")) != "file") continue;
        RepoFile f;
        f.path = e["path"].get<std::string>();
        if (e.contains("size") && e["size"].is_number_integer()) f.size = e["size"].get<int64_t>();
        if (e.contains("lfs") && e["lfs"].is_object()) {
            const auto& lfs = e["lfs"];
            // huggingface_hub reads the sha256 from lfs.oid (older answers used lfs.sha256).
            for (const char* key : {"oid", "sha256"})
                if (lfs.contains(key) && lfs[key].is_string()) {
                    f.sha256 = lfs[key].get<std::string>();
                    break;
                }
            if (f.sha256.rfind("sha256:", 0) == 0) f.sha256 = f.sha256.substr(7);
            if (lfs.contains("size") && lfs["size"].is_number_integer()) f.size = lfs["size"].get<int64_t>();
        }
        bool hex64 = f.sha256.size() == 64;
        for (char& c : f.sha256) {
            c = char(std::tolower((unsigned char)c));
            hex64 = hex64 && std::isxdigit((unsigned char)c);
        }
        SDPP_CHECK(f.sha256.empty() || hex64, "hub tree entry ", f.path, ": lfs oid is not a sha256");
        files.push_back(std::move(f));
    }
    return files;
}

std::string next_link(const std::string& link_header) {
    // Link: <https://host/api/...&cursor=abc>; rel="next", <...>; rel="prev"
    size_t pos = 0;
    while (true) {
        size_t lt = link_header.find('<', pos);
        if (lt == std::string::npos) return "";
        size_t gt = link_header.find('>', lt);
        if (gt == std::string::npos) return "";
        size_t end = link_header.find(',', gt);
        std::string params = link_header.substr(gt + 1, end == std::string::npos ? std::string::npos : end - gt - 1);
        if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos)
            return link_header.substr(lt + 1, gt - lt - 1);
        if (end == std::string::npos) return "";
        pos = end + 1;
    }
}

std::string describe_http_error(const std::string& what, long status, const std::string& body) {
    std::string msg = what + ": HTTP " + std::to_string(status);
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
        msg += " (" + j["error"].get<std::string>() + ")";
    if (status == 404)
        msg += "; check the repo id, revision and file name";
    else if (status == 401)
        msg += "; the repo does not exist or is private: set HF_TOKEN to a token that can read it";
    else if (status == 403)
        msg += "; access denied: for a gated repo accept its licence on the hub page and set HF_TOKEN";
    return msg;
}

std::vector<RepoFile> list_repo_files(const HubConfig& cfg, const std::string& repo, const std::string& revision) {
    check_repo_id(repo);
    check_revision(revision);
    std::vector<RepoFile> files;
    std::string url = tree_url(cfg, repo, revision);
    for (int page = 0; !url.empty(); ++page) {
        SDPP_CHECK(page < 10000, "hub tree listing of ", repo, " does not end (more than 10000 pages)");
        HttpResponse r = http_get(url, cfg.http);
        if (r.status != 200)
            throw Error(describe_http_error("cannot list repo '" + repo + "' (revision " + revision + ") on " +
                                                cfg.endpoint,
                                            r.status, r.body));
        try {
            for (RepoFile& f : parse_tree_page(r.body)) files.push_back(std::move(f));
        } catch (const Error& e) {
            throw error("listing ", repo, " from ", cfg.endpoint, ": ", e.what());
        }
        auto link = r.headers.find("link");
        url = link == r.headers.end() ? "" : next_link(link->second);
    }
    for (const RepoFile& f : files) check_repo_path(f.path);
    return files;
}

}  // namespace sdpp::hub
