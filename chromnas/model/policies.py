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

import jax
import jax.numpy as jnp
import numpy as np

from chromnas.core.policy_spec import PolicySpec
from chromnas.model import structured


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
  if spec.family_record.shared_values:
    weights.append(params[..., : spec.num_colors])
    offset = spec.num_colors
  else:
    for size in spec.layer_weight_sizes():
      weights.append(params[..., offset : offset + size])
      offset += size
  biases = []
  for h in spec.hidden:
    biases.append(params[..., offset : offset + h])
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
    out.append(jnp.reshape(structure[offset : offset + r * c], (r, c)))
    offset += r * c
  return out


def weight_matrices(spec: PolicySpec, params: jnp.ndarray, structure: jnp.ndarray | None = None) -> list:
  """Materialises every layer's `(out, in)` weight matrix from `params` and `structure`.

  The family record (`spec.family_record`) says how: `values[coloring]` for shared values,
  a row-major reshape or its value map otherwise, times the keep mask for masked networks.
  """
  tree = unflatten(spec, params)
  record = spec.family_record
  if record.searched:
    if structure is None or jnp.shape(structure)[-1] != spec.num_edges:
      raise ValueError(f"the {spec.family} family needs a structure of length {spec.num_edges}")
    parts = split_structure(spec, jnp.asarray(structure))
  mats = []
  for layer, shape in enumerate(spec.layer_shapes):
    values = tree["weights"][0 if record.shared_values else layer]
    mats.append(structured.layer_matrix(record, values, parts[layer] if record.searched else None, shape))
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
