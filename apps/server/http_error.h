// An HTTP answer other than 200 that a route gives by throwing: the status and the one-line
// `detail` the JSON body carries ({"detail": ...}, the shape A1111's FastAPI errors have).
#pragma once
#include <stdexcept>
#include <string>

namespace sdpp::server {

struct HttpError : std::runtime_error {
    int status;
    int retry_after = 0;  // seconds, for 503 (0 = no Retry-After header)
    HttpError(int status, const std::string& detail, int retry_after = 0)
        : std::runtime_error(detail), status(status), retry_after(retry_after) {}
};

}  // namespace sdpp::server
