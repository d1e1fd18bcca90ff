"""Golden runs: four short fixed-seed trainings whose outputs must never change by accident.

A host-pool run and a Brax run, each with a fixed and an ENAS-searched partition, train for a few
iterations.  Their digest covers every `metrics.csv` column except the timing ones, and every
array of the saved best and latest policies, read with NumPy alone (so the digest does not depend
on where chromnas keeps its code).

Bit-identity of a JAX run holds on one kind of machine only: XLA's CPU backend compiles for the
vector instructions it finds (AVX2 or AVX-512 round and sum differently), and a jax/jaxlib release
may change the compiled code.  So `tests/data/golden.json` keeps one or more *profiles*, each a
machine fingerprint (`fingerprint()`) with the digests recorded under it.  `compare()` then checks
a fresh run three ways:

  structure  always: the same metric columns and rows, the same policy arrays, shapes and dtypes;
  bitwise    when the run's fingerprint matches a stored profile: every metric and every policy
             array bit for bit (for the host engine, already when its NumPy/MuJoCo/JAX versions,
             architecture and XLA's use of FMA match, whatever the vector width: its episodes run
             in NumPy and MuJoCo, and only its small ES update in XLA);
  tolerance  otherwise: the first `TOL_ITERATIONS` iterations' metrics within `RTOL` of the first
             (reference) profile.

A change that is meant to alter the numerics records new goldens, dropping all stored profiles:

  python -m tests.golden --write                                  # this machine, as it is
  XLA_FLAGS=--xla_cpu_max_isa=AVX2 python -m tests.golden --add   # a second profile, kept beside it

`--add` keeps the other profiles, replaces one with the same fingerprint, and refuses to store a
profile whose runs are not within tolerance of the reference profile.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import re
import sys
import tempfile

import numpy as np

GOLDEN_PATH = os.path.join(os.path.dirname(__file__), "data", "golden.json")
FORMAT = 2
TIMING_COLUMNS = ("steps_per_s", "wall_s")
POLICY_FILES = ("best_policy.npz", "latest_policy.npz")

# name -> config overrides.  Small enough for CI, large enough that the partition search, the
# normaliser, evaluation and the best-policy bookkeeping all run.
RUNS = {
  "host_fixed": dict(engine="host", partition_source="fixed"),
  "host_enas": dict(engine="host", partition_source="enas"),
  "brax_fixed": dict(engine="brax", partition_source="fixed"),
  "brax_enas": dict(engine="brax", partition_source="enas"),
}
HOST_RUNS = tuple(n for n, o in RUNS.items() if o["engine"] == "host")

# Hopper, H41 chromatic with K=5, 4 pairs x 30 steps, 4 iterations, evaluated every 2.
SETTINGS = dict(
  task="hopper",
  architecture="H41",
  family="chromatic",
  num_colors=5,
  episode_length=30,
  num_directions=4,
  num_workers=2,
  num_iterations=4,
  eval_every=2,
  eval_episodes=2,
  checkpoint_every=2,
  noise_size=100_000,
  image_every=0,
  reward_shift=1.0,
)

# Across fingerprints: the first two iterations (one ES step after the first, and the first
# evaluation) must agree to RTOL relative.  XLA code for AVX2 against AVX-512 moves these metrics
# by at most 2.5e-5 relative (the 5th significant digit), an ES step or a partition changed by
# mistake by percents.  The controller's loss is looser: it sums (reward - baseline) * log-prob, a
# difference of nearly equal numbers, so it carries the inputs' error times their ratio to the
# difference (5e-4 relative at iteration 2 for the same AVX2 against AVX-512 pair).
TOL_ITERATIONS = 2
RTOL = 1e-3
COLUMN_RTOL = {"controller_loss": 1e-2}

# XLA's --xla_cpu_max_isa levels, lowest first, with the NumPy CPU feature that marks each.
_X86_ISA = (
  ("SSE4_2", "SSE42"),
  ("AVX", "AVX"),
  ("AVX2", "AVX2"),
  ("AVX512", "AVX512F"),
  ("AVX512_VNNI", "AVX512VNNI"),
  ("AVX512_BF16", "AVX512BF16"),
)
_CPU_ID_KEYS = ("vendor_id", "cpu family", "model", "CPU implementer", "CPU architecture", "CPU part")


def _cpu_features() -> list[str]:
  """The vector features NumPy's runtime dispatch detected on this CPU (AVX2, AVX512F, ASIMD...)."""
  try:
    from numpy._core._multiarray_umath import __cpu_features__  # pylint: disable=import-outside-toplevel
  except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_features__  # pylint: disable=import-outside-toplevel
  return sorted(k for k, v in __cpu_features__.items() if v)


