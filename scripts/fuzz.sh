#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 + ASan/UBSan and runs each one for a
# bounded time on a seed corpus written by fuzz_make_seeds (kept and grown in build-fuzz/corpus).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET defaults to 60; targets default to all of them.
# Prints one summary line per target (seconds, executions, crashes); exits 1 when any target
# crashed, leaks or times out (reproducers go to build-fuzz/artifacts/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_safetensors_header fuzz_unpickle fuzz_ckpt_zip fuzz_embedding_file fuzz_network_keys fuzz_a1111_request)
build=build-fuzz
jobs=$(nproc)

CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DSDPP_FUZZ=ON -DSDPP_BUILD_TESTS=OFF \
  -DSDPP_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j"$jobs" "${targets[@]}" fuzz_make_seeds

corpus=$build/corpus
artifacts=$build/artifacts
mkdir -p "$artifacts"
"$build/tests/fuzz/fuzz_make_seeds" "$corpus"

failed=0
summary=()
for t in "${targets[@]}"; do
  log=$build/$t.log
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  before=$(find "$artifacts" -name "$t-*" | wc -l)
  rc=0
  "$build/tests/fuzz/$t" "$corpus/$t" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" >"$log" 2>&1 || rc=$?
  after=$(find "$artifacts" -name "$t-*" | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$((after - before))
  summary+=("$t: ${secs}s, ${execs} executions, ${crashes} crashes, exit $rc, corpus $(ls "$corpus/$t" | wc -l) files")
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "---- $t failed; last lines of $log:"
    tail -40 "$log"
  fi
done
printf '%s\n' "${summary[@]}"
exit $failed
