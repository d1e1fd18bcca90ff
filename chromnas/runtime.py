"""NumPy-only runtime for exported policies: load a file, act.  No JAX, no flax.

    from chromnas import runtime
    policy = runtime.load_policy("halfcheetah.chromnas")   # path or bytes
    action = policy.act(obs)                               # obs (obs_dim,) or (batch, obs_dim)

The forward pass is `chromnas.policies.apply` on normalised observations:
`h_0 = clip((obs - mean) / std, -clip, clip)`, `h_l = tanh(W_l h_{l-1} + b_l)` (biases on hidden
layers only, tanh on the output too), all in float32.

This module imports only NumPy and the JAX-free modules `chromnas.export` (the file reader) and
`chromnas.numpy_policy` (Toeplitz / circulant index maps).  It also holds the NumPy version of the
mailman matvec for chromatic matrices (the JAX version is `chromnas.structured.mailman`).

Mailman matvec.  For `W[i, j] = values[colors[i, j]]` with `K` colors, cut the columns into
blocks of `b` (about `log_K(rows)`) columns.  In one block a row's colors form one of `K^b`
patterns, encoded `p = sum_j colors[i, j0 + j] * K^j`.  For an input `x`, the table
`T[p] = sum_j values[p_j] * x[j0 + j]` over all `K^b` patterns is built recursively
(`T_{j+1}[c K^j + p] = T_j[p] + values[c] x[j0 + j]`, about `K/(K-1)` adds per entry), and
`y[i] = sum_blocks T_block[pattern(i, block)]`: one lookup per row and block.  Cost
`O(cols/b * (K^b + rows)) = O(rows * cols / log_K rows)` instead of `rows * cols`.  The patterns
depend only on the coloring and are precomputed once (`mailman_prepare`).  The last block may be
ragged: it is padded with color 0 against zero inputs, which adds exactly nothing.  The tables
are built from `deltas = values - values[0]` (so the `c = 0` part of every step is free) and
`values[0] * sum(x)` is added at the end.  In NumPy the lookups (`np.take`) cost a few ns each,
so this reference path is slower than a BLAS product with the materialised matrix.  The fast
version of the same algorithm is `chromnas.fast_matvec` (numba-compiled when numba is installed,
one-byte pattern indices, tables in L1): at 4096x4096 it beats the dense BLAS product (one thread)
about 5x for K = 2 and runs about even with it for K = 17; `Policy` uses it for large chromatic
layers (`matvec='auto'`, the default).  `experiments/bench_inference.py` measures all paths.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from chromnas import export
from chromnas import fast_matvec
from chromnas import numpy_policy

MAX_BLOCK = 16  # caps the unrolled table recursion (and K^b for K = 1, 2)
MAX_TABLE = 1 << 20  # caps K^b, the table size per block


def mailman_block_size(rows: int, cols: int, num_colors: int) -> int:
  """Default block width `b`: the largest `b` with `K^b <= rows` (`b ~ log_K rows`), at least 1,
  at most `cols` and `MAX_BLOCK`, with `K^b <= MAX_TABLE`.  For `K = 1` (a single pattern) `b` is
  `min(cols, MAX_BLOCK)`."""
  if num_colors < 1:
    raise ValueError(f"num_colors must be >= 1, got {num_colors}")
  limit = max(1, min(cols, MAX_BLOCK))
  if num_colors == 1:
    return limit
  b = 1
  while b < limit and num_colors ** (b + 1) <= max(rows, 1) and num_colors ** (b + 1) <= MAX_TABLE:
    b += 1
  return b


def mailman_index_dtype(table_size: int):
  """Smallest unsigned integer dtype holding pattern indices `< table_size`."""
  if table_size <= 1 << 8:
    return np.uint8
  if table_size <= 1 << 16:
    return np.uint16
  return np.uint32


def mailman_pattern_index(colors: np.ndarray, num_colors: int, block: int) -> np.ndarray:
  """`(num_blocks, rows)` pattern index of every row in every block (NumPy, compact dtype)."""
  colors = np.asarray(colors)
  rows, cols = colors.shape
  num_blocks = -(-cols // block)
  padded = np.zeros((rows, num_blocks * block), np.int64)
  padded[:, :cols] = colors
  powers = np.int64(num_colors) ** np.arange(block, dtype=np.int64)
  index = padded.reshape(rows, num_blocks, block) @ powers
  # C order: each block's row of patterns is contiguous, so the lookups of one block stream
  # (`index.T.astype` alone would keep the transposed, strided layout).
  return np.ascontiguousarray(index.T, mailman_index_dtype(num_colors ** block))


@dataclasses.dataclass(frozen=True)
class MailmanPlan:
  """A coloring's precomputed patterns for the NumPy mailman matvec: `index (num_blocks, rows)`
  in the smallest unsigned dtype holding `K^block` values."""

  rows: int
  cols: int
  num_colors: int
  block: int
  index: np.ndarray

  @property
  def num_blocks(self) -> int:
    return self.index.shape[0]

  @property
  def table_size(self) -> int:
    return self.num_colors ** self.block

  @property
  def nbytes(self) -> int:
    """Bytes of the plan's index array."""
    return int(self.index.nbytes)


