// Restricted unpickler: the opcode loop of CPython's Lib/pickle.py (_Unpickler.load and its
// load_* handlers; opcode table and argument encodings from Lib/pickletools.py), with every
// callable replaced by an inert interpretation. What torch.save writes (torch/serialization.py
// _save, torch/_tensor.py Tensor._reduce_ex_internal, torch/_utils.py _rebuild_tensor_v2):
//   PROTO 2, then the object tree; each tensor is
//   REDUCE(torch._utils._rebuild_tensor_v2,
//          (BINPERSID(('storage', torch.HalfStorage, '0', 'cpu', numel)), offset, size, stride,
//           requires_grad, OrderedDict()[, metadata]))
// and state dicts are REDUCE(collections.OrderedDict, ()) + SETITEMS + BUILD({'_metadata': ...}).
#include "io/unpickle.h"

#include "core/error.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace sdpp::pickle {

namespace {

// What an allowed global means to this reader. Nothing here is ever executed: each value names
// a fixed interpretation in Reader::call().
enum class Fn : uint8_t {
    OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState,
    RebuildFromTypeV2, TorchSize, CodecsEncode, Set, FrozenSet,
    Inert,        // harmless classes seen in real checkpoints: kept as opaque objects
    StorageType,  // torch.FloatStorage & co: only valid inside a persistent id
    NotCallable,  // torch.float16 & co: values, never called
};

struct AllowedGlobal {
    std::string_view module, name;
    Fn fn;
};

constexpr AllowedGlobal kAllowed[] = {
    {"collections", "OrderedDict", Fn::OrderedDict},
    {"torch._utils", "_rebuild_tensor_v2", Fn::RebuildTensorV2},
    {"torch._utils", "_rebuild_tensor", Fn::RebuildTensor},
    {"torch._utils", "_rebuild_parameter", Fn::RebuildParameter},
    {"torch._utils", "_rebuild_parameter_with_state", Fn::RebuildParameterWithState},
    {"torch._tensor", "_rebuild_from_type_v2", Fn::RebuildFromTypeV2},
    {"torch", "Size", Fn::TorchSize},
    {"_codecs", "encode", Fn::CodecsEncode},  // how protocol 2 spells a bytes object
    {"builtins", "set", Fn::Set},
    {"__builtin__", "set", Fn::Set},
    {"builtins", "frozenset", Fn::FrozenSet},
    {"torch", "Tensor", Fn::Inert},
    {"torch.nn.parameter", "Parameter", Fn::Inert},
    {"torch", "device", Fn::Inert},
    {"torch.nn.modules.container", "ParameterDict", Fn::Inert},
    // sd-v1-x.ckpt keys its "callbacks" dict by this class.
    {"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", Fn::Inert},
    // numpy scalars (global_step, best scores) in fine-tuned checkpoints.
    {"numpy.core.multiarray", "scalar", Fn::Inert},
    {"numpy.core.multiarray", "_reconstruct", Fn::Inert},
    {"numpy._core.multiarray", "scalar", Fn::Inert},
    {"numpy._core.multiarray", "_reconstruct", Fn::Inert},
    {"numpy", "dtype", Fn::Inert},
    {"numpy", "ndarray", Fn::Inert},
    {"torch", "float32", Fn::NotCallable},
    {"torch", "float16", Fn::NotCallable},
    {"torch", "bfloat16", Fn::NotCallable},
    {"torch", "float64", Fn::NotCallable},
    {"torch", "int64", Fn::NotCallable},
    {"torch", "int32", Fn::NotCallable},
    {"torch", "uint8", Fn::NotCallable},
    {"torch", "bool", Fn::NotCallable},
};

struct StorageType {
    std::string_view name;
    std::optional<DType> dtype;
    size_t element_size;
};

constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", DType::F32, 4},       {"HalfStorage", DType::F16, 2},
    {"BFloat16Storage", DType::BF16, 2},   {"DoubleStorage", DType::F64, 8},
    {"LongStorage", DType::I64, 8},        {"IntStorage", DType::I32, 4},
    {"ShortStorage", DType::I16, 2},       {"CharStorage", DType::I8, 1},
    {"ByteStorage", DType::U8, 1},         {"BoolStorage", DType::Bool, 1},
    {"ComplexFloatStorage", std::nullopt, 8}, {"ComplexDoubleStorage", std::nullopt, 16},
    {"QInt8Storage", std::nullopt, 1},     {"QUInt8Storage", std::nullopt, 1},
    {"QInt32Storage", std::nullopt, 4},    {"QUInt4x2Storage", std::nullopt, 1},
    {"QUInt2x4Storage", std::nullopt, 1},
};

