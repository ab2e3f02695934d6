#!/usr/bin/env bash
# The parity tests that load models, run on a fixture set that lacks some layouts (made by
# fixture_variant from $SDPP_FIXTURES, see fixture_variant.cpp): each must pass, and each must print
# its skips beside its summary lines ("parity <kind>: P/T passed, skipped N: no diffusers folder",
# and the same for "no single file"), so a skip is never silent and never a failure.
# Usage: fixture_variant.sh FIXTURE_VARIANT_TOOL DST TEST_BINARY...
set -euo pipefail
tool=$1 dst=$2
shift 2
"$tool" "$dst"
export SDPP_FIXTURES=$dst
# Idle OpenMP threads sleep (as in scripts/test.sh): spinning ones slow this serial run several-fold
# when ctest runs other tests beside it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
status=0
for bin in "$@"; do
  name=$(basename "$bin")
  if ! out=$("$bin" 2>&1); then
    printf '%s\n' "$out"
    echo "FAIL $name: fails on a fixture set without some layouts"
    status=1
    continue
  fi
  printf '%s\n' "$out" | grep -E '^parity |^  skip ' || true
  for reason in 'no diffusers folder' 'no single file'; do
    # (a here-string, not a pipe: grep -q stops reading at the first match, and with pipefail the
    # writer's SIGPIPE on a long output would read as "no match")
    if ! grep -qE "^parity [a-z_0-9]+: [0-9]+/[0-9]+ passed.*, skipped [0-9]+: $reason" <<<"$out"; then
      echo "FAIL $name: no summary line says 'skipped N: $reason'"
      status=1
    fi
  done
done
exit $status
