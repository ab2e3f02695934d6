#include "server/auth.h"

#include <sdpp/sdpp.hpp>

#include <sstream>

namespace sdpp::server {

bool constant_time_equal(const std::string& a, const std::string& b) {
    const size_t n = std::max(a.size(), b.size());
    unsigned diff = unsigned(a.size() != b.size());
    for (size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= unsigned(x ^ y);
    }
    return diff == 0;
}

BasicAuth::BasicAuth(const std::string& spec) {
    std::stringstream ss(spec);
    std::string cred;
    while (std::getline(ss, cred, ',')) {
        if (cred.empty()) continue;
        const size_t colon = cred.find(':');
        if (colon == std::string::npos || colon == 0)
            throw Error("--api-auth: each credential must be user:password (comma separated)");
        expected_.push_back("Basic " + base64_encode(reinterpret_cast<const uint8_t*>(cred.data()), cred.size()));
    }
    if (!spec.empty() && expected_.empty()) throw Error("--api-auth: no user:password given");
}

bool BasicAuth::accepts(const std::string& header) const {
    bool ok = false;
    for (const std::string& e : expected_) ok |= constant_time_equal(header, e);  // every one, no early exit
    return ok;
}

}  // namespace sdpp::server
