// Sigma schedules: LDM alphas_cumprod, k-diffusion DiscreteSchedule and get_sigmas_*, ComfyUI
// schedulers (see schedule.h for the upstream functions each one mirrors).
#include "sample/schedule.h"

#include "core/error.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace sdpp {

namespace {

// torch.linspace(start, end, n) element i (the halfway-symmetric formula of ATen's linspace kernel).
double linspace_at(double start, double end, int n, int i) {
    if (n == 1) return start;
    const double step = (end - start) / double(n - 1);
    return i < n / 2 ? start + step * i : end - step * double(n - 1 - i);
}

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

void check_steps(int n, const char* what) {
    SDPP_CHECK(n >= 1 && n <= 10000, what, ": number of steps must be in [1, 10000], got ", n);
}

}  // namespace

std::vector<float> ldm_alphas_cumprod(int n_train, double beta_start, double beta_end) {
    SDPP_CHECK(n_train >= 2, "ldm_alphas_cumprod: need at least 2 training timesteps, got ", n_train);
    SDPP_CHECK(beta_start > 0 && beta_end > beta_start && beta_end < 1, "ldm_alphas_cumprod: bad betas ", beta_start,
               "..", beta_end);
    std::vector<float> ac(static_cast<size_t>(n_train));
    const double a = std::sqrt(beta_start), b = std::sqrt(beta_end);
    double prod = 1.0;
    for (int i = 0; i < n_train; ++i) {
        const double r = linspace_at(a, b, n_train, i);
        prod *= 1.0 - r * r;
        ac[size_t(i)] = float(prod);
    }
    return ac;
}

DiscreteSchedule::DiscreteSchedule(std::vector<float> alphas_cumprod) : alphas_cumprod_(std::move(alphas_cumprod)) {
    SDPP_CHECK(alphas_cumprod_.size() >= 2, "discrete schedule: need at least 2 alphas_cumprod, got ",
               alphas_cumprod_.size());
    sigmas_.resize(alphas_cumprod_.size());
    log_sigmas_.resize(alphas_cumprod_.size());
    for (size_t i = 0; i < alphas_cumprod_.size(); ++i) {
        const float ac = alphas_cumprod_[i];
        SDPP_CHECK(ac > 0.0f && ac < 1.0f, "discrete schedule: alphas_cumprod[", i, "] = ", ac, " is outside (0, 1)");
        // float32 as k-diffusion computes it: ((1 - ac) / ac) ** 0.5
        sigmas_[i] = std::sqrt((1.0f - ac) / ac);
        log_sigmas_[i] = float(std::log(double(sigmas_[i])));
        if (i > 0)
            SDPP_CHECK(sigmas_[i] > sigmas_[i - 1], "discrete schedule: sigmas must increase with t (index ", i, ")");
    }
}

double DiscreteSchedule::sigma_to_t(double sigma) const {
    SDPP_CHECK(sigma > 0 && std::isfinite(sigma), "sigma_to_t: sigma must be positive and finite, got ", sigma);
    // log in float32 like torch, so that a sigma taken from this table maps to its exact index.
    const float log_sigma = float(std::log(sigma));
    const int n = size();
    // low = last index with log_sigma >= log_sigmas[i] (0 when none), at most n-2.
    auto it = std::upper_bound(log_sigmas_.begin(), log_sigmas_.end(), log_sigma);
    int low = int(it - log_sigmas_.begin()) - 1;
    low = std::clamp(low, 0, n - 2);
    const double lo = log_sigmas_[size_t(low)], hi = log_sigmas_[size_t(low + 1)];
    const double w = std::clamp((lo - double(log_sigma)) / (lo - hi), 0.0, 1.0);
    return (1.0 - w) * low + w * (low + 1);
}

int64_t DiscreteSchedule::sigma_to_t_quantized(double sigma) const {
    SDPP_CHECK(sigma > 0 && std::isfinite(sigma), "sigma_to_t: sigma must be positive and finite, got ", sigma);
    const float log_sigma = float(std::log(sigma));
    int64_t best = 0;
    float best_d = std::fabs(log_sigma - log_sigmas_[0]);
    for (size_t i = 1; i < log_sigmas_.size(); ++i) {
        const float d = std::fabs(log_sigma - log_sigmas_[i]);
        if (d < best_d) {  // argmin keeps the first minimum
            best_d = d;
            best = int64_t(i);
        }
    }
    return best;
}

