"""Weight families: one record each, the single home of what distinguishes them.

A family says how a layer's `(rows, cols)` weight matrix `W` is built from trainable values:

| family       | values a layer owns    | `W[i, j]`                                   | searched structure |
|--------------|------------------------|---------------------------------------------|--------------------|
| unstructured | `rows * cols`          | `v[i * cols + j]`                           | none               |
| toeplitz     | `rows + cols - 1`      | `v[j - i]` (j >= i), `v[cols - 1 + i - j]`  | none               |
| circulant    | `max(rows, cols)`      | `v[(j - i) mod max(rows, cols)]`            | none               |
| masked       | `rows * cols`          | `v[i * cols + j] * mask[i, j]`              | keep mask (0/1)    |
| chromatic    | `K` for the network    | `v[color[i, j]]`                            | coloring in [0, K) |

Every other module asks the record (`FAMILIES[name]`, or `PolicySpec.family_record`) instead
of branching on the family's name.  NumPy only: host workers and the deployment runtime use
`weight_matrices`; the JAX model builds the same matrices from the same records.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

Shape = tuple[int, int]


def toeplitz_indices(shape: Shape) -> np.ndarray:
  """`(rows, cols)` int32 map into Toeplitz values: `j - i` on and above the diagonal,
  `cols - 1 + (i - j)` below it (the poster's convention)."""
  rows, cols = shape
  diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
  return np.where(diff >= 0, diff, cols - 1 - diff).astype(np.int32)


def circulant_indices(shape: Shape) -> np.ndarray:
  """`(rows, cols)` int32 map into circulant values: `(j - i) mod max(rows, cols)`."""
  rows, cols = shape
  return np.mod(np.arange(cols)[None, :] - np.arange(rows)[:, None], max(rows, cols)).astype(np.int32)


def index_bits(num_values: int) -> int:
  """Bits needed to store an index into `num_values` slots: `ceil(log2(num_values))` (0 for 1)."""
  return int(math.ceil(math.log2(num_values))) if num_values > 1 else 0


@dataclasses.dataclass(frozen=True)
class Family:
  """What one weight family is.

  Attributes:
    name: the family's name in configs and files.
    layer_values: `(rows, cols) -> ` trainable values that layer owns (0 when the values are
      shared by the whole network).
    value_map: `(rows, cols) -> (rows, cols)` int map into the layer's values, or `None` for a
      row-major reshape (dense) or, with `shared_values`, when the coloring is the map.
    shared_values: the network owns `K` values shared by every layer (chromatic).
    value_rule: `layer_values` written out (e.g. 'rows+cols-1'), for error messages.
    masks: the searched structure multiplies the dense matrix (masked).
  """

  name: str
  layer_values: Callable[[Shape], int]
  value_rule: str  # `layer_values` as a formula, for messages
  value_map: Callable[[Shape], np.ndarray] | None = None
  shared_values: bool = False
  masks: bool = False

  @property
  def searched(self) -> bool:
    """Whether policies of this family carry a per-edge structure that a partition source searches."""
    return self.shared_values or self.masks

  def num_choices(self, num_colors: int | None) -> int:
    """Choices per structure entry: `K` colors, keep/drop, or 1 (no structure); `num_colors` (K)
    is needed only by the families with shared values."""
    if self.shared_values:
      if num_colors is None:
        raise ValueError(f"the {self.name} family needs num_colors (K)")
      return num_colors
    return 2 if self.masks else 1

  def num_weight_values(self, shapes: Sequence[Shape], num_colors: int) -> int:
    """Trainable weight values of a network with these layer shapes (biases aside)."""
    return num_colors if self.shared_values else sum(self.layer_values(s) for s in shapes)

  def deployed_values(self, shapes: Sequence[Shape], num_colors: int, num_kept: int | None = None) -> int:
    """Weight values a deployed policy stores: a masked network stores only its kept edges."""
    if self.masks:
      if num_kept is None:
        raise ValueError("a masked network's footprint needs num_kept (its kept edges)")
      return int(num_kept)
    return self.num_weight_values(shapes, num_colors)

  def structure_bits(self, num_edges: int, deployed_values: int) -> int:
    """Bits of the per-edge structure in a deployed file: each edge's color or slot index."""
    return num_edges * index_bits(deployed_values) if self.searched else 0

  def matrix(self, values: np.ndarray, structure: np.ndarray | None, shape: Shape) -> np.ndarray:
    """The `(rows, cols)` matrix from this layer's `values` and its `(rows * cols,)` structure (NumPy)."""
    if self.shared_values:
      assert structure is not None, "shared values are indexed by the structure"
      return values[structure.reshape(shape)]
    w = values.reshape(shape) if self.value_map is None else values[self.value_map(shape)]
    if not self.masks:
      return w
    assert structure is not None, "a masked layer's structure is its keep mask"
    return w * structure.reshape(shape)


def _dense_values(shape: Shape) -> int:
  return shape[0] * shape[1]


FAMILIES: dict[str, Family] = {
  f.name: f
  for f in (
    Family("unstructured", _dense_values, "rows*cols"),
    Family("toeplitz", lambda s: s[0] + s[1] - 1, "rows+cols-1", value_map=toeplitz_indices),
    Family("circulant", lambda s: max(s), "max(rows, cols)", value_map=circulant_indices),
    Family("masked", _dense_values, "rows*cols", masks=True),
    Family("chromatic", lambda s: 0, "K for the whole network", shared_values=True),
  )
}
NAMES = tuple(FAMILIES)


def get(name: str) -> Family:
  """The record of family `name`; raises `ValueError` listing the known ones."""
  try:
    return FAMILIES[name]
  except KeyError:
    raise ValueError(f"policy family {name!r} is unknown; choose one of {NAMES}") from None


def layer_shapes(layer_sizes: Sequence[int]) -> list[Shape]:
  """`(out, in)` of each matrix for layer sizes `(n, h_1, .., m)`."""
  return [(layer_sizes[i + 1], layer_sizes[i]) for i in range(len(layer_sizes) - 1)]


def weight_matrices(
  family: str, layer_sizes: Sequence[int], num_colors: int, params: np.ndarray, structure: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """`([W_1 .. W_L], [b_1 .. b_{L-1}])` from flat `params` (weight values, then hidden biases)
  and the flat per-edge `structure` (NumPy)."""
  record = get(family)
  params = np.asarray(params, np.float32)
  mats, offset, edge = [], 0, 0
  if record.shared_values:
    shared, offset = params[:num_colors], num_colors
  for shape in layer_shapes(layer_sizes):
    size = shape[0] * shape[1]
    if record.shared_values:
      values = shared
    else:
      n = record.layer_values(shape)
      values, offset = params[offset : offset + n], offset + n
    mats.append(record.matrix(values, structure[edge : edge + size], shape))
    edge += size
  biases = []
  for h in layer_sizes[1:-1]:
    biases.append(params[offset : offset + h])
    offset += h
  if offset != params.shape[0]:
    raise ValueError(f"params has length {params.shape[0]}, this {family} policy needs {offset}")
  return mats, biases
