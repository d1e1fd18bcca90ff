"""Partitions (colorings) of a network's weights and the paper's footprint accounting.

A coloring assigns every edge `e` of the network a color `c[e] in {0..K-1}`; all edges of a
color share one value.  The footprint rules follow the poster's comparison table:

* `weight_params`: the family's trainable values summed over layers (biases not counted);
* `bits = 32 * (weight_params + hidden_biases) + edges * ceil(log2(weight_params))` for the
  chromatic and masked families (each edge stores its color or slot index), and
  `32 * (weight_params + hidden_biases)` for the others;
* `compression = 1 - (weight_params + hidden_biases) / (edges + hidden_biases)`, rounded to
  a whole percent (half up).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from chromnas.policies import PolicySpec
from chromnas.policies import parse_architecture


@dataclasses.dataclass(frozen=True)
class Footprint:
  """Storage of one policy: counts, bits and compression against the dense network."""

  family: str
  weight_params: int
  hidden_biases: int
  edges: int
  bits: int
  compression: float  # fraction in [0, 1]

  @property
  def compression_pct(self) -> int:
    """Compression rounded half-up to a whole percent."""
    return int(math.floor(100.0 * self.compression + 0.5))


def index_bits(num_values: int) -> int:
  """Bits needed to store an index into `num_values` slots: `ceil(log2(num_values))` (0 for 1)."""
  return int(math.ceil(math.log2(num_values))) if num_values > 1 else 0


def footprint(family: str, obs_dim: int, act_dim: int, architecture: str | Sequence[int] = "L",
              *, num_colors: int | None = None, num_kept: int | None = None) -> Footprint:
  """Footprint of a `family` policy with dims `(obs_dim, act_dim)` and the given architecture.

  `num_colors` (K) is required for chromatic, `num_kept` (kept edges) for masked.
  """
  hidden = parse_architecture(architecture)
  if family == "chromatic":
    if num_colors is None:
      raise ValueError("the chromatic footprint needs num_colors (K)")
    spec = PolicySpec(obs_dim, act_dim, hidden, "chromatic", num_colors)
    weight_params = num_colors
  else:
    spec = PolicySpec(obs_dim, act_dim, hidden, family if family != "masked" else "unstructured")
    if family == "masked":
      if num_kept is None or not 1 <= num_kept <= spec.num_edges:
        raise ValueError(f"the masked footprint needs num_kept in [1, {spec.num_edges}], got {num_kept}")
      weight_params = num_kept
    else:
      weight_params = spec.num_weight_values
  edges, biases = spec.num_edges, spec.num_hidden_biases
  bits = 32 * (weight_params + biases)
  if family in ("chromatic", "masked"):
    bits += edges * index_bits(weight_params)
  compression = 1.0 - (weight_params + biases) / (edges + biases)
  return Footprint(family, weight_params, biases, edges, bits, compression)


def spec_footprint(spec: PolicySpec, num_kept: int | None = None) -> Footprint:
  """`footprint` for a `PolicySpec` (masked needs `num_kept`, e.g. `mask.sum()`)."""
  return footprint(spec.family, spec.obs_dim, spec.act_dim, spec.hidden,
                   num_colors=spec.num_colors or None, num_kept=num_kept)


def random_coloring(key: jax.Array, num_edges: int, num_colors: int, shape: Sequence[int] = ()) -> jnp.ndarray:
  """Uniform random coloring(s): int32 of shape `(*shape, num_edges)` with values in `[0, K)`."""
  return jax.random.randint(key, (*shape, num_edges), 0, num_colors, dtype=jnp.int32)


def random_structure(spec: PolicySpec, key: jax.Array, shape: Sequence[int] = ()) -> jnp.ndarray:
  """A uniform random structure for `spec`: colors (chromatic), 0/1 keep mask with p=1/2 (masked),
  or an empty `(*shape, 0)` array."""
  if spec.family == "chromatic":
    return random_coloring(key, spec.num_edges, spec.num_colors, shape)
  if spec.family == "masked":
    return jax.random.bernoulli(key, 0.5, (*shape, spec.num_edges)).astype(jnp.int32)
  return jnp.zeros((*shape, 0), jnp.int32)


def validate_structure(spec: PolicySpec, structure) -> np.ndarray:
  """Checks a structure on the host and returns it as int32; raises `ValueError` naming the problem."""
  arr = np.asarray(structure)
  if arr.shape[-1:] != (spec.structure_size,):
    raise ValueError(f"structure has trailing size {arr.shape[-1:]}, {spec.family} policy needs ({spec.structure_size},)")
  if arr.size and (arr.min() < 0 or arr.max() >= spec.num_choices):
    raise ValueError(f"structure values must lie in [0, {spec.num_choices}), found [{arr.min()}, {arr.max()}]")
  return arr.astype(np.int32)


def canonical_coloring(colors) -> np.ndarray:
  """Relabels colors by order of first appearance, so colorings equal up to a permutation of
  labels become identical: `[2, 2, 0, 1] -> [0, 0, 1, 2]`."""
  colors = np.asarray(colors)
  _, first = np.unique(colors, return_index=True)
  order = np.argsort(first)
  relabel = np.empty(colors.max() + 1, np.int32)
  relabel[np.unique(colors)[order]] = np.arange(order.size)
  return relabel[colors]


def colors_used(colors) -> int:
  """How many distinct colors a coloring actually uses."""
  return int(np.unique(np.asarray(colors)).size)


# The poster's comparison table: (env, (obs, act), architecture, chromatic K, masked kept edges).
COMPARISON_ROWS = (
    ("Striker", (23, 7), "H41", 23, 25),
    ("HalfCheetah", (17, 6), "H41", 17, 40),
    ("Hopper", (11, 3), "H41", 11, 17),
    ("Walker2d", (17, 6), "H41", 17, 19),
)
FAMILY_ORDER = ("chromatic", "masked", "toeplitz", "circulant", "unstructured")


def comparison_table() -> list[dict]:
  """The 20 rows (4 envs x 5 families) of the poster's comparison table, reward aside."""
  rows = []
  for env, (obs, act), arch, k, kept in COMPARISON_ROWS:
    for family in FAMILY_ORDER:
      fp = footprint(family, obs, act, arch, num_colors=k if family == "chromatic" else None,
                     num_kept=kept if family == "masked" else None)
      rows.append({"env": env, "family": family, "weight_params": fp.weight_params,
                   "compression_pct": fp.compression_pct, "bits": fp.bits})
  return rows


def format_comparison_table(rows: list[dict]) -> str:
  """Fixed-width text rendering of `comparison_table()`."""
  lines = [f"{'env':<12} {'family':<13} {'# weight-params':>15} {'compression':>11} {'# bits':>8}"]
  for r in rows:
    lines.append(f"{r['env']:<12} {r['family']:<13} {r['weight_params']:>15d} "
                 f"{r['compression_pct']:>10d}% {r['bits']:>8d}")
  return "\n".join(lines)
