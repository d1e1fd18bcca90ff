#!/usr/bin/env bash
# Transfer from the JAX engine's Gymnasium-faithful MJX task to Gymnasium itself: for every seed
# workdir of a `--seeds=N` run trained with `--config.backend=mjx_gym`, the best policy's return
# on fresh MJX episodes (the JAX engine), then its exported `.chromnas` file's return on
# Gymnasium's own v5 environment (the NumPy runtime), and the relative gap between the two.
#
#   python -m experiments.train --config=configs/halfcheetah_l_chromatic17.py --config.engine=brax \
#       --config.backend=mjx_gym --seeds=2 --config.max_env_steps=640000 --workdir=DIR
#   bash experiments/transfer_check.sh DIR [EPISODES]
set -euo pipefail
dir=$1; episodes=${2:-10}
for seed_dir in "${dir}"/seed*/; do
  seed_dir=${seed_dir%/}
  mjx=$(python -m experiments.evaluate --workdir="${seed_dir}" --episodes="${episodes}" | tail -n 1)
  python -m experiments.export --workdir="${seed_dir}" --out="${seed_dir}/policy.chromnas" > /dev/null
  gym=$(python -m experiments.evaluate --policy="${seed_dir}/policy.chromnas" --episodes="${episodes}" | tail -n 1)
  echo "$(basename "${seed_dir}") MJX:       ${mjx}"
  echo "$(basename "${seed_dir}") Gymnasium: ${gym}"
  python - "${mjx}" "${gym}" <<'PY'
import sys
mjx, gym = (float(line.split("return ")[1].split()[0]) for line in sys.argv[1:3])
print(f"  gap: {gym - mjx:+.1f} ({abs(gym - mjx) / max(abs(mjx), 1e-9):.1%} of the MJX return)")
PY
done
