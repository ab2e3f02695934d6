// Single-step k-diffusion samplers, mirroring k_diffusion/sampling.py (crowsonkb/k-diffusion,
// master 4601bf08): sample_euler, sample_euler_ancestral, sample_heun, sample_dpm_2,
// sample_dpm_2_ancestral, sample_lms, sample_dpmpp_2s_ancestral, sample_dpmpp_sde.
// Scalar step coefficients are computed in double; tensor updates are element-wise in double.
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

void report(const StepCallback& cb, int i, double sigma, double sigma_hat, const Tensor& x, const Tensor& den) {
    if (cb) cb(StepInfo{i, float(sigma), float(sigma_hat), x, den});
}

// One Euler step along d = (x - denoised) / sigma from sigma to sigma_to.
Tensor euler_step(const Tensor& x, const Tensor& den, double sigma, double sigma_to) {
    const double r = (sigma_to - sigma) / sigma;
    return lincomb({{1.0 + r, x}, {-r, den}});
}

// k-diffusion churn (Karras et al. 2022, Alg. 2 lines 4-6): gamma and the raised sigma_hat; draws
// randn_like(x) every step as k-diffusion does, adds it only when gamma > 0.
double churn(Tensor& x, double sigma, double sigma_next, int n, NoiseSource& noise, const SamplerOptions& o) {
    const double gamma = (o.s_tmin <= sigma && sigma <= o.s_tmax)
                             ? std::min(double(o.s_churn) / n, std::sqrt(2.0) - 1.0)
                             : 0.0;
    const Tensor eps = noise.next(x.shape(), float(sigma), float(sigma_next));
    const double sigma_hat = sigma * (gamma + 1.0);
    if (gamma > 0) x = lincomb({{1.0, x}, {double(o.s_noise) * std::sqrt(sigma_hat * sigma_hat - sigma * sigma), eps}});
    return sigma_hat;
}

Tensor add_noise(const Tensor& x, NoiseSource& noise, double sigma, double sigma_next, double scale) {
    const Tensor n = noise.next(x.shape(), float(sigma), float(sigma_next));
    return lincomb({{1.0, x}, {scale, n}});
}

}  // namespace

AncestralStep get_ancestral_step(double sigma_from, double sigma_to, double eta) {
    if (eta == 0.0) return {sigma_to, 0.0};
    const double up = std::min(
        sigma_to, eta * std::sqrt(std::max(0.0, sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) /
                                                    (sigma_from * sigma_from))));
    return {std::sqrt(std::max(0.0, sigma_to * sigma_to - up * up)), up};
}

// Euler (Karras et al. 2022, Alg. 2 with optional churn); k-diffusion sample_euler.
Tensor sample_euler(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                    const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("euler", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const double sigma_hat = churn(x, s, s_next, n, noise, o);
        const Tensor den = call(model, x, sigma_hat);
        report(cb, i, s, sigma_hat, x, den);
        x = euler_step(x, den, sigma_hat, s_next);
    }
    return x;
}

// Euler ancestral: Euler to sigma_down, then fresh noise of std sigma_up (eta scales it);
// k-diffusion sample_euler_ancestral.
Tensor sample_euler_ancestral(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                              const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("euler_ancestral", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        const AncestralStep a = get_ancestral_step(s, s_next, o.eta);
        report(cb, i, s, s, x, den);
        x = euler_step(x, den, s, a.sigma_down);
        if (s_next > 0) x = add_noise(x, noise, s, s_next, double(o.s_noise) * a.sigma_up);
    }
    return x;
}

// Heun's 2nd-order method (Karras et al. 2022, Alg. 2); Euler on the final step to sigma 0;
// k-diffusion sample_heun.
Tensor sample_heun(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                   const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("heun", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const double sigma_hat = churn(x, s, s_next, n, noise, o);
        const Tensor den = call(model, x, sigma_hat);
        report(cb, i, s, sigma_hat, x, den);
        const double dt = s_next - sigma_hat;
        if (s_next == 0) {
            x = euler_step(x, den, sigma_hat, s_next);
        } else {
            const Tensor x2 = euler_step(x, den, sigma_hat, s_next);
            const Tensor den2 = call(model, x2, s_next);
            // x + dt * (d + d2) / 2 with d = (x - den)/sigma_hat, d2 = (x2 - den2)/s_next
            const double a = dt / (2.0 * sigma_hat), b = dt / (2.0 * s_next);
            x = lincomb({{1.0 + a, x}, {-a, den}, {b, x2}, {-b, den2}});
        }
    }
    return x;
}

