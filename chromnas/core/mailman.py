"""Fast chromatic matvec on the CPU: mailman lookup tables, compiled with numba when it is installed.

    from chromnas.core import mailman
    plan = mailman.prepare(colors, num_colors)      # once per coloring, colors (rows, cols)
    y = mailman.matvec(values, plan, x)             # y = x @ values[colors].T, x (cols,) or (..., cols)
    mailman.backend()                               # 'numba' or 'numpy': which kernel runs

Math.  For `W[i, j] = values[colors[i, j]]` with `K` colors, cut the columns into blocks of `b`.
In block `blk` the colors of row `i` form a pattern `p(i, blk) = sum_j colors[i, blk*b + j] K^j`
(`j < b`), stored once per coloring.  Per input `x`, each block's table of all `K^b` pattern sums
`T[p] = sum_j values[p_j] x[blk*b + j]` is built by doubling, `T_{j+1}[c K^j + p] = T_j[p] +
values[c] x[blk*b + j]` (one add per entry), and `y[i] = sum_blk T_blk[p(i, blk)]`: `rows*cols/b`
lookups and `cols/b * K^b` adds, against `rows*cols` multiply-adds for the dense product.

Why it beats a dense GEMV on a CPU.  A float32 GEMV streams `4 rows cols` bytes and is bound by
memory bandwidth.
Here the matrix is `rows*cols/b` pattern indices of 1 or 2 bytes (for K = 2, b = 8 they are exactly
the bit-packed colors), i.e. 16-32x less to read, and each table is small enough to stay in L1,
so the cost is one L1 load and one add per lookup (about 0.25-0.35 ns on that machine).  Measured
there (`experiments/bench_inference.py`, under load), 4096x4096, one vector, one thread: ~5x
faster than dense for K = 2, ~2.5-3x for K = 4, about even (0.9-1.3x) for K = 17, where `b` is
only 2 and the 8M lookups themselves are the limit (the register kernels `chromnas.core.permute_avx2`,
any AVX2 CPU, and `chromnas.core.permute`, AVX-512, are faster there for one vector).  Smaller matrices whose dense
form fits in the last-level
cache are faster dense (see `chromnas.core.runtime.auto_path`).

Layout (`MailmanPlan.index`): block-major `(num_blocks, rows_padded)`, C-contiguous, so the inner
loop over rows streams contiguous indices while gathering from one table.  Rows are padded to a
multiple of 8 (so the numba kernel can read 8 uint8 / 4 uint16 indices as one uint64) and blocks
to a multiple of `GROUP` (the kernel adds `GROUP` tables per pass over `y`); the padding holds
pattern 0 against zero inputs / discarded outputs, so it adds nothing.  A ragged last block
(`cols % b != 0`) is padded the same way.  `MailmanPlan` is the one plan of every mailman kernel:
the JAX kernel (`chromnas.model.mailman`, blocks `b ~ log_K rows`) reads the same index.

Kernels (numba, `fastmath`): one vector: `GROUP = 4` blocks per pass, indices read as uint64
words, on every core (`chromnas.core.row_threads`): the blocks are cut into at most `MAX_PARTS`
parts, each summed into its own partial `y` by whichever thread takes it, then the parts are added
in order (so the bits do not depend on the thread count); a batch `(B, cols)`, one thread: tables
of `(K^b, 8)` entries (8 inputs per entry, one 256-bit vector) so one lookup serves 8 inputs;
`B <= 2` loops over the one-vector kernel instead.
The NumPy fallback computes the same sums with `np.take` (correct, but slower than a dense BLAS
product: use dense where numba is missing, as `chromnas.core.runtime.Policy` does with `matvec='auto'`).

This module imports only NumPy (numba lazily, on the first numba matvec), never JAX.
Set `CHROMNAS_NO_NUMBA=1` to force the NumPy fallback.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any

import numpy as np

from chromnas.core import row_threads

GROUP = 4  # tables added per pass over y (8 ran out of registers, fewer costs y loads/stores); the
#           kernels below are written for 4
ROW_PAD = 8  # rows padded to a multiple of this (8 uint8 or 4 uint16 indices per uint64 word)
BATCH_LANES = 8  # inputs per table entry in the batched kernel (8 float32 = one AVX register)
MAX_PARTS = 8  # partial sums of one vector's product, the units handed to threads (fixed by the plan)
# Fewest lookups (about 1.2 ms of them on one core) for which a product is split into parts at
# all; smaller ones are one part, on the caller.  On a 2-core Zen 3 virtual machine: 1024^2 K = 17
# in two parts took 272-300 us against 211-214 us on one thread, and 2048^2 K = 4 in two or four
# parts gained nothing; 4096^2 K = 2 gained in eight parts (429-593 us against 667-700) but lost
# in two (785-1051): a helper that starts late then holds up half the product.
MIN_SPLIT_LOOKUPS = 1 << 21
MAX_TABLE = 1 << 16  # K^b cap of `prepare`: tables beyond 64K entries (256 KiB) no longer sit in cache


def numba_cpu_has(*features: str) -> bool:
  """Whether numba compiles for this CPU (not another `CPU_NAME`, and no `CPU_FEATURES` leaving any
  of `features` out) and this CPU has every one of `features` (LLVM names: 'avx2', 'fma',
  'avx512f').  The register-table kernels ask before compiling anything: LLVM aborts, rather than
  raises, on an instruction the CPU lacks.  False without numba."""
  try:
    import numba  # pylint: disable=g-import-not-at-top
    from llvmlite import binding  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  if getattr(numba.config, "CPU_NAME", None) not in (None, "host"):
    return False  # numba compiles for another CPU (e.g. 'generic' for portable caches)
  configured = getattr(numba.config, "CPU_FEATURES", None)
  if configured and not all(f"+{f}" in configured for f in features):
    return False  # numba was told to leave one of them out
  host = binding.get_host_cpu_features()
  return all(bool(host.get(f, False)) for f in features)


def widest_block(num_colors: int, max_entries: int, max_width: int) -> int:
  """The block-width rule of every mailman kernel: the largest `b` in `[1, max(1, max_width)]`
  whose tables of `K^b` pattern sums hold at most `max_entries` entries (`b = max_width` for
  `K = 1`, a single pattern); at least 1.  Each kernel supplies the budgets that suit it (this
  module's `block_size`, `chromnas.model.mailman.block_size`)."""
  if num_colors < 1:
    raise ValueError(f"num_colors must be >= 1, got {num_colors}")
  limit = max(1, max_width)
  b = 1
  while b < limit and num_colors ** (b + 1) <= max_entries:
    b += 1
  return b


def block_size(num_colors: int, cols: int | None = None) -> int:
  """Block width `b` for `K` colors, capped at `cols`: the largest `b` with `K^b <= 256` (one-byte
  indices, 1 KiB tables) for `K <= 16`; `b = 2` (`K^2 <= 4096` entries, two-byte indices) for
  `17 <= K <= 64`; `b = 1` above (no faster than dense; kept for completeness).

  Why (measured at 4096x4096, one thread, see `experiments/bench_inference.py`): for one vector,
  tables up to ~2-3K entries are 5-25% faster (fewer lookups, e.g. K = 2: b = 10 0.47 ms vs b = 8
  0.51 ms), but the batched kernel keeps 8 sums per entry and wants small tables (batch 16, K = 2:
  b = 8 2.3 ms vs b = 10 3.4 ms) and one-byte indices need half the memory, so `K^b <= 256` is the
  best all-round choice.  For K = 17, b = 2 (289 entries) beats b = 1 (twice the lookups) and
  b = 3 (4913 entries per table, which fall out of L1).
  """
  return widest_block(num_colors, 256 if num_colors <= 16 else 4096, min(cols, 8) if cols else 8)


def index_dtype(table_size: int):
  """Smallest unsigned dtype holding pattern indices `< table_size` (uint8, uint16 or uint32)."""
  if table_size <= 1 << 8:
    return np.uint8
  if table_size <= 1 << 16:
    return np.uint16
  return np.uint32


@dataclasses.dataclass(frozen=True)
class MailmanPlan:
  """A coloring's block patterns: the one plan of every mailman kernel (this module's NumPy and
  numba kernels, and the JAX kernel of `chromnas.model.mailman`, which registers it as a pytree).

  `index (blocks_padded, rows_padded)`: `index[blk, i] = sum_j colors[i, blk*b + j] K^j`,
  C-contiguous, uint8/uint16/uint32; padding (rows to a multiple of `ROW_PAD`, blocks to a
  multiple of `GROUP`, a ragged last block) is pattern 0.  A NumPy array, or a JAX array where
  `chromnas.model.mailman.prepare` planned a traced coloring (this module's kernels need NumPy).
  """

  rows: int
  cols: int
  num_colors: int
  block: int
  index: Any  # np.ndarray here; a JAX array in the plans of chromnas.model.mailman

  @property
  def num_blocks(self) -> int:
    """Blocks holding columns, `ceil(cols / block)` (the index holds padding blocks after them)."""
    return -(-self.cols // self.block)

  @property
  def table_size(self) -> int:
    """`K^block`, the entries of one block's table."""
    return self.num_colors**self.block

  @property
  def nbytes(self) -> int:
    """Bytes of the index array (padding included): what a matvec reads besides `x`."""
    return int(np.prod(self.index.shape)) * np.dtype(self.index.dtype).itemsize

  def check_operands(self, values_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    """Raises `ValueError` unless `values` is `(K,)` and `x` is `(..., cols)` (shapes only)."""
    check_operands(self.cols, self.num_colors, values_shape, x_shape)


def check_operands(cols: int, num_colors: int, values_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
  """Raises `ValueError` unless `values` is `(num_colors,)` and `x` is `(..., cols)`: the operand
  check of every chromatic kernel's plan."""
  if len(x_shape) == 0 or x_shape[-1] != cols:
    raise ValueError(f"x has trailing size {x_shape[-1] if x_shape else None}, the plan is for {cols} columns")
  if tuple(values_shape) != (num_colors,):
    raise ValueError(f"values must have shape ({num_colors},), got {tuple(values_shape)}")


def check_colors(colors: np.ndarray, num_colors: int) -> None:
  """Raises `ValueError` unless every entry of `colors` lies in `[0, num_colors)` (every kernel's plan)."""
  if colors.size and (colors.min() < 0 or colors.max() >= num_colors):
    raise ValueError(f"colors must lie in [0, {num_colors}), found [{colors.min()}, {colors.max()}]")


def prepare(colors, num_colors: int, block: int | None = None, *, max_table: int = MAX_TABLE, xp=np) -> MailmanPlan:
  """Plans the mailman matvec of a `(rows, cols)` coloring with entries in `[0, num_colors)`.

  `block` defaults to `block_size(num_colors, cols)` (this module's kernels); `num_colors ** block`
  must be at most `max_table`.  `xp` is the array module that computes the patterns: NumPy (the
  default; the colors' range is checked) or one with NumPy's API, such as `jax.numpy` for a
  coloring traced under `jit` / `vmap` (`chromnas.model.mailman.prepare`; then unchecked).
  """
  if np.ndim(colors) != 2:
    raise ValueError(f"colors must be a (rows, cols) matrix, got shape {np.shape(colors)}")
  rows, cols = np.shape(colors)
  num_colors = int(num_colors)
  if num_colors < 1:
    raise ValueError(f"num_colors must be >= 1, got {num_colors}")
  if xp is np:
    colors = np.asarray(colors)
    check_colors(colors, num_colors)
  block = block_size(num_colors, cols) if block is None else int(block)
  if block < 1 or num_colors**block > max_table:
    raise ValueError(f"block must be >= 1 with K^block <= {max_table}, got block={block} for K={num_colors}")
  num_blocks = -(-max(cols, 1) // block)
  blocks_padded = -(-num_blocks // GROUP) * GROUP
  rows_padded = -(-max(rows, 1) // ROW_PAD) * ROW_PAD
  # Horner over the block's columns, last digit first: p = c_0 + K (c_1 + K (c_2 + ...)).
  # A ragged last block lacks its high digits, which count as color 0.
  acc = xp.zeros((rows, num_blocks), xp.int32)
  for j in reversed(range(block)):
    digit = colors[:, j::block].astype(xp.int32)  # (rows, blocks that hold column j)
    if digit.shape[1] < num_blocks:
      digit = xp.pad(digit, ((0, 0), (0, num_blocks - digit.shape[1])))
    acc = acc * num_colors + digit
  index = xp.pad(
    acc.T.astype(index_dtype(num_colors**block)), ((0, blocks_padded - num_blocks), (0, rows_padded - rows))
  )
  if xp is np:  # NumPy pads a transpose in Fortran order; the kernels stream one block's run
    index = np.ascontiguousarray(index)
  return MailmanPlan(rows, cols, num_colors, block, index)


def matvec_operands(values, plan, x) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
  """The checked operands of every chromatic kernel's `matvec` (this module's, `permute`'s and
  `permute_avx2`'s): `values (K,)` as C-contiguous float32, `x (..., cols)` as float32 rows
  `x2 (B, cols)`, and the leading dims of `x` (the product is `(*lead, rows)`).  Raises `ValueError`
  unless the shapes fit `plan` (its `check_operands`)."""
  x = np.asarray(x, np.float32)
  values = np.ascontiguousarray(values, np.float32)
  plan.check_operands(values.shape, x.shape)
  return values, x.reshape(-1, plan.cols), x.shape[:-1]


def _padded_inputs(plan: MailmanPlan, x2: np.ndarray) -> np.ndarray:
  """`(B, blocks_padded * block)` inputs, zero past `cols` (padding columns then add nothing)."""
  out = np.zeros((x2.shape[0], plan.index.shape[0] * plan.block), np.float32)
  out[:, : plan.cols] = x2
  return out


# ---- NumPy fallback ------------------------------------------------------------------------------

_LOOKUP_CHUNK = 1 << 17  # lookups per np.take call (keeps the intp index chunk in cache)


def numpy_tables(values: np.ndarray, xb: np.ndarray, num_colors: int) -> np.ndarray:
  """`(B, nb, K^b)` pattern sums `T[., blk, p] = sum_j values[p_j] xb[., blk, j]` for
  `xb (B, nb, b)`, built by doubling (`T_{j+1}[c K^j + p] = T_j[p] + values[c] xb[., blk, j]`)."""
  batch, num_blocks, block = xb.shape
  table = np.zeros((batch, num_blocks, 1), np.float32)
  for j in range(block):
    step = values[:, None] * xb[:, :, j, None, None]  # (B, nb, K, 1)
    table = (table[:, :, None, :] + step).reshape(batch, num_blocks, -1)
  return table


def _matvec_numpy(values, plan: MailmanPlan, x2: np.ndarray) -> np.ndarray:
  batch = x2.shape[0]
  blocks, rows_padded = plan.index.shape
  xb = _padded_inputs(plan, x2).reshape(batch, blocks, plan.block)
  num_blocks = plan.num_blocks  # padding blocks add nothing: skip them
  flat = numpy_tables(values, xb[:, :num_blocks], plan.num_colors).reshape(batch, -1)
  y = np.zeros((batch, plan.rows), np.float32)
  step = max(1, _LOOKUP_CHUNK // rows_padded)
  for start in range(0, num_blocks, step):
    stop = min(num_blocks, start + step)
    index = plan.index[start:stop, : plan.rows].astype(np.intp)
    index += (np.arange(start, stop, dtype=np.intp) * plan.table_size)[:, None]
    y += np.take(flat, index, axis=-1).sum(axis=-2)
  return y


# ---- numba kernels --------------------------------------------------------------------------------
# Plain Python functions, compiled on first use by `_kernel` (numba is optional).  They take
# the padded plan index, `values (K,)`, the padded inputs and `y` (zeros, padded rows), and add
# into `y`.


def _build_table(table, scratch, values, xpad, j0, block, num_colors):
  """table[:K^b] = all pattern sums of columns j0..j0+b-1, level by level (`T_{j+1}[c K^j + p] =
  T_j[p] + values[c] x[j0 + j]`).  Levels alternate between `table` and `scratch` (`K^(b-1)`
  entries) so that the last lands in `table`: a level never reads the array it writes, which lets
  LLVM vectorize the inner loop (in place it did not: the table build then cost about a quarter
  of a K = 17 matvec)."""
  into_table = (block - 1) % 2 == 0  # level 0 goes where every other level after it must not
  x0 = xpad[j0]
  for c in range(num_colors):
    if into_table:
      table[c] = values[c] * x0
    else:
      scratch[c] = values[c] * x0
  n = num_colors
  for j in range(1, block):
    xj = xpad[j0 + j]
    into_table = not into_table
    for c in range(num_colors):
      s = values[c] * xj
      base = c * n
      if into_table:  # two loops with fixed arrays, so that each one vectorizes
        for p in range(n):
          table[base + p] = scratch[p] + s
      else:
        for p in range(n):
          scratch[base + p] = table[p] + s
    n *= num_colors


def _kernel_words(values, index, xpad, block, yparts, part_groups, lo, hi):
  """yparts[p, i] = sum_blk T_blk[index[blk, i]] for the parts `p` in `[lo, hi)`, part `p` being
  the blocks of groups `[p * part_groups, (p + 1) * part_groups)` (`GROUP` blocks per group).
  Parts let a product be split over threads by blocks (`chromnas.core.row_threads` hands out
  whole parts), and since they are fixed by the plan, the caller's sum over them is the same
  whatever the split.  The indices are read as uint64 words (8 uint8, 4 uint16 or 2 uint32 per
  word).  numba compiles it per index dtype, where `np.iinfo` is a constant: the loop over a word's
  indices has a constant trip count, is unrolled and its shifts are immediates."""
  num_colors = values.shape[0]
  bits = np.iinfo(index.dtype).bits
  per_word = 64 // bits
  m = np.uint64(np.iinfo(index.dtype).max)
  words = index.view(np.uint64)
  tables = np.empty((4, num_colors**block), np.float32)
  scratch = np.empty(num_colors ** (block - 1), np.float32)
  for g in range(4 * part_groups * lo, min(4 * part_groups * hi, words.shape[0]), 4):
    y = yparts[g // (4 * part_groups)]
    for t in range(4):
      _build_table_nb(tables[t], scratch, values, xpad, (g + t) * block, block, num_colors)
    w0, w1, w2, w3 = words[g], words[g + 1], words[g + 2], words[g + 3]
    t0, t1, t2, t3 = tables[0], tables[1], tables[2], tables[3]
    for q in range(words.shape[1]):
      a0, a1, a2, a3 = w0[q], w1[q], w2[q], w3[q]
      for s in range(per_word):
        sh = np.uint64(bits * s)
        y[per_word * q + s] += (t0[(a0 >> sh) & m] + t1[(a1 >> sh) & m]) + (t2[(a2 >> sh) & m] + t3[(a3 >> sh) & m])


def _kernel_batch8(values, index, xt, block, y):
  """Batched: `xt (cols_padded, B8)` inputs (B8 a multiple of 8), `y (B8 // 8, rows_padded, 8)`.

  Table entries hold 8 inputs' sums (`tables[t, p, k]`), so one index load serves 8 inputs.
  The row update is written out for k = 0..7, loads before stores: LLVM's SLP vectorizer then
  turns it into 256-bit loads, adds and one store (a loop over k is not vectorized, because
  the stores into y might alias the table loads as far as LLVM can tell).
  """
  num_colors = values.shape[0]
  blocks, rows = index.shape
  size = num_colors**block
  tables = np.empty((4, size, 8), np.float32)
  for c8 in range(xt.shape[1] // 8):
    yc = y[c8]
    for g in range(0, blocks, 4):
      for t in range(4):
        tab = tables[t]
        j0 = (g + t) * block
        for k in range(8):
          tab[0, k] = 0.0
        n = 1
        for j in range(block):
          xr = xt[j0 + j, 8 * c8 : 8 * c8 + 8]
          for c in range(num_colors - 1, -1, -1):  # c = 0 last: it updates the first n rows in place
            v = values[c]
            s0, s1, s2, s3 = v * xr[0], v * xr[1], v * xr[2], v * xr[3]
            s4, s5, s6, s7 = v * xr[4], v * xr[5], v * xr[6], v * xr[7]
            base = c * n
            for p in range(n):
              src = tab[p]
              d0, d1, d2, d3 = src[0] + s0, src[1] + s1, src[2] + s2, src[3] + s3
              d4, d5, d6, d7 = src[4] + s4, src[5] + s5, src[6] + s6, src[7] + s7
              dst = tab[base + p]
              dst[0], dst[1], dst[2], dst[3] = d0, d1, d2, d3
              dst[4], dst[5], dst[6], dst[7] = d4, d5, d6, d7
          n *= num_colors
      i0, i1, i2, i3 = index[g], index[g + 1], index[g + 2], index[g + 3]
      t0, t1, t2, t3 = tables[0], tables[1], tables[2], tables[3]
      for i in range(rows):
        r0, r1, r2, r3 = t0[i0[i]], t1[i1[i]], t2[i2[i]], t3[i3[i]]
        yi = yc[i]
        v0 = yi[0] + ((r0[0] + r1[0]) + (r2[0] + r3[0]))
        v1 = yi[1] + ((r0[1] + r1[1]) + (r2[1] + r3[1]))
        v2 = yi[2] + ((r0[2] + r1[2]) + (r2[2] + r3[2]))
        v3 = yi[3] + ((r0[3] + r1[3]) + (r2[3] + r3[3]))
        v4 = yi[4] + ((r0[4] + r1[4]) + (r2[4] + r3[4]))
        v5 = yi[5] + ((r0[5] + r1[5]) + (r2[5] + r3[5]))
        v6 = yi[6] + ((r0[6] + r1[6]) + (r2[6] + r3[6]))
        v7 = yi[7] + ((r0[7] + r1[7]) + (r2[7] + r3[7]))
        yi[0], yi[1], yi[2], yi[3] = v0, v1, v2, v3
        yi[4], yi[5], yi[6], yi[7] = v4, v5, v6, v7


_KERNELS = {"words": _kernel_words, "batch8": _kernel_batch8}
_compiled: dict = {}
_lock = threading.Lock()
_numba: Any = None  # the numba module once imported; False when unavailable
_build_table_nb: Any = None  # the compiled table builder, a global the kernels call


def _import_numba():
  global _numba
  if _numba is None:
    if os.environ.get("CHROMNAS_NO_NUMBA", "") not in ("", "0"):
      _numba = False
    else:
      try:
        import numba  # pylint: disable=g-import-not-at-top

        _numba = numba
      except ImportError:
        _numba = False
  return _numba


def backend() -> str:
  """Which kernel `matvec` runs by default: 'numba' (compiled, numba importable and not disabled
  by `CHROMNAS_NO_NUMBA=1`) or 'numpy' (the `np.take` fallback)."""
  return "numba" if _import_numba() else "numpy"


def _kernel(name: str, dtype):
  """The compiled kernel `name` for index dtype `dtype` (compiled once per process, cached on disk).

  Compiled eagerly for one signature with LLVM's SLP vectorizer on: numba leaves it off by default,
  and the batched kernel's 8-wide row update needs it (3x faster measured).  numba re-reads its
  config from the environment at each compilation, so the variable is set only meanwhile.
  """
  key = (name, dtype)  # dtype: a numpy dtype object (hashing it is cheap, np.dtype(...) is not)
  fn = _compiled.get(key)
  if fn is not None:
    return fn
  numba = _import_numba()
  with _lock:
    if key in _compiled:
      return _compiled[key]
    global _build_table_nb
    old = os.environ.get("NUMBA_SLP_VECTORIZE")
    os.environ["NUMBA_SLP_VECTORIZE"] = "1"
    try:
      opts = dict(fastmath=True, boundscheck=False, nogil=True, cache=True)
      if _build_table_nb is None:
        _build_table_nb = numba.njit(**opts, inline="always")(_build_table)
      # values and index read-only in the signature: writable arrays convert to it, and the
      # caller's values (e.g. a JAX buffer) or a plan loaded from a read-only buffer may be so.
      array = numba.types.Array
      values_t = array(numba.float32, 1, "C", readonly=True)
      index_t = array(numba.from_dtype(np.dtype(dtype)), 2, "C", readonly=True)
      i64 = numba.int64
      sig: tuple  # the two kernels take different arguments
      if name == "batch8":
        sig = (values_t, index_t, numba.float32[:, ::1], i64, numba.float32[:, :, ::1])
      else:  # the partial sums, the groups per part and the range of parts [lo, hi)
        sig = (values_t, index_t, numba.float32[::1], i64, numba.float32[:, ::1], i64, i64, i64)
      fn = numba.njit([sig], **opts)(_KERNELS[name])
    finally:
      if old is None:
        del os.environ["NUMBA_SLP_VECTORIZE"]
      else:
        os.environ["NUMBA_SLP_VECTORIZE"] = old
    _compiled[key] = fn
    return fn


def _matvec_numba(values, plan: MailmanPlan, x2: np.ndarray) -> np.ndarray:
  batch = x2.shape[0]
  blocks, rows_padded = plan.index.shape
  xpad = _padded_inputs(plan, x2)
  if batch <= 2:
    # One vector at a time: the word kernel reads 8 (uint8) or 4 (uint16) indices per load.  The
    # blocks, not the rows, are split over the cores: a split by rows would build every table on
    # every core (as many adds as a K = 2 chunk's lookups); by blocks each core builds its own
    # tables into its own partial sums.
    kernel = _kernel("words", plan.index.dtype)
    groups = blocks // GROUP
    part_groups = groups if plan.index.size < MIN_SPLIT_LOOKUPS else -(-groups // MAX_PARTS)
    y = np.empty((batch, rows_padded), np.float32)
    for k in range(batch):
      parts = np.zeros((-(-groups // part_groups), rows_padded), np.float32)
      args = (values, plan.index, xpad[k], plan.block, parts, part_groups)
      row_threads.run(kernel, len(parts), *args, min_chunk=1)
      np.sum(parts, axis=0, out=y[k])
    return y[:, : plan.rows]
  lanes = BATCH_LANES
  batch_padded = -(-batch // lanes) * lanes
  xt = np.zeros((xpad.shape[1], batch_padded), np.float32)
  xt[:, :batch] = xpad.T
  y = np.zeros((batch_padded // lanes, rows_padded, lanes), np.float32)
  _kernel("batch8", plan.index.dtype)(values, plan.index, xt, plan.block, y)
  return y.transpose(0, 2, 1).reshape(batch_padded, rows_padded)[:batch, : plan.rows]


def matvec(values, plan: MailmanPlan, x, use: str | None = None) -> np.ndarray:
  """`y = x @ values[colors].T`, i.e. `y[..., i] = sum_j values[colors[i, j]] x[..., j]`.

  `values (K,)`, `x (cols,)` or `(..., cols)` -> `y (..., rows)`, float32.  `use`: the kernel,
  'numba' or 'numpy' (default: `backend()`).
  """
  values, x2, lead = matvec_operands(values, plan, x)
  use = backend() if use is None else use
  if use not in ("numba", "numpy"):
    raise ValueError(f"use must be 'numba' or 'numpy', got {use!r}")
  if use == "numba" and not _import_numba():
    raise RuntimeError("numba is not available (not installed, or CHROMNAS_NO_NUMBA is set)")
  if x2.shape[0] == 0 or plan.rows == 0:
    return np.zeros((*lead, plan.rows), np.float32)
  y = _matvec_numba(values, plan, x2) if use == "numba" else _matvec_numpy(values, plan, x2)
  return y.reshape(*lead, plan.rows)
