// HTTP Basic authentication for --api-auth "user:pass[,user:pass...]": the Authorization header is
// compared with every accepted credential in time that does not depend on where they differ.
#pragma once
#include <string>
#include <vector>

namespace sdpp::server {

class BasicAuth {
public:
    explicit BasicAuth(const std::string& spec);  // throws sdpp::Error for a malformed list
    bool enabled() const { return !expected_.empty(); }
    bool accepts(const std::string& authorization_header) const;

private:
    std::vector<std::string> expected_;  // "Basic base64(user:pass)"
};

// Equal strings, compared without an early exit.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace sdpp::server
