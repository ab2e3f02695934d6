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
run() {  # $1 = prompt, $2 = steps; prints "sample networks merge_cpu total"
  OMP_WAIT_POLICY=PASSIVE "$sdpp" generate -m "$model" --vocab "$vocab" --lora-dir "$dir" -p "$1" -W "$size" -H "$size" \
    --steps "$2" --sampler euler --seed 1 --threads 2 --json -vv -o "$out/x.png" --overwrite 2>"$out/err" >"$out/json"
  python3 - "$out/json" "$out/err" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1])); t = j["timings"]
cpu = re.findall(r"process CPU time ([0-9.]+) s", open(sys.argv[2]).read())
print(t["sample"], t.get("networks", 0.0), cpu[0] if cpu else 0, t["total"])
PY
}
for i in $(seq "$reps"); do
  echo "plain 1 $(run 'a photo of a cat' 1)"
  echo "lora 1 $(run "a photo of a cat <lora:$name:0.8>" 1)"
  echo "plain $steps $(run 'a photo of a cat' "$steps")"
  echo "lora $steps $(run "a photo of a cat <lora:$name:0.8>" "$steps")"
done | tee "$out/all"
python3 - "$out/all" "$steps" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]; S = int(sys.argv[2])
def col(kind, steps, i): return [float(r[i]) for r in rows if r[0] == kind and int(r[1]) == steps]
per = {k: [(b - a) / (S - 1) for a, b in zip(col(k, 1, 2), col(k, S, 2))] for k in ("plain", "lora")}
mp, ml = st.median(per["plain"]), st.median(per["lora"])
print(f"steady per step: plain {mp:.3f} s, lora {ml:.3f} s, ratio {ml / mp:.3f} (medians of {len(per['plain'])})")
ratios = [b / a for a, b in zip(per["plain"], per["lora"])]
print(f"per-pair ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
n = col("lora", S, 3) + col("lora", 1, 3); c = col("lora", S, 4) + col("lora", 1, 4)
print(f"networks stage (read + merge): median {st.median(n):.2f} s wall, merge process CPU {st.median(c):.2f} s")
tp, tl = st.median(col("plain", S, 5)), st.median(col("lora", S, 5))
print(f"whole run at {S} steps: plain {tp:.1f} s, lora {tl:.1f} s, ratio {tl / tp:.3f}")
PY
