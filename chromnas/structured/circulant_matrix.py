"""Circulant weight matrices cut to shape.

With `p = max(rows, cols)` and `params` of length `p`, `W[i, j] = params[(j - i) mod p]`:
each row is the previous one shifted cyclically by one to the right, and the
`(rows, cols)` matrix is the top-left corner of the `p x p` circulant.
"""
from __future__ import annotations

import jax.numpy as jnp

from chromnas.numpy_policy import circulant_indices


def num_params(shape: tuple[int, int]) -> int:
  """Trainable values of a circulant `(rows, cols)` matrix: `max(rows, cols)`."""
  return max(shape)


def circulant(params: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """Builds the `(rows, cols)` circulant matrix from `params` of length `max(rows, cols)`."""
  params = jnp.asarray(params)
  if params.shape[-1] != num_params(shape):
    raise ValueError(f"circulant: params has length {params.shape[-1]}, shape {shape} needs max(rows, cols)={max(shape)}")
  return params[..., circulant_indices(shape)]


def circulant_matvec(params: jnp.ndarray, shape: tuple[int, int], x: jnp.ndarray) -> jnp.ndarray:
  """`x @ W.T` for the circulant `W`; `x` is `(..., cols)`, the result `(..., rows)`."""
  return x @ circulant(params, shape).T
