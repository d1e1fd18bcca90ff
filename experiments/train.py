"""Trains a chromatic (or other structured) policy with ES.

  python -m experiments.train --config=configs/default.py --workdir=/tmp/chromnas/default
  python -m experiments.train --config=configs/default.py --config.num_iterations=50 --workdir=...
  python -m experiments.train --config=... --config.engine=brax --seeds=4 --workdir=DIR  # one DIR/seed<k>/ per seed

Rerunning the same command on an existing workdir resumes from its newest checkpoint.
"""

from __future__ import annotations

import sys

from absl import app, flags
from ml_collections import config_flags

from experiments import check_output_dir, parse_flags_or_exit

_CONFIG = config_flags.DEFINE_config_file(
  "config", "configs/default.py", "Training configuration file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Directory for checkpoints, metrics and the best policy.", required=True
)
_SEEDS = flags.DEFINE_integer(
  "seeds",
  1,
  "Seeds config.seed .. config.seed + N - 1 trained at once as one compiled program, vmapped over seeds "
  "(engine=brax only); each writes WORKDIR/seed<k>/.",
)
_COMPILED = flags.DEFINE_bool(
  "compiled", False, "Train as one compiled program (chromnas.train.compiled) even with --seeds=1 (engine=brax only)."
)
_ENV_KWARGS = flags.DEFINE_string(
  "env_kwargs",
  "",
  "JSON object of extra keyword arguments for the host "
  "environment, merged into config.env_kwargs, e.g. '{\"healthy_reward\": 0.5}'.",
)


def main(argv):
  del argv
  check_output_dir("workdir", _WORKDIR.value)  # before any worker starts
  from chromnas.train import loop  # imported after flag parsing: keeps --help fast

  cfg = _CONFIG.value
  if _ENV_KWARGS.value:
    import json

    try:
      extra = json.loads(_ENV_KWARGS.value)
    except json.JSONDecodeError as e:
      print(f"error: --env_kwargs is not valid JSON: {e}", file=sys.stderr)
      sys.exit(2)
    if not isinstance(extra, dict):
      print(f"error: --env_kwargs must be a JSON object, got {_ENV_KWARGS.value!r}", file=sys.stderr)
      sys.exit(2)
    with cfg.unlocked():
      cfg.env_kwargs.update(extra)
  compiled = _SEEDS.value > 1 or _COMPILED.value
  if _SEEDS.value < 1:
    print(f"error: --seeds must be >= 1, got {_SEEDS.value}", file=sys.stderr)
    sys.exit(2)
  if compiled and cfg.engine != "brax":
    print(
      f"error: --seeds={_SEEDS.value} (a compiled run) needs --config.engine=brax; the {cfg.engine!r} engine trains "
      "one seed per command",
      file=sys.stderr,
    )
    sys.exit(2)
  try:
    if compiled:
      from chromnas.train import compiled as compiled_lib

      compiled_lib.train_seeds(cfg, _WORKDIR.value, range(cfg.seed, cfg.seed + _SEEDS.value))
    else:
      loop.train(cfg, _WORKDIR.value)
  except (ValueError, FloatingPointError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except RuntimeError as e:
    # A worker that cannot build the environment (bad env_kwargs) sends its traceback: its last
    # line names the problem.
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    print(f"error: {lines[-1].strip() if lines else type(e).__name__}", file=sys.stderr)
    sys.exit(1)
  except loop.Terminated:
    print("terminated; rerun the same command to resume", file=sys.stderr)
    sys.exit(143)
  except KeyboardInterrupt:
    print("interrupted; rerun the same command to resume", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
