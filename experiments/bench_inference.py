"""Times one chromatic matvec `y = W x`, `W[i, j] = values[colors[i, j]]`, by every path.

  python -m experiments.bench_inference                                   # default sizes, K in {2, 4, 17}
  python -m experiments.bench_inference --sizes=41x17,4096x4096 --colors=2
  python -m experiments.bench_inference --batch=16 --crossover_sizes=      # 16 inputs, no crossover sweep
  python -m experiments.bench_inference --format=json
  python -m experiments.bench_inference --deploy  # zoo policies exported to C: flash, stack, time per action

Paths (`--batch` input vectors, 1 by default; JAX ones jitted, timed with `block_until_ready`).
Each size and K is timed in `--rounds` interleaved rounds, every path once per round (a block of
repeats, warm caches within it): a shared host's speed drifts over seconds, so a path and dense
are compared within a round, and `x dense` is the median over rounds of that ratio (JSON:
`ratio_to_dense_rounds`, each round's).  JSON rows also carry the fastest repeat, `us_min` and
`ratio_to_dense_min`, the figures least disturbed by other processes on a shared machine:

* `dense`    the materialised float32 matrix, one GEMV (GEMM for a batch);
* `gather`   `chromnas.model.structured.chromatic_matvec`: gathers `W = values[colors]` then multiplies;
* `grouped`  `chromnas.model.structured.chromatic_matvec_grouped`: one-hot color sums, never builds `W`
             (skipped where its `rows*cols*K` one-hot exceeds --max_grouped_mb);
* `mailman`  `chromnas.model.mailman.mailman_matvec` (JAX, b ~ log_K rows) or the NumPy
             fallback of `chromnas.core.mailman` (`np.take`): the O(rows*cols / log_K rows)
             lookup paths without a compiler;
* `fast`     `chromnas.core.mailman.matvec`, engine `numba` (or `numpy` where numba is missing):
             one-byte pattern indices, tables in L1, compiled lookups, all cores from 2^21 lookups;
* `permute`  `chromnas.core.permute.matvec`: one byte per weight, the K <= 32 values in two
             AVX-512 registers, one permute + one FMA per 16 weights, all cores (AVX-512 CPUs only);
* `avx2`     `chromnas.core.permute_avx2.matvec`: the K <= 32 values in AVX2 registers; K <= 8 colors
             bit-packed and one `vpermilps` (K <= 4) or `vpermps` per 8 weights, K > 8 one-byte
             colors and `vpshufb` on the values' byte planes; one FMA per 8 weights, all cores
             (every AVX2 + FMA CPU; `--isa=avx2` measures it as on an AVX2-only CPU);
* `host`     (JAX) the runtime's choice of `fast` or `permute` (`chromnas.core.runtime.auto_path`)
             called from jitted JAX through `jax.pure_callback` (`chromnas.model.mailman.host_matvec`);
* `packed`   (JAX) `chromnas.model.packed.packed_matvec`: colors bit-packed in uint32 words
             (1, 2, 4 or 8 bits), unpacked inside one fused multiply-reduce; the accelerator path.

NumPy runs with BLAS limited to --numpy_threads threads (set before NumPy loads; all cores by
default, as the `permute` and `avx2` kernels use --kernel_threads, all cores by default); JAX uses
XLA's default threads.  `--isa=avx2` runs the whole benchmark as on a CPU without AVX-512: numba
compiles for this CPU's features minus AVX-512 (so `permute` is skipped and the `avx2` kernel is
AVX2 code only), OpenBLAS runs its Haswell (AVX2) kernels and NumPy its AVX2 loops.
Columns: time per matvec; `x dense`, the time over the dense time of
the same engine (below 1: faster than dense); error against float64; `kept`, the bytes the path
keeps (dense float32 matrix, int32 colors, or pattern indices); `read GB/s`, the effective
bandwidth, bytes the path must read (what it keeps, plus `x`) / time; `% copy`, that over the
bandwidth of `np.copyto` of the dense matrix measured in the same run for the same size (bytes
read + written per second, the STREAM convention; per size because a matrix that fits in cache
copies faster than one in DRAM).  On an accelerator the JAX rows are measured against a jitted
`a + 1` over the dense matrix on the device instead (read + write, same convention).  A copy
also writes (and reads each written line first), so a pure read stream such as a dense GEMV can exceed 100%: near or
above it, dense is memory bound.
The lookup paths read 16-32x fewer bytes, so their bandwidth is low by design; time is what
counts for them.

Then the crossover per K: the smallest square size in --crossover_sizes from which on the `fast`,
`permute` and `avx2` paths beat NumPy dense (batch 1), with the ratios of the sweep.  JSON rows
carry `auto`: whether `chromnas.core.runtime.Policy(matvec='auto')` takes that path there.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time

from absl import app, flags

from experiments import fail, parse_flags_or_exit

_SIZES = flags.DEFINE_list("sizes", ["41x17", "6x41", "256x256", "1024x1024", "4096x4096"], "Matrix shapes ROWSxCOLS.")
_COLORS = flags.DEFINE_list("colors", ["2", "4", "17"], "Numbers of colors K.")
_BATCH = flags.DEFINE_integer("batch", 1, "Input vectors per matvec (x is (batch, cols); 1: a single (cols,) vector).")
_BUDGET = flags.DEFINE_float("budget_s", 0.2, "Seconds of repeats per measurement (at least --min_repeats).")
_MIN_REPEATS = flags.DEFINE_integer("min_repeats", 5, "Fewest timed repeats per measurement (per round).")
_ROUNDS = flags.DEFINE_integer(
  "rounds",
  5,
  "Interleaved rounds: each round times every path of a size and K once (a block of repeats), and "
  "the ratio to dense is the median over rounds of the ratio within a round.",
)
_MAX_GROUPED_MB = flags.DEFINE_float("max_grouped_mb", 64.0, "Skip the grouped path above this one-hot size.")
_NUMPY = flags.DEFINE_bool("numpy", True, "Also time the NumPy runtime paths.")
_JAX = flags.DEFINE_bool("jax", True, "Time the JAX paths.")
_NUMPY_THREADS = flags.DEFINE_integer("numpy_threads", 0, "BLAS threads for NumPy (0: leave as is, all cores).")
_KERNEL_THREADS = flags.DEFINE_integer("kernel_threads", 0, "Threads of the numba register kernels (0: all cores).")
_ISA = flags.DEFINE_enum(
  "isa",
  "native",
  ["native", "avx2"],
  "native: this CPU; avx2: as on a CPU without AVX-512 (numba, OpenBLAS and NumPy told to leave AVX-512 out).",
)
_BLOCK = flags.DEFINE_integer("block", 0, "Mailman block width of the reference paths (0: the default ~log_K rows).")
_CROSSOVER = flags.DEFINE_list(
  "crossover_sizes",
  ["512", "1024", "1448", "2048", "2896", "4096"],
  "Square sizes N (NxN) of the crossover sweep, fast vs NumPy dense (empty: skip).",
)
_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random colorings, values and inputs.")
_JAX_PATHS = flags.DEFINE_list(
  "jax_paths",
  ["dense", "gather", "grouped", "mailman", "host", "packed"],
  "JAX paths to time (dense is always timed: the others' baseline); also "
  "'packed_select' (packed colors, select instead of gather).",
)
_JAX_REPEATS = flags.DEFINE_integer(
  "jax_repeats",
  1,
  "Matvecs per jitted call of a JAX path (a dependent "
  "fori_loop; time divided by it): > 1 amortises the dispatch an "
  "accelerator pays per call.  The host path is always one per call.",
)


def _time(fn, budget_s: float, min_repeats: int) -> float:
  """Median seconds of `fn()` (which must block until its result is ready) after one warm-up."""
  return _time_stats(fn, budget_s, min_repeats)[0]


def _time_stats(fn, budget_s: float, min_repeats: int) -> tuple[float, float]:
  """Median and fastest seconds of `fn()` after one warm-up (on a shared machine the fastest
  repeat is the one least disturbed by other processes)."""
  medians, fastest = _time_rounds({0: fn}, budget_s, min_repeats, 1)
  return medians[0][0], fastest[0]


def _time_rounds(fns: dict, budget_s: float, min_repeats: int, rounds: int) -> tuple[dict, dict]:
  """`(medians, fastest)`: per key of `fns`, the median seconds of `fn()` in each of `rounds` blocks
  of repeats (`budget_s / rounds` seconds, at least `min_repeats`, each after a warm-up call) and
  the fastest repeat of all.  Round `r` times every function once, in order, so a machine whose
  speed drifts over seconds (a shared host) slows all of them alike within a round; a ratio of two
  paths is then best taken per round."""
  counts = {}
  for key, fn in fns.items():
    fn()
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    counts[key] = int(min(1000, max(min_repeats, budget_s / rounds / max(first, 1e-9))))
  medians: dict = {key: [] for key in fns}
  fastest = {key: math.inf for key in fns}
  for r in range(rounds):
    for key, fn in fns.items():
      if r:
        fn()  # the previous path's block evicted this one's data from the caches
      times = []
      for _ in range(counts[key]):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
      medians[key].append(statistics.median(times))
      fastest[key] = min(fastest[key], min(times))
  return medians, fastest


def copy_bandwidth(nbytes: int, budget_s: float = 0.2, min_repeats: int = 5) -> float:
  """Bytes per second read + written by `np.copyto` of an `nbytes` float32 array (its first
  touch excluded, as for the matvecs)."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  src = np.ones(max(1, nbytes // 4), np.float32)
  dst = np.empty_like(src)
  return 2 * src.nbytes / _time(lambda: np.copyto(dst, src), budget_s, min_repeats)


