"""Exports the best (or latest) policy of a training workdir to the compact binary format.

  python -m experiments.export --workdir=/tmp/chromnas/default --out=/tmp/halfcheetah.chromnas
  python -m experiments.export --workdir=... --out=... --which=latest

The file (format: `chromnas/core/policy_file.py`) holds the header, the observation normaliser, the
weight values, the hidden biases and the bit-packed structure, with a CRC32.  Run it with
NumPy only:

  from chromnas.core import runtime
  policy = runtime.load_policy("/tmp/halfcheetah.chromnas")
  action = policy.act(obs)

After writing, the file is read back with the NumPy runtime and its actions are compared with
the bundle's own NumPy forward pass on a few random observations.
"""
from __future__ import annotations

import sys

from absl import app
from absl import flags

from experiments import parse_flags_or_exit

from chromnas import deploy

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.")
_OUT = flags.DEFINE_string("out", None, "Output file.")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Best evaluated or latest policy.")


def main(argv):
  del argv
  if not _WORKDIR.value or not _OUT.value:
    print("error: --workdir and --out are required", file=sys.stderr)
    sys.exit(2)
  try:
    print(deploy.export_workdir(_WORKDIR.value, _OUT.value, _WHICH.value))
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
