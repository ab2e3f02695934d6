// A Backend that forwards every call to another one and times it: wall seconds and call counts per
// op (`sdpp bench --profile`), to see where a forward pass spends its time and how each kind of op
// scales with threads. Ops are named by kind and shape class ("conv2d 3x3", "add", "silu").
#pragma once
#include "backend/backend.h"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sdpp {

struct OpProfile {
    std::string op;
    int64_t calls = 0;
    double seconds = 0;
};

class ProfilingBackend final : public Backend {
public:
    explicit ProfilingBackend(Backend& inner) : inner_(inner) {}

    std::vector<OpProfile> report() const;  // most time first
    void reset();

    const char* name() const override { return inner_.name(); }
    bool supports(Op op, DType compute) const override { return inner_.supports(op, compute); }
    void prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv) override;
    void release_prepared_weights() override { inner_.release_prepared_weights(); }
    size_t prepared_weight_bytes() const override { return inner_.prepared_weight_bytes(); }
    void set_prepared_weight_limit(size_t bytes) override { inner_.set_prepared_weight_limit(bytes); }

    void conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act, DType compute,
                const View& y) override;
    void linear(const View& x, const View& w, const View& bias, DType compute, const View& y) override;
    void matmul(const View& a, const View& b, float alpha, DType compute, const View& y) override;
    void group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                    const View& y) override;
    void group_norm_stats(const View& x, int groups, float eps, const View& stats) override;
    void group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                          const View& y) override;
    void layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y) override;
    void softmax(const View& x, const View& y) override;
    void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType compute,
                   const View& y) override;
    void unary(Unary op, const View& x, const View& y) override;
    void geglu(const View& x, const View& y) override;
    void binary(Binary op, const View& a, const View& b, const View& y) override;
    void scale(const View& x, float a, float b, const View& y) override;
    void copy(const View& x, const View& y) override;
    void concat(std::span<const View> xs, int dim, const View& y) override;
    void upsample_nearest2x(const View& x, const View& y) override;
    void resize_bilinear(const View& x, bool align_corners, const View& y) override;
    void reduce(Reduce op, const View& x, bool unbiased, const View& y) override;

private:
    template <class F>
    void timed(const std::string& op, F&& f);

    Backend& inner_;
    mutable std::mutex mu_;
    std::map<std::string, OpProfile> ops_;
};

}  // namespace sdpp
