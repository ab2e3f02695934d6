// .ckpt reading: torch/serialization.py _load (zip branch) without executing anything.
// data.pkl is parsed by the restricted unpickler; each persistent id ('storage', type, key,
// location, numel) names the record <archive>/data/<key>, and each _rebuild_tensor_v2 becomes a
// view (offset, size, stride, in elements) into that storage.
#include "io/ckpt.h"

#include "core/error.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>

namespace sdpp {

namespace {

constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                          0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

constexpr int64_t kMaxBroadcastElements = int64_t(1) << 24;

struct StorageBytes {
    std::shared_ptr<const void> owner;
    const std::byte* data = nullptr;
    uint64_t size = 0;
    bool mapped = false;  // borrowed from the file's memory, not copied
};

// Copies an arbitrary strided view (possibly overlapping) into a fresh contiguous tensor.
Tensor gather(const std::byte* base, DType dt, const Shape& size, const std::vector<int64_t>& stride) {
    Tensor out = Tensor::empty(size, dt);
    const size_t es = dtype_size(dt);
    const int64_t n = numel_of(size);
    auto* dst = static_cast<std::byte*>(out.raw());
    std::vector<int64_t> idx(size.size(), 0);
    int64_t off = 0;  // element offset of idx
    for (int64_t k = 0; k < n; ++k) {
        std::memcpy(dst + size_t(k) * es, base + size_t(off) * es, es);
        for (int d = int(size.size()) - 1; d >= 0; --d) {
            if (++idx[d] < size[d]) {
                off += stride[d];
                break;
            }
            off -= (size[d] - 1) * stride[d];
            idx[d] = 0;
        }
    }
    return out;
}

// A Tensor with exactly the given strides over `base` (a storage of `numel` elements, the view
// already checked to lie inside it), without copying when the strides can be expressed as
// slices, permutes and expands of a contiguous block. Returns an undefined tensor otherwise
// (overlapping or irregular strides).
Tensor strided_view(const std::shared_ptr<const void>& owner, const std::byte* base, DType dt, const Shape& size,
                    const std::vector<int64_t>& stride) {
    const int nd = int(size.size());
    // Dims that address memory: size > 1 and stride > 0, ordered outermost (largest stride) first.
    std::vector<int> keep;
    for (int i = 0; i < nd; ++i)
        if (size[i] > 1 && stride[i] > 0) keep.push_back(i);
    std::stable_sort(keep.begin(), keep.end(), [&](int a, int b) { return stride[a] > stride[b]; });
    Shape parent;
    for (size_t j = 0; j < keep.size(); ++j) {
        if (j == 0) {
            parent.push_back(size[keep[j]]);
        } else {
            const int64_t outer = stride[keep[j - 1]], s = stride[keep[j]];
            // Non-overlapping nesting: the inner dim fits inside one step of the outer one.
            if (outer % s != 0 || outer / s < size[keep[j]]) return {};
            parent.push_back(outer / s);
        }
    }
    const int64_t inner = keep.empty() ? 1 : stride[keep.back()];
    if (inner > 1) parent.push_back(inner);
    Tensor t = Tensor::borrow(owner, base, parent, dt);
    for (size_t j = 1; j < keep.size(); ++j) t = t.slice(int(j), 0, size[keep[j]]);
    if (inner > 1) t = t.select(int(keep.size()), 0);
    // t's dims follow `keep` (stride order); put them back in index order.
    std::vector<int> order(keep.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return keep[a] < keep[b]; });
    t = t.permute(order);
    // Re-insert the size-1 and stride-0 dims, then broadcast the stride-0 ones.
    for (int i = 0; i < nd; ++i)
        if (!(size[i] > 1 && stride[i] > 0)) t = t.unsqueeze(i);
    t = t.expand(size);
    for (int i = 0; i < nd; ++i)
        if (size[i] > 1 && t.strides()[i] != stride[i]) return {};
    return t;
}

// Rejects what is not torch.save's zip format before the zip reader sees it, naming the legacy
// formats (tar, bare pickle) so the user knows to re-save the file.
void check_zip_format(const std::byte* data, size_t size, const std::string& name) {
    if (is_legacy_torch_file(data, size))
        throw error(name, ": unsupported legacy format (torch < 1.6, not a zip archive); re-save it with a "
                          "recent torch or convert it to safetensors");
    if (size >= 1 && uint8_t(data[0]) == 0x80)
        throw error(name, ": unsupported legacy format (a bare pickle, not torch.save's zip archive)");
    if (size < 4 || std::memcmp(data, "PK\x03\x04", 4) != 0)
        throw error(name, ": not a PyTorch checkpoint (not a zip archive)");
}

// The one <archive>/data.pkl record, with <archive> a single top-level folder; two would be ambiguous.
const ZipEntry& find_data_pkl(const ZipArchive& zip, const std::string& name) {
    const ZipEntry* pkl = nullptr;
    for (const auto& e : zip.entries()) {
        const auto slash = e.name.find('/');
        if (slash == std::string::npos || slash == 0 || e.name.compare(slash, std::string::npos, "/data.pkl") != 0)
            continue;
        if (pkl) throw error(name, ": the archive holds two data.pkl records ('", pkl->name, "' and '", e.name, "')");
        pkl = &e;
    }
    if (!pkl) throw error(name, ": the archive has no <folder>/data.pkl record: not a PyTorch checkpoint");
    return *pkl;
}

// Storages are read as little-endian; an archive that records another byte order is refused.
void check_byteorder(const ZipArchive& zip, const std::string& prefix, const std::string& name) {
    if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
        auto b = zip.read(*bo, 16);
        std::string s(reinterpret_cast<const char*>(b.data()), b.size());
        if (s != "little") throw error(name, ": storages are stored with byte order '", s, "'; only little-endian is read");
    }
}