const StorageType* find_storage_type(std::string_view module, std::string_view name) {
    if (module != "torch") return nullptr;
    for (const auto& t : kStorageTypes)
        if (t.name == name) return &t;
    return nullptr;
}

std::optional<Fn> find_global(std::string_view module, std::string_view name) {
    if (find_storage_type(module, name)) return Fn::StorageType;
    for (const auto& g : kAllowed)
        if (g.module == module && g.name == name) return g.fn;
    return std::nullopt;
}

// Printable, bounded rendering of untrusted text for messages.
std::string printable(std::string_view s, size_t max = 80) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(char(c));
        } else {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    if (s.size() > max) out += "...";
    return out;
}

constexpr int64_t kMaxDim = int64_t(1) << 48;
constexpr int64_t kMaxStride = int64_t(1) << 56;
constexpr int64_t kMaxNumel = int64_t(1) << 60;

}  // namespace

bool global_allowed(std::string_view module, std::string_view name) {
    return find_global(module, name).has_value();
}

class Reader {
public:
    Reader(std::span<const std::byte> data, const std::string& name, const Limits& limits, Pickle& out)
        : d_(data), name_(name), lim_(limits), out_(out) {}

    void run();

private:
    std::span<const std::byte> d_;
    const std::string& name_;
    const Limits& lim_;
    Pickle& out_;
    size_t pos_ = 0;
    size_t op_pos_ = 0;
    std::vector<Value*> stack_;
    std::vector<size_t> marks_;  // stack sizes at each MARK
    std::unordered_map<uint64_t, Value*> memo_;
    size_t memory_ = 0;  // approximate bytes built so far

    void charge(size_t bytes) {
        memory_ += bytes;
        if (memory_ > lim_.max_memory_bytes)
            fail("building it would take more than ", lim_.max_memory_bytes >> 20, " MiB (a memory bomb?)");
    }

    template <class... A>
    [[noreturn]] void fail(const A&... a) const {
        throw error(name_, ": ", a..., " (byte ", op_pos_, ")");
    }

    const std::byte* take(uint64_t n) {
        if (n > d_.size() - pos_) fail("truncated: needs ", n, " more bytes, ", d_.size() - pos_, " left");
        const std::byte* p = d_.data() + pos_;
        pos_ += size_t(n);
        return p;
    }
    uint64_t le(int n) {
        const std::byte* p = take(uint64_t(n));
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
        return v;
    }
    std::string_view line() {
        const size_t max = std::min<size_t>(d_.size() - pos_, 512);
        for (size_t i = 0; i < max; ++i) {
            if (d_[pos_ + i] == std::byte('\n')) {
                std::string_view s(reinterpret_cast<const char*>(d_.data() + pos_), i);
                pos_ += i + 1;
                return s;
            }
        }
        fail("unterminated or overlong text argument");
    }

    Value* make(Kind k) {
        if (out_.arena_.size() >= lim_.max_values) fail("more than ", lim_.max_values, " values");
        charge(sizeof(Value) + 2 * sizeof(void*));
        out_.arena_.push_back(std::make_unique<Value>());
        out_.arena_.back()->kind = k;
        return out_.arena_.back().get();
    }
    Value* make_str(Kind k, const std::byte* p, uint64_t n) {
        Value* v = make(k);
        charge(size_t(n));
        v->s.assign(reinterpret_cast<const char*>(p), size_t(n));
        return v;
    }
    Value* make_int(int64_t i) {
        Value* v = make(Kind::Int);
        v->i = i;
        return v;
    }

    size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    void push(Value* v) {
        if (stack_.size() >= lim_.max_stack) fail("stack grows past ", lim_.max_stack, " values");
        stack_.push_back(v);
    }
    Value* pop() {
        if (stack_.size() <= floor()) fail("stack underflow");
        Value* v = stack_.back();
        stack_.pop_back();
        return v;
    }
    Value* top() {
        if (stack_.size() <= floor()) fail("stack underflow");
        return stack_.back();
    }
    std::vector<Value*> pop_mark() {
        if (marks_.empty()) fail("no MARK to pop to");
        const size_t m = marks_.back();
        marks_.pop_back();
        std::vector<Value*> items(stack_.begin() + std::ptrdiff_t(m), stack_.end());
        stack_.resize(m);
        return items;
    }

