// Minimal HTTP GET client over libcurl for the hub: small API responses into memory, and file
// downloads streamed through callbacks with an optional "Range: bytes=N-" start. Redirects are
// followed (the hub answers /resolve/ with 302 to its CDN). A bearer token goes in the
// Authorization header; libcurl (>= 7.58) does not forward that header when a redirect leaves
// the original host, so CDN hosts never see it. Proxies come from the usual *_proxy variables.
#pragma once
#include "core/error.h"

#include <sdpp/version.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace sdpp::hub {

struct HttpOptions {
    std::string token;                   // sent as "Authorization: Bearer <token>" when not empty
    std::string user_agent = "sdpp/" SDPP_VERSION_STRING;
    long connect_timeout_s = 20;
    long stall_timeout_s = 60;           // abort when under 1 byte/s arrives for this long
};

// The server could not be reached at all (name lookup, refused, connect timeout, nothing sent
// back): callers treat this as "offline".
struct Unreachable : Error {
    using Error::Error;
};

struct HttpResponse {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // of the final response; names lower-case
};

// GET into memory (bodies over max_body bytes are an error). Throws Unreachable when no HTTP
// response arrived, Error for other transport failures; any HTTP status is returned.
HttpResponse http_get(const std::string& url, const HttpOptions& o, size_t max_body = size_t(64) << 20);

struct DownloadCallbacks {
    // Called once per transfer when a 2xx response starts (also for an empty body), with its
    // status and the first byte position of its Content-Range (-1 when absent). False aborts.
    std::function<bool(long status, int64_t range_start)> begin;
    std::function<bool(const char* p, size_t n)> write;            // false aborts (disk error)
    std::function<void(int64_t received, int64_t expected)> progress;  // of this response's body
};

struct DownloadOutcome {
    long status = 0;            // final HTTP status; 0 when no response arrived
    int curl_code = 0;          // CURLcode; 0 = the whole body arrived
    std::string error;          // libcurl's message when curl_code != 0
    std::string body;           // the body of a non-2xx answer (first 64 KiB)
    bool aborted = false;       // a callback returned false
    bool unreachable() const { return status == 0 && curl_code != 0 && !aborted; }
};

// One GET of `url`, asking for bytes from `range_from` on when it is > 0. Never throws for
// network or HTTP errors: the outcome says what happened.
DownloadOutcome http_download(const std::string& url, const HttpOptions& o, int64_t range_from,
                              const DownloadCallbacks& cb);

}  // namespace sdpp::hub