// Bytes the reader may copy into owned memory (unaligned or compressed storages, overlapping
// views): the limit, else physical memory, else the zip entry limit.
uint64_t owned_budget_of(const CkptLimits& limits) {
    uint64_t owned_budget = limits.max_owned_bytes ? limits.max_owned_bytes : physical_memory_bytes();
    if (owned_budget == 0) owned_budget = limits.zip.max_entry_bytes;
    return owned_budget;
}

// Reads and unpickles data.pkl within the size limit; unpickler errors get the file name in front.
pickle::Pickle read_pickle(const ZipArchive& zip, const ZipEntry& pkl, const std::string& name,
                           const CkptLimits& limits) {
    if (pkl.size > limits.max_pickle_bytes)
        throw error(name, ": data.pkl is ", pkl.size, " bytes, more than the limit of ", limits.max_pickle_bytes);
    const std::vector<std::byte> pkl_bytes = zip.read(pkl, limits.max_pickle_bytes);
    try {
        return pickle::unpickle(pkl_bytes, "data.pkl", limits.pickle);
    } catch (const Error& e) {
        throw error(name, ": ", e.what());
    }
}

// Number of tensor values in a dict (0 for anything else).
size_t count_tensors(const pickle::Value* d) {
    size_t n = 0;
    if (d && d->kind == pickle::Kind::Dict)
        for (auto& kv : d->dict) n += kv.second->kind == pickle::Kind::Tensor;
    return n;
}

// The dict of tensors: the top level, or the one under state_dict / model / module (whose key goes
// to `nesting`); training checkpoints keep optimizer state and the like next to it. A1111
// textual-inversion embeddings keep theirs under string_to_param ({'*': [N, W]}).
const pickle::Value* find_state_dict(const pickle::Value* root, const std::string& name, std::string& nesting) {
    using pickle::Kind;
    if (root->kind != Kind::Dict)
        throw error(name, ": the checkpoint holds a ", pickle::describe(root), ", not a dict of tensors");
    const pickle::Value* sd = nullptr;
    for (const char* key : {"state_dict", "model", "module", "string_to_param"}) {
        const pickle::Value* v = pickle::dict_get(root, key);
        if (v && v->kind == Kind::Dict && count_tensors(v) > 0 && (count_tensors(root) == 0 || key == std::string("state_dict"))) {
            sd = v;
            nesting = key;
            break;
        }
    }
    if (!sd) sd = root;
    if (count_tensors(sd) == 0) {
        std::string keys;
        for (size_t i = 0; i < root->dict.size() && i < 8; ++i)
            keys += (i ? ", " : "") + pickle::describe(root->dict[i].first);
        throw error(name, ": the checkpoint holds no tensors (top-level keys: ", keys.empty() ? "none" : keys, ")");
    }
    return sd;
}

// The bytes of record <archive>/data/<key>: borrowed from the file's memory when stored and
// aligned, else read into owned memory charged to `owned_budget`.
StorageBytes read_storage(const ZipArchive& zip, const std::string& prefix, const std::string& key,
                          const std::string& tname, const std::string& name, uint64_t& owned_budget) {
    const ZipEntry* e = zip.find(prefix + "data/" + key);
    if (!e) throw error(name, ": storage '", key, "' of tensor '", tname, "' is missing from the archive");
    StorageBytes sb;
    auto span = zip.stored_span(*e);
    if (span && reinterpret_cast<uintptr_t>(span->data()) % 8 == 0) {  // torch aligns to 64
        sb.owner = zip.owner();
        sb.data = span->data();
        sb.size = span->size();
        sb.mapped = true;
    } else {
        auto buf = std::make_shared<std::vector<std::byte>>(zip.read(*e, owned_budget));
        owned_budget -= buf->size();
        sb.data = buf->data();
        sb.size = buf->size();
        sb.owner = std::move(buf);
    }
    return sb;
}

