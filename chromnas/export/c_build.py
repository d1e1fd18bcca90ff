"""Compiles a C export (`chromnas.export.c_export`) with the system C compiler and measures it.

* `compile_shared` / `CPolicy`: a shared library and its ctypes bridge, `act(obs)` as the runtime's;
* `footprint`: flash bytes (`.text` + `.rodata*` of the object file, from binutils' `size -A`) and
  stack bytes of the act function (`-fstack-usage`);
* `latency_ns`: nanoseconds of one `<prefix>_act` call, single thread, from a small C driver that
  times batches of calls with the thread's CPU clock (the fastest of several rounds).

Every compile uses `CFLAGS` (`-O2 -Wall -Werror -std=c99`): a warning in generated code fails.
The compiler is `$CC`, else `cc`, `gcc` or `clang` on the PATH (`find_compiler`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from chromnas.export import c_export

CFLAGS = ("-O2", "-Wall", "-Werror", "-std=c99")


def find_compiler() -> str | None:
  """`$CC` if set, else the first of `cc`, `gcc`, `clang` on the PATH; `None` without one."""
  if os.environ.get("CC"):
    return os.environ["CC"]
  for name in ("cc", "gcc", "clang"):
    found = shutil.which(name)
    if found:
      return found
  return None


def _compiler(cc: str | None) -> str:
  cc = cc or find_compiler()
  if not cc:
    raise RuntimeError("no C compiler found: set $CC or install cc (gcc or clang)")
  return cc


def _run(cmd: list[str], what: str) -> str:
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  if proc.returncode != 0:
    raise RuntimeError(f"{what} failed ({' '.join(cmd)}):\n{proc.stderr.strip()[-4000:]}")
  return proc.stdout


def compile_shared(source: str, out: str, cc: str | None = None) -> str:
  """Compiles `source` (its header beside it) with `CFLAGS` into the shared library `out`; returns `out`."""
  _run([_compiler(cc), *CFLAGS, "-fPIC", "-shared", "-o", out, source, "-lm"], "compiling the C policy")
  return out


class CPolicy:
  """A compiled C policy called through ctypes: `act(obs)` maps `(obs_dim,)` or `(batch, obs_dim)`
  observations to float32 actions, one `<prefix>_act` call per row."""

  def __init__(self, library: str, obs_dim: int, act_dim: int, prefix: str = c_export.DEFAULT_PREFIX):
    self.library = library
    self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
    self._lib = ctypes.CDLL(os.path.abspath(library))
    self._act = getattr(self._lib, f"{prefix}_act")
    pointer = ctypes.POINTER(ctypes.c_float)
    self._act.argtypes = (pointer, pointer)
    self._act.restype = None
    self._out = np.zeros(self.act_dim, np.float32)
    self._out_ptr = self._out.ctypes.data_as(pointer)
    self._pointer = pointer

  def act(self, obs) -> np.ndarray:
    """Actions in `[-1, 1]`, float32, shaped like `obs` with `obs_dim` replaced by `act_dim`."""
    obs = np.ascontiguousarray(obs, np.float32)
    if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
      raise ValueError(
        f"obs must have shape (obs_dim,) or (batch, obs_dim) with obs_dim={self.obs_dim}, got {obs.shape}"
      )
    rows = obs.reshape(-1, self.obs_dim)
    out = np.empty((rows.shape[0], self.act_dim), np.float32)
    for r in range(rows.shape[0]):
      self._act(rows[r].ctypes.data_as(self._pointer), self._out_ptr)
      out[r] = self._out
    return out.reshape(obs.shape[:-1] + (self.act_dim,))

  __call__ = act


@dataclasses.dataclass(frozen=True)
class Footprint:
  """Bytes a compiled policy takes: `text` (code) and `rodata` (constants) of its object file,
  their sum `flash`, and `stack`, the act function's frame from `-fstack-usage` plus any function
  it may call (`None` where the compiler cannot say)."""

  text: int
  rodata: int
  stack: int | None

  @property
  def flash(self) -> int:
    return self.text + self.rodata


def parse_size_sections(output: str) -> dict[str, int]:
  """Section sizes from binutils' `size -A` output (`name size addr` lines)."""
  sections: dict[str, int] = {}
  for line in output.splitlines():
    fields = line.split()
    if len(fields) >= 2 and fields[0].startswith(".") and fields[1].isdigit():
      sections[fields[0]] = sections.get(fields[0], 0) + int(fields[1])
  return sections


def parse_stack_usage(text: str) -> dict[str, int]:
  """Bytes per function from a `-fstack-usage` `.su` file (`file:line:col:name<TAB>bytes<TAB>kind`)."""
  usage = {}
  for line in text.splitlines():
    match = re.match(r"^.*:([A-Za-z_][A-Za-z0-9_]*)\s+(\d+)\s+\S+", line)
    if match:
      usage[match.group(1)] = int(match.group(2))
  return usage


