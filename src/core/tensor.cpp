#include "core/tensor.h"

#include "core/allocator.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>

namespace sdpp {

std::string to_string(const Shape& s) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
    os << ']';
    return os.str();
}

int64_t numel_of(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

std::vector<int64_t> Tensor::contiguous_strides(const Shape& s) {
    std::vector<int64_t> st(s.size());
    int64_t acc = 1;
    for (int i = int(s.size()) - 1; i >= 0; --i) {
        st[i] = acc;
        acc *= s[i];
    }
    return st;
}

int Tensor::norm_dim(int d, int n) const {
    int r = d < 0 ? d + n : d;
    SDPP_CHECK(r >= 0 && r < n, "dimension ", d, " out of range for tensor of shape ", shape_str());
    return r;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) { return empty(shape, dtype, current_allocator()); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Allocator& alloc) {
    for (int64_t d : shape) SDPP_CHECK(d >= 0, "negative dimension in shape ", to_string(shape));
    Tensor t;
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    t.dtype_ = dtype;
    t.device_ = alloc.device();
    t.storage_ = alloc.allocate(std::max<size_t>(t.nbytes(), 1));
    return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
    Tensor t = empty(shape, dtype);
    std::memset(t.raw(), 0, t.nbytes());
    return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
    Tensor t = empty(shape, DType::F32);
    std::fill_n(t.data<float>(), t.numel(), value);
    return t;
}

Tensor Tensor::from_vector(std::span<const float> values, const Shape& shape) {
    SDPP_CHECK(int64_t(values.size()) == numel_of(shape), "from_vector: ", values.size(),
               " values do not fill shape ", to_string(shape));
    Tensor t = empty(shape, DType::F32);
    std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor Tensor::borrow(std::shared_ptr<const void> owner, const void* data, const Shape& shape,
                      DType dtype) {
    Tensor t;
    // aliasing constructor: shares ownership of `owner`, points at `data`
    t.storage_ = std::shared_ptr<std::byte>(std::const_pointer_cast<void>(owner),
                                            static_cast<std::byte*>(const_cast<void*>(data)));
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    t.dtype_ = dtype;
    return t;
}

int64_t Tensor::dim(int i) const { return shape_[norm_dim(i, ndim())]; }
int64_t Tensor::stride(int i) const { return strides_[norm_dim(i, ndim())]; }

bool Tensor::is_contiguous() const {
    int64_t acc = 1;
    for (int i = ndim() - 1; i >= 0; --i) {
        if (shape_[i] != 1 && strides_[i] != acc) return false;
        acc *= shape_[i];
    }
    return true;
}

Tensor Tensor::view(const Shape& shape) const {
    SDPP_CHECK(is_contiguous(), "view ", to_string(shape), " of non-contiguous tensor ", shape_str());
    Shape s = shape;
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == -1) {
            SDPP_CHECK(infer < 0, "view: more than one -1 in ", to_string(shape));
            infer = int(i);
        } else {
            known *= s[i];
        }
    }
    if (infer >= 0) {
        SDPP_CHECK(known > 0 && numel() % known == 0, "view: cannot infer ", to_string(shape),
                   " from ", shape_str());
        s[infer] = numel() / known;
    }
    SDPP_CHECK(numel_of(s) == numel(), "view: shape ", to_string(shape), " does not match ", shape_str());
    Tensor t = *this;
    t.shape_ = s;
    t.strides_ = contiguous_strides(s);
    return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
    return is_contiguous() ? view(shape) : contiguous().view(shape);
}

Tensor Tensor::permute(std::initializer_list<int> dims) const {
    return permute(std::vector<int>(dims));
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
    SDPP_CHECK(int(dims.size()) == ndim(), "permute: ", dims.size(), " dims for shape ", shape_str());
    Tensor t = *this;
    std::vector<bool> seen(ndim(), false);
    for (int i = 0; i < ndim(); ++i) {
        int d = norm_dim(dims[i], ndim());
        SDPP_CHECK(!seen[d], "permute: repeated dim ", d);
        seen[d] = true;
        t.shape_[i] = shape_[d];
        t.strides_[i] = strides_[d];
    }
    return t;
}

Tensor Tensor::transpose(int a, int b) const {
    std::vector<int> p(ndim());
    std::iota(p.begin(), p.end(), 0);
    std::swap(p[norm_dim(a, ndim())], p[norm_dim(b, ndim())]);
    return permute(p);
}

Tensor Tensor::slice(int d, int64_t start, int64_t end, int64_t step) const {
    d = norm_dim(d, ndim());
    SDPP_CHECK(step > 0, "slice: step must be positive");
    int64_t n = shape_[d];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, start, n);
    Tensor t = *this;
    t.offset_ += start * strides_[d] * int64_t(dtype_size(dtype_));
    t.shape_[d] = (end - start + step - 1) / step;
    t.strides_[d] *= step;
    return t;
}

Tensor Tensor::select(int d, int64_t index) const {
    d = norm_dim(d, ndim());
    if (index < 0) index += shape_[d];
    SDPP_CHECK(index >= 0 && index < shape_[d], "select: index ", index, " out of range for dim ", d,
               " of ", shape_str());
    Tensor t = *this;
    t.offset_ += index * strides_[d] * int64_t(dtype_size(dtype_));
    t.shape_.erase(t.shape_.begin() + d);
    t.strides_.erase(t.strides_.begin() + d);
    return t;
}

