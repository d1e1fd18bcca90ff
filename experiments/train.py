"""Trains a chromatic (or other structured) policy with ES.

  python -m experiments.train --config=configs/default.py --workdir=/tmp/chromnas/default
  python -m experiments.train --config=configs/default.py --config.num_iterations=50 --workdir=...

Rerunning the same command on an existing workdir resumes from its newest checkpoint.
"""
from __future__ import annotations

import sys

from absl import app
from absl import flags

from experiments import parse_flags_or_exit
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", "configs/default.py", "Training configuration file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the best policy.",
                               required=True)


def main(argv):
  del argv
  from chromnas import trainer  # imported after flag parsing: keeps --help fast
  cfg = _CONFIG.value
  try:
    trainer.train(cfg, _WORKDIR.value)
  except (ValueError, FloatingPointError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except trainer.Terminated:
    print("terminated; rerun the same command to resume", file=sys.stderr)
    sys.exit(143)
  except KeyboardInterrupt:
    print("interrupted; rerun the same command to resume", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
