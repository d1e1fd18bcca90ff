"""Times one chromatic matvec `y = W x`, `W[i, j] = values[colors[i, j]]`, by every path.

  python -m experiments.bench_inference                                   # default sizes, K in {2, 4, 17}
  python -m experiments.bench_inference --sizes=41x17,4096x4096 --colors=2
  python -m experiments.bench_inference --format=json

Paths (single input vector; JAX ones jitted, timed with `block_until_ready`; median of repeats):

* `dense`    the materialised float32 matrix, one GEMV (`W @ x`);
* `gather`   `chromnas.structured.chromatic_matvec`: gathers `W = values[colors]` then multiplies;
* `grouped`  `chromnas.structured.chromatic_matvec_grouped`: one-hot color sums, never builds `W`
             (skipped where its `rows*cols*K` one-hot exceeds --max_grouped_mb);
* `mailman`  `chromnas.structured.mailman.mailman_matvec`, the O(rows*cols / log_K rows) path;
* NumPy (`np-*`): the same dense / gather / mailman paths of the NumPy runtime (`chromnas.runtime`),
  with BLAS limited to --numpy_threads threads (set before NumPy loads).

Each row also gives the memory of the representation the path keeps: the dense float32 matrix,
the int32 colors (gather, grouped), the colors bit-packed at ceil(log2 K) bits (the exported
file), and the mailman plan (pattern indices, uint8/uint16/uint32).  Ratios are time / dense
time of the same engine.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import time

from absl import app
from absl import flags

_SIZES = flags.DEFINE_list("sizes", ["41x17", "6x41", "256x256", "1024x1024", "4096x4096"],
                           "Matrix shapes ROWSxCOLS.")
_COLORS = flags.DEFINE_list("colors", ["2", "4", "17"], "Numbers of colors K.")
_BUDGET = flags.DEFINE_float("budget_s", 0.2, "Seconds of repeats per measurement (at least --min_repeats).")
_MIN_REPEATS = flags.DEFINE_integer("min_repeats", 5, "Fewest timed repeats per measurement.")
_MAX_GROUPED_MB = flags.DEFINE_float("max_grouped_mb", 64.0, "Skip the grouped path above this one-hot size.")
_NUMPY = flags.DEFINE_bool("numpy", True, "Also time the NumPy runtime paths.")
_NUMPY_THREADS = flags.DEFINE_integer("numpy_threads", 1, "BLAS threads for NumPy (0: leave as is).")
_BLOCK = flags.DEFINE_integer("block", 0, "Mailman block width (0: the default ~log_K rows).")
_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random colorings, values and inputs.")


def _time(fn, budget_s: float, min_repeats: int) -> float:
  """Median seconds of `fn()` (which must block until its result is ready) after one warm-up."""
  fn()
  start = time.perf_counter()
  fn()
  first = time.perf_counter() - start
  repeats = int(min(1000, max(min_repeats, budget_s / max(first, 1e-9))))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def run(sizes, colors_list, budget_s=0.2, min_repeats=5, max_grouped_mb=64.0, with_numpy=True, block=None,
        seed=0, log=print):
  """All measurements as a list of dicts (one per size, K and path)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from chromnas import runtime  # pylint: disable=g-import-not-at-top
  from chromnas import structured  # pylint: disable=g-import-not-at-top
  from chromnas.structured import mailman  # pylint: disable=g-import-not-at-top

  dense_fn = jax.jit(lambda w, x: w @ x)
  gather_fn = jax.jit(structured.chromatic_matvec)
  grouped_fn = jax.jit(structured.chromatic_matvec_grouped)
  mailman_fn = jax.jit(mailman.mailman_matvec)
  rng = np.random.default_rng(seed)
  rows_out = []
  for rows, cols in sizes:
    for num_colors in colors_list:
      colors = rng.integers(0, num_colors, (rows, cols)).astype(np.int32)
      values = rng.standard_normal(num_colors).astype(np.float32)
      x = rng.standard_normal(cols).astype(np.float32)
      w = values[colors]
      expected = w.astype(np.float64) @ x.astype(np.float64)
      plan = mailman.prepare(colors, num_colors, block)
      np_plan = runtime.mailman_prepare(colors, num_colors, block)
      bits = math.ceil(math.log2(num_colors)) if num_colors > 1 else 0
      memory = {"dense": rows * cols * 4, "gather": rows * cols * 4, "grouped": rows * cols * 4,
                "mailman": plan.nbytes}
      common = dict(rows=rows, cols=cols, K=num_colors, block=plan.block, dense_bytes=rows * cols * 4,
                    packed_colors_bytes=math.ceil(rows * cols * bits / 8), mailman_plan_bytes=plan.nbytes)
      wj, cj, vj, xj = jnp.asarray(w), jnp.asarray(colors), jnp.asarray(values), jnp.asarray(x)
      jax_paths = {
          "dense": lambda: dense_fn(wj, xj).block_until_ready(),
          "gather": lambda: gather_fn(vj, cj, xj).block_until_ready(),
          "grouped": lambda: grouped_fn(vj, cj, xj).block_until_ready(),
          "mailman": lambda: mailman_fn(vj, plan, xj).block_until_ready(),
      }
      results = {}
      for name, fn in jax_paths.items():
        if name == "grouped" and rows * cols * num_colors * 4 > max_grouped_mb * 2**20:
          continue
        out = np.asarray(fn() if name != "dense" else dense_fn(wj, xj))
        err = float(np.max(np.abs(out - expected)) / max(1.0, float(np.max(np.abs(expected)))))
        results[("jax", name)] = (_time(fn, budget_s, min_repeats), err, memory[name])
      if with_numpy:
        np_paths = {
            "dense": lambda: w @ x,
            "gather": lambda: values[colors] @ x,
            "mailman": lambda: runtime.mailman_matvec(values, np_plan, x),
        }
        for name, fn in np_paths.items():
          out = fn()
          err = float(np.max(np.abs(out - expected)) / max(1.0, float(np.max(np.abs(expected)))))
          results[("numpy", name)] = (_time(fn, budget_s, min_repeats), err, memory[name])
      for (engine, name), (seconds, err, nbytes) in results.items():
        base = results[(engine, "dense")][0]
        row = dict(common, engine=engine, path=name, us=seconds * 1e6, ratio_to_dense=seconds / base,
                   rel_err=err, bytes=nbytes)
        rows_out.append(row)
        log(format_row(row))
      del wj, cj, w
  return rows_out


