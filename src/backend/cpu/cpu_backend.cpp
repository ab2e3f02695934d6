// Binds the CPU kernels to the Backend interface: oneDNN's (cpu_kernels.h, one Dense per
// instance) and an own kernel set (kernel_set.h). cpu_backend() is a default instance for code
// that has no backend of its own (tools, tests); an Engine makes its own (make_cpu_backend).
#include "backend/cpu/cpu_backend.h"

namespace sdpp {
namespace {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(const cpu::CpuBackendOptions& o) : k_(o.kernels ? *o.kernels : cpu::kernels()) {
        dense_.set_conv_layout(o.conv_layout);
    }
    const char* name() const override { return "cpu"; }
    std::string describe() const override {
        const cpu::CpuFeatures& f = cpu::cpu_features();
        std::string has;
        for (auto [on, flag] : {std::pair{f.avx2, "avx2"}, {f.fma, "fma"}, {f.f16c, "f16c"}, {f.avx512f, "avx512f"},
                                {f.avx512bw, "avx512bw"}, {f.avx512dq, "avx512dq"}, {f.avx512vl, "avx512vl"},
                                {f.avx512_bf16, "avx512_bf16"}, {f.avx512_vnni, "avx512_vnni"}})
            if (on) has += std::string(has.empty() ? "" : " ") + flag;
        return std::string("cpu: kernels ") + k_.name + " (" + std::to_string(k_.lanes) + " f32 lanes), oneDNN isa " +
               cpu::onednn_isa() + (cpu::native_bf16() ? " (bf16 kernels)" : " (no bf16 kernels)") + "; CPU has " + has;
    }
    bool supports(Op op, DType compute) const override {
        if (compute == DType::F32) return true;
        if (compute != DType::BF16) return false;
        return (op == Op::Conv2d || op == Op::Linear || op == Op::Matmul) && cpu::native_bf16();
    }
    void prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv) override {
        dense_.prepare_weight(w, use, compute, conv);
    }
    void release_prepared_weights() override { dense_.release_prepared_weights(); }
    size_t prepared_weight_bytes() const override { return dense_.prepared_weight_bytes(); }
    void set_prepared_weight_limit(size_t bytes) override { dense_.set_prepared_weight_limit(bytes); }

    void conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act, DType compute,
                const View& y) override {
        dense_.conv2d(x, w, bias, stride, pad, act, compute, y);
    }
    void linear(const View& x, const View& w, const View& bias, DType compute, const View& y) override {
        dense_.linear(x, w, bias, compute, y);
    }
    void matmul(const View& a, const View& b, float alpha, DType compute, const View& y) override {
        dense_.matmul(a, b, alpha, compute, y);
    }
    void group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                    const View& y) override {
        k_.group_norm(x, groups, gamma, beta, eps, silu, y);
    }
    void group_norm_stats(const View& x, int groups, float eps, const View& stats) override {
        k_.group_norm_stats(x, groups, eps, stats);
    }
    void group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                          const View& y) override {
        k_.group_norm_apply(x, stats, gamma, beta, silu, y);
    }
    void layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y) override {
        k_.layer_norm(x, gamma, beta, eps, y);
    }
    void softmax(const View& x, const View& y) override { k_.softmax(x, y); }
    void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType compute,
                   const View& y) override {
        k_.attention(q, k, v, heads, causal, scale, compute, y);
    }
    void unary(Unary op, const View& x, const View& y) override { k_.unary(op, x, y); }
    void geglu(const View& x, const View& y) override { k_.geglu(x, y); }
    void binary(Binary op, const View& a, const View& b, const View& y) override { k_.binary(op, a, b, y); }
    void scale(const View& x, float a, float b, const View& y) override { k_.scale(x, a, b, y); }
    void copy(const View& x, const View& y) override {
        if (y.is_contiguous())
            k_.copy_to_contiguous(x, y.f32());
        else
            k_.copy_strided(x, y);
    }
    void concat(std::span<const View> xs, int dim, const View& y) override { k_.concat(xs, dim, y); }
    void upsample_nearest2x(const View& x, const View& y) override { k_.upsample_nearest2x(x, y); }
    void resize_bilinear(const View& x, bool align_corners, const View& y) override {
        k_.resize_bilinear(x, align_corners, y);
    }
    void reduce(Reduce op, const View& x, bool unbiased, const View& y) override { k_.reduce(op, x, unbiased, y); }

    BackendCounters counters() const override {
        const cpu::DenseCounters c = dense_.counters();
        return {c.reference_fallbacks, c.converted_in_blocks, c.staging_peak_bytes};
    }

private:
    const cpu::KernelSet& k_;
    cpu::Dense dense_;
};

}  // namespace

Backend& cpu_backend() {
    static CpuBackend be(cpu::CpuBackendOptions{});
    return be;
}

std::unique_ptr<Backend> make_cpu_backend() { return cpu::make_cpu_backend(); }

std::unique_ptr<Backend> cpu::make_cpu_backend(const CpuBackendOptions& options) {
    return std::make_unique<CpuBackend>(options);
}

}  // namespace sdpp
