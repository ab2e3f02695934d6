#!/usr/bin/env bash
# The AVX-512 copy of the kernels (src/backend/cpu/kernels/isa.h) must keep AVX-512 code inside its
# own functions: a weak (COMDAT) symbol compiled with AVX-512 could be the copy the linker keeps for
# the whole program, and an AVX2-only CPU would then die with SIGILL far from the kernels.
# Checks every weak symbol of the AVX-512 objects for AVX-512 registers or EVEX-only instructions.
#   check_kernel_isolation.sh OBJECT_DIR
set -euo pipefail
dir=$1
objs=$(find "$dir" -name '*.o' | sort)
[ -n "$objs" ] || { echo "no objects under $dir" >&2; exit 1; }
evex='zmm|%k[0-7]|[xy]mm(1[6-9]|2[0-9]|3[01])|vpternlog|vrndscale|vperm[it]2|vcompress|vexpand|vfixupimm|vgetexp|vgetmant|vscalef|vrcp14|vrsqrt14|valign[dq]|vp?blendm|v(extract|insert)[if](32|64)x|vpmov[dq]|vpro[lr][dq]'
bad=0; weak_total=0; evex_total=0
for o in $objs; do
  weak=$(nm --defined-only "$o" | awk '$2=="W" || $2=="V" {print $3}')
  funcs=$(objdump -d --no-show-raw-insn "$o" | awk -v re="$evex" '/^[0-9a-f]+ <.*>:$/ {name=substr($2, 2, length($2) - 3)} $0 ~ re {print name}' | sort -u)
  weak_total=$((weak_total + $(printf '%s\n' "$weak" | grep -c . || true)))
  evex_total=$((evex_total + $(printf '%s\n' "$funcs" | grep -c . || true)))
  for f in $funcs; do
    if grep -qxF "$f" <<<"$weak"; then
      echo "FAIL: weak symbol $f in $(basename "$o") has AVX-512 code"; bad=1
    fi
  done
done
[ "$evex_total" -gt 0 ] || { echo "FAIL: no AVX-512 code at all in $dir (was it built for AVX-512?)"; exit 1; }
echo "$evex_total functions with AVX-512 code, none of them among $weak_total weak symbols"
exit $bad
