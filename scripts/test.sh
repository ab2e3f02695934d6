#!/usr/bin/env bash
# Sets up (Debian packages), builds (Release) and runs the whole test suite with CTest.
# Fixtures: $SDPP_FIXTURES, default ../shared/fixtures beside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" "$@"
