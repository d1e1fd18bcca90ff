"""Chromatic weight matrices: a coloring `colors[i, j] in {0..K-1}` and `K` shared values.

`W[i, j] = values[colors[i, j]]`.  Two matvecs are provided:

* `chromatic_matvec`: gather `W` then multiply (one gather of `rows*cols`, one GEMM);
* `chromatic_matvec_grouped`: never materialises `W`; for every row it sums the inputs by
  color (a segment sum giving `S[..., i, k] = sum_{j: colors[i,j]=k} x[..., j]`) and then
  dots with the `K` values: `y[..., i] = sum_k S[..., i, k] * values[k]`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def num_params(num_colors: int) -> int:
  """Trainable values of a chromatic network: `K`, shared by all its matrices."""
  return int(num_colors)


def chromatic(values: jnp.ndarray, colors: jnp.ndarray) -> jnp.ndarray:
  """Returns `values[colors]`: `values` is `(K,)`, `colors` any int array of indices in `[0, K)`."""
  return jnp.asarray(values)[jnp.asarray(colors)]


def chromatic_matvec(values: jnp.ndarray, colors: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """`x @ chromatic(values, colors).T`: `colors` `(rows, cols)`, `x` `(..., cols)` -> `(..., rows)`."""
  return x @ chromatic(values, colors).T


def chromatic_matvec_grouped(values: jnp.ndarray, colors: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """Same product as `chromatic_matvec` without building `W`.

  Computes `S[..., i, k] = sum_{j : colors[i, j] = k} x[..., j]` with one-hot reductions of
  the color (`O(rows * cols * K)` adds, no multiplies by weights) and returns `S @ values`,
  `(..., rows)`.  Shapes: `values (K,)`, `colors (rows, cols)`, `x (..., cols)`.
  """
  values = jnp.asarray(values)
  num_colors = values.shape[0]
  one_hot = jax.nn.one_hot(colors, num_colors, dtype=x.dtype)  # (rows, cols, K)
  sums = jnp.einsum("...j,ijk->...ik", x, one_hot)  # (..., rows, K)
  return sums @ values.astype(x.dtype)
