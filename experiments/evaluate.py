"""Evaluates the policy saved in a training workdir on fresh episodes.

  python -m experiments.evaluate --workdir=/tmp/chromnas/default --episodes=10 [--which=latest]

Prints the mean and standard deviation of the return.  The engine and task come from the
workdir's `config.json` (override the engine with --engine).
"""
from __future__ import annotations

import json
import os
import sys

from absl import app
from absl import flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.", required=True)
_EPISODES = flags.DEFINE_integer("episodes", 10, "Number of fresh episodes.")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Best evaluated or latest policy.")
_ENGINE = flags.DEFINE_string("engine", "", "Override the engine ('host' or 'brax').")
_SEED = flags.DEFINE_integer("seed", 12345, "Seed of the evaluation episodes.")


def main(argv):
  del argv
  import jax
  import ml_collections
  import numpy as np

  from chromnas import normalizer
  from chromnas import trainer
  path = os.path.join(_WORKDIR.value, "config.json")
  if not os.path.exists(path):
    print(f"error: {path} not found: is {_WORKDIR.value} a training workdir?", file=sys.stderr)
    sys.exit(2)
  with open(path) as f:
    cfg = ml_collections.ConfigDict(json.load(f))
  if _ENGINE.value:
    cfg.engine = _ENGINE.value
  try:
    bundle = trainer.load_policy_bundle(_WORKDIR.value, _WHICH.value)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  spec = bundle.spec
  # The bundle stores mean/std; rebuild equivalent running statistics (count 2 keeps std exact).
  stats = normalizer.RunningStats(np.float32(2.0), bundle.obs_mean, 2.0 * bundle.obs_std**2)
  evaluator = trainer.make_evaluator_from_config(cfg, spec)
  try:
    params = np.tile(bundle.params[None], (_EPISODES.value, 1))
    structures = np.tile(bundle.structure[None], (_EPISODES.value, 1))
    res = evaluator.evaluate_params(params, structures, stats, jax.random.PRNGKey(_SEED.value))
  finally:
    evaluator.close()
  returns = np.asarray(res.returns)
  finite = returns[np.isfinite(returns)]
  print(f"{cfg.task} ({cfg.engine}) {spec.family} {spec.architecture} policy ({_WHICH.value}): "
        f"return {finite.mean():.1f} +- {finite.std():.1f} over {finite.size} episodes"
        + (f" ({returns.size - finite.size} diverged)" if finite.size < returns.size else ""))


if __name__ == "__main__":
  app.run(main)
