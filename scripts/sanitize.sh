#!/usr/bin/env bash
# Builds the unit tests with ASan + UBSan (-DSDPP_SANITIZE=ON, folder build-asan) and runs them
# with CTest (label "unit"). Any sanitizer report fails the test that triggered it.
#   bash scripts/sanitize.sh [REGEX]   only the unit test files whose name matches REGEX (e.g. 'io_|core_')
set -euo pipefail
cd "$(dirname "$0")/.."
regex=${1:-.}
build=build-asan
jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DSDPP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSDPP_BUILD_BENCH=OFF >/dev/null
targets=()
for f in tests/unit/*_test.cpp; do
  t=$(basename "$f" .cpp)
  [[ "$t" =~ $regex ]] && targets+=("$t")
done
[ ${#targets[@]} -gt 0 ] || { echo "no unit test matches '$regex'" >&2; exit 2; }
ninja -C "$build" -j"$jobs" "${targets[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Test executables left unbuilt (outside REGEX) appear as *_NOT_BUILT placeholders: skip those.
ctest --test-dir "$build" -L unit -E '_NOT_BUILT$' --output-on-failure -j"$jobs"
