#!/usr/bin/env bash
# The poster's "NAS search produces better partitionings than random search", on a real task:
# HalfCheetah-v5 (host engine), linear policy, K=17 shared values.  Partition sources `enas`
# (controller trained by REINFORCE), `random` (the same controller, never trained), `fixed`
# (one random partition) and `evolution` (regularized evolution over colorings), 3 seeds each,
# the same budget (iterations x population x episode).
#
#   bash experiments/compare_partition_sources.sh [OUT_DIR] [ITERATIONS] [extra train flags...]
#
# Writes OUT_DIR/<source>-<seed>/ workdirs, OUT_DIR/reward_mean.png and OUT_DIR/eval_return.png,
# and prints the per-source summary (mean +- std over seeds).  Rerunning resumes unfinished runs.
set -euo pipefail
out=${1:-runs/partition_sources}
iterations=${2:-300}
shift $(( $# < 2 ? $# : 2 ))
sources=(enas random fixed evolution)
for seed in 0 1 2; do
  for source in "${sources[@]}"; do
    echo "== ${source} seed ${seed}"
    python -m experiments.train --config=configs/halfcheetah_l_chromatic17.py --config.eval_episodes=8 \
        --config.partition_source="${source}" --config.seed="${seed}" \
        --config.num_iterations="${iterations}" --workdir="${out}/${source}-${seed}" "$@" | tail -n 3
  done
done
groups=()
for source in "${sources[@]}"; do
  groups+=("${source}=${out}/${source}-0,${out}/${source}-1,${out}/${source}-2")
done
python -m experiments.plot_curves --out="${out}/eval_return.png" --metric=eval_return "${groups[@]}" > /dev/null
python -m experiments.plot_curves --out="${out}/reward_mean.png" --metric=reward_mean "${groups[@]}"