def _cpu_id() -> str:
  """Vendor, family and model of the CPU (LLVM tunes XLA's code for it), from /proc/cpuinfo."""
  try:
    with open("/proc/cpuinfo") as f:
      text = f.read().split("\n\n")[0]
  except OSError:
    return platform.processor()
  fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
  fields = {k.strip(): v.strip() for k, v in fields.items()}
  return " ".join(f"{k}={fields[k]}" for k in _CPU_ID_KEYS if k in fields)


def _xla_flags() -> tuple[str, list[str]]:
  """(`--xla_cpu_max_isa` cap in upper case or '', the other XLA_FLAGS tokens sorted)."""
  cap, other = "", []
  for token in os.environ.get("XLA_FLAGS", "").split():
    m = re.fullmatch(r"--xla_cpu_max_isa=(\S*)", token)
    if m:
      cap = m.group(1).upper()
    elif not token.startswith("--xla_dump"):
      other.append(token)
  return cap, sorted(other)


def _version(module: str) -> str:
  from importlib import metadata  # pylint: disable=import-outside-toplevel

  try:
    return metadata.version(module)
  except metadata.PackageNotFoundError:
    return ""


def fingerprint() -> dict:
  """What decides the bits of a golden run on this machine.

  `xla_isa` is the vector level XLA compiles for: the highest of `_X86_ISA` the CPU has, lowered
  to the `--xla_cpu_max_isa` cap if one is set.  The full feature list and CPU id are kept as well,
  because XLA's runtime libraries and LLVM's tuning follow the CPU itself, not the cap.
  """
  features = _cpu_features()
  cap, other = _xla_flags()
  machine = platform.machine().lower()
  isa = machine
  if machine in ("x86_64", "amd64"):
    levels = [level for level, feature in _X86_ISA if feature in features]
    isa = levels[-1] if levels else "x86-64"
    names = [level for level, _ in _X86_ISA]
    if cap in names and isa in names and names.index(cap) < names.index(isa):
      isa = cap
  return {
    "machine": machine,
    "cpu": _cpu_id(),
    "cpu_features": features,
    "xla_max_isa": cap,
    "xla_flags": other,
    "xla_isa": isa,
    "versions": {m: _version(m) for m in ("jax", "jaxlib", "numpy", "mujoco", "brax")},
  }


def host_key(fp: dict) -> dict:
  """The part of a fingerprint the host engine's bits depend on.

  Not the vector width: the host runs are bit-identical with XLA at AVX2 and at AVX-512.  But
  whether XLA may fuse multiply-adds (AVX2 and above; always on other architectures): capped at
  AVX, the ES update rounds differently and the host runs drift in the 6th significant digit.
  """
  no_fma = ("x86-64", "SSE4_2", "AVX")
  return {
    "machine": fp["machine"],
    "xla_fma": fp["xla_isa"] not in no_fma,
    "versions": {m: fp["versions"][m] for m in ("jax", "jaxlib", "numpy", "mujoco")},
  }


def describe(fp: dict) -> str:
  """One line naming a fingerprint: architecture, XLA's vector level, cap, jax version."""
  cap = f" capped {fp['xla_max_isa']}" if fp["xla_max_isa"] else " native"
  return f"{fp['machine']} {fp['xla_isa']}{cap} [{fp['cpu']}] jax {fp['versions']['jax']}"


def run_config(**overrides):
  """The golden runs' shared config (`SETTINGS`) with `overrides`."""
  from chromnas.train import config  # pylint: disable=import-outside-toplevel

  c = config.default_config()
  c.update({**SETTINGS, **overrides})
  return c


def _array_digest(a: np.ndarray) -> dict:
  a = np.ascontiguousarray(a)
  sha = hashlib.sha256(a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()).hexdigest()
  return {"sha256": sha, "dtype": str(a.dtype), "shape": list(a.shape)}


