"""Policies: tanh layer stacks whose weight matrices come from one structured family.

A policy maps an observation `s` (dim `n`) to an action `a` (dim `m`) through layers
`W_1 .. W_L` (each `(out, in)`), tanh between layers and on the output:
`h_0 = s`, `h_l = tanh(W_l h_{l-1} + b_l)` with biases on hidden layers only.

Everything ES touches is a single flat float vector `params` of length `spec.num_params`:
the family's trainable weight values (for chromatic: the `K` shared values for the whole
network) followed by the hidden-layer biases.  The searched structure (a coloring for
chromatic, a keep mask for masked) is a flat int vector of length `spec.structure_size`
covering every edge of the network, layer by layer, row-major inside a layer.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from chromnas import structured
from chromnas.structured import circulant_matrix as _circulant
from chromnas.structured import toeplitz_matrix as _toeplitz

ARCHITECTURES = {"L": (), "H41": (41,), "H41,H41": (41, 41)}


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
    if self.family not in structured.FAMILIES:
      raise ValueError(f"policy family {self.family!r} is unknown; choose one of {structured.FAMILIES}")
    if self.obs_dim <= 0 or self.act_dim <= 0 or any(h <= 0 for h in self.hidden):
      raise ValueError(f"policy dims must be positive: obs_dim={self.obs_dim}, act_dim={self.act_dim}, hidden={self.hidden}")
    if self.family == "chromatic":
      if self.num_colors < 1:
        raise ValueError(f"num_colors (K) must be >= 1 for the chromatic family, got {self.num_colors}")
      if self.num_colors > self.num_edges:
        raise ValueError(
            f"num_colors (K) = {self.num_colors} is larger than the number of weights ({self.num_edges}) "
            f"of a {self.architecture} policy with dims ({self.obs_dim}, {self.act_dim})")

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

  def layer_weight_sizes(self) -> tuple[int, ...]:
    """Trainable weight values each layer owns (chromatic: all `K` belong to the network, 0 per layer)."""
    if self.family in ("unstructured", "masked"):
      return tuple(r * c for r, c in self.layer_shapes)
    if self.family == "toeplitz":
      return tuple(_toeplitz.num_params(s) for s in self.layer_shapes)
    if self.family == "circulant":
      return tuple(_circulant.num_params(s) for s in self.layer_shapes)
    return tuple(0 for _ in self.layer_shapes)

  @property
  def num_weight_values(self) -> int:
    """Trainable weight values in `params` (for masked: the full dense matrices used in search)."""
    if self.family == "chromatic":
      return self.num_colors
    return sum(self.layer_weight_sizes())

  @property
  def num_params(self) -> int:
    """Length of the flat ES vector: weight values then hidden biases."""
    return self.num_weight_values + self.num_hidden_biases

  @property
  def structure_size(self) -> int:
    """Length of the flat structure vector: one entry per edge for chromatic/masked, else 0."""
    return self.num_edges if self.family in ("chromatic", "masked") else 0

  @property
  def num_choices(self) -> int:
    """Choices per structure entry: `K` colors (chromatic), keep/drop (masked), 1 otherwise."""
    return {"chromatic": self.num_colors, "masked": 2}.get(self.family, 1)


def make_spec(obs_dim: int, act_dim: int, architecture: str | Sequence[int] = "L",
              family: str = "chromatic", num_colors: int = 0) -> PolicySpec:
  """Builds a `PolicySpec` from an architecture name such as `'H41,H41'`."""
  return PolicySpec(obs_dim, act_dim, parse_architecture(architecture), family, num_colors)


def unflatten(spec: PolicySpec, params: jnp.ndarray) -> dict:
  """Splits flat `params (num_params,)` into `{'weights': [...], 'biases': [...]}`.

  `weights` holds one array per layer (its family values; for chromatic a single `(K,)`
  array shared by every layer), `biases` one `(h_l,)` array per hidden layer.
  """
  params = jnp.asarray(params)
  if params.shape[-1] != spec.num_params:
    raise ValueError(f"params has length {params.shape[-1]}, the policy needs {spec.num_params}")
  offset = 0
  weights = []
  if spec.family == "chromatic":
    weights.append(params[..., :spec.num_colors])
    offset = spec.num_colors
  else:
    for size in spec.layer_weight_sizes():
      weights.append(params[..., offset:offset + size])
      offset += size
  biases = []
  for h in spec.hidden:
    biases.append(params[..., offset:offset + h])
    offset += h
  return {"weights": weights, "biases": biases}


def flatten(spec: PolicySpec, tree: dict) -> jnp.ndarray:
  """Inverse of `unflatten`: concatenates weights then biases into `(num_params,)`."""
  del spec
  return jnp.concatenate([*tree["weights"], *tree["biases"]], axis=-1)


def split_structure(spec: PolicySpec, structure: jnp.ndarray) -> list:
  """Cuts the flat structure `(num_edges,)` into one `(out, in)` int array per layer."""
  out, offset = [], 0
  for r, c in spec.layer_shapes:
    out.append(jnp.reshape(structure[offset:offset + r * c], (r, c)))
    offset += r * c
  return out


def weight_matrices(spec: PolicySpec, params: jnp.ndarray, structure: jnp.ndarray | None = None) -> list:
  """Materialises every layer's `(out, in)` weight matrix from `params` and `structure`."""
  tree = unflatten(spec, params)
  if spec.family in ("chromatic", "masked"):
    if structure is None or jnp.shape(structure)[-1] != spec.num_edges:
      raise ValueError(f"the {spec.family} family needs a structure of length {spec.num_edges}")
    parts = split_structure(spec, jnp.asarray(structure))
  mats = []
  for layer, shape in enumerate(spec.layer_shapes):
    if spec.family == "chromatic":
      mats.append(structured.chromatic(tree["weights"][0], parts[layer]))
    elif spec.family == "masked":
      mats.append(structured.masked(structured.dense(tree["weights"][layer], shape), parts[layer]))
    elif spec.family == "unstructured":
      mats.append(structured.dense(tree["weights"][layer], shape))
    elif spec.family == "toeplitz":
      mats.append(structured.toeplitz(tree["weights"][layer], shape))
    else:
      mats.append(structured.circulant(tree["weights"][layer], shape))
  return mats