    // Appends `src` to a container's slots, charging for the copies.
    void extend(std::vector<Value*>& dst, const std::vector<Value*>& src) {
        charge(src.size() * sizeof(Value*));
        dst.insert(dst.end(), src.begin(), src.end());
    }

    void memo_put(uint64_t idx) {
        Value* v = top();
        if (memo_.size() >= lim_.max_memo && !memo_.count(idx)) fail("memo grows past ", lim_.max_memo, " entries");
        auto [it, fresh] = memo_.try_emplace(idx, v);
        if (fresh) charge(48);
        it->second = v;
    }
    void memo_get(uint64_t idx) {
        auto it = memo_.find(idx);
        if (it == memo_.end()) fail("memo index ", idx, " was never stored");
        push(it->second);
    }

    void set_item(Value* d, Value* k, Value* v) {
        if (d->kind != Kind::Dict) fail("SETITEM on a ", describe(d));
        if (k->kind == Kind::Str && k->s.size() <= kMaxIndexedKey) {
            if (!d->str_keys) d->str_keys = std::make_unique<StringIndex>();
            auto [it, fresh] = d->str_keys->emplace(std::string_view(k->s), d->dict.size());
            if (!fresh) {
                d->dict[it->second].second = v;
                return;
            }
            charge(64);  // the index node
        }
        charge(sizeof(d->dict[0]));
        d->dict.emplace_back(k, v);
    }

    int64_t as_int(const Value* v, const char* what) {
        if (!v || v->kind != Kind::Int) fail(what, " is a ", describe(v), ", expected an int");
        return v->i;
    }
    const Value* as_tuple(const Value* v, const char* what) {
        if (!v || (v->kind != Kind::Tuple && v->kind != Kind::List)) fail(what, " is a ", describe(v), ", expected a tuple");
        return v;
    }

    Value* global(std::string_view module, std::string_view name) {
        auto fn = find_global(module, name);
        if (!fn)
            throw error("the checkpoint tries to run code (global ", printable(module), ".", printable(name),
                        "); refusing to load it");
        Value* v = make(Kind::Global);
        v->s = std::string(module) + "." + std::string(name);
        v->i = int64_t(*fn);
        return v;
    }

    Value* persistent_load(const Value* pid);
    Value* rebuild_tensor(const Value* args, bool v2);
    Value* call(Value* fn, Value* args);
};

Value* Reader::persistent_load(const Value* pid) {
    // torch/serialization.py _save.persistent_id: ('storage', storage_type, key, location, numel)
    if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::Str ||
        pid->items[0]->s != "storage")
        fail("unsupported persistent id ", describe(pid), " (expected a ('storage', ...) tuple)");
    const Value* type = pid->items[1];
    if (type->kind != Kind::Global || Fn(type->i) != Fn::StorageType)
        fail("persistent id names storage type ", describe(type));
    const Value* key = pid->items[2];
    const Value* loc = pid->items[3];
    if (key->kind != Kind::Str || key->s.empty() || key->s.size() > 64 || key->s == "." || key->s == ".." ||
        !std::all_of(key->s.begin(), key->s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }))
        fail("persistent id has an invalid storage key ", describe(key));
    if (loc->kind != Kind::Str) fail("persistent id has a location that is a ", describe(loc));
    const int64_t numel = as_int(pid->items[4], "storage size");
    const auto dot = type->s.find('.');
    const StorageType* st = find_storage_type(std::string_view(type->s).substr(0, dot),
                                              std::string_view(type->s).substr(dot + 1));
    if (numel < 0 || numel > kMaxNumel / int64_t(st->element_size))
        fail("storage '", printable(key->s), "' declares ", numel, " elements");
    Value* v = make(Kind::Storage);
    charge(sizeof(StorageRef) + 128);
    v->storage = std::make_unique<StorageRef>();
    v->storage->type = type->s;
    v->storage->dtype = st->dtype;
    v->storage->element_size = st->element_size;
    v->storage->key = key->s;
    v->storage->location = printable(loc->s, 32);
    v->storage->numel = numel;
    return v;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
