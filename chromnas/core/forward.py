"""The policy's forward pass in NumPy: the one home of every NumPy policy evaluation.

Same maths as the JAX model (`chromnas.model.policies.apply`), written with NumPy only so that
processes that step simulators never import JAX:

  `z = clip((obs - mean) / std, -clip, clip)`, `h_0 = z`, `h_l = tanh(W_l h_{l-1} + b_l)`,

biases on the hidden layers only, tanh on the output too.  `apply_layers` is the layer stack
itself, with each layer's product `h W_l^T` supplied by the caller; `forward` runs it with dense
matrices in float32 (deploy checks, reference tests), the runtime (`chromnas.core.runtime`)
with its chromatic kernels, and `PreparedPolicy` in float64 for one observation at a time (the
host episode loops).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

# NumPy's clip ufunc itself: `np.clip` wraps it in Python code that costs several times the
# arithmetic on policy-sized vectors; the host episode loops call it once per step.
clip_ufunc = (getattr(np, "_core", None) or np.core).umath.clip


def apply_layers(
  h: np.ndarray, products: Sequence[Callable[[np.ndarray], np.ndarray]], biases: Sequence[np.ndarray | None]
) -> np.ndarray:
  """`h_l = tanh(products[l](h_{l-1}) + biases[l])` for every layer `l`, from `h_0 = h`.

  `products[l](h)` returns `h W_l^T`, `(..., in_l) -> (..., out_l)`, as a new array or a buffer
  the caller owns: the bias and the tanh are applied in place on it.  `biases` may be shorter
  than `products` (no bias on the output layer), and `None` skips a layer's bias.  Each bias
  must have the product's dtype, so that the in-place add rounds as `h + b` would.
  """
  for product, bias in itertools.zip_longest(products, biases):
    h = product(h)
    if bias is not None:
      h += bias
    h = np.tanh(h, out=h)
  return h


def _dense(w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
  return lambda h: h @ w.T


def ordered_product(w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
  """`h -> h W^T` for `w (out, in)`, `h (..., in) -> (..., out)`, with the same float32 bits on
  every CPU: the products `h_j W_ij` rounded one by one, then summed over `j` by NumPy's pairwise
  summation, whose order its own code fixes.  A BLAS product's order depends on the kernel the
  library picks for the CPU, and a policy's return on a chaotic task can move by several percent
  with the last bit of its actions.  It builds an `(..., out, in)` temporary: for policy-sized
  layers."""
  return lambda h: np.multiply(h[..., None, :], w).sum(axis=-1)


def forward(mats: Sequence[np.ndarray], biases: Sequence[np.ndarray], obs: np.ndarray) -> np.ndarray:
  """`tanh(W_L tanh(... tanh(W_1 s + b_1)))` for `obs (..., n)` -> `(..., m)`, float32 (with
  float32 `mats (out, in)` and `biases`, as `families.weight_matrices` returns them)."""
  return apply_layers(np.asarray(obs, np.float32), [_dense(w) for w in mats], biases)


def normalize(obs: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float) -> np.ndarray:
  """`clip((obs - mean) / std, -clip, clip)` in float32."""
  return np.clip((np.asarray(obs, np.float32) - mean) / std, -clip, clip).astype(np.float32)


class PreparedPolicy:
  """`action = policy(obs)`: `forward(mats, biases, normalize(obs, mean, std, clip))` in float64,
  for one observation `(obs_dim,)`.

  Built for the host episode loops, where each NumPy call costs about a microsecond next to a
  simulator step of tens of microseconds.  The normalisation is folded into the first layer:
  since `std > 0`, `z = (clip(obs, mean - clip std, mean + clip std) - mean) / std`, so
  `W_1 z + b_1 = [W_1 / std, b_1 - W_1 (mean / std)] . [clip(obs, lo, hi), 1]`, and the first
  layer is one clip, one dot and one tanh (equal to the unfolded form up to float rounding).
  Every call writes into buffers allocated once; the returned action is one of them and is
  overwritten by the next call.
  """

  def __init__(self, mats, biases, mean, std, clip: float):
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    n = mean.shape[0]
    weights_t = [np.asarray(w, np.float64).T for w in mats]
    biases = [np.asarray(b, np.float64) for b in biases]
    first_bias = biases[0] if biases else np.zeros(weights_t[0].shape[1])
    scaled = weights_t[0] / std[:, None]
    self.first = np.ascontiguousarray(np.vstack([scaled, first_bias - mean @ scaled]))
    self.x = np.ones(n + 1)  # [clipped obs, 1]
    self.x_obs = self.x[:n]
    self.lo, self.hi = mean - float(clip) * std, mean + float(clip) * std
    self.h1 = np.empty(self.first.shape[1])
    self.products = [self._first_layer] + [
      self._into(np.ascontiguousarray(w), np.empty(w.shape[1])) for w in weights_t[1:]
    ]
    self.biases = [None, *biases[1:]]  # the first layer's bias is folded into `first`

  def _first_layer(self, obs: np.ndarray) -> np.ndarray:
    clip_ufunc(obs, self.lo, self.hi, out=self.x_obs)
    return np.dot(self.x, self.first, out=self.h1)

  @staticmethod
  def _into(wt: np.ndarray, out: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda h: np.dot(h, wt, out=out)

  def __call__(self, obs: np.ndarray) -> np.ndarray:
    return apply_layers(obs, self.products, self.biases)