def mailman_prepare(colors, num_colors: int, block: int | None = None) -> MailmanPlan:
  """Plans the mailman matvec of a `(rows, cols)` coloring with values in `[0, num_colors)`."""
  colors = np.asarray(colors)
  if colors.ndim != 2:
    raise ValueError(f"colors must be a (rows, cols) matrix, got shape {colors.shape}")
  rows, cols = colors.shape
  if num_colors < 1:
    raise ValueError(f"num_colors must be >= 1, got {num_colors}")
  if colors.size and (colors.min() < 0 or colors.max() >= num_colors):
    raise ValueError(f"colors must lie in [0, {num_colors}), found [{colors.min()}, {colors.max()}]")
  block = mailman_block_size(rows, cols, num_colors) if block is None else int(block)
  if block < 1 or num_colors ** block > np.iinfo(np.int32).max:
    raise ValueError(f"block must be >= 1 with K^block < 2^31, got block={block} for K={num_colors}")
  return MailmanPlan(rows, cols, num_colors, block, mailman_pattern_index(colors, num_colors, block))


def mailman_tables(deltas: np.ndarray, x: np.ndarray, block: int) -> np.ndarray:
  """`(..., num_blocks, K^block)` pattern sums `T[..., blk, p] = sum_j deltas[p_j] x[..., blk*b + j]`,
  built recursively (`T_{j+1}[c K^j + p] = T_j[p] + deltas[c] x[..., blk*b + j]`)."""
  deltas = np.asarray(deltas, np.float32)
  x = np.asarray(x, np.float32)
  batch, cols = x.shape[:-1], x.shape[-1]
  num_blocks = -(-cols // block)
  pad = num_blocks * block - cols
  if pad:
    x = np.concatenate([x, np.zeros((*batch, pad), np.float32)], axis=-1)
  xb = x.reshape(*batch, num_blocks, block)
  table = deltas * xb[..., 0, None]  # (..., nb, K)
  for j in range(1, block):
    step = deltas[:, None] * xb[..., j, None, None]  # (..., nb, K, 1)
    table = (table[..., None, :] + step).reshape(*batch, num_blocks, -1)
  return table


_LOOKUP_CHUNK = 1 << 17  # lookups per np.take call (keeps the intp index chunk in cache)


def mailman_matvec(values, plan: MailmanPlan, x) -> np.ndarray:
  """`x @ values[colors].T` by the mailman algorithm; `x (cols,)` or `(..., cols)` -> `(..., rows)`.

  With `deltas = values - values[0]` (so color 0 costs nothing in the tables),
  `y = values[0] * sum(x) + sum_blk T_blk[pattern(i, blk)]`.
  """
  x = np.asarray(x, np.float32)
  if x.shape[-1] != plan.cols:
    raise ValueError(f"x has trailing size {x.shape[-1]}, the matrix has {plan.cols} columns")
  values = np.asarray(values, np.float32)
  if values.shape != (plan.num_colors,):
    raise ValueError(f"values must have shape ({plan.num_colors},), got {values.shape}")
  batch = x.shape[:-1]
  table = mailman_tables(values - values[0], x, plan.block)
  flat = table.reshape(*batch, -1)
  y = np.zeros((*batch, plan.rows), np.float32)
  step = max(1, _LOOKUP_CHUNK // max(plan.rows, 1))
  for start in range(0, plan.num_blocks, step):
    stop = min(plan.num_blocks, start + step)
    index = plan.index[start:stop].astype(np.intp)
    index += (np.arange(start, stop, dtype=np.intp) * plan.table_size)[:, None]
    y += np.take(flat, index, axis=-1).sum(axis=-2)
  y += values[0] * x.sum(axis=-1, keepdims=True)
  return y


MATVECS = ("auto", "dense", "mailman")

# `matvec='auto'`: smallest `rows * cols` at which a chromatic layer runs through the
# `fast_matvec` kernel instead of a dense BLAS product, by the kernel's block width `b`.
# Measured on the 2-core development machine (`experiments/bench_inference.py`, square layers,
# one vector, one BLAS thread): a dense GEMV reads its float32 matrix from the last-level cache
# at ~80 GB/s while the matrix fits there (<= ~8-16 MiB: 1448^2 and below), and from DRAM at
# ~25 GB/s beyond, whereas the kernel costs ~0.3 ns per lookup, `rows * cols / b` lookups.
# Crossovers: b = 8 (K = 2) between 724^2 (0.9x) and 1024^2 (1.2x); b = 4..5 (K = 3, 4) between
# 1448^2 (0.7-0.8x) and 2048^2 (1.7-1.9x); b = 2..3 (K = 5..64) between 2048^2 (0.5-1.1x) and
# 2896^2 (0.9-2.5x; K = 17 is the slowest, ~1.0-1.3x at 4096^2).  b = 1 (K > 64) never wins.
# Policy-sized layers (41x17) stay dense: there a BLAS call costs ~1 us, the kernel's fixed
# overhead alone ~5 us.  The decision is made at load time for single observations; a batch of
# 8 favours the kernel further (OpenBLAS's small-batch GEMM is slow: 4096^2 K = 17 0.27x), a
# batch of 64 with K = 17 favours dense (1.4x): serve large batches with `matvec='dense'`.
AUTO_MIN_ELEMENTS = ((8, 1 << 20), (4, 1 << 22), (2, 1 << 23))  # (smallest b, smallest rows*cols)


def auto_uses_kernel(rows: int, cols: int, num_colors: int) -> bool:
  """Whether `matvec='auto'` runs a `(rows, cols)` layer with `num_colors` colors through the
  compiled `fast_matvec` kernel (numba available and the layer above `AUTO_MIN_ELEMENTS`)."""
  if fast_matvec.backend() != "numba":
    return False  # the NumPy fallback never beats BLAS
  block = fast_matvec.block_size(num_colors, cols)
  for min_block, min_elements in AUTO_MIN_ELEMENTS:
    if block >= min_block:
      return rows * cols >= min_elements
  return False


class Policy:
  """A loaded policy.  `act(obs)` maps `(obs_dim,)` or `(batch, obs_dim)` observations to
  actions in `[-1, 1]`, float32.

  `matvec` picks how each layer's product `h W^T` runs:

  * 'auto' (default): per layer, the fastest measured path: dense BLAS for every layer except
    large chromatic ones (`auto_uses_kernel`, thresholds in `AUTO_MIN_ELEMENTS`), which keep only
    their pattern indices and run the compiled `fast_matvec` kernel.  Without numba: all dense.
  * 'dense': every weight matrix materialised once at load time, one BLAS product per layer.
  * 'mailman': chromatic policies only; every layer keeps its `fast_matvec` plan plus the K
    shared values (least memory), compiled kernel if numba is installed, else the NumPy fallback.

  `layer_paths` says what runs per layer: 'dense', 'numba' or 'numpy'.
  """

  def __init__(self, exported: export.ExportedPolicy, matvec: str = "auto"):
    if matvec not in MATVECS:
      raise ValueError(f"matvec must be one of {MATVECS}, got {matvec!r}")
    if matvec == "mailman" and exported.family != "chromatic":
      raise ValueError(f"the mailman matvec is for chromatic policies, this one is {exported.family}")
    self.exported = exported
    self.matvec = matvec
    self.family = exported.family
    self.obs_dim, self.act_dim, self.hidden = exported.obs_dim, exported.act_dim, exported.hidden
    self.env = exported.env
    self.obs_clip = np.float32(exported.obs_clip)
    self.obs_mean, self.obs_std = exported.obs_mean, exported.obs_std
    sizes = (self.obs_dim, *self.hidden, self.act_dim)
    mats, self._biases = numpy_policy.weight_matrices(self.family, sizes, exported.num_colors, exported.params(),
                                                      exported.structure)
    self._values = None if exported.values is None else np.asarray(exported.values, np.float32)
    # Per layer: a dense (out, in) float32 matrix, or a fast_matvec plan.
    self._layers: list = []
    paths, edge = [], 0
    for layer, (rows, cols) in enumerate(exported.layer_shapes):
      chromatic = exported.family == "chromatic"
      if chromatic and (matvec == "mailman"
                        or (matvec == "auto" and auto_uses_kernel(rows, cols, exported.num_colors))):
        colors = exported.structure[edge:edge + rows * cols].reshape(rows, cols)
        self._layers.append(fast_matvec.prepare(colors, exported.num_colors))
        paths.append(fast_matvec.backend())
      else:
        self._layers.append(np.ascontiguousarray(mats[layer], np.float32))
        paths.append("dense")
      edge += rows * cols
    self.layer_paths = tuple(paths)
    del mats
    if "numba" in paths:  # compile (or load from numba's disk cache) now, not on the first act
      self.act(np.zeros(self.obs_dim, np.float32))

  @property
  def num_colors(self) -> int:
    return self.exported.num_colors

  def weight_matrices(self) -> list[np.ndarray]:
    """Every layer's `(out, in)` float32 weight matrix."""
    if all(isinstance(layer, np.ndarray) for layer in self._layers):
      return list(self._layers)
    sizes = (self.obs_dim, *self.hidden, self.act_dim)
    return numpy_policy.weight_matrices(self.family, sizes, self.num_colors, self.exported.params(),
                                        self.exported.structure)[0]

  def normalize(self, obs) -> np.ndarray:
    """`clip((obs - mean) / std, -clip, clip)` in float32."""
    return numpy_policy.normalize(obs, self.obs_mean, self.obs_std, self.obs_clip)

  def act(self, obs) -> np.ndarray:
    """Actions for `obs (obs_dim,)` or `(batch, obs_dim)` (any leading dims), float32:
    `h_l = tanh(h_{l-1} W_l^T + b_l)` from the normalised observations."""
    obs = np.asarray(obs, np.float32)
    if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
      raise ValueError(f"obs must have shape (obs_dim,) or (batch, obs_dim) with obs_dim={self.obs_dim}, "
                       f"got {obs.shape}")
    h = self.normalize(obs)
    for layer, weights in enumerate(self._layers):
      if isinstance(weights, np.ndarray):
        h = h @ weights.T
      else:
        h = fast_matvec.matvec(self._values, weights, h)
      if layer < len(self._biases):
        h = h + self._biases[layer]
      h = np.tanh(h, dtype=np.float32)
    return h

  __call__ = act

  def __repr__(self) -> str:
    arch = ",".join(f"H{h}" for h in self.hidden) if self.hidden else "L"
    extra = f", K={self.num_colors}" if self.family == "chromatic" else (
        f", kept={self.exported.num_values}" if self.family == "masked" else "")
    return (f"Policy({self.family} {arch}, obs_dim={self.obs_dim}, act_dim={self.act_dim}{extra}, "
            f"env={self.env!r}, matvec={self.matvec!r}, layers={'/'.join(self.layer_paths)})")


def load_policy(path_or_bytes, matvec: str = "auto") -> Policy:
  """Loads a policy file written by `chromnas.export` (a path or its bytes); raises
  `ValueError` on truncated, corrupted or unknown data.  `matvec`: see `Policy`."""
  return Policy(export.read_policy(path_or_bytes), matvec=matvec)
