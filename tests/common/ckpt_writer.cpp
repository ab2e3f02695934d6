// Test helper: torch.save-format checkpoints written without torch (see ckpt_writer.h).
#include "common/ckpt_writer.h"

#include "core/error.h"
#include "io/zip_archive.h"

#include <zip.h>

#include <cstring>
#include <memory>

namespace sdpp::testing {

PickleWriter& PickleWriter::proto(int v) {
    out_.push_back('\x80');
    out_.push_back(char(v));
    return *this;
}

PickleWriter& PickleWriter::op(char c) {
    out_.push_back(c);
    return *this;
}

PickleWriter& PickleWriter::raw(const std::string& s) {
    out_ += s;
    return *this;
}

namespace {
void put_le(std::string& out, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
}  // namespace

PickleWriter& PickleWriter::integer(int64_t v) {
    if (v >= 0 && v <= 0xff) {
        out_.push_back('K');
        put_le(out_, uint64_t(v), 1);
    } else if (v >= 0 && v <= 0xffff) {
        out_.push_back('M');
        put_le(out_, uint64_t(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        out_.push_back('J');
        put_le(out_, uint64_t(uint32_t(int32_t(v))), 4);
    } else {
        // LONG1: minimal little-endian two's complement (pickle.encode_long).
        std::string bytes;
        put_le(bytes, uint64_t(v), 8);
        while (bytes.size() > 1) {
            const uint8_t last = uint8_t(bytes.back()), prev = uint8_t(bytes[bytes.size() - 2]);
            if ((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80)))
                bytes.pop_back();
            else
                break;
        }
        out_.push_back('\x8a');
        out_.push_back(char(bytes.size()));
        out_ += bytes;
    }
    return *this;
}

PickleWriter& PickleWriter::binfloat(double v) {
    uint64_t u;
    std::memcpy(&u, &v, 8);
    out_.push_back('G');
    for (int i = 7; i >= 0; --i) out_.push_back(char((u >> (8 * i)) & 0xff));
    return *this;
}

PickleWriter& PickleWriter::str(const std::string& s) {
    out_.push_back('X');
    put_le(out_, s.size(), 4);
    out_ += s;
    return put();
}

PickleWriter& PickleWriter::memo_str(const std::string& s) {
    auto it = memo_.find("s:" + s);
    if (it != memo_.end()) return get(it->second);
    memo_["s:" + s] = next_memo_;
    return str(s);
}

PickleWriter& PickleWriter::global(const std::string& module, const std::string& name) {
    const std::string key = "g:" + module + "\n" + name;
    auto it = memo_.find(key);
    if (it != memo_.end()) return get(it->second);
    memo_[key] = next_memo_;
    out_ += "c" + module + "\n" + name + "\n";
    return put();
}

PickleWriter& PickleWriter::put() {
    if (next_memo_ < 256) {
        out_.push_back('q');
        put_le(out_, next_memo_, 1);
    } else {
        out_.push_back('r');
        put_le(out_, next_memo_, 4);
    }
    ++next_memo_;
    return *this;
}

PickleWriter& PickleWriter::get(uint32_t idx) {
    if (idx < 256) {
        out_.push_back('h');
        put_le(out_, idx, 1);
    } else {
        out_.push_back('j');
        put_le(out_, idx, 4);
    }
    return *this;
}

PickleWriter& PickleWriter::tuple(size_t n) {
    if (n == 0) {
        out_.push_back(')');
        return *this;  // the empty tuple is a singleton: pickle does not memoize it
    }
    if (n <= 3) {
        out_.push_back(char(0x84 + n));
    } else {
        out_.push_back('t');  // the caller pushed MARK before the items
    }
    return put();
}

namespace {

const char* storage_type(DType t) {
    switch (t) {
        case DType::F32: return "FloatStorage";
        case DType::F16: return "HalfStorage";
        case DType::BF16: return "BFloat16Storage";
        case DType::F64: return "DoubleStorage";
        case DType::I64: return "LongStorage";
        case DType::I32: return "IntStorage";
        case DType::I16: return "ShortStorage";
        case DType::I8: return "CharStorage";
        case DType::U8: return "ByteStorage";
        case DType::Bool: return "BoolStorage";
    }
    return "?";
}

void int_tuple(PickleWriter& w, const std::vector<int64_t>& v) {
    if (v.size() > 3) w.mark();
    for (int64_t x : v) w.integer(x);
    w.tuple(v.size());
}

void empty_ordered_dict(PickleWriter& w) {
    w.global("collections", "OrderedDict").tuple(0).op('R').put();
}

}  // namespace

void ckpt_pickle_tensor(PickleWriter& w, const CkptTensor& t) {
    std::vector<int64_t> stride = t.stride;
    if (stride.empty()) {
        stride.assign(t.size.size(), 1);
        for (int i = int(t.size.size()) - 2; i >= 0; --i) stride[i] = stride[i + 1] * t.size[i + 1];
    }
    if (t.parameter) w.global("torch._utils", "_rebuild_parameter");
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.mark();  // the argument tuple has 6 items
    // persistent id: ('storage', torch.XStorage, key, location, numel) -> BINPERSID
    w.mark().memo_str("storage").global("torch", storage_type(t.dtype)).str(t.storage_key).memo_str("cpu");
    w.integer(t.storage_numel).tuple(5).op('Q');
    w.integer(t.offset);
    int_tuple(w, t.size);
    int_tuple(w, stride);
    w.boolean(false);
    empty_ordered_dict(w);
    w.tuple(6).op('R').put();
    if (t.parameter) {
        w.boolean(true);
        empty_ordered_dict(w);
        w.tuple(3).op('R').put();
    }
}

std::string ckpt_pickle(const CkptSpec& spec) {
    PickleWriter w;
    w.proto(2);
    if (!spec.nesting.empty()) {
        w.op('}').put().mark();
        if (spec.lightning_extras) {
            w.str("epoch").integer(6).str("global_step").integer(470000).str("pytorch-lightning_version").str("1.4.2");
        }
        w.str(spec.nesting);
    }
    // The state dict: OrderedDict() + SETITEMS in batches of 1000 + BUILD({'_metadata': ...}).
    w.global("collections", "OrderedDict").tuple(0).op('R').put();
    for (size_t i = 0; i < spec.tensors.size(); ++i) {
        if (i % 1000 == 0) w.mark();
        w.str(spec.tensors[i].name);
        ckpt_pickle_tensor(w, spec.tensors[i]);
        if (i % 1000 == 999 || i + 1 == spec.tensors.size()) w.op('u');
    }
    w.op('}').put().str("_metadata");
    w.global("collections", "OrderedDict").tuple(0).op('R').put();
    w.str("").op('}').put().str("version").integer(1).op('s').op('s');
    w.op('s').op('b');
    if (!spec.nesting.empty()) {
        if (spec.lightning_extras) {
            // {ModelCheckpoint: {'monitor': None, 'best_model_score': None}}: a class as a dict key.
            w.str("callbacks").op('}').put();
            w.global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint");
            w.op('}').put().mark().str("monitor").none().str("best_model_score").none().op('u');
            w.op('s');
            w.str("optimizer_states").op(']').put().str("lr_schedulers").op(']').put();
        }
        w.op('u');
    }
    w.stop();
    return w.bytes();
}

namespace {

struct ZipDiscard {
    void operator()(zip_t* z) const { zip_discard(z); }
};

// One pass: returns nothing; pads[i] bytes of "FB" extra field payload go in record i's local header.
void write_zip_pass(const std::string& path, const std::vector<std::pair<std::string, std::string>>& records,
                    bool compress, const std::vector<size_t>& pads) {
    int err = 0;
    std::unique_ptr<zip_t, ZipDiscard> z(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err));
    if (!z) throw error(path, ": zip_open failed (", err, ")");
    const std::string zeros(64, '\0');
    for (size_t i = 0; i < records.size(); ++i) {
        const auto& [name, data] = records[i];
        zip_source_t* src = zip_source_buffer(z.get(), data.data(), data.size(), 0);
        if (!src) throw error(path, ": zip_source_buffer failed");
        const zip_int64_t idx = zip_file_add(z.get(), name.c_str(), src, ZIP_FL_ENC_UTF_8);
        if (idx < 0) {
            zip_source_free(src);
            throw error(path, ": zip_file_add failed: ", zip_strerror(z.get()));
        }
        const bool deflate = compress && name.find("/data/") != std::string::npos;
        if (zip_set_file_compression(z.get(), zip_uint64_t(idx), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0)
            throw error(path, ": zip_set_file_compression failed");
        if (!pads.empty() &&
            zip_file_extra_field_set(z.get(), zip_uint64_t(idx), 0x4246, ZIP_EXTRA_FIELD_NEW,
                                     reinterpret_cast<const zip_uint8_t*>(zeros.data()), zip_uint16_t(pads[i]),
                                     ZIP_FL_LOCAL) != 0)
            throw error(path, ": zip_file_extra_field_set failed: ", zip_strerror(z.get()));
    }
    zip_t* raw = z.release();
    if (zip_close(raw) != 0) {
        std::string why = zip_strerror(raw);
        zip_discard(raw);
        throw error(path, ": zip_close failed: ", why);
    }
}

}  // namespace

void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& records,
               bool compress, bool align) {
    if (!align) {
        write_zip_pass(path, records, compress, {});
        return;
    }
    // Pass 1 with empty padding fields finds each record's data offset; pass 2 pads each one to
    // the next multiple of 64, accounting for the padding added before it.
    std::vector<size_t> pads(records.size(), 0);
    write_zip_pass(path, records, compress, pads);
    {
        ZipArchive a = ZipArchive::open(path);
        size_t shift = 0;
        for (size_t i = 0; i < records.size(); ++i) {
            const ZipEntry* e = a.find(records[i].first);
            if (!e || !e->data_offset) continue;
            pads[i] = (64 - (*e->data_offset + shift) % 64) % 64;
            shift += pads[i];
        }
    }
    write_zip_pass(path, records, compress, pads);
    ZipArchive a = ZipArchive::open(path);
    for (const auto& [name, data] : records) {
        const ZipEntry* e = a.find(name);
        if (e && e->data_offset && *e->data_offset % 64 != 0)
            throw error(path, ": could not align '", name, "' (data at ", *e->data_offset, ")");
    }
}

void write_ckpt(const std::string& path, const CkptSpec& spec) {
    std::vector<std::pair<std::string, std::string>> records;
    const std::string a = spec.archive + "/";
    records.emplace_back(a + "data.pkl", ckpt_pickle(spec));
    records.emplace_back(a + "byteorder", "little");
    for (const auto& [key, bytes] : spec.storages) records.emplace_back(a + "data/" + key, bytes);
    records.emplace_back(a + "version", "3\n");
    write_zip(path, records, spec.compress, spec.align);
}

std::string storage_bytes(const std::vector<float>& values, DType dtype) {
    std::string out(values.size() * dtype_size(dtype), '\0');
    convert(values.data(), DType::F32, out.data(), dtype, values.size());
    return out;
}

}  // namespace sdpp::testing