// DPM-Solver-2 (Lu et al. 2022, Alg. 1 with the midpoint in log sigma, as in Karras et al. 2022
// appendix); k-diffusion sample_dpm_2.
Tensor sample_dpm_2(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                    const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("dpm_2", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const double sigma_hat = churn(x, s, s_next, n, noise, o);
        const Tensor den = call(model, x, sigma_hat);
        report(cb, i, s, sigma_hat, x, den);
        if (s_next == 0) {
            x = euler_step(x, den, sigma_hat, s_next);
        } else {
            const double sigma_mid = std::exp(0.5 * (std::log(sigma_hat) + std::log(s_next)));
            const Tensor x2 = euler_step(x, den, sigma_hat, sigma_mid);
            const Tensor den2 = call(model, x2, sigma_mid);
            const double b = (s_next - sigma_hat) / sigma_mid;  // x + d2 * dt_2
            x = lincomb({{1.0, x}, {b, x2}, {-b, den2}});
        }
    }
    return x;
}

// Ancestral DPM-Solver-2: DPM-Solver-2 to sigma_down, then noise of std sigma_up;
// k-diffusion sample_dpm_2_ancestral.
Tensor sample_dpm_2_ancestral(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                              const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("dpm_2_ancestral", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        const AncestralStep a = get_ancestral_step(s, s_next, o.eta);
        report(cb, i, s, s, x, den);
        if (a.sigma_down == 0) {
            x = euler_step(x, den, s, a.sigma_down);
        } else {
            const double sigma_mid = std::exp(0.5 * (std::log(s) + std::log(a.sigma_down)));
            const Tensor x2 = euler_step(x, den, s, sigma_mid);
            const Tensor den2 = call(model, x2, sigma_mid);
            const double b = (a.sigma_down - s) / sigma_mid;
            x = lincomb({{1.0, x}, {b, x2}, {-b, den2}});
            x = add_noise(x, noise, s, s_next, double(o.s_noise) * a.sigma_up);
        }
    }
    return x;
}

namespace {

// Integral over [t[i], t[i+1]] of the Lagrange basis polynomial of node j among the nodes
// t[i], t[i-1], ..., t[i-order+1] (k-diffusion linear_multistep_coeff integrates it with
// scipy.integrate.quad, exact for these low-degree polynomials; we expand and integrate exactly).
double lms_coeff(int order, std::span<const float> t, int i, int j) {
    std::vector<double> poly{1.0};  // coefficients in tau, lowest first
    for (int k = 0; k < order; ++k) {
        if (k == j) continue;
        const double tk = t[size_t(i - k)], denom = double(t[size_t(i - j)]) - tk;
        std::vector<double> next(poly.size() + 1, 0.0);
        for (size_t m = 0; m < poly.size(); ++m) {  // poly * (tau - tk) / denom
            next[m + 1] += poly[m] / denom;
            next[m] -= poly[m] * tk / denom;
        }
        poly.swap(next);
    }
    const double a = t[size_t(i)], b = t[size_t(i + 1)];
    double integral = 0, pa = a, pb = b;
    for (size_t m = 0; m < poly.size(); ++m) {
        integral += poly[m] * (pb - pa) / double(m + 1);
        pa *= a;
        pb *= b;
    }
    return integral;
}

}  // namespace

// Linear multistep (Adams-Bashforth in sigma on d = (x - denoised)/sigma, order 4 by default);
// k-diffusion sample_lms.
Tensor sample_lms(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource&,
                  const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("lms", model, x, sigmas);
    SDPP_CHECK(o.lms_order >= 1 && o.lms_order <= 8, "lms: order ", o.lms_order, " is outside [1, 8]");
    std::deque<Tensor> ds;
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i];
        const Tensor den = call(model, x, s);
        ds.push_back(lincomb({{1.0 / s, x}, {-1.0 / s, den}}));
        if (int(ds.size()) > o.lms_order) ds.pop_front();
        report(cb, i, s, s, x, den);
        const int order = std::min(i + 1, o.lms_order);
        Tensor next = x;
        for (int j = 0; j < order; ++j) {
            const double c = lms_coeff(order, sigmas, i, j);  // pairs with ds[-1 - j]
            next = lincomb({{1.0, next}, {c, ds[ds.size() - 1 - size_t(j)]}});
        }
        x = next;
    }
    return x;
}

