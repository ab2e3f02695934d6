#include "io/safetensors.h"

#include "core/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace sdpp {

namespace {
constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit
constexpr int64_t kMaxDim = int64_t(1) << 40;
}  // namespace

std::optional<DType> dtype_from_safetensors(const std::string& s) {
    if (s == "F32") return DType::F32;
    if (s == "F16") return DType::F16;
    if (s == "BF16") return DType::BF16;
    if (s == "F64") return DType::F64;
    if (s == "I64") return DType::I64;
    if (s == "I32") return DType::I32;
    if (s == "I16") return DType::I16;
    if (s == "I8") return DType::I8;
    if (s == "U8") return DType::U8;
    if (s == "BOOL") return DType::Bool;
    return std::nullopt;
}

const char* dtype_to_safetensors(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F64: return "F64";
        case DType::I64: return "I64";
        case DType::I32: return "I32";
        case DType::I16: return "I16";
        case DType::I8: return "I8";
        case DType::U8: return "U8";
        case DType::Bool: return "BOOL";
    }
    return "?";
}

namespace {

// Streaming (SAX) reader of the header: no JSON tree is built, so neither deep nesting nor long
// arrays can blow memory. The layout is fixed: {"name": {"dtype": s, "shape": [u...],
// "data_offsets": [u, u]}, ..., "__metadata__": {"k": "v", ...}}, i.e. at most three levels.
// Each handler returns false to stop the parse after recording the first problem in `err`.
struct HeaderSax {
    using json = nlohmann::json;
    HeaderSax(SafetensorsHeader& o, uint64_t n) : out(o), data_size(n) {}
    SafetensorsHeader& out;
    uint64_t data_size = 0;
    std::string err;
    int depth = 0;              // 1 inside the root object, 2 inside an entry, 3 inside an array
    std::string name;           // current root key
    std::string field;          // current key inside the entry / metadata
    bool meta = false;          // inside __metadata__
    int array = 0;              // 1 shape, 2 data_offsets, 3 an ignored field
    std::set<std::string> names;
    std::optional<std::string> dtype;
    bool has_shape = false, has_offsets = false;
    Shape shape;
    std::vector<uint64_t> offsets;

    bool fail(std::string m) {
        if (err.empty()) err = std::move(m);
        return false;
    }
    bool entry_shape_error() { return fail(detail::concat("entry '", name, "' lacks a valid dtype, shape or data_offsets")); }
    // A scalar (described by `what`) where the layout allows none, or in an array element.
    bool scalar(const std::string& what, std::optional<uint64_t> unsigned_value) {
        switch (depth) {
            case 0: return fail("safetensors header is not a JSON object");
            case 1:
                return fail(name == "__metadata__" ? std::string("__metadata__ is not a JSON object")
                                                   : detail::concat("entry '", name, "' is not a JSON object"));
            case 2:
                if (meta) return fail(detail::concat("__metadata__ value for '", field, "' is not a string"));
                if (field == "dtype" || field == "shape" || field == "data_offsets") return entry_shape_error();
                return true;  // unknown fields are ignored
            default:
                if (array == 1) {
                    if (!unsigned_value || *unsigned_value > uint64_t(kMaxDim))
                        return fail(detail::concat("tensor '", name, "' has an invalid dimension ", what));
                    if (shape.size() >= 64) return fail(detail::concat("tensor '", name, "' has more than 64 dimensions"));
                    shape.push_back(int64_t(*unsigned_value));
                } else if (array == 2) {
                    if (!unsigned_value || offsets.size() >= 2)
                        return fail(detail::concat("tensor '", name, "' has invalid data_offsets"));
                    offsets.push_back(*unsigned_value);
                }
                return true;
        }
    }
    bool null() { return scalar("null", std::nullopt); }
    bool boolean(bool) { return scalar("a boolean", std::nullopt); }
    bool number_integer(json::number_integer_t v) { return scalar(std::to_string(v), std::nullopt); }
    bool number_unsigned(json::number_unsigned_t v) { return scalar(std::to_string(v), v); }
    bool number_float(json::number_float_t, const std::string& s) { return scalar(s, std::nullopt); }
    bool binary(json::binary_t&) { return scalar("binary", std::nullopt); }
    bool string(std::string& v) {
        if (depth == 2 && meta) {
            out.metadata[field] = v;
            return true;
        }
        if (depth == 2 && field == "dtype") {
            dtype = v;
            return true;
        }
        return scalar("\"" + v.substr(0, 40) + "\"", std::nullopt);
    }
    bool key(std::string& k) {
        if (depth == 1) {
            name = k;
            if (!names.insert(k).second) return fail(detail::concat("tensor name '", k, "' appears twice in the safetensors header"));
        } else {
            field = k;
        }
        return true;
    }
    bool start_object(std::size_t) {
        if (depth == 0) {
            depth = 1;
            return true;
        }
        if (depth == 1) {
            depth = 2;
            meta = name == "__metadata__";
            dtype.reset();
            has_shape = has_offsets = false;
            shape.clear();
            offsets.clear();
            return true;
        }
        if (depth >= 3) return nested();
        return scalar("an object", std::nullopt);
    }
    bool nested() { return fail(detail::concat("entry '", name, "' nests arrays or objects in field '", field, "'")); }
    bool end_object() {
        if (depth == 2 && !meta && !finish_entry()) return false;
        --depth;
        return true;
    }
    bool start_array(std::size_t) {
        if (depth >= 3) return nested();
        if (depth != 2 || meta) return scalar("an array", std::nullopt);
        depth = 3;
        if (field == "shape") {
            array = 1;
            has_shape = true;
            shape.clear();
        } else if (field == "data_offsets") {
            array = 2;
            has_offsets = true;
            offsets.clear();
        } else {
            array = 3;
        }
        return true;
    }
    bool end_array() {
        --depth;
        array = 0;
        return true;
    }
    bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception&) {
        return fail(detail::concat("safetensors header is not valid JSON (at byte ", pos, " of the header)"));
    }

