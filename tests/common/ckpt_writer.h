// Test helper: writes PyTorch checkpoints in torch.save's zip format without torch.
// The pickle stream uses the protocol-2 opcodes torch.save emits (Lib/pickle.py _Pickler with
// torch/serialization.py's persistent_id, torch/_tensor.py _reduce_ex_internal), including the
// memo (BINPUT/BINGET for repeated globals and strings), OrderedDict + SETITEMS + BUILD of
// _metadata, and one BINPERSID storage tuple per tensor. The zip is written with libzip: STORED
// records <archive>/data.pkl, <archive>/byteorder, <archive>/data/<key>, <archive>/version, with
// storages padded to 64-byte offsets through an "FB" local extra field, as
// caffe2/serialize/inline_container.cc does.
#pragma once
#include "core/tensor.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sdpp::testing {

// Builds pickle byte streams opcode by opcode.
class PickleWriter {
public:
    PickleWriter& proto(int v = 2);
    PickleWriter& op(char c);                // one raw opcode byte
    PickleWriter& raw(const std::string& s);
    PickleWriter& mark() { return op('('); }
    PickleWriter& stop() { return op('.'); }
    PickleWriter& none() { return op('N'); }
    PickleWriter& boolean(bool b) { return op(b ? '\x88' : '\x89'); }
    PickleWriter& integer(int64_t v);       // BININT1 / BININT2 / BININT / LONG1, as pickle picks
    PickleWriter& binfloat(double v);
    PickleWriter& str(const std::string& s);  // BINUNICODE
    PickleWriter& memo_str(const std::string& s);  // a string memoized on first use, BINGET later
    PickleWriter& global(const std::string& module, const std::string& name);  // GLOBAL, memoized
    PickleWriter& put();                       // BINPUT/LONG_BINPUT of the next memo index
    PickleWriter& get(uint32_t idx);           // BINGET/LONG_BINGET
    PickleWriter& tuple(size_t n);             // after pushing n items (MARK first when n > 3)
    std::string bytes() const { return out_; }

private:
    std::string out_;
    uint32_t next_memo_ = 0;
    std::map<std::string, uint32_t> memo_;
};

struct CkptTensor {
    std::string name;
    DType dtype = DType::F32;
    std::string storage_key;          // "0", "1", ...
    int64_t storage_numel = 0;        // elements of the storage
    int64_t offset = 0;               // elements
    Shape size;
    std::vector<int64_t> stride;      // empty = contiguous
    bool parameter = false;           // wrap in _rebuild_parameter
};

struct CkptSpec {
    std::string archive = "archive";
    std::vector<CkptTensor> tensors;
    std::map<std::string, std::string> storages;  // key -> raw little-endian bytes
    std::string nesting;                          // "" (plain state dict) or "state_dict", "model", ...
    bool lightning_extras = false;                // epoch, global_step, callbacks keyed by ModelCheckpoint
    bool compress = false;                        // deflate the storages instead of storing them
    bool align = true;                            // pad stored storages to 64-byte file offsets
};

// The data.pkl bytes for `spec`.
std::string ckpt_pickle(const CkptSpec& spec);
// Pickles one tensor reduce (for hand-made hostile pickles).
void ckpt_pickle_tensor(PickleWriter& w, const CkptTensor& t);

// Writes a zip of (name, bytes) records with libzip; stored unless `compress`. With `align`,
// stored records' data start at 64-byte file offsets. Throws sdpp::Error on failure.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& records,
               bool compress = false, bool align = true);

// The whole checkpoint: data.pkl from ckpt_pickle(spec) plus the storages.
void write_ckpt(const std::string& path, const CkptSpec& spec);

// Storage bytes of a float vector in a dtype (f32, f16, bf16, f64).
std::string storage_bytes(const std::vector<float>& values, DType dtype);

}  // namespace sdpp::testing
