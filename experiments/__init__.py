"""absl binaries: train, evaluate, export, benchmarks, plots (`python -m experiments.NAME --help`).

Their default log level is WARNING: orbax logs every checkpoint at INFO, which would bury the
progress lines.  Pass `--verbosity=0` to see INFO logs.
"""

from absl import app, flags, logging


def _quiet_unless_asked() -> None:
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


app.call_after_init(_quiet_unless_asked)


def parse_flags_or_exit(argv):
  """absl's flag parsing with every failure (a missing or broken config file, an unknown
  `--config.` field, a bad value) reported as one line `error: ...` and exit status 2,
  instead of a traceback.  Pass as `app.run(main, flags_parser=parse_flags_or_exit)`."""
  import sys

  try:
    rest = flags.FLAGS(argv)
    if "config" in flags.FLAGS:
      # ml_collections defers a config file's load error to the first use of the config.
      value = flags.FLAGS["config"].value
      if value is not None:
        value.to_dict()
    return rest
  except flags.Error as e:
    message = str(e)
  except (OSError, SyntaxError, AttributeError, KeyError, TypeError, ValueError) as e:
    message = f"{type(e).__name__}: {e}"
  # Config-file errors arrive wrapped in a flags error that quotes the whole attempt list.
  message = " ".join(message.replace("\\n", " ").replace("'", "").replace("\\", "").split())
  message = message.replace("Configuration is not available because of an earlier failure to load: ", "")
  message = message.replace(
    "Failed loading config file config_config Attempted [Relative path]:", "cannot load --config:"
  )
  print(f"error: {message[:400]}", file=sys.stderr)
  sys.exit(2)
