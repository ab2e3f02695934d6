// `sdpp pull`: bring a model (a diffusers folder's needed files, a repo's single checkpoint, or one
// named file) from the hub into the cache, downloading only what is missing or stale.
#pragma once
#include "hub/hub_api.h"
#include "hub/progress.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sdpp::hub {

struct PullOptions {
    std::string revision = "main";
    std::string variant = "fp16";  // preferred diffusers weights variant; "" = full precision only
    ProgressMode progress = ProgressMode::Auto;
};

struct PullResult {
    std::string path;                // the revision folder for a diffusers repo, else the file
    std::vector<std::string> files;  // repo paths of the pulled files
    int64_t bytes_downloaded = 0;    // over the network in this call
    bool offline = false;            // the hub was unreachable and a complete earlier pull was used
};

// `file` empty: the whole model (see select.h); else exactly that repo path.
// Throws Unreachable when the hub cannot be reached and nothing usable is cached, Error otherwise.
PullResult pull(const HubConfig& cfg, const std::string& repo, const std::string& file, const PullOptions& o);

// The path a completed pull left in the cache, without touching the network; "" when the cache
// does not hold an intact copy.
std::string cached_pull_path(const HubConfig& cfg, const std::string& repo, const std::string& file,
                             const PullOptions& o);

}  // namespace sdpp::hub