def digest_workdir(workdir: str) -> dict:
  """`{'columns', 'metrics': [rows without timing], 'metrics_sha256', '<policy file>': {array: digest}}`.

  An array's digest is the sha256 of its bytes, dtype and shape, with the dtype and shape also
  kept in the clear so that a structural change can be told from a numerical one.
  """
  with open(os.path.join(workdir, "metrics.csv")) as f:
    reader = csv.DictReader(f)
    rows = [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in reader]
    columns = [c for c in reader.fieldnames if c not in TIMING_COLUMNS]
  out = {
    "columns": columns,
    "metrics": rows,
    "metrics_sha256": hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest(),
  }
  for name in POLICY_FILES:
    with np.load(os.path.join(workdir, name), allow_pickle=False) as z:
      out[name] = {key: _array_digest(z[key]) for key in sorted(z.files)}
  return out


def run_one(name: str, workdir: str) -> dict:
  """Trains golden run `name` in `workdir` and returns its digest."""
  from chromnas.train import loop  # pylint: disable=import-outside-toplevel

  loop.train(run_config(**RUNS[name]), workdir, progress_fn=None)
  return digest_workdir(workdir)


def load(path: str = GOLDEN_PATH) -> list[dict]:
  """The stored profiles, `[{'fingerprint': {...}, 'runs': {name: digest}}, ...]`, reference first."""
  with open(path) as f:
    data = json.load(f)
  if not isinstance(data, dict) or data.get("format") != FORMAT or not data.get("profiles"):
    raise ValueError(f"{path}: not a golden file of format {FORMAT}; record it with python -m tests.golden --write")
  return data["profiles"]


def select(profiles: list[dict], name: str, fp: dict) -> tuple[dict, str]:
  """(profile to compare run `name` with, 'bitwise' or 'tolerance').

  Bitwise against the profile with this exact fingerprint; for a host run also against one whose
  `host_key` matches.  Otherwise tolerance against the reference (first) profile.
  """
  for p in profiles:
    if p["fingerprint"] == fp and name in p["runs"]:
      return p, "bitwise"
  if name in HOST_RUNS:
    for p in profiles:
      if host_key(p["fingerprint"]) == host_key(fp) and name in p["runs"]:
        return p, "bitwise"
  return profiles[0], "tolerance"


def _close(want: str, got: str, rtol: float) -> bool:
  """Metric strings agree: equal, or both finite numbers within `rtol` of the larger magnitude."""
  if want == got:
    return True
  try:
    w, g = float(want), float(got)
  except ValueError:
    return False
  if not (math.isfinite(w) and math.isfinite(g)):
    return False
  return abs(w - g) <= rtol * max(abs(w), abs(g))


def compare(want: dict, got: dict, mode: str, rtol: float = RTOL, iterations: int = TOL_ITERATIONS) -> list[str]:
  """Mismatches between digests `want` and `got`, each a line starting with its kind.

  STRUCTURE: columns, row count, policy arrays, their shapes or dtypes differ (checked first; a
  structural mismatch hides the numerical ones).  A 1-D byte array is serialised text (the
  policy's JSON `meta`, which holds its evaluation return), so only its dtype and rank count as
  structure: its length follows the numbers written in it.  BITWISE (`mode='bitwise'`): the first metric row
  that differs and each policy array whose bytes differ.  TOLERANCE (`mode='tolerance'`): each
  metric of the first `iterations` rows off by more than `rtol` relative (or its `COLUMN_RTOL`,
  where that is looser).
  """
  if mode not in ("bitwise", "tolerance"):
    raise ValueError(f"mode must be 'bitwise' or 'tolerance', got {mode!r}")
  problems = []
  want_cols = want.get("columns") or sorted(want["metrics"][0])
  got_cols = got.get("columns") or sorted(got["metrics"][0])
  if want_cols != got_cols:
    problems.append(f"STRUCTURE: metric columns {got_cols}, expected {want_cols}")
  if len(want["metrics"]) != len(got["metrics"]):
    problems.append(f"STRUCTURE: {len(got['metrics'])} metric rows, expected {len(want['metrics'])}")
  for f in POLICY_FILES:
    if sorted(want[f]) != sorted(got[f]):
      problems.append(f"STRUCTURE: {f} holds {sorted(got[f])}, expected {sorted(want[f])}")
      continue
    for key in sorted(want[f]):
      w, g = want[f][key], got[f][key]
      text = w["dtype"] == g["dtype"] == "uint8" and len(w["shape"]) == len(g["shape"]) == 1
      if not text and (w["dtype"], w["shape"]) != (g["dtype"], g["shape"]):
        problems.append(f"STRUCTURE: {f}[{key}] is {g['dtype']}{g['shape']}, expected {w['dtype']}{w['shape']}")
  if problems:
    return problems
  if mode == "bitwise":
    for i, (w, g) in enumerate(zip(want["metrics"], got["metrics"])):
      if w != g:
        diff = {k: (w[k], g[k]) for k in w if w[k] != g[k]}
        problems.append(f"BITWISE: metrics row {i} (iteration {w.get('iteration')}) differs, (expected, got): {diff}")
        break
    for f in POLICY_FILES:
      for key in sorted(want[f]):
        if want[f][key]["sha256"] != got[f][key]["sha256"]:
          problems.append(f"BITWISE: {f}[{key}] bytes differ")
    return problems
  for i, (w, g) in enumerate(zip(want["metrics"][:iterations], got["metrics"][:iterations])):
    for k in want_cols:
      tol = max(rtol, COLUMN_RTOL.get(k, 0.0))
      if not _close(w[k], g[k], tol):
        problems.append(
          f"TOLERANCE: metrics row {i} (iteration {w.get('iteration')}) {k}: "
          f"got {g[k]}, expected {w[k]} within {tol:g} relative"
        )
  return problems