HEADER = (f"{'shape':>10} {'K':>3} {'b':>3} {'engine':>6} {'path':>8} {'time/matvec':>12} {'x dense':>8} "
          f"{'rel err':>8} {'kept bytes':>11} | {'dense f32':>10} {'colors packed':>13} {'mailman plan':>12}")


def _bytes(n: int) -> str:
  for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
    if n >= scale:
      return f"{n / scale:.1f} {unit}"
  return f"{n} B"


def format_row(r: dict) -> str:
  t = r["us"]
  t = f"{t / 1e3:.2f} ms" if t >= 1e3 else f"{t:.1f} us"
  return (f"{r['rows']:>5}x{r['cols']:<4} {r['K']:>3} {r['block']:>3} {r['engine']:>6} {r['path']:>8} {t:>12} "
          f"{r['ratio_to_dense']:>8.2f} {r['rel_err']:>8.1e} {_bytes(r['bytes']):>11} | "
          f"{_bytes(r['dense_bytes']):>10} {_bytes(r['packed_colors_bytes']):>13} {_bytes(r['mailman_plan_bytes']):>12}")


def summary(rows: list[dict]) -> str:
  """Where the mailman path beats dense, per engine."""
  lines = []
  for engine in ("jax", "numpy"):
    mine = [r for r in rows if r["engine"] == engine and r["path"] == "mailman"]
    if not mine:
      continue
    wins = [f"{r['rows']}x{r['cols']} K={r['K']} ({r['ratio_to_dense']:.2f}x)"
            for r in mine if r["ratio_to_dense"] < 1]
    best = min(mine, key=lambda r: r["ratio_to_dense"])
    lines.append(f"{engine}: mailman faster than dense in {len(wins)}/{len(mine)} cases"
                 + (f": {', '.join(wins)}" if wins else "")
                 + f"; best ratio {best['ratio_to_dense']:.2f}x at {best['rows']}x{best['cols']} K={best['K']}")
  return "\n".join(lines)


def main(argv):
  del argv
  if _NUMPY_THREADS.value:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
      os.environ[var] = str(_NUMPY_THREADS.value)
  sizes = []
  for item in _SIZES.value:
    r, c = item.lower().split("x")
    sizes.append((int(r), int(c)))
  colors_list = [int(k) for k in _COLORS.value]
  text = _FORMAT.value == "text"
  if text:
    import jax  # pylint: disable=g-import-not-at-top
    print(f"# {jax.devices()[0].device_kind} x{os.cpu_count()} CPUs, jax {jax.__version__}; NumPy BLAS threads: "
          f"{_NUMPY_THREADS.value or 'default'}; median of >= {_MIN_REPEATS.value} repeats")
    print(HEADER)
  start = time.perf_counter()
  rows = run(sizes, colors_list, _BUDGET.value, _MIN_REPEATS.value, _MAX_GROUPED_MB.value, _NUMPY.value,
             _BLOCK.value or None, _SEED.value, log=print if text else (lambda _: None))
  if text:
    print(summary(rows))
    print("# JAX times below ~0.1 ms measure dispatch and per-op launch overhead (XLA:CPU runs dot and\n"
          "# reduce through library calls costing ~20-60 us on a loaded 2-core CPU) more than arithmetic;\n"
          "# the NumPy rows show the arithmetic at those sizes.")
    print(f"# {time.perf_counter() - start:.0f} s")
  else:
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
  app.run(main)
