// Properties of the sigma schedules and their names (no fixtures needed).
#include "core/error.h"
#include "sample/schedule.h"
#include "common/schedule_diffusers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

using namespace sdpp;
using sdpp::Error;

namespace {

const DiscreteSchedule& sd() {
    static const DiscreteSchedule s = DiscreteSchedule::ldm();
    return s;
}

}  // namespace

TEST(SampleSchedule, EveryScheduleDecreasesStrictlyAndEndsAtZero) {
    for (const std::string& name : schedule_names()) {
        const ScheduleKind kind = schedule_from_name(name);
        for (int n : {1, 2, 3, 7, 10, 20, 50, 150}) {
            const std::vector<float> s = make_sigmas(sd(), kind, n);
            SCOPED_TRACE(name + " n=" + std::to_string(n));
            ASSERT_GE(s.size(), 2u);
            if (kind != ScheduleKind::DdimUniform || 1000 % n == 0) {
                EXPECT_EQ(s.size(), size_t(n) + 1);
            }
            EXPECT_EQ(s.back(), 0.0f);
            for (size_t i = 0; i + 1 < s.size(); ++i) EXPECT_GT(s[i], s[i + 1]) << "at " << i;
            if (kind != ScheduleKind::DdimUniform) {  // ComfyUI's ddim_uniform starts at t = 1 + k*stride
                EXPECT_NEAR(s.front(), sd().sigma_max(), 1e-5 * sd().sigma_max());
            }
            EXPECT_LE(s.front(), sd().sigma_max() * (1 + 1e-6));
        }
    }
}

TEST(SampleSchedule, DiscreteTableMatchesTheLdmDefinition) {
    const auto& ac = sd().alphas_cumprod();
    ASSERT_EQ(ac.size(), 1000u);
    // first beta = 0.00085 exactly (linspace of the square roots starts at sqrt(0.00085))
    EXPECT_NEAR(ac[0], 1.0 - 0.00085, 1e-7);
    for (size_t i = 1; i < ac.size(); ++i) EXPECT_LT(ac[i], ac[i - 1]);
    EXPECT_NEAR(sd().sigma_min(), 0.0291675, 1e-6);
    EXPECT_NEAR(sd().sigma_max(), 14.614642, 1e-5);
}

TEST(SampleSchedule, SigmaAndTimestepRoundTrip) {
    for (double t : {0.0, 0.25, 1.0, 10.5, 333.3, 500.0, 998.75, 999.0}) {
        const double sigma = sd().t_to_sigma(t);
        EXPECT_NEAR(sd().sigma_to_t(sigma), t, 1e-3) << t;
    }
    for (int t : {0, 1, 17, 500, 999}) {
        EXPECT_EQ(sd().sigma_to_t_quantized(sd().sigmas()[size_t(t)]), t);
        EXPECT_DOUBLE_EQ(sd().sigma_to_t(sd().sigmas()[size_t(t)]), double(t));
    }
    // beyond the table: clamped
    EXPECT_DOUBLE_EQ(sd().sigma_to_t(1e-4), 0.0);
    EXPECT_DOUBLE_EQ(sd().sigma_to_t(100.0), 999.0);
    EXPECT_THROW(sd().sigma_to_t(0.0), sdpp::Error);
    EXPECT_THROW(sd().t_to_sigma(1000.0), sdpp::Error);
}

TEST(SampleSchedule, KarrasEndpointsAndRho) {
    const std::vector<float> s = karras_sigmas(10, 0.1, 10.0, 7.0);
    EXPECT_FLOAT_EQ(s[0], 10.0f);
    EXPECT_FLOAT_EQ(s[9], 0.1f);
    EXPECT_EQ(s[10], 0.0f);
    // the rho-th roots are evenly spaced
    const double d0 = std::pow(s[0], 1 / 7.0) - std::pow(s[1], 1 / 7.0);
    for (int i = 1; i < 9; ++i) EXPECT_NEAR(std::pow(s[i], 1 / 7.0) - std::pow(s[i + 1], 1 / 7.0), d0, 1e-6);
    // exponential: evenly spaced in log sigma
    const std::vector<float> e = exponential_sigmas(5, 0.1, 10.0);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(std::log(e[i] / e[i + 1]), std::log(100.0) / 4, 1e-6);
    EXPECT_THROW(karras_sigmas(0, 0.1, 10.0), sdpp::Error);
    EXPECT_THROW(karras_sigmas(4, 10.0, 0.1), sdpp::Error);
}

