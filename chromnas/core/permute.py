"""Chromatic matvec with the K values held in vector registers: AVX-512 permutes, one byte per weight.

    from chromnas.core import permute
    if permute.available():                        # numba, and a CPU with AVX-512
      plan = permute.prepare(colors, num_colors)   # colors (rows, cols), K <= 32
      y = permute.matvec(values, plan, x)          # y = x @ values[colors].T, x (cols,) or (B, cols)

Math.  `y[i] = sum_j values[c_ij] x_j`, computed 16 columns at a time: the 16 colors `c_ij` (one
byte each) select their weights from the `K <= 32` values, which sit in two 512-bit registers,
by one `vpermi2ps` (a permute, not a memory gather), and one fused multiply-add adds
`W[i, j:j+16] * x[j:j+16]` into an accumulator.  That is `rows * cols / 16` permutes and FMAs,
against the dense GEMV's `rows * cols / 16` FMAs: the same arithmetic, but the matrix read is
the byte-wide colors, 4x less than float32 weights (and small enough to stay in a large last-level
cache, 16 MiB at 4096x4096), where a dense GEMV is bound by memory bandwidth
(`experiments/bench_inference.py` compares the two).
It is exact float32 arithmetic (relative error ~1e-7 against float64).

Rows are split over all cores (`chromnas.core.row_threads`); a batch runs
one input after another per row (the row's colors then come from L1).  For batches of 3 and more
`chromnas.core.mailman`'s batched kernel or `chromnas.core.permute_avx2`'s (one decode per 8
inputs) is faster, and for K <= 8 the AVX2 kernel's bit-packed colors beat one byte per weight
even here (`chromnas.core.runtime.auto_path` picks).

The kernel is LLVM IR emitted through numba (`numba.extending.intrinsic`), since numba has no
vector types: it needs numba and a CPU with AVX-512F.  `available()` says whether both hold (and
`CHROMNAS_NO_NUMBA` is unset); elsewhere use `chromnas.core.mailman` or a dense product, as
`chromnas.core.runtime.Policy` does.  This module imports only NumPy (numba and llvmlite lazily).
"""

from __future__ import annotations

import dataclasses
import os
import threading

import numpy as np

from chromnas.core import mailman, row_threads

MAX_COLORS = 32  # two 16-float registers of values
LANES = 16  # float32 per 512-bit register: columns per permute
COL_PAD = 4 * LANES  # columns padded to this (the one-vector kernel unrolls 4 accumulators)