double DiscreteSchedule::t_to_sigma(double t) const {
    SDPP_CHECK(t >= 0 && t <= size() - 1, "t_to_sigma: t = ", t, " is outside [0, ", size() - 1, "]");
    const int low = int(std::floor(t)), high = int(std::ceil(t));
    const double w = t - std::floor(t);
    const double log_sigma = (1.0 - w) * log_sigmas_[size_t(low)] + w * log_sigmas_[size_t(high)];
    return std::exp(log_sigma);
}

std::vector<float> DiscreteSchedule::get_sigmas(int n) const {
    check_steps(n, "get_sigmas");
    std::vector<float> out(size_t(n) + 1, 0.0f);
    // t = torch.linspace(t_max, 0, n) in float32
    for (int i = 0; i < n; ++i) out[size_t(i)] = float(t_to_sigma(double(float(linspace_at(size() - 1, 0, n, i)))));
    return out;
}

std::vector<float> karras_sigmas(int n, double sigma_min, double sigma_max, double rho) {
    check_steps(n, "karras schedule");
    SDPP_CHECK(sigma_min > 0 && sigma_max > sigma_min && rho > 0, "karras schedule: need 0 < sigma_min < sigma_max, got ",
               sigma_min, ", ", sigma_max);
    std::vector<float> out(size_t(n) + 1, 0.0f);
    const double min_inv = std::pow(sigma_min, 1.0 / rho), max_inv = std::pow(sigma_max, 1.0 / rho);
    for (int i = 0; i < n; ++i) {
        const double ramp = linspace_at(0.0, 1.0, n, i);
        out[size_t(i)] = float(std::pow(max_inv + ramp * (min_inv - max_inv), rho));
    }
    return out;
}

std::vector<float> exponential_sigmas(int n, double sigma_min, double sigma_max) {
    check_steps(n, "exponential schedule");
    SDPP_CHECK(sigma_min > 0 && sigma_max > sigma_min, "exponential schedule: need 0 < sigma_min < sigma_max, got ",
               sigma_min, ", ", sigma_max);
    std::vector<float> out(size_t(n) + 1, 0.0f);
    for (int i = 0; i < n; ++i)
        out[size_t(i)] = float(std::exp(linspace_at(std::log(sigma_max), std::log(sigma_min), n, i)));
    return out;
}

std::vector<float> polyexponential_sigmas(int n, double sigma_min, double sigma_max, double rho) {
    check_steps(n, "polyexponential schedule");
    SDPP_CHECK(sigma_min > 0 && sigma_max > sigma_min && rho > 0,
               "polyexponential schedule: need 0 < sigma_min < sigma_max, got ", sigma_min, ", ", sigma_max);
    std::vector<float> out(size_t(n) + 1, 0.0f);
    const double lmin = std::log(sigma_min), lmax = std::log(sigma_max);
    for (int i = 0; i < n; ++i) {
        const double ramp = std::pow(linspace_at(1.0, 0.0, n, i), rho);
        out[size_t(i)] = float(std::exp(ramp * (lmax - lmin) + lmin));
    }
    return out;
}

// ComfyUI normal_scheduler(sgm=True): timesteps linspace(t(sigma_max), t(sigma_min), n+1)[:-1].
std::vector<float> sgm_uniform_sigmas(const DiscreteSchedule& s, int n) {
    check_steps(n, "sgm_uniform schedule");
    const double start = double(s.sigma_to_t_quantized(s.sigma_max()));
    const double end = double(s.sigma_to_t_quantized(s.sigma_min()));
    std::vector<float> out(size_t(n) + 1, 0.0f);
    for (int i = 0; i < n; ++i) out[size_t(i)] = float(s.t_to_sigma(double(float(linspace_at(start, end, n + 1, i)))));
    return out;
}

