// model_files.h: GGUF detection, A1111 model names, the weights file of a diffusers folder.
#include "pipeline/model_files.h"

#include "core/error.h"

#include <array>
#include <filesystem>
#include <fstream>

namespace sdpp {

namespace fs = std::filesystem;

void check_model_file(const std::string& path, const char* what) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return;
    std::ifstream f(path, std::ios::binary);
    std::array<char, 4> magic{};
    if (!f.read(magic.data(), magic.size())) return;  // too short: the loader names the problem
    if (std::string(magic.data(), magic.size()) == "GGUF")
        throw error(what, " ", path, ": GGUF is not supported (yet); use a .safetensors or .ckpt checkpoint or a diffusers folder");
}

std::string model_display_name(const std::string& path) {
    fs::path p(path);
    while (!p.empty() && !p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
    std::error_code ec;
    if (!fs::is_directory(p, ec)) return p.stem().string();
    fs::path abs = fs::absolute(p, ec);
    if (abs.filename() == "diffusers" && abs.has_parent_path()) return abs.parent_path().filename().string();
    if (abs.parent_path().filename() == "snapshots") {
        const std::string repo = abs.parent_path().parent_path().filename().string();  // models--org--name
        if (size_t at = repo.rfind("--"); repo.rfind("models--", 0) == 0 && at != std::string::npos)
            return repo.substr(at + 2);
    }
    return abs.filename().string();
}

std::string hashed_weights_file(const std::string& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return path;
    fs::path dir = fs::is_directory(fs::path(path) / "unet", ec) ? fs::path(path) / "unet" : fs::path(path);
    for (const char* name : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                             "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin"})
        if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
    return "";
}

}  // namespace sdpp