// _rebuild_tensor(storage, storage_offset, size, stride)
Value* Reader::rebuild_tensor(const Value* args, bool v2) {
    const size_t n = args->items.size();
    if (v2 ? (n != 6 && n != 7) : n != 4) fail("tensor rebuild takes ", n, " arguments");
    const Value* storage = args->items[0];
    if (storage->kind != Kind::Storage) fail("tensor storage is a ", describe(storage));
    const int64_t offset = as_int(args->items[1], "tensor storage offset");
    const Value* size = as_tuple(args->items[2], "tensor size");
    const Value* stride = as_tuple(args->items[3], "tensor stride");
    if (size->items.size() != stride->items.size())
        fail("tensor size has ", size->items.size(), " dims but its stride has ", stride->items.size());
    if (size->items.size() > lim_.max_dims) fail("tensor has ", size->items.size(), " dims");
    const int64_t numel = storage->storage->numel;
    if (offset < 0 || offset > numel) fail("tensor storage offset ", offset, " lies outside its storage of ", numel, " elements");
    Value* t = make(Kind::Tensor);
    charge(sizeof(TensorRef) + 2 * sizeof(int64_t) * size->items.size());
    t->tensor = std::make_unique<TensorRef>();
    t->tensor->storage = storage;
    t->tensor->offset = offset;
    unsigned __int128 count = 1, last = uint64_t(offset);
    for (size_t i = 0; i < size->items.size(); ++i) {
        const int64_t sz = as_int(size->items[i], "tensor dim");
        const int64_t sd = as_int(stride->items[i], "tensor stride");
        if (sz < 0 || sz > kMaxDim) fail("tensor has an invalid dim ", sz);
        if (sd < 0 || sd > kMaxStride) fail("tensor has an invalid stride ", sd);
        t->tensor->size.push_back(sz);
        t->tensor->stride.push_back(sd);
        count *= uint64_t(sz);
        if (count > uint64_t(kMaxNumel)) fail("tensor shape has an absurd element count");
        if (sz > 0) last += (unsigned __int128)uint64_t(sz - 1) * uint64_t(sd);
    }
    if (count > 0 && last >= (unsigned __int128)uint64_t(numel))
        fail("tensor view ", to_string(t->tensor->size), " at offset ", offset, " runs past its storage of ", numel,
             " elements");
    return t;
}

