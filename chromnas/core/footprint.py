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
from collections.abc import Sequence

from chromnas.core import families
from chromnas.core.policy_spec import PolicySpec, parse_architecture


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


def footprint(
  family: str,
  obs_dim: int,
  act_dim: int,
  architecture: str | Sequence[int] = "L",
  *,
  num_colors: int | None = None,
  num_kept: int | None = None,
) -> Footprint:
  """Footprint of a `family` policy with dims `(obs_dim, act_dim)` and the given architecture.

  `num_colors` (K) is required for chromatic, `num_kept` (kept edges) for masked; each family
  ignores the other.
  """
  record = families.get(family)
  colors = 0
  if record.shared_values:
    if num_colors is None:
      raise ValueError(f"the {family} footprint needs num_colors (K)")
    colors = num_colors
  spec = PolicySpec(obs_dim, act_dim, parse_architecture(architecture), family, colors)
  if record.masks and (num_kept is None or not 1 <= num_kept <= spec.num_edges):
    raise ValueError(f"the {family} footprint needs num_kept in [1, {spec.num_edges}], got {num_kept}")
  weight_params = record.deployed_values(spec.layer_shapes, spec.num_colors, num_kept)
  edges, biases = spec.num_edges, spec.num_hidden_biases
  bits = 32 * (weight_params + biases) + record.structure_bits(edges, weight_params)
  compression = 1.0 - (weight_params + biases) / (edges + biases)
  return Footprint(family, weight_params, biases, edges, bits, compression)


def spec_footprint(spec: PolicySpec, num_kept: int | None = None) -> Footprint:
  """`footprint` for a `PolicySpec` (masked needs `num_kept`, e.g. `mask.sum()`)."""
  return footprint(
    spec.family, spec.obs_dim, spec.act_dim, spec.hidden, num_colors=spec.num_colors or None, num_kept=num_kept
  )


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
      fp = footprint(family, obs, act, arch, num_colors=k, num_kept=kept)
      rows.append(
        {
          "env": env,
          "family": family,
          "weight_params": fp.weight_params,
          "compression_pct": fp.compression_pct,
          "bits": fp.bits,
        }
      )
  return rows


def format_comparison_table(rows: list[dict]) -> str:
  """Fixed-width text rendering of `comparison_table()`."""
  lines = [f"{'env':<12} {'family':<13} {'# weight-params':>15} {'compression':>11} {'# bits':>8}"]
  for r in rows:
    lines.append(
      f"{r['env']:<12} {r['family']:<13} {r['weight_params']:>15d} {r['compression_pct']:>10d}% {r['bits']:>8d}"
    )
  return "\n".join(lines)
