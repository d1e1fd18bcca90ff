"""Toeplitz weight matrices: constant along every diagonal.

Convention (the poster's): `params = (w_0 .. w_{rows+cols-2})`; the first row is
`w_0 .. w_{cols-1}` and the first column below the diagonal continues with
`w_cols, w_{cols+1}, ...`, so `W[i, j] = w[j - i]` for `j >= i` and
`W[i, j] = w[cols - 1 + (i - j)]` for `i > j`.  `W[i, j]` depends only on `i - j`.
"""
from __future__ import annotations

import jax.numpy as jnp

from chromnas.numpy_policy import toeplitz_indices


def num_params(shape: tuple[int, int]) -> int:
  """Trainable values of a Toeplitz `(rows, cols)` matrix: `rows + cols - 1`."""
  rows, cols = shape
  return rows + cols - 1


def toeplitz(params: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """Builds the `(rows, cols)` Toeplitz matrix from `params` of length `rows+cols-1`."""
  params = jnp.asarray(params)
  expected = num_params(shape)
  if params.shape[-1] != expected:
    raise ValueError(f"toeplitz: params has length {params.shape[-1]}, shape {shape} needs rows+cols-1={expected}")
  return params[..., toeplitz_indices(shape)]


def toeplitz_matvec(params: jnp.ndarray, shape: tuple[int, int], x: jnp.ndarray) -> jnp.ndarray:
  """`x @ W.T` for the Toeplitz `W`; `x` is `(..., cols)`, the result `(..., rows)`."""
  return x @ toeplitz(params, shape).T