def relative_differences(want: dict, got: dict) -> list[dict]:
  """Per metric row: {column: |want - got| / max(|want|, |got|)} over the numeric, finite columns."""
  out = []
  for w, g in zip(want["metrics"], got["metrics"]):
    row = {}
    for k in w:
      try:
        a, b = float(w[k]), float(g[k])
      except ValueError:
        continue
      if math.isfinite(a) and math.isfinite(b) and (a or b):
        row[k] = abs(a - b) / max(abs(a), abs(b))
    out.append(row)
  return out


def main(argv):
  names = [a for a in argv[1:] if not a.startswith("--")] or list(RUNS)
  unknown = sorted(set(names) - set(RUNS))
  if unknown:
    sys.exit(f"unknown golden run(s) {unknown}; choose from {list(RUNS)}")
  fp = fingerprint()
  print("fingerprint:", describe(fp))
  with tempfile.TemporaryDirectory() as tmp:
    got = {name: run_one(name, os.path.join(tmp, name)) for name in names}
  for name, d in got.items():
    print(
      name,
      "metrics",
      d["metrics_sha256"][:16],
      " ".join(
        f"{f}:{hashlib.sha256(json.dumps(d[f], sort_keys=True).encode()).hexdigest()[:16]}" for f in POLICY_FILES
      ),
    )
  profiles = load() if os.path.exists(GOLDEN_PATH) and "--write" not in argv else []
  if profiles:  # how far this machine is from the reference: the measurement behind RTOL
    for name, d in got.items():
      ref = profiles[0]["runs"].get(name)
      if ref is not None:
        worst = [max(r.values(), default=0.0) for r in relative_differences(ref, d)]
        print(
          f"{name}: max relative difference to the reference profile per iteration", " ".join(f"{x:.2e}" for x in worst)
        )
  if "--write" in argv or "--add" in argv:
    if set(names) != set(RUNS):
      sys.exit("--write/--add records all runs; name none")
    if "--add" in argv:
      if not profiles:
        sys.exit(f"--add needs a reference profile in {GOLDEN_PATH}; record one with --write")
      bad = [f"{n}: {p}" for n in names for p in compare(profiles[0]["runs"][n], got[n], "tolerance")]
      if bad:
        sys.exit("not added, this machine's runs are not within tolerance of the reference:\n" + "\n".join(bad))
      profiles = [p for p in profiles if p["fingerprint"] != fp]
    profiles.append({"fingerprint": fp, "runs": got})
    with open(GOLDEN_PATH, "w") as f:
      json.dump({"format": FORMAT, "profiles": profiles}, f, indent=1, sort_keys=True)
    print("wrote", GOLDEN_PATH, "with", len(profiles), "profile(s)")


if __name__ == "__main__":
  main(sys.argv)
