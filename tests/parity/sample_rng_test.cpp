// Parity: torch CPU randn (rng.safetensors), bit for bit. Every tensor listed under "rng" in the
// manifest is a case named "seed<S>.shape<AxBx...>"; the shape in the manifest entry must agree.
#include "parity/sample_fixtures.h"
#include "sample/rng_torch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

struct RngCase {
    uint64_t seed = 0;
    Shape shape;
};

// "seed42.shape1x4x8x8" -> {42, [1,4,8,8]}; throws on any other form.
RngCase parse_case(const std::string& name) {
    RngCase c;
    const auto dot = name.find(".shape");
    SDPP_CHECK(name.rfind("seed", 0) == 0 && dot != std::string::npos, "rng case '", name,
               "' is not of the form seed<S>.shape<AxB...>");
    c.seed = std::stoull(name.substr(4, dot - 4));
    std::string dims = name.substr(dot + 6);
    size_t pos = 0;
    while (pos <= dims.size()) {
        size_t x = dims.find('x', pos);
        if (x == std::string::npos) x = dims.size();
        c.shape.push_back(std::stoll(dims.substr(pos, x - pos)));
        pos = x + 1;
    }
    return c;
}

}  // namespace

TEST(SampleParity, RngMatchesTorchBitForBit) {
    const auto& m = sample_manifest().at("rng");
    auto file = SafetensorsFile::open(fixture_path(m.at("file").get<std::string>()));
    int passed = 0, total = 0;
    for (const auto& [name, info] : m.at("tensors").items()) {
        ++total;
        RngCase c;
        try {
            c = parse_case(name);
        } catch (const std::exception& e) {
            ADD_FAILURE() << e.what();
            continue;
        }
        Shape listed = info.at("shape").get<Shape>();
        if (listed != c.shape) {
            ADD_FAILURE() << name << ": manifest shape " << to_string(listed) << " disagrees with the name";
            continue;
        }
        Tensor expected = file.get(name);
        Tensor actual = torch_randn(c.shape, c.seed);
        ASSERT_EQ(expected.numel(), actual.numel());
        std::vector<float> e = expected.to_vector(), a = actual.to_vector();
        int64_t first_bad = -1, n_bad = 0;
        for (size_t i = 0; i < e.size(); ++i)
            if (std::memcmp(&e[i], &a[i], sizeof(float)) != 0) {
                if (first_bad < 0) first_bad = int64_t(i);
                ++n_bad;
            }
        if (n_bad == 0) {
            ++passed;
        } else {
            ADD_FAILURE() << name << ": " << n_bad << " of " << e.size() << " values differ; first at " << first_bad
                          << ": " << a[size_t(first_bad)] << " vs expected " << e[size_t(first_bad)];
        }
    }
    print_parity_summary("rng", passed, total);
    EXPECT_GT(total, 0);
    EXPECT_EQ(passed, total);
}