Value* Reader::call(Value* fn, Value* args) {
    if (fn->kind != Kind::Global) fail("calls a ", describe(fn), ", which is not an allowed callable");
    if (args->kind != Kind::Tuple) fail("calls ", fn->s, " with arguments that are a ", describe(args));
    const auto& a = args->items;
    switch (Fn(fn->i)) {
        case Fn::OrderedDict: {
            Value* d = make(Kind::Dict);
            if (a.empty()) return d;
            if (a.size() != 1) fail("OrderedDict takes ", a.size(), " arguments");
            if (a[0]->kind == Kind::Dict) {
                for (auto& [k, v] : a[0]->dict) set_item(d, k, v);
                return d;
            }
            if (a[0]->kind != Kind::List && a[0]->kind != Kind::Tuple) fail("OrderedDict of a ", describe(a[0]));
            for (Value* p : a[0]->items) {
                if ((p->kind != Kind::Tuple && p->kind != Kind::List) || p->items.size() != 2)
                    fail("OrderedDict item is a ", describe(p));
                set_item(d, p->items[0], p->items[1]);
            }
            return d;
        }
        case Fn::RebuildTensorV2: return rebuild_tensor(args, true);
        case Fn::RebuildTensor: return rebuild_tensor(args, false);
        case Fn::RebuildParameter:
        case Fn::RebuildParameterWithState: {
            const size_t want = Fn(fn->i) == Fn::RebuildParameter ? 3 : 4;
            if (a.size() != want) fail(fn->s, " takes ", a.size(), " arguments");
            if (a[0]->kind != Kind::Tensor) fail("parameter data is a ", describe(a[0]));
            Value* t = make(Kind::Tensor);
            charge(sizeof(TensorRef) + 2 * sizeof(int64_t) * a[0]->tensor->size.size());
            t->tensor = std::make_unique<TensorRef>(*a[0]->tensor);
            t->tensor->parameter = true;
            return t;
        }
        case Fn::RebuildFromTypeV2: {
            // (func, type, args, state): func(*args), then the subclass type and state are dropped.
            if (a.size() != 4) fail(fn->s, " takes ", a.size(), " arguments");
            if (a[0]->kind != Kind::Global || Fn(a[0]->i) == Fn::RebuildFromTypeV2) fail(fn->s, " of a ", describe(a[0]));
            if (a[1]->kind != Kind::Global) fail(fn->s, " with type ", describe(a[1]));
            Value* r = call(a[0], a[2]);
            if (r->kind != Kind::Tensor) fail(fn->s, " did not rebuild a tensor");
            return r;
        }
        case Fn::TorchSize: {
            if (a.size() != 1) fail("torch.Size takes ", a.size(), " arguments");
            const Value* dims = as_tuple(a[0], "torch.Size argument");
            Value* t = make(Kind::Tuple);
            extend(t->items, dims->items);
            return t;
        }
        case Fn::CodecsEncode: {
            // _codecs.encode(str, 'latin1'): each code point below 256 becomes one byte.
            if (a.size() != 2 || a[0]->kind != Kind::Str || a[1]->kind != Kind::Str ||
                (a[1]->s != "latin1" && a[1]->s != "latin-1"))
                fail("_codecs.encode is called with ", a.size(), " arguments (expected str, 'latin1')");
            Value* b = make(Kind::Bytes);
            const std::string& s = a[0]->s;
            for (size_t i = 0; i < s.size(); ++i) {
                const unsigned char c = static_cast<unsigned char>(s[i]);
                if (c < 0x80) {
                    b->s.push_back(char(c));
                } else if ((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < s.size() &&
                           (static_cast<unsigned char>(s[i + 1]) & 0xc0) == 0x80) {
                    b->s.push_back(char(((c & 0x1f) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3f)));
                    ++i;
                } else {
                    fail("_codecs.encode of text that is not latin-1");
                }
            }
            return b;
        }
        case Fn::Set:
        case Fn::FrozenSet: {
            Value* s = make(Kind::Set);
            if (a.empty()) return s;
            if (a.size() != 1 || (a[0]->kind != Kind::List && a[0]->kind != Kind::Tuple && a[0]->kind != Kind::Set))
                fail(fn->s, " of ", a.size(), " arguments");
            extend(s->items, a[0]->items);
            return s;
        }
        case Fn::Inert: {
            Value* o = make(Kind::Object);
            o->s = fn->s;
            extend(o->items, a);
            return o;
        }
        case Fn::StorageType:
        case Fn::NotCallable: break;
    }
    fail("calls ", fn->s, ", which checkpoints never call");
}

void Reader::run() {
    while (true) {
        op_pos_ = pos_;
        if (pos_ >= d_.size()) fail("truncated: ends without a STOP opcode");
        const uint8_t op = uint8_t(d_[pos_++]);
        switch (op) {
            case 0x80: {  // PROTO
                const uint64_t v = le(1);
                if (v > 5) fail("unsupported pickle protocol ", v);
                break;
            }
            case 0x95: le(8); break;  // FRAME: a length hint only
            case '(':                 // MARK
                if (marks_.size() >= lim_.max_marks) fail("nested deeper than ", lim_.max_marks, " levels");
                marks_.push_back(stack_.size());
                break;
            case '.': {  // STOP
                out_.root_ = pop();
                return;
            }
            case '0': if (stack_.size() > floor()) pop(); else pop_mark(); break;  // POP
            case '1': pop_mark(); break;                                            // POP_MARK
            case '2': push(top()); break;                                           // DUP
            case 'N': push(make(Kind::None)); break;
            case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
                Value* v = make(Kind::Bool);
                v->b = op == 0x88;
                push(v);
                break;
            }
            case 'J': push(make_int(int32_t(uint32_t(le(4))))); break;  // BININT
            case 'K': push(make_int(int64_t(le(1)))); break;              // BININT1
            case 'M': push(make_int(int64_t(le(2)))); break;              // BININT2
            case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement
                uint64_t n = op == 0x8a ? le(1) : le(4);
                if (op == 0x8b && n > 0x7fffffffu) fail("LONG4 with a negative length");
                const std::byte* p = take(n);
                if (n > 8) {
                    push(make(Kind::BigInt));
                    break;
                }
                uint64_t v = 0;
                for (uint64_t i = n; i-- > 0;) v = (v << 8) | uint8_t(p[i]);
                if (n > 0 && n < 8 && (uint8_t(p[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);
                push(make_int(int64_t(v)));
                break;
            }
            case 'G': {  // BINFLOAT: big-endian double
                const std::byte* p = take(8);
                uint64_t u = 0;
                for (int i = 0; i < 8; ++i) u = (u << 8) | uint8_t(p[i]);
                Value* v = make(Kind::Float);
                std::memcpy(&v->f, &u, 8);
                push(v);
                break;
            }
            case 'X': { const uint64_t n = le(4); push(make_str(Kind::Str, take(n), n)); break; }    // BINUNICODE
            case 0x8c: { const uint64_t n = le(1); push(make_str(Kind::Str, take(n), n)); break; }   // SHORT_BINUNICODE
            case 0x8d: { const uint64_t n = le(8); push(make_str(Kind::Str, take(n), n)); break; }   // BINUNICODE8
            case 'T': {  // BINSTRING (signed length)
                const uint64_t n = le(4);
                if (n > 0x7fffffffu) fail("BINSTRING with a negative length");
                push(make_str(Kind::Str, take(n), n));
                break;
            }
            case 'U': { const uint64_t n = le(1); push(make_str(Kind::Str, take(n), n)); break; }    // SHORT_BINSTRING
            case 'B': { const uint64_t n = le(4); push(make_str(Kind::Bytes, take(n), n)); break; }  // BINBYTES
            case 'C': { const uint64_t n = le(1); push(make_str(Kind::Bytes, take(n), n)); break; }  // SHORT_BINBYTES
            case 0x8e: case 0x96: { const uint64_t n = le(8); push(make_str(Kind::Bytes, take(n), n)); break; }  // BINBYTES8, BYTEARRAY8
            case ')': push(make(Kind::Tuple)); break;  // EMPTY_TUPLE
            case 0x85: case 0x86: case 0x87: {         // TUPLE1..3
                const size_t n = size_t(op - 0x84);
                if (stack_.size() < floor() + n) fail("stack underflow");
                Value* t = make(Kind::Tuple);
                extend(t->items, std::vector<Value*>(stack_.end() - std::ptrdiff_t(n), stack_.end()));
                stack_.resize(stack_.size() - n);
                push(t);
                break;
            }
            case 't': { Value* t = make(Kind::Tuple); extend(t->items, pop_mark()); push(t); break; }  // TUPLE
            case ']': push(make(Kind::List)); break;                                            // EMPTY_LIST
            case 'l': { Value* l = make(Kind::List); extend(l->items, pop_mark()); push(l); break; }  // LIST
            case '}': push(make(Kind::Dict)); break;                                            // EMPTY_DICT
            case 0x8f: push(make(Kind::Set)); break;                                            // EMPTY_SET
            case 0x91: { Value* s = make(Kind::Set); extend(s->items, pop_mark()); push(s); break; }  // FROZENSET
            case 'd': {  // DICT
                auto items = pop_mark();
                if (items.size() % 2) fail("DICT with an odd number of items");
                Value* d = make(Kind::Dict);
                for (size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
                push(d);
                break;
            }
            case 's': {  // SETITEM
                Value* v = pop();
                Value* k = pop();
                set_item(top(), k, v);
                break;
            }
            case 'u': {  // SETITEMS
                auto items = pop_mark();
                if (items.size() % 2) fail("SETITEMS with an odd number of items");
                Value* d = top();
                for (size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
                break;
            }
            case 'a': {  // APPEND
                Value* v = pop();
                Value* l = top();
                if (l->kind != Kind::List) fail("APPEND to a ", describe(l));
                extend(l->items, {v});
                break;
            }
            case 'e': {  // APPENDS
                auto items = pop_mark();
                Value* l = top();
                if (l->kind != Kind::List) fail("APPENDS to a ", describe(l));
                extend(l->items, items);
                break;
            }
            case 0x90: {  // ADDITEMS
                auto items = pop_mark();
                Value* s = top();
                if (s->kind != Kind::Set) fail("ADDITEMS to a ", describe(s));
                extend(s->items, items);
                break;
            }
            case 'q': memo_put(le(1)); break;                // BINPUT
            case 'r': memo_put(le(4)); break;                // LONG_BINPUT
            case 0x94: memo_put(memo_.size()); break;        // MEMOIZE
            case 'h': memo_get(le(1)); break;                // BINGET
            case 'j': memo_get(le(4)); break;                // LONG_BINGET
            case 'c': {                                      // GLOBAL "module\nname\n"
                const std::string_view module = line();
                const std::string_view name = line();
                push(global(module, name));
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                Value* name = pop();
                Value* module = pop();
                if (module->kind != Kind::Str || name->kind != Kind::Str) fail("STACK_GLOBAL of non-strings");
                push(global(module->s, name->s));
                break;
            }
            case 'i': {  // INST "module\nname\n": class(*args-since-mark)
                const std::string_view module = line();
                const std::string_view name = line();
                Value* cls = global(module, name);
                Value* args = make(Kind::Tuple);
                extend(args->items, pop_mark());
                push(call(cls, args));
                break;
            }
            case 'o': {  // OBJ: MARK cls args... OBJ
                auto items = pop_mark();
                if (items.empty()) fail("OBJ without a class");
                Value* args = make(Kind::Tuple);
                extend(args->items, std::vector<Value*>(items.begin() + 1, items.end()));
                push(call(items[0], args));
                break;
            }
            case 'R': {  // REDUCE
                Value* args = pop();
                Value* fn = pop();
                push(call(fn, args));
                break;
            }
            case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
                Value* args = pop();
                Value* cls = pop();
                push(call(cls, args));
                break;
            }
            case 0x92: {  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
                Value* kwargs = pop();
                Value* args = pop();
                Value* cls = pop();
                if (kwargs->kind != Kind::Dict || !kwargs->dict.empty()) fail("NEWOBJ_EX with keyword arguments");
                push(call(cls, args));
                break;
            }
            case 'b': {  // BUILD: the state is recorded, never applied through code
                Value* state = pop();
                Value* inst = top();
                if (inst->kind != Kind::Dict && inst->kind != Kind::Object && inst->kind != Kind::Tensor)
                    fail("BUILD on a ", describe(inst));
                inst->state = state;
                break;
            }
            case 'Q': {  // BINPERSID
                Value* pid = pop();
                push(persistent_load(pid));
                break;
            }
            case 0x82: case 0x83: case 0x84:
                fail("uses the copyreg extension registry (EXT", op == 0x82 ? 1 : op == 0x83 ? 2 : 4,
                     "), which checkpoints never do");
            default:
                if (op >= 0x20 && op < 0x7f) fail("unsupported pickle opcode '", char(op), "'");
                fail("unsupported pickle opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15]);
        }
    }
}

Pickle unpickle(std::span<const std::byte> data, const std::string& name, const Limits& limits) {
    Pickle p;
    Reader r(data, name, limits, p);
    r.run();
    return p;
}

const Value* dict_get(const Value* d, std::string_view key) {
    if (!d || d->kind != Kind::Dict) return nullptr;
    if (!d->str_keys) return nullptr;
    auto it = d->str_keys->find(key);
    return it == d->str_keys->end() ? nullptr : d->dict[it->second].second;
}

std::string describe(const Value* v) {
    if (!v) return "nothing";
    switch (v->kind) {
        case Kind::None: return "None";
        case Kind::Bool: return v->b ? "bool True" : "bool False";
        case Kind::Int: return "int " + std::to_string(v->i);
        case Kind::BigInt: return "int wider than 64 bits";
        case Kind::Float: return "float";
        case Kind::Str: return "str '" + printable(v->s, 40) + "'";
        case Kind::Bytes: return "bytes (" + std::to_string(v->s.size()) + ")";
        case Kind::Tuple: return "tuple (" + std::to_string(v->items.size()) + " items)";
        case Kind::List: return "list (" + std::to_string(v->items.size()) + " items)";
        case Kind::Dict: return "dict (" + std::to_string(v->dict.size()) + " entries)";
        case Kind::Set: return "set (" + std::to_string(v->items.size()) + " items)";
        case Kind::Global: return "global " + printable(v->s);
        case Kind::Object: return "object " + printable(v->s);
        case Kind::Storage: return "storage '" + printable(v->storage->key) + "'";
        case Kind::Tensor: return "tensor " + to_string(v->tensor->size);
    }
    return "value";
}

}  // namespace sdpp::pickle
