// libFuzzer target: read_embedding_memory (src/io/embedding_file.cpp) on arbitrary bytes: torch.save
// zips through the restricted unpickler and safetensors files, interpreted as textual-inversion
// embeddings. Every accepted embedding is checked against its promises (1..75 vectors, f32,
// [N, W] with W > 0, finite values, SDXL halves with the same N) and its values are read.
#include "io/embedding_file.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace {

float check(const sdpp::Tensor& t, int64_t n) {
    if (t.dtype() != sdpp::DType::F32 || t.ndim() != 2 || t.dim(0) != n || t.dim(1) < 1) abort();
    const float* p = t.data<float>();
    float sum = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
        if (!std::isfinite(p[i])) abort();
        sum += p[i];
    }
    return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A private copy: tensors may borrow the bytes, so the buffer lives as long as they do.
    auto buf = std::make_shared<std::vector<std::byte>>(reinterpret_cast<const std::byte*>(data),
                                                        reinterpret_cast<const std::byte*>(data) + size);
    try {
        sdpp::EmbeddingData d = sdpp::read_embedding_memory(buf, buf->data(), buf->size(), "fuzz");
        if (d.n_vectors < 1 || d.n_vectors > sdpp::kMaxEmbeddingVectors) abort();
        float s = 0;
        if (d.format == "sdxl") s = check(d.clip_l, d.n_vectors) + check(d.clip_g, d.n_vectors);
        else s = check(d.vectors, d.n_vectors);
        volatile float sink = s;
        (void)sink;
    } catch (const sdpp::Error&) {
    }
    return 0;
}
