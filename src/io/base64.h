// Base64 (RFC 4648, standard alphabet, '=' padding) for images inside JSON requests, the way
// A1111's API carries init_images and mask. No Debian library we already link offers it to C++.
#pragma once
#include <sdpp/export.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

// Exported: include/sdpp/sdpp.hpp declares the same two functions for the server and embedders.
SDPP_API std::string base64_encode(const uint8_t* data, size_t size);
// Accepts missing padding and ignores whitespace; any other character outside the alphabet throws
// sdpp::Error naming `what`.
SDPP_API std::vector<uint8_t> base64_decode(std::string_view text, const std::string& what);

}  // namespace sdpp