// DPM-Solver++(2S) ancestral (Lu et al. 2022b, "DPM-Solver++", Alg. 1 single-step, r = 1/2), to
// sigma_down in log-sigma time t = -log sigma, then noise of std sigma_up;
// k-diffusion sample_dpmpp_2s_ancestral.
Tensor sample_dpmpp_2s_ancestral(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                                 const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("dpmpp_2s_ancestral", model, x, sigmas);
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        const AncestralStep a = get_ancestral_step(s, s_next, o.eta);
        report(cb, i, s, s, x, den);
        if (a.sigma_down == 0) {
            x = euler_step(x, den, s, a.sigma_down);
        } else {
            const double t = -std::log(s), t_next = -std::log(a.sigma_down);
            const double h = t_next - t, r = 0.5;
            const double s_mid = std::exp(-(t + r * h));
            const Tensor x2 = lincomb({{s_mid / s, x}, {-std::expm1(-h * r), den}});
            const Tensor den2 = call(model, x2, s_mid);
            x = lincomb({{a.sigma_down / s, x}, {-std::expm1(-h), den2}});
        }
        if (s_next > 0) x = add_noise(x, noise, s, s_next, double(o.s_noise) * a.sigma_up);
    }
    return x;
}

// DPM-Solver++ stochastic (Lu et al. 2022b, "DPM-Solver++" SDE variant, 2 stages with r = 1/2);
// k-diffusion sample_dpmpp_sde. k-diffusion draws its noise from a Brownian tree by default; here
// the noise source is used instead (seeded torch noise by default).
Tensor sample_dpmpp_sde(const DenoiseFn& model, Tensor x, std::span<const float> sigmas, NoiseSource& noise,
                        const SamplerOptions& o, const StepCallback& cb) {
    const int n = check_inputs("dpmpp_sde", model, x, sigmas);
    SDPP_CHECK(o.sde_r > 0.0f && o.sde_r < 1.0f, "dpmpp_sde: r = ", o.sde_r, " is outside (0, 1)");
    const double r = o.sde_r, fac = 1.0 / (2.0 * r);
    auto sigma_fn = [](double t) { return std::exp(-t); };
    auto t_fn = [](double sigma) { return -std::log(sigma); };
    for (int i = 0; i < n; ++i) {
        const double s = sigmas[i], s_next = sigmas[i + 1];
        const Tensor den = call(model, x, s);
        report(cb, i, s, s, x, den);
        if (s_next == 0) {
            x = euler_step(x, den, s, s_next);
            continue;
        }
        const double t = t_fn(s), t_next = t_fn(s_next);
        const double h = t_next - t, t_mid = t + h * r;
        // Step 1: to the intermediate time with its own ancestral split.
        AncestralStep a = get_ancestral_step(sigma_fn(t), sigma_fn(t_mid), o.eta);
        double t_ = t_fn(a.sigma_down);
        Tensor x2 = lincomb({{sigma_fn(t_) / sigma_fn(t), x}, {-std::expm1(t - t_), den}});
        x2 = add_noise(x2, noise, sigma_fn(t), sigma_fn(t_mid), double(o.s_noise) * a.sigma_up);
        const Tensor den2 = call(model, x2, sigma_fn(t_mid));
        // Step 2: the full step with the blended denoised estimate.
        a = get_ancestral_step(sigma_fn(t), sigma_fn(t_next), o.eta);
        t_ = t_fn(a.sigma_down);
        const double c = -std::expm1(t - t_);
        x = lincomb({{sigma_fn(t_) / sigma_fn(t), x}, {c * (1.0 - fac), den}, {c * fac, den2}});
        x = add_noise(x, noise, sigma_fn(t), sigma_fn(t_next), double(o.s_noise) * a.sigma_up);
    }
    return x;
}

}  // namespace sdpp
