"""Trains a chromatic (or other structured) policy with ES.

  python -m experiments.train --config=configs/default.py --workdir=/tmp/chromnas/default
  python -m experiments.train --config=configs/default.py --config.num_iterations=50 --workdir=...

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
  try:
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
