// Multistep and diffusers-derived samplers, all in sigma space (x = x0 + sigma * eps):
//  - dpmpp_2m, dpmpp_2m_sde, dpmpp_3m_sde: k-diffusion sample_dpmpp_2m / _2m_sde / _3m_sde;
//  - ddim: diffusers DDIMScheduler.step (Song et al. 2021, eq. 12) rewritten in sigma space;
//  - plms: diffusers PNDMScheduler.step_plms with skip_prk_steps (Liu et al. 2022, "Pseudo
//    Numerical Methods for Diffusion Models", PLMS) rewritten in sigma space;
//  - unipc: diffusers UniPCMultistepScheduler (Zhao et al. 2023, "UniPC", data prediction,
//    B(h) variants bh1/bh2) rewritten in sigma space;
//  - lcm: diffusers LCMScheduler.step / ComfyUI sample_lcm (Luo et al. 2023).
// The VP sample of diffusers is x_vp = x / sqrt(1 + sigma^2); its DDIM step with eps equals an Euler
// step in sigma, and lambda = log(alpha / sigma_vp) = -log(sigma), which is how these rewrites follow.
#include "sample/latent_math.h"
#include "sample/samplers.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace sdpp {

namespace {

int check_inputs(const char* name, const DenoiseFn& model, const Tensor& x, std::span<const float> sigmas) {
    SDPP_CHECK(model != nullptr, name, ": no denoiser");
    SDPP_CHECK(x.defined() && x.numel() > 0, name, ": empty latent");
    SDPP_CHECK(!sigmas.empty(), name, ": no sigmas");
    for (size_t i = 0; i < sigmas.size(); ++i) {
        SDPP_CHECK(std::isfinite(sigmas[i]) && sigmas[i] >= 0.0f, name, ": sigma ", i, " = ", sigmas[i],
                   " is not a finite non-negative number");
        SDPP_CHECK(i + 1 == sigmas.size() || sigmas[i] > 0.0f, name, ": only the last sigma may be 0 (sigma ", i,
                   " is 0)");
    }
    return int(sigmas.size()) - 1;
}

Tensor call(const DenoiseFn& model, const Tensor& x, double sigma) {
    Tensor d = model(x, float(sigma));
    SDPP_CHECK(d.defined() && d.shape() == x.shape(), "denoiser returned ", d.defined() ? d.shape_str() : "nothing",
               " for a latent of shape ", x.shape_str());
    return d;
}

void report(const StepCallback& cb, int i, double sigma, const Tensor& x, const Tensor& den) {
    if (cb) cb(StepInfo{i, float(sigma), float(sigma), x, den});
}

// Solves the small dense system A y = b (Gaussian elimination with partial pivoting).
std::vector<double> solve(std::vector<std::vector<double>> A, std::vector<double> b) {
    const size_t n = b.size();
    for (size_t c = 0; c < n; ++c) {
        size_t p = c;
        for (size_t r = c + 1; r < n; ++r)
            if (std::fabs(A[r][c]) > std::fabs(A[p][c])) p = r;
        SDPP_CHECK(A[p][c] != 0.0, "unipc: singular system (repeated sigmas?)");
        std::swap(A[c], A[p]);
        std::swap(b[c], b[p]);
        for (size_t r = c + 1; r < n; ++r) {
            const double f = A[r][c] / A[c][c];
            for (size_t k = c; k < n; ++k) A[r][k] -= f * A[c][k];
            b[r] -= f * b[c];
        }
    }
    std::vector<double> y(n);
    for (size_t i = n; i-- > 0;) {
        double acc = b[i];
        for (size_t k = i + 1; k < n; ++k) acc -= A[i][k] * y[k];
        y[i] = acc / A[i][i];
    }
    return y;
}

}  // namespace

// DPM-Solver++(2M) (Lu et al. 2022b, Alg. 2): second-order multistep in t = -log sigma on the
// denoised estimates, first order on the first step and on the step to sigma 0;
// k-diffusion sample_dpmpp_2m (= diffusers DPMSolverMultistepScheduler, dpmsolver++, midpoint,
// lower_order_final).
Tensor sample_dpmpp_2m(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource&,
                       const SamplerOptions&, const StepCallback& cb) {
    const int n = check_inputs("dpmpp_2m", model, x, sigmas);
    Tensor old_den;
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        if (s_next == 0) {
            x = den;  // (sigma_next / sigma) * x - expm1(-inf) * den
        } else {
            const double h = std::log(s / s_next);  // t_next - t
            const double c = -std::expm1(-h);
            if (!old_den.defined()) {
                x = lincomb({{s_next / s, x}, {c, den}});
            } else {
                const double h_last = std::log(double(sigmas[i - 1]) / s);
                const double k = 1.0 / (2.0 * (h_last / h));  // 1/(2r)
                x = lincomb({{s_next / s, x}, {c * (1.0 + k), den}, {-c * k, old_den}});
            }
        }
        old_den = den;
    }
    return x;
}

