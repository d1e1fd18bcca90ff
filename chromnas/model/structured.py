"""Structured weight matrices in JAX: dense, Toeplitz, circulant, masked and chromatic.

Each family is a pure function from its trainable values (and, for masked and chromatic, its
searched structure) to a `(rows, cols)` matrix, plus a matvec on inputs `(..., cols)`.  How
many values a layer owns and how they map to entries is the family's record
(`chromnas.core.families`); these functions only build what the record describes.  All are
`jax.jit`- and `jax.vmap`-safe; shapes are static Python ints.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from chromnas.core import families


def from_values(
  values: jnp.ndarray, shape: tuple[int, int], value_map: Callable[[tuple[int, int]], np.ndarray] | None = None
) -> jnp.ndarray:
  """`W[i, j] = values[..., value_map(shape)[i, j]]`, or the row-major reshape when `value_map` is None."""
  values = jnp.asarray(values)
  if value_map is None:
    return jnp.reshape(values, (*values.shape[:-1], *shape))
  return values[..., value_map(shape)]


def layer_matrix(
  record: families.Family, values: jnp.ndarray, structure: jnp.ndarray | None, shape: tuple[int, int]
) -> jnp.ndarray:
  """One layer's `(rows, cols)` matrix as its family record says: `values[colors]` for shared
  values, else the dense or mapped values (`from_values`), times the keep mask for masked."""
  if record.shared_values:
    assert structure is not None, "shared values are indexed by the structure"
    return chromatic(values, structure)
  w = from_values(values, shape, record.value_map)
  if not record.masks:
    return w
  assert structure is not None, "a masked layer's structure is its keep mask"
  return masked(w, structure)


def _checked(family: str, values: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  values = jnp.asarray(values)
  record = families.FAMILIES[family]
  need = record.layer_values(shape)
  if values.shape[-1] != need:
    raise ValueError(f"{family}: params has length {values.shape[-1]}, shape {shape} needs {record.value_rule}={need}")
  return values


def dense(params: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """The `(rows, cols)` matrix of `params` of length `rows * cols`, row-major."""
  return jnp.reshape(params, shape)


def toeplitz(params: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """Toeplitz `(rows, cols)` matrix from `params` of length `rows + cols - 1`: `W[i, j] = w[j - i]`
  for `j >= i` and `w[cols - 1 + (i - j)]` below the diagonal (the poster's convention)."""
  return from_values(_checked("toeplitz", params, shape), shape, families.toeplitz_indices)


def circulant(params: jnp.ndarray, shape: tuple[int, int]) -> jnp.ndarray:
  """Circulant `(rows, cols)` matrix from `params` of length `p = max(rows, cols)`:
  `W[i, j] = params[(j - i) mod p]`, the top-left corner of the `p x p` circulant."""
  return from_values(_checked("circulant", params, shape), shape, families.circulant_indices)


def masked(values: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """`W = values * mask`, both `(rows, cols)`; `mask` entries are 0 (dropped) or 1 (kept)."""
  return jnp.asarray(values) * jnp.asarray(mask, dtype=jnp.asarray(values).dtype)


def chromatic(values: jnp.ndarray, colors: jnp.ndarray) -> jnp.ndarray:
  """`W = values[colors]`: `values (K,)`, `colors` any int array of indices in `[0, K)`."""
  return jnp.asarray(values)[jnp.asarray(colors)]


def dense_matvec(params: jnp.ndarray, shape: tuple[int, int], x: jnp.ndarray) -> jnp.ndarray:
  """`x @ W.T` for the dense `W`; `x (..., cols)` -> `(..., rows)`."""
  return x @ dense(params, shape).T


def toeplitz_matvec(params: jnp.ndarray, shape: tuple[int, int], x: jnp.ndarray) -> jnp.ndarray:
  """`x @ W.T` for the Toeplitz `W`; `x (..., cols)` -> `(..., rows)`."""
  return x @ toeplitz(params, shape).T


def circulant_matvec(params: jnp.ndarray, shape: tuple[int, int], x: jnp.ndarray) -> jnp.ndarray:
  """`x @ W.T` for the circulant `W`; `x (..., cols)` -> `(..., rows)`."""
  return x @ circulant(params, shape).T


def masked_matvec(values: jnp.ndarray, mask: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """`x @ (values * mask).T`; `x (..., cols)` -> `(..., rows)`."""
  return x @ masked(values, mask).T


def chromatic_matvec(values: jnp.ndarray, colors: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """`x @ chromatic(values, colors).T`: gathers `W`, then one product.  `colors (rows, cols)`,
  `x (..., cols)` -> `(..., rows)`."""
  return x @ chromatic(values, colors).T


def chromatic_matvec_grouped(values: jnp.ndarray, colors: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """Same product as `chromatic_matvec` without building `W`.

  `S[..., i, k] = sum_{j : colors[i, j] = k} x[..., j]` by one-hot reductions of the colors
  (`O(rows * cols * K)` adds, no multiplies by weights), then `y = S @ values`.  Shapes:
  `values (K,)`, `colors (rows, cols)`, `x (..., cols)` -> `(..., rows)`.
  """
  values = jnp.asarray(values)
  one_hot = jax.nn.one_hot(colors, values.shape[0], dtype=x.dtype)  # (rows, cols, K)
  sums = jnp.einsum("...j,ijk->...ik", x, one_hot)  # (..., rows, K)
  return sums @ values.astype(x.dtype)
