"""NumPy-only runtime for exported policies: load a file, act.  No JAX, no flax.

    from chromnas.core import runtime
    policy = runtime.load_policy("halfcheetah.chromnas")   # path or bytes
    action = policy.act(obs)                               # obs (obs_dim,) or (batch, obs_dim)

The forward pass is `chromnas.model.policies.apply` on normalised observations:
`h_0 = clip((obs - mean) / std, -clip, clip)`, `h_l = tanh(W_l h_{l-1} + b_l)` (biases on hidden
layers only, tanh on the output too), all in float32.

This module imports only NumPy and the JAX-free modules `chromnas.core.policy_file` (the file reader),
`chromnas.core.families` (the weight matrices, and what each family is: only families with shared
values can run a chromatic kernel), `chromnas.core.forward`, and the two chromatic matvecs that
never build the dense matrix: `chromnas.core.mailman` (lookup tables; numba-compiled when numba is
installed, NumPy otherwise) and `chromnas.core.permute` (the K values in AVX-512 registers; numba
and an AVX-512 CPU).  `Policy` runs large chromatic layers through the faster of them
(`matvec='auto'`, the default): at 4096x4096, one vector, one thread, about 3x faster than the
dense BLAS product for K = 3..32 (permute) and 5-6x for K = 2 (mailman).
`experiments/bench_inference.py` measures every path.
"""
from __future__ import annotations

import numpy as np

from chromnas.core import families
from chromnas.core import forward
from chromnas.core import mailman
from chromnas.core import permute
from chromnas.core import policy_file

MATVECS = ("auto", "dense", "mailman", "permute")

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
# 0.3-0.4x at 2896^2 and 4096^2 (same machine and sweep).  It is preferred over the mailman kernel
# wherever the mailman block is below `PERMUTE_BELOW_BLOCK` (K >= 3: for K = 2, b = 8 makes the
# mailman kernel faster still, 0.17x against 0.35x at 4096^2).
PERMUTE_MIN_ELEMENTS = 1 << 22
PERMUTE_BELOW_BLOCK = 8


def auto_path(rows: int, cols: int, num_colors: int, batch: int = 1) -> str:
  """The fastest measured matvec for a `(rows, cols)` chromatic layer with `num_colors` colors and
  `batch` inputs per product ('auto' decides with `batch=1`): 'permute' (AVX-512 CPU, K <= 32,
  at least `PERMUTE_MIN_ELEMENTS` weights, mailman block below `PERMUTE_BELOW_BLOCK`, batch <= 2:
  permute re-reads the matrix per input, the mailman kernel's batched form shares each lookup
  among 8), 'mailman' (numba, above `AUTO_MIN_ELEMENTS`), or 'dense'."""
  block = mailman.block_size(num_colors, cols)
  if (batch <= 2 and permute.available() and num_colors <= permute.MAX_COLORS
      and rows * cols >= PERMUTE_MIN_ELEMENTS and block < PERMUTE_BELOW_BLOCK):
    return "permute"
  if mailman.backend() != "numba":
    return "dense"  # the NumPy fallback never beats BLAS
  for min_block, min_elements in AUTO_MIN_ELEMENTS:
    if block >= min_block:
      return "mailman" if rows * cols >= min_elements else "dense"
  return "dense"


def auto_uses_kernel(rows: int, cols: int, num_colors: int) -> bool:
  """Whether `matvec='auto'` runs a `(rows, cols)` layer without its dense matrix (`auto_path`)."""
  return auto_path(rows, cols, num_colors) != "dense"


