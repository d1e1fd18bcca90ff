"""Evaluates a policy on fresh episodes: a compact policy file, or a training workdir's policy.

  python -m experiments.evaluate --policy=results/zoo/hopper_h41_chromatic11.chromnas --episodes=10
  python -m experiments.evaluate --workdir=/tmp/chromnas/default --episodes=10 [--which=latest]

With `--policy`, the NumPy runtime (`chromnas.core.runtime`, no JAX) runs the file on the task's host
environment: Gymnasium's own v5 environment for HalfCheetah, Hopper, Walker2d and Swimmer, the
registry's host environment otherwise.  With `--workdir`, the engine and task come from the
workdir's `config.json` (override the engine with --engine).  Prints
`return <mean> +- <std>` over the episodes.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from experiments import check_input_file, parse_flags_or_exit

_POLICY = flags.DEFINE_string("policy", None, "A compact policy file (.chromnas) to run with the NumPy runtime.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.")
_EPISODES = flags.DEFINE_integer("episodes", 10, "Number of fresh episodes.")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Best evaluated or latest policy (--workdir).")
_ENGINE = flags.DEFINE_string("engine", "", "Override the engine ('host' or 'brax') (--workdir).")
_SEED = flags.DEFINE_integer("seed", 12345, "Seed of the first evaluation episode.")


def _fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def _report(label: str, returns) -> None:
  """Prints `label: return <mean> +- <std> over N episodes (min, max)`; fails if none is finite."""
  import numpy as np

  finite = returns[np.isfinite(returns)]
  if not finite.size:
    _fail(f"every one of the {returns.size} episodes diverged")
  print(
    f"{label}: return {finite.mean():.1f} +- {finite.std():.1f} over {finite.size} episodes "
    f"(min {finite.min():.1f}, max {finite.max():.1f})"
    + (f" ({returns.size - finite.size} diverged)" if finite.size < returns.size else "")
  )


def evaluate_file(path: str) -> None:
  from chromnas import deploy

  check_input_file("policy", path)
  try:
    returns, env = deploy.evaluate_policy_file(path, _EPISODES.value, seed=_SEED.value)
  except ValueError as e:
    _fail(f"--policy={path}: {e}")
  _report(f"{os.path.basename(path)} on {env}", returns)


def evaluate_workdir(workdir: str) -> None:
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    _fail(f"{path} not found: is {workdir} a training workdir?")
  import jax
  import numpy as np

  from chromnas.core import bundle as bundle_lib
  from chromnas.es import normalizer
  from chromnas.train import build

  try:
    cfg = build.load_config(path, {"engine": _ENGINE.value} if _ENGINE.value else None)
    bundle = bundle_lib.load_workdir_policy(workdir, _WHICH.value)
    run = build.build(cfg)  # validates the saved config and starts the evaluator
  except (FileNotFoundError, ValueError) as e:
    _fail(str(e))
  with run:
    if run.spec != bundle.spec:
      _fail(f"{workdir}: its {_WHICH.value} policy does not match its config.json ({bundle.spec} vs {run.spec})")
    stats = normalizer.from_mean_std(bundle.obs_mean, bundle.obs_std)  # the bundle's fixed normaliser
    params = np.tile(bundle.params[None], (_EPISODES.value, 1))
    structures = np.tile(bundle.structure[None], (_EPISODES.value, 1))
    res = run.evaluator.evaluate_params(params, structures, stats, jax.random.PRNGKey(_SEED.value))
  spec = run.spec
  _report(
    f"{run.task} ({run.engine}) {spec.family} {spec.architecture} policy ({_WHICH.value})", np.asarray(res.returns)
  )


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}")
  if _EPISODES.value < 1:
    _fail(f"--episodes must be >= 1, got {_EPISODES.value}")
  if (_POLICY.value is None) == (_WORKDIR.value is None):
    _fail("give exactly one of --policy=FILE or --workdir=DIR")
  if _POLICY.value is not None:
    evaluate_file(_POLICY.value)
  else:
    evaluate_workdir(_WORKDIR.value)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
