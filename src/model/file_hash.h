// SHA-256 (FIPS 180-4) of a file, streamed in 1 MiB blocks, for A1111's "Model hash" (the first 10
// hex digits of the checkpoint's sha256). Hand-written because the build links no crypto library.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sdpp {

// Lower-case hex SHA-256 of `size` bytes.
std::string sha256_hex(const void* data, size_t size);
// Lower-case hex SHA-256 of a file's bytes; throws sdpp::Error "<path>: ..." if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace sdpp
