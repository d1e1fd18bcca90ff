#!/usr/bin/env bash
# A short ES run of every poster task on the host engine (the poster's configs, ENAS partition
# search), to show each one trains: prints first vs final population reward per task.
#
#   bash experiments/short_runs.sh [OUT_DIR] [ITERATIONS] [extra train flags...]
#
# Minitaur (PyBullet) steps far slower than the MuJoCo tasks, so it runs 8 directions of
# 500-step episodes.  Rerunning resumes unfinished runs.
set -euo pipefail
out=${1:-runs/short}
iterations=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
declare -A extra=(
  [minitaur_l_chromatic13]="--config.num_directions=8 --config.episode_length=500"
)
configs=(swimmer_l_chromatic8 reacher_l_chromatic11 hopper_l_chromatic11 halfcheetah_l_chromatic17
         walker2d_h41_chromatic17 pusher_h41_chromatic23 striker_h41_chromatic23 thrower_h41_chromatic23
         ant_h41h41_chromatic50 minitaur_l_chromatic13)
for name in "${configs[@]}"; do
  echo "== ${name}"
  start=$(date +%s)
  # shellcheck disable=SC2086
  python -m experiments.train --config="configs/${name}.py" --config.num_iterations="${iterations}" \
      --config.eval_every=10 --workdir="${out}/${name}" ${extra[$name]:-} "$@" | tail -n 2
  echo "   wall $(( $(date +%s) - start )) s"
done
for name in "${configs[@]}"; do
  python -m experiments.plot_curves --out="${out}/${name}.png" "${name}=${out}/${name}" | sed -n 2p
done