def device_copy_bandwidth(nbytes: int, budget_s: float = 0.2, min_repeats: int = 5) -> float:
  """Bytes per second read + written by a jitted `a + 1` over an `nbytes` float32 array on JAX's
  default device (the accelerator's counterpart of `copy_bandwidth`)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  src = jnp.ones(max(1, nbytes // 4), jnp.float32)
  bump = jax.jit(lambda a: a + 1)
  return 2 * src.nbytes / _time(lambda: bump(src).block_until_ready(), budget_s, min_repeats)


def _rel_err(out, expected) -> float:
  import numpy as np  # pylint: disable=g-import-not-at-top

  out = np.asarray(out, np.float64)
  return float(np.max(np.abs(out - expected)) / max(1.0, float(np.max(np.abs(expected)))))


def _chained(fn, repeats: int):
  """A jitted `f(*args, x)` that runs `fn` `repeats` times, each call's input nudged by the previous
  output's sum (so XLA can neither hoist nor drop a call), returning the last output."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  if repeats <= 1:
    return jax.jit(fn)

  def run_many(*args):
    *rest, x = args

    def body(_, carry):
      nudge, _ = carry
      y = fn(*rest, x + nudge * 1e-30)
      return jnp.sum(y).astype(x.dtype), y

    first = fn(*rest, x)
    return jax.lax.fori_loop(1, repeats, body, (jnp.sum(first).astype(x.dtype), first))[1]

  return jax.jit(run_many)


