"""absl binaries: train, evaluate, export, benchmarks, plots (`python -m experiments.NAME --help`).

Their default log level is WARNING: orbax logs every checkpoint at INFO, which would bury the
progress lines.  Pass `--verbosity=0` to see INFO logs.
"""
from absl import app
from absl import flags
from absl import logging


def _quiet_unless_asked() -> None:
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


app.call_after_init(_quiet_unless_asked)