    bool finish_entry() {
        if (!dtype || !has_shape || !has_offsets) return entry_shape_error();
        SafetensorsEntry e;
        e.name = name;
        auto d = dtype_from_safetensors(*dtype);
        if (!d) return fail(detail::concat("tensor '", name, "' has unsupported dtype ", *dtype));
        e.dtype = *d;
        uint64_t count = 1;
        for (int64_t dim : shape) {
            if (dim != 0 && count > (uint64_t(1) << 62) / uint64_t(dim))
                return fail(detail::concat("tensor '", name, "' has an absurd element count (shape ", to_string(shape), ")"));
            count *= uint64_t(dim);
        }
        e.shape = shape;
        if (offsets.size() != 2) return fail(detail::concat("tensor '", name, "' has invalid data_offsets"));
        e.begin = offsets[0];
        e.end = offsets[1];
        if (e.begin > e.end || e.end > data_size)
            return fail(detail::concat("tensor '", name, "' data [", e.begin, ", ", e.end,
                                       ") lies outside the data area of ", data_size, " bytes: truncated?"));
        if (count > (uint64_t(1) << 62) / dtype_size(e.dtype))
            return fail(detail::concat("tensor '", name, "' has an absurd byte size (shape ", to_string(shape), ")"));
        if (e.end - e.begin != count * dtype_size(e.dtype))
            return fail(detail::concat("tensor '", name, "' has ", e.end - e.begin, " bytes but shape ", to_string(e.shape),
                                       " x ", dtype_name(e.dtype), " needs ", count * dtype_size(e.dtype)));
        out.entries.push_back(std::move(e));
        return true;
    }
};

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::byte* data, size_t size) {
    if (size < 8) throw error("not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(data[i]);
    if (n > kMaxHeaderBytes) throw error("safetensors header length ", n, " exceeds the 100 MiB limit");
    if (n > size - 8) throw error("safetensors header length ", n, " runs past the end of the file (", size, " bytes): truncated?");

    SafetensorsHeader out;
    out.data_offset = 8 + n;
    HeaderSax sax(out, size - out.data_offset);
    const char* text = reinterpret_cast<const char*>(data + 8);
    const bool ok = nlohmann::json::sax_parse(text, text + n, &sax);
    if (!sax.err.empty()) throw Error(sax.err);
    if (!ok) throw error("safetensors header is not valid JSON");

    std::sort(out.entries.begin(), out.entries.end(),
              [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    for (size_t i = 1; i < out.entries.size(); ++i) {
        const auto& a = out.entries[i - 1];
        const auto& b = out.entries[i];
        if (b.begin < a.end) throw error("tensors '", a.name, "' and '", b.name, "' overlap in the data area");
    }
    return out;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    SafetensorsFile f;
    f.file_ = MappedFile::open(path);
    try {
        f.header_ = parse_safetensors_header(f.file_->data(), f.file_->size());
    } catch (const Error& e) {
        throw error(path, ": ", e.what());
    }
    for (size_t i = 0; i < f.header_.entries.size(); ++i) f.index_[f.header_.entries[i].name] = i;
    return f;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &header_.entries[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
    const SafetensorsEntry* e = find(name);
    if (!e) throw error(path(), ": no tensor named '", name, "'");
    return get(*e);
}

Tensor SafetensorsFile::get(const SafetensorsEntry& e) const {
    const std::byte* p = file_->data() + header_.data_offset + e.begin;
    // The format does not promise alignment; element access through a misaligned pointer is
    // undefined, so such tensors are copied (writers that pad the header to 8 bytes never need it).
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {
        Tensor t = Tensor::empty(e.shape, e.dtype);
        std::memcpy(t.raw(), p, size_t(e.end - e.begin));
        return t;
    }
    return Tensor::borrow(file_, p, e.shape, e.dtype);
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata, bool overwrite) {
    namespace fs = std::filesystem;
    if (!overwrite && fs::exists(path)) throw error(path, ": file exists (not overwriting)");
    nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
    if (!metadata.empty()) hdr["__metadata__"] = metadata;
    uint64_t off = 0;
    std::set<std::string> names;
    for (auto& [name, t] : tensors) {
        SDPP_CHECK(names.insert(name).second, "save_safetensors: duplicate tensor name '", name, "'");
        SDPP_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
        hdr[name] = {{"dtype", dtype_to_safetensors(t.dtype())}, {"shape", t.shape()},
                     {"data_offsets", {off, off + t.nbytes()}}};
        off += t.nbytes();
    }
    std::string h = hdr.dump();
    while ((8 + h.size()) % 8) h.push_back(' ');  // keep the data area 8-byte aligned
    const std::string tmp = path + ".tmp";
    {
        std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
        if (!os) throw error(path, ": cannot write");
        uint64_t n = h.size();
        char len[8];
        for (int i = 0; i < 8; ++i) len[i] = char((n >> (8 * i)) & 0xff);
        os.write(len, 8);
        os.write(h.data(), std::streamsize(h.size()));
        for (auto& [name, t] : tensors) {
            Tensor c = t.contiguous();
            os.write(static_cast<const char*>(c.raw()), std::streamsize(c.nbytes()));
        }
        if (!os) {
            os.close();
            std::remove(tmp.c_str());
            throw error(path, ": write failed (disk full?)");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw error(path, ": cannot rename temporary file: ", ec.message());
    }
}

}  // namespace sdpp
