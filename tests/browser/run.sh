#!/usr/bin/env bash
# The browser test of the page `sdpp serve` serves at /: headless Chromium (Debian's `chromium`)
# driven by playwright-core (installed here from package-lock.json with `npm ci`).
#   run.sh SDPP_BINARY OUT_DIR
# Exits 77 (CTest: skipped) with the reason printed when chromium or node is missing.
# Fixtures: $SDPP_FIXTURES, default ../shared/fixtures beside the repo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sdpp="$1"
out="$2"
chromium="${SDPP_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (bash scripts/setup.sh --with-test-tools installs it)"; exit 77
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: npm is not installed (bash scripts/setup.sh --with-test-tools installs it)"; exit 77
fi
if [ -z "$chromium" ] || [ ! -x "$chromium" ]; then
  echo "SKIP: chromium is not installed (bash scripts/setup.sh --with-test-tools installs Debian's chromium)"; exit 77
fi
fixtures="${SDPP_FIXTURES:-$here/../../../shared/fixtures}"
# The driver: installed once, again whenever package-lock.json names another version. A lock
# directory keeps two test runs from installing at the same time.
want="$(node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' "$here/package-lock.json")"
have="$(node -e 'try{console.log(require(process.argv[1]).version)}catch(e){console.log("")}' "$here/node_modules/playwright-core/package.json")"
if [ "$want" != "$have" ]; then
  # (a lock left by a killed run is taken over after two minutes)
  for _ in $(seq 120); do mkdir "$here/.npm-lock" 2>/dev/null && break; sleep 1; done
  mkdir -p "$here/.npm-lock"
  trap 'rmdir "$here/.npm-lock" 2>/dev/null || true' EXIT
  have="$(node -e 'try{console.log(require(process.argv[1]).version)}catch(e){console.log("")}' "$here/node_modules/playwright-core/package.json")"
  if [ "$want" != "$have" ]; then
    echo "installing playwright-core $want (npm ci in tests/browser)"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  rmdir "$here/.npm-lock"; trap - EXIT
fi
mkdir -p "$out"
exec node "$here/webui_test.js" --sdpp "$sdpp" --chromium "$chromium" --fixtures "$fixtures" --out "$out"
