// LoRA and LyCORIS networks: reading a network file into modules, and each module's weight delta
// updown * scale, computed as AUTOMATIC1111's Lora extension computes it:
//   LoRA / LoCon  updown = up.reshape(out, -1) @ down.reshape(rank, -1)      (network_lora.py)
//   LoHa          updown = (w1a @ w1b) * (w2a @ w2b)                        (network_hada.py)
//   LoKr          updown = kron(w1, w2), w1 = lokr_w1 or w1_a @ w1_b, w2 likewise (network_lokr.py)
// reshaped to the weight's shape; scale = alpha / rank, 1 without alpha; LoKr with both factors
// full: 1 whatever alpha says (A1111 leaves dim unset; LyCORIS lokr.py writes alpha = dim there).
// Files: .safetensors (the validated reader of io/safetensors.h) or torch.save zips (.pt / .ckpt)
// through the restricted unpickler of io/ckpt.h; model/loader.h read_tensor_file picks the reader.
#pragma once
#include "backend/ops.h"
#include "model/lora_keys.h"

#include <map>
#include <string>
#include <vector>

namespace sdpp {

enum class NetKind : uint8_t { LoRA, LoHa, LoKr, Unsupported };
const char* net_kind_name(NetKind k);

struct NetModule {
    std::string name;                    // module name as the file spells it
    NetKind kind = NetKind::Unsupported;
    std::map<NetPart, Tensor> parts;     // as stored (any float dtype)
    std::string unsupported;             // why, for NetKind::Unsupported
    bool has(NetPart p) const { return parts.count(p) != 0; }
    const Tensor& at(NetPart p) const { return parts.at(p); }
    // A1111 network.py calc_scale: .scale if stored, else alpha / rank (rank: the factor's inner
    // size; none for LoKr with two full factors), else 1.
    float scale() const;
    std::optional<int64_t> rank() const;
    std::optional<float> alpha() const;
    bool conv() const;  // a LoCon / conv module (4-D factors)
};

struct NetworkFile {
    std::string path;
    std::string name;  // file stem
    std::map<std::string, std::string> metadata;
    std::vector<NetModule> modules;  // in file order of their first key
    std::vector<std::string> unknown_keys;  // tensors whose suffix no network format has
    std::string sha256_after_header;        // computed by short_hash() when needed

    // "LoRA", "LoCon" (LoRA with conv modules), "LoHa", "LoKr", or "mixed (...)".
    std::string kind() const;
    // Base family from keys, shapes and metadata: "sd1", "sd2", "sdxl" or "" when it cannot tell.
    std::string family() const;
    // A1111's short hash: 12 hex digits of metadata sshs_model_hash, else of the sha256 of the bytes
    // after the safetensors header (addnet hash); of the whole file for .pt / .ckpt.
    std::string short_hash() const;
};

// Reads and groups a network file. Errors (unreadable, truncated, hostile, pickled code, not a
// network) are one line naming the file.
NetworkFile read_network_file(const std::string& path);
// Groups named tensors (the parser the fuzz target drives): modules, their kinds, unknown keys.
// Throws for factors of a wrong rank or dtype.
std::vector<NetModule> group_network_tensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                             std::vector<std::string>* unknown_keys);

// updown * scale * factor of one module (factor: the multiplier) as an f32 tensor of
// `weight_shape` (LoRA: one matmul with the product as its alpha). Throws a one-line error when the
// factors do not multiply out to that shape (a network for another model).
Tensor network_delta(Ctx& ctx, const NetModule& m, const Shape& weight_shape, float factor = 1.0f);

}  // namespace sdpp
