"""Unstructured (dense) weight matrices: every entry is its own trainable value."""
from __future__ import annotations

import jax.numpy as jnp


def num_params(shape: tuple[int, int]) -> int:
  """Trainable values of a dense `(rows, cols)` matrix: `rows * cols`."""
  rows, cols = shape
  return rows * cols


def dense(params: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """Reshapes `params` of length `rows*cols` (row-major) into the `(rows, cols)` matrix."""
  return jnp.reshape(params, shape)


def dense_matvec(params: jnp.ndarray, shape: tuple[int, int], x: jnp.ndarray) -> jnp.ndarray:
  """`x @ W.T` for `x` of shape `(..., cols)`; returns `(..., rows)`."""
  return x @ dense(params, shape).T
