"""Flax (linen) dense layers whose weight matrix comes from one structured family.

Drop-in building blocks for any JAX model trained by gradients (no chromnas trainer needed).
Every layer maps `x (..., in)` to

    y = x @ W.T + b,        W (features, in),  b (features,),  y (..., features),

where `W` is built from a small vector of trainable `values` by the family's record
(`chromnas.core.families`):

| module           | `values` (collection `params`) | `W[i, j]`                      | `structure` collection |
|------------------|--------------------------------|--------------------------------|------------------------|
| `ChromaticDense` | `(num_colors,)`                | `values[colors[i, j]]`         | `colors` int32 in [0, K) |
| `ToeplitzDense`  | `(features + in - 1,)`         | `values[j - i]` / below diag   | none                   |
| `CirculantDense` | `(max(features, in),)`         | `values[(j - i) mod max]`      | none                   |
| `MaskedDense`    | `(features * in,)`             | `values[i * in + j] * mask[i, j]` | `mask` int32 in {0, 1} |
| `StructuredDense(family=...)` | any of the above, plus `unstructured` (plain dense) |    |                        |

Unlike a chromatic *policy*, where one palette of `K` values is shared by the whole network,
each `ChromaticDense` owns its own `K` values.

The searched structure (a coloring or a keep mask) is an int32 variable of the `"structure"`
collection, never of `"params"`: optimisers and `jax.grad` over `variables["params"]` leave it
alone, while a search outside the model can read, set or swap it:

    model = ChromaticDense(features=16, num_colors=4)
    variables = model.init(key, x)                 # {"params": {...}, "structure": {"colors": (16, in)}}
    y = model.apply(variables, x)
    variables = {**variables, "structure": {"colors": new_colors}}   # swap the coloring
    # inside a larger model the collection nests by module name, e.g.
    # {"structure": {"ChromaticDense_0": {"colors": ...}, ...}}; flax.core.copy(variables, {...})
    # or flax.traverse_util.flatten_dict help edit it.

At `init` the structure is drawn with `structure_init` from the `"structure"` RNG stream when one
is given (`model.init({"params": k1, "structure": k2}, x)`), else from `"params"`.  To draw a fresh
structure for existing parameters, apply without it and let it be created:
`y, new = model.apply({"params": p}, x, rngs={"structure": k}, mutable=["structure"])`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from chromnas.core import families
from chromnas.model import partitions, structured

STRUCTURE = "structure"
"""The variable collection that holds colorings and keep masks (never trained)."""

Initializer = Callable[..., jax.Array]
StructureInit = Callable[[jax.Array, tuple[int, int], int], jax.Array]


def uniform_structure(key: jax.Array, shape: tuple[int, int], num_choices: int) -> jax.Array:
  """Uniform random structure: int32 `(rows, cols)` with entries i.i.d. uniform in `[0, num_choices)`
  (a coloring for `num_choices = K`, a keep mask with keep probability 1/2 for 2)."""
  rows, cols = shape
  return partitions.random_coloring(key, cols, num_choices, (rows,))


def fixed_structure(structure: Any) -> StructureInit:
  """A `structure_init` that ignores its key and returns `structure` (int32, broadcast to the
  layer's `(rows, cols)`; e.g. `fixed_structure(1)` keeps every edge of a `MaskedDense`)."""
  fixed = np.asarray(structure, np.int32)

  def init(key: jax.Array, shape: tuple[int, int], num_choices: int) -> jax.Array:
    del key
    if fixed.size and (fixed.min() < 0 or fixed.max() >= num_choices):
      raise ValueError(f"structure entries must lie in [0, {num_choices}), got [{fixed.min()}, {fixed.max()}]")
    return jnp.broadcast_to(jnp.asarray(fixed), shape)

  return init


class StructuredDense(nn.Module):
  """`y = x @ W.T + b` with `W (features, in)` from the weight family `family`.

  `x (..., in)` -> `y (..., features)`.  The family's record says how many values the layer owns
  (`K = num_colors` for chromatic, `families.FAMILIES[family].layer_values((features, in))`
  otherwise), how they fill `W`, and whether a coloring or keep mask (an int32 `(features, in)`
  variable named `colors` or `mask` in the `"structure"` collection) goes with them.

  Attributes:
    features: output size `rows` of `W`.
    num_colors: `K`, for families whose values are shared through a coloring (chromatic); must be
      `None` for the others.
    family: a name in `chromnas.core.families.FAMILIES`.
    use_bias: add the trainable bias `b (features,)`.
    values_init: `(key, shape, dtype) -> values`; default `N(0, 1/in)`, i.e. std `1/sqrt(in)`.
    bias_init: `(key, shape, dtype) -> b`; default zeros.
    structure_init: `(key, (features, in), num_choices) -> int32 structure`; default
      `uniform_structure`.  `fixed_structure(array)` starts from a given coloring or mask.
    dtype: computation dtype (default: promoted from the input and the parameters).
    param_dtype: dtype of `values` and `b`.
  """

  features: int
  num_colors: int | None = None
  family: str = "unstructured"
  use_bias: bool = True
  values_init: Initializer | None = None
  bias_init: Initializer = nn.initializers.zeros_init()
  structure_init: StructureInit = uniform_structure
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """`x (..., in)` -> `x @ W.T + b`, shape `(..., features)`."""
    record = families.get(self.family)
    if record.shared_values != (self.num_colors is not None):
      need = "needs" if record.shared_values else "takes no"
      raise ValueError(f"the {record.name} family {need} num_colors (got {self.num_colors})")
    shape = (self.features, jnp.shape(x)[-1])
    num_values = self.num_colors if record.shared_values else record.layer_values(shape)
    values_init = self.values_init or nn.initializers.normal(stddev=shape[1] ** -0.5)
    values = self.param("values", values_init, (num_values,), self.param_dtype)
    structure = None
    if record.searched:

      def draw():
        rng = self.make_rng(STRUCTURE if self.has_rng(STRUCTURE) else "params")
        return jnp.asarray(self.structure_init(rng, shape, record.num_choices(self.num_colors)), jnp.int32)

      structure = self.variable(STRUCTURE, "colors" if record.shared_values else "mask", draw).value
    bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
    x, values, bias = nn.dtypes.promote_dtype(x, values, bias, dtype=self.dtype)
    y = x @ structured.layer_matrix(record, values, structure, shape).T
    return y + bias if bias is not None else y


class ChromaticDense(StructuredDense):
  """`y = x @ W.T + b`, `W[i, j] = values[colors[i, j]]`: `values (num_colors,)` trainable,
  `colors (features, in)` int32 in the `"structure"` collection.  `x (..., in)` -> `(..., features)`.
  The gradient of a loss `L` w.r.t. the values is `dL/dvalues[k] = sum_{colors[i,j]=k} dL/dW[i,j]`."""

  family: str = "chromatic"


class ToeplitzDense(StructuredDense):
  """`y = x @ W.T + b`, `W` Toeplitz from `values (features + in - 1,)`: `W[i, j] = values[j - i]`
  on and above the diagonal, `values[in - 1 + i - j]` below it.  `x (..., in)` -> `(..., features)`."""

  family: str = "toeplitz"


class CirculantDense(StructuredDense):
  """`y = x @ W.T + b`, `W[i, j] = values[(j - i) mod p]` with `values (p,)`, `p = max(features, in)`
  (the top-left corner of a `p x p` circulant).  `x (..., in)` -> `(..., features)`."""

  family: str = "circulant"


class MaskedDense(StructuredDense):
  """`y = x @ (V * mask).T + b`: `V (features, in)` trainable (stored row-major as `values`),
  `mask (features, in)` int32 0/1 in the `"structure"` collection.  `x (..., in)` -> `(..., features)`."""

  family: str = "masked"
