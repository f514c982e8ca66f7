#!/usr/bin/env bash
# The model-size trade-off (README "Which model for which board"): MobileNetV2 alpha 0.35 at 96/128/160/224 px
# and alpha 1.0 at 128/160/224 px, each trained with the default recipe and exported with --int8 --fp16, then
# measured together (benchmarks/tradeoff.py). Runs that already have an export are kept.
#   bash benchmarks/tradeoff.sh            # train and export what is missing, then benchmarks/tradeoff.py
#   bash benchmarks/tradeoff.sh --no-bench # train and export only
set -euo pipefail
cd "$(dirname "$0")/.."
runs=()
for name in a035-96 a035-128 a035-160 a035-224 a100-128 a100-160 a100-224; do
  alpha=1.0 size=${name#*-}
  [[ $name == a035-* ]] && alpha=0.35
  if [[ ! -f runs/$name/export/parity.json ]]; then
    [[ -f runs/$name/model.keras ]] || catdog-train --alpha "$alpha" --size "$size" --name "$name"
    # an int8 artifact that fails parity is still written and marked FAILED: the table shows it
    catdog-export "runs/$name" --int8 --fp16 || true
  fi
  runs+=("runs/$name")
done
[[ ${1:-} == --no-bench ]] && exit 0
python benchmarks/tradeoff.py "${runs[@]}"
