// SHA-256 (FIPS 180-4) over OpenSSL's libcrypto EVP interface, the one hash sdpp uses: the hub
// checks downloads against each LFS file's sha256 (the Git LFS pointer "oid"), and A1111's "Model
// hash" is the first 10 hex digits of the checkpoint file's sha256.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace sdpp {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(const void* data, size_t n);
    void reset();
    std::string hex_digest();  // lower-case hex; resets the state afterwards

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(const void* data, size_t n);
// Hashes a whole file (or its first `limit` bytes when limit >= 0) with a streaming read.
std::string sha256_file(const std::string& path, long long limit = -1);
// Feeds the first `n` bytes of `path` into `h` (used to continue a hash over a resumed .part).
void sha256_update_from_file(Sha256& h, const std::string& path, long long n);

}  // namespace sdpp
