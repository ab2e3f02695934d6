// Tensor = shared storage + byte offset + shape + strides (in elements), PyTorch dimension order
// (dim 0 outermost, row-major). Views (view, permute, slice, transpose) share storage; contiguous()
// copies only when needed. Storage comes from the caching allocator or borrows foreign memory
// (an mmap'ed model file), kept alive by the shared owner.
#pragma once
#include "core/dtype.h"
#include "core/error.h"

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sdpp {

using Shape = std::vector<int64_t>;
std::string to_string(const Shape& s);  // "[2,4,64,64]"
int64_t numel_of(const Shape& s);

// Where a tensor's storage lives. A device joins the list with the backend that serves it.
enum class Device : uint8_t { CPU };

class Tensor {
public:
    Tensor() = default;  // undefined tensor (e.g. an absent bias)

    static Tensor empty(const Shape& shape, DType dtype = DType::F32);
    static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
    static Tensor full(const Shape& shape, float value);
    // f32 tensor holding a copy of `values`; numel(shape) must equal values.size().
    static Tensor from_vector(std::span<const float> values, const Shape& shape);
    // Borrows memory owned by `owner` (zero copy); the owner stays alive while any view exists.
    static Tensor borrow(std::shared_ptr<const void> owner, const void* data, const Shape& shape,
                         DType dtype);

    bool defined() const { return storage_ != nullptr; }
    explicit operator bool() const { return defined(); }
    DType dtype() const { return dtype_; }
    Device device() const { return Device::CPU; }
    const Shape& shape() const { return shape_; }
    const std::vector<int64_t>& strides() const { return strides_; }
    int ndim() const { return int(shape_.size()); }
    int64_t dim(int i) const;  // negative i counts from the end
    int64_t stride(int i) const;
    int64_t numel() const { return numel_of(shape_); }
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
    bool is_contiguous() const;
    std::string shape_str() const { return to_string(shape_); }

    // Raw pointer to element 0 of this view.
    void* raw() const { return storage_.get() + offset_; }
    // Typed pointer; checks that T matches the dtype (uint16_t for f16/bf16).
    template <class T> T* data() const;

    // Views, never copying. view() needs a contiguous tensor; one dim may be -1.
    Tensor view(const Shape& shape) const;
    Tensor reshape(const Shape& shape) const;  // view if possible, else a contiguous copy
    Tensor permute(std::initializer_list<int> dims) const;
    Tensor permute(const std::vector<int>& dims) const;
    Tensor transpose(int a, int b) const;
    Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;  // python [start:end:step]
    Tensor select(int dim, int64_t index) const;                                // drops `dim`
    Tensor unsqueeze(int dim) const;
    Tensor squeeze(int dim) const;
    // Broadcast view (stride 0) to `shape`, numpy rules.
    Tensor expand(const Shape& shape) const;

    // Copies.
    Tensor contiguous() const;               // this, if already contiguous
    Tensor clone() const;                    // always a fresh contiguous copy
    Tensor to(DType dtype) const;            // this, if already of that dtype and contiguous
    void copy_from(const Tensor& src);       // same shape, any dtypes/strides

    // Element access for tests and small host-side math (slow: computes the offset).
    float item() const;                      // single-element tensor, any float dtype
    float at(std::initializer_list<int64_t> idx) const;
    std::vector<float> to_vector() const;    // f32 copy in logical order

    const std::shared_ptr<std::byte>& storage() const { return storage_; }
    int64_t offset_bytes() const { return offset_; }

private:
    std::shared_ptr<std::byte> storage_;
    int64_t offset_ = 0;  // bytes
    Shape shape_;
    std::vector<int64_t> strides_;
    DType dtype_ = DType::F32;

    static std::vector<int64_t> contiguous_strides(const Shape& s);
    int norm_dim(int d, int n) const;
};

template <class T>
T* Tensor::data() const {
    constexpr bool ok_f32 = std::is_same_v<std::remove_cv_t<T>, float>;
    constexpr bool ok_16 = std::is_same_v<std::remove_cv_t<T>, uint16_t>;
    constexpr bool ok_i64 = std::is_same_v<std::remove_cv_t<T>, int64_t>;
    constexpr bool ok_u8 = std::is_same_v<std::remove_cv_t<T>, uint8_t>;
    bool ok = (ok_f32 && dtype_ == DType::F32) ||
              (ok_16 && (dtype_ == DType::F16 || dtype_ == DType::BF16)) ||
              (ok_i64 && dtype_ == DType::I64) || (ok_u8 && (dtype_ == DType::U8 || dtype_ == DType::Bool)) ||
              std::is_same_v<std::remove_cv_t<T>, std::byte> ||
              (std::is_same_v<std::remove_cv_t<T>, double> && dtype_ == DType::F64) ||
              (std::is_same_v<std::remove_cv_t<T>, int32_t> && dtype_ == DType::I32);
    SDPP_CHECK(ok, "tensor data<T>(): element type does not match dtype ", dtype_name(dtype_));
    return reinterpret_cast<T*>(raw());
}

}  // namespace sdpp
