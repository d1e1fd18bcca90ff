"""Static description of a policy: dimensions, hidden sizes, weight family and `K`.

A policy maps an observation (dim `n`) to an action (dim `m`) through weight matrices
`W_1 .. W_L`, each `(out, in)`.  `PolicySpec` fixes everything static about it; the trainable
values live in one flat vector of length `num_params` (the family's weight values, then the
hidden-layer biases) and the searched structure in one flat int vector of length
`structure_size` (one entry per edge, layer by layer, row-major inside a layer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from chromnas.core import families


def parse_architecture(arch: str | Sequence[int]) -> tuple[int, ...]:
  """Hidden sizes from a name: `'L'` -> `()`, `'H41'` -> `(41,)`, `'H41,H41'` -> `(41, 41)`,
  `'H64,H32'` -> `(64, 32)`; a sequence of ints is returned as a tuple."""
  if not isinstance(arch, str):
    return tuple(int(h) for h in arch)
  name = arch.replace(" ", "")
  if name in ("L", ""):
    return ()
  sizes = []
  for part in name.split(","):
    if not part.startswith("H") or not part[1:].isdigit() or int(part[1:]) <= 0:
      raise ValueError(f"unknown architecture {arch!r}: use 'L' or comma-separated 'H<size>' such as 'H41,H41'")
    sizes.append(int(part[1:]))
  return tuple(sizes)


def architecture_name(hidden: Sequence[int]) -> str:
  """Inverse of `parse_architecture`: `()` -> `'L'`, `(41, 41)` -> `'H41,H41'`."""
  return ",".join(f"H{h}" for h in hidden) if hidden else "L"


@dataclasses.dataclass(frozen=True)
class PolicySpec:
  """Static description of a policy: dims, hidden sizes, weight family and `K`.

  `num_colors` is the number of shared values `K` (chromatic only).  Hashable, so it can be
  a static argument of jitted functions.
  """

  obs_dim: int
  act_dim: int
  hidden: tuple[int, ...] = ()
  family: str = "chromatic"
  num_colors: int = 0

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
    families.get(self.family)  # raises on an unknown family
    if self.obs_dim <= 0 or self.act_dim <= 0 or any(h <= 0 for h in self.hidden):
      raise ValueError(
        f"policy dims must be positive: obs_dim={self.obs_dim}, act_dim={self.act_dim}, hidden={self.hidden}"
      )
    if self.family_record.shared_values:
      if self.num_colors < 1:
        raise ValueError(f"num_colors (K) must be >= 1 for the chromatic family, got {self.num_colors}")
      if self.num_colors > self.num_edges:
        raise ValueError(
          f"num_colors (K) = {self.num_colors} is larger than the number of weights ({self.num_edges}) "
          f"of a {self.architecture} policy with dims ({self.obs_dim}, {self.act_dim})"
        )

  @property
  def architecture(self) -> str:
    return architecture_name(self.hidden)

  @property
  def layer_sizes(self) -> tuple[int, ...]:
    """`(n, h_1, .., h_L, m)`."""
    return (self.obs_dim, *self.hidden, self.act_dim)

  @property
  def layer_shapes(self) -> tuple[tuple[int, int], ...]:
    """`(out, in)` of every weight matrix, input layer first."""
    sizes = self.layer_sizes
    return tuple((sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1))

  @property
  def num_edges(self) -> int:
    """Number of weights (edges) of the network: `sum(out * in)`."""
    return sum(r * c for r, c in self.layer_shapes)

  @property
  def num_hidden_biases(self) -> int:
    return sum(self.hidden)

  @property
  def family_record(self) -> families.Family:
    """The record of this policy's weight family (`chromnas.core.families`)."""
    return families.FAMILIES[self.family]

  def layer_weight_sizes(self) -> tuple[int, ...]:
    """Trainable weight values each layer owns (chromatic: all `K` belong to the network, 0 per layer)."""
    return tuple(self.family_record.layer_values(s) for s in self.layer_shapes)

  @property
  def num_weight_values(self) -> int:
    """Trainable weight values in `params` (for masked: the full dense matrices used in search)."""
    return self.family_record.num_weight_values(self.layer_shapes, self.num_colors)

  @property
  def num_params(self) -> int:
    """Length of the flat ES vector: weight values then hidden biases."""
    return self.num_weight_values + self.num_hidden_biases

  @property
  def structure_size(self) -> int:
    """Length of the flat structure vector: one entry per edge for searched families, else 0."""
    return self.num_edges if self.family_record.searched else 0

  @property
  def num_choices(self) -> int:
    """Choices per structure entry: `K` colors (chromatic), keep/drop (masked), 1 otherwise."""
    return self.family_record.num_choices(self.num_colors)


def make_spec(
  obs_dim: int, act_dim: int, architecture: str | Sequence[int] = "L", family: str = "chromatic", num_colors: int = 0
) -> PolicySpec:
  """Builds a `PolicySpec` from an architecture name such as `'H41,H41'`."""
  return PolicySpec(obs_dim, act_dim, parse_architecture(architecture), family, num_colors)
