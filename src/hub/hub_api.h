// The Hugging Face hub's public HTTP API, the parts sdpp needs (as huggingface_hub's HfApi uses
// them, https://huggingface.co/docs/hub/api):
//   GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true   file list with sizes and, for
//       LFS files, lfs.oid = sha256 of the content; paginated with a `Link: <...>; rel="next"` header
//   GET {endpoint}/{repo}/resolve/{revision}/{path}                  the file (302 to a CDN for LFS)
// Configuration comes from the environment (see hub_config_from_env and docs/hub.md).
#pragma once
#include "hub/http.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sdpp::hub {

inline constexpr const char* kDefaultEndpoint = "https://huggingface.co";

struct HubConfig {
    std::string endpoint = kDefaultEndpoint;  // no trailing slash
    std::string cache_dir;                    // the sdpp cache root, e.g. ~/.cache/sdpp
    HttpOptions http;
    int max_attempts = 5;                     // per file; each retry resumes from the .part
    int retry_delay_ms = 1000;                // doubled after each failed attempt
};

// SDPP_HUB_ENDPOINT (default https://huggingface.co), HF_TOKEN (bearer token, optional),
// the cache under core/cache_root.h's folder.
HubConfig hub_config_from_env();

struct RepoFile {
    std::string path;     // relative to the repo root, '/'-separated
    int64_t size = -1;    // -1 when unknown
    std::string sha256;   // lower-case hex; empty when the hub gives none (non-LFS files)
};

// "owner/name" (or a legacy "name"): letters, digits, '-', '_', '.'; no "..". Throws otherwise.
void check_repo_id(const std::string& repo);
// A repo-relative file path that is safe to create under the cache: no absolute path, no "..",
// no empty or "." component, no backslash or control character. Throws otherwise.
void check_repo_path(const std::string& path);
void check_revision(const std::string& revision);

// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string url_encode(const std::string& s, bool keep_slash);

std::string tree_url(const HubConfig& cfg, const std::string& repo, const std::string& revision);
std::string resolve_url(const HubConfig& cfg, const std::string& repo, const std::string& revision,
                        const std::string& path);

// Every file of the repo at `revision` (directories omitted), following pagination.
// Throws Unreachable when the endpoint cannot be reached, Error naming the repo for HTTP errors.
std::vector<RepoFile> list_repo_files(const HubConfig& cfg, const std::string& repo, const std::string& revision);

// Parses one page of the tree API (a JSON array); exposed for tests.
std::vector<RepoFile> parse_tree_page(const std::string& json_text);
// The URL of a `Link` header's rel="next" entry, or "" when there is none.
std::string next_link(const std::string& link_header);

// One line describing a failed hub answer: "<what>: HTTP <status> (<hub's message>)" plus a hint
// for 401/403/404.
std::string describe_http_error(const std::string& what, long status, const std::string& body);

}  // namespace sdpp::hub
