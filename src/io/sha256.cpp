// SHA-256 via OpenSSL libcrypto (EVP_sha256); see sha256.h.
#include "io/sha256.h"

#include "core/error.h"

#include <openssl/evp.h>

#include <cstdio>
#include <vector>

namespace sdpp {

struct Sha256::Impl {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    SDPP_CHECK(impl_->ctx, "sha256: EVP_MD_CTX_new failed");
    reset();
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::reset() {
    SDPP_CHECK(EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) == 1, "sha256: init failed");
}

void Sha256::update(const void* data, size_t n) {
    if (n == 0) return;
    SDPP_CHECK(EVP_DigestUpdate(impl_->ctx.get(), data, n) == 1, "sha256: update failed");
}

std::string Sha256::hex_digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    SDPP_CHECK(EVP_DigestFinal_ex(impl_->ctx.get(), md, &len) == 1, "sha256: final failed");
    static const char* digits = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * len);
    for (unsigned i = 0; i < len; ++i) {
        hex.push_back(digits[md[i] >> 4]);
        hex.push_back(digits[md[i] & 15]);
    }
    reset();
    return hex;
}

std::string sha256_hex(const void* data, size_t n) {
    Sha256 h;
    h.update(data, n);
    return h.hex_digest();
}

void sha256_update_from_file(Sha256& h, const std::string& path, long long n) {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    SDPP_CHECK(f, "cannot open ", path, " to hash it");
    std::vector<char> buf(1 << 20);
    long long left = n;
    while (n < 0 || left > 0) {
        size_t want = buf.size();
        if (n >= 0 && (long long)want > left) want = size_t(left);
        size_t got = std::fread(buf.data(), 1, want, f.get());
        h.update(buf.data(), got);
        if (n >= 0) left -= (long long)got;
        if (got < want) break;
    }
    SDPP_CHECK(!std::ferror(f.get()), "read error while hashing ", path);
    SDPP_CHECK(n < 0 || left == 0, path, " is shorter than ", n, " bytes");
}

std::string sha256_file(const std::string& path, long long limit) {
    Sha256 h;
    sha256_update_from_file(h, path, limit);
    return h.hex_digest();
}

}  // namespace sdpp