class Policy:
  """A loaded policy.  `act(obs)` maps `(obs_dim,)` or `(batch, obs_dim)` observations to
  actions in `[-1, 1]`, float32.

  `matvec` picks how each layer's product `h W^T` runs:

  * 'auto' (default): per layer, the fastest measured path (`auto_path`): dense BLAS for every
    layer except large chromatic ones, which keep only their colors and run `core.permute` or
    the compiled `core.mailman` kernel.  Without numba: all dense.  Chosen for one observation
    at a time; for batches of 3 or more the mailman kernel's batched form is faster than
    permute: serve batches with `matvec='mailman'` (or 'dense' for 64 and more at K >= 8).
  * 'dense': every weight matrix materialised once at load time, one BLAS product per layer.
  * 'mailman': chromatic policies only; every layer keeps its `core.mailman` plan plus the K
    shared values (least memory), compiled kernel if numba is installed, else the NumPy fallback.
  * 'permute': chromatic policies with K <= 32 on an AVX-512 CPU with numba; every layer runs
    `core.permute`.

  `layer_paths` says what runs per layer: 'dense', 'permute', or the mailman kernel's engine,
  'numba' or 'numpy'.
  """

  def __init__(self, exported: policy_file.ExportedPolicy, matvec: str = "auto"):
    if matvec not in MATVECS:
      raise ValueError(f"matvec must be one of {MATVECS}, got {matvec!r}")
    shared = exported.record.shared_values  # the mailman kernel needs one set of shared values
    if matvec in ("mailman", "permute") and not shared:
      raise ValueError(f"the {matvec} matvec is for chromatic policies (shared values), this one is "
                       f"{exported.family}")
    if matvec == "permute" and not (permute.available() and exported.num_colors <= permute.MAX_COLORS):
      raise ValueError(f"the permute matvec needs numba, an AVX-512 CPU and K <= {permute.MAX_COLORS} "
                       f"(K={exported.num_colors}, available: {permute.available()})")
    self.exported = exported
    self.matvec = matvec
    self.family = exported.family
    self.obs_dim, self.act_dim, self.hidden = exported.obs_dim, exported.act_dim, exported.hidden
    self.env = exported.env
    self.obs_clip = np.float32(exported.obs_clip)
    self.obs_mean, self.obs_std = exported.obs_mean, exported.obs_std
    mats, self._biases = families.weight_matrices(self.family, exported.spec.layer_sizes, exported.num_colors,
                                                  exported.params(), exported.structure)
    self._values = None if exported.values is None else np.asarray(exported.values, np.float32)
    # Per layer: a dense (out, in) float32 matrix, a `core.mailman` plan or a `core.permute` plan.
    self._layers: list = []
    paths, edge = [], 0
    for layer, (rows, cols) in enumerate(exported.layer_shapes):
      path = (matvec if matvec != "auto" else auto_path(rows, cols, exported.num_colors)) if shared else "dense"
      colors = exported.structure[edge:edge + rows * cols].reshape(rows, cols) if path != "dense" else None
      if path == "permute":
        self._layers.append(permute.prepare(colors, exported.num_colors))
        paths.append("permute")
      elif path == "mailman":
        self._layers.append(mailman.prepare(colors, exported.num_colors))
        paths.append(mailman.backend())
      else:
        self._layers.append(np.ascontiguousarray(mats[layer], np.float32))
        paths.append("dense")
      edge += rows * cols
    self.layer_paths = tuple(paths)
    del mats
    if set(paths) & {"numba", "permute"}:  # compile (or load from numba's disk cache) now, not on the first act
      self.act(np.zeros(self.obs_dim, np.float32))

  @property
  def num_colors(self) -> int:
    return self.exported.num_colors

  def weight_matrices(self) -> list[np.ndarray]:
    """Every layer's `(out, in)` float32 weight matrix."""
    if all(isinstance(layer, np.ndarray) for layer in self._layers):
      return list(self._layers)
    return families.weight_matrices(self.family, self.exported.spec.layer_sizes, self.num_colors,
                                    self.exported.params(), self.exported.structure)[0]

  def normalize(self, obs) -> np.ndarray:
    """`clip((obs - mean) / std, -clip, clip)` in float32."""
    return forward.normalize(obs, self.obs_mean, self.obs_std, self.obs_clip)

  def act(self, obs) -> np.ndarray:
    """Actions for `obs (obs_dim,)` or `(batch, obs_dim)` (any leading dims), float32:
    `h_l = tanh(h_{l-1} W_l^T + b_l)` from the normalised observations."""
    obs = np.asarray(obs, np.float32)
    if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
      raise ValueError(f"obs must have shape (obs_dim,) or (batch, obs_dim) with obs_dim={self.obs_dim}, "
                       f"got {obs.shape}")
    if not np.isfinite(obs).all():
      # Clipping would silently turn a NaN sensor reading into NaN actions for the robot.
      raise ValueError("obs contains NaN or inf (a failed sensor?); refusing to act on it")
    h = self.normalize(obs)
    for layer, weights in enumerate(self._layers):
      if isinstance(weights, np.ndarray):
        h = h @ weights.T
      elif isinstance(weights, permute.PermutePlan):
        h = permute.matvec(self._values, weights, h)
      else:
        h = mailman.matvec(self._values, weights, h)
      if layer < len(self._biases):
        h = h + self._biases[layer]
      h = np.tanh(h, dtype=np.float32)
    return h

  __call__ = act

  def __repr__(self) -> str:
    arch = ",".join(f"H{h}" for h in self.hidden) if self.hidden else "L"
    extra = f", {self.exported.values_label}" if self.exported.values_label else ""
    return (f"Policy({self.family} {arch}, obs_dim={self.obs_dim}, act_dim={self.act_dim}{extra}, "
            f"env={self.env!r}, matvec={self.matvec!r}, layers={'/'.join(self.layer_paths)})")


def load_policy(path_or_bytes, matvec: str = "auto") -> Policy:
  """Loads a policy file written by `chromnas.core.policy_file` (a path or its bytes); raises
  `ValueError` on truncated, corrupted or unknown data.  `matvec`: see `Policy`."""
  return Policy(policy_file.read_policy(path_or_bytes), matvec=matvec)