def run(
  sizes,
  colors_list,
  budget_s=0.2,
  min_repeats=5,
  max_grouped_mb=64.0,
  with_numpy=True,
  block=None,
  seed=0,
  log=print,
  batch=1,
  with_jax=True,
  jax_paths=("dense", "gather", "grouped", "mailman", "host", "packed"),
  jax_repeats=1,
  rounds=1,
):
  """All measurements as a list of dicts (one per size, K and path); `rounds` interleaved rounds
  per size and K (see `_time_rounds`): `us` is the median of the rounds' medians and
  `ratio_to_dense` the median over rounds of the path's median over dense's in the same round."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from chromnas.core import mailman as host_mailman  # pylint: disable=g-import-not-at-top
  from chromnas.core import (
    permute,  # pylint: disable=g-import-not-at-top
    permute_avx2,  # pylint: disable=g-import-not-at-top
    runtime,  # pylint: disable=g-import-not-at-top
  )

  if with_jax:
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

    from chromnas.model import mailman as jax_mailman  # pylint: disable=g-import-not-at-top
    from chromnas.model import packed as jax_packed  # pylint: disable=g-import-not-at-top
    from chromnas.model import structured  # pylint: disable=g-import-not-at-top

    on_accelerator = jax.default_backend() != "cpu"
    # W x^T then transposed back: `x @ w.T` makes XLA:CPU transpose the whole matrix per call.
    dense_fn = _chained(lambda w, x: (w @ x.T).T, jax_repeats)
    gather_fn = _chained(structured.chromatic_matvec, jax_repeats)
    grouped_fn = _chained(structured.chromatic_matvec_grouped, jax_repeats)
    mailman_fn = _chained(jax_mailman.mailman_matvec, jax_repeats)
    packed_fn = _chained(jax_packed.packed_matvec, jax_repeats)
    select_fn = _chained(lambda v, p, x: jax_packed.packed_matvec(v, p, x, lookup="select"), jax_repeats)

  fast_engine = host_mailman.backend()
  rng = np.random.default_rng(seed)
  rows_out = []
  for rows, cols in sizes:
    copy_bps = copy_bandwidth(rows * cols * 4, budget_s, min_repeats)
    jax_copy_bps = (
      device_copy_bandwidth(rows * cols * 4, budget_s, min_repeats) if with_jax and on_accelerator else copy_bps
    )
    for num_colors in colors_list:
      colors = rng.integers(0, num_colors, (rows, cols), dtype=np.int32)
      values = rng.standard_normal(num_colors).astype(np.float32)
      x = rng.standard_normal((batch, cols) if batch > 1 else cols).astype(np.float32)
      w = values[colors]
      expected = x.astype(np.float64) @ w.T.astype(np.float64)
      fast_plan = host_mailman.prepare(colors, num_colors)
      permute_plan = (
        permute.prepare(colors, num_colors) if permute.available() and num_colors <= permute.MAX_COLORS else None
      )
      avx2_plan = (
        permute_avx2.prepare(colors, num_colors)
        if permute_avx2.available() and num_colors <= permute_avx2.MAX_COLORS
        else None
      )
      jax_plan = jax_mailman.prepare(colors, num_colors, block) if with_jax else None
      # The host callback runs the kernel the runtime would pick (permute or mailman; the mailman
      # kernel where the runtime picks avx2, which `chromnas.model.mailman.host_matvec` does not run).
      host_plan = permute_plan if runtime.auto_path(rows, cols, num_colors, batch) == "permute" else fast_plan
      packed_plan = (
        jax_packed.pack(colors, num_colors) if with_jax and {"packed", "packed_select"} & set(jax_paths) else None
      )
      bits = math.ceil(math.log2(num_colors)) if num_colors > 1 else 0
      kept = {
        "dense": rows * cols * 4,
        "gather": rows * cols * 4,
        "grouped": rows * cols * 4,
        "mailman": fast_plan.nbytes,
        "fast": fast_plan.nbytes,
        "host": host_plan.nbytes,
        "packed": packed_plan.nbytes if packed_plan is not None else 0,
        "packed_select": packed_plan.nbytes if packed_plan is not None else 0,
        "permute": permute_plan.nbytes if permute_plan is not None else 0,
        "avx2": avx2_plan.nbytes if avx2_plan is not None else 0,
      }
      blocks = {
        "mailman": fast_plan.block,
        "fast": fast_plan.block,
        "host": fast_plan.block if host_plan is fast_plan else 0,
      }
      kept_jax_mailman = (jax_plan.nbytes, jax_plan.block) if jax_plan is not None else None
      common = dict(
        rows=rows,
        cols=cols,
        K=num_colors,
        batch=batch,
        dense_bytes=rows * cols * 4,
        packed_colors_bytes=math.ceil(rows * cols * bits / 8),
        mailman_plan_bytes=(jax_plan or fast_plan).nbytes,
        fast_plan_bytes=fast_plan.nbytes,
        copy_GBps=copy_bps / 1e9,
      )
      paths = {}  # (engine, name) -> fn
      if with_jax:
        plan = jax_plan
        wj, cj, vj, xj = jnp.asarray(w), jnp.asarray(colors), jnp.asarray(values), jnp.asarray(x)
        host_fn = jax.jit(lambda v, xx, p=host_plan: jax_mailman.host_matvec(v, p, xx))
        jax_fns = {
          "dense": lambda: dense_fn(wj, xj).block_until_ready(),
          "gather": lambda: gather_fn(vj, cj, xj).block_until_ready(),
          "mailman": lambda: mailman_fn(vj, plan, xj).block_until_ready(),
          "host": lambda: host_fn(vj, xj).block_until_ready(),
          "packed": lambda: packed_fn(vj, packed_plan, xj).block_until_ready(),
          "packed_select": lambda: select_fn(vj, packed_plan, xj).block_until_ready(),
        }
        if rows * cols * num_colors * 4 <= max_grouped_mb * 2**20:
          jax_fns["grouped"] = lambda: grouped_fn(vj, cj, xj).block_until_ready()
        for name in ["dense"] + [p for p in jax_paths if p != "dense" and p in jax_fns]:
          paths[("jax", name)] = jax_fns[name]
      if with_numpy:
        paths[("numpy", "dense")] = lambda: x @ w.T  # noqa: F821 (w is deleted only after the timing)
        paths[("numpy", "gather")] = lambda: x @ values[colors].T
        paths[("numpy", "mailman")] = lambda: host_mailman.matvec(values, fast_plan, x, use="numpy")
        paths[(fast_engine, "fast")] = lambda: host_mailman.matvec(values, fast_plan, x)
        if permute_plan is not None:
          paths[("numba", "permute")] = lambda: permute.matvec(values, permute_plan, x)
        if avx2_plan is not None:
          paths[("numba", "avx2")] = lambda: permute_avx2.matvec(values, avx2_plan, x)
      errors = {key: _rel_err(fn(), expected) for key, fn in paths.items()}
      medians, fastest_of = _time_rounds(paths, budget_s, min_repeats, max(1, rounds))
      results = {}
      for engine, name in paths:
        per_call = jax_repeats if engine == "jax" and name != "host" else 1
        per_round = [m / per_call for m in medians[(engine, name)]]
        results[(engine, name)] = (per_round, errors[(engine, name)], fastest_of[(engine, name)] / per_call)
      for (engine, name), (per_round, err, fastest) in results.items():
        base_engine = "numpy" if engine == "numba" else engine
        base_rounds, _, base_fastest = results[(base_engine, "dense")]
        seconds = statistics.median(per_round)
        ratios = [t / b for t, b in zip(per_round, base_rounds)]
        nbytes, block_width = kept[name], blocks.get(name, 0)
        if (engine, name) == ("jax", "mailman"):
          nbytes, block_width = kept_jax_mailman
        read = nbytes + x.nbytes
        limit = jax_copy_bps if engine == "jax" else copy_bps
        row = dict(
          common,
          engine=engine,
          path=name,
          block=block_width,
          us=seconds * 1e6,
          ratio_to_dense=statistics.median(ratios),
          ratio_to_dense_rounds=ratios,
          rel_err=err,
          bytes=nbytes,
          read_bytes=read,
          read_GBps=read / seconds / 1e9,
          frac_copy=read / seconds / limit,
          copy_GBps=limit / 1e9,
          us_min=fastest * 1e6,
          ratio_to_dense_min=fastest / base_fastest,
        )
        # The path `runtime.Policy(matvec='auto')` takes for this layer and batch on this CPU.
        chosen = runtime.auto_path(rows, cols, num_colors, batch)
        chosen = "fast" if chosen == "mailman" else chosen
        row["auto"] = engine != "jax" and name == chosen and (engine, name) != ("numpy", "fast")
        rows_out.append(row)
        log(format_row(row))
      del w, paths
  return rows_out


def crossover(sizes, colors_list, budget_s=0.2, min_repeats=5, seed=0, log=print):
  """Per K and CPU kernel (`fast`, the mailman kernel, `avx2` where the CPU has AVX2 and `permute`
  where it has AVX-512):
  its time over NumPy dense on square `N x N` matrices, batch 1; the crossover is the smallest N
  from which on every larger size of the sweep has the kernel faster."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from chromnas.core import mailman as host_mailman  # pylint: disable=g-import-not-at-top
  from chromnas.core import (
    permute,  # pylint: disable=g-import-not-at-top
    permute_avx2,  # pylint: disable=g-import-not-at-top
  )

  rng = np.random.default_rng(seed + 1)
  out = []
  for num_colors in colors_list:
    kernels = {"fast": (host_mailman.prepare, host_mailman.matvec, host_mailman.backend())}
    if permute.available() and num_colors <= permute.MAX_COLORS:
      kernels["permute"] = (permute.prepare, permute.matvec, "numba")
    if permute_avx2.available() and num_colors <= permute_avx2.MAX_COLORS:
      kernels["avx2"] = (permute_avx2.prepare, permute_avx2.matvec, "numba")
    ratios = {name: {} for name in kernels}
    for n in sizes:
      colors = rng.integers(0, num_colors, (n, n), dtype=np.int32)
      values = rng.standard_normal(num_colors).astype(np.float32)
      x = rng.standard_normal(n).astype(np.float32)
      w = values[colors]
      dense = _time(lambda: w @ x, budget_s, min_repeats)  # pylint: disable=cell-var-from-loop
      for name, (prepare, matvec, _) in kernels.items():
        plan = prepare(colors, num_colors)
        ratios[name][n] = _time(lambda: matvec(values, plan, x), budget_s, min_repeats) / dense  # pylint: disable=cell-var-from-loop
    for name, (_, _, engine) in kernels.items():
      wins = [n for n in sizes if all(ratios[name][m] < 1 for m in sizes if m >= n)]
      entry = dict(
        K=num_colors,
        path=name,
        engine=engine,
        block=host_mailman.block_size(num_colors) if name == "fast" else 1,
        crossover_n=min(wins) if wins else None,
        ratios={str(n): r for n, r in ratios[name].items()},
      )
      out.append(entry)
      log(format_crossover(entry))
  return out


