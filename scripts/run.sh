#!/usr/bin/env bash
# Sets up (Debian packages), builds (Release) and generates an image.
#   bash scripts/run.sh [extra sdpp generate flags]
# With no -m/--model it uses the tiny fixture model in $SDPP_FIXTURES (default ../shared/fixtures),
# which works offline; pass -m FILE for a real checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sdpp
fixtures=${SDPP_FIXTURES:-../shared/fixtures}
args=("$@")
if [[ " ${args[*]-} " != *" -m "* && " ${args[*]-} " != *" --model"* ]]; then
  args=(-m "$fixtures/models/sd1-tiny/diffusers" -W 64 -H 64 --steps 8 "${args[@]}")
fi
mkdir -p out
./build/sdpp generate -p "a photo of a cat sitting on a red sofa" -n "blurry, low quality" \
  --seed 42 -o "out/sdpp-{seed}-{index}.png" --overwrite "${args[@]}"
