// ProfilingBackend: times each forwarded call (see profiling_backend.h).
#include "backend/profiling_backend.h"

#include <algorithm>
#include <chrono>

namespace sdpp {

template <class F>
void ProfilingBackend::timed(const std::string& op, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lk(mu_);
    OpProfile& p = ops_[op];
    p.op = op;
    ++p.calls;
    p.seconds += s;
}

std::vector<OpProfile> ProfilingBackend::report() const {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<OpProfile> out;
    for (auto& [k, v] : ops_) out.push_back(v);
    std::sort(out.begin(), out.end(), [](const OpProfile& a, const OpProfile& b) { return a.seconds > b.seconds; });
    return out;
}

void ProfilingBackend::reset() {
    std::lock_guard<std::mutex> lk(mu_);
    ops_.clear();
}

void ProfilingBackend::prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv) {
    timed("prepare_weight", [&] { inner_.prepare_weight(w, use, compute, conv); });
}

void ProfilingBackend::conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act,
                              DType compute, const View& y) {
    const std::string op = "conv2d " + std::to_string(w.shape[2]) + "x" + std::to_string(w.shape[3]) +
                           (stride > 1 ? " stride " + std::to_string(stride) : "");
    timed(op, [&] { inner_.conv2d(x, w, bias, stride, pad, act, compute, y); });
}
void ProfilingBackend::linear(const View& x, const View& w, const View& bias, DType compute, const View& y) {
    timed("linear", [&] { inner_.linear(x, w, bias, compute, y); });
}
void ProfilingBackend::matmul(const View& a, const View& b, float alpha, DType compute, const View& y) {
    timed("matmul", [&] { inner_.matmul(a, b, alpha, compute, y); });
}
void ProfilingBackend::group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                                  const View& y) {
    timed(silu ? "group_norm + silu" : "group_norm", [&] { inner_.group_norm(x, groups, gamma, beta, eps, silu, y); });
}
void ProfilingBackend::group_norm_stats(const View& x, int groups, float eps, const View& stats) {
    timed("group_norm stats", [&] { inner_.group_norm_stats(x, groups, eps, stats); });
}
void ProfilingBackend::group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta,
                                        bool silu, const View& y) {
    timed("group_norm apply", [&] { inner_.group_norm_apply(x, stats, gamma, beta, silu, y); });
}
void ProfilingBackend::layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y) {
    timed("layer_norm", [&] { inner_.layer_norm(x, gamma, beta, eps, y); });
}
void ProfilingBackend::softmax(const View& x, const View& y) {
    timed("softmax", [&] { inner_.softmax(x, y); });
}
void ProfilingBackend::attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale,
                                 DType compute, const View& y) {
    timed("attention", [&] { inner_.attention(q, k, v, heads, causal, scale, compute, y); });
}
void ProfilingBackend::unary(Unary op, const View& x, const View& y) {
    static const char* names[] = {"silu", "gelu", "gelu tanh", "quick_gelu", "relu", "tanh"};  // enum Unary order
    timed(names[int(op)], [&] { inner_.unary(op, x, y); });
}
void ProfilingBackend::geglu(const View& x, const View& y) {
    timed("geglu", [&] { inner_.geglu(x, y); });
}
void ProfilingBackend::binary(Binary op, const View& a, const View& b, const View& y) {
    static const char* names[] = {"add", "sub", "mul"};
    timed(names[int(op)], [&] { inner_.binary(op, a, b, y); });
}
void ProfilingBackend::scale(const View& x, float a, float b, const View& y) {
    timed("scale", [&] { inner_.scale(x, a, b, y); });
}
void ProfilingBackend::copy(const View& x, const View& y) {
    timed("copy", [&] { inner_.copy(x, y); });
}
void ProfilingBackend::concat(std::span<const View> xs, int dim, const View& y) {
    timed("concat", [&] { inner_.concat(xs, dim, y); });
}
void ProfilingBackend::upsample_nearest2x(const View& x, const View& y) {
    timed("upsample_nearest2x", [&] { inner_.upsample_nearest2x(x, y); });
}
void ProfilingBackend::resize_bilinear(const View& x, bool align_corners, const View& y) {
    timed("resize_bilinear", [&] { inner_.resize_bilinear(x, align_corners, y); });
}
void ProfilingBackend::reduce(Reduce op, const View& x, bool unbiased, const View& y) {
    timed(op == Reduce::Mean ? "mean" : "std", [&] { inner_.reduce(op, x, unbiased, y); });
}

}  // namespace sdpp