HEADER = (
  f"{'shape':>10} {'K':>3} {'b':>2} {'engine':>6} {'path':>7} {'time':>9} {'x dense':>7} {'rel err':>7} "
  f"{'kept':>9} {'read GB/s':>9} {'% copy':>6} {'copy GB/s':>9}"
)


def _bytes(n: int) -> str:
  for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
    if n >= scale:
      return f"{n / scale:.1f} {unit}"
  return f"{n} B"


def format_row(r: dict) -> str:
  t = r["us"]
  t = f"{t / 1e3:.2f} ms" if t >= 1e3 else f"{t:.1f} us"
  b = str(r["block"]) if r["block"] else "-"
  return (
    f"{r['rows']:>5}x{r['cols']:<4} {r['K']:>3} {b:>2} {r['engine']:>6} {r['path']:>7} {t:>9} "
    f"{r['ratio_to_dense']:>7.2f} {r['rel_err']:>7.0e} {_bytes(r['bytes']):>9} {r['read_GBps']:>9.2f} "
    f"{100 * r['frac_copy']:>5.0f}% {r['copy_GBps']:>9.1f}"
  )


def format_crossover(e: dict) -> str:
  sweep = ", ".join(f"{n}: {r:.2f}" for n, r in e["ratios"].items())
  where = f"from {e['crossover_n']}x{e['crossover_n']}" if e["crossover_n"] else "nowhere in the sweep"
  return (
    f"K={e['K']:<3} {e['path']:>7} (b={e['block']}, {e['engine']}): beats NumPy dense {where}  (time / dense: {sweep})"
  )


