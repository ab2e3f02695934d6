// diffusers v0.30.3 set_timesteps() of the SD schedulers (see schedule_diffusers.h).
#include "common/schedule_diffusers.h"

#include "core/error.h"
#include "sample/float_exact.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <string>

namespace sdpp {

TimestepSpacing timestep_spacing_from_name(std::string_view name) {
    if (name == "leading") return TimestepSpacing::Leading;
    if (name == "trailing") return TimestepSpacing::Trailing;
    if (name == "linspace") return TimestepSpacing::Linspace;
    throw error("unknown timestep spacing '", name, "'; valid: leading, trailing, linspace");
}

double np_round_half_even(double x) {
    // numpy rounds halves to even, which is the IEEE default rounding mode of nearbyint.
    const int old = std::fegetround();
    std::fesetround(FE_TONEAREST);
    const double r = std::nearbyint(x);
    std::fesetround(old);
    return r;
}

// numpy.linspace(start, stop, num) (endpoint=True): i * step + start, last element = stop.
std::vector<double> np_linspace(double start, double stop, int num) {
    SDPP_CHECK(num >= 0, "linspace: negative count ", num);
    std::vector<double> y(static_cast<size_t>(num));
    if (num == 0) return y;
    const int div = num - 1;
    const double delta = stop - start;
    const double step = div > 0 ? delta / div : delta;
    for (int i = 0; i < num; ++i) y[size_t(i)] = double(i) * step + start;
    if (num > 1) y.back() = stop;
    return y;
}

// numpy.arange(start, stop, step): ceil((stop - start) / step) values start + i * step.
std::vector<double> np_arange(double start, double stop, double step) {
    SDPP_CHECK(step != 0, "arange: zero step");
    const double len = std::ceil((stop - start) / step);
    std::vector<double> y;
    if (!(len > 0)) return y;
    SDPP_CHECK(len < 1e7, "arange: too many values");
    y.resize(size_t(len));
    for (size_t i = 0; i < y.size(); ++i) y[i] = start + double(i) * step;
    return y;
}

namespace {

void check_n(int n, const DiffusersScheduleConfig& cfg) {
    SDPP_CHECK(cfg.num_train_timesteps >= 2, "diffusers schedule: num_train_timesteps must be >= 2");
    SDPP_CHECK(n >= 1 && n <= cfg.num_train_timesteps, "diffusers schedule: number of steps ", n,
               " must be in [1, num_train_timesteps=", cfg.num_train_timesteps, "]");
}

std::vector<double> reversed(std::vector<double> v) {
    std::reverse(v.begin(), v.end());
    return v;
}

// np.interp(x, arange(len(fp)), fp) for x inside [0, len-1] (clamped outside, as numpy does).
double interp_index(double x, const std::vector<float>& fp) {
    const double last = double(fp.size() - 1);
    if (x <= 0) return fp.front();
    if (x >= last) return fp.back();
    const size_t j = size_t(std::floor(x));
    const double slope = (double(fp[j + 1]) - double(fp[j]));
    return slope * (x - double(j)) + double(fp[j]);
}

// _sigma_to_t of the Euler/DPM schedulers (float64 math over float32 log sigmas).
double sigma_to_t_np(double sigma, const std::vector<float>& log_sigmas) {
    const double log_sigma = std::log(std::max(sigma, 1e-10));
    const int n = int(log_sigmas.size());
    int low = -1;
    for (int i = 0; i < n; ++i)
        if (log_sigma - double(log_sigmas[size_t(i)]) >= 0) low = i;
    low = std::clamp(low, 0, n - 2);  // argmax of an all-zero cumsum is 0
    const double lo = log_sigmas[size_t(low)], hi = log_sigmas[size_t(low + 1)];
    const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
    return (1.0 - w) * low + w * (low + 1);
}

// _convert_to_karras: rho = 7 between in_sigmas' last (min) and first (max) entries.
std::vector<double> karras_np(double sigma_min, double sigma_max, int n) {
    const double rho = 7.0;
    const double min_inv = std::pow(sigma_min, 1.0 / rho), max_inv = std::pow(sigma_max, 1.0 / rho);
    std::vector<double> ramp = np_linspace(0.0, 1.0, n), s(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) s[size_t(i)] = std::pow(max_inv + ramp[size_t(i)] * (min_inv - max_inv), rho);
    return s;
}

std::vector<float> float_log(const std::vector<float>& v) {
    std::vector<float> r(v.size());
    for (size_t i = 0; i < v.size(); ++i) r[i] = float(std::log(double(v[i])));
    return r;
}

}  // namespace

std::vector<float> diffusers_alphas_cumprod(const DiffusersScheduleConfig& cfg) {
    const int T = cfg.num_train_timesteps;
    SDPP_CHECK(T >= 2, "diffusers schedule: num_train_timesteps must be >= 2");
    // torch.linspace(sqrt(b0), sqrt(b1), T, dtype=float32) as ATen's CPU kernel computes it: float
    // step; pairs of 8-lane vectors whose lane j is base + j*step with base = start + step*idx
    // (fused by GCC) before the halfway index and end - step*(T-1-idx) after it; the remainder
    // element-wise. Bit-exact against diffusers' float32 alphas_cumprod.
    const float start = float(std::sqrt(cfg.beta_start)), end = float(std::sqrt(cfg.beta_end));
    const float step = (end - start) / float(T - 1);
    const int half = T / 2, lanes = 8, vec_end = T / (2 * lanes) * (2 * lanes);
    auto head = [&](int idx) {
        return idx < half ? std::fma(step, float(idx), start) : std::fma(-step, float(T - 1 - idx), end);
    };
    std::vector<float> ac(static_cast<size_t>(T));
    double prod = 1.0;  // torch's CPU cumprod accumulates float in double
    for (int i = 0; i < T; ++i) {
        float r;
        if (i < vec_end) {
            const int base = i / lanes * lanes;
            r = rounded(head(base) + rounded(float(i - base) * step));
        } else {
            r = head(i);
        }
        const float beta = rounded(r * r);
        prod *= double(1.0f - beta);
        ac[size_t(i)] = float(prod);
    }
    return ac;
}

std::vector<float> diffusers_train_sigmas(const std::vector<float>& ac) {
    std::vector<float> s(ac.size());
    for (size_t i = 0; i < ac.size(); ++i) s[i] = std::sqrt((1.0f - ac[i]) / ac[i]);
    return s;
}

std::vector<int64_t> ddim_timesteps(int n, const DiffusersScheduleConfig& cfg) {
    check_n(n, cfg);
    const int T = cfg.num_train_timesteps;
    std::vector<double> t;
    switch (cfg.spacing) {
        case TimestepSpacing::Linspace:
            t = reversed(np_linspace(0, T - 1, n));
            for (double& v : t) v = np_round_half_even(v);
            break;
        case TimestepSpacing::Leading: {
            const int ratio = T / n;
            for (int i = n - 1; i >= 0; --i) t.push_back(double(i * ratio + cfg.steps_offset));
            break;
        }
        case TimestepSpacing::Trailing:
            t = np_arange(T, 0, -double(T) / n);
            for (double& v : t) v = np_round_half_even(v) - 1;
            break;
    }
    return std::vector<int64_t>(t.begin(), t.end());
}

std::vector<int64_t> pndm_plms_timesteps(int n, const DiffusersScheduleConfig& cfg) {
    check_n(n, cfg);
    const int T = cfg.num_train_timesteps;
    std::vector<double> base;  // ascending _timesteps
    switch (cfg.spacing) {
        case TimestepSpacing::Linspace:
            base = np_linspace(0, T - 1, n);
            for (double& v : base) v = np_round_half_even(v);
            break;
        case TimestepSpacing::Leading:
            for (int i = 0; i < n; ++i) base.push_back(double(i * (T / n) + cfg.steps_offset));
            break;
        case TimestepSpacing::Trailing:
            base = reversed(np_arange(T, 0, -double(T) / n));
            for (double& v : base) v = np_round_half_even(v) - 1;
            break;
    }
    // plms = concat(ts[:-1], ts[-2:-1], ts[-1:])[::-1]
    std::vector<double> plms(base.begin(), base.end() - 1);
    if (base.size() >= 2) plms.push_back(base[base.size() - 2]);
    plms.push_back(base.back());
    std::reverse(plms.begin(), plms.end());
    return std::vector<int64_t>(plms.begin(), plms.end());
}

DiffusersTimesteps euler_timesteps(int n, const DiffusersScheduleConfig& cfg, bool karras) {
    check_n(n, cfg);
    const int T = cfg.num_train_timesteps;
    std::vector<double> t;
    switch (cfg.spacing) {
        case TimestepSpacing::Linspace:
            // np.linspace(..., dtype=np.float32)
            t = reversed(np_linspace(0, T - 1, n));
            for (double& v : t) v = double(float(v));
            break;
        case TimestepSpacing::Leading: {
            const int ratio = T / n;
            for (int i = n - 1; i >= 0; --i) t.push_back(double(i * ratio + cfg.steps_offset));
            break;
        }
        case TimestepSpacing::Trailing:
            t = np_arange(T, 0, -double(T) / n);
            for (double& v : t) v = np_round_half_even(v) - 1;
            break;
    }
    const std::vector<float> train = diffusers_train_sigmas(diffusers_alphas_cumprod(cfg));
    std::vector<double> sig(t.size());
    for (size_t i = 0; i < t.size(); ++i) sig[i] = interp_index(t[i], train);
    if (karras) {
        const std::vector<float> log_sigmas = float_log(train);
        sig = karras_np(sig.back(), sig.front(), n);
        for (size_t i = 0; i < sig.size(); ++i) t[i] = double(float(sigma_to_t_np(sig[i], log_sigmas)));
    }
    DiffusersTimesteps r;
    r.timesteps = t;
    for (double s : sig) r.sigmas.push_back(float(s));
    r.sigmas.push_back(0.0f);
    return r;
}

DiffusersTimesteps dpm_multistep_timesteps(int n, const DiffusersScheduleConfig& cfg, bool karras) {
    check_n(n, cfg);
    const int T = cfg.num_train_timesteps;
    std::vector<double> t;
    switch (cfg.spacing) {
        case TimestepSpacing::Linspace: {
            std::vector<double> l = reversed(np_linspace(0, T - 1, n + 1));
            l.pop_back();
            for (double v : l) t.push_back(np_round_half_even(v));
            break;
        }
        case TimestepSpacing::Leading: {
            const int ratio = T / (n + 1);
            for (int i = n; i >= 1; --i) t.push_back(double(i * ratio + cfg.steps_offset));
            break;
        }
        case TimestepSpacing::Trailing:
            t = np_arange(T, 0, -double(T) / n);
            for (double& v : t) v = np_round_half_even(v) - 1;
            break;
    }
    const std::vector<float> train = diffusers_train_sigmas(diffusers_alphas_cumprod(cfg));
    std::vector<double> sig(t.size());
    if (karras) {
        // Karras between the smallest and largest training sigmas; timesteps rounded from them.
        const std::vector<float> log_sigmas = float_log(train);
        sig = karras_np(train.front(), train.back(), n);
        t.resize(sig.size());
        for (size_t i = 0; i < sig.size(); ++i) t[i] = np_round_half_even(sigma_to_t_np(sig[i], log_sigmas));
    } else {
        for (size_t i = 0; i < t.size(); ++i) sig[i] = interp_index(t[i], train);
    }
    DiffusersTimesteps r;
    r.timesteps = t;
    for (double s : sig) r.sigmas.push_back(float(s));
    r.sigmas.push_back(0.0f);
    return r;
}

std::vector<int64_t> lcm_timesteps(int n, const DiffusersScheduleConfig& cfg, int original_steps) {
    check_n(n, cfg);
    const int T = cfg.num_train_timesteps;
    SDPP_CHECK(original_steps >= 1 && original_steps <= T, "LCM: original_inference_steps ", original_steps,
               " must be in [1, ", T, "]");
    SDPP_CHECK(n <= original_steps, "LCM: ", n, " steps exceed original_inference_steps ", original_steps);
    const int k = T / original_steps;
    std::vector<int64_t> origin;  // descending: original_steps*k-1, ..., k-1
    for (int i = original_steps; i >= 1; --i) origin.push_back(int64_t(i) * k - 1);
    std::vector<int64_t> out;
    // np.floor(np.linspace(0, len(origin), n, endpoint=False))
    const double step = double(origin.size()) / double(n);
    for (int i = 0; i < n; ++i) out.push_back(origin[size_t(std::floor(double(i) * step))]);
    return out;
}

void lcm_scalings(double t, double timestep_scaling, double* c_skip, double* c_out) {
    const double sigma_data = 0.5;
    const double st = t * timestep_scaling;
    *c_skip = sigma_data * sigma_data / (st * st + sigma_data * sigma_data);
    *c_out = st / std::sqrt(st * st + sigma_data * sigma_data);
}

}  // namespace sdpp
