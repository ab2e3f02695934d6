#include "model/weights.h"

#include "core/error.h"
#include "core/file_pages.h"

namespace sdpp {

void WeightStore::add(const std::string& name, Tensor t, const std::string& origin) {
    std::lock_guard lock(mu_);
    tensors_[name] = Entry{std::move(t), origin.empty() ? name : origin};
    used_.erase(name);
}

Tensor WeightStore::raw(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw error("missing weight '", name, "'");
    used_.insert(name);
    return it->second.t;
}

Tensor WeightStore::get(const std::string& name, const Shape& expected, DType dtype) const {
    Tensor t = raw(name);
    if (!expected.empty()) {
        bool ok = expected.size() == t.shape().size();
        for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == t.shape()[i];
        if (!ok)
            throw error("weight '", origin(name), "' has shape ", t.shape_str(), ", expected ", to_string(expected));
    }
    return t.to(dtype);
}

Tensor WeightStore::matrix(const std::string& name, const Shape& expected) const {
    DType stored = raw(name).dtype();
    bool kept = stored == DType::F32 || stored == DType::F16 || stored == DType::BF16;
    Tensor t = get(name, expected, kept ? stored : DType::F32);
    auto owner = std::make_shared<Tensor>(t);
    return Tensor::borrow(owner, t.raw(), t.shape(), t.dtype());
}

std::vector<std::string> WeightStore::names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (auto& [k, v] : tensors_) out.push_back(k);
    return out;
}

std::vector<std::string> WeightStore::names_with_prefix(const std::string& prefix) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (auto it = tensors_.lower_bound(prefix); it != tensors_.end() && it->first.starts_with(prefix); ++it)
        out.push_back(it->first);
    return out;
}

std::vector<std::string> WeightStore::unused(const std::vector<std::string>& ignored_prefixes) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (auto& [k, v] : tensors_) {
        if (used_.count(k)) continue;
        bool ignored = false;
        for (auto& p : ignored_prefixes) ignored = ignored || k.starts_with(p);
        if (!ignored) out.push_back(k);
    }
    return out;
}

void WeightStore::erase_prefix(const std::string& prefix) {
    std::lock_guard lock(mu_);
    for (auto it = tensors_.lower_bound(prefix); it != tensors_.end() && it->first.starts_with(prefix);)
        it = tensors_.erase(it);
}

size_t WeightStore::release_pages(const std::string& prefix) const {
    std::lock_guard lock(mu_);
    size_t released = 0;
    for (auto it = tensors_.lower_bound(prefix); it != tensors_.end() && it->first.starts_with(prefix); ++it)
        released += release_file_pages(it->second.t.raw(), it->second.t.nbytes());
    return released;
}

std::string WeightStore::origin(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = tensors_.find(name);
    return it == tensors_.end() ? name : it->second.origin;
}

std::optional<Shape> WeightStore::peek_shape(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return std::nullopt;
    return it->second.t.shape();
}

WeightScope WeightScope::sub(const std::string& name) const {
    return WeightScope(*store_, prefix_ + name + ".");
}

bool WeightScope::has_scope(const std::string& name) const {
    return !store_->names_with_prefix(prefix_ + name + ".").empty();
}

std::optional<Shape> WeightScope::shape_of(const std::string& name) const {
    return store_->peek_shape(key(name));
}

Shape WeightScope::need_shape(const std::string& name, size_t ndim, const char* model) const {
    auto s = shape_of(name);
    if (!s) throw error("not an SD ", model, ": missing weight '", key(name), "'");
    if (s->size() != ndim) throw error("weight '", key(name), "' has shape ", to_string(*s), ", expected ", ndim, " dims");
    return *s;
}

}  // namespace sdpp
