// PyTorch .ckpt / .pt / .pth checkpoints in torch.save's zip format (torch >= 1.6; the reader
// side is torch/serialization.py _load and caffe2/serialize/inline_container.cc):
//   <archive>/data.pkl      the pickled object tree (read by the restricted unpickler)
//   <archive>/data/<key>    one raw little-endian storage per persistent-id key
//   <archive>/byteorder     "little" (torch >= 2.1), <archive>/version, ...
// The top folder's name varies (torch >= 2.0 writes "archive", older versions the file stem).
// Tensors are views into their storages, borrowed from the file's memory map when the storage is
// stored uncompressed and aligned (what torch writes), copied into owned memory otherwise.
#pragma once
#include "core/tensor.h"
#include "io/unpickle.h"
#include "io/zip_archive.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

struct CkptLimits {
    uint64_t max_pickle_bytes = uint64_t(256) << 20;  // data.pkl of an SDXL checkpoint is < 1 MiB
    uint64_t max_owned_bytes = 0;                     // copies (compressed/unaligned storages); 0 = RAM size
    ZipLimits zip;
    pickle::Limits pickle;
};

class CkptFile {
public:
    // Opens and validates a checkpoint; every problem is an sdpp::Error "<path>: <reason>".
    static CkptFile open(const std::string& path, const CkptLimits& limits = {});
    // The same for a file already in memory (`owner` keeps `data` alive); used by the fuzzers.
    static CkptFile from_memory(std::shared_ptr<const void> owner, const std::byte* data, size_t size,
                                const std::string& name, const CkptLimits& limits = {});

    const std::string& path() const { return path_; }
    // Tensor name -> tensor, in the order of the checkpoint's state dict. Taken from the
    // top-level "state_dict" (or "model"/"module") dict when the file nests it.
    const std::vector<std::pair<std::string, Tensor>>& tensors() const { return tensors_; }
    // Where the tensors were found: "" (top level), "state_dict", "model", "module" or
    // "string_to_param" (an A1111 textual-inversion embedding).
    const std::string& nesting() const { return nesting_; }
    // The archive's top folder ("archive" for torch >= 2.0).
    const std::string& archive_name() const { return archive_name_; }
    // How many storages were borrowed from the memory map and how many were copied.
    size_t mapped_storages() const { return mapped_storages_; }
    size_t copied_storages() const { return copied_storages_; }

private:
    std::string path_;
    std::string nesting_;
    std::string archive_name_;
    std::vector<std::pair<std::string, Tensor>> tensors_;
    size_t mapped_storages_ = 0;
    size_t copied_storages_ = 0;
};

// True when the bytes look like the legacy (torch < 1.6) non-zip format: a bare pickle stream
// starting with torch's magic number, or an old tar archive.
bool is_legacy_torch_file(const std::byte* data, size_t size);

}  // namespace sdpp