// The tensor a _rebuild_tensor_v2 describes, as a view into its storage when the strides allow,
// else copied within `owned_budget`; refuses views that name more bytes than the storage holds.
Tensor tensor_from_storage(const StorageBytes& sb, const pickle::TensorRef& tr, const pickle::StorageRef& sr,
                           const std::string& tname, const std::string& name, uint64_t& owned_budget) {
    const DType dt = *sr.dtype;
    const uint64_t need = uint64_t(sr.numel) * sr.element_size;
    if (sb.size < need)
        throw error(name, ": storage '", sr.key, "' holds ", sb.size, " bytes but tensor '", tname, "' declares ",
                    sr.numel, " x ", sr.element_size, " = ", need, " bytes: truncated?");
    const int64_t numel = numel_of(tr.size);
    // Broadcast (stride 0) or overlapping views can name far more elements than their storage
    // holds; anything that later materialises them would allocate that much. Real checkpoints
    // only do this for small buffers (CLIP's position_ids is an expanded arange).
    if (numel > std::max<int64_t>(sr.numel, kMaxBroadcastElements))
        throw error(name, ": tensor '", tname, "' views ", numel, " elements through a storage of ", sr.numel,
                    " (broadcast strides); refusing to load it");
    const std::byte* first = sb.data + uint64_t(tr.offset) * sr.element_size;
    if (numel == 0) return Tensor::empty(tr.size, dt);
    Tensor t = strided_view(sb.owner, first, dt, tr.size, tr.stride);
    if (!t.defined()) {
        // Overlapping strides: materialise, within the copy budget.
        const uint64_t bytes = uint64_t(numel) * sr.element_size;
        if (bytes > owned_budget)
            throw error(name, ": tensor '", tname, "' is an overlapping view of ", numel,
                        " elements; refusing to copy ", bytes, " bytes");
        owned_budget -= bytes;
        t = gather(first, dt, tr.size, tr.stride);
    }
    return t;
}

}  // namespace

bool is_legacy_torch_file(const std::byte* data, size_t size) {
    if (size >= sizeof(kLegacyMagic) && std::memcmp(data, kLegacyMagic, sizeof(kLegacyMagic)) == 0) return true;
    if (size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0) return true;
    return false;
}

CkptFile CkptFile::open(const std::string& path, const CkptLimits& limits) {
    auto m = MappedFile::open(path);
    const std::byte* d = m->data();
    const size_t n = m->size();
    return from_memory(std::move(m), d, n, path, limits);
}

CkptFile CkptFile::from_memory(std::shared_ptr<const void> owner, const std::byte* data, size_t size,
                               const std::string& name, const CkptLimits& limits) {
    CkptFile f;
    f.path_ = name;
    check_zip_format(data, size, name);
    ZipArchive zip = ZipArchive::from_memory(owner, data, size, name, limits.zip);
    const ZipEntry& pkl = find_data_pkl(zip, name);
    f.archive_name_ = pkl.name.substr(0, pkl.name.size() - std::string_view("/data.pkl").size());
    const std::string prefix = f.archive_name_ + "/";
    check_byteorder(zip, prefix, name);
    uint64_t owned_budget = owned_budget_of(limits);
    const pickle::Pickle pk = read_pickle(zip, pkl, name, limits);
    const pickle::Value* sd = find_state_dict(pk.root(), name, f.nesting_);

    // One entry per storage key: tensors sharing a storage share its bytes.
    std::map<std::string, StorageBytes> storages;
    for (const auto& [k, v] : sd->dict) {
        if (v->kind != pickle::Kind::Tensor) continue;
        if (k->kind != pickle::Kind::Str)
            throw error(name, ": a tensor is keyed by a ", pickle::describe(k), ", not a name");
        const std::string& tname = k->s;
        if (k->s.size() > 4096) throw error(name, ": a tensor name is ", k->s.size(), " bytes long");
        const pickle::TensorRef& tr = *v->tensor;
        const pickle::StorageRef& sr = *tr.storage->storage;
        if (!sr.dtype)
            throw error(name, ": tensor '", tname, "' is stored as ", sr.type, ", a type sdpp does not read");
        auto it = storages.find(sr.key);
        if (it == storages.end()) {
            StorageBytes sb = read_storage(zip, prefix, sr.key, tname, name, owned_budget);
            ++(sb.mapped ? f.mapped_storages_ : f.copied_storages_);
            it = storages.emplace(sr.key, std::move(sb)).first;
        }
        f.tensors_.emplace_back(tname, tensor_from_storage(it->second, tr, sr, tname, name, owned_budget));
    }
    return f;
}

}  // namespace sdpp
