"""The JAX side of the shared noise table (`chromnas.core.noise`): drawing offsets, gathering rows.

Perturbation `i` is the slice `table[offset_i : offset_i + D]` of the table every process
builds from one seed; `ask` draws the offsets, `tell` and the Brax engine gather the rows here,
host workers gather the same rows with `chromnas.core.noise.rows_numpy`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sample_offsets(key: jax.Array, num: int, dim: int, size: int) -> jax.Array:
  """`num` offsets `o_i ~ Uniform{0, .., size - dim}` (int32, shape `(num,)`), so that every
  slice `[o_i, o_i + dim)` lies inside a table of `size` entries; `ValueError` if `dim > size`."""
  if dim > size:
    raise ValueError(f"noise table of size {size} is smaller than the parameter vector ({dim})")
  return jax.random.randint(key, (num,), 0, size - dim + 1, dtype=jnp.int32)


def rows_jax(table: jax.Array, offsets: jax.Array, dim: int) -> jax.Array:
  """Noise vectors `g_i = table[o_i : o_i + dim]` for `offsets (t,)`: an array `(t, dim)`.

  The JAX twin of `chromnas.core.noise.rows_numpy` (same rows); jit-safe with `dim` static.
  """
  return jax.vmap(lambda o: jax.lax.dynamic_slice(table, (o,), (dim,)))(offsets)
