// Round trips through torch.save's zip format: checkpoints written by tests/common/ckpt_writer
// (the pickle opcodes and zip layout torch.save produces) read back by CkptFile, checking names,
// order, dtypes, shapes, strides, storage offsets, zero-copy mapping and values.
#include "common/ckpt_writer.h"
#include "io/ckpt.h"
#include "io/unpickle.h"
#include "io/zip_archive.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <numeric>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sdpp;
using namespace sdpp::testing;

namespace {

class CkptTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sdpp_io_ckpt_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& n) const { return (dir_ / n).string(); }
    fs::path dir_;
};

CkptTensor tensor(const std::string& name, DType dtype, const std::string& key, int64_t numel, const Shape& size,
                  int64_t offset = 0, const std::vector<int64_t>& stride = {}, bool parameter = false) {
    CkptTensor t;
    t.name = name;
    t.dtype = dtype;
    t.storage_key = key;
    t.storage_numel = numel;
    t.size = size;
    t.offset = offset;
    t.stride = stride;
    t.parameter = parameter;
    return t;
}

std::vector<float> iota_values(size_t n, float start = 0.5f) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = start + float(i) * 0.25f;
    return v;
}

// Element [idx] of a strided view over `storage`, computed independently of Tensor.
float expect_at(const std::vector<float>& storage, int64_t offset, const std::vector<int64_t>& stride,
                const std::vector<int64_t>& idx) {
    int64_t o = offset;
    for (size_t d = 0; d < idx.size(); ++d) o += idx[d] * stride[d];
    return storage[size_t(o)];
}

void check_view(const Tensor& t, const std::vector<float>& storage, int64_t offset, const Shape& size,
                const std::vector<int64_t>& stride) {
    ASSERT_EQ(t.shape(), size);
    const std::vector<float> got = t.to_vector();
    std::vector<int64_t> idx(size.size(), 0);
    for (size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k], expect_at(storage, offset, stride, idx)) << "element " << k;
        for (int d = int(size.size()) - 1; d >= 0; --d) {
            if (++idx[d] < size[d]) break;
            idx[d] = 0;
        }
    }
}

}  // namespace

TEST_F(CkptTest, PlainStateDictF32IsMappedZeroCopy) {
    CkptSpec s;
    const auto a = iota_values(12), b = iota_values(5, -3.f);
    s.storages["0"] = storage_bytes(a, DType::F32);
    s.storages["1"] = storage_bytes(b, DType::F32);
    s.tensors.push_back(tensor("model.diffusion_model.out.2.weight", DType::F32, "0", 12, {3, 4}));
    s.tensors.push_back(tensor("model.diffusion_model.out.2.bias", DType::F32, "1", 5, {5}));
    write_ckpt(path("plain.ckpt"), s);

    CkptFile f = CkptFile::open(path("plain.ckpt"));
    EXPECT_EQ(f.archive_name(), "archive");
    EXPECT_EQ(f.nesting(), "");
    EXPECT_EQ(f.mapped_storages(), 2u);
    EXPECT_EQ(f.copied_storages(), 0u);
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.tensors()[0].first, "model.diffusion_model.out.2.weight");
    EXPECT_EQ(f.tensors()[1].first, "model.diffusion_model.out.2.bias");
    const Tensor& w = f.tensors()[0].second;
    EXPECT_EQ(w.dtype(), DType::F32);
    EXPECT_TRUE(w.is_contiguous());
    check_view(w, a, 0, {3, 4}, {4, 1});
    check_view(f.tensors()[1].second, b, 0, {5}, {1});
    // Zero copy: the tensor points into the file's mapping, 64-byte aligned like torch writes it.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.raw()) % 64, 0u);
}

TEST_F(CkptTest, HalfAndBFloat16AreBitExact) {
    CkptSpec s;
    const std::vector<float> v = {0.f, 1.f, -2.5f, 65504.f, 1e-7f, -0.f, 3.140625f, 1024.f};
    s.storages["0"] = storage_bytes(v, DType::F16);
    s.storages["1"] = storage_bytes(v, DType::BF16);
    s.storages["2"] = storage_bytes(v, DType::F64);
    s.tensors.push_back(tensor("h", DType::F16, "0", 8, {2, 4}));
    s.tensors.push_back(tensor("b", DType::BF16, "1", 8, {8}));
    s.tensors.push_back(tensor("d", DType::F64, "2", 8, {4, 2}));
    write_ckpt(path("half.ckpt"), s);
    CkptFile f = CkptFile::open(path("half.ckpt"));
    ASSERT_EQ(f.tensors().size(), 3u);
    const Tensor& h = f.tensors()[0].second;
    const Tensor& b = f.tensors()[1].second;
    EXPECT_EQ(h.dtype(), DType::F16);
    EXPECT_EQ(b.dtype(), DType::BF16);
    EXPECT_EQ(f.tensors()[2].second.dtype(), DType::F64);
    for (size_t i = 0; i < v.size(); ++i) {
        EXPECT_EQ(h.data<uint16_t>()[i], f32_to_f16(v[i])) << i;
        EXPECT_EQ(b.data<uint16_t>()[i], f32_to_bf16(v[i])) << i;
        EXPECT_EQ(f.tensors()[2].second.data<double>()[i], double(v[i])) << i;
    }
}