@dataclasses.dataclass(frozen=True)
class PermutePlan:
  """A coloring as bytes: `colors (rows, cols_padded)` uint8, C-contiguous, columns padded to a
  multiple of `COL_PAD` with color 0 (against zero inputs, so the padding adds nothing)."""

  rows: int
  cols: int
  num_colors: int
  colors: np.ndarray

  @property
  def nbytes(self) -> int:
    """Bytes a matvec reads besides `x`: one per (padded) weight."""
    return int(self.colors.nbytes)

  def check_operands(self, values_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    """Raises `ValueError` unless `values` is `(K,)` and `x` is `(..., cols)` (shapes only)."""
    mailman.check_operands(self.cols, self.num_colors, values_shape, x_shape)


_lock = threading.Lock()
_state: dict = {}  # 'cpu': whether the CPU has AVX-512 (probed once); 'kernel': the compiled kernel


def available() -> bool:
  """Whether the permute kernel can run here: numba importable and enabled (`CHROMNAS_NO_NUMBA`
  unset) and a CPU with AVX-512F (checked before anything is compiled: LLVM aborts, rather than
  raises, on an instruction the CPU lacks), and `CHROMNAS_NO_AVX512` unset."""
  if "cpu" not in _state:
    _state["cpu"] = mailman.numba_cpu_has("avx512f")
  if os.environ.get("CHROMNAS_NO_AVX512", "") not in ("", "0"):
    return False  # told to treat this CPU as AVX2-only (`chromnas.core.permute_avx2` then runs)
  return mailman.backend() == "numba" and _state["cpu"]


def checked_coloring(colors, num_colors: int, max_colors: int, kernel: str) -> tuple[np.ndarray, int]:
  """`(colors, num_colors)` as a `(rows, cols)` NumPy array and an int, checked for a kernel that
  holds the values in registers: `1 <= num_colors <= max_colors`, entries in `[0, num_colors)`
  (`kernel` names it in the `ValueError`)."""
  colors = np.asarray(colors)
  if colors.ndim != 2:
    raise ValueError(f"colors must be a (rows, cols) matrix, got shape {colors.shape}")
  num_colors = int(num_colors)
  if not 1 <= num_colors <= max_colors:
    raise ValueError(f"{kernel} holds 1 to {max_colors} colors, got num_colors={num_colors}")
  mailman.check_colors(colors, num_colors)
  return colors, num_colors


def prepare(colors, num_colors: int) -> PermutePlan:
  """The byte plan of a `(rows, cols)` coloring with entries in `[0, num_colors)`, `num_colors <= 32`."""
  colors, num_colors = checked_coloring(colors, num_colors, MAX_COLORS, "the permute kernel")
  rows, cols = colors.shape
  padded = np.zeros((rows, max(COL_PAD, -(-cols // COL_PAD) * COL_PAD)), np.uint8)
  padded[:, :cols] = colors
  return PermutePlan(rows, cols, num_colors, padded)


def horizontal_sum(builder, accs):
  """Emits the float sum of every lane of the vectors held in the stack slots `accs`: first
  `((a_0 + a_1) + a_2) + ...` lanewise, then lanes `0, 1, ...` added in order.  The order is fixed,
  so each kernel's result is reproducible to the bit (the epilogue of every permute kernel)."""
  from llvmlite import ir  # pylint: disable=g-import-not-at-top

  i32 = ir.IntType(32)
  total = builder.load(accs[0])
  for acc in accs[1:]:
    total = builder.fadd(total, builder.load(acc))
  out = builder.extract_element(total, ir.Constant(i32, 0))
  for lane in range(1, total.type.count):
    out = builder.fadd(out, builder.extract_element(total, ir.Constant(i32, lane)))
  return out


def _row_intrinsic():
  """An intrinsic `row(table, colors, i, x)` -> `sum_j table[colors[i, j]] * x[j]`, 16 columns
  per permute, 4 independent accumulators (the FMA latency), one horizontal sum at the end."""
  from llvmlite import ir  # pylint: disable=g-import-not-at-top
  from numba import types  # pylint: disable=g-import-not-at-top
  from numba.core import cgutils  # pylint: disable=g-import-not-at-top
  from numba.extending import intrinsic  # pylint: disable=g-import-not-at-top

  f32, i32 = ir.FloatType(), ir.IntType(32)
  vf, vi, vb = ir.VectorType(f32, LANES), ir.VectorType(i32, LANES), ir.VectorType(ir.IntType(8), LANES)
  unroll = COL_PAD // LANES

  def codegen(context, builder, signature, args):
    tab_t, col_t, _, x_t = signature.args
    table = context.make_array(tab_t)(context, builder, args[0])
    colors = context.make_array(col_t)(context, builder, args[1])
    x = context.make_array(x_t)(context, builder, args[3])
    row = args[2]
    width = builder.extract_value(colors.shape, 1)
    i64 = width.type
    mod = builder.module
    permute = cgutils.get_or_insert_function(
      mod, ir.FunctionType(vf, [vf, vi, vf]), "llvm.x86.avx512.vpermi2var.ps.512"
    )
    fma = cgutils.get_or_insert_function(mod, ir.FunctionType(vf, [vf, vf, vf]), "llvm.fma.v16f32")
    values = builder.bitcast(table.data, vf.as_pointer())
    low, high = builder.load(values, align=4), builder.load(builder.gep(values, [ir.Constant(i32, 1)]), align=4)
    row_colors = builder.gep(colors.data, [builder.mul(row, width)])
    accs = [cgutils.alloca_once_value(builder, ir.Constant(vf, [0.0] * LANES)) for _ in range(unroll)]
    with cgutils.for_range(builder, builder.sdiv(width, ir.Constant(i64, COL_PAD))) as loop:
      for u, acc in enumerate(accs):
        col = builder.add(builder.mul(loop.index, ir.Constant(i64, COL_PAD)), ir.Constant(i64, LANES * u))
        codes = builder.load(builder.bitcast(builder.gep(row_colors, [col]), vb.as_pointer()), align=1)
        w = builder.call(permute, [low, builder.zext(codes, vi), high])
        xv = builder.load(builder.bitcast(builder.gep(x.data, [col]), vf.as_pointer()), align=4)
        builder.store(builder.call(fma, [w, xv, builder.load(acc)]), acc)
    return horizontal_sum(builder, accs)

  def typer(typingctx, table, colors, row, x):
    return types.float32(table, colors, types.int64, x), codegen

  return intrinsic(typer)


def _kernel():
  """The compiled `kernel(table (32,), colors (rows, width) uint8, xs (B, width), ys (B, rows), lo, hi)`
  for rows `[lo, hi)` (compiled once per process)."""
  fn = _state.get("kernel")
  if fn is not None:
    return fn
  with _lock:
    if "kernel" in _state:
      return _state["kernel"]
    import numba  # pylint: disable=g-import-not-at-top

    row = _row_intrinsic()

    # Rows `[lo, hi)` (`chromnas.core.row_threads` spreads them over all cores); each row's
    # colors are reused from L1 by every input of a batch.  One input per pass over the row:
    # sharing each permute among several inputs measured no faster (the FMAs, one 512-bit op
    # per cycle on Zen 4, then dominate).
    def kernel(table, colors, xs, ys, lo, hi):
      for i in range(lo, hi):
        for b in range(xs.shape[0]):
          ys[b, i] = row(table, colors, i, xs[b])

    array = numba.types.Array
    sig = (
      array(numba.float32, 1, "C", readonly=True),
      array(numba.uint8, 2, "C", readonly=True),
      array(numba.float32, 2, "C"),
      array(numba.float32, 2, "C"),
      numba.int64,
      numba.int64,
    )
    fn = numba.njit([sig], boundscheck=False, nogil=True)(kernel)
    _state["kernel"] = fn
    return fn


def matvec(values, plan: PermutePlan, x) -> np.ndarray:
  """`y = x @ values[colors].T`: `values (K,)`, `x (cols,)` or `(..., cols)` -> `y (..., rows)`, float32."""
  if not available():
    raise RuntimeError("the permute kernel needs numba and a CPU with AVX-512F (see permute.available())")
  values, x2, lead = mailman.matvec_operands(values, plan, x)
  batch, width = x2.shape[0], plan.colors.shape[1]
  if batch == 0 or plan.rows == 0:
    return np.zeros((*lead, plan.rows), np.float32)
  table = np.zeros(MAX_COLORS, np.float32)
  table[: plan.num_colors] = values
  xs = np.zeros((batch, width), np.float32)
  xs[:, : plan.cols] = x2
  ys = np.empty((batch, plan.rows), np.float32)
  row_threads.run(_kernel(), plan.rows, table, plan.colors, xs, ys)
  return ys[:batch].reshape(*lead, plan.rows)
