#!/usr/bin/env bash
# The partition-source study (issue: does ENAS beat random, fixed and evolution?): every task x seed x
# source at one env-step budget, in the layout experiments.source_study reads.  Rerunning resumes:
# finished runs stop at once, cut ones continue from their last checkpoint.
#   bash experiments/source_study.sh OUT BUDGET "SEEDS" CONFIG... 
# e.g. bash experiments/source_study.sh runs/study 2000000 "0 1 2" configs/halfcheetah_h41_chromatic17.py
set -euo pipefail
out=$1; budget=$2; seeds=$3; shift 3
for seed in ${seeds}; do
  for config in "$@"; do
    bash "$(dirname "$0")/controller_trials.sh" "${out}" "${budget}" "${seed}" "${config}" enas random fixed evolution
  done
done
