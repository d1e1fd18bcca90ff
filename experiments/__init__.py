"""absl binaries: train, evaluate, export, benchmarks, plots (`python -m experiments.NAME --help`).

Their default log level is WARNING: orbax logs every checkpoint at INFO, which would bury the
progress lines.  Pass `--verbosity=0` to see INFO logs.
"""

import os
import sys
import tempfile
from typing import NoReturn

from absl import app, flags, logging


def _quiet_unless_asked() -> None:
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


app.call_after_init(_quiet_unless_asked)


class _ClosedPipeSafe:
  """A text stream whose writes survive a reader that has gone (`... | head`): the first
  `BrokenPipeError` points the file descriptor at /dev/null, and the run goes on quietly
  (a training run must not die, nor end in a traceback, because its progress lines lost a reader)."""

  def __init__(self, stream):
    self._stream = stream

  def _drop(self) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
      os.dup2(devnull, self._stream.fileno())
    finally:
      os.close(devnull)

  def write(self, text):
    try:
      return self._stream.write(text)
    except BrokenPipeError:
      self._drop()
      return len(text)

  def flush(self):
    try:
      self._stream.flush()
    except BrokenPipeError:
      self._drop()

  def __getattr__(self, name):
    return getattr(self._stream, name)


def _survive_closed_pipes() -> None:
  if not isinstance(sys.stdout, _ClosedPipeSafe) and hasattr(sys.stdout, "fileno"):
    try:
      sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (captured by a test harness): nothing to guard
      return
    sys.stdout = _ClosedPipeSafe(sys.stdout)


class _ConfigFileError(Exception):
  """A `--config` file that exists but does not load (a folder, not Python, no `get_config`)."""


def parse_flags_or_exit(argv):
  """absl's flag parsing with every failure (a missing or broken config file, an unknown
  `--config.` field, a bad value) reported as one line `error: ...` and exit status 2,
  instead of a traceback.  Pass as `app.run(main, flags_parser=parse_flags_or_exit)`.  Also makes
  stdout survive a closed pipe (`python -m experiments.list_tasks | head -1`)."""
  _survive_closed_pipes()
  try:
    rest = flags.FLAGS(argv)
    if "config" in flags.FLAGS and hasattr(flags.FLAGS["config"], "config_filename"):
      # ml_collections defers a config file's load error to the first use of the config.
      path = flags.FLAGS["config"].config_filename
      try:
        value = flags.FLAGS["config"].value
        if value is not None:
          value.to_dict()
      except (OSError, SyntaxError, AttributeError, KeyError, TypeError, ValueError) as e:
        raise _ConfigFileError(f"cannot load --config={path}: {type(e).__name__}: {e}") from None
    return rest
  except flags.Error as e:
    message = str(e)
  except _ConfigFileError as e:
    message = str(e)
  except (OSError, SyntaxError, AttributeError, KeyError, TypeError, ValueError) as e:
    # Raised while absl parses the flags: only a `--config` file's loading raises these.
    path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
    message = f"cannot load --config={path}: {type(e).__name__}: {e}"
  # Config-file errors arrive wrapped in a flags error that quotes the whole attempt list.
  message = " ".join(message.replace("\\n", " ").replace("'", "").replace("\\", "").split())
  message = message.replace("Configuration is not available because of an earlier failure to load: ", "")
  message = message.replace(
    "Failed loading config file config_config Attempted [Relative path]:", "cannot load --config:"
  )
  print(f"error: {message[:400]}", file=sys.stderr)
  sys.exit(2)


# Image formats the plotting binaries write (matplotlib picks the format from the extension).
IMAGE_EXTENSIONS = (".png", ".pdf", ".svg")


def fail(message: str) -> NoReturn:
  """Ends the binary the way every bad input ends it: one line `error: <message>` on stderr, exit status 2."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def _probe_writable(folder: str) -> str | None:
  """Why no file can be created in the existing `folder`, or None if one can (tried, then removed)."""
  try:
    fd, probe = tempfile.mkstemp(prefix=".chromnas_probe_", dir=folder or ".")
  except OSError as e:
    return e.strerror or type(e).__name__
  os.close(fd)
  os.unlink(probe)
  return None


def check_input_file(flag: str, path: str | None, extensions: tuple[str, ...] = ()) -> None:
  """Fails (`fail`) unless `path` names an existing file ending in one of `extensions` (any if empty)."""
  if not path:
    fail(f"--{flag} is required")
  if os.path.isdir(path):
    fail(f"--{flag}={path} is a directory, not a file")
  if not os.path.isfile(path):
    fail(f"--{flag}={path}: no such file")
  if extensions and not path.lower().endswith(extensions):
    fail(f"--{flag}={path}: expected a {' or '.join(extensions)} file")


def check_input_dir(flag: str, path: str | None) -> None:
  """Fails (`fail`) unless `path` names an existing directory."""
  if not path:
    fail(f"--{flag} is required")
  if os.path.isfile(path):
    fail(f"--{flag}={path} is a file, not a directory")
  if not os.path.isdir(path):
    fail(f"--{flag}={path}: no such directory")


def check_output_file(flag: str, path: str | None, extensions: tuple[str, ...] = ()) -> None:
  """Fails (`fail`) before any work unless a file can be written at `path`: ending in one of
  `extensions` (any if empty), not a directory, in an existing directory this process may write."""
  if not path:
    fail(f"--{flag} is required")
  if os.path.isdir(path):
    fail(f"--{flag}={path} is a directory; name a file")
  if extensions and not path.lower().endswith(extensions):
    fail(f"--{flag}={path}: write a {' or '.join(extensions)} file")
  folder = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(folder):
    fail(f"--{flag}={path}: no such directory {folder}")
  why = _probe_writable(folder)
  if why:
    fail(f"--{flag}={path}: cannot write in {folder} ({why})")


def check_output_dir(flag: str, path: str | None) -> None:
  """Fails (`fail`) before any work unless `path` is, or can be made as, a directory this process may write."""
  if not path:
    fail(f"--{flag} is required")
  if os.path.exists(path) and not os.path.isdir(path):
    fail(f"--{flag}={path}: File exists (not a directory)")
  existing = os.path.abspath(path)
  while not os.path.isdir(existing):
    parent = os.path.dirname(existing)
    if os.path.exists(existing) or parent == existing:
      fail(f"--{flag}={path}: {existing} is not a directory")
    existing = parent
  why = _probe_writable(existing)
  if why:
    fail(f"--{flag}={path}: cannot write in {existing} ({why})")
