#!/usr/bin/env bash
# Controller trials for the partition search: one change at a time against the shipped ENAS
# controller, evolution and a fixed partition, on a row's config at a short, equal budget, with the
# search's health figures logged (`controller.diagnostics`: gradient SNR, mode changes, distinct
# partitions per batch, entropy).
#
#   bash experiments/controller_trials.sh OUT BUDGET SEED CONFIG TRIAL [TRIAL ...]
#
# TRIAL is one of the names below.  Each writes OUT/<config name>/<trial>-<seed>/ and resumes when
# rerun; the last line printed per trial is its final progress line.
set -euo pipefail
out=$1; budget=$2; seed=$3; config=$4; shift 4
name=$(basename "${config}" .py)
enas_paper=(--config.controller.hidden_size=64 --config.controller.learning_rate=0.00035
            --config.controller.temperature=5.0 --config.controller.tanh_constant=2.5
            --config.controller.entropy_coef=0.0001 --config.controller.baseline_decay=0.99
            --config.controller.init_logit_scale=0.0 --config.controller.advantage=baseline)
# The controller shipped before the elite memory became the default (std-4 logits, Adam 0.05,
# entropy 1e-3, no memory): the variants below that say "enas_..." without a full setting list
# change one thing against it, as they did when they were first run.
shipped_v1=(--config.partition_source=enas --config.controller.init_logit_scale=4.0
            --config.controller.init_logit_peak=0.0 --config.controller.learning_rate=0.05
            --config.controller.entropy_coef=0.001 --config.controller.elite_size=0
            --config.controller.temperature=1.0)
# The default controller's temperature, pinned: some rows' configs set their own for their ENAS runs,
# and the trials below compare against the default.
default_t=(--config.controller.temperature=1.0)
for trial in "$@"; do
  case "${trial}" in
    evolution) flags=(--config.partition_source=evolution) ;;
    fixed) flags=(--config.partition_source=fixed) ;;
    random) flags=(--config.partition_source=random "${default_t[@]}") ;;  # the default controller's start, never trained
    random_v1) flags=("${shipped_v1[@]}" --config.partition_source=random) ;;
    enas) flags=(--config.partition_source=enas "${default_t[@]}") ;;  # today's default controller
    enas_v1) flags=("${shipped_v1[@]}") ;;
    enas_paper) flags=("${shipped_v1[@]}" "${enas_paper[@]}") ;;
    enas_pointer) flags=("${shipped_v1[@]}" --config.controller.head=pointer) ;;
    enas_paper_pointer) flags=("${shipped_v1[@]}" "${enas_paper[@]}" --config.controller.head=pointer) ;;
    enas_wide) flags=("${shipped_v1[@]}" --config.num_directions=64) ;;
    enas_rank) flags=("${shipped_v1[@]}" --config.controller.advantage=rank) ;;
    enas_peak6) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                       --config.controller.init_logit_peak=6.0) ;;
    enas_peak8) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                       --config.controller.init_logit_peak=8.0) ;;
    enas_peak6_calm) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                            --config.controller.init_logit_peak=6.0 --config.controller.entropy_coef=0.0
                            --config.controller.learning_rate=0.01) ;;
    enas_peak6_sgd) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                           --config.controller.init_logit_peak=6.0 --config.controller.entropy_coef=0.0
                           --config.controller.optimizer=sgd --config.controller.learning_rate=2.0) ;;
    enas_elite) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                       --config.controller.elite_size=16) ;;
    enas_elite_s4) flags=("${shipped_v1[@]}" --config.controller.elite_size=16) ;;
    enas_elite_peak6) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                             --config.controller.init_logit_peak=6.0 --config.controller.entropy_coef=0.0
                             --config.controller.learning_rate=0.1 --config.controller.elite_size=16) ;;
    enas_elite_peak6_lr03) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                                  --config.controller.init_logit_peak=6.0 --config.controller.entropy_coef=0.0
                                  --config.controller.learning_rate=0.03 --config.controller.elite_size=16) ;;
    enas_elite_peak6_ent) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                                 --config.controller.init_logit_peak=6.0 --config.controller.entropy_coef=0.001
                                 --config.controller.learning_rate=0.1 --config.controller.elite_size=16) ;;
    enas_elite_peak5) flags=("${shipped_v1[@]}" --config.controller.init_logit_scale=0.0
                             --config.controller.init_logit_peak=5.0 --config.controller.entropy_coef=0.0
                             --config.controller.learning_rate=0.1 --config.controller.elite_size=16) ;;
    enas_elite_s4w) flags=("${shipped_v1[@]}" --config.controller.elite_size=32
                           --config.controller.elite_weight=3.0) ;;
    enas_decay09) flags=(--config.partition_source=enas "${default_t[@]}" --config.controller.elite_decay=0.9) ;;
    enas_decay07) flags=(--config.partition_source=enas "${default_t[@]}" --config.controller.elite_decay=0.7) ;;
    enas_t15) flags=(--config.partition_source=enas --config.controller.temperature=1.5) ;;
    # The row setting (temperature 1.5) with every position's entropy held at 0.5 nats or more.
    enas_t15_floor05) flags=(--config.partition_source=enas --config.controller.temperature=1.5
                             --config.controller.entropy_floor=0.5) ;;
    # Twice as many controller samples as ES directions: each member of a pair its own partition.
    enas_member_samples) flags=(--config.partition_source=enas "${default_t[@]}" --config.pairs_per_partition=0) ;;
    row) flags=() ;;
    row_fd) flags=(--config.estimator=forward_fd) ;;
    enas_slow) flags=("${shipped_v1[@]}" --config.controller.learning_rate=0.005) ;;
    *) echo "unknown trial ${trial}" >&2; exit 2 ;;
  esac
  echo "== ${name} ${trial} seed ${seed}"
  python -m experiments.train --config="${config}" --config.seed="${seed}" --config.max_env_steps="${budget}" \
      --config.controller.diagnostics=True "${flags[@]}" --workdir="${out}/${name}/${trial}-${seed}" | tail -n 1
done
