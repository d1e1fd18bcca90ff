"""Exports a policy: to the compact `.chromnas` format, to ONNX, or to dependency-free C.

  python -m experiments.export --workdir=/tmp/chromnas/default --out=/tmp/halfcheetah.chromnas
  python -m experiments.export --workdir=... --out=... --which=latest
  python -m experiments.export --policy=results/zoo/halfcheetah_h41_chromatic17.chromnas --format=onnx \
      --out=/tmp/hc.onnx
  python -m experiments.export --policy=results/zoo/halfcheetah_h41_chromatic17.chromnas --format=c --out=/tmp/hc_c
  python -m experiments.export --policy=... --format=c --out=DIR --episodes=3   # also drive the task in C

The source is a training workdir (`--workdir`, its best or latest policy) or a `.chromnas` file
(`--policy`).  Formats:

* `chromnas` (default; from a workdir): the compact file (`chromnas/core/policy_file.py`), read back
  by the NumPy runtime and compared with the bundle's own forward pass;
* `onnx`: one ONNX model (`chromnas.export.onnx_export`, needs `pip install "chromnas[onnx]"`),
  checked by `onnx.checker` and, where onnxruntime is installed, run on 1000 probe observations
  against the NumPy runtime;
* `c`: `DIR/chromnas_policy.h` and `DIR/chromnas_policy.c` (`chromnas.export.c_export`), needing only
  libm; where a C compiler is found it is compiled (`-O2 -Wall -Werror -std=c99`), run on the
  same probe observations against the runtime, and its flash and stack bytes are printed.

An export whose actions differ from the runtime's by more than 1e-5 exits with status 1.
"""

from __future__ import annotations

import os
import sys
import tempfile

from absl import app, flags

from chromnas import deploy
from experiments import (
  check_input_dir,
  check_input_file,
  check_output_dir,
  check_output_file,
  fail,
  parse_flags_or_exit,
)

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (or pass --policy).")
_POLICY = flags.DEFINE_string("policy", None, "A .chromnas policy file to convert (or pass --workdir).")
_OUT = flags.DEFINE_string("out", None, "Output file (chromnas, onnx) or directory (c).")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Best evaluated or latest policy (--workdir).")
_FORMAT = flags.DEFINE_enum("format", "chromnas", ["chromnas", "onnx", "c"], "Export format.")
_CHECK = flags.DEFINE_bool(
  "check",
  True,
  "Compare the export with the NumPy runtime (onnx: needs onnxruntime; "
  "c: needs a C compiler; skipped with a note where missing).",
)
_C_NAME = flags.DEFINE_string("c_name", "chromnas_policy", "C export: file name stem of the .h and .c.")
_C_PREFIX = flags.DEFINE_string("c_prefix", "chromnas", "C export: symbol prefix (<prefix>_act, <PREFIX>_OBS_DIM).")
_C_LANES = flags.DEFINE_integer("c_lanes", 4, "C export: partial sums per dot product (1: smallest code).")
_EPISODES = flags.DEFINE_integer(
  "episodes",
  0,
  "C export: also run this many episodes of the policy's task "
  "with the compiled C policy and with the runtime, and print both returns.",
)
TOLERANCE = 1e-5


def _policy_bytes() -> bytes:
  from chromnas.core import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from chromnas.core import policy_file  # pylint: disable=g-import-not-at-top

  if _POLICY.value:
    return policy_file.read_bytes(_POLICY.value)
  return policy_file.dumps(bundle_lib.load_workdir_policy(_WORKDIR.value, _WHICH.value))


def _check_line(err: float) -> str:
  if err > TOLERANCE:
    print(f"error: the export's actions differ from the runtime's by {err:.2e} (> {TOLERANCE:g})", file=sys.stderr)
    sys.exit(1)
  return f"max |action - runtime| = {err:.1e} on 1000 probe observations"


