// Making CPU backend instances. Each instance owns its oneDNN primitive cache, its prepared
// weights and their budget (cpu_kernels.h, Dense): two Engines, or a server holding two models,
// each make one and share nothing mutable.
#pragma once
#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernel_set.h"

#include <memory>

namespace sdpp::cpu {

struct CpuBackendOptions {
    const KernelSet* kernels = nullptr;  // nullptr: kernels(), the set chosen for this CPU
    ConvLayoutChoice conv_layout = ConvLayoutChoice::Auto;
};

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options = {});

}  // namespace sdpp::cpu
