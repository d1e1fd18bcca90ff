"""NumPy-only runtime for exported policies: load a file, act.  No JAX, no flax.

    from chromnas.core import runtime
    policy = runtime.load_policy("halfcheetah.chromnas")   # path or bytes
    action = policy.act(obs)                               # obs (obs_dim,) or (batch, obs_dim)

The forward pass is `chromnas.model.policies.apply` on normalised observations:
`h_0 = clip((obs - mean) / std, -clip, clip)`, `h_l = tanh(W_l h_{l-1} + b_l)` (biases on hidden
layers only, tanh on the output too), all in float32: `chromnas.core.forward.apply_layers`, with
each layer's product run by the path chosen for it.

This module imports only NumPy and the JAX-free modules `chromnas.core.policy_file` (the file reader),
`chromnas.core.families` (the weight matrices, and what each family is: only families with shared
values can run a chromatic kernel), `chromnas.core.forward`, and the three chromatic matvecs that
never build the dense matrix: `chromnas.core.mailman` (lookup tables; numba-compiled when numba is
installed, NumPy otherwise), `chromnas.core.permute_avx2` (the K <= 32 values in AVX2 registers,
bit-packed colors; numba and any AVX2 + FMA CPU) and `chromnas.core.permute` (the values in AVX-512
registers, one byte per color; numba and an AVX-512 CPU).  `Policy` runs large chromatic layers
through the fastest of them for the CPU and the batch size (`matvec='auto'`, the default; see
`auto_path` for the rules and the figures behind them).
`experiments/bench_inference.py` measures every path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chromnas.core import families, forward, mailman, permute, permute_avx2, policy_file

MATVECS = ("auto", "dense", "ordered", "mailman", "permute", "avx2")

# `matvec='auto'`: smallest `rows * cols` at which a chromatic layer runs through the
# `core.mailman` kernel instead of a dense BLAS product, by the kernel's block width `b`.
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
# The `core.permute` kernel (AVX-512 CPUs, K <= 32) reads one byte per weight and costs about the
# same per weight at every K: even with a cached dense GEMV up to 1448^2, 0.5x its time at 2048^2,
# 0.3-0.4x at 2896^2 and 4096^2 (same machine and sweep).
PERMUTE_MIN_ELEMENTS = 1 << 22
# The `core.permute_avx2` kernel (every AVX2 + FMA CPU, K <= 32, all cores): smallest
# `rows * cols` from which it beats a dense GEMV, by `color_bits(K)` (same machine, compiled
# without AVX-512, one thread against one BLAS thread, fastest repeats: at 4096^2 about 0.2x for
# K <= 8, 0.3x for K = 9..16, 0.45-0.55x for K = 17..32; at 2048^2, where the 16 MiB dense matrix
# still sits in the 32 MiB last-level cache, 0.4-0.5x for K <= 8, about even for K > 16; at
# 1024^2 about even for K <= 8).  On AVX-512 CPUs it also replaces `core.permute` up to
# `AVX2_ON_AVX512_MAX_COLORS` colors (1-3 bits per color read less memory than permute's byte).
AVX2_MIN_ELEMENTS = ((3, 1 << 21), (4, 1 << 22), (5, 1 << 23))  # (largest bits, smallest rows*cols)
AVX2_ON_AVX512_MAX_COLORS = 8
# Batches of `BATCH_MIN` inputs and more: the mailman batch kernel (one table lookup serves 8
# inputs) up to `BATCH_MAILMAN_MAX_COLORS` (tables of K^b <= 289 entries), else the AVX2 kernel's
# batched form (each decoded weight vector serves 8 inputs, all cores).  Batch 8 at 4096^2, one
# core each, fastest repeats: mailman 0.03x (K=2) to 0.16-0.21x (K=9..17) of one-thread dense;
# AVX2 0.5-0.6x for K=17..24 (mailman 0.98x at K=24, 576-entry tables), 0.7x at K=32 (mailman 0.9x).
BATCH_MIN = 3
BATCH_MAILMAN_MAX_COLORS = 17


def cpu_kind() -> str:
  """Which register-table kernels this CPU runs: 'avx512' (`core.permute` and `core.permute_avx2`),
  'avx2' (`core.permute_avx2`; also an AVX-512 CPU with `CHROMNAS_NO_AVX512=1`), or 'none'
  (no numba, or neither instruction set)."""
  if permute.available():
    return "avx512"
  return "avx2" if permute_avx2.available() else "none"


def _mailman_path(rows: int, cols: int, block: int) -> str:
  if mailman.backend() != "numba":
    return "dense"  # the NumPy fallback never beats BLAS
  for min_block, min_elements in AUTO_MIN_ELEMENTS:
    if block >= min_block:
      return "mailman" if rows * cols >= min_elements else "dense"
  return "dense"


def auto_path(rows: int, cols: int, num_colors: int, batch: int = 1, cpu: str | None = None) -> str:
  """The fastest measured matvec for a `(rows, cols)` chromatic layer with `num_colors` colors and
  `batch` inputs per product, on a CPU of kind `cpu` (default `cpu_kind()`):

  * batch <= 2, K <= 32, large enough (`AVX2_MIN_ELEMENTS`, `PERMUTE_MIN_ELEMENTS`): 'avx2'
    on AVX2 CPUs; on AVX-512 CPUs 'avx2' for K <= `AVX2_ON_AVX512_MAX_COLORS`, else 'permute';
  * batch >= `BATCH_MIN`: 'mailman' (its batch kernel) for K <= 17, 'avx2' for K = 18..32;
  * otherwise 'mailman' (numba, above `AUTO_MIN_ELEMENTS`) or 'dense' (policy-sized layers,
    K > 64, no numba)."""
  cpu = cpu_kind() if cpu is None else cpu
  if cpu not in ("avx512", "avx2", "none"):
    raise ValueError(f"cpu must be 'avx512', 'avx2' or 'none', got {cpu!r}")
  block = mailman.block_size(num_colors, cols)
  mailman_path = _mailman_path(rows, cols, block)
  if cpu == "none" or num_colors > permute_avx2.MAX_COLORS:
    return mailman_path
  bits = permute_avx2.color_bits(num_colors)
  avx2_min = next(elements for top, elements in AVX2_MIN_ELEMENTS if bits <= top)
  if batch >= BATCH_MIN:
    if num_colors <= BATCH_MAILMAN_MAX_COLORS:
      return mailman_path
    return "avx2" if rows * cols >= avx2_min else mailman_path
  if cpu == "avx512" and num_colors > AVX2_ON_AVX512_MAX_COLORS:
    return "permute" if rows * cols >= PERMUTE_MIN_ELEMENTS else mailman_path
  return "avx2" if rows * cols >= avx2_min else mailman_path


def auto_uses_kernel(rows: int, cols: int, num_colors: int) -> bool:
  """Whether `matvec='auto'` runs a `(rows, cols)` layer without its dense matrix (`auto_path`)."""
  return auto_path(rows, cols, num_colors) != "dense"


class Policy:
  """A loaded policy.  `act(obs)` maps `(obs_dim,)` or `(batch, obs_dim)` observations to
  actions in `[-1, 1]`, float32.

  `matvec` picks how each layer's product `h W^T` runs:

  * 'auto' (default): per layer and per batch size, the fastest measured path (`auto_path`, on
    this CPU's kind `cpu_kind()`): dense BLAS for every layer except large chromatic ones, which
    keep only their colors and run `core.permute_avx2` (AVX2), `core.permute` (AVX-512) or the
    compiled `core.mailman` kernel (its batched form for batches of 3 and more).  Without numba:
    all dense.
  * 'dense': every weight matrix materialised once at load time, one BLAS product per layer.
  * 'ordered': the dense matrices, multiplied in a fixed order (`forward.ordered_product`), so
    that the actions have the same bits on every CPU; what `chromnas.deploy` judges policies with.
  * 'mailman': chromatic policies only; every layer keeps its `core.mailman` plan plus the K
    shared values (least memory), compiled kernel if numba is installed, else the NumPy fallback.
  * 'permute': chromatic policies with K <= 32 on an AVX-512 CPU with numba; every layer runs
    `core.permute`.
  * 'avx2': chromatic policies with K <= 32 on a CPU with AVX2 and FMA (AVX-512 CPUs included:
    this forces the AVX2 kernel there) and numba; every layer runs `core.permute_avx2`.

  `layer_paths` says what runs per layer for one observation: 'dense', 'ordered', 'permute', 'avx2', or the
  mailman kernel's engine, 'numba' or 'numpy'; `paths_for(batch)` for a batch of that size.
  """

  def __init__(self, exported: policy_file.ExportedPolicy, matvec: str = "auto"):
    if matvec not in MATVECS:
      raise ValueError(f"matvec must be one of {MATVECS}, got {matvec!r}")
    shared = exported.record.shared_values  # the mailman kernel needs one set of shared values
    if matvec in ("mailman", "permute", "avx2") and not shared:
      raise ValueError(f"the {matvec} matvec is for chromatic policies (shared values), this one is {exported.family}")
    if matvec == "permute" and not (permute.available() and exported.num_colors <= permute.MAX_COLORS):
      raise ValueError(
        f"the permute matvec needs numba, an AVX-512 CPU and K <= {permute.MAX_COLORS} "
        f"(K={exported.num_colors}, available: {permute.available()})"
      )
    if matvec == "avx2" and not (permute_avx2.available() and exported.num_colors <= permute_avx2.MAX_COLORS):
      raise ValueError(
        f"the avx2 matvec needs numba, a CPU with AVX2 and FMA and K <= {permute_avx2.MAX_COLORS} "
        f"(K={exported.num_colors}, available: {permute_avx2.available()})"
      )
    self.exported = exported
    self.matvec = matvec
    self.family = exported.family
    self.obs_dim, self.act_dim, self.hidden = exported.obs_dim, exported.act_dim, exported.hidden
    self.env = exported.env
    self.obs_clip = np.float32(exported.obs_clip)
    self.obs_mean, self.obs_std = exported.obs_mean, exported.obs_std
    self._shared = shared
    self._cpu = cpu_kind()
    mats, self._biases = families.weight_matrices(
      self.family, exported.spec.layer_sizes, exported.num_colors, exported.params(), exported.structure
    )
    self._values = None if exported.values is None else np.asarray(exported.values, np.float32)
    # Per layer: its path -> prepared operand (a dense (out, in) float32 matrix, or a kernel's
    # plan), filled at load for one observation and on first use for other batch sizes.
    self._plans: list[dict] = [{} for _ in exported.layer_shapes]
    self._products: dict[tuple[int, str], Callable[[np.ndarray], np.ndarray]] = {}  # (layer, path) -> `h -> h W^T`
    self.layer_paths = self.paths_for(1)
    for layer, path in enumerate(self.layer_paths):
      if path in ("dense", "ordered"):
        self._plans[layer]["dense"] = np.ascontiguousarray(mats[layer], np.float32)
      else:
        self._operand(layer, path)
    del mats  # large chromatic layers keep only their colors
    if set(self.layer_paths) & {"numba", "permute", "avx2"}:  # compile (or load from numba's disk cache) now
      self.act(np.zeros(self.obs_dim, np.float32))

  def _path(self, layer: int, batch: int) -> str:
    rows, cols = self.exported.layer_shapes[layer]
    if self.matvec == "ordered":
      return "ordered"
    if not self._shared:
      return "dense"
    if self.matvec == "auto":
      return auto_path(rows, cols, self.exported.num_colors, batch, cpu=self._cpu)
    return self.matvec

  def paths_for(self, batch: int) -> tuple[str, ...]:
    """What runs per layer for `batch` inputs per call: 'dense', 'ordered', 'permute', 'avx2', 'numba' or 'numpy'."""
    names = {"mailman": mailman.backend()}
    return tuple(names.get(p, p) for p in (self._path(layer, batch) for layer in range(len(self._plans))))

  def _operand(self, layer: int, path: str):
    path = "mailman" if path in ("numba", "numpy") else path
    if path == "ordered":  # the dense matrix, multiplied in a fixed order
      return path, self._operand(layer, "dense")[1]
    plans = self._plans[layer]
    if path not in plans:
      rows, cols = self.exported.layer_shapes[layer]
      edge = sum(r * c for r, c in self.exported.layer_shapes[:layer])
      if path == "dense":  # a batch size that runs this layer dense where one observation does not
        plans[path] = np.ascontiguousarray(self.weight_matrices()[layer], np.float32)
      else:
        colors = self.exported.structure[edge : edge + rows * cols].reshape(rows, cols)
        preparers: dict[str, Callable[[np.ndarray, int], Any]] = {
          "permute": permute.prepare,
          "avx2": permute_avx2.prepare,
          "mailman": mailman.prepare,
        }
        prepare = preparers[path]
        plans[path] = prepare(colors, self.exported.num_colors)
    return path, plans[path]

  @property
  def num_colors(self) -> int:
    return self.exported.num_colors

  def weight_matrices(self) -> list[np.ndarray]:
    """Every layer's `(out, in)` float32 weight matrix."""
    if all("dense" in plans for plans in self._plans):
      return [plans["dense"] for plans in self._plans]
    return families.weight_matrices(
      self.family, self.exported.spec.layer_sizes, self.num_colors, self.exported.params(), self.exported.structure
    )[0]

  def normalize(self, obs) -> np.ndarray:
    """`clip((obs - mean) / std, -clip, clip)` in float32."""
    return forward.normalize(obs, self.obs_mean, self.obs_std, self.obs_clip)

  def _product(self, layer: int, batch: int) -> Callable[[np.ndarray], np.ndarray]:
    """Layer `layer`'s product `h -> h W^T` for `batch` inputs per call, on its path's operand."""
    path, operand = self._operand(layer, self._path(layer, batch))
    key = (layer, path)
    if key not in self._products:
      if path == "dense":
        self._products[key] = lambda h: h @ operand.T
      elif path == "ordered":
        self._products[key] = forward.ordered_product(operand)
      else:
        kernels: dict[str, Callable[[Any, Any, np.ndarray], np.ndarray]] = {
          "permute": permute.matvec,
          "avx2": permute_avx2.matvec,
          "mailman": mailman.matvec,
        }
        kernel = kernels[path]
        self._products[key] = lambda h: kernel(self._values, operand, h)
    return self._products[key]

  def act(self, obs) -> np.ndarray:
    """Actions for `obs (obs_dim,)` or `(batch, obs_dim)` (any leading dims), float32:
    `forward.apply_layers` (`h_l = tanh(h_{l-1} W_l^T + b_l)`) from the normalised observations."""
    obs = np.asarray(obs, np.float32)
    if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
      raise ValueError(
        f"obs must have shape (obs_dim,) or (batch, obs_dim) with obs_dim={self.obs_dim}, got {obs.shape}"
      )
    if not np.isfinite(obs).all():
      # Clipping would silently turn a NaN sensor reading into NaN actions for the robot.
      raise ValueError("obs contains NaN or inf (a failed sensor?); refusing to act on it")
    batch = int(np.prod(obs.shape[:-1]))
    products = [self._product(layer, batch) for layer in range(len(self._plans))]
    return forward.apply_layers(self.normalize(obs), products, self._biases)

  __call__ = act

  def __repr__(self) -> str:
    arch = ",".join(f"H{h}" for h in self.hidden) if self.hidden else "L"
    extra = f", {self.exported.values_label}" if self.exported.values_label else ""
    return (
      f"Policy({self.family} {arch}, obs_dim={self.obs_dim}, act_dim={self.act_dim}{extra}, "
      f"env={self.env!r}, matvec={self.matvec!r}, layers={'/'.join(self.layer_paths)})"
    )


def load_policy(path_or_bytes, matvec: str = "auto") -> Policy:
  """Loads a policy file written by `chromnas.core.policy_file` (a path or its bytes); raises
  `ValueError` on truncated, corrupted or unknown data.  `matvec`: see `Policy`."""
  return Policy(policy_file.read_policy(path_or_bytes), matvec=matvec)
