// A restricted pickle reader for PyTorch checkpoints (the data.pkl inside torch.save's zip).
// Mirrors the opcode semantics of CPython's Lib/pickle.py (_Unpickler.load_*) and the protocol
// description in Lib/pickletools.py, but EXECUTES NOTHING: every value becomes an inert node, and
// the few callables a checkpoint needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// _rebuild_parameter, torch.*Storage persistent ids, ...) are interpreted by this file, which knows
// exactly what each one means. Any other global, wherever it appears, stops the load with
// "the checkpoint tries to run code (global os.system); refusing to load it".
// Bounded: the parser is a loop (no recursion), every read is bounds-checked, and the stack, mark
// depth, memo and node count are capped; work and memory are linear in the input size.
#pragma once
#include "core/dtype.h"
#include "core/tensor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sdpp::pickle {

enum class Kind : uint8_t {
    None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Set,
    Global,   // an allowed global (module.name in `s`)
    Object,   // an inert instance of an allowed class (class in `s`, constructor args in `items`)
    Storage,  // a persistent id ('storage', torch.XStorage, key, location, numel)
    Tensor,   // the result of torch._utils._rebuild_tensor_v2 and friends
};

struct Value;

struct StorageRef {
    std::string type;              // "torch.HalfStorage"
    std::optional<DType> dtype;    // nullopt for storage types sdpp has no dtype for (complex, quantized)
    size_t element_size = 1;
    std::string key;               // the record name under <archive>/data/
    std::string location;          // "cpu", "cuda:0", ...
    int64_t numel = 0;             // elements
};

struct TensorRef {
    const Value* storage = nullptr;  // Kind::Storage
    int64_t offset = 0;              // elements into the storage
    Shape size;
    std::vector<int64_t> stride;     // elements; validated to stay inside the storage
    bool parameter = false;          // wrapped by _rebuild_parameter
};

// String-keyed index of a dict's entries; the views point into the key Values' `s`, which never
// change after creation (so no key is ever copied).
using StringIndex = std::unordered_map<std::string_view, size_t>;

struct Value {
    Kind kind = Kind::None;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string s;                                // Str/Bytes content; Global/Object name
    std::vector<Value*> items;                    // Tuple/List/Set elements; Object constructor args
    std::vector<std::pair<Value*, Value*>> dict;  // Dict entries in insertion order
    Value* state = nullptr;                       // BUILD state (Dict/Object)
    std::unique_ptr<StringIndex> str_keys;        // Dict: string key (up to kMaxIndexedKey bytes) -> entry
    std::unique_ptr<StorageRef> storage;          // Storage only
    std::unique_ptr<TensorRef> tensor;            // Tensor only
};

// Dict keys longer than this are kept but not indexed (no real checkpoint has such keys); it bounds
// the hashing work a hostile pickle can cause.
constexpr size_t kMaxIndexedKey = 4096;

struct Limits {
    size_t max_stack = size_t(1) << 22;    // values on the stack
    size_t max_marks = 1024;               // nesting depth of MARK
    size_t max_memo = size_t(1) << 22;     // memo entries
    size_t max_values = size_t(1) << 22;   // nodes created
    size_t max_dims = 32;                  // tensor rank
    // Approximate bytes of everything built (nodes, strings, container slots, shapes). Copying
    // opcodes (BINGET + REDUCE of a big tuple, ...) can amplify a small input; this caps the
    // result. A real SDXL checkpoint's data.pkl needs about 20 MiB.
    size_t max_memory_bytes = size_t(1) << 30;
};

// The parsed pickle: owns every node (an arena, so memo cycles cannot leak).
class Pickle {
public:
    const Value* root() const { return root_; }
    size_t value_count() const { return arena_.size(); }

private:
    friend class Reader;
    std::vector<std::unique_ptr<Value>> arena_;
    const Value* root_ = nullptr;
};

// Parses `data`. Errors are sdpp::Error: "<name>: <reason> (byte N)" for malformed input, and
// "the checkpoint tries to run code (global M.N); refusing to load it" for disallowed globals.
Pickle unpickle(std::span<const std::byte> data, const std::string& name = "pickle", const Limits& limits = {});

// True when module.name is one of the globals this reader accepts.
bool global_allowed(std::string_view module, std::string_view name);

// Dict lookup by string key; nullptr when `d` is not a dict or lacks the key.
const Value* dict_get(const Value* d, std::string_view key);

// A short description for error messages: "dict (3 entries)", "str 'abc'", "int 5", ...
std::string describe(const Value* v);

}  // namespace sdpp::pickle
