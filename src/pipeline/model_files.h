// Model paths before and around loading: early checks with a clear message, the name A1111 shows
// for a model, and which file stands for a diffusers folder when hashing.
// check_model_file() is public API (include/sdpp/sdpp.hpp); it is defined in model_files.cpp.
#pragma once
#include <sdpp/sdpp.hpp>

#include <string>

namespace sdpp {

// A1111's "Model" name: the file stem, or for a folder its name; a diffusers layout folder named
// "diffusers" takes its parent's name and a Hugging Face cache snapshot (models--org--name/
// snapshots/<commit>) the repository's name.
std::string model_display_name(const std::string& path);

// The file a model hash is taken of: the path itself for a file; for a diffusers folder its U-Net
// weights (unet/diffusion_pytorch_model*.safetensors or .bin), or for a component folder (vae/)
// its own weights. "" when there is none.
std::string hashed_weights_file(const std::string& path);

}  // namespace sdpp