def apply(spec: PolicySpec, params: jnp.ndarray, structure: jnp.ndarray | None, obs: jnp.ndarray) -> jnp.ndarray:
  """Action `a = tanh(W_L tanh(... tanh(W_1 s + b_1) ...))` for `obs (..., n)`; returns `(..., m)`."""
  tree = unflatten(spec, params)
  h = obs
  mats = weight_matrices(spec, params, structure)
  for layer, w in enumerate(mats):
    h = h @ w.T.astype(h.dtype)
    if layer < len(spec.hidden):
      h = h + tree["biases"][layer]
    h = jnp.tanh(h)
  return h


def init_params(spec: PolicySpec, key: jax.Array, scale: float | None = None) -> jnp.ndarray:
  """Initial flat parameters.

  Linear policies start at zero (as ARS does).  Networks with hidden layers draw weight
  values from `N(0, scale^2)` with `scale = 1/sqrt(obs_dim)` by default; biases start at 0.
  """
  if scale is None:
    scale = 0.0 if not spec.hidden else 1.0 / np.sqrt(spec.obs_dim)
  weights = scale * jax.random.normal(key, (spec.num_weight_values,), jnp.float32)
  return jnp.concatenate([weights, jnp.zeros((spec.num_hidden_biases,), jnp.float32)])


def empty_structure(n: int | None = None) -> jnp.ndarray:
  """Structure for families without one: `(0,)` int32, or `(n, 0)` for a population of `n`."""
  return jnp.zeros((0,) if n is None else (n, 0), jnp.int32)