TEST_F(CkptTest, StridesOffsetsAndSharedStorages) {
    CkptSpec s;
    const auto a = iota_values(24);
    s.storages["0"] = storage_bytes(a, DType::F32);
    // All views into the same storage "0", as torch writes tensors that share memory.
    struct V { std::string name; int64_t offset; Shape size; std::vector<int64_t> stride; };
    const std::vector<V> views = {
        {"contig_at_offset", 4, {2, 5}, {5, 1}},
        {"transposed", 0, {4, 6}, {1, 4}},        // a [6,4] matrix's .t()
        {"sliced_rows", 1, {3, 2}, {6, 1}},       // every row's [1:3]
        {"expanded", 3, {4, 3}, {0, 1}},          // .expand of a row
        {"permuted3d", 0, {2, 3, 4}, {1, 8, 2}},  // dims scattered by a permute
        {"overlapping", 2, {3, 3}, {1, 1}},       // as_strided sliding window: must be copied
        {"scalar", 7, {}, {}},
        {"size_one_dims", 5, {1, 3, 1}, {99, 2, 7}},
        {"empty", 24, {0, 4}, {4, 1}},
    };
    for (const auto& v : views)
        s.tensors.push_back(tensor(v.name, DType::F32, "0", 24, v.size, v.offset, v.stride));
    write_ckpt(path("views.ckpt"), s);
    CkptFile f = CkptFile::open(path("views.ckpt"));
    ASSERT_EQ(f.tensors().size(), views.size());
    EXPECT_EQ(f.mapped_storages(), 1u);
    // "contig_at_offset" starts 4 elements into the mapped storage.
    const std::byte* base = static_cast<const std::byte*>(f.tensors()[0].second.raw()) - 16;
    for (size_t i = 0; i < views.size(); ++i) {
        SCOPED_TRACE(views[i].name);
        const Tensor& t = f.tensors()[i].second;
        EXPECT_EQ(f.tensors()[i].first, views[i].name);
        check_view(t, a, views[i].offset, views[i].size, views[i].stride);
        if (views[i].name == "overlapping" || views[i].name == "empty") continue;
        // Views keep torch's strides (on dims of size > 1) and point into the mapped storage.
        for (size_t d = 0; d < views[i].size.size(); ++d)
            if (views[i].size[d] > 1) {
                EXPECT_EQ(t.strides()[d], views[i].stride[d]) << "dim " << d;
            }
        EXPECT_EQ(static_cast<const std::byte*>(t.raw()), base + views[i].offset * 4);
    }
}

TEST_F(CkptTest, StateDictNestingWithLightningExtras) {
    CkptSpec s;
    s.nesting = "state_dict";
    s.lightning_extras = true;
    s.archive = "sd-v1-4";  // torch < 2.0 names the folder after the file
    const auto a = iota_values(6);
    s.storages["0"] = storage_bytes(a, DType::F16);
    s.tensors.push_back(tensor("first_stage_model.decoder.conv_in.bias", DType::F16, "0", 6, {6}));
    write_ckpt(path("nested.ckpt"), s);
    CkptFile f = CkptFile::open(path("nested.ckpt"));
    EXPECT_EQ(f.nesting(), "state_dict");
    EXPECT_EQ(f.archive_name(), "sd-v1-4");
    ASSERT_EQ(f.tensors().size(), 1u);
    EXPECT_EQ(f.tensors()[0].first, "first_stage_model.decoder.conv_in.bias");
    EXPECT_EQ(f.tensors()[0].second.to_vector(), a);  // these values are exact in f16
}

TEST_F(CkptTest, ModelAndModuleNesting) {
    for (const std::string key : {"model", "module"}) {
        CkptSpec s;
        s.nesting = key;
        s.storages["0"] = storage_bytes({1.f, 2.f}, DType::F32);
        s.tensors.push_back(tensor("w", DType::F32, "0", 2, {2}, 0, {}, true));
        write_ckpt(path(key + ".ckpt"), s);
        CkptFile f = CkptFile::open(path(key + ".ckpt"));
        EXPECT_EQ(f.nesting(), key);
        ASSERT_EQ(f.tensors().size(), 1u);
        EXPECT_EQ(f.tensors()[0].second.to_vector(), (std::vector<float>{1.f, 2.f}));
    }
}