def footprint(source: str, cc: str | None = None, size_tool: str | None = None) -> Footprint:
  """Compiles `source` to an object file with `CFLAGS` and `-fstack-usage` and measures it.  The
  stack figure adds every function in the `.su` file (the generated code has only the act
  function, the rest is inlined, so this is exact for it and an upper bound otherwise)."""
  cc = _compiler(cc)
  size_tool = size_tool or shutil.which("size")
  if not size_tool:
    raise RuntimeError("binutils' size is not on the PATH: it measures the flash bytes")
  with tempfile.TemporaryDirectory(prefix="chromnas_c_") as tmp:
    obj = os.path.join(tmp, "policy.o")
    stack_flag = ["-fstack-usage"]
    try:
      _run([cc, *CFLAGS, *stack_flag, "-c", "-o", obj, source], "compiling the C policy")
    except RuntimeError:  # a compiler without -fstack-usage: flash only
      stack_flag = []
      _run([cc, *CFLAGS, "-c", "-o", obj, source], "compiling the C policy")
    sections = parse_size_sections(_run([size_tool, "-A", obj], "size"))
    su = os.path.join(tmp, "policy.su")
    stack = sum(parse_stack_usage(open(su).read()).values()) if stack_flag and os.path.exists(su) else None
  text = sum(v for k, v in sections.items() if k == ".text" or k.startswith(".text."))
  rodata = sum(v for k, v in sections.items() if k == ".rodata" or k.startswith(".rodata."))
  return Footprint(text, rodata, stack)


_DRIVER = """\
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "{name}.h"

#define PROBES {probes}
{obs_array}

static double now_ns(void) {{
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);  /* CPU time: a descheduled thread is not timed */
  return 1e9 * (double)t.tv_sec + (double)t.tv_nsec;
}}

/* argv: rounds, target nanoseconds per round.  Prints ns per call, one line per round. */
int main(int argc, char **argv) {{
  int rounds = argc > 1 ? atoi(argv[1]) : 7, r;
  double target = argc > 2 ? atof(argv[2]) : 2e7;
  long calls = 64, c;
  float action[{up}_ACT_DIM];
  volatile float sink = 0.0f;
  for (;;) {{  /* grow the batch until one takes a tenth of the round's target */
    double start = now_ns(), took;
    for (c = 0; c < calls; ++c) {{ {prefix}_act(probe[c % PROBES], action); sink += action[0]; }}
    took = now_ns() - start;
    if (took > 0.1 * target) {{ calls = (long)(calls * target / took) + 1; break; }}
    calls *= 4;
  }}
  for (r = 0; r < rounds; ++r) {{
    double start = now_ns();
    for (c = 0; c < calls; ++c) {{ {prefix}_act(probe[c % PROBES], action); sink += action[0]; }}
    printf("%.3f\\n", (now_ns() - start) / (double)calls);
  }}
  return sink == 12345.0f;  /* keeps the calls' results live */
}}
"""


def latency_ns(
  source: str,
  obs: np.ndarray,
  cc: str | None = None,
  rounds: int = 9,
  round_s: float = 0.02,
  name: str = c_export.DEFAULT_NAME,
  prefix: str = c_export.DEFAULT_PREFIX,
) -> float:
  """Nanoseconds of one `<prefix>_act` call: the fastest of `rounds` rounds of about `round_s`
  seconds of thread CPU time each (the minimum: on a shared machine other processes only ever
  add time), cycling through the observations `obs (probes, obs_dim)`, one thread.  The driver
  is compiled with the policy by `CFLAGS` and linked with libm."""
  cc = _compiler(cc)
  obs = np.asarray(obs, np.float32)
  rows = ",\n  ".join("{" + ", ".join(c_export.c_float(v) for v in row) + "}" for row in obs)
  driver = _DRIVER.format(
    name=name,
    prefix=prefix,
    up=prefix.upper(),
    probes=obs.shape[0],
    obs_array=f"static const float probe[PROBES][{obs.shape[1]}] = {{\n  {rows}\n}};",
  )
  with tempfile.TemporaryDirectory(prefix="chromnas_bench_") as tmp:
    main = os.path.join(tmp, "bench_main.c")
    with open(main, "w") as f:
      f.write(driver)
    exe = os.path.join(tmp, "bench")
    include = os.path.dirname(os.path.abspath(source))
    _run([cc, *CFLAGS, "-I", include, "-o", exe, main, source, "-lm"], "compiling the latency driver")
    out = _run([exe, str(rounds), str(round_s * 1e9)], "the latency driver")
  return min(float(v) for v in out.split())
