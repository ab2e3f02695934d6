#!/usr/bin/env bash
# LoRA cost on a full-size model (docs/performance.md "LoRA / LyCORIS"): interleaved runs of the same
# request without and with a network, medians of the sampling time per step, of the "networks"
# stage (read + merge) and of the merge's process CPU time.
#   bash bench/lora_overhead.sh SDPP MODEL LORA_DIR LORA_NAME VOCAB [REPS] [SIZE] [STEPS]
# Make the inputs with `sdpp make-random-model --arch sd15 -o sd15.safetensors` and
# `sdpp make-random-lora sd15.safetensors -o Lora/r32.safetensors` (rank 32 / alpha 16, 3x3 convs 16 / 8).
set -euo pipefail
sdpp=$1 model=$2 dir=$3 name=$4 vocab=$5 reps=${6:-5} size=${7:-128} steps=${8:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {  # $1 = prompt; prints "sample_per_step networks merge_cpu"
  OMP_WAIT_POLICY=PASSIVE "$sdpp" generate -m "$model" --vocab "$vocab" --lora-dir "$dir" -p "$1" -W "$size" -H "$size" \
    --steps "$steps" --sampler euler --seed 1 --threads 2 --json -vv -o "$out/x.png" --overwrite 2>"$out/err" >"$out/json"
  python3 - "$out/json" "$out/err" "$steps" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1])); t = j["timings"]
cpu = re.findall(r"process CPU time ([0-9.]+) s", open(sys.argv[2]).read())
print(t["sample"] / int(sys.argv[3]), t.get("networks", 0.0), cpu[0] if cpu else 0)
PY
}
for i in $(seq "$reps"); do
  echo "plain $(run 'a photo of a cat')"
  echo "lora  $(run "a photo of a cat <lora:$name:0.8>")"
done | tee "$out/all"
python3 - "$out/all" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
p = [float(r[1]) for r in rows if r[0] == "plain"]; l = [float(r[1]) for r in rows if r[0] == "lora"]
n = [float(r[2]) for r in rows if r[0] == "lora"]; c = [float(r[3]) for r in rows if r[0] == "lora"]
mp, ml = statistics.median(p), statistics.median(l)
print(f"per step: plain {mp:.2f} s, lora {ml:.2f} s, ratio {ml / mp:.3f} (medians of {len(p)})")
print(f"networks stage (read + merge): median {statistics.median(n):.2f} s wall, merge CPU {statistics.median(c):.2f} s")
PY