TEST_F(CkptTest, CompressedAndUnalignedStoragesAreCopied) {
    CkptSpec s;
    const auto a = iota_values(1000);
    s.storages["0"] = storage_bytes(a, DType::F32);
    s.storages["1"] = storage_bytes(a, DType::BF16);
    s.tensors.push_back(tensor("x", DType::F32, "0", 1000, {10, 99}, 10));
    s.tensors.push_back(tensor("y", DType::BF16, "1", 1000, {1000}));
    s.compress = true;
    write_ckpt(path("deflate.ckpt"), s);
    CkptFile c = CkptFile::open(path("deflate.ckpt"));
    EXPECT_EQ(c.copied_storages(), 2u);
    EXPECT_EQ(c.mapped_storages(), 0u);
    check_view(c.tensors()[0].second, a, 10, {10, 99}, {99, 1});
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(c.tensors()[1].second.data<uint16_t>()[i], f32_to_bf16(a[i]));

    s.compress = false;
    s.align = false;
    write_ckpt(path("unaligned.ckpt"), s);
    CkptFile u = CkptFile::open(path("unaligned.ckpt"));
    EXPECT_EQ(u.copied_storages() + u.mapped_storages(), 2u);
    check_view(u.tensors()[0].second, a, 10, {10, 99}, {99, 1});
    for (const auto& [name, t] : u.tensors())
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % dtype_size(t.dtype()), 0u) << name;
}

TEST_F(CkptTest, IntegerAndBoolStorages) {
    CkptSpec s;
    std::string ids(77 * 8, '\0');
    for (int64_t i = 0; i < 77; ++i) std::memcpy(ids.data() + i * 8, &i, 8);
    s.storages["0"] = ids;
    s.storages["1"] = std::string("\x01\x00\x01", 3);
    s.tensors.push_back(
        tensor("cond_stage_model.transformer.text_model.embeddings.position_ids", DType::I64, "0", 77, {1, 77}));
    s.tensors.push_back(tensor("mask", DType::Bool, "1", 3, {3}));
    write_ckpt(path("ints.ckpt"), s);
    CkptFile f = CkptFile::open(path("ints.ckpt"));
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.tensors()[0].second.dtype(), DType::I64);
    EXPECT_EQ(f.tensors()[0].second.data<int64_t>()[76], 76);
    EXPECT_EQ(f.tensors()[1].second.dtype(), DType::Bool);
    EXPECT_EQ(f.tensors()[1].second.data<uint8_t>()[2], 1);
}

TEST_F(CkptTest, ManyTensorsUseLongMemoIndicesAndSetitemsBatches) {
    CkptSpec s;
    const int n = 1500;  // > 1000 (one SETITEMS batch) and > 256 memo entries (LONG_BINPUT)
    std::vector<float> all(n);
    std::iota(all.begin(), all.end(), 0.f);
    s.storages["0"] = storage_bytes(all, DType::F32);
    for (int i = 0; i < n; ++i)
        s.tensors.push_back(tensor("t." + std::to_string(i), DType::F32, "0", n, {1}, i));
    write_ckpt(path("many.ckpt"), s);
    CkptFile f = CkptFile::open(path("many.ckpt"));
    ASSERT_EQ(f.tensors().size(), size_t(n));
    for (int i = 0; i < n; i += 97) {
        EXPECT_EQ(f.tensors()[i].first, "t." + std::to_string(i));
        EXPECT_EQ(f.tensors()[i].second.item(), float(i));
    }
}

TEST_F(CkptTest, TensorsOutliveTheCkptFile) {
    CkptSpec s;
    s.storages["0"] = storage_bytes({4.f, 5.f, 6.f}, DType::F32);
    s.tensors.push_back(tensor("w", DType::F32, "0", 3, {3}));
    write_ckpt(path("outlive.ckpt"), s);
    Tensor t;
    {
        CkptFile f = CkptFile::open(path("outlive.ckpt"));
        t = f.tensors()[0].second;
    }
    fs::remove(path("outlive.ckpt"));  // the mapping stays valid after unlink
    EXPECT_EQ(t.to_vector(), (std::vector<float>{4.f, 5.f, 6.f}));
}

TEST_F(CkptTest, PickleWriterMatchesTorchSaveBytes) {
    // The opening of a torch.save'd state dict, protocol 2, as pickletools.dis shows it:
    //   \x80\x02 PROTO 2; c GLOBAL 'collections OrderedDict'; q\x00 BINPUT 0; ) EMPTY_TUPLE; R REDUCE
    PickleWriter w;
    w.proto(2).global("collections", "OrderedDict").tuple(0).op('R').put();
    EXPECT_EQ(w.bytes(), std::string("\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01", 33));
    // Integers take the smallest opcode, as pickle.py save_long does.
    PickleWriter i;
    i.integer(5).integer(300).integer(-1).integer(int64_t(1) << 40);
    EXPECT_EQ(i.bytes(), std::string("K\x05M\x2c\x01J\xff\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01", 18));
    // ... and the reader gives them back.
    PickleWriter j;
    const std::vector<int64_t> ints = {5, 300, -1, int64_t(1) << 40, -(int64_t(1) << 40), INT64_MIN};
    j.proto(2).mark();
    for (int64_t v : ints) j.integer(v);
    j.tuple(ints.size()).stop();
    const std::string bytes = j.bytes();
    auto p = pickle::unpickle(std::as_bytes(std::span(bytes.data(), bytes.size())), "x");
    ASSERT_EQ(p.root()->kind, pickle::Kind::Tuple);
    ASSERT_EQ(p.root()->items.size(), ints.size());
    for (size_t k = 0; k < ints.size(); ++k) EXPECT_EQ(p.root()->items[k]->i, ints[k]);
}
