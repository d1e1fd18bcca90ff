"""Golden runs: four short fixed-seed trainings whose outputs must never change by accident.

A host-pool run and a Brax run, each with a fixed and an ENAS-searched partition, train for a few
iterations.  Their digest covers every `metrics.csv` column except the timing ones, and every
array of the saved best and latest policies, read with NumPy alone (so the digest does not depend
on where chromnas keeps its code).  `tests/test_golden.py` compares it with
`tests/data/golden.json`; a change that is meant to alter the numerics regenerates that file with

  python -m tests.golden --write
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

GOLDEN_PATH = os.path.join(os.path.dirname(__file__), "data", "golden.json")
TIMING_COLUMNS = ("steps_per_s", "wall_s")
POLICY_FILES = ("best_policy.npz", "latest_policy.npz")

# name -> config overrides.  Small enough for CI, large enough that the partition search, the
# normaliser, evaluation and the best-policy bookkeeping all run.
RUNS = {
    "host_fixed": dict(engine="host", partition_source="fixed"),
    "host_enas": dict(engine="host", partition_source="enas"),
    "brax_fixed": dict(engine="brax", partition_source="fixed"),
    "brax_enas": dict(engine="brax", partition_source="enas"),
}


# Hopper, H41 chromatic with K=5, 4 pairs x 30 steps, 4 iterations, evaluated every 2.
SETTINGS = dict(task="hopper", architecture="H41", family="chromatic", num_colors=5, episode_length=30,
                num_directions=4, num_workers=2, num_iterations=4, eval_every=2, eval_episodes=2,
                checkpoint_every=2, noise_size=100_000, image_every=0, reward_shift=1.0)


def run_config(**overrides):
  """The golden runs' shared config (`SETTINGS`) with `overrides`."""
  from chromnas.train import config  # pylint: disable=import-outside-toplevel
  c = config.default_config()
  c.update({**SETTINGS, **overrides})
  return c


def digest_workdir(workdir: str) -> dict:
  """`{'metrics': [...rows without timing...], 'metrics_sha256', '<policy file>': {array: sha256}}`."""
  with open(os.path.join(workdir, "metrics.csv")) as f:
    rows = [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)]
  out = {"metrics": rows,
         "metrics_sha256": hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()}
  for name in POLICY_FILES:
    with np.load(os.path.join(workdir, name), allow_pickle=False) as z:
      out[name] = {key: hashlib.sha256(np.ascontiguousarray(z[key]).tobytes() + str(z[key].dtype).encode()
                                       + str(z[key].shape).encode()).hexdigest() for key in sorted(z.files)}
  return out


def run_one(name: str, workdir: str) -> dict:
  """Trains golden run `name` in `workdir` and returns its digest."""
  from chromnas.train import loop  # pylint: disable=import-outside-toplevel
  loop.train(run_config(**RUNS[name]), workdir, progress_fn=None)
  return digest_workdir(workdir)


def main(argv):
  names = [a for a in argv[1:] if not a.startswith("--")] or list(RUNS)
  with tempfile.TemporaryDirectory() as tmp:
    got = {name: run_one(name, os.path.join(tmp, name)) for name in names}
  for name, d in got.items():
    print(name, "metrics", d["metrics_sha256"][:16],
          " ".join(f"{f}:{hashlib.sha256(json.dumps(d[f], sort_keys=True).encode()).hexdigest()[:16]}"
                   for f in POLICY_FILES))
  if "--write" in argv:
    with open(GOLDEN_PATH, "w") as f:
      json.dump(got, f, indent=1, sort_keys=True)
    print("wrote", GOLDEN_PATH)


if __name__ == "__main__":
  main(sys.argv)
