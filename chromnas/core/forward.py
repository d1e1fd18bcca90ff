"""The policy's forward pass in NumPy, for host workers and the deployment runtime.

Same maths as the JAX model (`chromnas.model.policies.apply`), written with NumPy only so that
processes that step simulators never import JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# NumPy's clip ufunc itself: `np.clip` wraps it in Python code that costs several times the
# arithmetic on policy-sized vectors; the host episode loops call it once per step.
clip_ufunc = (getattr(np, "_core", None) or np.core).umath.clip


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