Tensor Tensor::unsqueeze(int d) const {
    d = norm_dim(d, ndim() + 1);
    Tensor t = *this;
    int64_t st = d < ndim() ? strides_[d] * shape_[d] : 1;
    t.shape_.insert(t.shape_.begin() + d, 1);
    t.strides_.insert(t.strides_.begin() + d, st);
    return t;
}

Tensor Tensor::squeeze(int d) const {
    d = norm_dim(d, ndim());
    SDPP_CHECK(shape_[d] == 1, "squeeze: dim ", d, " of ", shape_str(), " is not 1");
    Tensor t = *this;
    t.shape_.erase(t.shape_.begin() + d);
    t.strides_.erase(t.strides_.begin() + d);
    return t;
}

Tensor Tensor::expand(const Shape& shape) const {
    SDPP_CHECK(int(shape.size()) >= ndim(), "expand: cannot expand ", shape_str(), " to ", to_string(shape));
    Tensor t = *this;
    size_t lead = shape.size() - shape_.size();
    t.shape_ = shape;
    t.strides_.assign(shape.size(), 0);
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i < lead) continue;
        int64_t src = shape_[i - lead];
        if (src == shape[i]) {
            t.strides_[i] = strides_[i - lead];
        } else {
            SDPP_CHECK(src == 1, "expand: cannot expand ", shape_str(), " to ", to_string(shape));
        }
    }
    return t;
}

namespace {
// Calls fn(dst_elem_offset, src_elem_offset, inner_count) for every innermost run, where the
// innermost dim of `shape` has stride `ss_inner` in src and 1 in dst (dst contiguous).
template <class Fn>
void for_each_row(const Shape& shape, const std::vector<int64_t>& src_strides, Fn&& fn) {
    const int nd = int(shape.size());
    if (nd == 0) { fn(0, 0, 1); return; }
    const int64_t inner = shape[nd - 1];
    const int64_t rows = inner ? numel_of(shape) / inner : 0;
#pragma omp parallel for if (rows * inner > (1 << 16)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        int64_t rem = r, so = 0;
        for (int d = nd - 2; d >= 0; --d) {
            int64_t i = rem % shape[d];
            rem /= shape[d];
            so += i * src_strides[d];
        }
        fn(r * inner, so, inner);
    }
}
}  // namespace

void Tensor::copy_from(const Tensor& src) {
    SDPP_CHECK(src.shape_ == shape_, "copy_from: shape ", src.shape_str(), " into ", shape_str());
    SDPP_CHECK(is_contiguous(), "copy_from: destination must be contiguous");
    if (numel() == 0) return;
    if (src.is_contiguous()) {
        convert(src.raw(), src.dtype_, raw(), dtype_, size_t(numel()));
        return;
    }
    const size_t es = dtype_size(src.dtype_), ed = dtype_size(dtype_);
    const int64_t si = src.strides_.empty() ? 1 : src.strides_.back();
    auto* sbase = static_cast<const std::byte*>(src.raw());
    auto* dbase = static_cast<std::byte*>(raw());
    const DType st = src.dtype_, dt = dtype_;
    for_each_row(shape_, src.strides_, [&](int64_t doff, int64_t soff, int64_t n) {
        const std::byte* s = sbase + soff * int64_t(es);
        std::byte* d = dbase + doff * int64_t(ed);
        if (si == 1) {
            convert(s, st, d, dt, size_t(n));
        } else if (st == dt && es == 4) {
            for (int64_t i = 0; i < n; ++i) std::memcpy(d + 4 * i, s + 4 * i * si, 4);
        } else if (st == dt && es == 2) {
            for (int64_t i = 0; i < n; ++i) std::memcpy(d + 2 * i, s + 2 * i * si, 2);
        } else {
            for (int64_t i = 0; i < n; ++i) convert(s + i * si * int64_t(es), st, d + i * int64_t(ed), dt, 1);
        }
    });
}

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
}

Tensor Tensor::clone() const {
    Tensor t = empty(shape_, dtype_);
    t.copy_from(*this);
    return t;
}

Tensor Tensor::to(DType dtype) const {
    if (dtype == dtype_ && is_contiguous()) return *this;
    Tensor t = empty(shape_, dtype);
    t.copy_from(*this);
    return t;
}

float Tensor::at(std::initializer_list<int64_t> idx) const {
    SDPP_CHECK(int(idx.size()) == ndim(), "at: ", idx.size(), " indices for ", shape_str());
    int64_t off = 0, d = 0;
    for (int64_t i : idx) {
        SDPP_CHECK(i >= 0 && i < shape_[d], "at: index out of range for ", shape_str());
        off += i * strides_[d++];
    }
    float v;
    convert(static_cast<const std::byte*>(raw()) + off * int64_t(dtype_size(dtype_)), dtype_, &v,
            DType::F32, 1);
    return v;
}

float Tensor::item() const {
    SDPP_CHECK(numel() == 1, "item() on tensor of shape ", shape_str());
    float v;
    convert(raw(), dtype_, &v, DType::F32, 1);
    return v;
}

std::vector<float> Tensor::to_vector() const {
    Tensor t = to(DType::F32);
    const float* p = t.data<float>();
    return std::vector<float>(p, p + t.numel());
}

}  // namespace sdpp
