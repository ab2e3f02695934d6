#!/usr/bin/env bash
# Installs the Debian 12 packages sdpp needs to build and test. Idempotent, non-interactive.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libdnnl-dev ocl-icd-opencl-dev opencl-c-headers nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libcurl4-openssl-dev libssl-dev
      libzip-dev zlib1g-dev libpng-dev libjpeg-dev libicu-dev
      libyaml-cpp-dev libgtest-dev libbenchmark-dev clang-14 libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# With --with-test-tools (scripts/test.sh passes it), also the browser test's tools (tests/browser):
# Debian's chromium, and node with npm: Debian's, unless a node with npm is already there (a
# NodeSource nodejs conflicts with Debian's npm). scripts/run.sh does not need them.
if [ "${1:-}" = "--with-test-tools" ]; then
  extra=()
  for p in chromium ca-certificates; do  # (npm needs the CA certificates to reach its registry)
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
  done
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then extra+=(nodejs npm); fi
  if [ ${#extra[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${extra[@]}"
  fi
fi