def summary(rows: list[dict]) -> str:
  """Where each lookup path beats dense."""
  lines = []
  for engine, path in (
    ("jax", "mailman"),
    ("jax", "host"),
    ("jax", "packed"),
    ("jax", "packed_select"),
    ("numpy", "mailman"),
    ("numba", "fast"),
    ("numba", "permute"),
    ("numba", "avx2"),
    ("numpy", "fast"),
  ):
    mine = [r for r in rows if r["engine"] == engine and r["path"] == path]
    if not mine:
      continue
    wins = [f"{r['rows']}x{r['cols']} K={r['K']} ({r['ratio_to_dense']:.2f}x)" for r in mine if r["ratio_to_dense"] < 1]
    best = min(mine, key=lambda r: r["ratio_to_dense"])
    lines.append(
      f"{engine} {path}: faster than dense in {len(wins)}/{len(mine)} cases"
      + (f": {', '.join(wins)}" if wins else "")
      + f"; best {best['ratio_to_dense']:.2f}x at {best['rows']}x{best['cols']} K={best['K']}"
    )
  return "\n".join(lines)


def emulate_avx2() -> None:
  """Sets up this process, before numba and NumPy load, as on a CPU with AVX2 but no AVX-512:
  numba compiles for the host's features minus AVX-512 (`NUMBA_CPU_FEATURES`), the runtime treats
  the CPU as AVX2-only (`CHROMNAS_NO_AVX512`), OpenBLAS runs its Haswell kernels
  (`OPENBLAS_CORETYPE`), NumPy leaves its AVX-512 loops out (`NPY_DISABLE_CPU_FEATURES`)."""
  from llvmlite import binding  # pylint: disable=g-import-not-at-top

  features = [
    ("-" + f[1:]) if f[1:].startswith(("avx512", "amx", "avx10", "evex512")) else f
    for f in binding.get_host_cpu_features().flatten().split(",")
  ]
  if "+avx2" not in features or "+fma" not in features:
    raise app.UsageError("--isa=avx2 needs a CPU with AVX2 and FMA")
  os.environ.update(
    NUMBA_CPU_FEATURES=",".join(features),
    CHROMNAS_NO_AVX512="1",
    OPENBLAS_CORETYPE="Haswell",
    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_SKX AVX512_ICL AVX512_SPR",
  )


