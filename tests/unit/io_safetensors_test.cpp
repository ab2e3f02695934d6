// safetensors reading and writing (format: huggingface/safetensors README "Format"): round
// trips through save_safetensors, metadata, zero-copy mapping, and files whose data area is not
// aligned (the format allows any header length), which must read back correctly by copying.
#include "io/safetensors.h"
#include "core/file_pages.h"
#include "io/mapped_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sdpp;

namespace {

class SafetensorsTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sdpp_io_st_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& n) const { return (dir_ / n).string(); }
    fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripDtypesStridesAndMetadata) {
    const Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor h = a.to(DType::F16);
    const Tensor b = a.to(DType::BF16);
    const Tensor t = a.transpose(0, 1);  // non-contiguous: written in logical order
    save_safetensors(path("x.safetensors"), {{"a", a}, {"h", h}, {"b", b}, {"t", t}, {"e", Tensor::empty({0, 3})}},
                     {{"format", "pt"}, {"modelspec.title", "tiny"}});
    SafetensorsFile f = SafetensorsFile::open(path("x.safetensors"));
    ASSERT_EQ(f.entries().size(), 5u);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.metadata().at("modelspec.title"), "tiny");
    EXPECT_EQ(f.get("a").to_vector(), a.to_vector());
    EXPECT_EQ(f.get("h").dtype(), DType::F16);
    EXPECT_EQ(f.get("h").to_vector(), a.to_vector());
    EXPECT_EQ(f.get("b").dtype(), DType::BF16);
    EXPECT_EQ(f.get("t").shape(), (Shape{3, 2}));
    EXPECT_EQ(f.get("t").to_vector(), t.to_vector());
    EXPECT_EQ(f.get("e").numel(), 0);
    EXPECT_FALSE(f.contains("missing"));
    EXPECT_THROW(f.get("missing"), Error);
}

TEST_F(SafetensorsTest, TensorsStayValidAfterTheFileObjectAndFileAreGone) {
    save_safetensors(path("y.safetensors"), {{"w", Tensor::from_vector(std::vector<float>{7, 8}, {2})}});
    Tensor w;
    {
        SafetensorsFile f = SafetensorsFile::open(path("y.safetensors"));
        w = f.get("w");
    }
    fs::remove(path("y.safetensors"));
    EXPECT_EQ(w.to_vector(), (std::vector<float>{7, 8}));
}

TEST_F(SafetensorsTest, MisalignedDataIsCopiedNotReadMisaligned) {
    // Header of 61 bytes (no padding): the data area starts at byte 69, so the f32 tensor is
    // misaligned in the mapping.
    const std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
    ASSERT_NE((8 + header.size()) % 4, 0u);
    const float v[3] = {1.5f, -2.f, 3.25f};
    std::string file(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(file.data(), &n, 8);
    file += header;
    file.append(reinterpret_cast<const char*>(v), 12);
    std::ofstream(path("m.safetensors"), std::ios::binary).write(file.data(), std::streamsize(file.size()));
    SafetensorsFile f = SafetensorsFile::open(path("m.safetensors"));
    const Tensor w = f.get("w");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.raw()) % 4, 0u);
    EXPECT_EQ(w.to_vector(), (std::vector<float>{1.5f, -2.f, 3.25f}));
}

TEST_F(SafetensorsTest, UnknownEntryFieldsAreIgnoredAndOrderIsByOffset) {
    const std::string header =
        R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4],"extra":[1,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
    std::string file(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(file.data(), &n, 8);
    file += header + "\x01\x02\x03\x04";
    auto hdr = parse_safetensors_header(reinterpret_cast<const std::byte*>(file.data()), file.size());
    ASSERT_EQ(hdr.entries.size(), 2u);
    EXPECT_EQ(hdr.entries[0].name, "a");
    EXPECT_EQ(hdr.entries[1].name, "b");
    EXPECT_EQ(hdr.entries[1].begin, 2u);
}

}  // namespace

namespace {
size_t resident_bytes() {
    std::ifstream f("/proc/self/statm");
    size_t total = 0, resident = 0;
    f >> total >> resident;
    return resident * size_t(sysconf(_SC_PAGESIZE));
}
}  // namespace

TEST_F(SafetensorsTest, ReleasedFilePagesLeaveTheResidentSetAndReadBackIntact) {
    std::vector<float> v(1 << 20);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 1000) * 0.5f;
    save_safetensors(path("big.safetensors"), {{"w", Tensor::from_vector(v, {int64_t(v.size())})}});
    SafetensorsFile f = SafetensorsFile::open(path("big.safetensors"));
    Tensor w = f.get("w");
    EXPECT_EQ(w.to_vector(), v);  // touch every page
    const size_t before = resident_bytes();
    const size_t released = release_file_pages(w.raw(), w.nbytes());
    EXPECT_GE(released, w.nbytes() - 2 * 4096);
    EXPECT_LE(released, w.nbytes());
    EXPECT_LT(resident_bytes() + released / 2, before);  // the pages really left the process
    EXPECT_EQ(w.to_vector(), v);                          // and fault back in unchanged

    // Memory that is not a file mapping is never touched (DONTNEED would zero it).
    Tensor heap = Tensor::from_vector(v, {int64_t(v.size())});
    EXPECT_EQ(release_file_pages(heap.raw(), heap.nbytes()), 0u);
    EXPECT_EQ(heap.to_vector(), v);
    // Nor a range running past the end of the mapping.
    EXPECT_EQ(release_file_pages(w.raw(), w.nbytes() + (size_t(1) << 30)), 0u);
}