// ComfyUI simple_scheduler: every (size/n)-th discrete sigma from the top.
std::vector<float> simple_sigmas(const DiscreteSchedule& s, int n) {
    check_steps(n, "simple schedule");
    const double ss = double(s.size()) / double(n);
    std::vector<float> out(size_t(n) + 1, 0.0f);
    for (int x = 0; x < n; ++x) out[size_t(x)] = s.sigmas()[size_t(s.size() - 1 - int(x * ss))];
    return out;
}

// ComfyUI ddim_scheduler: discrete sigmas at t = 1, 1+k, 1+2k, ... (k = size // n), descending, then 0.
// Like ComfyUI it yields ceil((size-1)/k) steps, which is n when n divides size.
std::vector<float> ddim_uniform_sigmas(const DiscreteSchedule& s, int n) {
    check_steps(n, "ddim_uniform schedule");
    const int stride = std::max(s.size() / n, 1);
    std::vector<float> asc;
    for (int x = 1; x < s.size(); x += stride) asc.push_back(s.sigmas()[size_t(x)]);
    std::vector<float> out(asc.rbegin(), asc.rend());
    out.push_back(0.0f);
    return out;
}

namespace {

struct ScheduleNameEntry {
    const char* name;
    ScheduleKind kind;
};

// Lower-cased aliases; the first entry of each kind is its canonical name.
constexpr ScheduleNameEntry kScheduleNames[] = {
    {"normal", ScheduleKind::Normal},
    {"karras", ScheduleKind::Karras},
    {"exponential", ScheduleKind::Exponential},
    {"polyexponential", ScheduleKind::PolyExponential},
    {"sgm_uniform", ScheduleKind::SgmUniform},
    {"simple", ScheduleKind::Simple},
    {"ddim_uniform", ScheduleKind::DdimUniform},
    {"discrete", ScheduleKind::Normal},
    {"uniform", ScheduleKind::Normal},    // A1111 "Uniform"
    {"sgm uniform", ScheduleKind::SgmUniform},
    {"ddim", ScheduleKind::DdimUniform},  // A1111 scheduler label "DDIM"
};

}  // namespace

ScheduleKind schedule_from_name(std::string_view name) {
    const std::string key = lower(name);
    for (const auto& e : kScheduleNames)
        if (key == e.name) return e.kind;
    std::string valid;
    for (const auto& n : schedule_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw error("unknown scheduler '", name, "' (known: automatic, ", valid, ")");
}

const char* schedule_label(ScheduleKind k) {
    switch (k) {
        case ScheduleKind::Normal: return "Uniform";
        case ScheduleKind::Karras: return "Karras";
        case ScheduleKind::Exponential: return "Exponential";
        case ScheduleKind::PolyExponential: return "Polyexponential";
        case ScheduleKind::SgmUniform: return "SGM Uniform";
        case ScheduleKind::Simple: return "Simple";
        case ScheduleKind::DdimUniform: return "DDIM";
    }
    return "?";
}

const char* schedule_name(ScheduleKind k) {
    for (const auto& e : kScheduleNames)
        if (e.kind == k) return e.name;
    return "?";
}

std::vector<std::string> schedule_names() {
    return {"normal", "karras", "exponential", "polyexponential", "sgm_uniform", "simple", "ddim_uniform"};
}

std::vector<float> make_sigmas(const DiscreteSchedule& s, ScheduleKind kind, int n) {
    switch (kind) {
        case ScheduleKind::Normal: return s.get_sigmas(n);
        case ScheduleKind::Karras: return karras_sigmas(n, s.sigma_min(), s.sigma_max());
        case ScheduleKind::Exponential: return exponential_sigmas(n, s.sigma_min(), s.sigma_max());
        case ScheduleKind::PolyExponential: return polyexponential_sigmas(n, s.sigma_min(), s.sigma_max());
        case ScheduleKind::SgmUniform: return sgm_uniform_sigmas(s, n);
        case ScheduleKind::Simple: return simple_sigmas(s, n);
        case ScheduleKind::DdimUniform: return ddim_uniform_sigmas(s, n);
    }
    throw error("make_sigmas: unknown schedule kind");
}

}  // namespace sdpp
