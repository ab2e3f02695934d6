// `sdpp inspect EMBEDDING_FILE`: what a textual-inversion embedding is (format, vectors, widths,
// the model family its width fits, A1111's "TI hashes" short hash). Called by cmd_inspect.cpp
// before it tries the file as a model: a file that is not an embedding falls through.
#include "cli/inspect_embedding.h"

#include "core/error.h"
#include "io/embedding_file.h"
#include "io/sha256.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <system_error>

namespace sdpp::cli {

namespace {

// The family a text-encoder width belongs to in the released models.
std::string family_of(const EmbeddingData& d) {
    if (d.format == "sdxl")
        return d.clip_l.dim(1) == 768 && d.clip_g.dim(1) == 1280 ? "SDXL" : "SDXL-like (clip_l + clip_g)";
    switch (d.vectors.dim(1)) {
        case 768: return "SD1 (CLIP-L, width 768)";
        case 1024: return "SD2 (OpenCLIP-H, width 1024)";
        case 1280: return "SDXL refiner (OpenCLIP-bigG, width 1280)";
        default: return "unknown (width " + std::to_string(d.vectors.dim(1)) + ")";
    }
}

}  // namespace

bool inspect_embedding(const std::string& path, bool json) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > kMaxEmbeddingFileBytes)
        return false;
    EmbeddingData d;
    try {
        d = read_embedding_file(path);
    } catch (const Error&) {
        return false;  // not an embedding: the caller reads it as a model
    }
    const std::string name = std::filesystem::path(path).stem().string();
    const std::string hash = sha256_file(path).substr(0, 12);
    if (json) {
        nlohmann::ordered_json j;
        j["path"] = path;
        j["kind"] = "embedding";
        j["name"] = name;
        j["format"] = d.format;
        j["vectors"] = d.n_vectors;
        if (d.format == "sdxl") {
            j["width"] = {{"clip_l", d.clip_l.dim(1)}, {"clip_g", d.clip_g.dim(1)}};
        } else {
            j["width"] = d.vectors.dim(1);
        }
        j["family"] = family_of(d);
        j["hash"] = hash;
        std::printf("%s\n", j.dump(2).c_str());
        return true;
    }
    std::printf("path        %s\n", path.c_str());
    std::printf("kind        embedding (textual inversion)\n");
    std::printf("name        %s  (use it in a prompt by this name)\n", name.c_str());
    std::printf("format      %s\n", d.format.c_str());
    std::printf("vectors     %lld\n", static_cast<long long>(d.n_vectors));
    if (d.format == "sdxl")
        std::printf("width       clip_l %lld, clip_g %lld\n", static_cast<long long>(d.clip_l.dim(1)),
                    static_cast<long long>(d.clip_g.dim(1)));
    else
        std::printf("width       %lld\n", static_cast<long long>(d.vectors.dim(1)));
    std::printf("family      %s\n", family_of(d).c_str());
    std::printf("hash        %s  (A1111 TI hashes)\n", hash.c_str());
    return true;
}

}  // namespace sdpp::cli
