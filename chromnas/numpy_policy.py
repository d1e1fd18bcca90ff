"""JAX-free forward pass of a policy, for host workers and the NumPy runtime.

Same maths and flat layouts as `chromnas.policies` (weight values then hidden biases; the
structure covers every edge layer by layer, row-major), written with NumPy only so that
processes that step simulators never import JAX.  Also the single home of the static index
maps of the Toeplitz and circulant families.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# NumPy's clip ufunc itself: `np.clip` wraps it in Python code that costs several times the
# arithmetic on policy-sized vectors; the host episode loops call it once per step.
clip_ufunc = (getattr(np, "_core", None) or np.core).umath.clip


def toeplitz_indices(shape: tuple[int, int]) -> np.ndarray:
  """`(rows, cols)` int32 map into Toeplitz params: `j - i` on and above the diagonal,
  `cols - 1 + (i - j)` below it (the poster's convention)."""
  rows, cols = shape
  diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
  return np.where(diff >= 0, diff, cols - 1 - diff).astype(np.int32)


def circulant_indices(shape: tuple[int, int]) -> np.ndarray:
  """`(rows, cols)` int32 map into circulant params: `(j - i) mod max(rows, cols)`."""
  rows, cols = shape
  return np.mod(np.arange(cols)[None, :] - np.arange(rows)[:, None], max(rows, cols)).astype(np.int32)


def layer_shapes(layer_sizes: Sequence[int]) -> list[tuple[int, int]]:
  """`(out, in)` of each matrix for layer sizes `(n, h_1, .., m)`."""
  return [(layer_sizes[i + 1], layer_sizes[i]) for i in range(len(layer_sizes) - 1)]


def weight_matrices(family: str, layer_sizes: Sequence[int], num_colors: int, params: np.ndarray,
                    structure: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Builds `([W_1 .. W_L], [b_1 .. b_{L-1}])` from flat `params` and `structure` (NumPy)."""
  shapes = layer_shapes(layer_sizes)
  params = np.asarray(params, np.float32)
  mats, offset = [], 0
  if family == "chromatic":
    values = params[:num_colors]
    offset = num_colors
  edge = 0
  for shape in shapes:
    r, c = shape
    if family == "chromatic":
      mats.append(values[structure[edge:edge + r * c].reshape(shape)])
    elif family in ("unstructured", "masked"):
      w = params[offset:offset + r * c].reshape(shape)
      offset += r * c
      mats.append(w * structure[edge:edge + r * c].reshape(shape) if family == "masked" else w)
    elif family == "toeplitz":
      mats.append(params[offset:offset + r + c - 1][toeplitz_indices(shape)])
      offset += r + c - 1
    elif family == "circulant":
      mats.append(params[offset:offset + max(shape)][circulant_indices(shape)])
      offset += max(shape)
    else:
      raise ValueError(f"unknown family {family!r}")
    edge += r * c
  biases = []
  for h in layer_sizes[1:-1]:
    biases.append(params[offset:offset + h])
    offset += h
  if offset != params.shape[0]:
    raise ValueError(f"params has length {params.shape[0]}, this {family} policy needs {offset}")
  return mats, biases


def forward(mats: Sequence[np.ndarray], biases: Sequence[np.ndarray], obs: np.ndarray) -> np.ndarray:
  """`tanh(W_L tanh(... tanh(W_1 s + b_1)))` for `obs (..., n)` -> `(..., m)`, float32."""
  h = np.asarray(obs, np.float32)
  for layer, w in enumerate(mats):
    h = h @ w.T
    if layer < len(biases):
      h = h + biases[layer]
    h = np.tanh(h)
  return h


def normalize(obs: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float) -> np.ndarray:
  """`clip((obs - mean) / std, -clip, clip)` in float32."""
  return np.clip((np.asarray(obs, np.float32) - mean) / std, -clip, clip).astype(np.float32)
