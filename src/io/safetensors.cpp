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

SafetensorsHeader parse_safetensors_header(const std::byte* data, size_t size) {
    if (size < 8) throw error("not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(data[i]);
    if (n > kMaxHeaderBytes) throw error("safetensors header length ", n, " exceeds the 100 MiB limit");
    if (n > size - 8) throw error("safetensors header length ", n, " runs past the end of the file (", size, " bytes): truncated?");

    const char* text = reinterpret_cast<const char*>(data + 8);
    // Detect duplicate top-level names while parsing (nlohmann keeps the last one silently).
    std::set<std::string> seen;
    std::string dup;
    auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& j) {
        if (ev == nlohmann::json::parse_event_t::key && depth == 1) {
            auto k = j.get<std::string>();
            if (!seen.insert(k).second && dup.empty()) dup = k;
        }
        return true;
    };
    nlohmann::json hdr = nlohmann::json::parse(text, text + n, cb, /*allow_exceptions=*/false);
    if (hdr.is_discarded()) throw error("safetensors header is not valid JSON");
    if (!hdr.is_object()) throw error("safetensors header is not a JSON object");
    if (!dup.empty()) throw error("tensor name '", dup, "' appears twice in the safetensors header");

    SafetensorsHeader out;
    out.data_offset = 8 + n;
    const uint64_t data_size = size - out.data_offset;
    for (auto& [name, v] : hdr.items()) {
        if (name == "__metadata__") {
            if (!v.is_object()) throw error("__metadata__ is not a JSON object");
            for (auto& [k, mv] : v.items()) {
                if (!mv.is_string()) throw error("__metadata__ value for '", k, "' is not a string");
                out.metadata[k] = mv.get<std::string>();
            }
            continue;
        }
        if (!v.is_object()) throw error("entry '", name, "' is not a JSON object");
        auto dt = v.find("dtype");
        auto sh = v.find("shape");
        auto off = v.find("data_offsets");
        if (dt == v.end() || !dt->is_string() || sh == v.end() || !sh->is_array() || off == v.end() ||
            !off->is_array() || off->size() != 2)
            throw error("entry '", name, "' lacks a valid dtype, shape or data_offsets");
        SafetensorsEntry e;
        e.name = name;
        auto d = dtype_from_safetensors(dt->get<std::string>());
        if (!d) throw error("tensor '", name, "' has unsupported dtype ", dt->get<std::string>());
        e.dtype = *d;
        uint64_t count = 1;
        for (auto& x : *sh) {
            if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > kMaxDim)
                throw error("tensor '", name, "' has an invalid dimension ", x.dump());
            int64_t dim = x.get<int64_t>();
            e.shape.push_back(dim);
            if (dim != 0 && count > (uint64_t(1) << 62) / uint64_t(dim))
                throw error("tensor '", name, "' has an absurd element count");
            count *= uint64_t(dim);
        }
        for (auto& x : *off)
            if (!x.is_number_unsigned()) throw error("tensor '", name, "' has invalid data_offsets");
        e.begin = (*off)[0].get<uint64_t>();
        e.end = (*off)[1].get<uint64_t>();
        if (e.begin > e.end || e.end > data_size)
            throw error("tensor '", name, "' data [", e.begin, ", ", e.end, ") lies outside the data area of ",
                        data_size, " bytes: truncated?");
        if (count > (uint64_t(1) << 62) / dtype_size(e.dtype) || e.end - e.begin != count * dtype_size(e.dtype))
            throw error("tensor '", name, "' has ", e.end - e.begin, " bytes but shape ", to_string(e.shape),
                        " x ", dtype_name(e.dtype), " needs ", count * dtype_size(e.dtype));
        out.entries.push_back(std::move(e));
    }
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
