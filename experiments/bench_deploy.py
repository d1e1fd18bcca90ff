"""Deployment footprint and latency of every zoo policy, next to a dense policy of the same task.

  python -m experiments.bench_inference --deploy              # the table (markdown)
  python -m experiments.bench_inference --deploy --format=json

For each `results/zoo/*.chromnas` file: its size, its ONNX export's size (where the onnx package
is installed), and its C export (`chromnas.export.c_export`) compiled with `cc -O2 -std=c99`:
flash bytes (`.text` + `.rodata*` of the object file), stack bytes of `chromnas_act`
(`-fstack-usage`) and the time of one action, single thread (`chromnas.export.c_build.latency_ns`:
the fastest of several rounds of thread CPU time).  Each row sits next to a dense counterpart: the
zoo's unstructured policy of the same task and architecture where there is one, otherwise the
policy's own weight matrices stored as an unstructured policy (`common.dense_twin`, marked `*`), which
has the same dimensions and so the same flash, stack and time as any unstructured policy of that
task and architecture.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

from chromnas.core import policy_file
from chromnas.export import c_build, c_export, common

ZOO = pathlib.Path(__file__).resolve().parents[1] / "results" / "zoo"


def measure(data: bytes, workdir: str, cc: str, rounds: int, round_s: float) -> dict:
  """Sizes, flash, stack and latency of one policy file's exports."""
  src = common.read_source(data)
  _, source = c_export.write_c(data, workdir)
  fp = c_build.footprint(source, cc)
  obs = common.probe_observations(src.exported, 64)
  row = {
    "chromnas_bytes": len(data),
    "flash": fp.flash,
    "text": fp.text,
    "rodata": fp.rodata,
    "stack": fp.stack,
    "latency_ns": c_build.latency_ns(source, obs, cc, rounds=rounds, round_s=round_s),
  }
  try:
    from chromnas.export import onnx_export  # pylint: disable=g-import-not-at-top

    row["onnx_bytes"] = len(onnx_export.to_onnx(data).SerializeToString())
  except ImportError:
    row["onnx_bytes"] = None
  return row


def table(zoo: pathlib.Path = ZOO, rounds: int = 9, round_s: float = 0.02, cc: str | None = None) -> list[dict]:
  """One row per zoo file (see the module docstring), with its dense counterpart's figures."""
  cc = cc or c_build.find_compiler()
  if not cc:
    raise RuntimeError("the deployment benchmark needs a C compiler (set $CC)")
  paths = sorted(pathlib.Path(zoo).glob("*.chromnas"))
  if not paths:
    raise FileNotFoundError(f"no .chromnas files under {zoo}")
  decoded = {p: policy_file.read_policy(p) for p in paths}
  dense = {(e.env, e.hidden): p for p, e in decoded.items() if e.family == "unstructured"}
  rows, cache = [], {}
  with tempfile.TemporaryDirectory(prefix="chromnas_deploy_bench_") as tmp:

    def figures(key, data):
      if key not in cache:
        cache[key] = measure(data, os.path.join(tmp, str(len(cache))), cc, rounds, round_s)
      return cache[key]

    for p in paths:
      e = decoded[p]
      mine = figures(p.name, p.read_bytes())
      twin = dense.get((e.env, e.hidden))
      if twin is not None:
        other, other_name = figures(twin.name, twin.read_bytes()), twin.stem
      else:
        other, other_name = figures(("twin", p.name), common.dense_twin(e)), f"{p.stem} as dense*"
      rows.append(
        {
          "policy": p.stem,
          "env": e.env,
          "family": e.family,
          "architecture": ",".join(f"H{h}" for h in e.hidden) or "L",
          "values": e.values_label,
          **mine,
          "dense": other_name,
          "dense_flash": other["flash"],
          "dense_stack": other["stack"],
          "dense_latency_ns": other["latency_ns"],
          "dense_chromnas_bytes": other["chromnas_bytes"],
        }
      )
  return rows


def markdown(rows: list[dict]) -> str:
  """The table as markdown: sizes in bytes, times in microseconds."""

  def us(ns):
    return f"{ns / 1000:.2f}"

  def opt(v):
    return "-" if v is None else str(v)

  lines = [
    "| policy | .chromnas | .onnx | C flash | C stack | C us/action | dense counterpart | its flash | its stack "
    "| its us/action |",
    "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
  ]
  for r in rows:
    lines.append(
      f"| {r['policy']} | {r['chromnas_bytes']} | {opt(r['onnx_bytes'])} | {r['flash']} | {opt(r['stack'])} "
      f"| {us(r['latency_ns'])} | {r['dense']} | {r['dense_flash']} | {opt(r['dense_stack'])} "
      f"| {us(r['dense_latency_ns'])} |"
    )
  return "\n".join(lines)


def main(fmt: str = "text") -> None:
  """Prints the table (`fmt='text'`: markdown with a header line; `'json'`: the rows)."""
  import json  # pylint: disable=g-import-not-at-top
  import platform  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top

  rows = table()
  if fmt == "json":
    print(json.dumps(rows, indent=1))
    return
  cc = c_build.find_compiler()
  version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
  print(
    f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {' '.join(version)}; "
    f"{' '.join(c_build.CFLAGS)}; sizes in bytes, one action single-threaded (fastest of 9 rounds); "
    "* = the policy's own matrices stored dense"
  )
  print(markdown(rows))
