#!/bin/bash
# The accelerator checks, in one script: the JAX inference paths against jnp.dot on the device
# (issue 14), then the H41 rows of the reward table trained on the Brax engine with their wall
# times, each judged on the host environment like every zoo policy (issue 10).
#
#   OUT=/tmp/gpu bash experiments/gpu_checks.sh          # everything
#   SMOKE=1 OUT=/tmp/gpu bash experiments/gpu_checks.sh  # tiny sizes and budgets: does it all run?
#
# Results land in $OUT: bench_b<batch>.txt, brax_rows.txt, brax_results/ (csv, report, zoo) and
# brax_runs.tgz (each run's metrics and policies).  Each stage has its own time limit, so a slow
# or failing stage leaves the others' results.
set -u
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1  # no MUJOCO_GL: nothing here renders, and EGL may be missing
PY=${PY:-python3}
if [ "${SMOKE:-0}" = 1 ]; then
  SIZES=1024x1024; COLORS=2,17; BATCHES="1"; ROW_STEPS="--set=max_env_steps=40000"; ROW_WALL=1.0
  ROWS=hopper_h41_chromatic11; BENCH_LIMIT=120; ROWS_LIMIT=240
else
  SIZES=4096x4096,8192x8192; COLORS=2,4,17; BATCHES="1 8"; ROW_STEPS=""; ROW_WALL=1.25
  ROWS=halfcheetah_h41_chromatic17,hopper_h41_chromatic11,walker2d_h41_chromatic17,halfcheetah_h41h41_chromatic17
  BENCH_LIMIT=150; ROWS_LIMIT=420
fi
(nvidia-smi -L; $PY -c "import jax; print('jax', jax.__version__, jax.devices())") 2>&1 | tee "$OUT/device.txt"

# 1. Inference: the JAX paths against jnp.dot on the device, 20 matvecs per jitted call (a call's
#    dispatch would outweigh one product); NumPy paths are the CPU's business.
start=$(date +%s)
for b in $BATCHES; do
  left=$((BENCH_LIMIT - $(date +%s) + start)); [ $left -gt 5 ] || break
  timeout $left $PY -m experiments.bench_inference --sizes=$SIZES --colors=$COLORS --batch=$b \
    --nonumpy --crossover_sizes= --jax_paths=dense,gather,packed,packed_select --jax_repeats=20 --budget_s=0.1 2>&1 \
    | grep -v "^WARNING\|warp" | tee "$OUT/bench_b$b.txt"
done

# 2. The H41 rows on Brax (the rows' own budgets and settings; a wall-clock cap per row keeps
#    the whole stage inside one lease), zoo policies judged on the host environment.
timeout $ROWS_LIMIT $PY -m experiments.reproduce --table=all --rows=$ROWS --set=engine=brax $ROW_STEPS \
  --set=max_wall_minutes=$ROW_WALL --runs_dir=/tmp/brax_runs --results_dir="$OUT/brax_results" \
  --episodes=10 --num_workers=8 --print_every=50 2>&1 | grep -v "^WARNING\|warp\|UserWarning\|warnings.warn" \
  | tee "$OUT/brax_rows.txt"
tar czf "$OUT/brax_runs.tgz" --exclude=checkpoints --exclude=tb -C /tmp brax_runs 2>/dev/null
ls -la "$OUT" "$OUT/brax_results" 2>/dev/null