_DEPLOY = flags.DEFINE_bool(
  "deploy",
  False,
  "Instead: every zoo policy's C export (flash, stack, time of one "
  "action) next to a dense policy of its task, as a table (experiments/bench_deploy.py).",
)


def _positive_ints(flag: str, items) -> list[int]:
  """`items` as positive integers; one-line failure naming `--flag` otherwise."""
  try:
    out = [int(n) for n in items if n]
  except ValueError:
    fail(f"--{flag}: expected positive integers, got {','.join(items)!r}")
  if any(n < 1 for n in out):
    fail(f"--{flag}: expected positive integers, got {','.join(items)!r}")
  return out


def _parse_shapes():
  """`(sizes [(rows, cols)], colors [K], crossover sizes)` from the flags; one-line failure if malformed."""
  sizes = []
  for item in _SIZES.value:
    parts = item.lower().split("x")
    if len(parts) != 2:
      fail(f"--sizes: expected ROWSxCOLS, got {item!r}")
    r, c = _positive_ints("sizes", parts)
    sizes.append((r, c))
  return sizes, _positive_ints("colors", _COLORS.value), _positive_ints("crossover_sizes", _CROSSOVER.value)


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  if _ROUNDS.value < 1:
    fail(f"--rounds must be at least 1, got {_ROUNDS.value}")
  if _DEPLOY.value:
    from experiments import bench_deploy  # pylint: disable=g-import-not-at-top

    bench_deploy.main(_FORMAT.value)
    return
  if _NUMPY_THREADS.value:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
      os.environ[var] = str(_NUMPY_THREADS.value)
  if _KERNEL_THREADS.value:
    os.environ["CHROMNAS_THREADS"] = str(_KERNEL_THREADS.value)  # `chromnas.core.row_threads`
  if _ISA.value == "avx2":
    emulate_avx2()
  sizes, colors_list, cross_sizes = _parse_shapes()
  text = _FORMAT.value == "text"
  log = print if text else (lambda _: None)
  from chromnas.core import mailman as host_mailman  # pylint: disable=g-import-not-at-top
  from chromnas.core import runtime  # pylint: disable=g-import-not-at-top

  if text:
    device = "CPU"
    if _JAX.value:
      import jax  # pylint: disable=g-import-not-at-top

      device = f"{jax.devices()[0].device_kind}, jax {jax.__version__}"
    print(
      f"# {device}, {os.cpu_count()} CPUs, ISA {_ISA.value}; NumPy BLAS threads: {_NUMPY_THREADS.value or 'default'}; "
      f"kernel threads: {_KERNEL_THREADS.value or 'all'}; mailman kernel backend: {host_mailman.backend()}; "
      f"batch {_BATCH.value}; {_ROUNDS.value} interleaved rounds of >= {_MIN_REPEATS.value} repeats per path; "
      "time: median of the rounds' medians; x dense: median over rounds of the ratio within a round"
    )
    print(HEADER)
  start = time.perf_counter()
  rows = run(
    sizes,
    colors_list,
    _BUDGET.value,
    _MIN_REPEATS.value,
    _MAX_GROUPED_MB.value,
    _NUMPY.value,
    _BLOCK.value or None,
    _SEED.value,
    log=log,
    batch=_BATCH.value,
    with_jax=_JAX.value,
    jax_paths=tuple(_JAX_PATHS.value),
    jax_repeats=_JAX_REPEATS.value,
    rounds=_ROUNDS.value,
  )
  if text:
    print(summary(rows))
    print(
      "# JAX times near a jitted call's dispatch measure it and per-op launch overhead more than\n"
      "# arithmetic; `host` adds a callback.  `read GB/s` of the lookup paths is low by design (they\n"
      "# read 16-32x fewer bytes than dense); dense at or above 100% of copy is memory bound."
    )
    if cross_sizes:
      print(f"# crossover sweep, square sizes {','.join(map(str, cross_sizes))}, batch 1:")
  crossovers = (
    crossover(cross_sizes, colors_list, _BUDGET.value, _MIN_REPEATS.value, _SEED.value, log=log)
    if cross_sizes and _NUMPY.value
    else []
  )
  if text:
    print(f"# {time.perf_counter() - start:.0f} s")
  else:
    print(
      json.dumps(
        {
          "rows": rows,
          "crossover": crossovers,
          "isa": _ISA.value,
          "cpu_kind": runtime.cpu_kind(),
          "cpus": os.cpu_count(),
        },
        indent=1,
      )
    )


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags_or_exit)
