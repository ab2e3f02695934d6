// Model paths before and around loading: early checks with a clear message, the name A1111 shows
// for a model, and which file stands for a diffusers folder when hashing.
#pragma once
#include <string>

namespace sdpp {

// Throws a one-line sdpp::Error for a file sdpp cannot read at all, before anything is loaded:
// a GGUF file (magic "GGUF", stable-diffusion.cpp's quantised format) is "not supported (yet)".
// `what` names the flag ("model", "--vae").
void check_model_file(const std::string& path, const char* what);

// A1111's "Model" name: the file stem, or for a folder its name; a diffusers layout folder named
// "diffusers" takes its parent's name and a Hugging Face cache snapshot (models--org--name/
// snapshots/<commit>) the repository's name.
std::string model_display_name(const std::string& path);

// The file a model hash is taken of: the path itself for a file; for a diffusers folder its U-Net
// weights (unet/diffusion_pytorch_model*.safetensors or .bin), or for a component folder (vae/)
// its own weights. "" when there is none.
std::string hashed_weights_file(const std::string& path);

}  // namespace sdpp