// DPM-Solver++(2M) SDE (Lu et al. 2022b §4 / Gonzalez et al.), midpoint or heun correction; the
// noise is scaled by sigma_next * sqrt(1 - exp(-2 eta h)); k-diffusion sample_dpmpp_2m_sde.
// k-diffusion's default noise is a Brownian tree; here it comes from the noise source.
Tensor sample_dpmpp_2m_sde(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                           const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("dpmpp_2m_sde", model, x, sigmas);
    const double eta = o.eta;
    Tensor old_den;
    double h_last = 0;
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        double h = h_last;
        if (s_next == 0) {
            x = den;
        } else {
            h = std::log(s / s_next);
            const double eta_h = eta * h;
            const double c = -std::expm1(-h - eta_h);
            x = lincomb({{s_next / s * std::exp(-eta_h), x}, {c, den}});
            if (old_den.defined()) {
                const double r = h_last / h;
                const double k = o.sde_solver == SdeSolver::Heun ? (c / (-h - eta_h) + 1.0) * (1.0 / r)
                                                                 : 0.5 * c * (1.0 / r);
                x = lincomb({{1.0, x}, {k, den}, {-k, old_den}});
            }
            if (eta != 0.0) {
                const Tensor z = noise.next(x.shape(), float(s), float(s_next));
                const double scale = s_next * std::sqrt(-std::expm1(-2.0 * eta_h)) * double(o.s_noise);
                x = lincomb({{1.0, x}, {scale, z}});
            }
        }
        old_den = den;
        h_last = h;
    }
    return x;
}

// DPM-Solver++(3M) SDE: third-order multistep with the exponential integrator's phi_2/phi_3 terms;
// k-diffusion sample_dpmpp_3m_sde (Brownian-tree noise replaced by the noise source).
Tensor sample_dpmpp_3m_sde(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                           const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("dpmpp_3m_sde", model, x, sigmas);
    const double eta = o.eta;
    Tensor den_1, den_2;
    double h = 0, h_1 = 0, h_2 = 0;
    bool have_h1 = false, have_h2 = false;
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        if (s_next == 0) {
            x = den;
        } else {
            h = std::log(s / s_next);
            const double h_eta = h * (eta + 1.0);
            x = lincomb({{std::exp(-h_eta), x}, {-std::expm1(-h_eta), den}});
            if (have_h2) {
                const double r0 = h_1 / h, r1 = h_2 / h;
                const double phi_2 = std::expm1(-h_eta) / h_eta + 1.0;
                const double phi_3 = phi_2 / h_eta - 0.5;
                // d1_0 = (den - den_1)/r0, d1_1 = (den_1 - den_2)/r1
                // d1 = d1_0 + (d1_0 - d1_1) * r0/(r0+r1), d2 = (d1_0 - d1_1)/(r0+r1)
                // x += phi_2 * d1 - phi_3 * d2
                const double q = r0 / (r0 + r1), w = 1.0 / (r0 + r1);
                const double a0 = 1.0 / r0, a1 = 1.0 / r1;  // d1_0 = a0*(den - den_1), d1_1 = a1*(den_1 - den_2)
                const double c_d10 = phi_2 * (1.0 + q) - phi_3 * w;  // coefficient of d1_0
                const double c_d11 = -phi_2 * q + phi_3 * w;         // coefficient of d1_1
                x = lincomb({{1.0, x},
                             {c_d10 * a0, den},
                             {-c_d10 * a0 + c_d11 * a1, den_1},
                             {-c_d11 * a1, den_2}});
            } else if (have_h1) {
                const double r = h_1 / h;
                const double phi_2 = std::expm1(-h_eta) / h_eta + 1.0;
                x = lincomb({{1.0, x}, {phi_2 / r, den}, {-phi_2 / r, den_1}});
            }
            if (eta != 0.0) {
                const Tensor z = noise.next(x.shape(), float(s), float(s_next));
                const double scale = s_next * std::sqrt(-std::expm1(-2.0 * h * eta)) * double(o.s_noise);
                x = lincomb({{1.0, x}, {scale, z}});
            }
        }
        den_2 = den_1;
        den_1 = den;
        h_2 = h_1;
        have_h2 = have_h1;
        h_1 = h;
        have_h1 = true;
    }
    return x;
}

