#!/usr/bin/env bash
# First small-scale reproduction (issue #4): TD3 on Hopper-v5 at the paper's sparsities
# (actor 98 %, critic 95 %), Dense / SS / RigL / RLx2, 2 seeds, 150 000 steps each,
# two runs at a time (one per core). Results: docs/results.md.
#   bash experiments/repro_hopper_td3.sh [OUT_DIR] [STEPS]
set -euo pipefail
out=${1:-runs/repro-hopper-td3}
steps=${2:-150000}
mkdir -p "$out"
jobs=()
for seed in 0 1; do
  for method in dense ss rigl rlx2; do
    sparsity=""
    [ "$method" != dense ] && sparsity="--preset paper"
    jobs+=("--method $method $sparsity --seed $seed --run-dir $out/${method}_s${seed} > $out/${method}_s${seed}.log 2>&1")
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c \
  "rlx2 train --env Hopper-v5 --algo td3 --total-steps $steps --quiet {} || echo 'FAILED: {}' >> $out/failures.log"
echo "done: $out"
