#!/usr/bin/env bash
# Trains the tiny model the editor tests complete with: a few steps of the
# tiny preset on a small, repetitive Python corpus written here, so greedy
# decoding quickly proposes something after "    " or "print(".
# usage: make_tiny_model.sh MTPC_BINARY OUT_DIR [STEPS]
# Leaves OUT_DIR/run/checkpoint. Reuses it when it is already there.
set -euo pipefail
mtpc=$1
out=$2
steps=${3:-${MTPC_TINY_STEPS:-30}}   # a few seconds on an idle 2-core machine
# One thread: a tiny model gains nothing from more, and on a loaded machine
# the thread pool waiting on busy cores made a run 100x slower.
if [ -f "$out/run/checkpoint/model.safetensors" ]; then
  echo "tiny model: reusing $out/run/checkpoint"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out/src"
for i in $(seq 1 40); do
  {
    echo "def greet_$i(name):"
    echo "    print(\"hello\", name)"
    echo "    return name"
    echo ""
  } > "$out/src/sample_$i.py"
done
"$mtpc" corpus build --from "$out/src" --ext .py --out "$out/data" --val-permille 0
"$mtpc" --threads "${MTPC_TINY_THREADS:-1}" train --preset tiny --steps "$steps" --data "$out/data" --out "$out/run"
test -f "$out/run/checkpoint/model.safetensors"