def export_onnx(data: bytes, out: str) -> str:
  """Writes the ONNX model, checks it, returns the summary."""
  from chromnas.export import (
    onnx_export,  # pylint: disable=g-import-not-at-top
    verify,  # pylint: disable=g-import-not-at-top
  )

  size = onnx_export.write_onnx(data, out)
  lines = [
    f"{out}: ONNX opset {onnx_export.OPSET}, {size} bytes (the .chromnas file: {len(data)} bytes); onnx.checker passed"
  ]
  if _CHECK.value:
    try:
      import onnxruntime  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      lines.append('not run: onnxruntime is not installed (pip install "chromnas[onnx]")')
    else:
      lines.append("onnxruntime: " + _check_line(verify.onnx_error(data, out)))
  return "\n".join(lines)


def export_c(data: bytes, out: str) -> str:
  """Writes the header and source, compiles and checks them where a compiler exists, returns the summary."""
  from chromnas.core import runtime  # pylint: disable=g-import-not-at-top
  from chromnas.export import (
    c_build,  # pylint: disable=g-import-not-at-top
    c_export,  # pylint: disable=g-import-not-at-top
    closed_loop,  # pylint: disable=g-import-not-at-top
    verify,  # pylint: disable=g-import-not-at-top
  )

  header, source = c_export.write_c(data, out, _C_NAME.value, _C_PREFIX.value, _C_LANES.value)
  lines = [
    f"{header}, {source}: C99, libm only ({os.path.getsize(header) + os.path.getsize(source)} bytes of "
    f"source; the .chromnas file: {len(data)} bytes)"
  ]
  cc = c_build.find_compiler()
  if not _CHECK.value:
    return "\n".join(lines)
  if cc is None:
    lines.append("not compiled: no C compiler found (set $CC)")
    return "\n".join(lines)
  fp = c_build.footprint(source, cc)
  stack = f"{fp.stack} bytes of stack" if fp.stack is not None else "stack use unknown (no -fstack-usage)"
  lines.append(
    f"{cc} {' '.join(c_build.CFLAGS)}: flash {fp.flash} bytes (.text {fp.text} + .rodata {fp.rodata}), {stack}"
  )
  with tempfile.TemporaryDirectory(prefix="chromnas_export_") as tmp:
    err, cpolicy = verify.c_error(data, source, os.path.join(tmp, "libpolicy.so"), cc=cc, prefix=_C_PREFIX.value)
    lines.append("compiled: " + _check_line(err))
    if _EPISODES.value > 0:
      policy = runtime.load_policy(data)
      if not policy.env:
        raise ValueError("the policy does not name its task: cannot run --episodes")
      c_returns = closed_loop.episode_returns(cpolicy.act, policy.env, _EPISODES.value)
      r_returns = closed_loop.episode_returns(policy.act, policy.env, _EPISODES.value)
      gap = abs(c_returns.mean() - r_returns.mean()) / max(abs(r_returns.mean()), 1e-9)
      lines.append(
        f"{policy.env}, {_EPISODES.value} episodes (seeds 0..{_EPISODES.value - 1}): C return "
        f"{c_returns.mean():.1f} {c_returns.round(1).tolist()}, runtime {r_returns.mean():.1f} "
        f"{r_returns.round(1).tolist()}, gap {100 * gap:.2f}%"
      )
  return "\n".join(lines)


def main(argv):
  del argv
  if bool(_WORKDIR.value) == bool(_POLICY.value) or not _OUT.value:
    fail("pass --out and exactly one of --workdir and --policy")
  if _FORMAT.value == "chromnas" and not _WORKDIR.value:
    fail("--format=chromnas exports a --workdir; a --policy file is already in that format")
  # Every input and output path is checked before any work, so nothing is half written.
  if _WORKDIR.value:
    check_input_dir("workdir", _WORKDIR.value)
  else:
    check_input_file("policy", _POLICY.value, (".chromnas",))
  if _FORMAT.value == "c":
    check_output_dir("out", _OUT.value)
  else:
    check_output_file("out", _OUT.value, (f".{_FORMAT.value}",))
  try:
    if _FORMAT.value == "chromnas":
      print(deploy.export_workdir(_WORKDIR.value, _OUT.value, _WHICH.value))
    elif _FORMAT.value == "onnx":
      print(export_onnx(_policy_bytes(), _OUT.value))
    else:
      print(export_c(_policy_bytes(), _OUT.value))
  except (OSError, ValueError, ImportError, RuntimeError) as e:
    fail(str(e).splitlines()[0] if str(e) else type(e).__name__)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
