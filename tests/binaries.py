"""Many short `python -m experiments.NAME ARGS` commands (bad inputs that end in one error line) in
one interpreter instead of one each.

`run_many` starts a single server process that imports the libraries the binaries use once, then
runs each command in a forked child exactly as `python -m` runs it (`runpy`, `__name__ ==
"__main__"`, `sys.argv` set, the repository as working directory), its stdout and stderr captured
and its exit status kept.  Forking is only safe while the server has no threads and no JAX backend;
if a preloaded library ever starts one, every command runs in a fresh interpreter instead.
Commands that do real work (training, workers) belong in ordinary subprocesses.
"""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Imported once by the server; each forked command finds them in `sys.modules`.
PRELOAD = (
  "numpy",
  "jax",
  "jax.numpy",
  "absl.app",
  "absl.flags",
  "ml_collections.config_flags",
  "experiments",
  "chromnas.train.config",
  "chromnas.train.build",
  "chromnas.train.loop",
  "chromnas.train.metrics",
  "chromnas.reproduction",
  "chromnas.deploy",
  "chromnas.envs.tasks",
  "chromnas.core.footprint",
)


@dataclasses.dataclass
class Result:
  """One command's exit status, output and seconds from the binary's start to its exit."""

  returncode: int
  stdout: str
  stderr: str
  elapsed: float


def run_many(commands, timeout=120):
  """Runs `commands`, a list of `(binary, args)`, as `python -m experiments.<binary> *args` from
  the repository root; returns one `Result` per command, in order."""
  with tempfile.TemporaryDirectory() as tmp:
    request, answer = os.path.join(tmp, "commands.json"), os.path.join(tmp, "results.json")
    with open(request, "w") as f:
      json.dump({"commands": [[b, list(a)] for b, a in commands], "timeout": timeout}, f)
    proc = subprocess.run(
      [sys.executable, __file__, request, answer],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=60 + timeout * len(commands),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(answer) as f:
      return [Result(**r) for r in json.load(f)]


def _fork_safe() -> bool:
  import threading

  from jax._src import xla_bridge

  return threading.active_count() == 1 and not xla_bridge._backends


def _run_forked(binary, args, timeout):
  import atexit
  import runpy
  import signal
  import traceback

  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: becomes `python -m experiments.<binary> *args`
      code = 1
      try:
        signal.alarm(timeout)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.argv = [binary, *args]
        runpy.run_module(f"experiments.{binary}", run_name="__main__", alter_sys=True)
        code = 0
      except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
          code = e.code or 0
        else:  # as the interpreter does with `sys.exit("message")`
          print(e.code, file=sys.stderr)
      except BaseException:
        traceback.print_exc()
      finally:
        try:
          atexit._run_exitfuncs()
          sys.stdout.flush()
          sys.stderr.flush()
        finally:
          os._exit(code)
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - start
    out.seek(0)
    err.seek(0)
    return dict(
      returncode=os.waitstatus_to_exitcode(status),
      stdout=out.read().decode(errors="replace"),
      stderr=err.read().decode(errors="replace"),
      elapsed=elapsed,
    )


def _run_fresh(binary, args, timeout):
  start = time.monotonic()
  proc = subprocess.run(
    [sys.executable, "-m", f"experiments.{binary}", *args], capture_output=True, text=True, timeout=timeout
  )
  return dict(returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr, elapsed=time.monotonic() - start)


def _serve(request, answer):
  import importlib

  sys.path[0] = os.getcwd()  # as `python -m` from the repository root
  with open(request) as f:
    job = json.load(f)
  for name in PRELOAD:
    importlib.import_module(name)
  run = _run_forked if _fork_safe() else _run_fresh
  results = [run(binary, args, job["timeout"]) for binary, args in job["commands"]]
  with open(answer, "w") as f:
    json.dump(results, f)


if __name__ == "__main__":
  _serve(sys.argv[1], sys.argv[2])
