// io/sha256.h: the FIPS 180-4 example vectors, incremental == one shot, and file hashing (whole
// file and a prefix, as a resumed download continues it).
#include "core/error.h"
#include "io/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace sdpp {
namespace {

const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(IoSha256, Vectors) {
    EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc", 3), kAbc);
    const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 h;  // incremental == one shot
    h.update("a", 1);
    h.update("bc", 2);
    EXPECT_EQ(h.hex_digest(), kAbc);
}

TEST(IoSha256, Files) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("sdpp_sha256_" + std::to_string(::getpid()))).string();
    std::ofstream(path, std::ios::binary) << "abcdef";
    EXPECT_EQ(sha256_file(path, 3), kAbc);
    EXPECT_EQ(sha256_file(path), sha256_hex("abcdef", 6));
    EXPECT_THROW(sha256_file(path, 7), Error);  // shorter than asked
    std::remove(path.c_str());
    EXPECT_THROW(sha256_file(path), Error);
}

}  // namespace
}  // namespace sdpp
