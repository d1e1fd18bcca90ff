"""Shared Gaussian noise table (Salimans et al. 2017; ARS): perturbations travel as offsets.

Every process builds the same table `N(0, 1)` of `size` float32 from one seed; perturbation
`i` is the slice `table[offset_i : offset_i + dim]`.  Host workers then receive an integer
per perturbation instead of a vector, and the trainer rebuilds the same noise for the
gradient.  This module is NumPy-only (workers import it); `rows_jax` is the JAX gather.
"""
from __future__ import annotations

import numpy as np

DEFAULT_SIZE = 1 << 22  # 4M floats, 16 MiB


def make_table(seed: int, size: int = DEFAULT_SIZE) -> np.ndarray:
  """The noise table: `size` float32 draws of `N(0, 1)` from `numpy.random.default_rng(seed)`."""
  return np.random.default_rng(int(seed)).standard_normal(int(size), dtype=np.float32)


def rows_numpy(table: np.ndarray, offsets, dim: int) -> np.ndarray:
  """Noise vectors `(len(offsets), dim)` (or `(dim,)` for a scalar offset) from the table."""
  offsets = np.asarray(offsets)
  if offsets.ndim == 0:
    return table[int(offsets):int(offsets) + dim]
  return table[offsets[:, None] + np.arange(dim)[None, :]]


def rows_jax(table, offsets, dim: int):
  """JAX version of `rows_numpy` for `offsets (t,)` -> `(t, dim)` (jit-safe; `dim` static)."""
  import jax  # local import keeps this module importable without JAX
  return jax.vmap(lambda o: jax.lax.dynamic_slice(table, (o,), (dim,)))(offsets)


def sample_offsets(key, num: int, dim: int, size: int):
  """`num` uniform offsets in `[0, size - dim]` (int32, JAX) for perturbations of length `dim`."""
  import jax
  import jax.numpy as jnp
  if dim > size:
    raise ValueError(f"noise table of size {size} is smaller than the parameter vector ({dim})")
  return jax.random.randint(key, (num,), 0, size - dim + 1, dtype=jnp.int32)
