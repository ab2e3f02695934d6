// Base64 (RFC 4648, standard alphabet, '=' padding) for images inside JSON requests, the way
// A1111's API carries init_images and mask. No Debian library we already link offers it to C++.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

std::string base64_encode(const uint8_t* data, size_t size);
// Accepts missing padding and ignores whitespace; any other character outside the alphabet throws
// sdpp::Error naming `what`.
std::vector<uint8_t> base64_decode(std::string_view text, const std::string& what);

}  // namespace sdpp