// DDIM (Song et al. 2021, eq. 12) with eta: in sigma space x_next = x0 + sigma_down * eps + sigma_up * z
// with sigma_up = eta * sqrt(s_next^2 (s^2 - s_next^2) / s^2), the same split as get_ancestral_step;
// eta = 0 is Euler. Mirrors diffusers DDIMScheduler.step (noise drawn whenever eta > 0 and the next
// sigma is positive).
Tensor sample_ddim(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                   const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("ddim", model, x, sigmas);
    SDPP_CHECK(o.ddim_eta >= 0.0f && o.ddim_eta <= 1.0f, "ddim: eta ", o.ddim_eta, " is outside [0, 1]");
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        double down = s_next, up = 0;
        if (o.ddim_eta > 0 && s_next > 0) {
            up = std::min(s_next, o.ddim_eta * std::sqrt(s_next * s_next * (s * s - s_next * s_next) / (s * s)));
            down = std::sqrt(std::max(0.0, s_next * s_next - up * up));
        }
        x = lincomb({{down / s, x}, {1.0 - down / s, den}});
        if (o.ddim_eta > 0 && s_next > 0) {
            const Tensor z = noise.next(x.shape(), float(s), float(s_next));
            x = lincomb({{1.0, x}, {up, z}});
        }
    }
    return x;
}

// PLMS (Liu et al. 2022): Adams-Bashforth on eps over the (uniform) step index; the first step is an
// improved-Euler step that evaluates the model twice. Each update is a deterministic DDIM step,
// i.e. x + (sigma_next - sigma) * eps' in sigma space. Mirrors diffusers PNDMScheduler.step_plms
// (skip_prk_steps=True) and the CompVis PLMSSampler. n steps take n+1 model calls when n > 1.
Tensor sample_plms(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource&,
                   const SamplerOptions&, const StepCallback& cb) {
    const int n = check_inputs("plms", model, x, sigmas);
    std::deque<Tensor> ets;  // eps history (the first step's second evaluation is not kept)
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        const Tensor eps = lincomb({{1.0 / s, x}, {-1.0 / s, den}});
        ets.push_back(eps);
        if (ets.size() > 4) ets.pop_front();
        Tensor e;
        if (i == 0 && n > 1) {
            // improved Euler: eps' = (eps(x, s) + eps(x1, s_next)) / 2 with x1 the plain DDIM step
            const Tensor x1 = lincomb({{1.0, x}, {s_next - s, eps}});
            const Tensor den1 = call(model, x1, s_next);
            e = lincomb({{0.5, eps}, {0.5 / s_next, x1}, {-0.5 / s_next, den1}});
        } else {
            const size_t k = ets.size();
            const Tensor& e1 = ets[k - 1];
            if (k == 1) e = e1;
            else if (k == 2) e = lincomb({{1.5, e1}, {-0.5, ets[k - 2]}});
            else if (k == 3) e = lincomb({{23.0 / 12, e1}, {-16.0 / 12, ets[k - 2]}, {5.0 / 12, ets[k - 3]}});
            else e = lincomb({{55.0 / 24, e1}, {-59.0 / 24, ets[k - 2]}, {37.0 / 24, ets[k - 3]}, {-9.0 / 24, ets[k - 4]}});
        }
        x = lincomb({{1.0, x}, {s_next - s, e}});
    }
    return x;
}