TEST(SampleSchedule, NamesUsersKnow) {
    EXPECT_EQ(schedule_from_name("karras"), ScheduleKind::Karras);
    EXPECT_EQ(schedule_from_name("Karras"), ScheduleKind::Karras);
    EXPECT_EQ(schedule_from_name("SGM Uniform"), ScheduleKind::SgmUniform);
    EXPECT_EQ(schedule_from_name("sgm_uniform"), ScheduleKind::SgmUniform);
    EXPECT_EQ(schedule_from_name("Uniform"), ScheduleKind::Normal);
    EXPECT_EQ(schedule_from_name("normal"), ScheduleKind::Normal);
    EXPECT_EQ(schedule_from_name("ddim_uniform"), ScheduleKind::DdimUniform);
    EXPECT_EQ(schedule_from_name("simple"), ScheduleKind::Simple);
    EXPECT_EQ(schedule_from_name("exponential"), ScheduleKind::Exponential);
    for (const std::string& n : schedule_names()) EXPECT_STREQ(schedule_name(schedule_from_name(n)), n.c_str());
    try {
        schedule_from_name("karas");
        FAIL() << "no error for an unknown schedule";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("karas"), std::string::npos);
        EXPECT_NE(msg.find("sgm_uniform"), std::string::npos);  // lists the valid names
    }
}

TEST(SampleSchedule, ComfyUISchedulesPickTableEntries) {
    // simple: every (1000/n)-th table sigma from the top
    const std::vector<float> s = simple_sigmas(sd(), 4);
    EXPECT_EQ(s[0], sd().sigmas()[999]);
    EXPECT_EQ(s[1], sd().sigmas()[749]);
    EXPECT_EQ(s[3], sd().sigmas()[249]);
    // ddim_uniform: t = 1, 101, ..., 901 for 10 steps
    const std::vector<float> d = ddim_uniform_sigmas(sd(), 10);
    ASSERT_EQ(d.size(), 11u);
    EXPECT_EQ(d[0], sd().sigmas()[901]);
    EXPECT_EQ(d[9], sd().sigmas()[1]);
    // sgm_uniform: linspace(999, 0, n+1) without its last point
    const std::vector<float> g = sgm_uniform_sigmas(sd(), 4);
    EXPECT_NEAR(g[1], sd().t_to_sigma(749.25), 1e-5);
    // normal: linspace(999, 0, n)
    const std::vector<float> nrm = sd().get_sigmas(4);
    EXPECT_NEAR(nrm[3], sd().sigma_min(), 1e-7);
}

TEST(SampleSchedule, DiffusersTimestepSpacings) {
    DiffusersScheduleConfig cfg;
    cfg.spacing = TimestepSpacing::Leading;
    EXPECT_EQ(ddim_timesteps(10, cfg), (std::vector<int64_t>{901, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
    cfg.spacing = TimestepSpacing::Trailing;
    EXPECT_EQ(ddim_timesteps(4, cfg), (std::vector<int64_t>{999, 749, 499, 249}));
    cfg.spacing = TimestepSpacing::Linspace;
    EXPECT_EQ(ddim_timesteps(4, cfg), (std::vector<int64_t>{999, 666, 333, 0}));
    EXPECT_EQ(np_round_half_even(2.5), 2.0);
    EXPECT_EQ(np_round_half_even(3.5), 4.0);
    EXPECT_EQ(lcm_timesteps(4, cfg), (std::vector<int64_t>{999, 759, 499, 259}));
    EXPECT_THROW(ddim_timesteps(0, cfg), sdpp::Error);
    EXPECT_THROW(timestep_spacing_from_name("uniform"), sdpp::Error);
    // diffusers' float32 alphas_cumprod is within float rounding of LDM's float64 one
    const std::vector<float> a = diffusers_alphas_cumprod(cfg), b = ldm_alphas_cumprod();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i] / b[i], 1.0, 2e-6) << i;
}
