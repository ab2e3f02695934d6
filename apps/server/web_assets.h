// The files of apps/server/web, embedded into the binary at build time (cmake/embed_files.cmake
// writes the table): the page works offline and needs nothing next to the binary.
#pragma once
#include <cstddef>

namespace sdpp::server {

struct WebAsset {
    const char* name;           // file name, e.g. "index.html"
    const char* mime;           // Content-Type
    const unsigned char* data;
    size_t size;
};

extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

}  // namespace sdpp::server
