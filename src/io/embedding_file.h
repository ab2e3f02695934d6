// Textual-inversion embedding files, read as AUTOMATIC1111 stable-diffusion-webui reads them
// (modules/textual_inversion/textual_inversion.py: EmbeddingDatabase.load_from_file and
// create_embedding_from_data), without executing anything:
//   A1111 .pt      torch.save zip {'string_to_param': {'*': [N, W]}, 'string_to_token', 'name', 'step',
//                  ...} through the restricted unpickler (io/unpickle.h, io/ckpt.h)
//   diffusers      one tensor under the token's name ({'<cat-toy>': [W] or [N, W]}), as .bin (torch zip)
//                  or .safetensors; A1111's own .safetensors ({'emb_params': [N, W]}) is this form too
//   SDXL           {'clip_l': [N, 768], 'clip_g': [N, 1280]} (.safetensors or torch zip)
// Vectors come back as f32. Anything else (several terms, a wrong rank, non-float or non-finite
// values, more vectors than a 75-token chunk holds, a truncated or hostile file) is a one-line
// sdpp::Error naming the file.
#pragma once
#include "core/tensor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sdpp {

// A1111 appends N slots to a 75-token chunk; more than 75 vectors could never fit in one.
inline constexpr int64_t kMaxEmbeddingVectors = 75;
// Real embeddings are kilobytes (75 SDXL vectors: 600 KB); a bigger file is not one.
inline constexpr uint64_t kMaxEmbeddingFileBytes = uint64_t(64) << 20;

struct EmbeddingData {
    std::string format;  // "a1111_pt", "single_tensor" or "sdxl"
    int64_t n_vectors = 0;
    Tensor vectors;      // [N, W] f32 (a1111_pt, single_tensor); undefined for sdxl
    Tensor clip_l;       // [N, W_l] f32 (sdxl only)
    Tensor clip_g;       // [N, W_g] f32 (sdxl only)
};

// The file at `path` (torch zip or safetensors, told apart by their first bytes).
EmbeddingData read_embedding_file(const std::string& path);
// The same over bytes in memory (`owner` keeps them alive); `name` prefixes the errors. The fuzzer
// entry point.
EmbeddingData read_embedding_memory(std::shared_ptr<const void> owner, const std::byte* data, size_t size,
                                    const std::string& name);

}  // namespace sdpp
