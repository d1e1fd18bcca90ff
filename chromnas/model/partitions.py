"""Random partitions (colorings and keep masks) of a network's weights, sampled with JAX.

A coloring assigns every edge `e` of the network a color `c[e] in {0..K-1}`; all edges of a
color share one value.  A keep mask marks which edges a masked network keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from chromnas.core.policy_spec import PolicySpec


def random_coloring(key: jax.Array, num_edges: int, num_colors: int, shape: Sequence[int] = ()) -> jnp.ndarray:
  """Uniform random coloring(s): int32 of shape `(*shape, num_edges)` with values in `[0, K)`."""
  return jax.random.randint(key, (*shape, num_edges), 0, num_colors, dtype=jnp.int32)


def random_structure(spec: PolicySpec, key: jax.Array, shape: Sequence[int] = ()) -> jnp.ndarray:
  """A uniform random structure for `spec`: colors (chromatic), 0/1 keep mask with p=1/2 (masked),
  or an empty `(*shape, 0)` array."""
  if spec.family_record.shared_values:
    return random_coloring(key, spec.num_edges, spec.num_colors, shape)
  if spec.family_record.masks:
    return jax.random.bernoulli(key, 0.5, (*shape, spec.num_edges)).astype(jnp.int32)
  return jnp.zeros((*shape, 0), jnp.int32)
