// One file from the hub into the cache, safely: bytes go to "<dest>.part" (locked with flock so
// two processes never write one file), an existing .part is resumed with "Range: bytes=N-" (a 206
// answer appends; a 200 answer restarts the file from zero), transient failures are retried with
// backoff (each retry resumes), and only a file whose size and sha256 match the hub's listing is
// renamed to <dest>. A mismatch deletes the .part and throws.
#pragma once
#include "hub/hub_api.h"
#include "hub/progress.h"

#include <cstdint>
#include <string>

namespace sdpp::hub {

struct DownloadRequest {
    std::string url;
    std::string dest;    // final path; its folder is created
    std::string name;    // what progress lines and errors call it (the repo path)
    int64_t size = -1;   // expected size, -1 when unknown
    std::string sha256;  // expected lower-case hex, "" when unknown
};

struct DownloadStats {
    std::string sha256;          // of the final file (always computed)
    int64_t bytes_received = 0;  // over the network in this call
    int64_t resumed_from = 0;    // bytes of a .part kept from an earlier run (0: fresh)
};

// Throws Unreachable when the server cannot be reached after all attempts, Error otherwise.
DownloadStats download_file(const HubConfig& cfg, const DownloadRequest& req, Progress& progress);

}  // namespace sdpp::hub
