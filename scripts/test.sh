#!/usr/bin/env bash
# Sets up (Debian packages), builds (Release) and runs the whole test suite:
#   1. the parser/core unit tests under ASan + UBSan (scripts/sanitize.sh, build-asan/)
#   2. each libFuzzer target for a bounded time (scripts/fuzz.sh, build-fuzz/)
#   3. on an AVX-512 CPU, every test again on the AVX2 code paths (SDPP_CPU_ISA=avx2)
#   4. every unit, parity and e2e test (CTest, build/), whose summary closes the output
# Fixtures: $SDPP_FIXTURES, default ../shared/fixtures beside the repo.
# SDPP_TEST_QUICK=1 skips steps 1 and 2; SDPP_FUZZ_SECONDS sets step 2's time per target (20).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-test-tools
jobs=$(nproc)
# OpenMP threads sleep instead of spinning when idle: parallel test processes share 2 cores.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
if [ "${SDPP_TEST_QUICK:-0}" != 1 ]; then
  echo "== sanitizers (ASan + UBSan): core, io, sample and text unit tests"
  bash scripts/sanitize.sh '^(core|io|sample|text)_'
  echo "== fuzzing: ${SDPP_FUZZ_SECONDS:-20} s per target"
  bash scripts/fuzz.sh "${SDPP_FUZZ_SECONDS:-20}"
fi
# On an AVX-512 CPU the suite runs once more on the AVX2 kernels with oneDNN capped at AVX2: what an
# AVX2-only CPU runs (the tests labelled avx2 already did so in the first run).
if grep -qw avx512f /proc/cpuinfo && [ $# -eq 0 ]; then
  echo "== the suite again on the AVX2 code paths (SDPP_CPU_ISA=avx2)"
  SDPP_CPU_ISA=avx2 ctest --test-dir build --output-on-failure -j"$jobs" -LE avx2
fi
echo "== unit, parity and e2e tests"
ctest --test-dir build --output-on-failure -j"$jobs" "$@"