namespace {

// One UniPC B(h) update in sigma space with data prediction (diffusers multistep_uni_p_bh_update /
// multistep_uni_c_bh_update divided by alpha_t). `ms` and `lams` hold the model outputs and their
// lambdas (= -log sigma), newest last; the update goes from lams.back() to lambda_t.
// corrector: ms.back() is m0 at the start sigma and model_t is the output at the target.
struct UniPCState {
    std::deque<Tensor> ms;
    std::deque<double> lams;
};

Tensor unipc_update(const UniPCState& st, const Tensor& x, double sigma_s0, double sigma_t, int order,
                    UniPCVariant variant, const Tensor* model_t) {
    const double lambda_s0 = st.lams.back(), lambda_t = -std::log(sigma_t);
    const double h = lambda_t - lambda_s0;
    const Tensor& m0 = st.ms.back();
    const size_t K = st.ms.size();
    std::vector<double> rks;
    std::vector<const Tensor*> mi;
    for (int k = 1; k < order; ++k) {
        rks.push_back((st.lams[K - 1 - size_t(k)] - lambda_s0) / h);
        mi.push_back(&st.ms[K - 1 - size_t(k)]);
    }
    rks.push_back(1.0);
    const double hh = -h;  // predict_x0
    const double h_phi_1 = std::expm1(hh);
    double h_phi_k = h_phi_1 / hh - 1.0;
    double factorial = 1.0;
    const double B_h = variant == UniPCVariant::BH1 ? hh : std::expm1(hh);
    std::vector<std::vector<double>> R;
    std::vector<double> b;
    for (int k = 1; k <= order; ++k) {
        std::vector<double> row;
        for (double r : rks) row.push_back(std::pow(r, k - 1));
        R.push_back(row);
        b.push_back(h_phi_k * factorial / B_h);
        factorial *= k + 1;
        h_phi_k = h_phi_k / hh - 1.0 / factorial;
    }
    // x_t_ = (sigma_t / sigma_s0) * x - h_phi_1 * m0
    const double cx = sigma_t / sigma_s0;
    std::vector<double> rhos;
    if (model_t == nullptr) {  // predictor
        if (order == 2) rhos = {0.5};
        else if (order > 2) {
            std::vector<std::vector<double>> Rs(R.begin(), R.end() - 1);
            for (auto& row : Rs) row.pop_back();
            rhos = solve(Rs, std::vector<double>(b.begin(), b.end() - 1));
        }
    } else {  // corrector
        rhos = order == 1 ? std::vector<double>{0.5} : solve(R, b);
    }
    // D1_k = (m_k - m0) / r_k; result = x_t_ - B_h * (sum_k rho_k D1_k [+ rho_last (model_t - m0)])
    double c_m0 = -h_phi_1;
    Tensor out = lincomb({{cx, x}});
    for (size_t k = 0; k + 1 < rks.size(); ++k) {
        const double w = -B_h * rhos[k] / rks[k];
        out = lincomb({{1.0, out}, {w, *mi[k]}});
        c_m0 -= w;
    }
    if (model_t != nullptr) {
        const double w = -B_h * rhos.back();
        out = lincomb({{1.0, out}, {w, *model_t}});
        c_m0 -= w;
    }
    return lincomb({{1.0, out}, {c_m0, m0}});
}

}  // namespace

// UniPC (Zhao et al. 2023, Alg. 1/2: UniP predictor + UniC corrector, data prediction, B(h) = h
// (bh1) or e^h - 1 (bh2)); mirrors diffusers UniPCMultistepScheduler.step (solver_order, warm-up
// with lower orders, lower_order_final). The corrector re-uses the next step's model output, so
// there is one model call per step; the last step has no corrector.
Tensor sample_unipc(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource&,
                    const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("unipc", model, x, sigmas);
    SDPP_CHECK(o.unipc_order >= 1 && o.unipc_order <= 3, "unipc: order ", o.unipc_order, " is outside [1, 3]");
    const int order = o.unipc_order;
    UniPCState st;
    Tensor last_sample;
    int this_order = 1, lower_order_nums = 0;
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        if (i > 0) x = unipc_update(st, last_sample, sigmas[i - 1], s, this_order, o.unipc_variant, &den);
        st.ms.push_back(den);
        st.lams.push_back(-std::log(s));
        if (int(st.ms.size()) > order) {
            st.ms.pop_front();
            st.lams.pop_front();
        }
        this_order = std::min({order, n - i, lower_order_nums + 1});
        last_sample = x;
        if (s_next == 0 && this_order == 1) x = den;  // the formula's limit, without inf arithmetic
        else x = unipc_update(st, x, s, s_next, this_order, o.unipc_variant, nullptr);
        lower_order_nums = std::min(lower_order_nums + 1, order);
    }
    return x;
}

// LCM multistep sampling (Luo et al. 2023, Alg. 1): each step jumps to the denoised estimate and,
// unless it is the last, re-noises it to the next sigma; diffusers LCMScheduler.step / ComfyUI
// sample_lcm. Use with a denoiser that applies the LCM boundary condition.
Tensor sample_lcm(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                  const SamplerOptions&, const StepCallback& cb) {
    const int n = check_inputs("lcm", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, x, den);
        x = den;
        if (s_next > 0) {
            const Tensor z = noise.next(x.shape(), float(s), float(s_next));
            x = lincomb({{1.0, x}, {s_next, z}});
        }
    }
    return x;
}

}  // namespace sdpp
