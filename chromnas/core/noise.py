"""Shared Gaussian noise table (Salimans et al. 2017; ARS): perturbations travel as offsets.

Every process builds the same table `N(0, 1)` of `size` float32 from one seed; perturbation
`i` is the slice `table[offset_i : offset_i + dim]`.  Host workers then receive an integer
per perturbation instead of a vector, and the trainer rebuilds the same noise for the
gradient.  This module is NumPy-only (workers import it); drawing offsets and the JAX gather
live in `chromnas.es.noise_offsets`.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SIZE = 1 << 22  # 4M floats, 16 MiB


def make_table(seed: int, size: int = DEFAULT_SIZE) -> np.ndarray:
  """The noise table: `size` float32 draws of `N(0, 1)` from `numpy.random.default_rng(seed)`."""
  return np.random.default_rng(int(seed)).standard_normal(int(size), dtype=np.float32)


def rows_numpy(table: np.ndarray, offsets, dim: int) -> np.ndarray:
  """Noise vectors `g_i = table[o_i : o_i + dim]`: `(len(offsets), dim)`, or `(dim,)` for a scalar offset."""
  offsets = np.asarray(offsets)
  if offsets.ndim == 0:
    return table[int(offsets) : int(offsets) + dim]
  return table[offsets[:, None] + np.arange(dim)[None, :]]
