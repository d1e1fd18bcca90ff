"""Masked weight matrices: a searched 0/1 mask over a dense matrix.

While searching, the trainable vector is the full dense matrix (so that masks sampled for
different perturbations address the same values); only kept edges matter to the policy, and
the footprint counts only the kept edges (each storing its own value).
"""
from __future__ import annotations

import jax.numpy as jnp


def num_params(num_kept: int) -> int:
  """Trainable values a deployed masked matrix stores: the number of kept edges."""
  return int(num_kept)


def masked(values: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """`W = values * mask`, both `(rows, cols)`; `mask` entries are 0 (dropped) or 1 (kept)."""
  return jnp.asarray(values) * jnp.asarray(mask, dtype=jnp.asarray(values).dtype)


def masked_matvec(values: jnp.ndarray, mask: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """`x @ (values * mask).T` for `x` of shape `(..., cols)`; returns `(..., rows)`."""
  return x @ masked(values, mask).T
